"""Named 2D points the per-view stages left out, taken back where the 3D checks agree.

With a 2D pose model's predictions as candidates (``--candidates``), the regions and
assign stages read a view's points near the track's prediction only: a fast tail tip
beyond the jump bound, or a point outside its region's box, is left out although the
model named it right. ``readmit_named`` gives each keypoint of a frame the points the
model named so in the views its reading lacks, and keeps one only where it agrees with
the frame in 3D: within the reprojection limit of the keypoint's 3D point seen from the
other views, or, for a keypoint left with fewer than two views, where the named points
of two or more views triangulate within that limit in every view and every bone to a
known neighbour stays within the bone tolerance of the seeds. The per-view stages' choice
is never changed, only completed. Pure functions of arrays.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from ethoagent.graphs.kit.nodes import Escalation, Feedback, StageContext
from ethoagent.graphs.triangulate.graph import FrameInput, FramePoints
from ethoagent.model.camera import Camera
from ethoagent.tools.cameras import project_points
from ethoagent.tools.triangulate import (
    bone_ends_within,
    reprojection_errors,
    triangulate_dlt,
    triangulate_ransac,
)


@dataclass(frozen=True)
class Limits:
    """What a re-admitted point must meet.

    Attributes:
        reprojection_px: largest reprojection error in every view used, pixels.
        bone_tolerance: largest relative deviation of a bone from its seed length.
        reference_lengths: ``(bones,)`` the seeds' bone lengths, calibration units.
        bones: ``(i, j)`` keypoint indices of those bones (``Skeleton.bone_index``).
    """

    reprojection_px: float
    bone_tolerance: float
    reference_lengths: NDArray[np.float64]
    bones: Sequence[tuple[int, int]]


def named_points(
    candidates: Sequence[NDArray[np.float64]],
    identities: Sequence[NDArray[np.int64]],
    keypoints: int,
) -> NDArray[np.float64]:
    """Per view and keypoint, the most confident candidate a 2D model named so.

    Args:
        candidates: per view ``(n, 2)`` pixels, most confident first.
        identities: per view ``(n,)`` the keypoint index each candidate was named (-1 =
            unnamed).
        keypoints: number of keypoints of the skeleton.

    Returns:
        ``(views, keypoints, 2)`` pixels, NaN where the model named none.
    """
    out = np.full((len(candidates), keypoints, 2), np.nan)
    for v, (xy, ident) in enumerate(zip(candidates, identities, strict=True)):
        for row in range(len(ident) - 1, -1, -1):  # the most confident is written last
            k = int(ident[row])
            if 0 <= k < keypoints and np.isfinite(xy[row]).all():
                out[v, k] = xy[row]
    return out


def _bones_ok(points_3d: NDArray[np.float64], k: int, limits: Limits) -> bool:
    """Whether every bone of keypoint ``k`` to a known neighbour is within tolerance."""
    ok = bone_ends_within(points_3d, limits.bones, limits.reference_lengths, limits.bone_tolerance)
    return bool(ok[k])


def _has_bone(points_3d: NDArray[np.float64], k: int, limits: Limits) -> bool:
    """Whether keypoint ``k`` has a bone to a neighbour whose 3D point is known."""
    known = np.asarray(np.isfinite(points_3d).all(axis=1), dtype=bool)
    return any(k in (a, b) and bool(known[b if a == k else a]) for a, b in limits.bones)


def _fits(
    cameras: Sequence[Camera], obs: NDArray[np.float64], limit_px: float
) -> tuple[NDArray[np.float64], float]:
    """The DLT of one keypoint's ``(views, 2)`` observations and its worst reprojection."""
    x = triangulate_dlt(list(cameras), obs[None, :, None])[0, 0]
    err = reprojection_errors(list(cameras), x[None, None], obs[None, :, None])[0, :, 0]
    worst = float(np.nanmax(err)) if np.isfinite(err).any() else np.inf
    return x, worst if np.isfinite(x).all() else np.inf


def readmit_named(
    cameras: Sequence[Camera],
    points_3d: NDArray[np.float64],
    reading: NDArray[np.float64],
    named: NDArray[np.float64],
    limits: Limits,
) -> tuple[NDArray[np.float64], NDArray[np.float64], int]:
    """Complete a frame's reading with the named points that agree with it in 3D.

    Args:
        cameras: the calibration's cameras, one per view.
        points_3d: ``(keypoints, 3)`` the frame's points, calibration units, NaN = missing.
        reading: ``(views, keypoints, 2)`` pixels, the 2D the points rest on.
        named: ``(views, keypoints, 2)`` pixels, what the 2D model named each keypoint
            (``named_points``).
        limits: what a re-admitted point must meet.

    Returns:
        The points, the reading (copies) and how many 2D points were taken back.
    """
    pts, read = points_3d.copy(), reading.copy()
    taken = 0
    for k in range(pts.shape[0]):
        used = np.isfinite(read[:, k, 0])
        offered = ~used & np.isfinite(named[:, k, 0])
        if not offered.any():
            continue
        obs = read[:, k].copy()
        if used.sum() >= 2 and np.isfinite(pts[k]).all():
            err = reprojection_errors(list(cameras), pts[None, [k]], named[None, :, [k]])[0, :, 0]
            near = offered & (np.nan_to_num(err, nan=np.inf) <= limits.reprojection_px)
            obs[near] = named[near, k]
        else:
            obs = _best_subset(cameras, obs, named[:, k], offered, pts, k, limits)
        added = np.isfinite(obs[:, 0]) & ~used
        if not added.any():
            continue
        x, worst = _fits(cameras, obs, limits.reprojection_px)
        trial = pts.copy()
        trial[k] = x
        if worst <= limits.reprojection_px and _bones_ok(trial, k, limits):
            pts, read[:, k] = trial, obs
            taken += int(added.sum())
    return pts, read, taken


def _best_subset(
    cameras: Sequence[Camera],
    obs: NDArray[np.float64],
    named: NDArray[np.float64],
    offered: NDArray[np.bool_],
    points_3d: NDArray[np.float64],
    k: int,
    limits: Limits,
) -> NDArray[np.float64]:
    """One keypoint's observations ``(views, 2)``, completed from ``named``.

    The largest set of views (holding every view the reading used) whose points triangulate
    within the limits; two views only where a bone to a known neighbour can be checked.
    """
    pool = np.where(offered[:, None], named, obs)
    kept = {v for v in range(len(cameras)) if np.isfinite(obs[v, 0])}
    views = [v for v in range(len(cameras)) if np.isfinite(pool[v, 0])]
    for size in range(len(views), 1, -1):
        best: tuple[float, tuple[int, ...]] | None = None
        for subset in itertools.combinations(views, size):
            if not kept <= set(subset) or (size == 2 and not _has_bone(points_3d, k, limits)):
                continue
            trial = np.full_like(obs, np.nan)
            trial[list(subset)] = pool[list(subset)]
            x, worst = _fits(cameras, trial, limits.reprojection_px)
            with_k = points_3d.copy()
            with_k[k] = x
            fits = worst <= limits.reprojection_px and _bones_ok(with_k, k, limits)
            if fits and (best is None or worst < best[0]):
                best = (worst, subset)
        if best is not None:
            out = np.full_like(obs, np.nan)
            out[list(best[1])] = pool[list(best[1])]
            return out
    return obs


def swapped_back(
    cameras: Sequence[Camera],
    points_3d: NDArray[np.float64],
    reading: NDArray[np.float64],
    named: NDArray[np.float64],
    pairs: Sequence[tuple[int, int]],
    threshold_px: float,
) -> tuple[NDArray[np.float64], list[str]]:
    """A reading with left/right swaps of single views read back.

    A left/right pair whose two named points of a view were left out (RANSAC outliers) is
    read back swapped where each lands within ``threshold_px`` of the other keypoint's
    projection: the 2D model exchanged the two names in that view. Nothing is swapped on
    a score alone, so two keypoints close together (the ears) are not exchanged by noise.

    Args:
        cameras: the calibration's cameras, one per view.
        points_3d: ``(keypoints, 3)`` the points the reading gives, calibration units.
        reading: ``(views, keypoints, 2)`` pixels, NaN = left out.
        named: ``(views, keypoints, 2)`` pixels, what the 2D model named each keypoint.
        pairs: ``(left, right)`` keypoint indices (``Skeleton.left_right_index``).
        threshold_px: largest distance to the partner's projection, pixels.

    Returns:
        The reading (a copy) and a description per swap read back.
    """
    out, steps = reading.copy(), []
    proj = project_points(list(cameras), points_3d).transpose(1, 0, 2)  # (views, keypoints, 2)
    for a, b in pairs:
        for v in range(len(cameras)):
            left_out = not np.isfinite(reading[v, [a, b], 0]).any()
            if not left_out or not np.isfinite(named[v, [a, b]]).all():
                continue
            da = float(np.linalg.norm(named[v, a] - proj[v, b]))
            db = float(np.linalg.norm(named[v, b] - proj[v, a]))
            if da <= threshold_px and db <= threshold_px:
                out[v, a], out[v, b] = named[v, b], named[v, a]
                steps.append(f"swap {a}<->{b} in view {v}")
    return out, steps


def make_named_escalation(
    cameras: Sequence[Camera],
    named: NDArray[np.float64],
    threshold_px: float,
    pairs: Sequence[tuple[int, int]] = (),
) -> Escalation[FrameInput, FramePoints]:
    """The 2D model's own names as a hypothesis: RANSAC over views, swaps read back.

    Where the track's prediction misleads the per-view stages (a frame far from the last
    accepted one, or labelled frames that are not consecutive video frames), the reading
    the model's names give may pass the 3D checks that the stages' reading fails.
    Observations beyond ``threshold_px`` after the refit are left out and the points
    solved once more; a left/right pair the model swapped in one view is read back
    (``swapped_back``).

    Args:
        cameras: the calibration's cameras, one per view.
        named: ``(views, keypoints, 2)`` pixels, ``named_points`` of the frame.
        threshold_px: RANSAC inlier threshold, pixels (the reprojection limit).
        pairs: left/right keypoint index pairs whose swaps are read back.
    """
    cams = list(cameras)

    def solve(reading: NDArray[np.float64], ctx: StageContext) -> FramePoints:
        points = ctx.tool("triangulate_dlt", triangulate_dlt, cams, points_2d=reading[None])
        err = reprojection_errors(cams, points, reading[None])[0]
        over = np.nan_to_num(err, nan=0.0) > threshold_px
        if over.any():
            reading = np.where(over[..., None], np.nan, reading)
            points = ctx.tool("triangulate_dlt", triangulate_dlt, cams, points_2d=reading[None])
        return FramePoints(points_3d=points[0], points_2d=reading, method="model's names")

    async def by_names(
        inp: FrameInput, last: FramePoints | None, feedback: Feedback, ctx: StageContext
    ) -> FramePoints:
        result = ctx.tool(
            "triangulate_ransac",
            triangulate_ransac,
            cams,
            points_2d=named[None],
            threshold_px=threshold_px,
        )
        out = solve(np.where(result.inliers[0][..., None], named, np.nan), ctx)
        reading, steps = swapped_back(
            cams, out.points_3d, out.points_2d, named, pairs, threshold_px
        )
        if not steps:
            return out
        again = solve(reading, ctx)
        return FramePoints(
            points_3d=again.points_3d,
            points_2d=again.points_2d,
            method=f"model's names ({'; '.join(steps)})",
        )

    return Escalation(
        "model_names",
        "take the 2D model's named points in every view, RANSAC over views, read "
        "left/right swaps back",
        by_names,
    )


__all__ = [
    "Limits",
    "make_named_escalation",
    "named_points",
    "readmit_named",
    "swapped_back",
]
