"""Ethograms in the ecosystem's shapes: movement-style netCDF and NWB time intervals.

Beside the ethogram CSV and the BORIS export (``tools.ethogram``), a behaviour run writes

- ``ethogram.nc``: an xarray dataset on movement's time axis (``time`` in seconds,
  ``individuals`` as in the keypoint file) so it lines up with a movement poses dataset of
  the same session (``xr.merge([poses, ethogram])``). Variables:
  ``behaviour (time, individuals)`` int16 code of each frame's label (CF ``flag_values`` /
  ``flag_meanings``; -1 = no epoch), ``behaviour_active (time, individuals, behaviours)``
  int8 one-hot (sum over ``time`` / ``fps`` = seconds), ``confidence (time, individuals)``
  float32 in ``[0, 1]``, and the epochs table on an ``epochs`` axis (``epoch_individual``,
  ``epoch_start_s``, ``epoch_stop_s``, ``epoch_label``, ``epoch_description``,
  ``epoch_confidence``).
  Attributes: ``fps`` (Hz), ``time_unit`` = ``"seconds"``, ``ds_type`` = ``"ethogram"``,
  ``source_software``, ``source_file``. ``read_ethogram_netcdf`` reads it back.
- ``ethogram.nwb``: an NWB file whose ``intervals`` hold one ``TimeIntervals`` table,
  ``behaviour_epochs`` (``start_time``, ``stop_time`` in seconds; ``behaviour``,
  ``animal``, ``confidence``, ``note`` = the epoch's description), one row per epoch; needs pynwb
  (``nwb_available``). ``read_ethogram_nwb`` reads it back.

Times are ``frame / fps``; frames come back as ``round(time * fps)``.
"""

from __future__ import annotations

import hashlib
import importlib.util
import math
import os
import shutil
import tempfile
import uuid
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ethoagent.atomic import atomic_write_bytes
from ethoagent.errors import InputError
from ethoagent.model.ethogram import Epoch

if TYPE_CHECKING:
    import xarray as xr

__all__ = [
    "NWB_TABLE",
    "ethogram_dataset",
    "ethogram_netcdf_bytes",
    "ethogram_nwb_bytes",
    "nwb_available",
    "nwb_or_reason",
    "read_ethogram_netcdf",
    "read_ethogram_nwb",
    "write_ethogram_netcdf",
    "write_ethogram_nwb",
]

_EPOCH_FIELDS = ("individual", "start_s", "stop_s", "label", "description", "confidence")
"""The epochs table's variables (``epoch_<field>``) in ``ethogram.nc``."""

NWB_TABLE = "behaviour_epochs"
"""Name of the ``TimeIntervals`` table in the NWB file's ``intervals``."""


def nwb_available() -> bool:
    """Whether pynwb is installed (NWB output is skipped, with a note, where it is not)."""
    return importlib.util.find_spec("pynwb") is not None


def _check(epochs: Mapping[str, Sequence[Epoch]], frames: int, fps: float) -> None:
    if not (math.isfinite(fps) and fps > 0):
        raise InputError(f"fps must be a positive frame rate in Hz; found {fps}.")
    if frames < 1 or not epochs:
        raise InputError(
            f"an ethogram export needs at least one animal and frame; found {len(epochs)} "
            f"animal(s), {frames} frame(s).",
            fix="pass the run's epochs per animal and the session's length.",
        )


def ethogram_dataset(
    epochs: Mapping[str, Sequence[Epoch]], frames: int, fps: float, *, source: str = ""
) -> xr.Dataset:
    """The ethogram as a movement-style xarray dataset (see the module docstring).

    Args:
        epochs: animal -> its epochs (frames ``[start, stop)``).
        frames: the session's length in frames.
        fps: frame rate, Hz.
        source: the keypoint file the ethogram was made from (attribute ``source_file``).
    """
    import xarray as xr

    _check(epochs, frames, fps)
    names = list(epochs)
    behaviours = sorted({e.label for eps in epochs.values() for e in eps})
    code = {b: i for i, b in enumerate(behaviours)}
    labels = np.full((frames, len(names)), -1, dtype=np.int16)
    confidence = np.full((frames, len(names)), np.nan, dtype=np.float32)
    rows: list[tuple[str, Epoch]] = []
    for a, name in enumerate(names):
        for e in epochs[name]:
            labels[e.start : e.stop, a] = code[e.label]
            confidence[e.start : e.stop, a] = e.confidence
            rows.append((name, e))
    active = (labels[:, :, None] == np.arange(len(behaviours))[None, None]).astype(np.int8)
    ds = xr.Dataset(
        {
            "behaviour": (("time", "individuals"), labels),
            "behaviour_active": (("time", "individuals", "behaviours"), active),
            "confidence": (("time", "individuals"), confidence),
            "epoch_individual": ("epochs", [n for n, _ in rows]),
            "epoch_start_s": ("epochs", [e.start / fps for _, e in rows]),
            "epoch_stop_s": ("epochs", [e.stop / fps for _, e in rows]),
            "epoch_label": ("epochs", [e.label for _, e in rows]),
            "epoch_description": ("epochs", [e.description for _, e in rows]),
            "epoch_confidence": ("epochs", [float(e.confidence) for _, e in rows]),
        },
        coords={
            "time": np.arange(frames) / fps,
            "individuals": names,
            "behaviours": behaviours,
        },
        attrs={
            "ds_type": "ethogram",
            "fps": float(fps),
            "time_unit": "seconds",
            "source_software": "ethoagent",
            "source_file": source,
        },
    )
    ds["behaviour"].attrs.update(
        flag_values=np.arange(len(behaviours), dtype=np.int16),
        flag_meanings=" ".join(b.replace(" ", "_") for b in behaviours),
        long_name="behaviour code of each frame (index into behaviours; -1 = no epoch)",
    )
    ds["confidence"].attrs["long_name"] = "confidence of the frame's epoch, 0-1"
    ds["time"].attrs["units"] = "seconds"
    return ds


def _via_file(suffix: str, write: Callable[[Path], None]) -> bytes:
    """Bytes of a file a library writes by path (into a private temporary folder)."""
    tmp = Path(tempfile.mkdtemp(prefix="ethoagent-export-"))
    try:
        path = tmp / f"ethogram{suffix}"
        write(path)
        return path.read_bytes()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def ethogram_netcdf_bytes(
    epochs: Mapping[str, Sequence[Epoch]], frames: int, fps: float, *, source: str = ""
) -> bytes:
    """``ethogram_dataset`` as netCDF-4 bytes (written with h5netcdf)."""
    ds = ethogram_dataset(epochs, frames, fps, source=source)
    return _via_file(".nc", lambda p: ds.to_netcdf(p, engine="h5netcdf"))


def write_ethogram_netcdf(
    path: str | os.PathLike[str],
    epochs: Mapping[str, Sequence[Epoch]],
    frames: int,
    fps: float,
    *,
    source: str = "",
) -> Path:
    """Write ``ethogram_dataset`` to ``path`` (``.nc``) atomically; return the path."""
    return atomic_write_bytes(Path(path), ethogram_netcdf_bytes(epochs, frames, fps, source=source))


def read_ethogram_netcdf(path: str | os.PathLike[str]) -> dict[str, list[Epoch]]:
    """Epochs per animal from an ``ethogram.nc`` (``write_ethogram_netcdf``).

    Raises:
        InputError: the file is missing, unreadable, or not an ethogram dataset.
    """
    import xarray as xr

    p = Path(path)
    if not p.is_file():
        raise InputError(f"ethogram netCDF {p} not found.", fix="check the path.")
    try:
        with xr.open_dataset(p, engine="h5netcdf") as ds:
            kind, fps = ds.attrs.get("ds_type"), float(ds.attrs.get("fps", 0.0))
            table = (
                {k: ds[f"epoch_{k}"].values.tolist() for k in _EPOCH_FIELDS}
                if kind == "ethogram"
                else {}
            )
    except (OSError, ValueError, KeyError) as exc:
        raise InputError(
            f"cannot read {p} as an ethogram netCDF: {exc}.",
            fix="pass an ethogram.nc written by ethoagent segment or classify.",
        ) from exc
    if kind != "ethogram" or not fps > 0:
        raise InputError(
            f"{p} is not an ethogram netCDF (ds_type {kind!r}, fps {fps}).",
            fix="pass an ethogram.nc written by ethoagent segment or classify.",
        )
    out: dict[str, list[Epoch]] = {}
    for name, start, stop, label, description, confidence in zip(
        *(table[k] for k in _EPOCH_FIELDS), strict=True
    ):
        out.setdefault(str(name), []).append(
            Epoch(
                start=round(start * fps),
                stop=round(stop * fps),
                label=str(label),
                description=str(description),
                confidence=float(confidence),
            )
        )
    return out


def _session_id(epochs: Mapping[str, Sequence[Epoch]], source: str) -> str:
    """A deterministic identifier: the same ethogram of the same file gives the same id."""
    h = hashlib.sha256(source.encode())
    for name, eps in epochs.items():
        h.update(name.encode())
        for e in eps:
            h.update(f"{e.start},{e.stop},{e.label}".encode())
    return str(uuid.UUID(h.hexdigest()[:32]))


def ethogram_nwb_bytes(
    epochs: Mapping[str, Sequence[Epoch]],
    frames: int,
    fps: float,
    *,
    source: str = "",
    session_start: datetime | None = None,
) -> bytes:
    """The ethogram as an NWB file's bytes: one ``TimeIntervals`` row per epoch.

    Args:
        epochs: animal -> its epochs (frames ``[start, stop)``).
        frames: the session's length in frames.
        fps: frame rate, Hz (times are ``frame / fps`` seconds from the session start).
        source: the keypoint file (in the session description).
        session_start: the recording's start; ``None``: the keypoint file's modification
            time (UTC), else the Unix epoch, said so in the session description.

    Raises:
        InputError: pynwb is not installed (check ``nwb_available`` first).
    """
    _check(epochs, frames, fps)
    if not nwb_available():
        raise InputError(
            "NWB output needs pynwb, which is not installed.",
            fix="pip install pynwb (the other outputs do not need it).",
        )
    from pynwb import NWBHDF5IO, NWBFile
    from pynwb.epoch import TimeIntervals

    start, when = session_start, "given"
    if start is None:
        known = bool(source) and Path(source).is_file()
        mtime = Path(source).stat().st_mtime if known else 0.0
        start = datetime.fromtimestamp(mtime, tz=UTC)
        when = "the keypoint file's modification time" if known else "unknown (Unix epoch)"
    nwb = NWBFile(
        session_description=(
            f"ethoagent ethogram of {source or 'a keypoint session'} ({frames} frames at "
            f"{fps:g} fps); session start: {when}"
        ),
        identifier=_session_id(epochs, source),
        session_start_time=start,
    )
    table = TimeIntervals(name=NWB_TABLE, description="behaviour epochs per animal (ethoagent)")
    table.add_column("behaviour", "the epoch's label")
    table.add_column("animal", "the individual, as named in the keypoint file")
    table.add_column("confidence", "confidence of the label, 0-1")
    table.add_column("note", "the epoch's description: why the label (caption, source)")
    rows = sorted(((e.start, n, e) for n, eps in epochs.items() for e in eps), key=lambda r: r[:2])
    for _, name, e in rows:
        table.add_interval(
            start_time=e.start / fps,
            stop_time=e.stop / fps,
            behaviour=e.label,
            animal=name,
            confidence=float(e.confidence),
            note=e.description,
        )
    nwb.add_time_intervals(table)

    def write(p: Path) -> None:
        with NWBHDF5IO(str(p), "w") as io:
            io.write(nwb)

    return _via_file(".nwb", write)


def nwb_or_reason(
    epochs: Mapping[str, Sequence[Epoch]], frames: int, fps: float, *, source: str = ""
) -> bytes | str:
    """``ethogram_nwb_bytes``, or why there is none, in one line (for a report).

    A run's other outputs do not depend on NWB, so a missing pynwb or a failed NWB build
    becomes a reason to state, not an error that would lose the report.
    """
    if not nwb_available():
        return "no `ethogram.nwb`: pynwb is not installed (`pip install pynwb` to get one)."
    try:
        return ethogram_nwb_bytes(epochs, frames, fps, source=source)
    except (ValueError, TypeError, OSError, RuntimeError) as exc:
        return f"no `ethogram.nwb`: writing it failed ({type(exc).__name__}: {exc})."


def write_ethogram_nwb(
    path: str | os.PathLike[str],
    epochs: Mapping[str, Sequence[Epoch]],
    frames: int,
    fps: float,
    *,
    source: str = "",
    session_start: datetime | None = None,
) -> Path:
    """Write ``ethogram_nwb_bytes`` to ``path`` (``.nwb``) atomically; return the path."""
    data = ethogram_nwb_bytes(epochs, frames, fps, source=source, session_start=session_start)
    return atomic_write_bytes(Path(path), data)


def read_ethogram_nwb(path: str | os.PathLike[str], fps: float) -> dict[str, list[Epoch]]:
    """Epochs per animal from the ``behaviour_epochs`` table of an NWB file.

    Args:
        path: the ``.nwb``.
        fps: frame rate, Hz (frames = ``round(time * fps)``).

    Raises:
        InputError: pynwb missing, the file unreadable, or no ``behaviour_epochs`` table.
    """
    p = Path(path)
    if not nwb_available():
        raise InputError(
            f"reading {p} needs pynwb, which is not installed.", fix="pip install pynwb."
        )
    from pynwb import NWBHDF5IO

    out: dict[str, list[Epoch]] = {}
    try:
        with NWBHDF5IO(str(p), "r") as io:
            intervals = io.read().intervals or {}
            if NWB_TABLE not in intervals:
                raise InputError(
                    f"{p} has no intervals table {NWB_TABLE!r} (found {sorted(intervals)}).",
                    fix="pass an ethogram.nwb written by ethoagent segment or classify.",
                )
            frame = intervals[NWB_TABLE].to_dataframe()
    except (OSError, ValueError) as exc:
        raise InputError(f"cannot read {p} as NWB: {exc}.", fix="check the file.") from exc
    for r in frame.itertuples():
        out.setdefault(str(r.animal), []).append(
            Epoch(
                start=round(float(r.start_time) * fps),
                stop=round(float(r.stop_time) * fps),
                label=str(r.behaviour),
                description=str(r.note),
                confidence=float(r.confidence),
            )
        )
    return out
