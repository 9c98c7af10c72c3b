"""Triangulation of multi-view 2D keypoints, reprojection checks and hypothesis ranking.

Everything here is vectorised over frames × keypoints: the linear (DLT) solve stacks one
``(2 · views, 4)`` system per point and solves them all with one batched SVD; RANSAC loops
only over view pairs. Inputs follow the project's conventions:

- 2D keypoints ``(frames, views, keypoints, 2)`` float64 pixels, NaN = missing;
- weights / confidence ``(frames, views, keypoints)`` float64 >= 0 (NaN counts as 0);
- 3D points ``(frames, keypoints, 3)`` float64 in the calibration's world unit
  (millimetres for anipose boards given in mm and for DANNCE) and world frame.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ethoagent.errors import InputError
from ethoagent.model.camera import Camera
from ethoagent.tools.cameras import behind_camera, project_points
from ethoagent.tools.dlt import normalised_views, ransac_points, solve_dlt

__all__ = [
    "Hypothesis",
    "RansacResult",
    "bone_ends_within",
    "bone_length_errors",
    "enumerate_hypotheses",
    "median_bone_lengths",
    "point_summary",
    "reprojection_errors",
    "smooth_points",
    "triangulate_dlt",
    "triangulate_ransac",
]


# --------------------------------------------------------------------------- validation


def _cameras(cameras: Sequence[Camera], minimum: int = 2) -> list[Camera]:
    cams = list(cameras)
    if len(cams) < minimum or not all(isinstance(c, Camera) for c in cams):
        raise InputError(
            f"expected a sequence of at least {minimum} Camera objects; found {len(cams)} "
            f"item(s) of type(s) {sorted({type(c).__name__ for c in cams})}.",
            fix="load cameras with ethoagent.io.calibration.read_calibration().",
        )
    return cams


def _points_2d(points_2d: ArrayLike, n_views: int) -> NDArray[np.float64]:
    pts = np.asarray(points_2d, dtype=np.float64)
    if pts.ndim != 4 or pts.shape[1] != n_views or pts.shape[3] != 2:
        raise InputError(
            f"points_2d must have shape (frames, views={n_views}, keypoints, 2) in pixels; "
            f"found shape {pts.shape}.",
            fix="add a frames axis for one frame (points[None]) and order views like the cameras.",
        )
    return pts


def _points_3d(points_3d: ArrayLike, what: str = "points_3d") -> NDArray[np.float64]:
    pts = np.asarray(points_3d, dtype=np.float64)
    if pts.ndim != 3 or pts.shape[2] != 3:
        raise InputError(
            f"{what} must have shape (frames, keypoints, 3) in world units; found shape "
            f"{pts.shape}.",
            fix="add a frames axis for one frame (points[None]).",
        )
    return pts


def _weights(weights: ArrayLike | None, shape: tuple[int, ...]) -> NDArray[np.float64]:
    if weights is None:
        return np.ones(shape)
    w = np.asarray(weights, dtype=np.float64)
    if w.shape != shape:
        raise InputError(
            f"weights must have shape (frames, views, keypoints) = {shape}; found {w.shape}.",
            fix="pass one confidence per 2D point (drop the trailing xy axis).",
        )
    w = np.where(np.isfinite(w), w, 0.0)
    if np.any(w < 0):
        raise InputError(
            "weights must be >= 0 (confidences); found negative values.",
            fix="clip confidences to [0, 1].",
        )
    return w


def _bones(bones: Sequence[tuple[int, int]], n_keypoints: int) -> NDArray[np.intp]:
    b = np.asarray(bones, dtype=np.intp).reshape(-1, 2) if len(bones) else np.empty((0, 2), int)
    if b.size and (b.min() < 0 or b.max() >= n_keypoints):
        raise InputError(
            f"bones refer to keypoint indices outside 0..{n_keypoints - 1}: {b.tolist()}.",
            fix="give bones as (i, j) pairs of keypoint indices.",
        )
    return b


# --------------------------------------------------------------------------- DLT


def triangulate_dlt(
    cameras: Sequence[Camera], points_2d: ArrayLike, weights: ArrayLike | None = None
) -> NDArray[np.float64]:
    """Triangulate every keypoint of every frame with the weighted linear (DLT) method.

    Each observation is undistorted to normalised coordinates and contributes two rows,
    scaled by its weight, to a homogeneous system solved by SVD; all points are solved in
    one batched call. Views whose 2D point is NaN (or whose weight is 0) are left out.

    Args:
        cameras: the views, in the order of the ``views`` axis.
        points_2d: ``(frames, views, keypoints, 2)`` float64 pixels, NaN = missing.
        weights: ``(frames, views, keypoints)`` float64 >= 0 (e.g. confidence); ``None`` =
            all 1.

    Returns:
        ``(frames, keypoints, 3)`` float64 in the cameras' world frame and unit (mm); NaN
        where fewer than two views observed the keypoint.
    """
    cams = _cameras(cameras)
    pts = _points_2d(points_2d, len(cams))
    f, v, k, _ = pts.shape
    w = _weights(weights, (f, v, k))
    norm, ext, origin, scale = normalised_views(cams, pts)
    w = np.where(np.all(np.isfinite(norm), axis=-1), w, 0.0)
    flat_xy = norm.transpose(0, 2, 1, 3).reshape(f * k, v, 2)
    flat_w = w.transpose(0, 2, 1).reshape(f * k, v)
    y = solve_dlt(flat_xy, flat_w, ext)
    return (origin + scale * y).reshape(f, k, 3)


def reprojection_errors(
    cameras: Sequence[Camera], points_3d: ArrayLike, points_2d: ArrayLike
) -> NDArray[np.float64]:
    """Distance between each 2D observation and the projection of its 3D point.

    Args:
        cameras: the views, in the order of the ``views`` axis.
        points_3d: ``(frames, keypoints, 3)`` float64, world units; NaN = missing.
        points_2d: ``(frames, views, keypoints, 2)`` float64 pixels; NaN = missing.

    Returns:
        ``(frames, views, keypoints)`` float64 pixels; NaN where the observation or the 3D
        point is missing, ``inf`` where the 3D point lies behind that camera.
    """
    cams = _cameras(cameras, minimum=1)
    obs = _points_2d(points_2d, len(cams))
    p3 = _points_3d(points_3d)
    if p3.shape[:2] != (obs.shape[0], obs.shape[2]):
        raise InputError(
            f"points_3d has (frames, keypoints) = {p3.shape[:2]} but points_2d has "
            f"{(obs.shape[0], obs.shape[2])}.",
            fix="pass the 3D points triangulated from these 2D points.",
        )
    proj = project_points(cams, p3, nan_behind=False).transpose(0, 2, 1, 3)  # (F, V, K, 2)
    err: NDArray[np.float64] = np.linalg.norm(proj - obs, axis=-1)
    behind = behind_camera(cams, p3).transpose(0, 2, 1)
    err[behind & np.all(np.isfinite(obs), axis=-1)] = np.inf
    return err


# --------------------------------------------------------------------------- RANSAC


@dataclass(frozen=True, eq=False)
class RansacResult:
    """Outcome of ``triangulate_ransac``.

    Attributes:
        points_3d: ``(frames, keypoints, 3)`` float64, world units; NaN where fewer than
            ``min_views`` views agreed.
        inliers: ``(frames, views, keypoints)`` bool, the views used for the final fit.
        errors: ``(frames, views, keypoints)`` float64 pixels, reprojection error of every
            observation (inlier or not) against ``points_3d``; NaN where missing.
    """

    points_3d: NDArray[np.float64]
    inliers: NDArray[np.bool_]
    errors: NDArray[np.float64]

    @property
    def mean_inlier_error_px(self) -> float:
        """Mean reprojection error over inlier observations, pixels (NaN if none)."""
        e = self.errors[self.inliers]
        return float(e.mean()) if e.size else float("nan")


def triangulate_ransac(
    cameras: Sequence[Camera],
    points_2d: ArrayLike,
    *,
    threshold_px: float = 10.0,
    weights: ArrayLike | None = None,
    min_views: int = 2,
) -> RansacResult:
    """Triangulate robustly: every view pair is a minimal sample, the best one wins.

    Every point is first solved by weighted DLT on all its views; where every view then
    reprojects within ``threshold_px`` (most points of a good recording), that is the
    answer RANSAC would reach, and it is kept. The other points go through RANSAC: for
    each pair of views, all of them are triangulated at once and reprojected into every
    view; per point, the pair with the most views within ``threshold_px`` wins (ties go to
    the lower mean inlier error), and the point is refit by weighted DLT on that pair's
    inlier views. No loop runs per point.

    Args:
        cameras: the views, in the order of the ``views`` axis.
        points_2d: ``(frames, views, keypoints, 2)`` float64 pixels, NaN = missing.
        threshold_px: inlier bound on reprojection error, pixels.
        weights: ``(frames, views, keypoints)`` float64 >= 0; views with weight 0 are never
            used; ``None`` = all 1.
        min_views: fewest inlier views a point needs (>= 2), else it is NaN.

    Returns:
        A ``RansacResult`` with points ``(frames, keypoints, 3)`` (world units), the inlier
        mask and per-view reprojection errors ``(frames, views, keypoints)`` (pixels).
    """
    cams = _cameras(cameras)
    pts = _points_2d(points_2d, len(cams))
    if not threshold_px > 0:
        raise InputError(
            f"threshold_px must be > 0; found {threshold_px}.", fix="use e.g. 10 pixels."
        )
    if min_views < 2:
        raise InputError(f"min_views must be >= 2; found {min_views}.", fix="use 2 or more.")
    f, v, k, _ = pts.shape
    w = _weights(weights, (f, v, k))
    norm, ext, origin, scale = normalised_views(cams, pts)
    usable = np.all(np.isfinite(norm), axis=-1) & (w > 0)  # (F, V, K)
    flat_xy = norm.transpose(0, 2, 1, 3).reshape(f * k, v, 2)
    flat_use = usable.transpose(0, 2, 1).reshape(f * k, v)
    flat_w = np.where(flat_use, w.transpose(0, 2, 1).reshape(f * k, v), 0.0)

    flat_pts = pts.transpose(0, 2, 1, 3).reshape(f * k, v, 2)
    y, best_inl, err = ransac_points(cams, ext, flat_xy, flat_pts, flat_w, threshold_px, min_views)
    points = (origin + scale * y).reshape(f, k, 3)
    return RansacResult(
        points_3d=points,
        inliers=best_inl.reshape(f, k, v).transpose(0, 2, 1),
        errors=err.reshape(f, k, v).transpose(0, 2, 1),
    )


def point_summary(
    result: RansacResult, confidence: ArrayLike | None = None
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    """Per 3D point, what anipose reports: error, cameras used and score.

    Args:
        result: a ``triangulate_ransac`` result.
        confidence: ``(frames, views, keypoints)`` 2D scores in [0, 1], or ``None``; a
            missing score (NaN, or no scores at all) counts as 1.

    Returns:
        ``(error, ncams, score)``, each ``(frames, keypoints)`` float64: the mean
        reprojection error over the inlier views (px), their number, and the smallest 2D
        score among them; NaN where the point has no inlier view.
    """
    inl = result.inliers
    ncams = inl.sum(axis=1).astype(np.float64)
    conf = np.ones(inl.shape) if confidence is None else np.asarray(confidence, dtype=np.float64)
    if conf.shape != inl.shape:
        raise InputError(
            f"confidence must have shape (frames, views, keypoints) = {inl.shape}; "
            f"found {conf.shape}.",
            fix="pass one 2D score per frame, view and keypoint.",
        )
    with np.errstate(invalid="ignore", divide="ignore"):
        error = np.where(inl, result.errors, 0.0).sum(axis=1) / ncams
    score = np.where(inl, np.nan_to_num(conf, nan=1.0), np.inf).min(axis=1)
    none = ncams == 0
    error[none] = np.nan
    score[none] = np.nan
    ncams[none] = np.nan
    return error, ncams, score


# --------------------------------------------------------------------------- bones


def _bone_lengths(points_3d: NDArray[np.float64], bones: NDArray[np.intp]) -> NDArray[np.float64]:
    out: NDArray[np.float64] = np.linalg.norm(
        points_3d[:, bones[:, 0]] - points_3d[:, bones[:, 1]], axis=-1
    )
    return out


def median_bone_lengths(
    points_3d: ArrayLike, bones: Sequence[tuple[int, int]]
) -> NDArray[np.float64]:
    """Median length of each bone over frames, ignoring frames where it is missing.

    Args:
        points_3d: ``(frames, keypoints, 3)`` float64, world units; NaN = missing.
        bones: ``(i, j)`` keypoint index pairs.

    Returns:
        ``(bones,)`` float64 in world units (mm); NaN for a bone never observed.
    """
    p3 = _points_3d(points_3d)
    b = _bones(bones, p3.shape[1])
    lengths = _bone_lengths(p3, b)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN bones -> NaN, by design
        out: NDArray[np.float64] = np.nanmedian(lengths, axis=0)
    return out


def bone_length_errors(
    points_3d: ArrayLike, bones: Sequence[tuple[int, int]], reference_lengths: ArrayLike
) -> NDArray[np.float64]:
    """Relative deviation of each bone's length from its reference length.

    Args:
        points_3d: ``(frames, keypoints, 3)`` float64, world units; NaN = missing.
        bones: ``(i, j)`` keypoint index pairs, ``B`` of them.
        reference_lengths: ``(B,)`` float64 > 0, same unit as ``points_3d`` (e.g. from
            ``median_bone_lengths`` over well-tracked frames).

    Returns:
        ``(frames, B)`` float64, ``|length - reference| / reference`` (dimensionless, 0.1 =
        10 %); NaN where an end point is missing.
    """
    p3 = _points_3d(points_3d)
    b = _bones(bones, p3.shape[1])
    ref = np.asarray(reference_lengths, dtype=np.float64)
    if ref.shape != (len(b),) or not np.all(np.isfinite(ref) & (ref > 0)):
        raise InputError(
            f"reference_lengths must be {len(b)} positive finite lengths (one per bone); "
            f"found shape {ref.shape} with values {ref.ravel()[:8].tolist()}.",
            fix="compute them with median_bone_lengths() on well-tracked frames.",
        )
    out: NDArray[np.float64] = np.abs(_bone_lengths(p3, b) - ref) / ref
    return out


def bone_ends_within(
    points_3d: ArrayLike,
    bones: Sequence[tuple[int, int]],
    reference_lengths: ArrayLike,
    tolerance: float,
) -> NDArray[np.bool_]:
    """Which keypoints no bone of theirs puts off its reference length.

    Both ends of every bone whose ``bone_length_errors`` exceeds ``tolerance`` are False;
    a bone with a missing end condemns neither.

    Args:
        points_3d: ``(keypoints, 3)`` float64, world units; NaN = missing.
        bones: ``(i, j)`` keypoint index pairs.
        reference_lengths: ``(bones,)`` float64 > 0, same unit as ``points_3d``.
        tolerance: largest relative deviation (0.25 = 25 %).

    Returns:
        ``(keypoints,)`` bool.
    """
    p3 = np.asarray(points_3d, dtype=np.float64)
    rel = bone_length_errors(p3[None], list(bones), reference_lengths)[0]
    ok = np.ones(p3.shape[0], dtype=np.bool_)
    for (a, b), e in zip(bones, rel, strict=True):
        if np.isfinite(e) and e > tolerance:
            ok[[a, b]] = False
    return ok


# --------------------------------------------------------------------------- hypotheses


@dataclass(frozen=True, eq=False)
class Hypothesis:
    """One alternative reading of a frame's 2D keypoints, triangulated and scored.

    Attributes:
        description: e.g. ``"identity"``, ``"swap 3<->4 in view 2"``, ``"drop view 5"``.
        swaps: ``(view, keypoint_a, keypoint_b)`` label swaps applied.
        dropped_view: index of the view left out, or ``None``.
        points_3d: ``(keypoints, 3)`` float64, world units.
        mean_error_px: mean reprojection error over the observations used, pixels
            (``inf`` if none).
        bone_error: mean relative bone-length error (dimensionless), NaN without bones.
        score: ``mean_error_px + bone_weight_px * bone_error + drop_penalty_px`` (if a view
            was dropped); lower is better.
    """

    description: str
    swaps: tuple[tuple[int, int, int], ...]
    dropped_view: int | None
    points_3d: NDArray[np.float64]
    mean_error_px: float
    bone_error: float
    score: float


def enumerate_hypotheses(
    cameras: Sequence[Camera],
    points_2d_frame: ArrayLike,
    *,
    swap_pairs: Sequence[tuple[int, int]],
    weights: ArrayLike | None = None,
    bones: Sequence[tuple[int, int]] | None = None,
    reference_lengths: ArrayLike | None = None,
    allow_drop_view: bool = True,
    max_hypotheses: int = 256,
    bone_weight_px: float = 10.0,
    drop_penalty_px: float = 1.0,
) -> list[Hypothesis]:
    """Rank alternative readings of one frame: as given, one L/R swap in one view, a view dropped.

    Hypotheses, in generation order: the identity; for each view and each ``(a, b)`` in
    ``swap_pairs``, keypoints ``a`` and ``b`` exchanged in that view only; for each view,
    that view left out. All are triangulated (DLT) and scored together as one batch.

    Args:
        cameras: the views.
        points_2d_frame: ``(views, keypoints, 2)`` float64 pixels, NaN = missing.
        swap_pairs: left/right keypoint index pairs, e.g. ``[(8, 12), (16, 19)]``.
        weights: ``(views, keypoints)`` float64 >= 0 confidences (swapped with the points).
        bones: ``(i, j)`` keypoint pairs for the bone-length penalty; needs
            ``reference_lengths``.
        reference_lengths: ``(bones,)`` float64, world units.
        allow_drop_view: also try leaving out each view (needs >= 3 views).
        max_hypotheses: at most this many are generated (identity first).
        bone_weight_px: pixels of score per unit relative bone error (10 px per 100 %).
        drop_penalty_px: pixels added for a dropped view, so that explaining every view
            wins when errors tie.

    Returns:
        Hypotheses sorted by ``score``, best first.
    """
    cams = _cameras(cameras)
    frame = np.asarray(points_2d_frame, dtype=np.float64)
    if frame.ndim != 3:
        raise InputError(
            f"points_2d_frame must have shape (views, keypoints, 2) for one frame; found "
            f"shape {frame.shape}.",
            fix="pass points_2d[frame_index].",
        )
    pts = _points_2d(frame[None], len(cams))[0]
    v, k, _ = pts.shape
    w = _weights(None if weights is None else np.asarray(weights)[None], (1, v, k))[0]
    if (bones is None) != (reference_lengths is None):
        raise InputError(
            "bones and reference_lengths must be given together.",
            fix="pass both (reference_lengths from median_bone_lengths()) or neither.",
        )
    b = _bones(bones or [], k)
    ref = None if reference_lengths is None else np.asarray(reference_lengths, dtype=np.float64)
    if ref is not None and ref.shape != (len(b),):
        raise InputError(
            f"reference_lengths must have shape ({len(b)},); found {ref.shape}.",
            fix="give one reference length per bone.",
        )
    pairs = [(int(a), int(c)) for a, c in swap_pairs]
    if any(not (0 <= a < k and 0 <= c < k) or a == c for a, c in pairs):
        raise InputError(
            f"swap_pairs must be distinct keypoint indices in 0..{k - 1}; found {pairs}.",
            fix="list left/right pairs such as (ear_left, ear_right).",
        )
    if max_hypotheses < 1:
        raise InputError(f"max_hypotheses must be >= 1; found {max_hypotheses}.", fix="use 1+.")

    specs: list[tuple[str, tuple[tuple[int, int, int], ...], int | None]] = [("identity", (), None)]
    for view in range(v):
        for a, c in pairs:
            if np.all(np.isnan(pts[view, [a, c]])):
                continue  # swapping two missing points changes nothing
            specs.append((f"swap {a}<->{c} in view {view}", ((view, a, c),), None))
    if allow_drop_view and v >= 3:
        specs += [(f"drop view {view}", (), view) for view in range(v)]
    specs = specs[:max_hypotheses]

    h = len(specs)
    all_pts = np.repeat(pts[None], h, axis=0)  # (H, V, K, 2)
    all_w = np.repeat(w[None], h, axis=0)  # (H, V, K)
    for i, (_, swaps, dropped) in enumerate(specs):
        for view, a, c in swaps:
            all_pts[i, view, [a, c]] = all_pts[i, view, [c, a]]
            all_w[i, view, [a, c]] = all_w[i, view, [c, a]]
        if dropped is not None:
            all_w[i, dropped] = 0.0
    x3 = triangulate_dlt(cams, all_pts, all_w)  # (H, K, 3)
    err = reprojection_errors(cams, x3, all_pts)  # (H, V, K)
    used = (all_w > 0) & np.isfinite(all_pts[..., 0]) & ~np.isnan(err)
    n_used = used.sum(axis=(1, 2))
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_err = np.where(n_used > 0, np.where(used, err, 0.0).sum(axis=(1, 2)) / n_used, np.inf)
    if ref is not None and len(b):
        rel = bone_length_errors(x3, [tuple(x) for x in b.tolist()], ref)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            bone_err = np.nanmean(rel, axis=1)
        bone_term = np.where(np.isnan(bone_err), 0.0, bone_weight_px * bone_err)
    else:
        bone_err = np.full(h, np.nan)
        bone_term = np.zeros(h)
    dropped_flag = np.array([d is not None for _, _, d in specs], dtype=float)
    score = mean_err + bone_term + drop_penalty_px * dropped_flag

    hyps = [
        Hypothesis(
            description=desc,
            swaps=swaps,
            dropped_view=dropped,
            points_3d=x3[i],
            mean_error_px=float(mean_err[i]),
            bone_error=float(bone_err[i]),
            score=float(score[i]),
        )
        for i, (desc, swaps, dropped) in enumerate(specs)
    ]
    order = np.argsort(score, kind="stable")
    return [hyps[i] for i in order]


# --------------------------------------------------------------------------- smoothing


def smooth_points(
    points_3d: ArrayLike,
    window: int,
    *,
    method: Literal["median", "savgol"] = "median",
    polyorder: int = 2,
) -> NDArray[np.float64]:
    """Smooth 3D trajectories over time, ignoring missing frames.

    ``median``: running median over a centred window. ``savgol``: Savitzky–Golay, i.e. a
    least-squares polynomial of degree ``polyorder`` fitted to the valid samples of each
    centred window and evaluated at its centre (a weighted fit, so gaps do not bias it).
    Missing points stay missing; a point whose window has too few valid samples (fewer
    than ``polyorder + 1``) is returned unchanged.

    Args:
        points_3d: ``(frames, keypoints, 3)`` float64, world units; NaN = missing.
        window: odd window length in frames (>= 1).
        method: ``"median"`` or ``"savgol"``.
        polyorder: polynomial degree for ``savgol`` (< window).

    Returns:
        ``(frames, keypoints, 3)`` float64, same unit.
    """
    p3 = _points_3d(points_3d)
    if window < 1 or window % 2 == 0:
        raise InputError(
            f"window must be a positive odd number of frames; found {window}.", fix="use e.g. 5."
        )
    if method not in ("median", "savgol"):
        raise InputError(
            f"method must be 'median' or 'savgol'; found {method!r}.", fix="pick one of the two."
        )
    if method == "savgol" and not 0 <= polyorder < window:
        raise InputError(
            f"polyorder must be in 0..window-1 = 0..{window - 1}; found {polyorder}.",
            fix="use polyorder=2 with window >= 3.",
        )
    half = window // 2
    valid = np.all(np.isfinite(p3), axis=-1)  # (F, K)
    clean = np.where(valid[..., None], p3, np.nan)
    padded = np.pad(clean, ((half, half), (0, 0), (0, 0)), constant_values=np.nan)
    win = np.lib.stride_tricks.sliding_window_view(padded, window, axis=0)  # (F, K, 3, W)
    if method == "median":
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            out: NDArray[np.float64] = np.nanmedian(win, axis=-1)
        return np.where(valid[..., None], out, np.nan)

    tau = np.arange(-half, half + 1) / max(half, 1)  # scaled offsets for conditioning
    powers = tau[None, :] ** np.arange(polyorder + 1)[:, None]  # (P, W)
    m = np.all(np.isfinite(win), axis=2).astype(np.float64)  # (F, K, W)
    y = np.where(np.isfinite(win), win, 0.0)  # (F, K, 3, W)
    normal = np.einsum("fkw,pw,qw->fkpq", m, powers, powers)
    rhs = np.einsum("fkw,pw,fkcw->fkcp", m, powers, y)
    enough = m.sum(axis=-1) >= polyorder + 1
    normal[~enough] = np.eye(polyorder + 1)
    coef = np.linalg.solve(normal[:, :, None], rhs[..., None])[..., 0]  # (F, K, 3, P)
    smoothed = coef[..., 0]
    out = np.where(enough[..., None], smoothed, clean)
    return np.where(valid[..., None], out, np.nan)
