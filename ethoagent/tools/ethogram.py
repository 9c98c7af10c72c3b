"""Ethograms: labelled epochs of one animal, their checks, metrics and exports.

An ethogram is a list of ``Epoch`` (``ethoagent.model.ethogram``: ``[start, stop)``
frames, a behaviour label) that should tile the animal's timeline ``[0, frames)`` exactly.
This module holds

- checks: ``check_tiling``, ``check_vocabulary``, ``check_min_duration``;
- conversions: ``epochs_from_labels`` / ``labels_from_epochs`` (per-frame codes);
- metrics against per-frame ground truth: ``hungarian_macro_f1``, ``nmi``,
  ``boundary_f1``, ``switches_per_minute``, ``median_epoch_seconds``;
- time shares: ``time_shares`` (seconds and share of each label per animal, and their
  total summed over animals), ``time_shares_csv`` and ``time_shares_markdown``;
- exports: ``write_ethogram_csv`` / ``read_ethogram_csv`` and ``write_boris_csv`` (BORIS
  aggregated events, readable by ``ethoagent.io.labels.read_boris_events``).

Per-frame labels are ``(frames,)`` arrays of codes (int) or names (str) of one animal.
"""

from __future__ import annotations

import csv
import io
import itertools
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
from numpy.typing import ArrayLike, NDArray
from pydantic import BaseModel, ConfigDict

from ethoagent.atomic import atomic_write_text
from ethoagent.errors import InputError
from ethoagent.model.checks import CheckResult
from ethoagent.model.ethogram import Epoch

__all__ = [
    "ETHOGRAM_COLUMNS",
    "TimeShare",
    "boundary_f1",
    "check_min_duration",
    "check_tiling",
    "check_vocabulary",
    "epochs_from_labels",
    "hungarian_macro_f1",
    "labels_from_epochs",
    "median_epoch_seconds",
    "nmi",
    "read_ethogram_csv",
    "switches_per_minute",
    "time_shares",
    "time_shares_csv",
    "time_shares_markdown",
    "write_boris_csv",
    "write_ethogram_csv",
]

ETHOGRAM_COLUMNS = (
    "animal",
    "start_frame",
    "stop_frame",
    "start_s",
    "stop_s",
    "label",
    "description",
    "confidence",
    "cluster",
)
"""Columns of the ethogram CSV written by ``write_ethogram_csv``."""

_BORIS_COLUMNS = (
    "Time",
    "Media file path",
    "Total length",
    "FPS",
    "Subject",
    "Behavior",
    "Behavioral category",
    "Comment",
    "Status",
)


def _frames_labels(labels: ArrayLike, what: str) -> NDArray[np.generic]:
    arr = np.asarray(labels)
    if arr.ndim != 1:
        raise InputError(
            f"{what} must be one animal's per-frame labels, shape (frames,); found "
            f"shape {arr.shape}.",
            fix="pass one label (code or name) per frame.",
        )
    return arr


def _pair(pred: ArrayLike, truth: ArrayLike) -> tuple[NDArray[np.generic], NDArray[np.generic]]:
    p = _frames_labels(pred, "pred")
    t = _frames_labels(truth, "truth")
    if p.shape != t.shape or p.size == 0:
        raise InputError(
            f"pred and truth must label the same frames; found {p.size} and {t.size} frames.",
            fix="restrict both to the same (non-empty) frame range.",
        )
    return p, t


# --------------------------------------------------------------------------- checks


def check_tiling(epochs: Sequence[Epoch], frames: int) -> list[CheckResult]:
    """Check that epochs cover ``[0, frames)`` exactly once, in order.

    Args:
        epochs: the ethogram of one animal.
        frames: number of frames of the animal's timeline.

    Returns:
        Four checks, each listing every violation in its message: ``tiling_sorted``
        (epochs ascending by start), ``tiling_gaps`` (frames no epoch covers; value =
        uncovered frames), ``tiling_overlaps`` (frames two epochs cover; value = frames
        covered more than once) and ``tiling_bounds`` (epochs beyond ``frames``).
    """
    if frames < 0:
        raise InputError(f"frames must be >= 0; found {frames}.")
    eps = list(epochs)
    unsorted = [
        f"epoch {i} [{b.start}, {b.stop}) starts before epoch {i - 1} [{a.start}, {a.stop})"
        for i, (a, b) in enumerate(itertools.pairwise(eps), start=1)
        if (b.start, b.stop) < (a.start, a.stop)
    ]
    outside = [
        f"epoch {i} [{e.start}, {e.stop}) ends after frame {frames}"
        for i, e in enumerate(eps)
        if e.stop > frames
    ]
    gaps: list[tuple[int, int]] = []
    overlaps: list[str] = []
    overlap_frames = 0
    end = 0
    end_epoch = -1
    for i in sorted(range(len(eps)), key=lambda j: (eps[j].start, eps[j].stop)):
        e = eps[i]
        if e.start > end:
            gaps.append((end, min(e.start, frames)))
        elif e.start < end:
            lo, hi = e.start, min(end, e.stop)
            overlaps.append(f"epochs {end_epoch} and {i} both cover [{lo}, {hi})")
            overlap_frames += hi - lo
        if e.stop > end:
            end, end_epoch = e.stop, i
    if end < frames:
        gaps.append((end, frames))
    gaps = [(a, b) for a, b in gaps if b > a]
    gap_frames = sum(b - a for a, b in gaps)

    def result(name: str, problems: list[str], ok: str, value: float | None) -> CheckResult:
        return CheckResult(
            name=name,
            passed=not problems,
            value=value,
            threshold=0.0 if value is not None else None,
            message="; ".join(problems) + "." if problems else ok,
        )

    return [
        result("tiling_sorted", unsorted, "epochs are sorted by start frame", None),
        result(
            "tiling_gaps",
            [f"gap [{a}, {b}) ({b - a} frames) has no epoch" for a, b in gaps],
            f"epochs cover every frame of [0, {frames})",
            float(gap_frames),
        ),
        result(
            "tiling_overlaps",
            overlaps,
            "no frame is covered by two epochs",
            float(overlap_frames),
        ),
        result("tiling_bounds", outside, f"all epochs end by frame {frames}", None),
    ]


def check_vocabulary(epochs: Sequence[Epoch], vocabulary: Sequence[str]) -> CheckResult:
    """Pass when every epoch's label is in the vocabulary.

    Args:
        epochs: the ethogram.
        vocabulary: allowed behaviour names (exact match).

    Returns:
        ``vocabulary`` check; value = number of epochs with an unknown label, each named
        in the message.
    """
    allowed = set(vocabulary)
    bad = [(i, e) for i, e in enumerate(epochs) if e.label not in allowed]
    listed = "; ".join(f"epoch {i} [{e.start}, {e.stop}) has label {e.label!r}" for i, e in bad)
    return CheckResult(
        name="vocabulary",
        passed=not bad,
        value=float(len(bad)),
        threshold=0.0,
        message=(
            f"{listed}; allowed labels: {sorted(allowed)}."
            if bad
            else "every label is in the vocabulary"
        ),
    )


def check_min_duration(epochs: Sequence[Epoch], min_frames: int) -> CheckResult:
    """Pass when every epoch lasts at least ``min_frames`` frames.

    Args:
        epochs: the ethogram.
        min_frames: shortest acceptable epoch, frames.

    Returns:
        ``min_duration`` check; value = the shortest epoch's length in frames (NaN if
        there are no epochs), every shorter epoch named in the message.
    """
    eps = list(epochs)
    short = [(i, e) for i, e in enumerate(eps) if e.stop - e.start < min_frames]
    shortest = float(min((e.stop - e.start for e in eps), default=math.nan))
    listed = "; ".join(
        f"epoch {i} [{e.start}, {e.stop}) {e.label!r} lasts {e.stop - e.start} frames"
        for i, e in short
    )
    return CheckResult(
        name="min_duration",
        passed=not short,
        value=shortest,
        threshold=float(min_frames),
        message=(
            f"{listed}; epochs must last >= {min_frames} frames."
            if short
            else f"every epoch lasts >= {min_frames} frames"
        ),
    )


# --------------------------------------------------------------------------- conversions


def epochs_from_labels(
    labels: ArrayLike, names: Sequence[str] | Mapping[int, str] | None = None
) -> list[Epoch]:
    """Epochs of the maximal runs of equal per-frame codes.

    Args:
        labels: ``(frames,)`` int codes of one animal.
        names: behaviour name of each code (``names[code]``); ``None`` = the code as text.

    Returns:
        Epochs tiling ``[0, frames)``, with ``cluster`` = the code of the run.
    """
    lab = _frames_labels(labels, "labels")
    if lab.size and not np.issubdtype(lab.dtype, np.integer):
        raise InputError(
            f"labels must be integer codes; found dtype {lab.dtype}.",
            fix="map label names to codes first (e.g. np.unique(..., return_inverse=True)).",
        )
    if lab.size == 0:
        return []
    edges = np.flatnonzero(lab[1:] != lab[:-1]) + 1
    starts = np.concatenate([[0], edges]).tolist()
    stops = np.concatenate([edges, [lab.size]]).tolist()
    out = []
    for a, b in zip(starts, stops, strict=True):
        code = int(lab[a])
        try:
            name = str(code) if names is None else names[code]
        except (IndexError, KeyError) as exc:
            raise InputError(
                f"label code {code} (frames [{a}, {b})) has no name in {names!r}.",
                fix="pass one name per code.",
            ) from exc
        out.append(Epoch(start=int(a), stop=int(b), label=name, cluster=code))
    return out


def labels_from_epochs(
    epochs: Sequence[Epoch], frames: int, names: Sequence[str] | None = None
) -> NDArray[np.int64]:
    """Per-frame codes of an ethogram (the inverse of ``epochs_from_labels``).

    Args:
        epochs: the ethogram; where epochs overlap, the later one in the list wins.
        frames: length of the output.
        names: code of a label = its index here; ``None`` = use each epoch's ``cluster``.

    Returns:
        ``(frames,)`` int64 codes; -1 where no epoch covers the frame.
    """
    if frames < 0:
        raise InputError(f"frames must be >= 0; found {frames}.")
    index = {n: i for i, n in enumerate(names)} if names is not None else None
    out = np.full(frames, -1, dtype=np.int64)
    for e in epochs:
        if index is not None:
            if e.label not in index:
                raise InputError(
                    f"epoch [{e.start}, {e.stop}) has label {e.label!r}, not in {list(index)}.",
                    fix="pass the full vocabulary as names, or run check_vocabulary first.",
                )
            code = index[e.label]
        elif e.cluster is None:
            raise InputError(
                f"epoch [{e.start}, {e.stop}) {e.label!r} has no cluster code.",
                fix="pass names (the vocabulary) to code the epochs by label.",
            )
        else:
            code = e.cluster
        out[e.start : min(e.stop, frames)] = code
    return out


# --------------------------------------------------------------------------- metrics


def hungarian_macro_f1(pred: ArrayLike, truth: ArrayLike) -> float:
    """Macro-F1 over truth classes after the best one-to-one mapping of predicted labels.

    Predicted labels (clusters or names) are matched one-to-one to truth labels by the
    Hungarian algorithm, maximising the number of frames on which they agree; a
    predicted label left unmatched counts as wrong on all its frames.

    Args:
        pred: ``(frames,)`` predicted labels (any hashable dtype).
        truth: ``(frames,)`` true labels.

    Returns:
        Mean over truth classes of ``F1 = 2 TP / (predicted + true frames)`` in ``[0, 1]``.
    """
    # imported here: a run that only reads or writes ethograms loads no SciPy optimiser
    from scipy.optimize import linear_sum_assignment

    p, t = _pair(pred, truth)
    _, pi = np.unique(p, return_inverse=True)
    _, ti = np.unique(t, return_inverse=True)
    n_p, n_t = int(pi.max()) + 1, int(ti.max()) + 1
    overlap = np.zeros((n_p, n_t), dtype=np.int64)
    np.add.at(overlap, (pi.ravel(), ti.ravel()), 1)
    rows, cols = linear_sum_assignment(overlap, maximize=True)
    pred_size = overlap.sum(axis=1)
    true_size = overlap.sum(axis=0)
    tp = np.zeros(n_t)
    predicted = np.zeros(n_t)
    tp[cols] = overlap[rows, cols]
    predicted[cols] = pred_size[rows]
    f1 = 2 * tp / (predicted + true_size)
    return float(f1.mean())


def nmi(pred: ArrayLike, truth: ArrayLike) -> float:
    """Normalised mutual information of predicted and true per-frame labels.

    Args:
        pred: ``(frames,)`` predicted labels.
        truth: ``(frames,)`` true labels.

    Returns:
        NMI (arithmetic normalisation) in ``[0, 1]``; invariant to renaming.
    """
    # imported here: scikit-learn costs ~0.5 s of start-up that only scoring needs
    from sklearn.metrics import normalized_mutual_info_score

    p, t = _pair(pred, truth)
    return float(normalized_mutual_info_score(t, p))


def _boundaries(labels: NDArray[np.generic]) -> NDArray[np.int64]:
    return (np.flatnonzero(labels[1:] != labels[:-1]) + 1).astype(np.int64)


def boundary_f1(pred: ArrayLike, truth: ArrayLike, tolerance_frames: int = 0) -> float:
    """F1 of predicted label boundaries against true ones, within a tolerance.

    A boundary is the first frame of a new label. Predicted and true boundaries are
    matched one-to-one when at most ``tolerance_frames`` apart (a maximum matching:
    greedy in time order is optimal for a fixed tolerance on a line).

    Args:
        pred: ``(frames,)`` predicted labels.
        truth: ``(frames,)`` true labels.
        tolerance_frames: largest distance of a match, frames (>= 0).

    Returns:
        ``2 P R / (P + R)`` in ``[0, 1]``; 1 when neither has a boundary, 0 when only one
        has.
    """
    p, t = _pair(pred, truth)
    if tolerance_frames < 0:
        raise InputError(f"tolerance_frames must be >= 0; found {tolerance_frames}.")
    bp, bt = _boundaries(p), _boundaries(t)
    if bp.size == 0 and bt.size == 0:
        return 1.0
    if bp.size == 0 or bt.size == 0:
        return 0.0
    i = j = matched = 0
    while i < bp.size and j < bt.size:
        if bp[i] < bt[j] - tolerance_frames:
            i += 1
        elif bt[j] < bp[i] - tolerance_frames:
            j += 1
        else:
            matched += 1
            i += 1
            j += 1
    precision = matched / bp.size
    recall = matched / bt.size
    return 0.0 if matched == 0 else 2 * precision * recall / (precision + recall)


def switches_per_minute(labels: ArrayLike, fps: float) -> float:
    """Label changes per minute of recording.

    Args:
        labels: ``(frames,)`` per-frame labels of one animal.
        fps: frame rate, Hz.

    Returns:
        ``changes / (frames / fps / 60)``, per minute.
    """
    lab = _frames_labels(labels, "labels")
    if not (math.isfinite(fps) and fps > 0) or lab.size == 0:
        raise InputError(f"need fps > 0 and >= 1 frame; found fps={fps}, frames={lab.size}.")
    return float(_boundaries(lab).size / (lab.size / fps / 60.0))


def median_epoch_seconds(labels: ArrayLike, fps: float) -> float:
    """Median duration of the runs of equal labels.

    Args:
        labels: ``(frames,)`` per-frame labels of one animal.
        fps: frame rate, Hz.

    Returns:
        Median run length, seconds.
    """
    lab = _frames_labels(labels, "labels")
    if not (math.isfinite(fps) and fps > 0) or lab.size == 0:
        raise InputError(f"need fps > 0 and >= 1 frame; found fps={fps}, frames={lab.size}.")
    edges = np.concatenate([[0], _boundaries(lab), [lab.size]])
    return float(np.median(np.diff(edges)) / fps)


# --------------------------------------------------------------------------- time shares


class TimeShare(BaseModel):
    """Time one label takes, per animal and summed over the animals.

    Attributes:
        label: the behaviour.
        seconds: animal -> seconds in ``label``.
        share: animal -> fraction of that animal's frames in ``label``, in ``[0, 1]``.
        bouts: animal -> number of epochs of ``label``.
        total_seconds: seconds summed over the animals: with more than one animal it can
            exceed the session's length.
        total_share: ``total_seconds`` over the animals' summed time (animals x session).
    """

    model_config = ConfigDict(frozen=True)

    label: str
    seconds: dict[str, float]
    share: dict[str, float]
    bouts: dict[str, int]
    total_seconds: float
    total_share: float


def time_shares(
    epochs: Mapping[str, Sequence[Epoch]],
    frames: int,
    fps: float,
    labels: Sequence[str] = (),
) -> list[TimeShare]:
    """Time spent in each label, per animal and summed over animals.

    Args:
        epochs: animal -> its ethogram (epochs in frames; each animal has ``frames``).
        frames: frames per animal (the session's length).
        fps: frame rate, Hz.
        labels: labels to list even where no epoch has them (e.g. a classifier's label
            set), with zero time.

    Returns:
        One ``TimeShare`` per label, the longest total first.
    """
    if not (math.isfinite(fps) and fps > 0):
        raise InputError(f"fps must be a positive frame rate in Hz; found {fps}.")
    if frames < 1:
        raise InputError(f"frames must be >= 1; found {frames}.")
    rows = []
    for label in sorted({*labels, *(e.label for eps in epochs.values() for e in eps)}):
        counts = {
            name: sum(min(e.stop, frames) - e.start for e in eps if e.label == label)
            for name, eps in epochs.items()
        }
        total = sum(counts.values())
        rows.append(
            TimeShare(
                label=label,
                seconds={n: round(c / fps, 3) for n, c in counts.items()},
                share={n: round(c / frames, 4) for n, c in counts.items()},
                bouts={n: sum(1 for e in eps if e.label == label) for n, eps in epochs.items()},
                total_seconds=round(total / fps, 3),
                total_share=round(total / (frames * max(1, len(epochs))), 4),
            )
        )
    return sorted(rows, key=lambda r: (-r.total_seconds, r.label))


def _total_name(n: int) -> str:
    return f"summed over {n} animals" if n > 1 else ""


def time_shares_csv(rows: Sequence[TimeShare], animals: Sequence[str]) -> str:
    """``time_shares`` as CSV, one row per label.

    Columns: ``label``; per animal ``<animal>_s``, ``<animal>_share``, ``<animal>_bouts``;
    ``total_s_summed_over_<n>_animals`` (``total_s`` for one animal) and
    ``share_of_all_animal_time``.
    """
    n = len(animals)
    head = ["label", *(f"{a}_{k}" for a in animals for k in ("s", "share", "bouts"))]
    head += [f"total_s_summed_over_{n}_animals" if n > 1 else "total_s"]
    out: list[Sequence[object]] = [[*head, "share_of_all_animal_time"]]
    for r in rows:
        cells: list[object] = [r.label]
        for a in animals:
            cells += [r.seconds[a], r.share[a], r.bouts[a]]
        out.append([*cells, r.total_seconds, r.total_share])
    return _csv_text(out)


def time_shares_markdown(
    rows: Sequence[TimeShare],
    animals: Sequence[str],
    session_s: float,
    definitions: Mapping[str, str] | None = None,
) -> list[str]:
    """``time_shares`` as markdown lines: seconds (share) per animal, then the total.

    With more than one animal the total column says it is summed over the animals, and a
    line below says it can exceed the ``session_s`` (s) session.
    """
    n = len(animals)
    total = f"total (s, {_total_name(n)})" if n > 1 else "total (s)"
    head = ["label", *(f"{a} (s, share)" for a in animals), total]
    head += ["definition"] if definitions is not None else []
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        cells = [r.label, *(f"{r.seconds[a]:g} ({r.share[a]:.1%})" for a in animals)]
        cells.append(f"{r.total_seconds:g}")
        if definitions is not None:
            cells.append(definitions.get(r.label, ""))
        lines.append("| " + " | ".join(cells) + " |")
    if n > 1:
        lines += [
            "",
            f"Each animal's share is of its own {session_s:g} s; the total adds the {n} "
            f"animals' seconds, so it can exceed the session's {session_s:g} s.",
        ]
    return lines


# --------------------------------------------------------------------------- exports


def _csv_text(rows: Sequence[Sequence[object]]) -> str:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerows(rows)
    return buf.getvalue()


def _seconds(frame: int, fps: float) -> str:
    return f"{frame / fps:.6f}"


def write_ethogram_csv(
    path: str | os.PathLike[str], epochs: Sequence[Epoch], fps: float, animal: str
) -> Path:
    """Write one animal's ethogram as CSV (atomically), one row per epoch.

    Args:
        path: the ``.csv`` to write.
        epochs: the ethogram.
        fps: frame rate, Hz (for the ``start_s`` / ``stop_s`` columns, seconds).
        animal: the animal's name.

    Returns:
        The path written. Columns: ``ETHOGRAM_COLUMNS``; ``cluster`` is empty when unknown.
    """
    if not (math.isfinite(fps) and fps > 0):
        raise InputError(f"fps must be a positive frame rate in Hz; found {fps}.")
    rows: list[Sequence[object]] = [ETHOGRAM_COLUMNS]
    for e in epochs:
        rows.append(
            (
                animal,
                e.start,
                e.stop,
                _seconds(e.start, fps),
                _seconds(e.stop, fps),
                e.label,
                e.description,
                repr(e.confidence),
                "" if e.cluster is None else e.cluster,
            )
        )
    return atomic_write_text(Path(path), _csv_text(rows))


def read_ethogram_csv(path: str | os.PathLike[str]) -> dict[str, list[Epoch]]:
    """Read an ethogram CSV written by ``write_ethogram_csv``.

    Args:
        path: the ``.csv``.

    Returns:
        Epochs per animal, in file order.
    """
    p = Path(path)
    if not p.is_file():
        raise InputError(f"ethogram CSV {p} not found.", fix="check the path.")
    reader = csv.DictReader(io.StringIO(p.read_text(encoding="utf-8-sig")))
    missing = [c for c in ETHOGRAM_COLUMNS if c not in (reader.fieldnames or [])]
    if missing:
        raise InputError(
            f"{p} is not an ethogram CSV: missing column(s) {missing}.",
            fix=f"write it with write_ethogram_csv (columns {', '.join(ETHOGRAM_COLUMNS)}).",
        )
    out: dict[str, list[Epoch]] = {}
    for n, row in enumerate(reader, start=2):
        try:
            epoch = Epoch(
                start=int(row["start_frame"]),
                stop=int(row["stop_frame"]),
                label=row["label"],
                description=row["description"],
                confidence=float(row["confidence"]),
                cluster=int(row["cluster"]) if row["cluster"].strip() else None,
            )
        except ValueError as exc:
            raise InputError(
                f"{p} line {n}: cannot parse epoch {row}: {exc}.",
                fix="re-export the ethogram with write_ethogram_csv.",
            ) from exc
        out.setdefault(row["animal"], []).append(epoch)
    return out


def write_boris_csv(
    path: str | os.PathLike[str],
    epochs: Sequence[Epoch],
    fps: float,
    subject: str,
    *,
    media: str = "",
    frames: int | None = None,
) -> Path:
    """Write an ethogram as a BORIS tabular events export (START / STOP state events).

    Each epoch becomes a START event at ``start / fps`` and a STOP event at ``stop / fps``
    seconds (times with 6 decimals, so ``round(time * fps)`` gives back the frame).
    At equal times STOP rows come before START rows. The description goes in ``Comment``.
    ``ethoagent.io.labels.read_boris_events`` reads the file back.

    Args:
        path: the ``.csv`` to write.
        epochs: the ethogram of one animal.
        fps: frame rate, Hz.
        subject: the BORIS subject (the animal).
        media: the media file path column.
        frames: the media's length in frames (``Total length`` column); ``None`` = the
            last epoch's stop.

    Returns:
        The path written.
    """
    if not (math.isfinite(fps) and fps > 0):
        raise InputError(f"fps must be a positive frame rate in Hz; found {fps}.")
    eps = list(epochs)
    n_frames = frames if frames is not None else max((e.stop for e in eps), default=0)
    length = _seconds(n_frames, fps)
    events: list[tuple[int, int, int, str, str, str]] = []
    for i, e in enumerate(eps):
        events.append((e.start, 1, i, e.label, e.description, "START"))
        events.append((e.stop, 0, i, e.label, "", "STOP"))
    events.sort(key=lambda ev: ev[:3])
    rows: list[Sequence[object]] = [
        ("Observation id", Path(path).stem),
        ("Observation date", ""),
        ("Description", "ethoagent ethogram"),
        ("Time offset (s)", "0.000"),
        (),
        ("Media file", media),
        (),
        _BORIS_COLUMNS,
    ]
    for frame, _, _, label, comment, status in events:
        rows.append(
            (
                _seconds(frame, fps),
                media,
                length,
                repr(float(fps)),
                subject,
                label,
                "",
                comment,
                status,
            )
        )
    return atomic_write_text(Path(path), _csv_text(rows))
