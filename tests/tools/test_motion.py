"""Motion descriptor: normalisation, NaN handling and neighbour features on hand-made cases."""

from __future__ import annotations

import numpy as np
import pytest

from ethoagent.errors import InputError
from ethoagent.tools.motion import describe_motion, motion_dim


def two_animals() -> np.ndarray:
    """1 frame, 2 animals, 2 keypoints (tail, head), pixels in a 100 x 100 frame.

    Animal 0: tail (10, 50), head (20, 50), heading +x, centroid (15, 50).
    Animal 1: tail (15, 80), head (15, 90), centroid (15, 85): straight "below" animal 0
    in image coordinates (+y), 35 px away.
    """
    return np.array([[[[10.0, 50.0], [20.0, 50.0]], [[15.0, 80.0], [15.0, 90.0]]]])


def test_shapes_and_pixel_normalisation() -> None:
    d = describe_motion(two_animals(), frame_size=(100.0, 100.0))
    assert d.features.shape == (1, 2, motion_dim(2, 2)) and d.features.dtype == np.float32
    np.testing.assert_allclose(d.features[0, 0, :4], [0.1, 0.5, 0.2, 0.5], rtol=1e-6)
    np.testing.assert_allclose(d.features[0, 0, 4:6], [1.0, 1.0])
    assert d.valid.all()


def test_neighbour_features_absolute_and_heading_relative() -> None:
    pts = two_animals()
    conf = np.array([[[1.0, 1.0], [0.6, 0.6]]])
    d = describe_motion(pts, conf, frame_size=(100.0, 100.0))
    # Animal 0 sees animal 1 at bearing +90° (0, 35 px) -> sin 1, cos 0, distance 0.35.
    np.testing.assert_allclose(d.features[0, 0, 6:], [1.0, 0.0, 0.35, 0.6], atol=1e-6)
    # Animal 1 sees animal 0 at bearing -90°; distance is symmetric.
    np.testing.assert_allclose(d.features[0, 1, 6:], [-1.0, 0.0, 0.35, 1.0], atol=1e-6)

    rel = describe_motion(pts, conf, frame_size=(100.0, 100.0), heading=(0, 1))
    # Animal 1 heads +y, so animal 0 (at -y) is straight behind it: bearing 180°.
    np.testing.assert_allclose(rel.features[0, 1, 6:], [0.0, -1.0, 0.35, 1.0], atol=1e-6)
    # Animal 0 heads +x: animal 1 is on its +90° side.
    np.testing.assert_allclose(rel.features[0, 0, 6:], [1.0, 0.0, 0.35, 0.6], atol=1e-6)


def test_nan_becomes_zero_with_zero_confidence_and_absent_neighbour() -> None:
    pts = two_animals()
    pts[0, 0, 1] = np.nan
    pts[0, 1] = np.nan
    d = describe_motion(pts, frame_size=(100.0, 100.0))
    assert np.isfinite(d.features).all()
    np.testing.assert_allclose(d.features[0, 0, 2:4], 0.0)
    np.testing.assert_allclose(d.features[0, 0, 4:6], [1.0, 0.0])
    np.testing.assert_allclose(d.features[0, 0, 6:], 0.0)
    assert d.valid.tolist() == [[True, False]]
    np.testing.assert_allclose(d.features[0, 1], 0.0)
    np.testing.assert_allclose(d.confidence, [[0.5, 0.0]])


def test_mm_data_is_normalised_by_bounding_extent() -> None:
    pts = np.array([[[[0.0, 0.0, 0.0], [200.0, 100.0, 50.0]]]])
    d = describe_motion(pts)
    np.testing.assert_allclose(d.features[0, 0, :6], [0.0, 0.0, 0.0, 1.0, 0.5, 0.25])
    assert d.features.shape[-1] == motion_dim(2, 1, spatial_dims=3)


def test_rejects_bad_shapes() -> None:
    with pytest.raises(InputError, match="frames, animals, keypoints"):
        describe_motion(np.zeros((3, 2, 2)))
    with pytest.raises(InputError, match="confidence"):
        describe_motion(np.zeros((3, 1, 2, 2)), np.ones((3, 2)))


def test_velocity_of_uniform_linear_motion_is_constant() -> None:
    # one keypoint moving +2 px/frame in x in a 100 px frame at 10 fps: 0.2 units/s
    frames = 6
    pts = np.zeros((frames, 1, 1, 2))
    pts[:, 0, 0, 0] = 10.0 + 2.0 * np.arange(frames)
    pts[:, 0, 0, 1] = 50.0
    d = describe_motion(pts, frame_size=(100.0, 100.0), velocity_fps=10.0)
    assert d.features.shape == (frames, 1, motion_dim(1, 1, velocity=True))
    np.testing.assert_allclose(d.features[:, 0, 3], 0.2, rtol=1e-5)
    np.testing.assert_allclose(d.features[:, 0, 4], 0.0, atol=1e-7)


def test_velocity_next_to_a_gap_is_one_sided_and_zero_when_isolated() -> None:
    pts = np.zeros((5, 1, 1, 2))
    pts[:, 0, 0, 0] = [0.0, 1.0, np.nan, 3.0, np.nan]
    d = describe_motion(pts, frame_size=(10.0, 10.0), velocity_fps=1.0)
    vx = d.features[:, 0, 3]
    np.testing.assert_allclose(vx, [0.1, 0.1, 0.0, 0.0, 0.0], atol=1e-7)


def test_velocity_is_clipped() -> None:
    pts = np.zeros((2, 1, 1, 2))
    pts[1, 0, 0, 0] = 100.0
    d = describe_motion(pts, frame_size=(100.0, 100.0), velocity_fps=100.0)
    assert float(d.features[0, 0, 3]) == pytest.approx(5.0)
