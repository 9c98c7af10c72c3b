"""What every ``ethoagent`` command module shares: consoles, common options, settings,
opening and executing a run with a progress bar, compact tables.

Command groups live in their own modules (``cli_gate``, ...) that import from here; ``cli``
assembles them into the one typer app.
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer
from pydantic import BaseModel, ValidationError
from rich import box
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from ethoagent.config import Settings, load_settings
from ethoagent.errors import InputError, RunError

if TYPE_CHECKING:
    from ethoagent.agent.types import Role
    from ethoagent.graphs.kit.runtime import Runtime
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


def execute(
    run: Run,
    settings: Settings,
    total: int,
    label: str,
    body: Callable[[Runtime], Awaitable[dict[str, Any]]],
    roles: Sequence[Role] = ("llm",),
) -> dict[str, Any]:
    """Run ``body`` in the run's runtime with a progress bar; record the run's status."""
    from ethoagent.graphs.kit.runtime import execute_run

    with progress_bar() as progress:
        tasks = {label: progress.add_task(label, total=total)}

        def on_progress(stage: str, done: int, total: int) -> None:
            # a graph with several long stages (segment) reports each under its own name
            if stage not in tasks:
                tasks[stage] = progress.add_task(stage, total=total)
            progress.update(tasks[stage], advance=done)

        return execute_run(run, settings, body, roles=roles, progress=on_progress)


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


def check_out(out: Path, outputs: Sequence[str], overwrite: bool) -> None:
    """Refuse an output folder that is a file, or that holds any of ``outputs`` already.

    Raises:
        InputError: ``out`` is a file, or holds outputs and ``overwrite`` is false.
    """
    if out.exists() and not out.is_dir():
        raise InputError(f"output folder {out} is a file.", fix="pass a folder.")
    present = [n for n in outputs if (out / n).exists()]
    if present and not overwrite:
        raise InputError(
            f"output folder {out} already holds {', '.join(present)}; nothing was written.",
            fix="choose a new folder or pass --overwrite.",
        )


def resumed_out(
    run: Run,
    command: str,
    stored_out: str | None,
    given: Path | None,
    outputs: Sequence[str],
    overwrite: bool,
) -> Path:
    """The output folder of a resumed run: ``given`` on the command line, else the recorded one.

    The run's own recorded folder may already hold part of its outputs (a kill while they
    were being copied), so resuming into it needs no ``--overwrite``.

    Raises:
        InputError: neither is known, or ``given`` holds outputs (see ``check_out``).
    """
    out = given if given is not None else (Path(stored_out) if stored_out else None)
    if out is None:
        raise InputError(
            f"run {run.run_id} does not record an output folder.",
            fix=f"pass one: ethoagent {command} --resume {run.run_id} OUT",
        )
    own = stored_out is not None and Path(stored_out).resolve() == out.resolve()
    check_out(out, outputs, overwrite or own)
    return out


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
