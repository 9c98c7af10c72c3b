"""The pose graph's track helpers: what a labelled frame gives the frames after it.

A frame's result (``FrameResult``) joins the track the predictor extrapolates from:
accepted keypoints that land near their prediction (``consistent_with_track``), a flagged
frame's keypoints that pass the checks one by one (``trusted_points``), and keypoints the
recent frames lost, predicted from where they sat on the body (``fill_from_anchor``).
Pure functions of arrays; ``graphs.pose.stages`` runs the frame loop.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from ethoagent.model.camera import Camera
from ethoagent.tools.triangulate import bone_length_errors, reprojection_errors


@dataclass
class FrameResult:
    """One labelled frame: ``(keypoints, 3)`` points, ``(views, keypoints, 2)`` reading, outcome."""

    points_3d: NDArray[np.float64]
    points_2d: NDArray[np.float64]
    status: str
    method: str
    reprojection_px: float
    model_calls: dict[str, int]
    flag_reason: str | None


def trusted_points(
    cameras: Sequence[Camera],
    result: FrameResult,
    threshold_px: float,
    reference_lengths: NDArray[np.float64],
    bone_tolerance: float,
    bones: Sequence[tuple[int, int]],
) -> NDArray[np.float64]:
    """The 3D keypoints ``(keypoints, 3)`` mm of a frame that the checks support one by one.

    Every used observation reprojects within ``threshold_px``, at least two views see it,
    and no bone it belongs to deviates from the seeds by more than ``bone_tolerance`` (a
    mark consistent in 3D but on the wrong body part fails this); others are NaN.

    Args:
        cameras: the calibration's cameras, one per view.
        result: the frame's labelling.
        threshold_px: largest reprojection error of a trusted observation, pixels.
        bone_tolerance: largest relative deviation of a bone from its reference length.
        reference_lengths: ``(bones,)`` mm, the seeds' bone lengths.
        bones: ``(i, j)`` keypoint indices (``Skeleton.bone_index``), as in the reference.
    """
    err = reprojection_errors(cameras, result.points_3d[None], result.points_2d[None])[0]
    seen = np.isfinite(err)
    good = (np.where(seen, err, 0.0) <= threshold_px).all(axis=0) & (seen.sum(axis=0) >= 2)
    rel = bone_length_errors(result.points_3d[None], list(bones), reference_lengths)[0]
    for (a, b), e in zip(bones, rel, strict=True):
        if np.isfinite(e) and abs(e) > bone_tolerance:
            good[[a, b]] = False
    return np.where(good[:, None], result.points_3d, np.nan)


def fill_from_anchor(
    predicted: NDArray[np.float64], anchor: NDArray[np.float64]
) -> NDArray[np.float64]:
    """Predict keypoints the recent frames lost from where they sat in the ``anchor``.

    Re-acquisition after a lost track: where each sat, relative to the body, in the last
    fully accepted frame.

    The anchor is moved onto the keypoints both know by the best rigid motion (rotation
    and translation, Kabsch) when at least 3 of them span a plane, else by their mean
    shift, and the missing keypoints are read off the moved anchor.

    Args:
        predicted: ``(keypoints, 3)`` mm, NaN where the recent frames give no prediction.
        anchor: ``(keypoints, 3)`` mm, the last frame with every keypoint accepted.
    """
    missing = ~np.isfinite(predicted).all(axis=1)
    if not missing.any():
        return predicted
    known = ~missing & np.isfinite(anchor).all(axis=1)
    if not known.any():
        return predicted
    src, dst = anchor[known], predicted[known]
    src_c, dst_c = src.mean(axis=0), dst.mean(axis=0)
    rot = np.eye(3)
    if known.sum() >= 3:
        u, sv, vt = np.linalg.svd((src - src_c).T @ (dst - dst_c))
        if sv[1] > 1e-6 * max(sv[0], 1e-12):  # not collinear
            d = np.sign(np.linalg.det(vt.T @ u.T)) or 1.0
            rot = vt.T @ np.diag([1.0, 1.0, d]) @ u.T
    out = predicted.copy()
    out[missing] = (anchor[missing] - src_c) @ rot.T + dst_c
    return out


TRACK_JUMP_BONES = 1.0
"""An accepted keypoint further than this many median seed bone lengths from where the
track predicts it does not guide the next frames (``consistent_with_track``)."""


def consistent_with_track(
    points: NDArray[np.float64], predicted: NDArray[np.float64], bound: float
) -> NDArray[np.bool_]:
    """Which accepted keypoints may join the track: those near their prediction.

    A frame can pass every 3D check with a wrong mark on one keypoint (another mark at a
    plausible bone length); fed to the predictor, it would pull the following frames
    after it and the track would be lost for good. A keypoint that lands more than
    ``bound`` from its prediction is kept out of the track (the frame's output keeps it)
    unless most of the body moved as far, which is the animal moving, not a wrong mark.
    The keypoint is predicted again from the frames before and the anchor, so a later
    frame re-acquires it where the checks and this test agree.

    Args:
        points: ``(keypoints, 3)`` the accepted points, calibration units, NaN = missing.
        predicted: ``(keypoints, 3)`` where the track predicted them, NaN = no prediction.
        bound: largest distance from the prediction, calibration units.

    Returns:
        ``(keypoints,)`` bool, True where the keypoint may join the track.
    """
    dist = np.linalg.norm(points - predicted, axis=1)
    known = np.isfinite(dist)
    far = known & (dist > bound)
    if far.sum() > 0.5 * known.sum():
        return np.ones(len(points), dtype=bool)
    keep: NDArray[np.bool_] = ~far
    return keep


__all__ = [
    "TRACK_JUMP_BONES",
    "FrameResult",
    "consistent_with_track",
    "fill_from_anchor",
    "trusted_points",
]
