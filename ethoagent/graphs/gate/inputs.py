"""Inputs of the gate pipeline's runs, and ``resolve_*``: read and check them once.

Every ``resolve_*`` reads the user's files (keypoints, labels, a model folder, the video's
frame count), checks them against each other and raises ``InputError`` (one line, with a
fix) before any run directory or output folder exists.

A gate model folder holds ``config.json`` + ``weights.pt`` (``LookAgain.save``),
``gate.json`` (layout, model, training settings, classes, vision encoder) and, once
trained, ``classes.json``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray
from pydantic import BaseModel, ConfigDict, Field

from ethoagent.errors import InputError
from ethoagent.graphs.gate.descriptor import body_words, describe_gate_motion, standardise
from ethoagent.graphs.gate.fitted import feature_scale, held_out, labelled_span, trained_on
from ethoagent.graphs.gate.labels import read_gate_labels
from ethoagent.graphs.gate.options import (
    ARCHITECTURE,
    ENCODERS,
    EvalOptions,
    PredictOptions,
    PretrainOptions,
    TrainOptions,
)
from ethoagent.model.pose import PoseData
from ethoagent.tools.features import BodyLayout

if TYPE_CHECKING:  # torch loads with the first model, not with the inputs models
    from ethoagent.nn.lookagain import LookAgain
    from ethoagent.nn.train_gate import GateSession
    from ethoagent.tools.motion import MotionDescriptor

__all__ = [
    "CLASSES_FILE",
    "META_FILE",
    "EvalInputs",
    "GateModel",
    "Keypoints",
    "PredictInputs",
    "PretrainInputs",
    "ResolvedEval",
    "ResolvedPredict",
    "ResolvedPretrain",
    "ResolvedTrain",
    "TrainInputs",
    "gate_layout",
    "load_gate_model",
    "read_keypoints_motion",
    "resolve_eval",
    "resolve_predict",
    "resolve_pretrain",
    "resolve_train",
]

META_FILE = "gate.json"
CLASSES_FILE = "classes.json"


class _Inputs(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    fps: float | None = Field(None, gt=0.0)
    """Frame rate, Hz, where the keypoint file states none."""


class PretrainInputs(_Inputs):
    """Unlabelled keypoint files (same layout)."""

    keypoints: list[Path] = Field(min_length=1)


class TrainInputs(_Inputs):
    """A labelled session; optionally a pretrained model folder and the session's video.

    ``body``: a body file stating which keypoints play which role (``io.body``: a TOML or
    a skeleton file); recorded in ``gate.json``, so predict and eval rebuild it.
    ``skeleton``: a skeleton file naming the nodes of a keypoint file that names none (a
    sleap-anipose ``points3d.h5``, a DANNCE ``label3d_dannce.mat``;
    ``io.skeletons.read_skeleton``); default: the files beside it.
    """

    keypoints: Path
    labels: Path
    body: Path | None = None
    skeleton: Path | None = None
    pretrained: Path | None = None
    video: Path | None = None
    vision_model: Path | None = None
    examples_from: Path | None = None
    """A table of more labelled sessions (``gate.cohort``), keypoints only."""


class PredictInputs(_Inputs):
    """A keypoint file, a trained model folder and, for a vision model, the video.

    ``body``: optional; the model's recorded body roles are used, and a body file given
    must state the same ones. ``skeleton``: as ``TrainInputs``'.
    """

    keypoints: Path
    gate_model: Path
    body: Path | None = None
    skeleton: Path | None = None
    video: Path | None = None
    vision_model: Path | None = None


class EvalInputs(PredictInputs):
    """As ``PredictInputs``, plus the frame-wise labels to score against."""

    labels: Path


@dataclass(frozen=True)
class Keypoints:
    """A keypoint file and its motion descriptor.

    Attributes:
        path: the file.
        pose: its keypoints, ``points`` ``(frames, animals, keypoints, dims)``.
        motion: its gate descriptor (``descriptor.describe_gate_motion``: keypoints,
            velocities, body-length and social features; confidence NaN, i.e. none in
            the file, = 1).
        nose_distance: ``(frames, animals)`` nose-nose distance to the nearest partner,
            body lengths, NaN = unknown (the rule baseline's input).
        pose_features: how many of the descriptor's last columns are body-length
            features (0 = none could be computed).
        body: the name of the body layout a body file stated (``roles_layout_name``),
            or None (roles matched from the keypoint names).
    """

    path: Path
    pose: PoseData
    motion: MotionDescriptor
    nose_distance: NDArray[np.float64]
    pose_features: int = 0
    body: str | None = None

    def session(
        self,
        labels: NDArray[np.int64] | None = None,
        vision: NDArray[np.float32] | None = None,
        scale: dict[str, list[float]] | None = None,
    ) -> GateSession:
        """The ``GateSession`` of these keypoints (labels ``(frames, animals)``, -1 = none).

        ``scale`` (a model's ``feature_scale``) standardises every motion feature with the
        mean and standard deviation of the data the model was fitted on; None = as is.
        """
        from ethoagent.nn.train_gate import GateSession

        m = self.motion
        y = labels if labels is not None else np.full(m.valid.shape, -1, np.int64)
        return GateSession(standardise(m.features, scale), y, m.confidence, m.valid, vision)

    @property
    def layout(self) -> dict[str, Any]:
        """Keypoint names, animals, spatial dimensions and body roles, as in ``gate.json``."""
        return {
            "keypoints": list(self.pose.keypoints),
            "animals": list(self.pose.individuals),
            "spatial_dims": int(self.pose.points.shape[-1]),
            "body": self.body,
        }


@dataclass(frozen=True)
class GateModel:
    """A trained model folder.

    Attributes:
        folder: where it was read from.
        model: the LookAgain model.
        classes: names of the class codes.
        meta: ``gate.json``.
    """

    folder: Path
    model: LookAgain
    classes: list[str]
    meta: dict[str, Any]

    @property
    def window(self) -> int:
        """Frames per inference window: the training window."""
        return int((self.meta.get("train") or {}).get("window", self.model.config.max_len))

    @property
    def scale(self) -> dict[str, list[float]] | None:
        """Mean and standard deviation of each motion feature it was fitted on, or None."""
        held: dict[str, list[float]] | None = self.meta.get("feature_scale")
        return held

    @property
    def vision(self) -> dict[str, Any] | None:
        """The vision encoder it was trained with (kind, encoder, crop_px, dim), or None."""
        held = self.meta.get("vision")
        if self.model.config.vision_dim is None or not held:
            return None
        return dict(held)


@dataclass(frozen=True)
class ResolvedPretrain:
    """What ``gate pretrain`` runs on: checked files, the model and its settings."""

    files: list[Keypoints]
    out: Path
    resume: bool
    model: LookAgain
    meta: dict[str, Any]


@dataclass(frozen=True)
class ResolvedTrain:
    """What ``gate train`` runs on.

    Attributes:
        labels: ``(frames, animals)`` int64 class codes, -1 = unlabelled.
        encoder: ``(kind, crop_px)`` of the vision encoder to build, or None (no video).
    """

    inputs: TrainInputs
    options: TrainOptions
    keypoints: Keypoints
    labels: NDArray[np.int64]
    out: Path
    resume: bool
    meta: dict[str, Any]
    encoder: tuple[str | None, int] | None


@dataclass(frozen=True)
class ResolvedPredict:
    """What ``gate predict`` runs on.

    Attributes:
        fps: frame rate of the keypoints, Hz.
        top_k: fraction of frames the vision path looks at; None = keypoint-only model.
    """

    inputs: PredictInputs
    keypoints: Keypoints
    model: GateModel
    fps: float
    top_k: float | None
    embedding_cache: Path


@dataclass(frozen=True)
class ResolvedEval:
    """What ``gate eval`` runs on.

    Attributes:
        truth: ``(frames, animals)`` int64 class codes, -1 = unlabelled or not scored
            (the frames before ``scored[0]``).
        budgets: top-k fractions to score; None = the keypoint-only model's one pass.
        scored: ``(start, stop)`` frames scored: the held-out ones.
        split: how they are held out, one line.
        warnings: notes for the user (e.g. a model that records no training data).
    """

    inputs: EvalInputs
    keypoints: Keypoints
    model: GateModel
    truth: NDArray[np.int64]
    budgets: tuple[float | None, ...]
    embedding_cache: Path
    scored: tuple[int, int]
    split: str
    warnings: tuple[str, ...] = ()


# ----------------------------------------------------------------------- files


def read_keypoints_motion(
    path: Path,
    fps: float | None,
    body: Path | None = None,
    meta: dict[str, Any] | None = None,
    skeleton: Path | None = None,
) -> Keypoints:
    """Read a keypoint file and describe its motion, velocities included (as the eval).

    Args:
        path: the keypoint file.
        fps: frame rate, Hz, where the file states none.
        body: a body file (``--body``) stating the keypoints' roles, or None.
        meta: the ``gate.json`` of the model the keypoints are for (None = a new model):
            its recorded body roles are used (``gate_layout``).
        skeleton: a skeleton file naming the keypoints of a file that names none (a
            sleap-anipose ``points3d.h5``, a DANNCE ``.mat``), or None.

    Raises:
        InputError: the file does not exist or cannot be read, no frame rate is known, or
            the body file does not fit the keypoints or the model.
    """
    from ethoagent.io.keypoints import read_keypoints

    if not path.is_file():
        raise InputError(f"keypoint file {path} does not exist.", fix="check the path.")
    pose = read_keypoints(path, fps=fps, skeleton=skeleton)
    rate = pose.fps or fps
    if rate is None:
        raise InputError(
            f"{path} states no frame rate; the motion descriptor holds velocities.",
            fix="pass --fps (Hz).",
        )
    layout = gate_layout(body, pose.keypoints, meta)
    d = describe_gate_motion(
        pose.points, pose.confidence, fps=float(rate), keypoints=pose.keypoints,
        individuals=pose.individuals, layout=layout,
    )  # fmt: skip
    name = None if layout is None else layout.name
    return Keypoints(path, pose, d.motion, d.nose_distance, len(d.pose_names), name)


def gate_layout(
    body: Path | None, keypoints: Sequence[str], meta: dict[str, Any] | None
) -> BodyLayout | None:
    """The body roles the keypoints are described with (None = matched from the names).

    A new model (``meta`` None) takes the body file's roles. A trained model keeps the
    roles it recorded (``gate.json``'s ``layout.body``), rebuilt for ``keypoints``; a body
    file given with it must state the same roles.

    Raises:
        InputError: a bad body file (``io.body.read_body``), or one whose roles differ
            from the model's.
    """
    from ethoagent.io.body import read_body
    from ethoagent.tools.features import layout_named

    layout = None if body is None else read_body(body, list(keypoints))
    if meta is None:
        return layout
    recorded: str | None = (meta.get("layout") or {}).get("body")
    if layout is not None and layout.name != recorded:
        raise InputError(
            f"{body} states body roles other than the model's; its roles are "
            f"{body_words(recorded)}.",
            fix="pass the body file the model was trained with, or leave --body out to use "
            "the model's own roles.",
        )
    return None if recorded is None else layout_named(recorded, list(keypoints))


def read_gate_meta(folder: Path) -> dict[str, Any]:
    """``gate.json`` of a model folder ({} when it has none)."""
    path = folder / META_FILE
    meta: dict[str, Any] = json.loads(path.read_text()) if path.is_file() else {}
    return meta


def load_gate_model(folder: Path) -> GateModel:
    """Load a trained model folder.

    Raises:
        InputError: the folder holds no model, or a pretrained one without classes.
    """
    if not folder.is_dir() or not (folder / "weights.pt").is_file():
        raise InputError(
            f"{folder} holds no gate model (weights.pt).",
            fix="pass the --out folder of `ethoagent gate train`.",
        )
    if not (folder / CLASSES_FILE).is_file():
        raise InputError(
            f"{folder} holds no {CLASSES_FILE}: it was pretrained but not trained.",
            fix="train it first: ethoagent gate train KEYPOINTS --labels L.csv "
            f"--model {folder} --out MODEL",
        )
    from ethoagent.nn.lookagain import LookAgain

    classes: list[str] = json.loads((folder / CLASSES_FILE).read_text())
    return GateModel(folder, LookAgain.load(folder), classes, read_gate_meta(folder))


def check_layout(keypoints: Keypoints, input_dim: int, meta: dict[str, Any]) -> None:
    """Raise unless the motion descriptor of ``keypoints`` has the model's ``input_dim``."""
    dim = int(keypoints.motion.features.shape[-1])
    if dim == input_dim:
        return
    want = meta.get("layout") or {}
    expected = (
        f"{len(want['keypoints'])} keypoints x {want['spatial_dims']}D, "
        f"{len(want['animals'])} animal(s)"
        if want
        else "another layout"
    )
    shape = keypoints.pose.points.shape
    raise InputError(
        f"{keypoints.path}: {shape[2]} keypoints x {shape[3]}D, {shape[1]} animal(s) give "
        f"{dim} motion features, but the model expects {input_dim} ({expected}).",
        fix="use keypoints with the layout the model was trained on, or train a new model.",
    )


def check_video(video: Path, keypoints: Keypoints) -> None:
    """Raise unless ``video`` exists, the keypoints are 2D and the frame counts agree."""
    from ethoagent.io.video import VideoReader

    if not video.is_file():
        raise InputError(f"video {video} does not exist.", fix="check the path.")
    pose = keypoints.pose
    if pose.points.shape[-1] != 2:
        raise InputError(
            f"{keypoints.path} holds {pose.points.shape[-1]}D keypoints; --video needs 2D pixel "
            "keypoints of that video to cut the animals out.",
            fix="pass the 2D tracking of this view (e.g. the DeepLabCut/SLEAP file).",
        )
    with VideoReader(video) as reader:
        frames = len(reader)
    if frames != pose.frames:
        raise InputError(
            f"{video} has {frames} frames; {keypoints.path} has {pose.frames}.",
            fix="pass the video these keypoints were tracked on (one view, every frame).",
        )


def _check_model_out(out: Path, resume: bool, checkpoint: str) -> None:
    if out.exists() and not out.is_dir():
        raise InputError(f"output folder {out} is a file.", fix="pass a folder.")
    held = [n for n in ("config.json", "weights.pt", checkpoint) if (out / n).exists()]
    if held and not resume:
        raise InputError(
            f"output folder {out} already holds {', '.join(held)}; nothing was written.",
            fix="pass --resume to continue that run, or choose a new folder.",
        )
    if resume and not (out / META_FILE).is_file():
        raise InputError(
            f"--resume: {out} holds no gate run to continue (no {META_FILE}).",
            fix="start without --resume.",
        )


def new_model(
    input_dim: int,
    n_classes: int,
    options: PretrainOptions | TrainOptions,
    *,
    vision_dim: int | None = None,
    gate_fraction: float = 0.1,
) -> LookAgain:
    """A new LookAgain model of the optioned size, its weights seeded (the same every run)."""
    import torch
    from pydantic import ValidationError

    from ethoagent.nn.lookagain import LookAgain, LookAgainConfig

    try:
        cfg = LookAgainConfig(
            input_dim=input_dim,
            n_classes=n_classes,
            d_model=options.d_model,
            d_z=options.d_z,
            temporal_layers=options.layers,
            max_len=max(512, options.window),
            vision_dim=vision_dim,
            gate_fraction=gate_fraction,
            **ARCHITECTURE[options.size],
        )
    except ValidationError as exc:
        raise InputError(f"invalid model size: {exc}".splitlines()[0]) from None
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        try:
            return LookAgain(cfg)
        except ValueError as exc:
            raise InputError(f"invalid model size: {exc}".splitlines()[0]) from None


# ----------------------------------------------------------------------- resolve


def resolve_pretrain(
    inputs: PretrainInputs, options: PretrainOptions, *, out: Path, resume: bool
) -> ResolvedPretrain:
    """Read the keypoint files, check the model folder ``out`` and build (or reload) the model.

    Raises:
        InputError: a file is missing or unreadable, the layouts differ, or ``out`` holds a
            model and ``resume`` is false (or holds no run and it is true).
    """
    from ethoagent.nn.lookagain import LookAgain, LookAgainConfig
    from ethoagent.nn.pretrain_gate import CHECKPOINT_FILE, PretrainConfig
    from ethoagent.nn.train_gate import warmup_steps

    files = [read_keypoints_motion(p, inputs.fps) for p in inputs.keypoints]
    _check_model_out(out, resume, CHECKPOINT_FILE)
    if resume:
        meta = read_gate_meta(out)
        model = LookAgain(LookAgainConfig.model_validate(meta["model"]))
    else:
        model = new_model(files[0].motion.features.shape[-1], 2, options)
        stride = max(1, options.window // 2)
        warmup = warmup_steps([k.pose.frames for k in files], window=options.window,
                              stride=stride, batch_size=8, epochs=options.epochs)  # fmt: skip
        cfg = PretrainConfig(epochs=options.epochs, window=options.window, stride=stride,
                             batch_size=8, lr=options.lr, warmup_steps=warmup)  # fmt: skip
        meta = {
            "layout": files[0].layout,
            "model": model.config.model_dump(),
            "pretrain": cfg.model_dump(),
            "feature_scale": feature_scale(
                np.concatenate([k.motion.features for k in files], axis=0)
            ),
        }
    for k in files:
        check_layout(k, model.config.input_dim, meta)
    return ResolvedPretrain(files, out, resume, model, meta)


def _fit_record(
    inputs: TrainInputs,
    kp: Keypoints,
    y: NDArray[np.int64],
    classes: list[str],
    own: tuple[int, int, int],
    taught: list[dict[str, object]] | None = None,
) -> dict[str, Any]:
    """A new model's ``gate.json`` start: layout, classes, training data, feature scale.

    ``own``: ``(frames, first, stop)`` of the trained session (before ``--examples-from``)
    and the span of its labelled frames; ``taught``: the sessions of ``--examples-from``,
    recorded as ``examples_from``.
    """
    frames, first, stop = own
    record = {
        "layout": kp.layout,
        "classes": classes,
        "trained_on": trained_on(inputs.keypoints, inputs.labels, frames, (first, stop)),
        "feature_scale": feature_scale(kp.motion.features[labelled_span(y)]),
    }
    return record if taught is None else {**record, "examples_from": taught}


def _with_cohort(
    inputs: TrainInputs,
    options: TrainOptions,
    kp: Keypoints,
    y: NDArray[np.int64],
    classes: list[str],
) -> tuple[Keypoints, NDArray[np.int64], list[str], list[dict[str, object]] | None]:
    """The trained session with ``--examples-from``'s sessions appended (``gate.cohort``)."""
    if inputs.examples_from is None:
        return kp, y, classes, None
    from ethoagent.graphs.gate.cohort import pool_train_sessions

    if inputs.video is not None:
        raise InputError(
            "--examples-from trains on keypoints only; --video covers one session.",
            fix="leave out --video, or train on one session with its video.",
        )
    c = pool_train_sessions(
        kp, y, classes, inputs.examples_from, fps=inputs.fps, gap=options.window, body=inputs.body
    )
    return c.keypoints, c.labels, c.classes, c.sessions


def _train_keypoints(
    inputs: TrainInputs, options: TrainOptions, out: Path, resume: bool
) -> Keypoints:
    """The trained session's keypoints (with a resumed run's body roles); checks the options.

    Raises:
        InputError: unreadable keypoints, ``--body`` with a pretrained model, a missing
            video or an unknown vision encoder.
    """
    recorded = read_gate_meta(out) if resume and (out / META_FILE).is_file() else None
    kp = read_keypoints_motion(
        inputs.keypoints, inputs.fps, inputs.body, recorded, skeleton=inputs.skeleton
    )
    if inputs.body is not None and inputs.pretrained is not None:
        raise InputError(
            f"--body {inputs.body} with --model {inputs.pretrained}: the pretrained encoder "
            "read motion features described without body roles.",
            fix="leave out --body, or train without --model.",
        )
    if inputs.video is not None and not inputs.video.is_file():
        raise InputError(f"video {inputs.video} does not exist.", fix="check the path.")
    if options.vision_encoder is not None and options.vision_encoder not in ENCODERS:
        raise InputError(
            f"unknown --vision-encoder {options.vision_encoder!r}.",
            fix="choose efficientnet, classical, openai or transformers.",
        )
    return kp


def resolve_train(
    inputs: TrainInputs, options: TrainOptions, *, out: Path, resume: bool
) -> ResolvedTrain:
    """Read keypoints and labels, check the video, the pretrained and the output folders.

    Raises:
        InputError: a file is missing, unreadable or disagrees with another (frames,
            animals, layout, classes), or ``out`` holds a model and ``resume`` is false.
    """
    from ethoagent.nn.lookagain import LookAgainConfig
    from ethoagent.nn.train_gate import CHECKPOINT_FILE

    kp = _train_keypoints(inputs, options, out, resume)
    pose = kp.pose
    known = read_gate_meta(out).get("classes") if resume else None
    y, classes = read_gate_labels(
        inputs.labels, pose.individuals, pose.frames, pose.fps or inputs.fps, known
    )
    y[round(options.label_fraction * pose.frames) :] = -1
    if not (y >= 0).any():  # also --label-fraction 0
        raise InputError(f"{inputs.labels} labels no frame (all -1).", fix="label some frames.")
    span = labelled_span(y)
    own = (pose.frames, int(span.start), int(span.stop))
    kp, y, classes, taught = _with_cohort(inputs, options, kp, y, classes)
    _check_model_out(out, resume, CHECKPOINT_FILE)
    encoder: tuple[str | None, int] | None = None
    if resume:
        meta = read_gate_meta(out)
        held = meta.get("vision")
        if (held is None) != (inputs.video is None):
            raise InputError(
                f"--resume: the run in {out} was started "
                + ("with" if held else "without")
                + " --video.",
                fix="resume with the inputs it was started with.",
            )
        if held:
            encoder = (held["kind"], int(held["crop_px"]))
        n_classes = int(meta["model"]["n_classes"])
        if int(y.max()) >= n_classes:
            raise InputError(
                f"{inputs.labels} holds label {int(y.max())}; the model being resumed knows "
                f"{n_classes} classes.",
                fix="resume with the labels it was started with.",
            )
        check_layout(kp, int(meta["model"]["input_dim"]), meta)
    else:
        if inputs.video is not None:
            encoder = (options.vision_encoder, options.crop_px)
        meta = _fit_record(inputs, kp, y, classes, own, taught)
        if inputs.pretrained is not None:
            if not (inputs.pretrained / "weights.pt").is_file():
                raise InputError(
                    f"{inputs.pretrained} holds no gate model (weights.pt).",
                    fix="pass the --out folder of `ethoagent gate pretrain`.",
                )
            base = read_gate_meta(inputs.pretrained)
            # the frozen encoder reads features scaled as in its pretraining
            meta = {**base, **meta, "pretrained": str(inputs.pretrained),
                    "feature_scale": base.get("feature_scale")}  # fmt: skip
            cfg = LookAgainConfig.model_validate(base["model"])
            check_layout(kp, cfg.input_dim, meta)
            if options.window > cfg.max_len:
                raise InputError(
                    f"--window {options.window} exceeds the model's max_len {cfg.max_len}.",
                    fix="pass a shorter --window.",
                )
    if inputs.video is not None:
        check_video(inputs.video, kp)
    return ResolvedTrain(inputs, options, kp, y, out, resume, meta, encoder)


def _vision_budget(
    gm: GateModel, kp: Keypoints, video: Path | None, top_k: float | None
) -> float | None:
    """The top-k a run uses (None = keypoint-only model), checking the video it needs."""
    held = gm.vision
    if held is None:
        if video is not None or top_k:
            raise InputError(
                "this gate model was trained without video; it has no vision path.",
                fix="drop --video/--top-k, or train with --video.",
            )
        return None
    k = gm.model.config.gate_fraction if top_k is None else top_k
    if video is None and k > 0:
        raise InputError(
            f"the model was trained with video ({held['encoder']}); it needs the video of "
            f"{kp.path} to look at its top-k frames.",
            fix="pass --video, or --top-k 0 for keypoints only.",
        )
    if video is not None:
        check_video(video, kp)
    return k


def resolve_predict(inputs: PredictInputs, options: PredictOptions) -> ResolvedPredict:
    """Load the model and the keypoints, check the video and the frame rate.

    Raises:
        InputError: the model folder holds no trained model, the keypoints' layout or the
            video do not fit it, or no frame rate is known.
    """
    gm = load_gate_model(inputs.gate_model)
    kp = read_keypoints_motion(
        inputs.keypoints, inputs.fps, inputs.body, gm.meta, skeleton=inputs.skeleton
    )
    check_layout(kp, gm.model.config.input_dim, gm.meta)
    rate = kp.pose.fps or inputs.fps
    if rate is None:
        raise InputError(
            f"{inputs.keypoints} states no frame rate.",
            fix="pass --fps (Hz) for the ethogram's seconds.",
        )
    k = _vision_budget(gm, kp, inputs.video, options.top_k)
    return ResolvedPredict(inputs, kp, gm, float(rate), k, options.embedding_cache)


def resolve_eval(inputs: EvalInputs, options: EvalOptions) -> ResolvedEval:
    """Load the model, keypoints and labels; check they agree, and the video.

    Only held-out frames are scored (``held_out``): never labels the model trained on.

    Raises:
        InputError: as ``resolve_predict``, or the labels do not fit the keypoints or
            hold a class the model does not know, or no labelled frame is held out.
    """
    gm = load_gate_model(inputs.gate_model)
    kp = read_keypoints_motion(
        inputs.keypoints, inputs.fps, inputs.body, gm.meta, skeleton=inputs.skeleton
    )
    check_layout(kp, gm.model.config.input_dim, gm.meta)
    pose = kp.pose
    truth, _ = read_gate_labels(
        inputs.labels, pose.individuals, pose.frames, pose.fps or inputs.fps, gm.classes
    )
    if int(truth.max()) >= len(gm.classes):
        raise InputError(
            f"{inputs.labels} holds label {int(truth.max())}; the model knows "
            f"{len(gm.classes)} classes.",
            fix="score it on labels with the codes it was trained on.",
        )
    if inputs.video is not None and gm.vision is None:
        raise InputError(
            "this gate model was trained without video; it has no vision path.",
            fix="drop --video, or train with --video.",
        )
    budgets: tuple[float | None, ...] = (None,)
    if gm.vision is not None:
        budgets = options.budgets if inputs.video is not None else (0.0,)
        if inputs.video is not None:
            check_video(inputs.video, kp)
    start, stop, split = held_out(gm.meta, inputs.keypoints, pose.frames, options.holdout)
    truth[:start] = -1
    truth[stop:] = -1
    if not (truth >= 0).any():
        raise InputError(
            f"{inputs.labels} labels none of the held-out frames {start}-{stop - 1}.",
            fix="score a session with labels on the frames the model did not train on.",
        )
    warnings = () if "trained_on" in gm.meta else (
        f"{gm.folder} does not record what the model was trained on (trained before "
        "gate.json kept it): these frames may be its training labels, and the score "
        "then says nothing about new data.",
    )  # fmt: skip
    return ResolvedEval(inputs, kp, gm, truth, budgets, options.embedding_cache,
                        (start, stop), split, warnings)  # fmt: skip
