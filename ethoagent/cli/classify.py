"""``ethoagent classify``: in-context behaviour classification of a session from keypoints
(and its video), given a label set and a few labelled example frames or clips."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from ethoagent.cli.base import (
    BackendOpt,
    ConfigOpt,
    KeypointsArg,
    NoCacheOpt,
    OverwriteOpt,
    ResumeOpt,
    RunIdOpt,
    RunsDirOpt,
    check_out,
    compact_table,
    console,
    execute,
    open_run,
    resumed_out,
    settings_from,
    validated,
)
from ethoagent.errors import InputError

_OUTPUTS = (
    "frames.csv",
    "windows.csv",
    "ethogram.csv",
    "ethogram_boris.csv",
    "time_budget.csv",
    "report.md",
    "summary.json",
)


def classify(
    keypoints: KeypointsArg = None,
    out: Annotated[
        Path | None,
        typer.Argument(
            help="Folder for labels, ethogram, time budgets, figures and report (created).",
            metavar="OUT",
            show_default=False,
        ),
    ] = None,
    examples: Annotated[
        Path | None,
        typer.Option(
            "--examples",
            help="Labelled examples: CSV frame,label (or start_frame,stop_frame,label; "
            "optional animal column) or a BORIS events export. Every class needs one.",
            dir_okay=False,
        ),
    ] = None,
    video: Annotated[
        Path | None,
        typer.Option(help="The video the keypoints were tracked on (else frames are drawn)."),
    ] = None,
    classes: Annotated[
        str | None,
        typer.Option(
            help="Comma-separated label set (default: freezing,darting,rearing,grooming,"
            "locomotion,other)."
        ),
    ] = None,
    definitions: Annotated[
        Path | None,
        typer.Option(
            help="JSON file {class: one-sentence definition} (defaults exist for the fear set)."
        ),
    ] = None,
    fps: Annotated[
        float | None, typer.Option(min=0.001, help="Frame rate, Hz (when the file states none).")
    ] = None,
    window_s: Annotated[
        float, typer.Option(min=0.05, max=5.0, help="Seconds per classified window.")
    ] = 0.5,
    k: Annotated[
        int, typer.Option("--k", min=1, max=10, help="In-context examples per class.")
    ] = 2,
    smoothing: Annotated[str, typer.Option(help="hmm, mode or none.")] = "hmm",
    min_freezing_s: Annotated[
        float, typer.Option(min=0.0, help="Immobility a freezing label needs, seconds.")
    ] = 1.0,
    layout: Annotated[
        str | None,
        typer.Option(help="Body layout (synthetic12, calms21, ethome, behaviordepot, ...)."),
    ] = None,
    model_every_window: Annotated[
        bool,
        typer.Option(
            "--model-every-window",
            help="Ask the VLM for every window, also where keypoints decide.",
        ),
    ] = False,
    overwrite: OverwriteOpt = False,
    run_id: RunIdOpt = None,
    resume: ResumeOpt = None,
    config: ConfigOpt = None,
    backend: BackendOpt = None,
    runs_dir: RunsDirOpt = None,
    no_cache: NoCacheOpt = False,
) -> None:
    """Classify behaviour per window with in-context examples -> per-frame labels, bouts,
    time budgets, ethogram.

    With --resume RUN the inputs come from the run; OUT may be given (else the run's).
    """
    from ethoagent.atomic import atomic_write_bytes
    from ethoagent.graphs.classify.graph import (
        GRAPH_NAME,
        ClassifyInputs,
        ClassifyOptions,
        read_definitions,
        resolve_classify_inputs,
        run_classify,
    )
    from ethoagent.graphs.kit.registry import GRAPHS, finish_run

    settings = settings_from(config, backend, runs_dir, no_cache)
    fresh: dict[str, Any] = {}
    if resume is None:
        if keypoints is None or out is None or examples is None:
            raise InputError(
                "classify needs KEYPOINTS, OUT and --examples.",
                fix="e.g. ethoagent classify poses.nc results/ --examples labels.csv "
                "(or --resume RUN).",
            )
        check_out(out, _OUTPUTS, overwrite)
        options = validated(
            ClassifyOptions,
            "classify",
            window_s=window_s,
            k=k,
            smoothing=smoothing,
            min_freezing_s=min_freezing_s,
            layout=layout,
            model_every_window=model_every_window,
        )
        names = [c.strip() for c in classes.split(",") if c.strip()] if classes else None
        defs = read_definitions(definitions)
        resolved = resolve_classify_inputs(
            keypoints,
            examples,
            classes=names,
            definitions=defs,
            video=video,
            fps=fps,
            options=options,
        )
        fresh = {**resolved.model_dump(), "out": str(out)}
    run, raw = open_run(settings, GRAPH_NAME, run_id, resume, fresh)
    raw = dict(raw)
    stored_out = raw.pop("out", None)
    if resume is not None:
        # `classify --resume RUN OUT`: OUT lands in the first slot
        out = resumed_out(run, "classify", stored_out, out or keypoints, _OUTPUTS, overwrite)
    assert out is not None
    inputs = ClassifyInputs.model_validate(raw)
    console.print(
        f"[bold]ethoagent classify[/] run [cyan]{run.root}[/] (backend {settings.backend})"
    )
    state = execute(
        run,
        settings,
        1,
        "prepare",
        lambda rt: run_classify(rt, inputs),
        roles=GRAPHS["classify"].roles,
    )
    for rel in state.get("outputs", []):
        src = run.root / rel
        atomic_write_bytes(out / src.relative_to(run.outputs_dir), src.read_bytes())
    summary = finish_run(run, GRAPHS["classify"].summary_keys)
    _print_summary(summary, out, run.root)


def _print_summary(s: dict[str, Any], out: Path, root: Path) -> None:
    console.print(
        f"{s['frames']} frames x {len(s['animals'])} animal(s) at {s['fps']:g} fps; "
        f"{s['windows']} windows of {s['window_s']:g} s; {s['model_calls_saved']} decided by "
        f"the keypoints (model calls saved), {s['model_calls']} model calls ({s['backend']}); "
        f"{len(s['flagged'])} flagged; {s['seconds']} s"
    )
    for name, rows in s["time_budget"].items():
        table = compact_table(f"time budget: {name}", "label", "", "seconds", "share", "bouts",
                              "mean bout (s)", text_columns=2)  # fmt: skip
        for r in rows:
            table.add_row(
                r["label"], "", f"{r['seconds']:.1f}", f"{r['fraction']:.1%}", str(r["bouts"]),
                f"{r['mean_bout_s']:.2f}",
            )  # fmt: skip
        console.print(table)
    truth = s.get("ground_truth")
    if truth:
        console.print(f"macro-F1 vs simulator labels: {truth['macro_f1']}")
    for w in s["warnings"]:
        console.print(f"[yellow]warning:[/] {w}", soft_wrap=True)
    console.print(f"outputs: [cyan]{out}[/] (frames.csv, ethogram.csv, report.md, ...)")
    console.print(f"run directory: [cyan]{root}[/]  (trace: ethoagent trace show {root})")
