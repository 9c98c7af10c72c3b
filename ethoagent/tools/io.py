"""Keypoint and label files in the field's formats, and loaders for ``../shared/data``.

One internal representation, ``PoseData``: points ``(frames, individuals, keypoints, D)``
float64 (D = 2 pixels or 3 mm), NaN = missing, with keypoint and individual names, fps and
unit. Multi-view sets carry ``(frames, views, keypoints, 2)`` arrays (DESIGN.md §3).

Formats (pure python, no pandas):

- DeepLabCut CSV, single-animal (3 header rows: scorer / bodyparts / coords) and
  multi-animal (4 rows: scorer / individuals / bodyparts / coords), coords ``x, y,
  likelihood`` (predictions), ``x, y`` (labelled frames, 1 or 3 index columns) or
  ``x, y, z`` (3D): ``read_dlc_csv`` / ``write_dlc_csv``.
- BORIS aggregated event exports (START/STOP or POINT rows, times in seconds):
  ``read_boris_events`` → ``BorisEvent`` list, ``boris_to_framewise`` → (frames,) 0/1.
- Frame-wise label CSVs (``frame,<label columns>``): ``read_framewise_labels``.
- DLCAnalyzer (Sturman 2020) semicolon interval tables: ``read_interval_labels`` and
  ``intervals_to_framewise``.

The loaders of the shared real data sets are in ``ethoagent.evals.datasets``.
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from ethoagent.atomic import atomic_write_text
from ethoagent.errors import InputError

__all__ = [
    "BorisEvent",
    "IntervalLabel",
    "PoseData",
    "boris_to_framewise",
    "intervals_to_framewise",
    "read_boris_events",
    "read_dlc_csv",
    "read_framewise_labels",
    "read_interval_labels",
    "write_dlc_csv",
]

_COORDS = ("x", "y", "z", "likelihood")


@dataclass(frozen=True, repr=False)
class PoseData:
    """Keypoints of one recording (one view), with names and units.

    Attributes:
        points: ``(frames, individuals, keypoints, D)`` float64; D = 2 (pixels) or 3
            (``unit``); NaN = missing.
        confidence: ``(frames, individuals, keypoints)`` float64 in [0, 1] (DLC likelihood),
            NaN where the file has none.
        keypoints: keypoint names, length ``keypoints``.
        individuals: individual names, length ``individuals``.
        fps: frame rate in Hz, or ``None`` if unknown.
        unit: ``"px"`` for 2D, the 3D unit (``"mm"``) otherwise.
        frame_names: row labels where the file has them (e.g. image paths of labelled
            frames), else ``None``.
        source: the file it was read from (``""`` if built in memory).
    """

    points: NDArray[np.float64]
    confidence: NDArray[np.float64]
    keypoints: tuple[str, ...]
    individuals: tuple[str, ...]
    fps: float | None = None
    unit: str = "px"
    frame_names: tuple[str, ...] | None = None
    source: str = ""

    def __post_init__(self) -> None:
        pts = np.asarray(self.points, dtype=np.float64)
        if pts.ndim != 4 or pts.shape[-1] not in (2, 3):
            raise InputError(
                f"PoseData points must be (frames, individuals, keypoints, 2|3); "
                f"found shape {pts.shape}.",
                fix="add the missing axes (e.g. points[:, None] for one individual).",
            )
        if pts.shape[1:3] != (len(self.individuals), len(self.keypoints)):
            raise InputError(
                f"PoseData points have {pts.shape[1]} individuals and {pts.shape[2]} keypoints "
                f"but {len(self.individuals)} and {len(self.keypoints)} names were given.",
                fix="pass one name per individual and keypoint.",
            )
        conf = np.asarray(self.confidence, dtype=np.float64)
        if conf.shape != pts.shape[:3]:
            raise InputError(
                f"PoseData confidence must have shape {pts.shape[:3]}; found {conf.shape}.",
                fix="pass (frames, individuals, keypoints) or NaN-filled confidence.",
            )
        object.__setattr__(self, "points", pts)
        object.__setattr__(self, "confidence", conf)

    @property
    def frames(self) -> int:
        """Number of frames."""
        return int(self.points.shape[0])

    def __repr__(self) -> str:
        f, i, k, d = self.points.shape
        fps = "?" if self.fps is None else f"{self.fps:g}"
        return (
            f"PoseData(frames={f}, individuals={i}, keypoints={k}, dims={d}, fps={fps}, "
            f"unit={self.unit!r})"
        )


# --------------------------------------------------------------------------- DLC CSV


def _read_rows(path: Path, what: str, delimiter: str = ",") -> list[list[str]]:
    if not path.is_file():
        raise InputError(f"{what} {path} not found.", fix="check the path.")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (UnicodeDecodeError, OSError) as exc:
        raise InputError(
            f"cannot read {what} {path} as UTF-8 text: {exc}.", fix="pass a CSV file."
        ) from exc
    return list(csv.reader(io.StringIO(text), delimiter=delimiter))


def _float(cell: str) -> float:
    cell = cell.strip()
    return float(cell) if cell and cell.lower() not in ("nan", "none") else np.nan


def read_dlc_csv(path: str | os.PathLike[str], *, fps: float | None = None) -> PoseData:
    """Read a DeepLabCut CSV (single- or multi-animal, predictions, labels or 3D).

    Args:
        path: the ``.csv`` file.
        fps: frame rate to attach (DLC files do not store it).

    Returns:
        ``PoseData``; a single-animal file gives one individual named ``"individual_0"``.
        Columns ``x, y[, z]`` fill ``points``; ``likelihood`` fills ``confidence``.
    """
    p = Path(path)
    rows = _read_rows(p, "DeepLabCut CSV")
    heads = {r[0].strip().lower(): i for i, r in enumerate(rows[:5]) if r}
    if "bodyparts" not in heads or "coords" not in heads:
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
        ind = ind_row[c].strip() if ind_row is not None else "individual_0"
        if kp not in keypoints:
            keypoints.append(kp)
        if ind not in individuals:
            individuals.append(ind)
        slots.append((individuals.index(ind), keypoints.index(kp), coord))
    # multi-animal files list unique ("single") body parts under individual "single"
    dims = 3 if any(s[2] == "z" for s in slots) else 2
    data = rows[heads["coords"] + 1 :]
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
            values = [_float(row[c]) for c in cols]
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
    if n_index == 1 and all(n.isdigit() for n in names):
        frame_names = None
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


def write_dlc_csv(
    path: str | os.PathLike[str],
    data: PoseData,
    *,
    scorer: str = "ethoagent",
    multi_animal: bool | None = None,
    float_format: str = "{:.6f}",
) -> Path:
    """Write ``PoseData`` as a DeepLabCut CSV (atomically).

    Args:
        path: destination ``.csv``.
        data: the keypoints; 2D writes ``x, y, likelihood`` (likelihood = ``confidence``,
            empty where NaN), 3D writes ``x, y, z``.
        scorer: the scorer header value.
        multi_animal: write the 4-row multi-animal header; default: when there is more than
            one individual.
        float_format: format of each number; NaN is written as an empty cell (as DLC does).

    Returns:
        The path written.
    """
    multi = data.points.shape[1] > 1 if multi_animal is None else multi_animal
    if not multi and data.points.shape[1] != 1:
        raise InputError(
            f"cannot write {data.points.shape[1]} individuals to a single-animal DLC CSV {path}.",
            fix="pass multi_animal=True.",
        )
    dims = data.points.shape[-1]
    coords = ("x", "y", "likelihood") if dims == 2 else ("x", "y", "z")
    header: list[list[str]] = [["scorer"], ["individuals"], ["bodyparts"], ["coords"]]
    for ind in data.individuals:
        for kp in data.keypoints:
            for c in coords:
                header[0].append(scorer)
                header[1].append(ind)
                header[2].append(kp)
                header[3].append(c)
    if not multi:
        del header[1]
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerows(header)
    vals = (
        np.concatenate([data.points, data.confidence[..., None]], axis=-1)
        if dims == 2
        else data.points
    )
    flat = vals.reshape(vals.shape[0], -1)
    names = data.frame_names
    for f in range(flat.shape[0]):
        cells = ["" if np.isnan(v) else float_format.format(v) for v in flat[f]]
        w.writerow([names[f] if names is not None else str(f), *cells])
    return atomic_write_text(Path(path), buf.getvalue())


# --------------------------------------------------------------------------- labels


def read_framewise_labels(
    path: str | os.PathLike[str],
) -> tuple[NDArray[np.int64], tuple[str, ...]]:
    """Read a frame-wise label CSV: header ``frame,<col>...``, one row per frame.

    Args:
        path: the CSV; ``frame`` must count 0, 1, 2, … without gaps.

    Returns:
        ``(labels, columns)``: labels ``(frames, columns)`` int64 (0/1 or codes), and the
        column names after ``frame``.
    """
    p = Path(path)
    rows = [r for r in _read_rows(p, "frame-wise label CSV") if r]
    if not rows or rows[0][0].strip().lower() != "frame" or len(rows[0]) < 2:
        raise InputError(
            f"{p} is not a frame-wise label CSV: expected a header 'frame,<label>,...'; "
            f"found {rows[0] if rows else 'an empty file'}.",
            fix="write one row per frame with a 'frame' column first.",
        )
    try:
        arr = np.array([[int(float(c)) for c in r] for r in rows[1:]], dtype=np.int64)
    except ValueError as exc:
        raise InputError(
            f"{p} holds a non-integer label: {exc}.", fix="labels must be integers (0/1)."
        ) from exc
    arr = arr.reshape(-1, len(rows[0]))
    if not np.array_equal(arr[:, 0], np.arange(arr.shape[0])):
        raise InputError(
            f"{p}: the 'frame' column must count 0, 1, 2, … without gaps.",
            fix="write one row per frame, in order.",
        )
    return arr[:, 1:], tuple(c.strip() for c in rows[0][1:])


@dataclass(frozen=True)
class BorisEvent:
    """One row of a BORIS aggregated events export.

    Attributes:
        time_s: event time, seconds from the start of the media.
        subject: subject name (may be empty).
        behaviour: behaviour name.
        status: ``"START"``, ``"STOP"`` or ``"POINT"``.
        fps: the media's frame rate stated in the file, Hz (NaN if absent).
        media_length_s: the media's length stated in the file, seconds (NaN if absent).
    """

    time_s: float
    subject: str
    behaviour: str
    status: str
    fps: float
    media_length_s: float


def read_boris_events(path: str | os.PathLike[str]) -> list[BorisEvent]:
    """Read a BORIS events export (CSV with its metadata header block).

    Args:
        path: the exported ``.csv`` (``Time, Media file path, Total length, FPS, Subject,
            Behavior, …, Status`` after a metadata block).

    Returns:
        The events, in file order.
    """
    p = Path(path)
    rows = _read_rows(p, "BORIS export")
    start = next((i for i, r in enumerate(rows) if r and r[0].strip() == "Time"), None)
    if start is None:
        raise InputError(
            f"{p} is not a BORIS events export: no header row starting with 'Time'.",
            fix="export events from BORIS as 'tabular events' (CSV).",
        )
    head = [c.strip() for c in rows[start]]
    need = ("Time", "Behavior", "Status")
    missing = [c for c in need if c not in head]
    if missing:
        raise InputError(
            f"{p}: BORIS header lacks column(s) {missing}; found {head}.",
            fix="export with the default columns from BORIS.",
        )
    col = {c: head.index(c) for c in head}
    out: list[BorisEvent] = []
    for n, r in enumerate(rows[start + 1 :], start=start + 2):
        if not r or not r[0].strip():
            continue
        try:
            out.append(
                BorisEvent(
                    time_s=float(r[col["Time"]]),
                    subject=r[col["Subject"]].strip() if "Subject" in col else "",
                    behaviour=r[col["Behavior"]].strip(),
                    status=r[col["Status"]].strip().upper(),
                    fps=_float(r[col["FPS"]]) if "FPS" in col else np.nan,
                    media_length_s=_float(r[col["Total length"]])
                    if "Total length" in col
                    else np.nan,
                )
            )
        except (ValueError, IndexError) as exc:
            raise InputError(
                f"{p} line {n}: cannot parse BORIS event {r}: {exc}.",
                fix="re-export the observation from BORIS.",
            ) from exc
    return out


def boris_to_framewise(
    events: Sequence[BorisEvent],
    *,
    fps: float,
    frames: int,
    behaviour: str,
    subject: str | None = None,
) -> NDArray[np.int64]:
    """Frame-wise 0/1 vector of one behaviour from BORIS events.

    A state event covers frames ``round(start * fps)`` … ``round(stop * fps) - 1``; a POINT
    event marks its one frame. An unmatched START runs to the end.

    Args:
        events: from ``read_boris_events``.
        fps: frame rate, Hz.
        frames: number of frames of the output.
        behaviour: the behaviour to extract.
        subject: only this subject's events (``None`` = any).

    Returns:
        ``(frames,)`` int64 0/1.
    """
    out = np.zeros(frames, dtype=np.int64)
    open_at: float | None = None
    for e in events:
        if e.behaviour != behaviour or (subject is not None and e.subject != subject):
            continue
        if e.status == "START":
            open_at = e.time_s
        elif e.status == "STOP" and open_at is not None:
            out[max(round(open_at * fps), 0) : max(round(e.time_s * fps), 0)] = 1
            open_at = None
        elif e.status == "POINT":
            f = round(e.time_s * fps)
            if 0 <= f < frames:
                out[f] = 1
    if open_at is not None:
        out[max(round(open_at * fps), 0) :] = 1
    return out


@dataclass(frozen=True)
class IntervalLabel:
    """One labelled interval of a DLCAnalyzer (Sturman 2020) label table.

    Attributes:
        video: the video id (``ID`` column, e.g. ``"OFT_11"``).
        rater: the experimenter.
        start_s: start, seconds.
        stop_s: stop, seconds.
        behaviour: the ``type`` column.
    """

    video: str
    rater: str
    start_s: float
    stop_s: float
    behaviour: str


_NOT_BEHAVIOUR = {"start/end", "startend", "_default", "na", ""}


def read_interval_labels(path: str | os.PathLike[str]) -> list[IntervalLabel]:
    """Read a semicolon-separated DLCAnalyzer label table (``file;Experimenter;from;to;type;ID``).

    Scoring-window markers (``Start/End``, ``StartEnd``) and annotation-tool leftovers
    (``_DEFAULT``, ``NA``) are dropped.

    Args:
        path: the ``.csv``.

    Returns:
        The behaviour intervals, in file order.
    """
    p = Path(path)
    rows = [r for r in _read_rows(p, "interval label table", delimiter=";") if r]
    head = [c.strip() for c in rows[0]] if rows else []
    need = ("Experimenter", "from", "to", "type", "ID")
    if any(c not in head for c in need):
        raise InputError(
            f"{p} is not a DLCAnalyzer label table: expected columns {list(need)}; found {head}.",
            fix="pass a semicolon-separated file with those columns.",
        )
    col = {c: head.index(c) for c in head}
    out: list[IntervalLabel] = []
    for n, r in enumerate(rows[1:], start=2):
        kind = r[col["type"]].strip()
        if kind.lower() in _NOT_BEHAVIOUR:
            continue
        try:
            out.append(
                IntervalLabel(
                    video=r[col["ID"]].strip(),
                    rater=r[col["Experimenter"]].strip(),
                    start_s=float(r[col["from"]]),
                    stop_s=float(r[col["to"]]),
                    behaviour=kind,
                )
            )
        except (ValueError, IndexError) as exc:
            raise InputError(
                f"{p} line {n}: cannot parse interval {r}: {exc}.",
                fix="'from' and 'to' must be seconds.",
            ) from exc
    return out


def intervals_to_framewise(
    intervals: Sequence[IntervalLabel],
    *,
    fps: float,
    behaviours: Sequence[str],
    frames: int | None = None,
) -> NDArray[np.int64]:
    """Frame-wise codes from intervals: 0 = none, ``i + 1`` = ``behaviours[i]``.

    Frames ``round(start * fps)`` … ``round(stop * fps) - 1`` take the code; later
    intervals overwrite earlier ones where they overlap.

    Args:
        intervals: one video's and one rater's intervals.
        fps: frame rate, Hz.
        behaviours: the label vocabulary (others are ignored).
        frames: output length (default: the last interval's end).

    Returns:
        ``(frames,)`` int64 codes.
    """
    n = frames
    if n is None:
        n = max((round(iv.stop_s * fps) for iv in intervals), default=0)
    out = np.zeros(n, dtype=np.int64)
    for iv in intervals:
        if iv.behaviour in behaviours:
            out[max(round(iv.start_s * fps), 0) : max(round(iv.stop_s * fps), 0)] = (
                list(behaviours).index(iv.behaviour) + 1
            )
    return out
