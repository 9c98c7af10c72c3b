"""Residual vector quantisation (RVQ) with EMA codebooks, for the LookAgain encoder.

Level ``l`` quantises the residual left by levels ``0..l-1`` to its nearest code; the
quantised vector is the sum of the chosen codes. Codebooks are not trained by gradient
but by exponential moving averages of the residuals assigned to each code (decay 0.99,
Laplace-smoothed counts, van den Oord et al. 2017); the encoder is pulled towards its
codes by a commitment loss ``beta * ||r - sg(q)||²`` and receives the decoder's gradient
through the straight-through estimator. Codebooks are initialised from the first training
batch, and a code no row has chosen for ``dead_after`` training steps is re-initialised
to a random residual of the current batch, so codebooks do not collapse.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F  # noqa: N812
from torch import nn

__all__ = ["RVQOutput", "ResidualVectorQuantizer"]


@dataclass(frozen=True)
class RVQOutput:
    """Result of a quantisation.

    Attributes:
        z_q: ``(..., dim)`` quantised vectors, straight-through (gradients reach the input).
        codes: ``(..., levels)`` int64 code index per level.
        commit_loss: scalar, ``beta`` times the mean squared residual-to-code distance,
            averaged over levels and valid rows.
        perplexity: ``(levels,)`` exp of the entropy of code use over the valid rows.
        usage: ``(levels,)`` fraction of each codebook used by the valid rows.
    """

    z_q: torch.Tensor
    codes: torch.Tensor
    commit_loss: torch.Tensor
    perplexity: torch.Tensor
    usage: torch.Tensor


class ResidualVectorQuantizer(nn.Module):
    """``levels`` codebooks of ``codes`` vectors of size ``dim``.

    Args:
        dim: size of the vectors to quantise.
        levels: number of residual levels.
        codes: codes per level.
        decay: EMA decay of code counts and sums.
        beta: commitment loss weight.
        eps: Laplace smoothing of the code counts.
        dead_after: training steps without use after which a code is restarted.
    """

    initialised: torch.Tensor
    embed: torch.Tensor
    cluster_size: torch.Tensor
    embed_sum: torch.Tensor
    idle_steps: torch.Tensor

    def __init__(
        self,
        dim: int,
        *,
        levels: int = 2,
        codes: int = 512,
        decay: float = 0.99,
        beta: float = 0.25,
        eps: float = 1e-5,
        dead_after: int = 20,
    ) -> None:
        """Empty codebooks, filled from the first batch seen in training."""
        super().__init__()
        if dim < 1 or levels < 1 or codes < 1:
            raise ValueError(f"dim, levels and codes must be >= 1; found {dim}, {levels}, {codes}")
        if not 0.0 < decay < 1.0:
            raise ValueError(f"decay must be in (0, 1); found {decay}")
        self.dim, self.levels, self.codes = dim, levels, codes
        self.decay, self.beta, self.eps, self.dead_after = decay, beta, eps, dead_after
        self.register_buffer("initialised", torch.zeros((), dtype=torch.bool))
        self.register_buffer("embed", torch.randn(levels, codes, dim) * 0.1)
        self.register_buffer("cluster_size", torch.ones(levels, codes))
        self.register_buffer("embed_sum", self.embed.clone())
        self.register_buffer("idle_steps", torch.zeros(levels, codes, dtype=torch.long))

    def __repr__(self) -> str:
        """Dimension, levels and codes per level."""
        return f"ResidualVectorQuantizer(dim={self.dim}, levels={self.levels}, codes={self.codes})"

    def forward(self, z: torch.Tensor, mask: torch.Tensor | None = None) -> RVQOutput:
        """Quantise ``z``; codebooks are updated only in training mode.

        Args:
            z: ``(..., dim)`` encoder outputs.
            mask: ``(...)`` bool, True = a real row; padded rows are quantised but neither
                update the codebooks nor count in losses and statistics.
        """
        if z.shape[-1] != self.dim:
            raise ValueError(f"last axis of z must be {self.dim}; found shape {tuple(z.shape)}")
        lead = z.shape[:-1]
        flat = z.reshape(-1, self.dim)
        valid = (
            torch.ones(flat.shape[0], dtype=torch.bool, device=z.device)
            if mask is None
            else mask.reshape(-1).to(torch.bool)
        )
        n_valid = valid.sum().clamp_min(1)
        update = self.training and bool(valid.any())
        if update and not bool(self.initialised):
            self._init_codebooks(flat.detach()[valid])

        residual = flat
        quantised = torch.zeros_like(flat)
        codes, commit, perplexity, usage = [], [], [], []
        for level in range(self.levels):
            r = residual.detach()
            idx = torch.cdist(r, self.embed[level]).argmin(dim=1)
            onehot = F.one_hot(idx, self.codes).to(flat.dtype) * valid[:, None].to(flat.dtype)
            q = self.embed[level][idx]
            if update:
                self._ema_update(level, r[valid], onehot[valid])
            sq = (residual - q.detach()).pow(2).sum(dim=1) / self.dim
            commit.append((sq * valid).sum() / n_valid)
            quantised = quantised + q
            residual = residual - q.detach()
            codes.append(idx)
            p = onehot.sum(dim=0) / n_valid
            perplexity.append(torch.exp(-(p * torch.log(p.clamp_min(1e-12))).sum()))
            usage.append((p > 0).to(flat.dtype).mean())

        z_q = flat + (quantised - flat).detach()
        return RVQOutput(
            z_q=z_q.reshape(*lead, self.dim),
            codes=torch.stack(codes, dim=-1).reshape(*lead, self.levels),
            commit_loss=self.beta * torch.stack(commit).mean(),
            perplexity=torch.stack(perplexity),
            usage=torch.stack(usage),
        )

    @torch.no_grad()
    def _init_codebooks(self, rows: torch.Tensor) -> None:
        """Seed each level with random rows of the residual it will see."""
        residual = rows
        for level in range(self.levels):
            pick = torch.randint(0, residual.shape[0], (self.codes,), device=rows.device)
            jitter = torch.randn(self.codes, self.dim, device=rows.device) * 1e-3
            self.embed[level] = residual[pick] + jitter
            self.embed_sum[level] = self.embed[level].clone()
            self.cluster_size[level] = 1.0
            idx = torch.cdist(residual, self.embed[level]).argmin(dim=1)
            residual = residual - self.embed[level][idx]
        self.initialised.fill_(True)

    @torch.no_grad()
    def _ema_update(self, level: int, rows: torch.Tensor, onehot: torch.Tensor) -> None:
        counts = onehot.sum(dim=0)
        self.cluster_size[level].mul_(self.decay).add_(counts, alpha=1.0 - self.decay)
        self.embed_sum[level].mul_(self.decay).add_(onehot.T @ rows, alpha=1.0 - self.decay)
        n = self.cluster_size[level].sum()
        smoothed = (self.cluster_size[level] + self.eps) / (n + self.codes * self.eps) * n
        self.embed[level] = self.embed_sum[level] / smoothed[:, None]

        self.idle_steps[level] = torch.where(counts > 0, 0, self.idle_steps[level] + 1)
        dead = self.idle_steps[level] >= self.dead_after
        n_dead = int(dead.sum())
        if n_dead and rows.shape[0]:
            pick = torch.randint(0, rows.shape[0], (n_dead,), device=rows.device)
            self.embed[level][dead] = rows[pick]
            self.embed_sum[level][dead] = rows[pick]
            self.cluster_size[level][dead] = 1.0
            self.idle_steps[level][dead] = 0
