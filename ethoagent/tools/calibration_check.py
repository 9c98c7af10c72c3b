"""A calibration diagnosed on the animal's own 2D points: which camera does not fit, which unit.

``check_calibration`` (``tools.cameras``) finds what a calibration file alone betrays (two
identical camera blocks, coincident centres); it cannot say which of two identical blocks
is wrong. Here each camera is judged by the 2D points it saw:

- ``camera_fits``: per camera, the median reprojection error of a plain DLT over all cameras
  (what a user sees), and its *held-out* error: points triangulated from a pair of *other*
  cameras, projected into this one; the best pair counts, so one bad camera elsewhere does
  not spoil a good camera's score. A camera whose 2D points fit no pair of the others has
  parameters that do not describe it.
- ``inconsistent_cameras``: cameras whose held-out error is far above the others'. With two
  identical blocks (the real sleap-anipose calibration has 'side' == 'top'), the camera the
  parameters belong to fits and the other one is named.
- ``check_units``: the calibration's length unit from the size of its translations and of
  the body; ethoagent assumes millimetres, and a calibration in metres is said so.

Everything is pure: cameras and arrays in, numbers and sentences out.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import combinations

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ethoagent.errors import InputError
from ethoagent.model.camera import Camera, check_cameras
from ethoagent.model.checks import CheckResult
from ethoagent.tools.triangulate import reprojection_errors, triangulate_dlt

__all__ = [
    "CalibrationDiagnosis",
    "CameraFit",
    "UnitCheck",
    "camera_fits",
    "check_units",
    "diagnose_calibration",
    "duplicate_cameras",
    "inconsistent_cameras",
]

MIN_POINTS = 10
"""Fewest shared observations for a camera pair to count in a held-out error."""


@dataclass(frozen=True)
class CameraFit:
    """How one camera's parameters fit the 2D points it saw.

    Attributes:
        camera: camera name.
        median_error_px: median reprojection error (px) of its points after a DLT over
            every camera (NaN where it saw nothing that another camera saw).
        held_out_px: median error (px) of its points triangulated from the best pair of
            other cameras (NaN where no pair shares ``MIN_POINTS`` points with it).
        held_out_pair: the names of that pair (empty where none).
        n_points: observations it shares with at least one other camera.
    """

    camera: str
    median_error_px: float
    held_out_px: float
    held_out_pair: tuple[str, ...]
    n_points: int


@dataclass(frozen=True)
class UnitCheck:
    """The calibration's length unit, as its sizes suggest.

    Attributes:
        unit: ``"mm"`` or ``"m"``.
        translation: median camera translation length, calibration units.
        body_size: median body extent (largest keypoint bounding-box diagonal per frame),
            calibration units; ``None`` where no 3D points were given.
        message: one sentence stating the unit and why.
    """

    unit: str
    translation: float
    body_size: float | None
    message: str


@dataclass(frozen=True)
class CalibrationDiagnosis:
    """Everything ``diagnose_calibration`` found.

    Attributes:
        fits: one ``CameraFit`` per camera, in calibration order.
        duplicates: groups of camera names sharing every parameter.
        inconsistent: cameras whose 2D points do not fit their parameters.
        units: the unit check.
    """

    fits: tuple[CameraFit, ...]
    duplicates: tuple[tuple[str, ...], ...]
    inconsistent: tuple[str, ...]
    units: UnitCheck

    def messages(self) -> list[str]:
        """One sentence per finding: per-camera errors, duplicates, the wrong camera, unit."""
        errors = ", ".join(
            f"{f.camera} {f.median_error_px:.1f} px (held out {f.held_out_px:.1f})"
            for f in self.fits
        )
        out = [f"median reprojection error per camera: {errors}."]
        held = {f.camera: f for f in self.fits}
        for group in self.duplicates:
            wrong = [c for c in group if c in self.inconsistent]
            right = [c for c in group if c not in self.inconsistent]
            if wrong and right:
                out.append(
                    f"cameras {list(group)} share every parameter; they belong to "
                    f"{right[0]!r}: the 2D points of {wrong[0]!r} do not fit them (held-out "
                    f"{held[wrong[0]].held_out_px:.1f} px vs {held[right[0]].held_out_px:.1f}"
                    f" px); drop {wrong[0]!r} or recalibrate it."
                )
            else:
                out.append(
                    f"cameras {list(group)} share every parameter and the 2D points do "
                    "not tell which they belong to; recalibrate them."
                )
        dup = {c for g in self.duplicates for c in g}
        for cam in self.inconsistent:
            if cam not in dup:
                out.append(
                    f"the 2D points of camera {cam!r} do not fit its parameters (held-out "
                    f"{held[cam].held_out_px:.1f} px); drop it or recalibrate it."
                )
        out.append(self.units.message)
        return out

    def checks(self) -> list[CheckResult]:
        """The findings as checks: ``calibration.consistent_cameras``, ``calibration.unit_mm``."""
        return [
            CheckResult(
                name="calibration.consistent_cameras",
                passed=not self.inconsistent,
                value=float(len(self.inconsistent)),
                threshold=0.0,
                message=" ".join(self.messages()[:-1]),
            ),
            CheckResult(
                name="calibration.unit_mm",
                passed=self.units.unit == "mm",
                value=self.units.translation,
                message=self.units.message,
            ),
        ]


def duplicate_cameras(cameras: Sequence[Camera], rtol: float = 1e-9) -> list[tuple[int, ...]]:
    """Groups (two or more) of cameras sharing intrinsics, distortion, pose and image size.

    Args:
        cameras: the views.
        rtol: relative (and absolute) tolerance for "the same".

    Returns:
        Index groups, each in calibration order, in order of their first camera.
    """
    cams = check_cameras(cameras)
    params = [np.concatenate([c.matrix.ravel(), c.dist, c.rvec, c.tvec]) for c in cams]
    groups: list[list[int]] = []
    for i in range(len(cams)):
        for g in groups:
            j = g[0]
            if cams[i].size == cams[j].size and np.allclose(params[i], params[j], rtol, rtol):
                g.append(i)
                break
        else:
            groups.append([i])
    return [tuple(g) for g in groups if len(g) > 1]


def _sample_frames(points_2d: NDArray[np.float64], max_frames: int) -> NDArray[np.float64]:
    n = points_2d.shape[0]
    if n <= max_frames:
        return points_2d
    out: NDArray[np.float64] = points_2d[np.linspace(0, n - 1, max_frames).round().astype(int)]
    return out


def camera_fits(
    cameras: Sequence[Camera], points_2d: ArrayLike, *, max_frames: int = 2000
) -> list[CameraFit]:
    """Per camera, how its parameters fit its own 2D points (see the module docstring).

    Pairs of identical cameras (a copied block, same centre) are not used to triangulate.

    Args:
        cameras: the views, in the order of the ``views`` axis.
        points_2d: ``(frames, views, keypoints, 2)`` pixels, NaN = missing (e.g. the lab's
            2D predictions or proofread labels).
        max_frames: frames used, evenly spaced (the medians need no more).

    Returns:
        One ``CameraFit`` per camera, in calibration order.
    """
    cams = check_cameras(cameras, minimum=2)
    pts = np.asarray(points_2d, dtype=np.float64)
    if pts.ndim != 4 or pts.shape[1] != len(cams) or pts.shape[-1] != 2:
        raise InputError(
            f"points_2d must have shape (frames, {len(cams)} views, keypoints, 2); "
            f"found {pts.shape}.",
            fix="stack one (frames, keypoints, 2) array per camera on axis 1, in calibration "
            "order.",
        )
    pts = _sample_frames(pts, max_frames)
    seen = np.all(np.isfinite(pts), axis=-1)  # (F, V, K)
    shared = seen & (seen.sum(axis=1, keepdims=True) >= 2)
    every = reprojection_errors(cams, triangulate_dlt(cams, pts), pts)
    same = {frozenset(p) for g in duplicate_cameras(cams) for p in combinations(g, 2)}
    best: list[tuple[float, tuple[str, ...]]] = [(np.nan, ())] * len(cams)
    for a, b in combinations(range(len(cams)), 2):
        if frozenset((a, b)) in same:
            continue
        p3 = triangulate_dlt([cams[a], cams[b]], pts[:, [a, b]])
        err = reprojection_errors(cams, p3, pts)
        for t in range(len(cams)):
            if t in (a, b):
                continue
            e = err[:, t][np.isfinite(p3[..., 0]) & seen[:, t]]
            if e.size >= MIN_POINTS:
                med = float(np.median(e))
                if not med >= best[t][0]:  # also replaces NaN
                    best[t] = (med, (cams[a].name, cams[b].name))
    fits = []
    for v, cam in enumerate(cams):
        e = every[:, v][shared[:, v]]
        fits.append(
            CameraFit(
                camera=cam.name,
                median_error_px=float(np.median(e)) if e.size else float("nan"),
                held_out_px=best[v][0],
                held_out_pair=best[v][1],
                n_points=int(shared[:, v].sum()),
            )
        )
    return fits


def inconsistent_cameras(
    fits: Sequence[CameraFit], *, threshold_px: float = 20.0, ratio: float = 3.0
) -> list[str]:
    """Cameras whose held-out error is above ``threshold_px`` and ``ratio`` × the others'.

    "The others'" is the median held-out error of the remaining cameras, so one bad camera
    does not hide another good one; where every camera is above the threshold (three
    cameras, one bad: every pair includes it) none can be told apart and none is named.

    Args:
        fits: ``camera_fits`` output.
        threshold_px: held-out error below which a camera is fine (px).
        ratio: how many times the others' median a camera's held-out error must reach.

    Returns:
        Camera names, in calibration order.
    """
    out = []
    for f in fits:
        others = [g.held_out_px for g in fits if g is not f and np.isfinite(g.held_out_px)]
        if not others or not np.isfinite(f.held_out_px):
            continue
        if f.held_out_px > max(threshold_px, ratio * float(np.median(others))):
            out.append(f.camera)
    return out


def check_units(
    cameras: Sequence[Camera],
    points_3d: ArrayLike | None = None,
    *,
    metre_below: float = 5.0,
) -> UnitCheck:
    """The calibration's length unit: millimetres (what ethoagent assumes) or metres.

    A camera that films an animal stands some 50 mm to 5 m from the world origin (the
    calibration board, in the arena), so a median translation under ``metre_below`` units
    means metres; a body (``points_3d``) whose extent is under 1 unit means metres too.

    Args:
        cameras: the views.
        points_3d: ``(frames, keypoints, 3)`` triangulated points in calibration units, or
            ``None``.
        metre_below: median translation length below which the unit is metres.

    Returns:
        The unit, the sizes it rests on and a sentence.
    """
    cams = check_cameras(cameras)
    translation = float(np.median([np.linalg.norm(c.tvec) for c in cams]))
    body: float | None = None
    if points_3d is not None:
        p3 = np.asarray(points_3d, dtype=np.float64)
        with np.errstate(all="ignore"):
            extent = np.linalg.norm(np.nanmax(p3, axis=1) - np.nanmin(p3, axis=1), axis=-1)
        extent = extent[np.isfinite(extent)]
        body = float(np.median(extent)) if extent.size else None
    by_translation = translation < metre_below
    by_body = body is not None and body < 1.0
    sizes = f"median camera translation {translation:.3g}" + (
        f", median body extent {body:.3g}" if body is not None else ""
    )
    if by_translation or by_body:
        return UnitCheck(
            "m",
            translation,
            body,
            f"the calibration looks like metres ({sizes}); ethoagent works in millimetres: "
            "recalibrate with the board in mm or scale the translations by 1000.",
        )
    return UnitCheck("mm", translation, body, f"the calibration is in millimetres ({sizes}).")


def diagnose_calibration(
    cameras: Sequence[Camera],
    points_2d: ArrayLike,
    *,
    threshold_px: float = 20.0,
    ratio: float = 3.0,
    max_frames: int = 2000,
) -> CalibrationDiagnosis:
    """Diagnose a calibration on the animal's own 2D points (see the module docstring).

    Args:
        cameras: the views, in the order of the ``views`` axis.
        points_2d: ``(frames, views, keypoints, 2)`` pixels, NaN = missing.
        threshold_px: as ``inconsistent_cameras``.
        ratio: as ``inconsistent_cameras``.
        max_frames: as ``camera_fits``.

    Returns:
        Per-camera fits, identical camera groups, inconsistent cameras and the unit; the
        unit is judged on points triangulated without the inconsistent cameras.
    """
    cams = check_cameras(cameras, minimum=2)
    fits = camera_fits(cams, points_2d, max_frames=max_frames)
    wrong = inconsistent_cameras(fits, threshold_px=threshold_px, ratio=ratio)
    keep = [v for v, c in enumerate(cams) if c.name not in wrong]
    pts = _sample_frames(np.asarray(points_2d, dtype=np.float64), max_frames)
    p3 = triangulate_dlt([cams[v] for v in keep], pts[:, keep]) if len(keep) >= 2 else None
    return CalibrationDiagnosis(
        fits=tuple(fits),
        duplicates=tuple(tuple(cams[i].name for i in g) for g in duplicate_cameras(cams)),
        inconsistent=tuple(wrong),
        units=check_units(cams, p3),
    )
