"""Named 2D points the per-view stages left out, taken back where they agree in 3D."""

from __future__ import annotations

import numpy as np

from ethoagent.graphs.pose.readmit import Limits, named_points, readmit_named, swapped_back
from ethoagent.model.camera import Camera
from ethoagent.model.skeleton import MOUSE12
from ethoagent.sim.synthetic import simulate_world
from ethoagent.tools.cameras import make_ring_cameras, project_points
from ethoagent.tools.triangulate import median_bone_lengths, triangulate_dlt

K = {n: i for i, n in enumerate(MOUSE12.keypoints)}


def _frame() -> tuple[list[Camera], np.ndarray, np.ndarray, Limits]:
    world = simulate_world(60, animals=1, seed=3).points_3d[:, 0]
    cams = make_ring_cameras(4, seed=1)
    truth = world[40]
    limits = Limits(
        6.0, 0.25, median_bone_lengths(world[:3], MOUSE12.bone_index), MOUSE12.bone_index
    )
    return cams, truth, project_points(cams, truth).transpose(1, 0, 2), limits


def test_named_points_take_the_most_confident_of_each_keypoint() -> None:
    xy = np.array([[1.0, 1.0], [2.0, 2.0], [3.0, 3.0]])
    out = named_points([xy], [np.array([0, 0, -1])], 2)
    np.testing.assert_array_equal(out[0, 0], [1.0, 1.0])
    assert np.isnan(out[0, 1]).all()


def test_a_left_out_view_agreeing_in_3d_is_taken_back_an_outlier_is_not() -> None:
    cams, truth, named, limits = _frame()
    reading = named.copy()
    reading[2, K["tail_tip"]] = np.nan  # left out although named right
    reading[3, K["ear_left"]] = np.nan  # left out, and named 40 px off
    named = named.copy()
    named[3, K["ear_left"]] += 40.0
    pts = triangulate_dlt(cams, reading[None])[0]
    p3, p2, taken = readmit_named(cams, pts, reading, named, limits)
    assert taken == 1
    np.testing.assert_allclose(p2[2, K["tail_tip"]], named[2, K["tail_tip"]])
    assert np.isnan(p2[3, K["ear_left"]]).all()
    np.testing.assert_allclose(p3, truth, atol=1e-6)


def test_a_keypoint_left_with_one_view_is_triangulated_from_named_points() -> None:
    cams, truth, named, limits = _frame()
    reading = named.copy()
    reading[1:, K["tail_tip"]] = np.nan
    pts = triangulate_dlt(cams, reading[None])[0]
    assert np.isnan(pts[K["tail_tip"]]).all()
    p3, _, taken = readmit_named(cams, pts, reading, named, limits)
    assert taken == 3
    np.testing.assert_allclose(p3[K["tail_tip"]], truth[K["tail_tip"]], atol=1e-6)
    # the same, but the named points sit on another body part: consistent across views,
    # but its bone to tail_mid fails, so the keypoint stays missing
    wrong = named.copy()
    wrong[:, K["tail_tip"]] = project_points(cams, truth[K["back_front"]][None])[:, 0]
    wrong[0, K["tail_tip"]] = np.nan
    reading[0, K["tail_tip"]] = np.nan
    p3, _, taken = readmit_named(cams, pts, reading, wrong, limits)
    assert taken == 0 and np.isnan(p3[K["tail_tip"]]).all()


def test_a_left_right_swap_of_one_view_is_read_back_close_pairs_are_not_exchanged() -> None:
    cams, truth, named, _ = _frame()
    a, b = K["forepaw_left"], K["forepaw_right"]
    spoilt = named.copy()
    spoilt[2, [a, b]] = spoilt[2, [b, a]]  # the 2D model swapped the forepaws in view 2
    reading = spoilt.copy()
    reading[2, [a, b]] = np.nan  # RANSAC left both out
    back, steps = swapped_back(cams, truth, reading, spoilt, MOUSE12.left_right_index, 6.0)
    np.testing.assert_allclose(back, named)
    assert steps == [f"swap {a}<->{b} in view 2"]
    # two outliers of a pair left out are not exchanged: neither fits the other's place
    moved = named.copy()
    moved[2, [a, b]] += 40.0
    back, steps = swapped_back(cams, truth, reading, moved, MOUSE12.left_right_index, 6.0)
    assert steps == [] and np.isnan(back[2, [a, b]]).all()
    # a pair the reading kept is left as it is
    back, steps = swapped_back(cams, truth, named, spoilt, MOUSE12.left_right_index, 6.0)
    assert steps == [] and np.array_equal(back, named)
