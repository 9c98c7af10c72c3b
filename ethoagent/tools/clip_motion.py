"""Motion and shape of an animal in a short clip, from pixels alone, and a caption from them.

When a snippet has no usable keypoints (a video-only session, or keypoints lost), the
offline captioner still has the snippet's frames. ``clip_motion`` measures what a person
would first look at: how much of the picture moves, the animal as the largest blob that
differs from the background, its size, elongation and the speed of its centre.
``caption_from_clip_motion`` turns those numbers into a caption by fixed thresholds, the
pixel counterpart of ``tools.captions.caption_from_kinematics``.

Frames are ``(height, width, 3)`` uint8 (RGB or BGR: only intensity is used) or
``(height, width)`` uint8 grey, all the same size.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import cv2
import numpy as np
from numpy.typing import NDArray
from pydantic import BaseModel, ConfigDict

from ethoagent.errors import InputError
from ethoagent.tools.captions import Caption, KinematicCaption, Speed

__all__ = [
    "ClipMotion",
    "caption_from_clip_motion",
    "clip_motion",
    "describe_clip_motion",
]

DIFF_LEVEL = 18
"""Grey-level change (0-255) above which a pixel counts as changed."""
STILL_ENERGY = 0.002
"""Mean share of pixels changing between consecutive frames below which nothing moves."""
IN_PLACE_SPEED = 0.3
"""Blob-centre speed, body lengths/s, below which motion is movement in place."""
FAST_SPEED = 2.5
"""Blob-centre speed, body lengths/s, above which the animal darts."""
STRETCHED = 2.4
"""Blob elongation (major/minor axis) above which the body is stretched out."""
CURLED = 1.4
"""Blob elongation below which the body is hunched or curled."""


class ClipMotion(BaseModel):
    """What the pixels of one clip say about the animal in it; ``None`` = not measurable.

    Attributes:
        frames: frames in the clip.
        seconds: the clip's duration, s (frames / sampled frame rate).
        motion_energy: mean share of pixels whose grey level changes by more than
            ``DIFF_LEVEL`` between consecutive frames, in ``[0, 1]``.
        blob_area: median area of the animal's blob (the largest region that differs from
            the clip's median image, or from ``background``), as a share of the frame.
        elongation: median major/minor axis ratio of the blob (1 = round).
        centre_speed: speed of the blob's centre from the clip's first half to its second,
            body lengths per second (body length = the blob's median long axis).
        blob_frames: share of the frames where a blob was found.
    """

    model_config = ConfigDict(frozen=True)

    frames: int
    seconds: float
    motion_energy: float
    blob_area: float | None = None
    elongation: float | None = None
    centre_speed: float | None = None
    blob_frames: float = 0.0


def _grey(frame: NDArray[np.uint8]) -> NDArray[np.int16]:
    arr = np.asarray(frame)
    if arr.dtype != np.uint8 or arr.ndim not in (2, 3):
        raise InputError(f"clip frames must be uint8 images; found {arr.dtype} {arr.shape}.")
    grey = cv2.cvtColor(arr, cv2.COLOR_BGR2GRAY) if arr.ndim == 3 else arr
    return np.asarray(cv2.GaussianBlur(grey, (5, 5), 0), dtype=np.int16)


def _blob(mask: NDArray[np.uint8]) -> tuple[float, float, float, tuple[float, float]] | None:
    """The largest region: area (px), long axis (px), elongation, centre (x, y); or None."""
    n, labels, stats, centroids = cv2.connectedComponentsWithStats(mask, connectivity=8)
    if n <= 1:
        return None
    k = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    area = float(stats[k, cv2.CC_STAT_AREA])
    if area < 12:
        return None
    ys, xs = np.nonzero(labels == k)
    cov = np.cov(np.stack([xs, ys]).astype(np.float64)) if len(xs) > 2 else np.eye(2)
    ev = np.sort(np.linalg.eigvalsh(cov))
    elongation = math.sqrt(ev[1] / ev[0]) if ev[0] > 1e-9 else float("inf")
    length = 4.0 * math.sqrt(max(float(ev[1]), 0.0))  # an ellipse's full long axis
    cx, cy = centroids[k]
    return area, length, elongation, (float(cx), float(cy))


def _net_speed(centres: NDArray[np.float64], fps: float) -> float:
    """Speed of the centre from the first half of the clip to the second, px/s.

    Comparing the halves' mean positions ignores back-and-forth motion in place (a head
    bobbing moves the blob's centroid but not the animal); NaN with fewer than 2 frames.
    """
    ok = np.isfinite(centres).all(axis=1)
    idx = np.nonzero(ok)[0]
    if len(idx) < 2:
        return float("nan")
    first, second = idx[: len(idx) // 2], idx[len(idx) // 2 :]
    shift = centres[second].mean(axis=0) - centres[first].mean(axis=0)
    dt = (second.mean() - first.mean()) / fps
    return float(np.linalg.norm(shift) / dt)


def clip_motion(
    frames: Sequence[NDArray[np.uint8]],
    fps: float,
    background: NDArray[np.uint8] | None = None,
) -> ClipMotion:
    """Measure motion energy and the animal blob's size, shape and speed in a clip.

    Args:
        frames: the clip's frames in time order (at least one), all the same size.
        fps: the clip's frame rate (of the sampled frames), Hz.
        background: the scene without the animal, same size as the frames; ``None`` uses
            the clip's median image (which holds the animal where it does not move).

    Returns:
        The clip's motion summary.
    """
    if not frames:
        raise InputError("clip_motion needs at least one frame.")
    if not (math.isfinite(fps) and fps > 0):
        raise InputError(f"clip frame rate must be positive; found {fps}.")
    grey = np.stack([_grey(f) for f in frames])
    diffs = np.abs(np.diff(grey, axis=0)) > DIFF_LEVEL
    energy = float(diffs.mean()) if len(diffs) else 0.0
    bg = np.median(grey, axis=0).astype(np.int16) if background is None else _grey(background)
    kernel = np.ones((3, 3), np.uint8)
    blobs = []
    for g in grey:
        changed = ((np.abs(g - bg) > DIFF_LEVEL) * 255).astype(np.uint8)
        mask = np.asarray(cv2.morphologyEx(changed, cv2.MORPH_OPEN, kernel), dtype=np.uint8)
        blobs.append(_blob(mask))
    found = [b for b in blobs if b is not None]
    frame_area = float(grey.shape[1] * grey.shape[2])
    out = ClipMotion(
        frames=len(frames),
        seconds=len(frames) / fps,
        motion_energy=round(energy, 5),
        blob_frames=round(len(found) / len(frames), 3),
    )
    if not found:
        return out
    areas = np.array([b[0] for b in found])
    size = max(float(np.median([b[1] for b in found])), 1.0)
    centres = np.array([b[3] if b is not None else (np.nan, np.nan) for b in blobs])
    speed = _net_speed(centres, fps) / size
    elong = np.array([b[2] for b in found])
    elong = elong[np.isfinite(elong)]
    return out.model_copy(
        update={
            "blob_area": round(float(np.median(areas)) / frame_area, 5),
            "elongation": round(float(np.median(elong)), 3) if len(elong) else None,
            "centre_speed": round(speed, 3) if math.isfinite(speed) else None,
        }
    )


def _speed_word(m: ClipMotion) -> Speed:
    if m.motion_energy < STILL_ENERGY:
        return "still"
    if m.centre_speed is None:
        return "unknown"
    if m.centre_speed < IN_PLACE_SPEED:
        return "slow"
    return "fast" if m.centre_speed > FAST_SPEED else "moderate"


def _posture(m: ClipMotion) -> str:
    if m.elongation is None:
        return "not visible as one body"
    if m.elongation > STRETCHED:
        return "body stretched out"
    if m.elongation < CURLED:
        return "body hunched or curled up"
    return "body in its usual shape"


def describe_clip_motion(m: ClipMotion) -> str:
    """The measurements as short lines for a prompt or a report."""
    lines = [
        f"- frames: {m.frames} over {m.seconds:.2f} s",
        f"- share of pixels changing between frames: {m.motion_energy:.4f}",
        f"- animal found as one blob in {m.blob_frames:.0%} of the frames",
    ]
    if m.blob_area is not None:
        lines.append(f"- blob area: {m.blob_area:.4f} of the frame")
    if m.elongation is not None:
        lines.append(f"- blob elongation (long/short axis): {m.elongation:.2f}")
    if m.centre_speed is not None:
        lines.append(f"- blob centre speed: {m.centre_speed:.2f} body lengths/s")
    return "\n".join(lines)


def caption_from_clip_motion(m: ClipMotion) -> KinematicCaption:
    """Caption a clip from its pixel motion by fixed thresholds.

    Rules, first match wins: almost no pixel changes: ``still``; no blob in most frames:
    ``untracked``; blob centre faster than ``FAST_SPEED`` body lengths/s: ``darting``;
    faster than ``IN_PLACE_SPEED``: ``walking``; otherwise motion without displacement:
    ``moving_in_place`` (grooming, sniffing or turning on the spot look alike from pixels,
    so a model with the clip should judge it). Only ``still`` is confident.

    Args:
        m: the clip's motion summary.

    Returns:
        The caption, whether the pixels alone decide it, and the rule with its numbers.
    """
    speed, posture = _speed_word(m), _posture(m)

    def make(label: str, confidence: float, confident: bool, reason: str) -> KinematicCaption:
        caption = Caption(
            posture=posture,
            direction="none" if label in ("still", "moving_in_place") else "forward",
            speed=speed,
            social_interaction="none",
            label=label,
            confidence=confidence,
        )
        return KinematicCaption(caption=caption, confident=confident, reason=reason)

    energy = f"{m.motion_energy:.4f} of the pixels change per frame"
    if m.motion_energy < STILL_ENERGY:
        return make("still", 0.7, True, f"only {energy}")
    if m.blob_frames < 0.5 or m.centre_speed is None:
        return make("untracked", 0.2, False, f"the animal is one blob in {m.blob_frames:.0%}")
    v = f"blob centre at {m.centre_speed:.2f} body lengths/s"
    if m.centre_speed > FAST_SPEED:
        return make("darting", 0.5, False, f"{v}, {energy}")
    if m.centre_speed > IN_PLACE_SPEED:
        return make("walking", 0.5, False, f"{v}, {energy}")
    return make("moving_in_place", 0.4, False, f"{v} while {energy}")
