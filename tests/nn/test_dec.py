"""Deep Embedded Clustering: recovers separated blobs, deterministic under a seed."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from numpy.typing import NDArray
from sklearn.metrics import adjusted_rand_score

from ethoagent.errors import InputError
from ethoagent.nn.dec import DecConfig, fit_dec, soft_assignment, target_distribution

SMALL = DecConfig(k=5, pretrain_epochs=8, cluster_iters=150, update_interval=50, batch_size=128)


def blobs(seed: int = 0) -> tuple[NDArray[np.float64], NDArray[np.int64]]:
    """5 well-separated Gaussian blobs in 8-D, 300 rows each."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(0.0, 6.0, size=(5, 8))
    truth = np.repeat(np.arange(5), 300)
    return centres[truth] + rng.normal(0.0, 1.0, size=(truth.size, 8)), truth


def test_recovers_blobs_and_beats_chance() -> None:
    x, truth = blobs()
    res = fit_dec(x, SMALL)
    assert res.labels.shape == truth.shape and res.labels.dtype == np.int64
    assert res.soft.shape == (truth.size, 5)
    np.testing.assert_allclose(res.soft.sum(axis=1), 1.0, rtol=1e-9)
    assert res.latent.shape == (truth.size, SMALL.latent_dim)
    assert res.centroids.shape == (5, SMALL.latent_dim)
    assert len(res.pretrain_losses) == SMALL.pretrain_epochs
    assert res.pretrain_losses[-1] < res.pretrain_losses[0]
    ari = adjusted_rand_score(truth, res.labels)
    chance = adjusted_rand_score(truth, np.random.default_rng(1).integers(0, 5, truth.size))
    assert ari > 0.9
    assert ari - chance > 0.8
    # predict on the training rows agrees with the fit's labels
    np.testing.assert_array_equal(res.model.predict(x), res.labels)


def test_same_seed_same_labels_and_rng_untouched() -> None:
    x, _ = blobs(1)
    torch.manual_seed(123)
    before = torch.rand(1)
    torch.manual_seed(123)
    a = fit_dec(x, SMALL)
    after = torch.rand(1)
    b = fit_dec(x, SMALL)
    np.testing.assert_array_equal(a.labels, b.labels)
    np.testing.assert_array_equal(a.centroids, b.centroids)
    assert a.pretrain_losses == b.pretrain_losses
    assert torch.equal(before, after)  # the caller's RNG stream is not consumed


def test_progress_and_validation() -> None:
    x, _ = blobs()
    calls: list[tuple[str, int, int]] = []
    cfg = SMALL.model_copy(update={"pretrain_epochs": 2, "cluster_iters": 5})
    res = fit_dec(x, cfg, progress=lambda s, i, n: calls.append((s, i, n)))
    assert calls[:2] == [("pretrain", 1, 2), ("pretrain", 2, 2)]
    assert calls[-1] == ("cluster", res.iterations, 5)
    with pytest.raises(InputError, match="finite"):
        fit_dec(np.full((20, 3), np.nan), SMALL)
    with pytest.raises(InputError, match="shape"):
        fit_dec(np.zeros(20), SMALL)
    with pytest.raises(InputError, match="at least 5 rows"):
        fit_dec(np.zeros((3, 2)), SMALL)
    with pytest.raises(InputError, match="columns"):
        res.model.predict(np.zeros((2, 3)))


def test_soft_assignment_and_target() -> None:
    z = torch.tensor([[0.0, 0.0], [3.0, 4.0]], dtype=torch.float64)
    mu = torch.tensor([[0.0, 0.0], [3.0, 4.0]], dtype=torch.float64)
    q = soft_assignment(z, mu)
    # Student-t, alpha = 1: kernel 1 / (1 + d²), d² = 25 -> 1/26 against 1
    np.testing.assert_allclose(q[0].numpy(), [26 / 27, 1 / 27])
    p = target_distribution(q)
    np.testing.assert_allclose(p.sum(dim=1).numpy(), 1.0)
    assert p[0, 0] > q[0, 0]  # sharpened
