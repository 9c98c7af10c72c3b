"""Social features of every animal towards its nearest partner (model-free).

For classes such as ``interact``, ``sniff`` or ``contact`` that are properties of a pair:
per frame, each animal ``a`` and its nearest partner ``b`` (the other animal whose body
centre is closest), the distances a user would measure by hand, in both directions, in
``a``'s body lengths (BL), and how the two move towards each other. A single animal has
none of them (every value NaN).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

__all__ = ["PAIR_FEATURES", "pair_features"]

PAIR_FEATURES: tuple[str, ...] = (
    "nose_body",
    "partner_nose_body",
    "nose_nose",
    "nose_tail",
    "partner_nose_tail",
    "min_distance",
    "centre_distance",
    "approach",
    "relative_speed",
    "facing",
    "partner_facing",
)
"""Names of ``pair_features``' columns: own nose to the partner's nearest keypoint, the
partner's nose to one's own nearest keypoint, nose to nose, own nose to the partner's tail
base and back, the nearest pair of keypoints, body centre to body centre (all BL); approach
= shrinking of the centre distance (BL/s, positive when closing in); relative speed = speed
of the centre of one relative to the other (BL/s); facing = cosine of the angle between
one's head direction and the direction to the partner's centre (1 = straight at it), and the
partner's towards one."""


def _norm(v: NDArray[np.float64]) -> NDArray[np.float64]:
    out: NDArray[np.float64] = np.linalg.norm(v, axis=-1)
    return out


def pair_features(
    pts: NDArray[np.float64],
    *,
    nose: NDArray[np.float64],
    neck: NDArray[np.float64],
    centre: NDArray[np.float64],
    tail: NDArray[np.float64],
    body_length: NDArray[np.float64],
    fps: float,
) -> dict[str, NDArray[np.float64]]:
    """The social features of ``PAIR_FEATURES`` for every animal and frame.

    Args:
        pts: ``(frames, individuals, keypoints, 2)`` float64, pixels (or any unit), NaN =
            missing; only x, y are read.
        nose: ``(frames, individuals, 2)`` the head point (nose, or the head keypoints' mean).
        neck: ``(frames, individuals, 2)`` a point behind the nose on the head axis (between
            the ears, or the body centre): head direction = neck -> nose.
        centre: ``(frames, individuals, 2)`` the body centre.
        tail: ``(frames, individuals, 2)`` the tail base.
        body_length: ``(individuals,)`` nose-to-tail-base length, same unit as ``pts``.
        fps: frame rate, Hz.

    Returns:
        Name -> ``(frames, individuals)`` float64; NaN with a single animal or where a
        point is missing.
    """
    frames, animals = pts.shape[:2]
    out = {n: np.full((frames, animals), np.nan) for n in PAIR_FEATURES}
    if animals < 2:
        return out
    with np.errstate(all="ignore"):
        dc = _norm(centre[:, :, None] - centre[:, None, :])  # (frames, a, b)
        dc[:, np.arange(animals), np.arange(animals)] = np.inf
        dc = np.where(np.isfinite(dc), dc, np.inf)
        partner = dc.argmin(axis=2)  # (frames, animals)
        t = np.arange(frames)[:, None]
        p_pts = pts[t, partner]  # (frames, animals, keypoints, 2)
        p_nose, p_neck, p_centre, p_tail = (x[t, partner] for x in (nose, neck, centre, tail))
        bl = body_length[None, :]
        pair = pts[:, :, :, None, :2] - p_pts[:, :, None, :, :2]
        out["nose_body"] = np.nanmin(_norm(p_pts[..., :2] - nose[:, :, None]), axis=2) / bl
        out["partner_nose_body"] = np.nanmin(_norm(pts[..., :2] - p_nose[:, :, None]), -1) / bl
        out["nose_nose"] = _norm(nose - p_nose) / bl
        out["nose_tail"] = _norm(nose - p_tail) / bl
        out["partner_nose_tail"] = _norm(p_nose - tail) / bl
        out["min_distance"] = np.nanmin(_norm(pair).reshape(frames, animals, -1), -1) / bl
        centre_d = _norm(centre - p_centre) / bl
        out["centre_distance"] = centre_d
        closing = -np.diff(centre_d, axis=0) * fps
        out["approach"] = np.concatenate([closing[:1], closing])
        rel = np.diff(centre - p_centre, axis=0)
        rel_speed = _norm(rel) * fps / bl
        out["relative_speed"] = np.concatenate([rel_speed[:1], rel_speed])
        out["facing"] = _cosine(nose - neck, p_centre - nose)
        out["partner_facing"] = _cosine(p_nose - p_neck, centre - p_nose)
    return out


def _cosine(u: NDArray[np.float64], v: NDArray[np.float64]) -> NDArray[np.float64]:
    """Cosine of the angle between ``(..., 2)`` vectors; NaN where either is zero."""
    den = _norm(u) * _norm(v)
    out: NDArray[np.float64] = np.sum(u * v, axis=-1) / np.where(den > 0, den, np.nan)
    return out
