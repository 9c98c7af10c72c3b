"""The ``ethoagent`` command line (typer + rich).

Errors a user can cause print as one red line with the fix and exit non-zero; ``--debug``
(or ``ETHOAGENT_DEBUG=1``) shows the traceback instead.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import traceback
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich import box
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from ethoagent import __version__
from ethoagent.config import Settings, load_settings
from ethoagent.errors import EthoagentError, InputError, RunError

if TYPE_CHECKING:
    from ethoagent.agent.types import Role
    from ethoagent.graphs.runtime import Runtime
    from ethoagent.runs import Run

app = typer.Typer(
    name="ethoagent",
    help="Verified 3D poses and labelled behaviour from video and keypoints.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
trace_app = typer.Typer(help="Inspect a run's reasoning trace.", no_args_is_help=True)
cache_app = typer.Typer(help="The model-answer cache.", no_args_is_help=True)
data_app = typer.Typer(help="The shared real data sets (../shared/data).", no_args_is_help=True)
app.add_typer(trace_app, name="trace")
app.add_typer(cache_app, name="cache")
app.add_typer(data_app, name="data")

console = Console()
err_console = Console(stderr=True)
_STATE: dict[str, Any] = {"debug": os.environ.get("ETHOAGENT_DEBUG") == "1"}

ConfigOpt = Annotated[
    Path | None, typer.Option("--config", "-c", help="TOML settings file.", dir_okay=False)
]
BackendOpt = Annotated[str | None, typer.Option("--backend", help="offline (default) or openai.")]
RunsDirOpt = Annotated[Path | None, typer.Option("--runs-dir", help="Where runs are stored.")]
RunIdOpt = Annotated[str | None, typer.Option("--run-id", help="Name the run.")]
ResumeOpt = Annotated[
    str | None, typer.Option("--resume", help="Resume the run with this id or path.")
]
NoCacheOpt = Annotated[
    bool, typer.Option("--no-cache", help="Do not read or write the model-answer cache.")
]


def _settings(
    config: Path | None,
    backend: str | None = None,
    runs_dir: Path | None = None,
    no_cache: bool = False,
) -> Settings:
    overrides: dict[str, Any] = {"backend": backend, "runs_dir": runs_dir}
    if no_cache:
        overrides["cache_enabled"] = False
    return load_settings(config, overrides)


@app.callback()
def _main(
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks.")] = False,
) -> None:
    if debug:
        _STATE["debug"] = True


@app.command()
def version() -> None:
    """Print the ethoagent version."""
    console.print(f"ethoagent {__version__}")


@app.command()
def demo(
    frames: Annotated[int, typer.Option(min=3, help="Frames to simulate.")] = 150,
    views: Annotated[int, typer.Option(min=2, max=16, help="Camera views.")] = 6,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
    run_id: RunIdOpt = None,
    resume: ResumeOpt = None,
    config: ConfigOpt = None,
    backend: BackendOpt = None,
    runs_dir: RunsDirOpt = None,
    no_cache: NoCacheOpt = False,
) -> None:
    """Run the demo: verified 3D triangulation of a synthetic multi-view mouse session."""
    from ethoagent.graphs.demo import GRAPH_NAME, run_demo

    settings = _settings(config, backend, runs_dir, no_cache)
    run, inputs = _open_run(
        settings, GRAPH_NAME, run_id, resume, {"frames": frames, "views": views, "seed": seed}
    )
    frames, views, seed = inputs["frames"], inputs["views"], inputs["seed"]
    console.print(f"[bold]ethoagent demo[/] run [cyan]{run.root}[/] (backend {settings.backend})")
    state = _execute(
        run,
        settings,
        frames,
        "triangulate",
        lambda rt: run_demo(rt, frames=frames, views=views, seed=seed),
    )
    summary = json.loads((run.outputs_dir / "summary.json").read_text())
    run.update(status="finished", summary={k: summary[k] for k in _SUMMARY_KEYS})
    _print_demo_summary(summary, run.root, state.get("outputs", []))


_SUMMARY_KEYS = ("frames", "mean_error_mm", "naive_dlt_mean_error_mm", "model_calls")


def _open_run(
    settings: Settings,
    graph: str,
    run_id: str | None,
    resume: str | None,
    inputs: dict[str, Any],
) -> tuple[Run, dict[str, Any]]:
    """Create a run with ``inputs``, or reopen ``resume`` and return the inputs it had."""
    from ethoagent.runs import Run

    if resume is not None:
        run = Run.resume(resume, settings.runs_dir)
        info = run.info()
        if info.graph != graph:
            raise RunError(
                f"run {run.root} is a {info.graph!r} run, not {graph!r}.",
                fix=f"resume it with `ethoagent {info.graph} --resume {run.run_id}`.",
            )
        return run, info.inputs
    return Run.create(settings.runs_dir, graph, settings, run_id=run_id, inputs=inputs), inputs


def _execute(
    run: Run,
    settings: Settings,
    total: int,
    label: str,
    body: Callable[[Runtime], Awaitable[dict[str, Any]]],
    roles: Sequence[Role] = ("llm",),
) -> dict[str, Any]:
    """Run ``body`` in the run's runtime with a progress bar; record the run's status."""
    from ethoagent.graphs.runtime import open_runtime

    run.update(status="running")
    with _progress() as progress:
        tasks = {label: progress.add_task(label, total=total)}

        def on_progress(stage: str, done: int, total: int) -> None:
            # a graph with several long stages (segment) reports each under its own name
            if stage not in tasks:
                tasks[stage] = progress.add_task(stage, total=total)
            progress.update(tasks[stage], advance=done)

        async def go() -> dict[str, Any]:
            async with open_runtime(run, settings, on_progress, roles=roles) as rt:
                return await body(rt)

        try:
            return asyncio.run(go())
        except BaseException as exc:
            run.update(
                status="interrupted" if isinstance(exc, KeyboardInterrupt) else "failed",
                error=str(exc)[:500],
            )
            raise


def _progress() -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    )


def _print_demo_summary(m: dict[str, Any], root: Path, outputs: list[str]) -> None:
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
    for rel in outputs:
        console.print(f"  [dim]{root / rel}[/]")
    console.print(f"run directory: [cyan]{root}[/]  (trace: ethoagent trace show {root})")


@app.command()
def pose(
    videos: Annotated[
        Path | None,
        typer.Option(help="Folder with one video per camera, named after the camera."),
    ] = None,
    calibration: Annotated[
        Path | None, typer.Option(help="anipose calibration.toml of the cameras.")
    ] = None,
    seeds: Annotated[
        Path | None,
        typer.Option(help="Seed labels, CSV frame,view,keypoint,x,y (frame 0 included)."),
    ] = None,
    session: Annotated[
        Path | None,
        typer.Option(
            help="A folder written by `ethoagent simulate`: sets --videos, --calibration "
            "and --seeds."
        ),
    ] = None,
    candidates: Annotated[
        Path | None,
        typer.Option(
            help="Folder of 2D pose-model predictions, one file per camera (DLC, SLEAP, "
            "LightningPose), used as candidates instead of detected marks."
        ),
    ] = None,
    frames: Annotated[
        int | None, typer.Option(min=2, help="Label the first N frames (default: all).")
    ] = None,
    model_every_stage: Annotated[
        bool,
        typer.Option(
            "--model-every-stage",
            help="Ask the model in every stage (the paper's way) instead of only where "
            "the cheap path fails a check.",
        ),
    ] = False,
    out: Annotated[
        Path | None,
        typer.Option(
            help="Also copy the outputs into this folder (they always stay in the run "
            "directory); refused if it already holds pose outputs."
        ),
    ] = None,
    run_id: RunIdOpt = None,
    resume: ResumeOpt = None,
    config: ConfigOpt = None,
    backend: BackendOpt = None,
    runs_dir: RunsDirOpt = None,
    no_cache: NoCacheOpt = False,
) -> None:
    """Label 12 quantum-dot marks in 3D from synchronised videos and 3 seed frames."""
    from ethoagent.atomic import atomic_write_bytes
    from ethoagent.graphs.pose import GRAPH_NAME, PoseInputs, PoseOptions, resolve_inputs, run_pose

    settings = _settings(config, backend, runs_dir, no_cache)
    if out is not None and (out / "points_3d.csv").exists():
        raise InputError(
            f"output folder {out} already holds pose outputs; nothing was written.",
            fix="choose a new folder.",
        )
    if resume is None:
        if session is not None:
            videos = videos or session / "videos"
            calibration = calibration or session / "calibration.toml"
            seeds = seeds or session / "ground_truth" / "seeds.csv"
        if videos is None or calibration is None or seeds is None:
            raise InputError(
                "pose needs --videos, --calibration and --seeds (or --session).",
                fix="e.g. ethoagent pose --session sim/ after `ethoagent simulate sim/`.",
            )
        resolved = resolve_inputs(
            videos,
            calibration,
            seeds,
            frames=frames,
            options=PoseOptions(model_every_stage=model_every_stage),
            candidates_dir=candidates,
        )
        fresh: dict[str, Any] = resolved.model_dump()
    else:
        fresh = {}
    run, raw = _open_run(settings, GRAPH_NAME, run_id, resume, fresh)
    inputs = PoseInputs.model_validate(raw)
    console.print(f"[bold]ethoagent pose[/] run [cyan]{run.root}[/] (backend {settings.backend})")
    state = _execute(
        run, settings, inputs.frames, "pose", lambda rt: run_pose(rt, inputs), roles=("vlm", "llm")
    )
    summary = json.loads((run.outputs_dir / "summary.json").read_text())
    run.update(
        status="finished",
        summary={k: summary[k] for k in ("frames", "model_calls_per_frame_view") if k in summary},
    )
    table = Table(title="pose: verified multi-view 3D labels", show_header=False)
    table.add_column(style="bold")
    table.add_column()
    table.add_row("frames x views", f"{summary['frames']} x {summary['views']}")
    table.add_row("flagged for review", str(len(summary["flagged_frames"])))
    table.add_row(
        "reprojection (median / p95)",
        f"{summary['reprojection_px_median']} / {summary['reprojection_px_p95']} px",
    )
    table.add_row(
        "model calls per frame-view",
        f"{summary['model_calls_per_frame_view']} ({summary['backend']})",
    )
    truth = summary.get("ground_truth")
    if truth:
        table.add_row(
            "3D error vs ground truth",
            f"{truth['mean_error_mm']} mm mean, {truth['median_error_mm']} mm median "
            f"(synthetic session)",
        )
    console.print(table)
    for rel in state.get("outputs", []):
        src = run.root / rel
        if out is not None:
            dest = out / src.relative_to(run.outputs_dir)
            atomic_write_bytes(dest, src.read_bytes())
            console.print(f"  [dim]{dest}[/]")
        else:
            console.print(f"  [dim]{src}[/]")
    console.print(f"run directory: [cyan]{run.root}[/]  (trace: ethoagent trace show {run.root})")


_SEGMENT_OUTPUTS = (
    "ethogram.csv",
    "clusters.csv",
    "ethogram_boris.csv",
    "captions.csv",
    "ethogram.png",
    "cluster_usage.png",
    "report.md",
    "summary.json",
)


@app.command()
def segment(
    keypoints: Annotated[
        Path | None,
        typer.Argument(
            help="Keypoint file (DeepLabCut, SLEAP, LightningPose, anipose, NWB, movement "
            "netCDF) or a folder written by `ethoagent simulate`.",
            metavar="KEYPOINTS",
            show_default=False,
        ),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Argument(
            help="Folder for the ethogram, clusters, figures and report (created).",
            metavar="OUT",
            show_default=False,
        ),
    ] = None,
    video: Annotated[
        Path | None,
        typer.Option(help="The video the keypoints were tracked on (frames for the VLM)."),
    ] = None,
    fps: Annotated[
        float | None,
        typer.Option(min=0.001, help="Frame rate, Hz (required when the file states none)."),
    ] = None,
    k: Annotated[int, typer.Option("--k", min=2, help="DEC clusters, joint over animals.")] = 10,
    min_snippet_s: Annotated[
        float, typer.Option(min=0.0, help="Shortest snippet captioned, seconds.")
    ] = 1.0,
    max_snippet_s: Annotated[
        float, typer.Option(min=0.01, help="Longest snippet captioned, seconds.")
    ] = 5.0,
    min_epoch_s: Annotated[
        float, typer.Option(min=0.0, help="Shortest epoch of the ethogram, seconds.")
    ] = 0.5,
    layout: Annotated[
        str | None,
        typer.Option(help="Body layout (synthetic12, calms21, ethome, behaviordepot, ...)."),
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed of the DEC fit.")] = 0,
    dec_epochs: Annotated[
        int, typer.Option(min=0, help="DEC autoencoder pretraining epochs.")
    ] = 10,
    dec_iters: Annotated[int, typer.Option(min=0, help="Most DEC clustering iterations.")] = 2000,
    model_every_snippet: Annotated[
        bool,
        typer.Option(
            "--model-every-snippet",
            help="Ask the VLM for every snippet, also where the kinematics are clear.",
        ),
    ] = False,
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Replace outputs OUT already holds.")
    ] = False,
    run_id: RunIdOpt = None,
    resume: ResumeOpt = None,
    config: ConfigOpt = None,
    backend: BackendOpt = None,
    runs_dir: RunsDirOpt = None,
    no_cache: NoCacheOpt = False,
) -> None:
    """Segment behaviour from keypoints: DEC clusters -> snippets -> captions -> ethogram.

    With --resume RUN the inputs come from the run; OUT may be given (else the run's).
    """
    from pydantic import ValidationError

    from ethoagent.atomic import atomic_write_bytes
    from ethoagent.graphs.segment import (
        GRAPH_NAME,
        SegmentInputs,
        SegmentOptions,
        resolve_segment_inputs,
        run_segment,
    )

    settings = _settings(config, backend, runs_dir, no_cache)
    fresh: dict[str, Any] = {}
    if resume is None:
        if keypoints is None or out is None:
            raise InputError(
                "segment needs KEYPOINTS and OUT.",
                fix="e.g. ethoagent segment poses.nc results/ (or --resume RUN).",
            )
        _check_segment_out(out, overwrite)
        try:
            options = SegmentOptions(
                k=k,
                seed=seed,
                dec_pretrain_epochs=dec_epochs,
                dec_cluster_iters=dec_iters,
                min_snippet_s=min_snippet_s,
                max_snippet_s=max_snippet_s,
                min_epoch_s=min_epoch_s,
                layout=layout,
                model_every_snippet=model_every_snippet,
            )
        except ValidationError as exc:
            problems = "; ".join(e["msg"].removeprefix("Value error, ") for e in exc.errors())
            raise InputError(f"invalid segment options: {problems}.") from None
        resolved = resolve_segment_inputs(keypoints, video=video, fps=fps, options=options)
        fresh = {**resolved.model_dump(), "out": str(out)}
    run, raw = _open_run(settings, GRAPH_NAME, run_id, resume, fresh)
    raw = dict(raw)
    stored_out = raw.pop("out", None)
    if resume is not None:
        given = out or keypoints  # `segment --resume RUN OUT`: OUT lands in the first slot
        out = given if given is not None else (Path(stored_out) if stored_out else None)
        if out is None:
            raise InputError(
                f"run {run.run_id} does not record an output folder.",
                fix=f"pass one: ethoagent segment --resume {run.run_id} OUT",
            )
        _check_segment_out(out, overwrite)
    assert out is not None
    inputs = SegmentInputs.model_validate(raw)
    console.print(
        f"[bold]ethoagent segment[/] run [cyan]{run.root}[/] (backend {settings.backend})"
    )
    state = _execute(
        run, settings, 1, "load", lambda rt: run_segment(rt, inputs), roles=("vlm", "llm")
    )
    for rel in state.get("outputs", []):
        src = run.root / rel
        atomic_write_bytes(out / src.relative_to(run.outputs_dir), src.read_bytes())
    summary = json.loads((run.outputs_dir / "summary.json").read_text())
    run.update(
        status="finished",
        summary={k: summary[k] for k in ("frames", "epochs", "model_calls_per_snippet")},
    )
    _print_segment_summary(summary, out, run.root)


def _check_segment_out(out: Path, overwrite: bool) -> None:
    if out.exists() and not out.is_dir():
        raise InputError(f"output folder {out} is a file.", fix="pass a folder.")
    present = [n for n in _SEGMENT_OUTPUTS if (out / n).exists()]
    if present and not overwrite:
        raise InputError(
            f"output folder {out} already holds {', '.join(present)}; nothing was written.",
            fix="choose a new folder or pass --overwrite.",
        )


def _print_segment_summary(s: dict[str, Any], out: Path, root: Path) -> None:
    table = Table(title="segment: unsupervised ethogram", show_header=False)
    table.add_column(style="bold")
    table.add_column()
    table.add_row("frames x animals", f"{s['frames']} x {len(s['animals'])} at {s['fps']:g} fps")
    ari = s["ari_between_seeds"]
    table.add_row(
        "DEC clusters", f"k = {s['k']}, ARI between seeds {'n/a' if ari is None else f'{ari:.3f}'}"
    )
    table.add_row(
        "snippets",
        f"{s['snippets']} ({s['snippets_by_kinematics']} by kinematics alone, "
        f"{s['snippets_by_model']} by the model)",
    )
    table.add_row("model calls per snippet", f"{s['model_calls_per_snippet']} ({s['backend']})")
    table.add_row("epochs", str(s["epochs"]))
    table.add_row("labels", ", ".join(s["vocabulary"]))
    truth = s.get("ground_truth")
    if truth:
        table.add_row(
            "vs ground truth (NMI)",
            f"clusters {truth['nmi_clusters']}, ethogram {truth['nmi_ethogram']} (synthetic)",
        )
    table.add_row("seconds", str(s["seconds"]))
    console.print(table)
    for w in s["warnings"]:
        console.print(f"[yellow]warning:[/] {w}", soft_wrap=True)
    console.print(f"outputs: [cyan]{out}[/] (ethogram.csv, clusters.csv, report.md, ...)")
    console.print(f"run directory: [cyan]{root}[/]  (trace: ethoagent trace show {root})")


@app.command()
def simulate(
    out: Annotated[Path, typer.Argument(help="Output folder (created; must be empty).")],
    preset: Annotated[str, typer.Option(help="easy, paper-like or hard.")] = "paper-like",
    frames: Annotated[int, typer.Option(min=1, help="Frames to simulate.")] = 500,
    animals: Annotated[
        int | None, typer.Option(min=1, max=3, help="Mice (default: the preset's).")
    ] = None,
    views: Annotated[int, typer.Option(min=2, max=16, help="Camera views.")] = 6,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Replace what OUT already holds.")
    ] = False,
) -> None:
    """Simulate a multi-view mouse session: videos, calibration and exact ground truth."""
    from ethoagent.evals.simulate import simulate_session

    if out.exists() and any(out.iterdir()) and not overwrite:
        raise InputError(
            f"output folder {out} is not empty; nothing was written.",
            fix="choose a new folder or pass --overwrite.",
        )

    with _progress() as progress:
        task = progress.add_task("rendering", total=frames * views)
        paths = simulate_session(
            out,
            preset=preset,
            frames=frames,
            animals=animals,
            views=views,
            seed=seed,
            progress=lambda done, total: progress.update(task, completed=done, total=total),
        )
    console.print(f"simulated {frames} frames x {views} views ({preset}) in [cyan]{paths.root}[/]")
    console.print(f"  videos: {len(paths.videos)} mp4, calibration: {paths.calibration.name}")
    console.print(f"  ground truth: {paths.arrays.parent}  (see {paths.readme.name})")


@app.command()
def runs(
    config: ConfigOpt = None,
    runs_dir: RunsDirOpt = None,
) -> None:
    """List runs, newest first."""
    from ethoagent.runs import list_runs

    settings = _settings(config, runs_dir=runs_dir)
    infos = list_runs(settings.runs_dir)
    if not infos:
        console.print(f"no runs under {settings.runs_dir}")
        return
    table = Table("run", "graph", "status", "created", "summary")
    for info in infos:
        summary = ", ".join(f"{k}={v}" for k, v in info.summary.items())
        table.add_row(info.run_id, info.graph, info.status, info.created, summary)
    console.print(table)


@app.command("eval")
def eval_(
    suite: Annotated[
        str, typer.Argument(help="Suite name; `ethoagent eval --list` lists them.")
    ] = "",
    out: Annotated[Path, typer.Option("--out", help="Output folder.")] = Path("eval-results"),
    quick: Annotated[bool, typer.Option("--quick", help="Smaller, faster run.")] = False,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
    list_: Annotated[bool, typer.Option("--list", help="List the suites.")] = False,
) -> None:
    """Run an evaluation suite; writes results.json, results.md and figures to --out."""
    from ethoagent.evals.harness import SuiteOptions, available_suites, run_suite

    if list_ or not suite:
        table = Table("suite", "description")
        for s in available_suites().values():
            table.add_row(s.name, s.description)
        console.print(table)
        return
    with console.status(f"running eval suite {suite} ..."):
        path = run_suite(suite, out, SuiteOptions(quick=quick, seed=seed))
    record = json.loads(path.read_text())
    table = Table(title=f"eval {suite}", show_header=False)
    for k, v in record["metrics"].items():
        table.add_row(k, f"{v:.4g}" if isinstance(v, float) else str(v))
    console.print(table)
    console.print(f"results: [cyan]{path}[/] and {path.with_suffix('.md')}")


@trace_app.command("show")
def trace_show(
    run: Annotated[str, typer.Argument(help="Run id or path.")],
    item: Annotated[str | None, typer.Option(help="Only this item (e.g. 'frame 12').")] = None,
    node: Annotated[str | None, typer.Option(help="Only this node/stage.")] = None,
    kind: Annotated[str | None, typer.Option(help="Only events of this kind.")] = None,
    failed: Annotated[bool, typer.Option("--failed", help="Only items that failed.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON lines.")] = False,
    config: ConfigOpt = None,
    runs_dir: RunsDirOpt = None,
) -> None:
    """Show a run's trace as a tree per item: proposal -> checks -> retry/escalation."""
    from ethoagent.agent.trace import read_trace, render_trace, summarize_trace
    from ethoagent.runs import Run

    settings = _settings(config, runs_dir=runs_dir)
    r = Run.open(run, settings.runs_dir)
    events = read_trace(r.trace_path)
    if as_json:
        for ev in events:
            if (
                (item is None or ev.get("item") == item)
                and (node is None or ev.get("node") == node)
                and (kind is None or ev.get("kind") == kind)
            ):
                sys.stdout.write(json.dumps(ev, sort_keys=True) + "\n")
        return
    render_trace(events, console, item=item, node=node, kind=kind, failed_only=failed)
    counts = summarize_trace(events)
    console.print(", ".join(f"{k}: {v}" for k, v in counts.items() if not isinstance(v, dict)))


@cache_app.command("info")
def cache_info(config: ConfigOpt = None, runs_dir: RunsDirOpt = None) -> None:
    """Size and contents of the model-answer cache."""
    from ethoagent.agent.cache import ModelCache

    settings = _settings(config, runs_dir=runs_dir)
    path = settings.resolved_cache_path()
    if not path.is_file():
        console.print(f"no cache at {path} (it is created by the first online model call)")
        return
    cache = ModelCache(path)
    try:
        stats = cache.stats()
    finally:
        cache.close()
    console.print(f"cache {path}: {stats.entries} answers, {stats.bytes / 1e6:.2f} MB")
    for prompt, n in sorted(stats.by_prompt.items()):
        console.print(f"  {prompt}: {n}")


@cache_app.command("clear")
def cache_clear(config: ConfigOpt = None, runs_dir: RunsDirOpt = None) -> None:
    """Delete every cached model answer."""
    from ethoagent.agent.cache import ModelCache

    settings = _settings(config, runs_dir=runs_dir)
    path = settings.resolved_cache_path()
    if not path.is_file():
        console.print(f"no cache at {path}")
        return
    cache = ModelCache(path)
    try:
        n = cache.clear()
    finally:
        cache.close()
    console.print(f"removed {n} cached answers from {path}")


def _compact_table(title: str, *columns: str, text_columns: int = 2) -> Table:
    """A borderless table: ``text_columns`` left-aligned columns (the first bold), then numbers."""
    table = Table(title=title, box=box.SIMPLE_HEAD, pad_edge=False, collapse_padding=True)
    for i, name in enumerate(columns):
        table.add_column(
            name,
            style="bold" if i == 0 else None,
            justify="left" if i < text_columns else "right",
            no_wrap=True,
        )
    return table


@data_app.command("list")
def data_list(
    root: Annotated[
        Path | None,
        typer.Option(
            "--root",
            help="Shared data folder (default: $ETHOAGENT_SHARED_DATA or <repo>/../shared/data).",
            file_okay=False,
        ),
    ] = None,
) -> None:
    """List the shared real data sets: present or not, size, and what each holds."""
    from ethoagent.evals.datasets import shared_data_dir, summarise_datasets

    base = root if root is not None else shared_data_dir()
    with console.status(f"reading {base} ..."):
        summaries = summarise_datasets(base)
    colour = {"present": "green", "missing": "red", "incomplete": "yellow"}
    word = {"present": "yes", "missing": "no", "incomplete": "partly"}
    table = _compact_table(
        f"shared data in {base}", "data set", "present", "MB", "sess", "views", "mice", "kpts",
        "frames",
    )  # fmt: skip
    table.caption = "sess = sessions, kpts = keypoints per mouse, frames = frames with keypoints"
    labels = _compact_table(
        "human labels", "data set", "behaviour", "sessions", "raters", "frames", "bouts"
    )
    for s in summaries:
        status = f"[{colour[s.status]}]{word[s.status]}[/]"
        if s.status != "present":
            table.add_row(s.name, status, f"{s.size_mb:.1f}" if s.size_mb else "-", *["-"] * 5)
            continue
        counts = (s.sessions, s.views, s.animals, s.keypoints)
        table.add_row(s.name, status, f"{s.size_mb:.1f}", *map(str, counts), f"{s.frames:,}")
        for c in s.labels:
            labels.add_row(
                s.name,
                c.behaviour,
                str(c.sessions),
                str(c.raters),
                f"{c.frames:,.0f}",
                f"{c.bouts:,.0f}",
            )
    console.print(table)
    if labels.row_count:
        labels.caption = "frames and bouts: summed over sessions, mean over raters"
        console.print(labels)
    for s in summaries:
        if s.hint is not None:
            console.print(f"[{colour[s.status]}]{s.name}[/]: {s.hint}", soft_wrap=True)


@app.command("config")
def config_show(config: ConfigOpt = None, backend: BackendOpt = None) -> None:
    """Print the effective settings (file, environment and flags merged) as TOML."""
    console.print(_settings(config, backend).to_toml(), markup=False, highlight=False)


# --------------------------------------------------------------------------- gate

gate_app = typer.Typer(
    help="LookAgain gate model on keypoints: pretrain, train, predict (keypoint path only; "
    "no video yet).",
    no_args_is_help=True,
)
app.add_typer(gate_app, name="gate")

_GATE_META = "gate.json"
_GATE_CLASSES = "classes.json"
_TRAIN_LOG = "train_log.csv"

GateOutOpt = Annotated[
    Path, typer.Option("--out", help="Model folder (created; checkpoints, logs and figures).")
]
GateFpsOpt = Annotated[
    float | None,
    typer.Option(min=0.001, help="Frame rate, Hz, where the file states none (predict needs one)."),
]
GateResumeOpt = Annotated[
    bool,
    typer.Option("--resume", help="Continue from the checkpoint in --out (after a kill)."),
]
DModelOpt = Annotated[
    int, typer.Option("--d-model", min=4, help="Transformer width (paper: 256; new model only).")
]
DzOpt = Annotated[int, typer.Option("--d-z", min=1, help="Code size (paper: 128; new model only).")]
LayersOpt = Annotated[
    int, typer.Option("--layers", min=1, help="Temporal transformer layers (paper: 4).")
]
WindowOpt = Annotated[int, typer.Option("--window", min=2, help="Frames per training window.")]
EpochsOpt = Annotated[int, typer.Option("--epochs", min=1, help="Passes over all windows.")]


def _gate_motion(path: Path, fps: float | None) -> tuple[Any, Any]:
    """``(pose, descriptor)`` of a keypoint file; confidence NaN (none in the file) = 1."""
    import numpy as np

    from ethoagent.tools.io import read_keypoints
    from ethoagent.tools.motion import describe_motion

    if not path.is_file():
        raise InputError(f"keypoint file {path} does not exist.", fix="check the path.")
    pose = read_keypoints(path, fps=fps)
    conf = np.where(np.isnan(pose.confidence), 1.0, pose.confidence)
    return pose, describe_motion(pose.points, conf)


def _gate_layout(pose: Any) -> dict[str, Any]:
    return {
        "keypoints": list(pose.keypoints),
        "animals": list(pose.individuals),
        "spatial_dims": int(pose.points.shape[-1]),
    }


def _check_gate_layout(
    path: Path, pose: Any, features: Any, model: Any, meta: dict[str, Any]
) -> None:
    """Raise unless the descriptor of ``path`` has the size ``model`` was built for."""
    dim = int(features.shape[-1])
    if dim == model.config.input_dim:
        return
    want = meta.get("layout") or {}
    expected = (
        f"{len(want['keypoints'])} keypoints x {want['spatial_dims']}D, "
        f"{len(want['animals'])} animal(s)"
        if want
        else "another layout"
    )
    raise InputError(
        f"{path}: {pose.points.shape[2]} keypoints x {pose.points.shape[3]}D, "
        f"{pose.points.shape[1]} animal(s) give {dim} motion features, but the model expects "
        f"{model.config.input_dim} ({expected}).",
        fix="use keypoints with the layout the model was trained on, or train a new model.",
    )


def _gate_out(out: Path, resume: bool, checkpoint: str) -> None:
    if out.exists() and not out.is_dir():
        raise InputError(f"output folder {out} is a file.", fix="pass a folder.")
    held = [n for n in ("config.json", "weights.pt", checkpoint) if (out / n).exists()]
    if held and not resume:
        raise InputError(
            f"output folder {out} already holds {', '.join(held)}; nothing was written.",
            fix="pass --resume to continue that run, or choose a new folder.",
        )
    if resume and not (out / _GATE_META).is_file():
        raise InputError(
            f"--resume: {out} holds no gate run to continue (no {_GATE_META}).",
            fix="start without --resume.",
        )
    out.mkdir(parents=True, exist_ok=True)


def _read_gate_meta(folder: Path) -> dict[str, Any]:
    path = folder / _GATE_META
    meta: dict[str, Any] = json.loads(path.read_text()) if path.is_file() else {}
    return meta


def _gate_loss_figure(log: Path, column: str, title: str) -> bytes:
    import csv

    from ethoagent.figures import new_figure, png_bytes

    with log.open(newline="") as f:
        rows = list(csv.DictReader(f))
    fig, ax = new_figure(6, 3.5)
    ax.plot([float(r["step"]) for r in rows], [float(r[column]) for r in rows], lw=1)
    ax.set_xlabel("step")
    ax.set_ylabel(f"{column} loss")
    ax.set_title(title)
    return png_bytes(fig)


def _gate_model(
    input_dim: int, n_classes: int, d_model: int, d_z: int, layers: int, window: int
) -> Any:
    from pydantic import ValidationError

    from ethoagent.nn.lookagain import LookAgain, LookAgainConfig

    try:
        cfg = LookAgainConfig(
            input_dim=input_dim,
            n_classes=n_classes,
            d_model=d_model,
            d_z=d_z,
            temporal_layers=layers,
            max_len=max(512, window),
        )
        return _seeded(lambda: LookAgain(cfg))
    except (ValidationError, ValueError) as exc:
        raise InputError(f"invalid model size: {exc}".splitlines()[0]) from None


def _seeded(build: Callable[[], Any], seed: int = 0) -> Any:
    """``build()`` with torch seeded, so a new model's weights are the same in every run."""
    import torch

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return build()


def _gate_progress_run(label: str, body: Callable[[Callable[[int, int, float], None]], Any]) -> Any:
    with _progress() as progress:
        task = progress.add_task(label, total=None)

        def on_step(step: int, total: int, loss: float) -> None:
            progress.update(
                task, completed=step, total=total, description=f"{label} (loss {loss:.3f})"
            )

        return body(on_step)


@gate_app.command("pretrain")
def gate_pretrain(
    keypoints: Annotated[
        list[Path],
        typer.Argument(help="Keypoint files (same layout), unlabelled.", metavar="KEYPOINTS..."),
    ],
    out: GateOutOpt,
    epochs: EpochsOpt = 10,
    fps: GateFpsOpt = None,
    resume: GateResumeOpt = False,
    d_model: DModelOpt = 256,
    d_z: DzOpt = 128,
    layers: LayersOpt = 4,
    window: WindowOpt = 128,
) -> None:
    """Pretrain the gate model's encoder without labels (keypoint path only; no video yet).

    Masked motion modelling on the motion descriptors; with --resume the run in --out
    continues from its last checkpoint with the settings it was started with.
    """
    import numpy as np

    from ethoagent.atomic import atomic_write_bytes, atomic_write_text
    from ethoagent.nn.lookagain import LookAgain, LookAgainConfig
    from ethoagent.nn.pretrain_gate import CHECKPOINT_FILE, LOG_FILE, PretrainConfig, pretrain_gate
    from ethoagent.nn.train_gate import GateSession

    loaded = [(p, *_gate_motion(p, fps)) for p in keypoints]
    _gate_out(out, resume, CHECKPOINT_FILE)
    if resume:
        meta = _read_gate_meta(out)
        model = LookAgain(LookAgainConfig.model_validate(meta["model"]))
        cfg = PretrainConfig.model_validate(meta["pretrain"])
    else:
        model = _gate_model(loaded[0][2].features.shape[-1], 2, d_model, d_z, layers, window)
        cfg = PretrainConfig(epochs=epochs, window=window, stride=max(1, window // 2))
        meta = {
            "layout": _gate_layout(loaded[0][1]),
            "model": model.config.model_dump(),
            "pretrain": cfg.model_dump(),
        }
    sessions = []
    for path, pose, desc in loaded:
        _check_gate_layout(path, pose, desc.features, model, meta)
        sessions.append(
            GateSession(
                motion=desc.features,
                labels=np.full(desc.valid.shape, -1, np.int64),
                confidence=desc.confidence,
                present=desc.valid,
            )
        )
    if not resume:
        atomic_write_text(out / _GATE_META, json.dumps(meta, indent=2))
    result = _gate_progress_run(
        "pretrain",
        lambda cb: pretrain_gate(model, sessions, cfg, checkpoint_dir=out, progress=cb),
    )
    model.save(out)
    atomic_write_bytes(
        out / "pretrain_losses.png",
        _gate_loss_figure(out / LOG_FILE, "total", "gate pretraining loss"),
    )
    console.print(
        f"pretrained {result.steps} steps"
        + (f" (resumed at step {result.resumed_from})" if result.resumed_from else "")
        + f" on {len(sessions)} file(s); model in [cyan]{out}[/] ({LOG_FILE}, "
        "pretrain_losses.png)"
    )


def _gate_labels(path: Path, animals: Sequence[str], frames: int) -> Any:
    """``(frames, animals)`` int64 labels from a ``frame,<label>`` or ``frame,<animal>...`` CSV."""
    import numpy as np

    from ethoagent.tools.io import read_framewise_labels

    if not path.is_file():
        raise InputError(f"label file {path} does not exist.", fix="check the path.")
    labels, columns = read_framewise_labels(path)
    if len(columns) == 1 and len(animals) == 1:
        chosen = labels
    elif set(columns) == set(animals):
        chosen = labels[:, [columns.index(a) for a in animals]]
    else:
        raise InputError(
            f"{path} has label columns {list(columns)}; the keypoints have animals "
            f"{list(animals)}.",
            fix="write 'frame,label' for one animal, or one column per animal named after it.",
        )
    if chosen.shape[0] != frames:
        raise InputError(
            f"{path} labels {chosen.shape[0]} frames; the keypoints have {frames}.",
            fix="give one label row per keypoint frame (-1 = unlabelled).",
        )
    return np.array(chosen, np.int64)


@gate_app.command("train")
def gate_train(
    keypoints: Annotated[
        Path, typer.Argument(help="Keypoint file of the labelled session.", metavar="KEYPOINTS")
    ],
    labels: Annotated[
        Path,
        typer.Option(
            help="Frame-wise labels CSV: 'frame,label' (one animal) or 'frame,<animal>...'; "
            "integer codes, -1 = unlabelled."
        ),
    ],
    out: GateOutOpt,
    model_dir: Annotated[
        Path | None,
        typer.Option("--model", help="Pretrained model folder; its encoder is frozen."),
    ] = None,
    epochs: EpochsOpt = 10,
    label_fraction: Annotated[
        float,
        typer.Option(
            min=0.0,
            max=1.0,
            help="Train on the labels of the first fraction of frames only (> 0).",
        ),
    ] = 1.0,
    fps: GateFpsOpt = None,
    resume: GateResumeOpt = False,
    d_model: DModelOpt = 256,
    d_z: DzOpt = 128,
    layers: LayersOpt = 4,
    window: WindowOpt = 128,
) -> None:
    """Train the gate model on labelled keypoints (keypoint path only; no video yet).

    Class-weighted cross-entropy. With --model the pretrained encoder is frozen and the
    size options are ignored; with --resume the run in --out continues from its checkpoint.
    """
    import csv

    from ethoagent.atomic import atomic_write_bytes, atomic_write_text
    from ethoagent.nn.lookagain import LookAgain, LookAgainConfig
    from ethoagent.nn.pretrain_gate import freeze_encoder
    from ethoagent.nn.train_gate import CHECKPOINT_FILE, GateSession, TrainConfig, train_gate

    pose, desc = _gate_motion(keypoints, fps)
    y = _gate_labels(labels, pose.individuals, pose.frames)
    y[round(label_fraction * pose.frames) :] = -1
    if not (y >= 0).any():  # also --label-fraction 0
        raise InputError(f"{labels} labels no frame (all -1).", fix="label some frames.")
    _gate_out(out, resume, CHECKPOINT_FILE)
    if resume:
        meta = _read_gate_meta(out)
        model = LookAgain(LookAgainConfig.model_validate(meta["model"]))
        cfg = TrainConfig.model_validate(meta["train"])
        if meta.get("frozen"):
            freeze_encoder(model)
        classes: list[str] = meta["classes"]
    else:
        classes = [str(c) for c in range(int(max(y.max(), 0)) + 1)]
        meta = {"layout": _gate_layout(pose)}
        if model_dir is not None:
            base = LookAgain.load(model_dir)
            meta = {**_read_gate_meta(model_dir), **meta, "pretrained": str(model_dir)}
            _check_gate_layout(keypoints, pose, desc.features, base, meta)
            config = base.config.model_copy(update={"n_classes": len(classes)})
            model = _seeded(lambda: LookAgain(config))
            state = {k: v for k, v in base.state_dict().items() if not k.startswith("classifier.")}
            model.load_state_dict(state, strict=False)
            freeze_encoder(model)
        else:
            model = _gate_model(desc.features.shape[-1], len(classes), d_model, d_z, layers, window)
        if window > model.config.max_len:
            raise InputError(
                f"--window {window} exceeds the model's max_len {model.config.max_len}.",
                fix="pass a shorter --window.",
            )
        cfg = TrainConfig(epochs=epochs, window=window, stride=max(1, window // 2))
        meta.pop("pretrain", None)
        meta.update(
            model=model.config.model_dump(),
            train=cfg.model_dump(),
            classes=classes,
            frozen=model_dir is not None,
            label_fraction=label_fraction,
        )
    _check_gate_layout(keypoints, pose, desc.features, model, meta)
    if int(y.max()) >= len(classes):
        raise InputError(
            f"{labels} holds label {int(y.max())}; the model being resumed knows "
            f"{len(classes)} classes.",
            fix="resume with the labels it was started with.",
        )
    if not resume:
        atomic_write_text(out / _GATE_META, json.dumps(meta, indent=2))
    session = GateSession(
        motion=desc.features, labels=y, confidence=desc.confidence, present=desc.valid
    )
    log = out / _TRAIN_LOG
    fresh = [True]

    def on_step(step: int, total: int, loss: float) -> None:
        if not log.is_file() or step == 1:
            atomic_write_text(log, "step,loss\n")
        elif fresh[0]:
            # rows from the checkpoint's step on belong to a run killed after it: drop them
            kept = [r for r in log.read_text().splitlines()[1:] if int(r.split(",")[0]) < step]
            atomic_write_text(log, "\n".join(["step,loss", *kept]) + "\n")
        fresh[0] = False
        with log.open("a", newline="") as f:
            csv.writer(f, lineterminator="\n").writerow([step, repr(loss)])

    def body(cb: Callable[[int, int, float], None]) -> Any:
        def both(step: int, total: int, loss: float) -> None:
            on_step(step, total, loss)
            cb(step, total, loss)

        return train_gate(model, [session], cfg, checkpoint_dir=out, progress=both)

    result = _gate_progress_run("train", body)
    model.save(out)
    atomic_write_text(out / _GATE_CLASSES, json.dumps(classes))
    if log.is_file():
        atomic_write_bytes(
            out / "train_losses.png", _gate_loss_figure(log, "loss", "gate training loss")
        )
    labelled = int((y >= 0).sum())
    console.print(
        f"trained {result.steps} steps"
        + (f" (resumed at step {result.resumed_from})" if result.resumed_from else "")
        + f" on {labelled} labelled frame-animals, {len(classes)} classes"
        + (" (encoder frozen)" if meta.get("frozen") else "")
        + f"; model in [cyan]{out}[/] ({_GATE_CLASSES}, {_TRAIN_LOG}, train_losses.png)"
    )


def _gate_probabilities(model: Any, desc: Any, window: int) -> Any:
    """``(frames, animals, n_classes)`` probabilities, averaged over overlapping windows."""
    import numpy as np
    import torch

    from ethoagent.nn.train_gate import cut_windows

    frames, animals, _ = desc.features.shape
    window = min(window, model.config.max_len)
    total = np.zeros((frames, animals, model.config.n_classes), np.float64)
    count = np.zeros((frames, 1, 1), np.float64)
    for start, stop in cut_windows(frames, window, max(1, window // 2)):
        probs = model.predict(
            torch.from_numpy(desc.features[start:stop].transpose(1, 0, 2)[None]),
            torch.from_numpy(desc.confidence[start:stop].T[None]),
            present=torch.from_numpy(desc.valid[start:stop].T[None]),
        )
        total[start:stop] += probs[0].transpose(1, 0, 2)
        count[start:stop] += 1
    return total / np.maximum(count, 1)


def _gate_ethogram_figure(
    codes: Any, animals: Sequence[str], classes: Sequence[str], fps: float
) -> bytes:
    import matplotlib.pyplot as plt

    from ethoagent.figures import new_figure, png_bytes

    cmap = plt.get_cmap("tab10" if len(classes) <= 10 else "tab20")
    fig, ax = new_figure(10, 1.0 + 0.6 * len(animals))
    for a in range(len(animals)):
        column = codes[:, a]
        edges = [0, *(i + 1 for i in range(len(column) - 1) if column[i + 1] != column[i])]
        for i, start in enumerate(edges):
            stop = edges[i + 1] if i + 1 < len(edges) else len(column)
            ax.broken_barh(
                [(start / fps, (stop - start) / fps)],
                (len(animals) - 1 - a + 0.1, 0.8),
                color=cmap(int(column[start]) % cmap.N),
            )
    ax.set_yticks([len(animals) - 1 - a + 0.5 for a in range(len(animals))], list(animals))
    ax.set_xlabel("time (s)")
    ax.set_xlim(0, len(codes) / fps)
    ax.set_ylim(0, len(animals))
    ax.set_title("gate model ethogram (most probable class per frame)")
    from matplotlib.patches import Patch

    ax.legend(
        handles=[Patch(color=cmap(i % cmap.N), label=c) for i, c in enumerate(classes)],
        loc="upper left",
        bbox_to_anchor=(1.01, 1.0),
        frameon=False,
        fontsize=8,
    )
    return png_bytes(fig)


@gate_app.command("predict")
def gate_predict(
    keypoints: Annotated[Path, typer.Argument(help="Keypoint file.", metavar="KEYPOINTS")],
    out: Annotated[
        Path,
        typer.Argument(
            help="Folder for labels.csv, ethogram.csv and ethogram.png (created).",
            metavar="OUT",
        ),
    ],
    model_dir: Annotated[
        Path, typer.Option("--model", help="Model folder written by `ethoagent gate train`.")
    ],
    fps: GateFpsOpt = None,
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Replace outputs OUT already holds.")
    ] = False,
) -> None:
    """Label every frame with a trained gate model (keypoint path only; no video yet)."""
    import csv
    import io
    import tempfile

    import numpy as np

    from ethoagent.atomic import atomic_write_bytes, atomic_write_text
    from ethoagent.nn.lookagain import LookAgain
    from ethoagent.tools.ethogram import epochs_from_labels, write_ethogram_csv

    outputs = ("labels.csv", "ethogram.csv", "ethogram.png")
    if out.exists() and not out.is_dir():
        raise InputError(f"output folder {out} is a file.", fix="pass a folder.")
    held = [n for n in outputs if (out / n).exists()]
    if held and not overwrite:
        raise InputError(
            f"output folder {out} already holds {', '.join(held)}; nothing was written.",
            fix="choose a new folder or pass --overwrite.",
        )
    if not model_dir.is_dir() or not (model_dir / "weights.pt").is_file():
        raise InputError(
            f"{model_dir} holds no gate model (weights.pt).",
            fix="pass the --out folder of `ethoagent gate train`.",
        )
    if not (model_dir / _GATE_CLASSES).is_file():
        raise InputError(
            f"{model_dir} holds no {_GATE_CLASSES}: it was pretrained but not trained.",
            fix="train it first: ethoagent gate train KEYPOINTS --labels L.csv "
            f"--model {model_dir} --out MODEL",
        )
    model = LookAgain.load(model_dir)
    classes: list[str] = json.loads((model_dir / _GATE_CLASSES).read_text())
    meta = _read_gate_meta(model_dir)
    pose, desc = _gate_motion(keypoints, fps)
    _check_gate_layout(keypoints, pose, desc.features, model, meta)
    rate = pose.fps or fps
    if rate is None:
        raise InputError(
            f"{keypoints} states no frame rate.", fix="pass --fps (Hz) for the ethogram's seconds."
        )
    window = int((meta.get("train") or {}).get("window", model.config.max_len))
    with console.status("predicting ..."):
        probs = _gate_probabilities(model, desc, window)
    codes = probs.argmax(axis=-1)
    animals = list(pose.individuals)

    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["frame", "animal", "label", *(f"p_{c}" for c in classes)])
    for f in range(codes.shape[0]):
        for a, name in enumerate(animals):
            writer.writerow([f, name, classes[codes[f, a]], *(f"{p:.4f}" for p in probs[f, a])])
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "labels.csv", buf.getvalue())
    lines: list[str] = []
    with tempfile.TemporaryDirectory() as tmp:
        for a, name in enumerate(animals):
            eps = epochs_from_labels(codes[:, a].astype(np.int64), classes)
            part = write_ethogram_csv(Path(tmp) / f"{a}.csv", eps, rate, name).read_text()
            lines += part.splitlines()[(1 if lines else 0) :]
    atomic_write_text(out / "ethogram.csv", "\n".join(lines) + "\n")
    atomic_write_bytes(out / "ethogram.png", _gate_ethogram_figure(codes, animals, classes, rate))

    table = Table(title="gate predict: per-frame labels (keypoints only)", show_header=False)
    table.add_column(style="bold")
    table.add_column()
    table.add_row("frames x animals", f"{codes.shape[0]} x {len(animals)} at {rate:g} fps")
    shares = np.bincount(codes.reshape(-1), minlength=len(classes)) / codes.size
    table.add_row(
        "classes", ", ".join(f"{c} {s:.0%}" for c, s in zip(classes, shares, strict=True))
    )
    table.add_row("mean top probability", f"{float(probs.max(axis=-1).mean()):.3f}")
    console.print(table)
    console.print(f"outputs: [cyan]{out}[/] (labels.csv, ethogram.csv, ethogram.png)")


def main() -> None:
    """Console entry point: run the app, turning user errors into one red line."""
    try:
        app()
    except EthoagentError as exc:
        _fail(str(exc), exc.exit_code)
    except KeyboardInterrupt:
        _fail("interrupted (resume with --resume RUN)", 130)
    except Exception as exc:  # an internal error: still one line unless --debug
        _fail(f"internal error {type(exc).__name__}: {exc} (rerun with --debug)", 1)


def _fail(message: str, code: int) -> None:
    if _STATE["debug"]:
        traceback.print_exc()
    err_console.print(Text.assemble(("error: ", "bold red"), message), soft_wrap=True)
    sys.exit(code)


if __name__ == "__main__":
    main()
