"""Import rules that import-linter cannot state, checked on ethoagent's own source.

`make lint` runs import-linter for the layer contracts (DESIGN.md §2, `[tool.importlinter]`
in pyproject.toml). This file adds three rules that need the module-level view:

- no module imports another package's private (``_name``) names;
- no import cycle between modules, counting the imports a module runs when it is
  imported (module level, ``if TYPE_CHECKING:`` included, function bodies not);
- only ``ethoagent.evals``, ``ethoagent.cli`` and ``ethoagent.demo`` import ``ethoagent.evals``.

Each rule has an allow-list of today's violations, each with the move that removes it. The
lists can only shrink: a test fails when an entry no longer occurs, so delete it then.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

PACKAGE_DIR = Path(__file__).resolve().parents[1] / "ethoagent"

# (importer, imported module, name)
PRIVATE_IMPORTS_ALLOWED: set[tuple[str, str, str]] = {
    # `ethoagent serve` merges into the user's settings file: goes when config.py exports its
    # TOML merge/dump as public functions
    ("ethoagent.serve", "ethoagent.config", "_deep_merge"),
    ("ethoagent.serve", "ethoagent.config", "_dump_toml"),
}

# Each cycle as its modules in sorted order (a strongly connected component of the graph).
CYCLES_ALLOWED: set[tuple[str, ...]] = set()

# (importer, imported module): modules outside evals/, cli/ and demo/ that import evals.
EVALS_IMPORTERS_ALLOWED: set[tuple[str, str]] = set()

EVALS_MAY_BE_IMPORTED_BY = ("ethoagent.evals", "ethoagent.cli", "ethoagent.demo")


@dataclass(frozen=True)
class Import:
    """One ``import``/``from ... import`` of an ethoagent module found in the source.

    Attributes:
        importer: dotted name of the importing module.
        module: dotted name of the module named in the statement (``from M import x`` -> M).
        names: the names taken from ``module`` (empty for ``import M``).
        at_import_time: True when the statement runs as the importer is imported (module
            level, inside ``if``/``try`` or ``if TYPE_CHECKING:``), False inside a function.
    """

    importer: str
    module: str
    names: tuple[str, ...]
    at_import_time: bool


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE_DIR.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _resolve(importer: str, is_package: bool, node: ast.ImportFrom) -> str:
    if node.level == 0:
        return node.module or ""
    base = importer.split(".") if is_package else importer.split(".")[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join([*base, *([node.module] if node.module else [])])


def _imports_in(
    body: list[ast.stmt], importer: str, is_package: bool, at_import_time: bool
) -> Iterator[Import]:
    for node in body:
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield Import(importer, alias.name, (), at_import_time)
        elif isinstance(node, ast.ImportFrom):
            module = _resolve(importer, is_package, node)
            yield Import(importer, module, tuple(a.name for a in node.names), at_import_time)
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            inner = [n for n in ast.walk(node) if isinstance(n, ast.Import | ast.ImportFrom)]
            yield from _imports_in(inner, importer, is_package, False)
        else:
            children = [c for c in ast.iter_child_nodes(node) if isinstance(c, ast.stmt)]
            yield from _imports_in(children, importer, is_package, at_import_time)


def _all_imports() -> list[Import]:
    found: list[Import] = []
    for path in sorted(PACKAGE_DIR.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        importer = _module_name(path)
        for imp in _imports_in(tree.body, importer, path.name == "__init__.py", True):
            if imp.module == "ethoagent" or imp.module.startswith("ethoagent."):
                found.append(imp)
    return found


IMPORTS = _all_imports()
MODULES = {_module_name(p) for p in PACKAGE_DIR.rglob("*.py")}
_PACKAGES = {_module_name(p) for p in PACKAGE_DIR.rglob("__init__.py")}


def _owner(module: str) -> str:
    """The unit whose private names a module may use: its package, or itself at the top.

    ``ethoagent.graphs.kit.nodes`` -> ``ethoagent.graphs.kit``; ``ethoagent.config`` ->
    ``ethoagent.config`` (each top-level module is its own unit); a package -> itself.
    """
    parts = module.split(".")
    if len(parts) <= 2 or module in _PACKAGES:
        return module
    return ".".join(parts[:-1])


def _inside(module: str, unit: str) -> bool:
    return module == unit or module.startswith(unit + ".")


def _targets(imp: Import) -> list[str]:
    """The ethoagent modules an import statement loads (``from pkg import submodule`` too)."""
    targets = [imp.module] if imp.module in MODULES else []
    targets += [f"{imp.module}.{n}" for n in imp.names if f"{imp.module}.{n}" in MODULES]
    return targets or [imp.module]


def test_import_scan_sees_the_package() -> None:
    """The scanner finds the imports it should (guards the rules below against a blind walk)."""
    found = {(i.importer, i.module) for i in IMPORTS}
    assert ("ethoagent.io.calibration", "ethoagent.model.camera") in found
    assert len(MODULES) > 50


def _private_imports() -> set[tuple[str, str, str]]:
    found: set[tuple[str, str, str]] = set()
    for imp in IMPORTS:
        unit = _owner(imp.module)
        for name in imp.names:
            private = name.startswith("_") and not name.startswith("__")
            if private and not _inside(imp.importer, unit):
                found.add((imp.importer, imp.module, name))
    return found


def test_no_module_imports_another_packages_private_names() -> None:
    """``from ethoagent.X import _name`` only from inside X's package."""
    found = _private_imports()
    new = sorted(found - PRIVATE_IMPORTS_ALLOWED)
    assert not new, "imports of another package's private names (make the name public):\n" + (
        "\n".join(f"  {a} imports {b}.{n}" for a, b, n in new)
    )
    gone = sorted(PRIVATE_IMPORTS_ALLOWED - found)
    assert not gone, f"fixed: delete from PRIVATE_IMPORTS_ALLOWED: {gone}"


def _import_time_graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {m: set() for m in MODULES}
    for imp in IMPORTS:
        if imp.at_import_time:
            for target in _targets(imp):
                if target in MODULES and target != imp.importer:
                    graph[imp.importer].add(target)
    return graph


def _cycles(graph: dict[str, set[str]]) -> set[tuple[str, ...]]:
    """Strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    components: set[tuple[str, ...]] = set()
    for root in sorted(graph):
        if root in index:
            continue
        work: list[tuple[str, Iterator[str]]] = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    components.add(tuple(sorted(component)))
    return components


def test_cycle_finder_finds_a_known_cycle() -> None:
    """The cycle finder reports a 3-cycle and ignores the acyclic tail hanging off it."""
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a", "d"}, "d": set()}
    assert _cycles(graph) == {("a", "b", "c")}


def test_no_import_cycles_between_modules() -> None:
    """Modules import each other one way; allowed cycles are today's, to be removed."""
    found = _cycles(_import_time_graph())
    new = sorted(found - CYCLES_ALLOWED)
    assert not new, "import cycles (move the shared piece to a module both can import):\n" + (
        "\n".join(f"  {' <-> '.join(c)}" for c in new)
    )
    gone = sorted(CYCLES_ALLOWED - found)
    assert not gone, f"fixed: delete from CYCLES_ALLOWED: {gone}"


def test_only_evals_cli_and_demo_import_evals() -> None:
    """Library code never depends on the eval suites (DESIGN.md §2)."""
    found = {
        (imp.importer, imp.module)
        for imp in IMPORTS
        if _inside(imp.module, "ethoagent.evals")
        and not any(_inside(imp.importer, ok) for ok in EVALS_MAY_BE_IMPORTED_BY)
    }
    new = sorted(found - EVALS_IMPORTERS_ALLOWED)
    assert not new, f"modules outside evals/, cli/, demo/ importing ethoagent.evals: {new}"
    gone = sorted(EVALS_IMPORTERS_ALLOWED - found)
    assert not gone, f"fixed: delete from EVALS_IMPORTERS_ALLOWED: {gone}"


@pytest.mark.parametrize(
    ("module", "owner"),
    [
        ("ethoagent.graphs.kit.nodes", "ethoagent.graphs.kit"),
        ("ethoagent.config", "ethoagent.config"),
        ("ethoagent.graphs.kit", "ethoagent.graphs.kit"),
        ("ethoagent.chat.actions.core", "ethoagent.chat.actions"),
    ],
)
def test_private_names_belong_to_the_enclosing_package(module: str, owner: str) -> None:
    """A module's private names are shared with its package; a top-level module's with no one."""
    assert _owner(module) == owner
