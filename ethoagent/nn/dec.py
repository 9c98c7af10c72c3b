"""Deep Embedded Clustering (DEC, Xie, Girshick & Farhadi 2016) of pose features, in torch.

The behaviour-segmentation pipeline clusters a feature matrix ``(rows, features)`` float64
(one row per valid (frame, animal) pair) into ``k`` behaviour clusters:

1. standardise each feature (zero mean, unit variance; constant features stay 0);
2. pretrain an MLP autoencoder ``features -> hidden... -> latent -> ...hidden -> features``
   with a mean-squared reconstruction loss;
3. initialise ``k`` centroids by k-means (scikit-learn) on the latent codes;
4. refine encoder and centroids by minimising ``KL(P || Q)``, where ``Q`` is the Student-t
   soft assignment (``alpha = 1``) of latent codes to centroids and ``P`` the sharpened
   target ``q² / f`` (``f`` = soft cluster frequency), row-normalised and recomputed every
   ``update_interval`` iterations; an optional reconstruction term keeps the latent space
   from collapsing. Training stops when fewer than ``tol`` of the labels change between
   two target updates, or after ``cluster_iters`` iterations.

Everything runs on the CPU in float32 and is deterministic under ``DecConfig.seed``: the
global torch RNG is forked (the caller's random state is left alone), mini-batches are
drawn from a seeded generator, and only deterministic CPU ops are used. The thread count
is set for the fit and restored afterwards.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
from numpy.typing import ArrayLike, NDArray
from pydantic import BaseModel, ConfigDict, Field, model_validator
from sklearn.cluster import KMeans
from threadpoolctl import threadpool_limits
from torch import nn

from ethoagent.errors import InputError

__all__ = [
    "DecConfig",
    "DecModel",
    "DecResult",
    "ProgressCallback",
    "fit_dec",
    "soft_assignment",
    "target_distribution",
]

ProgressCallback = Callable[[str, int, int], None]
"""``progress(stage, step, total)``; stage is ``"pretrain"`` (step = epoch) or
``"cluster"`` (step = iteration)."""

# Rows per forward pass when embedding a whole matrix (bounds memory, not results).
_EMBED_CHUNK = 1 << 15


class DecConfig(BaseModel):
    """Settings of ``fit_dec``; the defaults fit a 20,000 x 20 matrix in seconds on one core.

    Attributes:
        k: number of clusters.
        latent_dim: size of the embedding.
        hidden: widths of the encoder's hidden layers (the decoder mirrors them).
        pretrain_epochs: passes over the data of autoencoder pretraining.
        cluster_iters: maximum mini-batch iterations of the KL clustering phase.
        batch_size: rows per mini-batch.
        lr: Adam learning rate of both phases.
        update_interval: iterations between two recomputations of the target ``P`` (and
            of the convergence test).
        tol: stop when less than this fraction of the labels changed since the last
            target update.
        recon_weight: weight of the reconstruction (MSE) term added to the KL loss in the
            clustering phase; 0 = plain DEC.
        kmeans_init: k-means restarts of the centroid initialisation.
        seed: seed of every random choice (weights, batches, k-means).
        threads: torch and k-means CPU threads during the fit. One is the default: the
            matrix products of this small MLP are too small to gain from more, and extra
            spinning threads slow the fit down several-fold on a busy machine.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    k: int = Field(default=10, ge=2)
    latent_dim: int = Field(default=10, ge=1)
    hidden: tuple[int, ...] = (64, 32)
    pretrain_epochs: int = Field(default=10, ge=0)
    cluster_iters: int = Field(default=2000, ge=0)
    batch_size: int = Field(default=256, ge=1)
    lr: float = Field(default=1e-3, gt=0)
    update_interval: int = Field(default=100, ge=1)
    tol: float = Field(default=0.001, ge=0, le=1)
    recon_weight: float = Field(default=0.0, ge=0)
    kmeans_init: int = Field(default=10, ge=1)
    seed: int = 0
    threads: int = Field(default=1, ge=1)

    @model_validator(mode="after")
    def _positive_widths(self) -> DecConfig:
        if any(h < 1 for h in self.hidden):
            raise ValueError(f"hidden widths must be >= 1; found {self.hidden}")
        return self


class _Autoencoder(nn.Module):
    """MLP autoencoder with ReLU hidden layers and linear latent and output layers."""

    def __init__(self, n_features: int, hidden: tuple[int, ...], latent_dim: int) -> None:
        super().__init__()
        self.latent_dim = latent_dim
        widths = [n_features, *hidden, latent_dim]
        self.encoder = _mlp(widths)
        self.decoder = _mlp(widths[::-1])

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        z = self.encoder(x)
        return z, self.decoder(z)


def _mlp(widths: list[int]) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(itertools.pairwise(widths)):
        layers.append(nn.Linear(a, b))
        if i < len(widths) - 2:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


def soft_assignment(z: torch.Tensor, centroids: torch.Tensor, alpha: float = 1.0) -> torch.Tensor:
    """Student-t soft assignment of embeddings to centroids (DEC's ``Q``).

    Args:
        z: ``(rows, latent)`` embeddings.
        centroids: ``(k, latent)`` cluster centres.
        alpha: degrees of freedom of the Student-t kernel.

    Returns:
        ``(rows, k)``, each row sums to 1.
    """
    d2 = torch.cdist(z, centroids).pow(2)
    q = (1.0 + d2 / alpha).pow(-(alpha + 1.0) / 2.0)
    return q / q.sum(dim=1, keepdim=True)


def target_distribution(q: torch.Tensor) -> torch.Tensor:
    """DEC's sharpened target ``P``: ``q² / f`` with ``f`` the soft cluster sizes, row-normalised.

    Args:
        q: ``(rows, k)`` soft assignment.

    Returns:
        ``(rows, k)``, each row sums to 1.
    """
    w = q.pow(2) / q.sum(dim=0).clamp_min(torch.finfo(q.dtype).tiny)
    return w / w.sum(dim=1, keepdim=True)


@dataclass(frozen=True, repr=False)
class DecModel:
    """A fitted DEC model: standardisation, encoder and centroids.

    Attributes:
        mean: ``(features,)`` float64, feature means of the training matrix.
        scale: ``(features,)`` float64, feature standard deviations (1 where constant).
        autoencoder: the trained autoencoder (eval mode, float32, CPU).
        centroids: ``(k, latent)`` float64 cluster centres in the latent space.
    """

    mean: NDArray[np.float64]
    scale: NDArray[np.float64]
    autoencoder: _Autoencoder
    centroids: NDArray[np.float64]

    def __repr__(self) -> str:
        """Feature count, clusters and latent size."""
        k, d = self.centroids.shape
        return f"DecModel(features={self.mean.size}, k={k}, latent={d})"

    def embed(self, x: ArrayLike) -> NDArray[np.float64]:
        """Latent codes of rows of features.

        Args:
            x: ``(rows, features)`` float64, the features the model was fitted on.

        Returns:
            ``(rows, latent)`` float64.
        """
        xs = _validate(x, n_features=self.mean.size)
        return _embed(self.autoencoder, (xs - self.mean) / self.scale)

    def predict_soft(self, x: ArrayLike) -> NDArray[np.float64]:
        """Soft cluster assignment ``Q`` of rows of features.

        Args:
            x: ``(rows, features)`` float64.

        Returns:
            ``(rows, k)`` float64, rows sum to 1.
        """
        z = torch.from_numpy(self.embed(x))
        soft: NDArray[np.float64] = soft_assignment(z, torch.from_numpy(self.centroids)).numpy()
        return soft

    def predict(self, x: ArrayLike) -> NDArray[np.int64]:
        """Hard cluster labels of rows of features.

        Args:
            x: ``(rows, features)`` float64.

        Returns:
            ``(rows,)`` int64 in ``[0, k)``.
        """
        labels: NDArray[np.int64] = np.argmax(self.predict_soft(x), axis=1).astype(np.int64)
        return labels


@dataclass(frozen=True, repr=False)
class DecResult:
    """The outcome of ``fit_dec``.

    Attributes:
        labels: ``(rows,)`` int64 cluster of each row, in ``[0, k)``.
        soft: ``(rows, k)`` float64 soft assignment ``Q`` (rows sum to 1).
        latent: ``(rows, latent)`` float64 embeddings.
        centroids: ``(k, latent)`` float64 cluster centres.
        pretrain_losses: mean reconstruction MSE (standardised units²) of each epoch.
        cluster_losses: mean KL loss (nats per row, plus the weighted reconstruction term)
            of each block of ``update_interval`` iterations.
        label_changes: fraction of labels changed at each target update.
        iterations: clustering iterations run.
        converged: whether the label-change tolerance was reached before ``cluster_iters``.
        model: the fitted model, for ``predict`` on new rows.
    """

    labels: NDArray[np.int64]
    soft: NDArray[np.float64]
    latent: NDArray[np.float64]
    centroids: NDArray[np.float64]
    pretrain_losses: list[float]
    cluster_losses: list[float]
    label_changes: list[float]
    iterations: int
    converged: bool
    model: DecModel = field(compare=False)

    def __repr__(self) -> str:
        """Rows, clusters, iterations and convergence."""
        return (
            f"DecResult(rows={self.labels.size}, k={self.centroids.shape[0]}, "
            f"iterations={self.iterations}, converged={self.converged})"
        )


def _validate(
    x: ArrayLike, *, n_features: int | None = None, min_rows: int = 1
) -> NDArray[np.float64]:
    arr = np.asarray(x, dtype=np.float64)
    if arr.ndim != 2:
        raise InputError(
            f"DEC features must have shape (rows, features) float64; found shape {arr.shape}.",
            fix="stack one feature vector per valid (frame, animal) pair as a row.",
        )
    if n_features is not None and arr.shape[1] != n_features:
        raise InputError(
            f"DEC features must have {n_features} columns like the fitted matrix; "
            f"found {arr.shape[1]}.",
            fix="compute the same features, in the same order, as for the fit.",
        )
    if arr.shape[0] < min_rows:
        raise InputError(
            f"DEC needs at least {min_rows} rows (one per cluster); found {arr.shape[0]}.",
            fix="lower DecConfig.k or pass more frames.",
        )
    if not np.all(np.isfinite(arr)):
        bad = int(np.count_nonzero(~np.isfinite(arr).all(axis=1)))
        raise InputError(
            f"DEC features must be finite; found NaN/inf in {bad} row(s).",
            fix="drop rows with missing keypoints (keep valid (frame, animal) pairs only).",
        )
    return arr


def _embed(ae: _Autoencoder, xs: NDArray[np.float64]) -> NDArray[np.float64]:
    t = torch.from_numpy(xs.astype(np.float32))
    with torch.no_grad():
        parts = [ae.encoder(t[i : i + _EMBED_CHUNK]) for i in range(0, t.shape[0], _EMBED_CHUNK)]
    z = torch.cat(parts) if parts else torch.empty((0, ae.latent_dim))
    return z.double().numpy()


def fit_dec(
    x: ArrayLike, config: DecConfig | None = None, progress: ProgressCallback | None = None
) -> DecResult:
    """Cluster rows of features with Deep Embedded Clustering.

    Args:
        x: ``(rows, features)`` float64, finite, one row per valid (frame, animal) pair;
            at least ``config.k`` rows.
        config: settings; ``None`` = ``DecConfig()``.
        progress: called after each pretraining epoch and each clustering iteration.

    Returns:
        Labels, soft assignment, embeddings, centroids, loss history and the model.

    Raises:
        InputError: ``x`` is not a finite 2-D matrix with at least ``k`` rows.
    """
    cfg = config if config is not None else DecConfig()
    arr = _validate(x, min_rows=cfg.k)
    mean = arr.mean(axis=0)
    scale = arr.std(axis=0)
    scale[scale < 1e-12] = 1.0
    xs = (arr - mean) / scale

    threads_before = torch.get_num_threads()
    torch.set_num_threads(cfg.threads)
    try:
        with torch.random.fork_rng(devices=[]), threadpool_limits(limits=cfg.threads):
            torch.manual_seed(cfg.seed)
            return _fit(xs, mean, scale, cfg, progress)
    finally:
        torch.set_num_threads(threads_before)


def _fit(
    xs: NDArray[np.float64],
    mean: NDArray[np.float64],
    scale: NDArray[np.float64],
    cfg: DecConfig,
    progress: ProgressCallback | None,
) -> DecResult:
    n = xs.shape[0]
    data = torch.from_numpy(xs.astype(np.float32))
    gen = torch.Generator().manual_seed(cfg.seed)
    ae = _Autoencoder(xs.shape[1], cfg.hidden, cfg.latent_dim)
    batch = min(cfg.batch_size, n)

    # --- pretraining: reconstruction only
    opt = torch.optim.Adam(ae.parameters(), lr=cfg.lr)
    pretrain_losses: list[float] = []
    for epoch in range(cfg.pretrain_epochs):
        order = torch.randperm(n, generator=gen)
        total = 0.0
        for i in range(0, n, batch):
            xb = data[order[i : i + batch]]
            _, rec = ae(xb)
            loss = nn.functional.mse_loss(rec, xb)
            opt.zero_grad()
            torch.autograd.backward(loss)
            opt.step()
            total += float(loss.detach()) * xb.shape[0]
        pretrain_losses.append(total / n)
        if progress is not None:
            progress("pretrain", epoch + 1, cfg.pretrain_epochs)

    # --- centroid initialisation: k-means on the latent codes
    latent = _embed(ae, xs)
    km = KMeans(n_clusters=cfg.k, n_init=cfg.kmeans_init, random_state=cfg.seed)
    km.fit(latent)
    centroids = nn.Parameter(torch.from_numpy(np.asarray(km.cluster_centers_, np.float32)))

    # --- clustering: minimise KL(P || Q), P refreshed every update_interval iterations
    opt = torch.optim.Adam([*ae.encoder.parameters(), centroids], lr=cfg.lr)
    if cfg.recon_weight > 0:
        opt.add_param_group({"params": list(ae.decoder.parameters())})
    labels = np.asarray(km.labels_, dtype=np.int64)
    target = torch.empty((n, cfg.k))
    cluster_losses: list[float] = []
    label_changes: list[float] = []
    converged = False
    block_loss, block_n = 0.0, 0
    order = torch.randperm(n, generator=gen)
    pos = 0
    it = 0
    while it < cfg.cluster_iters:
        if it % cfg.update_interval == 0:
            with torch.no_grad():
                q = soft_assignment(torch.from_numpy(_embed(ae, xs)).float(), centroids)
            target = target_distribution(q)
            new = q.argmax(dim=1).numpy().astype(np.int64)
            changed = float(np.mean(new != labels))
            labels = new
            if it > 0:
                label_changes.append(changed)
                cluster_losses.append(block_loss / max(block_n, 1))
                block_loss, block_n = 0.0, 0
                if changed < cfg.tol:
                    converged = True
                    break
        if pos + batch > n:
            order = torch.randperm(n, generator=gen)
            pos = 0
        idx = order[pos : pos + batch]
        pos += batch
        xb = data[idx]
        z, rec = ae(xb)
        q_b = soft_assignment(z, centroids)
        loss = nn.functional.kl_div(q_b.log(), target[idx], reduction="batchmean")
        if cfg.recon_weight > 0:
            loss = loss + cfg.recon_weight * nn.functional.mse_loss(rec, xb)
        opt.zero_grad()
        torch.autograd.backward(loss)
        opt.step()
        block_loss += float(loss.detach())
        block_n += 1
        it += 1
        if progress is not None:
            progress("cluster", it, cfg.cluster_iters)
    if block_n:
        cluster_losses.append(block_loss / block_n)

    ae.eval()
    centres = centroids.detach().double().numpy().copy()
    model = DecModel(mean=mean, scale=scale, autoencoder=ae, centroids=centres)
    latent = _embed(ae, xs)
    soft = soft_assignment(torch.from_numpy(latent), torch.from_numpy(centres)).numpy()
    return DecResult(
        labels=np.argmax(soft, axis=1).astype(np.int64),
        soft=soft,
        latent=latent,
        centroids=centres,
        pretrain_losses=pretrain_losses,
        cluster_losses=cluster_losses,
        label_changes=label_changes,
        iterations=it,
        converged=converged,
        model=model,
    )
