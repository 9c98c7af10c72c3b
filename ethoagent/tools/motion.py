"""Per-frame, per-animal motion descriptors: the keypoint input of the LookAgain gate model.

``describe_motion`` turns tracked keypoints into one fixed-length float32 vector per
(frame, animal), with no model involved:

* the keypoints, normalised to ``[0, 1]`` — by the frame size for pixel data, or, for mm
  data (no frame size given), by the bounding extent of all valid points of the session
  (the largest side of the axis-aligned bounding box, so the aspect ratio is kept);
* the confidence of every keypoint;
* for multi-animal data, four features per other animal (in animal order, self
  skipped): ``sin`` and ``cos`` of the bearing of the neighbour's centroid seen from the
  focal centroid — relative to the focal heading when ``heading`` keypoints are given,
  else to the image/arena x axis —, the centroid distance in the same normalised units,
  and the neighbour's mean keypoint confidence.

* optionally (``velocity_fps``), the x-y velocity of every keypoint in normalised units per
  second (central differences, one-sided at the ends and next to gaps), clipped to
  ``±VELOCITY_CLIP``: the motion itself, which a small model learns only slowly from
  positions alone (velocities are ~1 % of the position range per frame).

Missing keypoints (NaN) become 0 with confidence 0; a missing neighbour gives four zeros.
Centroids are confidence-weighted means of the valid keypoints, in the x-y plane.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ethoagent.errors import InputError

__all__ = ["VELOCITY_CLIP", "MotionDescriptor", "describe_motion", "motion_dim"]

NEIGHBOUR_FEATURES = 4
"""Features per neighbour: sin and cos of the bearing, distance, mean confidence."""
VELOCITY_CLIP = 5.0
"""Largest velocity magnitude per axis, normalised units per second (tracking jumps)."""


class MotionDescriptor:
    """Output of ``describe_motion``.

    Attributes:
        features: ``(frames, animals, D)`` float32, unitless (normalised coordinates,
            confidences in [0, 1], sines and cosines).
        valid: ``(frames, animals)`` bool, True where the animal has at least one valid
            keypoint (positive confidence, finite coordinates).
        confidence: ``(frames, animals)`` float32, mean keypoint confidence (0 = absent).
    """

    __slots__ = ("confidence", "features", "valid")

    def __init__(
        self,
        features: NDArray[np.float32],
        valid: NDArray[np.bool_],
        confidence: NDArray[np.float32],
    ) -> None:
        """Hold the arrays as given (``describe_motion`` builds them)."""
        self.features = features
        self.valid = valid
        self.confidence = confidence

    def __repr__(self) -> str:
        """Frames, animals, dimension and the fraction of valid entries."""
        f, a, d = self.features.shape
        return f"MotionDescriptor(frames={f}, animals={a}, dim={d}, valid={self.valid.mean():.2f})"


def motion_dim(
    keypoints: int, animals: int, spatial_dims: int = 2, *, velocity: bool = False
) -> int:
    """Length ``D`` of a descriptor.

    ``keypoints * (spatial_dims + 1) + 4 * (animals - 1)``, plus ``2 * keypoints`` with
    velocities.
    """
    base = keypoints * (spatial_dims + 1) + NEIGHBOUR_FEATURES * (animals - 1)
    return base + (2 * keypoints if velocity else 0)


def describe_motion(
    points: ArrayLike,
    confidence: ArrayLike | None = None,
    *,
    frame_size: tuple[float, float] | None = None,
    heading: tuple[int, int] | None = None,
    velocity_fps: float | None = None,
) -> MotionDescriptor:
    """Compute the motion descriptor of every frame and animal.

    Args:
        points: ``(frames, animals, keypoints, 2|3)`` positions; pixels (x right, y down)
            when ``frame_size`` is given, else any metric unit (mm); NaN = missing.
        confidence: ``(frames, animals, keypoints)`` in [0, 1]; None = 1 for every
            finite keypoint.
        frame_size: image size ``(width, height)`` in pixels; None = normalise by the
            bounding extent of all valid points (mm data).
        heading: ``(tail, head)`` keypoint indices; the neighbour bearing is then
            measured from the focal animal's tail→head direction.
        velocity_fps: frame rate, Hz; when given, per-keypoint x-y velocities (normalised
            units per second) are appended after the confidences.

    Returns:
        The descriptor; ``features`` is ``(frames, animals, motion_dim(...))`` float32.

    Raises:
        InputError: on wrong shapes, a bad frame size or heading index.
    """
    pts = np.asarray(points, dtype=np.float64)
    if pts.ndim != 4 or pts.shape[-1] not in (2, 3):
        raise InputError(
            f"points must be (frames, animals, keypoints, 2|3); found shape {pts.shape}.",
            fix="stack tracks as frames x animals x keypoints x coordinates.",
        )
    n_frames, n_animals, n_kp, n_dims = pts.shape
    if confidence is None:
        conf = np.ones(pts.shape[:3])
    else:
        conf = np.asarray(confidence, dtype=np.float64)
        if conf.shape != pts.shape[:3]:
            raise InputError(
                f"confidence must be (frames, animals, keypoints) = {pts.shape[:3]}; "
                f"found shape {conf.shape}.",
                fix="pass one confidence per keypoint or None.",
            )
    if heading is not None and not all(0 <= i < n_kp for i in heading):
        raise InputError(
            f"heading keypoints must be in [0, {n_kp}); found {heading}.",
            fix="pass (tail index, head index).",
        )

    ok = np.isfinite(pts).all(axis=-1) & np.isfinite(conf) & (conf > 0)
    conf = np.where(ok, np.clip(np.nan_to_num(conf), 0.0, 1.0), 0.0)
    pts = np.where(ok[..., None], pts, 0.0)

    if frame_size is not None:
        width, height = frame_size
        if not (width > 0 and height > 0):
            raise InputError(
                f"frame_size must be positive (width, height) pixels; found {frame_size}.",
                fix="pass the video's frame size.",
            )
        scale = np.ones(n_dims)
        scale[:2] = (width, height)
        if n_dims == 3:
            scale[2] = max(width, height)
        origin = np.zeros(n_dims)
    elif ok.any():
        valid_pts = pts[ok]
        origin = valid_pts.min(axis=0)
        extent = float((valid_pts.max(axis=0) - origin).max())
        scale = np.full(n_dims, extent if extent > 0 else 1.0)
    else:
        origin, scale = np.zeros(n_dims), np.ones(n_dims)
    norm = np.where(ok[..., None], (pts - origin) / scale, 0.0)

    mean_conf = conf.mean(axis=2)
    valid: NDArray[np.bool_] = np.asarray(ok.any(axis=2), dtype=bool)
    weight = conf.sum(axis=2)
    centroid = (norm[..., :2] * conf[..., None]).sum(axis=2) / np.maximum(weight, 1e-12)[..., None]

    parts = [norm.reshape(n_frames, n_animals, -1), conf]
    if velocity_fps is not None:
        if not velocity_fps > 0:
            raise InputError(
                f"velocity_fps must be a positive frame rate; found {velocity_fps}.",
                fix="pass the recording's frames per second.",
            )
        parts.append(_velocity(norm[..., :2], ok, velocity_fps).reshape(n_frames, n_animals, -1))
    if n_animals > 1:
        parts.append(_neighbour_features(norm, ok, centroid, valid, mean_conf, heading))
    features = np.concatenate(parts, axis=-1)
    features[~valid] = 0.0
    return MotionDescriptor(features.astype(np.float32), valid, mean_conf.astype(np.float32))


def _velocity(xy: NDArray[np.float64], ok: NDArray[np.bool_], fps: float) -> NDArray[np.float64]:
    """``(frames, animals, keypoints, 2)`` velocities, normalised units/s; 0 if not computable."""
    vel = np.zeros_like(xy)
    if xy.shape[0] < 2:
        return vel
    fwd = np.zeros_like(xy)
    fwd_ok = np.zeros(ok.shape, bool)
    fwd[:-1] = xy[1:] - xy[:-1]
    fwd_ok[:-1] = ok[1:] & ok[:-1]
    bwd = np.zeros_like(xy)
    bwd_ok = np.zeros(ok.shape, bool)
    bwd[1:] = fwd[:-1]
    bwd_ok[1:] = fwd_ok[:-1]
    both = fwd_ok & bwd_ok
    vel = np.where(
        both[..., None],
        (fwd + bwd) / 2,
        np.where(fwd_ok[..., None], fwd, np.where(bwd_ok[..., None], bwd, 0.0)),
    )
    return np.clip(vel * fps, -VELOCITY_CLIP, VELOCITY_CLIP)


def _neighbour_features(
    norm: NDArray[np.float64],
    ok: NDArray[np.bool_],
    centroid: NDArray[np.float64],
    valid: NDArray[np.bool_],
    mean_conf: NDArray[np.float64],
    heading: tuple[int, int] | None,
) -> NDArray[np.float64]:
    """``(frames, animals, 4 * (animals - 1))`` neighbour features; see the module doc."""
    n_frames, n_animals = valid.shape
    if heading is None:
        focal_angle = np.zeros((n_frames, n_animals))
        has_heading = np.ones((n_frames, n_animals), dtype=bool)
    else:
        tail, head = heading
        vec = norm[:, :, head, :2] - norm[:, :, tail, :2]
        focal_angle = np.arctan2(vec[..., 1], vec[..., 0])
        has_heading = ok[:, :, head] & ok[:, :, tail]
    out = np.zeros((n_frames, n_animals, NEIGHBOUR_FEATURES * (n_animals - 1)))
    for a in range(n_animals):
        others = [b for b in range(n_animals) if b != a]
        for j, b in enumerate(others):
            delta = centroid[:, b] - centroid[:, a]
            bearing = np.arctan2(delta[:, 1], delta[:, 0]) - focal_angle[:, a]
            both = valid[:, a] & valid[:, b]
            angle_ok = both & has_heading[:, a]
            cols = slice(NEIGHBOUR_FEATURES * j, NEIGHBOUR_FEATURES * (j + 1))
            out[:, a, cols] = np.stack(
                [
                    np.where(angle_ok, np.sin(bearing), 0.0),
                    np.where(angle_ok, np.cos(bearing), 0.0),
                    np.where(both, np.hypot(delta[:, 0], delta[:, 1]), 0.0),
                    np.where(both, mean_conf[:, b], 0.0),
                ],
                axis=-1,
            )
    return out
