"""Model-free clustering baseline and the checks of a clustering of behaviour features.

- ``kmeans_baseline``: k-means (scikit-learn) on standardised features, the baseline DEC
  (``ethoagent.nn.dec``) must beat.
- ``check_clusters``: no cluster is empty or degenerate (too few rows to describe).
- ``assignment_stability`` / ``check_stability``: agreement (adjusted Rand index) of two
  clusterings of the same rows, e.g. two seeds.
- ``smooth_assignments``: the most likely cluster sequence of one animal under a sticky
  hidden Markov model whose emissions are a clustering's soft assignments (Viterbi), so a
  frame-by-frame flicker between clusters becomes one bout: the temporal model that a
  per-frame clustering such as DEC lacks (keypoint-MoSeq's AR-HMM has one).

Features are ``(rows, features)`` float64 (one row per valid (frame, animal) pair); labels
are ``(rows,)`` int cluster indices in ``[0, k)``.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike, NDArray
from sklearn.cluster import KMeans
from sklearn.metrics import adjusted_rand_score

from ethoagent.errors import InputError
from ethoagent.model.checks import CheckResult

__all__ = [
    "assignment_stability",
    "check_clusters",
    "check_stability",
    "kmeans_baseline",
    "smooth_assignments",
]


def _labels(labels: ArrayLike, what: str = "labels") -> NDArray[np.int64]:
    arr = np.asarray(labels)
    if arr.ndim != 1 or (arr.size and not np.issubdtype(arr.dtype, np.integer)):
        raise InputError(
            f"{what} must be a (rows,) integer array of cluster indices; found shape "
            f"{arr.shape} dtype {arr.dtype}.",
            fix="pass DecResult.labels or the output of kmeans_baseline().",
        )
    return arr.astype(np.int64)


def kmeans_baseline(x: ArrayLike, k: int = 10, seed: int = 0) -> NDArray[np.int64]:
    """Cluster rows of features by k-means after standardising each feature.

    Args:
        x: ``(rows, features)`` float64, finite; at least ``k`` rows.
        k: number of clusters, >= 1.
        seed: random state of the k-means initialisation (10 restarts).

    Returns:
        ``(rows,)`` int64 labels in ``[0, k)``.
    """
    arr = np.asarray(x, dtype=np.float64)
    if arr.ndim != 2 or not np.all(np.isfinite(arr)):
        raise InputError(
            f"features must be a finite (rows, features) matrix; found shape {arr.shape}"
            f"{'' if arr.ndim != 2 else ' with NaN/inf'}.",
            fix="drop rows with missing keypoints (keep valid (frame, animal) pairs only).",
        )
    if k < 1 or arr.shape[0] < k:
        raise InputError(
            f"k-means needs 1 <= k <= rows; found k={k}, rows={arr.shape[0]}.",
            fix="lower k or pass more frames.",
        )
    scale = arr.std(axis=0)
    scale[scale < 1e-12] = 1.0
    xs = (arr - arr.mean(axis=0)) / scale
    km = KMeans(n_clusters=k, n_init=10, random_state=seed).fit(xs)
    return np.asarray(km.labels_, dtype=np.int64)


def check_clusters(labels: ArrayLike, k: int, min_fraction: float = 0.005) -> CheckResult:
    """Pass when each of the ``k`` clusters holds at least ``min_fraction`` of the rows.

    Args:
        labels: ``(rows,)`` int cluster indices in ``[0, k)``.
        k: number of clusters the clustering was asked for.
        min_fraction: smallest acceptable cluster size, fraction of rows (0.005 = 0.5 %).

    Returns:
        ``clusters`` check; value = the smallest cluster's fraction of rows, and a message
        naming every empty and every degenerate cluster with its size.
    """
    lab = _labels(labels)
    if lab.size == 0:
        raise InputError("labels are empty; nothing was clustered.", fix="pass >= 1 row.")
    if lab.min() < 0 or lab.max() >= k:
        raise InputError(
            f"labels must lie in [0, k={k}); found values {lab.min()}..{lab.max()}.",
            fix="pass the k the clustering was fitted with.",
        )
    counts = np.bincount(lab, minlength=k)
    frac = counts / lab.size
    empty = [int(c) for c in np.flatnonzero(counts == 0)]
    tiny = [int(c) for c in np.flatnonzero((counts > 0) & (frac < min_fraction))]
    smallest = float(frac.min())
    problems = []
    if empty:
        problems.append(f"empty cluster(s) {empty}")
    if tiny:
        sizes = ", ".join(f"{c} ({counts[c]} rows, {frac[c]:.2%})" for c in tiny)
        problems.append(f"degenerate cluster(s) below {min_fraction:.2%} of rows: {sizes}")
    if problems:
        message = "; ".join(problems) + f" of {lab.size} rows; lower k or re-seed."
    else:
        message = f"all {k} clusters hold >= {min_fraction:.2%} of {lab.size} rows"
    return CheckResult(
        name="clusters",
        passed=not problems,
        value=smallest,
        threshold=min_fraction,
        message=message,
    )


def assignment_stability(labels_a: ArrayLike, labels_b: ArrayLike) -> float:
    """Adjusted Rand index of two clusterings of the same rows (1 = identical up to renaming).

    Args:
        labels_a: ``(rows,)`` int cluster indices.
        labels_b: ``(rows,)`` int cluster indices of the same rows.

    Returns:
        ARI in ``[-0.5, 1]``; about 0 for independent clusterings.
    """
    a = _labels(labels_a, "labels_a")
    b = _labels(labels_b, "labels_b")
    if a.shape != b.shape:
        raise InputError(
            f"the two clusterings must label the same rows; found {a.size} and {b.size} rows.",
            fix="cluster the same feature matrix twice (e.g. with two seeds).",
        )
    return float(adjusted_rand_score(a, b))


def check_stability(ari: float, threshold: float = 0.8) -> CheckResult:
    """Pass when the adjusted Rand index of two clusterings is at least ``threshold``.

    Args:
        ari: from ``assignment_stability``.
        threshold: smallest acceptable ARI.

    Returns:
        ``stability`` check (NaN fails).
    """
    passed = not math.isnan(ari) and ari >= threshold
    rel = ">=" if passed else "<"
    hint = "" if passed else "; clusters change with the seed: lower k or add features"
    return CheckResult(
        name="stability",
        passed=passed,
        value=ari,
        threshold=threshold,
        message=f"adjusted Rand index between runs = {ari:.3f} {rel} {threshold:.3f}{hint}",
    )


def smooth_assignments(soft: ArrayLike, dwell_frames: float) -> NDArray[np.int64]:
    """The most likely cluster sequence under a sticky HMM over soft assignments (Viterbi).

    Each frame's soft assignment ``q[t]`` (e.g. DEC's Student-t ``Q``) is taken as the
    likelihood of the clusters in that frame; the hidden cluster stays from one frame to
    the next with probability ``1 - 1 / dwell_frames`` (so a bout lasts ``dwell_frames``
    frames on average, geometric) and otherwise moves to any other cluster alike. A
    cluster is left only where the evidence for another outweighs the cost of a switch,
    so a one-frame flicker is absorbed and a sustained change is kept at its frame.

    Args:
        soft: ``(frames, k)`` float64, one animal's soft assignments in frame order (rows
            >= 0, need not sum to 1); rows of NaN (frames without features) are skipped:
            each stretch of finite rows is decoded on its own.
        dwell_frames: expected bout length, frames (>= 1; 1 = no smoothing, the argmax).

    Returns:
        ``(frames,)`` int64 clusters in ``[0, k)``; -1 on the NaN rows.

    Raises:
        InputError: if ``soft`` is not a ``(frames, k)`` matrix of values >= 0 or
            ``dwell_frames`` < 1.
    """
    q = np.asarray(soft, dtype=np.float64)
    if q.ndim != 2 or q.shape[1] < 1 or (q[np.isfinite(q)] < 0).any():
        raise InputError(
            f"soft assignments must be a (frames, k) matrix of values >= 0; found shape {q.shape}.",
            fix="pass one animal's DecResult.soft rows, in frame order.",
        )
    if not (math.isfinite(dwell_frames) and dwell_frames >= 1):
        raise InputError(
            f"dwell_frames must be a finite number of frames >= 1; found {dwell_frames}.",
            fix="pass the expected bout length in frames (seconds x fps), 1 for none.",
        )
    out = np.full(q.shape[0], -1, dtype=np.int64)
    ok = np.asarray(np.isfinite(q).all(axis=1), dtype=np.bool_)
    k = q.shape[1]
    if dwell_frames <= 1 or k == 1:
        out[ok] = np.argmax(q[ok], axis=1)
        return out
    stay = math.log1p(-1.0 / dwell_frames)
    move = math.log(1.0 / dwell_frames / (k - 1))
    with np.errstate(divide="ignore"):
        logq = np.log(np.where(ok[:, None], q, 1.0) + 1e-300)
    edges = np.flatnonzero(np.diff(np.concatenate([[0], ok.astype(np.int8), [0]])))
    for start, stop in zip(edges[::2], edges[1::2], strict=True):
        out[start:stop] = _viterbi(logq[start:stop], stay, move)
    return out


def _viterbi(logq: NDArray[np.float64], stay: float, move: float) -> NDArray[np.int64]:
    """Viterbi path of ``(frames, k)`` log-likelihoods under stay / move log-probabilities."""
    frames, k = logq.shape
    back = np.empty((frames, k), dtype=np.int64)
    score = logq[0].copy()
    states = np.arange(k)
    for t in range(1, frames):
        # the best way into state j: stay in j, or move from the best state other than j
        order = np.argsort(score)
        source = np.full(k, order[-1])
        source[order[-1]] = order[-2]
        moved = score[source] + move
        via_stay = score + stay
        take_move = moved > via_stay
        back[t] = np.where(take_move, source, states)
        score = np.maximum(moved, via_stay) + logq[t]
    path = np.empty(frames, dtype=np.int64)
    path[-1] = int(np.argmax(score))
    for t in range(frames - 1, 0, -1):
        path[t - 1] = back[t, path[t]]
    return path
