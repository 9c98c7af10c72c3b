"""Clustering baseline and checks: empty / tiny clusters, stability."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import adjusted_rand_score

from ethoagent.errors import InputError
from ethoagent.tools.cluster import (
    assignment_stability,
    check_clusters,
    check_stability,
    kmeans_baseline,
    smooth_assignments,
)


def test_kmeans_baseline_recovers_scaled_blobs() -> None:
    rng = np.random.default_rng(0)
    truth = np.repeat(np.arange(3), 100)
    x = np.array([[0, 0], [5, 0], [0, 5]], float)[truth] + rng.normal(0, 0.5, (300, 2))
    x[:, 1] *= 1000.0  # standardisation makes the scale of a feature irrelevant
    labels = kmeans_baseline(x, k=3, seed=0)
    assert labels.dtype == np.int64
    assert adjusted_rand_score(truth, labels) > 0.95
    np.testing.assert_array_equal(labels, kmeans_baseline(x, k=3, seed=0))
    with pytest.raises(InputError, match="k <= rows"):
        kmeans_baseline(x[:2], k=3)


def test_check_clusters_passes_balanced() -> None:
    res = check_clusters(np.arange(100) % 4, k=4)
    assert res.passed and res.value == pytest.approx(0.25)


def test_check_clusters_names_empty_and_tiny() -> None:
    labels = np.zeros(1000, dtype=np.int64)
    labels[:2] = 1  # 0.2 % of rows < 0.5 %
    labels[500:] = 3  # cluster 2 is empty
    res = check_clusters(labels, k=4)
    assert not res.passed
    assert res.value == 0.0
    assert "empty cluster(s) [2]" in res.message
    assert "degenerate cluster(s)" in res.message and "1 (2 rows" in res.message
    only_tiny = check_clusters(np.r_[np.zeros(999), [1]].astype(int), k=2)
    assert not only_tiny.passed and "empty" not in only_tiny.message
    with pytest.raises(InputError, match=r"\[0, k=2\)"):
        check_clusters([0, 1, 2], k=2)


def test_stability() -> None:
    a = np.repeat(np.arange(3), 10)
    assert assignment_stability(a, (a + 1) % 3) == pytest.approx(1.0)
    assert check_stability(1.0, 0.8).passed
    low = check_stability(0.1, 0.8)
    assert not low.passed and "0.100 < 0.800" in low.message
    assert not check_stability(float("nan")).passed
    with pytest.raises(InputError, match="same rows"):
        assignment_stability(a, a[:5])


# --------------------------------------------------------------------------- smoothing


def _brute_force(q: np.ndarray, dwell: float) -> np.ndarray:
    """The most likely path by enumerating every path (tiny cases)."""
    import itertools

    frames, k = q.shape
    stay, move = np.log(1 - 1 / dwell), np.log(1 / dwell / (k - 1))
    best, arg = -np.inf, None
    for path in itertools.product(range(k), repeat=frames):
        score = sum(np.log(q[t, s]) for t, s in enumerate(path))
        score += sum(stay if a == b else move for a, b in itertools.pairwise(path))
        if score > best:
            best, arg = score, path
    return np.array(arg)


@pytest.mark.parametrize("seed", range(6))
def test_smooth_assignments_is_the_most_likely_path(seed: int) -> None:
    rng = np.random.default_rng(seed)
    q = rng.dirichlet(np.full(3, 0.7), size=6)
    for dwell in (1.5, 4.0, 20.0):
        np.testing.assert_array_equal(smooth_assignments(q, dwell), _brute_force(q, dwell))


def test_smooth_assignments_absorbs_a_flicker_and_keeps_a_change() -> None:
    q = np.full((30, 3), 0.1)
    q[:, 0] = 0.8
    q[10] = [0.1, 0.8, 0.1]  # one frame of cluster 1
    q[20:] = [0.1, 0.1, 0.8]  # a sustained change at frame 20
    np.testing.assert_array_equal(smooth_assignments(q, 1.0), np.argmax(q, axis=1))
    smoothed = smooth_assignments(q, 15.0)
    np.testing.assert_array_equal(smoothed, [0] * 20 + [2] * 10)


def test_smooth_assignments_skips_frames_without_features() -> None:
    q = np.full((12, 2), 0.2)
    q[:, 0] = 0.8
    q[4:6] = np.nan
    q[6:] = [0.2, 0.8]
    out = smooth_assignments(q, 50.0)
    np.testing.assert_array_equal(out, [0, 0, 0, 0, -1, -1, 1, 1, 1, 1, 1, 1])


@pytest.mark.parametrize(
    ("soft", "dwell", "match"),
    [
        (np.ones(5), 2.0, "soft assignments"),
        (-np.ones((5, 2)), 2.0, "soft assignments"),
        (np.ones((5, 2)), 0.5, "dwell_frames"),
        (np.ones((5, 2)), float("nan"), "dwell_frames"),
    ],
)
def test_smooth_assignments_rejects_bad_input(soft: np.ndarray, dwell: float, match: str) -> None:
    with pytest.raises(InputError, match=match):
        smooth_assignments(soft, dwell)
