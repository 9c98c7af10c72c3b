"""``ethoagent run BATCH.toml``: many sessions x graphs, bounded concurrency, live status."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich import box
from rich.live import Live
from rich.table import Table

from ethoagent.cli.base import ConfigOpt, RunsDirOpt, console
from ethoagent.errors import EthoagentError
from ethoagent.graphs.kit.registry import REGISTERED

if TYPE_CHECKING:
    from ethoagent.batch import Job, JobResult

_STYLE = {
    "pending": "dim",
    "resolving": "cyan",
    "running": "cyan",
    "finished": "green",
    "failed": "red",
    "missing": "red",
    "interrupted": "yellow",
}


class BatchBoard:
    """The live per-job status table, fed by the executor's events."""

    def __init__(self, jobs: list[Job]) -> None:
        self.order = [j.key for j in jobs]
        self.jobs = {j.key: j for j in jobs}
        self.status: dict[str, str] = dict.fromkeys(self.order, "pending")
        self.progress: dict[str, str] = dict.fromkeys(self.order, "")
        self.note: dict[str, str] = {j.key: j.run_id for j in jobs}
        self.started: dict[str, float] = {}
        self.elapsed: dict[str, float] = {}

    def update(self, ev: dict[str, Any]) -> None:
        key = ev["key"]
        if key not in self.status:
            return
        result: JobResult | None = ev.get("result")
        if result is not None:
            self.status[key] = result.status
            self.elapsed[key] = result.seconds
            if result.error:
                self.note[key] = result.error
            elif result.action == "skipped":
                self.note[key] = f"{result.run_id} (finished before: skipped)"
            return
        if "status" in ev:
            self.status[key] = ev["status"]
            self.started.setdefault(key, time.monotonic())
            if ev.get("action") == "resumed":
                self.note[key] = f"{self.jobs[key].run_id} (resumed)"
        if "stage" in ev:
            self.progress[key] = f"{ev['stage']} {ev['done']}/{ev['total']}"

    def __rich__(self) -> Table:
        table = Table(box=box.SIMPLE_HEAD, pad_edge=False, title="batch")
        table.add_column("session", style="bold", no_wrap=True)
        table.add_column("graph", no_wrap=True)
        table.add_column("status", no_wrap=True)
        table.add_column("progress", no_wrap=True)
        table.add_column("time", justify="right", no_wrap=True)
        table.add_column("run / error", overflow="fold")
        now = time.monotonic()
        for key in self.order:
            job = self.jobs[key]
            st = self.status[key]
            seconds = self.elapsed.get(key)
            if seconds is None and key in self.started:
                seconds = now - self.started[key]
            table.add_row(
                job.session,
                job.graph,
                f"[{_STYLE.get(st, '')}]{st}[/]",
                self.progress[key],
                "" if seconds is None else f"{seconds:.0f}s",
                self.note[key],
            )
        return table


_GRAPHS = "; ".join(f"{r.name}: {r.summary}" for r in REGISTERED)
"""The graphs a batch can run, each with its one-line summary (no pipeline imported)."""


def run_command(
    batch: Annotated[
        Path,
        typer.Argument(
            help=f"Batch file (TOML): sessions x graphs ({_GRAPHS}).",
            metavar="BATCH.toml",
        ),
    ],
    jobs: Annotated[
        int | None,
        typer.Option("--jobs", "-j", min=1, help="Sessions at once (default: the file's jobs)."),
    ] = None,
    executor: Annotated[
        str, typer.Option("--executor", help="local (a process per session) or ray.")
    ] = "local",
    address: Annotated[
        str | None,
        typer.Option(help="Ray cluster address (with --executor ray); default: a local Ray."),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(help="Folder for summary.csv and summary.md (default: RUNS/batch-NAME)."),
    ] = None,
    check: Annotated[
        bool,
        typer.Option(
            "--check", help="Only validate the file, check the input paths and list the jobs."
        ),
    ] = False,
    config: ConfigOpt = None,
    runs_dir: RunsDirOpt = None,
) -> None:
    """Run many sessions x graphs from a batch file: resumable, failures isolated per session.

    Finished sessions are skipped, interrupted ones resume from their checkpoints; a
    summary (CSV and markdown) is written at the end. Exit code 1 if any session failed.
    """
    from ethoagent.batch import (
        BatchInterruptedError,
        load_batch,
        make_executor,
        missing_inputs,
        run_batch,
        write_summary,
    )

    plan = load_batch(batch, runs_dir=runs_dir, config=config)
    exe = make_executor(executor, address)
    n = jobs or plan.concurrency
    board = BatchBoard(plan.jobs)
    if check:
        missing = {j.key: missing_inputs(j) for j in plan.jobs}
        for key, paths in missing.items():
            if paths:
                board.status[key] = "missing"
                board.note[key] = "missing: " + "; ".join(paths)
        console.print(board.__rich__())
        bad = [k for k, paths in missing.items() if paths]
        if bad:
            raise BatchFailedError(
                f"{len(bad)} of {len(plan.jobs)} jobs name input files that do not exist "
                f"({', '.join(bad[:5])}{'...' if len(bad) > 5 else ''}).",
                fix="fix the paths (relative paths are relative to the batch file).",
            )
        console.print(f"{len(plan.jobs)} jobs, valid; runs go to [cyan]{plan.runs_dir}[/]")
        return
    dest = out or plan.runs_dir / f"batch-{batch.stem}"
    console.print(
        f"[bold]ethoagent run[/] {batch}: {len(plan.jobs)} jobs, {n} at a time ({executor})"
    )
    interrupted = False
    with Live(board, console=console, refresh_per_second=4, transient=False):
        try:
            results = run_batch(plan, exe, n, board.update)
        except BatchInterruptedError as exc:
            results = exc.results
            interrupted = True
    console.print()
    csv_path, md_path = write_summary(results, dest, batch.stem)
    console.print(f"summary: [cyan]{csv_path}[/] and {md_path.name}")
    failed = [r for r in results if r.status == "failed"]
    if interrupted:
        raise BatchStoppedError(
            f"batch interrupted; {sum(r.status == 'finished' for r in results)} of "
            f"{len(results)} jobs finished.",
            fix=f"run `ethoagent run {batch}` again to resume.",
        )
    if failed:
        raise BatchFailedError(
            f"{len(failed)} of {len(results)} jobs failed ("
            + ", ".join(r.key for r in failed[:5])
            + ("..." if len(failed) > 5 else "")
            + f"); see {csv_path}.",
        )


class BatchFailedError(EthoagentError):
    """Some jobs of a batch failed (the others finished)."""


class BatchStoppedError(EthoagentError):
    """A batch was interrupted with Ctrl-C."""

    exit_code = 130


__all__ = ["BatchBoard", "run_command"]
