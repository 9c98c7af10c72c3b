"""Frame embeddings for the LookAgain gate: the encoder protocol, an on-disk cache, crops.

The gate (issue 8) decides which frames are worth showing the vision model again by
comparing cheap per-frame embeddings. This module holds the model-free parts:

- ``VisionEncoder`` is what every encoder offers: ``name``, ``dim``, ``encode`` and a
  counter ``frames_encoded`` of every frame it was sent; ``CountingEncoder`` is the base
  that validates frames and counts them;
- ``ClassicalEncoder`` (no weights) is HOG plus an optical-flow histogram against the
  previous frame;
- ``EmbeddingCache`` and ``encode_frames`` keep embeddings on disk so no frame is encoded
  twice; ``animal_crop`` cuts the square around an animal's keypoints.

The encoders with a model live elsewhere: EfficientNet-Lite0 and local Hugging Face
vision models in ``ethoagent.nn.encoders``, the ``embed`` role's endpoint in
``ethoagent.agent.embed`` (whose ``make_vision_encoder`` picks one by name).

Frames are ``(n_frames, height, width, 3)`` uint8 **RGB** (not OpenCV's BGR); embeddings
are ``(n_frames, dim)`` float32, unitless.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import cv2
import numpy as np
from numpy.typing import ArrayLike, NDArray

from ethoagent.atomic import atomic_save_npz
from ethoagent.errors import EndpointError, InputError
from ethoagent.tools.crop import crop_region

__all__ = [
    "ClassicalEncoder",
    "CountingEncoder",
    "CropEmbedder",
    "EmbeddingCache",
    "EncodeResult",
    "FrameKey",
    "VisionEncoder",
    "animal_boxes",
    "animal_crop",
    "array_source_id",
    "crop_box",
    "encode_frames",
    "resize_square",
    "video_source_id",
]

Box = tuple[int, int, int, int]
"""``(x0, y0, x1, y1)`` in pixel-index bounds, ``x1`` and ``y1`` exclusive."""


@runtime_checkable
class VisionEncoder(Protocol):
    """Turns RGB frames into fixed-size embeddings and counts every frame it is sent.

    Attributes:
        name: identifies the encoder and its settings (part of every cache key).
        dim: length of one embedding.
        temporal: whether a frame's embedding also depends on the frame before it
            (``encode``'s ``previous``); the cache then keys on both frames.
        frames_encoded: frames sent to ``encode`` so far (context frames not included).
    """

    @property
    def name(self) -> str: ...

    @property
    def dim(self) -> int: ...

    @property
    def temporal(self) -> bool: ...

    @property
    def frames_encoded(self) -> int: ...

    def encode(
        self, frames: ArrayLike, *, previous: ArrayLike | None = None
    ) -> NDArray[np.float32]:
        """Embed frames ``(n_frames, height, width, 3)`` uint8 RGB -> ``(n_frames, dim)``
        float32. ``previous`` ``(height, width, 3)`` uint8 RGB is the frame before
        ``frames[0]`` (used by temporal encoders only; it is not counted)."""
        ...


def _check_frames(frames: ArrayLike, what: str = "frames") -> NDArray[np.uint8]:
    arr = np.asarray(frames)
    if arr.ndim != 4 or arr.shape[-1] != 3:
        raise InputError(
            f"{what} must be (n_frames, height, width, 3) RGB; found shape {arr.shape}.",
            fix="stack frames along a first axis; convert grey or BGR frames to RGB.",
        )
    if arr.dtype != np.uint8:
        raise InputError(
            f"{what} must be uint8 (0-255); found dtype {arr.dtype}.",
            fix="convert with np.clip(frames, 0, 255).astype(np.uint8).",
        )
    if arr.shape[0] and (arr.shape[1] < 1 or arr.shape[2] < 1):
        raise InputError(f"{what} have an empty image size {arr.shape[1:3]}.")
    return arr


def _check_previous(previous: ArrayLike | None, frames: NDArray[np.uint8]) -> NDArray[np.uint8]:
    if previous is None:
        return frames[0] if len(frames) else np.zeros((1, 1, 3), np.uint8)
    return np.asarray(_check_frames(np.asarray(previous)[None], "previous")[0], np.uint8)


class CountingEncoder:
    """Validation and counting shared by the encoders; subclasses write ``_encode``.

    The encoders built on it live where their models do: ``ClassicalEncoder`` here,
    the packaged torch models in ``ethoagent.nn.encoders`` and the ``embed`` role's
    endpoint in ``ethoagent.agent.embed``.
    """

    _name: str
    _dim: int
    _temporal = False

    def __init__(self) -> None:
        self._frames_encoded = 0

    @property
    def name(self) -> str:
        return self._name

    @property
    def dim(self) -> int:
        return self._dim

    @property
    def temporal(self) -> bool:
        return self._temporal

    @property
    def frames_encoded(self) -> int:
        return self._frames_encoded

    def encode(
        self, frames: ArrayLike, *, previous: ArrayLike | None = None
    ) -> NDArray[np.float32]:
        """Embed frames ``(n_frames, height, width, 3)`` uint8 RGB.

        Returns:
            ``(n_frames, dim)`` float32; ``(0, dim)`` for no frames.
        """
        arr = _check_frames(frames)
        prev = _check_previous(previous, arr)
        self._frames_encoded += int(arr.shape[0])
        if arr.shape[0] == 0:
            return np.zeros((0, self._dim), np.float32)
        out = np.asarray(self._encode(arr, prev), dtype=np.float32)
        if out.shape != (arr.shape[0], self._dim):
            raise EndpointError(
                f"encoder {self._name} returned shape {out.shape}; expected "
                f"({arr.shape[0]}, {self._dim}).",
                fix="check the encoder's model or endpoint.",
            )
        return np.ascontiguousarray(out)

    def _encode(self, frames: NDArray[np.uint8], previous: NDArray[np.uint8]) -> ArrayLike:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self._name!r}, dim={self._dim})"


def resize_square(image: NDArray[np.uint8], side: int) -> NDArray[np.uint8]:
    """Resize ``(height, width, ...)`` to ``(side, side, ...)`` (area filter when shrinking)."""
    h, w = image.shape[:2]
    interp = cv2.INTER_AREA if side < min(h, w) else cv2.INTER_LINEAR
    return np.asarray(cv2.resize(image, (side, side), interpolation=interp), np.uint8)


# ------------------------------------------------------------------------ (d) classical


class ClassicalEncoder(CountingEncoder):
    """HOG of the frame plus a histogram of its optical flow from the previous frame.

    Each frame is turned grey and resized to ``size`` x ``size`` px. Appearance: HOG
    (8 px cells, 16 px blocks at a 16 px stride, 9 orientation bins), computed here
    because OpenCV 5 no longer ships ``cv2.HOGDescriptor`` in its main module. Motion: dense
    Farnebäck flow from the previous frame (the one before it in the batch, or
    ``previous`` for the first; none gives zero motion), summarised as the mean flow
    magnitude per 8 direction bins, the fraction of pixels in 8 magnitude bins
    (``_FLOW_EDGES``, pixels at ``size``), and the mean absolute grey-level difference
    (0-1). No weights; deterministic.
    """

    _temporal = True
    _FLOW_EDGES = (0.0, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0, math.inf)
    _ANGLE_BINS = 8
    _HOG_BINS = 9

    def __init__(self, *, size: int = 64) -> None:
        super().__init__()
        if size < 16 or size % 16:
            raise InputError(f"size must be a multiple of 16, >= 16; found {size}.")
        self.size = size
        self._hog_dim = (size // 16) ** 2 * 4 * self._HOG_BINS
        self._dim = self._hog_dim + self._ANGLE_BINS + (len(self._FLOW_EDGES) - 1) + 1
        self._name = f"classical-hog-flow@{size}"

    def _grey(self, frame: NDArray[np.uint8]) -> NDArray[np.uint8]:
        grey = np.asarray(cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY), np.uint8)
        return resize_square(grey, self.size)

    def _hog(self, grey: NDArray[np.uint8]) -> NDArray[np.float32]:
        """Dalal-Triggs HOG: [-1, 0, 1] gradients, 9 unsigned orientation bins per 8 px
        cell, 2x2-cell blocks at a 16 px stride, L2-Hys normalised (clip 0.2)."""
        img = grey.astype(np.float32)
        gx = cv2.Sobel(img, cv2.CV_32F, 1, 0, ksize=1)
        gy = cv2.Sobel(img, cv2.CV_32F, 0, 1, ksize=1)
        mag, ang = cv2.cartToPolar(gx, gy)
        bins = np.minimum((np.mod(ang, np.pi) / np.pi * self._HOG_BINS).astype(int), 8)
        cells = self.size // 8
        cell_of = (np.arange(self.size) // 8)[:, None] * cells + (np.arange(self.size) // 8)
        flat = (cell_of * self._HOG_BINS + bins).ravel()
        hist = np.bincount(flat, weights=mag.ravel(), minlength=cells * cells * self._HOG_BINS)
        # (block row, cell row in block, block col, cell col in block, bin)
        h = hist.reshape(cells // 2, 2, cells // 2, 2, self._HOG_BINS).transpose(0, 2, 1, 3, 4)
        blocks = h.reshape(-1, 4 * self._HOG_BINS)
        for _ in range(2):  # L2, clip, L2 again
            blocks = blocks / np.sqrt((blocks**2).sum(axis=1, keepdims=True) + 1e-6)
            blocks = np.minimum(blocks, 0.2)
        blocks = blocks / np.sqrt((blocks**2).sum(axis=1, keepdims=True) + 1e-6)
        return np.asarray(blocks.ravel(), np.float32)

    def _motion(self, prev: NDArray[np.uint8], cur: NDArray[np.uint8]) -> NDArray[np.float32]:
        flow = np.zeros((*cur.shape, 2), np.float32)
        flow = cv2.calcOpticalFlowFarneback(prev, cur, flow, 0.5, 3, 15, 3, 5, 1.2, 0)
        mag, ang = cv2.cartToPolar(flow[..., 0], flow[..., 1])
        mag, ang = mag.ravel(), ang.ravel()
        n = mag.size
        sectors = np.minimum((ang / (2 * np.pi) * self._ANGLE_BINS).astype(int), 7)
        by_angle = np.bincount(sectors, weights=mag, minlength=self._ANGLE_BINS) / n
        by_mag = np.histogram(mag, bins=np.array(self._FLOW_EDGES))[0] / n
        diff = np.abs(cur.astype(np.float32) - prev.astype(np.float32)).mean() / 255.0
        return np.concatenate([by_angle, by_mag, [diff]]).astype(np.float32)

    def _encode(self, frames: NDArray[np.uint8], previous: NDArray[np.uint8]) -> ArrayLike:
        greys = [self._grey(f) for f in frames]
        prev = self._grey(previous)
        out = np.empty((len(frames), self._dim), np.float32)
        for i, cur in enumerate(greys):
            out[i, : self._hog_dim] = self._hog(cur)
            out[i, self._hog_dim :] = self._motion(prev, cur)
            prev = cur
        return out


# ------------------------------------------------------------------------------- cache


def video_source_id(path: str | Path) -> str:
    """Identifies a video file's content cheaply: resolved path, size and mtime (ns)."""
    p = Path(path)
    try:
        st = p.stat()
    except OSError as exc:
        raise InputError(f"cannot read video {p}: {exc.strerror}.") from exc
    return f"file:{p.resolve()}:{st.st_size}:{st.st_mtime_ns}"


def array_source_id(frames: ArrayLike) -> str:
    """Identifies in-memory frames by a SHA-256 of their shape, dtype and bytes."""
    arr = np.ascontiguousarray(np.asarray(frames))
    h = hashlib.sha256(f"{arr.shape}{arr.dtype.str}".encode())
    h.update(arr.tobytes())
    return f"array:{h.hexdigest()}"


@dataclass(frozen=True)
class FrameKey:
    """Where a frame came from: source (``video_source_id`` / ``array_source_id``),
    frame index in that source, and the crop box ``(x0, y0, x1, y1)`` pixels (``None`` =
    whole frame)."""

    source: str
    frame_index: int
    box: Box | None = None

    def digest(self, encoder_name: str, previous: FrameKey | None = None) -> str:
        """Hex SHA-256 of the encoder name, this key and (temporal encoders) the key of
        the frame before it."""
        payload: list[Any] = [encoder_name, self.source, self.frame_index, self.box]
        if previous is not None:
            payload.append([previous.source, previous.frame_index, previous.box])
        return hashlib.sha256(json.dumps(payload).encode()).hexdigest()


@dataclass(frozen=True, repr=False)
class EncodeResult:
    """Embeddings of a batch and what producing them cost.

    Attributes:
        embeddings: ``(n_frames, dim)`` float32, in the order of the frames given.
        hits: frames answered from the cache.
        misses: frames sent to the encoder in this call.
        frames_encoded: the encoder's running total of frames encoded.
    """

    embeddings: NDArray[np.float32]
    hits: int
    misses: int
    frames_encoded: int

    def __repr__(self) -> str:
        return (
            f"EncodeResult({self.embeddings.shape[0]}x{self.embeddings.shape[1]}, "
            f"hits={self.hits}, misses={self.misses}, frames_encoded={self.frames_encoded})"
        )


class EmbeddingCache:
    """Per-frame embeddings on disk: ``root/<encoder>/<shard>.npz``, written atomically.

    Each shard holds ``keys`` (``(n,)`` 64-char hex digests of ``FrameKey.digest``) and
    ``embeddings`` ``(n, dim)`` float32. Shards are only ever added, never rewritten, so
    concurrent readers see whole shards or none.
    """

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self._index: dict[str, dict[str, NDArray[np.float32]]] = {}
        self._shards_read: set[Path] = set()

    def __repr__(self) -> str:
        return f"EmbeddingCache({str(self.root)!r})"

    def _folder(self, encoder_name: str) -> Path:
        safe = re.sub(r"[^A-Za-z0-9._@-]+", "_", encoder_name)[:80]
        tag = hashlib.sha256(encoder_name.encode()).hexdigest()[:8]
        return self.root / f"{safe}-{tag}"

    def _load(self, encoder_name: str) -> dict[str, NDArray[np.float32]]:
        """The in-memory index, after reading shards other writers added since."""
        index = self._index.setdefault(encoder_name, {})
        for shard in sorted(self._folder(encoder_name).glob("*.npz")):
            if shard in self._shards_read:
                continue
            self._shards_read.add(shard)
            try:
                with np.load(shard, allow_pickle=False) as data:
                    keys, emb = data["keys"], data["embeddings"]
            except (OSError, ValueError, KeyError):
                continue  # an unreadable shard only costs re-encoding
            for k, row in zip(keys.tolist(), emb.astype(np.float32), strict=True):
                index[str(k)] = row
        return index

    def lookup(self, encoder_name: str, digests: Sequence[str]) -> list[NDArray[np.float32] | None]:
        """The cached embedding ``(dim,)`` float32 of each digest, or ``None``."""
        index = self._load(encoder_name)
        return [index.get(d) for d in digests]

    def put(
        self, encoder_name: str, digests: Sequence[str], embeddings: NDArray[np.float32]
    ) -> Path | None:
        """Store ``embeddings`` ``(n, dim)`` float32 under ``digests`` as one new shard."""
        if not digests:
            return None
        emb = np.asarray(embeddings, np.float32)
        name = hashlib.sha256("".join(digests).encode()).hexdigest()[:16]
        path = self._folder(encoder_name) / f"{name}.npz"
        atomic_save_npz(path, {"keys": np.array(digests, dtype="U64"), "embeddings": emb})
        self._shards_read.add(path)
        index = self._index.setdefault(encoder_name, {})
        for d, row in zip(digests, emb, strict=True):
            index[d] = row
        return path


def encode_frames(
    encoder: VisionEncoder,
    frames: ArrayLike,
    keys: Sequence[FrameKey],
    cache: EmbeddingCache | None = None,
) -> EncodeResult:
    """Embed frames, sending only those not already in ``cache`` to ``encoder``.

    Args:
        encoder: any ``VisionEncoder``.
        frames: ``(n_frames, height, width, 3)`` uint8 RGB, consecutive for temporal
            encoders (frame ``i - 1`` is frame ``i``'s previous frame).
        keys: one ``FrameKey`` per frame.
        cache: where embeddings are kept; ``None`` encodes everything.

    Returns:
        The embeddings ``(n_frames, dim)`` float32 with hit, miss and encoder counts.
    """
    arr = _check_frames(frames)
    if len(keys) != arr.shape[0]:
        raise InputError(
            f"encode_frames got {arr.shape[0]} frames but {len(keys)} keys.",
            fix="pass one FrameKey per frame.",
        )
    n = arr.shape[0]
    if cache is None:
        emb = encoder.encode(arr)
        return EncodeResult(emb, 0, n, encoder.frames_encoded)
    name = encoder.name
    digests = [
        k.digest(name, keys[i - 1] if encoder.temporal and i > 0 else None)
        for i, k in enumerate(keys)
    ]
    rows = cache.lookup(name, digests)
    missing = [i for i, r in enumerate(rows) if r is None]
    # temporal encoders get each run of missing frames with the frame before it as context
    runs: list[list[int]] = []
    for i in missing:
        if runs and runs[-1][-1] == i - 1:
            runs[-1].append(i)
        else:
            runs.append([i])
    for run in runs:
        start, stop = run[0], run[-1] + 1
        prev = arr[start - 1] if encoder.temporal and start > 0 else None
        emb = encoder.encode(arr[start:stop], previous=prev)
        cache.put(name, digests[start:stop], emb)
        for j, i in enumerate(run):
            rows[i] = emb[j]
    if n == 0:
        return EncodeResult(np.zeros((0, encoder.dim), np.float32), 0, 0, encoder.frames_encoded)
    out = np.stack([r for r in rows if r is not None]).astype(np.float32)
    return EncodeResult(out, n - len(missing), len(missing), encoder.frames_encoded)


# ------------------------------------------------------------------------------ crops


def animal_crop(
    frame: ArrayLike,
    keypoints_xy: ArrayLike,
    margin: float = 0.25,
    *,
    min_side_px: int = 16,
    out_size: int | None = None,
) -> tuple[NDArray[np.uint8], Box]:
    """The square around an animal's keypoints, centred on them.

    Args:
        frame: ``(height, width, 3)`` uint8 RGB (any channel order works).
        keypoints_xy: ``(n_keypoints, 2)`` float64, pixels; rows with NaN are ignored.
        margin: added on every side as a fraction of the keypoints' larger extent (>= 0).
        min_side_px: the smallest side of the square, pixels (a single keypoint still
            gives a crop).
        out_size: side of the returned crop, pixels; ``None`` keeps the box's size.

    Returns:
        ``crop`` ``(side, side, 3)`` uint8 (parts outside the frame filled with 0) and
        ``box`` ``(x0, y0, x1, y1)`` int, pixel-index bounds in the frame (``x1``/``y1``
        exclusive; may extend outside it).

    Raises:
        InputError: no finite keypoint, a negative margin, or the square lies entirely
            outside the frame.
    """
    box = crop_box(keypoints_xy, margin, min_side_px=min_side_px)
    size = None if out_size is None else (int(out_size), int(out_size))
    crop = crop_region(frame, box, out_size=size, outside="pad", fill=0.0)
    return np.asarray(crop.image, np.uint8), box


def crop_box(keypoints_xy: ArrayLike, margin: float = 0.25, *, min_side_px: int = 16) -> Box:
    """The square box ``animal_crop`` cuts around an animal's keypoints (no image needed).

    Args and errors as in ``animal_crop``; returns ``(x0, y0, x1, y1)`` int pixel-index
    bounds (``x1``/``y1`` exclusive; may extend outside the frame).
    """
    pts = np.asarray(keypoints_xy, dtype=np.float64)
    if pts.ndim != 2 or pts.shape[1] != 2:
        raise InputError(f"keypoints_xy must be (n_keypoints, 2) pixels; found shape {pts.shape}.")
    if not math.isfinite(margin) or margin < 0:
        raise InputError(f"margin must be a finite fraction >= 0; found {margin!r}.")
    ok = np.all(np.isfinite(pts), axis=1)
    if not ok.any():
        raise InputError(
            f"animal_crop needs at least one finite keypoint; found {pts.shape[0]}, none finite.",
            fix="skip this frame or use the previous frame's keypoints.",
        )
    lo, hi = pts[ok].min(axis=0), pts[ok].max(axis=0)
    centre = (lo + hi) / 2
    side = max(math.ceil(float((hi - lo).max()) * (1 + 2 * margin)) + 1, int(min_side_px))
    # pixel index holding coordinate v is floor(v + 0.5)
    x0 = math.floor(centre[0] + 0.5) - side // 2
    y0 = math.floor(centre[1] + 0.5) - side // 2
    return (x0, y0, x0 + side, y0 + side)


def animal_boxes(
    points_xy: ArrayLike, margin: float = 0.25, *, min_side_px: int = 16
) -> tuple[NDArray[np.int64], NDArray[np.bool_]]:
    """The ``crop_box`` of every frame and animal, held over frames without keypoints.

    A frame where an animal has no finite keypoint takes the box of its last frame with
    one (before its first such frame: the next one), so a short tracking gap still gets a
    crop where the animal was.

    Args:
        points_xy: ``(frames, animals, keypoints, 2)`` float64, pixels, NaN = missing.
        margin, min_side_px: as in ``animal_crop``.

    Returns:
        ``boxes`` ``(frames, animals, 4)`` int64 ``(x0, y0, x1, y1)`` pixel-index bounds
        and ``has_box`` ``(frames, animals)`` bool (False only for an animal never seen).
    """
    pts = np.asarray(points_xy, dtype=np.float64)
    if pts.ndim != 4 or pts.shape[-1] != 2:
        raise InputError(
            f"points_xy must be (frames, animals, keypoints, 2) pixels; found shape {pts.shape}.",
            fix="pass 2D keypoints in the video's pixel coordinates.",
        )
    frames, animals = pts.shape[:2]
    boxes = np.zeros((frames, animals, 4), np.int64)
    seen = np.asarray(np.isfinite(pts).all(axis=-1).any(axis=-1), bool)  # (frames, animals)
    has_box = np.zeros((frames, animals), bool)
    for a in range(animals):
        idx = np.flatnonzero(seen[:, a])
        if idx.size == 0:
            continue
        for f in idx:
            boxes[f, a] = crop_box(pts[f, a], margin, min_side_px=min_side_px)
        # each frame takes the box of the nearest seen frame at or before it (else after)
        pos = np.searchsorted(idx, np.arange(frames), side="right") - 1
        src = idx[np.maximum(pos, 0)]
        boxes[:, a] = boxes[src, a]
        has_box[:, a] = True
    return boxes, has_box


def _as_box(row: NDArray[np.int64]) -> Box:
    return (int(row[0]), int(row[1]), int(row[2]), int(row[3]))


class CropEmbedder:
    """Embeds animal-centred crops of a video's frames, fed one frame at a time.

    Build it with the boxes (``animal_boxes``) and which (frame, animal) pairs are wanted;
    ``cached()`` answers without any frame when the cache already holds every wanted crop
    (so a re-run need not decode or render the video); otherwise feed every frame in
    order with ``add`` and call ``finish``. Crops are encoded in chunks of ``chunk``
    frames, per animal, through ``encode_frames`` (a temporal encoder's previous frame is
    the animal's previous wanted crop in the same chunk).

    Args:
        encoder: any ``VisionEncoder``.
        boxes: ``(frames, animals, 4)`` int64 crop boxes, pixels.
        wanted: ``(frames, animals)`` bool, the crops to embed.
        source: identifies the video's content (``video_source_id`` or a hash).
        cache: where embeddings are kept; None = encode every wanted crop.
        out_size: side of the crops handed to the encoder, pixels.
        chunk: frames per encoding chunk.
    """

    def __init__(
        self,
        encoder: VisionEncoder,
        boxes: NDArray[np.int64],
        wanted: NDArray[np.bool_],
        *,
        source: str,
        cache: EmbeddingCache | None = None,
        out_size: int = 128,
        chunk: int = 64,
    ) -> None:
        if boxes.ndim != 3 or boxes.shape[-1] != 4 or wanted.shape != boxes.shape[:2]:
            raise InputError(
                f"boxes must be (frames, animals, 4) and wanted (frames, animals); found "
                f"{boxes.shape} and {wanted.shape}.",
                fix="pass the output of animal_boxes and a mask of the same frames.",
            )
        self.encoder, self.boxes, self.wanted = encoder, boxes, np.asarray(wanted, bool)
        self.source, self.cache, self.out_size, self.chunk = source, cache, out_size, chunk
        self.frames = int(boxes.shape[0])
        self._dim = 0
        self._out: NDArray[np.float32] | None = None
        self._next = 0
        self._buffer: list[NDArray[np.uint8]] = []
        self.hits = 0
        self.misses = 0

    def _keys(self, start: int, stop: int, animal: int) -> tuple[list[int], list[FrameKey]]:
        rows = [f for f in range(start, stop) if self.wanted[f, animal]]
        keys = [FrameKey(self.source, f, _as_box(self.boxes[f, animal])) for f in rows]
        return rows, keys

    def cached(self) -> NDArray[np.float32] | None:
        """``(frames, animals, dim)`` float32 embeddings if the cache holds every wanted
        crop (zeros where not wanted), else None."""
        if self.cache is None:
            return None
        name = self.encoder.name
        found: list[tuple[int, int, NDArray[np.float32]]] = []
        for start in range(0, self.frames, self.chunk):
            stop = min(start + self.chunk, self.frames)
            for a in range(self.boxes.shape[1]):
                rows, keys = self._keys(start, stop, a)
                digests = [
                    k.digest(name, keys[i - 1] if self.encoder.temporal and i > 0 else None)
                    for i, k in enumerate(keys)
                ]
                hits = self.cache.lookup(name, digests)
                if any(h is None for h in hits):
                    return None
                found += [(f, a, h) for f, h in zip(rows, hits, strict=True) if h is not None]
        dim = found[0][2].shape[0] if found else self.encoder.dim
        out = np.zeros((*self.boxes.shape[:2], dim), np.float32)
        for f, a, h in found:
            out[f, a] = h
        self.hits += len(found)
        return out

    def add(self, frame: ArrayLike) -> None:
        """Feed the next frame ``(height, width, 3)`` uint8 RGB."""
        if self._next >= self.frames:
            raise InputError(
                f"the video has more frames than the {self.frames} of the keypoints.",
                fix="use the video the keypoints were tracked on (same frame count).",
            )
        self._buffer.append(np.asarray(frame, np.uint8))
        self._next += 1
        if len(self._buffer) == self.chunk or self._next == self.frames:
            self._flush()

    def _flush(self) -> None:
        start = self._next - len(self._buffer)
        for a in range(self.boxes.shape[1]):
            rows, keys = self._keys(start, self._next, a)
            if not rows:
                continue
            crops = np.stack(
                [
                    np.asarray(
                        crop_region(
                            self._buffer[f - start],
                            self.boxes[f, a],
                            out_size=(self.out_size, self.out_size),
                            outside="pad",
                            fill=0.0,
                        ).image,
                        np.uint8,
                    )
                    for f in rows
                ]
            )
            res = encode_frames(self.encoder, crops, keys, self.cache)
            self.hits += res.hits
            self.misses += res.misses
            if self._out is None:
                self._out = np.zeros((*self.boxes.shape[:2], res.embeddings.shape[1]), np.float32)
            self._out[rows, a] = res.embeddings
        self._buffer = []

    def finish(self) -> NDArray[np.float32]:
        """``(frames, animals, dim)`` float32 embeddings (zeros where not wanted).

        Raises:
            InputError: fewer frames were fed than the keypoints have.
        """
        if self._next != self.frames:
            raise InputError(
                f"the video has {self._next} frames; the keypoints have {self.frames}.",
                fix="use the video the keypoints were tracked on (same frame count).",
            )
        if self._out is None:
            return np.zeros((*self.boxes.shape[:2], self.encoder.dim), np.float32)
        return self._out
