"""anipose's 3D CSV layout (``pose-3d/*.csv``), written as ``anipose triangulate`` writes it.

One row per frame; per keypoint, in skeleton order, the columns ``<kp>_x``, ``<kp>_y``,
``<kp>_z`` (calibration units), ``<kp>_error`` (mean reprojection error, px),
``<kp>_ncams`` (cameras used) and ``<kp>_score`` (the smallest 2D score among the cameras
used); then anipose's alignment transform ``M_00`` … ``M_22`` and ``center_0`` …
``center_2`` (the identity and zero: the points are in the calibration's frame) and
``fnum`` (frame number from 0). As anipose does, a point seen by fewer than two cameras
has NaN error, ncams and score. ``read_anipose_file`` reads the file back as ``PoseData``
(movement's anipose loader; ``ethoagent.io.keypoints.read_keypoints`` picks it by format).
"""

from __future__ import annotations

import os
from itertools import product
from pathlib import Path

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ethoagent.atomic import atomic_write_bytes
from ethoagent.errors import InputError
from ethoagent.io.fastcsv import csv_bytes
from ethoagent.io.keypoints_movement import (
    DEFAULT_INDIVIDUAL,
    from_movement_file,
    load_with_movement,
)
from ethoagent.io.tables import head_rows
from ethoagent.model.pose import PoseData

_DECIMALS = {"x": 6, "y": 6, "z": 6, "error": 3, "ncams": 0, "score": 4, "fnum": 0}
"""Digits after the point per anipose column suffix (``M_``, ``center_``: 1)."""

__all__ = ["anipose_columns", "read_anipose_file", "write_anipose_3d", "write_anipose_file"]


def _per_point(value: ArrayLike | None, shape: tuple[int, int], what: str) -> NDArray[np.float64]:
    if value is None:
        return np.full(shape, np.nan)
    arr = np.asarray(value, dtype=np.float64)
    if arr.shape != shape:
        raise InputError(
            f"anipose {what} must have shape (frames, keypoints) = {shape}; found {arr.shape}.",
            fix=f"pass one {what} value per frame and keypoint.",
        )
    return arr


def anipose_columns(
    points: ArrayLike,
    keypoints: tuple[str, ...] | list[str],
    *,
    error: ArrayLike | None = None,
    ncams: ArrayLike | None = None,
    score: ArrayLike | None = None,
) -> dict[str, NDArray[np.float64]]:
    """The columns of an anipose 3D CSV, in anipose's order.

    Args:
        points: ``(frames, keypoints, 3)`` 3D points, calibration units; NaN = missing.
        keypoints: keypoint names, one per point.
        error: ``(frames, keypoints)`` mean reprojection error in px, or ``None`` (NaN).
        ncams: ``(frames, keypoints)`` number of cameras used, or ``None``: then error and
            ncams are NaN and the fewer-than-two-cameras rule is not applied.
        score: ``(frames, keypoints)`` 3D score in [0, 1], or ``None`` (NaN).

    Returns:
        Column name -> ``(frames,)`` values, ``fnum`` last.
    """
    pts = np.asarray(points, dtype=np.float64)
    names = tuple(keypoints)
    if pts.ndim != 3 or pts.shape[1:] != (len(names), 3):
        raise InputError(
            f"anipose points must have shape (frames, {len(names)} keypoints, 3); "
            f"found {pts.shape}.",
            fix="pass one 3D point per frame and keypoint, in the order of keypoints.",
        )
    shape = (pts.shape[0], len(names))
    err = _per_point(error, shape, "error").copy()
    n = _per_point(ncams, shape, "ncams").copy()
    sc = _per_point(score, shape, "score").copy()
    if ncams is not None:
        few = ~(n >= 2)
        err[few] = np.nan
        n[few] = np.nan
        sc[few] = np.nan
    columns: dict[str, NDArray[np.float64]] = {}
    for k, name in enumerate(names):
        for d, axis in enumerate("xyz"):
            columns[f"{name}_{axis}"] = pts[:, k, d]
        columns[f"{name}_error"] = err[:, k]
        columns[f"{name}_ncams"] = n[:, k]
        columns[f"{name}_score"] = sc[:, k]
    for i, j in product(range(3), range(3)):
        columns[f"M_{i}{j}"] = np.full(shape[0], float(i == j))
    for i in range(3):
        columns[f"center_{i}"] = np.zeros(shape[0])
    columns["fnum"] = np.arange(shape[0], dtype=np.float64)
    return columns


def write_anipose_3d(
    path: str | os.PathLike[str],
    points: ArrayLike,
    keypoints: tuple[str, ...] | list[str],
    *,
    error: ArrayLike | None = None,
    ncams: ArrayLike | None = None,
    score: ArrayLike | None = None,
) -> Path:
    """Write 3D points as an anipose 3D CSV (atomically); arguments as ``anipose_columns``.

    Fixed decimals: coordinates 6, ``_error`` 3 (px), ``_score`` 4, ``M_``/``center_`` 1,
    ``_ncams`` and ``fnum`` as integers; NaN as an empty field (as pandas writes it).

    Returns:
        The path written.
    """
    columns = anipose_columns(points, keypoints, error=error, ncams=ncams, score=score)
    decimals = [_DECIMALS.get(name.rsplit("_", 1)[-1], 1) for name in columns]
    text = csv_bytes(list(columns), list(columns.values()), decimals)
    return atomic_write_bytes(Path(path), text)


def read_anipose_file(p: Path, fps: float | None) -> PoseData:
    """Read an anipose 3D CSV as one individual ``(frames, 1, keypoints, 3)`` in ``"mm"``."""
    ds = load_with_movement(p, "Anipose", fps, individual_name=DEFAULT_INDIVIDUAL)
    # movement sorts the keypoints by name; keep the file's order
    header = head_rows(p, 1)[0]
    order = [c[:-2] for c in header if c.endswith("_x")]
    return from_movement_file(ds.sel(keypoints=order), p)


def write_anipose_file(data: PoseData, p: Path) -> Path:
    """Write one individual's 3D points as an anipose 3D CSV (confidence as ``_score``)."""
    return write_anipose_3d(p, data.points[:, 0], data.keypoints, score=data.confidence[:, 0])
