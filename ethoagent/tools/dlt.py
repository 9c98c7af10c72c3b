"""Batched linear triangulation: the DLT, two-view solves and RANSAC's consensus sets.

The numerical core of ``tools.triangulate``, vectorised over N points: the weighted DLT
builds each point's 4x4 normal matrix with one matrix product and solves it in closed
form (no per-point SVD); the lens model and its Jacobian are written out in numpy (no call
into OpenCV per view). Conventions: normalised coordinates ``(N, V, 2)`` (undistorted, x/z
and y/z), weights ``(N, V)`` (0 = unused view), extrinsics ``(V, 3, 4)`` in a scaled world
(``normalised_views``), pixels for observations and errors.
"""

from __future__ import annotations

import functools
import itertools

import numpy as np
from numpy.typing import NDArray
from threadpoolctl import ThreadpoolController

from ethoagent.model.camera import Camera
from ethoagent.tools.cameras import undistort_points

__all__ = [
    "lens",
    "normalised_views",
    "pair_consensus",
    "pixel_jacobians",
    "ransac_points",
    "solve_dlt",
    "solve_pair",
    "to_pixels",
    "view_errors",
]

# Points per batched solve: bounds memory at about 100 MB for 8 views.
_CHUNK = 1 << 17
# Rayleigh-quotient steps of the DLT's smallest-eigenvalue solve (``solve_dlt``).
_RAYLEIGH_STEPS = 5
# Points from which the normal matrices are built on one BLAS thread (switching the thread
# count costs more than a small product).
_ONE_THREAD_FROM = 4096


def normalised_views(
    cams: list[Camera], pts: NDArray[np.float64]
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64], float]:
    """Normalised coordinates, scaled extrinsics, and the world origin and scale used.

    Returns undistorted normalised coordinates (F, V, K, 2), scaled extrinsics (V, 3, 4),
    the origin (3,) and the scale: ``X = origin + scale * Y``.

    The world is shifted to the mean camera centre and scaled by the rig size so that the
    homogeneous columns of the linear systems have comparable magnitude.
    """
    centres = np.stack([c.center for c in cams])
    origin = centres.mean(axis=0)
    scale = float(np.linalg.norm(centres - origin, axis=1).mean()) or 1.0
    ext = np.stack(
        [np.hstack([c.R * scale, (c.R @ origin + c.tvec)[:, None]]) for c in cams]
    )  # (V, 3, 4): x_cam = R (origin + scale * Y) + t
    norm = np.stack([undistort_points(c, pts[:, v]) for v, c in enumerate(cams)], axis=1)
    return norm, ext, origin, scale


def lens(cam: Camera, xy: NDArray[np.float64]) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Pixels and d(pixel)/d(normalised) of undistorted normalised coordinates.

    OpenCV's Brown–Conrady model ``(k1, k2, p1, p2, k3)`` then ``K`` (skew included),
    written out in numpy (the same model as ``tools.cameras.project_points``, without a
    call into OpenCV per view).

    Args:
        cam: the view.
        xy: ``(..., 2)`` undistorted normalised coordinates (x/z, y/z); NaN passes through.

    Returns:
        ``(pixels (..., 2), jacobian (..., 2, 2))``.
    """
    k1, k2, p1, p2, k3 = cam.dist
    x, y = xy[..., 0], xy[..., 1]
    r2 = x * x + y * y
    rad = 1.0 + r2 * (k1 + r2 * (k2 + r2 * k3))
    drad = k1 + r2 * (2.0 * k2 + 3.0 * k3 * r2)  # d rad / d r2
    cross = 2.0 * x * y * drad + 2.0 * p1 * x + 2.0 * p2 * y
    jd = np.empty((*x.shape, 2, 2))
    jd[..., 0, 0] = rad + 2.0 * x * x * drad + 2.0 * p1 * y + 6.0 * p2 * x
    jd[..., 0, 1] = cross
    jd[..., 1, 0] = cross
    jd[..., 1, 1] = rad + 2.0 * y * y * drad + 6.0 * p1 * y + 2.0 * p2 * x
    return to_pixels(cam, xy), cam.matrix[:2, :2] @ jd


def to_pixels(cam: Camera, xy: NDArray[np.float64]) -> NDArray[np.float64]:
    """Pixels of undistorted normalised coordinates ``(..., 2)`` (the ``lens`` model)."""
    k1, k2, p1, p2, k3 = cam.dist
    x, y = xy[..., 0], xy[..., 1]
    r2 = x * x + y * y
    rad = 1.0 + r2 * (k1 + r2 * (k2 + r2 * k3))
    xd = x * rad + 2.0 * p1 * x * y + p2 * (r2 + 2.0 * x * x)
    yd = y * rad + p1 * (r2 + 2.0 * y * y) + 2.0 * p2 * x * y
    k = cam.matrix
    out = np.empty(xy.shape)
    out[..., 0] = k[0, 0] * xd + k[0, 1] * yd + k[0, 2]
    out[..., 1] = k[1, 1] * yd + k[1, 2]
    return out


def pixel_jacobians(cams: list[Camera], norm: NDArray[np.float64]) -> NDArray[np.float64]:
    """d(pixel) / d(undistorted normalised coordinate) at each observation.

    Args:
        cams: the views.
        norm: (N, V, 2) undistorted normalised coordinates (NaN = missing).

    Returns:
        (N, V, 2, 2) Jacobians of the camera's lens model and ``K``; NaN where the
        observation is missing.
    """
    return np.stack([lens(c, norm[:, v])[1] for v, c in enumerate(cams)], axis=1)


def view_errors(
    cams: list[Camera],
    ext: NDArray[np.float64],
    y: NDArray[np.float64],
    obs: NDArray[np.float64],
) -> NDArray[np.float64]:
    """Reprojection errors of N points in every view, pixels.

    Args:
        cams: the views.
        ext: ``(V, 3, 4)`` extrinsics in the scaled world.
        y: ``(N, 3)`` scaled world points (NaN = missing).
        obs: ``(N, V, 2)`` observed pixels (NaN = missing).

    Returns:
        ``(N, V)`` px; NaN where the point or the observation is missing, ``inf`` where
        the point lies at or behind the camera's image plane.
    """
    cam_xyz = np.einsum("vij,nj->nvi", ext[:, :, :3], y) + ext[:, :, 3]  # (N, V, 3)
    depth = cam_xyz[..., 2]
    with np.errstate(invalid="ignore", divide="ignore"):
        xy = cam_xyz[..., :2] / depth[..., None]
    err = np.empty(depth.shape)
    for v, cam in enumerate(cams):
        pix = to_pixels(cam, xy[:, v]) - obs[:, v]
        err[:, v] = np.sqrt(pix[:, 0] ** 2 + pix[:, 1] ** 2)
    seen = np.isfinite(obs[..., 0])
    return np.where((depth <= 0) & seen, np.inf, err)


def _view_quadratics(ext: NDArray[np.float64]) -> NDArray[np.float64]:
    """Per view, the four 4x4 blocks whose weighted sum is a point's DLT normal matrix.

    With ``P1, P2, P3`` the rows of a view's extrinsics and ``(x, y)`` the observation,
    the view's two DLT rows ``x P3 - P1`` and ``y P3 - P2`` contribute
    ``(x² + y²) P3P3ᵀ - x (P3P1ᵀ + P1P3ᵀ) - y (P3P2ᵀ + P2P3ᵀ) + P1P1ᵀ + P2P2ᵀ``.

    Args:
        ext: (V, 3, 4) extrinsics in the scaled world.

    Returns:
        (4 V, 16): the blocks multiplying ``x² + y²``, ``-x``, ``-y`` and ``1`` (V rows
        each, in that order), flattened.
    """
    p1, p2, p3 = ext[:, 0], ext[:, 1], ext[:, 2]

    def outer(a: NDArray[np.float64], b: NDArray[np.float64]) -> NDArray[np.float64]:
        out: NDArray[np.float64] = np.einsum("vi,vj->vij", a, b).reshape(len(ext), 16)
        return out

    return np.concatenate(
        [
            outer(p3, p3),
            outer(p3, p1) + outer(p1, p3),
            outer(p3, p2) + outer(p2, p3),
            outer(p1, p1) + outer(p2, p2),
        ]
    )


@functools.cache
def _blas() -> ThreadpoolController:
    """The process's BLAS libraries (found once)."""
    return ThreadpoolController()


def _solve_sym3(
    m: NDArray[np.float64], shift: NDArray[np.float64]
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Solve ``(B - shift I) y = -c`` for N symmetric 3x3 blocks ``B`` of normal matrices.

    Args:
        m: (N, 16) flattened symmetric 4x4 normal matrices ``[[B, c], [cᵀ, d]]``.
        shift: (N,) values subtracted from B's diagonal.

    Returns:
        ``(y, det)``: (N, 3) solutions by the adjugate, and (N,) determinants of the
        shifted block (0 = degenerate).
    """
    a, b, c = m[:, 0] - shift, m[:, 1], m[:, 2]
    d, e, f = m[:, 5] - shift, m[:, 6], m[:, 10] - shift
    r0, r1, r2 = -m[:, 3], -m[:, 7], -m[:, 11]
    c00, c01, c02 = d * f - e * e, c * e - b * f, b * e - c * d
    c11, c12, c22 = a * f - c * c, b * c - a * e, a * d - b * b
    det = a * c00 + b * c01 + c * c02
    with np.errstate(divide="ignore", invalid="ignore"):
        inv = 1.0 / det
        y = np.stack(
            [
                (c00 * r0 + c01 * r1 + c02 * r2) * inv,
                (c01 * r0 + c11 * r1 + c12 * r2) * inv,
                (c02 * r0 + c12 * r1 + c22 * r2) * inv,
            ],
            axis=-1,
        )
    return y, det


def _rayleigh(m: NDArray[np.float64], y: NDArray[np.float64]) -> NDArray[np.float64]:
    """Rayleigh quotient ``hᵀ M h / hᵀ h`` of ``h = (y, 1)`` for N flattened 4x4 ``M``.

    Args:
        m: (N, 16) flattened symmetric normal matrices.
        y: (N, 3) points.

    Returns:
        (N,) quotients; 0 where ``y`` is not finite.
    """
    y0, y1, y2 = y[:, 0], y[:, 1], y[:, 2]
    with np.errstate(invalid="ignore", over="ignore"):
        quad = m[:, 0] * y0 * y0 + m[:, 5] * y1 * y1 + m[:, 10] * y2 * y2 + m[:, 15]
        quad += 2 * (m[:, 1] * y0 * y1 + m[:, 2] * y0 * y2 + m[:, 6] * y1 * y2)
        quad += 2 * (m[:, 3] * y0 + m[:, 7] * y1 + m[:, 11] * y2)
        lam = quad / (1.0 + y0 * y0 + y1 * y1 + y2 * y2)
    return np.where(np.isfinite(lam), lam, 0.0)


def _normal_matrices(
    xy: NDArray[np.float64], w: NDArray[np.float64], blocks: NDArray[np.float64]
) -> NDArray[np.float64]:
    """The DLT normal matrices of N points, flattened: ``(N, 16)``.

    Args:
        xy: (N, V, 2) normalised coordinates (finite where w > 0).
        w: (N, V) weights, 0 = unused view.
        blocks: (4 V, 16) from ``_view_quadratics``.
    """
    use = w > 0
    w2 = np.where(use, w * w, 0.0)
    x = np.where(use, xy[:, :, 0], 0.0)
    y = np.where(use, xy[:, :, 1], 0.0)
    feats = np.concatenate([w2 * (x * x + y * y), -w2 * x, -w2 * y, w2], axis=1)
    if len(feats) < _ONE_THREAD_FROM:
        m: NDArray[np.float64] = feats @ blocks
        return m
    # a memory-bound (N, 4V) x (4V, 16) product: BLAS threads only add waiting (ten
    # times slower on a busy two-core machine)
    with _blas().limit(limits=1, user_api="blas"):
        m = feats @ blocks
    return m


def _well_posed(
    m: NDArray[np.float64], det: NDArray[np.float64], w: NDArray[np.float64]
) -> NDArray[np.bool_]:
    """Points with two or more views and a non-degenerate 3x3 block (N,)."""
    trace = m[:, 0] + m[:, 5] + m[:, 10]
    out: NDArray[np.bool_] = (np.count_nonzero(w > 0, axis=1) >= 2) & (
        np.abs(det) > 1e-12 * trace**3
    )
    return out


def solve_dlt(
    xy: NDArray[np.float64], w: NDArray[np.float64], ext: NDArray[np.float64]
) -> NDArray[np.float64]:
    """Solve N weighted DLT systems.

    The homogeneous least-squares solution (the right singular vector of the stacked
    ``(2 V, 4)`` system with the smallest singular value) is the eigenvector of the 4x4
    normal matrix ``M = [[B, c], [cᵀ, d]]`` with the smallest eigenvalue ``λ``; with the
    last coordinate fixed to 1 it solves ``(B - λ I) y = -c``. ``M`` is built for all
    points at once by one matrix product (``_view_quadratics``), ``y`` by closed-form
    3x3 solves, and ``λ`` by ``_RAYLEIGH_STEPS`` Rayleigh-quotient steps from 0, which reach
    the SVD's answer to rounding (the world is scaled so that ``λ`` is far below B's other
    eigenvalues; the worst of 12,000 two-view points needs 4 steps).

    Args:
        xy: (N, V, 2) normalised coordinates (finite where w > 0).
        w: (N, V) weights, 0 = unused view.
        ext: (V, 3, 4) extrinsics in the scaled world.

    Returns:
        (N, 3) scaled world points; NaN where fewer than 2 views have weight > 0.
    """
    n = w.shape[0]
    blocks = _view_quadratics(ext)
    out = np.full((n, 3), np.nan)
    for start in range(0, n, _CHUNK):
        sl = slice(start, start + _CHUNK)
        m = _normal_matrices(xy[sl], w[sl], blocks)
        lam = np.zeros(m.shape[0])
        for _ in range(_RAYLEIGH_STEPS):
            pts, det = _solve_sym3(m, lam)
            lam = _rayleigh(m, pts)
        pts[~_well_posed(m, det, w[sl])] = np.nan
        out[sl] = pts
    return out


def solve_pair(
    xy: NDArray[np.float64], use: NDArray[np.bool_], ext: NDArray[np.float64]
) -> NDArray[np.float64]:
    """Two-view linear triangulation for RANSAC hypotheses (fast, not the final fit).

    Solves the inhomogeneous form of the DLT (last homogeneous coordinate fixed to 1) by
    closed-form 3x3 normal equations; the final point is refit by ``solve_dlt``.

    Args:
        xy: (N, 2, 2) normalised coordinates in the two views.
        use: (N,) whether both views observed the point.
        ext: (2, 3, 4) extrinsics in the scaled world.

    Returns:
        (N, 3) scaled world points; NaN where unused or degenerate.
    """
    w = np.repeat(use.astype(np.float64)[:, None], 2, axis=1)
    m = _normal_matrices(xy, w, _view_quadratics(ext))
    out, det = _solve_sym3(m, np.zeros(len(m)))
    out[~_well_posed(m, det, w)] = np.nan
    return out


def pair_consensus(
    cams: list[Camera],
    xy: NDArray[np.float64],
    ext: NDArray[np.float64],
    use: NDArray[np.bool_],
    threshold_px: float,
) -> NDArray[np.bool_]:
    """RANSAC's consensus sets: for each point, the inlier views of its best view pair.

    Hypotheses are screened in undistorted normalised coordinates, the offset mapped to
    pixels by the lens Jacobian at the observation (first order; exact for the pinhole
    part): one matrix product per view pair instead of a distorted projection per view.

    Args:
        cams: the views.
        xy: ``(N, V, 2)`` undistorted normalised coordinates.
        ext: ``(V, 3, 4)`` extrinsics in the scaled world.
        use: ``(N, V)`` usable observations.
        threshold_px: inlier bound, pixels.

    Returns:
        ``(N, V)`` bool inlier views of the winning pair (more inliers first, then the
        lower mean inlier error).
    """
    v = len(cams)
    jac = pixel_jacobians(cams, xy)  # (N, V, 2, 2)
    best_key = np.full(len(xy), -np.inf)
    best_inl = np.zeros((len(xy), v), dtype=bool)
    for i, j in itertools.combinations(range(v), 2):
        y = solve_pair(xy[:, [i, j]], use[:, i] & use[:, j], ext[[i, j]])
        cam_xyz = np.einsum("vij,nj->nvi", ext[:, :, :3], y) + ext[:, :, 3]  # (N, V, 3)
        depth = cam_xyz[..., 2]
        with np.errstate(invalid="ignore", divide="ignore"):
            offset = cam_xyz[..., :2] / depth[..., None] - xy
        err = np.linalg.norm(np.einsum("nvij,nvj->nvi", jac, offset), axis=-1)
        err = np.where(depth > 0, err, np.inf)
        inl = use & (err < threshold_px)
        count = inl.sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            mean_err = np.where(inl, err, 0.0).sum(axis=1) / count
        # more inliers first; the error term is < 1, so it only breaks ties
        key = np.where(count > 0, count - 0.999 * mean_err / threshold_px, -np.inf)
        better = key > best_key
        best_key[better] = key[better]
        best_inl[better] = inl[better]
    return best_inl


def ransac_points(
    cams: list[Camera],
    ext: NDArray[np.float64],
    xy: NDArray[np.float64],
    obs: NDArray[np.float64],
    w: NDArray[np.float64],
    threshold_px: float,
    min_views: int,
) -> tuple[NDArray[np.float64], NDArray[np.bool_], NDArray[np.float64]]:
    """RANSAC over views for N points (``tools.triangulate.triangulate_ransac``'s core).

    All views first: a point whose every usable view reprojects within ``threshold_px``
    after the weighted DLT on all of them keeps that fit (the consensus RANSAC would
    reach); only the others are sampled by view pairs (``pair_consensus``) and refit.

    Args:
        cams: the views.
        ext: ``(V, 3, 4)`` extrinsics in the scaled world.
        xy: ``(N, V, 2)`` undistorted normalised coordinates.
        obs: ``(N, V, 2)`` the same observations in pixels.
        w: ``(N, V)`` weights, 0 where the observation is missing or unused.
        threshold_px: inlier bound, pixels.
        min_views: fewest inlier views a point needs, else it is NaN.

    Returns:
        ``(y (N, 3) scaled world points, inliers (N, V), errors (N, V) px)``; ``y`` and
        ``errors`` NaN where the point has no consensus.
    """
    use = w > 0
    n_use = use.sum(axis=1)
    y = solve_dlt(xy, w, ext)
    err = view_errors(cams, ext, y, obs)
    agree = np.where(use, err < threshold_px, True).all(axis=1) & (n_use >= min_views)
    inl = use & agree[:, None]
    rest = np.flatnonzero(~agree & (n_use >= min_views))
    if rest.size:
        sub = pair_consensus(cams, xy[rest], ext, use[rest], threshold_px)
        sub &= (sub.sum(axis=1) >= min_views)[:, None]
        inl[rest] = sub
        y[rest] = solve_dlt(xy[rest], np.where(sub, w[rest], 0.0), ext)
        err[rest] = view_errors(cams, ext, y[rest], obs[rest])
    none = ~inl.any(axis=1)
    y[none] = np.nan
    err[none] = np.nan
    return y, inl, err
