"""DLCAnalyzer (Sturman et al. 2020) label tables: semicolon-separated behaviour intervals.

Columns ``file;Experimenter;from;to;type;ID`` (``from`` / ``to`` in seconds, ``ID`` the
video); ``io.labels.read_labels`` turns one video's intervals into frames, one column per
rater.
"""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

from ethoagent.errors import InputError
from ethoagent.io.tables import read_rows

__all__ = ["Interval", "read_intervals", "video_bouts"]


class Interval(NamedTuple):
    """One DLCAnalyzer row: video ``ID``, ``Experimenter``, from/to (seconds), ``type``."""

    video: str
    rater: str
    start_s: float
    stop_s: float
    behaviour: str


_NOT_BEHAVIOUR = {"start/end", "startend", "_default", "na", ""}


def read_intervals(p: Path) -> list[Interval]:
    """The behaviour intervals of a DLCAnalyzer table, in file order.

    Scoring-window markers (``Start/End``, ``StartEnd``) and annotation-tool leftovers
    (``_DEFAULT``, ``NA``) are dropped.

    Raises:
        InputError: the file lacks the columns or holds a time that is not a number.
    """
    rows = [r for r in read_rows(p, "interval label table", delimiter=";") if r]
    head = [c.strip() for c in rows[0]] if rows else []
    need = ("Experimenter", "from", "to", "type", "ID")
    if any(c not in head for c in need):
        raise InputError(
            f"{p} is not a DLCAnalyzer label table: expected columns {list(need)}; found {head}.",
            fix="pass a semicolon-separated file with those columns.",
        )
    col = {c: head.index(c) for c in head}
    out: list[Interval] = []
    for n, r in enumerate(rows[1:], start=2):
        kind = r[col["type"]].strip()
        if kind.lower() in _NOT_BEHAVIOUR:
            continue
        try:
            who, start, stop = r[col["Experimenter"]], r[col["from"]], r[col["to"]]
            out.append(Interval(r[col["ID"]].strip(), who.strip(), float(start), float(stop), kind))
        except (ValueError, IndexError) as exc:
            raise InputError(
                f"{p} line {n}: cannot parse interval {r}: {exc}.",
                fix="'from' and 'to' must be seconds.",
            ) from exc
    return out


def video_bouts(
    p: Path, fps: float | None, n_frames: int | None, video: str | None
) -> tuple[list[str], list[tuple[int, int, int, str, str]], int]:
    """One video's intervals of a DLCAnalyzer table as frame bouts, one column per rater.

    Args:
        p: the table.
        fps: the video's frame rate, Hz (times are seconds).
        n_frames: the session's frames (bouts are cut there); default the last stop.
        video: the ``ID`` of the video; may be left out when the table labels one.

    Returns:
        ``(raters, bouts, frames)``: raters sorted; bouts ``(rater index, start, stop,
        behaviour, where)`` with frames ``[round(from * fps), round(to * fps))``.

    Raises:
        InputError: an unknown or unnamed video, or no frame rate.
    """
    intervals = read_intervals(p)
    videos = sorted({iv.video for iv in intervals})
    if video is None and len(videos) == 1:
        video = videos[0]
    if video not in videos:
        raise InputError(
            f"{p} labels videos {videos}; "
            + ("say which one." if video is None else f"{video!r} is not among them."),
            fix="pass video= one of those IDs.",
        )
    if fps is None or not fps > 0:
        raise InputError(
            f"{p} (DLCAnalyzer) holds times in seconds; no frame rate was given.",
            fix="pass fps (Hz) of the video.",
        )
    ivs = [iv for iv in intervals if iv.video == video]
    raters = sorted({iv.rater for iv in ivs})
    n = n_frames if n_frames is not None else max(round(iv.stop_s * fps) for iv in ivs)
    raw: list[tuple[int, int, int, str, str]] = []
    for iv in ivs:
        s, stop = max(round(iv.start_s * fps), 0), min(max(round(iv.stop_s * fps), 0), n)
        raw.append((raters.index(iv.rater), s, stop, iv.behaviour, f" ({video})"))
    return raters, raw, n
