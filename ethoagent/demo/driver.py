"""The end-to-end demo: one synthetic session through every pipeline, one HTML report.

``run_full_demo`` simulates a multi-view session (``evals.simulate``) into the demo run,
then runs one *section* per pipeline on it with the configured backend (the embedded
offline one by default):

- ``session``: the rendered videos and the ground truth's behaviour shares;
- ``pose``: verified 3D labels of the 12 marks from the videos and 3 seed frames
  (``graphs.pose``), scored against the simulator's 3D ground truth;
- ``segment``: the unsupervised ethogram (``graphs.segment``) of pose's 3D output, scored
  per class against the ground-truth behaviour labels;
- ``gate``: a small LookAgain model (``nn.lookagain``, keypoint path) trained briefly on
  alternating blocks of the ground-truth labels and scored on the held-out blocks;
- ``classify``: in-context classification (``graphs.classify``) given a few example clips
  per class drawn from the ground-truth labels, scored per class on the other frames;
- ``triangulate``: the verified-triangulation graph (``graphs.demo``) on its own
  synthetic trajectory with injected left/right label swaps (naive DLT vs checks);
- ``overview`` (first in the page): per-class F1 of segment, gate and classify, model
  calls made and saved, the headline numbers.

Each section is one function ``(DemoContext) -> Section`` (``report.sections``; the
context in ``report.context``); ``SECTIONS`` lists them in run order, so a new pipeline
is one function and one entry (profile is not in the demo: it needs a cohort of
sessions). A section that raises becomes an error section and the others still run; the
report is written in every case. Graph pipelines run as sub-runs in
``<demo run>/runs/<section>/`` with their own trace and checkpoints. A finished section is
saved as ``outputs/sections/<key>.json``; ``--resume`` reuses those and resumes the others
from their checkpoints.

Layout of the demo run (besides ``run.json`` and ``config.toml``)::

    session/                     the simulated session (videos, calibration, ground truth)
    runs/<section>/              pose, segment, classify, triangulate: the pipelines' runs
                                 (outputs, trace.jsonl, checkpoints)
    gate/                        the gate model, its checkpoint and training log
    outputs/report.html          the self-contained report
    outputs/summary.json         every section's numbers
    outputs/figures/*.png        the report's figures
    outputs/sections/*.json      finished sections (what a resume reuses)
"""

from __future__ import annotations

import time
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from ethoagent import __version__
from ethoagent.atomic import atomic_write_text
from ethoagent.demo.context import DemoContext, DemoOptions, SectionSpec
from ethoagent.demo.figures import calls_figure, f1_figure
from ethoagent.demo.html import ReportTable, Section, render_html
from ethoagent.demo.sections import (
    classify_section,
    gate_section,
    per_class_f1,
    pose_section,
    segment_section,
    session_section,
    triangulate_section,
)
from ethoagent.errors import RunError
from ethoagent.runs import Run

if TYPE_CHECKING:
    from ethoagent.config import Settings
    from ethoagent.graphs.kit.runtime import ProgressCallback

GRAPH_NAME = "demo"
REPORT_FILE = "report.html"

SECTIONS: list[SectionSpec] = [
    SectionSpec("session", "Synthetic session", session_section),
    SectionSpec("pose", "Pose: verified multi-view 3D labels", pose_section),
    SectionSpec("segment", "Segment: unsupervised ethogram", segment_section),
    SectionSpec("gate", "Gate: LookAgain behaviour model (keypoint path)", gate_section),
    SectionSpec("classify", "Classify: in-context behaviour labels", classify_section),
    SectionSpec("triangulate", "Triangulation: checks and escalation", triangulate_section),
]
"""The demo's pipelines in run order. Profile is not one: it needs many sessions (a cohort
in groups), and the demo simulates one."""
SECTION_KEYS = tuple(s.key for s in SECTIONS)


def overview_section(ctx: DemoContext, sections: Sequence[Section]) -> Section:
    """Headline numbers, per-class F1 of every labelling section, model calls made and saved."""
    by = {s.key: s for s in sections if s.status == "ok"}
    rows = [[s.title, s.status, s.summary or (s.error or "").splitlines()[0]] for s in sections]
    figures = []
    scores = {
        name: dict(by[key].data["f1"])  # type: ignore[call-overload]
        for key, name in (
            ("segment", "segment (unsupervised)"),
            ("gate", "gate (held-out)"),
            ("classify", "classify (in-context, outside the examples)"),
        )
        if key in by and "f1" in by[key].data
    }
    if scores:
        figures.append(
            ctx.figure(
                "overview_f1",
                f1_figure(scores),
                "per-class F1 against ground truth",
                "Frames as samples; segment over the whole session (labels matched by name), "
                "gate on the held-out blocks only, classify outside its example clips (its "
                "classes, e.g. freezing, shown by the simulator's name, e.g. still).",
            )
        )
    calls: list[tuple[str, int, int]] = []
    table: list[list[str]] = []
    if "pose" in by:
        d = by["pose"].data
        frames, cheap = int(str(d["frames"])), int(str(d["frames_without_model_call"]))
        calls.append(("pose", cheap, frames - cheap))
        table.append(["pose", str(d["model_calls"]), f"≈{d['model_calls_every_stage_estimate']}"])
    if "segment" in by:
        d = by["segment"].data
        n, cheap = int(str(d["snippets"])), int(str(d["snippets_by_kinematics"]))
        calls.append(("segment", cheap, n - cheap))
        table.append(["segment", str(d["model_calls"]), f"{n} (one per snippet) + merges"])
    if "classify" in by:
        d = by["classify"].data
        n, cheap = int(str(d["windows"])), int(str(d["windows_by_keypoints"]))
        calls.append(("classify", cheap, n - cheap))
        table.append(["classify", str(d["model_calls"]), f"{n} (one per window)"])
    if "triangulate" in by:
        d = by["triangulate"].data
        first, repaired = int(str(d["accepted_first"])), int(str(d["repaired"]))
        calls.append(("triangulate", first + repaired, 0))
        table.append(["triangulate", str(d["model_calls"]), "1 (summary)"])
    if calls:
        figures.append(
            ctx.figure(
                "overview_calls",
                calls_figure(calls),
                "model calls made and saved",
                "Items settled by the cheap deterministic path (temporal prediction, "
                "geometry, kinematics) that passed every check, vs items that called a "
                "model.",
            )
        )
    failed = [s.title for s in sections if s.status == "error"]
    return Section(
        key="overview",
        title="Overview",
        summary=(
            "Every pipeline ran."
            if not failed
            else f"{len(failed)} section(s) failed: {', '.join(failed)}; the others ran."
        ),
        figures=figures,
        tables=[
            ReportTable(title="sections", columns=["section", "status", "result"], rows=rows),
            *(
                [
                    ReportTable(
                        title="model calls",
                        columns=["pipeline", "calls made", "calls asking in every step"],
                        rows=table,
                    )
                ]
                if table
                else []
            ),
        ],
        data={"failed": failed},
    )


# --- driver -------------------------------------------------------------------------------


def _error_section(key: str, title: str, exc: BaseException, seconds: float) -> Section:
    lines = str(exc).strip().splitlines()
    last = f"{type(exc).__name__}: {lines[0] if lines else ''}"
    return Section(
        key=key,
        title=title,
        status="error",
        summary=f"failed: {last}",
        error="".join(traceback.format_exception(type(exc), exc, exc.__traceback__))[-4000:],
        seconds=round(seconds, 2),
    )


def _section_path(run: Run, key: str) -> Path:
    return run.outputs_dir / "sections" / f"{key}.json"


def run_sections(ctx: DemoContext, specs: Sequence[SectionSpec]) -> list[Section]:
    """Run every section in order, isolating failures; reuse finished ones from a resume.

    A section raising becomes an ``error`` section (so do sections whose inputs failed:
    they raise on the missing data); ``KeyboardInterrupt`` still stops the demo.
    """
    out: list[Section] = []
    for spec in specs:
        path = _section_path(ctx.run, spec.key)
        if spec.key in ctx.options.skip:
            section = Section(
                key=spec.key, title=spec.title, status="skipped", summary="skipped (--skip)."
            )
        elif path.is_file():
            section = Section.model_validate_json(path.read_text())
            if section.status != "ok":
                section = _run_one(ctx, spec)
        else:
            section = _run_one(ctx, spec)
        ctx.sections[spec.key] = section
        out.append(section)
    return out


def _run_one(ctx: DemoContext, spec: SectionSpec) -> Section:
    t0 = time.perf_counter()
    try:
        section = spec.build(ctx)
        if section.seconds is None:
            section = section.model_copy(update={"seconds": round(time.perf_counter() - t0, 2)})
    except Exception as exc:
        section = _error_section(spec.key, spec.title, exc, time.perf_counter() - t0)
    ctx.run.write_output(f"sections/{spec.key}.json", section.model_dump_json(indent=2))
    return section


def write_report(ctx: DemoContext, sections: Sequence[Section]) -> Path:
    """Write ``report.html`` and ``summary.json`` into the demo run's outputs."""
    try:
        overview = overview_section(ctx, sections)
    except Exception as exc:
        overview = _error_section("overview", "Overview", exc, 0.0)
    page = [overview, *sections]
    o = ctx.options
    backend = ctx.settings.backend
    intro = [
        f"One synthetic multi-view session ({o.frames} frames x {o.views} cameras, preset "
        f"{o.preset}, seed {o.seed}) through every pipeline, scored against the simulator's "
        "ground truth.",
        f"Backend: {backend}"
        + (
            " (the embedded default: deterministic offline solvers answer every model call "
            "and say so in the traces)."
            if backend == "offline"
            else "."
        )
        + f" ethoagent {__version__}.",
        f"Demo run directory: {ctx.run.root}",
    ]
    html = render_html(
        "ethoagent demo report",
        page,
        ctx.run.outputs_dir,
        intro=intro,
        footer=f"Reproduce: ethoagent demo --frames {o.frames} --views {o.views} --seed "
        f"{o.seed}. Resume: ethoagent demo --resume {ctx.run.run_id}. Why a label exists: "
        "ethoagent trace show <run directory>.",
    )
    path = ctx.run.outputs_dir / REPORT_FILE
    atomic_write_text(path, html)
    summary = {
        "options": o.model_dump(),
        "backend": backend,
        "run_dir": str(ctx.run.root),
        "report": str(path),
        "data": "synthetic session (ethoagent.sim.simulate), not a recording",
        "sections": {
            s.key: {
                "status": s.status,
                "summary": s.summary,
                "run_dir": s.run_dir,
                "seconds": s.seconds,
                "data": s.data,
            }
            for s in page
        },
    }
    ctx.run.write_json_output("summary.json", summary)
    return path


def run_full_demo(
    run: Run,
    settings: Settings,
    options: DemoOptions,
    *,
    progress: ProgressCallback | None = None,
    specs: Sequence[SectionSpec] | None = None,
) -> tuple[list[Section], Path]:
    """Run (or resume) every section in ``run`` and write the report.

    Args:
        run: the demo run (created, or reopened to resume).
        settings: backend and models for the pipelines.
        options: the demo's settings.
        progress: ``(stage, done, total)`` callback for progress bars.
        specs: the sections to run (default ``SECTIONS``).

    Returns:
        The sections in page order (overview excluded) and the report's path.
    """
    unknown = sorted(set(options.skip) - {s.key for s in (specs or SECTIONS)})
    if unknown:
        raise RunError(
            f"--skip {', '.join(unknown)}: no such section.",
            fix=f"choose from {', '.join(s.key for s in (specs or SECTIONS))}.",
        )
    ctx = DemoContext(run=run, settings=settings, options=options, progress=progress)
    sections = run_sections(ctx, specs or SECTIONS)
    return sections, write_report(ctx, sections)


__all__ = [
    "GRAPH_NAME",
    "REPORT_FILE",
    "SECTIONS",
    "SECTION_KEYS",
    "DemoContext",
    "DemoOptions",
    "SectionSpec",
    "per_class_f1",
    "run_full_demo",
    "run_sections",
    "write_report",
]
