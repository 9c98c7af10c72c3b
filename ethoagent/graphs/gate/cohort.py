"""``gate train --examples-from``: more labelled sessions of a cohort in one training set.

The sessions an examples table lists (``io.session.read_examples_table``: CSV
``keypoints,labels[,fps]``, paths relative to the table) are read as the trained session is
(``read_keypoints_motion``: motion features at each session's own frame rate), their labels
by ``read_gate_labels``, and laid after the trained session on one timeline, each behind a
gap of unlabelled, invalid frames as long as the model's window, so no training window
mixes two sessions. They must be tracked with the same keypoints and animals (the model's
input has one slot per keypoint and animal). Classes are matched by name; a class only a
listed session has is added after the trained session's classes.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from ethoagent.errors import InputError
from ethoagent.graphs.gate.inputs import Keypoints, read_keypoints_motion
from ethoagent.graphs.gate.labels import read_gate_labels
from ethoagent.io.session import read_examples_table
from ethoagent.model.pose import PoseData
from ethoagent.tools.motion import MotionDescriptor

__all__ = ["CohortSessions", "pool_train_sessions"]


@dataclass(frozen=True)
class CohortSessions:
    """The trained session with the listed ones appended.

    Attributes:
        keypoints: one ``Keypoints`` over every session (pose and motion concatenated on
            the frame axis, gaps of NaN / invalid frames between them).
        labels: ``(frames, animals)`` int64 codes into ``classes``, -1 = unlabelled.
        classes: class names.
        sessions: per listed session, what ``gate.json`` records (``keypoints``,
            ``labels``, ``fps``, ``frames``, ``labelled``).
    """

    keypoints: Keypoints
    labels: NDArray[np.int64]
    classes: list[str]
    sessions: list[dict[str, object]]


def pool_train_sessions(
    kp: Keypoints,
    labels: NDArray[np.int64],
    classes: list[str],
    table: Path,
    *,
    fps: float | None,
    gap: int,
    body: Path | None = None,
) -> CohortSessions:
    """Append the labelled sessions of ``table`` to the trained session.

    Args:
        kp: the trained session's keypoints and motion.
        labels: its ``(frames, animals)`` labels (-1 = unlabelled).
        classes: its class names.
        table: the examples table.
        fps: the frame rate given for sessions whose file and row state none, Hz.
        gap: invalid frames between sessions (the model's window).
        body: the trained session's body file (``--body``): every session is described
            with its roles.

    Raises:
        InputError: a bad table, a session whose keypoints or animals differ from the
            trained one, or a label file that does not fit its session (the message
            names the table and line).
    """
    names = list(classes)
    poses: list[PoseData] = [kp.pose]
    motions, ys, noses = [kp.motion], [labels], [kp.nose_distance]
    record: list[dict[str, object]] = []
    for row in read_examples_table(table):
        where = f"examples table {table}:{row.line}"
        other = read_keypoints_motion(row.keypoints, row.fps or fps, body, skeleton=row.skeleton)
        if (other.pose.keypoints, other.pose.individuals) != (
            kp.pose.keypoints,
            kp.pose.individuals,
        ):
            raise InputError(
                f"{where}: {row.keypoints} has keypoints {list(other.pose.keypoints)} and "
                f"animals {list(other.pose.individuals)}; the trained session has "
                f"{list(kp.pose.keypoints)} and {list(kp.pose.individuals)}.",
                fix="list sessions tracked with the same keypoints and animals.",
            )
        rate = other.pose.fps or row.fps or fps
        y, own = read_gate_labels(row.labels, other.pose.individuals, other.pose.frames, rate)
        names += [c for c in own if c not in names]
        remap = np.array([names.index(c) for c in own] + [-1], dtype=np.int64)
        ys.append(remap[y])  # -1 indexes the trailing -1
        poses.append(other.pose)
        motions.append(other.motion)
        noses.append(other.nose_distance)
        record.append(
            {
                "keypoints": str(row.keypoints),
                "labels": str(row.labels),
                "fps": rate,
                "frames": other.pose.frames,
                "labelled": int((y >= 0).sum()),
            }
        )
    joined = _joined(kp, poses, motions, noses, gap)
    return CohortSessions(joined, _gapped(ys, gap), names, record)


def _gapped(ys: list[NDArray[np.int64]], gap: int) -> NDArray[np.int64]:
    pad = np.full((gap, ys[0].shape[1]), -1, dtype=np.int64)
    return np.concatenate([part for y in ys for part in (y, pad)][:-1])


def _joined(
    kp: Keypoints,
    poses: list[PoseData],
    motions: list[MotionDescriptor],
    noses: list[NDArray[np.float64]],
    gap: int,
) -> Keypoints:
    first = kp.pose
    pts_gap = np.full((gap, *first.points.shape[1:]), np.nan)
    conf_gap = np.zeros((gap, *first.confidence.shape[1:]))
    points = [part for p in poses for part in (p.points, pts_gap)][:-1]
    conf = [part for p in poses for part in (p.confidence, conf_gap)][:-1]
    m0 = motions[0]
    feat_gap = np.zeros((gap, *m0.features.shape[1:]), dtype=m0.features.dtype)
    valid_gap = np.zeros((gap, *m0.valid.shape[1:]), dtype=bool)
    cgap = np.zeros((gap, *m0.confidence.shape[1:]), dtype=m0.confidence.dtype)
    motion = MotionDescriptor(
        np.concatenate([x for m in motions for x in (m.features, feat_gap)][:-1]),
        np.concatenate([x for m in motions for x in (m.valid, valid_gap)][:-1]),
        np.concatenate([x for m in motions for x in (m.confidence, cgap)][:-1]),
    )
    pose = replace(
        first, points=np.concatenate(points), confidence=np.concatenate(conf), frame_names=None
    )
    nose_gap = np.full((gap, *noses[0].shape[1:]), np.nan)
    nose = np.concatenate([part for n in noses for part in (n, nose_gap)][:-1])
    return Keypoints(kp.path, pose, motion, nose, kp.pose_features, kp.body)
