"""What every ``ethoagent`` command module shares: consoles, common options, settings,
opening and executing a run with a progress bar, compact tables.

Command groups live in their own modules (``cli_gate``, ...) that import from here; ``cli``
assembles them into the one typer app.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer
from pydantic import BaseModel, ValidationError
from rich import box
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from ethoagent.config import Settings, load_settings
from ethoagent.errors import EthoagentError, InputError, RunError

if TYPE_CHECKING:
    from ethoagent.graphs.kit.run import PipelineResult
    from ethoagent.graphs.kit.runtime import ProgressCallback
    from ethoagent.graphs.kit.spec import AnyPipeline
    from ethoagent.runs import Run

console = Console()
err_console = Console(stderr=True)
STATE: dict[str, Any] = {"debug": os.environ.get("ETHOAGENT_DEBUG") == "1"}

ConfigOpt = Annotated[
    Path | None, typer.Option("--config", "-c", help="TOML settings file.", dir_okay=False)
]
BackendOpt = Annotated[str | None, typer.Option("--backend", help="offline (default) or openai.")]
RunsDirOpt = Annotated[Path | None, typer.Option("--runs-dir", help="Where runs are stored.")]
RunIdOpt = Annotated[str | None, typer.Option("--run-id", help="Name the run.")]
ResumeOpt = Annotated[
    str | None, typer.Option("--resume", help="Resume the run with this id or path.")
]
KeypointsArg = Annotated[
    Path | None,
    typer.Argument(
        help="Keypoint file (DeepLabCut, SLEAP, LightningPose, anipose, NWB, movement "
        "netCDF) or a folder written by `ethoagent simulate`.",
        metavar="KEYPOINTS",
        show_default=False,
    ),
]
OverwriteOpt = Annotated[
    bool, typer.Option("--overwrite", help="Replace outputs OUT already holds.")
]
NoCacheOpt = Annotated[
    bool, typer.Option("--no-cache", help="Do not read or write the model-answer cache.")
]
BodyOpt = Annotated[
    Path | None,
    typer.Option(
        "--body",
        help="Body file stating which keypoints play which role, overriding name matching: "
        'a TOML (head = "snout", tail_base = "tailbase", centre = ["neck", "hips"]) or a '
        "skeleton file (.slp, DeepLabCut config.yaml, skeleton TOML with a roles table).",
        dir_okay=False,
    ),
]
LayoutOpt = Annotated[
    str | None,
    typer.Option(help="Body layout (synthetic12, calms21, ethome, behaviordepot, ...)."),
]
SeedOpt = Annotated[int, typer.Option(help="Random seed.")]
RunArg = Annotated[str, typer.Argument(help="Run id or path.")]
NodeOpt = Annotated[str | None, typer.Option(help="Only this node/stage.")]
FailedOpt = Annotated[bool, typer.Option("--failed", help="Only items that failed.")]
FormatOpt = Annotated[
    str | None,
    typer.Option(
        "--format",
        help="Keypoint file format where detection is ambiguous: dlc, lightning_pose, sleap, "
        "sleap_analysis, sleap_anipose, anipose, nwb, netcdf, dannce (default: from the "
        "suffix and first rows).",
    ),
]

SkeletonOpt = Annotated[
    Path | None,
    typer.Option(
        "--skeleton",
        help="Skeleton file naming the nodes of a sleap-anipose points3d.h5 or DANNCE "
        "label3d_dannce.mat (SLEAP .slp, DeepLabCut config.yaml, anipose config.toml, DANNCE "
        "skeleton .mat or skeleton TOML; default: the .slp files beside a points3d.h5, the "
        "skeleton .mat near a label3d_dannce.mat).",
        dir_okay=False,
    ),
]


def print_warnings(warnings: Iterable[str]) -> None:
    """One yellow ``warning:`` line per entry of a run summary's ``warnings``."""
    for w in warnings:
        console.print(f"[yellow]warning:[/] {w}", soft_wrap=True)


def print_run_paths(root: Path, out: Path | None = None, files: str = "") -> None:
    """A pipeline command's last lines: its outputs folder (naming ``files``) and run folder."""
    if out is not None:
        console.print(f"outputs: [cyan]{out}[/] ({files})")
    console.print(f"run directory: [cyan]{root}[/]  (trace: ethoagent trace show {root})")


def settings_from(
    config: Path | None,
    backend: str | None = None,
    runs_dir: Path | None = None,
    no_cache: bool = False,
) -> Settings:
    overrides: dict[str, Any] = {"backend": backend, "runs_dir": runs_dir}
    if no_cache:
        overrides["cache_enabled"] = False
    return load_settings(config, overrides)


def open_run(
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


def run_with_progress(
    spec: AnyPipeline,
    inputs: BaseModel | None,
    options: BaseModel | None,
    settings: Settings,
    *,
    title: str,
    out: Path | None = None,
    resume: str | None = None,
    overwrite: bool = False,
    run_id: str | None = None,
) -> PipelineResult:
    """Run ``spec`` through ``run_pipeline`` under the command's header and progress bars.

    Args:
        spec: the pipeline.
        inputs: its inputs model, or ``None`` with ``resume``.
        options: its options model, or ``None`` with ``resume``.
        settings: backend, model roles and the runs folder.
        title: the command as the header line names it (``"segment"``).
        out: where the outputs are copied (``run_pipeline``'s ``out``).
        resume: a run id or folder to continue.
        overwrite: replace outputs ``out`` already holds.
        run_id: the new run's id instead of a generated one.
    """
    from ethoagent.graphs.kit.run import run_pipeline  # the CLI starts without the graphs
    from ethoagent.review.store import person_answers

    console.print(f"[bold]ethoagent {title}[/] (backend {settings.backend})")
    if resume is not None:
        _mention_corrections(resume, settings)
    with progress_bars() as progress:
        result = run_pipeline(spec, inputs, options, settings, out=out, resume=resume,
                              overwrite=overwrite, run_id=run_id, progress=progress,
                              person=person_answers)  # fmt: skip
    if result.waiting:
        root = result.run.root
        console.print(
            f"[yellow]waiting for review:[/] {result.unanswered} of {len(result.waiting)} "
            "item(s) need a person "
            f"(every check and escalation failed). Answer them with `ethoagent review {root}`, "
            f"then `ethoagent {title} --resume {root}`.",
            soft_wrap=True,
        )
        raise typer.Exit(0)
    return result


def _mention_corrections(resume: str, settings: Settings) -> None:
    """Say so when the resumed run has corrections from ``ethoagent review`` standing."""
    from ethoagent.review.store import CorrectionStore
    from ethoagent.runs import Run

    try:
        run = Run.open(resume, settings.runs_dir)
        root, waiting = run.root, run.info().status == "waiting"
        n = len(CorrectionStore(root).active())
    except EthoagentError:
        return  # run_pipeline reports a missing run; review reports a bad corrections file
    if n and not waiting:  # a waiting run resumes with the person's answers
        console.print(
            f"[yellow]{root.name} has {n} reviewed item(s); a resume does not apply them: "
            f"`ethoagent review {root} --rerun` does (a new run).[/]"
        )


@contextmanager
def progress_bars() -> Iterator[ProgressCallback]:
    """A ``(stage, done, total)`` callback drawing one progress bar per stage, while open."""
    with progress_bar() as progress:
        tasks: dict[str, TaskID] = {}

        def on_progress(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = progress.add_task(stage, total=total)
            progress.update(tasks[stage], advance=done)

        yield on_progress


def progress_bar() -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    )


def compact_table(title: str, *columns: str, text_columns: int = 2) -> Table:
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


ModelT = TypeVar("ModelT", bound=BaseModel)


def validated(model: type[ModelT], what: str, **values: Any) -> ModelT:
    """``model(**values)``, with a validation failure as one ``InputError`` line.

    Raises:
        InputError: "invalid {what} options: ..." listing every problem.
    """
    try:
        return model(**values)
    except ValidationError as exc:
        problems = "; ".join(e["msg"].removeprefix("Value error, ") for e in exc.errors())
        raise InputError(f"invalid {what} options: {problems}.") from None
