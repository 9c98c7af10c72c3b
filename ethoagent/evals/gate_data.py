"""Data sets of the ``gate`` eval suite: sizes, cases and the rendered synthetic sessions.

- ``synthetic_1``: one simulated mouse (``simulate_world``), rendered by the overhead
  camera of the ``paper-like`` preset (320x240 px, 30 fps, sensor noise, motion blur,
  distractor spots, light drift). Keypoints = the exact projections of the marks the
  camera sees (hidden marks missing, confidence 0); vision = EfficientNet-Lite0
  embeddings of animal-centred crops of the rendered frames. Train and test are two
  worlds with different seeds. Truth: still, walking, darting, turning, rearing, grooming.
- ``synthetic_3``: three simulated mice, same camera; truth adds the social labels.
- ``behaviordepot_demo1``: BehaviorDEPOT demo1 (one mouse, DeepLabCut 2D, 50 fps), human
  freezing; train = the first 60 % of the frames, test = the rest. Keypoint path only.

Every case is described by ``graphs.gate.descriptor.describe_gate_motion`` and
standardised with its training session's mean and SD, as ``gate train`` does. Embeddings
are cached under ``$ETHOAGENT_GATE_EVAL_CACHE`` (default ``.cache/gate-eval-embeddings``
in the repository), keyed by a hash of the simulated world, camera, render settings and
renderer source.
"""

from __future__ import annotations

import hashlib
import inspect
import os
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
from pydantic import BaseModel, ConfigDict

from ethoagent.errors import InputError
from ethoagent.evals.datasets import load_dataset, shared_data_dir
from ethoagent.graphs.gate.descriptor import describe_gate_motion, standardise
from ethoagent.graphs.gate.fitted import feature_scale
from ethoagent.nn.train_gate import GateSession
from ethoagent.sim import render as render_module
from ethoagent.sim.behaviour import BEHAVIOURS, INDIVIDUAL_BEHAVIOURS
from ethoagent.sim.render import compute_visibility, make_occluders, render_view
from ethoagent.sim.simulate import PRESETS
from ethoagent.sim.synthetic import KEYPOINTS, simulate_world
from ethoagent.tools.cameras import make_ring_cameras, project_points
from ethoagent.tools.vision import (
    ClassicalEncoder,
    CropEmbedder,
    EmbeddingCache,
    VisionEncoder,
    animal_boxes,
)

__all__ = [
    "LABEL_RATIOS",
    "QUICK",
    "TOPK",
    "TRAIN_FRACTION",
    "EvalSizes",
    "GateCase",
    "behaviordepot_case",
    "gate_cases",
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
    seeds=1,
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
