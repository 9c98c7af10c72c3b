"""``ethoagent classify``: in-context behaviour classification of a session from keypoints
(and its video), given a label set and a few labelled example frames or clips."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from ethoagent.cli.base import (
    BackendOpt,
    BodyOpt,
    ConfigOpt,
    FormatOpt,
    KeypointsArg,
    LayoutOpt,
    NoCacheOpt,
    OverwriteOpt,
    ResumeOpt,
    RunIdOpt,
    RunsDirOpt,
    SkeletonOpt,
    compact_table,
    console,
    print_run_paths,
    print_warnings,
    run_with_progress,
    settings_from,
)
from ethoagent.errors import InputError
from ethoagent.graphs.classify.options import ClassifyOptions

_DEFAULTS = ClassifyOptions()
"""Defaults of the classify options shown in ``--help`` (``ClassifyOptions`` holds them)."""


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
            help="Labelled examples of this session: CSV frame,label, 0/1 columns per class, "
            "start/stop clips, or a BORIS export. Every class needs one (here or in "
            "--examples-from).",
            dir_okay=False,
        ),
    ] = None,
    examples_from: Annotated[
        Path | None,
        typer.Option(
            "--examples-from",
            help="CSV of other labelled sessions whose examples teach this one: columns "
            "keypoints,labels[,fps][,skeleton] (paths relative to the table; each session at "
            "its own frame rate; skeleton names a points3d.h5's nodes). Usable with --examples.",
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
        float | None, typer.Option(help="Frame rate, Hz (when the file states none).")
    ] = None,
    window_s: Annotated[
        float, typer.Option(help="Seconds per classified window.")
    ] = _DEFAULTS.window_s,
    k: Annotated[int, typer.Option("--k", help="In-context examples per class.")] = _DEFAULTS.k,
    smoothing: Annotated[str, typer.Option(help="hmm, mode or none.")] = _DEFAULTS.smoothing,
    min_freezing_s: Annotated[
        float, typer.Option(help="Immobility a freezing label needs, seconds.")
    ] = _DEFAULTS.min_freezing_s,
    px_per_cm: Annotated[
        float | None,
        typer.Option(
            help="Pixels per cm of 2D keypoints (your rig's calibration): the ruler of "
            "BehaviorDEPOT's published freezing rule; default: body length = 6.5 cm.",
        ),
    ] = _DEFAULTS.px_per_cm,
    layout: LayoutOpt = _DEFAULTS.layout,
    body: BodyOpt = None,
    format: FormatOpt = None,
    skeleton: SkeletonOpt = None,
    model_budget: Annotated[
        float | None,
        typer.Option(
            help="Share of windows that may go to the VLM (the ones the classical detector "
            "is least sure of); 0 = never, 1 = every window. Default: 0.05 with a model "
            "endpoint, 0 offline (the offline stand-in is weaker than the detector).",
        ),
    ] = _DEFAULTS.model_budget,
    ask_person: Annotated[
        bool,
        typer.Option(
            "--ask-person",
            help="Pause for a person on the windows still flagged after every retry and "
            "escalation: the run waits; answer them in `ethoagent review RUN`, then --resume.",
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
    from ethoagent.graphs.classify import PIPELINE

    settings = settings_from(config, backend, runs_dir, no_cache)
    if resume is None:
        if keypoints is None or out is None or (examples is None and examples_from is None):
            raise InputError(
                "classify needs KEYPOINTS, OUT and --examples or --examples-from.",
                fix="e.g. ethoagent classify poses.nc results/ --examples labels.csv, or "
                "--examples-from labelled_sessions.csv (or --resume RUN).",
            )
        inputs = PIPELINE.parse_inputs(
            {
                "keypoints": keypoints,
                "examples": examples,
                "examples_from": examples_from,
                "video": video,
                "fps": fps,
                "body": body,
                "format": format,
                "skeleton": skeleton,
                "classes": [c.strip() for c in classes.split(",") if c.strip()]
                if classes
                else None,
                "definitions": definitions,
            }
        )
        options = PIPELINE.parse_options(
            {
                "window_s": window_s,
                "k": k,
                "smoothing": smoothing,
                "min_freezing_s": min_freezing_s,
                "px_per_cm": px_per_cm,
                "layout": layout,
                "model_budget": model_budget,
                "ask_person": ask_person,
            }
        )
    else:
        inputs, options = None, None
        out = out or keypoints  # `classify --resume RUN OUT`: OUT lands in the first slot
    result = run_with_progress(
        PIPELINE,
        inputs,
        options,
        settings,
        title="classify",
        out=out,
        resume=resume,
        overwrite=overwrite,
        run_id=run_id,
    )
    _print_summary(result.summary, result.out or result.run.outputs_dir, result.run.root)


def _print_summary(s: dict[str, Any], out: Path, root: Path) -> None:
    console.print(
        f"{s['frames']} frames x {len(s['animals'])} animal(s) at {s['fps']:g} fps; "
        f"{s['windows']} windows of {s['window_s']:g} s; {s['model_calls_saved']} decided by "
        f"the classical detector (model calls saved), {s['model_calls']} model calls "
        f"({s['backend']}); "
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
    print_warnings(s["warnings"])
    print_run_paths(root, out, "frames.csv, ethogram.csv, report.md, ...")
