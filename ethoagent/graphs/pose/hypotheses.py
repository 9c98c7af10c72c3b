"""Two readings of the same frames as competing hypotheses, and the checks that choose.

The pose graph's frame loop carries two tracks over the same candidates: the *refined*
reading (the triangulation stage's 3D escalations; its track learns from what they
accept) and the *stage-wise* reading (the per-view stages' plain DLT, no 3D escalation:
what the ``staged_no_3d`` ablation outputs, with its own track). Neither is better
everywhere: an escalation can accept a frame with a keypoint dropped or on a wrong mark and
the refined track then loses that keypoint for a hundred frames, while the stage-wise track
keeps it; elsewhere the escalations fix what the stage-wise reading gets wrong.

Per chunk of frames and keypoint, ``choose_readings`` keeps the refined reading unless the
stage-wise one is better on checks that need no ground truth (``score_reading``):

- ``bone``: median over the chunk's frames of the keypoint's mean relative deviation of its
  bones (to keypoints of the same reading) from the seeds' lengths;
- ``smoothness``: median over the chunk of its acceleration
  ``|p[t+1] - 2 p[t] + p[t-1]|`` in calibration units per frame² (a keypoint jumping
  between marks is not smooth);
- ``missing``: share of the chunk's frames without a 3D point.

The stage-wise reading is taken where it is better by more than ``CHOICE_MARGIN``
(relative) on one of ``bone`` and ``smoothness`` and not worse by as much on the other; on
both where it leaves more frames without a point; and only where its ``bone`` median is
within the bone tolerance, so that a keypoint it brings back is verified in 3D.
``chosen_points`` applies the choice to a chunk's readings (``Reading``; the frame loop in
``graphs.pose.stages`` fills them) and records the scores and the choice in the trace.

Shapes: points ``(frames, keypoints, 3)`` float64 in calibration units (mm), NaN = missing;
bones ``(i, j)`` keypoint indices (``Skeleton.bone_index``); reference ``(bones,)`` lengths.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from ethoagent.graphs.kit.runtime import Runtime
from ethoagent.graphs.pose.item_stages import Env
from ethoagent.graphs.pose.refind import BodySearch
from ethoagent.graphs.pose.track import FrameResult, Track
from ethoagent.model.skeleton import Skeleton
from ethoagent.tools.triangulate import bone_length_errors

CHOICE_MARGIN = 0.1
"""A check prefers one reading where its score is lower than the other's by more than this
share of the larger of the two."""

CONSECUTIVE_ACCEL = 0.5
"""Largest median acceleration of the refined reading over a chunk, as a share of the
seeds' median bone length per frame², at which its frames count as consecutive video
frames. Above it (labelled frames picked from a long recording, e.g. DANNCE's) neither the
smoothness check nor the stage-wise track means anything, and the refined reading is kept.
The simulated sessions stay below 0.3, a real 15-node SLEAP session near 0.2."""


@dataclass(frozen=True)
class ReadingScores:
    """A reading's check scores over one chunk, per keypoint (``(keypoints,)`` float64).

    Attributes:
        bone: median relative bone-length deviation from the seeds; ``inf`` where no bone
            of the keypoint was measured.
        smoothness: median acceleration, calibration units per frame²; ``inf`` where no
            three consecutive frames hold the keypoint.
        missing: share of frames without a 3D point, 0 to 1.
    """

    bone: NDArray[np.float64]
    smoothness: NDArray[np.float64]
    missing: NDArray[np.float64]


def _median_or_inf(values: NDArray[np.float64]) -> NDArray[np.float64]:
    """Per column of ``(frames, keypoints)``, the median of the finite values, else ``inf``."""
    seen = np.isfinite(values).any(axis=0)
    out = np.full(values.shape[1], np.inf)
    if seen.any():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            out[seen] = np.nanmedian(values[:, seen], axis=0)
    return out


def score_reading(
    points_3d: NDArray[np.float64],
    reference: NDArray[np.float64],
    bones: Sequence[tuple[int, int]],
) -> ReadingScores:
    """The checks' scores of one reading over one chunk, per keypoint.

    Args:
        points_3d: ``(frames, keypoints, 3)`` calibration units, NaN = missing.
        reference: ``(bones,)`` the seeds' bone lengths, same units.
        bones: ``(i, j)`` keypoint indices, as ``reference``.

    Raises:
        ValueError: ``points_3d`` is not ``(frames, keypoints, 3)``.
    """
    if points_3d.ndim != 3 or points_3d.shape[2] != 3:
        raise ValueError(f"points_3d must be (frames, keypoints, 3); got {points_3d.shape}.")
    n, k = points_3d.shape[:2]
    dev = np.abs(bone_length_errors(points_3d, bones, reference))  # (frames, bones)
    total, count = np.zeros((n, k)), np.zeros((n, k))
    for b, (i, j) in enumerate(bones):
        ok = np.isfinite(dev[:, b])
        for end in (i, j):
            total[ok, end] += dev[ok, b]
            count[ok, end] += 1
    per_frame = np.where(count > 0, total / np.maximum(count, 1), np.nan)
    if n >= 3:
        acc = np.linalg.norm(points_3d[2:] - 2 * points_3d[1:-1] + points_3d[:-2], axis=-1)
    else:
        acc = np.full((0, k), np.nan)
    return ReadingScores(
        bone=_median_or_inf(per_frame),
        smoothness=_median_or_inf(acc),
        missing=np.isnan(points_3d[..., 0]).mean(axis=0) if n else np.ones(k),
    )


def _votes(
    ours: NDArray[np.float64], theirs: NDArray[np.float64], margin: float
) -> NDArray[np.int_]:
    """+1 where ``ours`` is lower by more than ``margin`` of the larger, -1 the reverse."""
    larger = np.maximum(np.abs(ours), np.abs(theirs))
    tol = np.where(np.isfinite(larger), margin * larger, 0.0)
    with np.errstate(invalid="ignore"):
        better = ours < theirs - tol
        worse = theirs < ours - tol
    out: NDArray[np.int_] = better.astype(int) - worse.astype(int)
    return out


def choose_readings(
    refined: ReadingScores,
    stagewise: ReadingScores,
    bone_tolerance: float,
    margin: float = CHOICE_MARGIN,
) -> NDArray[np.bool_]:
    """Per keypoint, whether the chunk takes the stage-wise reading over the refined one.

    Args:
        refined: the refined reading's scores over the chunk.
        stagewise: the stage-wise reading's scores over the same frames.
        bone_tolerance: largest relative bone deviation the 3D check allows; a stage-wise
            keypoint whose median deviation exceeds it is never taken.
        margin: relative difference a check needs to prefer one reading.

    Returns:
        ``(keypoints,)`` bool, True where the stage-wise reading is taken.
    """
    votes = _votes(stagewise.bone, refined.bone, margin) + _votes(
        stagewise.smoothness, refined.smoothness, margin
    )
    # a reading that leaves more frames without a point must win both checks
    needed = np.where(stagewise.missing > refined.missing, 2, 1)
    take: NDArray[np.bool_] = (votes >= needed) & (stagewise.bone <= bone_tolerance)
    return take


def consecutive(refined: ReadingScores, reference: NDArray[np.float64]) -> bool:
    """Whether a chunk's frames move like consecutive video frames (``CONSECUTIVE_ACCEL``).

    Args:
        refined: the refined reading's scores over the chunk.
        reference: ``(bones,)`` the seeds' bone lengths, calibration units.
    """
    acc = refined.smoothness[np.isfinite(refined.smoothness)]
    bones = reference[np.isfinite(reference)]
    if not acc.size or not bones.size:
        return True
    return bool(np.median(acc) <= CONSECUTIVE_ACCEL * np.median(bones))


STAGEWISE = "stage-wise"
"""The name of the second reading in the trace (its events carry ``reading``) and frames.csv."""


@dataclass
class Reading:
    """One hypothesis the frame loop carries over a chunk.

    Attributes:
        name: ``refined`` or ``STAGEWISE``.
        track: its own track (what its labelled frames give the next).
        env: its stages' context (the stage-wise one: no 3D refinement, cheap path first).
        search: its own whole-body search.
        results: the chunk's frames labelled so far, in order.
    """

    name: str
    track: Track
    env: Env
    search: BodySearch
    results: list[FrameResult] = field(default_factory=list)


def chosen_points(
    rt: Runtime,
    readings: Sequence[Reading],
    reference: NDArray[np.float64],
    skeleton: Skeleton,
    bone_tolerance: float,
    frames: range,
) -> tuple[NDArray[np.float64], NDArray[np.float64], list[str]]:
    """A chunk's 3D and 2D points: per keypoint the reading the checks prefer.

    The scores, the choice and the reason go into the trace (node ``choose_reading``).

    Args:
        rt: the run's tracer.
        readings: the refined reading, then the stage-wise one (if carried), each holding
            one result per frame of ``frames``.
        reference: ``(bones,)`` mm, the seeds' bone lengths.
        skeleton: the animal's skeleton (keypoint names, bones).
        bone_tolerance: largest relative bone deviation the 3D check allows.
        frames: the chunk's frame indices.

    Returns:
        ``(frames, keypoints, 3)`` mm, ``(frames, views, keypoints, 2)`` px, and the names of
        the keypoints taken from the stage-wise reading (empty with one reading).
    """
    pts3 = np.stack([r.points_3d for r in readings[0].results])
    pts2 = np.stack([r.points_2d for r in readings[0].results])
    if len(readings) < 2:
        return pts3, pts2, []
    alt3 = np.stack([r.points_3d for r in readings[1].results])
    alt2 = np.stack([r.points_2d for r in readings[1].results])
    with rt.tracer.scope(node="choose_reading", item=f"frames {frames[0]}-{frames[-1]}"):
        ours = rt.tool("score_reading", score_reading, pts3, reference, skeleton.bone_index)
        theirs = rt.tool("score_reading", score_reading, alt3, reference, skeleton.bone_index)
        reason = reading_scores_text(skeleton.keypoints, ours, theirs)
        if consecutive(ours, reference):
            take = choose_readings(ours, theirs, bone_tolerance)
        else:
            take = np.zeros(len(skeleton.keypoints), dtype=np.bool_)
            reason = (
                f"frames not consecutive (median acceleration above {CONSECUTIVE_ACCEL:g} "
                f"of the median bone per frame²): refined reading kept; {reason}"
            )
        names = [k for k, t in zip(skeleton.keypoints, take, strict=True) if t]
        rt.tracer.decision(
            decided_by="checks",
            action=f"{STAGEWISE} reading for {', '.join(names)}" if names else "refined reading",
            reason=reason,
        )
    pts3[:, take], pts2[:, :, take] = alt3[:, take], alt2[:, :, take]
    return pts3, pts2, names


def reading_scores_text(
    keypoints: Sequence[str], refined: ReadingScores, stagewise: ReadingScores
) -> str:
    """Both readings' scores per keypoint, for the trace (refined / stage-wise)."""

    def fmt(x: float) -> str:
        return f"{x:.3g}" if np.isfinite(x) else "none"

    return (
        "; ".join(
            f"{name}: bone {fmt(refined.bone[k])}/{fmt(stagewise.bone[k])}, smoothness "
            f"{fmt(refined.smoothness[k])}/{fmt(stagewise.smoothness[k])}, missing "
            f"{refined.missing[k]:.2f}/{stagewise.missing[k]:.2f}"
            for k, name in enumerate(keypoints)
        )
        + " (refined/stage-wise)"
    )


__all__ = [
    "CHOICE_MARGIN",
    "CONSECUTIVE_ACCEL",
    "STAGEWISE",
    "Reading",
    "ReadingScores",
    "choose_readings",
    "chosen_points",
    "consecutive",
    "reading_scores_text",
    "score_reading",
]
