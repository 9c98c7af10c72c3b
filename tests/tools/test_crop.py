"""Crops: exact point maps (also through cv2.resize), borders, boxes, numbered overlays."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.typing import NDArray

from ethoagent.errors import InputError
from ethoagent.tools.crop import Crop, box_around, crop_region, draw_numbered_candidates

HEIGHT, WIDTH = 120, 160


def _ramp() -> NDArray[np.uint8]:
    """A frame whose every pixel value is unique enough to check where a crop came from."""
    yy, xx = np.mgrid[0:HEIGHT, 0:WIDTH]
    return ((xx + 7 * yy) % 251).astype(np.uint8)


def _blob(centre: tuple[float, float], sigma: float = 2.0) -> NDArray[np.float64]:
    yy, xx = np.mgrid[0:HEIGHT, 0:WIDTH].astype(np.float64)
    return 200.0 * np.exp(-((xx - centre[0]) ** 2 + (yy - centre[1]) ** 2) / (2 * sigma**2))


def _centroid(image: NDArray[Any]) -> NDArray[np.float64]:
    """Intensity-weighted centroid ``(1, 2)`` of a non-negative image, pixels."""
    a = np.asarray(image, dtype=np.float64)
    yy, xx = np.mgrid[0 : a.shape[0], 0 : a.shape[1]]
    return np.array([[(a * xx).sum() / a.sum(), (a * yy).sum() / a.sum()]])


# --------------------------------------------------------------------------- crop_region


def test_plain_crop_is_the_slice_and_maps_by_its_corner() -> None:
    img = _ramp()
    crop = crop_region(img, (30, 20, 90, 70))
    np.testing.assert_array_equal(crop.image, img[20:70, 30:90])
    assert crop.box == (30, 20, 90, 70) and crop.size == (60, 50)
    np.testing.assert_array_equal(crop.scale, [1.0, 1.0])
    np.testing.assert_array_equal(
        crop.to_crop([[30.0, 20.0], [45.5, 33.25]]), [[0, 0], [15.5, 13.25]]
    )
    # the crop pixel at a mapped integer point holds the frame's pixel there
    x, y = crop.to_crop([[77.0, 41.0]])[0].astype(int)
    assert crop.image[y, x] == img[41, 77]
    crop.image[0, 0] = 0  # the crop is a copy
    assert img[20, 30] == (30 + 7 * 20) % 251
    assert "60x50 px" in repr(crop)


def test_non_integer_box_rounds_outwards_and_pad_adds_a_margin() -> None:
    img = _ramp()
    assert crop_region(img, (10.2, 10.7, 19.1, 19.9)).box == (10, 10, 20, 20)
    assert crop_region(img, (10, 10, 20, 20), pad=3).box == (7, 7, 23, 23)


def test_box_crossing_the_border_is_clipped_or_padded() -> None:
    img = _ramp()
    clipped = crop_region(img, (-10, -5, 30, 20))
    assert clipped.box == (0, 0, 30, 20) and clipped.image.shape == (20, 30)
    np.testing.assert_array_equal(clipped.to_crop([[0.0, 0.0]]), [[0.0, 0.0]])
    right = crop_region(img, (150, 100, 200, 140), pad=2)
    assert right.box == (148, 98, WIDTH, HEIGHT)

    padded = crop_region(img, (-10, -5, 30, 20), outside="pad", fill=255)
    assert padded.box == (-10, -5, 30, 20) and padded.image.shape == (25, 40)
    np.testing.assert_array_equal(padded.image[5:, 10:], img[0:20, 0:30])
    assert np.all(padded.image[:5] == 255) and np.all(padded.image[:, :10] == 255)
    np.testing.assert_array_equal(padded.to_crop([[0.0, 0.0]]), [[10.0, 5.0]])


def test_resized_crop_scales_and_maps_a_blob_back_to_its_place() -> None:
    centre = (70.3, 55.8)
    img = _blob(centre)
    box = (50, 40, 90, 72)  # 40 x 32 px
    up = crop_region(img, box, out_size=(100, 80))  # x2.5 both ways
    np.testing.assert_allclose(up.scale, [2.5, 2.5])
    assert up.image.shape == (80, 100)
    # cv2.resize places pixel centres exactly as the map says: the blob's centroid in the
    # crop maps back onto the blob
    np.testing.assert_allclose(up.to_full(_centroid(up.image)), [centre], atol=1e-6)
    down = crop_region(img, box, out_size=(20, 16))  # x0.5, block averages
    np.testing.assert_allclose(down.scale, [0.5, 0.5])
    np.testing.assert_allclose(down.to_full(_centroid(down.image)), [centre], atol=1e-6)
    odd = crop_region(img, box, out_size=(30, 24))  # x0.75, interpolated
    np.testing.assert_allclose(odd.to_full(_centroid(odd.image)), [centre], atol=0.02)


def test_keep_aspect_letterboxes_and_stretch_does_not() -> None:
    img = _blob((70.0, 56.0)).astype(np.float32)
    box = (50, 40, 90, 72)  # 40 x 32 px
    boxed = crop_region(img, box, out_size=(80, 80), fill=-1.0)
    np.testing.assert_allclose(boxed.scale, [2.0, 2.0])
    assert boxed.image.shape == (80, 80) and boxed.image.dtype == np.float32
    assert np.all(boxed.image[:8] == -1.0) and np.all(boxed.image[-8:] == -1.0)  # 16 px margin
    np.testing.assert_allclose(boxed.to_crop([[50.0, 40.0]]), [[0.5, 8.5]])
    np.testing.assert_allclose(
        boxed.to_full(_centroid(boxed.image.clip(0))), [[70.0, 56.0]], atol=1e-4
    )
    stretched = crop_region(img, box, out_size=(80, 96), keep_aspect=False)
    np.testing.assert_allclose(stretched.scale, [2.0, 3.0])
    assert stretched.image.shape == (96, 80)


def test_crop_keeps_channels_and_dtype() -> None:
    colour = np.dstack([_ramp()] * 3)
    crop = crop_region(colour, (5, 5, 25, 15), out_size=(40, 20))
    assert crop.image.shape == (20, 40, 3) and crop.image.dtype == np.uint8
    single = crop_region(_ramp()[:, :, None], (5, 5, 25, 15), out_size=(40, 20))
    assert single.image.shape == (20, 40, 1)
    wide = crop_region(_ramp().astype(np.int64), (5, 5, 25, 15), out_size=(40, 20))
    assert wide.image.dtype == np.int64


@settings(max_examples=60, deadline=None)
@given(
    x0=st.floats(-40, 150),
    y0=st.floats(-40, 110),
    w=st.floats(1, 80),
    h=st.floats(1, 80),
    out=st.tuples(st.integers(1, 120), st.integers(1, 120)) | st.none(),
    pad=st.integers(0, 5),
    outside=st.sampled_from(["clip", "pad"]),
    keep_aspect=st.booleans(),
)
def test_round_trip_is_exact_for_any_crop(
    x0: float,
    y0: float,
    w: float,
    h: float,
    out: tuple[int, int] | None,
    pad: int,
    outside: Any,
    keep_aspect: bool,
) -> None:
    box = (x0, y0, x0 + w, y0 + h)
    try:
        crop = crop_region(
            _ramp(), box, out_size=out, pad=pad, outside=outside, keep_aspect=keep_aspect
        )
    except InputError as exc:  # the only expected failure: nothing of the box in the frame
        assert "entirely outside" in str(exc)
        return
    pts = np.random.default_rng(0).uniform(-50, 200, (25, 2))
    np.testing.assert_allclose(crop.to_full(crop.to_crop(pts)), pts, rtol=0, atol=1e-9)
    np.testing.assert_allclose(crop.to_crop(crop.to_full(pts)), pts, rtol=0, atol=1e-9)
    if out is not None:
        assert crop.size == out


@pytest.mark.parametrize(
    ("box", "kwargs", "expected"),
    [
        ((10, 10, 10, 20), {}, "empty or inverted"),
        ((30, 10, 20, 20), {}, "empty or inverted"),
        ((10, 25, 20, 20), {}, "empty or inverted"),
        ((0, 0, np.nan, 5), {}, "finite"),
        ((0, 0, 5), {}, "four"),
        ((200, 10, 220, 20), {}, "entirely outside"),
        ((-30, -30, -5, -5), {"pad": 2}, "entirely outside"),
        ((10, 10, 20, 20), {"pad": -1}, "pad"),
        ((10, 10, 20, 20), {"out_size": (0, 10)}, "out_size"),
        ((10, 10, 20, 20), {"out_size": (10.5, 10)}, "out_size"),
        ((10, 10, 20, 20), {"outside": "wrap"}, "outside"),
    ],
)
def test_bad_boxes_and_settings_raise_clear_errors(
    box: Any, kwargs: dict[str, Any], expected: str
) -> None:
    with pytest.raises(InputError, match=expected) as info:
        crop_region(_ramp(), box, **kwargs)
    assert info.value.fix


def test_bad_images_and_points_raise_clear_errors() -> None:
    with pytest.raises(InputError, match="shape"):
        crop_region(np.zeros((2, 3, 4, 5)), (0, 0, 1, 1))
    with pytest.raises(InputError, match="dtype"):
        crop_region(np.zeros((5, 5), bool), (0, 0, 1, 1))
    crop = crop_region(_ramp(), (0, 0, 10, 10))
    with pytest.raises(InputError, match=r"\(n, 2\)"):
        crop.to_full([1.0, 2.0, 3.0])
    assert isinstance(crop, Crop) and crop.to_full(np.empty((0, 2))).shape == (0, 2)


# --------------------------------------------------------------------------- box_around


def test_box_around_holds_the_points_with_their_margin() -> None:
    pts = np.array([[40.2, 30.7], [70.6, 55.1], [np.nan, np.nan]])
    box = box_around(pts, 5.0, (WIDTH, HEIGHT))
    assert box == (35, 26, 77, 61)
    crop = crop_region(_ramp(), box)
    inner = crop.to_crop(pts[:2])
    assert np.all(inner >= 4.5) and np.all(inner <= np.array(crop.size) - 0.5 - 4.5)
    # clipped at the image border
    assert box_around([[2.0, 3.0], [150.0, 117.0]], 10.0, (WIDTH, HEIGHT)) == (0, 0, WIDTH, HEIGHT)
    assert box_around([[10.0, 10.0]], 0.0, (WIDTH, HEIGHT)) == (10, 10, 11, 11)


def test_box_around_errors() -> None:
    with pytest.raises(InputError, match="finite point"):
        box_around([[np.nan, 1.0]], 3.0, (WIDTH, HEIGHT))
    with pytest.raises(InputError, match="outside"):
        box_around([[500.0, 500.0]], 3.0, (WIDTH, HEIGHT))
    with pytest.raises(InputError, match="margin_px"):
        box_around([[5.0, 5.0]], -1.0, (WIDTH, HEIGHT))
    with pytest.raises(InputError, match="image_size"):
        box_around([[5.0, 5.0]], 1.0, (WIDTH,))


# --------------------------------------------------------------------------- overlays


def test_numbered_drawing_changes_pixels_only_near_the_points() -> None:
    grey = np.full((HEIGHT, WIDTH), 90, np.uint8)
    pts = np.array([[20.4, 30.6], [80.0, 60.0], [WIDTH - 3.0, 100.0], [np.nan, 5.0]])
    out = draw_numbered_candidates(grey, pts)
    assert out.shape == (HEIGHT, WIDTH, 3) and out.dtype == np.uint8
    assert np.all(grey == 90)  # input untouched
    changed = np.any(out != 90, axis=2)
    ys, xs = np.nonzero(changed)
    finite = pts[:3]
    dist = np.abs(np.stack([xs, ys], 1)[:, None, :] - finite[None]).max(axis=2).min(axis=1)
    assert dist.max() <= 20  # circle (4 px) + one-digit number beside it
    for x, y in finite:  # and every point got its circle
        ring = changed[int(y) - 6 : int(y) + 7, int(x) - 6 : int(x) + 7]
        assert ring.sum() >= 12
    assert not changed[:, : int(finite[:, 0].min()) - 6].any()  # nothing left of the points


def test_numbered_drawing_labels_colour_and_errors() -> None:
    bgr = np.zeros((HEIGHT, WIDTH, 3), np.uint8)
    out = draw_numbered_candidates(bgr, [[50.0, 50.0]], labels=["17"], color=(0, 0, 255))
    assert out[..., 2].max() == 255 and out[..., 0].max() < 255
    with pytest.raises(InputError, match="labels has 2 entries for 1"):
        draw_numbered_candidates(bgr, [[50.0, 50.0]], labels=["a", "b"])
    with pytest.raises(InputError, match="8-bit"):
        draw_numbered_candidates(bgr.astype(np.float32), [[50.0, 50.0]])
    with pytest.raises(InputError, match=r"\(n, 2\)"):
        draw_numbered_candidates(bgr, [50.0, 50.0, 1.0])
    np.testing.assert_array_equal(draw_numbered_candidates(bgr, np.empty((0, 2))), bgr)
