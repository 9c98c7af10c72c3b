"""Pinhole cameras with lens distortion: projection, undistortion, calibration files, checks.

A ``Camera`` holds one calibrated view in OpenCV's convention: a world point ``X`` (world
units, usually millimetres) maps to camera coordinates ``R @ X + t``, to normalised image
coordinates by division by depth, through the Brown–Conrady distortion ``(k1, k2, p1, p2,
k3)`` and finally to pixels through the intrinsic matrix ``K`` (skew allowed). Projection and
undistortion call OpenCV with an identity intrinsic matrix and apply ``K`` with numpy, because
``cv2.projectPoints`` ignores the skew term that MATLAB calibrations (DANNCE) carry.

File formats: anipose / aniposelib ``calibration.toml`` (read and write) and the DANNCE /
Label3D ``.mat`` calibration (read). ``check_calibration`` flags calibrations that cannot be
right (copied cameras, coincident centres, implausible focal lengths).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import cv2
import numpy as np
from numpy.typing import ArrayLike, NDArray

from ethoagent.errors import InputError
from ethoagent.model.camera import Camera, check_cameras
from ethoagent.model.checks import CheckResult

_ZERO3 = np.zeros(3)
_EYE3 = np.eye(3)
# OpenCV's default stops after 5 fixed-point iterations, which leaves ~1e-4 normalised
# units of error under strong distortion; triangulation to micrometres needs convergence.
_UNDISTORT_CRITERIA = (cv2.TERM_CRITERIA_COUNT | cv2.TERM_CRITERIA_EPS, 200, 1e-15)

# --------------------------------------------------------------------------- projection


def _points_3d(points_3d: ArrayLike) -> NDArray[np.float64]:
    pts = np.asarray(points_3d, dtype=np.float64)
    if pts.ndim < 1 or pts.shape[-1] != 3:
        raise InputError(
            f"points_3d must have shape (..., 3) (world units); found shape {pts.shape}.",
            fix="put x, y, z on the last axis.",
        )
    return pts


def _camera_coordinates(camera: Camera, points: NDArray[np.float64]) -> NDArray[np.float64]:
    out: NDArray[np.float64] = points @ camera.R.T + camera.tvec
    return out


def _distort_normalised(camera: Camera, points: NDArray[np.float64]) -> NDArray[np.float64]:
    """(N, 3) finite world points -> (N, 2) distorted normalised image coordinates."""
    if points.shape[0] == 0:
        return np.empty((0, 2))
    img, _ = cv2.projectPoints(
        np.ascontiguousarray(points.reshape(-1, 1, 3)), camera.rvec, camera.tvec, _EYE3, camera.dist
    )
    return np.asarray(img, dtype=np.float64).reshape(-1, 2)


def _to_pixels(camera: Camera, xy: NDArray[np.float64]) -> NDArray[np.float64]:
    k = camera.matrix
    out: NDArray[np.float64] = xy @ k[:2, :2].T + k[:2, 2]
    return out


def project_points(
    cameras: Sequence[Camera], points_3d: ArrayLike, *, nan_behind: bool = True
) -> NDArray[np.float64]:
    """Project world points into every camera, with lens distortion.

    Args:
        cameras: the views, in order.
        points_3d: ``(..., 3)`` float64, world units (mm); NaN = missing.
        nan_behind: return NaN for points at or behind a camera's image plane (their
            projection is a meaningless mirror image); see ``behind_camera``.

    Returns:
        ``(..., views, 2)`` float64 pixels; NaN where the 3D point is missing (or behind).
    """
    cams = check_cameras(cameras)
    pts = _points_3d(points_3d)
    lead = pts.shape[:-1]
    flat = pts.reshape(-1, 3)
    ok = np.all(np.isfinite(flat), axis=1)
    out = np.full((flat.shape[0], len(cams), 2), np.nan)
    for v, cam in enumerate(cams):
        good = flat[ok]
        pix = _to_pixels(cam, _distort_normalised(cam, good))
        if nan_behind:
            pix[_camera_coordinates(cam, good)[:, 2] <= 0] = np.nan
        out[ok, v] = pix
    return out.reshape(*lead, len(cams), 2)


def normalised_to_pixels(camera: Camera, xy: ArrayLike) -> NDArray[np.float64]:
    """Apply the lens model to undistorted normalised coordinates.

    The inverse of ``undistort_points``.

    Args:
        camera: the view.
        xy: ``(N, 2)`` float64 undistorted normalised coordinates (x/z, y/z in the camera
            frame); rows must be finite.

    Returns:
        ``(N, 2)`` float64 pixels.
    """
    pts = np.asarray(xy, dtype=np.float64).reshape(-1, 2)
    if pts.shape[0] == 0:
        return np.empty((0, 2))
    cam_xyz = np.ascontiguousarray(np.column_stack([pts, np.ones(len(pts))]).reshape(-1, 1, 3))
    img, _ = cv2.projectPoints(cam_xyz, _ZERO3, _ZERO3, _EYE3, camera.dist)
    return _to_pixels(camera, np.asarray(img, dtype=np.float64).reshape(-1, 2))


def behind_camera(cameras: Sequence[Camera], points_3d: ArrayLike) -> NDArray[np.bool_]:
    """Which points lie at or behind each camera's image plane (depth <= 0).

    Args:
        cameras: the views, in order.
        points_3d: ``(..., 3)`` float64, world units; NaN = missing.

    Returns:
        ``(..., views)`` bool; False where the point is missing.
    """
    cams = check_cameras(cameras)
    pts = _points_3d(points_3d)
    depth = np.stack([_camera_coordinates(c, pts)[..., 2] for c in cams], axis=-1)
    out: NDArray[np.bool_] = depth <= 0
    return out


def undistort_points(camera: Camera, points_2d: ArrayLike) -> NDArray[np.float64]:
    """Map pixel coordinates to undistorted normalised image coordinates.

    Inverts ``K`` (with skew) and the distortion (OpenCV's iterative undistortion, run to
    convergence), so that ``(x, y, 1)`` is the viewing ray in camera coordinates.

    Args:
        camera: the view the points were observed in.
        points_2d: ``(..., 2)`` float64 pixels; NaN = missing.

    Returns:
        ``(..., 2)`` float64 normalised coordinates (dimensionless, ``x/z, y/z``); NaN where
        the input is NaN.
    """
    pts = np.asarray(points_2d, dtype=np.float64)
    if pts.ndim < 1 or pts.shape[-1] != 2:
        raise InputError(
            f"points_2d must have shape (..., 2) in pixels; found shape {pts.shape}.",
            fix="put u, v on the last axis.",
        )
    flat = pts.reshape(-1, 2)
    ok = np.all(np.isfinite(flat), axis=1)
    k = camera.matrix
    y = (flat[ok, 1] - k[1, 2]) / k[1, 1]
    x = (flat[ok, 0] - k[0, 2] - k[0, 1] * y) / k[0, 0]
    xy = np.stack([x, y], axis=-1)
    if xy.shape[0] and np.any(camera.dist != 0):
        src = np.ascontiguousarray(xy.reshape(-1, 1, 2))
        if hasattr(cv2, "undistortPointsIter"):  # OpenCV 4.x spelling
            und = cv2.undistortPointsIter(
                src, _EYE3, camera.dist, _EYE3, _EYE3, _UNDISTORT_CRITERIA
            )
        else:
            und = cv2.undistortPoints(
                src, _EYE3, camera.dist, R=_EYE3, P=_EYE3, criteria=_UNDISTORT_CRITERIA
            )
        xy = np.asarray(und, dtype=np.float64).reshape(-1, 2)
    out = np.full(flat.shape, np.nan)
    out[ok] = xy
    return out.reshape(pts.shape)


# --------------------------------------------------------------------------- synthetic rigs


def _look_at(center: NDArray[np.float64], target: NDArray[np.float64]) -> NDArray[np.float64]:
    """World -> camera rotation for a camera at ``center`` looking at ``target`` (z up)."""
    z = target - center
    z = z / np.linalg.norm(z)
    down = np.array([0.0, 0.0, -1.0])
    if abs(float(z @ down)) > 0.99:  # looking straight down: image "down" is world -y
        down = np.array([0.0, -1.0, 0.0])
    x = np.cross(down, z)
    x /= np.linalg.norm(x)
    y = np.cross(z, x)
    return np.stack([x, y, z])


def make_ring_cameras(
    n_views: int = 6,
    *,
    radius_mm: float = 400.0,
    height_mm: float = 300.0,
    target: tuple[float, float, float] = (0.0, 0.0, 0.0),
    size: tuple[int, int] = (320, 240),
    focal_px: float = 280.0,
    distortion: tuple[float, float, float, float, float] = (-0.05, 0.01, 0.0, 0.0, 0.0),
    top_view: bool = True,
    seed: int | None = None,
) -> list[Camera]:
    """Cameras on a ring around an arena (plus one overhead), all looking at ``target``.

    World frame: z up, millimetres. Ring cameras sit at ``height_mm`` above ``target`` and
    ``radius_mm`` from its vertical axis, evenly spaced in azimuth; the overhead camera (if
    ``top_view``) sits at the same distance straight above. With ``seed`` the azimuths,
    heights and focal lengths are jittered a little (reproducibly) to avoid a perfectly
    symmetric rig.

    Args:
        n_views: total number of cameras, including the overhead one (>= 2).
        radius_mm: horizontal distance of ring cameras from the target, mm.
        height_mm: height of ring cameras above the target, mm.
        target: point all cameras look at, ``(x, y, z)`` mm.
        size: image size ``(width, height)``, pixels.
        focal_px: focal length, pixels.
        distortion: ``(k1, k2, p1, p2, k3)`` for every camera.
        top_view: make the last camera an overhead one.
        seed: jitter seed; ``None`` gives the exact symmetric rig.

    Returns:
        ``n_views`` cameras named ``ring_0`` … and ``top``.
    """
    if n_views < 2:
        raise InputError(
            f"make_ring_cameras needs n_views >= 2; found {n_views}.",
            fix="triangulation needs at least two views.",
        )
    if radius_mm <= 0 or focal_px <= 0:
        raise InputError(
            f"radius_mm and focal_px must be positive; found {radius_mm}, {focal_px}.",
            fix="pass positive values.",
        )
    rng = np.random.default_rng(seed) if seed is not None else None
    tgt = np.asarray(target, dtype=np.float64)
    n_ring = n_views - 1 if top_view else n_views
    w, h = size
    cams: list[Camera] = []
    for i in range(n_views):
        f = focal_px
        if i < n_ring:
            az = 2 * math.pi * i / n_ring
            zh = height_mm
            if rng is not None:
                az += rng.uniform(-0.1, 0.1)
                zh *= rng.uniform(0.9, 1.1)
                f *= rng.uniform(0.95, 1.05)
            centre = tgt + np.array([radius_mm * math.cos(az), radius_mm * math.sin(az), zh])
            name = f"ring_{i}"
        else:
            centre = tgt + np.array([0.0, 0.0, math.hypot(radius_mm, height_mm)])
            name = "top"
        r = _look_at(centre, tgt)
        k = np.array([[f, 0.0, (w - 1) / 2], [0.0, f, (h - 1) / 2], [0.0, 0.0, 1.0]])
        cams.append(Camera.from_rotation(name, k, distortion, r, -r @ centre, (w, h)))
    return cams


# --------------------------------------------------------------------------- checks


def check_calibration(
    cameras: Sequence[Camera],
    *,
    focal_range: tuple[float, float] = (0.2, 20.0),
    rtol: float = 1e-9,
) -> list[CheckResult]:
    """Flag calibrations that cannot describe a real multi-camera rig.

    Checks (one ``CheckResult`` each; ``value`` counts the offending cameras or pairs and
    ``threshold`` is 0):

    - ``calibration.n_views``: at least two cameras.
    - ``calibration.finite``: every parameter is finite.
    - ``calibration.focal_length``: ``fx / width`` and ``fy / width`` lie in ``focal_range``
      (0.2–20 is a horizontal field of view between about 3° and 136°).
    - ``calibration.principal_point``: ``(cx, cy)`` lies inside the image.
    - ``calibration.distinct_parameters``: no two cameras share all intrinsics and
      extrinsics (a copied camera block in the file).
    - ``calibration.distinct_centres``: no two camera centres coincide.

    Args:
        cameras: the views.
        focal_range: plausible ``(min, max)`` of focal length over image width.
        rtol: relative tolerance for "identical" / "coincident".

    Returns:
        The check results, in the order above.
    """
    cams = list(cameras)
    names = [f"{c.name!r} (#{i})" for i, c in enumerate(cams)]
    results: list[CheckResult] = []

    results.append(
        CheckResult(
            name="calibration.n_views",
            passed=len(cams) >= 2,
            value=float(len(cams)),
            threshold=2.0,
            message=f"{len(cams)} camera(s); triangulation needs at least 2.",
        )
    )

    def _result(name: str, bad: list[str], ok_msg: str, bad_msg: str) -> CheckResult:
        return CheckResult(
            name=name,
            passed=not bad,
            value=float(len(bad)),
            threshold=0.0,
            message=ok_msg if not bad else bad_msg + "; ".join(bad) + ".",
        )

    bad = [
        names[i]
        for i, c in enumerate(cams)
        if not all(np.all(np.isfinite(a)) for a in (c.matrix, c.dist, c.rvec, c.tvec))
    ]
    results.append(
        _result(
            "calibration.finite",
            bad,
            "all camera parameters are finite.",
            "non-finite parameters (recalibrate these cameras): ",
        )
    )

    lo, hi = focal_range
    bad = []
    for i, c in enumerate(cams):
        rel = np.array(c.focal) / c.size[0]
        if not np.all((rel >= lo) & (rel <= hi)):
            bad.append(f"{names[i]} fx/width={rel[0]:.3g}, fy/width={rel[1]:.3g}")
    results.append(
        _result(
            "calibration.focal_length",
            bad,
            f"focal lengths are between {lo} and {hi} image widths.",
            f"focal length outside {lo}-{hi} image widths (wrong units or image size?): ",
        )
    )

    bad = []
    for i, c in enumerate(cams):
        cx, cy = c.matrix[0, 2], c.matrix[1, 2]
        if not (0 <= cx <= c.size[0] and 0 <= cy <= c.size[1]):
            bad.append(f"{names[i]} (cx, cy)=({cx:.1f}, {cy:.1f}) for size {c.size}")
    results.append(
        _result(
            "calibration.principal_point",
            bad,
            "principal points lie inside the images.",
            "principal point outside the image (wrong image size or transposed K?): ",
        )
    )

    params = [np.concatenate([c.matrix.ravel(), c.dist, c.rvec, c.tvec]) for c in cams]
    centres = [c.center for c in cams]
    spread = max((float(np.linalg.norm(a - b)) for a in centres for b in centres), default=0.0)
    same_params: list[str] = []
    same_centre: list[str] = []
    for i in range(len(cams)):
        for j in range(i + 1, len(cams)):
            if cams[i].size == cams[j].size and np.allclose(
                params[i], params[j], rtol=rtol, atol=rtol
            ):
                same_params.append(f"{names[i]} and {names[j]}")
            if float(np.linalg.norm(centres[i] - centres[j])) <= rtol * max(spread, 1.0):
                same_centre.append(f"{names[i]} and {names[j]}")
    results.append(
        _result(
            "calibration.distinct_parameters",
            same_params,
            "no two cameras share all parameters.",
            "cameras with identical intrinsics and extrinsics (a copied block in the "
            "calibration file? recalibrate or restore the right camera): ",
        )
    )
    results.append(
        _result(
            "calibration.distinct_centres",
            same_centre,
            "camera centres are distinct.",
            "cameras at the same position (triangulation between them is degenerate): ",
        )
    )
    return results
