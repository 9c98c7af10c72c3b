"""Re-acquire keypoints a frame lost, where a 3D check verifies the re-acquisition.

A keypoint the four stages left out (no candidate near a prediction that went stale after
an occlusion, or every view's reading failed the checks) would stay lost until the track
drifts back onto it. ``reacquire`` looks for it directly: the candidates no other keypoint
uses, near where the track predicts it in each view, are triangulated pair by pair across
views; a hypothesis is accepted only when enough views hold a candidate that its 3D point
reprojects onto (within the reprojection limit), its refined point still does, and every
bone to a keypoint the frame kept has its seed length within the bone tolerance. Pure
functions of arrays; ``graphs.pose.stages`` calls it after each frame.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import combinations

import numpy as np
from numpy.typing import NDArray

from ethoagent.model.camera import Camera
from ethoagent.tools.cameras import project_points
from ethoagent.tools.triangulate import triangulate_dlt

REACQUIRE_GATE = 2.0
"""A lost keypoint's candidates lie within this many jump bounds of its 2D prediction."""


@dataclass(frozen=True)
class ReacquireLimits:
    """What a re-acquisition must pass.

    Attributes:
        gate_px: candidates further than this from the keypoint's 2D prediction are not
            considered, pixels.
        reprojection_px: a supporting view's candidate lies this close to the projection
            of the hypothesis, pixels.
        bone_tolerance: largest relative deviation of a bone to a kept keypoint from its
            seed length.
        min_views: views that must support the hypothesis (3 where the rig has 4 or
            more cameras: two views always meet somewhere).
    """

    gate_px: float
    reprojection_px: float
    bone_tolerance: float
    min_views: int


def _free_candidates(
    candidates: Sequence[NDArray[np.float64]], reading: NDArray[np.float64]
) -> list[NDArray[np.float64]]:
    """Per view, the ``(n, 2)`` candidates no keypoint of ``reading`` ``(V, K, 2)`` uses."""
    out = []
    for v, cand in enumerate(candidates):
        cand = np.asarray(cand, dtype=np.float64).reshape(-1, 2)
        used = reading[v][np.isfinite(reading[v, :, 0])]
        if len(used) and len(cand):
            d = np.linalg.norm(cand[:, None] - used[None], axis=-1).min(axis=1)
            cand = cand[d > 1e-6]
        out.append(cand)
    return out


def _support(
    cameras: Sequence[Camera],
    points: NDArray[np.float64],
    near: Sequence[NDArray[np.float64]],
    limit_px: float,
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Per hypothesis ``(H, 3)``: the nearest candidate of each view and its distance.

    Returns:
        ``(H, V, 2)`` pixels of the nearest candidate within ``limit_px`` (NaN: none) and
        ``(H, V)`` its distance (NaN: none).
    """
    proj = project_points(cameras, points)  # (H, V, 2)
    h, v = proj.shape[:2]
    best = np.full((h, v, 2), np.nan)
    dist = np.full((h, v), np.nan)
    for view, cand in enumerate(near):
        if not len(cand):
            continue
        d = np.linalg.norm(proj[:, view, None] - cand[None], axis=-1)  # (H, n)
        d = np.where(np.isfinite(d), d, np.inf)
        i = d.argmin(axis=1)
        ok = d[np.arange(h), i] <= limit_px
        best[ok, view] = cand[i[ok]]
        dist[ok, view] = d[np.arange(h), i][ok]
    return best, dist


def _bones_fit(
    point: NDArray[np.float64],
    k: int,
    points: NDArray[np.float64],
    bones: Sequence[tuple[int, int]],
    reference: NDArray[np.float64],
    tolerance: float,
) -> bool:
    """Every bone from keypoint ``k`` at ``point`` to a kept keypoint fits; at least one."""
    checked = 0
    for (a, b), length in zip(bones, reference, strict=True):
        if k not in (a, b):
            continue
        other = points[b if a == k else a]
        if not np.isfinite(other).all() or not np.isfinite(length) or length <= 0:
            continue
        checked += 1
        if abs(float(np.linalg.norm(point - other)) / length - 1.0) > tolerance:
            return False
    return checked > 0


def reacquire_keypoint(
    cameras: Sequence[Camera],
    free: Sequence[NDArray[np.float64]],
    predicted_2d: NDArray[np.float64],
    k: int,
    points: NDArray[np.float64],
    bones: Sequence[tuple[int, int]],
    reference: NDArray[np.float64],
    limits: ReacquireLimits,
) -> tuple[NDArray[np.float64], NDArray[np.float64]] | None:
    """The verified 3D point of lost keypoint ``k`` and its reading, or ``None``.

    Args:
        cameras: the views.
        free: per view ``(n, 2)`` pixels, candidates no other keypoint uses.
        predicted_2d: ``(V, 2)`` pixels, where the track predicts ``k`` in each view.
        k: the keypoint's index.
        points: ``(K, 3)`` mm, the frame's points (NaN = lost).
        bones: ``(i, j)`` keypoint indices, as ``reference``.
        reference: ``(bones,)`` mm, the seeds' bone lengths.
        limits: gate, reprojection limit, bone tolerance and supporting views.

    Returns:
        ``((3,) mm, (V, 2) pixels with NaN in views that do not support it)`` or ``None``.
    """
    near = []
    for v, cand in enumerate(free):
        d = np.linalg.norm(cand - predicted_2d[v], axis=1) if len(cand) else np.zeros(0)
        near.append(cand[np.isfinite(d) & (d <= limits.gate_px)])
    pairs = [
        (a, b, pa, pb)
        for a, b in combinations(range(len(cameras)), 2)
        for pa in near[a]
        for pb in near[b]
    ]
    if not pairs:
        return None
    obs = np.full((len(pairs), len(cameras), 1, 2), np.nan)
    for h, (a, b, pa, pb) in enumerate(pairs):
        obs[h, a, 0], obs[h, b, 0] = pa, pb
    hyp = triangulate_dlt(cameras, obs)[:, 0]  # (H, 3)
    best, dist = _support(cameras, hyp, near, limits.reprojection_px)
    votes = np.isfinite(dist).sum(axis=1)
    mean_px = np.where(votes > 0, np.nansum(dist, axis=1) / np.maximum(votes, 1), np.inf)
    order = np.lexsort((mean_px, -votes))  # most supporting views, then closest fit
    for h in order:
        if votes[h] < limits.min_views:
            break
        refined = triangulate_dlt(cameras, best[h][None, :, None])[0, 0]
        reading, d = _support(cameras, refined[None], near, limits.reprojection_px)
        if np.isfinite(d[0]).sum() < limits.min_views:
            continue
        if _bones_fit(refined, k, points, bones, reference, limits.bone_tolerance):
            return refined, reading[0]
    return None


def reacquire(
    cameras: Sequence[Camera],
    candidates: Sequence[NDArray[np.float64]],
    points_3d: NDArray[np.float64],
    points_2d: NDArray[np.float64],
    predicted_3d: NDArray[np.float64],
    bones: Sequence[tuple[int, int]],
    reference: NDArray[np.float64],
    limits: ReacquireLimits,
) -> tuple[NDArray[np.float64], NDArray[np.float64], list[int]]:
    """Fill the frame's lost keypoints that a 3D check verifies (``reacquire_keypoint``).

    Args:
        cameras: the views.
        candidates: per view ``(n, 2)`` pixels, the frame's candidates.
        points_3d: ``(K, 3)`` mm, the frame's points (NaN = lost).
        points_2d: ``(V, K, 2)`` pixels, the reading they rest on.
        predicted_3d: ``(K, 3)`` mm, where the track predicts each keypoint.
        bones: ``(i, j)`` keypoint indices, as ``reference``.
        reference: ``(bones,)`` mm, the seeds' bone lengths.
        limits: what a re-acquisition must pass.

    Returns:
        The points and reading with the re-acquired keypoints filled, and their indices.
    """
    lost = ~np.isfinite(points_3d).all(axis=1) & np.isfinite(predicted_3d).all(axis=1)
    if not lost.any():
        return points_3d, points_2d, []
    pts3, pts2 = points_3d.copy(), points_2d.copy()
    pred2d = project_points(cameras, predicted_3d)  # (K, V, 2)
    found = []
    for k in np.flatnonzero(lost):
        free = _free_candidates(candidates, pts2)
        hit = reacquire_keypoint(cameras, free, pred2d[k], int(k), pts3, bones, reference, limits)
        if hit is not None:
            pts3[k], pts2[:, k] = hit
            found.append(int(k))
    return pts3, pts2, found


__all__ = ["REACQUIRE_GATE", "ReacquireLimits", "reacquire", "reacquire_keypoint"]
