"""``ethoagent gate``: the LookAgain gate model (pretrain, train, predict, eval).

Thin: parse the options, run ``ethoagent.graphs.gate``, print what the run did. Defaults
and bounds come from ``graphs.gate.options``; every run gets a run directory with its
trace (``ethoagent trace show RUN``).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from ethoagent.cli.base import (
    BodyOpt,
    OverwriteOpt,
    SkeletonOpt,
    console,
    print_run_paths,
    print_warnings,
    progress_bars,
    settings_from,
)
from ethoagent.cli.base import validated as _validated
from ethoagent.graphs.gate.options import DEFAULT_CACHE, SIZES, PretrainOptions, TrainOptions

if TYPE_CHECKING:
    from ethoagent.graphs.kit.run import PipelineResult

gate_app = typer.Typer(
    help="LookAgain gate model: keypoints, plus video frames where its gate says a look "
    "pays (--video): pretrain, train, predict, eval.",
    no_args_is_help=True,
)

_TR = TrainOptions()
_CPU, _PAPER = SIZES["cpu"], SIZES["paper"]
_Opt = typer.Option
GateOutOpt = Annotated[Path, _Opt("--out", help="Model folder (created; checkpoints, plots).")]
FpsOpt = Annotated[float | None, _Opt(help="Frame rate, Hz, where the file states none.")]
ResumeOpt = Annotated[bool, _Opt("--resume", help="Continue from the checkpoint in --out.")]
SizeOpt = Annotated[
    str,
    _Opt("--size", help="Model size: cpu (default; 3 min of two-mouse keypoints train in under "
         "a minute on 2 cores) or paper (the LookAgain paper's model). The options below "
         "override it."),
]  # fmt: skip


def _help(what: str, key: str) -> str:
    return f"{what} (cpu: {_CPU[key]}, paper: {_PAPER[key]})."


DModelOpt = Annotated[int | None, _Opt("--d-model", help=_help("Transformer width", "d_model"))]
DzOpt = Annotated[int | None, _Opt("--d-z", help=_help("Code size", "d_z"))]
LayersOpt = Annotated[
    int | None, _Opt("--layers", help=_help("Temporal transformer layers", "layers"))
]
WindowOpt = Annotated[
    int | None, _Opt("--window", help=_help("Frames per training window", "window"))
]
EpochsOpt = Annotated[int | None, _Opt("--epochs", help=_help("Passes over all windows", "epochs"))]
VisionModelOpt = Annotated[Path | None, _Opt(help="Local Hugging Face model folder.")]
CacheOpt = Annotated[Path, _Opt(help="Folder of cached crop embeddings (reused by reruns).")]
ConfigOpt = Annotated[Path | None, _Opt("--config", "-c", help="TOML settings.", dir_okay=False)]
VideoOpt = Annotated[
    Path | None,
    _Opt(help="Video the 2D keypoints were tracked on (one view, same frame count): the model "
         "looks at animal-centred crops of the frames its gate selects.", dir_okay=False),
]  # fmt: skip


def _train(entry: Callable[..., Any], inputs: Any, options: Any, config: Path | None,
           out: Path, resume: bool) -> Any:  # fmt: skip
    """``entry`` (``run_gate_pretrain``/``run_gate_train``) with a progress bar per stage."""
    with progress_bars() as on_progress:
        return entry(inputs, options, settings_from(config), out=out, resume=resume,
                     progress=on_progress)  # fmt: skip


def _pipeline(spec: Any, inputs: dict[str, Any], options: dict[str, Any],
              config: Path | None, out: Path, overwrite: bool) -> PipelineResult:  # fmt: skip
    """``spec`` (``GATE_PREDICT``/``GATE_EVAL``) run by ``run_pipeline`` with progress bars."""
    from ethoagent.graphs.kit.run import run_pipeline

    inp, opts = spec.parse_inputs(inputs), spec.parse_options(options)
    with progress_bars() as on_progress:
        return run_pipeline(spec, inp, opts, settings_from(config), out=out,
                            overwrite=overwrite, progress=on_progress)  # fmt: skip


def _finish(res: Any, *lines: str, out: Path | None = None, files: str = "") -> None:
    """The closing lines: ``lines``, the run's warnings, the outputs and run folders."""
    for line in lines:
        console.print(line)
    print_warnings(res.summary.get("warnings") or [])
    print_run_paths(res.run.root, out, files)


def _fit_line(verb: str, s: dict[str, Any], what: str) -> str:
    resumed = f" (resumed at step {s['resumed_from']})" if s["resumed_from"] else ""
    return f"{verb} {s['steps']} steps{resumed} on {what}"


@gate_app.command("pretrain")
def gate_pretrain(
    keypoints: Annotated[
        list[Path],
        typer.Argument(help="Keypoint files (same layout), unlabelled.", metavar="KEYPOINTS..."),
    ],
    out: GateOutOpt,
    size: SizeOpt = "cpu",
    epochs: EpochsOpt = None,
    fps: FpsOpt = None,
    resume: ResumeOpt = False,
    d_model: DModelOpt = None,
    d_z: DzOpt = None,
    layers: LayersOpt = None,
    window: WindowOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Pretrain the gate model's encoder without labels (keypoint path only; no video yet).

    Masked motion modelling on the motion descriptors; with --resume the run in --out
    continues from its last checkpoint with the settings it was started with.
    """
    from ethoagent.graphs.gate import PretrainInputs
    from ethoagent.graphs.gate.graph import run_gate_pretrain

    inputs = _validated(PretrainInputs, "gate pretrain", keypoints=keypoints, fps=fps)
    options = _validated(PretrainOptions, "gate pretrain", size=size, epochs=epochs,
                         d_model=d_model, d_z=d_z, layers=layers, window=window)  # fmt: skip
    res = _train(run_gate_pretrain, inputs, options, config, out, resume)
    what = f"{res.summary['files']} file(s); model in [cyan]{out}[/] (pretrain_losses.png)"
    _finish(res, _fit_line("pretrained", res.summary, what))


ExamplesFromOpt = Annotated[
    Path | None,
    typer.Option(
        "--examples-from",
        help="CSV of more labelled sessions to train on: columns keypoints,labels[,fps] "
        "(paths relative to the table; same keypoints and animals; each at its own frame "
        "rate; not with --video).",
        dir_okay=False,
    ),
]


VisionEncoderOpt = Annotated[
    str | None,
    typer.Option(
        "--vision-encoder",
        help="efficientnet (default when installed, else classical with a warning), "
        "classical, openai (the embed role of --config) or transformers (--vision-model).",
    ),
]


@gate_app.command("train")
def gate_train(
    keypoints: Annotated[
        Path, typer.Argument(help="Keypoint file of the labelled session.", metavar="KEYPOINTS")
    ],
    labels: Annotated[
        Path,
        typer.Option(
            help="Frame-wise labels CSV: 'frame,label' (one animal) or 'frame,<animal>...' "
            "with behaviour names (empty = unlabelled) or integer codes (-1 = unlabelled); "
            "or a BORIS events export (subjects = animals; uncovered frames = 'other')."
        ),
    ],
    out: GateOutOpt,
    model_dir: Annotated[
        Path | None,
        typer.Option("--model", help="Pretrained model folder; its encoder is frozen."),
    ] = None,
    examples_from: ExamplesFromOpt = None,
    body: BodyOpt = None,
    skeleton: SkeletonOpt = None,
    size: SizeOpt = "cpu",
    epochs: EpochsOpt = None,
    label_fraction: Annotated[
        float, typer.Option(help="Train on the labels of the first fraction of frames only.")
    ] = _TR.label_fraction,
    fps: FpsOpt = None,
    resume: ResumeOpt = False,
    d_model: DModelOpt = None,
    d_z: DzOpt = None,
    layers: LayersOpt = None,
    window: WindowOpt = None,
    video: VideoOpt = None,
    vision_encoder: VisionEncoderOpt = None,
    vision_model: VisionModelOpt = None,
    crop_px: Annotated[
        int, typer.Option("--crop-px", help="Side of the crops given to the encoder, px.")
    ] = _TR.crop_px,
    embedding_cache: CacheOpt = DEFAULT_CACHE,
    config: ConfigOpt = None,
    top_k: Annotated[
        float,
        typer.Option("--top-k", help="With --video: share of each window's frames the gate picks."),
    ] = _TR.top_k,
) -> None:
    """Train the gate model on labelled keypoints, and with --video on the frames it picks.

    Class-weighted cross-entropy. With --model the pretrained encoder is frozen and the
    size options are ignored; with --resume the run in --out continues from its checkpoint
    (and needs the same --video). Training embeds every frame's crops once (cached).
    """
    from ethoagent.graphs.gate import TrainInputs
    from ethoagent.graphs.gate.graph import run_gate_train

    inputs = _validated(TrainInputs, "gate train", keypoints=keypoints, labels=labels,
                        pretrained=model_dir, video=video, vision_model=vision_model,
                        fps=fps, examples_from=examples_from, body=body,
                        skeleton=skeleton)  # fmt: skip
    options = _validated(
        TrainOptions, "gate train", size=size, epochs=epochs, label_fraction=label_fraction,
        d_model=d_model, d_z=d_z, layers=layers, window=window, vision_encoder=vision_encoder,
        crop_px=crop_px, top_k=top_k, embedding_cache=embedding_cache,
    )  # fmt: skip
    res = _train(run_gate_train, inputs, options, config, out, resume)
    s, v = res.summary, res.summary.get("vision")
    what = (
        f"{s['labelled']} labelled frame-animals, {len(s['classes'])} classes"
        + (" (encoder frozen)" if s["frozen"] else "")
        + f"; model in [cyan]{out}[/] (classes.json, train_log.csv, train_losses.png)"
    )
    vision = () if v is None else (
        f"vision: {v['encoder']}, {v['crops_wanted']} crops, {v['frames_sent_to_encoder']} "
        f"sent to the encoder in {v['vision_encoder_calls']} call(s) ({v['cache_hits']} from "
        f"the cache in {embedding_cache})",
    )  # fmt: skip
    _finish(res, _fit_line("trained", s, what), *vision, *_model_lines(s))


def _model_lines(summary: dict[str, Any]) -> tuple[str, ...]:
    """The body roles and how the trained model answers, and what chose it (``gate.json``)."""
    body = f"body roles: {summary['body_roles']}"
    head = summary.get("head") or {}
    if not head:
        return body, "head: the transformer (too few labelled frames to hold any back)"
    scores = ", ".join(f"{m} {v:.2f}" for m, v in head["validation"].items())
    line = (
        f"head: {head['mode']}, smoothed over {head['smooth_frames']} frame(s); macro-F1 on "
        f"{head['validation_frames']} held-back training frames: {scores}"
    )
    if head["mode"] in ("rule", "logreg"):
        line += (
            f" [yellow](the transformer lost to the {head['mode']}: the gate answers with it)[/]"
        )
    return body, line


@gate_app.command("predict")
def gate_predict(
    keypoints: Annotated[Path, typer.Argument(help="Keypoint file.", metavar="KEYPOINTS")],
    out: Annotated[
        Path,
        typer.Argument(
            help="Folder for labels.csv, ethogram.csv/png, summary.json, report.md.", metavar="OUT"
        ),
    ],
    model_dir: Annotated[
        Path, typer.Option("--model", help="Model folder written by `ethoagent gate train`.")
    ],
    fps: FpsOpt = None,
    overwrite: OverwriteOpt = False,
    body: BodyOpt = None,
    skeleton: SkeletonOpt = None,
    video: VideoOpt = None,
    top_k: Annotated[
        float | None,
        typer.Option(
            "--top-k",
            help="Share of each window's frames to look at (default: the "
            "training one; 0 = keypoints only).",
        ),
    ] = None,
    vision_model: VisionModelOpt = None,
    embedding_cache: CacheOpt = DEFAULT_CACHE,
    config: ConfigOpt = None,
) -> None:
    """Label every frame with a trained gate model; with --video it looks at the top-k frames.

    A model trained with --video needs the video of these keypoints (or --top-k 0 for
    keypoints only); only the frames its gate picks are sent to the vision encoder, and
    summary.json records how many (and the fraction of encoder calls saved).
    """
    from ethoagent.graphs.gate import GATE_PREDICT

    inputs = {"keypoints": keypoints, "gate_model": model_dir, "video": video,
              "vision_model": vision_model, "fps": fps, "body": body,
              "skeleton": skeleton}  # fmt: skip
    options = {"top_k": top_k, "embedding_cache": embedding_cache}
    res = _pipeline(GATE_PREDICT, inputs, options, config, out, overwrite)
    s = res.summary
    rows = [
        ("frames x animals", f"{s['frames']} x {len(s['animals'])} at {s['fps']:g} fps"),
        ("classes", ", ".join(f"{c} {v:.0%}" for c, v in s["class_shares"].items())),
        ("mean top probability", f"{s['mean_top_probability']:.3f}"),
        ("body roles", s["body_roles"]),
        ("vision", "none (keypoint path)" if s["top_k"] is None
         else f"{s['encoder'] or 'none'}, top-k {s['top_k']:.0%}"),
    ]  # fmt: skip
    if s["top_k"] is not None:
        rows += [
            ("frames looked at", f"{s['frames_looked_at']} of {s['frame_animals']} "
             f"frame-animals ({s['fraction_looked_at']:.1%})"),
            ("sent to the encoder", f"{s['frames_sent_to_encoder']} in "
             f"{s['vision_encoder_calls']} call(s) (the rest from the cache); calls saved vs "
             f"every frame: {s['encoder_calls_saved']:.1%}"),
        ]  # fmt: skip
    table = Table(title="gate predict: per-frame labels", show_header=False)
    table.add_column(style="bold")
    table.add_column()
    for row in rows:
        table.add_row(*row)
    console.print(table)
    _finish(res, out=out, files="labels.csv, ethogram.csv/png, summary.json, report.md")


@gate_app.command("eval")
def gate_eval(
    model_dir: Annotated[
        Path, typer.Argument(help="Model folder of `ethoagent gate train`.", metavar="MODEL")
    ],
    labels: Annotated[
        Path,
        typer.Argument(help="Frame-wise labels of the session (as for train).", metavar="LABELS"),
    ],
    keypoints: Annotated[Path, typer.Argument(help="Keypoint file.", metavar="KEYPOINTS")],
    out: Annotated[
        Path, typer.Option("--out", help="Folder for results.json, results.md and the plot.")
    ] = Path("gate-eval"),
    video: VideoOpt = None,
    fps: FpsOpt = None,
    body: BodyOpt = None,
    skeleton: SkeletonOpt = None,
    vision_model: VisionModelOpt = None,
    embedding_cache: CacheOpt = DEFAULT_CACHE,
    config: ConfigOpt = None,
    overwrite: OverwriteOpt = False,
    holdout: Annotated[
        float | None,
        typer.Option(
            "--holdout",
            help="Score only the last fraction of the frames (e.g. 0.5 = the last half). "
            "Default: every frame the model was not trained on.",
        ),
    ] = None,
) -> None:
    """Score a trained gate model on held-out labels: per-class and macro-F1 per budget.

    Only frames the model was not trained on are scored: on the session it was trained
    on, the frames after its --label-fraction (or the last --holdout fraction, which must
    not reach back into them); another labelled session is held out as a whole. Scoring
    its own training labels is refused. The inference is `gate predict`'s. With --video
    (a model trained with video) at top-k 0, 25, 50 and 100 % of the frames, counting the
    frames sent to the encoder; otherwise on the keypoint path only.
    """
    from ethoagent.graphs.gate import GATE_EVAL

    inputs = {"gate_model": model_dir, "labels": labels, "keypoints": keypoints,
              "video": video, "vision_model": vision_model, "fps": fps,
              "body": body, "skeleton": skeleton}  # fmt: skip
    options = {"embedding_cache": embedding_cache, "holdout": holdout}
    res = _pipeline(GATE_EVAL, inputs, options, config, out, overwrite)
    record = json.loads((out / "results.json").read_text())
    table = Table(title=f"gate eval: F1 per vision budget, held-out frames {res.summary['split']}")
    for col in ("method", "top-k", "macro-F1", "looked at", "sent to encoder", "per class"):
        table.add_column(col)
    for r in record["table"]:
        table.add_row(
            r.get("method", "gate"),
            r["top_k"],
            f"{r['macro_f1']:.3f}",
            f"{r['frames_looked_at']} ({r['fraction_looked_at']:.0%})",
            str(r["frames_sent_to_encoder"]),
            ", ".join(f"{c} {v:.2f}" for c, v in r["per_class_f1"].items()),
        )
    console.print(table)
    _finish(res, out=out, files="results.json, results.md, f1_vs_budget.png")
