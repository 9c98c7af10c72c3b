"""Render a synthetic world into per-view video frames with exact visibility ground truth.

Each frame of each view is drawn with OpenCV in greyscale and written as BGR: an arena
floor (a lit disk with a static texture), the mice as shaded body ellipsoids (their exact
perspective outlines from the dual quadric ``P Q* Pᵀ``, darker at the rim, highlighted on
top), a tail polyline, and the 12 quantum-dot-style marks as small bright blobs. A mark is
drawn only where the camera sees it: ``compute_visibility`` intersects the ray from the
camera centre to the mark with every body ellipsoid (all animals) and every static
obstacle; a mark behind a body, inside a body (a paw at the face), outside the image or
behind the camera is invisible and is not drawn. Hard-mode effects: motion blur
(marks streak from their previous position), sensor noise, specular distractor spots that
look like marks, slow and sudden lighting changes, and dropped frames (the camera repeats
its previous image; the drop is recorded per view and frame).

Outlines ignore lens distortion beyond moving each ellipse to its distorted centre (a
sub-pixel difference at these distortions); marks and ground truth use the full model.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from numpy.typing import NDArray
from pydantic import BaseModel, ConfigDict, Field

from ethoagent.errors import InputError
from ethoagent.model.camera import Camera
from ethoagent.sim.synthetic import World, body_ellipsoids
from ethoagent.tools.cameras import project_points

_MIN_DEPTH_MM = 1.0


class RenderSettings(BaseModel):
    """Image-level difficulty knobs of the renderer.

    Attributes:
        noise_std: sensor noise standard deviation, grey levels (0–255 scale).
        motion_blur: 0 = sharp marks; 1 = marks streak over the whole inter-frame motion.
        distractors: number of specular distractor spots (mark-like bright blobs).
        distractor_on: fraction of frames a distractor is lit in a view that sees it.
        lighting_amplitude: relative amplitude of slow gain drift (0.1 = ±10 %).
        lighting_jumps: expected number of sudden lighting changes per 1,000 frames.
        dropped_frame_rate: probability per view and frame that the camera drops a frame.
        obstacles: number of static spherical obstacles (occluders) on the arena floor.
        mark_radius_mm: radius of a mark blob, mm.
        mark_brightness: grey level of a mark's centre (0–255).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    noise_std: float = Field(3.0, ge=0.0, le=60.0)
    motion_blur: float = Field(0.5, ge=0.0, le=1.0)
    distractors: int = Field(4, ge=0, le=64)
    distractor_on: float = Field(0.6, ge=0.0, le=1.0)
    lighting_amplitude: float = Field(0.1, ge=0.0, le=0.8)
    lighting_jumps: float = Field(1.0, ge=0.0, le=50.0)
    dropped_frame_rate: float = Field(0.0, ge=0.0, le=0.5)
    obstacles: int = Field(0, ge=0, le=8)
    mark_radius_mm: float = Field(1.5, gt=0.0, le=10.0)
    mark_brightness: int = Field(250, ge=1, le=255)


@dataclass(frozen=True)
class Occluders:
    """Ellipsoids that hide marks, per frame.

    Attributes:
        centres: ``(frames, M, 3)`` float64, mm.
        rotations: ``(frames, M, 3, 3)`` float64 (columns = ellipsoid axes, arena frame).
        semi_axes: ``(frames, M, 3)`` float64, mm.
        shade: ``(M,)`` int64 base grey level of each ellipsoid when drawn.
    """

    centres: NDArray[np.float64]
    rotations: NDArray[np.float64]
    semi_axes: NDArray[np.float64]
    shade: NDArray[np.int64]


def make_occluders(world: World, *, obstacles: int = 0, seed: int = 0) -> Occluders:
    """The body ellipsoids of every animal plus ``obstacles`` static spheres.

    Args:
        world: the simulated world.
        obstacles: number of static spheres (radius 15–25 mm) resting on the floor.
        seed: random seed for the obstacles' places.

    Returns:
        All occluders; the animals' come first (animal-major, ``ELLIPSOIDS`` order).
    """
    centres, rots, axes = body_ellipsoids(world)
    f, a, e = centres.shape[:3]
    c = centres.reshape(f, a * e, 3)
    r = rots.reshape(f, a * e, 3, 3)
    s = np.broadcast_to(axes, (f, a, e, 3)).reshape(f, a * e, 3)
    shade = np.tile(np.array([70, 80]), a)
    if obstacles:
        rng = np.random.default_rng([seed, 0x0B5])
        rad = rng.uniform(15.0, 25.0, obstacles)
        ang = rng.uniform(-np.pi, np.pi, obstacles)
        dist = rng.uniform(0.3, 0.85, obstacles) * world.arena_radius_mm
        oc = np.stack([dist * np.cos(ang), dist * np.sin(ang), rad], axis=1)
        c = np.concatenate([c, np.broadcast_to(oc, (f, obstacles, 3))], axis=1)
        r = np.concatenate([r, np.broadcast_to(np.eye(3), (f, obstacles, 3, 3))], axis=1)
        s = np.concatenate([s, np.broadcast_to(rad[:, None], (f, obstacles, 3))], axis=1)
        shade = np.concatenate([shade, np.full(obstacles, 150)])
    return Occluders(c, r, np.ascontiguousarray(s), shade.astype(np.int64))


def compute_visibility(
    cameras: Sequence[Camera],
    points_3d: NDArray[np.float64],
    occluders: Occluders,
    *,
    tolerance_mm: float = 0.5,
) -> NDArray[np.bool_]:
    """Which marks each camera sees (ray casting against every occluding ellipsoid).

    A mark is hidden when the segment from the camera centre to the mark enters an
    ellipsoid more than ``tolerance_mm`` before reaching the mark (so a mark lying on the
    near surface stays visible), when it is inside an ellipsoid, behind the camera or
    projected outside the image.

    Args:
        cameras: the views.
        points_3d: ``(frames, animals, keypoints, 3)`` float64, mm.
        occluders: from ``make_occluders``, same frames.
        tolerance_mm: how far before the mark an entry still counts as "on the surface".

    Returns:
        ``(frames, views, animals, keypoints)`` bool, True = visible.
    """
    pts = np.asarray(points_3d, dtype=np.float64)
    if pts.ndim != 4 or pts.shape[-1] != 3:
        raise InputError(
            f"points_3d must be (frames, animals, keypoints, 3); found shape {pts.shape}.",
            fix="pass World.points_3d.",
        )
    f, a, k, _ = pts.shape
    if occluders.centres.shape[0] != f:
        raise InputError(
            f"occluders cover {occluders.centres.shape[0]} frames but points_3d has {f}.",
            fix="build the occluders from the same world.",
        )
    # Points in each occluder's unit-sphere frame: (F, A*K, M, 3)
    inv_axes = 1.0 / occluders.semi_axes[:, None]  # (F, 1, M, 3)
    rel = pts.reshape(f, a * k, 1, 3) - occluders.centres[:, None]
    x = np.einsum("fmji,fnmj->fnmi", occluders.rotations, rel) * inv_axes
    uv = project_points(cameras, pts)  # (F, A, K, V, 2)
    vis = np.empty((f, len(cameras), a, k), dtype=bool)
    for v, cam in enumerate(cameras):
        c_rel = cam.center[None, None, :] - occluders.centres  # (F, M, 3)
        o = np.einsum("fmji,fmj->fmi", occluders.rotations, c_rel)[:, None] * inv_axes
        d = x - o  # (F, N, M, 3) in unit-sphere space; segment o + s d, s in [0, 1]
        dd = np.einsum("fnmi,fnmi->fnm", d, d)
        od = np.einsum("fnmi,fnmi->fnm", o, d)
        oo = np.einsum("fnmi,fnmi->fnm", o, o) - 1.0
        disc = od * od - dd * oo
        root = np.sqrt(np.clip(disc, 0.0, None))
        s1 = (-od - root) / dd
        s2 = (-od + root) / dd
        length = np.linalg.norm(pts.reshape(f, a * k, 3) - cam.center, axis=-1)  # (F, N)
        tol = (tolerance_mm / np.maximum(length, 1e-9))[:, :, None]
        hidden = np.any((disc > 0) & (s1 < 1.0 - tol) & (s2 > 0.0), axis=-1)
        w, h = cam.size
        p = uv[:, :, :, v].reshape(f, a * k, 2)
        inside = (p[..., 0] >= 0) & (p[..., 0] <= w - 1) & (p[..., 1] >= 0) & (p[..., 1] <= h - 1)
        vis[:, v] = (~hidden & inside & np.all(np.isfinite(p), axis=-1)).reshape(f, a, k)
    return vis


def _ellipse_params(
    camera: Camera, occ: Occluders
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    """Image ellipses of every occluder: centre (F, M, 2), axes (F, M, 2), angle deg, depth."""
    f, m = occ.centres.shape[:2]
    proj = camera.matrix @ np.hstack([camera.R, camera.tvec[:, None]])  # (3, 4)
    h = np.zeros((f, m, 4, 4))
    h[..., :3, :3] = occ.rotations * occ.semi_axes[:, :, None, :]
    h[..., :3, 3] = occ.centres
    h[..., 3, 3] = 1.0
    ph = np.einsum("ij,fmjk->fmik", proj, h)  # (F, M, 3, 4)
    sign = np.array([1.0, 1.0, 1.0, -1.0])
    cstar = np.einsum("fmik,k,fmjk->fmij", ph, sign, ph)
    cstar = cstar / -cstar[..., 2:3, 2:3]
    x0 = -cstar[..., :2, 2]
    a = cstar[..., :2, :2] + x0[..., :, None] * x0[..., None, :]
    evals, evecs = np.linalg.eigh(a)
    axes = np.sqrt(np.clip(evals, 0.0, None))
    angle = np.degrees(np.arctan2(evecs[..., 1, 0], evecs[..., 0, 0]))
    depth = (occ.centres @ camera.R.T + camera.tvec)[..., 2]
    # the pinhole outline, moved by the lens distortion of its centre
    full = project_points([camera], occ.centres, nan_behind=False)[..., 0, :]
    cam = occ.centres @ camera.R.T + camera.tvec
    pin = cam @ camera.matrix.T
    pin_px = pin[..., :2] / np.maximum(pin[..., 2:3], _MIN_DEPTH_MM)
    shift = np.where(np.isfinite(full), full - pin_px, 0.0)
    centre = x0 + shift
    return centre, axes, angle, depth


def _background(
    camera: Camera, arena_radius_mm: float, rng: np.random.Generator
) -> NDArray[np.uint8]:
    w, h = camera.size
    img = np.full((h, w), 35, dtype=np.uint8)
    theta = np.linspace(0.0, 2 * np.pi, 181)
    rim = np.stack([np.cos(theta), np.sin(theta), np.zeros_like(theta)], axis=1)
    floor = project_points([camera], rim * [arena_radius_mm, arena_radius_mm, 0.0])[:, 0]
    wall = project_points([camera], rim * [arena_radius_mm, arena_radius_mm, 0.0] + [0, 0, 60.0])
    ok = np.all(np.isfinite(floor), axis=1)
    if ok.sum() > 2:
        cv2.fillPoly(img, [np.round(floor[ok] * 16).astype(np.int32)], 150, cv2.LINE_AA, 4)
        cv2.polylines(
            img, [np.round(floor[ok] * 16).astype(np.int32)], True, 110, 2, cv2.LINE_AA, 4
        )
    wall2 = wall[:, 0]
    okw = np.all(np.isfinite(wall2), axis=1)
    if okw.sum() > 2:
        cv2.polylines(
            img, [np.round(wall2[okw] * 16).astype(np.int32)], True, 90, 1, cv2.LINE_AA, 4
        )
    texture = cv2.GaussianBlur(rng.normal(0.0, 6.0, (h, w)).astype(np.float32), (0, 0), 2.0)
    out: NDArray[np.uint8] = np.clip(img.astype(np.float32) + texture, 0, 255).astype(np.uint8)
    return out


def _lighting(
    frames: int, settings: RenderSettings, rng: np.random.Generator
) -> NDArray[np.float64]:
    t = np.arange(frames)
    gain = 1.0 + settings.lighting_amplitude * np.sin(2 * np.pi * t / 450.0 + rng.uniform(0, 6.3))
    n_jumps = rng.poisson(settings.lighting_jumps * frames / 1000.0)
    for start in rng.integers(0, frames, n_jumps):
        gain[start:] *= rng.uniform(0.75, 1.25)
    return np.asarray(np.clip(gain, 0.3, 2.0), dtype=np.float64)


@dataclass(frozen=True)
class RenderedView:
    """Ground truth of one rendered view.

    Attributes:
        dropped: ``(frames,)`` bool, frames this camera dropped (it repeated the previous
            image instead).
    """

    dropped: NDArray[np.bool_]


def render_view(
    world: World,
    camera: Camera,
    *,
    points_2d: NDArray[np.float64],
    visible: NDArray[np.bool_],
    occluders: Occluders,
    settings: RenderSettings,
    sink: Callable[[NDArray[np.uint8]], None],
    seed: int = 0,
) -> RenderedView:
    """Render every frame of one view and hand each image to ``sink`` in order.

    Args:
        world: the simulated world.
        camera: the view.
        points_2d: ``(frames, animals, keypoints, 2)`` float64, pixels, this view's exact
            projections.
        visible: ``(frames, animals, keypoints)`` bool, from ``compute_visibility``.
        occluders: from ``make_occluders``.
        settings: image difficulty knobs.
        sink: receives each ``(height, width, 3)`` uint8 BGR image.
        seed: random seed (noise, distractors, lighting, drops).

    Returns:
        The view's ground truth (dropped frames).
    """
    rng = np.random.default_rng([seed, 0x4E0])
    f = world.frames
    w, h = camera.size
    background = _background(camera, world.arena_radius_mm, rng)
    centre, axes, angle, depth = _ellipse_params(camera, occluders)
    gain = _lighting(f, settings, rng)
    noise_bank = [
        np.clip(rng.normal(0.0, settings.noise_std, (h, w)), -127, 127).astype(np.int16)
        for _ in range(8)
    ]
    # specular spots on the floor and wall, each seen by this camera or not
    nd = settings.distractors
    ang = rng.uniform(-np.pi, np.pi, nd)
    rad = rng.uniform(0.2, 1.0, nd) * world.arena_radius_mm
    spots = np.stack([rad * np.cos(ang), rad * np.sin(ang), rng.uniform(0.0, 40.0, nd)], 1)
    spot_px = project_points([camera], spots)[:, 0] if nd else np.zeros((0, 2))
    spot_on = rng.random((f, nd)) < settings.distractor_on
    spot_on &= (rng.random(nd) < 0.7)[None, :]
    dropped = rng.random(f) < settings.dropped_frame_rate
    dropped[0] = False
    cam_pts = world.points_3d @ camera.R.T + camera.tvec
    mark_r = np.clip(
        camera.focal[0] * settings.mark_radius_mm / np.maximum(cam_pts[..., 2], 1.0), 1.0, 6.0
    )
    tail_idx = [9, 10, 11]
    order = np.argsort(-depth, axis=1)
    prev_img: NDArray[np.uint8] | None = None
    canvas = np.empty((h, w), dtype=np.uint8)
    bright = settings.mark_brightness
    for t in range(f):
        if dropped[t] and prev_img is not None:
            sink(prev_img)
            continue
        np.copyto(canvas, background)
        for mi in order[t]:
            ax = axes[t, mi]
            if not np.all(np.isfinite(centre[t, mi])) or depth[t, mi] <= _MIN_DEPTH_MM:
                continue
            c = (round(centre[t, mi, 0] * 16), round(centre[t, mi, 1] * 16))
            base = int(occluders.shade[mi])
            for scale, lift, add in ((1.0, 0.0, 0), (0.72, 0.12, 22), (0.38, 0.3, 45)):
                a16 = (max(int(ax[0] * scale * 16), 1), max(int(ax[1] * scale * 16), 1))
                cc = (c[0], c[1] - int(lift * ax.min() * 16))
                cv2.ellipse(
                    canvas, cc, a16, float(angle[t, mi]), 0, 360, base + add, -1, cv2.LINE_AA, 4
                )
        for a in range(world.animals):
            tail = points_2d[t, a, tail_idx]
            if np.all(np.isfinite(tail)):
                cv2.polylines(
                    canvas, [np.round(tail * 16).astype(np.int32)], False, 75, 2, cv2.LINE_AA, 4
                )
        for a in range(world.animals):
            for k in np.flatnonzero(visible[t, a]):
                p = points_2d[t, a, k]
                r = float(mark_r[t, a, k])
                c = (round(p[0] * 16), round(p[1] * 16))
                if (
                    settings.motion_blur > 0
                    and t > 0
                    and np.all(np.isfinite(points_2d[t - 1, a, k]))
                ):
                    q = p + settings.motion_blur * (points_2d[t - 1, a, k] - p)
                    cv2.line(
                        canvas,
                        (int(q[0] * 16), int(q[1] * 16)),
                        c,
                        int(bright * 0.8),
                        max(int(r), 1),
                        cv2.LINE_AA,
                        4,
                    )
                cv2.circle(canvas, c, int(r * 16), bright, -1, cv2.LINE_AA, 4)
        for s in np.flatnonzero(spot_on[t]):
            p = spot_px[s]
            if np.all(np.isfinite(p)):
                cv2.circle(
                    canvas, (int(p[0] * 16), int(p[1] * 16)), 2 * 16, 255, -1, cv2.LINE_AA, 4
                )
        blurred = cv2.GaussianBlur(canvas, (3, 3), 0.7)
        img = np.asarray(cv2.convertScaleAbs(blurred, alpha=float(gain[t])), dtype=np.uint8)
        if settings.noise_std > 0:
            noise = noise_bank[int(rng.integers(len(noise_bank)))]
            img = np.asarray(np.clip(img.astype(np.int16) + noise, 0, 255), dtype=np.uint8)
        bgr = np.asarray(cv2.cvtColor(img, cv2.COLOR_GRAY2BGR), dtype=np.uint8)
        prev_img = bgr
        sink(bgr)
    return RenderedView(dropped=dropped)


class VideoSink:
    """Writes frames to an mp4 file (OpenCV ``mp4v``); use as a context manager."""

    def __init__(self, path: str | os.PathLike[str], *, fps: float, size: tuple[int, int]) -> None:
        """Open an MP4 writer at ``path``; ``size`` is (width, height) in pixels."""
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._writer = cv2.VideoWriter(
            str(self.path), cv2.VideoWriter.fourcc(*"mp4v"), float(fps), size
        )
        if not self._writer.isOpened():
            raise InputError(
                f"OpenCV cannot open {self.path} for writing with codec mp4v.",
                fix="check that the folder is writable and OpenCV has video I/O (opencv-python).",
            )
        self.frames = 0

    def __call__(self, image: NDArray[np.uint8]) -> None:
        """Append one ``(height, width, 3)`` uint8 BGR frame."""
        self._writer.write(image)
        self.frames += 1

    def close(self) -> None:
        """Finish the file."""
        self._writer.release()

    def __enter__(self) -> VideoSink:
        """The sink itself."""
        return self

    def __exit__(self, *exc: object) -> None:
        """Finish the file."""
        self.close()
