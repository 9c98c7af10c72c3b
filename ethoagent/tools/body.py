"""Where the body is when names do not say: derived head, tail base and centre, and a record.

``tools.features`` takes the head, tail base and centre of each animal from its
``BodyLayout``; ``body_points`` derives those the layout does not name from the tracked body
keypoints (centroid; rear / front of the other points; the principal axis oriented by
motion), and ``BodyRoles`` records which roles were matched, derived or absent and which
features that disables, for a report (``tools.features.describe_roles``). Arrays are
``(frames, individuals, keypoints, D)`` float64 in the input unit (pixels in 2D), NaN =
missing.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray
from pydantic import BaseModel, ConfigDict

__all__ = ["BodyRoles", "body_points", "principal_axis"]


class BodyRoles(BaseModel):
    """Which body roles a layout takes from the keypoints, derives, or lacks.

    For a report: ``lines()`` says it in words, ``model_dump()`` for JSON.

    Attributes:
        layout: the layout's name.
        matched: role -> keypoints that play it (``head``, ``tail_base``, ``centre``,
            ``back``, ``paws``, ``tail``).
        derived: role -> how it is derived from the tracked points.
        absent: roles neither matched nor derived.
        disabled: features not computed for lack of a role.
        arena: arena and object keypoints, kept out of the body.
        unused: body keypoints no role takes.
    """

    model_config = ConfigDict(frozen=True)

    layout: str
    matched: dict[str, tuple[str, ...]]
    derived: dict[str, str]
    absent: tuple[str, ...]
    disabled: tuple[str, ...]
    arena: tuple[str, ...]
    unused: tuple[str, ...]

    def lines(self) -> list[str]:
        """The record in words, one line per kind (for a report)."""
        out = [f"body layout {self.layout!r}"]
        out += [f"matched {r}: {', '.join(k)}" for r, k in self.matched.items()]
        out += [f"derived {r}: {how}" for r, how in self.derived.items()]
        if self.absent:
            out.append(f"absent: {', '.join(self.absent)}")
        if self.disabled:
            out.append(f"features not computed: {', '.join(self.disabled)}")
        if self.arena:
            out.append(f"arena/object points (not body): {', '.join(self.arena)}")
        if self.unused:
            out.append(f"keypoints no role takes: {', '.join(self.unused)}")
        return out


def _mean_of(pts: NDArray[np.float64], idx: Sequence[int]) -> NDArray[np.float64]:
    """Mean of keypoints ``idx``: ``(F, A, K, D)`` -> ``(F, A, D)``; NaN if any is."""
    out: NDArray[np.float64] = pts[:, :, list(idx)].mean(axis=2)
    return out


def _nanmean_of(pts: NDArray[np.float64], idx: Sequence[int]) -> NDArray[np.float64]:
    """Mean of the finite keypoints ``idx``: ``(F, A, K, D)`` -> ``(F, A, D)``; NaN if none."""
    sub = pts[:, :, list(idx)]
    ok = np.isfinite(sub).all(axis=-1, keepdims=True)
    n = ok.sum(axis=2)
    with np.errstate(invalid="ignore", divide="ignore"):
        out: NDArray[np.float64] = np.where(ok, sub, 0.0).sum(axis=2) / n
    return out


def body_points(
    pts: NDArray[np.float64],
    *,
    head: Sequence[int],
    tail_base: int | None,
    centre: Sequence[int],
    body: Sequence[int],
    tail: Sequence[int],
    fps: float,
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    """Head, tail-base and centre points, derived where the layout names none.

    A missing tail base is the centroid of the tracked body points other than the head's; a
    missing head that of those other than the tail's; with neither (or nothing else on the
    body), the two ends of the body points' principal axis (``principal_axis``). A missing
    centre is the centroid of the tracked body points, or without body points the midpoint
    of head and tail base.

    Args:
        pts: ``(frames, individuals, keypoints, D)`` float64, NaN = missing.
        head: indices of the head keypoints (their mean is the head); empty = derived.
        tail_base: index of the tail base; None = derived.
        centre: indices of the centre keypoints; empty = derived.
        body: indices of the body keypoints (no arena points); may be empty when head
            and tail base are given.
        tail: indices of the tail chain (kept out of a derived head).
        fps: frame rate, Hz (the motion that orients a principal axis).

    Returns:
        ``(head, tail_base, centre)``, each ``(frames, individuals, D)`` float64.
    """
    front = _mean_of(pts, head) if head else None
    rear = pts[:, :, tail_base] if tail_base is not None else None
    if front is not None and rear is None:
        rest = [i for i in body if i not in head]
        rear = _nanmean_of(pts, rest) if rest else None
    elif front is None and rear is not None:
        rest = [i for i in body if i != tail_base and i not in tail]
        front = _nanmean_of(pts, rest) if rest else None
    if front is None or rear is None:
        front, rear = principal_axis(pts[:, :, list(body)], fps)
    if centre:
        mid = _mean_of(pts, centre)
    elif body:
        mid = _nanmean_of(pts, body)
    else:
        mid = 0.5 * (front + rear)
    return front, rear, mid


def principal_axis(
    cloud: NDArray[np.float64], fps: float
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Front and rear ends ``(F, A, D)`` of a point cloud's principal axis in the x–y plane.

    The axis is the cloud's major axis in each frame (its ends the extreme projections of
    the tracked points; z is the centroid's); its direction is kept continuous from frame
    to frame (turns of under 90° per frame) and, per run of frames with an axis, points
    where the centroid moves on the whole (front = direction of motion). A still animal's
    front is arbitrary. NaN where fewer than two points are tracked.

    Args:
        cloud: ``(frames, individuals, keypoints >= 2, D)`` float64, NaN = missing.
        fps: frame rate, Hz.

    Returns:
        ``(front, rear)``, each ``(frames, individuals, D)`` float64, the input unit.
    """
    ok = np.asarray(np.isfinite(cloud).all(axis=-1), dtype=np.bool_)
    centroid = _nanmean_of(cloud, range(cloud.shape[2]))
    d = np.where(ok[..., None], cloud[..., :2] - centroid[:, :, None, :2], 0.0)
    sxx, syy = (d[..., 0] ** 2).sum(-1), (d[..., 1] ** 2).sum(-1)
    sxy = (d[..., 0] * d[..., 1]).sum(-1)
    theta = np.where(ok.sum(-1) >= 2, 0.5 * np.arctan2(2 * sxy, sxx - syy), np.nan)
    # continuity: unwrap the doubled angle (an axis is defined up to pi) over filled gaps
    has = np.isfinite(theta)
    t = np.arange(theta.shape[0])[:, None]
    last = np.maximum.accumulate(np.where(has, t, 0), axis=0)
    held = np.take_along_axis(np.where(has, theta, 0.0), last, axis=0)
    theta = np.where(has, np.unwrap(2 * held, axis=0) / 2, np.nan)
    u = np.stack([np.cos(theta), np.sin(theta)], axis=-1)
    proj = (d * u[:, :, None]).sum(-1)
    lo = np.where(ok, proj, np.inf).min(axis=-1)
    hi = np.where(ok, proj, -np.inf).max(axis=-1)
    step = np.diff(centroid[..., :2], axis=0, prepend=np.nan) * fps  # only its sign counts
    along = (step * u).sum(-1)
    run = np.cumsum(~has, axis=0)  # constant along each run of frames with an axis
    sign = np.ones_like(theta)
    for a in range(theta.shape[1]):
        use = has[:, a] & np.isfinite(along[:, a])
        total = np.bincount(run[use, a], weights=along[use, a], minlength=int(run[:, a].max()) + 1)
        sign[:, a] = np.where(total[run[:, a]] < 0, -1.0, 1.0)
    mid = centroid.copy()
    mid[..., :2] += (0.5 * (lo + hi))[..., None] * u
    half = (0.5 * (hi - lo) * sign)[..., None] * u
    front, rear = mid.copy(), mid.copy()
    front[..., :2] += half
    rear[..., :2] -= half
    return front, rear
