"""The pose graph's track helpers: what a labelled frame gives the frames after it.

A frame's result (``FrameResult``) joins the track the predictor extrapolates from:
accepted keypoints that land near their prediction (``consistent_with_track``), a flagged
frame's keypoints that pass the checks one by one (``trusted_points``), and keypoints the
recent frames lost, predicted from where they sat on the body (``fill_from_anchor``).
``Track`` is what the frame loop carries from frame to frame (``graphs.pose.stages`` runs
the loop); ``graphs.pose.refind`` restarts it where the body was lost.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from ethoagent.model.camera import Camera
from ethoagent.tools.body_search import rigid_motion
from ethoagent.tools.cameras import project_points
from ethoagent.tools.labelling import predict_points
from ethoagent.tools.triangulate import bone_ends_within, reprojection_errors


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
    good &= bone_ends_within(result.points_3d, bones, reference_lengths, bone_tolerance)
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
    rot, src_c, dst_c = rigid_motion(anchor[known], predicted[known])
    out = predicted.copy()
    out[missing] = (anchor[missing] - src_c) @ rot.T + dst_c
    return out


TRACK_HISTORY = 4
"""Frames the track's constant-velocity prediction remembers (``Track.history``)."""

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


@dataclass(frozen=True)
class TrackChecks:
    """What a flagged frame's keypoints must pass to guide the next frames.

    Attributes:
        reference: ``(bones,)`` calibration units, the seeds' bone lengths.
        bones: ``(i, j)`` keypoint indices (``Skeleton.bone_index``), as ``reference``.
        reprojection_px: largest reprojection error of a trusted observation, pixels.
        bone_tolerance: largest relative deviation of a bone from its reference length.
    """

    reference: NDArray[np.float64]
    bones: Sequence[tuple[int, int]]
    reprojection_px: float
    bone_tolerance: float


@dataclass
class Track:
    """What the frame loop carries from frame to frame.

    Attributes:
        history: the last (up to 4) frames the predictor extrapolates from.
        history_points: their ``(keypoints, 3)`` points, calibration units.
        anchor: ``(keypoints, 3)``: the last complete accepted 3D frame.
        flagged: frames flagged for review so far (never shown as examples).
        cameras: the calibration's cameras, one per view.
        few_shot: accepted frames shown to the model as examples.
        checks: what a flagged frame's keypoints must pass to join the track.
        accepted_2d: ``(views, keypoints, 2)`` pixel readings of this chunk's accepted frames.
    """

    history: list[int]
    history_points: list[NDArray[np.float64]]
    anchor: NDArray[np.float64]
    flagged: list[int]
    cameras: Sequence[Camera]
    few_shot: int
    checks: TrackChecks
    accepted_2d: dict[int, NDArray[np.float64]] = field(default_factory=dict)

    def examples(self, frame: int) -> list[tuple[int, NDArray[np.float64]]]:
        """Accepted frames before ``frame`` with their 2D points, ``(views, keypoints, 2)``."""
        out = []
        for f, p in zip(self.history, self.history_points, strict=True):
            if f < frame and f not in self.flagged:
                pts = self.accepted_2d.get(f)
                if pts is None:
                    pts = project_points(self.cameras, p).transpose(1, 0, 2)
                out.append((f, pts))
        return out[-max(self.few_shot, 1) :]

    def predict(self, frame: int) -> NDArray[np.float64]:
        """``(keypoints, 3)`` points of ``frame`` predicted from the last three in history."""
        recent = [(h, p) for h, p in zip(self.history, self.history_points, strict=True)][-3:]
        predicted = predict_points([h for h, _ in recent], [p for _, p in recent], frame)
        return fill_from_anchor(predicted, self.anchor)

    def last_whole(self) -> int | None:
        """The last frame in history that gave at least half the keypoints, or ``None``."""
        whole = [
            f
            for f, p in zip(self.history, self.history_points, strict=True)
            if np.isfinite(p[:, 0]).mean() >= 0.5
        ]
        return whole[-1] if whole else None

    def add(self, frame: int, result: FrameResult) -> None:
        """Move the track past ``frame``: its accepted (or trusted flagged) points join it."""
        c = self.checks
        if result.status == "accepted":
            points = result.points_3d
            if result.method != "seed labels" and self.history:
                bound = TRACK_JUMP_BONES * float(np.nanmedian(c.reference))
                keep = consistent_with_track(points, self.predict(frame), bound)
                points = np.where(keep[:, None], points, np.nan)
            if not self.history or self.history[-1] != frame:
                self.history.append(frame)
                self.history_points.append(points)
            self.accepted_2d[frame] = result.points_2d
            if np.isfinite(points).all():
                self.anchor = points
        else:
            self.flagged.append(frame)
            # a flagged frame still tells the predictor where its well-supported
            # keypoints are (never shown to the model as a labelled example)
            trusted = trusted_points(
                self.cameras, result, c.reprojection_px, c.reference, c.bone_tolerance, c.bones
            )
            if np.isfinite(trusted[:, 0]).mean() >= 0.5:
                self.history.append(frame)
                self.history_points.append(trusted)
        self.history = self.history[-TRACK_HISTORY:]
        self.history_points = self.history_points[-TRACK_HISTORY:]

    def restart(
        self,
        frames: Sequence[int],
        points: Sequence[NDArray[np.float64]],
        pose: NDArray[np.float64],
    ) -> None:
        """Restart the track from a body re-found in consecutive frames, with their velocity.

        The frames are verified in 3D one by one and agree with each other, so the
        constant-velocity prediction goes on from them: a body re-found while running is
        predicted where it runs to, not where it was.

        Args:
            frames: the frames it was re-found in, ascending; the last is the current one
                (the only one whose output becomes the re-found body).
            points: ``(keypoints, 3)`` per frame, the verified points, calibration units.
            pose: ``(keypoints, 3)`` the whole body in the last frame (the new anchor).
        """
        self.history = list(frames)[-TRACK_HISTORY:]
        self.history_points = list(points)[-TRACK_HISTORY:]
        self.anchor = pose
        if frames[-1] in self.flagged:
            self.flagged.remove(frames[-1])


__all__ = [
    "TRACK_HISTORY",
    "TRACK_JUMP_BONES",
    "FrameResult",
    "Track",
    "TrackChecks",
    "consistent_with_track",
    "fill_from_anchor",
    "trusted_points",
]
