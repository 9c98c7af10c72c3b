"""Candidate keypoint positions per view: bright-mark detection and pose-model predictions.

The pose pipeline (DESIGN §6) starts from *candidates*: points in one image of one view that
may be a keypoint. They come from two sources, both returned as ``Candidates``:

- ``detect_marks`` finds small bright blobs (quantum-dot-style marks a few pixels wide, much
  brighter than the animal and the floor) with OpenCV and numpy only:

  1. Gaussian smoothing at about a mark's radius (``smooth_px``);
  2. a morphological top-hat, the image minus its grey opening by a disk just wider than
     the largest accepted mark, which removes the floor, the body and slow lighting
     changes without a blur's halo around edges;
  3. local maxima above an adaptive threshold: ``noise_sigmas`` standard deviations of
     the sensor noise after smoothing, the noise being estimated from the image itself
     (Immerkær's operator with a median, blind to edges and lighting gradients);
  4. at each maximum, the local background is the brightest grey opening by line segments
     of the disk's width in 24 directions: a mark is shorter than that in every direction,
     whereas a thin lit line, an edge or a ridge contains a segment along itself, so its
     contrast falls to zero (the top-hat alone keeps every such structure);
  5. a sub-pixel centre per maximum, the fixed point of an intensity-weighted centroid
     under a Gaussian window that follows it (the mode of the blob seen through the
     window, unbiased for symmetric blobs and at the bright head of a motion streak);
  6. the area at half maximum; blobs outside ``[min_area_px, max_area_px]`` (hot pixels,
     specular spots) are rejected.

  A blob touching a brighter structure (a mark just off the edge of a brighter body) is a
  bump on that structure to this detector, and two marks closer than about two pixels
  are one candidate.

- ``candidates_from_predictions`` turns the keypoints of a 2D pose model (DLC, SLEAP, …)
  into the same container, one per frame and view.

``match_candidates`` assigns predicted keypoint positions (for example the previous frame's
pose reprojected into the view) to candidates by the Hungarian method with a distance gate:
the pipeline's cheap path before any model is asked.

Pixel convention (OpenCV's): the pixel in column ``i`` and row ``j`` has its centre at
``(x, y) = (i, j)``; an image of width ``w`` covers ``x`` in ``[-0.5, w - 0.5]``.
Grey levels are those of the input image (0–255 for uint8, 0–65535 for uint16, as given
for floats); colour images are BGR (OpenCV's order) and converted to grey first.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

import cv2
import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from numpy.typing import ArrayLike, NDArray
from scipy.optimize import linear_sum_assignment

from ethoagent.errors import InputError

__all__ = [
    "CandidateMatch",
    "Candidates",
    "candidates_from_predictions",
    "detect_marks",
    "detect_marks_batch",
    "match_candidates",
]

# Half-width of the patch in which a centroid is refined, px: a mark is a few px wide and a
# refined centre stays within a pixel or two of its integer local maximum.
_REFINE_RADIUS = 3
# Gaussian window of the centroid, px (about a raw mark's radius).
_WINDOW_SIGMA = 1.0
_REFINE_ITERATIONS = 12
# Centroid weights are clipped at this fraction of the smoothed contrast (about a quarter
# of the raw peak), so that noise and the patch corners do not pull the centre towards the
# integer maximum.
_CLIP = 0.5
# Local maxima closer than this (Chebyshev distance, px) are one blob.
_PEAK_SEPARATION = 2
# 1.4826 · MAD estimates a Gaussian standard deviation.
_MAD_TO_SIGMA = 1.4826
# The adaptive threshold is never below this fraction of the image's range of grey levels,
# so that a noise-free image does not turn anti-aliasing steps into candidates.
_RELATIVE_FLOOR = 0.03
# Immerkær's noise operator (difference of two Laplacians) and its L2 norm.
_NOISE_KERNEL = np.array([[1, -2, 1], [-2, 4, -2], [1, -2, 1]], dtype=np.float32)
_NOISE_KERNEL_NORM = 6.0
_NOISE_SAMPLES = 20_000
# Orientations of the line openings, 7.5° apart: a segment of the default length then
# stays within about half a pixel of a straight lit line at any angle.
_N_DIRECTIONS = 24


# --------------------------------------------------------------------------- container


@dataclass(frozen=True, repr=False, eq=False)
class Candidates:
    """Candidate keypoint positions in one image of one view, best first.

    The constructor validates the arrays, makes them read-only and sorts every field by
    decreasing ``confidence`` (ties by decreasing ``brightness``), so ``xy[0]`` is always
    the most confident candidate.

    Attributes:
        xy: ``(n, 2)`` float64, pixels, ``(x, y)`` in the full frame (OpenCV pixel centres).
        brightness: ``(n,)`` float64, peak contrast above the local background, grey levels
            of the image smoothed by ``smooth_px``; NaN for pose-model candidates.
        area_px: ``(n,)`` float64, area at half maximum, pixels²; NaN for pose-model
            candidates.
        confidence: ``(n,)`` float64 in ``[0, 1]``; for detections
            ``1 - threshold / brightness`` (0 at the threshold, towards 1 for marks far
            above it), for pose-model candidates the model's likelihood.
        keypoint: ``(n,)`` int64, index of the pose-model keypoint that proposed the
            candidate; -1 for image detections.
    """

    xy: NDArray[np.float64]
    brightness: NDArray[np.float64]
    area_px: NDArray[np.float64]
    confidence: NDArray[np.float64]
    keypoint: NDArray[np.int64]

    def __post_init__(self) -> None:
        """Validate shapes and values; order by confidence, then brightness, highest first."""
        xy = np.array(self.xy, dtype=np.float64)
        if xy.size == 0:
            xy = xy.reshape(0, 2)
        if xy.ndim != 2 or xy.shape[1] != 2:
            raise InputError(
                f"Candidates.xy must have shape (n, 2) in pixels; found shape {xy.shape}.",
                fix="stack the (x, y) positions into an (n, 2) array.",
            )
        n = xy.shape[0]
        fields: dict[str, NDArray[np.float64]] = {}
        for name in ("brightness", "area_px", "confidence"):
            arr = np.array(getattr(self, name), dtype=np.float64).ravel()
            if arr.shape != (n,):
                raise InputError(
                    f"Candidates.{name} must have shape ({n},), one value per candidate; "
                    f"found shape {arr.shape}.",
                    fix="give every field one value per row of xy.",
                )
            fields[name] = arr
        conf = fields["confidence"]
        if np.any(~np.isfinite(conf)) or np.any((conf < 0) | (conf > 1)):
            raise InputError(
                "Candidates.confidence must be finite and in [0, 1]; found "
                f"{conf[~((conf >= 0) & (conf <= 1))][:5].tolist()}.",
                fix="clip likelihoods to [0, 1] and drop NaN ones.",
            )
        keypoint = np.array(self.keypoint, dtype=np.int64).ravel()
        if keypoint.shape != (n,):
            raise InputError(
                f"Candidates.keypoint must have shape ({n},); found shape {keypoint.shape}.",
                fix="pass -1 for every image detection.",
            )
        bright = np.where(np.isnan(fields["brightness"]), -np.inf, fields["brightness"])
        order = np.lexsort((-bright, -conf))
        values: dict[str, NDArray[np.float64] | NDArray[np.int64]] = {
            "xy": xy[order],
            **{name: arr[order] for name, arr in fields.items()},
            "keypoint": keypoint[order],
        }
        for name, value in values.items():
            value.setflags(write=False)
            object.__setattr__(self, name, value)

    @classmethod
    def empty(cls) -> Candidates:
        """No candidates (shapes ``(0, 2)`` and ``(0,)``)."""
        none = np.empty(0)
        return cls(np.empty((0, 2)), none, none, none, np.empty(0, dtype=np.int64))

    def __len__(self) -> int:
        """The number of candidates."""
        return int(self.xy.shape[0])

    def top(self, k: int) -> Candidates:
        """The ``k`` most confident candidates (all of them if there are fewer)."""
        if k < 0:
            raise InputError(f"top(k) needs k >= 0; found {k}.", fix="pass a count.")
        return Candidates(
            self.xy[:k],
            self.brightness[:k],
            self.area_px[:k],
            self.confidence[:k],
            self.keypoint[:k],
        )

    def __repr__(self) -> str:
        """Count, confidence range and the best candidate's position."""
        if not len(self):
            return "Candidates(n=0)"
        return (
            f"Candidates(n={len(self)}, confidence {self.confidence.min():.2f}–"
            f"{self.confidence.max():.2f}, best at ({self.xy[0, 0]:.1f}, {self.xy[0, 1]:.1f}) px)"
        )


class CandidateMatch(NamedTuple):
    """Result of ``match_candidates``, one entry per predicted keypoint.

    Attributes:
        candidate: ``(keypoints,)`` int64, the matched candidate's row, -1 where none is
            within the gate (or the prediction is NaN).
        distance_px: ``(keypoints,)`` float64, pixels from prediction to matched
            candidate; NaN where unmatched.
    """

    candidate: NDArray[np.int64]
    distance_px: NDArray[np.float64]


# --------------------------------------------------------------------------- validation


def _grey_image(image: ArrayLike, what: str = "image") -> NDArray[np.float32]:
    """One image as (height, width) float32 grey levels (BGR / BGRA converted)."""
    arr = np.asarray(image)
    if arr.dtype == np.bool_ or not (
        np.issubdtype(arr.dtype, np.integer) or np.issubdtype(arr.dtype, np.floating)
    ):
        raise InputError(
            f"{what} must be a numeric image (uint8, uint16 or float); found dtype {arr.dtype}.",
            fix="pass the frame as read by OpenCV (cv2.imread / VideoCapture.read).",
        )
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[:, :, 0]
    if not (arr.ndim == 2 or (arr.ndim == 3 and arr.shape[2] in (3, 4))):
        raise InputError(
            f"{what} must have shape (height, width) grey or (height, width, 3) BGR; found "
            f"shape {arr.shape}.",
            fix="pass one image; use detect_marks_batch for a stack of frames or views.",
        )
    if arr.shape[0] < 1 or arr.shape[1] < 1:
        raise InputError(
            f"{what} is empty (shape {arr.shape}).", fix="check that the frame was read."
        )
    out = np.ascontiguousarray(arr, dtype=np.float32)
    if np.issubdtype(arr.dtype, np.floating) and not np.all(np.isfinite(out)):
        raise InputError(
            f"{what} contains NaN or infinite grey levels.",
            fix="replace them first, e.g. np.nan_to_num(image).",
        )
    if out.ndim == 3:
        code = cv2.COLOR_BGR2GRAY if out.shape[2] == 3 else cv2.COLOR_BGRA2GRAY
        out = np.asarray(cv2.cvtColor(out, code), dtype=np.float32)
    return out


def _mask(mask: ArrayLike | None, shape: tuple[int, int]) -> NDArray[np.bool_] | None:
    if mask is None:
        return None
    m = np.asarray(mask)
    if m.shape != shape:
        raise InputError(
            f"mask must have the image's shape (height, width) = {shape}; found {m.shape}.",
            fix="build the mask at the image's resolution (True = search here).",
        )
    return np.asarray(m != 0, dtype=bool)


def _positive(value: float, what: str, *, allow_zero: bool = False) -> float:
    bound = ">= 0" if allow_zero else "> 0"
    try:
        v = float(value)
    except (TypeError, ValueError):
        v = math.nan
    if not math.isfinite(v) or v < 0 or (v == 0 and not allow_zero):
        raise InputError(
            f"{what} must be a finite number {bound}; found {value!r}.",
            fix=f"pass {what} {bound} (see the docstring for its unit).",
        )
    return v


def _points(points: ArrayLike, what: str, axes: str) -> NDArray[np.float64]:
    arr = np.asarray(points, dtype=np.float64)
    if arr.size == 0:
        arr = arr.reshape(0, 2)
    if arr.ndim != 2 or arr.shape[1] != 2:
        raise InputError(
            f"{what} must have shape ({axes}, 2) in pixels; found shape {arr.shape}.",
            fix="pass one (x, y) row per point.",
        )
    return arr


# --------------------------------------------------------------------------- detection


@dataclass(frozen=True)
class _Settings:
    max_candidates: int
    threshold: float | None
    min_area_px: float
    max_area_px: float
    noise_sigmas: float
    smooth_px: float


def _settings(
    max_candidates: int,
    threshold: float | None,
    min_area_px: float,
    max_area_px: float,
    noise_sigmas: float,
    smooth_px: float,
) -> _Settings:
    if (
        isinstance(max_candidates, bool)
        or int(max_candidates) != max_candidates
        or max_candidates < 0
    ):
        raise InputError(
            f"max_candidates must be an integer >= 0; found {max_candidates!r}.",
            fix="pass a count such as 100.",
        )
    lo = _positive(min_area_px, "min_area_px", allow_zero=True)
    hi = _positive(max_area_px, "max_area_px")
    if hi < lo:
        raise InputError(
            f"max_area_px ({max_area_px}) must be >= min_area_px ({min_area_px}).",
            fix="swap them or widen the range.",
        )
    return _Settings(
        max_candidates=int(max_candidates),
        threshold=None if threshold is None else _positive(threshold, "threshold"),
        min_area_px=lo,
        max_area_px=hi,
        noise_sigmas=_positive(noise_sigmas, "noise_sigmas"),
        smooth_px=_positive(smooth_px, "smooth_px"),
    )


def _structure_size(max_area_px: float, smooth_px: float) -> int:
    """Odd width, px, of the background disk and lines.

    Just wider than the largest accepted blob (a disk of ``max_area_px``) after smoothing.
    """
    diameter = 2.0 * math.sqrt(max_area_px / math.pi) + 4.0 * smooth_px
    return 2 * math.ceil(diameter / 2.0) + 1


def _noise_sigma(image: NDArray[np.float32], mask: NDArray[np.bool_] | None) -> float:
    """Robust standard deviation of white sensor noise, grey levels.

    Immerkær's Laplacian-difference operator cancels every locally planar structure (the
    floor, lighting gradients, most of the body) and leaves the noise; the median of its
    magnitude (not the mean, so that edges and marks do not count) gives the estimate.
    """
    lap = np.asarray(cv2.filter2D(image, cv2.CV_32F, _NOISE_KERNEL), dtype=np.float32)
    values = np.abs(lap[1:-1, 1:-1] if mask is None else lap[mask]).ravel()
    if values.size > 2 * _NOISE_SAMPLES:
        # a regular subsample is plenty for a median and keeps large frames fast
        values = values[:: values.size // _NOISE_SAMPLES]
    if values.size == 0:
        return 0.0
    return _MAD_TO_SIGMA * float(np.median(values)) / _NOISE_KERNEL_NORM


def _auto_threshold(
    image: NDArray[np.float32],
    smooth: NDArray[np.float32],
    mask: NDArray[np.bool_] | None,
    noise_sigmas: float,
    smooth_px: float,
) -> float:
    """``noise_sigmas`` standard deviations of the smoothed noise, grey levels.

    At least ``_RELATIVE_FLOOR`` of the smoothed image's range.
    """
    radius = max(1, math.ceil(4.0 * smooth_px))
    g = np.asarray(cv2.getGaussianKernel(2 * radius + 1, smooth_px), dtype=np.float64).ravel()
    # white noise of std σ has std σ·‖g‖² after the separable Gaussian g ⊗ g
    sigma = _noise_sigma(image, mask) * float(np.sum(g * g))
    values = smooth if mask is None else smooth[mask]
    spread = float(values.max() - values.min()) if values.size else 0.0
    return max(noise_sigmas * sigma, _RELATIVE_FLOOR * spread)


def _reflect(index: NDArray[np.intp], n: int) -> NDArray[np.intp]:
    """Indices mirrored into ``0 … n-1`` about the border pixels (OpenCV's BORDER_REFLECT_101)."""
    if n == 1:
        return np.zeros_like(index)
    period = 2 * (n - 1)
    folded = np.mod(index, period)
    return np.where(folded < n, folded, period - folded)


def _patches(
    arr: NDArray[np.float32], ys: NDArray[np.intp], xs: NDArray[np.intp], radius: int
) -> NDArray[np.float64]:
    """``(n, 2r+1, 2r+1)`` windows of ``arr`` centred on ``(ys, xs)`` (mirrored at borders)."""
    off = np.arange(-radius, radius + 1)
    rows = _reflect(ys[:, None, None] + off[None, :, None], arr.shape[0])
    cols = _reflect(xs[:, None, None] + off[None, None, :], arr.shape[1])
    return np.asarray(arr[rows, cols], dtype=np.float64)


def _local_maxima(
    response: NDArray[np.float32], threshold: float, mask: NDArray[np.bool_] | None
) -> tuple[NDArray[np.intp], NDArray[np.intp]]:
    """Rows and columns of local maxima above ``threshold``, one per plateau."""
    size = 2 * _PEAK_SEPARATION + 1
    dilated = cv2.dilate(response, np.ones((size, size), np.uint8))
    peaks = (response >= dilated) & (response > threshold)
    if mask is not None:
        peaks &= mask
    if not peaks.any():
        empty = np.empty(0, dtype=np.intp)
        return empty, empty
    # a flat top (a saturated mark) has several equal maxima: keep one per plateau
    _, labels = cv2.connectedComponents(peaks.astype(np.uint8), connectivity=8)
    flat = np.flatnonzero(peaks)
    _, first = np.unique(np.asarray(labels).ravel()[flat], return_index=True)
    ys, xs = np.unravel_index(flat[first], response.shape)
    return np.asarray(ys, dtype=np.intp), np.asarray(xs, dtype=np.intp)


def _line_opening(
    smooth: NDArray[np.float32], ys: NDArray[np.intp], xs: NDArray[np.intp], length: int
) -> NDArray[np.float64]:
    """Grey opening of ``smooth`` by line segments, at the given pixels only, ``(n,)``.

    For each of ``_N_DIRECTIONS`` orientations, the brightest level that a straight segment
    of ``length`` px through the pixel stays above everywhere; the maximum over
    orientations. A mark is shorter than ``length`` in every direction, so this is the
    background around it; on a ridge, an edge or a thin lit line some segment runs along
    it, so the line's own level comes back and the contrast vanishes.
    """
    r = length - 1
    theta = np.arange(_N_DIRECTIONS) * (np.pi / _N_DIRECTIONS)
    k = np.arange(-r, r + 1, dtype=np.float64)
    dx = np.rint(np.cos(theta)[:, None] * k).astype(np.intp)  # (directions, 2r+1)
    dy = np.rint(np.sin(theta)[:, None] * k).astype(np.intp)
    rows = _reflect(ys[:, None, None] + dy[None], smooth.shape[0])
    cols = _reflect(xs[:, None, None] + dx[None], smooth.shape[1])
    samples = smooth[rows, cols]  # (n, directions, 2r+1)
    # every window of `length` samples that contains the centre sample
    lows = sliding_window_view(samples, length, axis=2).min(axis=-1)  # (n, directions, r+1)
    return np.asarray(lows.max(axis=(1, 2)), dtype=np.float64)


def _connected_to_centre(inside: NDArray[np.bool_]) -> NDArray[np.bool_]:
    """The pixels of ``inside`` ``(n, p, p)`` 8-connected to its central 3 × 3 block."""
    p = inside.shape[1]
    c = (p - 1) // 2
    region = np.zeros_like(inside)
    region[:, c - 1 : c + 2, c - 1 : c + 2] = inside[:, c - 1 : c + 2, c - 1 : c + 2]
    for _ in range(p * p):
        grown = region.copy()
        grown[:, 1:] |= region[:, :-1]
        grown[:, :-1] |= region[:, 1:]
        grown[:, :, 1:] |= grown[:, :, :-1].copy()
        grown[:, :, :-1] |= grown[:, :, 1:].copy()
        grown &= inside
        if np.array_equal(grown, region):
            break
        region = grown
    return region


def _refine(values: NDArray[np.float64]) -> NDArray[np.float64]:
    """Sub-pixel centres ``(n, 2)`` as ``(dx, dy)`` offsets from the patch centre, px.

    ``values`` ``(n, p, p)`` are background-subtracted and already clipped at a fraction of
    the peak. The centre is the fixed point of an intensity-weighted centroid under a
    Gaussian window that follows it, i.e. the mode of the blob smoothed by the window:
    unbiased for any symmetric blob, little moved by a neighbour at the patch edge, and at
    the bright head of a motion streak rather than at its middle.
    """
    r = (values.shape[1] - 1) // 2
    off = np.arange(-r, r + 1, dtype=np.float64)
    gx = off[None, None, :]
    gy = off[None, :, None]
    centre = np.zeros((values.shape[0], 2))
    for _ in range(_REFINE_ITERATIONS):
        dx = gx - centre[:, 0, None, None]
        dy = gy - centre[:, 1, None, None]
        w = values * np.exp(-(dx * dx + dy * dy) / (2.0 * _WINDOW_SIGMA**2))
        total = w.sum(axis=(1, 2))
        safe = np.where(total > 0, total, 1.0)
        new = np.stack([(w * gx).sum(axis=(1, 2)), (w * gy).sum(axis=(1, 2))], axis=1)
        new = np.clip(new / safe[:, None], -(r - 1.0), r - 1.0)
        step = float(np.abs(new - centre).max(initial=0.0))
        centre = new
        if step < 1e-7:
            break
    return centre


def _detect(image: ArrayLike, mask: ArrayLike | None, s: _Settings, what: str) -> Candidates:
    img = _grey_image(image, what)
    m = _mask(mask, (int(img.shape[0]), int(img.shape[1])))
    smooth = np.asarray(cv2.GaussianBlur(img, (0, 0), s.smooth_px), dtype=np.float32)
    # grey opening by a disk: the image with every bright structure narrower than the disk
    # removed (the marks), the body, the floor and slow lighting kept, without a blur's halo
    size = _structure_size(s.max_area_px, s.smooth_px)
    disk = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (size, size))
    background = np.asarray(
        cv2.morphologyEx(smooth, cv2.MORPH_OPEN, disk, borderType=cv2.BORDER_REFLECT_101),
        dtype=np.float32,
    )
    tophat = smooth - background
    threshold = (
        s.threshold
        if s.threshold is not None
        else _auto_threshold(img, smooth, m, s.noise_sigmas, s.smooth_px)
    )
    ys, xs = _local_maxima(tophat, threshold, m)
    if ys.size == 0 or s.max_candidates == 0:
        return Candidates.empty()
    # the top-hat keeps thin ridges and lit edges too; lines are the local background that
    # sends their contrast to zero while a mark keeps its own
    level = np.maximum(_line_opening(smooth, ys, xs, size), background[ys, xs])
    contrast = smooth[ys, xs] - level
    ok = contrast > threshold
    ys, xs, level, contrast = ys[ok], xs[ok], level[ok], contrast[ok]
    if ys.size == 0:
        return Candidates.empty()
    # the area is counted in a square wider than any accepted blob
    ra = max(_REFINE_RADIUS, math.ceil(math.sqrt(s.max_area_px)) + 1)
    # per-pixel background: the disk opening follows a nearby body edge or gradient, and
    # is never below the mark's own local background level
    bg = np.maximum(_patches(background, ys, xs, ra), level[:, None, None])
    local = _patches(img, ys, xs, ra) - bg
    local_smooth = _patches(smooth, ys, xs, ra) - bg
    # area at half maximum: pixels at >= half the raw peak, connected to it, inside the
    # smoothed blob's half-maximum footprint (which keeps single noisy pixels out)
    raw_peak = local[:, ra - 1 : ra + 2, ra - 1 : ra + 2].max(axis=(1, 2))
    inside = (local >= 0.5 * raw_peak[:, None, None]) & (
        local_smooth >= 0.5 * contrast[:, None, None]
    )
    area = _connected_to_centre(inside).sum(axis=(1, 2)).astype(np.float64)
    keep = (area >= s.min_area_px) & (area <= s.max_area_px)
    core = local[
        keep,
        ra - _REFINE_RADIUS : ra + _REFINE_RADIUS + 1,
        ra - _REFINE_RADIUS : ra + _REFINE_RADIUS + 1,
    ]
    weights = np.clip(core - _CLIP * contrast[keep, None, None], 0.0, None)
    # pixels beyond the image border are unknown, not mirrored marks: no weight
    off = np.arange(-_REFINE_RADIUS, _REFINE_RADIUS + 1)
    rows, cols = ys[keep, None] + off, xs[keep, None] + off
    weights *= ((rows >= 0) & (rows < img.shape[0]))[:, :, None]
    weights *= ((cols >= 0) & (cols < img.shape[1]))[:, None, :]
    centre = _refine(weights)
    xy = np.stack([xs[keep] + centre[:, 0], ys[keep] + centre[:, 1]], axis=1)
    confidence = np.clip(1.0 - threshold / contrast[keep], 0.0, 1.0)
    n = int(keep.sum())
    out = Candidates(xy, contrast[keep], area[keep], confidence, np.full(n, -1, dtype=np.int64))
    return out.top(s.max_candidates)


def detect_marks(
    image: ArrayLike,
    *,
    max_candidates: int = 100,
    threshold: float | None = None,
    min_area_px: float = 2.0,
    max_area_px: float = 30.0,
    mask: ArrayLike | None = None,
    noise_sigmas: float = 8.0,
    smooth_px: float = 1.0,
) -> Candidates:
    """Find small bright marks in one image, with sub-pixel centres.

    Args:
        image: ``(height, width)`` grey or ``(height, width, 3)`` BGR image, uint8, uint16
            or float (finite); grey levels in the image's own scale.
        max_candidates: keep at most this many, the most confident.
        threshold: minimum contrast of a mark above its local background, grey levels of
            the smoothed image; ``None`` = adaptive: ``noise_sigmas`` standard deviations
            of the sensor noise after smoothing (estimated from the image itself).
        min_area_px: smallest area at half maximum, pixels (rejects hot pixels).
        max_area_px: largest area at half maximum, pixels (rejects specular spots); also
            sets the width of the background disk and lines (just wider than such a blob).
        mask: ``(height, width)`` bool, True = search here; ``None`` searches everywhere.
        noise_sigmas: the adaptive threshold in standard deviations of the smoothed noise.
        smooth_px: standard deviation of the Gaussian smoothing, pixels (about a mark's
            radius; larger suppresses more noise and merges close marks).

    Returns:
        The candidates, most confident first; empty (not an error) when none is found.
        ``brightness`` is the contrast above the local background (the brighter of the
        disk opening and the line openings at the peak); ``confidence`` is
        ``1 - threshold / brightness``.

    Raises:
        InputError: the image is not a numeric ``(height, width)`` or
            ``(height, width, 3)`` array, contains NaN, or a setting is out of range.
    """
    s = _settings(max_candidates, threshold, min_area_px, max_area_px, noise_sigmas, smooth_px)
    return _detect(image, mask, s, "image")


def detect_marks_batch(
    images: Sequence[ArrayLike] | NDArray[np.generic],
    *,
    max_candidates: int = 100,
    threshold: float | None = None,
    min_area_px: float = 2.0,
    max_area_px: float = 30.0,
    masks: Sequence[ArrayLike | None] | NDArray[np.generic] | None = None,
    noise_sigmas: float = 8.0,
    smooth_px: float = 1.0,
) -> list[Candidates]:
    """``detect_marks`` over a stack or a list of images (views may differ in size).

    For a ``(frames, views, height, width)`` array pass ``images.reshape(-1, height,
    width)`` and regroup the result, e.g. ``[out[f * views : (f + 1) * views] for f in
    range(frames)]``.

    Args:
        images: ``(n, height, width)`` or ``(n, height, width, 3)`` array, or a sequence of
            ``n`` images as accepted by ``detect_marks``.
        max_candidates: see ``detect_marks``.
        threshold: see ``detect_marks``.
        min_area_px: see ``detect_marks``.
        max_area_px: see ``detect_marks``.
        masks: one ``(height, width)`` mask for every image, a sequence of ``n`` masks
            (``None`` entries search everywhere), or ``None``.
        noise_sigmas: see ``detect_marks``.
        smooth_px: see ``detect_marks``.

    Returns:
        ``n`` candidate sets, in the order of ``images``.
    """
    s = _settings(max_candidates, threshold, min_area_px, max_area_px, noise_sigmas, smooth_px)
    if isinstance(images, np.ndarray) and images.ndim < 3:
        raise InputError(
            f"images must be a stack (n, height, width[, 3]); found shape {images.shape}.",
            fix="use detect_marks for a single image.",
        )
    seq = list(images)
    per_image: list[ArrayLike | None]
    if masks is None:
        per_image = [None] * len(seq)
    elif isinstance(masks, np.ndarray) and masks.ndim == 2:
        per_image = [masks] * len(seq)
    else:
        per_image = list(masks)
        if len(per_image) != len(seq):
            raise InputError(
                f"masks has {len(per_image)} entries for {len(seq)} images.",
                fix="pass one mask per image, or one (height, width) mask for all.",
            )
    return [
        _detect(img, m, s, f"images[{i}]")
        for i, (img, m) in enumerate(zip(seq, per_image, strict=True))
    ]


# --------------------------------------------------------------------------- predictions


def candidates_from_predictions(
    points_2d: ArrayLike,
    confidence: ArrayLike | None = None,
    *,
    min_confidence: float = 0.5,
) -> list[list[Candidates]]:
    """Turn a 2D pose model's keypoints into candidates per frame and view.

    Args:
        points_2d: ``(frames, views, keypoints, 2)`` float64, pixels, NaN = missing.
        confidence: ``(frames, views, keypoints)`` likelihoods in ``[0, 1]`` (NaN counts as
            0); ``None`` = all 1.
        min_confidence: keypoints with a likelihood below this (or of 0) are dropped.

    Returns:
        ``out[frame][view]``: the candidates of that image; ``keypoint`` says which keypoint
        proposed each one, ``confidence`` is its likelihood, ``brightness`` and ``area_px``
        are NaN.
    """
    pts = np.asarray(points_2d, dtype=np.float64)
    if pts.ndim != 4 or pts.shape[3] != 2:
        raise InputError(
            f"points_2d must have shape (frames, views, keypoints, 2) in pixels; found shape "
            f"{pts.shape}.",
            fix="add a frames axis for one frame (points[None]); for several animals, "
            "flatten individuals into keypoints.",
        )
    if confidence is None:
        conf = np.ones(pts.shape[:3])
    else:
        conf = np.asarray(confidence, dtype=np.float64)
        if conf.shape != pts.shape[:3]:
            raise InputError(
                f"confidence must have shape (frames, views, keypoints) = {pts.shape[:3]}; "
                f"found {conf.shape}.",
                fix="pass one likelihood per 2D point (drop the trailing xy axis).",
            )
    conf = np.clip(np.nan_to_num(conf, nan=0.0), 0.0, 1.0)
    threshold = _positive(min_confidence, "min_confidence", allow_zero=True)
    keep = np.all(np.isfinite(pts), axis=-1) & (conf >= threshold) & (conf > 0)
    k_index = np.arange(pts.shape[2], dtype=np.int64)
    out: list[list[Candidates]] = []
    for f in range(pts.shape[0]):
        row: list[Candidates] = []
        for v in range(pts.shape[1]):
            sel = keep[f, v]
            nan = np.full(int(sel.sum()), np.nan)
            row.append(Candidates(pts[f, v, sel], nan, nan, conf[f, v, sel], k_index[sel]))
        out.append(row)
    return out


# --------------------------------------------------------------------------- matching


def match_candidates(
    candidates_xy: ArrayLike | Candidates,
    predicted_xy: ArrayLike,
    max_distance_px: float,
) -> CandidateMatch:
    """Assign predicted keypoint positions to candidates (Hungarian method, gated).

    Minimises the total squared distance of the matched pairs plus ``max_distance_px²`` for
    every keypoint left unmatched, over one-to-one assignments whose pairs are at most
    ``max_distance_px`` apart. A keypoint therefore stays unmatched rather than take a
    candidate beyond the gate, and does not steal a candidate that a nearer keypoint needs.

    Args:
        candidates_xy: ``(n, 2)`` float64 pixels (rows with NaN are never matched), or a
            ``Candidates``.
        predicted_xy: ``(keypoints, 2)`` float64 pixels, NaN = no prediction.
        max_distance_px: the gate, pixels (> 0).

    Returns:
        Per keypoint, the matched candidate's row (-1 if none) and the distance (NaN if
        none).
    """
    cand = _points(
        candidates_xy.xy if isinstance(candidates_xy, Candidates) else candidates_xy,
        "candidates_xy",
        "n",
    )
    pred = _points(predicted_xy, "predicted_xy", "keypoints")
    gate = _positive(max_distance_px, "max_distance_px")
    k, n = pred.shape[0], cand.shape[0]
    index = np.full(k, -1, dtype=np.int64)
    distance = np.full(k, np.nan)
    if k == 0 or n == 0:
        return CandidateMatch(index, distance)
    with np.errstate(invalid="ignore"):
        d = np.sqrt(((pred[:, None, :] - cand[None, :, :]) ** 2).sum(axis=-1))  # (k, n)
    feasible = np.isfinite(d) & (d <= gate)
    if not feasible.any():
        return CandidateMatch(index, distance)
    # columns n..n+k-1 are "unmatched" slots, one per keypoint, costing gate²;
    # infeasible pairs cost more than any complete assignment could
    forbidden = (k + 1) * gate * gate + 1.0
    cost = np.full((k, n + k), forbidden)
    cost[:, :n] = np.where(feasible, d * d, forbidden)
    cost[np.arange(k), n + np.arange(k)] = gate * gate
    rows, cols = linear_sum_assignment(cost)
    real = (cols < n) & feasible[rows, np.minimum(cols, n - 1)]
    index[rows[real]] = cols[real]
    distance[rows[real]] = d[rows[real], cols[real]]
    return CandidateMatch(index, distance)
