"""Behaviour label files: BORIS event exports, frame-wise CSVs, DLCAnalyzer interval tables.

- BORIS aggregated event exports (START/STOP or POINT rows, times in seconds):
  ``read_boris_events`` → ``BorisEvent`` list, ``boris_to_framewise`` → (frames,) 0/1.
- Frame-wise label CSVs (``frame,<label columns>``): ``read_framewise_labels``.
- DLCAnalyzer (Sturman 2020) semicolon interval tables: ``read_interval_labels`` and
  ``intervals_to_framewise``.

Pure python, no pandas.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

from ethoagent.errors import InputError
from ethoagent.io.tables import parse_float, read_rows

if TYPE_CHECKING:
    pass

__all__ = [
    "BorisEvent",
    "IntervalLabel",
    "boris_to_framewise",
    "intervals_to_framewise",
    "read_boris_events",
    "read_framewise_labels",
    "read_interval_labels",
]

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
    rows = [r for r in read_rows(p, "frame-wise label CSV") if r]
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
    rows = read_rows(p, "BORIS export")
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
                    fps=parse_float(r[col["FPS"]]) if "FPS" in col else np.nan,
                    media_length_s=parse_float(r[col["Total length"]])
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
    rows = [r for r in read_rows(p, "interval label table", delimiter=";") if r]
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
