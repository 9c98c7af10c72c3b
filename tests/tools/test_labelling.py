"""Labelling helpers: prediction, region boxes, harmonisation, drawing, seed-label files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ethoagent.errors import InputError
from ethoagent.tools.labelling import (
    draw_keypoints,
    harmonise_assignment,
    predict_points,
    read_seed_labels,
    region_boxes,
    write_seed_labels,
)


def test_uniform_motion_is_predicted_exactly() -> None:
    start, velocity = np.array([[0.0, 0.0, 10.0]]), np.array([[2.0, -1.0, 0.0]])
    frames = [3, 5]
    pts = [start + velocity * f for f in frames]
    np.testing.assert_allclose(predict_points(frames, pts, 8), start + velocity * 8)
    # a long gap extrapolates at most max_extrapolation frames of velocity
    np.testing.assert_allclose(
        predict_points(frames, pts, 50, max_extrapolation=5), start + velocity * 10
    )


def test_prediction_falls_back_per_keypoint() -> None:
    a = np.array([[0.0, 0.0, 0.0], [np.nan, np.nan, np.nan], [1.0, 1.0, 1.0]])
    b = np.array([[1.0, 0.0, 0.0], [5.0, 5.0, 5.0], [np.nan, np.nan, np.nan]])
    got = predict_points([0, 1], [a, b], 2)
    np.testing.assert_allclose(got[0], [2.0, 0.0, 0.0])  # velocity
    np.testing.assert_allclose(got[1], [5.0, 5.0, 5.0])  # seen once: last position
    np.testing.assert_allclose(got[2], [1.0, 1.0, 1.0])  # last known position
    with pytest.raises(InputError, match="before frame"):
        predict_points([0, 3], [a, b], 3)


def test_region_boxes_clip_and_skip_unknown() -> None:
    pts = np.array([[10.0, 20.0], [30.0, 25.0], [np.nan, np.nan], [318.0, 5.0]])
    boxes = region_boxes(
        pts, {"a": (0, 1), "b": (2,), "c": (3,)}, margin_px=5.0, image_size=(320, 240)
    )
    assert boxes["a"] == (5.0, 15.0, 35.0, 30.0)
    assert boxes["b"] is None
    x0, y0, x1, y1 = boxes["c"]  # type: ignore[misc]
    assert y1 > y0
    assert x1 == 319.0 and y0 == 0.0 and x0 < 318.0 < x1


def test_harmonise_gives_a_contested_candidate_to_the_nearer_keypoint() -> None:
    got, notes = harmonise_assignment([4, 4, 2, -1], [3.0, 1.0, 0.5, np.nan])
    assert got.tolist() == [-1, 4, 2, -1]
    assert len(notes) == 1 and "keypoint 0" in notes[0]
    same, none = harmonise_assignment([0, 1, 2], [1.0, 1.0, 1.0])
    assert same.tolist() == [0, 1, 2] and none == []


def test_draw_keypoints_changes_pixels_only_near_points() -> None:
    img = np.zeros((60, 80, 3), np.uint8)
    out = draw_keypoints(img, np.array([[20.0, 30.0], [np.nan, np.nan]]), ["a", "b"])
    assert img.sum() == 0 and out[30, 20].sum() > 0
    changed = np.argwhere(out.sum(axis=2) > 0)
    assert np.all(np.abs(changed[:, 0] - 30) < 15) and np.all(changed[:, 1] >= 15)


def test_seed_labels_round_trip_and_errors(tmp_path: Path) -> None:
    views, kps = ["left", "right"], ["nose", "tail"]
    pts = np.array([[[[1.5, 2.5], [np.nan, np.nan]], [[3.0, 4.0], [5.0, 6.0]]]])
    path = write_seed_labels(tmp_path / "seeds.csv", [7], pts, views, kps)
    frames, back = read_seed_labels(path, views, kps)
    assert frames == [7]
    np.testing.assert_allclose(back, pts)
    bad = tmp_path / "bad.csv"
    bad.write_text("frame,view,keypoint,x,y\n0,middle,nose,1,2\n")
    with pytest.raises(InputError, match="unknown view 'middle'"):
        read_seed_labels(bad, views, kps)
    bad.write_text("frame,cam,x,y\n")
    with pytest.raises(InputError, match="columns"):
        read_seed_labels(bad, views, kps)
    with pytest.raises(InputError, match="does not exist"):
        read_seed_labels(tmp_path / "none.csv", views, kps)
