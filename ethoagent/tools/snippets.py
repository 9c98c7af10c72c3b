"""Cut one animal's per-frame cluster labels into snippets a vision-language model can name.

``cut_snippets`` turns the ``(frames,)`` cluster labels of one animal into snippets that
tile the timeline exactly (every frame in exactly one snippet, in order):

1. consecutive frames of one cluster form a run;
2. a run shorter than ``min_s`` is absorbed by its **longer** neighbouring run (the
   preceding one on a tie; the only neighbour at the start or end of the timeline) and
   takes its cluster; the shortest run is absorbed first, and runs of one cluster that
   become adjacent join. This repeats until every run lasts at least ``min_s`` or one run
   is left (a timeline shorter than ``min_s`` is one snippet);
3. a run longer than ``max_s`` is cut into the fewest pieces of at most ``max_s``, of
   near-equal length (so no short tail piece is left over).

``split_snippets`` splits those snippets further where a second per-frame labelling (the
kinematic captioner's, ``tools.captions.classify_frames``) changes for long enough: a
cluster run of a clustering that joins distinct short bouts is cut where they change.

``sample_frames`` picks the frames of a snippet to show, at most ``max_fps`` per second.
"""

from __future__ import annotations

import heapq
import itertools
import math

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ethoagent.errors import InputError
from ethoagent.model.ethogram import Snippet

__all__ = ["cut_snippets", "runs", "sample_frames", "split_snippets"]


def _labels(labels: ArrayLike) -> NDArray[np.int64]:
    arr = np.asarray(labels)
    if arr.ndim != 1 or (arr.size and not np.issubdtype(arr.dtype, np.integer)):
        raise InputError(
            f"labels must be one animal's (frames,) integer cluster labels; found shape "
            f"{arr.shape} dtype {arr.dtype}.",
            fix="select one animal's rows of the clustering, in frame order.",
        )
    return arr.astype(np.int64)


def _fps(fps: float) -> float:
    if not (math.isfinite(fps) and fps > 0):
        raise InputError(f"fps must be a positive frame rate in Hz; found {fps}.")
    return float(fps)


def runs(labels: ArrayLike) -> list[tuple[int, int, int]]:
    """Maximal runs of equal labels.

    Args:
        labels: ``(frames,)`` int labels.

    Returns:
        ``(start, stop, label)`` per run, stop exclusive, in frame order.
    """
    lab = _labels(labels)
    if lab.size == 0:
        return []
    edges = np.flatnonzero(lab[1:] != lab[:-1]) + 1
    starts = np.concatenate([[0], edges])
    stops = np.concatenate([edges, [lab.size]])
    return [(int(a), int(b), int(lab[a])) for a, b in zip(starts, stops, strict=True)]


def _merge_short(spans: list[tuple[int, int, int]], min_frames: int) -> list[tuple[int, int, int]]:
    """Absorb runs shorter than ``min_frames`` into their longer neighbour, shortest first."""
    n = len(spans)
    start = [s[0] for s in spans]
    stop = [s[1] for s in spans]
    cluster = [s[2] for s in spans]
    prev = [i - 1 for i in range(n)]
    nxt = [i + 1 if i + 1 < n else -1 for i in range(n)]
    alive = [True] * n
    heap = [(stop[i] - start[i], start[i], i) for i in range(n) if stop[i] - start[i] < min_frames]
    heapq.heapify(heap)
    left = n

    def join(a: int, b: int) -> None:
        """Run ``b`` (right after ``a``) becomes part of ``a``."""
        stop[a] = stop[b]
        alive[b] = False
        nxt[a] = nxt[b]
        if nxt[b] >= 0:
            prev[nxt[b]] = a

    while heap and left > 1:
        length, _, i = heapq.heappop(heap)
        if not alive[i] or stop[i] - start[i] != length:
            continue  # stale entry
        p, q = prev[i], nxt[i]
        if q < 0 or (p >= 0 and stop[p] - start[p] >= stop[q] - start[q]):
            target = p
            join(p, i)
        else:
            cluster[i] = cluster[q]
            join(i, q)
            target = i
        left -= 1
        # the grown run may now touch a run of its own cluster on either side
        r = nxt[target]
        if r >= 0 and cluster[r] == cluster[target]:
            join(target, r)
            left -= 1
        p = prev[target]
        if p >= 0 and cluster[p] == cluster[target]:
            join(p, target)
            left -= 1
            target = p
        if stop[target] - start[target] < min_frames:
            heapq.heappush(heap, (stop[target] - start[target], start[target], target))
    return [(start[i], stop[i], cluster[i]) for i in range(n) if alive[i]]


def cut_snippets(
    labels: ArrayLike, fps: float, min_s: float = 1.0, max_s: float = 5.0
) -> list[Snippet]:
    """Cut one animal's per-frame cluster labels into snippets that tile its timeline.

    See the module docstring for the merge rule of short runs.

    Args:
        labels: ``(frames,)`` int cluster labels of one animal, in frame order.
        fps: frame rate, Hz.
        min_s: shortest snippet, seconds (runs shorter than ``round(min_s * fps)`` frames
            are merged into a neighbour).
        max_s: longest snippet, seconds (at most ``floor(max_s * fps)`` frames, >= 1).

    Returns:
        Snippets in frame order; ``snippets[0].start == 0``, ``snippets[-1].stop ==
        frames`` and each snippet's ``stop`` is the next one's ``start``.
    """
    fps = _fps(fps)
    if not (0 <= min_s <= max_s):
        raise InputError(
            f"need 0 <= min_s <= max_s; found min_s={min_s}, max_s={max_s}.",
            fix="pass durations in seconds, e.g. min_s=1, max_s=5.",
        )
    min_frames = round(min_s * fps)
    max_frames = max(1, math.floor(max_s * fps + 1e-9))
    spans = _merge_short(runs(labels), min_frames)
    out: list[Snippet] = []
    for a, b, c in spans:
        pieces = math.ceil((b - a) / max_frames)
        edges = a + (np.arange(pieces + 1) * (b - a)) // pieces
        for s, e in itertools.pairwise(edges):
            out.append(Snippet(start=int(s), stop=int(e), cluster=c, seconds=(e - s) / fps))
    return out


def split_snippets(
    snippets: list[Snippet], classes: ArrayLike, fps: float, min_s: float = 0.5
) -> list[Snippet]:
    """Split snippets where a per-frame class changes, into pieces of at least ``min_s``.

    Runs of ``classes`` shorter than ``min_s`` are first absorbed by their longer
    neighbour (``cut_snippets``' rule), so that a class must hold for ``min_s`` to make
    a boundary; each snippet is then cut at the class changes inside it, and a piece
    shorter than ``min_s`` at its edges is absorbed the same way. Pieces keep their
    snippet's cluster.

    Args:
        snippets: snippets tiling a timeline, in order (``cut_snippets``).
        classes: ``(frames,)`` int class per frame of the same timeline.
        fps: frame rate, Hz.
        min_s: shortest piece and shortest class run that makes a boundary, s.

    Returns:
        Snippets tiling the same timeline, each inside one of ``snippets``.

    Raises:
        InputError: ``classes`` does not cover the snippets' frames.
    """
    fps = _fps(fps)
    codes = _labels(classes)
    if snippets and snippets[-1].stop != codes.size:
        raise InputError(
            f"classes cover {codes.size} frames, the snippets {snippets[-1].stop}.",
            fix="pass one class per frame of the animal whose snippets these are.",
        )
    min_frames = max(1, round(min_s * fps))
    smooth = np.empty_like(codes)
    for a, b, c in _merge_short(runs(codes), min_frames):
        smooth[a:b] = c
    out: list[Snippet] = []
    for s in snippets:
        for a, b, _ in _merge_short(runs(smooth[s.start : s.stop]), min_frames):
            start, stop = s.start + a, s.start + b
            out.append(
                Snippet(start=start, stop=stop, cluster=s.cluster, seconds=(stop - start) / fps)
            )
    return out


def sample_frames(snippet: Snippet, fps: float, max_fps: float = 10.0) -> list[int]:
    """Frames of a snippet to show, evenly spaced, at most ``max_fps`` frames per second.

    Args:
        snippet: the snippet.
        fps: the recording's frame rate, Hz.
        max_fps: most frames to show per second of snippet, Hz.

    Returns:
        Ascending frame indices within ``[snippet.start, snippet.stop)``, starting at
        ``snippet.start``; every frame when ``fps <= max_fps``.
    """
    fps = _fps(fps)
    if not (math.isfinite(max_fps) and max_fps > 0):
        raise InputError(f"max_fps must be a positive rate in Hz; found {max_fps}.")
    length = snippet.stop - snippet.start
    count = min(length, max(1, math.ceil(length * max_fps / fps - 1e-9)))
    return [snippet.start + (i * length) // count for i in range(count)]
