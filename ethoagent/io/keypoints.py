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
"""

from __future__ import annotations

import csv
import functools
import os
import shutil
import tempfile
import threading
import warnings
from collections.abc import Callable, Sequence
from dataclasses import replace
from itertools import product
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, ParamSpec, TypeVar, get_args

import numpy as np

from ethoagent.atomic import atomic_write_text
from ethoagent.errors import InputError
from ethoagent.io.dannce_labels import read_label3d_mat
from ethoagent.io.sleap_anipose import is_points3d_h5, read_points3d_h5
from ethoagent.io.tables import parse_float, read_rows

if TYPE_CHECKING:
    import pandas as pd
    import xarray as xr
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
_COORDS = ("x", "y", "z", "likelihood")
_DEFAULT_INDIVIDUAL = "individual_0"
# errors the field's readers and writers raise for a bad file or bad content
_LIBRARY_ERRORS = (ValueError, KeyError, IndexError, TypeError, OSError)


# --------------------------------------------------------------------------- movement


@functools.cache
def _import_movement() -> None:
    """Import ``movement`` once, keeping its import-time side effects out of ours.

    Importing movement points ``warnings.showwarning`` at its own logger and logs every
    error it raises to stderr; we restore the former and silence the latter, since each
    of its errors reaches the user once, as our ``InputError``.
    """
    showwarning = warnings.showwarning
    import movement  # noqa: F401  (configures its logger on import)
    from loguru import logger

    warnings.showwarning = showwarning
    logger.disable("movement")


def to_movement_dataset(data: PoseData) -> xr.Dataset:
    """Convert ``PoseData`` to a ``movement`` poses dataset.

    Args:
        data: the keypoints.

    Returns:
        ``xarray.Dataset`` with ``position`` ``(time, space, keypoints, individuals)`` and
        ``confidence`` ``(time, keypoints, individuals)``; ``time`` in seconds when
        ``data.fps`` is known, else in frames. Attributes add ``space_unit`` (``data.unit``)
        and ``source_file`` (when ``data.source`` is set); ``frame_names`` become the
        ``frame_name`` coordinate along ``time``.
    """
    _import_movement()
    from movement.io import load_poses

    try:
        ds: xr.Dataset = load_poses.from_numpy(
            position_array=data.points.transpose(0, 3, 2, 1),
            confidence_array=data.confidence.transpose(0, 2, 1),
            individual_names=list(data.individuals),
            keypoint_names=list(data.keypoints),
            fps=data.fps,
            source_software="ethoagent",
        )
    except (ValueError, TypeError) as exc:
        raise InputError(
            f"cannot convert {data!r} to a movement dataset: {exc}",
            fix="give each individual and keypoint a unique name and a positive fps (or None).",
        ) from exc
    ds.attrs["space_unit"] = data.unit
    if data.source:
        ds.attrs["source_file"] = data.source
    if data.frame_names is not None:
        ds = ds.assign_coords(frame_name=("time", list(data.frame_names)))
    return ds


def from_movement_dataset(ds: xr.Dataset, *, source: str | None = None) -> PoseData:
    """Convert a ``movement`` poses dataset to ``PoseData``.

    Args:
        ds: ``position`` ``(time, space, keypoints[, individuals])`` with ``space`` = x, y
            or x, y, z; ``confidence`` ``(time, keypoints[, individuals])`` (optional).
            The ``fps``, ``space_unit`` and ``source_file`` attributes and a
            ``frame_name`` coordinate are used where present.
        source: the file it was read from (default: the ``source_file`` attribute).

    Returns:
        ``PoseData``; ``unit`` is ``space_unit`` or, without it, ``"px"`` for 2D and
        ``"mm"`` for 3D. Time coordinates are not checked: frames are taken in order.
    """
    import xarray as xr

    if not isinstance(ds, xr.Dataset) or "position" not in ds.data_vars:
        raise InputError(
            f"expected a movement poses dataset (an xarray.Dataset with a 'position' "
            f"variable); found {type(ds).__name__}"
            + (f" with variables {list(ds.data_vars)}" if isinstance(ds, xr.Dataset) else "")
            + ".",
            fix="load it with movement.io.load_dataset or ethoagent's read_keypoints.",
        )
    pos = ds["position"]
    if "individuals" not in pos.dims:
        pos = pos.expand_dims(individuals=[_DEFAULT_INDIVIDUAL])
    need = ("time", "space", "keypoints", "individuals")
    if set(pos.dims) != set(need):
        raise InputError(
            f"movement dataset 'position' must have dims {need}; found {pos.dims}.",
            fix="drop or rename the extra dimensions (e.g. ds.sel(view=...)).",
        )
    space = [str(s) for s in pos["space"].values]
    if space not in (["x", "y"], ["x", "y", "z"]):
        raise InputError(
            f"movement dataset 'space' must be ['x', 'y'] or ['x', 'y', 'z']; found {space}.",
            fix="select the spatial coordinates with ds.sel(space=['x', 'y']).",
        )
    points = pos.transpose("time", "individuals", "keypoints", "space").values
    if "confidence" in ds.data_vars:
        conf_da = ds["confidence"]
        if "individuals" not in conf_da.dims:
            conf_da = conf_da.expand_dims(individuals=pos["individuals"].values)
        confidence = conf_da.transpose("time", "individuals", "keypoints").values
    else:
        confidence = np.full(points.shape[:3], np.nan)
    fps = ds.attrs.get("fps")
    unit = ds.attrs.get("space_unit") or ("px" if len(space) == 2 else "mm")
    names = ds.coords.get("frame_name")
    return PoseData(
        points=points,
        confidence=confidence,
        keypoints=tuple(str(k) for k in pos["keypoints"].values),
        individuals=tuple(str(i) for i in pos["individuals"].values),
        fps=None if fps is None or not np.isfinite(fps) else float(fps),
        unit=str(unit),
        frame_names=None if names is None else tuple(str(n) for n in names.values),
        source=str(ds.attrs.get("source_file", "")) if source is None else source,
    )


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


def _head_rows(p: Path, n: int, *, encoding: str = "utf-8-sig") -> list[list[str]]:
    """The first ``n`` CSV rows of ``p`` (without reading the whole file)."""
    try:
        with p.open(encoding=encoding, newline="") as fh:
            lines = [line for _, line in zip(range(n), fh, strict=False)]
    except (UnicodeDecodeError, OSError) as exc:
        raise InputError(
            f"cannot read {p} as UTF-8 text: {exc}.", fix="pass a CSV keypoint file."
        ) from exc
    return list(csv.reader(lines))


def _infer_format(p: Path) -> KeypointFormat:
    suffix = p.suffix.lower()
    if suffix == ".csv":
        rows = _head_rows(p, 6)
        first = [c.strip() for c in rows[0]] if rows else []
        if _dlc_header_rows(rows):
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


def _movement_load(p: Path, software: str, fps: float | None, **kwargs: Any) -> xr.Dataset:
    _import_movement()
    from movement.io import load_dataset

    ds: xr.Dataset = load_dataset(p, software, fps, **kwargs)
    return ds


def _read_dlc(p: Path, fps: float | None) -> PoseData:
    if p.suffix.lower() == ".h5":
        import pandas as pd

        frame = pd.read_hdf(p, key="df_with_missing")
        return _pose_from_dlc_frame(frame, fps=fps, source=str(p))
    if not _movement_reads_dlc_csv(p):
        return read_dlc_csv(p, fps=fps)
    _check_last_row(p)
    return _from_2d_or_3d(_movement_load(p, "DeepLabCut", fps), p)


def _read_lightning_pose(p: Path, fps: float | None) -> PoseData:
    return _from_2d_or_3d(_movement_load(p, "LightningPose", fps), p)


def _read_sleap_analysis(p: Path, fps: float | None) -> PoseData:
    return _from_2d_or_3d(_movement_load(p, "SLEAP", fps), p)


def _from_2d_or_3d(ds: xr.Dataset, p: Path) -> PoseData:
    """``from_movement_dataset`` for a third-party file: 2D in px, 3D in mm."""
    data = from_movement_dataset(ds, source=str(p))
    return replace(data, unit="px" if data.points.shape[-1] == 2 else "mm")


def _movement_reads_dlc_csv(p: Path) -> bool:
    """Whether movement's DLC CSV reader fits ``p``.

    It needs the literal header cells ``scorer, [individuals,] bodyparts, coords``, one
    integer index column and every individual carrying every body part in order; labelled
    frames (image-path index) and multi-animal files with unique ("single") body parts
    need the pure-python parser.
    """
    rows = _head_rows(p, 5, encoding="utf-8")
    firsts = [r[0] if r else "" for r in rows]
    levels = ["scorer", "individuals", "bodyparts", "coords"]
    if firsts[:4] != levels:
        levels.remove("individuals")
        if firsts[:3] != levels:
            return False
    data_row = rows[len(levels)] if len(rows) > len(levels) else []
    if not data_row or not data_row[0].strip().isdigit():
        return False
    coords = rows[levels.index("coords")][1:]
    if any(c not in _COORDS for c in coords) or not coords:
        return False
    parts = rows[levels.index("bodyparts")][1:]
    inds = rows[1][1:] if "individuals" in levels else [""] * len(parts)
    cols = list(zip(inds, parts, coords, strict=False))
    grid = list(product(dict.fromkeys(inds), dict.fromkeys(parts), dict.fromkeys(coords)))
    return cols == grid


def _check_last_row(p: Path) -> None:
    """Raise if the last row of a CSV has fewer cells than the header (a cut-off file).

    movement (pandas) would fill the missing cells with NaN and carry on.
    """
    with p.open("rb") as fh:
        header = fh.readline()
        fh.seek(max(fh.seek(0, os.SEEK_END) - 65536, 0))
        tail = fh.read().rstrip(b"\r\n").rsplit(b"\n", 1)[-1]
    n_header, n_last = header.count(b",") + 1, tail.count(b",") + 1
    if n_last != n_header:
        raise InputError(
            f"{p}: the last row has {n_last} cells; the header has {n_header}.",
            fix="the file is truncated or corrupt; export or copy it again.",
        )


def _pose_from_dlc_frame(frame: pd.DataFrame, *, fps: float | None, source: str) -> PoseData:
    """``PoseData`` from a DeepLabCut table (as stored in DLC ``.h5`` files)."""
    import pandas as pd

    _import_movement()
    from movement.io import load_poses

    cols = frame.columns
    need = {"scorer", "bodyparts", "coords"}
    if not isinstance(cols, pd.MultiIndex) or not need <= set(cols.names):
        raise InputError(
            f"{source} is not a DeepLabCut table: expected column levels 'scorer', "
            f"['individuals'], 'bodyparts', 'coords'; found {list(cols.names)}.",
            fix="pass a DeepLabCut predictions or CollectedData .h5 file.",
        )
    # every individual gets every body part (maDLC lists unique parts under "single")
    grid = pd.MultiIndex.from_product(
        [cols.unique(level=name) for name in cols.names], names=cols.names
    )
    frame = frame.reindex(columns=grid)
    ds = load_poses.from_dlc_style_df(frame, fps=fps)
    index = frame.index
    names: tuple[str, ...] | None = None
    if isinstance(index, pd.MultiIndex):
        names = tuple("/".join(str(part) for part in row) for row in index)
    elif not pd.api.types.is_integer_dtype(index.dtype):
        names = tuple(str(n) for n in index)
    data = _from_2d_or_3d(ds, Path(source))
    return replace(data, frame_names=names)


def _read_sleap(p: Path, fps: float | None) -> PoseData:
    import sleap_io as sio

    # sleap-io finds a moved video beside the file and takes its length and fps from it
    labels = sio.load_slp(str(p))
    try:
        if not labels.skeletons or not labels.videos:
            raise InputError(
                f"SLEAP file {p} has no skeleton or no video, so no keypoints.",
                fix="open it in SLEAP and check that it holds labelled or predicted frames.",
            )
        video = labels.videos[0]
        untracked = not labels.tracks
        # (frames, tracks, nodes, 3): x, y, score; user instances before predicted ones
        arr = np.asarray(
            labels.numpy(video=video, untracked=untracked, return_confidence=True),
            dtype=np.float64,
        )
        pred = np.asarray(
            labels.numpy(
                video=video, untracked=untracked, return_confidence=True, user_instances=False
            ),
            dtype=np.float64,
        )
        video_fps = getattr(video, "fps", None) or video.backend_metadata.get("fps")
    finally:
        for v in labels.videos:
            v.close()
    points = arr[..., :2]
    # a score belongs to a predicted instance that was used (not one a user label
    # replaced) and to a point it shows; where sleap-io cannot tell, there is none
    from_pred = np.zeros(arr.shape[:2], dtype=bool)
    if pred.shape == arr.shape:
        xy = pred[..., :2]
        from_pred = ((points == xy) | (np.isnan(points) & np.isnan(xy))).all(axis=(2, 3))
    shown = ~np.isnan(points).any(axis=-1)
    confidence = np.where(from_pred[..., None] & shown, arr[..., 2], np.nan)
    individuals = (
        tuple(f"individual_{i}" for i in range(arr.shape[1]))
        if untracked
        else tuple(t.name for t in labels.tracks)
    )
    return PoseData(
        points=points,
        confidence=confidence,
        keypoints=tuple(labels.skeletons[-1].node_names),
        individuals=individuals,
        fps=fps if fps is not None else (float(video_fps) if video_fps else None),
        unit="px",
        source=str(p),
    )


def _read_anipose(p: Path, fps: float | None) -> PoseData:
    ds = _movement_load(p, "Anipose", fps, individual_name=_DEFAULT_INDIVIDUAL)
    # movement sorts the keypoints by name; keep the file's order
    header = _head_rows(p, 1)[0]
    order = [c[:-2] for c in header if c.endswith("_x")]
    return _from_2d_or_3d(ds.sel(keypoints=order), p)


def _read_nwb(p: Path, fps: float | None) -> PoseData:
    import pynwb

    _import_movement()
    from movement.io import load_poses

    with pynwb.NWBHDF5IO(str(p), mode="r") as nwb_io:
        nwb = nwb_io.read()
        ds = load_poses.from_nwb_file(nwb)
        estimation = nwb.processing["behavior"]["PoseEstimation"]
        skeleton = getattr(estimation, "skeleton", None)
        order = list(skeleton.nodes[:]) if skeleton is not None else []
        units = {str(s.unit) for s in estimation.pose_estimation_series.values()}
    # movement merges the keypoints in name order; keep the skeleton's
    if sorted(order) == sorted(str(k) for k in ds["keypoints"].values):
        ds = ds.sel(keypoints=order)
    unit = units.pop() if len(units) == 1 else ""
    data = from_movement_dataset(ds, source=str(p))
    dims = data.points.shape[-1]
    unit = "px" if unit in ("", "pixels") and dims == 2 else unit or "mm"
    return replace(data, unit=unit)


def _read_netcdf(p: Path, fps: float | None) -> PoseData:
    import xarray as xr

    with xr.open_dataset(p) as ds:
        if ds.attrs.get("ds_type", "poses") != "poses":
            raise InputError(
                f"{p} holds a movement {ds.attrs['ds_type']!r} dataset, not poses.",
                fix="pass a poses dataset saved with ds.to_netcdf().",
            )
        return from_movement_dataset(ds.load(), source=str(p))


_READERS: dict[str, Callable[[Path, float | None], PoseData]] = {
    "dlc": _read_dlc,
    "lightning_pose": _read_lightning_pose,
    "sleap": _read_sleap,
    "sleap_analysis": _read_sleap_analysis,
    "anipose": _read_anipose,
    "nwb": _read_nwb,
    "netcdf": _read_netcdf,
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


def _write_via(path: Path, write: Callable[[Path], object]) -> Path:
    """Let a library write ``path`` atomically: into a hidden folder beside it, then rename.

    The library sees a path with the final name (some check the suffix, none may exist).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp_dir = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    try:
        tmp = tmp_dir / path.name
        write(tmp)
        tmp.replace(path)
    finally:
        shutil.rmtree(tmp_dir, ignore_errors=True)
    return path


def _write_dlc(data: PoseData, p: Path) -> Path:
    if p.suffix.lower() == ".csv":
        return write_dlc_csv(p, data)
    frame = _dlc_frame(data, scorer="ethoagent", multi=data.points.shape[1] > 1)
    return _write_via(p, lambda t: frame.to_hdf(t, key="df_with_missing", mode="w"))


def _write_lightning_pose(data: PoseData, p: Path) -> Path:
    return write_dlc_csv(p, data, multi_animal=False)


def _write_sleap(data: PoseData, p: Path) -> Path:
    import sleap_io as sio

    # all-NaN confidence: labels (SLEAP user instances), else predictions with scores
    user_labels = bool(np.isnan(data.confidence).all())
    meta = {} if data.fps is None else {"fps": data.fps}
    # PoseData does not know its video: reference <name>.mp4 beside the file
    video = sio.Video(filename=f"{p.stem}.mp4", backend_metadata=meta, open_backend=False)
    skeleton = sio.Skeleton(list(data.keypoints))
    tracks = [sio.Track(name) for name in data.individuals]
    labels = sio.Labels(videos=[video], skeletons=[skeleton], tracks=tracks)
    present = np.asarray(~np.isnan(data.points).all(axis=(2, 3)))  # (frames, individuals)
    for f in np.flatnonzero(present.any(axis=1)):
        instances: list[Any] = []
        for i in np.flatnonzero(present[f]):
            pts, scores = data.points[f, i], data.confidence[f, i]
            if user_labels:
                instances.append(sio.Instance.from_numpy(pts, skeleton=skeleton, track=tracks[i]))
                continue
            known = scores[~np.isnan(scores)]
            instances.append(
                sio.PredictedInstance.from_numpy(
                    pts,
                    skeleton=skeleton,
                    point_scores=scores,
                    score=float(known.mean()) if known.size else float("nan"),
                    track=tracks[i],
                )
            )
        labels.append(sio.LabeledFrame(video=video, frame_idx=int(f), instances=instances))
    return _write_via(p, lambda t: sio.save_slp(labels, str(t), verbose=False))


def _write_sleap_analysis(data: PoseData, p: Path) -> Path:
    _import_movement()
    from movement.io import save_poses

    ds = to_movement_dataset(data)
    return _write_via(p, lambda t: save_poses.to_sleap_analysis_file(ds, t))


def _write_anipose(data: PoseData, p: Path) -> Path:
    from ethoagent.io.anipose import write_anipose_3d

    return write_anipose_3d(p, data.points[:, 0], data.keypoints, score=data.confidence[:, 0])


def _write_nwb(data: PoseData, p: Path) -> Path:
    import pynwb

    _import_movement()
    from movement.io import save_poses
    from movement.io.nwb import NWBFileSaveConfig

    unit = "pixels" if data.unit == "px" else data.unit
    config = NWBFileSaveConfig(pose_estimation_series_kwargs={"unit": unit})
    nwb = save_poses.to_nwb_file(to_movement_dataset(data), config)

    def write(t: Path) -> None:
        with pynwb.NWBHDF5IO(str(t), mode="w") as nwb_io:
            nwb_io.write(nwb)

    return _write_via(p, write)


def _write_netcdf(data: PoseData, p: Path) -> Path:
    ds = to_movement_dataset(data)
    # netCDF attributes cannot be None
    ds.attrs = {k: v for k, v in ds.attrs.items() if v is not None}
    return _write_via(p, lambda t: ds.to_netcdf(t))


_WRITERS: dict[str, Callable[[PoseData, Path], Path]] = {
    "dlc": _write_dlc,
    "lightning_pose": _write_lightning_pose,
    "sleap": _write_sleap,
    "sleap_analysis": _write_sleap_analysis,
    "anipose": _write_anipose,
    "nwb": _write_nwb,
    "netcdf": _write_netcdf,
}


# --------------------------------------------------------------------------- DLC CSV


def read_dlc_csv(path: str | os.PathLike[str], *, fps: float | None = None) -> PoseData:
    """Read any DeepLabCut CSV with the pure-python parser (no pandas, no movement).

    ``read_keypoints`` routes DLC prediction CSVs through movement and uses this parser
    for what movement cannot read: labelled-frame CSVs (``CollectedData_*.csv``, index =
    image path in 1 or 3 columns) and multi-animal files whose individuals carry different
    body parts (maDLC's unique parts under individual ``"single"``).

    Args:
        path: the ``.csv`` file: 3 header rows (scorer / bodyparts / coords) or 4
            (scorer / individuals / bodyparts / coords); coords ``x, y, likelihood``
            (predictions), ``x, y`` (labelled frames) or ``x, y, z`` (3D).
        fps: frame rate to attach (DLC files do not store it).

    Returns:
        ``PoseData``; a single-animal file gives one individual named ``"individual_0"``.
        Columns ``x, y[, z]`` fill ``points`` (3D in ``"mm"``); ``likelihood`` fills
        ``confidence``; an individual without a body part has NaN there. Image-path
        indices become ``frame_names`` (3 columns joined with ``/``).
    """
    p = Path(path)
    rows = read_rows(p, "DeepLabCut CSV")
    heads = _dlc_header_rows(rows)
    if not heads:
        raise InputError(
            f"{p} is not a DeepLabCut CSV: expected header rows 'scorer', ['individuals'], "
            f"'bodyparts', 'coords'; found first cells {[r[0] if r else '' for r in rows[:4]]}.",
            fix="export the predictions/labels as CSV from DeepLabCut (or pass the .csv, not .h5).",
        )
    coords_row = rows[heads["coords"]]
    n_index = 0
    while n_index < len(coords_row) and coords_row[n_index].strip().lower() not in _COORDS:
        n_index += 1
    bp_row = rows[heads["bodyparts"]]
    ind_row = rows[heads["individuals"]] if "individuals" in heads else None
    cols = range(n_index, len(coords_row))
    keypoints: list[str] = []
    individuals: list[str] = []
    slots: list[tuple[int, int, str]] = []
    for c in cols:
        coord = coords_row[c].strip().lower()
        if coord not in _COORDS:
            raise InputError(
                f"{p} column {c + 1}: coordinate {coords_row[c]!r} is not one of {_COORDS}.",
                fix="check the file's 'coords' header row.",
            )
        kp = bp_row[c].strip()
        ind = ind_row[c].strip() if ind_row is not None else _DEFAULT_INDIVIDUAL
        if kp not in keypoints:
            keypoints.append(kp)
        if ind not in individuals:
            individuals.append(ind)
        slots.append((individuals.index(ind), keypoints.index(kp), coord))
    dims = 3 if any(s[2] == "z" for s in slots) else 2
    data = rows[heads["coords"] + 1 :]
    if data and _is_index_name_row(data[0], n_index):
        data = data[1:]
    data = [r for r in data if any(cell.strip() for cell in r)]
    pts = np.full((len(data), len(individuals), len(keypoints), dims), np.nan)
    conf = np.full((len(data), len(individuals), len(keypoints)), np.nan)
    names: list[str] = []
    for f, row in enumerate(data):
        if len(row) < len(coords_row):
            raise InputError(
                f"{p} data row {f + 1} has {len(row)} cells; the header has {len(coords_row)}.",
                fix="the file is truncated or corrupt; re-export it.",
            )
        names.append("/".join(cell for cell in row[:n_index] if cell))
        try:
            values = [parse_float(row[c]) for c in cols]
        except ValueError as exc:
            raise InputError(
                f"{p} data row {f + 1} holds a non-numeric value: {exc}.",
                fix="re-export the file; coordinates must be numbers or empty.",
            ) from exc
        for (i, k, coord), value in zip(slots, values, strict=True):
            if coord == "likelihood":
                conf[f, i, k] = value
            else:
                pts[f, i, k, "xyz".index(coord)] = value
    frame_names: tuple[str, ...] | None = tuple(names)
    if n_index <= 2 and all(n.replace("/", "").isdigit() or not n for n in names):
        frame_names = None  # frame numbers (twice in a re-save of a re-save), or none
    return PoseData(
        points=pts,
        confidence=conf,
        keypoints=tuple(keypoints),
        individuals=tuple(individuals),
        fps=fps,
        unit="px" if dims == 2 else "mm",
        frame_names=frame_names,
        source=str(p),
    )


_LEVELS = ("scorer", "individuals", "bodyparts", "coords")


def _dlc_header_rows(rows: Sequence[Sequence[str]]) -> dict[str, int]:
    """Which of a CSV's first rows are DeepLabCut's header levels, by level name.

    Reads DLC's own files (first cells ``scorer``, [``individuals``,] ``bodyparts``,
    ``coords``) and pandas re-saves of them: with an extra index column (the level name in
    the second cell), with an index-name row after ``coords`` (skipped by the reader), or
    with no index column and no level names (``to_csv(index=False)``: the header is found
    from the row of coordinate names ``x``, ``y``, ``likelihood``).

    Args:
        rows: the file's first rows (6 suffice), as CSV cells.

    Returns:
        Level -> row number (``"bodyparts"`` and ``"coords"`` always present), or an empty
        dict where the rows are no DeepLabCut header.
    """
    heads: dict[str, int] = {}
    for i, row in enumerate(rows[:6]):
        key = next((c.strip().lower() for c in row[:2] if c.strip()), "")
        if key in _LEVELS:
            heads.setdefault(key, i)
    if "bodyparts" in heads and "coords" in heads:
        return heads
    for i, row in enumerate(rows[:5]):
        cells = [c.strip().lower() for c in row]
        if i in (2, 3) and cells and all(c in _COORDS for c in cells):
            levels = ("scorer", "bodyparts", "coords") if i == 2 else _LEVELS
            return {level: n for n, level in enumerate(levels)}
    return {}


def _is_index_name_row(row: Sequence[str], n_index: int) -> bool:
    """Whether a row after ``coords`` is the index-name row pandas writes (``frame,,,``)."""
    label = "".join(row[:n_index]).strip()
    values = [c for c in row[n_index:] if c.strip()]
    return bool(label) and not label.isdigit() and not values


def write_dlc_csv(
    path: str | os.PathLike[str],
    data: PoseData,
    *,
    scorer: str = "ethoagent",
    multi_animal: bool | None = None,
    float_format: str = "{:.6f}",
) -> Path:
    """Write ``PoseData`` as a DeepLabCut CSV (atomically), through movement's DLC table.

    Args:
        path: destination ``.csv``.
        data: the keypoints; 2D writes ``x, y, likelihood`` (likelihood = ``confidence``,
            empty where NaN), 3D writes ``x, y, z`` (DLC has no 3D likelihood).
        scorer: the scorer header value.
        multi_animal: write the 4-row multi-animal header; default: when there is more than
            one individual.
        float_format: format of each number; NaN is written as an empty cell (as DLC does).

    Returns:
        The path written. The index is the frame number, or ``data.frame_names`` (one
        column) where set.
    """
    multi = data.points.shape[1] > 1 if multi_animal is None else multi_animal
    if not multi and data.points.shape[1] != 1:
        raise InputError(
            f"cannot write {data.points.shape[1]} individuals to a single-animal DLC CSV {path}.",
            fix="pass multi_animal=True.",
        )
    frame = _dlc_frame(data, scorer=scorer, multi=multi)
    text = frame.to_csv(float_format=float_format.format, na_rep="", lineterminator="\n")
    return atomic_write_text(Path(path), text)


def _dlc_frame(data: PoseData, *, scorer: str, multi: bool) -> pd.DataFrame:
    """DeepLabCut table of ``data`` (column levels scorer, [individuals], bodyparts, coords)."""
    import pandas as pd

    _import_movement()
    from movement.io import save_poses

    ds = to_movement_dataset(data)
    if multi:
        frame = save_poses.to_dlc_style_df(ds, split_individuals=False)
    else:
        frame = save_poses.to_dlc_style_df(ds, split_individuals=True)[data.individuals[0]]
    frame.columns = frame.columns.set_levels([scorer], level="scorer")
    if data.frame_names is not None:
        frame.index = pd.Index(list(data.frame_names))
    return frame
