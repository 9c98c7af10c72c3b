"""``PoseData`` to and from ``movement`` poses datasets, and the formats that go through them alone.

``to_movement_dataset`` / ``from_movement_dataset`` convert keypoints ``(frames,
individuals, keypoints, D)`` (D = 2 pixels or 3 mm, NaN = missing) to and from a
``movement`` poses dataset (dims ``time, space, keypoints, individuals``). The readers of
NWB (ndx-pose, through movement + pynwb) and movement's own netCDF files live here, with
the helpers the other keypoint readers share: ``import_movement`` (movement takes ~3 s to
import, so it is imported on first use), ``load_with_movement`` and ``write_via`` (a
library's write made atomic). ``ethoagent.io.keypoints`` picks the reader by format.
"""

from __future__ import annotations

import functools
import shutil
import tempfile
import warnings
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ethoagent.errors import InputError
from ethoagent.model.pose import PoseData

if TYPE_CHECKING:
    import xarray as xr

__all__ = [
    "DEFAULT_INDIVIDUAL",
    "from_movement_dataset",
    "from_movement_file",
    "import_movement",
    "load_with_movement",
    "read_netcdf_file",
    "read_nwb_file",
    "to_movement_dataset",
    "write_netcdf_file",
    "write_nwb_file",
    "write_via",
]

DEFAULT_INDIVIDUAL = "individual_0"
"""The individual's name where a file holds one animal and names none."""


@functools.cache
def import_movement() -> None:
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
    import_movement()
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
        pos = pos.expand_dims(individuals=[DEFAULT_INDIVIDUAL])
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


def load_with_movement(p: Path, software: str, fps: float | None, **kwargs: Any) -> xr.Dataset:
    """Load ``p`` with movement's loader for ``software`` (``"DeepLabCut"``, ``"SLEAP"``, …)."""
    import_movement()
    from movement.io import load_dataset

    ds: xr.Dataset = load_dataset(p, software, fps, **kwargs)
    return ds


def from_movement_file(ds: xr.Dataset, p: Path) -> PoseData:
    """``from_movement_dataset`` for a third-party file: 2D in px, 3D in mm."""
    data = from_movement_dataset(ds, source=str(p))
    return replace(data, unit="px" if data.points.shape[-1] == 2 else "mm")


def write_via(path: Path, write: Callable[[Path], object]) -> Path:
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


def read_nwb_file(p: Path, fps: float | None) -> PoseData:
    """Read an NWB (ndx-pose) file, keeping the skeleton's keypoint order and its unit.

    ``fps`` is unused: NWB stores timestamps in seconds (``read_keypoints`` attaches it).
    """
    import pynwb

    import_movement()
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


def write_nwb_file(data: PoseData, p: Path) -> Path:
    """Write one individual as an NWB (ndx-pose) file (``data.fps`` set), atomically."""
    import pynwb

    import_movement()
    from movement.io import save_poses
    from movement.io.nwb import NWBFileSaveConfig

    unit = "pixels" if data.unit == "px" else data.unit
    config = NWBFileSaveConfig(pose_estimation_series_kwargs={"unit": unit})
    nwb = save_poses.to_nwb_file(to_movement_dataset(data), config)

    def write(t: Path) -> None:
        with pynwb.NWBHDF5IO(str(t), mode="w") as nwb_io:
            nwb_io.write(nwb)

    return write_via(p, write)


def read_netcdf_file(p: Path, fps: float | None) -> PoseData:
    """Read a movement poses dataset saved as netCDF (``fps`` unused: the file has its own)."""
    import xarray as xr

    with xr.open_dataset(p) as ds:
        if ds.attrs.get("ds_type", "poses") != "poses":
            raise InputError(
                f"{p} holds a movement {ds.attrs['ds_type']!r} dataset, not poses.",
                fix="pass a poses dataset saved with ds.to_netcdf().",
            )
        return from_movement_dataset(ds.load(), source=str(p))


def write_netcdf_file(data: PoseData, p: Path) -> Path:
    """Write ``data`` as a movement poses dataset in netCDF, atomically."""
    ds = to_movement_dataset(data)
    # netCDF attributes cannot be None
    ds.attrs = {k: v for k, v in ds.attrs.items() if v is not None}
    return write_via(p, lambda t: ds.to_netcdf(t))
