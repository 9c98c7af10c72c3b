"""DANNCE / Label3D hand-labelled 3D keypoints: ``label3d_dannce.mat``.

A Label3D session file (MATLAB v5, ``scipy.io.loadmat``) holds, per camera,
``labelData{c}``: ``data_3d`` ``(N, 3 * K)`` (keypoint-major ``x1, y1, z1, x2, ...``, mm,
NaN = not labelled), ``data_2d`` (their reprojections), ``data_frame`` and
``data_sampleID`` for the N labelled frames; every camera carries the same 3D labels. The
file names no keypoints: the names come from a DANNCE skeleton ``.mat`` (``joint_names``;
``io.skeletons.read_skeleton``) the user names, or the one ``*skeleton*.mat`` beside the
file or one folder up (the DANNCE demo layout: ``mouse22_skeleton.mat`` above
``markerless_mouse_1/label3d_dannce.mat``). ``io.keypoints.read_keypoints`` reads the
format as ``"dannce"``; the cameras of the same file are read by
``io.calibration.read_dannce_calibration``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ethoagent.errors import InputError
from ethoagent.io.skeletons import read_skeleton
from ethoagent.model.pose import PoseData

LABEL_DATA = "labelData"
"""The cell array of per-camera labels in a Label3D ``.mat``."""

__all__ = ["LABEL_DATA", "read_label3d_mat"]


def _skeleton_beside(p: Path) -> list[Path]:
    """The DANNCE skeleton ``.mat`` files beside ``p`` or one folder up."""
    found = sorted(p.parent.glob("*skeleton*.mat"))
    return found or sorted(p.parent.parent.glob("*skeleton*.mat"))


def _names(p: Path, k: int, skeleton: str | os.PathLike[str] | None) -> tuple[str, ...]:
    """The names of ``p``'s ``k`` keypoints, from ``skeleton`` or the skeleton ``.mat`` near it.

    Raises:
        InputError: no skeleton, several candidates, or a keypoint count that differs.
    """
    fix = (
        "pass the skeleton (--skeleton FILE: the DANNCE skeleton .mat such as "
        "mouse22_skeleton.mat, or a skeleton TOML listing the keypoints in order; skeleton= "
        f"in Python), or keep it beside {p.name}."
    )
    if skeleton is not None:
        source = Path(skeleton)
    else:
        found = _skeleton_beside(p)
        if len(found) != 1:
            raise InputError(
                f"{p} holds {k} labelled 3D keypoints and names none; "
                + (
                    f"{len(found)} skeleton .mat files lie near it ({[f.name for f in found]})."
                    if found
                    else "no *skeleton*.mat lies beside it or one folder up."
                ),
                fix=fix,
            )
        source = found[0]
    names = read_skeleton(source)[0].keypoints
    if len(names) != k:
        raise InputError(
            f"{p} holds {k} keypoints but {source.name} names {len(names)}: {list(names)}.",
            fix=fix,
        )
    return tuple(names)


def _labels_3d(p: Path, cells: Any) -> NDArray[np.float64]:
    """The first camera's ``data_3d`` ``(N, 3K)`` of a ``labelData`` cell array.

    Raises:
        InputError: an empty cell array or a ``data_3d`` that is not ``(N, 3K)``.
    """
    flat = np.asarray(cells, dtype=object).ravel()
    if flat.size == 0:
        raise InputError(f"{p}: '{LABEL_DATA}' is empty.", fix="label frames in Label3D first.")
    first = flat[0]
    entry = first.ravel()[0] if isinstance(first, np.ndarray) else first
    if getattr(getattr(entry, "dtype", None), "names", None) is None or (
        "data_3d" not in entry.dtype.names
    ):
        raise InputError(
            f"{p}: '{LABEL_DATA}' holds no 'data_3d' (3D labels).",
            fix="pass the label3d_dannce.mat that Label3D saved after labelling.",
        )
    data = np.asarray(entry["data_3d"], dtype=np.float64)
    data = data.reshape(data.shape[-2:]) if data.ndim > 2 else data
    if data.ndim != 2 or data.shape[1] == 0 or data.shape[1] % 3:
        raise InputError(
            f"{p}: 'data_3d' has shape {data.shape}; Label3D stores (frames, 3 x keypoints).",
            fix="pass the label3d_dannce.mat that Label3D saved after labelling.",
        )
    return data


def read_label3d_mat(
    path: str | os.PathLike[str],
    *,
    skeleton: str | os.PathLike[str] | None = None,
    fps: float | None = None,
) -> PoseData:
    """Read the hand-labelled 3D keypoints of a DANNCE / Label3D ``.mat``.

    Args:
        path: the ``.mat`` file (``labelData`` cell array with ``data_3d`` per camera).
        skeleton: a skeleton file naming the keypoints in order (a DANNCE skeleton
            ``.mat``, skeleton TOML, ...); ``None``: the one ``*skeleton*.mat`` beside the
            file or one folder up.
        fps: frame rate, Hz (the file states none; the labelled frames are samples of a
            recording, not consecutive frames).

    Returns:
        ``PoseData``: points ``(labelled frames, 1, keypoints, 3)`` in ``"mm"``, in the
        file's order; one individual ``individual_0``; confidence 1 where labelled, NaN
        where not.

    Raises:
        InputError: not a readable MATLAB file, no 3D labels, or keypoint names that
            cannot be found or do not fit.
    """
    from scipy.io import loadmat
    from scipy.io.matlab import MatReadError

    p = Path(path)
    try:
        mat = loadmat(p, variable_names=[LABEL_DATA])
    except (MatReadError, ValueError, OSError, IndexError, TypeError) as exc:
        raise InputError(
            f"{p} is not a readable MATLAB v5 file ({exc}).",
            fix="pass a Label3D label3d_dannce.mat (saved with -v7, not -v7.3).",
        ) from exc
    if LABEL_DATA not in mat:
        raise InputError(
            f"{p} has no '{LABEL_DATA}' (Label3D's 3D labels).",
            fix="pass a label3d_dannce.mat; a calibration-only .mat goes to --calibration.",
        )
    data = _labels_3d(p, mat[LABEL_DATA])
    k = data.shape[1] // 3
    points = data.reshape(data.shape[0], 1, k, 3)
    present = np.asarray(np.isfinite(points).all(axis=-1), dtype=bool)
    return PoseData(
        points=np.where(present[..., None], points, np.nan),
        confidence=np.where(present, 1.0, np.nan),
        keypoints=_names(p, k, skeleton),
        individuals=("individual_0",),
        fps=fps,
        unit="mm",
        source=str(p),
    )
