"""Calibration refinement by sparse bundle adjustment on the animal's own 2D points.

As aniposelib's ``CameraGroup.bundle_adjust_iter`` does for anipose users: the extrinsics
of every camera but the first (optionally each camera's focal length too) and a sample of
3D points are adjusted together to minimise the reprojection error of confident 2D
observations seen by at least two cameras, with a robust loss (soft-L1 or Huber) so that
mislabelled points do not pull the cameras. ``scipy.optimize.least_squares`` solves it with
the Jacobian's sparsity (each residual depends on one camera and one point).

Gauge: the first camera stays where it is (position and orientation of the world), and the
result is scaled about that camera's centre so that the mean distance between camera
centres is unchanged: the calibration keeps its unit.

Pure: cameras and arrays in, cameras and per-camera errors out. The command writes the
result with ``ethoagent.io.calibration.write_calibration`` (``calibration.refined.toml``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from itertools import combinations
from typing import Any, Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ethoagent.errors import InputError
from ethoagent.model.camera import Camera, check_cameras
from ethoagent.tools.triangulate import reprojection_errors, triangulate_dlt, triangulate_ransac

__all__ = ["RefineResult", "median_errors", "refine_calibration"]


@dataclass(frozen=True, eq=False)
class RefineResult:
    """Outcome of ``refine_calibration``.

    Attributes:
        cameras: the refined cameras, in the same order and with the same names.
        before_px: camera name -> median reprojection error (px) before refinement.
        after_px: camera name -> median reprojection error (px) after.
        n_points: 3D points used in the adjustment.
        n_observations: 2D observations used.
        converged: whether the solver stopped on its tolerance (not its iteration limit).
    """

    cameras: list[Camera]
    before_px: dict[str, float]
    after_px: dict[str, float]
    n_points: int
    n_observations: int
    converged: bool

    def metadata(self) -> dict[str, Any]:
        """Flat metadata for ``write_calibration``: what was refined and the errors."""
        meta: dict[str, Any] = {
            "refined_by": "ethoagent bundle adjustment",
            "refine_points": self.n_points,
            "refine_observations": self.n_observations,
        }
        for name in self.before_px:
            meta[f"error_before_px_{name}"] = round(self.before_px[name], 3)
            meta[f"error_after_px_{name}"] = round(self.after_px[name], 3)
        return meta

    def messages(self) -> list[str]:
        """One line per camera: median reprojection error before -> after."""
        return [
            f"{name}: {self.before_px[name]:.2f} px -> {self.after_px[name]:.2f} px"
            for name in self.before_px
        ]


def median_errors(cameras: Sequence[Camera], points_2d: ArrayLike) -> dict[str, float]:
    """Median reprojection error per camera (px) after a DLT over every camera.

    Args:
        cameras: the views, in the order of the ``views`` axis.
        points_2d: ``(frames, views, keypoints, 2)`` pixels, NaN = missing.

    Returns:
        Camera name -> median px over its observations of points seen by two or more
        cameras (NaN if none).
    """
    cams = check_cameras(cameras, minimum=2)
    pts = np.asarray(points_2d, dtype=np.float64)
    err = reprojection_errors(cams, triangulate_dlt(cams, pts), pts)
    out = {}
    for v, cam in enumerate(cams):
        e = err[:, v][np.isfinite(err[:, v])]
        out[cam.name] = float(np.median(e)) if e.size else float("nan")
    return out


def _rotate(rvecs: NDArray[np.float64], pts: NDArray[np.float64]) -> NDArray[np.float64]:
    """Rotate ``pts`` (N, 3) by Rodrigues vectors ``rvecs`` (N, 3)."""
    theta = np.linalg.norm(rvecs, axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        axis = np.where(theta > 0, rvecs / theta, 0.0)
    cos, sin = np.cos(theta), np.sin(theta)
    dot = np.sum(pts * axis, axis=1, keepdims=True)
    out: NDArray[np.float64] = cos * pts + sin * np.cross(axis, pts) + dot * (1 - cos) * axis
    return out


def _project(
    pts: NDArray[np.float64],
    rvec: NDArray[np.float64],
    tvec: NDArray[np.float64],
    focal_scale: NDArray[np.float64],
    k: NDArray[np.float64],
    dist: NDArray[np.float64],
) -> NDArray[np.float64]:
    """Per observation: world point, camera pose, intrinsics -> distorted pixels (N, 2)."""
    cam = _rotate(rvec, pts) + tvec
    x = cam[:, 0] / cam[:, 2]
    y = cam[:, 1] / cam[:, 2]
    k1, k2, p1, p2, k3 = dist.T
    r2 = x * x + y * y
    radial = 1 + r2 * (k1 + r2 * (k2 + r2 * k3))
    xd = x * radial + 2 * p1 * x * y + p2 * (r2 + 2 * x * x)
    yd = y * radial + p1 * (r2 + 2 * y * y) + 2 * p2 * x * y
    u = focal_scale * (k[:, 0, 0] * xd + k[:, 0, 1] * yd) + k[:, 0, 2]
    v = focal_scale * k[:, 1, 1] * yd + k[:, 1, 2]
    return np.stack([u, v], axis=1)


def _observations(
    cams: list[Camera],
    pts: NDArray[np.float64],
    conf: NDArray[np.float64] | None,
    min_confidence: float,
    max_points: int,
    threshold_px: float,
    seed: int,
) -> tuple[NDArray[np.float64], NDArray[np.intp], NDArray[np.intp], NDArray[np.float64]]:
    """Sampled 3D starting points, and per observation: point index, camera index, pixels."""
    pts = _confident(pts, conf, min_confidence)
    ransac = triangulate_ransac(cams, pts, threshold_px=threshold_px)
    f, v, k, _ = pts.shape
    p3 = ransac.points_3d.reshape(f * k, 3)
    inl = ransac.inliers.transpose(0, 2, 1).reshape(f * k, v)
    good = np.flatnonzero(np.isfinite(p3[:, 0]) & (inl.sum(axis=1) >= 2))
    if good.size > max_points:
        good = np.sort(np.random.default_rng(seed).choice(good, max_points, replace=False))
    obs2d = pts.transpose(0, 2, 1, 3).reshape(f * k, v, 2)[good]
    point_idx, cam_idx = np.nonzero(inl[good])
    return p3[good], point_idx, cam_idx, obs2d[point_idx, cam_idx]


def refine_calibration(
    cameras: Sequence[Camera],
    points_2d: ArrayLike,
    confidence: ArrayLike | None = None,
    *,
    min_confidence: float = 0.5,
    threshold_px: float = 20.0,
    max_points: int = 2000,
    loss: Literal["soft_l1", "huber"] = "soft_l1",
    f_scale_px: float = 2.0,
    refine_focal: bool = False,
    max_nfev: int = 200,
    seed: int = 0,
) -> RefineResult:
    """Refine camera extrinsics (and optionally focal lengths) by sparse bundle adjustment.

    Args:
        cameras: the views, in the order of the ``views`` axis; the first stays fixed.
        points_2d: ``(frames, views, keypoints, 2)`` pixels, NaN = missing.
        confidence: ``(frames, views, keypoints)`` 2D scores, or ``None`` (all used).
        min_confidence: observations scoring below this are left out.
        threshold_px: RANSAC inlier bound for the starting 3D points and the observations
            used (gross outliers never enter the adjustment).
        max_points: most 3D points sampled (keypoint-frames seen by two or more inliers).
        loss: robust loss of ``scipy.optimize.least_squares``.
        f_scale_px: where the robust loss turns from quadratic to linear, px.
        refine_focal: also adjust each camera's focal length (one scale per camera).
        max_nfev: most solver evaluations.
        seed: sampling seed.

    Returns:
        Refined cameras and the median error per camera before and after (``median_errors``
        on all of ``points_2d``, confident points only).

    Raises:
        InputError: with fewer than two cameras or too few shared points to adjust.
    """
    cams = check_cameras(cameras, minimum=2)
    pts = np.asarray(points_2d, dtype=np.float64)
    conf = None if confidence is None else np.asarray(confidence, dtype=np.float64)
    x3, p_idx, c_idx, obs = _observations(
        cams, pts, conf, min_confidence, max_points, threshold_px, seed
    )
    if x3.shape[0] < 10 or len(set(c_idx.tolist())) < len(cams):
        raise InputError(
            f"too few confident 2D points shared by the cameras to refine the calibration "
            f"({x3.shape[0]} 3D points; cameras seen: "
            f"{sorted({cams[c].name for c in c_idx.tolist()})} of {[c.name for c in cams]}).",
            fix="refine on more frames, lower min_confidence, or recalibrate with a board.",
        )
    params, converged = _adjust(
        cams,
        x3,
        p_idx,
        c_idx,
        obs,
        refine_focal=refine_focal,
        loss=loss,
        f_scale_px=f_scale_px,
        max_nfev=max_nfev,
    )
    refined = _rescaled(cams, params, refine_focal)
    usable = _confident(pts, conf, min_confidence)
    return RefineResult(
        cameras=refined,
        before_px=median_errors(cams, usable),
        after_px=median_errors(refined, usable),
        n_points=x3.shape[0],
        n_observations=int(obs.shape[0]),
        converged=converged,
    )


def _confident(
    pts: NDArray[np.float64], conf: NDArray[np.float64] | None, min_confidence: float
) -> NDArray[np.float64]:
    """``pts`` with observations scoring below ``min_confidence`` set to NaN."""
    if conf is None:
        return pts
    keep = np.nan_to_num(conf, nan=1.0) >= min_confidence
    out: NDArray[np.float64] = np.where(keep[..., None], pts, np.nan)
    return out


def _adjust(
    cams: list[Camera],
    x3: NDArray[np.float64],
    p_idx: NDArray[np.intp],
    c_idx: NDArray[np.intp],
    obs: NDArray[np.float64],
    *,
    refine_focal: bool,
    loss: str,
    f_scale_px: float,
    max_nfev: int,
) -> tuple[NDArray[np.float64], bool]:
    """Solve the adjustment: per camera ``(rvec, tvec[, focal scale])`` rows, converged."""
    from scipy.optimize import least_squares

    n_cam, n_pts = len(cams), x3.shape[0]
    per_cam = 7 if refine_focal else 6
    k_all = np.stack([c.matrix for c in cams])
    d_all = np.stack([c.dist for c in cams])
    cam0 = np.concatenate([[*c.rvec, *c.tvec, 1.0][:per_cam] for c in cams])

    def unpack(x: NDArray[np.float64]) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        free = x[: (n_cam - 1) * per_cam]
        params = np.concatenate([cam0[:per_cam], free]).reshape(n_cam, per_cam)
        return params, x[(n_cam - 1) * per_cam :].reshape(n_pts, 3)

    def residuals(x: NDArray[np.float64]) -> NDArray[np.float64]:
        params, points = unpack(x)
        scale = params[c_idx, 6] if refine_focal else np.ones(c_idx.size)
        proj = _project(
            points[p_idx],
            params[c_idx, :3],
            params[c_idx, 3:6],
            scale,
            k_all[c_idx],
            d_all[c_idx],
        )
        out: NDArray[np.float64] = (proj - obs).ravel()
        return out

    sparsity = _sparsity(c_idx, p_idx, n_cam, per_cam, n_pts)
    x0 = np.concatenate([cam0[per_cam:], x3.ravel()])
    # typical step per parameter: 0.01 rad, 1 % of the rig's size, 1 % of focal, 1 unit
    size = float(np.median([np.linalg.norm(c.tvec) for c in cams])) or 1.0
    step = np.array([0.01, 0.01, 0.01, size / 100, size / 100, size / 100, 0.01])[:per_cam]
    x_scale = np.concatenate([np.tile(step, n_cam - 1), np.full(3 * n_pts, size / 100)])
    solved = least_squares(
        residuals,
        x0,
        jac_sparsity=sparsity,
        loss=loss,
        f_scale=f_scale_px,
        x_scale=x_scale,
        method="trf",
        max_nfev=max_nfev,
    )
    params, _ = unpack(solved.x)
    return params, bool(solved.status > 0)


def _sparsity(
    c_idx: NDArray[np.intp], p_idx: NDArray[np.intp], n_cam: int, per_cam: int, n_pts: int
) -> Any:
    """Which parameters each residual depends on: its camera's (unless fixed), its point's."""
    from scipy.sparse import coo_matrix

    n_obs = c_idx.size
    rows: list[NDArray[np.intp]] = []
    cols: list[NDArray[np.intp]] = []
    moving = np.flatnonzero(c_idx > 0)
    for r in (0, 1):
        for j in range(per_cam):
            rows.append(2 * moving + r)
            cols.append((c_idx[moving] - 1) * per_cam + j)
        for j in range(3):
            rows.append(2 * np.arange(n_obs) + r)
            cols.append((n_cam - 1) * per_cam + 3 * p_idx + j)
    row, col = np.concatenate(rows), np.concatenate(cols)
    shape = (2 * n_obs, (n_cam - 1) * per_cam + 3 * n_pts)
    return coo_matrix((np.ones(row.size, dtype=np.int8), (row, col)), shape=shape).tocsr()


def _focal_scaled(matrix: NDArray[np.float64], scale: float) -> NDArray[np.float64]:
    out = matrix.copy()
    out[0, :2] *= scale
    out[1, 1] *= scale
    return out


def _rescaled(cams: list[Camera], params: NDArray[np.float64], focal: bool) -> list[Camera]:
    """Cameras from adjusted parameters, scaled about the first camera's centre.

    The scale keeps the mean distance between camera centres (the calibration's unit).
    """
    moved = [
        replace(
            c,
            rvec=params[i, :3],
            tvec=params[i, 3:6],
            matrix=_focal_scaled(c.matrix, float(params[i, 6])) if focal else c.matrix,
        )
        for i, c in enumerate(cams)
    ]

    def spread(cs: list[Camera]) -> float:
        return float(np.mean([np.linalg.norm(a.center - b.center) for a, b in combinations(cs, 2)]))

    s = spread(cams) / spread(moved)
    origin = moved[0].center
    out = []
    for c in moved:
        centre = origin + s * (c.center - origin)
        out.append(replace(c, tvec=-c.R @ centre))
    return out
