"""DeepLabCut and LightningPose keypoint files: CSV (predictions and labelled frames) and ``.h5``.

Points ``(frames, individuals, keypoints, D)`` float64: D = 2 (``x, y``, pixels) or 3
(``x, y, z``, the calibration's unit, ``"mm"``); ``likelihood`` is the confidence; NaN (an
empty cell) = missing. DLC prediction CSVs and LightningPose CSVs go through movement;
what movement cannot read (labelled-frame CSVs with an image-path index, multi-animal
files whose individuals carry different body parts, pandas re-saves) goes through the
pure-python ``read_dlc_csv``. ``.h5`` files are read with pandas (image-path index kept).
``write_dlc_csv`` writes movement's DLC table with the scorer, header layout and index
under our control. ``ethoagent.io.keypoints`` picks the reader by format.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import replace
from itertools import product
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ethoagent.atomic import atomic_write_text
from ethoagent.errors import InputError
from ethoagent.io.keypoints_movement import (
    DEFAULT_INDIVIDUAL,
    from_movement_file,
    import_movement,
    load_with_movement,
    to_movement_dataset,
    write_via,
)
from ethoagent.io.tables import head_rows, parse_float, read_rows
from ethoagent.model.pose import PoseData

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "dlc_header_rows",
    "read_dlc_csv",
    "read_dlc_file",
    "read_lightning_pose_file",
    "write_dlc_csv",
    "write_dlc_file",
    "write_lightning_pose_file",
]

_COORDS = ("x", "y", "z", "likelihood")


def read_dlc_file(p: Path, fps: float | None) -> PoseData:
    """Read a DeepLabCut ``.h5`` or ``.csv`` (movement where it fits, else ``read_dlc_csv``)."""
    if p.suffix.lower() == ".h5":
        import pandas as pd

        frame = pd.read_hdf(p, key="df_with_missing")
        return _pose_from_dlc_frame(frame, fps=fps, source=str(p))
    if not _movement_reads_dlc_csv(p):
        return read_dlc_csv(p, fps=fps)
    _check_last_row(p)
    return from_movement_file(load_with_movement(p, "DeepLabCut", fps), p)


def write_dlc_file(data: PoseData, p: Path) -> Path:
    """Write a DeepLabCut ``.csv`` or ``.h5`` (key ``df_with_missing``), atomically."""
    if p.suffix.lower() == ".csv":
        return write_dlc_csv(p, data)
    frame = _dlc_frame(data, scorer="ethoagent", multi=data.points.shape[1] > 1)
    return write_via(p, lambda t: frame.to_hdf(t, key="df_with_missing", mode="w"))


def read_lightning_pose_file(p: Path, fps: float | None) -> PoseData:
    """Read a LightningPose predictions CSV through movement."""
    return from_movement_file(load_with_movement(p, "LightningPose", fps), p)


def write_lightning_pose_file(data: PoseData, p: Path) -> Path:
    """Write one individual as a LightningPose CSV (a single-animal DLC CSV)."""
    return write_dlc_csv(p, data, multi_animal=False)


def _movement_reads_dlc_csv(p: Path) -> bool:
    """Whether movement's DLC CSV reader fits ``p``.

    It needs the literal header cells ``scorer, [individuals,] bodyparts, coords``, one
    integer index column and every individual carrying every body part in order; labelled
    frames (image-path index) and multi-animal files with unique ("single") body parts
    need the pure-python parser.
    """
    rows = head_rows(p, 5, encoding="utf-8")
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

    import_movement()
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
    data = from_movement_file(ds, Path(source))
    return replace(data, frame_names=names)


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
    heads = dlc_header_rows(rows)
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
    cols = range(n_index, len(coords_row))
    keypoints, individuals, slots = _dlc_columns(p, rows, heads, cols)
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


def _dlc_columns(
    p: Path, rows: Sequence[Sequence[str]], heads: dict[str, int], cols: range
) -> tuple[list[str], list[str], list[tuple[int, int, str]]]:
    """Keypoints, individuals and (individual, keypoint, coord) of each data column ``cols``."""
    coords_row = rows[heads["coords"]]
    bp_row = rows[heads["bodyparts"]]
    ind_row = rows[heads["individuals"]] if "individuals" in heads else None
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
        ind = ind_row[c].strip() if ind_row is not None else DEFAULT_INDIVIDUAL
        if kp not in keypoints:
            keypoints.append(kp)
        if ind not in individuals:
            individuals.append(ind)
        slots.append((individuals.index(ind), keypoints.index(kp), coord))
    return keypoints, individuals, slots


_LEVELS = ("scorer", "individuals", "bodyparts", "coords")


def dlc_header_rows(rows: Sequence[Sequence[str]]) -> dict[str, int]:
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

    import_movement()
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
