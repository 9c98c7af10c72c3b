"""``Camera``: a calibrated pinhole camera with lens distortion (pure data, validated).

Projection and checks are in ``ethoagent.tools.cameras``; calibration files are read and
written by ``ethoagent.io.calibration``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property

import cv2
import numpy as np
from numpy.typing import ArrayLike, NDArray

from ethoagent.errors import InputError

_ZERO3 = np.zeros(3)
_EYE3 = np.eye(3)
# OpenCV's default stops after 5 fixed-point iterations, which leaves ~1e-4 normalised
# units of error under strong distortion; triangulation to micrometres needs convergence.
_UNDISTORT_CRITERIA = (cv2.TERM_CRITERIA_COUNT | cv2.TERM_CRITERIA_EPS, 200, 1e-15)


def checked_array(value: ArrayLike, shape: tuple[int, ...], what: str) -> NDArray[np.float64]:
    """``value`` as a float64 array of ``shape``; an InputError naming ``what`` otherwise."""
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
        k = checked_array(self.matrix, (3, 3), f"{what}: intrinsic matrix")
        dist = np.asarray(self.dist, dtype=np.float64).ravel()
        if dist.size > 5:
            raise InputError(
                f"{what}: distortion has {dist.size} coefficients; only (k1, k2, p1, p2, k3) "
                "are supported.",
                fix="refit with OpenCV's 5-coefficient model (no rational/thin-prism terms).",
            )
        dist = checked_array(np.pad(dist, (0, 5 - dist.size)), (5,), f"{what}: distortion")
        rvec = checked_array(np.asarray(self.rvec, dtype=np.float64).ravel(), (3,), f"{what}: rvec")
        tvec = checked_array(np.asarray(self.tvec, dtype=np.float64).ravel(), (3,), f"{what}: tvec")
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
        r = checked_array(rotation, (3, 3), f"camera {name!r}: rotation matrix")
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


def check_cameras(cameras: Sequence[Camera], minimum: int = 1) -> list[Camera]:
    """The cameras as a list, at least ``minimum`` of them, each a ``Camera``."""
    cams = list(cameras)
    if len(cams) < minimum or not all(isinstance(c, Camera) for c in cams):
        found = ", ".join(type(c).__name__ for c in cams) or "none"
        raise InputError(
            f"expected at least {minimum} Camera object(s); found {len(cams)} ({found}).",
            fix="load cameras with read_calibration() or read_dannce_calibration().",
        )
    return cams
