"""Frame preprocessing: crops centred on the animal, contrast, motion made visible, frames
drawn from keypoints, and image features, on images whose answer is known exactly."""

from __future__ import annotations

import numpy as np
import pytest

from ethoagent.errors import InputError
from ethoagent.tools.preprocess import (
    IMAGE_FEATURES,
    crop_window,
    estimate_background,
    foreground_box,
    image_features,
    motion_map,
    motion_overlay,
    normalise_contrast,
    preprocess_window,
    render_keypoints,
    viewport_around,
)


def _frame(cx: float, cy: float, *, size: tuple[int, int] = (240, 320), r: int = 6) -> np.ndarray:
    """A dark frame (h, w, 3) uint8 with a bright square 'animal' centred at (cx, cy)."""
    img = np.full((*size, 3), 20, np.uint8)
    x, y = round(cx), round(cy)
    img[y - r : y + r + 1, x - r : x + r + 1] = 220
    return img


def _centre_of_bright(img: np.ndarray) -> np.ndarray:
    grey = img if img.ndim == 2 else img.mean(axis=2)
    ys, xs = np.nonzero(grey > 128)
    return np.array([xs.mean(), ys.mean()])


def test_crop_from_keypoints_is_centred_on_the_animal() -> None:
    frames = [_frame(200, 60)]
    keypoints = np.array([[[194.0, 54.0], [206.0, 66.0]]])  # corners of the animal
    crops, box = crop_window(frames, keypoints_xy=keypoints, size=64)
    assert box is not None and crops[0].shape == (64, 64, 3)
    np.testing.assert_allclose(_centre_of_bright(crops[0]), [31.5, 31.5], atol=1.5)


def test_crop_by_background_subtraction_without_keypoints() -> None:
    # the animal is elsewhere in most frames: the median is the empty arena
    background = estimate_background([_frame(x, 200) for x in (30, 90, 150, 210, 280)])
    assert int(background.max()) == 20
    frame = _frame(100, 50)
    box = foreground_box(frame, background)
    assert box is not None
    x0, y0, x1, y1 = box
    assert x0 <= 94 and x1 >= 107 and y0 <= 44 and y1 >= 57
    crops, _ = crop_window([frame], background=background, size=48)
    np.testing.assert_allclose(_centre_of_bright(crops[0]), [23.5, 23.5], atol=1.5)
    assert foreground_box(background, background) is None
    # nothing locates the animal: whole frames, no box
    whole, none_box = crop_window([frame], size=48)
    assert none_box is None and whole[0].shape == (48, 48, 3)


def test_motion_overlay_is_non_zero_only_where_the_animal_moved() -> None:
    a, b = _frame(100, 100), _frame(110, 100)
    mmap = motion_map([a, b])
    moved = np.abs(a.astype(int) - b.astype(int)).max(axis=2) > 0
    assert (mmap[~moved] == 0).all() and (mmap[moved] > 0).all()
    overlay = motion_overlay([a, a, b])
    grey = np.repeat(a.mean(axis=2, keepdims=True).astype(np.uint8), 3, axis=2)
    differs = (overlay != grey).any(axis=2)
    assert differs.any()
    assert not differs[~moved].any()  # red only where something moved
    assert (overlay[differs] == (0, 0, 255)).all()
    still = motion_overlay([a, a, a])
    assert (still == grey).all()


def test_contrast_normalisation_spreads_a_dim_image() -> None:
    rng = np.random.default_rng(0)
    dim = (100 + rng.integers(0, 12, (64, 64))).astype(np.uint8)
    out = normalise_contrast(dim)
    assert out.shape == dim.shape and out.dtype == np.uint8
    assert out.std() > 2 * dim.std()
    with pytest.raises(InputError, match="uint8"):
        normalise_contrast(dim.astype(np.float32))


def test_render_keypoints_draws_the_skeleton_where_the_keypoints_are() -> None:
    pts = np.array([[[0.0, 0.0], [10.0, 0.0]], [[0.0, 20.0], [10.0, 20.0]]])  # 2 animals
    vp = viewport_around(pts, 64, margin=0.2)
    img = render_keypoints(pts, [(0, 1)], vp, focal=1)
    focal = vp.to_pixels(pts[1]).round().astype(int)
    other = vp.to_pixels(pts[0]).round().astype(int)
    assert img[focal[0, 1], focal[0, 0]] == 255  # focal animal brightest
    assert 0 < img[other[0, 1], other[0, 0]] < 255
    assert img[0, 63] == 0  # far from every body: background
    flipped = viewport_around(pts, 64, flip_y=True)
    assert flipped.to_pixels(pts[1])[0, 1] < flipped.to_pixels(pts[0])[0, 1]  # +y drawn up


def test_image_features_measure_motion_and_displacement() -> None:
    still = [_frame(100, 100)] * 3
    f = dict(zip(IMAGE_FEATURES, image_features(still, fps=30, seconds=0.5), strict=True))
    assert f["motion"] == 0 and f["moving_fraction"] == 0 and f["displacement"] == 0
    moving = [_frame(100 + 10 * i, 100) for i in range(3)]
    g = dict(zip(IMAGE_FEATURES, image_features(moving, fps=30, seconds=0.5), strict=True))
    # the centroid travels 20 px of a 320 px side in 0.5 s
    assert g["displacement"] == pytest.approx(20 / 320 / 0.5, rel=0.05)
    assert g["motion"] > 0 and g["moving_fraction"] > 0
    assert g["area"] == pytest.approx(13 * 13 / (240 * 320), rel=0.05)


def test_preprocess_window_with_and_without_preprocessing() -> None:
    frames = [_frame(60 + 4 * i, 80) for i in range(3)]
    kp = np.array([[[54.0 + 4 * i, 74.0], [66.0 + 4 * i, 86.0]] for i in range(3)])
    pre = preprocess_window(frames, fps=30, seconds=0.2, keypoints_xy=kp, size=48)
    assert pre.preprocessed and pre.box is not None
    assert pre.image.shape == (48, 4 * 48, 3)  # 3 frames + the motion overlay
    raw = preprocess_window(frames, fps=30, seconds=0.2, keypoints_xy=kp, size=48, preprocess=False)
    assert not raw.preprocessed and raw.image.shape == (48, 48, 3)
    r = dict(zip(IMAGE_FEATURES, raw.features, strict=True))
    p = dict(zip(IMAGE_FEATURES, pre.features, strict=True))
    assert r["motion"] == 0 and p["motion"] > 0  # a still frame cannot show motion
    assert p["area"] > 5 * r["area"]  # the crop shows the animal large
