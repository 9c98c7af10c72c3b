"""Model-free clustering baseline and the checks of a clustering of behaviour features.

- ``kmeans_baseline``: k-means (scikit-learn) on standardised features, the baseline DEC
  (``ethoagent.nn.dec``) must beat.
- ``check_clusters``: no cluster is empty or degenerate (too few rows to describe).
- ``assignment_stability`` / ``check_stability``: agreement (adjusted Rand index) of two
  clusterings of the same rows, e.g. two seeds.

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
