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
from ethoagent.tools.captions import MOVING_IN_PLACE, Caption, KinematicCaption, Speed
from ethoagent.tools.video_features import (
    BlobSettings,
    FrameSource,
    detect_blobs,
    estimate_background,
    noise_threshold,
    prepare_frame,
)

__all__ = [
    "ClipMotion",
    "caption_from_clip_motion",
    "clip_motion",
    "describe_clip_motion",
    "video_background",
]

BACKGROUND_SAMPLES = 60
"""Frames sampled over a video for its background (``video_background``)."""
MIN_BLOB_PX = 12.0
"""Smallest animal blob in a clip's frame, pixels."""
STILL_ENERGY = 0.002
"""Mean share of pixels changing between consecutive frames below which nothing moves."""
STILL_BLOB_MOTION = 0.1
"""Median share of the animal blob's pixels changing between consecutive frames below which
the animal is still (sensor noise on the arena around it does not count)."""
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
        motion_energy: mean share of pixels whose grey level changes by more than the
            threshold (the video's noise threshold) between consecutive frames, in
            ``[0, 1]``.
        blob_area: median area of the animal's blob (the largest region that differs from
            the video's background, or the clip's median image), as a share of the frame.
        elongation: median major/minor axis ratio of the blob (1 = round).
        centre_speed: speed of the blob's centre from the clip's first half to its second,
            body lengths per second (body length = the blob's median long axis).
        blob_frames: share of the frames where a blob was found.
        blob_motion: median over consecutive frame pairs with a blob in both of the share
            of the blob's pixels (either frame's) whose grey level changes by more than
            the threshold, relative to the blob's area; ``None`` without such a pair.
    """

    model_config = ConfigDict(frozen=True)

    frames: int
    seconds: float
    motion_energy: float
    blob_area: float | None = None
    elongation: float | None = None
    centre_speed: float | None = None
    blob_frames: float = 0.0
    blob_motion: float | None = None


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


def video_background(
    source: FrameSource, size: tuple[int, int], samples: int = BACKGROUND_SAMPLES
) -> tuple[NDArray[np.float32], float]:
    """The empty arena of a whole video and its noise threshold, at a clip's frame size.

    The background and threshold of ``tools.video_features`` (``estimate_background``,
    ``noise_threshold``), from ``samples`` frames spread over the video, each resized to
    ``size`` and prepared by ``prepare_frame``: what ``clip_motion`` compares a clip's
    frames with, so that an animal sitting still through a clip is still seen.

    Args:
        source: the video's frames.
        size: ``(width, height)`` of the clips' frames, pixels.
        samples: frames sampled evenly over the video.

    Returns:
        ``(height, width)`` float32 background (grey levels) and the threshold, grey levels.
    """
    n = len(source)
    if n == 0:
        raise InputError("the video has no frames.", fix="pass a readable video.")
    picks = np.unique(np.linspace(0, n - 1, min(samples, n)).astype(int))
    prepared = [
        prepare_frame(
            np.asarray(cv2.resize(source[int(i)], size, interpolation=cv2.INTER_AREA)), size[0]
        )
        for i in picks
    ]
    background = estimate_background(prepared)
    return background, noise_threshold(prepared, background)


def _prepared(frame: NDArray[np.uint8], width: int) -> NDArray[np.float32]:
    arr = np.asarray(frame)
    if arr.dtype != np.uint8 or arr.ndim not in (2, 3):
        raise InputError(
            f"clip frames must be uint8 images; found {arr.dtype} {arr.shape}.",
            fix="pass the video's decoded frames (uint8 BGR or grey).",
        )
    return prepare_frame(arr, width)


def clip_motion(
    frames: Sequence[NDArray[np.uint8]],
    fps: float,
    background: NDArray[np.float32] | None = None,
    threshold: float | None = None,
) -> ClipMotion:
    """Measure motion energy and the animal blob's size, shape and speed in a clip.

    Frames are prepared and the animal found as in ``tools.video_features``
    (``prepare_frame``, ``detect_blobs``: the largest foreground blob, its centre and axes
    from its body core).

    Args:
        frames: the clip's frames in time order (at least one), all the same size.
        fps: the clip's frame rate (of the sampled frames), Hz.
        background: ``(height, width)`` float32, the scene without the animal at the
            frames' size (``video_background``); ``None`` uses the clip's median image
            (which holds the animal where it does not move).
        threshold: grey-level change counted as motion or foreground; ``None`` = the
            noise threshold of the clip's frames against the background
            (``noise_threshold``; ``video_background`` gives the whole video's).

    Returns:
        The clip's motion summary.
    """
    if not frames:
        raise InputError("clip_motion needs at least one frame.", fix="pass a clip's frames.")
    if not (math.isfinite(fps) and fps > 0):
        raise InputError(f"clip frame rate must be positive; found {fps}.", fix="pass its fps.")
    width = int(np.asarray(frames[0]).shape[1])
    grey = np.stack([_prepared(f, width) for f in frames])
    bg = estimate_background(grey) if background is None else background
    if bg.shape != grey.shape[1:]:
        raise InputError(
            f"clip background is {bg.shape[1]}x{bg.shape[0]} px, the frames "
            f"{grey.shape[2]}x{grey.shape[1]}.",
            fix="compute the background at the clips' frame size (video_background).",
        )
    level = threshold if threshold is not None else noise_threshold(grey, bg)
    energy = float((np.abs(np.diff(grey, axis=0)) > level).mean()) if len(grey) > 1 else 0.0
    min_area = max(MIN_BLOB_PX, BlobSettings().min_area_fraction * bg.size)
    detected = [detect_blobs(g, bg, level, min_area, 1) for g in grey]
    blobs = [b for b, _ in detected]
    found = [b[0] for b in blobs if b]
    masks = [lab == b[0].label if b else None for b, lab in detected]
    inside = [
        float(np.count_nonzero(changed[m0 | m1])) / max(1, int(np.count_nonzero(m1)))
        for changed, m0, m1 in zip(
            np.abs(np.diff(grey, axis=0)) > level, masks[:-1], masks[1:], strict=True
        )
        if m0 is not None and m1 is not None
    ]
    out = ClipMotion(
        frames=len(frames),
        seconds=len(frames) / fps,
        motion_energy=round(energy, 5),
        blob_frames=round(len(found) / len(frames), 3),
    )
    if not found:
        return out
    size = max(float(np.median([b.major for b in found])), 1.0)
    centres = np.array([b[0].centre if b else (np.nan, np.nan) for b in blobs])
    speed = _net_speed(centres, fps) / size
    elong = np.array([b.major / b.minor for b in found if b.minor > 1e-9])
    return out.model_copy(
        update={
            "blob_area": round(float(np.median([b.area for b in found])) / bg.size, 5),
            "elongation": round(float(np.median(elong)), 3) if len(elong) else None,
            "centre_speed": round(speed, 3) if math.isfinite(speed) else None,
            "blob_motion": round(float(np.median(inside)), 4) if inside else None,
        }
    )


def _still(m: ClipMotion) -> bool:
    """Almost no pixel changes, or almost none of the animal's."""
    return m.motion_energy < STILL_ENERGY or (
        m.blob_motion is not None and m.blob_frames >= 0.5 and m.blob_motion < STILL_BLOB_MOTION
    )


def _speed_word(m: ClipMotion) -> Speed:
    if _still(m):
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


def _fmt(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.3f}"


def describe_clip_motion(m: ClipMotion) -> str:
    """The measurements as short lines for a prompt or a report."""
    lines = [
        f"- frames: {m.frames} over {m.seconds:.2f} s",
        f"- share of pixels changing between frames: {m.motion_energy:.4f}",
        f"- share of the animal's pixels changing: {_fmt(m.blob_motion)}",
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

    Rules, first match wins: almost no pixel changes, or under ``STILL_BLOB_MOTION`` of
    the animal's: ``still``; no blob in most frames:
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
            direction="none" if label in ("still", MOVING_IN_PLACE) else "forward",
            speed=speed,
            social_interaction="none",
            label=label,
            confidence=confidence,
        )
        return KinematicCaption(caption=caption, confident=confident, reason=reason)

    energy = f"{m.motion_energy:.4f} of the pixels change per frame"
    if _still(m):
        inside = "" if m.blob_motion is None else f", {m.blob_motion:.3f} of the animal's"
        return make("still", 0.7, True, f"only {energy}{inside}")
    if m.blob_frames < 0.5 or m.centre_speed is None:
        return make("untracked", 0.2, False, f"the animal is one blob in {m.blob_frames:.0%}")
    v = f"blob centre at {m.centre_speed:.2f} body lengths/s"
    if m.centre_speed > FAST_SPEED:
        return make("darting", 0.5, False, f"{v}, {energy}")
    if m.centre_speed > IN_PLACE_SPEED:
        return make("walking", 0.5, False, f"{v}, {energy}")
    return make(MOVING_IN_PLACE, 0.4, False, f"{v} while {energy}")
