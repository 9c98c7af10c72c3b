"""The rigid fit the body search and the track's anchor share."""

from __future__ import annotations

import numpy as np

from ethoagent.tools.body_search import rigid_motion


def test_rigid_motion_recovers_a_rotation_and_shift() -> None:
    rng = np.random.default_rng(3)
    src = rng.normal(size=(6, 3)) * 20
    angle = 0.7
    rot = np.array(
        [[np.cos(angle), -np.sin(angle), 0], [np.sin(angle), np.cos(angle), 0], [0, 0, 1]]
    )
    dst = src @ rot.T + np.array([5.0, -3.0, 12.0])
    r, sc, dc = rigid_motion(src, dst)
    np.testing.assert_allclose(r, rot, atol=1e-9)
    np.testing.assert_allclose((src - sc) @ r.T + dc, dst, atol=1e-9)


def test_rigid_motion_of_collinear_or_two_points_is_a_shift() -> None:
    line = np.array([[0.0, 0, 0], [1, 0, 0], [2, 0, 0]])
    turned = line[:, [1, 0, 2]] + 4.0  # the line along y instead of x, moved
    for n in (3, 2):
        r, sc, dc = rigid_motion(line[:n], turned[:n])
        np.testing.assert_array_equal(r, np.eye(3))
        np.testing.assert_allclose(sc, line[:n].mean(axis=0))
        np.testing.assert_allclose(dc, turned[:n].mean(axis=0))
