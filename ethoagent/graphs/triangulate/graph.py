"""The verified triangulation stage, shared by the demo and the pose graph.

propose = weighted linear DLT over all views; checks = worst reprojection error, bone-length
consistency against the seed frames, and coverage (how many of the 2D labels the proposal
still uses); escalations, in order = enumerate left/right-swap and dropped-view hypotheses
(greedily, while the score improves), RANSAC over views, then any strategies the caller adds
(the pose graph re-asks the model for the failing keypoints). Still failing: flag the frame.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from pydantic import BaseModel

from ethoagent.config import Budget
from ethoagent.graphs.kit.nodes import Escalation, Feedback, Stage, StageContext
from ethoagent.model.camera import Camera
from ethoagent.model.checks import CheckResult
from ethoagent.model.skeleton import Skeleton
from ethoagent.tools.checks import check_at_most
from ethoagent.tools.triangulate import (
    Hypothesis,
    bone_length_errors,
    enumerate_hypotheses,
    reprojection_errors,
    triangulate_dlt,
    triangulate_ransac,
)

MAX_SWAP_ROUNDS = 3


@dataclass(frozen=True)
class TriangulationLimits:
    """Thresholds of the triangulation checks.

    Attributes:
        reprojection_px: worst reprojection error allowed, pixels.
        bone_tolerance: worst relative bone-length deviation from the seeds allowed.
        min_coverage: smallest fraction of the given 2D labels a proposal must still use.
    """

    reprojection_px: float = 6.0
    bone_tolerance: float = 0.25
    min_coverage: float = 0.75


class FrameInput(BaseModel, arbitrary_types_allowed=True):
    """One frame's 2D labels: ``points_2d`` ``(views, keypoints, 2)`` pixels, NaN = missing."""

    frame: int
    points_2d: NDArray[np.float64]


class FramePoints(BaseModel, arbitrary_types_allowed=True):
    """A 3D proposal for one frame and the reading of the 2D labels it rests on.

    Attributes:
        points_3d: ``(keypoints, 3)`` mm.
        points_2d: ``(views, keypoints, 2)`` pixels: the labels as this proposal reads them
            (swaps undone, dropped views and outliers set to NaN). Checks use this reading.
        method: how the proposal was made.
    """

    points_3d: NDArray[np.float64]
    points_2d: NDArray[np.float64]
    method: str


def apply_hypothesis(points_2d: NDArray[np.float64], hyp: Hypothesis) -> NDArray[np.float64]:
    """The 2D labels ``(views, keypoints, 2)`` read as hypothesis ``hyp`` says."""
    out = points_2d.copy()
    for view, a, b in hyp.swaps:
        out[view, [a, b]] = out[view, [b, a]]
    if hyp.dropped_view is not None:
        out[hyp.dropped_view] = np.nan
    return out


def worst_reprojection(
    cameras: Sequence[Camera], points_3d: NDArray[np.float64], points_2d: NDArray[np.float64]
) -> float:
    """Largest reprojection error of one frame, pixels (NaN if nothing was observed).

    Args:
        points_3d: ``(keypoints, 3)`` mm.
        points_2d: ``(views, keypoints, 2)`` pixels, NaN = missing.
    """
    err = reprojection_errors(cameras, points_3d[None], points_2d[None])[0]
    return float(np.nanmax(err)) if np.isfinite(err).any() else float("nan")


def make_triangulation_stage(
    cameras: Sequence[Camera],
    reference_lengths: NDArray[np.float64],
    skeleton: Skeleton,
    *,
    limits: TriangulationLimits | None = None,
    extra_escalations: Sequence[Escalation[FrameInput, FramePoints]] = (),
    budget: Budget | None = None,
    escalate: bool = True,
    extra_checks: Sequence[Callable[[FrameInput, FramePoints], CheckResult]] = (),
    offered: NDArray[np.bool_] | None = None,
) -> Stage[FrameInput, FramePoints]:
    """The triangulate stage for ``cameras`` with seed-frame bone lengths (mm).

    Args:
        reference_lengths: ``(bones,)`` mm, the median bone lengths of the seed frames.
        skeleton: keypoints, bones and left/right pairs (regions and roles unused).
        limits: check thresholds (defaults of ``TriangulationLimits``).
        extra_escalations: strategies tried after hypotheses and RANSAC.
        budget: per-frame budget; default 3 attempts plus one per extra escalation.
        escalate: ``False`` keeps the checks but tries no escalation (a failing frame is
            flagged with its DLT points; the "no 3D refinement" ablation).
        extra_checks: checks run after the stage's own (e.g. left/right sides).
        offered: ``(views, keypoints)`` bool, the 2D labels the coverage check counts
            against, where an escalation may read labels the input does not hold (the pose
            graph's 2D-model names); default: the labels of the input.
    """
    cams = list(cameras)
    lim = limits or TriangulationLimits()
    bones = list(skeleton.bone_index)

    def max_reprojection(inp: FrameInput, out: FramePoints) -> CheckResult:
        worst = worst_reprojection(cams, out.points_3d, out.points_2d)
        return check_at_most("reprojection", worst, lim.reprojection_px, "px")

    def bone_lengths(inp: FrameInput, out: FramePoints) -> CheckResult:
        rel = bone_length_errors(out.points_3d[None], bones, reference_lengths)[0]
        worst = float(np.nanmax(np.abs(rel))) if np.isfinite(rel).any() else float("nan")
        return check_at_most("bone_length", worst, lim.bone_tolerance, "(relative)")

    def coverage(inp: FrameInput, out: FramePoints) -> CheckResult:
        given = np.isfinite(inp.points_2d[..., 0])
        seen = (given if offered is None else given | offered).sum()
        used = np.isfinite(out.points_2d[..., 0]).sum()
        frac = float(used / seen) if seen else 0.0
        return CheckResult(
            name="coverage",
            passed=frac >= lim.min_coverage,
            value=frac,
            threshold=lim.min_coverage,
            message=f"{used} of {seen} 2D labels used ({frac:.0%}; at least "
            f"{lim.min_coverage:.0%} needed)",
        )

    async def propose(inp: FrameInput, feedback: Feedback | None, ctx: StageContext) -> FramePoints:
        pts = ctx.tool("triangulate_dlt", triangulate_dlt, cams, points_2d=inp.points_2d[None])
        return FramePoints(points_3d=pts[0], points_2d=inp.points_2d, method="dlt")

    async def swap_hypotheses(
        inp: FrameInput, last: FramePoints | None, feedback: Feedback, ctx: StageContext
    ) -> FramePoints:
        # greedy: keep applying the best-ranked alternative while it improves the score
        reading, best_score = inp.points_2d, float("inf")
        steps: list[str] = []
        points = (
            last.points_3d if last is not None else np.full((len(skeleton.keypoints), 3), np.nan)
        )
        for _ in range(MAX_SWAP_ROUNDS):
            ranked = ctx.tool(
                "enumerate_hypotheses",
                enumerate_hypotheses,
                cams,
                points_2d_frame=reading,
                swap_pairs=list(skeleton.left_right_index),
                bones=bones,
                reference_lengths=reference_lengths,
            )
            best = ranked[0]
            if best.description == "identity" or best.score >= best_score:
                if not steps:
                    points = best.points_3d
                break
            reading, best_score, points = (
                apply_hypothesis(reading, best),
                best.score,
                best.points_3d,
            )
            steps.append(best.description)
        method = "hypotheses: " + ("; ".join(steps) if steps else "identity")
        return FramePoints(points_3d=points, points_2d=reading, method=method)

    def _ransac_from(start: NDArray[np.float64], ctx: StageContext) -> FramePoints:
        result = ctx.tool(
            "triangulate_ransac",
            triangulate_ransac,
            cams,
            points_2d=start[None],
            threshold_px=lim.reprojection_px,
        )
        reading = np.where(result.inliers[0][..., None], start, np.nan)
        points = result.points_3d[0]
        # the refit on inliers can push an inlier just past the threshold: drop those
        # observations and solve once more
        err = reprojection_errors(cams, points[None], reading[None])[0]
        over = np.nan_to_num(err, nan=0.0) > lim.reprojection_px
        if over.any():
            reading = np.where(over[..., None], np.nan, reading)
            points = ctx.tool("triangulate_dlt", triangulate_dlt, cams, points_2d=reading[None])[0]
        return FramePoints(points_3d=points, points_2d=reading, method="ransac")

    async def ransac(
        inp: FrameInput, last: FramePoints | None, feedback: Feedback, ctx: StageContext
    ) -> FramePoints:
        # From the labels as given and from the last proposal's reading (swaps the
        # hypotheses undid stay undone there, but a view it dropped is gone): keep the
        # result that passes more of the stage's checks, then the one more observations
        # support.
        options = [_ransac_from(inp.points_2d, ctx)]
        if last is not None and not np.array_equal(last.points_2d, inp.points_2d, equal_nan=True):
            options.append(_ransac_from(last.points_2d, ctx))

        def rank(p: FramePoints) -> tuple[int, int]:
            passed = sum(c(inp, p).passed for c in (max_reprojection, bone_lengths, coverage))
            return passed, int(np.isfinite(p.points_2d[..., 0]).sum())

        return max(options, key=rank)

    escalations: list[Escalation[FrameInput, FramePoints]] = []
    if escalate:
        escalations = [
            Escalation(
                "swap_hypotheses",
                "enumerate left/right swaps per view and dropped views; keep the lowest error",
                swap_hypotheses,
            ),
            Escalation("ransac", "RANSAC over views: drop views that disagree", ransac),
            *extra_escalations,
        ]
    return Stage(
        name="triangulate",
        propose=propose,
        checks=[max_reprojection, bone_lengths, coverage, *extra_checks],
        escalations=escalations,
        budget=budget
        or Budget(max_retries=0, max_attempts=1 + len(escalations), max_model_calls=4),
        retryable=False,
        describe=lambda p: f"3D points by {p.method}",
    )


__all__ = [
    "FrameInput",
    "FramePoints",
    "TriangulationLimits",
    "apply_hypothesis",
    "make_triangulation_stage",
    "worst_reprojection",
]
