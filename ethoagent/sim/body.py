"""A second simulated body: a rat with 16 keypoints, its 2D views and spoilt candidates.

So that nothing stays welded to the 12-mark mouse, ``simulate_rat`` moves a 16-keypoint rat
(head, shoulders, forepaws, hips, hindpaws, tail: six regions of 2-3 keypoints) through an
arena 1.8x the mouse's, driven by the same behaviour program (``synthetic.simulate_world``:
walking, darting, turning, rearing, grooming), with a trotting gait (diagonal paws in
phase, swing lifted), a swaying tail and a head that yaws and nods. ``write_body_session``
projects it into a ring rig (``tools.cameras.make_ring_cameras``, scaled to the arena) and
writes what a markerless lab has: one video per camera (the keypoints drawn as dots on a
dark floor), ``calibration.toml``, a skeleton TOML (keypoints, bones, left/right pairs,
regions), 3 seed frames of exact labels, and a 2D model's predictions per camera spoilt the
way such a model errs (1 px jitter, then ``sim.spoil.corrupt_labels``: a left/right swap in
one view on 10 % of frames, 30-80 px outliers on 5 % of the points, a view unpredicted on
5 % of frames and 5 % of single points missing), with the ground truth (3D, clean 2D, what
was spoilt).

Everything is seeded: the same arguments give the same files.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from numpy.typing import NDArray

from ethoagent.errors import InputError
from ethoagent.io.calibration import write_calibration
from ethoagent.io.keypoints import write_keypoints
from ethoagent.model.camera import Camera
from ethoagent.model.pose import PoseData
from ethoagent.model.skeleton import Skeleton
from ethoagent.sim.render import VideoSink
from ethoagent.sim.spoil import Corruption, corrupt_labels
from ethoagent.sim.synthetic import simulate_world
from ethoagent.tools.cameras import make_ring_cameras, project_points
from ethoagent.tools.labelling import write_seed_labels

RAT16 = Skeleton(
    name="rat16",
    keypoints=(
        "nose",
        "ear_left",
        "ear_right",
        "neck",
        "shoulder_left",
        "shoulder_right",
        "forepaw_left",
        "forepaw_right",
        "back_mid",
        "hip_left",
        "hip_right",
        "hindpaw_left",
        "hindpaw_right",
        "tail_base",
        "tail_mid",
        "tail_tip",
    ),
    bones=(
        ("nose", "ear_left"),
        ("nose", "ear_right"),
        ("ear_left", "neck"),
        ("ear_right", "neck"),
        ("neck", "shoulder_left"),
        ("neck", "shoulder_right"),
        ("shoulder_left", "forepaw_left"),
        ("shoulder_right", "forepaw_right"),
        ("neck", "back_mid"),
        ("back_mid", "hip_left"),
        ("back_mid", "hip_right"),
        ("hip_left", "hindpaw_left"),
        ("hip_right", "hindpaw_right"),
        ("back_mid", "tail_base"),
        ("tail_base", "tail_mid"),
        ("tail_mid", "tail_tip"),
    ),
    left_right=(
        ("ear_left", "ear_right"),
        ("shoulder_left", "shoulder_right"),
        ("forepaw_left", "forepaw_right"),
        ("hip_left", "hip_right"),
        ("hindpaw_left", "hindpaw_right"),
    ),
    regions={
        "head": ("nose", "ear_left", "ear_right"),
        "shoulders": ("neck", "shoulder_left", "shoulder_right"),
        "forepaws": ("forepaw_left", "forepaw_right"),
        "hips": ("back_mid", "hip_left", "hip_right"),
        "hindpaws": ("hindpaw_left", "hindpaw_right"),
        "tail": ("tail_base", "tail_mid", "tail_tip"),
    },
)
"""The simulated rat: 16 keypoints, 16 bones, 5 left/right pairs, 6 regions."""

# Body-frame template (mm): x forward, y left, z up; keypoint order RAT16.keypoints.
_TEMPLATE = np.array(
    [
        [100.0, 0.0, 40.0],  # nose
        [72.0, 16.0, 56.0],  # ear_left
        [72.0, -16.0, 56.0],  # ear_right
        [50.0, 0.0, 62.0],  # neck
        [36.0, 22.0, 46.0],  # shoulder_left
        [36.0, -22.0, 46.0],  # shoulder_right
        [42.0, 20.0, 3.0],  # forepaw_left
        [42.0, -20.0, 3.0],  # forepaw_right
        [0.0, 0.0, 72.0],  # back_mid
        [-40.0, 25.0, 50.0],  # hip_left
        [-40.0, -25.0, 50.0],  # hip_right
        [-42.0, 28.0, 3.0],  # hindpaw_left
        [-42.0, -28.0, 3.0],  # hindpaw_right
        [-76.0, 0.0, 40.0],  # tail_base
        [-136.0, 0.0, 16.0],  # tail_mid
        [-196.0, 0.0, 5.0],  # tail_tip
    ]
)
_IDX = {k: i for i, k in enumerate(RAT16.keypoints)}
_HEAD = [_IDX[k] for k in ("nose", "ear_left", "ear_right")]
_FRONT = [_IDX[k] for k in RAT16.keypoints[:8]]  # pitched up when rearing
_PAWS = {  # paw -> gait phase (trot: diagonal paws together)
    _IDX["forepaw_left"]: 0.0,
    _IDX["hindpaw_right"]: 0.0,
    _IDX["forepaw_right"]: np.pi,
    _IDX["hindpaw_left"]: np.pi,
}
_SCALE = 1.8
"""Arena and rig of the rat: this many times the mouse's (``simulate_world``, ring rig)."""
_REAR_PIVOT = np.array([-40.0, 0.0, 50.0])
_STRIDE_MM = 90.0


def simulate_rat(frames: int, *, fps: float = 30.0, seed: int = 0) -> NDArray[np.float64]:
    """3D keypoints of one simulated rat, ``(frames, 16, 3)`` mm, arena frame (z up).

    The body centre, heading and rearing pitch follow ``synthetic.simulate_world`` (one
    animal, positions scaled 1.8x to a 270 mm arena); paws trot with a stride set by the
    speed (swing lifted up to 12 mm), the tail sways and the head yaws and nods.

    Args:
        frames: number of frames (>= 1).
        fps: frame rate, Hz.
        seed: random seed; the same arguments give the same motion.

    Returns:
        ``(frames, 16, 3)`` float64 millimetres, keypoint order ``RAT16.keypoints``.
    """
    world = simulate_world(frames, animals=1, fps=fps, seed=seed)
    pos = world.position[:, 0] * _SCALE
    heading = world.heading[:, 0]
    pitch = world.pitch[:, 0]
    t = np.arange(frames) / fps
    speed = np.r_[0.0, np.hypot(*np.diff(pos, axis=0).T) * fps]
    phase = 2 * np.pi * np.cumsum(speed / fps) / _STRIDE_MM
    body = np.broadcast_to(_TEMPLATE, (frames, *_TEMPLATE.shape)).copy()
    reach = np.clip(speed / 300.0, 0.0, 1.0) * 0.3 * _STRIDE_MM
    for k, offset in _PAWS.items():
        body[:, k, 0] += reach * np.sin(phase + offset)
        body[:, k, 2] += 12.0 * np.clip(np.cos(phase + offset), 0.0, None) * (reach > 2.0)
    sway = np.sin(2 * np.pi * 0.6 * t + seed)
    body[:, _IDX["tail_mid"], 1] += 18.0 * sway
    body[:, _IDX["tail_tip"], 1] += 45.0 * np.sin(2 * np.pi * 0.6 * t + seed - 0.9)
    yaw = 0.25 * np.sin(2 * np.pi * 0.4 * t + 2 * seed)
    nod = 8.0 * np.sin(2 * np.pi * 0.9 * t)
    c, s = np.cos(yaw)[:, None], np.sin(yaw)[:, None]
    rel = body[:, _HEAD, :2] - np.array([50.0, 0.0])
    body[:, _HEAD, 0] = 50.0 + c * rel[..., 0] - s * rel[..., 1]
    body[:, _HEAD, 1] = s * rel[..., 0] + c * rel[..., 1]
    body[:, _HEAD, 2] += nod[:, None]
    # rearing pitches the front about the hips
    cp, sp = np.cos(pitch)[:, None], np.sin(pitch)[:, None]
    front = body[:, _FRONT] - _REAR_PIVOT
    body[:, _FRONT, 0] = _REAR_PIVOT[0] + cp * front[..., 0] - sp * front[..., 2]
    body[:, _FRONT, 2] = _REAR_PIVOT[2] + sp * front[..., 0] + cp * front[..., 2]
    ch, sh = np.cos(heading)[:, None], np.sin(heading)[:, None]
    out = np.empty_like(body)
    out[..., 0] = pos[:, None, 0] + ch * body[..., 0] - sh * body[..., 1]
    out[..., 1] = pos[:, None, 1] + sh * body[..., 0] + ch * body[..., 1]
    out[..., 2] = np.maximum(body[..., 2], 1.0)
    return out


@dataclass(frozen=True, eq=False)
class BodySession:
    """A simulated markerless session of the rat, as written by ``write_body_session``.

    Attributes:
        root: the session folder.
        videos: folder of one video per camera (``<camera>.mp4``).
        calibration: ``calibration.toml`` (mm).
        skeleton: the skeleton TOML (``RAT16``: keypoints, bones, left/right, regions).
        seeds: ``seeds.csv`` (``frame,view,keypoint,x,y``) of ``seed_frames``.
        candidates: folder of one DeepLabCut CSV of spoilt predictions per camera.
        cameras: the rig, in calibration order.
        points_3d: ``(frames, 16, 3)`` mm, the true keypoints.
        points_2d: ``(frames, views, 16, 2)`` pixels, their exact projections (NaN
            outside the image); the seeds and videos show these.
        predictions: the same shape, the 2D model's predictions before the spoiling
            (``points_2d`` plus ``noise_px`` jitter).
        corruption: the spoilt predictions (the candidates files) and what was done.
        seed_frames: the seed frames.
    """

    root: Path
    videos: Path
    calibration: Path
    skeleton: Path
    seeds: Path
    candidates: Path
    cameras: list[Camera]
    points_3d: NDArray[np.float64]
    points_2d: NDArray[np.float64]
    predictions: NDArray[np.float64]
    corruption: Corruption
    seed_frames: list[int]


def skeleton_toml(skeleton: Skeleton) -> str:
    """A skeleton TOML (``io.skeletons.read_skeleton``) stating everything of ``skeleton``."""

    def names(seq: tuple[str, ...]) -> str:
        return "[" + ", ".join(f'"{k}"' for k in seq) + "]"

    lines = [
        f'name = "{skeleton.name}"',
        f"keypoints = {names(skeleton.keypoints)}",
        "bones = [" + ", ".join(names(b) for b in skeleton.bones) + "]",
        "left_right = [" + ", ".join(names(p) for p in skeleton.left_right) + "]",
        "",
        "[regions]",
        *(f"{r} = {names(ks)}" for r, ks in skeleton.regions.items()),
    ]
    return "\n".join(lines) + "\n"


def write_body_session(
    out_dir: str | os.PathLike[str],
    *,
    frames: int,
    views: int = 6,
    seed: int = 0,
    fps: float = 30.0,
    size: tuple[int, int] = (320, 240),
    noise_px: float = 1.0,
) -> BodySession:
    """Simulate the rat and write a markerless session of it to ``out_dir``.

    Args:
        out_dir: destination folder (created; must not hold a session already).
        frames: number of frames (>= 3: the seeds are the first, middle and last).
        views: cameras, including the overhead one (>= 2).
        seed: seeds the motion, the rig's jitter and the spoiling.
        fps: frame rate, Hz.
        size: image ``(width, height)``, pixels.
        noise_px: standard deviation of the 2D model's jitter on every prediction, pixels
            (before the spoiling).

    Returns:
        The paths written and the ground truth.

    Raises:
        InputError: fewer than 3 frames or 2 views, or ``out_dir`` already holds a session.
    """
    if frames < 3 or views < 2:
        raise InputError(
            f"a body session needs >= 3 frames and >= 2 views; got {frames} and {views}.",
            fix="pass more frames (3 seeds are taken) and at least 2 views.",
        )
    root = Path(out_dir)
    if (root / "calibration.toml").exists():
        raise InputError(
            f"{root} already holds a session (calibration.toml).",
            fix="pass an empty or new folder.",
        )
    truth = simulate_rat(frames, fps=fps, seed=seed)
    cams = make_ring_cameras(
        views,
        radius_mm=400.0 * _SCALE,
        height_mm=300.0 * _SCALE,
        size=size,
        focal_px=280.0 * size[0] / 320.0,
        seed=seed,
    )
    uv = np.moveaxis(project_points(cams, truth), 2, 1)  # (F, V, K, 2)
    width, height = size
    outside = (uv[..., 0] < 0) | (uv[..., 0] > width - 1) | (uv[..., 1] < 0)
    uv[outside | (uv[..., 1] > height - 1)] = np.nan
    jitter = np.random.default_rng([seed, 0xB0D7]).normal(0.0, noise_px, uv.shape)
    spoilt = corrupt_labels(uv + jitter, RAT16.left_right_index, seed=seed, missing=0.05)
    seed_frames = [0, frames // 2, frames - 1]
    _write_files(root, cams, uv, spoilt.points_2d, seed_frames, fps=fps)
    return BodySession(
        root=root,
        videos=root / "videos",
        calibration=root / "calibration.toml",
        skeleton=root / "skeleton.toml",
        seeds=root / "seeds.csv",
        candidates=root / "candidates",
        cameras=cams,
        points_3d=truth,
        points_2d=uv,
        predictions=uv + jitter,
        corruption=spoilt,
        seed_frames=seed_frames,
    )


def _write_files(
    root: Path,
    cams: list[Camera],
    uv: NDArray[np.float64],
    candidates: NDArray[np.float64],
    seed_frames: list[int],
    *,
    fps: float,
) -> None:
    """Calibration, skeleton TOML, seeds, one candidates CSV and one video per camera.

    Args:
        root: the session folder.
        cams: the rig.
        uv: ``(frames, views, 16, 2)`` pixels, the true projections (seeds, videos).
        candidates: the same shape, the spoilt predictions.
        seed_frames: frames written to ``seeds.csv``.
        fps: frame rate of the videos, Hz.
    """
    (root / "videos").mkdir(parents=True, exist_ok=True)
    (root / "candidates").mkdir(exist_ok=True)
    write_calibration(root / "calibration.toml", cams, {"unit": "mm", "body": RAT16.name})
    (root / "skeleton.toml").write_text(skeleton_toml(RAT16), encoding="utf-8")
    write_seed_labels(
        root / "seeds.csv", seed_frames, uv[seed_frames], [c.name for c in cams], RAT16.keypoints
    )
    for v, cam in enumerate(cams):
        pts = candidates[:, v][:, None]
        write_keypoints(
            PoseData(
                points=pts,
                confidence=np.where(np.isfinite(pts[..., 0]), 0.9, np.nan),
                keypoints=RAT16.keypoints,
                individuals=("rat",),
            ),
            root / "candidates" / f"{cam.name}.csv",
            format="dlc",
        )
        _write_video(root / "videos" / f"{cam.name}.mp4", uv[:, v], fps=fps, size=cam.size)


def _write_video(path: Path, uv: NDArray[np.float64], *, fps: float, size: tuple[int, int]) -> None:
    """One view's video: the true keypoints ``(frames, K, 2)`` as grey dots on dark floor."""
    width, height = size
    with VideoSink(path, fps=fps, size=size) as sink:
        for pts in uv:
            image = np.full((height, width, 3), 30, dtype=np.uint8)
            for x, y in pts[np.isfinite(pts[:, 0])]:
                cv2.circle(image, (round(x), round(y)), 3, (200, 200, 200), -1, cv2.LINE_AA)
            sink(image)


__all__ = ["RAT16", "BodySession", "simulate_rat", "skeleton_toml", "write_body_session"]
