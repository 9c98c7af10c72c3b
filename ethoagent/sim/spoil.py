"""2D labels spoilt the way a labeller or a 2D pose model errs, with masks of what was done.

Used by the evals on real labels (``evals.pose_real``) and on simulated bodies
(``sim.body``): a left/right swap in one view on some frames, gross 30-80 px outliers,
views left unlabelled and single points missing. Seeded: the same arguments give the same
corruption.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from ethoagent.errors import InputError

SWAP_FRAME_FRACTION = 0.10
"""Frames on which one left/right pair is exchanged in one view."""
OUTLIER_FRACTION = 0.05
"""Share of the labels present moved by ``OUTLIER_PX``."""
OUTLIER_PX = (30.0, 80.0)
"""Range of an outlier's displacement, pixels."""
DROP_FRAME_FRACTION = 0.05
"""Frames on which one view is left unlabelled."""


@dataclass(frozen=True, eq=False)
class Corruption:
    """Labels spoilt the way a labeller errs, and where.

    Attributes:
        points_2d: ``(frames, views, keypoints, 2)`` float64 pixels, NaN = missing.
        swapped: ``(frames, views, keypoints)`` bool, labels exchanged with their
            left/right partner.
        outlier: ``(frames, views, keypoints)`` bool, labels moved 30-80 px.
        dropped: ``(frames, views, keypoints)`` bool, proofread labels removed (the view
            was left unlabelled on that frame).
    """

    points_2d: NDArray[np.float64]
    swapped: NDArray[np.bool_]
    outlier: NDArray[np.bool_]
    dropped: NDArray[np.bool_]

    def views(self, views: Sequence[int]) -> Corruption:
        """The same corruption restricted to ``views`` (indices of the views axis)."""
        v = list(views)
        return Corruption(
            points_2d=self.points_2d[:, v],
            swapped=self.swapped[:, v],
            outlier=self.outlier[:, v],
            dropped=self.dropped[:, v],
        )


def corrupt_labels(
    points_2d: NDArray[np.float64],
    swap_pairs: Sequence[tuple[int, int]],
    *,
    seed: int,
    swap_frames: float = SWAP_FRAME_FRACTION,
    outliers: float = OUTLIER_FRACTION,
    outlier_px: tuple[float, float] = OUTLIER_PX,
    drop_frames: float = DROP_FRAME_FRACTION,
    missing: float = 0.0,
) -> Corruption:
    """Spoil proofread 2D labels: dropped views, then left/right swaps, then outliers.

    - dropped view: on a ``drop_frames`` fraction of frames, one random view loses all
      its labels (NaN);
    - swap: on a ``swap_frames`` fraction of frames, one random pair of ``swap_pairs`` is
      exchanged in one random view that still has both points;
    - outliers: an ``outliers`` fraction of the labels still present is moved by a
      uniform ``outlier_px`` distance in a uniform direction;
    - missing points: a ``missing`` fraction of the untouched labels still present is
      removed (a 2D model that found no point), counted in ``dropped``.

    Args:
        points_2d: ``(frames, views, keypoints, 2)`` float64 pixels, NaN = missing.
        swap_pairs: left/right keypoint index pairs.
        seed: seeds the random generator (same seed, same corruption).
        swap_frames: fraction of frames with one left/right swap in one view.
        outliers: fraction of the labels present moved by ``outlier_px``.
        outlier_px: ``(low, high)`` displacement of an outlier, pixels.
        drop_frames: fraction of frames on which one view loses all its labels.
        missing: fraction of the untouched labels removed one by one.

    Returns:
        The corrupted labels and masks of what was done.
    """
    pts = np.asarray(points_2d, dtype=np.float64)
    if pts.ndim != 4 or pts.shape[-1] != 2:
        raise InputError(
            f"points_2d must have shape (frames, views, keypoints, 2); found {pts.shape}.",
            fix="pass Dataset.points_2d.",
        )
    rng = np.random.default_rng(seed)
    out = pts.copy()
    f, v, k, _ = pts.shape
    swapped = np.zeros((f, v, k), dtype=bool)
    outlier = np.zeros((f, v, k), dtype=bool)
    dropped = np.zeros((f, v, k), dtype=bool)

    n_drop = round(drop_frames * f)
    for frame in rng.choice(f, size=n_drop, replace=False):
        view = int(rng.integers(v))
        dropped[frame, view] = np.isfinite(out[frame, view, :, 0])
        out[frame, view] = np.nan

    pairs = list(swap_pairs)
    n_swap = round(swap_frames * f) if pairs else 0
    for frame in rng.choice(f, size=n_swap, replace=False):
        options = [
            (view, a, b)
            for view in range(v)
            for a, b in pairs
            if np.isfinite(out[frame, view, [a, b], 0]).all()
        ]
        if not options:
            continue
        view, a, b = options[int(rng.integers(len(options)))]
        out[frame, view, [a, b]] = out[frame, view, [b, a]]
        swapped[frame, view, [a, b]] = True

    present = np.flatnonzero(np.isfinite(out[..., 0]).ravel())
    chosen = rng.choice(present, size=round(outliers * present.size), replace=False)
    angle = rng.uniform(0.0, 2.0 * np.pi, size=chosen.size)
    dist = rng.uniform(*outlier_px, size=chosen.size)
    flat = out.reshape(-1, 2)
    flat[chosen] += np.stack([np.cos(angle), np.sin(angle)], axis=1) * dist[:, None]
    outlier.reshape(-1)[chosen] = True
    if missing > 0:
        _remove_points(out, ~outlier & ~swapped, dropped, missing, rng)
    return Corruption(points_2d=out, swapped=swapped, outlier=outlier, dropped=dropped)


def _remove_points(
    points: NDArray[np.float64],
    allowed: NDArray[np.bool_],
    removed: NDArray[np.bool_],
    fraction: float,
    rng: np.random.Generator,
) -> None:
    """Set a ``fraction`` of the present, ``allowed`` points to NaN, marking ``removed``.

    Args:
        points: ``(frames, views, keypoints, 2)`` pixels, changed in place.
        allowed: ``(frames, views, keypoints)`` bool, points that may be removed.
        removed: the same shape, set True where a point was removed (in place).
        fraction: share of the present, allowed points to remove.
        rng: the corruption's random generator.
    """
    left = np.flatnonzero((np.isfinite(points[..., 0]) & allowed).ravel())
    gone = rng.choice(left, size=round(fraction * left.size), replace=False)
    points.reshape(-1, 2)[gone] = np.nan
    removed.reshape(-1)[gone] = True


__all__ = [
    "DROP_FRAME_FRACTION",
    "OUTLIER_FRACTION",
    "OUTLIER_PX",
    "SWAP_FRAME_FRACTION",
    "Corruption",
    "corrupt_labels",
]
