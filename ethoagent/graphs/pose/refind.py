"""Re-find the whole body where the pose graph's track has lost it.

The stages label a frame near where the track predicts each keypoint; once the track has
lost most of the body, its prediction points at nothing and every later frame stays lost
(the hard preset lost the whole animal for over half of some sessions while two or more
cameras saw it). Here, as the seed frames do, the body is found without a prediction:
the marks that at least ``REFIND_MIN_VIEWS`` views agree on are triangulated, a seed body
is moved onto them (``tools.body_search``), and the hypothesis is checked in 3D (every
matched mark seen in >= 3 views within ``REFIND_MARK_PX``, bones against the seeds, left
and right keypoints on their own sides, more than half the body). Only when
``REFIND_CONFIRM`` consecutive frames give such a hypothesis, each within the track's jump
bound of the one before, does the frame's output become the re-found body and the track
restart from those frames (its constant-velocity prediction goes on from their motion).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from ethoagent.graphs.kit.runtime import Runtime
from ethoagent.graphs.pose.item_stages import LR_MARGIN_MM, BodyAxes
from ethoagent.graphs.pose.track import TRACK_JUMP_BONES, FrameResult, Track
from ethoagent.graphs.pose.verify import side_offsets
from ethoagent.model.camera import Camera
from ethoagent.model.checks import CheckResult
from ethoagent.tools.body_search import BodyFit, Marks3D, fit_body, triangulate_marks
from ethoagent.tools.triangulate import bone_ends_within, reprojection_errors

REFIND_AFTER = 3
"""Frames in a row without half the body verified before the body is searched for."""
REFIND_CONFIRM = 3
"""Consecutive frames whose hypotheses agree before the track restarts from one."""
REFIND_MIN_VIEWS = 3
"""Views that must see a mark of a re-found body."""
REFIND_MARK_PX = 3.0
"""Largest reprojection error of a mark's candidates, pixels (marks of the hard preset's
noisy 320x240 views: a wider limit lets ghost points of unrelated candidates in)."""
REFIND_GATE_BONES = 0.5
"""Largest distance of a matched mark from the moved seed body, median seed bones."""
REFIND_MIN_SHARE = 0.5
"""A re-found body verifies more than this share of the keypoints (7 of the mouse's 12:
with 6, a body all on wrong marks passed on a tuning session)."""


@dataclass(frozen=True)
class Hypothesis:
    """A whole body found among one frame's marks that passed the 3D checks.

    Attributes:
        frame: the frame.
        points: ``(keypoints, 3)`` mm, the verified marks, NaN where none.
        pose: ``(keypoints, 3)`` mm, the seed body moved there, ``points`` where known.
        reading: ``(views, keypoints, 2)`` pixels, the candidates the points rest on.
    """

    frame: int
    points: NDArray[np.float64]
    pose: NDArray[np.float64]
    reading: NDArray[np.float64]

    @property
    def found(self) -> int:
        """Keypoints with a verified point."""
        return int(np.isfinite(self.points[:, 0]).sum())


@dataclass
class BodySearch:
    """Searches lost frames for the whole body and restarts the track from it.

    Attributes:
        cameras: the calibration's cameras, one per view.
        templates: ``(seeds, keypoints, 3)`` mm, the seed frames' bodies.
        reference: ``(bones,)`` mm, the seeds' bone lengths.
        bones: ``(i, j)`` keypoint indices, as ``reference``.
        bone_tolerance: largest relative deviation of a bone from its reference length.
        axes: dorsal direction and left/right sign (``None``: the skeleton names no
            left/right roles, so nothing is searched for).
        recent: the hypotheses of the last consecutive frames.
    """

    cameras: Sequence[Camera]
    templates: NDArray[np.float64]
    reference: NDArray[np.float64]
    bones: Sequence[tuple[int, int]]
    bone_tolerance: float
    axes: BodyAxes | None
    recent: list[Hypothesis] = field(default_factory=list)

    @property
    def bone(self) -> float:
        """The median seed bone length, mm."""
        return float(np.nanmedian(self.reference))

    def lost(self, frame: int, track: Track) -> bool:
        """Whether the track gave half the body in none of the last ``REFIND_AFTER`` frames."""
        last = track.last_whole()
        return self.axes is not None and (last is None or frame - last > REFIND_AFTER)

    def hypothesis(
        self, frame: int, candidates: Sequence[NDArray[np.float64]], marks: Marks3D
    ) -> Hypothesis | None:
        """The frame's checked whole-body hypothesis, or ``None`` where none passes."""
        fit = fit_body(marks.points, self.templates, self._up(), REFIND_GATE_BONES * self.bone)
        if fit is None:
            return None
        points = self._bones_kept(fit.points)
        if np.isfinite(points[:, 0]).mean() <= REFIND_MIN_SHARE or not self._sides_hold(
            points, fit.pose
        ):
            return None
        return Hypothesis(
            frame=frame,
            points=points,
            pose=np.where(np.isfinite(points), points, fit.pose),
            reading=self._reading(fit, marks, candidates, np.isfinite(points[:, 0])),
        )

    def confirmed(self, hyp: Hypothesis | None) -> bool:
        """Add ``hyp`` to the recent ones; True once ``REFIND_CONFIRM`` in a row agree."""
        if hyp is None:
            self.recent = []
            return False
        if self.recent:
            last = self.recent[-1]
            both = np.isfinite(last.points[:, 0]) & np.isfinite(hyp.points[:, 0])
            moved = np.linalg.norm(last.points[both] - hyp.points[both], axis=1)
            agree = (
                last.frame == hyp.frame - 1
                and both.sum() >= 3
                and bool((moved <= TRACK_JUMP_BONES * self.bone).all())
            )
            if not agree:
                self.recent = []
        self.recent.append(hyp)
        self.recent = self.recent[-REFIND_CONFIRM:]
        return len(self.recent) == REFIND_CONFIRM

    def _up(self) -> NDArray[np.float64]:
        assert self.axes is not None  # lost() is False without axes
        return self.axes.up

    def _bones_kept(self, points: NDArray[np.float64]) -> NDArray[np.float64]:
        """``points`` less both ends of every bone off its seed length by the tolerance."""
        good = bone_ends_within(points, self.bones, self.reference, self.bone_tolerance)
        return np.where(good[:, None], points, np.nan)

    def _sides_hold(self, points: NDArray[np.float64], pose: NDArray[np.float64]) -> bool:
        """Every left/right pair of verified points lies on its own side of the body.

        Sides as the 3D left/right check reads them (``verify.side_offsets``: the frame's
        own up where it shows one), on the verified points completed by the moved seed body.
        """
        assert self.axes is not None
        whole = np.where(np.isfinite(points), points, pose)
        off = side_offsets(self.axes, whole)
        for (a, b), o in zip(self.axes.skeleton.left_right_index, off, strict=True):
            if np.isfinite(points[[a, b], 0]).all() and o < -LR_MARGIN_MM:
                return False
        return True

    def _reading(
        self,
        fit: BodyFit,
        marks: Marks3D,
        candidates: Sequence[NDArray[np.float64]],
        kept: NDArray[np.bool_],
    ) -> NDArray[np.float64]:
        """``(views, keypoints, 2)`` pixels: each kept keypoint's mark's candidates."""
        out = np.full((len(self.cameras), len(fit.mark), 2), np.nan)
        for k in np.flatnonzero(kept):
            for v, c in enumerate(marks.index[fit.mark[k]]):
                if c >= 0:
                    out[v, k] = candidates[v][c]
        return out


def search_lost_frame(
    rt: Runtime,
    search: BodySearch,
    track: Track,
    frame: int,
    candidates: Sequence[NDArray[np.float64]],
    result: FrameResult,
) -> FrameResult:
    """After ``track`` took ``result`` for ``frame``: re-find the body if the track lost it.

    Returns ``result``, or, where ``REFIND_CONFIRM`` consecutive hypotheses agree, the
    re-found body as the frame's accepted result (method ``re-found body``), with the track
    restarted from it. The search, its checks and the decision go into the trace.

    Args:
        rt: the run's tracer.
        search: the run's body search (carries the recent hypotheses).
        track: the frame loop's track, already past ``frame``.
        frame: the frame's index.
        candidates: per view ``(n, 2)`` pixels.
        result: the stages' result for the frame.
    """
    if not search.lost(frame, track):
        search.recent = []
        return result
    with rt.tracer.scope(node="refind", item=f"frame {frame}"):
        marks = rt.tool(
            "triangulate_marks",
            triangulate_marks,
            list(search.cameras),
            candidates,
            reprojection_px=REFIND_MARK_PX,
            min_views=REFIND_MIN_VIEWS,
        )
        hyp = search.hypothesis(frame, candidates, marks)
        done = search.confirmed(hyp)
        n_kp = len(result.points_3d)
        rt.tracer.check(
            CheckResult(
                name="whole_body",
                passed=hyp is not None,
                value=float(0 if hyp is None else hyp.found),
                threshold=float(-(-n_kp // 2)),
                message=f"{len(marks.points)} marks seen in >= {REFIND_MIN_VIEWS} views; "
                + (
                    "no body among them passes the bone and left/right checks"
                    if hyp is None
                    else f"a body with {hyp.found} of {n_kp} keypoints passes the checks "
                    f"({len(search.recent)} of {REFIND_CONFIRM} consecutive frames agree)"
                ),
            )
        )
        if not done or hyp is None:
            return result
        rt.tracer.decision(
            decided_by="policy",
            action="restart_track",
            reason=f"the whole body was re-found in {REFIND_CONFIRM} consecutive frames "
            "after the track had lost it",
        )
    track.restart([h.frame for h in search.recent], [h.points for h in search.recent], hyp.pose)
    search.recent = []
    return FrameResult(
        points_3d=hyp.points,
        points_2d=hyp.reading,
        status="accepted",
        method="re-found body",
        reprojection_px=float(
            np.nanmax(reprojection_errors(search.cameras, hyp.points[None], hyp.reading[None]))
        ),
        model_calls=result.model_calls,
        flag_reason=None,
    )


__all__ = [
    "REFIND_AFTER",
    "REFIND_CONFIRM",
    "BodySearch",
    "Hypothesis",
    "search_lost_frame",
]
