"""The ``ethoagent`` command line (typer + rich).

Errors a user can cause print as one red line with the fix and exit non-zero; ``--debug``
(or ``ETHOAGENT_DEBUG=1``) shows the traceback instead.
"""

from __future__ import annotations

import json
import sys
import traceback
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table
from rich.text import Text

from ethoagent import __version__
from ethoagent.cli.base import (
    STATE,
    BackendOpt,
    BodyOpt,
    ConfigOpt,
    FailedOpt,
    FormatOpt,
    KeypointsArg,
    LayoutOpt,
    NoCacheOpt,
    NodeOpt,
    OverwriteOpt,
    ResumeOpt,
    RunArg,
    RunIdOpt,
    RunsDirOpt,
    SeedOpt,
    SkeletonOpt,
    compact_table,
    console,
    err_console,
    print_run_paths,
    print_warnings,
    progress_bar,
    run_with_progress,
    settings_from,
)
from ethoagent.cli.batch import run_command
from ethoagent.cli.chat import chat
from ethoagent.cli.classify import classify
from ethoagent.cli.demo import demo
from ethoagent.cli.gate import gate_app
from ethoagent.cli.inspect import inspect_command
from ethoagent.cli.profile import profile_command
from ethoagent.cli.review import review_command
from ethoagent.cli.serve import doctor_command, serve_command
from ethoagent.cli.trace import trace_export
from ethoagent.cli.triangulate import triangulate_command
from ethoagent.errors import EthoagentError, InputError
from ethoagent.graphs.pose.options import PoseOptions
from ethoagent.graphs.segment.options import SegmentOptions

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


@app.callback()
def _main(
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks.")] = False,
) -> None:
    if debug:
        STATE["debug"] = True


@app.command()
def version() -> None:
    """Print the ethoagent version."""
    console.print(f"ethoagent {__version__}")


_POSE = PoseOptions()
"""Defaults of the pose options shown in ``--help`` (``PoseOptions`` holds them)."""


@app.command()
def pose(
    videos: Annotated[
        Path | None,
        typer.Option(
            help="Folder with one video per camera: the camera named in the file name "
            "(session_back.mp4) or one folder per camera (back/...mp4). May be left out "
            "with --candidates: the model then sees no image (offline solvers and the 3D "
            "checks only)."
        ),
    ] = None,
    calibration: Annotated[
        Path | None, typer.Option(help="anipose calibration.toml of the cameras.")
    ] = None,
    seeds: Annotated[
        Path | None,
        typer.Option(
            help="Seed labels: CSV frame,view,keypoint,x,y (frame 0 included), a folder "
            "of labelled files, one per camera (SLEAP .slp, DeepLabCut), or a DeepLabCut "
            "labeled-data folder."
        ),
    ] = None,
    seed_frames: Annotated[
        str | None,
        typer.Option(
            help="Frames of the labelled files to take as seeds, e.g. 0,60,119 (default: "
            "3 spread over the labelled frames; every frame of a CSV or labeled-data)."
        ),
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
    skeleton: Annotated[
        Path | None,
        typer.Option(
            help="Skeleton file: SLEAP .slp, DeepLabCut config.yaml, anipose config.toml or "
            "skeleton TOML (default: the named skeleton the seeds fit)."
        ),
    ] = None,
    frames: Annotated[
        int | None, typer.Option(help="Label the first N frames (default: all).")
    ] = _POSE.frames,
    model_every_stage: Annotated[
        bool,
        typer.Option(
            "--model-every-stage",
            help="Ask the model in every stage (the paper's way) instead of only where "
            "the cheap path fails a check.",
        ),
    ] = _POSE.model_every_stage,
    stagewise: Annotated[
        bool,
        typer.Option(
            "--stagewise/--no-stagewise",
            help="Also carry the stage-wise reading as a second hypothesis and take it per "
            "chunk and keypoint where bone and smoothness checks prefer it; --no-stagewise "
            "about halves the labelling time.",
        ),
    ] = _POSE.stagewise_hypothesis,
    reacquire: Annotated[
        bool,
        typer.Option(
            "--reacquire/--no-reacquire",
            help="Fill a keypoint the output lost from the marks no keypoint reads, where "
            "3 views, bones, its side of the body and the next frames agree (output only, "
            "the tracks are not fed).",
        ),
    ] = _POSE.reacquire_lost,
    out: Annotated[
        Path | None,
        typer.Option(
            help="Also copy the outputs into this folder (they always stay in the run "
            "directory); refused if it already holds pose outputs (see --overwrite)."
        ),
    ] = None,
    overwrite: OverwriteOpt = False,
    run_id: RunIdOpt = None,
    resume: ResumeOpt = None,
    config: ConfigOpt = None,
    backend: BackendOpt = None,
    runs_dir: RunsDirOpt = None,
    no_cache: NoCacheOpt = False,
) -> None:
    """Verified multi-view 3D keypoints of any skeleton from synchronised videos and seeds.

    Candidates are a 2D pose model's predictions (--candidates: DeepLabCut, SLEAP,
    LightningPose files, one per camera) or, without them, bright marks (quantum dots)
    detected in the videos; a few labelled seed frames give the skeleton's layout.

    With --resume RUN the inputs come from the run; --out may be given (else the run's).
    """
    from ethoagent.graphs.pose import PIPELINE

    settings = settings_from(config, backend, runs_dir, no_cache)
    if resume is None:
        if session is None and (None in (calibration, seeds) or (videos or candidates) is None):
            raise InputError(
                "pose needs --calibration, --seeds and --videos or --candidates (or --session).",
                fix="e.g. ethoagent pose --session sim/ after `ethoagent simulate sim/`.",
            )
        inputs = PIPELINE.parse_inputs(
            {
                "session": session,
                "videos": videos,
                "calibration": calibration,
                "seeds": seeds,
                "seed_frames": _frame_list(seed_frames),
                "candidates": candidates,
                "skeleton": skeleton,
            }
        )
        options = PIPELINE.parse_options(
            {
                "frames": frames,
                "model_every_stage": model_every_stage,
                "stagewise_hypothesis": stagewise,
                "reacquire_lost": reacquire,
            }
        )
    else:
        inputs, options = None, None
    result = run_with_progress(
        PIPELINE,
        inputs,
        options,
        settings,
        title="pose",
        out=out,
        resume=resume,
        overwrite=overwrite,
        run_id=run_id,
    )
    print_warnings(result.inputs.warnings)
    summary, root = result.summary, result.run.root
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
    for path in result.files:
        console.print(f"  [dim]{path}[/]")
    print_run_paths(root)


VIDEO_SUFFIXES = frozenset({".mp4", ".avi", ".mov", ".mkv", ".m4v", ".mpg", ".mpeg", ".webm"})
"""A first argument of ``segment`` with one of these suffixes is a video, not keypoints."""

_SEGMENT = SegmentOptions()
"""Defaults of the segment options shown in ``--help`` (``SegmentOptions`` holds them)."""


@app.command()
def segment(
    keypoints: KeypointsArg = None,
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
        float | None, typer.Option(help="Frame rate, Hz (required when the file states none).")
    ] = None,
    k: Annotated[int, typer.Option("--k", help="DEC clusters, joint over animals.")] = _SEGMENT.k,
    min_snippet_s: Annotated[
        float, typer.Option(help="Shortest snippet captioned, seconds.")
    ] = _SEGMENT.min_snippet_s,
    max_snippet_s: Annotated[
        float, typer.Option(help="Longest snippet captioned, seconds.")
    ] = _SEGMENT.max_snippet_s,
    min_epoch_s: Annotated[
        float, typer.Option(help="Shortest epoch of the ethogram, seconds.")
    ] = _SEGMENT.min_epoch_s,
    layout: LayoutOpt = _SEGMENT.layout,
    body: BodyOpt = None,
    format: FormatOpt = None,
    skeleton: SkeletonOpt = None,
    seed: Annotated[int, typer.Option(help="Seed of the DEC fit.")] = _SEGMENT.seed,
    dec_epochs: Annotated[
        int, typer.Option(help="DEC autoencoder pretraining epochs.")
    ] = _SEGMENT.dec_pretrain_epochs,
    dec_iters: Annotated[
        int, typer.Option(help="Most DEC clustering iterations.")
    ] = _SEGMENT.dec_cluster_iters,
    model_every_snippet: Annotated[
        bool,
        typer.Option(
            "--model-every-snippet",
            help="Ask the VLM for every snippet, also where the kinematics are clear.",
        ),
    ] = _SEGMENT.model_every_snippet,
    features: Annotated[
        str | None,
        typer.Option(
            help="What is clustered: keypoints, video (moving blobs, no keypoints needed) "
            "or both. Default: keypoints when given, else video."
        ),
    ] = _SEGMENT.features,
    animals: Annotated[
        int, typer.Option(help="Animals to follow in a video without keypoints.")
    ] = _SEGMENT.video_animals,
    video_threshold: Annotated[
        float | None,
        typer.Option(help="Foreground threshold for video features, grey levels (default: auto)."),
    ] = _SEGMENT.video_threshold,
    video_embeddings: Annotated[
        bool,
        typer.Option(
            "--video-embeddings",
            help="Add EfficientNet-Lite0 embeddings of animal crops to the video features "
            "(needs the vision extra).",
        ),
    ] = _SEGMENT.video_embeddings,
    overwrite: OverwriteOpt = False,
    run_id: RunIdOpt = None,
    resume: ResumeOpt = None,
    config: ConfigOpt = None,
    backend: BackendOpt = None,
    runs_dir: RunsDirOpt = None,
    no_cache: NoCacheOpt = False,
) -> None:
    """Segment behaviour: DEC clusters -> snippets -> captions -> ethogram.

    KEYPOINTS may be a video (features from its moving blobs, no keypoints needed). With
    --resume RUN the inputs come from the run; OUT may be given (else the run's).
    """
    from ethoagent.graphs.segment import PIPELINE

    settings = settings_from(config, backend, runs_dir, no_cache)
    if resume is None:
        if keypoints is None or out is None:
            raise InputError(
                "segment needs KEYPOINTS and OUT (KEYPOINTS may be a video).",
                fix="e.g. ethoagent segment poses.nc results/ (or --resume RUN).",
            )
        if video is None and keypoints.suffix.lower() in VIDEO_SUFFIXES:
            keypoints, video = None, keypoints
        inputs = PIPELINE.parse_inputs(
            {
                "keypoints": keypoints,
                "video": video,
                "fps": fps,
                "body": body,
                "format": format,
                "skeleton": skeleton,
            }
        )
        options = PIPELINE.parse_options(
            {
                "k": k,
                "seed": seed,
                "dec_pretrain_epochs": dec_epochs,
                "dec_cluster_iters": dec_iters,
                "min_snippet_s": min_snippet_s,
                "max_snippet_s": max_snippet_s,
                "min_epoch_s": min_epoch_s,
                "layout": layout,
                "model_every_snippet": model_every_snippet,
                "features": features,
                "video_animals": animals,
                "video_threshold": video_threshold,
                "video_embeddings": video_embeddings,
            }
        )
    else:
        inputs, options = None, None
        out = out or keypoints  # `segment --resume RUN OUT`: OUT lands in the first slot
    result = run_with_progress(
        PIPELINE,
        inputs,
        options,
        settings,
        title="segment",
        out=out,
        resume=resume,
        overwrite=overwrite,
        run_id=run_id,
    )
    _print_segment_summary(result.summary, result.out or result.run.outputs_dir, result.run.root)


def _frame_list(text: str | None) -> list[int] | None:
    """``--seed-frames 0,60,119`` as frame indices."""
    if text is None:
        return None
    try:
        return [int(t) for t in text.replace(" ", "").split(",") if t]
    except ValueError as exc:
        raise InputError(
            f"--seed-frames {text!r} is not a list of frame numbers.",
            fix="pass comma-separated frame indices, e.g. --seed-frames 0,60,119.",
        ) from exc


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
    print_warnings(s["warnings"])
    print_run_paths(root, out, "ethogram.csv, clusters.csv, report.md, ...")


@app.command()
def simulate(
    out: Annotated[Path, typer.Argument(help="Output folder (created; must be empty).")],
    preset: Annotated[str, typer.Option(help="easy, paper-like or hard.")] = "paper-like",
    frames: Annotated[int, typer.Option(min=1, help="Frames to simulate.")] = 500,
    animals: Annotated[
        int | None, typer.Option(min=1, max=3, help="Mice (default: the preset's).")
    ] = None,
    views: Annotated[int, typer.Option(min=2, max=16, help="Camera views.")] = 6,
    seed: SeedOpt = 0,
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Replace what OUT already holds.")
    ] = False,
) -> None:
    """Simulate a multi-view mouse session: videos, calibration and exact ground truth."""
    from ethoagent.sim.simulate import simulate_session

    if out.exists() and any(out.iterdir()) and not overwrite:
        raise InputError(
            f"output folder {out} is not empty; nothing was written.",
            fix="choose a new folder or pass --overwrite.",
        )

    with progress_bar() as progress:
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

    settings = settings_from(config, runs_dir=runs_dir)
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
    seed: SeedOpt = 0,
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
    run: RunArg,
    item: Annotated[str | None, typer.Option(help="Only this item (e.g. 'frame 12').")] = None,
    node: NodeOpt = None,
    kind: Annotated[str | None, typer.Option(help="Only events of this kind.")] = None,
    check: Annotated[
        str | None, typer.Option(help="Only items this check ran on (failed, with --failed).")
    ] = None,
    failed: FailedOpt = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON lines.")] = False,
    config: ConfigOpt = None,
    runs_dir: RunsDirOpt = None,
) -> None:
    """Show a run's trace as a tree per item: proposal -> checks -> retry/escalation."""
    from ethoagent.agent.trace import read_trace
    from ethoagent.agent.trace_html import select_events
    from ethoagent.agent.trace_report import render_trace, summarize_trace
    from ethoagent.runs import Run

    settings = settings_from(config, runs_dir=runs_dir)
    r = Run.open(run, settings.runs_dir)
    events = read_trace(r.trace_path)
    if as_json:
        chosen = select_events(
            events, item=item, node=node, kind=kind, check=check, failed_only=failed
        )
        for ev in chosen:
            sys.stdout.write(json.dumps(ev, sort_keys=True) + "\n")
        return
    render_trace(events, console, item=item, node=node, kind=kind, failed_only=failed, check=check)
    counts = summarize_trace(events)
    console.print(", ".join(f"{k}: {v}" for k, v in counts.items() if not isinstance(v, dict)))


@cache_app.command("info")
def cache_info(config: ConfigOpt = None, runs_dir: RunsDirOpt = None) -> None:
    """Size and contents of the model-answer cache."""
    from ethoagent.agent.cache import ModelCache

    settings = settings_from(config, runs_dir=runs_dir)
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

    settings = settings_from(config, runs_dir=runs_dir)
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
    table = compact_table(
        f"shared data in {base}", "data set", "present", "MB", "sess", "views", "mice", "kpts",
        "frames",
    )  # fmt: skip
    table.caption = "sess = sessions, kpts = keypoints per mouse, frames = frames with keypoints"
    labels = compact_table(
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
    console.print(settings_from(config, backend).to_toml(), markup=False, highlight=False)


# --------------------------------------------------------------------------- gate

# Command groups that live in their own modules: one import and one line each.
app.add_typer(gate_app, name="gate")
app.command("classify")(classify)
app.command("chat")(chat)
app.command("demo")(demo)
app.command("profile")(profile_command)
app.command("triangulate")(triangulate_command)
app.command("run")(run_command)
trace_app.command("export")(trace_export)
app.command("serve")(serve_command)
app.command("doctor")(doctor_command)
app.command("inspect")(inspect_command)
app.command("review")(review_command)


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
    if STATE["debug"]:
        traceback.print_exc()
    # one line, whatever a library put into the message
    message = " ".join(message.split())
    err_console.print(Text.assemble(("error: ", "bold red"), message), soft_wrap=True)
    sys.exit(code)


if __name__ == "__main__":
    main()
