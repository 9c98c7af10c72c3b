"""Find and follow animals in a video without keypoints; per-frame motion and shape features.

For labs with video and no pose model. The animals are found by background subtraction:

1. ``estimate_background``: the per-pixel median of frames sampled evenly over the whole
   video (an animal that moves is elsewhere in most samples, so the median is the empty
   arena); the foreground threshold is set from the samples' noise (``noise_threshold``).
   Lighting that drifts or jumps scales the whole image: each frame before detection, and
   the samples from which the animals' side and size are read, is divided by its gain
   against the background (``match_gain``, the median ratio over the pixels), so a
   brighter arena is not one blob with the animals.
2. ``detect_blobs``: a frame (greyscale, scaled to at most ``BlobSettings.max_width``
   pixels wide, blurred, gain matched) minus the background, thresholded, opened, split
   into connected components; the largest ones above ``min_area_fraction`` of the image
   are the animals.
   Each blob's centre and principal axes come from the second moments of its body core
   (``CORE_DEPTH``: a tail or a thin shadow left out), its area from the whole blob.
3. ``track_blobs``: blobs are given to animals frame by frame by position (Hungarian
   assignment on the distance to each animal's last position). A blob other than the
   frame's largest must have ``ANIMAL_AREA_SHARE`` of one animal's area (``animal_area``)
   to be an animal. Where fewer blobs than animals are seen, animals share blobs (each
   blob holds about as many animals as its area holds animal areas, ``_assign``); the
   animals that share a blob are marked ``merged`` (contact), and the blob is cut into one part per
   animal (``split_blob``: k-means on its pixels started at the animals' last positions),
   so each animal keeps its own centre, axes and area through the contact; when they
   separate, the re-assignment is ``uncertain`` unless the best assignment beats the
   swapped one by ``identity_margin`` body lengths.
4. ``tools.blob_features.video_features``: per animal, the blob centre's speed (above
   its noise floor) and the axis' turning rate, elongation (blob length over the animal's
   median length: < 1 when a top-viewed animal rears or curls), aspect ratio, area
   relative to the median, and the motion energy inside the blob (fraction of its pixels
   that changed since the previous frame), with rolling means and standard deviations, as
   ``tools.features.Features`` that clustering, snippets and captions take like keypoint
   features.

Optionally (``tools.video_embeddings.embed_crops``), animal-centred crops are embedded by
an image encoder (the packaged EfficientNet-Lite0 of the ``vision`` extra) at up to 10 fps
and reduced to a few principal components, which the segment graph appends to the motion
features.

Frames are consumed one at a time from any ``FrameSource`` (``io.video.VideoReader``), so
an hour of video never sits in memory: what is kept is a few numbers per frame and animal.
``cached_tracks`` stores the tracks on disk keyed by the video's path, size, modification
time and the settings, so a second run (or another feature set) does not decode again.

Units: positions in pixels of the original video, areas in pixels², speeds in body
lengths per second (body length = the animal's median blob length), angles in radians,
times in seconds. NaN = no blob for that animal in that frame.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, fields
from itertools import permutations
from pathlib import Path
from typing import Any, Protocol

import cv2
import numpy as np
from numpy.typing import NDArray
from pydantic import BaseModel, ConfigDict, Field
from scipy.optimize import linear_sum_assignment

from ethoagent.atomic import atomic_save_npz
from ethoagent.errors import InputError
from ethoagent.tools.video_background import (
    animal_polarity,
    estimate_background,
    match_gain,
    noise_threshold,
    prepare_frame,
)

__all__ = [
    "Blob",
    "BlobSettings",
    "BlobTracks",
    "FrameSource",
    "cached_tracks",
    "check_moving_animal",
    "detect_blobs",
    "estimate_background",
    "match_gain",
    "noise_threshold",
    "prepare_frame",
    "track_blobs",
]

CACHE_VERSION = 4
"""Bumped when the tracks' meaning changes, so older cache files are not read."""

ANIMAL_AREA_SHARE = 0.35
"""``track_blobs``: a blob other than a frame's largest is an animal only when its area is
at least this share of one animal's (``animal_area``). Specular spots, lighting flicker and
a tail cut off by the threshold make blobs of a tenth of an animal's area or less; were
they taken for animals while two animals touch (one blob), the contact would go unflagged
and the tracks would jump to them."""

AREA_PERCENTILE = 75.0
"""``animal_area``: percentile of the samples' summed blob areas taken as all animals'
area. An animal that rests long becomes part of the median background and is missing
from many samples, so the median sum falls short (to a third of the animals' area on a
3-mouse tuning session, docs/segment.md "Three mice")."""

MIN_SEEN = 0.2
"""``check_moving_animal``: least share of the background samples that must show a blob."""
_FIX_MOTION = (
    "check that the video shows the animal moving (an animal still for the whole video "
    "is part of the background model), or pass a lower video threshold "
    "(--video-threshold, grey levels)."
)


class FrameSource(Protocol):
    """Frames by index and in order (``io.video.VideoReader`` is one).

    Frames are ``(height, width, 3)`` uint8 BGR or ``(height, width)`` uint8 grey.
    """

    def __len__(self) -> int:
        """Number of frames."""
        ...

    def __getitem__(self, index: int) -> NDArray[np.uint8]:
        """Frame ``index``."""
        ...

    def __iter__(self) -> Iterator[NDArray[np.uint8]]:
        """Every frame in order."""
        ...


class BlobSettings(BaseModel):
    """How animals are found in a video without keypoints.

    Attributes:
        animals: number of animals to follow.
        max_width: frames are scaled down to at most this width, pixels, before
            detection (speed; positions are reported in the original pixels).
        background_samples: frames sampled evenly for the median background.
        threshold: foreground threshold, grey levels (0–255); ``None`` = from the noise
            of the background samples (``noise_threshold``).
        min_area_fraction: smallest animal blob, fraction of the image area.
        identity_margin: a re-assignment after a merge is certain when the best
            assignment's summed distance beats the swapped one by this many body lengths.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    animals: int = Field(1, ge=1, le=16)
    max_width: int = Field(320, ge=64, le=4096)
    background_samples: int = Field(60, ge=5, le=1000)
    threshold: float | None = Field(None, gt=0, lt=255)
    min_area_fraction: float = Field(0.0005, gt=0, lt=0.5)
    identity_margin: float = Field(0.5, ge=0)


@dataclass(frozen=True)
class Blob:
    """One connected foreground region.

    Attributes:
        centre: ``(x, y)`` float, pixels of the scaled frame.
        area: pixels² of the scaled frame.
        major: length of the principal axis (4 standard deviations), pixels.
        minor: width across it (4 standard deviations), pixels.
        angle: orientation of the principal axis, rad in ``[0, pi)``.
        box: ``(x, y, width, height)`` bounding box, pixels of the scaled frame.
        label: component label in the frame's label image.
        mask: ``(height, width)`` bool, the blob's pixels within ``box`` (a part of a
            split blob: its own pixels only).
    """

    centre: tuple[float, float]
    area: float
    major: float
    minor: float
    angle: float
    box: tuple[int, int, int, int]
    label: int
    mask: NDArray[np.bool_] = field(repr=False, compare=False)


@dataclass(frozen=True)
class BlobTracks:
    """Every animal's blob in every frame.

    Attributes:
        centre: ``(frames, animals, 2)`` float64, pixels of the original video, NaN = none.
        area: ``(frames, animals)`` float64, pixels² of the original video.
        major: ``(frames, animals)`` float64, blob length, pixels of the original video.
        minor: ``(frames, animals)`` float64, blob width, pixels of the original video.
        angle: ``(frames, animals)`` float64, axis orientation, rad in ``[0, pi)``.
        motion: ``(frames, animals)`` float64, fraction of the blob's pixels whose grey
            level changed by more than the threshold since the previous frame.
        merged: ``(frames, animals)`` bool, the animal shares its blob with another (its
            values are those of its part of the blob, ``split_blob``).
        held: ``(frames, animals)`` bool, no blob of the animal was seen, and its last blob
            is held in place: an animal still for long merges into the median background,
            so a vanished animal is taken to be where it was last seen, not moving.
        uncertain: ``(frames, animals)`` bool, identity re-assigned after a merge with a
            margin below ``identity_margin`` (a swap is possible there).
        frame_motion: ``(frames,)`` float64, mean absolute difference to the previous
            frame over the whole image, grey levels.
        threshold: foreground threshold used, grey levels.
        scale: original pixels per processed pixel.
    """

    centre: NDArray[np.float64]
    area: NDArray[np.float64]
    major: NDArray[np.float64]
    minor: NDArray[np.float64]
    angle: NDArray[np.float64]
    motion: NDArray[np.float64]
    merged: NDArray[np.bool_]
    uncertain: NDArray[np.bool_]
    held: NDArray[np.bool_]
    frame_motion: NDArray[np.float64]
    threshold: float
    scale: float

    @property
    def frames(self) -> int:
        """Number of frames."""
        return int(self.area.shape[0])

    def identity_report(self) -> dict[str, Any]:
        """What identity tracking held, per animal and overall (for a run's report).

        Returns:
            ``{"animals", "frames", "detected_frames", "merged_frames", "merge_episodes",
            "uncertain_reassignments", "held_frames", "note"}``; the per-animal counts are
            lists.
        """
        frames, animals = self.area.shape
        detected = np.isfinite(self.area) & ~self.held
        starts = self.merged & ~np.vstack([np.zeros((1, animals), bool), self.merged[:-1]])
        episodes = int(np.any(starts, axis=1).sum())
        uncertain = int(np.any(self.uncertain, axis=1).sum())
        if animals == 1:
            note = "one animal: no identities to keep apart"
        elif not self.merged.any():
            note = "the animals' blobs never merged: identities held by position throughout"
        else:
            note = (
                f"the animals' blobs merged in {episodes} episode(s) (contact); those frames "
                "are flagged 'merged' and carry their part of the shared blob, and "
                f"{uncertain} re-assignment(s) after a merge had a margin below the identity "
                "check's (a swap of identities is possible there)"
            )
        return {
            "animals": animals,
            "frames": frames,
            "detected_frames": [int(c) for c in detected.sum(axis=0)],
            "merged_frames": [int(c) for c in self.merged.sum(axis=0)],
            "merge_episodes": episodes,
            "uncertain_reassignments": uncertain,
            "held_frames": [int(c) for c in self.held.sum(axis=0)],
            "note": note,
        }

    def save(self, path: Path) -> None:
        """Write the tracks to an ``.npz`` file (through a temporary file and a rename)."""
        atomic_save_npz(path, self.arrays())

    def arrays(self) -> dict[str, NDArray[Any]]:
        """Every field as an array (``from_arrays`` reads them back)."""
        return {f.name: np.asarray(getattr(self, f.name)) for f in fields(self)}

    @classmethod
    def from_arrays(cls, arrays: dict[str, NDArray[Any]]) -> BlobTracks:
        """Tracks from the arrays of ``arrays``."""
        kw: dict[str, Any] = {f.name: arrays[f.name] for f in fields(cls)}
        kw["threshold"] = float(kw["threshold"])
        kw["scale"] = float(kw["scale"])
        return cls(**kw)

    @classmethod
    def load(cls, path: Path) -> BlobTracks:
        """Read tracks written by ``save``."""
        with np.load(path) as z:
            return cls.from_arrays({f.name: z[f.name] for f in fields(cls)})


# --------------------------------------------------------------------------- detection


_KERNEL = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (3, 3))
CORE_DEPTH = 0.4
"""A blob's body core: its pixels at least this fraction of the blob's largest depth (the
distance to the background) inside. A tail or a thin shadow is shallow, so the centre and
the axes measured on the core do not swing with them."""


def detect_blobs(
    frame: NDArray[np.float32],
    background: NDArray[np.float32],
    threshold: float,
    min_area: float,
    most: int,
    polarity: int = 0,
) -> tuple[list[Blob], NDArray[np.int32]]:
    """The largest foreground blobs of one prepared frame.

    Args:
        frame: ``(h, w)`` float32, from ``prepare_frame``.
        background: ``(h, w)`` float32, from ``estimate_background``.
        threshold: foreground threshold, grey levels.
        min_area: smallest blob, pixels².
        most: most blobs returned (the largest).
        polarity: -1 = only pixels darker than the background (dark animals on a light
            floor), +1 = only brighter ones, 0 = both (``animal_polarity``).

    Returns:
        The blobs, largest first, and the ``(h, w)`` int32 component label image.
    """
    diff = frame - background
    mask = ((diff * polarity if polarity else np.abs(diff)) > threshold).astype(np.uint8)
    mask = cv2.morphologyEx(mask, cv2.MORPH_OPEN, _KERNEL)
    _, labels, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
    order = [i for i in np.argsort(-stats[1:, cv2.CC_STAT_AREA]) + 1 if stats[i, 4] >= min_area]
    depth = cv2.distanceTransform(mask, cv2.DIST_L2, 3) if order else None
    blobs: list[Blob] = []
    for i in order[:most]:
        x, y, w, h, _ = (int(v) for v in stats[i])
        assert depth is not None
        inside = labels[y : y + h, x : x + w] == i
        d = np.where(inside, depth[y : y + h, x : x + w], 0.0)
        blobs.append(_measure(inside, d, (x, y, w, h), int(i)))
    return blobs, np.asarray(labels, dtype=np.int32)


def _measure(
    inside: NDArray[np.bool_],
    depth: NDArray[np.float32],
    box: tuple[int, int, int, int],
    label: int,
) -> Blob:
    """A blob's centre and axes from its body core, its area from all of its pixels.

    Args:
        inside: ``(h, w)`` bool, the blob's pixels within ``box``.
        depth: ``(h, w)`` float, each pixel's distance to the background (0 outside).
        box: ``(x, y, width, height)`` of ``inside`` in the frame, pixels.
        label: component label in the frame's label image.
    """
    x, y, _, _ = box
    ys, xs = np.nonzero(depth >= CORE_DEPTH * float(depth.max()))
    area = int(inside.sum())
    cov = np.cov(np.stack([xs, ys])) if len(xs) > 1 else np.eye(2)
    evals, evecs = np.linalg.eigh(cov)
    major_vec = evecs[:, 1]
    return Blob(
        centre=(float(xs.mean() + x), float(ys.mean() + y)),
        area=float(area),
        major=4.0 * math.sqrt(max(float(evals[1]), 0.0)),
        minor=4.0 * math.sqrt(max(float(evals[0]), 0.0)),
        angle=float(math.atan2(major_vec[1], major_vec[0]) % math.pi),
        box=box,
        label=label,
        mask=inside,
    )


SPLIT_ITERATIONS = 10
"""Lloyd iterations of ``split_blob`` (the seeds are the animals' last positions, so a few
suffice)."""


def split_blob(blob: Blob, seeds: NDArray[np.float64]) -> list[Blob]:
    """Cut a blob of several animals in contact into one part per animal.

    The blob's pixels are clustered by k-means (k = ``len(seeds)``) started at the
    animals' last positions, so each part keeps the animal whose seed it grew from; each
    part is then measured like a blob (``detect_blobs``: centre and axes of its core, its
    depth taken inside the part). Two animals side by side or nose to tail are cut
    between them; where the seeds coincide (no position known), they are spread along the
    blob's long axis.

    Args:
        blob: the shared blob (from ``detect_blobs``; its pixels are ``blob.mask``).
        seeds: ``(k, 2)`` float64, the animals' last ``(x, y)`` positions, pixels of the
            processed frame; NaN = unknown (the blob's centre is used).

    Returns:
        ``k`` blobs in the order of ``seeds``; a part left without pixels is the whole blob.
    """
    x, y, _, _ = blob.box
    inside = blob.mask
    ys, xs = np.nonzero(inside)
    pts = np.stack([xs + x, ys + y], axis=1).astype(np.float64)
    k = len(seeds)
    centres = np.where(np.isfinite(seeds), seeds, np.asarray(blob.centre))
    spread = np.linalg.norm(centres[:, None] - centres[None], axis=2)
    spread[np.eye(k, dtype=bool)] = np.inf
    if spread.min() < 1.0:
        axis = np.array([math.cos(blob.angle), math.sin(blob.angle)])
        offsets = np.linspace(-0.25, 0.25, k)[:, None] * blob.major
        centres = np.asarray(blob.centre) + offsets * axis
    part = np.zeros(len(pts), dtype=np.int64)
    for _ in range(SPLIT_ITERATIONS):
        part = np.argmin(np.linalg.norm(pts[:, None] - centres[None], axis=2), axis=1)
        for j in range(k):
            if np.any(part == j):
                centres[j] = pts[part == j].mean(axis=0)
    out: list[Blob] = []
    for j in range(k):
        mask = np.zeros_like(inside)
        mask[ys[part == j], xs[part == j]] = True
        if not mask.any():
            out.append(blob)
            continue
        padded = np.pad(mask, 1).astype(np.uint8)
        depth = np.asarray(cv2.distanceTransform(padded, cv2.DIST_L2, 3), dtype=np.float32)
        out.append(_measure(mask, depth[1:-1, 1:-1], blob.box, blob.label))
    return out


def animal_area(
    samples: Iterable[NDArray[np.float32]],
    background: NDArray[np.float32],
    threshold: float,
    min_area: float,
    animals: int,
    polarity: int = 0,
) -> float:
    """One animal's blob area, pixels² of the prepared frames (NaN when no sample has a blob).

    The ``AREA_PERCENTILE`` percentile over the samples that show a blob of their summed
    blob area (the ``animals`` largest), divided by ``animals``: animals in contact make
    one blob of about their summed area, so the sum does not depend on who touches whom.

    Args:
        samples: prepared frames (``prepare_frame``), ``(h, w)`` float32.
        background: ``(h, w)`` float32, from ``estimate_background``.
        threshold: foreground threshold, grey levels.
        min_area: smallest blob, pixels².
        animals: animals in the video.
        polarity: which side of the background an animal is (``detect_blobs``).
    """
    found = (
        detect_blobs(s, background, threshold, min_area, animals, polarity)[0] for s in samples
    )
    totals = [sum(b.area for b in blobs) for blobs in found if blobs]
    return float(np.percentile(totals, AREA_PERCENTILE)) / animals if totals else math.nan


# --------------------------------------------------------------------------- tracking


def _assign(
    last: NDArray[np.float64], blobs: list[Blob], capacity: list[int], penalty: float
) -> tuple[list[int], NDArray[np.float64]]:
    """Blob index per animal (``-1`` = none), every animal given a blob when there is one.

    With fewer blobs than animals, blobs are repeated so that animals can share one (the
    merged case): blob ``b`` holds up to ``capacity[b]`` animals (its area in animals) at
    the cost of the distance alone, each animal beyond that at ``penalty`` pixels more, so
    that two animals that touch share the blob of two animals' area (animals lying over
    each other make less than their summed area, and count as fewer). Animals without a
    last position take the nearest-to-origin order.

    Returns:
        The assignment and the ``(animals, blobs)`` distance matrix, pixels.
    """
    animals = last.shape[0]
    if not blobs:
        return [-1] * animals, np.zeros((animals, 0))
    centres = np.array([b.centre for b in blobs])
    ref = np.where(np.isfinite(last), last, centres[0])
    dist = np.linalg.norm(ref[:, None, :] - centres[None, :, :], axis=2)
    copies = animals if len(blobs) < animals else 1
    over = np.array([[penalty * (c >= cap) for cap in capacity] for c in range(copies)])
    # a repeated blob costs a little more, so distinct blobs are used first
    cost = np.concatenate([dist + over[c] + 1e-3 * c for c in range(copies)], axis=1)
    rows, cols = linear_sum_assignment(cost)
    out = [-1] * animals
    for r, c in zip(rows, cols, strict=True):
        out[int(r)] = int(c) % len(blobs)
    return out, dist


def _margin(dist: NDArray[np.float64], chosen: list[int], group: list[int]) -> float:
    """How much cheaper (pixels) the chosen assignment of ``group`` is than its best swap."""
    best = sum(dist[a, chosen[a]] for a in group)
    others = [
        sum(dist[a, chosen[b]] for a, b in zip(group, perm, strict=True))
        for perm in permutations(group)
        if list(perm) != group
    ]
    return float(min(others) - best) if others else math.inf


class _Tracker:
    """Frame-by-frame state of ``track_blobs`` (the last positions and open merges)."""

    def __init__(self, animals: int, frames: int, animal_area: float = math.nan) -> None:
        self.animal_area = animal_area
        self.last = np.full((animals, 2), np.nan)
        self.was_merged: set[int] = set()
        self.body = np.nan  # running median-ish blob length, pixels (processed frame)
        shape = (frames, animals)
        self.centre = np.full((*shape, 2), np.nan)
        self.area = np.full(shape, np.nan)
        self.major = np.full(shape, np.nan)
        self.minor = np.full(shape, np.nan)
        self.angle = np.full(shape, np.nan)
        self.motion = np.full(shape, np.nan)
        self.merged = np.zeros(shape, dtype=bool)
        self.uncertain = np.zeros(shape, dtype=bool)
        self.held = np.zeros(shape, dtype=bool)
        self.last_blob: list[Blob | None] = [None] * animals

    def hold(self, f: int, a: int) -> None:
        """Keep animal ``a``'s last blob in frame ``f`` (not seen: taken to be still)."""
        blob = self.last_blob[a]
        if blob is None:
            return
        self.centre[f, a] = blob.centre
        self.area[f, a] = blob.area
        self.major[f, a] = blob.major
        self.minor[f, a] = blob.minor
        self.angle[f, a] = blob.angle
        self.motion[f, a] = 0.0
        self.held[f, a] = True

    def step(
        self,
        f: int,
        blobs: list[Blob],
        changed: NDArray[np.bool_] | None,
        margin_body: float,
    ) -> None:
        body = self.body if math.isfinite(self.body) else 1.0
        size = self.animal_area if math.isfinite(self.animal_area) else math.inf
        capacity = [max(1, round(b.area / size)) for b in blobs]
        chosen, dist = _assign(self.last, blobs, capacity, body)
        users: dict[int, list[int]] = {}
        for a, b in enumerate(chosen):
            if b >= 0:
                users.setdefault(b, []).append(a)
        merged_now = {a for group in users.values() if len(group) > 1 for a in group}
        # identity check: animals leaving a merge are re-assigned by their last position
        leaving = sorted(self.was_merged - merged_now)
        if (
            len(leaving) > 1
            and all(chosen[a] >= 0 for a in leaving)
            and _margin(dist, chosen, leaving) < margin_body * body
        ):
            self.uncertain[f, leaving] = True
        self.was_merged = merged_now
        own: dict[int, Blob] = {}
        for b, group in users.items():
            if len(group) > 1:
                parts = split_blob(blobs[b], self.last[group])
                own.update(zip(group, parts, strict=True))
        for a, b in enumerate(chosen):
            if b < 0:
                self.hold(f, a)
                continue
            blob = own.get(a, blobs[b])
            self.centre[f, a] = blob.centre
            self.area[f, a] = blob.area
            self.major[f, a] = blob.major
            self.minor[f, a] = blob.minor
            self.angle[f, a] = blob.angle
            self.merged[f, a] = a in merged_now
            if changed is not None:
                x, y, w, h = blob.box
                self.motion[f, a] = float(changed[y : y + h, x : x + w][blob.mask].mean())
            # a part of a split blob is the animal's own: followed through the contact
            self.last[a] = blob.centre
            self.last_blob[a] = blob
            if a not in merged_now:
                self.body = (
                    blob.major
                    if not math.isfinite(self.body)
                    else 0.99 * self.body + 0.01 * blob.major
                )


def _background_model(
    source: FrameSource, settings: BlobSettings
) -> tuple[list[NDArray[np.float32]], NDArray[np.float32], float, float]:
    """The prepared background samples, their median background, threshold and least area.

    Returns:
        ``background_samples`` prepared frames spread evenly over the video, the
        background (``estimate_background``), the foreground threshold (grey levels:
        ``settings.threshold`` or ``noise_threshold``) and the smallest animal blob
        (pixels² of the prepared frames).
    """
    n = len(source)
    picks = np.unique(np.linspace(0, n - 1, min(settings.background_samples, n)).astype(int))
    samples = [prepare_frame(source[int(i)], settings.max_width) for i in picks]
    background = estimate_background(samples)
    threshold = settings.threshold or noise_threshold(samples, background)
    h, w = background.shape
    return samples, background, threshold, settings.min_area_fraction * h * w


def track_blobs(
    source: FrameSource,
    settings: BlobSettings,
    *,
    progress: Callable[[int, int], None] | None = None,
) -> BlobTracks:
    """Find and follow ``settings.animals`` animals through every frame of ``source``.

    Args:
        source: the video's frames (read once in order, plus the background samples).
        settings: detection and identity settings.
        progress: called as ``progress(done_frames, total_frames)`` every 500 frames.

    Returns:
        The tracks (see ``BlobTracks``).
    """
    n = len(source)
    samples, background, threshold, min_area = _background_model(source, settings)
    w = background.shape[1]
    # the samples in the background's lighting (a lit-up arena is no animal)
    matched = [s / match_gain(s, background) for s in samples]
    polarity = animal_polarity(matched, background, threshold)
    per_animal = animal_area(matched, background, threshold, min_area, settings.animals, polarity)
    floor = ANIMAL_AREA_SHARE * per_animal if math.isfinite(per_animal) else 0.0
    tracker = _Tracker(settings.animals, n, per_animal)
    frame_motion = np.full(n, np.nan)
    previous: NDArray[np.float32] | None = None
    scale = 1.0
    f = -1
    for f, frame in enumerate(source):
        if f == 0:
            scale = frame.shape[1] / w
        grey = prepare_frame(frame, settings.max_width)
        grey /= match_gain(grey, background)
        blobs, _ = detect_blobs(grey, background, threshold, min_area, settings.animals, polarity)
        blobs = blobs[:1] + [b for b in blobs[1:] if b.area >= floor]
        changed = None
        if previous is not None:
            diff = np.abs(grey - previous)
            frame_motion[f] = float(diff.mean())
            changed = diff > threshold
        tracker.step(f, blobs, changed, settings.identity_margin)
        previous = grey
        if progress is not None and (f + 1) % 500 == 0:
            progress(f + 1, n)
    if progress is not None:
        progress(f + 1, n)
    t = tracker
    return BlobTracks(
        centre=t.centre * scale,
        area=t.area * scale**2,
        major=t.major * scale,
        minor=t.minor * scale,
        angle=t.angle,
        motion=t.motion,
        merged=t.merged,
        uncertain=t.uncertain,
        held=t.held,
        frame_motion=frame_motion,
        threshold=float(threshold),
        scale=float(scale),
    )


def check_moving_animal(source: FrameSource, settings: BlobSettings, name: str) -> None:
    """Raise unless a fifth of the background samples show a foreground blob.

    A quick test before a run (the samples only): a video of an empty arena, or of an
    animal that never moves (it is then part of the median background), has none.

    Args:
        source: the video's frames.
        settings: detection settings.
        name: the video's file name, for the message.

    Raises:
        InputError: blobs in fewer than ``MIN_SEEN`` of the samples (a fifth: an animal
            may sit still, and so vanish into the background, for most of a session).
    """
    samples, background, threshold, min_area = _background_model(source, settings)
    seen = sum(bool(detect_blobs(s, background, threshold, min_area, 1)[0]) for s in samples)
    if seen < MIN_SEEN * len(samples):
        raise InputError(
            f"no moving animal found in {name}: only {seen} of {len(samples)} frames sampled "
            f"over the video differ from the background by more than {threshold:.0f} grey "
            "levels over an animal-sized area.",
            fix=_FIX_MOTION,
        )


def cached_tracks(
    video: Path,
    source: FrameSource,
    settings: BlobSettings,
    cache_dir: Path,
    *,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[BlobTracks, bool]:
    """``track_blobs`` through an on-disk cache keyed by the video file and the settings.

    Args:
        video: the video file (its resolved path, size and modification time are the key).
        source: its frames.
        settings: detection and identity settings.
        cache_dir: folder of cached ``.npz`` tracks (created).
        progress: passed to ``track_blobs``.

    Returns:
        The tracks and whether they came from the cache.
    """
    st = video.stat()
    key = json.dumps(
        [CACHE_VERSION, str(video.resolve()), st.st_size, st.st_mtime_ns, settings.model_dump()],
        sort_keys=True,
    )
    path = cache_dir / f"blobs-{hashlib.sha256(key.encode()).hexdigest()[:24]}.npz"
    if path.is_file():
        return BlobTracks.load(path), True
    tracks = track_blobs(source, settings, progress=progress)
    cache_dir.mkdir(parents=True, exist_ok=True)
    tracks.save(path)
    return tracks, False
