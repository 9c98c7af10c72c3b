"""Crops of a frame for the vision model, exact point maps, and numbered candidate overlays.

The pose pipeline (DESIGN §6) shows the VLM regions of a frame: ``box_around`` gives a box
around points (a region's candidates, last frame's keypoints), ``crop_region`` cuts it out
(optionally resized for the model), and the returned ``Crop`` maps points between the crop
and the full frame exactly, both ways; ``draw_numbered_candidates`` marks candidates with
the numbers the model answers with.

Conventions (OpenCV's):

- a point ``(x, y)`` is in pixels with the centre of the pixel in column ``i`` and row
  ``j`` at ``(i, j)``;
- a box ``(x0, y0, x1, y1)`` is in pixel-index bounds like the slice
  ``image[y0:y1, x0:x1]`` (``x1`` and ``y1`` exclusive), so it covers the points with
  ``x0 - 0.5 <= x < x1 - 0.5``; non-integer bounds are rounded outwards;
- images are ``(height, width)`` grey or ``(height, width, channels)`` (BGR for colour);
  sizes are ``(width, height)``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import cv2
import numpy as np
from numpy.typing import ArrayLike, NDArray

from ethoagent.errors import InputError

__all__ = [
    "Crop",
    "box_around",
    "crop_region",
    "draw_numbered_candidates",
]

Box = tuple[int, int, int, int]
"""``(x0, y0, x1, y1)`` in pixel-index bounds, ``x1`` and ``y1`` exclusive."""

_FONT = cv2.FONT_HERSHEY_SIMPLEX
# dtypes cv2.resize handles itself; others go through float64
_CV_DTYPES = (
    np.dtype(np.uint8),
    np.dtype(np.uint16),
    np.dtype(np.int16),
    np.dtype(np.float32),
    np.dtype(np.float64),
)


@dataclass(frozen=True, repr=False, eq=False)
class Crop:
    """A region cut from a frame, and the exact map between its pixels and the frame's.

    ``crop = (full - offset) * scale`` and ``full = crop / scale + offset`` for points in
    pixels (OpenCV pixel centres in both images), which is exactly how ``cv2.resize``
    places pixel centres, so the map is exact for resized crops too.

    Attributes:
        image: the crop, ``(height, width)`` or ``(height, width, channels)``, the source
            image's dtype.
        box: ``(x0, y0, x1, y1)`` int, the part of the full frame that was cut (after
            ``pad`` and clipping), pixel-index bounds, ``x1``/``y1`` exclusive; it extends
            outside the frame only with ``outside="pad"``.
        offset: ``(2,)`` float64, the full-frame point ``(x, y)``, pixels, that maps to
            the crop's ``(0, 0)``.
        scale: ``(2,)`` float64, crop pixels per full-frame pixel along x and y.
        frame_size: ``(width, height)`` of the full frame, pixels.
    """

    image: NDArray[np.generic]
    box: Box
    offset: NDArray[np.float64]
    scale: NDArray[np.float64]
    frame_size: tuple[int, int]

    def to_crop(self, xy: ArrayLike) -> NDArray[np.float64]:
        """Map full-frame points ``(n, 2)`` (pixels) to crop pixels ``(n, 2)``; NaN stays NaN."""
        pts = _points(xy, "xy")
        out: NDArray[np.float64] = (pts - self.offset) * self.scale
        return out

    def to_full(self, xy: ArrayLike) -> NDArray[np.float64]:
        """Map crop points ``(n, 2)`` (pixels) to full-frame pixels ``(n, 2)``; NaN stays NaN."""
        pts = _points(xy, "xy")
        out: NDArray[np.float64] = pts / self.scale + self.offset
        return out

    @property
    def size(self) -> tuple[int, int]:
        """``(width, height)`` of the crop image, pixels."""
        return int(self.image.shape[1]), int(self.image.shape[0])

    def __repr__(self) -> str:
        """Crop size, source box, frame size and scale."""
        w, h = self.size
        return (
            f"Crop({w}x{h} px from box {self.box} of a {self.frame_size[0]}x"
            f"{self.frame_size[1]} frame, scale ({self.scale[0]:.3g}, {self.scale[1]:.3g}))"
        )


# --------------------------------------------------------------------------- validation


def _points(xy: ArrayLike, what: str) -> NDArray[np.float64]:
    pts = np.asarray(xy, dtype=np.float64)
    if pts.size == 0:
        pts = pts.reshape(0, 2)
    if pts.ndim != 2 or pts.shape[1] != 2:
        raise InputError(
            f"{what} must have shape (n, 2), (x, y) in pixels; found shape {pts.shape}.",
            fix="pass one (x, y) row per point (points[None] for a single point).",
        )
    return pts


def _image(image: ArrayLike, what: str = "image") -> NDArray[np.generic]:
    img = np.asarray(image)
    if img.dtype == np.bool_ or not (
        np.issubdtype(img.dtype, np.integer) or np.issubdtype(img.dtype, np.floating)
    ):
        raise InputError(
            f"{what} must be a numeric image; found dtype {img.dtype}.",
            fix="pass the frame as read by OpenCV (uint8 BGR or grey).",
        )
    if not (img.ndim == 2 or (img.ndim == 3 and img.shape[2] in (1, 3, 4))):
        raise InputError(
            f"{what} must have shape (height, width) or (height, width, 3); found shape "
            f"{img.shape}.",
            fix="pass one image (index a stack of frames first).",
        )
    if img.shape[0] == 0 or img.shape[1] == 0:
        raise InputError(f"{what} is empty (shape {img.shape}).", fix="check the frame.")
    return img


def _box(box: ArrayLike) -> tuple[float, float, float, float]:
    try:
        b = np.asarray(box, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise InputError(
            f"box must be four numbers (x0, y0, x1, y1) in pixels; found {box!r}.",
            fix="pass (x0, y0, x1, y1) with x1 > x0 and y1 > y0.",
        ) from exc
    if b.shape != (4,) or not np.all(np.isfinite(b)):
        raise InputError(
            f"box must be four finite numbers (x0, y0, x1, y1) in pixels; found {box!r}.",
            fix="pass (x0, y0, x1, y1) with x1 > x0 and y1 > y0.",
        )
    x0, y0, x1, y1 = (float(v) for v in b)
    if x1 <= x0 or y1 <= y0:
        raise InputError(
            f"box (x0, y0, x1, y1) = {tuple(b.tolist())} is empty or inverted: it needs "
            "x1 > x0 and y1 > y0.",
            fix="order the corners as (left, top, right, bottom).",
        )
    return x0, y0, x1, y1


def _size(size: Sequence[int], what: str) -> tuple[int, int]:
    try:
        w, h = (int(v) for v in size)
    except (TypeError, ValueError) as exc:
        raise InputError(
            f"{what} must be (width, height) in pixels; found {size!r}.",
            fix="pass two positive integers.",
        ) from exc
    if w <= 0 or h <= 0 or (w, h) != tuple(size):
        raise InputError(
            f"{what} must be two positive integers (width, height); found {size!r}.",
            fix="pass whole pixels.",
        )
    return w, h


# --------------------------------------------------------------------------- boxes and crops


def box_around(points_xy: ArrayLike, margin_px: float, image_size: Sequence[int]) -> Box:
    """The smallest box holding every point plus a margin, clipped to the image.

    Args:
        points_xy: ``(n, 2)`` float64, pixels; rows with NaN are ignored.
        margin_px: margin added on every side, pixels (>= 0).
        image_size: ``(width, height)`` of the image, pixels.

    Returns:
        ``(x0, y0, x1, y1)`` int, pixel-index bounds (``x1``/``y1`` exclusive) of every
        pixel within ``margin_px`` of the points' bounding rectangle, inside the image.

    Raises:
        InputError: no finite point, a negative margin, or every point (with its margin)
            outside the image.
    """
    pts = _points(points_xy, "points_xy")
    w, h = _size(image_size, "image_size")
    margin = float(margin_px)
    if not math.isfinite(margin) or margin < 0:
        raise InputError(
            f"margin_px must be finite and >= 0; found {margin_px!r}.", fix="pass pixels."
        )
    ok = np.all(np.isfinite(pts), axis=1)
    if not ok.any():
        raise InputError(
            f"box_around needs at least one finite point; found {pts.shape[0]} point(s), "
            "none finite.",
            fix="drop the region or use the previous frame's points.",
        )
    lo = pts[ok].min(axis=0) - margin
    hi = pts[ok].max(axis=0) + margin
    # the pixel holding coordinate v has index floor(v + 0.5)
    x0, y0 = (max(math.floor(v + 0.5), 0) for v in lo)
    x1 = min(math.floor(hi[0] + 0.5) + 1, w)
    y1 = min(math.floor(hi[1] + 0.5) + 1, h)
    if x1 <= x0 or y1 <= y0:
        raise InputError(
            f"the points (x {lo[0] + margin:.1f}–{hi[0] - margin:.1f}, y "
            f"{lo[1] + margin:.1f}–{hi[1] - margin:.1f} px) lie outside the {w}x{h} image.",
            fix="check that the points belong to this view.",
        )
    return int(x0), int(y0), int(x1), int(y1)


def crop_region(
    image: ArrayLike,
    box: ArrayLike,
    *,
    out_size: Sequence[int] | None = None,
    pad: int = 0,
    outside: Literal["clip", "pad"] = "clip",
    fill: float = 0.0,
    keep_aspect: bool = True,
) -> Crop:
    """Cut a box out of a frame, optionally resized, with an exact map back to the frame.

    Args:
        image: ``(height, width)`` or ``(height, width, channels)`` frame.
        box: ``(x0, y0, x1, y1)`` pixels in the full frame, pixel-index bounds
            (``x1``/``y1`` exclusive); non-integer bounds are rounded outwards.
        out_size: ``(width, height)`` of the returned image, pixels; ``None`` keeps the
            region's own size (scale 1).
        pad: margin added on every side of the box, pixels (>= 0).
        outside: what to do with the part of the (padded) box outside the frame:
            ``"clip"`` cuts it off (the crop is smaller), ``"pad"`` keeps it, filled with
            ``fill`` (the crop has the box's size).
        fill: grey level of padded pixels (every channel).
        keep_aspect: with ``out_size``, scale x and y alike and centre the region,
            filling the margins with ``fill``; ``False`` stretches the region to
            ``out_size``.

    Returns:
        The crop with its map to the frame.

    Raises:
        InputError: the box is empty, inverted or not finite, lies entirely outside the
            frame, or a size is invalid.
    """
    img = _image(image)
    h, w = int(img.shape[0]), int(img.shape[1])
    bx0, by0, bx1, by1 = _box(box)
    if isinstance(pad, bool) or int(pad) != pad or pad < 0:
        raise InputError(f"pad must be an integer >= 0; found {pad!r}.", fix="pass pixels.")
    if not math.isfinite(fill):
        raise InputError(f"fill must be a finite grey level; found {fill!r}.", fix="pass 0.")
    if outside not in ("clip", "pad"):
        raise InputError(
            f"outside must be 'clip' or 'pad'; found {outside!r}.", fix="pick one of the two."
        )
    x0, y0 = math.floor(bx0) - int(pad), math.floor(by0) - int(pad)
    x1, y1 = math.ceil(bx1) + int(pad), math.ceil(by1) + int(pad)
    ix0, iy0, ix1, iy1 = max(x0, 0), max(y0, 0), min(x1, w), min(y1, h)
    if ix1 <= ix0 or iy1 <= iy0:
        raise InputError(
            f"box {tuple(float(v) for v in (bx0, by0, bx1, by1))} (pad {pad}) lies entirely "
            f"outside the {w}x{h} image.",
            fix="check the box's view and units (pixels of this frame).",
        )
    region = img[iy0:iy1, ix0:ix1]
    if outside == "clip":
        x0, y0, x1, y1 = ix0, iy0, ix1, iy1
    else:
        region = _pad_constant(region, (iy0 - y0, y1 - iy1, ix0 - x0, x1 - ix1), fill)
    rw, rh = x1 - x0, y1 - y0
    if out_size is None:
        out = np.array(region, copy=True)
        return Crop(out, (x0, y0, x1, y1), np.array([x0, y0], float), np.ones(2), (w, h))
    ow, oh = _size(out_size, "out_size")
    if keep_aspect:
        s = min(ow / rw, oh / rh)
        tw, th = max(1, min(ow, round(rw * s))), max(1, min(oh, round(rh * s)))
    else:
        tw, th = ow, oh
    resized = _resize(region, (tw, th))
    mx, my = (ow - tw) // 2, (oh - th) // 2
    out = _pad_constant(resized, (my, oh - th - my, mx, ow - tw - mx), fill)
    # cv2.resize puts the centre of output pixel i at input (i + 0.5) * (n_in / n_out) - 0.5
    scale = np.array([tw / rw, th / rh])
    offset = np.array([x0, y0], float) - 0.5 + (0.5 - np.array([mx, my], float)) / scale
    return Crop(out, (x0, y0, x1, y1), offset, scale, (w, h))


def _resize(image: NDArray[np.generic], size: tuple[int, int]) -> NDArray[np.generic]:
    """``cv2.resize`` to ``(width, height)`` for any numeric dtype and channel count."""
    interp = (
        cv2.INTER_AREA
        if size[0] < image.shape[1] and size[1] < image.shape[0]
        else cv2.INTER_LINEAR
    )
    native = image.dtype in _CV_DTYPES
    src = np.ascontiguousarray(image if native else image.astype(np.float64))
    out = np.asarray(cv2.resize(src, size, interpolation=interp))
    if out.ndim < image.ndim:  # OpenCV drops a single channel axis
        out = out[:, :, None]
    if not native:
        out = out.round() if np.issubdtype(image.dtype, np.integer) else out
        out = out.astype(image.dtype)
    return out


def _pad_constant(
    image: NDArray[np.generic], widths: tuple[int, int, int, int], fill: float
) -> NDArray[np.generic]:
    """Pad ``(top, bottom, left, right)`` pixels of constant ``fill`` (any dtype)."""
    top, bottom, left, right = widths
    pad_width = [(top, bottom), (left, right)] + [(0, 0)] * (image.ndim - 2)
    return np.pad(image, pad_width, mode="constant", constant_values=fill)


# --------------------------------------------------------------------------- overlays


def draw_numbered_candidates(
    image: ArrayLike,
    xy: ArrayLike,
    labels: Sequence[str | int] | None = None,
    *,
    color: tuple[int, int, int] = (0, 255, 255),
    radius_px: int = 4,
    font_scale: float = 0.4,
) -> NDArray[np.uint8]:
    """Draw a small circle round each candidate with its number beside it, on a copy.

    The number goes to the upper right of the circle (upper left near the right border),
    drawn over a dark outline so that it reads on bright and dark backgrounds alike.

    Args:
        image: ``(height, width)`` grey or ``(height, width, 3)`` BGR uint8 image.
        xy: ``(n, 2)`` float64 candidate positions in this image's pixels; NaN rows are
            skipped.
        labels: ``n`` labels; ``None`` numbers them ``0 … n-1`` (their row in ``xy``, so
            an answer maps straight back to the candidate).
        color: BGR colour of circles and numbers.
        radius_px: circle radius, pixels.
        font_scale: OpenCV font scale (0.4 ≈ 9 px high digits).

    Returns:
        ``(height, width, 3)`` uint8 BGR copy with the overlay; the input is not changed.

    Raises:
        InputError: the image is not 8-bit grey/BGR, ``xy`` is not ``(n, 2)`` or the
            number of labels differs from ``n``.
    """
    img = _image(image)
    if img.dtype != np.uint8:
        raise InputError(
            f"draw_numbered_candidates needs an 8-bit image; found dtype {img.dtype}.",
            fix="convert first, e.g. cv2.normalize(image, None, 0, 255, cv2.NORM_MINMAX, "
            "cv2.CV_8U).",
        )
    img8 = np.asarray(img, dtype=np.uint8)
    if img8.ndim == 2 or img8.shape[2] == 1:
        out = np.asarray(cv2.cvtColor(img8.reshape(img8.shape[:2]), cv2.COLOR_GRAY2BGR))
    elif img8.shape[2] == 4:
        out = np.asarray(cv2.cvtColor(img8, cv2.COLOR_BGRA2BGR))
    else:
        out = np.array(img8, copy=True)
    pts = _points(xy, "xy")
    names = [str(i) for i in range(pts.shape[0])] if labels is None else [str(v) for v in labels]
    if len(names) != pts.shape[0]:
        raise InputError(
            f"labels has {len(names)} entries for {pts.shape[0]} candidate(s).",
            fix="pass one label per row of xy, or None to number them 0 … n-1.",
        )
    if radius_px < 1 or font_scale <= 0:
        raise InputError(
            f"radius_px must be >= 1 and font_scale > 0; found {radius_px!r}, {font_scale!r}.",
            fix="use the defaults (4 px, 0.4).",
        )
    w = out.shape[1]
    col = tuple(int(c) for c in color)
    for (x, y), name in zip(pts, names, strict=True):
        if not (math.isfinite(x) and math.isfinite(y)):
            continue
        # 4 fractional bits: circles drawn at sub-pixel positions
        cv2.circle(out, (round(x * 16), round(y * 16)), radius_px * 16, col, 1, cv2.LINE_AA, 4)
        (tw, th), _ = cv2.getTextSize(name, _FONT, font_scale, 1)
        tx = round(x) + radius_px + 1
        if tx + tw >= w:
            tx = round(x) - radius_px - 1 - tw
        ty = max(round(y) - radius_px, th + 1)
        cv2.putText(out, name, (tx, ty), _FONT, font_scale, (0, 0, 0), 3, cv2.LINE_AA)
        cv2.putText(out, name, (tx, ty), _FONT, font_scale, col, 1, cv2.LINE_AA)
    return np.asarray(out, dtype=np.uint8)
