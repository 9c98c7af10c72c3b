"""Size limits on ethoagent's source: modules up to 800 lines, functions up to 80.

Long modules and functions are where copies and closures hide (STYLE.md: "1,500-line modules",
"a graph builder that is one 400-line closure"). Today's exceptions are listed by name; the
lists can only shrink: an entry that is back within its limit, renamed or removed fails the
test, so delete it then. Never add an entry: split the module or function instead.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parents[1] / "ethoagent"
MAX_MODULE_LINES = 800
MAX_FUNCTION_LINES = 80

# Modules over MAX_MODULE_LINES, by dotted name.
LONG_MODULES_ALLOWED: set[str] = set()

# Functions over MAX_FUNCTION_LINES (``def`` line to last line), as "module:qualified.name";
# a nested function is named after its enclosing one (``build_pose_graph.label``).
LONG_FUNCTIONS_ALLOWED = {
    "ethoagent.agent.client:OpenAICompatibleClient.ask",
    "ethoagent.agent.client:OpenAICompatibleClient.stream",
    "ethoagent.agent.trace_report:render_trace",
    "ethoagent.agent.trace_report:summarize_trace",
    "ethoagent.agent.trace_html:render_trace_html",
    "ethoagent.batch:load_batch",
    "ethoagent.cli.app:pose",
    "ethoagent.cli.app:segment",
    "ethoagent.cli.batch:run_command",
    "ethoagent.cli.classify:classify",
    "ethoagent.cli.demo:demo",
    "ethoagent.cli.profile:profile_command",
    "ethoagent.cli.serve:serve_command",
    "ethoagent.demo.driver:overview_section",
    "ethoagent.demo.sections:classify_section",
    "ethoagent.demo.sections:gate_section",
    "ethoagent.demo.sections:pose_section",
    "ethoagent.demo.sections:segment_section",
    "ethoagent.evals.classify:classify_suite",
    "ethoagent.evals.gate:_run_case",
    "ethoagent.evals.pose_real:evaluate_dataset",
    "ethoagent.evals.profile:profile_suite",
    "ethoagent.graphs.classify.stages:make_classify_stage",
    "ethoagent.graphs.kit.nodes:run_item",
    "ethoagent.graphs.profile.report:_report_md",
    "ethoagent.graphs.profile.report:write_profile_outputs",
    "ethoagent.graphs.triangulate.graph:make_triangulation_stage",
    "ethoagent.graphs.triangulate.session:build_demo_graph",
    "ethoagent.nn.dec:_fit",
    "ethoagent.nn.lookagain:LookAgain.forward",
    "ethoagent.nn.pretrain_gate:pretrain_gate",
    "ethoagent.nn.train_gate:train_gate",
    "ethoagent.sim.render:render_view",
    "ethoagent.sim.simulate:simulate_session",
    "ethoagent.sim.synthetic:simulate_world",
    "ethoagent.tools.cameras:check_calibration",
    "ethoagent.tools.captions:caption_from_kinematics",
    "ethoagent.tools.captions:summarize_snippet",
    "ethoagent.tools.features:compute_features",
    "ethoagent.tools.motion:describe_motion",
    "ethoagent.tools.profile_stats:compare_groups",
    "ethoagent.tools.triangulate:enumerate_hypotheses",
}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE_DIR.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def function_lengths(tree: ast.AST, prefix: str = "") -> dict[str, int]:
    """Lines of every function in ``tree`` (``def`` line to last line), by qualified name."""
    lengths: dict[str, int] = {}
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            name = prefix + node.name
            lengths[name] = (node.end_lineno or node.lineno) - node.lineno + 1
            lengths.update(function_lengths(node, name + "."))
        elif isinstance(node, ast.ClassDef):
            lengths.update(function_lengths(node, f"{prefix}{node.name}."))
        else:
            lengths.update(function_lengths(node, prefix))
    return lengths


def _sizes() -> tuple[dict[str, int], dict[str, int]]:
    modules: dict[str, int] = {}
    functions: dict[str, int] = {}
    for path in sorted(PACKAGE_DIR.rglob("*.py")):
        source = path.read_text(encoding="utf-8")
        module = _module_name(path)
        modules[module] = len(source.splitlines())
        for name, lines in function_lengths(ast.parse(source, filename=str(path))).items():
            functions[f"{module}:{name}"] = lines
    return modules, functions


MODULE_LINES, FUNCTION_LINES = _sizes()


def test_function_lengths_count_def_to_last_line() -> None:
    """Methods and nested functions are measured and named after their enclosing scope."""
    source = (
        "class A:\n    def f(self):\n        def g():\n            return 1\n        return g\n"
    )
    assert function_lengths(ast.parse(source)) == {"A.f": 4, "A.f.g": 2}


def _check(sizes: dict[str, int], limit: int, allowed: set[str], what: str, fix: str) -> list[str]:
    problems = [
        f"{name}: {lines} lines (limit {limit}); {fix}"
        for name, lines in sorted(sizes.items())
        if lines > limit and name not in allowed
    ]
    problems += [
        f"{name}: no longer over {limit} lines (or gone): delete it from the {what} allow-list"
        for name in sorted(allowed)
        if sizes.get(name, 0) <= limit
    ]
    return problems


def test_modules_within_limit() -> None:
    """New modules stay under MAX_MODULE_LINES; LONG_MODULES_ALLOWED only shrinks."""
    problems = _check(
        MODULE_LINES, MAX_MODULE_LINES, LONG_MODULES_ALLOWED, "module", "split it by concern"
    )
    assert not problems, "\n".join(problems)


def test_functions_within_limit() -> None:
    """New functions stay under MAX_FUNCTION_LINES; LONG_FUNCTIONS_ALLOWED only shrinks."""
    problems = _check(
        FUNCTION_LINES,
        MAX_FUNCTION_LINES,
        LONG_FUNCTIONS_ALLOWED,
        "function",
        "split it into named steps",
    )
    assert not problems, "\n".join(problems)
