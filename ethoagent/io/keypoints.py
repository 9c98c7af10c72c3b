"""Keypoint and label files in the field's formats, and the one internal representation.

``PoseData`` holds the keypoints of one recording: points ``(frames, individuals,
keypoints, D)`` float64 (D = 2 pixels or 3 mm), NaN = missing, with keypoint and
individual names, fps and unit. Multi-view sets carry ``(frames, views, keypoints, 2)``
arrays (DESIGN.md §3). ``to_movement_dataset`` / ``from_movement_dataset`` convert it to
and from a ``movement`` poses dataset (dims ``time, space, keypoints, individuals``).

``read_keypoints`` / ``write_keypoints`` move it in and out of the field's files, through
the field's libraries (imported on first use; ``movement`` takes ~3 s to import):

============================  ============  ==============================================
format (``format=``)          suffix        through
============================  ============  ==============================================
DeepLabCut ``"dlc"``          .csv          movement (predictions, single/multi-animal,
                                            2D or 3D); labelled-frame CSVs (image-path
                                            index) and multi-animal files whose
                                            individuals have different body parts go
                                            through the pure-python ``read_dlc_csv``
DeepLabCut ``"dlc"``          .h5           pandas + movement (image-path index kept)
LightningPose                 .csv          movement
``"lightning_pose"``
SLEAP ``"sleap"``             .slp          sleap-io
SLEAP analysis                .h5           movement
``"sleap_analysis"``
sleap-anipose 3D              .h5           h5py (``io.sleap_anipose``: node names from
``"sleap_anipose"``                         the session's .slp or ``skeleton=``; read only)
DANNCE / Label3D 3D labels    .mat          scipy (``io.dannce_labels``: the labelled frames
``"dannce"``                                of ``label3d_dannce.mat``, names from the
                                            skeleton .mat near it or ``skeleton=``; read
                                            only)
anipose 3D ``"anipose"``      .csv          movement reads; written here (movement has
                                            no anipose writer)
NWB (ndx-pose) ``"nwb"``      .nwb          movement + pynwb
movement ``"netcdf"``         .nc           xarray (movement's own save format)
============================  ============  ==============================================

DeepLabCut CSVs are also written by ``write_dlc_csv`` (movement's DLC table, with scorer,
header layout and image-path index under our control).

Label files are read by ``ethoagent.io.labels``.
Label formats (there):

- BORIS aggregated event exports (START/STOP or POINT rows, times in seconds):
  ``read_boris_events`` → ``BorisEvent`` list, ``boris_to_framewise`` → (frames,) 0/1.
- Frame-wise label CSVs (``frame,<label columns>``): ``read_framewise_labels``.
- DLCAnalyzer (Sturman 2020) semicolon interval tables: ``read_interval_labels`` and
  ``intervals_to_framewise``.

Video frames are read by ``ethoagent.io.video``; the loaders of the shared real data
sets live with the eval suites.

This module picks the format and checks what every format shares (the file exists and
is not empty, the suffix fits, what a format can hold); each family reads and writes in
its own module: ``keypoints_dlc`` (DeepLabCut, LightningPose), ``keypoints_sleap``
(``.slp``, analysis ``.h5``), ``anipose`` (3D CSV), ``sleap_anipose``,
``dannce_labels`` and ``keypoints_movement`` (movement datasets, NWB, netCDF).
"""

from __future__ import annotations

import functools
import os
import threading
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Literal, ParamSpec, TypeVar, get_args

from ethoagent.errors import InputError
from ethoagent.io.anipose import read_anipose_file, write_anipose_file
from ethoagent.io.dannce_labels import read_label3d_mat
from ethoagent.io.keypoints_dlc import (
    dlc_header_rows,
    read_dlc_csv,
    read_dlc_file,
    read_lightning_pose_file,
    write_dlc_csv,
    write_dlc_file,
    write_lightning_pose_file,
)
from ethoagent.io.keypoints_movement import (
    from_movement_dataset,
    read_netcdf_file,
    read_nwb_file,
    to_movement_dataset,
    write_netcdf_file,
    write_nwb_file,
)
from ethoagent.io.keypoints_sleap import (
    read_sleap_analysis_file,
    read_slp_file,
    write_sleap_analysis_file,
    write_slp_file,
)
from ethoagent.io.sleap_anipose import is_points3d_h5, read_points3d_h5
from ethoagent.io.tables import head_rows
from ethoagent.model.pose import PoseData

__all__ = [
    "KEYPOINT_FORMATS",
    "KeypointFormat",
    "from_movement_dataset",
    "read_dlc_csv",
    "read_keypoints",
    "to_movement_dataset",
    "write_dlc_csv",
    "write_keypoints",
]

KeypointFormat = Literal[
    "dlc",
    "lightning_pose",
    "sleap",
    "sleap_analysis",
    "sleap_anipose",
    "anipose",
    "nwb",
    "netcdf",
    "dannce",
]
"""Keypoint file formats of ``read_keypoints`` / ``write_keypoints``."""

KEYPOINT_FORMATS: tuple[str, ...] = get_args(KeypointFormat)

_SUFFIXES: dict[str, tuple[str, ...]] = {
    "dlc": (".csv", ".h5"),
    "lightning_pose": (".csv",),
    "sleap": (".slp",),
    "sleap_analysis": (".h5",),
    "sleap_anipose": (".h5", ".hdf5"),
    "anipose": (".csv",),
    "nwb": (".nwb",),
    "netcdf": (".nc",),
    "dannce": (".mat",),
}
_NAMES = {
    "dlc": "DeepLabCut",
    "lightning_pose": "LightningPose",
    "sleap": "SLEAP labels",
    "sleap_analysis": "SLEAP analysis",
    "sleap_anipose": "sleap-anipose 3D (points3d.h5)",
    "anipose": "anipose 3D",
    "nwb": "NWB (ndx-pose)",
    "netcdf": "movement netCDF",
    "dannce": "DANNCE / Label3D 3D labels (label3d_dannce.mat)",
}
# errors the field's readers and writers raise for a bad file or bad content
_LIBRARY_ERRORS = (ValueError, KeyError, IndexError, TypeError, OSError)


# --------------------------------------------------------------------------- read


_P = ParamSpec("_P")
_R = TypeVar("_R")
_FILE_LOCK = threading.RLock()
"""HDF5 and netCDF (the C libraries behind h5py, netCDF4 and pynwb) are not thread-safe:
graphs run their synchronous nodes in threads and a batch runs several sessions in one
process, so reads and writes of keypoint files take turns."""


def _serialised(fn: Callable[_P, _R]) -> Callable[_P, _R]:
    @functools.wraps(fn)
    def wrapper(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        with _FILE_LOCK:
            return fn(*args, **kwargs)

    return wrapper


@_serialised
def read_keypoints(
    path: str | os.PathLike[str],
    *,
    format: KeypointFormat | None = None,
    fps: float | None = None,
    skeleton: str | os.PathLike[str] | None = None,
) -> PoseData:
    """Read keypoints from a DeepLabCut, LightningPose, SLEAP, anipose, NWB or netCDF file.

    Args:
        path: the file (see the module docstring for suffixes and libraries).
        format: one of ``KEYPOINT_FORMATS``; default: from the suffix and, for ``.csv``
            and ``.h5``, the contents (a LightningPose CSV reads as ``"dlc"``, the same
            layout).
        fps: frame rate, Hz, to attach; default: the file's where it stores one (SLEAP
            video metadata, NWB, netCDF), else ``None``.
        skeleton: a skeleton file naming the nodes of a sleap-anipose ``points3d.h5``
            or a DANNCE ``label3d_dannce.mat`` (which name none); default: the session's
            ``.slp`` files beside it, or the skeleton ``.mat`` near the DANNCE file. Other
            formats name their keypoints and ignore it.

    Returns:
        ``PoseData``: 2D formats in pixels; anipose and DLC ``x, y, z`` files in ``"mm"``
        (the calibration's unit); single-animal formats give one individual named
        ``"individual_0"``. SLEAP ``.slp`` files give the first video's frames (user
        instances before predicted ones, confidence NaN for user instances), up to the
        video's length where it is known; SLEAP tracks are the individuals (untracked
        instances fill ``individual_0``, ``individual_1``, … in file order); their
        confidence is NaN where a point is missing.

    Raises:
        InputError: the file is missing, empty, of an unknown format or corrupt; the
            message names the file, what was expected and the fix.
    """
    p = Path(path)
    _check_readable(p)
    fmt = _infer_format(p) if format is None else format
    if fmt not in KEYPOINT_FORMATS:
        raise InputError(
            f"unknown keypoint format {fmt!r} for {p}.",
            fix=f"pass --format (format= in Python) as one of {list(KEYPOINT_FORMATS)}.",
        )
    if p.suffix.lower() not in _SUFFIXES[fmt]:
        raise InputError(
            f"{p}: a {_NAMES[fmt]} file must end in {' or '.join(_SUFFIXES[fmt])}.",
            fix="pass the right file, or the right --format (format= in Python).",
        )
    try:
        if fmt == "sleap_anipose":
            data = read_points3d_h5(p, skeleton=skeleton, fps=fps)
        elif fmt == "dannce":
            data = read_label3d_mat(p, skeleton=skeleton, fps=fps)
        else:
            data = _READERS[fmt](p, fps)
    except InputError:
        raise
    except _LIBRARY_ERRORS as exc:
        raise InputError(
            f"cannot read {p} as a {_NAMES[fmt]} keypoint file: {exc}",
            fix="check that the file is complete and of that format (re-export it if not).",
        ) from exc
    if fps is not None:
        data = replace(data, fps=fps)
    return data


def _check_readable(p: Path) -> None:
    if not p.exists():
        raise InputError(f"keypoint file {p} not found.", fix="check the path.")
    if not p.is_file():
        raise InputError(f"{p} is a folder, not a keypoint file.", fix="pass the file itself.")
    if p.stat().st_size == 0:
        raise InputError(
            f"keypoint file {p} is empty (0 bytes).",
            fix="the export or copy failed; export the keypoints again.",
        )


def _infer_format(p: Path) -> KeypointFormat:
    suffix = p.suffix.lower()
    if suffix == ".csv":
        rows = head_rows(p, 6)
        first = [c.strip() for c in rows[0]] if rows else []
        if dlc_header_rows(rows):
            return "dlc"
        if "fnum" in first and any(c.endswith("_x") for c in first):
            return "anipose"
        shown = " | ".join(",".join(r[:6]) + (",…" if len(r) > 6 else "") for r in rows[:4])
        raise InputError(
            f"{p} is not a keypoint CSV ethoagent reads; tried DeepLabCut/LightningPose CSV "
            f"(header rows 'scorer', ['individuals'], 'bodyparts', 'coords', also as pandas "
            f"re-saves them) and anipose 3D CSV (columns '<keypoint>_x', …, 'fnum'); its "
            f"first rows: {shown or '(none)'}.",
            fix="export the keypoints from DeepLabCut, SLEAP or anipose in their own format "
            f"(or pass --format, format= in Python, where it is one of {list(KEYPOINT_FORMATS)}).",
        )
    if suffix in (".h5", ".hdf5"):
        keys = _hdf5_keys(p)
        if "df_with_missing" in keys:
            return "dlc"
        if "tracks" in keys and "node_names" in keys:
            return "sleap_analysis"
        if is_points3d_h5(keys):
            return "sleap_anipose"
        raise InputError(
            f"{p} is neither a DeepLabCut .h5 (key 'df_with_missing'), a SLEAP analysis "
            f".h5 (keys 'tracks', 'node_names') nor a sleap-anipose points3d.h5 (key "
            f"'tracks'); found keys {sorted(keys)}.",
            fix="export the keypoints from DeepLabCut or SLEAP ('Export Analysis HDF5').",
        )
    by_suffix: dict[str, KeypointFormat] = {
        ".slp": "sleap",
        ".nwb": "nwb",
        ".nc": "netcdf",
        ".mat": "dannce",
    }
    if suffix in by_suffix:
        return by_suffix[suffix]
    raise InputError(
        f"{p}: unknown keypoint file type {p.suffix!r}.",
        fix="pass a .csv (DeepLabCut, LightningPose, anipose), .h5 (DeepLabCut, SLEAP "
        "analysis, sleap-anipose points3d), .slp (SLEAP), .nwb, .nc (movement netCDF) or "
        ".mat (DANNCE label3d_dannce.mat) file.",
    )


def _hdf5_keys(p: Path) -> set[str]:
    import h5py

    try:
        with h5py.File(p, "r") as f:
            return set(f.keys())
    except OSError as exc:
        raise InputError(
            f"{p} is not a readable HDF5 file ({exc}).",
            fix="the file is truncated or corrupt; export or copy it again.",
        ) from exc


_READERS: dict[str, Callable[[Path, float | None], PoseData]] = {
    "dlc": read_dlc_file,
    "lightning_pose": read_lightning_pose_file,
    "sleap": read_slp_file,
    "sleap_analysis": read_sleap_analysis_file,
    "anipose": read_anipose_file,
    "nwb": read_nwb_file,
    "netcdf": read_netcdf_file,
}


# --------------------------------------------------------------------------- write


@_serialised
def write_keypoints(
    data: PoseData, path: str | os.PathLike[str], *, format: KeypointFormat
) -> Path:
    """Write keypoints in one of the field's formats (atomically).

    Args:
        data: the keypoints.
        path: destination; its suffix must fit ``format`` (``"dlc"``: .csv or .h5).
        format: one of ``KEYPOINT_FORMATS``. Limits, each an ``InputError`` before
            anything is written: LightningPose, SLEAP and SLEAP analysis are 2D; anipose
            is 3D; LightningPose, anipose and NWB hold one individual; NWB needs
            ``data.fps`` (it stores timestamps in seconds).

    Returns:
        The path written.

    Notes:
        What a format cannot hold is lost: single-animal formats drop the individual's
        name (it reads back as ``"individual_0"``); DLC 3D files have no likelihood;
        SLEAP ``.slp`` keeps only frames with at least one point (trailing empty frames
        are dropped) and references a video ``<file stem>.mp4`` beside it (all-NaN
        confidence is written as user labels, other confidence as predicted point
        scores); SLEAP analysis drops individuals missing in every frame; anipose
        ``_error`` / ``_ncams`` columns are left empty. Otherwise points, confidence and
        names round-trip exactly; fps survives in SLEAP, NWB and netCDF files.
    """
    p = Path(path)
    if format not in KEYPOINT_FORMATS:
        raise InputError(
            f"unknown keypoint format {format!r} for {p}.",
            fix=f"pass format= one of {list(KEYPOINT_FORMATS)}.",
        )
    if p.suffix.lower() not in _SUFFIXES[format]:
        raise InputError(
            f"{p}: a {_NAMES[format]} file must end in {' or '.join(_SUFFIXES[format])}.",
            fix="change the suffix, or the format=.",
        )
    if format not in _WRITERS:
        raise InputError(
            f"{_NAMES[format]} files are read, not written ({p}).",
            fix="write the 3D points as anipose CSV (format='anipose') or netCDF.",
        )
    _check_writable(data, p, format)
    try:
        return _WRITERS[format](data, p)
    except InputError:
        raise
    except _LIBRARY_ERRORS as exc:
        raise InputError(
            f"cannot write {data!r} to {p} as {_NAMES[format]}: {exc}",
            fix="give each individual and keypoint a unique, non-empty name.",
        ) from exc


def _check_writable(data: PoseData, p: Path, fmt: str) -> None:
    dims = data.points.shape[-1]
    n_ind = data.points.shape[1]
    if fmt in ("lightning_pose", "sleap", "sleap_analysis") and dims != 2:
        raise InputError(
            f"{_NAMES[fmt]} files hold 2D keypoints; {data!r} is 3D ({p}).",
            fix="write 3D keypoints as 'anipose', 'dlc', 'nwb' or 'netcdf'.",
        )
    if fmt == "anipose" and dims != 3:
        raise InputError(
            f"anipose CSVs hold 3D keypoints; {data!r} is 2D ({p}).",
            fix="write 2D keypoints as 'dlc', 'sleap' or another 2D format.",
        )
    for what, names in (("individual", data.individuals), ("keypoint", data.keypoints)):
        if len(set(names)) != len(names) or not all(names):
            raise InputError(
                f"cannot write {p}: {what} names must be unique and non-empty; found "
                f"{list(names)}.",
                fix=f"rename the {what}s.",
            )
    if fmt in ("lightning_pose", "anipose", "nwb") and n_ind != 1:
        raise InputError(
            f"{_NAMES[fmt]} files hold one individual; {data!r} has {n_ind} ({p}).",
            fix="write one file per individual, or use 'dlc', 'sleap' or 'netcdf'.",
        )
    if fmt == "nwb" and data.fps is None:
        raise InputError(
            f"NWB stores timestamps in seconds, and {data!r} has no fps ({p}).",
            fix="set the frame rate (read_keypoints(..., fps=...)) before writing NWB.",
        )


_WRITERS: dict[str, Callable[[PoseData, Path], Path]] = {
    "dlc": write_dlc_file,
    "lightning_pose": write_lightning_pose_file,
    "sleap": write_slp_file,
    "sleap_analysis": write_sleap_analysis_file,
    "anipose": write_anipose_file,
    "nwb": write_nwb_file,
    "netcdf": write_netcdf_file,
}
