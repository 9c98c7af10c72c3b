"""Evaluation suite ``gate``: the LookAgain gate model against labels, budgets and baselines.

Data sets (each a training and a held-out test session with per-frame truth):

- ``synthetic_1``: one simulated mouse (``simulate_world``), rendered by the overhead
  camera of the ``paper-like`` preset (320x240 px, 30 fps, sensor noise, motion blur,
  distractor spots, light drift). Keypoints = the exact projections of the marks the
  camera sees (hidden marks missing, confidence 0); vision = EfficientNet-Lite0
  embeddings of animal-centred crops of the rendered frames. Train and test are two
  worlds with different seeds. Truth: still, walking, darting, turning, rearing, grooming.
- ``synthetic_3``: three simulated mice, same camera; truth adds the social labels.
- ``behaviordepot_demo1``: BehaviorDEPOT demo1 (one mouse, DeepLabCut 2D, 50 fps), human
  freezing; train = the first 60 % of the frames, test = the rest. Keypoint path only: the
  shared data holds no video of demo1, so there is nothing to look at.

Methods, in the same run, each trained with 3 seeds (2 with ``quick``) on 10 %, 30 % and
100 % of the training labels (seeded random blocks of one window each):

- ``lookagain``: the LookAgain model with vision, trained with the gate at 25 % (noisy
  top-k) and evaluated with the learned gate at top-k 0, 25, 50 and 100 % of the frames
  (0 % = the vision path sees no frame; the keypoint-only model on behaviordepot);
- ``uniform``: the same trained model, the gate's choice replaced by evenly spaced frames
  at the same budget (same k per window and animal);
- ``transformer``: a plain supervised transformer on the motion descriptors (same width,
  depth, windows, steps and class weights; no RVQ, gate or vision);
- ``majority``: the most frequent training class everywhere (floor).

Unsupervised (no labels; fitted on the test session, scored by Hungarian macro-F1 with K
= the number of test classes): ``lookagain_dec`` (masked-motion / cross-modal pretraining,
k-means initialisation, then the DEC head with the total-variation penalty on alpha),
``dec`` (``ethoagent.nn.dec.fit_dec`` on the motion descriptors) and ``kmeans``.

Test sessions are scored with the inference of ``ethoagent gate predict``
(``ethoagent.nn.predict_gate``): the frames looked at are the top-k of each disjoint
window, then the probabilities are averaged over overlapping windows that read those
frames only. ``frames_looked_at`` counts them (the frames a deployment sends to the vision
encoder), next to ``vision_frames_encoded`` (crops this run really sent to the encoder;
0 when the on-disk cache held them all) and ``vision_crops`` (crops embedded for training
and test). Embeddings are cached under ``$ETHOAGENT_GATE_EVAL_CACHE`` (default
``.cache/gate-eval-embeddings`` in the repository), keyed by a hash of the simulated
world, camera, render settings and renderer source.
"""

from __future__ import annotations

import hashlib
import inspect
import math
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray
from pydantic import BaseModel, ConfigDict
from sklearn.metrics import f1_score
from torch import nn

from ethoagent.errors import InputError
from ethoagent.evals.datasets import load_dataset, shared_data_dir
from ethoagent.evals.harness import SuiteOptions, SuiteResult, register_suite
from ethoagent.figures import new_figure, png_bytes
from ethoagent.graphs.gate.descriptor import describe_gate_motion, standardise
from ethoagent.graphs.gate.fitted import feature_scale
from ethoagent.nn.dec import DecConfig, fit_dec
from ethoagent.nn.lookagain import (
    LookAgain,
    LookAgainConfig,
    class_weights,
    dec_loss,
)
from ethoagent.nn.predict_gate import (
    average_windows,
    predict_probabilities,
    select_frames,
)
from ethoagent.nn.pretrain_gate import PretrainConfig, pretrain_gate
from ethoagent.nn.train_gate import (
    GateSession,
    TrainConfig,
    batch_rows,
    batch_windows,
    cut_windows,
    train_gate,
    warmup_cosine,
)
from ethoagent.sim import render as render_module
from ethoagent.sim.behaviour import BEHAVIOURS, INDIVIDUAL_BEHAVIOURS
from ethoagent.sim.render import compute_visibility, make_occluders, render_view
from ethoagent.sim.simulate import PRESETS
from ethoagent.sim.synthetic import KEYPOINTS, simulate_world
from ethoagent.tools.cameras import make_ring_cameras, project_points
from ethoagent.tools.cluster import kmeans_baseline
from ethoagent.tools.ethogram import hungarian_macro_f1
from ethoagent.tools.vision import (
    ClassicalEncoder,
    CropEmbedder,
    EmbeddingCache,
    VisionEncoder,
    animal_boxes,
)

__all__ = [
    "LABEL_RATIOS",
    "TOPK",
    "EvalSizes",
    "GateCase",
    "MotionTransformer",
    "behaviordepot_case",
    "evaluate_supervised",
    "gate_cases",
    "gate_suite",
    "label_blocks",
]

TOPK: tuple[float, ...] = (0.0, 0.25, 0.5, 1.0)
"""Fractions of each window's frames the vision path looks at."""
LABEL_RATIOS: tuple[float, ...] = (0.1, 0.3, 1.0)
"""Fractions of the training labels used."""
TRAIN_FRACTION = 0.25
"""Gate budget during training (noisy top-k)."""
_REPO = Path(__file__).resolve().parents[2]


class EvalSizes(BaseModel):
    """Model and run sizes of the eval (small, for 2 shared CPU cores).

    Attributes:
        d_model: transformer width (paper: 256).
        d_z: code size (paper: 128).
        heads: attention heads.
        temporal_layers: temporal transformer layers (paper: 4); also the baseline's depth.
        rvq_codes: codes per RVQ level (paper: 512).
        window: frames per window (training and test).
        steps: supervised training steps at 100 % of the labels; a label ratio ``r``
            trains ``round(steps * max(0.3, sqrt(r)))`` steps (fewer windows to learn).
        pretrain_steps: pretraining steps of the unsupervised LookAgain.
        dec_steps: DEC steps of the unsupervised LookAgain.
        dec_iters: clustering iterations of the DEC baseline (``fit_dec``).
        sequences: windows x animals per step (the batch is ``max(1, sequences //
            animals)`` windows, so a step costs about the same for 1 and 3 animals).
        lr: peak learning rate.
        crop_px: side of the crops sent to EfficientNet-Lite0, pixels.
        seeds: training seeds.
        train_frames: frames of a synthetic training session.
        test_frames: frames of a synthetic test session.
        train_frames_3: frames of the 3-mouse training session.
        test_frames_3: frames of the 3-mouse test session.
        real_frames: BehaviorDEPOT frames used (train + test).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    d_model: int = 64
    d_z: int = 32
    heads: int = 4
    temporal_layers: int = 2
    rvq_codes: int = 64
    window: int = 64
    steps: int = 200
    pretrain_steps: int = 60
    dec_steps: int = 60
    dec_iters: int = 500
    sequences: int = 8
    lr: float = 2e-3
    crop_px: int = 128
    seeds: int = 3
    train_frames: int = 5400
    test_frames: int = 1800
    train_frames_3: int = 1800
    test_frames_3: int = 900
    real_frames: int = 6000


QUICK = EvalSizes(
    d_model=32,
    d_z=16,
    temporal_layers=1,
    rvq_codes=32,
    window=32,
    steps=40,
    pretrain_steps=4,
    dec_steps=4,
    dec_iters=20,
    crop_px=64,
    seeds=2,
    train_frames=640,
    test_frames=256,
    train_frames_3=192,
    test_frames_3=128,
    real_frames=3000,
)
"""Sizes of ``SuiteOptions.quick``: a smoke run (seconds), not a measurement."""


@dataclass(frozen=True)
class GateCase:
    """One data set of the eval.

    Attributes:
        name: short name (a table key).
        train: the labelled training session (``labels`` ``(frames, animals)`` int64).
        test: the held-out test session.
        classes: names of the label codes.
        fps: frame rate, Hz.
        source: where the data comes from, one line.
        vision_crops: crops embedded (train + test); 0 = keypoint path only.
        vision_frames_encoded: crops this run sent to the encoder (the rest: cache hits).
        encoder: name of the vision encoder, or None.
    """

    name: str
    train: GateSession
    test: GateSession
    classes: tuple[str, ...]
    fps: float
    source: str
    vision_crops: int = 0
    vision_frames_encoded: int = 0
    encoder: str | None = None

    @property
    def has_vision(self) -> bool:
        """Whether the sessions carry vision embeddings."""
        return self.train.vision is not None


# --------------------------------------------------------------------------- data sets


def _cache_dir() -> Path:
    env = os.environ.get("ETHOAGENT_GATE_EVAL_CACHE")
    return Path(env) if env else _REPO / ".cache" / "gate-eval-embeddings"


def _render_session(
    frames: int,
    animals: int,
    seed: int,
    encoder: VisionEncoder,
    cache: EmbeddingCache,
    crop_px: int,
) -> tuple[GateSession, int, int]:
    """Simulate, render (overhead camera) and embed one session.

    Returns:
        The session (motion, labels, confidence, presence, vision ``(frames, animals,
        Dv)``), the crops embedded and the crops sent to the encoder.
    """
    pre = PRESETS["paper-like"]
    world = simulate_world(
        frames, animals=animals, fps=pre.fps, arena_radius_mm=pre.arena_radius_mm, seed=seed
    )
    focal = 280.0 * pre.width / 320.0
    camera = make_ring_cameras(2, size=(pre.width, pre.height), focal_px=focal, seed=seed)[-1]
    occluders = make_occluders(world, obstacles=pre.render.obstacles, seed=seed)
    visible = compute_visibility([camera], world.points_3d, occluders)[:, 0]  # (F, A, K)
    uv = project_points([camera], world.points_3d)[..., 0, :]  # (F, A, K, 2) px
    points = np.where(visible[..., None], uv, np.nan)
    desc = describe_gate_motion(
        points, visible.astype(np.float64), fps=pre.fps, keypoints=KEYPOINTS
    ).motion
    boxes, has_box = animal_boxes(points)

    digest = hashlib.sha256()
    for arr in (world.points_3d, camera.matrix, camera.dist, camera.rvec, camera.tvec):
        digest.update(np.ascontiguousarray(arr).tobytes())
    digest.update(pre.render.model_dump_json().encode())
    digest.update(f"{seed}:{camera.size}".encode())
    digest.update(inspect.getsource(render_module).encode())
    source = f"synthetic:{digest.hexdigest()}"
    embedder = CropEmbedder(encoder, boxes, has_box, source=source, cache=cache, out_size=crop_px)
    vision = embedder.cached()
    if vision is None:
        render_view(
            world,
            camera,
            points_2d=uv,
            visible=visible,
            occluders=occluders,
            settings=pre.render,
            sink=lambda bgr: embedder.add(bgr[..., ::-1]),
            seed=seed * 1000 + 1,
        )
        vision = embedder.finish()
    session = GateSession(
        motion=desc.features,
        labels=np.asarray(world.behaviour.labels, np.int64),
        confidence=desc.confidence,
        present=desc.valid,
        vision=vision,
    )
    return session, int(has_box.sum()), embedder.misses


def _synthetic_case(
    name: str, animals: int, frames: tuple[int, int], seed: int, sizes: EvalSizes
) -> GateCase:
    encoder = _encoder(sizes)
    cache = EmbeddingCache(_cache_dir())
    train, c1, m1 = _render_session(frames[0], animals, seed, encoder, cache, sizes.crop_px)
    test, c2, m2 = _render_session(frames[1], animals, seed + 100, encoder, cache, sizes.crop_px)
    train, test = _standardised(train, test)
    classes = BEHAVIOURS if animals > 1 else INDIVIDUAL_BEHAVIOURS
    return GateCase(
        name=name,
        train=train,
        test=test,
        classes=classes,
        fps=PRESETS["paper-like"].fps,
        source=(
            f"simulate_world(animals={animals}, seeds {seed} / {seed + 100}), "
            f"{frames[0]} train + {frames[1]} test frames at 30 fps, overhead 320x240 view"
        ),
        vision_crops=c1 + c2,
        vision_frames_encoded=m1 + m2,
        encoder=encoder.name,
    )


def _encoder(sizes: EvalSizes) -> VisionEncoder:
    from ethoagent.nn.encoders import EfficientNetLite0Encoder, efficientnet_lite0_installed

    if efficientnet_lite0_installed():
        return EfficientNetLite0Encoder(size=sizes.crop_px)
    return ClassicalEncoder()


def behaviordepot_case(root: Path, sizes: EvalSizes) -> GateCase:
    """BehaviorDEPOT demo1: first 60 % train, the rest test, described as ``gate train`` does.

    ``root`` is the shared data folder; the descriptor and its standardisation are the
    CLI's (``graphs.gate.descriptor``), the scale from the training part.
    """
    data = load_dataset("behaviordepot_freezing", root=root)
    pose = data.pose["demo1"]
    truth = np.asarray(data.labels["demo1"][:, :1], np.int64)
    frames = min(pose.frames, truth.shape[0], sizes.real_frames)
    desc = describe_gate_motion(
        pose.points[:frames], pose.confidence[:frames], fps=50.0, keypoints=pose.keypoints,
        individuals=pose.individuals,
    ).motion  # fmt: skip
    split = round(0.6 * frames)

    def part(sl: slice) -> GateSession:
        return GateSession(
            motion=desc.features[sl],
            labels=truth[:frames][sl],
            confidence=desc.confidence[sl],
            present=desc.valid[sl],
        )

    train, test = _standardised(part(slice(0, split)), part(slice(split, frames)))
    return GateCase(
        name="behaviordepot_demo1",
        train=train,
        test=test,
        classes=("not_freezing", "freezing"),
        fps=50.0,
        source=(
            f"BehaviorDEPOT demo1, DLC 2D px, frames 0-{split - 1} train, {split}-{frames - 1} "
            "test at 50 fps, human freezing; keypoint path only (no video in the shared data)"
        ),
    )


def _standardised(train: GateSession, test: GateSession) -> tuple[GateSession, GateSession]:
    """Both sessions standardised with the training session's mean and SD, as ``gate train``."""
    scale = feature_scale(train.motion)
    return (
        replace(train, motion=standardise(train.motion, scale)),
        replace(test, motion=standardise(test.motion, scale)),
    )


def gate_cases(
    sizes: EvalSizes, *, seed: int, root: Path | None = None
) -> tuple[list[GateCase], list[str]]:
    """Build the eval's data sets (rendering and embedding the synthetic ones).

    Returns:
        The cases and notes on data sets that were skipped, and why.
    """
    cases = [
        _synthetic_case("synthetic_1", 1, (sizes.train_frames, sizes.test_frames), seed, sizes),
        _synthetic_case(
            "synthetic_3", 3, (sizes.train_frames_3, sizes.test_frames_3), seed + 1, sizes
        ),
    ]
    notes: list[str] = []
    try:
        cases.append(behaviordepot_case(root if root is not None else shared_data_dir(), sizes))
    except InputError as exc:
        notes.append(f"behaviordepot_freezing skipped: {exc}")
    return cases, notes


# --------------------------------------------------------------------------- training


def label_blocks(session: GateSession, ratio: float, window: int, seed: int) -> list[GateSession]:
    """The labelled part of a training session: ``ratio`` of its windows, drawn by seed.

    The session is cut into consecutive blocks of ``window`` frames; ``max(1,
    round(ratio * blocks))`` of them, drawn at random (seeded), become the training
    sessions (each keeps its motion context; all of it is labelled). ``ratio`` 1 returns
    the whole session.
    """
    frames = session.motion.shape[0]
    if ratio >= 1.0:
        return [session]
    n_blocks = math.ceil(frames / window)
    k = max(1, round(ratio * n_blocks))
    picks = np.sort(np.random.default_rng([seed, round(ratio * 1000)]).permutation(n_blocks)[:k])

    def cut(a: NDArray[Any] | None, sl: slice) -> Any:
        return None if a is None else a[sl]

    out = []
    for b in picks:
        sl = slice(int(b) * window, min((int(b) + 1) * window, frames))
        out.append(
            GateSession(
                motion=session.motion[sl],
                labels=session.labels[sl],
                confidence=cut(session.confidence, sl),
                present=cut(session.present, sl),
                vision=cut(session.vision, sl),
            )
        )
    return out


def _model_config(case: GateCase, sizes: EvalSizes, n_clusters: int = 8) -> LookAgainConfig:
    vdim = case.train.vision.shape[-1] if case.train.vision is not None else None
    return LookAgainConfig(
        input_dim=case.train.motion.shape[-1],
        n_classes=len(case.classes),
        vision_dim=vdim,
        d_z=sizes.d_z,
        d_model=sizes.d_model,
        heads=sizes.heads,
        temporal_layers=sizes.temporal_layers,
        social_layers=1,
        aggregator_layers=1,
        max_len=sizes.window,
        rvq_codes=sizes.rvq_codes,
        gate_fraction=TRAIN_FRACTION,
        n_clusters=n_clusters,
        dropout=0.0,
    )


def _steps(ratio: float, sizes: EvalSizes) -> int:
    return max(1, round(sizes.steps * max(0.3, math.sqrt(ratio))))


def _epochs(sessions: Sequence[GateSession], sizes: EvalSizes, steps: int) -> int:
    windows = sum(
        len(cut_windows(s.motion.shape[0], sizes.window, sizes.window // 2)) for s in sessions
    )
    per_epoch = math.ceil(windows / _batch(sessions, sizes))
    return max(1, math.ceil(steps / per_epoch))


def _batch(sessions: Sequence[GateSession], sizes: EvalSizes) -> int:
    return max(1, sizes.sequences // int(sessions[0].motion.shape[1]))


def _seeded(build: Callable[[], Any], seed: int) -> Any:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return build()


def _train_lookagain(
    case: GateCase, sessions: list[GateSession], sizes: EvalSizes, seed: int, steps: int
) -> LookAgain:
    cfg = _model_config(case, sizes)
    model: LookAgain = _seeded(lambda: LookAgain(cfg), seed)
    train_gate(
        model,
        sessions,
        TrainConfig(
            epochs=_epochs(sessions, sizes, steps),
            batch_size=_batch(sessions, sizes),
            window=sizes.window,
            stride=sizes.window // 2,
            lr=sizes.lr,
            warmup_steps=max(1, steps // 10),
            checkpoint_every=10**9,
            seed=seed,
        ),
    )
    return model


class MotionTransformer(nn.Module):
    """Baseline: a plain transformer over time on the motion descriptor of each animal.

    ``Linear(Din -> d_model)`` plus learned positions, ``layers`` pre-norm transformer
    layers with the padding masked, a layer norm and a linear classifier: the LookAgain
    temporal stream without convolutions, RVQ, social transformer, gate or vision.
    """

    def __init__(
        self, input_dim: int, n_classes: int, d_model: int, heads: int, layers: int, max_len: int
    ) -> None:
        super().__init__()
        self.inp = nn.Linear(input_dim, d_model)
        self.positions = nn.Parameter(torch.randn(max_len, d_model) * 0.02)
        layer = nn.TransformerEncoderLayer(
            d_model, heads, 2 * d_model, 0.0, batch_first=True, norm_first=True
        )
        self.encoder = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(d_model)
        self.out = nn.Linear(d_model, n_classes)

    def forward(self, motion: torch.Tensor, time_mask: torch.Tensor) -> torch.Tensor:
        """``motion`` ``(B, A, T, Din)``, ``time_mask`` ``(B, T)`` -> logits ``(B, A, T, C)``."""
        b, a, t, d = motion.shape
        keep = time_mask[:, None, :].expand(b, a, t).reshape(b * a, t)
        x = self.inp(motion.reshape(b * a, t, d)) + self.positions[:t]
        x = self.encoder(x, src_key_padding_mask=~keep)
        logits: torch.Tensor = self.out(self.norm(x))
        return logits.reshape(b, a, t, -1)


def _train_transformer(
    case: GateCase, sessions: list[GateSession], sizes: EvalSizes, seed: int, steps: int
) -> MotionTransformer:
    model: MotionTransformer = _seeded(
        lambda: MotionTransformer(
            case.train.motion.shape[-1],
            len(case.classes),
            sizes.d_model,
            sizes.heads,
            sizes.temporal_layers,
            sizes.window,
        ),
        seed,
    )
    windows = [
        (i, start, stop)
        for i, s in enumerate(sessions)
        for start, stop in cut_windows(s.motion.shape[0], sizes.window, sizes.window // 2)
    ]
    per_epoch = math.ceil(len(windows) / _batch(sessions, sizes))
    total = _epochs(sessions, sizes, steps) * per_epoch
    weights = class_weights(
        torch.from_numpy(np.concatenate([s.labels.reshape(-1) for s in sessions])),
        len(case.classes),
    )
    opt = torch.optim.AdamW(model.parameters(), lr=sizes.lr, weight_decay=0.01)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, warmup_cosine(max(1, steps // 10), total))
    model.train()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        for step in range(total):
            rows = batch_rows(step, per_epoch, len(windows), _batch(sessions, sizes), seed)
            inputs, labels = batch_windows(sessions, [windows[j] for j in rows], sizes.window)
            logits = model(inputs["motion"], inputs["time_mask"])
            ok = (labels >= 0) & inputs["time_mask"][:, None, :]
            loss = nn.functional.cross_entropy(logits[ok], labels[ok], weight=weights)
            opt.zero_grad()
            torch.autograd.backward([loss])
            opt.step()
            sched.step()
    model.eval()
    return model


# --------------------------------------------------------------------------- evaluation


@dataclass(frozen=True)
class Prediction:
    """Predicted classes of a test session and the frames looked at.

    Attributes:
        codes: ``(frames, animals)`` int64 most probable class.
        looked: frames (x animals) the vision path looked at.
        valid: frames (x animals) with the animal present.
    """

    codes: NDArray[np.int64]
    looked: int
    valid: int


def _chunks(frames: int, window: int) -> list[tuple[int, int]]:
    return [(s, min(s + window, frames)) for s in range(0, frames, window)]


@torch.no_grad()
def evaluate_supervised(
    model: LookAgain | MotionTransformer,
    session: GateSession,
    window: int,
    *,
    fraction: float | None = None,
    uniform: bool = False,
) -> Prediction:
    """Predict every frame of ``session`` as ``ethoagent gate predict`` does.

    LookAgain: the frames to look at are fixed first (``select_frames``: top-k per
    disjoint window and animal), then the probabilities are averaged over overlapping
    windows (``predict_probabilities``); the transformer baseline averages its windows the
    same way.

    Args:
        model: a trained LookAgain model or the transformer baseline.
        session: the test session.
        window: frames per window.
        fraction: LookAgain's budget (top-k fraction per window); None = no vision input.
        uniform: replace the gate's top-k by ``uniform_selection`` at the same budget.
    """
    model.eval()
    present = (
        session.present if session.present is not None else np.ones(session.labels.shape, bool)
    )
    looked = 0
    if isinstance(model, MotionTransformer):
        transformer = model

        def forward(start: int, stop: int) -> NDArray[np.float32]:
            inputs, _ = batch_windows([session], [(0, start, stop)], window)
            logits = transformer(inputs["motion"], inputs["time_mask"])
            return np.asarray(torch.softmax(logits.float(), -1)[0].numpy().transpose(1, 0, 2))

        n_classes = int(model.out.out_features)
        probs = average_windows(session.labels.shape[0], window, n_classes, forward)
    elif fraction is None:
        keypoints_only = replace(session, vision=None)
        probs = predict_probabilities(model, keypoints_only, window)
    else:
        select = select_frames(model, session, window, fraction, uniform=uniform)
        looked = int(select.sum())
        probs = predict_probabilities(model, session, window, select=select)
    codes = np.asarray(probs.argmax(axis=-1), np.int64)
    return Prediction(codes=codes, looked=looked, valid=int(present.sum()))


def _f1(
    pred: NDArray[np.int64], truth: NDArray[np.int64], classes: Sequence[str]
) -> tuple[float, dict[str, float]]:
    """Macro-F1 over the classes present in ``truth`` and their per-class F1."""
    p, t = pred.T.ravel(), truth.T.ravel()
    ok = t >= 0
    present = np.unique(t[ok])
    per = f1_score(t[ok], p[ok], labels=present, average=None, zero_division=0)
    scores = {classes[int(c)]: float(f) for c, f in zip(present, per, strict=True)}
    return float(np.mean(per)), scores


# --------------------------------------------------------------------------- unsupervised


def _unsupervised(case: GateCase, sizes: EvalSizes, seed: int) -> dict[str, float]:
    """Hungarian macro-F1 of the three clusterings of the test session."""
    test = case.test
    truth = test.labels
    k = max(2, int(np.unique(truth[truth >= 0]).size))
    valid = test.present if test.present is not None else np.ones(truth.shape, bool)
    x = test.motion[valid].astype(np.float64)
    out: dict[str, float] = {}

    def score(labels_valid: NDArray[np.int64]) -> float:
        pred = np.full(truth.shape, -1, np.int64)
        pred[valid] = labels_valid
        ok = truth >= 0
        return hungarian_macro_f1(pred.T.ravel()[ok.T.ravel()], truth.T.ravel()[ok.T.ravel()])

    out["kmeans"] = score(kmeans_baseline(x, k=k, seed=seed))
    dec = fit_dec(x, DecConfig(k=k, seed=seed, cluster_iters=sizes.dec_iters))
    out["dec"] = score(dec.labels)
    out["lookagain_dec"] = score(_lookagain_dec(case, sizes, k, seed)[valid])
    return out


def _lookagain_dec(case: GateCase, sizes: EvalSizes, k: int, seed: int) -> NDArray[np.int64]:
    """Clusters ``(frames, animals)`` of the unsupervised LookAgain on the test session."""
    cfg = _model_config(case, sizes, n_clusters=k)
    model: LookAgain = _seeded(lambda: LookAgain(cfg), seed)
    session = replace(case.test, labels=np.full_like(case.test.labels, -1))
    sessions = [session]
    windows = [
        (0, s, e) for s, e in cut_windows(session.motion.shape[0], sizes.window, sizes.window // 2)
    ]
    per_epoch = math.ceil(len(windows) / _batch(sessions, sizes))
    pretrain_gate(
        model,
        sessions,
        PretrainConfig(
            epochs=max(1, math.ceil(sizes.pretrain_steps / per_epoch)),
            batch_size=_batch(sessions, sizes),
            window=sizes.window,
            stride=sizes.window // 2,
            lr=sizes.lr,
            warmup_steps=max(1, sizes.pretrain_steps // 10),
            checkpoint_every=10**9,
            seed=seed,
        ),
    )
    fraction = TRAIN_FRACTION if case.has_vision else None

    def forward(picks: list[tuple[int, int, int]]) -> Any:
        inputs, _ = batch_windows(sessions, picks, sizes.window)
        if fraction is None:
            inputs.pop("vision", None)
        return model(**inputs)

    with torch.no_grad():
        model.eval()
        outs = [forward([w]) for w in windows[:: max(1, len(windows) // 32)]]
        model.init_centroids(torch.cat([o.embedding[o.valid] for o in outs]), seed=seed)
    opt = torch.optim.AdamW(model.parameters(), lr=sizes.lr * 0.3, weight_decay=0.01)
    model.train()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        for step in range(sizes.dec_steps):
            rows = batch_rows(step, per_epoch, len(windows), _batch(sessions, sizes), seed)
            out = forward([windows[j] for j in rows])
            loss = dec_loss(out, model.config.tv_weight) + out.commit_loss + 0.1 * out.recon_loss
            opt.zero_grad()
            torch.autograd.backward([loss])
            opt.step()
    model.eval()
    frames, animals = session.labels.shape
    codes = np.zeros((frames, animals), np.int64)
    with torch.no_grad():
        for start, stop in _chunks(frames, sizes.window):
            out = forward([(0, start, stop)])
            codes[start:stop] = out.cluster_q[0].argmax(dim=-1).numpy().T
    return codes


# --------------------------------------------------------------------------- suite


def _key(ratio: float) -> str:
    return f"labels_{round(ratio * 100)}"


def _topk_key(fraction: float) -> str:
    return f"topk_{round(fraction * 100)}"


def _mean_std(values: Sequence[float]) -> tuple[float, float]:
    arr = np.asarray(values, np.float64)
    return round(float(arr.mean()), 4), round(float(arr.std()), 4)


def _run_case(
    case: GateCase, sizes: EvalSizes, seed0: int
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Train and score every method on one case; return table rows and metrics."""
    seeds = [seed0 + i for i in range(sizes.seeds)]
    # (method, ratio, topk) -> per-seed (macro, per-class, looked, valid)
    runs: dict[tuple[str, float, float | None], list[tuple[float, dict[str, float], int, int]]] = {}
    fractions = TOPK if case.has_vision else (0.0,)
    start = time.perf_counter()
    for ratio in LABEL_RATIOS:
        for seed in seeds:
            sessions = label_blocks(case.train, ratio, sizes.window, seed)
            la = _train_lookagain(case, sessions, sizes, seed, _steps(ratio, sizes))
            for frac in fractions:
                modes = [("lookagain", False)]
                if case.has_vision and 0.0 < frac < 1.0:
                    modes.append(("uniform", True))
                for method, uniform in modes:
                    pred = evaluate_supervised(
                        la,
                        case.test,
                        sizes.window,
                        fraction=frac if case.has_vision else None,
                        uniform=uniform,
                    )
                    macro, per = _f1(pred.codes, case.test.labels, case.classes)
                    runs.setdefault((method, ratio, frac), []).append(
                        (macro, per, pred.looked, pred.valid)
                    )
            tf = _train_transformer(case, sessions, sizes, seed, _steps(ratio, sizes))
            pred = evaluate_supervised(tf, case.test, sizes.window)
            macro, per = _f1(pred.codes, case.test.labels, case.classes)
            runs.setdefault(("transformer", ratio, None), []).append((macro, per, 0, pred.valid))
        first = label_blocks(case.train, ratio, sizes.window, seeds[0])
        labelled = np.concatenate([s.labels.ravel() for s in first])
        majority = int(np.bincount(labelled[labelled >= 0]).argmax())
        macro, per = _f1(np.full_like(case.test.labels, majority), case.test.labels, case.classes)
        runs[("majority", ratio, None)] = [(macro, per, 0, 0)]
    supervised_s = time.perf_counter() - start

    rows: list[dict[str, Any]] = []
    metrics: dict[str, Any] = {}
    for (method, ratio, budget), vals in runs.items():
        mean, std = _mean_std([v[0] for v in vals])
        per_class = {
            c: round(float(np.mean([v[1].get(c, 0.0) for v in vals])), 4) for c in vals[0][1]
        }
        looked, valid = vals[0][2], vals[0][3]
        topk = _topk_key(budget) if budget is not None else "-"
        if case.has_vision or budget is None:
            key = f"{case.name}.{method}.{_key(ratio)}" + (f".{topk}" if budget is not None else "")
        else:
            key = f"{case.name}.{method}.{_key(ratio)}.keypoints_only"
        metrics[f"macro_f1.{key}"] = mean
        rows.append(
            {
                "dataset": case.name,
                "method": method,
                "labels": f"{round(ratio * 100)}%",
                "topk": topk if case.has_vision else "keypoints only",
                "frames_looked_at": looked,
                "looked_fraction": round(looked / valid, 4) if valid else 0.0,
                "macro_f1": mean,
                "macro_f1_std": std,
                "seeds": len(vals),
                "per_class_f1": per_class,
            }
        )
    unsup: dict[str, list[float]] = {}
    start = time.perf_counter()
    for seed in seeds:
        for method, value in _unsupervised(case, sizes, seed).items():
            unsup.setdefault(method, []).append(value)
    unsupervised_s = time.perf_counter() - start
    for method, scores in unsup.items():
        mean, std = _mean_std(scores)
        metrics[f"unsupervised_macro_f1.{case.name}.{method}"] = mean
        rows.append(
            {
                "dataset": case.name,
                "method": method,
                "labels": "none",
                "topk": (
                    _topk_key(TRAIN_FRACTION)
                    if method == "lookagain_dec" and case.has_vision
                    else "-"
                ),
                "frames_looked_at": None,
                "looked_fraction": None,
                "macro_f1": mean,
                "macro_f1_std": std,
                "seeds": len(scores),
                "per_class_f1": "Hungarian-matched clusters",
            }
        )
    metrics[f"{case.name}.train_s"] = round(supervised_s, 1)
    metrics[f"{case.name}.unsupervised_s"] = round(unsupervised_s, 1)
    metrics[f"{case.name}.vision_crops"] = case.vision_crops
    metrics[f"{case.name}.vision_frames_encoded"] = case.vision_frames_encoded
    if case.has_vision:
        metrics.update(_claims(case.name, metrics))
    return rows, metrics


def _claims(name: str, metrics: dict[str, Any]) -> dict[str, Any]:
    """The paper's two claims at 100 % of the labels, as deltas and booleans."""
    base = f"macro_f1.{name}"
    full = metrics[f"{base}.lookagain.labels_100.topk_100"]
    at25 = metrics[f"{base}.lookagain.labels_100.topk_25"]
    uni25 = metrics[f"{base}.uniform.labels_100.topk_25"]
    return {
        f"{name}.claim_topk25_minus_topk100": round(at25 - full, 4),
        f"{name}.claim_topk25_within_0.02": bool(at25 >= full - 0.02),
        f"{name}.claim_gate_minus_uniform_at_25": round(at25 - uni25, 4),
        f"{name}.claim_gate_beats_uniform_at_25": bool(at25 > uni25),
    }


@register_suite(
    "gate",
    "LookAgain gate model (keypoints + EfficientNet-Lite0 crops where looked at) on "
    "synthetic 1- and 3-mouse rendered sessions and BehaviorDEPOT freezing (keypoints "
    "only): per-class and macro-F1 at top-k 0/25/50/100 % of frames, learned gate vs "
    "uniform sampling, 10/30/100 % of labels, next to a plain transformer, a majority "
    "floor and KMeans/DEC for the unsupervised head; mean and spread over seeds.",
)
def gate_suite(options: SuiteOptions) -> SuiteResult:
    sizes = QUICK if options.quick else EvalSizes()
    torch_threads = torch.get_num_threads()
    start = time.perf_counter()
    cases, notes = gate_cases(sizes, seed=options.seed)
    data_s = time.perf_counter() - start
    rows: list[dict[str, Any]] = []
    metrics: dict[str, Any] = {
        "topk": list(TOPK),
        "label_ratios": list(LABEL_RATIOS),
        "seeds": sizes.seeds,
        "data_s": round(data_s, 1),
        "torch_threads": torch_threads,
    }
    for case in cases:
        case_rows, case_metrics = _run_case(case, sizes, options.seed)
        rows += case_rows
        metrics.update(case_metrics)
        notes.append(
            f"{case.name}: {case.source}; classes {', '.join(case.classes)}; vision: "
            + (
                f"{case.encoder} on {sizes.crop_px} px animal-centred crops, "
                f"{case.vision_crops} crops embedded, {case.vision_frames_encoded} sent to "
                "the encoder in this run (the rest from the on-disk cache)."
                if case.has_vision
                else "none (keypoint path)."
            )
        )
    notes += _claim_notes(metrics, cases)
    notes += [
        f"Sizes: {sizes.model_dump()} (paper: d_model 256, d_z 128, 4 temporal layers, "
        "512 codes); RVQ 2 levels, social and aggregation transformers 1 layer each.",
        "frames_looked_at = frames x animals of the test session the vision path looked "
        "at (disjoint windows; k = max(1, round(top-k x valid frames)) per window "
        "and animal): what a deployment sends to the vision encoder. Every method is "
        "scored as `ethoagent gate predict` labels: probabilities averaged over windows "
        "overlapping by half, reading the selected frames only. Training needs the "
        "embeddings of every training frame (the noisy top-k moves).",
        "uniform = the same trained model with the gate's choice replaced by evenly "
        "spaced frames at the same k (an inference-time ablation, not a separately "
        "trained model).",
        "Label ratios use seeded random blocks of one window of the training session; the "
        "majority floor uses the first seed's blocks.",
        "Macro-F1 = mean of the per-class F1 over the classes present in the test truth; "
        "unsupervised rows use Hungarian-matched macro-F1 with K = number of test classes.",
        "BehaviorDEPOT: the shared data holds no video for demo1 (the upstream README says "
        "to download videos separately), so only the keypoint path runs there.",
    ]
    return SuiteResult(
        metrics=metrics,
        table=rows,
        figures={"gate_f1_vs_budget": _figure(rows, cases)},
        notes=list(dict.fromkeys(notes)),
    )


def _claim_notes(metrics: dict[str, Any], cases: Sequence[GateCase]) -> list[str]:
    notes = []
    for case in cases:
        if not case.has_vision:
            continue
        d1 = metrics[f"{case.name}.claim_topk25_minus_topk100"]
        d2 = metrics[f"{case.name}.claim_gate_minus_uniform_at_25"]
        notes.append(
            f"{case.name}, 100 % labels: top-k 25 % minus top-k 100 % = {d1:+.4f} macro-F1 "
            f"(paper: within 0.02 -> {'holds' if d1 >= -0.02 else 'does not hold'}); learned "
            f"gate minus uniform at 25 % = {d2:+.4f} "
            f"(paper: gate beats uniform -> {'holds' if d2 > 0 else 'does not hold'}); "
            "differences smaller than the seed spread in the table are not evidence either way."
        )
    return notes


def _figure(rows: list[dict[str, Any]], cases: Sequence[GateCase]) -> bytes:
    """Macro-F1 against the fraction of frames looked at, learned vs uniform, per case."""
    vis = [c for c in cases if c.has_vision]
    fig, _ = new_figure(4.2 * max(1, len(vis)), 3.4)
    fig.clear()
    axes = np.atleast_1d(fig.subplots(1, max(1, len(vis))))
    styles = {1.0: "-", 0.3: "--", 0.1: ":"}
    for ax, case in zip(axes, vis, strict=False):
        for method, colour in (("lookagain", "C0"), ("uniform", "C1")):
            for ratio in LABEL_RATIOS:
                pts = [
                    (r["looked_fraction"], r["macro_f1"], r["macro_f1_std"])
                    for r in rows
                    if r["dataset"] == case.name
                    and r["labels"] == f"{round(ratio * 100)}%"
                    and (
                        r["method"] == method
                        or (r["method"] == "lookagain" and r["topk"] in ("topk_0", "topk_100"))
                    )
                ]
                if not pts:
                    continue
                pts.sort()
                x, y, e = (np.array(v) for v in zip(*pts, strict=True))
                ax.errorbar(
                    x,
                    y,
                    yerr=e,
                    color=colour,
                    ls=styles[ratio],
                    marker="o",
                    ms=3,
                    capsize=2,
                    label=f"{'learned gate' if method == 'lookagain' else 'uniform'}, "
                    f"{round(ratio * 100)}% labels",
                )
        tf = [
            r["macro_f1"]
            for r in rows
            if r["dataset"] == case.name and r["method"] == "transformer" and r["labels"] == "100%"
        ]
        if tf:
            ax.axhline(tf[0], color="k", lw=1, label="transformer (motion), 100% labels")
        ax.set_xlabel("fraction of frames looked at")
        ax.set_ylabel("macro-F1 (test)")
        ax.set_title(case.name)
    if vis:
        axes[-1].legend(frameon=False, fontsize=7, loc="upper left", bbox_to_anchor=(1.02, 1.0))
    return png_bytes(fig)
