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
