"""The empty arena behind the animals of a video, and how a frame differs from it.

``tools.video_features`` finds animals as what differs from this background. Frames are
prepared (grey, scaled, blurred: ``prepare_frame``); the background is the per-pixel
median of frames sampled over the video (``estimate_background``); a frame's lighting
is matched to it (``match_gain``: drifting or jumping lighting scales the whole image);
the foreground threshold comes from the samples' noise (``noise_threshold``); and the
animals' side of the background, darker or brighter (``animal_polarity``), keeps out the
ghosts an animal resting through most samples leaves in it. Grey levels 0–255, images
``(h, w)`` float32.
"""

from __future__ import annotations

from collections.abc import Iterable

import cv2
import numpy as np
from numpy.typing import NDArray

from ethoagent.errors import InputError

__all__ = [
    "GAIN_FLOOR",
    "animal_polarity",
    "estimate_background",
    "match_gain",
    "noise_threshold",
    "prepare_frame",
]


def prepare_frame(frame: NDArray[np.uint8], width: int) -> NDArray[np.float32]:
    """A frame as the detector sees it: grey, at most ``width`` wide, blurred.

    Args:
        frame: ``(height, width, 3)`` uint8 BGR or ``(height, width)`` uint8 grey.
        width: largest width, pixels.

    Returns:
        ``(h, w)`` float32 grey levels 0–255.
    """
    grey = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY) if frame.ndim == 3 else frame
    if grey.shape[1] > width:
        h = max(1, round(grey.shape[0] * width / grey.shape[1]))
        grey = cv2.resize(grey, (width, h), interpolation=cv2.INTER_AREA)
    return np.asarray(cv2.GaussianBlur(grey.astype(np.float32), (5, 5), 0), dtype=np.float32)


def estimate_background(samples: Iterable[NDArray[np.float32]]) -> NDArray[np.float32]:
    """Per-pixel median of prepared frames sampled over the video.

    Args:
        samples: prepared frames (``prepare_frame``), all ``(h, w)`` float32.

    Returns:
        ``(h, w)`` float32, the empty arena where each pixel shows it in most samples.

    Raises:
        InputError: no sample.
    """
    stack = np.stack(list(samples))
    if stack.size == 0:
        raise InputError("no frame to estimate the background from.", fix="pass a video.")
    out: NDArray[np.float32] = np.median(stack, axis=0).astype(np.float32)
    return out


GAIN_FLOOR = 20.0
"""``match_gain``: background pixels darker than this (grey levels) are left out of the gain
estimate (their ratio is mostly noise)."""


def match_gain(frame: NDArray[np.float32], background: NDArray[np.float32]) -> float:
    """The frame's brightness gain against the background (1 = unchanged lighting).

    Lighting drifts and jumps (a lamp, a camera's exposure) scale the whole image; the
    animals cover a small part of it, so the median over the pixels of the frame's
    ratio to the background is the gain. A frame divided by it is compared with the
    background, else a brighter or darker arena is one foreground blob joined to the
    animals (docs/segment.md "Video after both changes").

    Args:
        frame: ``(h, w)`` float32, from ``prepare_frame``.
        background: ``(h, w)`` float32, from ``estimate_background``.

    Returns:
        The gain (> 0); 1 where no background pixel is brighter than ``GAIN_FLOOR``.
    """
    lit = background > GAIN_FLOOR
    if not lit.any():
        return 1.0
    gain = float(np.median(frame[lit] / background[lit]))
    return gain if gain > 0 else 1.0


def noise_threshold(
    samples: Iterable[NDArray[np.float32]], background: NDArray[np.float32]
) -> float:
    """Foreground threshold from the samples' deviation from the background, grey levels.

    Most pixels of a sample are arena: their absolute deviation from the median is noise.
    The threshold is 6 robust standard deviations of it (1.4826 x the median absolute
    deviation), at least 8 grey levels, at most 60.
    """
    dev = np.concatenate([np.abs(s - background).ravel() for s in samples])
    sigma = 1.4826 * float(np.median(dev))
    return float(np.clip(6.0 * sigma, 8.0, 60.0))


def animal_polarity(
    samples: Iterable[NDArray[np.float32]], background: NDArray[np.float32], threshold: float
) -> int:
    """Whether the animals are darker (-1) or brighter (+1) than the floor.

    Where an animal rested through most samples the median background holds it, and the
    floor it left shows there with the opposite sign (a ghost of the animal's size):
    detecting one sign only (``detect_blobs``' ``polarity``) leaves ghosts out. A ghost
    shows the floor, an animal does not: the sign is that of the samples' foreground
    pixels against the floor around them (the background's median on a ring about the
    foreground), summed.

    Args:
        samples: prepared frames (``prepare_frame``), ``(h, w)`` float32.
        background: ``(h, w)`` float32, from ``estimate_background``.
        threshold: foreground threshold, grey levels.

    Returns:
        -1 or +1 (+1 where no sample differs).
    """
    total = 0.0
    ring = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (9, 9))
    for s in samples:
        fore = (np.abs(s - background) > threshold).astype(np.uint8)
        around = (cv2.dilate(fore, ring) > 0) & (fore == 0)
        if fore.any() and around.any():
            total += float((s[fore > 0] - np.median(background[around])).sum())
    return -1 if total < 0 else 1
