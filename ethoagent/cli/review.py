"""``ethoagent review RUN...``: check, correct and teach finished runs in a local web page."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ethoagent.cli.base import ConfigOpt, RunsDirOpt, console, progress_bars, settings_from


def review_command(
    runs: Annotated[list[str], typer.Argument(help="Run ids or paths of finished runs.")],
    port: Annotated[int | None, typer.Option(help="TCP port (default: a free one).")] = None,
    host: Annotated[
        str, typer.Option(help="Address to bind; not loopback needs --allow-remote.")
    ] = "127.0.0.1",
    allow_remote: Annotated[
        bool, typer.Option("--allow-remote", help="Permit a --host other than loopback.")
    ] = False,
    no_browser: Annotated[
        bool, typer.Option("--no-browser", help="Print the address; do not open a browser.")
    ] = False,
    rerun: Annotated[
        bool,
        typer.Option("--rerun", help="Re-run each RUN with its corrections, then exit."),
    ] = False,
    export: Annotated[
        Path | None,
        typer.Option(
            "--export",
            help="Write the reviewed pose frames to this folder (DeepLabCut labeled-data "
            "per view + a SLEAP reviewed.slp), then exit.",
        ),
    ] = None,
    config: ConfigOpt = None,
    runs_dir: RunsDirOpt = None,
) -> None:
    """Review runs in the browser: queues worst first, corrections, undo, re-run.

    Corrections go to RUN/review/corrections.jsonl (append only); --rerun (or the page's
    button) starts a new run with them: corrected pose frames become seed frames,
    relabelled classify windows become examples and keep the person's label.
    """
    from ethoagent.review.queues import open_run, reviewable_runs
    from ethoagent.review.rerun import rerun as rerun_run
    from ethoagent.review.rerun import resume_waiting
    from ethoagent.review.server import check_host, serve
    from ethoagent.runs import Run

    check_host(host, allow_remote=allow_remote)
    settings = settings_from(config, runs_dir=runs_dir)
    # a demo run holds one run per pipeline: review those
    paths = [q for r in runs for q in reviewable_runs(Run.open(r, settings.runs_dir).root)]
    if export is not None:
        from ethoagent.review.export import export_reviewed

        for p in paths:
            files = export_reviewed(open_run(p), export)
            console.print(f"exported {p.name}: {len(files)} files under {export}")
        return
    if rerun:
        for p in paths:
            console.print(
                f"[bold]ethoagent review --rerun[/] {p.name} (backend {settings.backend})"
            )
            run = open_run(p)
            if run.info().status == "waiting":  # paused for a person: resume it in place
                with progress_bars() as progress:
                    result = resume_waiting(run, settings, progress=progress)
                left = result.unanswered
                console.print(
                    f"{p.name} still waits: answer its {left} item(s) first"
                    if left
                    else f"resumed {p} with the answers: outputs in {p / 'outputs'}"
                )
                continue
            with progress_bars() as progress:
                result = rerun_run(run, settings, progress=progress)
            note = (result.run.root / "review.json").read_text(encoding="utf-8")
            console.print(f"new run {result.run.root}\n{note}", highlight=False)
        return
    serve(
        paths,
        settings,
        host=host,
        port=port,
        allow_remote=allow_remote,
        open_browser=not no_browser,
        on_ready=lambda url: console.print(f"review at {url} (Ctrl-C to stop)"),
    )
