"""Keypoints lost in a chunk's output found again among the marks no keypoint reads.

A keypoint the track lost stays lost where the per-view matching never offers its mark
again (the track predicts it from a stale anchor, beyond the match gate). This module fills
such a keypoint's frames in the OUTPUT only, where 3D checks verify the mark: it never
feeds the track, so a wrong re-acquisition cannot lose the body.

Per frame of a chunk:

1. the *free* marks of each view: candidates further than ``USED_PX`` from every keypoint
   the output reads in that view;
2. 3D points from the free marks (every pair of views, then every view with a free mark
   within ``REPROJECTION_PX`` of the point's projection; at least ``MIN_VIEWS`` views, all
   within the limit), apart from every keypoint of the frame by half the shortest seed
   bone;
3. one joint assignment of the lost keypoints (no point in the output, a bone to a keypoint
   the output has) to those points: the cost of keypoint ``k`` on point ``p`` is the mean
   relative deviation of ``k``'s bones to the frame's keypoints from the seeds' lengths
   (every one within the bone tolerance, every such neighbour verified: its own bones to
   the frame's points within the tolerance, ``verified_keypoints``), and a left or right
   keypoint must lie on its own side of the body (``side_of_body``); leaving a keypoint
   lost costs the bone tolerance. A keypoint keeps its point only where every assignment
   that takes that point from it costs at least ``MARGIN`` more (a second lost paw on the
   same shell of bone lengths is ambiguous, and nothing is filled);
4. over the chunk, runs of frames re-acquiring a keypoint, each point within
   ``STEP_BONES`` median seed bones of the one before, are kept where the run has a point
   supported by ``STRONG_VIEWS`` views and is two frames long or next to the keypoint's
   own output point within that distance.

Measured in docs/pose.md ("Lost keypoints re-acquired in the output"): on the simulated
tuning sessions the re-acquisitions that go wrong are chance crossings of two views and
marks of a keypoint the output holds elsewhere; steps 3-4 keep them out.

Shapes: points ``(keypoints, 3)`` in calibration units (mm); readings ``(views, keypoints,
2)`` pixels, NaN = none; bones ``(i, j)`` keypoint indices (``Skeleton.bone_index``).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy.optimize import linear_sum_assignment

from ethoagent.graphs.kit.runtime import Runtime
from ethoagent.graphs.pose.item_stages import BodyAxes, body_ends
from ethoagent.model.camera import Camera
from ethoagent.tools.cameras import project_points
from ethoagent.tools.triangulate import reprojection_errors, triangulate_dlt

USED_PX = 1.0
"""A candidate this close (pixels) to a keypoint's reading in the view is that keypoint's."""

REPROJECTION_PX = 1.0
"""Largest reprojection error (pixels) of a re-acquired point in each supporting view."""

MARGIN = 0.05
"""Least extra relative bone deviation of every assignment that takes a keypoint's point
from it."""

STEP_BONES = 0.3
"""Largest distance, in median seed bones, between a re-acquired point and the keypoint's
point in the frame before or after."""

VERTICAL = 0.5
"""The side test is skipped where the body's left (``up x forward``, unit vectors) is
shorter than this: the spine is within 30 degrees of vertical."""

MIN_VIEWS = 2
"""Least number of views whose free marks support a re-acquired point."""

STRONG_VIEWS = 3
"""A run of re-acquisitions needs a point supported by this many views (two views agree on
a chance crossing of two unrelated rays within a pixel)."""

_BIG = 1e6


@dataclass(frozen=True)
class Checks:
    """What a re-acquired keypoint must meet.

    Attributes:
        reference: ``(bones,)`` mm, the seeds' bone lengths.
        bones: ``(i, j)`` keypoint indices, as ``reference``.
        bone_tolerance: largest relative deviation of a bone from its reference length.
        axes: the seeds' body axes for the side test (``None``: no side test).
    """

    reference: NDArray[np.float64]
    bones: Sequence[tuple[int, int]]
    bone_tolerance: float
    axes: BodyAxes | None


def free_marks(
    candidates: NDArray[np.float64], reading: NDArray[np.float64]
) -> NDArray[np.float64]:
    """``(m, 2)`` the candidates ``(n, 2)`` beyond ``USED_PX`` of every reading ``(K, 2)``."""
    c = np.asarray(candidates, dtype=np.float64).reshape(-1, 2)
    r = reading[np.isfinite(reading).all(axis=1)]
    if not len(c) or not len(r):
        return c
    near = np.linalg.norm(c[:, None] - r[None], axis=2).min(axis=1) <= USED_PX
    out: NDArray[np.float64] = c[~near]
    return out


def _nearest(proj: NDArray[np.float64], free: Sequence[NDArray[np.float64]]) -> NDArray[np.float64]:
    """``(N, V, 2)`` per point and view the free mark nearest its projection, NaN beyond."""
    out = np.full(proj.shape, np.nan)
    for v, marks in enumerate(free):
        if not len(marks):
            continue
        d = np.linalg.norm(proj[:, v, None] - marks[None], axis=2)  # (N, m)
        i = np.nan_to_num(d, nan=np.inf).argmin(axis=1)
        ok = d[np.arange(len(d)), i] <= REPROJECTION_PX
        out[ok, v] = marks[i[ok]]
    return out


def free_points(
    cameras: Sequence[Camera], free: Sequence[NDArray[np.float64]]
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """3D points the free marks of ``MIN_VIEWS`` or more views agree on.

    Args:
        cameras: one per view.
        free: per view ``(m, 2)`` pixels, the free marks.

    Returns:
        ``(P, 3)`` mm and ``(P, views, 2)`` their supporting marks (NaN in other views),
        each point supported within ``REPROJECTION_PX`` in every view it uses, one per
        distinct set of marks.
    """
    n_views = len(cameras)
    obs = []
    for a, b in itertools.combinations(range(n_views), 2):
        if not len(free[a]) or not len(free[b]):
            continue
        ia, ib = np.meshgrid(np.arange(len(free[a])), np.arange(len(free[b])), indexing="ij")
        o = np.full((ia.size, n_views, 1, 2), np.nan)
        o[:, a, 0], o[:, b, 0] = free[a][ia.ravel()], free[b][ib.ravel()]
        obs.append(o)
    if not obs:
        return np.empty((0, 3)), np.empty((0, n_views, 2))
    first = triangulate_dlt(cameras, np.concatenate(obs))[:, 0]  # (N, 3)
    support = _nearest(project_points(cameras, first), free)  # (N, V, 2)
    support[~np.isfinite(first).all(axis=1)] = np.nan
    support = support[np.isfinite(support[..., 0]).sum(axis=1) >= MIN_VIEWS]
    if not len(support):
        return np.empty((0, 3)), np.empty((0, n_views, 2))
    support = np.unique(np.nan_to_num(support, nan=-1.0), axis=0)
    support[support == -1.0] = np.nan
    points = triangulate_dlt(cameras, support[:, :, None])[:, 0]
    err = reprojection_errors(cameras, points[:, None], support[:, :, None])[:, :, 0]
    seen = np.isfinite(err)
    ok = (seen.sum(axis=1) >= MIN_VIEWS) & np.where(seen, err <= REPROJECTION_PX, True).all(axis=1)
    return points[ok], support[ok]


def side_of_body(
    axes: BodyAxes, points_3d: NDArray[np.float64]
) -> tuple[NDArray[np.float64], NDArray[np.float64]] | None:
    """The body's unit left ``(3,)`` and a point on its spine ``(3,)``, or ``None``.

    Left is ``up x forward`` times the seeds' sign (forward from the rear to the front,
    ``body_ends``, as the left/right check reads them; up the seeds' dorsal direction);
    ``None`` where the frame lacks either end of the spine or the spine is near vertical
    (``VERTICAL``).
    """
    front, rear = body_ends(axes.skeleton, points_3d)
    if not (np.isfinite(front).all() and np.isfinite(rear).all()):
        return None
    forward = front - rear
    norm = float(np.linalg.norm(forward))
    if norm == 0.0:
        return None
    left = np.cross(axes.up, forward / norm) * axes.sign
    if float(np.linalg.norm(left)) < VERTICAL:
        return None
    spine = 0.5 * (front + rear)
    return left / np.linalg.norm(left), spine


def verified_keypoints(frame_3d: NDArray[np.float64], checks: Checks) -> NDArray[np.bool_]:
    """``(keypoints,)`` True where a point's bones to the frame's points all hold.

    A point with no bone to another point of the frame is not verified; a bone holds
    within the bone tolerance of the seeds' length.
    """
    ends = np.asarray(checks.bones, dtype=np.intp).reshape(-1, 2)
    length = np.linalg.norm(frame_3d[ends[:, 0]] - frame_3d[ends[:, 1]], axis=1)
    dev = np.abs(length - checks.reference) / checks.reference  # (bones,), NaN = open
    out = np.zeros(len(frame_3d), dtype=np.bool_)
    bad = np.zeros(len(frame_3d), dtype=np.bool_)
    for (i, j), d in zip(ends.tolist(), dev.tolist(), strict=True):
        if np.isfinite(d):
            out[[i, j]] = True
            if d > checks.bone_tolerance:
                bad[[i, j]] = True
    verified: NDArray[np.bool_] = out & ~bad
    return verified


def _costs(
    points: NDArray[np.float64], frame_3d: NDArray[np.float64], lost: list[int], checks: Checks
) -> NDArray[np.float64]:
    """``(lost, P)`` mean relative bone deviation of each lost keypoint on each point; inf = no."""
    ref = checks.reference
    known = np.isfinite(frame_3d[:, 0])
    cost = np.full((len(lost), len(points)), np.inf)
    apart = np.ones(len(points), dtype=np.bool_)
    if known.any():
        d = np.linalg.norm(points[:, None] - frame_3d[known][None], axis=2)
        apart = d.min(axis=1) > 0.5 * float(np.min(ref))
    side = side_of_body(checks.axes, frame_3d) if checks.axes is not None else None
    pairs = checks.axes.skeleton.left_right_index if checks.axes is not None else ()
    verified = verified_keypoints(frame_3d, checks)
    for row, k in enumerate(lost):
        bones = [(b, i + j - k) for b, (i, j) in enumerate(checks.bones) if k in (i, j)]
        bones = [(b, o) for b, o in bones if known[o]]
        if not bones or not all(verified[o] for _, o in bones):
            continue
        dev = np.stack(
            [
                np.abs(np.linalg.norm(points - frame_3d[o], axis=1) - ref[b]) / ref[b]
                for b, o in bones
            ]
        )  # (bones, P)
        ok = apart & (dev <= checks.bone_tolerance).all(axis=0)
        if side is not None:
            for a, b in pairs:
                if k in (a, b):
                    s = (points - side[1]) @ side[0]
                    ok &= s > 0 if k == a else s < 0
        cost[row] = np.where(ok, dev.mean(axis=0), np.inf)
    return cost


def _best(cost: NDArray[np.float64], leave: float) -> tuple[float, NDArray[np.intp]]:
    """Least total cost of a one-to-one assignment (``-1`` = left lost at ``leave`` each)."""
    n, p = cost.shape
    full = np.full((n, p + n), _BIG)
    full[:, :p] = np.where(np.isfinite(cost), cost, _BIG)
    full[np.arange(n), p + np.arange(n)] = leave
    rows, cols = linear_sum_assignment(full)
    out = np.full(n, -1, dtype=np.intp)
    out[rows] = np.where(cols < p, cols, -1)
    return float(full[rows, cols].sum()), out


def assign_lost(
    points: NDArray[np.float64], frame_3d: NDArray[np.float64], lost: list[int], checks: Checks
) -> dict[int, int]:
    """Lost keypoint -> index into ``points`` where the joint assignment is unambiguous.

    Args:
        points: ``(P, 3)`` mm, the frame's free 3D points (``free_points``).
        frame_3d: ``(keypoints, 3)`` mm, the frame's output, NaN = none.
        lost: the keypoints to look for (NaN in ``frame_3d``).
        checks: bones, tolerance and body axes.

    Returns:
        the keypoints kept, each with the point it takes.
    """
    if not lost or not len(points):
        return {}
    cost = _costs(points, frame_3d, lost, checks)
    leave = checks.bone_tolerance
    total, choice = _best(cost, leave)
    out = {}
    for row, p in enumerate(choice):
        if p < 0:
            continue
        barred = cost.copy()
        barred[row, p] = np.inf
        if _best(barred, leave)[0] - total >= MARGIN:
            out[lost[row]] = int(p)
    return out


def reacquire_frame(
    cameras: Sequence[Camera],
    candidates: Sequence[NDArray[np.float64]],
    frame_3d: NDArray[np.float64],
    frame_2d: NDArray[np.float64],
    checks: Checks,
) -> dict[int, tuple[NDArray[np.float64], NDArray[np.float64]]]:
    """One frame's lost keypoints found among its free marks (steps 1-3 of the module).

    Args:
        cameras: one per view.
        candidates: per view ``(n, 2)`` pixels, the frame's candidates.
        frame_3d: ``(keypoints, 3)`` mm, the frame's output, NaN = none.
        frame_2d: ``(views, keypoints, 2)`` pixels, the marks the output reads.
        checks: bones, tolerance and body axes.

    Returns:
        keypoint -> (``(3,)`` mm, ``(views, 2)`` its marks, NaN in views without one).
    """
    known = np.isfinite(frame_3d[:, 0])
    lost = [
        k
        for k in np.flatnonzero(~known).tolist()
        if any(k in b and known[b[0] + b[1] - k] for b in checks.bones)
    ]
    if not lost:
        return {}
    free = [free_marks(c, frame_2d[v]) for v, c in enumerate(candidates)]
    points, support = free_points(cameras, free)
    found = assign_lost(points, frame_3d, lost, checks)
    return {k: (points[p], support[p]) for k, p in found.items()}


def _runs(
    found: Sequence[dict[int, tuple[NDArray[np.float64], NDArray[np.float64]]]], k: int, step: float
) -> list[list[int]]:
    """Runs of consecutive frames re-acquiring ``k``, each point within ``step`` of the last."""
    runs: list[list[int]] = []
    for t, f in enumerate(found):
        if k not in f:
            continue
        last = runs[-1][-1] if runs else -2
        if last == t - 1 and float(np.linalg.norm(f[k][0] - found[last][k][0])) <= step:
            runs[-1].append(t)
        else:
            runs.append([t])
    return runs


def _kept(
    run: list[int],
    points: list[tuple[NDArray[np.float64], NDArray[np.float64]]],
    output: NDArray[np.float64],
    step: float,
) -> bool:
    """Whether a run of re-acquisitions of one keypoint is kept (step 4 of the module).

    Args:
        run: its consecutive frames (indices into the chunk).
        points: per frame of ``run`` the ``(3,)`` point and ``(views, 2)`` marks.
        output: ``(frames, 3)`` the keypoint's output over the chunk, NaN = none.
        step: largest distance between consecutive points, mm.
    """
    ends = []
    for u, p in ((run[0] - 1, points[0][0]), (run[-1] + 1, points[-1][0])):
        if 0 <= u < len(output) and np.isfinite(output[u]).all():
            ends.append(float(np.linalg.norm(output[u] - p)) <= step)
    anchored = any(ends)
    strong = max(int(np.isfinite(m[:, 0]).sum()) for _, m in points) >= STRONG_VIEWS
    return (len(run) >= 2 or anchored) and strong


def reacquire_chunk(
    cameras: Sequence[Camera],
    candidates: Sequence[Sequence[NDArray[np.float64]]],
    points_3d: NDArray[np.float64],
    points_2d: NDArray[np.float64],
    checks: Checks,
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.bool_]]:
    """A chunk's output with its lost keypoints re-acquired where the checks hold.

    Args:
        cameras: one per view.
        candidates: per frame, per view ``(n, 2)`` pixels.
        points_3d: ``(frames, keypoints, 3)`` mm, the chunk's output, NaN = none.
        points_2d: ``(frames, views, keypoints, 2)`` pixels, the marks it reads.
        checks: bones, tolerance and body axes.

    Returns:
        the filled ``points_3d`` and ``points_2d`` (copies) and ``(frames, keypoints)``
        True where a keypoint was re-acquired.
    """
    found = [
        reacquire_frame(cameras, c, points_3d[t], points_2d[t], checks)
        for t, c in enumerate(candidates)
    ]
    step = STEP_BONES * float(np.median(checks.reference))
    pts3, pts2 = points_3d.copy(), points_2d.copy()
    taken = np.zeros(points_3d.shape[:2], dtype=np.bool_)
    for k in range(points_3d.shape[1]):
        for run in _runs(found, k, step):
            if _kept(run, [found[t][k] for t in run], points_3d[:, k], step):
                for t in run:
                    pts3[t, k], pts2[t, :, k] = found[t][k]
                    taken[t, k] = True
    return pts3, pts2, taken


def reacquired_points(
    rt: Runtime,
    cameras: Sequence[Camera],
    candidates: Sequence[Sequence[NDArray[np.float64]]],
    points: tuple[NDArray[np.float64], NDArray[np.float64]],
    checks: Checks,
    keypoints: Sequence[str],
    frames: range,
) -> tuple[NDArray[np.float64], NDArray[np.float64], list[list[str]]]:
    """A chunk's output with its lost keypoints re-acquired, recorded in the trace.

    The trace has node ``reacquire``: the ``reacquire_chunk`` call and, where anything was
    re-acquired, a decision naming each keypoint and its frames.

    Args:
        rt: the run's tracer.
        cameras: one per view.
        candidates: per frame of ``frames``, per view ``(n, 2)`` pixels.
        points: the chunk's output, ``(frames, keypoints, 3)`` mm and ``(frames, views,
            keypoints, 2)`` pixels.
        checks: bones, tolerance and body axes.
        keypoints: the skeleton's keypoint names.
        frames: the chunk's frame indices.

    Returns:
        the filled 3D and 2D points and, per frame, the names of the keypoints re-acquired.
    """
    with rt.tracer.scope(node="reacquire", item=f"frames {frames[0]}-{frames[-1]}"):
        pts3, pts2, taken = rt.tool(
            "reacquire_chunk", reacquire_chunk, cameras, candidates, *points, checks
        )
        if taken.any():
            found = [
                f"{name} in frames {', '.join(str(frames[t]) for t in np.flatnonzero(taken[:, k]))}"
                for k, name in enumerate(keypoints)
                if taken[:, k].any()
            ]
            rt.tracer.decision(
                decided_by="checks",
                action=f"re-acquired {'; '.join(found)}",
                reason=(
                    f"lost in the output; free marks of {STRONG_VIEWS}+ views within "
                    f"{REPROJECTION_PX:g} px, bones to verified keypoints within "
                    f"{checks.bone_tolerance:g}, own side of the body, assignment margin "
                    f"{MARGIN:g}, consecutive within {STEP_BONES:g} median bones"
                ),
            )
    names = [[keypoints[k] for k in np.flatnonzero(row).tolist()] for row in taken]
    return pts3, pts2, names


__all__ = [
    "MARGIN",
    "MIN_VIEWS",
    "REPROJECTION_PX",
    "STEP_BONES",
    "STRONG_VIEWS",
    "USED_PX",
    "VERTICAL",
    "Checks",
    "assign_lost",
    "free_marks",
    "free_points",
    "reacquire_chunk",
    "reacquire_frame",
    "reacquired_points",
    "side_of_body",
    "verified_keypoints",
]
