"""Merging snippet captions into epochs: rule-based merge, windows and their stitching.

The segment pipeline's merge step turns one animal's captioned snippets into labelled
epochs that tile its timeline. A model (the ``llm`` role) does it window by window so its
context stays bounded; this module holds the model-free parts:

- ``merge_epochs``: join neighbouring pieces of equal label and absorb pieces shorter than
  ``min_frames`` into their longer neighbour (the offline merge, and the final tidy-up of
  any ethogram);
- ``plan_windows``: overlapping windows of ``size`` snippets;
- ``check_window_tiling``: epochs cover a window's frames ``[start, stop)`` exactly, every
  violation named in absolute frames;
- ``stitch_windows``: one ethogram from the windows' epochs, cut inside each overlap at a
  boundary both windows agree on (else at the snippet boundary nearest the overlap's
  middle);
- ``majority_cluster``: the most common cluster of an epoch's frames.

Epochs are ``model.ethogram.Epoch`` (``[start, stop)`` frames).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ethoagent.errors import InputError
from ethoagent.model.checks import CheckResult
from ethoagent.model.ethogram import Epoch
from ethoagent.tools.snippets import cut_snippets

__all__ = [
    "check_window_tiling",
    "majority_cluster",
    "merge_epochs",
    "plan_windows",
    "stitch_windows",
]


def _covers(pieces: Sequence[Epoch], start: int, stop: int) -> None:
    edges = [start, *(p.stop for p in pieces)]
    if not pieces or any(p.start != e for p, e in zip(pieces, edges, strict=False)):
        raise InputError(
            f"pieces must tile frames [{start}, {stop}) in order; found "
            f"{[(p.start, p.stop) for p in pieces][:6]}.",
            fix="pass consecutive epochs, e.g. the snippets of one animal in frame order.",
        )
    if pieces[-1].stop != stop:
        raise InputError(
            f"pieces end at frame {pieces[-1].stop}, not {stop}.",
            fix="pass every piece up to the end of the range.",
        )


def merge_epochs(pieces: Sequence[Epoch], min_frames: int) -> list[Epoch]:
    """Join equal neighbours and absorb pieces shorter than ``min_frames``.

    The rule is ``tools.snippets.cut_snippets``' on per-frame label codes: runs of equal
    label join; a run shorter than ``min_frames`` takes the label of its longer
    neighbour (shortest first) and joins it. Each epoch keeps the description of its
    longest piece of the same label, and its confidence is the frame-weighted mean
    confidence of the pieces that agree with its label (pieces absorbed with another
    label count 0: the epoch is less certain there).

    Args:
        pieces: epochs tiling ``[pieces[0].start, pieces[-1].stop)`` in order.
        min_frames: shortest epoch, frames (a range shorter than this is one epoch).

    Returns:
        Epochs tiling the same range, ``cluster`` unset.

    Raises:
        InputError: the pieces do not tile a range in order.
    """
    if not pieces:
        return []
    start, stop = pieces[0].start, pieces[-1].stop
    _covers(pieces, start, stop)
    names = sorted({p.label for p in pieces})
    code = {n: i for i, n in enumerate(names)}
    per_frame = np.empty(stop - start, dtype=np.int64)
    for p in pieces:
        per_frame[p.start - start : p.stop - start] = code[p.label]
    longest = float(max(stop - start, min_frames))
    spans = cut_snippets(per_frame, fps=1.0, min_s=float(min_frames), max_s=longest)
    out: list[Epoch] = []
    i = 0
    for s in spans:
        a, b, label = s.start + start, s.stop + start, names[s.cluster]
        while pieces[i].stop <= a:
            i += 1
        agree = 0.0
        best: Epoch | None = None
        j = i
        while j < len(pieces) and pieces[j].start < b:
            p = pieces[j]
            overlap = min(b, p.stop) - max(a, p.start)
            if p.label == label:
                agree += overlap * p.confidence
                if best is None or p.stop - p.start > best.stop - best.start:
                    best = p
            j += 1
        out.append(
            Epoch(
                start=a,
                stop=b,
                label=label,
                description=best.description if best is not None else "",
                confidence=round(min(1.0, agree / (b - a)), 4),
            )
        )
    return out


def plan_windows(n_items: int, size: int, overlap: int) -> list[tuple[int, int]]:
    """Overlapping windows over ``n_items`` items (snippets), ``[first, stop)`` indices.

    Consecutive windows share ``overlap`` items; the last window ends at ``n_items``.

    Args:
        n_items: number of items (>= 0).
        size: items per window (>= 1).
        overlap: items shared by neighbouring windows (``0 <= overlap < size``).

    Returns:
        The windows in order; one window when ``n_items <= size``; none when 0 items.
    """
    if size < 1 or not 0 <= overlap < size or n_items < 0:
        raise InputError(
            f"need size >= 1 and 0 <= overlap < size; found size={size}, overlap={overlap}.",
            fix="e.g. windows of 40 snippets overlapping by 8.",
        )
    out: list[tuple[int, int]] = []
    first = 0
    while first < n_items:
        stop = min(n_items, first + size)
        out.append((first, stop))
        if stop == n_items:
            break
        first = stop - overlap
    return out


def check_window_tiling(epochs: Sequence[Epoch], start: int, stop: int) -> list[CheckResult]:
    """Check that epochs cover frames ``[start, stop)`` exactly once, in order.

    Args:
        epochs: a window's epochs.
        start: the window's first frame.
        stop: one past its last frame.

    Returns:
        ``tiling_gaps`` (value = uncovered frames), ``tiling_overlaps`` (value = frames
        covered twice) and ``tiling_bounds`` (epochs outside the window, or out of order;
        value = their number); each message lists every violation in absolute frames.
    """
    eps = list(epochs)
    bounds = [
        f"epoch {i + 1} [{e.start}, {e.stop}) lies outside frames [{start}, {stop})"
        for i, e in enumerate(eps)
        if e.start < start or e.stop > stop
    ]
    bounds += [
        f"epoch {i + 1} [{b.start}, {b.stop}) comes before epoch {i} [{a.start}, {a.stop})"
        for i, (a, b) in enumerate(itertools.pairwise(eps), start=1)
        if b.start < a.start
    ]
    cover = np.zeros(stop - start, dtype=np.int64)
    for e in eps:
        a, b = max(e.start, start), min(e.stop, stop)
        if b > a:
            cover[a - start : b - start] += 1
    gaps = _runs(cover == 0, start)
    overlaps = _runs(cover > 1, start)
    n_gap = int((cover == 0).sum())
    n_over = int((cover > 1).sum())
    return [
        CheckResult(
            name="tiling_gaps",
            passed=not gaps,
            value=float(n_gap),
            threshold=0.0,
            message=(
                "; ".join(
                    f"gap: no epoch covers frames [{a}, {b}) ({b - a} frames)" for a, b in gaps
                )
                + f". Epochs must cover [{start}, {stop}) with end_frame = next start_frame."
                if gaps
                else f"epochs cover every frame of [{start}, {stop})"
            ),
        ),
        CheckResult(
            name="tiling_overlaps",
            passed=not overlaps,
            value=float(n_over),
            threshold=0.0,
            message=(
                "; ".join(f"overlap: frames [{a}, {b}) are in two epochs" for a, b in overlaps)
                + "."
                if overlaps
                else "no frame is in two epochs"
            ),
        ),
        CheckResult(
            name="tiling_bounds",
            passed=not bounds,
            value=float(len(bounds)),
            threshold=0.0,
            message="; ".join(bounds) + "." if bounds else "epochs are in order, inside the window",
        ),
    ]


def _runs(mask: NDArray[np.bool_], offset: int) -> list[tuple[int, int]]:
    """``[start, stop)`` (offset added) of the runs of True in ``mask``."""
    if not mask.any():
        return []
    m = np.concatenate([[False], mask, [False]]).astype(np.int8)
    d = np.diff(m)
    starts = np.flatnonzero(d == 1)
    stops = np.flatnonzero(d == -1)
    return [(int(a) + offset, int(b) + offset) for a, b in zip(starts, stops, strict=True)]


def stitch_windows(
    windows: Sequence[tuple[int, int, Sequence[Epoch]]], boundaries: Sequence[int] = ()
) -> list[Epoch]:
    """One ethogram from overlapping windows' epochs.

    Where window ``A`` and the next window ``B`` overlap (frames ``[B.start, A.stop)``),
    the cut is the epoch boundary of both ``A`` and ``B`` nearest the overlap's middle;
    with no shared boundary, the item boundary in ``boundaries`` nearest the middle (else
    the middle itself). ``A`` gives the epochs before the cut, ``B`` those after it;
    epochs crossing the cut are clipped. Equal labels meeting at a cut stay two epochs
    (``merge_epochs`` joins them).

    Args:
        windows: ``(start, stop, epochs)`` per window in order, each window's epochs
            tiling its ``[start, stop)``, windows overlapping or touching.
        boundaries: frames where a cut may fall (e.g. the snippets' starts).

    Returns:
        Epochs tiling ``[windows[0].start, windows[-1].stop)``.

    Raises:
        InputError: windows that leave a gap or do not advance.
    """
    if not windows:
        return []
    out = list(windows[0][2])
    end = windows[0][1]
    allowed = np.asarray(sorted(set(boundaries)), dtype=np.int64)
    for lo, hi, eps in windows[1:]:
        if lo > end or hi <= end:
            raise InputError(
                f"window [{lo}, {hi}) does not continue the ethogram ending at frame {end}.",
                fix="pass overlapping windows in order (plan_windows).",
            )
        mid = (lo + end) // 2
        in_a = {e.start for e in out if lo < e.start < end}
        shared = sorted(in_a & {e.start for e in eps if lo < e.start < end})
        if shared:
            cut = min(shared, key=lambda c: (abs(c - mid), c))
        else:
            inside = allowed[(allowed > lo) & (allowed < end)]
            cut = int(inside[np.argmin(np.abs(inside - mid))]) if inside.size else max(mid, lo)
        if cut <= (out[0].start if out else lo):
            cut = lo
        kept = [e for e in out if e.start < cut]
        if kept and kept[-1].stop > cut:
            kept[-1] = kept[-1].model_copy(update={"stop": cut})
        later = [e for e in eps if e.stop > cut]
        if later and later[0].start < cut:
            later[0] = later[0].model_copy(update={"start": cut})
        out = kept + later
        end = hi
    return out


def majority_cluster(labels: ArrayLike, start: int, stop: int) -> int | None:
    """The most common non-negative cluster of frames ``[start, stop)``.

    Args:
        labels: ``(frames,)`` int cluster per frame of one animal, -1 = none.
        start: first frame.
        stop: one past the last frame.

    Returns:
        The cluster (the smallest on a tie), or ``None`` when no frame has one.
    """
    lab = np.asarray(labels)[start:stop]
    lab = lab[lab >= 0]
    if lab.size == 0:
        return None
    return int(np.argmax(np.bincount(lab)))
