"""Social pose features: every ordered pair of animals, and each animal's nearest partner.

Inputs are the body points ``tools.features`` derives per animal (head, tail base, body
centre: ``(frames, individuals, D)`` in the data's length unit, NaN = missing), the heading
(tail base -> head in the x–y plane, rad) and each animal's ``1 / body length``; lengths come
out in the own animal's body lengths, angles in radians, speeds in body lengths per second.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from ethoagent.tools.timeseries import time_derivative

PAIR_FEATURES: tuple[str, ...] = (
    "nose_nose",
    "nose_tailbase",
    "relative_heading",
    "partner_bearing",
    "approach_speed",
)
"""Social features of an ordered pair (animal, partner); see ``compute_features``."""


def compute_pair_features(
    head: NDArray[np.float64],
    base: NDArray[np.float64],
    centre: NDArray[np.float64],
    heading: NDArray[np.float64],
    scale: NDArray[np.float64],
    fps: float,
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """The ``PAIR_FEATURES`` of every ordered pair (animal, partner), and the nearest's.

    Args:
        head: ``(frames, individuals, D)`` float64, head points, D = 2 or 3; NaN = missing.
        base: ``(frames, individuals, D)`` float64, tail-base points.
        centre: ``(frames, individuals, D)`` float64, body centres.
        heading: ``(frames, individuals)`` float64, rad, tail base -> head in the x–y plane.
        scale: ``(individuals,)`` float64, 1 / body length of each animal (NaN = unknown).
        fps: frame rate, Hz.

    Returns:
        ``(pairs, nearest)``: ``pairs`` ``(frames, individuals, individuals, 5)`` float64,
        the features of (animal, partner) in the own animal's body lengths, rad and body
        lengths per second, NaN on the diagonal and where not computable; ``nearest``
        ``(frames, individuals, 5)`` float64, those of each animal's nearest partner by
        body-centre distance (NaN where no partner is seen). All NaN with one animal.
    """
    frames, animals = heading.shape
    pairs = np.full((frames, animals, animals, len(PAIR_FEATURES)), np.nan)
    if animals < 2:
        return pairs, np.full((frames, animals, len(PAIR_FEATURES)), np.nan)
    s = scale[None, :, None]
    dist_c = np.linalg.norm(centre[:, :, None] - centre[:, None, :], axis=-1)  # (F,A,A)
    pairs[..., 0] = np.linalg.norm(head[:, :, None] - head[:, None, :], axis=-1) * s
    pairs[..., 1] = np.linalg.norm(head[:, :, None] - base[:, None, :], axis=-1) * s
    pairs[..., 2] = np.abs(np.angle(np.exp(1j * (heading[:, None, :] - heading[:, :, None]))))
    to_p = centre[:, None, :, :2] - head[:, :, None, :2]
    bearing = np.arctan2(to_p[..., 1], to_p[..., 0]) - heading[:, :, None]
    pairs[..., 3] = np.abs(np.angle(np.exp(1j * bearing)))
    pairs[..., 4] = -time_derivative(dist_c, fps) * s
    eye = np.eye(animals, dtype=bool)
    pairs[:, eye] = np.nan
    d = np.where(np.isfinite(dist_c) & ~eye, dist_c, np.inf)
    near = d.argmin(axis=2)  # (F, A)
    some = np.isfinite(d.min(axis=2))
    picked: NDArray[np.float64] = np.take_along_axis(pairs, near[:, :, None, None], axis=2)[:, :, 0]
    picked[~some] = np.nan
    return pairs, picked
