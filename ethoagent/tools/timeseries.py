"""Per-frame time series along axis 0: gap filling, derivatives, rolling statistics.

Every function takes an array whose axis 0 is frames (any trailing axes, NaN = missing),
is vectorised over the trailing axes and never changes its input. ``tools.features`` and
``tools.social`` build the pose features from these.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray


def fill_gaps(
    x: NDArray[np.float64], max_gap: int
) -> tuple[NDArray[np.float64], NDArray[np.bool_]]:
    """Fill interior NaN runs of at most ``max_gap`` frames linearly along axis 0.

    Args:
        x: ``(frames, M)`` float64.
        max_gap: longest run (frames) to fill.

    Returns:
        The filled copy and ``(frames, M)`` bool, True where a value was filled.
    """
    frames = x.shape[0]
    ok = np.isfinite(x)
    t = np.arange(frames)[:, None]
    prev = np.maximum.accumulate(np.where(ok, t, -1), axis=0)
    nxt = np.minimum.accumulate(np.where(ok, t, frames)[::-1], axis=0)[::-1]
    fill = ~ok & (prev >= 0) & (nxt < frames) & (nxt - prev - 1 <= max_gap)
    out = x.copy()
    if fill.any():
        r, c = np.nonzero(fill)
        p, n = prev[r, c], nxt[r, c]
        w = (r - p) / (n - p)
        out[r, c] = x[p, c] + w * (x[n, c] - x[p, c])
    return out, fill


def time_derivative(
    x: NDArray[np.float64], fps: float, *, angle: bool = False
) -> NDArray[np.float64]:
    """Central difference along axis 0 times ``fps``; one-sided where a neighbour is NaN.

    Args:
        x: ``(frames, ...)`` float64, any unit; NaN = missing.
        fps: frame rate, Hz.
        angle: ``x`` holds angles, rad: each step is wrapped to ``(-pi, pi]`` first.

    Returns:
        ``(frames, ...)`` float64, the unit of ``x`` per second; NaN where both
        neighbours are missing.
    """
    step = np.diff(x, axis=0)
    if angle:
        step = np.angle(np.exp(1j * step))
    pad = np.full((1, *x.shape[1:]), np.nan)
    fwd = np.concatenate([step, pad], axis=0)
    bwd = np.concatenate([pad, step], axis=0)
    out = np.where(np.isnan(fwd), bwd, np.where(np.isnan(bwd), fwd, 0.5 * (fwd + bwd)))
    res: NDArray[np.float64] = out * fps
    return res


def rolling_mean_std(x: NDArray[np.float64], window: int) -> tuple[NDArray[np.float64], ...]:
    """Centred rolling mean and std along axis 0 over ``window`` (odd) frames, NaN-aware.

    Windows are cut at the ends; a window with no finite value gives NaN.

    Args:
        x: ``(frames, M)`` float64, any unit; NaN = missing (ignored).
        window: frames per window (odd).

    Returns:
        ``(mean, std)``, each ``(frames, M)`` float64 in the unit of ``x``.
    """
    half = window // 2
    frames = x.shape[0]
    ok = np.isfinite(x)
    with np.errstate(all="ignore"):
        shift = np.where(ok.any(axis=0), np.nanmean(np.where(ok, x, np.nan), axis=0), 0.0)
    z = np.where(ok, x - shift, 0.0)
    pad = np.zeros((1, *x.shape[1:]))
    cs = np.concatenate([pad, np.cumsum(z, axis=0)])
    cs2 = np.concatenate([pad, np.cumsum(z * z, axis=0)])
    cn = np.concatenate([pad, np.cumsum(ok, axis=0, dtype=np.float64)])
    lo = np.clip(np.arange(frames) - half, 0, frames)
    hi = np.clip(np.arange(frames) + half + 1, 0, frames)
    n = cn[hi] - cn[lo]
    with np.errstate(all="ignore"):
        mean = (cs[hi] - cs[lo]) / n
        var = (cs2[hi] - cs2[lo]) / n - mean**2
    mean = np.where(n > 0, mean + shift, np.nan)
    std = np.where(n > 0, np.sqrt(np.clip(var, 0.0, None)), np.nan)
    return mean, std
