"""``ethoagent trace export RUN``: a run's trace as JSON or one self-contained HTML page."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from ethoagent.cli.base import (
    ConfigOpt,
    FailedOpt,
    NodeOpt,
    RunArg,
    RunsDirOpt,
    console,
    settings_from,
)
from ethoagent.errors import InputError


def trace_export(
    run: RunArg,
    out: Annotated[Path, typer.Option("--out", "-o", help="File to write (.json or .html).")],
    fmt: Annotated[
        str | None,
        typer.Option("--format", help="json or html (default: from the --out suffix)."),
    ] = None,
    item: Annotated[str | None, typer.Option(help="Only this item.")] = None,
    node: NodeOpt = None,
    check: Annotated[str | None, typer.Option(help="Only items this check ran on.")] = None,
    failed: FailedOpt = False,
    no_images: Annotated[
        bool, typer.Option("--no-images", help="HTML: do not embed the images models were sent.")
    ] = False,
    config: ConfigOpt = None,
    runs_dir: RunsDirOpt = None,
) -> None:
    """Export a run's trace: JSON of its events, or an HTML page to browse per item."""
    from ethoagent.agent.trace import read_trace
    from ethoagent.agent.trace_html import render_trace_html, select_events
    from ethoagent.agent.trace_report import summarize_trace
    from ethoagent.atomic import atomic_write_text
    from ethoagent.runs import Run

    kind = fmt or out.suffix.lstrip(".").lower()
    if kind not in ("json", "html"):
        raise InputError(
            f"cannot tell the export format of {out}.", fix="pass --format json or --format html."
        )
    settings = settings_from(config, runs_dir=runs_dir)
    r = Run.open(run, settings.runs_dir)
    info = r.info()
    events = select_events(
        read_trace(r.trace_path), item=item, node=node, check=check, failed_only=failed
    )
    if kind == "json":
        doc = {
            "run": info.model_dump(mode="json"),
            "summary": summarize_trace(events),
            "events": events,
        }
        text = json.dumps(doc, indent=1, sort_keys=True, ensure_ascii=False) + "\n"
    else:
        text = render_trace_html(
            events,
            title=r.run_id,
            info=info.model_dump(mode="json"),
            run_root=None if no_images else r.root,
        )
    atomic_write_text(out, text)
    console.print(f"wrote {len(events)} events of run {r.run_id} to [cyan]{out}[/] ({kind})")
