"""``benchmarks/classify_transfer.py``: a recording as another rig would film it."""

from __future__ import annotations

import numpy as np

from benchmarks.classify_transfer import OFFSET, resample
from ethoagent.model.pose import PoseData


def test_resample_keeps_every_second_frame_at_half_the_rate_and_scale() -> None:
    points = np.arange(10 * 2 * 2, dtype=np.float64).reshape(10, 1, 2, 2)
    pose = PoseData(points=points, confidence=np.ones((10, 1, 2)), keypoints=("nose", "tail"),
                    individuals=("m",), fps=50.0, unit="px")  # fmt: skip
    labels = np.arange(10, dtype=np.int64)
    part, truth = resample(pose, labels, 2, 10, 2, 0.5)
    assert part.fps == 25.0 and truth.tolist() == [2, 4, 6, 8]
    np.testing.assert_allclose(part.points, points[2:10:2] * 0.5 + OFFSET)
    same, _ = resample(pose, labels, 0, 10, 1, 1.0)
    assert same.fps == 50.0 and np.array_equal(same.points, points)
    # speeds in body lengths per second are what the rig change leaves alone
    body = np.linalg.norm(part.points[:, 0, 0] - part.points[:, 0, 1], axis=-1)
    step = np.linalg.norm(np.diff(part.points[:, 0, 0], axis=0), axis=-1) * part.fps
    body0 = np.linalg.norm(points[:, 0, 0] - points[:, 0, 1], axis=-1)
    step0 = np.linalg.norm(np.diff(points[:, 0, 0], axis=0), axis=-1) * 50.0
    np.testing.assert_allclose(step[0] / body[0], step0[0] / body0[0])
