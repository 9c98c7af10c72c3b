"""The verified triangulation of whole recordings: RANSAC, then hypotheses where checks fail.

``verify_points`` runs over every frame at once (no loop per frame or point):

1. RANSAC over views (``tools.dlt.ransac_points``, as in ``triangulate_ransac``): each
   point keeps the views that agree within the reprojection bound; an outlier view is a
   dropped-view hypothesis that won.
2. Left/right hypotheses, only in frames where a pair's point had an outlier view: in
   each view in turn, the pair's two labels are exchanged (a label moves to the other
   side where that side had none) and both points go through RANSAC again; the exchange
   that makes the most views agree wins, where it beats the labels as given.
3. Bone check, only where a bone's length is off its reference by more than the tolerance:
   for each end seen by three or more views, every single view is left out in turn and
   the point refit; the best reading is kept where it brings the end's bones back within
   the tolerance. Bones still off are left to the caller to flag.

Shapes follow ``tools.triangulate``: 2D ``(frames, views, keypoints, 2)`` px, weights
``(frames, views, keypoints)``, 3D ``(frames, keypoints, 3)`` in the calibration's unit.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from ethoagent.model.camera import Camera
from ethoagent.tools.dlt import normalised_views, ransac_points, solve_dlt, view_errors

__all__ = ["VerifiedPoints", "reference_bone_lengths", "verify_points"]


@dataclass(frozen=True, eq=False)
class VerifiedPoints:
    """Outcome of ``verify_points``.

    Attributes:
        points_3d: ``(frames, keypoints, 3)`` float64, world units; NaN where fewer than
            two views agreed.
        inliers: ``(frames, views, keypoints)`` bool, the views of the final fit.
        errors: ``(frames, views, keypoints)`` float64 px, reprojection error of each
            observation (as read after the hypotheses) against ``points_3d``.
        points_2d: ``(frames, views, keypoints, 2)`` px: the 2D points as read after the
            left/right hypotheses (the input where none was kept).
        weights: ``(frames, views, keypoints)`` the 2D weights as read (0 = not used).
        relabelled: ``(frames, views, keypoints)`` bool, observations that came from the
            other side of a left/right pair.
        bone_dropped: ``(frames, views, keypoints)`` bool, views left out by the bone check.
        bone_error: ``(frames, bones)`` float64, relative deviation of each bone from its
            reference length after the hypotheses; NaN where an end is missing.
    """

    points_3d: NDArray[np.float64]
    inliers: NDArray[np.bool_]
    errors: NDArray[np.float64]
    points_2d: NDArray[np.float64]
    weights: NDArray[np.float64]
    relabelled: NDArray[np.bool_]
    bone_dropped: NDArray[np.bool_]
    bone_error: NDArray[np.float64]


def reference_bone_lengths(
    points_3d: NDArray[np.float64],
    bones: Sequence[tuple[int, int]] | NDArray[np.intp],
    good: NDArray[np.bool_] | None = None,
) -> NDArray[np.float64]:
    """Median length of each bone over the frames where both ends are good.

    Args:
        points_3d: ``(frames, keypoints, 3)``, world units; NaN = missing.
        bones: ``(i, j)`` keypoint index pairs (or a ``(bones, 2)`` array).
        good: ``(frames, keypoints)`` bool, points to trust (e.g. low reprojection error);
            ``None`` = every finite point.

    Returns:
        ``(bones,)`` world units; NaN for a bone never seen whole.
    """
    b = np.asarray(bones, dtype=np.intp).reshape(-1, 2)
    ok = np.asarray(np.isfinite(points_3d).all(axis=-1) if good is None else good, dtype=bool)
    length = np.linalg.norm(points_3d[:, b[:, 0]] - points_3d[:, b[:, 1]], axis=-1)
    length = np.where(ok[:, b[:, 0]] & ok[:, b[:, 1]], length, np.nan)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a bone never seen -> NaN
        out: NDArray[np.float64] = np.nanmedian(length, axis=0)
    return out


@dataclass
class _State:
    """Flat working arrays: N = frames x keypoints points, V views."""

    cams: list[Camera]
    ext: NDArray[np.float64]
    origin: NDArray[np.float64]
    scale: float
    xy: NDArray[np.float64]  # (N, V, 2) normalised
    obs: NDArray[np.float64]  # (N, V, 2) px
    w: NDArray[np.float64]  # (N, V) weights of usable observations, else 0
    y: NDArray[np.float64]  # (N, 3) scaled world
    inl: NDArray[np.bool_]  # (N, V)
    err: NDArray[np.float64]  # (N, V) px
    relabelled: NDArray[np.bool_]  # (N, V)
    dropped: NDArray[np.bool_]  # (N, V)

    def refit(self, idx: NDArray[np.intp]) -> None:
        """Refit points ``idx`` on their inlier views and update their errors."""
        self.y[idx] = solve_dlt(self.xy[idx], np.where(self.inl[idx], self.w[idx], 0.0), self.ext)
        none = ~self.inl[idx].any(axis=1)
        self.y[idx[none]] = np.nan
        self.err[idx] = view_errors(self.cams, self.ext, self.y[idx], self.obs[idx])


def verify_points(
    cameras: Sequence[Camera],
    points_2d: NDArray[np.float64],
    weights: NDArray[np.float64],
    *,
    threshold_px: float,
    left_right: Sequence[tuple[int, int]] = (),
    bones: Sequence[tuple[int, int]] = (),
    reference_lengths: NDArray[np.float64] | None = None,
    bone_tolerance: float = 0.5,
) -> VerifiedPoints:
    """Triangulate every frame by RANSAC and test hypotheses where a check fails.

    Args:
        cameras: the views, in the order of the ``views`` axis.
        points_2d: ``(frames, views, keypoints, 2)`` px, NaN = missing.
        weights: ``(frames, views, keypoints)`` >= 0 (2D scores; 0 = unused view).
        threshold_px: RANSAC inlier bound and the bound a hypothesis must meet, px.
        left_right: ``(left, right)`` keypoint index pairs.
        bones: ``(i, j)`` keypoint index pairs.
        reference_lengths: ``(bones,)`` world units; ``None`` = medians of this call's
            points whose views all agree.
        bone_tolerance: relative bone deviation above which the bone check fails.

    Returns:
        A ``VerifiedPoints``.
    """
    cams = list(cameras)
    f, v, k, _ = points_2d.shape
    norm, ext, origin, scale = normalised_views(cams, points_2d)
    usable = np.isfinite(norm).all(axis=-1) & (weights > 0)

    def flat(a: NDArray[np.generic]) -> NDArray[np.generic]:
        return np.moveaxis(a, 1, 2).reshape(f * k, v, *a.shape[3:])

    xy = flat(norm).astype(np.float64)
    obs = flat(points_2d).astype(np.float64)
    w = np.where(flat(usable), flat(weights), 0.0).astype(np.float64)
    y, inl, err = ransac_points(cams, ext, xy, obs, w, threshold_px, 2)
    st = _State(
        cams=cams,
        ext=ext,
        origin=origin,
        scale=scale,
        xy=xy,
        obs=obs,
        w=w,
        y=y,
        inl=inl,
        err=err,
        relabelled=np.zeros((f * k, v), dtype=bool),
        dropped=np.zeros((f * k, v), dtype=bool),
    )
    for a, b in left_right:
        _relabel(st, (f, k), a, b, threshold_px)
    b_idx = np.asarray(bones, dtype=np.intp).reshape(-1, 2)
    if reference_lengths is None:
        good = ~((st.err > threshold_px) & (st.w > 0)).any(axis=1) & st.inl.any(axis=1)
        p3 = (origin + scale * st.y).reshape(f, k, 3)
        reference_lengths = reference_bone_lengths(p3, b_idx, good.reshape(f, k))
    if len(b_idx):
        _bone_hypotheses(st, (f, k), b_idx, reference_lengths, bone_tolerance, threshold_px)
    p3 = (origin + scale * st.y).reshape(f, k, 3)

    def unflat(a: NDArray[np.generic]) -> NDArray[np.generic]:
        return np.moveaxis(a.reshape(f, k, v, *a.shape[2:]), 2, 1)

    return VerifiedPoints(
        points_3d=p3,
        inliers=unflat(st.inl).astype(bool),
        errors=unflat(st.err).astype(np.float64),
        points_2d=unflat(st.obs).astype(np.float64),
        weights=unflat(st.w).astype(np.float64),
        relabelled=unflat(st.relabelled).astype(bool),
        bone_dropped=unflat(st.dropped).astype(bool),
        bone_error=_bone_deviation(p3, b_idx, reference_lengths),
    )


def _relabel(st: _State, shape: tuple[int, int], a: int, b: int, threshold_px: float) -> None:
    """Left/right hypotheses for the pair ``(a, b)`` in frames where either has an outlier view.

    For each view, the two labels are exchanged in that view only (a label moves to the
    other side where that side had none) and both points go through RANSAC again; per
    frame, the view whose exchange gives the most inlier views over both points wins (then
    the lower mean error), provided each exchanged label is an inlier of the point it now
    belongs to; it is kept only where that is strictly more views than the labels as given
    (so a swap that the other views cannot tell from the truth is left alone).
    """
    f, k = shape
    ia, ib = np.arange(f) * k + a, np.arange(f) * k + b
    used = st.w > 0
    outlier = (used[ia] & ~st.inl[ia]) | (used[ib] & ~st.inl[ib])
    cand = np.flatnonzero(outlier.any(axis=1))
    if not cand.size:
        return
    ca, cb = ia[cand], ib[cand]
    both = np.concatenate([ca, cb])
    n = cand.size
    best, best_err = _consensus_key(st.inl[both], st.err[both], n)
    best_view = np.full(n, -1)
    for view in range(st.w.shape[1]):
        xy, obs, w = st.xy[both].copy(), st.obs[both].copy(), st.w[both].copy()
        for arr in (xy, obs, w):
            arr[:n, view], arr[n:, view] = arr[n:, view].copy(), arr[:n, view].copy()
        _, inl, err = ransac_points(st.cams, st.ext, xy, obs, w, threshold_px, 2)
        count, mean = _consensus_key(inl, err, n)
        # every exchanged label must agree with the point it now belongs to
        present = w[:, view] > 0
        fits = np.where(present, inl[:, view], True)
        fits = fits[:n] & fits[n:] & (present[:n] | present[n:])
        better = (count > best) | ((count == best) & (mean < best_err) & (best_view >= 0))
        better &= fits
        best[better], best_err[better], best_view[better] = count[better], mean[better], view
    won = best_view >= 0
    if not won.any():
        return
    rows, views = np.flatnonzero(won), best_view[won]
    a_to_b = np.zeros((n, st.w.shape[1]), dtype=bool)
    b_to_a = np.zeros_like(a_to_b)
    a_to_b[rows, views] = used[ca[rows], views]
    b_to_a[rows, views] = used[cb[rows], views]
    _apply_moves(st, ca, cb, a_to_b, b_to_a)
    moved = np.concatenate([ca[rows], cb[rows]])
    st.y[moved], st.inl[moved], st.err[moved] = ransac_points(
        st.cams, st.ext, st.xy[moved], st.obs[moved], st.w[moved], threshold_px, 2
    )


def _consensus_key(
    inl: NDArray[np.bool_], err: NDArray[np.float64], n: int
) -> tuple[NDArray[np.intp], NDArray[np.float64]]:
    """Inlier views and their mean error (px) over each pair of points (rows i and n + i)."""
    count: NDArray[np.intp] = inl[:n].sum(axis=1) + inl[n:].sum(axis=1)
    total = np.where(inl, err, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = (total[:n].sum(axis=1) + total[n:].sum(axis=1)) / count
    return count, np.where(count > 0, mean, np.inf)


def _apply_moves(
    st: _State,
    ca: NDArray[np.intp],
    cb: NDArray[np.intp],
    a_to_b: NDArray[np.bool_],
    b_to_a: NDArray[np.bool_],
) -> None:
    """Move observations between the two sides of a pair: ``(N, V)`` masks per direction.

    A moved observation becomes an inlier of its new side; a side that only gave one
    away is left without an observation in that view.
    """
    to_a, to_b = b_to_a, a_to_b
    arrays: list[tuple[NDArray[np.float64], float]] = [
        (st.xy, np.nan),
        (st.obs, np.nan),
        (st.w, 0.0),
    ]
    for arr, gone in arrays:
        old_a, old_b = arr[ca].copy(), arr[cb].copy()
        ma, mb = (to_a, to_b) if arr.ndim == 2 else (to_a[..., None], to_b[..., None])
        arr[ca] = np.where(ma, old_b, np.where(mb, gone, old_a))
        arr[cb] = np.where(mb, old_a, np.where(ma, gone, old_b))
    st.inl[ca] = np.where(to_a, True, st.inl[ca] & ~to_b)
    st.inl[cb] = np.where(to_b, True, st.inl[cb] & ~to_a)
    st.relabelled[ca] |= to_a
    st.relabelled[cb] |= to_b


def _bone_deviation(
    p3: NDArray[np.float64], bones: NDArray[np.intp], ref: NDArray[np.float64]
) -> NDArray[np.float64]:
    """``(frames, bones)`` relative deviation of each bone from its reference length."""
    if not len(bones):
        return np.empty((p3.shape[0], 0))
    length = np.linalg.norm(p3[:, bones[:, 0]] - p3[:, bones[:, 1]], axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        out: NDArray[np.float64] = np.abs(length / ref - 1.0)
    return out


def _bone_hypotheses(
    st: _State,
    shape: tuple[int, int],
    bones: NDArray[np.intp],
    ref: NDArray[np.float64],
    tolerance: float,
    threshold_px: float,
) -> None:
    """Leave one view out of the ends of bones off their length; keep what fixes them."""
    f, k = shape
    p3 = (st.origin + st.scale * st.y).reshape(f, k, 3)
    dev = _bone_deviation(p3, bones, ref)
    bad = np.nan_to_num(dev, nan=0.0) > tolerance  # (F, B)
    if not bad.any():
        return
    frames, which = np.nonzero(bad)
    ends = np.unique(np.concatenate([frames * k + bones[which, 0], frames * k + bones[which, 1]]))
    ends = ends[st.inl[ends].sum(axis=1) >= 3]
    if not ends.size:
        return
    best_dev = _worst_incident(st, ends, st.y[ends], bones, ref, k)
    best_view = np.full(ends.size, -1)
    best_y = st.y[ends].copy()
    for view in range(st.w.shape[1]):
        try_inl = st.inl[ends].copy()
        try_inl[:, view] = False
        y = solve_dlt(st.xy[ends], np.where(try_inl, st.w[ends], 0.0), st.ext)
        err = view_errors(st.cams, st.ext, y, st.obs[ends])
        within = np.where(try_inl, err <= threshold_px, True).all(axis=1)
        worst = _worst_incident(st, ends, y, bones, ref, k)
        better = st.inl[ends, view] & within & (worst < best_dev)
        best_dev[better], best_view[better], best_y[better] = worst[better], view, y[better]
    keep = (best_view >= 0) & (best_dev <= tolerance)
    idx, views = ends[keep], best_view[keep]
    st.inl[idx, views] = False
    st.dropped[idx, views] = True
    st.refit(idx)


def _worst_incident(
    st: _State,
    ends: NDArray[np.intp],
    y: NDArray[np.float64],
    bones: NDArray[np.intp],
    ref: NDArray[np.float64],
    k: int,
) -> NDArray[np.float64]:
    """Worst relative deviation over the bones at each end point, with it placed at ``y``.

    Args:
        st: the working arrays (the other ends' current positions).
        ends: flat point indices ``frame * k + keypoint``.
        y: ``(len(ends), 3)`` scaled world positions to test for those points.
        bones: ``(B, 2)`` keypoint indices.
        ref: ``(B,)`` reference lengths, world units.
        k: keypoints per frame.

    Returns:
        ``(len(ends),)``: the largest deviation (``inf`` where the position is missing; 0
        where no incident bone has its other end).
    """
    frame, kp = np.divmod(ends, k)
    worst = np.zeros(ends.size)
    for bi, (i, j) in enumerate(bones):
        for me, other in ((i, j), (j, i)):
            sel = kp == me
            if not sel.any():
                continue
            there = st.y[frame[sel] * k + other]
            length = st.scale * np.linalg.norm(y[sel] - there, axis=-1)
            with np.errstate(invalid="ignore", divide="ignore"):
                d = np.nan_to_num(np.abs(length / ref[bi] - 1.0), nan=0.0)
            worst[sel] = np.maximum(worst[sel], d)
    worst[~np.isfinite(y).all(axis=1)] = np.inf
    return worst
