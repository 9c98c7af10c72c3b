"""Evaluation harness: suites register themselves; ``run_suite`` writes their results.

A suite is a function of ``SuiteOptions`` returning a ``SuiteResult`` (metrics, table rows,
figures as PNG bytes, notes). ``run_suite`` writes ``OUT/results.json``, ``OUT/results.md``
(a markdown table) and ``OUT/figures/*.png``. Pipeline issues add their suites by decorating
a function with ``@register_suite(...)`` in a module listed in ``SUITE_MODULES``.
"""

from __future__ import annotations

import importlib
import json
import platform
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from ethoagent import __version__
from ethoagent.atomic import atomic_write_bytes, atomic_write_text
from ethoagent.errors import ConfigError

SUITE_MODULES: tuple[str, ...] = (
    "ethoagent.evals.triangulation",
    "ethoagent.evals.pose",
    "ethoagent.evals.pose_real_suite",
    "ethoagent.evals.segment",
    "ethoagent.evals.segment_video",
    "ethoagent.evals.classify",
    "ethoagent.evals.profile",
    "ethoagent.evals.gate",
)


class SuiteOptions(BaseModel):
    """Options every suite accepts."""

    quick: bool = False
    seed: int = 0


class SuiteResult(BaseModel):
    """What a suite measured."""

    metrics: dict[str, Any]
    table: list[dict[str, Any]] = Field(default_factory=list)
    figures: dict[str, bytes] = Field(default_factory=dict, exclude=True)
    notes: list[str] = Field(default_factory=list)


@dataclass(frozen=True)
class Suite:
    """A registered eval suite: its name, a one-line description and the function it runs."""

    name: str
    description: str
    run: Callable[[SuiteOptions], SuiteResult]


_SUITES: dict[str, Suite] = {}


def register_suite(
    name: str, description: str
) -> Callable[[Callable[[SuiteOptions], SuiteResult]], Callable[[SuiteOptions], SuiteResult]]:
    """Register an evaluation suite under ``name``."""

    def deco(fn: Callable[[SuiteOptions], SuiteResult]) -> Callable[[SuiteOptions], SuiteResult]:
        _SUITES[name] = Suite(name=name, description=description, run=fn)
        return fn

    return deco


def available_suites() -> dict[str, Suite]:
    """All registered suites (importing the suite modules first)."""
    for module in SUITE_MODULES:
        importlib.import_module(module)
    return dict(sorted(_SUITES.items()))


def run_suite(name: str, out_dir: Path, options: SuiteOptions | None = None) -> Path:
    """Run suite ``name`` and write its results under ``out_dir``; return results.json.

    Raises:
        ConfigError: no suite with that name.
    """
    suites = available_suites()
    if name not in suites:
        raise ConfigError(
            f"no eval suite named {name!r}.", fix=f"choose one of: {', '.join(suites)}."
        )
    opts = options or SuiteOptions()
    start = time.perf_counter()
    result = suites[name].run(opts)
    elapsed = time.perf_counter() - start
    out = Path(out_dir)
    figures = {}
    for fig_name, png in sorted(result.figures.items()):
        rel = f"figures/{fig_name}.png"
        atomic_write_bytes(out / rel, png)
        figures[fig_name] = rel
    record = {
        "suite": name,
        "description": suites[name].description,
        "options": opts.model_dump(),
        "ethoagent_version": __version__,
        "python": platform.python_version(),
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "elapsed_s": round(elapsed, 2),
        "metrics": result.metrics,
        "table": result.table,
        "figures": figures,
        "notes": result.notes,
    }
    path = atomic_write_text(out / "results.json", json.dumps(record, indent=2) + "\n")
    atomic_write_text(out / "results.md", render_markdown(record))
    return path


def render_markdown(record: dict[str, Any]) -> str:
    """A markdown report: metrics, the table, figures and notes."""
    lines = [f"# eval: {record['suite']}", "", record["description"], ""]
    lines += ["| metric | value |", "|---|---|"]
    lines += [f"| {k} | {_fmt(v)} |" for k, v in record["metrics"].items()]
    rows = record["table"]
    if rows:
        cols = list(rows[0])
        lines += ["", "| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
        lines += ["| " + " | ".join(_fmt(r.get(c)) for c in cols) + " |" for r in rows]
    for name, rel in record["figures"].items():
        lines += ["", f"![{name}]({rel})"]
    if record["notes"]:
        lines += ["", "Notes:", *[f"- {n}" for n in record["notes"]]]
    lines.append("")
    return "\n".join(lines)


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)
