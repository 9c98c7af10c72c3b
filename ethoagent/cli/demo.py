"""``ethoagent demo``: a synthetic session through every pipeline, one HTML report.

``--only triangulate`` runs the verified-triangulation pipeline alone
(``graphs.triangulate.PIPELINE``, outputs in the run's ``outputs/``).
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal, cast

import typer
from rich.table import Table

from ethoagent.cli.base import (
    BackendOpt,
    ConfigOpt,
    NoCacheOpt,
    ResumeOpt,
    RunIdOpt,
    RunsDirOpt,
    SeedOpt,
    console,
    open_run,
    print_run_paths,
    progress_bar,
    progress_bars,
    settings_from,
)
from ethoagent.errors import InputError, RunError

if TYPE_CHECKING:
    from ethoagent.config import Settings
    from ethoagent.demo.context import DemoOptions
    from ethoagent.demo.html import Section
    from ethoagent.runs import Run

_FULL_DEFAULTS = {"frames": 900, "views": 4}


def demo(
    frames: Annotated[
        int | None,
        typer.Option(min=3, help="Frames to simulate (default 900; 150 with --only triangulate)."),
    ] = None,
    views: Annotated[
        int | None,
        typer.Option(
            min=2, max=16, help="Cameras (default 4, at least 3; 6 with --only triangulate)."
        ),
    ] = None,
    seed: SeedOpt = 0,
    only: Annotated[
        Literal["all", "triangulate"],
        typer.Option(
            help="all: every pipeline and the HTML report; triangulate: the verified-"
            "triangulation demo alone."
        ),
    ] = "all",
    skip: Annotated[
        list[str] | None,
        typer.Option(
            help="Leave out a section (session, pose, segment, gate, classify, triangulate)."
        ),
    ] = None,
    preset: Annotated[str, typer.Option(help="Simulation preset: easy, paper-like, hard.")] = (
        "paper-like"
    ),
    gate_epochs: Annotated[
        int, typer.Option(min=1, help="Training passes of the demo's gate model.")
    ] = 60,
    run_id: RunIdOpt = None,
    resume: ResumeOpt = None,
    config: ConfigOpt = None,
    backend: BackendOpt = None,
    runs_dir: RunsDirOpt = None,
    no_cache: NoCacheOpt = False,
) -> None:
    """Simulate a multi-view session, run every pipeline on it, write one HTML report.

    Pose (verified 3D labels from the videos), segment (unsupervised ethogram), the gate
    model (trained briefly on part of the ground truth) and verified triangulation, each
    scored against the simulator's ground truth; the report (outputs/report.html) embeds
    every figure and opens offline. --resume RUN continues a killed demo.
    """
    from pydantic import ValidationError

    from ethoagent.demo.driver import GRAPH_NAME, SECTION_KEYS, DemoOptions
    from ethoagent.runs import Run

    settings = settings_from(config, backend, runs_dir, no_cache)
    if resume is not None:
        recorded = Run.open(resume, settings.runs_dir).info().inputs
        # a triangulation-only run records no "only" (as do demo runs older than the report)
        only = "triangulate" if recorded.get("only", "triangulate") == "triangulate" else "all"
    if only == "triangulate":
        _triangulate_only(settings, frames, views, seed, run_id, resume)
        return
    fresh: dict[str, Any] = {}
    if resume is None:
        try:
            options = DemoOptions(
                frames=frames or _FULL_DEFAULTS["frames"],
                views=views or _FULL_DEFAULTS["views"],
                seed=seed,
                preset=preset,
                skip=list(skip or []),
                gate_epochs=gate_epochs,
            )
        except ValidationError as exc:
            problems = "; ".join(
                f"--{str(e['loc'][0]).replace('_', '-')}: "
                + e["msg"].removeprefix("Value error, ").lower()
                for e in exc.errors()
            )
            raise InputError(f"invalid demo options: {problems}.") from None
        unknown = sorted(set(options.skip) - set(SECTION_KEYS))
        if unknown:
            raise InputError(
                f"--skip {', '.join(unknown)}: no such section.",
                fix=f"choose from {', '.join(SECTION_KEYS)}.",
            )
        fresh = {"only": "all", "options": options.model_dump()}
    _check_endpoints(settings)
    run, inputs = open_run(settings, GRAPH_NAME, run_id, resume, fresh)
    _full_demo(run, settings, DemoOptions.model_validate(inputs["options"]))


def _check_endpoints(settings: Settings) -> None:
    """Fail in one line before simulating anything if an online backend is unreachable."""
    from ethoagent.graphs.kit.runtime import check_endpoints

    asyncio.run(check_endpoints(settings, ("llm", "vlm")))


def _full_demo(run: Run, settings: Settings, options: DemoOptions) -> None:
    from ethoagent.demo.driver import run_full_demo

    console.print(
        f"[bold]ethoagent demo[/] run [cyan]{run.root}[/] (backend {settings.backend}): "
        f"{options.frames} frames x {options.views} cameras through every pipeline"
    )
    run.mark_running()
    try:
        with progress_bar() as progress:
            tasks: dict[str, Any] = {}

            def on_progress(stage: str, done: int, total: int) -> None:
                if stage not in tasks:
                    tasks[stage] = progress.add_task(stage, total=total)
                progress.update(tasks[stage], advance=done, total=total)

            sections, report = run_full_demo(run, settings, options, progress=on_progress)
    except BaseException as exc:
        run.update(
            status="interrupted" if isinstance(exc, KeyboardInterrupt) else "failed",
            error=str(exc)[:500],
        )
        raise
    _print_full_summary(sections, report, run.root)
    failed = [s for s in sections if s.status == "error"]
    if failed:
        run.update(status="failed", error="; ".join(f"{s.key}: {s.summary}" for s in failed))
        raise RunError(
            f"{len(failed)} demo section(s) failed ({', '.join(s.key for s in failed)}); "
            f"the report {report} shows why.",
            fix=f"fix the cause, then ethoagent demo --resume {run.run_id} (reruns only those).",
        )
    run.update(
        status="finished",
        summary={s.key: s.status for s in sections} | {"report": str(report)},
    )


def _print_full_summary(sections: list[Section], report: Path, root: Path) -> None:
    table = Table(title="ethoagent demo: one synthetic session, every pipeline", expand=False)
    table.add_column("section", style="bold", no_wrap=True)
    table.add_column("status", no_wrap=True)
    table.add_column("result")
    table.add_column("s", justify="right", no_wrap=True)
    colour = {"ok": "green", "error": "red", "skipped": "yellow"}
    for s in sections:
        table.add_row(
            s.key,
            f"[{colour[s.status]}]{s.status}[/]",
            s.summary,
            "" if s.seconds is None else f"{s.seconds:.0f}",
        )
    console.print(table)
    scores: dict[str, dict[str, float]] = {
        name: cast("dict[str, float]", s.data["f1"])
        for s in sections
        for key, name in (
            ("segment", "segment"),
            ("gate", "gate (held-out)"),
            ("classify", "classify (in-context)"),
        )
        if s.key == key and s.status == "ok" and "f1" in s.data
    }
    if scores:
        f1 = Table(title="per-class F1 against ground truth")
        f1.add_column("class", style="bold")
        for name in scores:
            f1.add_column(name, justify="right")
        for c in sorted({c for v in scores.values() for c in v}):
            f1.add_row(c, *(f"{v[c]:.2f}" if c in v else "-" for v in scores.values()))
        console.print(f1)
    for s in sections:
        if s.status == "ok" and s.run_dir:
            console.print(f"  [dim]{s.key}: {root / s.run_dir}[/]")
    console.print(f"report: [cyan]{report}[/]  (open in a browser; self-contained)")
    console.print(f"run directory: [cyan]{root}[/]  (trace: ethoagent trace show {root}/runs/pose)")


def _triangulate_only(
    settings: Settings,
    frames: int | None,
    views: int | None,
    seed: int,
    run_id: str | None,
    resume: str | None,
) -> None:
    from ethoagent.graphs.kit.run import run_pipeline
    from ethoagent.graphs.triangulate import PIPELINE, TriangulateSources

    options = None
    if resume is None:
        given = {"frames": frames, "views": views, "seed": seed}
        options = PIPELINE.parse_options({k: v for k, v in given.items() if v is not None})
    console.print(f"[bold]ethoagent demo[/] (backend {settings.backend})")
    with progress_bars() as progress:
        result = run_pipeline(
            PIPELINE,
            TriangulateSources(),
            options,
            settings,
            resume=resume,
            run_id=run_id,
            progress=progress,
        )
    _print_triangulate_summary(result.summary, result.run.root, result.files)


def _print_triangulate_summary(m: dict[str, Any], root: Path, files: list[Path]) -> None:
    table = Table(title="demo: verified triangulation (synthetic)", show_header=False)
    table.add_column(style="bold")
    table.add_column()
    table.add_row("frames x views", f"{m['frames']} x {m['views']}")
    table.add_row("3D error, naive DLT", f"{m['naive_dlt_mean_error_mm']:.2f} mm")
    table.add_row("3D error, verified", f"{m['mean_error_mm']:.2f} mm")
    table.add_row("flagged for review", str(len(m["flagged_frames"])))
    table.add_row("routes", ", ".join(f"{k}={v}" for k, v in sorted(m["routes"].items())))
    table.add_row("model calls", f"{m['model_calls']} ({m['backend']})")
    answer = (m.get("summary") or {}).get("answer") or {}
    if answer:
        table.add_row("summary", answer.get("headline", ""))
    console.print(table)
    for path in files:
        console.print(f"  [dim]{path}[/]")
    print_run_paths(root)
