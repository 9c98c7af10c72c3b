"""Frame preprocessing for in-context behaviour classification (model-free).

A vision-language model classifying behaviour from frames does better on a crop centred on
the animal, at a fixed size, with normalised contrast, and with its motion made visible: a
still frame cannot tell freezing from a pause between steps. This module holds those steps
as plain functions, and the image features the offline solver compares:

- ``foreground_box``: the animal's box by background subtraction (``estimate_background``
  = per-pixel median of sampled frames), for videos without 2D keypoints;
- ``crop_window``: one box over a few frames of a window (from keypoints, else from
  the background), cut and resized to a square (``tools.crop.crop_region``), so that
  displacement across the frames stays visible;
- ``normalise_contrast``: CLAHE on the grey level;
- ``motion_map`` / ``motion_overlay``: the largest absolute frame difference over the
  frames, and the middle frame with the moving pixels drawn in red;
- ``frame_strip``: the frames side by side (``tools.sheets.tile_images``);
- ``render_keypoints``: a frame drawn from keypoints (every animal's skeleton in the
  arena, the focal animal brightest) for sessions with keypoints but no video;
- ``preprocess_window``: all of it for one window, giving the model's image and
  ``image_features`` (silhouette shape and motion statistics, rotation-invariant).

Images are ``(height, width)`` uint8 grey or ``(height, width, 3)`` uint8 BGR (OpenCV's
order); boxes are ``(x0, y0, x1, y1)`` pixel-index bounds, ``x1``/``y1`` exclusive (see
``tools.crop``).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np
from numpy.typing import ArrayLike, NDArray

from ethoagent.errors import InputError
from ethoagent.tools.crop import crop_region
from ethoagent.tools.sheets import tile_images

__all__ = [
    "IMAGE_FEATURES",
    "PreprocessedWindow",
    "Viewport",
    "crop_window",
    "estimate_background",
    "foreground_box",
    "frame_strip",
    "image_features",
    "motion_map",
    "motion_overlay",
    "normalise_contrast",
    "preprocess_window",
    "render_keypoints",
    "viewport_around",
]

Box = tuple[int, int, int, int]

IMAGE_FEATURES: tuple[str, ...] = (
    "area",
    "elongation",
    "hu1",
    "hu2",
    "hu3",
    "motion",
    "moving_fraction",
    "displacement",
    "motion_offset",
    "motion_spread",
    "rotation",
)
"""Names of ``image_features``' entries (see there for units)."""

MOTION_THRESHOLD = 24
"""Grey-level difference above which a pixel counts as moving (0–255)."""


def _grey(image: ArrayLike, what: str = "image") -> NDArray[np.uint8]:
    img = np.asarray(image)
    if img.dtype != np.uint8 or img.ndim not in (2, 3) or (img.ndim == 3 and img.shape[2] != 3):
        raise InputError(
            f"{what} must be (height, width) or (height, width, 3) uint8; found "
            f"{img.shape} {img.dtype}.",
            fix="pass video frames as read by tools.video.VideoReader.",
        )
    if img.ndim == 3:
        return np.asarray(cv2.cvtColor(img, cv2.COLOR_BGR2GRAY), dtype=np.uint8)
    return img


def _frames(frames: Sequence[ArrayLike], what: str = "frames") -> list[NDArray[np.uint8]]:
    if len(frames) == 0:
        raise InputError(f"{what} is empty.", fix="pass at least one frame.")
    greys = [_grey(f, what) for f in frames]
    if any(g.shape != greys[0].shape for g in greys):
        raise InputError(
            f"{what} must all have one size; found {sorted({g.shape for g in greys})}."
        )
    return greys


# --------------------------------------------------------------------------- crop


def estimate_background(frames: Sequence[ArrayLike]) -> NDArray[np.uint8]:
    """The static background: per-pixel median of frames sampled over a session.

    Args:
        frames: ``(height, width)`` or ``(height, width, 3)`` uint8, all the same size;
            sampled far apart so that the animal is elsewhere in most of them.

    Returns:
        ``(height, width)`` uint8 grey.
    """
    stack = np.stack(_frames(frames))
    return np.asarray(np.median(stack, axis=0), dtype=np.uint8)


def foreground_box(
    frame: ArrayLike, background: ArrayLike, *, threshold: int = 30, margin: float = 0.3
) -> Box | None:
    """The box around the largest region that differs from the background.

    Args:
        frame: ``(height, width)`` or ``(height, width, 3)`` uint8.
        background: ``(height, width)`` uint8 grey (``estimate_background``).
        threshold: grey-level difference that counts as foreground (0–255).
        margin: added on every side, as a fraction of the region's larger side.

    Returns:
        ``(x0, y0, x1, y1)`` inside the frame, or ``None`` when nothing differs.
    """
    grey = _grey(frame, "frame")
    bg = _grey(background, "background")
    if grey.shape != bg.shape:
        raise InputError(
            f"frame {grey.shape} and background {bg.shape} must have one size.",
            fix="estimate the background from frames of the same video.",
        )
    diff = cv2.absdiff(grey, bg)
    mask = (diff > threshold).astype(np.uint8)
    mask = np.asarray(cv2.morphologyEx(mask, cv2.MORPH_OPEN, np.ones((3, 3), np.uint8)), np.uint8)
    n, _, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
    if n <= 1:
        return None
    best = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    x, y, w, h = (int(v) for v in stats[best, :4])
    pad = round(margin * max(w, h))
    height, width = grey.shape
    return max(0, x - pad), max(0, y - pad), min(width, x + w + pad), min(height, y + h + pad)


def _square(box: tuple[float, float, float, float], min_side: float) -> Box:
    x0, y0, x1, y1 = box
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    side = max(x1 - x0, y1 - y0, min_side)
    h = side / 2
    return math.floor(cx - h), math.floor(cy - h), math.ceil(cx + h), math.ceil(cy + h)


def crop_window(
    frames: Sequence[ArrayLike],
    *,
    keypoints_xy: ArrayLike | None = None,
    background: ArrayLike | None = None,
    size: int = 96,
    margin: float = 0.4,
    min_side_px: int = 24,
    side_px: float | None = None,
) -> tuple[list[NDArray[np.uint8]], Box | None]:
    """Crop the frames of one window around the animal with one square box.

    The box holds the animal in every frame (from its keypoints, else from background
    subtraction), so movement within the window shows as displacement in the crops.

    Args:
        frames: ``(height, width[, 3])`` uint8 frames of the window, all one size.
        keypoints_xy: ``(len(frames), keypoints, 2)`` pixels of the animal (NaN =
            missing), or ``None``.
        background: ``(height, width)`` uint8 grey, used without keypoints.
        size: side of the returned crops, pixels.
        margin: added on every side as a fraction of the animal's larger extent.
        min_side_px: the smallest box side, pixels.
        side_px: a fixed box side, pixels (e.g. 3 body lengths), so that displacement in
            the crops is in the same unit for every window; grown only when the animal's
            extent over the frames exceeds it. ``None`` sizes the box to the animal.

    Returns:
        ``(crops, box)``: one ``(size, size[, 3])`` uint8 crop per frame, and the box in
        the frames' pixels; whole frames resized (``box=None``) when neither keypoints nor
        a foreground region locate the animal.
    """
    imgs = [np.asarray(f, dtype=np.uint8) for f in frames]
    _frames(imgs)
    h, w = imgs[0].shape[:2]
    lo = hi = None
    if keypoints_xy is not None:
        pts = np.asarray(keypoints_xy, dtype=np.float64).reshape(-1, 2)
        ok = np.isfinite(pts).all(axis=1)
        if ok.any():
            lo, hi = pts[ok].min(axis=0), pts[ok].max(axis=0)
    if lo is None and background is not None:
        boxes = [b for b in (foreground_box(f, background, margin=0.0) for f in imgs) if b]
        if boxes:
            arr = np.asarray(boxes, dtype=np.float64)
            lo, hi = arr[:, :2].min(axis=0), arr[:, 2:].max(axis=0)
    if lo is None or hi is None:
        return [_resize_square(f, size) for f in imgs], None
    extent = float(max(hi - lo))
    pad = margin * max(extent, 1.0)
    least = float(min_side_px)
    if side_px is not None and math.isfinite(side_px) and side_px > 0:
        pad = 0.05 * max(extent, 1.0)
        least = max(least, float(side_px))
    box = _square((lo[0] - pad, lo[1] - pad, hi[0] + pad, hi[1] + pad), least)
    if box[2] <= 0 or box[3] <= 0 or box[0] >= w or box[1] >= h:
        return [_resize_square(f, size) for f in imgs], None
    crops = [
        np.asarray(
            crop_region(f, box, out_size=(size, size), outside="pad", fill=0.0).image,
            dtype=np.uint8,
        )
        for f in imgs
    ]
    return crops, box


def _resize_square(image: NDArray[np.uint8], size: int) -> NDArray[np.uint8]:
    # stretched, not letterboxed: padding bands would read as a silhouette edge
    h, w = image.shape[:2]
    crop = crop_region(image, (0, 0, w, h), out_size=(size, size), fill=0.0, keep_aspect=False)
    return np.asarray(crop.image, dtype=np.uint8)


# --------------------------------------------------------------------------- contrast


def normalise_contrast(
    image: ArrayLike, *, clip_limit: float = 2.0, tiles: int = 4
) -> NDArray[np.uint8]:
    """Contrast-limited adaptive histogram equalisation (CLAHE) of the grey level.

    Args:
        image: ``(height, width)`` or ``(height, width, 3)`` uint8.
        clip_limit: CLAHE clip limit (higher = stronger).
        tiles: CLAHE tiles per side.

    Returns:
        ``(height, width)`` uint8 grey with its contrast spread over 0–255 locally.
    """
    grey = _grey(image)
    clahe = cv2.createCLAHE(clipLimit=clip_limit, tileGridSize=(tiles, tiles))
    return np.asarray(clahe.apply(grey), dtype=np.uint8)


# --------------------------------------------------------------------------- motion


def motion_map(frames: Sequence[ArrayLike]) -> NDArray[np.uint8]:
    """Largest absolute grey-level difference between consecutive frames, per pixel.

    Args:
        frames: two or more ``(height, width[, 3])`` uint8 frames, all one size.

    Returns:
        ``(height, width)`` uint8: 0 where nothing changed over the frames.
    """
    greys = _frames(frames)
    if len(greys) < 2:
        return np.zeros_like(greys[0])
    out = np.zeros_like(greys[0])
    for a, b in itertools.pairwise(greys):
        out = np.maximum(out, cv2.absdiff(a, b))
    return out


def motion_overlay(
    frames: Sequence[ArrayLike], *, threshold: int = MOTION_THRESHOLD
) -> NDArray[np.uint8]:
    """The middle frame in grey with every pixel that moved over the frames in red.

    Args:
        frames: two or more ``(height, width[, 3])`` uint8 frames, all one size.
        threshold: grey-level difference that counts as motion.

    Returns:
        ``(height, width, 3)`` uint8 BGR; a pixel differs from the grey frame only where
        ``motion_map`` exceeds ``threshold``.
    """
    greys = _frames(frames)
    mid = greys[len(greys) // 2]
    out = np.ascontiguousarray(np.repeat(mid[:, :, None], 3, axis=2))
    moving = motion_map(greys) > threshold
    out[moving] = (0, 0, 255)
    return out


def frame_strip(frames: Sequence[ArrayLike], captions: Sequence[str]) -> NDArray[np.uint8]:
    """Frames side by side in one row, each captioned (e.g. with its time).

    Args:
        frames: ``(height, width[, 3])`` uint8, all one size.
        captions: one short text per frame.

    Returns:
        ``(height, len(frames) * width, 3)`` uint8 **RGB** (what ``Image.from_array`` takes).
    """
    tiles = [
        np.ascontiguousarray(
            f if np.asarray(f).ndim == 3 else np.repeat(np.asarray(f)[:, :, None], 3, 2)
        )
        for f in frames
    ]
    return tile_images([np.asarray(t, np.uint8) for t in tiles], captions, columns=len(tiles))


# --------------------------------------------------------------------------- rendering


@dataclass(frozen=True)
class Viewport:
    """A region of the x–y plane drawn into a ``size`` x ``size`` image.

    ``pixel = (point - origin) * scale``, with +y drawn upwards when ``flip_y``.

    Attributes:
        origin: ``(2,)`` the point drawn at the image's top-left (bottom-left with
            ``flip_y``), keypoint units.
        scale: pixels per keypoint unit.
        size: image side, pixels.
        flip_y: draw +y upwards (3D seen from above); ``False`` keeps image rows.
    """

    origin: tuple[float, float]
    scale: float
    size: int
    flip_y: bool = False

    def to_pixels(self, xy: NDArray[np.float64]) -> NDArray[np.float64]:
        """Map ``(..., 2)`` points to image pixels."""
        out: NDArray[np.float64] = (xy - np.asarray(self.origin)) * self.scale
        if self.flip_y:
            out[..., 1] = self.size - 1 - out[..., 1]
        return out


def viewport_around(
    points_xy: ArrayLike, size: int, *, margin: float = 0.1, flip_y: bool = False
) -> Viewport:
    """The square viewport holding every finite point, with a margin.

    Args:
        points_xy: ``(..., 2)`` points, keypoint units, NaN ignored.
        size: image side, pixels.
        margin: added on every side, as a fraction of the larger extent.
        flip_y: see ``Viewport``.

    Raises:
        InputError: no finite point.
    """
    pts = np.asarray(points_xy, dtype=np.float64).reshape(-1, 2)
    ok = np.isfinite(pts).all(axis=1)
    if not ok.any():
        raise InputError("viewport_around needs at least one finite point; found none.")
    lo, hi = pts[ok].min(axis=0), pts[ok].max(axis=0)
    side = max(float(np.max(hi - lo)), 1e-6) * (1 + 2 * margin)
    centre = (lo + hi) / 2
    origin = (float(centre[0] - side / 2), float(centre[1] - side / 2))
    return Viewport(origin=origin, scale=(size - 1) / side, size=size, flip_y=flip_y)


def render_keypoints(
    points: ArrayLike,
    edges: Sequence[tuple[int, int]],
    viewport: Viewport,
    *,
    focal: int = 0,
    thickness_frac: float = 0.06,
) -> NDArray[np.uint8]:
    """Draw one frame of every animal's keypoints as a grey image (no video needed).

    Bodies are drawn as thick white sticks with filled joints (the focal animal at 255,
    others at 110) on black, so a drawing has a silhouette whose shape and motion the
    same image features read as a video crop's.

    Args:
        points: ``(animals, keypoints, D)`` float64, D = 2 or 3 (x–y drawn), NaN = missing.
        edges: keypoint pairs to join (``tools.sheets.skeleton_edges``).
        viewport: the region drawn.
        focal: the animal drawn brightest.
        thickness_frac: line thickness as a fraction of the image side.

    Returns:
        ``(size, size)`` uint8.
    """
    p = np.asarray(points, dtype=np.float64)
    if p.ndim != 3 or p.shape[2] < 2:
        raise InputError(f"points must be (animals, keypoints, D); found shape {p.shape}.")
    img = np.zeros((viewport.size, viewport.size), np.uint8)
    thick = max(1, round(thickness_frac * viewport.size))
    order = [a for a in range(p.shape[0]) if a != focal] + [focal]
    for a in order:
        if a >= p.shape[0]:
            continue
        colour = 255 if a == focal else 110
        q = viewport.to_pixels(p[a, :, :2])
        for i, j in edges:
            if np.isfinite(q[[i, j]]).all():
                pa = (round(q[i, 0]), round(q[i, 1]))
                pb = (round(q[j, 0]), round(q[j, 1]))
                cv2.line(img, pa, pb, colour, thick, cv2.LINE_AA)
        for x, y in q:
            if np.isfinite(x) and np.isfinite(y):
                cv2.circle(
                    img, (round(x), round(y)), max(1, thick // 2 + 1), colour, -1, cv2.LINE_AA
                )
    return img


# --------------------------------------------------------------------------- features


def image_features(
    frames: Sequence[ArrayLike], *, fps: float, seconds: float
) -> NDArray[np.float64]:
    """Shape and motion statistics of a window's (preprocessed or raw) frames.

    The silhouette is the middle frame thresholded by Otsu's method. Entries
    (``IMAGE_FEATURES``):

    - ``area``: silhouette area / image area;
    - ``elongation``: sqrt of the ratio of the silhouette's second-moment eigenvalues
      (1 = round, larger = stretched); rotation-invariant;
    - ``hu1``–``hu3``: the first three Hu moments, sign-preserving log10;
    - ``motion``: mean absolute frame difference over the window (``motion_map``), 0–1;
    - ``moving_fraction``: share of pixels whose difference exceeds ``MOTION_THRESHOLD``;
    - ``displacement``: travel of the silhouette's centroid from the first to the last
      frame, image sides per second;
    - ``motion_offset``: distance of the moving pixels' centroid from the silhouette's,
      image sides (motion at one end of the body: a head or paws moving, not the body);
    - ``motion_spread``: spread of the moving pixels around their centroid, image sides;
    - ``rotation``: mean change of the silhouette's orientation (its long axis, mod pi)
      between consecutive frames, rad/s: turning in place shows here, not in
      ``displacement``.

    Args:
        frames: one or more ``(size, size[, 3])`` uint8 frames of the window, in time
            order (one frame gives no motion: the motion entries are 0).
        fps: frame rate, Hz.
        seconds: time from the first to the last frame, s.

    Returns:
        ``(len(IMAGE_FEATURES),)`` float64, finite.
    """
    greys = _frames(frames)
    side = float(max(greys[0].shape))
    mid = greys[len(greys) // 2]
    masks = [_silhouette(g) for g in greys]
    m = masks[len(masks) // 2]
    mom = cv2.moments(m, binaryImage=True)
    area = mom["m00"] / float(m.size)
    elong = 1.0
    if mom["m00"] > 0:
        cov = np.array([[mom["mu20"], mom["mu11"]], [mom["mu11"], mom["mu02"]]]) / mom["m00"]
        ev = np.sort(np.linalg.eigvalsh(cov))
        elong = float(math.sqrt(ev[1] / max(ev[0], 1e-6))) if ev[1] > 0 else 1.0
    hu = cv2.HuMoments(mom).ravel()[:3]
    hu = -np.sign(hu) * np.log10(np.abs(hu) + 1e-12)
    mmap = motion_map(greys)
    motion = float(mmap.mean()) / 255.0
    moving = mmap > MOTION_THRESHOLD
    frac = float(moving.mean())
    disp = 0.0
    first, last = _centroid(masks[0]), _centroid(masks[-1])
    if first is not None and last is not None and seconds > 0:
        disp = float(np.hypot(*(last - first))) / side / seconds
    offset = spread = 0.0
    centre = _centroid(m)
    if moving.any() and centre is not None:
        ys, xs = np.nonzero(moving)
        mc = np.array([xs.mean(), ys.mean()])
        offset = float(np.hypot(*(mc - centre))) / side
        spread = float(np.sqrt(((xs - mc[0]) ** 2 + (ys - mc[1]) ** 2).mean())) / side
    del mid, fps
    angles = [_orientation(mk) for mk in masks]
    turns = [
        abs(float(np.angle(np.exp(2j * (b - a))))) / 2
        for a, b in itertools.pairwise(angles)
        if a is not None and b is not None
    ]
    rotation = float(np.mean(turns)) * (len(masks) - 1) / seconds if turns and seconds > 0 else 0.0
    out = np.array(
        [area, min(elong, 20.0), *hu, motion, frac, disp, offset, spread, rotation], np.float64
    )
    return np.nan_to_num(out, nan=0.0, posinf=0.0, neginf=0.0)


def _silhouette(grey: NDArray[np.uint8]) -> NDArray[np.uint8]:
    if int(grey.max()) == int(grey.min()):
        return np.zeros_like(grey)
    _, mask = cv2.threshold(grey, 0, 1, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    return np.asarray(mask, dtype=np.uint8)


def _orientation(mask: NDArray[np.uint8]) -> float | None:
    mom = cv2.moments(mask, binaryImage=True)
    if mom["m00"] <= 0:
        return None
    return 0.5 * math.atan2(2 * mom["mu11"], mom["mu20"] - mom["mu02"])


def _centroid(mask: NDArray[np.uint8]) -> NDArray[np.float64] | None:
    ys, xs = np.nonzero(mask)
    if xs.size == 0:
        return None
    return np.array([xs.mean(), ys.mean()], dtype=np.float64)


@dataclass(frozen=True)
class PreprocessedWindow:
    """What one window looks like to the model, and its image features.

    Attributes:
        image: ``(height, width, 3)`` uint8 RGB shown to the model: with preprocessing,
            the contrast-normalised crops side by side plus the motion overlay; without,
            the one raw middle frame resized.
        features: ``image_features`` of what the model sees.
        box: the crop box in frame pixels, or ``None`` (whole frame).
        preprocessed: whether crop, contrast and motion were applied.
    """

    image: NDArray[np.uint8]
    features: NDArray[np.float64]
    box: Box | None
    preprocessed: bool


def preprocess_window(
    frames: Sequence[ArrayLike],
    *,
    fps: float,
    seconds: float,
    keypoints_xy: ArrayLike | None = None,
    background: ArrayLike | None = None,
    size: int = 96,
    preprocess: bool = True,
    captions: Sequence[str] | None = None,
    side_px: float | None = None,
) -> PreprocessedWindow:
    """Preprocess the frames of one window for the model (or not, for the ablation).

    With ``preprocess``: an animal-centred square crop (``crop_window``) at ``size``,
    CLAHE contrast (``normalise_contrast``), and the motion made visible: the crops side
    by side followed by the ``motion_overlay``. Without: the raw middle frame, resized to
    ``size`` (a still frame: no motion can be seen).

    Args:
        frames: the window's frames in time order, ``(height, width[, 3])`` uint8.
        fps: frame rate, Hz.
        seconds: time spanned by ``frames``, s.
        keypoints_xy: ``(len(frames), keypoints, 2)`` pixels of the animal, or ``None``.
        background: for the crop without keypoints (``estimate_background``).
        size: side of each tile, pixels.
        preprocess: apply the preprocessing.
        captions: one caption per frame on the strip (default ``t+<s>``).
        side_px: a fixed crop side, pixels (``crop_window``).

    Returns:
        The model's image and the features of what it shows.
    """
    imgs = [np.asarray(f, dtype=np.uint8) for f in frames]
    _frames(imgs)
    if not preprocess:
        mid = _resize_square(_grey(imgs[len(imgs) // 2]), size)
        rgb = np.ascontiguousarray(np.repeat(mid[:, :, None], 3, axis=2))
        feats = image_features([mid], fps=fps, seconds=0.0)
        return PreprocessedWindow(image=rgb, features=feats, box=None, preprocessed=False)
    crops, box = crop_window(
        imgs, keypoints_xy=keypoints_xy, background=background, size=size, side_px=side_px
    )
    greys = [normalise_contrast(c) for c in crops]
    feats = image_features(greys, fps=fps, seconds=seconds)
    tiles: list[NDArray[np.uint8]] = [np.repeat(g[:, :, None], 3, axis=2) for g in greys]
    tiles.append(motion_overlay(greys))
    n = len(greys)
    caps = (
        list(captions)
        if captions is not None
        else [f"t+{seconds * i / max(n - 1, 1):.2f}s" for i in range(n)]
    )
    image = frame_strip(tiles, [*caps, "motion"])
    return PreprocessedWindow(image=image, features=feats, box=box, preprocessed=True)
