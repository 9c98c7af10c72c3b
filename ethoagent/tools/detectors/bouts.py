"""Contact bouts from a distance: hysteresis and gap filling (model-free).

A contact rule thresholded frame by frame flickers at the threshold and starts a bout while
the animal is still approaching. ``contact_bouts`` reads a bout the way an observer scores
one: it starts when the nose touches the partner (distance below ``enter``) while the animal
faces it, lasts until the animal has left (distance above ``leave``), and breaks shorter
than ``gap`` frames are bridged.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

__all__ = ["CONTACT_GAP_S", "CONTACT_LEAVE", "contact_bouts", "fill_gaps", "hysteresis"]

CONTACT_LEAVE = 2.5
"""Exit threshold of a contact bout as a multiple of its entry threshold: a bout entered
at 0.3 BL lasts until the nose is 0.75 BL away."""

CONTACT_GAP_S = 1.0
"""Breaks in a contact bout shorter than this (s) are bridged."""


def hysteresis(enter: NDArray[np.bool_], stay: NDArray[np.bool_]) -> NDArray[np.bool_]:
    """Bouts that start where ``enter`` holds and last while ``stay`` holds, per column.

    Args:
        enter: ``(frames, columns)`` bool, where a bout may start (a subset of ``stay``
            is expected; an ``enter`` frame outside ``stay`` counts as ``stay``).
        stay: ``(frames, columns)`` bool, where a started bout continues.

    Returns:
        ``(frames, columns)`` bool: in each run of ``stay``, the frames from its first
        ``enter`` frame to the run's end.
    """
    stay = stay | enter
    idx = np.arange(stay.shape[0])[:, None]
    starts = np.vstack([stay[:1], stay[1:] & ~stay[:-1]])
    run_start = np.maximum.accumulate(np.where(starts, idx, 0), axis=0)
    last_enter = np.maximum.accumulate(np.where(enter, idx, -1), axis=0)
    out: NDArray[np.bool_] = stay & (last_enter >= run_start)
    return out


def fill_gaps(mask: NDArray[np.bool_], gap: int) -> NDArray[np.bool_]:
    """Bridge False runs shorter than ``gap`` frames between two True frames, per column.

    Args:
        mask: ``(frames, columns)`` bool.
        gap: longest break (frames) bridged; 0 or less leaves ``mask`` as it is.

    Returns:
        ``(frames, columns)`` bool.
    """
    out = mask.copy()
    if gap <= 0:
        return out
    for c in range(mask.shape[1]):
        on = np.flatnonzero(mask[:, c])
        if on.size < 2:
            continue
        holes = np.flatnonzero((np.diff(on) > 1) & (np.diff(on) - 1 < gap))
        for h in holes:
            out[on[h] + 1 : on[h + 1], c] = True
    return out


def contact_bouts(
    distance: NDArray[np.float64], enter: float, *, fps: float,
    facing: NDArray[np.float64] | None = None, leave_factor: float = CONTACT_LEAVE,
    gap_s: float = CONTACT_GAP_S,
) -> NDArray[np.bool_]:  # fmt: skip
    """Contact bouts of a nose-to-partner distance (``hysteresis`` then ``fill_gaps``).

    Args:
        distance: ``(frames, individuals)`` float64, BL; NaN (no partner, untracked) ends
            a bout.
        enter: distance (BL) below which a bout starts.
        fps: frame rate, Hz.
        facing: ``(frames, individuals)`` float64, cosine of the angle between the head
            direction and the direction to the partner; a bout starts only in a frame where
            the animal faces the partner (cosine above 0) or its facing is unknown (NaN);
            ``None``: facing is not required.
        leave_factor: the bout ends where the distance exceeds ``enter * leave_factor``.
        gap_s: breaks shorter than this (s) are bridged.

    Returns:
        ``(frames, individuals)`` bool.
    """
    with np.errstate(invalid="ignore"):
        near = np.asarray(distance < enter, dtype=bool)
        if facing is not None:
            near &= ~np.asarray(facing <= 0, dtype=bool)
        stay = np.asarray(distance < enter * leave_factor, dtype=bool)
    return fill_gaps(hysteresis(near, stay), round(gap_s * fps))
