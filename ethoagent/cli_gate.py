"""``ethoagent gate``: the LookAgain gate model on keypoints (pretrain, train, predict)."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from ethoagent.cli_base import console, progress_bar
from ethoagent.errors import InputError

gate_app = typer.Typer(
    help="LookAgain gate model on keypoints: pretrain, train, predict (keypoint path only; "
    "no video yet).",
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


def _gate_motion(path: Path, fps: float | None) -> tuple[Any, Any]:
    """``(pose, descriptor)`` of a keypoint file; confidence NaN (none in the file) = 1."""
    import numpy as np

    from ethoagent.tools.io import read_keypoints
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
    input_dim: int, n_classes: int, d_model: int, d_z: int, layers: int, window: int
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


def _gate_labels(path: Path, animals: Sequence[str], frames: int) -> Any:
    """``(frames, animals)`` int64 labels from a ``frame,<label>`` or ``frame,<animal>...`` CSV."""
    import numpy as np

    from ethoagent.tools.io import read_framewise_labels

    if not path.is_file():
        raise InputError(f"label file {path} does not exist.", fix="check the path.")
    labels, columns = read_framewise_labels(path)
    if len(columns) == 1 and len(animals) == 1:
        chosen = labels
    elif set(columns) == set(animals):
        chosen = labels[:, [columns.index(a) for a in animals]]
    else:
        raise InputError(
            f"{path} has label columns {list(columns)}; the keypoints have animals "
            f"{list(animals)}.",
            fix="write 'frame,label' for one animal, or one column per animal named after it.",
        )
    if chosen.shape[0] != frames:
        raise InputError(
            f"{path} labels {chosen.shape[0]} frames; the keypoints have {frames}.",
            fix="give one label row per keypoint frame (-1 = unlabelled).",
        )
    return np.array(chosen, np.int64)


@gate_app.command("train")
def gate_train(
    keypoints: Annotated[
        Path, typer.Argument(help="Keypoint file of the labelled session.", metavar="KEYPOINTS")
    ],
    labels: Annotated[
        Path,
        typer.Option(
            help="Frame-wise labels CSV: 'frame,label' (one animal) or 'frame,<animal>...'; "
            "integer codes, -1 = unlabelled."
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
) -> None:
    """Train the gate model on labelled keypoints (keypoint path only; no video yet).

    Class-weighted cross-entropy. With --model the pretrained encoder is frozen and the
    size options are ignored; with --resume the run in --out continues from its checkpoint.
    """
    import csv

    from ethoagent.atomic import atomic_write_bytes, atomic_write_text
    from ethoagent.nn.lookagain import LookAgain, LookAgainConfig
    from ethoagent.nn.pretrain_gate import freeze_encoder
    from ethoagent.nn.train_gate import CHECKPOINT_FILE, GateSession, TrainConfig, train_gate

    pose, desc = _gate_motion(keypoints, fps)
    y = _gate_labels(labels, pose.individuals, pose.frames)
    y[round(label_fraction * pose.frames) :] = -1
    if not (y >= 0).any():  # also --label-fraction 0
        raise InputError(f"{labels} labels no frame (all -1).", fix="label some frames.")
    _gate_out(out, resume, CHECKPOINT_FILE)
    if resume:
        meta = _read_gate_meta(out)
        model = LookAgain(LookAgainConfig.model_validate(meta["model"]))
        cfg = TrainConfig.model_validate(meta["train"])
        if meta.get("frozen"):
            freeze_encoder(model)
        classes: list[str] = meta["classes"]
    else:
        classes = [str(c) for c in range(int(max(y.max(), 0)) + 1)]
        meta = {"layout": _gate_layout(pose)}
        if model_dir is not None:
            base = LookAgain.load(model_dir)
            meta = {**_read_gate_meta(model_dir), **meta, "pretrained": str(model_dir)}
            _check_gate_layout(keypoints, pose, desc.features, base, meta)
            config = base.config.model_copy(update={"n_classes": len(classes)})
            model = _seeded(lambda: LookAgain(config))
            state = {k: v for k, v in base.state_dict().items() if not k.startswith("classifier.")}
            model.load_state_dict(state, strict=False)
            freeze_encoder(model)
        else:
            model = _gate_model(desc.features.shape[-1], len(classes), d_model, d_z, layers, window)
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
        )
    _check_gate_layout(keypoints, pose, desc.features, model, meta)
    if int(y.max()) >= len(classes):
        raise InputError(
            f"{labels} holds label {int(y.max())}; the model being resumed knows "
            f"{len(classes)} classes.",
            fix="resume with the labels it was started with.",
        )
    if not resume:
        atomic_write_text(out / _GATE_META, json.dumps(meta, indent=2))
    session = GateSession(
        motion=desc.features, labels=y, confidence=desc.confidence, present=desc.valid
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


def _gate_probabilities(model: Any, desc: Any, window: int) -> Any:
    """``(frames, animals, n_classes)`` probabilities, averaged over overlapping windows."""
    import numpy as np
    import torch

    from ethoagent.nn.train_gate import cut_windows

    frames, animals, _ = desc.features.shape
    window = min(window, model.config.max_len)
    total = np.zeros((frames, animals, model.config.n_classes), np.float64)
    count = np.zeros((frames, 1, 1), np.float64)
    for start, stop in cut_windows(frames, window, max(1, window // 2)):
        probs = model.predict(
            torch.from_numpy(desc.features[start:stop].transpose(1, 0, 2)[None]),
            torch.from_numpy(desc.confidence[start:stop].T[None]),
            present=torch.from_numpy(desc.valid[start:stop].T[None]),
        )
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
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Replace outputs OUT already holds.")
    ] = False,
) -> None:
    """Label every frame with a trained gate model (keypoint path only; no video yet)."""
    import csv
    import io
    import tempfile

    import numpy as np

    from ethoagent.atomic import atomic_write_bytes, atomic_write_text
    from ethoagent.nn.lookagain import LookAgain
    from ethoagent.tools.ethogram import epochs_from_labels, write_ethogram_csv

    outputs = ("labels.csv", "ethogram.csv", "ethogram.png")
    if out.exists() and not out.is_dir():
        raise InputError(f"output folder {out} is a file.", fix="pass a folder.")
    held = [n for n in outputs if (out / n).exists()]
    if held and not overwrite:
        raise InputError(
            f"output folder {out} already holds {', '.join(held)}; nothing was written.",
            fix="choose a new folder or pass --overwrite.",
        )
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
    meta = _read_gate_meta(model_dir)
    pose, desc = _gate_motion(keypoints, fps)
    _check_gate_layout(keypoints, pose, desc.features, model, meta)
    rate = pose.fps or fps
    if rate is None:
        raise InputError(
            f"{keypoints} states no frame rate.", fix="pass --fps (Hz) for the ethogram's seconds."
        )
    window = int((meta.get("train") or {}).get("window", model.config.max_len))
    with console.status("predicting ..."):
        probs = _gate_probabilities(model, desc, window)
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

    table = Table(title="gate predict: per-frame labels (keypoints only)", show_header=False)
    table.add_column(style="bold")
    table.add_column()
    table.add_row("frames x animals", f"{codes.shape[0]} x {len(animals)} at {rate:g} fps")
    shares = np.bincount(codes.reshape(-1), minlength=len(classes)) / codes.size
    table.add_row(
        "classes", ", ".join(f"{c} {s:.0%}" for c, s in zip(classes, shares, strict=True))
    )
    table.add_row("mean top probability", f"{float(probs.max(axis=-1).mean()):.3f}")
    console.print(table)
    console.print(f"outputs: [cyan]{out}[/] (labels.csv, ethogram.csv, ethogram.png)")
