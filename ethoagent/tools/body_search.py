"""Find a whole body among a frame's candidates in every view, without a prediction.

Used to re-find an animal the frame-to-frame track has lost: the marks that several views
agree on are triangulated (``triangulate_marks``), and a labelled body (the seed frames'
3D keypoints) is moved onto them (``fit_body``): turned about the dorsal axis and centred
on each mark in turn, then refined by matching keypoints to marks (Hungarian) and the best
rigid motion (Kabsch). Checking the result (bone lengths, left/right sides) is the
caller's.

Shapes and units: candidates are ``(n, 2)`` float64 pixels per view; 3D points are in the
calibration's world frame and unit (mm); NaN = missing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import combinations

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.optimize import linear_sum_assignment

from ethoagent.errors import InputError
from ethoagent.model.camera import Camera
from ethoagent.tools.cameras import project_points
from ethoagent.tools.triangulate import triangulate_dlt


@dataclass(frozen=True)
class Marks3D:
    """Marks that several views agree on, triangulated.

    Attributes:
        points: ``(marks, 3)`` float64, mm.
        index: ``(marks, views)`` int, the candidate each view gives the mark, -1 = none.
        residual_px: ``(marks,)`` float64, worst reprojection error of those candidates.
    """

    points: NDArray[np.float64]
    index: NDArray[np.int64]
    residual_px: NDArray[np.float64]


def _pair_points(
    cameras: Sequence[Camera], candidates: Sequence[NDArray[np.float64]]
) -> NDArray[np.float64]:
    """Every candidate pair of every two views triangulated: ``(pairs, 3)`` mm."""
    out = []
    n_views = len(cameras)
    for a, b in combinations(range(n_views), 2):
        ca, cb = candidates[a], candidates[b]
        if not len(ca) or not len(cb):
            continue
        ia, ib = np.meshgrid(np.arange(len(ca)), np.arange(len(cb)), indexing="ij")
        reading = np.full((ia.size, n_views, 1, 2), np.nan)
        reading[:, a, 0] = ca[ia.ravel()]
        reading[:, b, 0] = cb[ib.ravel()]
        out.append(triangulate_dlt(cameras, reading)[:, 0])
    return np.concatenate(out) if out else np.empty((0, 3))


def _nearest(
    projected: NDArray[np.float64], candidates: Sequence[NDArray[np.float64]]
) -> tuple[NDArray[np.float64], NDArray[np.int64]]:
    """Per point and view the nearest candidate: distances ``(points, views)`` px and index."""
    n, n_views = projected.shape[:2]
    dist = np.full((n, n_views), np.inf)
    index = np.full((n, n_views), -1, dtype=np.int64)
    for v, cand in enumerate(candidates):
        if not len(cand):
            continue
        d = np.linalg.norm(projected[:, v, None, :] - cand[None], axis=-1)  # (n, c)
        d = np.where(np.isfinite(d), d, np.inf)
        index[:, v] = np.argmin(d, axis=1)
        dist[:, v] = d[np.arange(n), index[:, v]]
    return dist, index


def triangulate_marks(
    cameras: Sequence[Camera],
    candidates: Sequence[ArrayLike],
    reprojection_px: float,
    min_views: int = 3,
) -> Marks3D:
    """Triangulate the marks that at least ``min_views`` views agree on.

    Every candidate pair of every two views is triangulated; a point is a mark where
    ``min_views`` views hold a candidate within ``reprojection_px`` of its projection. It is
    triangulated again from those candidates; marks sharing a candidate in two views are one
    mark (the one more views see, then the smaller residual, is kept).

    Args:
        cameras: the calibration's cameras, one per view.
        candidates: per view ``(n, 2)`` float64 pixels.
        reprojection_px: largest distance of a supporting candidate, pixels.
        min_views: views that must see a mark (>= 2).

    Returns:
        The marks, most views first.

    Raises:
        InputError: ``candidates`` does not hold one array per camera, or ``min_views < 2``.
    """
    if len(candidates) != len(cameras) or min_views < 2:
        raise InputError(
            f"triangulate_marks needs one (n, 2) candidate array per camera and min_views "
            f">= 2; got {len(candidates)} arrays for {len(cameras)} cameras, min_views "
            f"{min_views}.",
            fix="pass each view's candidates in camera order.",
        )
    cands = [np.asarray(c, dtype=np.float64).reshape(-1, 2) for c in candidates]
    pairs = _pair_points(cameras, cands)
    empty = Marks3D(np.empty((0, 3)), np.empty((0, len(cameras)), dtype=np.int64), np.empty(0))
    pairs = pairs[np.isfinite(pairs).all(axis=1)]
    if not len(pairs):
        return empty
    dist, index = _nearest(project_points(cameras, pairs), cands)
    keep = (dist <= reprojection_px).sum(axis=1) >= min_views
    if not keep.any():
        return empty
    index = np.where(dist[keep] <= reprojection_px, index[keep], -1)
    reading = np.full((len(index), len(cameras), 1, 2), np.nan)
    for v, cand in enumerate(cands):
        seen = index[:, v] >= 0
        reading[seen, v, 0] = cand[index[seen, v]]
    points = triangulate_dlt(cameras, reading)[:, 0]
    proj = project_points(cameras, points)
    err = np.linalg.norm(proj - reading[:, :, 0], axis=-1)
    residual = np.nanmax(np.where(index >= 0, err, np.nan), axis=1)
    good = np.isfinite(residual) & (residual <= reprojection_px)
    support = (index >= 0).sum(axis=1)
    order = [i for i in np.lexsort((residual, -support)) if good[i]]
    kept: list[int] = []
    used: set[tuple[int, int]] = set()
    for i in order:
        own = {(v, int(c)) for v, c in enumerate(index[i]) if c >= 0}
        if len(own & used) < 2:
            kept.append(int(i))
            used |= own
    return Marks3D(points[kept], index[kept], residual[kept])


@dataclass(frozen=True)
class BodyFit:
    """A labelled body moved onto a frame's marks.

    Attributes:
        pose: ``(keypoints, 3)`` float64 mm, the template body moved onto the marks.
        mark: ``(keypoints,)`` int, the mark each keypoint was matched to, -1 = none.
        points: ``(keypoints, 3)`` float64 mm, the matched marks, NaN where none.
        rms_mm: root mean square distance of the matched marks from ``pose``, mm.
    """

    pose: NDArray[np.float64]
    mark: NDArray[np.int64]
    points: NDArray[np.float64]
    rms_mm: float

    @property
    def matched(self) -> int:
        """How many keypoints a mark was matched to."""
        return int((self.mark >= 0).sum())


def _rotations_about(axis: NDArray[np.float64], steps: int) -> NDArray[np.float64]:
    """``(steps, 3, 3)`` rotations about the unit ``axis`` by ``2 pi i / steps``."""
    k = np.array([[0.0, -axis[2], axis[1]], [axis[2], 0.0, -axis[0]], [-axis[1], axis[0], 0.0]])
    angles = 2 * np.pi * np.arange(steps) / steps
    s, c = np.sin(angles)[:, None, None], np.cos(angles)[:, None, None]
    rots: NDArray[np.float64] = np.eye(3)[None] + s * k[None] + (1 - c) * (k @ k)[None]
    return rots


def rigid_motion(
    src: NDArray[np.float64], dst: NDArray[np.float64]
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    """The best rigid motion of ``src`` (n, 3) onto ``dst`` (n, 3) (Kabsch).

    With fewer than 3 points, or collinear ones, the rotation is the identity (a shift of
    the centres only).

    Returns:
        ``(rotation (3, 3), src centre (3,), dst centre (3,))``: ``x -> (x - sc) R^T + dc``.
    """
    sc, dc = src.mean(axis=0), dst.mean(axis=0)
    rot: NDArray[np.float64] = np.eye(3)
    if len(src) >= 3:
        u, sv, vt = np.linalg.svd((src - sc).T @ (dst - dc))
        if sv[1] > 1e-6 * max(sv[0], 1e-12):  # not collinear
            d = np.sign(np.linalg.det(vt.T @ u.T)) or 1.0
            rot = vt.T @ np.diag([1.0, 1.0, d]) @ u.T
    return rot, sc, dc


def _refine(
    template: NDArray[np.float64],
    start: NDArray[np.float64],
    marks: NDArray[np.float64],
    gate_mm: float,
    iterations: int,
) -> BodyFit:
    """Match ``start`` (the template placed) to marks and re-place it, ``iterations`` times."""
    pose, mark = start, np.full(len(template), -1, dtype=np.int64)
    for _ in range(iterations):
        cost = np.linalg.norm(pose[:, None] - marks[None], axis=-1)
        rows, cols = linear_sum_assignment(np.minimum(cost, 10 * gate_mm))
        ok = cost[rows, cols] <= gate_mm
        mark = np.full(len(template), -1, dtype=np.int64)
        mark[rows[ok]] = cols[ok]
        if ok.sum() < 3:
            break
        rot, sc, dc = rigid_motion(template[rows[ok]], marks[cols[ok]])
        pose = (template - sc) @ rot.T + dc
    points = np.where((mark >= 0)[:, None], marks[np.maximum(mark, 0)], np.nan)
    dist = np.linalg.norm(points - pose, axis=1)
    rms = float(np.sqrt(np.nanmean(dist**2))) if (mark >= 0).any() else np.inf
    return BodyFit(pose=pose, mark=mark, points=points, rms_mm=rms)


def fit_body(
    marks: ArrayLike,
    templates: ArrayLike,
    up: ArrayLike,
    gate_mm: float,
    *,
    yaw_steps: int = 16,
    refined: int = 12,
    iterations: int = 3,
) -> BodyFit | None:
    """Move a labelled body onto the marks so that most keypoints land on one.

    Each template is centred on each mark's neighbourhood (the marks within its reach of
    that mark) and turned about ``up`` in ``yaw_steps`` steps; the ``refined`` placements
    with the most keypoints within ``gate_mm`` of a mark are then refined (``iterations``
    rounds of one-to-one matching and the best rigid motion). The fit with the most
    matched keypoints, then the smallest spread, wins.

    Args:
        marks: ``(marks, 3)`` float64 mm (``triangulate_marks``).
        templates: ``(templates, keypoints, 3)`` float64 mm, complete labelled bodies
            (e.g. the seed frames); templates with a NaN are skipped.
        up: ``(3,)`` the dorsal direction in the world frame.
        gate_mm: largest distance of a matched mark from its keypoint, mm.
        yaw_steps: turns about ``up`` tried per centre.
        refined: placements refined by matching.
        iterations: matching rounds per refined placement.

    Returns:
        The best fit, or ``None`` without marks or a complete template.
    """
    pts = np.asarray(marks, dtype=np.float64).reshape(-1, 3)
    tpl = np.asarray(templates, dtype=np.float64)
    tpl = tpl[np.isfinite(tpl).all(axis=(1, 2))]
    if not len(pts) or not len(tpl):
        return None
    axis = np.asarray(up, dtype=np.float64)
    rots = _rotations_about(axis / np.linalg.norm(axis), yaw_steps)
    centred = tpl - tpl.mean(axis=1, keepdims=True)  # (T, K, 3)
    reach = float(np.linalg.norm(centred, axis=-1).max())
    near = np.linalg.norm(pts[:, None] - pts[None], axis=-1) <= reach
    centres = np.stack([pts[n].mean(axis=0) for n in near])  # (M, 3)
    # (T, R, K, 3) turned templates, then (T, R, M, K, 3) placed on every centre
    turned = np.einsum("rij,tkj->trki", rots, centred)
    placed = turned[:, :, None] + centres[None, None, :, None]
    flat = placed.reshape(-1, tpl.shape[1], 3)
    nearest = np.linalg.norm(flat[:, :, None] - pts[None, None], axis=-1).min(axis=-1)
    score = (nearest <= gate_mm).sum(axis=1) - 1e-3 * np.minimum(nearest, gate_mm).sum(axis=1)
    best: BodyFit | None = None
    for h in np.argsort(-score)[:refined]:
        t = int(h // (len(rots) * len(centres)))
        fit = _refine(tpl[t], flat[h], pts, gate_mm, iterations)
        if best is None or (fit.matched, -fit.rms_mm) > (best.matched, -best.rms_mm):
            best = fit
    return best


__all__ = ["BodyFit", "Marks3D", "fit_body", "rigid_motion", "triangulate_marks"]
