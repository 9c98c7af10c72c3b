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

import json
import math
import os
import re
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from numpy.typing import ArrayLike, NDArray

from ethoagent.atomic import atomic_write_text
from ethoagent.errors import InputError
from ethoagent.tools.checks import CheckResult

__all__ = [
    "Camera",
    "behind_camera",
    "check_calibration",
    "make_ring_cameras",
    "project_points",
    "read_calibration",
    "read_calibration_metadata",
    "read_dannce_calibration",
    "undistort_points",
    "write_calibration",
]

_ZERO3 = np.zeros(3)
_EYE3 = np.eye(3)
# OpenCV's default stops after 5 fixed-point iterations, which leaves ~1e-4 normalised
# units of error under strong distortion; triangulation to micrometres needs convergence.
_UNDISTORT_CRITERIA = (cv2.TERM_CRITERIA_COUNT | cv2.TERM_CRITERIA_EPS, 200, 1e-15)


def _float_array(value: ArrayLike, shape: tuple[int, ...], what: str) -> NDArray[np.float64]:
    try:
        arr = np.array(value, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise InputError(
            f"{what} must be numbers of shape {shape}; found {value!r}.",
            fix="pass a numeric array of that shape.",
        ) from exc
    if arr.shape != shape:
        raise InputError(
            f"{what} must have shape {shape}; found shape {arr.shape}.",
            fix="pass an array of that shape.",
        )
    if not np.all(np.isfinite(arr)):
        raise InputError(
            f"{what} contains NaN or infinite values: {arr.tolist()}.",
            fix="recalibrate the camera or correct the calibration file.",
        )
    arr.setflags(write=False)
    return arr


@dataclass(frozen=True, repr=False, eq=False)
class Camera:
    """One calibrated camera (OpenCV pinhole model with Brown–Conrady distortion).

    Attributes:
        name: camera name, e.g. ``"back"`` or ``"Camera1"``.
        matrix: intrinsic matrix ``K`` (3, 3) float64, pixels:
            ``[[fx, skew, cx], [0, fy, cy], [0, 0, 1]]``.
        dist: distortion ``(k1, k2, p1, p2, k3)`` (5,) float64, dimensionless (OpenCV order).
        rvec: Rodrigues rotation (3,) float64, radians, world -> camera.
        tvec: translation (3,) float64, world units (mm unless the calibration says
            otherwise), world -> camera: ``x_cam = R @ X + tvec``.
        size: image size ``(width, height)`` in pixels.
    """

    name: str
    matrix: NDArray[np.float64]
    dist: NDArray[np.float64]
    rvec: NDArray[np.float64]
    tvec: NDArray[np.float64]
    size: tuple[int, int]

    def __post_init__(self) -> None:
        what = f"camera {self.name!r}"
        if not isinstance(self.name, str):
            raise InputError(
                f"camera name must be a string; found {self.name!r}.",
                fix="give every camera a name such as 'cam_0'.",
            )
        k = _float_array(self.matrix, (3, 3), f"{what}: intrinsic matrix")
        dist = np.asarray(self.dist, dtype=np.float64).ravel()
        if dist.size > 5:
            raise InputError(
                f"{what}: distortion has {dist.size} coefficients; only (k1, k2, p1, p2, k3) "
                "are supported.",
                fix="refit with OpenCV's 5-coefficient model (no rational/thin-prism terms).",
            )
        dist = _float_array(np.pad(dist, (0, 5 - dist.size)), (5,), f"{what}: distortion")
        rvec = _float_array(np.asarray(self.rvec, dtype=np.float64).ravel(), (3,), f"{what}: rvec")
        tvec = _float_array(np.asarray(self.tvec, dtype=np.float64).ravel(), (3,), f"{what}: tvec")
        if k[0, 0] <= 0 or k[1, 1] <= 0:
            raise InputError(
                f"{what}: focal lengths must be positive; found fx={k[0, 0]}, fy={k[1, 1]} px.",
                fix="check the intrinsic matrix (is it transposed?).",
            )
        if not np.allclose(k[2], [0.0, 0.0, 1.0], atol=1e-12) or abs(k[1, 0]) > 1e-12:
            raise InputError(
                f"{what}: intrinsic matrix must be upper triangular with last row (0, 0, 1); "
                f"found {k.tolist()}.",
                fix="transpose a MATLAB-convention matrix (use read_dannce_calibration for "
                "DANNCE/Label3D files).",
            )
        try:
            width, height = (int(v) for v in self.size)
        except (TypeError, ValueError) as exc:
            raise InputError(
                f"{what}: size must be (width, height) in pixels; found {self.size!r}.",
                fix="give the image size as two positive integers.",
            ) from exc
        if width <= 0 or height <= 0 or (width, height) != tuple(self.size):
            raise InputError(
                f"{what}: size must be two positive integers (width, height); found {self.size!r}.",
                fix="give the image size in whole pixels.",
            )
        object.__setattr__(self, "matrix", k)
        object.__setattr__(self, "dist", dist)
        object.__setattr__(self, "rvec", rvec)
        object.__setattr__(self, "tvec", tvec)
        object.__setattr__(self, "size", (width, height))

    @classmethod
    def from_rotation(
        cls,
        name: str,
        matrix: ArrayLike,
        dist: ArrayLike,
        rotation: ArrayLike,
        tvec: ArrayLike,
        size: tuple[int, int],
    ) -> Camera:
        """Build a camera from a rotation matrix instead of a Rodrigues vector.

        Args:
            name: camera name.
            matrix: intrinsic matrix (3, 3), pixels.
            dist: distortion ``(k1, k2, p1, p2, k3)``, up to 5 values (missing ones are 0).
            rotation: rotation matrix (3, 3), world -> camera, determinant +1.
            tvec: translation (3,), world units.
            size: image size ``(width, height)`` in pixels.
        """
        r = _float_array(rotation, (3, 3), f"camera {name!r}: rotation matrix")
        if not np.allclose(r @ r.T, _EYE3, atol=1e-6) or np.linalg.det(r) <= 0:
            raise InputError(
                f"camera {name!r}: rotation matrix is not a proper rotation "
                f"(R R^T != I or det <= 0): {r.tolist()}.",
                fix="check whether the matrix is transposed or mirrored.",
            )
        rvec, _ = cv2.Rodrigues(np.ascontiguousarray(r))
        return cls(
            name=name,
            matrix=np.asarray(matrix, dtype=np.float64),
            dist=np.asarray(dist, dtype=np.float64),
            rvec=np.asarray(rvec, dtype=np.float64).ravel(),
            tvec=np.asarray(tvec, dtype=np.float64),
            size=size,
        )

    @cached_property
    def R(self) -> NDArray[np.float64]:  # noqa: N802 - the conventional name of the matrix
        """Rotation matrix (3, 3) float64, world -> camera."""
        r, _ = cv2.Rodrigues(self.rvec)
        out = np.asarray(r, dtype=np.float64)
        out.setflags(write=False)
        return out

    @property
    def extrinsic(self) -> NDArray[np.float64]:
        """``[R | t]`` (3, 4) float64: world (world units) -> camera coordinates."""
        return np.hstack([self.R, self.tvec[:, None]])

    @property
    def P(self) -> NDArray[np.float64]:  # noqa: N802 - the conventional name of the matrix
        """Projection matrix ``K [R | t]`` (3, 4) float64, world units -> pixels (no distortion)."""
        out: NDArray[np.float64] = self.matrix @ self.extrinsic
        return out

    @property
    def center(self) -> NDArray[np.float64]:
        """Camera centre (3,) float64 in world coordinates and units: ``-R^T t``."""
        out: NDArray[np.float64] = -self.R.T @ self.tvec
        return out

    @property
    def focal(self) -> tuple[float, float]:
        """Focal lengths ``(fx, fy)`` in pixels."""
        return float(self.matrix[0, 0]), float(self.matrix[1, 1])

    def __repr__(self) -> str:
        c = self.center
        return (
            f"Camera({self.name!r}, {self.size[0]}x{self.size[1]} px, "
            f"f={self.matrix[0, 0]:.1f} px, centre=({c[0]:.1f}, {c[1]:.1f}, {c[2]:.1f}))"
        )


# --------------------------------------------------------------------------- projection


def _check_cameras(cameras: Sequence[Camera], minimum: int = 1) -> list[Camera]:
    cams = list(cameras)
    if len(cams) < minimum or not all(isinstance(c, Camera) for c in cams):
        found = ", ".join(type(c).__name__ for c in cams) or "none"
        raise InputError(
            f"expected at least {minimum} Camera object(s); found {len(cams)} ({found}).",
            fix="load cameras with read_calibration() or read_dannce_calibration().",
        )
    return cams


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
    cams = _check_cameras(cameras)
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
    """Apply the lens model to undistorted normalised coordinates (the inverse of
    ``undistort_points``).

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
    cams = _check_cameras(cameras)
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


# --------------------------------------------------------------------------- anipose toml

_CAM_SECTION = re.compile(r"^cam_(\d+)$")
_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")


def _load_toml(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise InputError(
            f"calibration file {path} not found.",
            fix="pass the path of an anipose calibration.toml (run anipose calibrate first).",
        )
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise InputError(
            f"calibration file {path} is not valid TOML: {exc}.",
            fix="regenerate it with anipose/aniposelib or fix the syntax.",
        ) from exc


def read_calibration(path: str | os.PathLike[str]) -> list[Camera]:
    """Read an anipose / aniposelib ``calibration.toml``.

    Layout: one ``[cam_N]`` table per camera with ``name``, ``size`` ``[width, height]``
    (pixels), ``matrix`` (3×3, pixels), ``distortions`` (up to 5, OpenCV order), ``rotation``
    (Rodrigues, 3) and ``translation`` (3, board units — mm when the board was given in mm),
    plus an optional ``[metadata]`` table (see ``read_calibration_metadata``).

    Args:
        path: the ``.toml`` file.

    Returns:
        Cameras ordered by ``N`` in ``cam_N``.
    """
    p = Path(path)
    data = _load_toml(p)
    sections = sorted(
        ((int(m.group(1)), key) for key in data if (m := _CAM_SECTION.match(key))),
    )
    if not sections:
        raise InputError(
            f"calibration file {p} has no [cam_N] tables; found {sorted(data)}.",
            fix="use an anipose calibration.toml ([cam_0], [cam_1], …).",
        )
    cams: list[Camera] = []
    for _, key in sections:
        table = data[key]
        where = f"{p} [{key}]"
        if not isinstance(table, dict):
            raise InputError(f"{where} is not a table.", fix="write it as [{key}] with keys.")
        if table.get("fisheye", False):
            raise InputError(
                f"{where} is a fisheye camera, which is not supported.",
                fix="recalibrate with the pinhole model (anipose calibration fisheye = false).",
            )
        required = ("name", "size", "matrix", "distortions", "rotation", "translation")
        missing = [k for k in required if k not in table]
        if missing:
            raise InputError(
                f"{where} lacks key(s) {missing}; expected {list(required)}.",
                fix="regenerate the calibration with anipose/aniposelib.",
            )
        dist = np.asarray(table["distortions"], dtype=object).ravel()
        if dist.size > 5 and np.any(dist[5:].astype(np.float64) != 0):
            raise InputError(
                f"{where} 'distortions' has {dist.size} non-zero-padded coefficients; "
                "only (k1, k2, p1, p2, k3) are supported.",
                fix="recalibrate with OpenCV's 5-coefficient model.",
            )
        try:
            size = np.asarray(table["size"])
            if size.shape != (2,):
                raise ValueError(f"shape {size.shape}")
            cams.append(
                Camera(
                    name=str(table["name"]),
                    matrix=_float_array(table["matrix"], (3, 3), f"{where} 'matrix'"),
                    dist=_float_array(dist[:5], (min(dist.size, 5),), f"{where} 'distortions'"),
                    rvec=_float_array(table["rotation"], (3,), f"{where} 'rotation'"),
                    tvec=_float_array(table["translation"], (3,), f"{where} 'translation'"),
                    size=(int(size[0]), int(size[1])),
                )
            )
        except (TypeError, ValueError) as exc:
            raise InputError(
                f"{where} 'size' must be [width, height] in pixels; found {table['size']!r}.",
                fix="write size = [ width, height,].",
            ) from exc
        except InputError as exc:
            if str(p) in str(exc):
                raise
            raise InputError(f"{where}: {exc}") from exc
    return cams


def read_calibration_metadata(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The ``[metadata]`` table of an anipose ``calibration.toml`` (empty if absent)."""
    meta = _load_toml(Path(path)).get("metadata", {})
    return dict(meta) if isinstance(meta, dict) else {}


def _toml_value(value: Any, where: str) -> str:
    # Mirrors the `toml` package that anipose writes with: "[ a, b,]" arrays, repr floats.
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        f = float(value)
        if math.isnan(f):
            return "nan"
        if math.isinf(f):
            return "inf" if f > 0 else "-inf"
        return repr(f).replace("e+0", "e+").replace("e-0", "e-")
    if isinstance(value, str):
        return _toml_string(value)
    if isinstance(value, np.ndarray):
        value = value.tolist()
    if isinstance(value, (list, tuple)):
        return "[ " + "".join(_toml_value(v, where) + ", " for v in value).rstrip(" ") + "]"
    raise InputError(
        f"cannot write {where} = {value!r} ({type(value).__name__}) to a calibration file.",
        fix="metadata values must be numbers, strings, booleans or lists of them.",
    )


def _toml_string(text: str) -> str:
    # JSON's escapes are TOML's, except that TOML also requires DEL (U+007F) escaped and
    # takes characters outside the BMP as they are (not as surrogate pairs).
    return json.dumps(text, ensure_ascii=False).replace("\x7f", "\\u007f")


def _toml_key(key: str) -> str:
    return key if _BARE_KEY.match(key) else _toml_string(key)


def write_calibration(
    path: str | os.PathLike[str],
    cameras: Sequence[Camera],
    metadata: Mapping[str, Any] | None = None,
) -> None:
    """Write cameras as an anipose / aniposelib ``calibration.toml`` (atomically).

    The text matches what aniposelib writes (``[cam_N]`` tables with ``name``, ``size``,
    ``matrix``, ``distortions``, ``rotation``, ``translation`` and a ``[metadata]`` table), so
    anipose, sleap-anipose and aniposelib read it back.

    Args:
        path: destination ``.toml``; replaced if it exists.
        cameras: the views, written as ``cam_0``, ``cam_1``, … in this order.
        metadata: flat mapping of numbers, strings, booleans or lists of them.
    """
    cams = _check_cameras(cameras)
    lines: list[str] = []
    for i, c in enumerate(cams):
        where = f"[cam_{i}]"
        lines += [
            f"[cam_{i}]",
            f"name = {_toml_value(c.name, where + ' name')}",
            f"size = {_toml_value(list(c.size), where + ' size')}",
            f"matrix = {_toml_value(c.matrix, where + ' matrix')}",
            f"distortions = {_toml_value(c.dist, where + ' distortions')}",
            f"rotation = {_toml_value(c.rvec, where + ' rotation')}",
            f"translation = {_toml_value(c.tvec, where + ' translation')}",
            "",
        ]
    lines.append("[metadata]")
    for key, value in (metadata or {}).items():
        if isinstance(value, Mapping):
            raise InputError(
                f"metadata[{key!r}] is a table; only flat metadata can be written.",
                fix="flatten it, e.g. {'board_x': 8, 'board_y': 11}.",
            )
        lines.append(f"{_toml_key(str(key))} = {_toml_value(value, f'metadata[{key!r}]')}")
    atomic_write_text(Path(path), "\n".join(lines) + "\n")


# --------------------------------------------------------------------------- DANNCE


def _mat_field(struct: Any, key: str, where: str) -> NDArray[Any]:
    names = getattr(getattr(struct, "dtype", None), "names", None) or ()
    if key not in names:
        raise InputError(
            f"{where} lacks field {key!r}; found {list(names)}.",
            fix="use a DANNCE/Label3D file whose params hold K, RDistort, TDistort, r, t.",
        )
    return np.asarray(struct[key])


def read_dannce_calibration(
    path: str | os.PathLike[str], *, image_size: tuple[int, int] = (1152, 1024)
) -> list[Camera]:
    """Read the cameras of a DANNCE / Label3D ``.mat`` file (e.g. ``label3d_dannce.mat``).

    DANNCE stores MATLAB's row-vector convention: a world point ``X`` (1×3, mm) projects as
    ``[X 1] · [r; t] · K``, i.e. ``x_cam = X r + t``, with ``K`` lower triangular
    (``K[2, 0:2]`` = principal point, ``K[1, 0]`` = skew), followed by radial ``RDistort``
    (k1, k2[, k3]) and tangential ``TDistort`` (p1, p2) distortion in MATLAB's (= OpenCV's)
    model. In OpenCV's convention that is ``R = r.T``, ``tvec = t``, ``K_cv = K.T`` and
    ``dist = (k1, k2, p1, p2, k3)``. Reprojecting the file's ``data_3d`` labels with the
    cameras returned here reproduces its ``data_2d`` to ~1e-12 px.

    Args:
        path: ``.mat`` file with a ``params`` cell array (one struct per camera) and,
            optionally, ``camnames``.
        image_size: ``(width, height)`` pixels. The file does not store it; 1152×1024 is the
            DANNCE markerless-mouse demo video size (all labels fall inside it).

    Returns:
        One camera per entry of ``params``, in file order; units of ``tvec`` are mm.
    """
    p = Path(path)
    if not p.is_file():
        raise InputError(
            f"DANNCE calibration {p} not found.",
            fix="pass a label3d_dannce.mat (or another .mat with a 'params' cell array).",
        )
    from scipy.io import loadmat  # local: scipy.io is slow to import and rarely needed

    try:
        mat = loadmat(str(p))
    except (ValueError, NotImplementedError, OSError) as exc:
        raise InputError(
            f"cannot read {p} as a MATLAB v5 file: {exc}.",
            fix="save it with MATLAB's -v7 (not -v7.3) or pass the right file.",
        ) from exc
    if "params" not in mat:
        raise InputError(
            f"{p} has no 'params' variable; found {sorted(k for k in mat if k[:2] != '__')}.",
            fix="pass a DANNCE/Label3D file (label3d_dannce.mat).",
        )
    params = np.asarray(mat["params"]).ravel()
    names: list[str] = [f"Camera{i + 1}" for i in range(params.size)]
    if "camnames" in mat:
        raw = np.asarray(mat["camnames"]).ravel()
        if raw.size == params.size:
            names = [str(np.asarray(n).ravel()[0]) for n in raw]
    cams: list[Camera] = []
    for i, entry in enumerate(params):
        where = f"{p} params[{i}] ({names[i]})"
        struct = entry
        while isinstance(struct, np.ndarray):  # unwrap MATLAB cells and 1x1 struct arrays
            if struct.size != 1:
                raise InputError(
                    f"{where} holds {struct.size} elements; expected one camera struct.",
                    fix="check that params is a cell array with one struct per camera.",
                )
            struct = struct.ravel()[0]
        k = _mat_field(struct, "K", where)
        r = _mat_field(struct, "r", where)
        t = _mat_field(struct, "t", where).ravel()
        rd = _mat_field(struct, "RDistort", where).ravel().astype(np.float64)
        td = _mat_field(struct, "TDistort", where).ravel().astype(np.float64)
        if k.shape != (3, 3) or r.shape != (3, 3) or t.shape != (3,):
            raise InputError(
                f"{where}: expected K 3×3, r 3×3, t 1×3; found {k.shape}, {r.shape}, {t.shape}.",
                fix="check that the file is a DANNCE/Label3D calibration.",
            )
        if rd.size not in (2, 3) or td.size != 2:
            raise InputError(
                f"{where}: expected RDistort of 2 or 3 and TDistort of 2 values; "
                f"found {rd.size} and {td.size}.",
                fix="check that the file is a DANNCE/Label3D calibration.",
            )
        k3 = rd[2] if rd.size == 3 else 0.0
        dist = np.array([rd[0], rd[1], td[0], td[1], k3])
        cams.append(Camera.from_rotation(names[i], k.T, dist, r.T, t, image_size))
    return cams
