"""Behaviour label files, every format through one reader: ``read_labels``.

``read_labels(path)`` recognises the format from the file and returns ``Labels``, one
typed result for all of them:

- frame-wise CSV, one row per frame: ``frame,<column>...`` with 0/1 per column
  (BehaviorDEPOT-style frame vectors; ``layout="binary"``, one column per class);
- labelled frames ``frame,label`` (optionally ``animal``; frames may be left out, an
  empty label or -1 = none), ``frame,<animal>...`` (one label per animal and frame, when
  ``read_labels`` is told the animals) and clips ``start_frame,stop_frame,label``
  (optionally ``animal``; ``stop_frame`` exclusive);
- BORIS tabular event exports (START/STOP and POINT rows, times in seconds; subjects are
  the animals: told the session's animals, each subject goes to the animal it names and an
  animal no subject names is listed in ``Labels.unlabelled``, not an error);
- DLCAnalyzer (Sturman 2020) semicolon interval tables (``file;Experimenter;from;to;type;
  ID``; one column per rater, of one video);
- BehaviorDEPOT ``Behavior.mat`` (one 0/1 ``Vector`` per behaviour; ``layout="binary"``).

The others hold bouts of named labels: ``layout="codes"``, one column per animal (or
rater), each frame the index of its label in ``classes`` (-1 = none), and the bouts
themselves as read (``Labels.bouts``). Times become frames as ``round(t * fps)``.

Frames no label covers (one rule for every reader): where the label set names an ``other``
class (``OTHER``), a BORIS subject's frames that none of its events covers are ``other``,
and so are the frames of a frame-wise 0/1 file where no class column is 1 (its ``other``
column is derived when the file has none); otherwise they stay unlabelled. An animal no
BORIS subject names stays unlabelled throughout.

``examples_from_labels`` turns bouts into classify's example clips; ``read_boris_events``
and ``boris_to_framewise`` read BORIS event rows (``tools.ethogram.write_boris_csv``'s).
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal

import numpy as np
from numpy.typing import NDArray

from ethoagent.errors import InputError
from ethoagent.io.dlcanalyzer import read_intervals, video_bouts
from ethoagent.io.tables import parse_float, read_rows
from ethoagent.model.ethogram import Example

__all__ = [
    "OTHER",
    "BorisEvent",
    "LabelBout",
    "LabelFormat",
    "Labels",
    "boris_to_framewise",
    "examples_from_labels",
    "label_videos",
    "read_boris_events",
    "read_labels",
]

LabelFormat = Literal[
    "framewise_csv", "frame_label_csv", "clips_csv", "boris", "dlcanalyzer", "behaviordepot"
]
"""The file formats ``read_labels`` recognises."""
LabelLayout = Literal["codes", "binary"]


@dataclass(frozen=True)
class LabelBout:
    """One labelled stretch: frames ``[start, stop)`` of one column have one class.

    ``column`` indexes ``Labels.columns``, ``label`` indexes ``Labels.classes``.
    """

    column: int
    start: int
    stop: int
    label: int


@dataclass(frozen=True, repr=False)
class Labels:
    """Per-frame behaviour labels read from one file, whatever its format.

    Attributes:
        values: ``(frames, columns)`` int64. ``layout="codes"``: the index into
            ``classes`` of each column's label at each frame, -1 = no label;
            ``layout="binary"``: 0/1, whether class ``classes[j]`` holds at each frame.
        columns: what the columns are: animals (BORIS subjects, an ``animal`` column,
            ``frame,<animal>...``; ``""`` when the file names none) or raters
            (DLCAnalyzer) for ``codes``; the classes for ``binary``.
        classes: the class names (the label set given to ``read_labels``, or the file's
            labels sorted, each in its first spelling).
        layout: ``"codes"`` or ``"binary"``.
        source_format: the format the file was read as.
        path: the file read.
        fps: the frame rate times were converted at, Hz (``None`` for frame-based files).
        bouts: the labelled stretches as the file lists them (``codes`` only; later
            bouts overwrite earlier ones in ``values`` where they overlap; frames made
            ``other`` by the rule above are in ``values`` only).
        unlabelled: columns (animals) the file labels nowhere, e.g. an animal no BORIS
            subject names; their values are -1.
        warnings: what was read but not used (a BORIS subject naming no animal), in words.

    Raises:
        InputError: the arrays and names do not agree.
    """

    values: NDArray[np.int64]
    columns: tuple[str, ...]
    classes: tuple[str, ...]
    layout: LabelLayout
    source_format: LabelFormat
    path: str
    fps: float | None = None
    bouts: tuple[LabelBout, ...] = field(default=())
    unlabelled: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        """Reject values whose shape, dtype or range does not fit the names and layout."""
        v = np.asarray(self.values)
        if v.ndim != 2 or v.shape[1] != len(self.columns) or v.dtype != np.int64:
            raise InputError(
                f"labels must be (frames, {len(self.columns)} columns) int64; found "
                f"{v.shape} {v.dtype}.",
                fix="give one column of values per column name.",
            )
        low, high = (-1, len(self.classes) - 1) if self.layout == "codes" else (0, 1)
        if v.size and (v.min() < low or v.max() > high):
            raise InputError(
                f"{self.path}: {self.layout} labels must lie in [{low}, {high}]; found "
                f"[{v.min()}, {v.max()}].",
                fix="codes index the classes (-1 = none); binary labels are 0 or 1.",
            )
        if self.layout == "binary" and self.columns != self.classes:
            raise InputError(
                f"binary labels have one column per class; found columns {self.columns} "
                f"and classes {self.classes}.",
            )

    @property
    def frames(self) -> int:
        """Number of frames labelled."""
        return int(self.values.shape[0])

    def __repr__(self) -> str:
        """Format, layout, length and names; not the values."""
        return (
            f"Labels({self.source_format}, {self.layout}, {self.frames} frames, "
            f"columns={list(self.columns)}, classes={list(self.classes)})"
        )


# --------------------------------------------------------------------------- reader


def read_labels(
    path: str | os.PathLike[str],
    *,
    n_frames: int | None = None,
    fps: float | None = None,
    classes: Sequence[str] | None = None,
    unknown: Literal["error", "ignore"] = "error",
    video: str | None = None,
    animals: Sequence[str] | None = None,
) -> Labels:
    """Read any behaviour label file (see the module docstring for the formats).

    Args:
        path: the label file.
        n_frames: frames of the session the labels belong to. Frame-based rows outside it
            are an error, bouts are cut at it, and frame-wise files must have exactly as
            many rows. Default: the file's own length (BORIS: the media length it states;
            otherwise the last labelled frame).
        fps: frame rate, Hz, to turn times (BORIS, DLCAnalyzer) into frames; default the
            rate a BORIS export states. Ignored by frame-based formats.
        classes: the label set; labels match it ignoring case, spaces, ``-`` and ``_``
            and take its spelling and order. Default: the file's labels, sorted (integer
            labels ``0..k``: the classes ``"0"`` … ``"k"``, so codes equal the labels).
        unknown: a label outside ``classes``: ``"error"`` or ``"ignore"`` (its frames stay
            unlabelled; its binary column is dropped).
        video: the video of a DLCAnalyzer table that holds several (``label_videos``).
        animals: the session's individuals: a frame-wise CSV whose columns after ``frame``
            are exactly these holds one label per animal and frame (``codes``), not 0/1
            per class; a BORIS export then has one column per animal (see
            ``_subject_columns``).

    Returns:
        The labels, ``(frames, columns)``.

    Raises:
        InputError: unreadable file, unknown layout, a label outside ``classes``, a frame
            outside the session, or no frame rate for a file of times.
    """
    p = Path(path)
    if not p.is_file():
        raise InputError(f"label file {p} not found.", fix="check the path.")
    if p.suffix.lower() == ".mat":
        return _select_binary(_read_behaviordepot(p), classes, unknown, n_frames)
    rows = [r for r in read_rows(p, "label file") if any(c.strip() for c in r)]
    if rows and ";" in rows[0][0] and "experimenter" in rows[0][0].lower():
        return _read_dlcanalyzer(p, fps, n_frames, classes, unknown, video)
    if any(r[0].strip() == "Time" for r in rows):
        return _read_boris(p, fps, n_frames, classes, unknown, animals)
    if not rows:
        raise InputError(f"{p} is empty.", fix="write a header and one labelled frame per row.")
    head = [c.strip().lower() for c in rows[0]]
    if "frame" in head and "label" in head:
        return _read_frame_labels(p, rows, head, n_frames, classes, unknown)
    if {"start_frame", "stop_frame", "label"} <= set(head):
        return _read_clips(p, rows, head, n_frames, classes, unknown)
    if head[0] == "frame" and animals and {c.strip() for c in rows[0][1:]} == set(animals):
        return _read_animal_columns(p, rows, n_frames, classes, unknown)
    if head[0] == "frame" and len(head) > 1:
        return _select_binary(_read_framewise(p, rows), classes, unknown, n_frames)
    raise InputError(
        f"{p} has columns {head}; expected frame,label, start_frame,stop_frame,label or "
        "frame,<0/1 columns> (or a BORIS export, a DLCAnalyzer table, a BehaviorDEPOT "
        "Behavior.mat).",
        fix="write a header row with those columns.",
    )


def examples_from_labels(labels: Labels, animals: Sequence[str]) -> list[Example]:
    """The labelled clips of a label file, as in-context examples of a session.

    A column names its animal by an individual of the session or by its 0-based index;
    a file that names none labels the first animal, and so does a BORIS subject that is
    not an individual of the session. Frame-wise 0/1 labels label the first animal: each
    run of 1s in a class column is a clip of that class.

    Args:
        labels: from ``read_labels``, read with the session's ``n_frames`` and label set.
        animals: individual names of the session.

    Returns:
        One clip per bout, in file order (a ``frame,label`` file: per animal, by frame;
        0/1 columns: by start frame).

    Raises:
        InputError: a column naming no animal of the session.
    """
    if labels.layout == "binary":
        runs = []
        for j, name in enumerate(labels.classes):
            on = np.diff(np.concatenate([[0], labels.values[:, j], [0]]))
            edges = np.flatnonzero(on).reshape(-1, 2)
            runs += [(int(a), int(b), name) for a, b in edges]
        return [Example(animal=0, start=a, stop=b, label=c) for a, b, c in sorted(runs)]
    index: list[int] = []
    for name in labels.columns:
        if name in animals:
            index.append(list(animals).index(name))
        elif name == "" or labels.source_format == "boris":
            index.append(0)
        elif name.isdigit() and int(name) < len(animals):
            index.append(int(name))
        else:
            raise InputError(
                f"{labels.path}: animal {name!r} is not in the keypoints ({list(animals)}).",
                fix="name an individual of the keypoint file.",
            )
    return [
        Example(animal=index[b.column], start=b.start, stop=b.stop, label=labels.classes[b.label])
        for b in labels.bouts
    ]


def label_videos(path: str | os.PathLike[str]) -> tuple[str, ...]:
    """The videos (``ID`` column) a DLCAnalyzer label table labels, sorted."""
    return tuple(sorted({iv.video for iv in read_intervals(Path(path))}))


def _norm(label: str) -> str:
    return "_".join(re.findall(r"[a-z0-9]+", label.lower()))


OTHER = "other"
"""The class of frames no label covers, where the label set has it (module docstring)."""

_UNLABELLED = ("", "-1")
"""Cells of a frame-wise label column that mean "no label"."""

_RawBout = tuple[int, int, int, str, str]
"""``(column, start, stop, label, where)``: a bout before its label is resolved."""


def _from_bouts(
    p: Path,
    fmt: LabelFormat,
    columns: Sequence[str],
    raw: Sequence[_RawBout],
    n_frames: int,
    classes: Sequence[str] | None,
    unknown: Literal["error", "ignore"],
    fps: float | None = None,
) -> Labels:
    """``codes`` labels from bouts, resolving each label against the label set.

    Empty bouts (e.g. outside the session) count for the label set, not for the frames.
    """
    if classes is None and raw and all(b[3].isdigit() for b in raw):
        names = [str(c) for c in range(max(int(b[3]) for b in raw) + 1)]  # code = class
    elif classes is None:
        spelling: dict[str, str] = {}
        for _, _, _, label, _ in raw:
            spelling.setdefault(_norm(label), label)
        names = sorted(spelling.values())
    else:
        names = list(classes)
    index = {_norm(c): i for i, c in enumerate(names)}
    bouts: list[LabelBout] = []
    for column, start, stop, label, where in raw:
        code = index.get(_norm(label))
        if code is None:
            if unknown == "ignore":
                continue
            raise InputError(
                f"{p}{where}: label {label!r} is not in the label set {names}.",
                fix="pass it with --classes, or fix the label.",
            )
        if start < stop:
            bouts.append(LabelBout(column, start, stop, code))
    values = np.full((n_frames, len(columns)), -1, np.int64)
    for b in bouts:
        values[b.start : b.stop, b.column] = b.label
    return Labels(
        values=values,
        columns=tuple(columns),
        classes=tuple(names),
        layout="codes",
        source_format=fmt,
        path=str(p),
        fps=fps,
        bouts=tuple(bouts),
    )


def _select_binary(
    labels: Labels,
    classes: Sequence[str] | None,
    unknown: Literal["error", "ignore"],
    n_frames: int | None,
) -> Labels:
    """Binary labels restricted to ``classes`` (in its order), checked against ``n_frames``."""
    p = labels.path
    if n_frames is not None and labels.frames != n_frames:
        raise InputError(
            f"{p} labels {labels.frames} frames; the session has {n_frames}.",
            fix="give one label row per frame of the session.",
        )
    if classes is None:
        return labels
    have = {_norm(c): j for j, c in enumerate(labels.columns)}
    if OTHER in {_norm(c) for c in classes} and OTHER not in have:
        # frames no class column marks are "other" (the module docstring's rule)
        none = (labels.values.sum(axis=1) == 0).astype(np.int64)[:, None]
        cols = (*labels.columns, OTHER)
        values = np.hstack([labels.values, none])
        labels = Labels(values, cols, cols, "binary", labels.source_format, labels.path)
        have[OTHER] = len(cols) - 1
    missing = [c for c in classes if _norm(c) not in have]
    if missing:
        raise InputError(
            f"{p} has no column for class(es) {missing}; it has {list(labels.columns)}.",
            fix="pass the classes the file labels.",
        )
    extra = sorted(set(have) - {_norm(c) for c in classes})
    if extra and unknown == "error":
        raise InputError(
            f"{p}: label column(s) {extra} are not in the label set {list(classes)}.",
            fix="pass them with --classes, or drop the columns.",
        )
    pick = [have[_norm(c)] for c in classes]
    values = np.ascontiguousarray(labels.values[:, pick])
    return Labels(values, tuple(classes), tuple(classes), "binary", labels.source_format, p)


# --------------------------------------------------------------------------- frame-based


def _read_framewise(p: Path, rows: list[list[str]]) -> Labels:
    """``frame,<column>...``: one row per frame, counting 0, 1, 2, ..., 0/1 per column."""
    head = [c.strip() for c in rows[0]]
    try:
        arr = np.array([[int(float(c)) for c in r] for r in rows[1:]], dtype=np.int64)
    except ValueError as exc:
        raise InputError(
            f"{p} holds a non-integer label: {exc}.", fix="labels must be integers (0/1)."
        ) from exc
    arr = arr.reshape(-1, len(head))
    if not np.array_equal(arr[:, 0], np.arange(arr.shape[0])):
        raise InputError(
            f"{p}: the 'frame' column must count 0, 1, 2, … without gaps.",
            fix="write one row per frame, in order.",
        )
    names = tuple(head[1:])
    return Labels(np.ascontiguousarray(arr[:, 1:]), names, names, "binary", "framewise_csv", str(p))


def _check_frame(p: Path, n: int, f: int, frames: int | None) -> None:
    if f < 0 or (frames is not None and f >= frames):
        raise InputError(
            f"{p} line {n}: frame {f} is outside the session's {frames} frames.",
            fix="label frames of the keypoint file passed (0-based).",
        )


def _animal_column(head: list[str], rows: list[list[str]]) -> tuple[list[str], list[int]]:
    """The animals an ``animal`` column names, and each data row's index among them.

    Animals come in first-appearance order; ``[""]`` without the column.
    """
    if "animal" not in head:
        return [""], [0] * (len(rows) - 1)
    j = head.index("animal")
    names: list[str] = []
    of_row: list[int] = []
    for r in rows[1:]:
        name = r[j].strip() if j < len(r) else ""
        if name not in names:
            names.append(name)
        of_row.append(names.index(name))
    return names, of_row


def _runs(marks: dict[int, dict[int, tuple[str, int]]]) -> list[_RawBout]:
    """Bouts from labelled frames ``{column: {frame: (label, line)}}``.

    A bout is a maximal run of consecutive frames of one label (compared as
    ``read_labels`` matches labels).
    """
    raw: list[_RawBout] = []
    for column, by_frame in marks.items():
        frames = sorted(by_frame)
        start = prev = frames[0]
        for nxt in [*frames[1:], None]:
            same = nxt is not None and _norm(by_frame[nxt][0]) == _norm(by_frame[start][0])
            if nxt is not None and nxt == prev + 1 and same:
                prev = nxt
                continue
            label, line = by_frame[start]
            raw.append((column, start, prev + 1, label, f" line {line}"))
            if nxt is not None:
                start = prev = nxt
    return raw


def _read_frame_labels(
    p: Path,
    rows: list[list[str]],
    head: list[str],
    n_frames: int | None,
    classes: Sequence[str] | None,
    unknown: Literal["error", "ignore"],
) -> Labels:
    """``frame,label[,animal]``: labelled frames (an empty label or -1 = none)."""
    animals, of_row = _animal_column(head, rows)
    marks: dict[int, dict[int, tuple[str, int]]] = {}
    try:
        for n, (r, a) in enumerate(zip(rows[1:], of_row, strict=True), start=2):
            f = int(float(r[head.index("frame")]))
            _check_frame(p, n, f, n_frames)
            label = r[head.index("label")].strip()
            if label not in _UNLABELLED:
                marks.setdefault(a, {})[f] = (label, n)
    except (ValueError, IndexError) as exc:
        raise InputError(
            f"{p}: cannot parse a row: {exc}.", fix="frames must be integers."
        ) from exc
    raw = _runs(marks)
    n = n_frames if n_frames is not None else max((b[2] for b in raw), default=0)
    return _from_bouts(p, "frame_label_csv", animals, raw, n, classes, unknown)


def _read_animal_columns(
    p: Path,
    rows: list[list[str]],
    n_frames: int | None,
    classes: Sequence[str] | None,
    unknown: Literal["error", "ignore"],
) -> Labels:
    """``frame,<animal>...``: one row per frame, one label per animal.

    Frames count 0, 1, 2, ...; an empty label or -1 = none.
    """
    columns = [c.strip() for c in rows[0][1:]]
    marks: dict[int, dict[int, tuple[str, int]]] = {j: {} for j in range(len(columns))}
    for i, r in enumerate(rows[1:]):
        if len(r) != len(columns) + 1 or r[0].strip() != str(i):
            raise InputError(
                f"{p} line {i + 2}: expected frame {i} and {len(columns)} label(s); found {r}.",
                fix="write one row per frame, counting 0, 1, 2, … without gaps.",
            )
        for j, cell in enumerate(r[1:]):
            if cell.strip() not in _UNLABELLED:
                marks[j][i] = (cell.strip(), i + 2)
    frames = len(rows) - 1
    if n_frames is not None and frames != n_frames:
        raise InputError(
            f"{p} labels {frames} frames; the session has {n_frames}.",
            fix="give one label row per frame of the session (-1 = unlabelled).",
        )
    raw = _runs({j: m for j, m in marks.items() if m})
    return _from_bouts(p, "framewise_csv", columns, raw, frames, classes, unknown)


def _read_clips(
    p: Path,
    rows: list[list[str]],
    head: list[str],
    n_frames: int | None,
    classes: Sequence[str] | None,
    unknown: Literal["error", "ignore"],
) -> Labels:
    """``start_frame,stop_frame,label[,animal]``: one bout per row (stop exclusive)."""
    animals, of_row = _animal_column(head, rows)
    raw: list[_RawBout] = []
    try:
        for n, (r, a) in enumerate(zip(rows[1:], of_row, strict=True), start=2):
            s = int(float(r[head.index("start_frame")]))
            e = int(float(r[head.index("stop_frame")]))
            _check_frame(p, n, s, n_frames)
            if not (s < e and (n_frames is None or e <= n_frames)):
                raise InputError(
                    f"{p} line {n}: clip [{s}, {e}) is empty or ends after frame {n_frames}.",
                    fix="stop_frame is exclusive and must be > start_frame.",
                )
            raw.append((a, s, e, r[head.index("label")].strip(), f" line {n}"))
    except (ValueError, IndexError) as exc:
        raise InputError(
            f"{p}: cannot parse a row: {exc}.", fix="frames must be integers."
        ) from exc
    n = n_frames if n_frames is not None else max((b[2] for b in raw), default=0)
    return _from_bouts(p, "clips_csv", animals, raw, n, classes, unknown)


def _read_behaviordepot(p: Path) -> Labels:
    """A BehaviorDEPOT ``Behavior.mat``: one 0/1 ``Vector`` per behaviour."""
    from scipy.io import loadmat

    try:
        behavior = loadmat(str(p), squeeze_me=True, struct_as_record=False)["Behavior"]
        names = tuple(str(n) for n in behavior._fieldnames)
        vectors = [np.asarray(getattr(behavior, n).Vector, np.int64).ravel() for n in names]
    except (OSError, ValueError, KeyError, AttributeError, NotImplementedError) as exc:
        raise InputError(
            f"{p} is not a BehaviorDEPOT Behavior.mat (a 'Behavior' struct with a 'Vector' "
            f"per behaviour): {exc}.",
            fix="pass the Behavior.mat from BehaviorDEPOT's analysed folder.",
        ) from exc
    if not names or len({v.size for v in vectors}) != 1:
        raise InputError(
            f"{p}: the behaviour vectors are missing or of different lengths.",
            fix="pass the Behavior.mat from BehaviorDEPOT's analysed folder.",
        )
    values = np.stack([(v > 0).astype(np.int64) for v in vectors], axis=1)
    return Labels(values, names, names, "binary", "behaviordepot", str(p))


# --------------------------------------------------------------------------- BORIS


def _read_boris(
    p: Path,
    fps: float | None,
    n_frames: int | None,
    classes: Sequence[str] | None,
    unknown: Literal["error", "ignore"],
    animals: Sequence[str] | None = None,
) -> Labels:
    """A BORIS export: one column per subject (per animal when ``animals`` are given).

    A START..STOP pair of one subject and behaviour covers frames
    ``[round(start * fps), round(stop * fps))`` (at least one), a POINT its one frame, a
    START never stopped runs to the end; a STOP with no START is skipped. Frames a subject's
    events leave uncovered are ``other`` where the label set has it.
    """
    events = read_boris_events(p)
    stated = [e.fps for e in events if np.isfinite(e.fps) and e.fps > 0]
    rate = fps if fps is not None else (stated[0] if stated else None)
    if rate is None or not rate > 0:
        raise InputError(
            f"{p} (BORIS) states no frame rate and none was given.", fix="pass --fps (Hz)."
        )
    lengths = [e.media_length_s for e in events if np.isfinite(e.media_length_s)]
    subjects = list(dict.fromkeys(e.subject for e in events))
    columns, column_of, warnings = _subject_columns(p, subjects, animals)
    open_at: dict[tuple[str, str], float] = {}
    spans: list[tuple[int, float, float, str]] = []
    for e in events:
        key = (e.subject, e.behaviour)
        column = column_of[e.subject]
        if column < 0:
            continue
        if e.status == "START":
            open_at[key] = e.time_s
        elif e.status == "STOP" and key in open_at:
            spans.append((column, open_at.pop(key), e.time_s, e.behaviour))
        elif e.status == "POINT":
            spans.append((column, e.time_s, e.time_s, e.behaviour))
    for (subject, behaviour), t0 in open_at.items():
        spans.append((column_of[subject], t0, np.inf, behaviour))
    # frames [s, e): at least one frame; e is None for a START never stopped
    cuts: list[tuple[int, int | None]] = []
    for _, t0, t1, _ in spans:
        start = max(0, round(t0 * rate))
        cuts.append((start, None if t1 == np.inf else max(start + 1, round(t1 * rate))))
    n = n_frames
    if n is None:
        ends = [e if e is not None else s + 1 for s, e in cuts]
        n = round(lengths[0] * rate) if lengths else max(ends, default=0)
    raw: list[_RawBout] = [
        (column, s, n if e is None else min(n, e), behaviour, f" (BORIS, {t0:g} s)")
        for (column, t0, _, behaviour), (s, e) in zip(spans, cuts, strict=True)
    ]
    labels = _from_bouts(p, "boris", columns, raw, n, classes, unknown, fps=rate)
    named = sorted(set(column_of.values()) - {-1})
    unlabelled = tuple(c for j, c in enumerate(columns) if j not in named)
    values = labels.values.copy()
    other = {_norm(c): i for i, c in enumerate(labels.classes)}.get(OTHER)
    if other is not None:
        values[:, named] = np.where(values[:, named] < 0, other, values[:, named])
    return replace(labels, values=values, unlabelled=unlabelled, warnings=warnings)


def _subject_columns(
    p: Path, subjects: Sequence[str], animals: Sequence[str] | None
) -> tuple[list[str], dict[str, int], tuple[str, ...]]:
    """Columns of a BORIS export, each subject's column (-1 = unused) and warnings.

    Without ``animals`` the subjects are the columns. With them the animals are, and a
    subject goes to the animal it names (matched as labels are); one subject and one animal
    go together whatever the names. A subject naming no animal is left out with a warning.

    Raises:
        InputError: no subject names any of two or more animals.
    """
    if not animals:
        return list(subjects), {s: i for i, s in enumerate(subjects)}, ()
    index = {_norm(a): i for i, a in enumerate(animals)}
    column_of = {s: index.get(_norm(s), -1) for s in subjects}
    if len(animals) == 1 and len(subjects) == 1:
        column_of = {subjects[0]: 0}
    if subjects and all(c < 0 for c in column_of.values()):
        raise InputError(
            f"{p} has BORIS subjects {list(subjects)}; none of them names an animal of the "
            f"keypoints {list(animals)}.",
            fix="name the BORIS subjects after the animals of the keypoints.",
        )
    warnings = tuple(
        f"{p}: BORIS subject {s!r} names no animal of the keypoints {list(animals)}; its "
        "events are not used."
        for s, c in column_of.items()
        if c < 0
    )
    return list(animals), column_of, warnings


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


# --------------------------------------------------------------------------- DLCAnalyzer


def _read_dlcanalyzer(
    p: Path,
    fps: float | None,
    n_frames: int | None,
    classes: Sequence[str] | None,
    unknown: Literal["error", "ignore"],
    video: str | None,
) -> Labels:
    """A DLCAnalyzer table: one video's intervals, one column per rater (sorted)."""
    raters, raw, n = video_bouts(p, fps, n_frames, video)
    return _from_bouts(p, "dlcanalyzer", raters, raw, n, classes, unknown, fps=fps)
