"""LookAgain: a keypoint model that decides which frames are worth a look by a vision encoder.

Shapes use ``B`` windows, ``A`` animals, ``T`` frames, ``Din`` motion-descriptor features
(``ethoagent.tools.motion``) and ``Dv`` precomputed vision-embedding features.

1. **Encoder** — per animal: two 1D convolutions over time and one self-attention layer
   turn the motion descriptor into ``z_e`` ``(B, A, T, d_z)``.
2. **RVQ** (``ethoagent.nn.rvq``) quantises ``z_e`` into ``z_q`` and codes; a small
   **decoder** reconstructs the descriptor from ``z_q``.
3. **Temporal transformer** over time per animal (learned positions) and **social
   transformer** over the animal axis per frame (absent animals masked), fused back into
   the temporal stream by a residual MLP: the motion embedding ``h``.
4. **Gate**: ``alpha_t = sigmoid(MLP([c_t || q_t || s_t]))`` with ``c_t`` the mean
   keypoint confidence, ``q_t = log(1 + ||z_e[t] - z_e[t-1]||²)`` the code change (0 at
   the first frame) and ``s_t`` a linear map of ``h``. Per window and animal the top
   ``k = max(1, round(gate_fraction * n))`` of the ``n`` real, present frames are selected;
   in training Gaussian noise (``gate_noise``) is added to the gate logits before the
   ranking, never at evaluation.
5. **Vision** (optional): the embeddings of the selected frames, weighted by ``alpha``
   (so the gate learns from the task loss), go with their original temporal positions
   through a 2-layer aggregation transformer; each frame is fused with its own aggregated
   token (selected frames) and the window's mean token by a residual MLP. Without vision
   input the model is keypoint-only.
6. **Heads**: per-frame class logits (supervised, see ``classification_loss``) and a DEC
   head: Student-t soft assignment of ``proj(fused)`` — the fused representation built on
   the quantised codes — to learned centroids (see ``dec_loss``, with a total-variation
   penalty on ``alpha``).

Padding: ``time_mask`` ``(B, T)`` marks real frames; padded frames are zeroed before every
convolution and masked in every attention, so they never change real frames' outputs.
"""

from __future__ import annotations

import io
import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F  # noqa: N812
from numpy.typing import NDArray
from pydantic import BaseModel, ConfigDict, Field
from sklearn.cluster import KMeans
from torch import nn

from ethoagent.atomic import atomic_write_bytes, atomic_write_text
from ethoagent.errors import InputError
from ethoagent.nn.dec import soft_assignment, target_distribution
from ethoagent.nn.rvq import ResidualVectorQuantizer

__all__ = [
    "LookAgain",
    "LookAgainConfig",
    "LookAgainOutput",
    "class_weights",
    "classification_loss",
    "dec_loss",
    "total_variation",
]

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "weights.pt"


class LookAgainConfig(BaseModel):
    """Sizes and settings of a ``LookAgain`` model (defaults as in the paper).

    Attributes:
        input_dim: motion-descriptor features per frame and animal (``Din``).
        n_classes: behaviour classes of the supervised head.
        vision_dim: features of a vision embedding (``Dv``); None = keypoint-only model.
        d_z: size of the encoder output and codes.
        d_model: width of the transformers.
        heads: attention heads of every transformer.
        encoder_kernel: kernel size (frames, odd) of the encoder convolutions.
        temporal_layers: layers of the temporal transformer.
        social_layers: layers of the social (cross-animal) transformer.
        aggregator_layers: layers of the vision aggregation transformer.
        max_len: longest window (frames); sets the learned position table.
        rvq_levels: residual quantisation levels.
        rvq_codes: codes per level.
        rvq_decay: EMA decay of the codebooks.
        rvq_beta: commitment loss weight.
        rvq_dead_after: training steps before an unused code is restarted.
        gate_hidden: hidden width of the gate MLP.
        gate_fraction: fraction of each window's frames sent to the vision encoder.
        gate_noise: standard deviation of the training noise on gate logits.
        n_clusters: centroids of the DEC head.
        tv_weight: weight of the total-variation penalty on ``alpha`` (``lambda_TV``).
        dropout: dropout of the transformers (training only).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    input_dim: int = Field(ge=1)
    n_classes: int = Field(default=2, ge=1)
    vision_dim: int | None = Field(default=None, ge=1)
    d_z: int = Field(default=128, ge=1)
    d_model: int = Field(default=256, ge=1)
    heads: int = Field(default=4, ge=1)
    encoder_kernel: int = Field(default=5, ge=1)
    temporal_layers: int = Field(default=4, ge=1)
    social_layers: int = Field(default=2, ge=1)
    aggregator_layers: int = Field(default=2, ge=1)
    max_len: int = Field(default=512, ge=1)
    rvq_levels: int = Field(default=2, ge=1)
    rvq_codes: int = Field(default=512, ge=1)
    rvq_decay: float = Field(default=0.99, gt=0.0, lt=1.0)
    rvq_beta: float = Field(default=0.25, ge=0.0)
    # 20, not 100: on BehaviorDEPOT demo1 descriptors, runs of 200-400 steps (what the CLI
    # defaults give on a session) used 31-41 % instead of 20-24 % of the level-0 codes,
    # at an equal quantisation residual; without restarts level 0 collapsed to one code
    # (benchmarks/gate_rvq_restarts.py)
    rvq_dead_after: int = Field(default=20, ge=1)
    gate_hidden: int = Field(default=64, ge=1)
    gate_fraction: float = Field(default=0.1, gt=0.0, le=1.0)
    gate_noise: float = Field(default=1.0, ge=0.0)
    n_clusters: int = Field(default=8, ge=1)
    tv_weight: float = Field(default=0.1, ge=0.0)
    dropout: float = Field(default=0.1, ge=0.0, lt=1.0)


@dataclass(frozen=True)
class LookAgainOutput:
    """Everything a forward pass computes; ``(B, A, T, ...)`` unless noted.

    Attributes:
        logits: ``(B, A, T, n_classes)`` class logits.
        cluster_q: ``(B, A, T, n_clusters)`` DEC soft assignment (rows sum to 1).
        embedding: ``(B, A, T, d_z)`` the DEC head's embedding of the fused representation.
        alpha: ``(B, A, T)`` gate values in (0, 1).
        gate_logits: ``(B, A, T)`` gate logits before noise.
        selected: ``(B, A, T)`` bool, frames picked for the vision encoder.
        valid: ``(B, A, T)`` bool, real frames with the animal present.
        z_e: ``(B, A, T, d_z)`` encoder output.
        z_q: ``(B, A, T, d_z)`` quantised output (straight-through).
        codes: ``(B, A, T, rvq_levels)`` int64 codes.
        recon: ``(B, A, T, Din)`` reconstructed motion descriptor.
        commit_loss: scalar RVQ commitment loss.
        recon_loss: scalar masked mean squared reconstruction error.
        perplexity: ``(rvq_levels,)`` code perplexity of this batch.
        usage: ``(rvq_levels,)`` fraction of codes used by this batch.
    """

    logits: torch.Tensor
    cluster_q: torch.Tensor
    embedding: torch.Tensor
    alpha: torch.Tensor
    gate_logits: torch.Tensor
    selected: torch.Tensor
    valid: torch.Tensor
    z_e: torch.Tensor
    z_q: torch.Tensor
    codes: torch.Tensor
    recon: torch.Tensor
    commit_loss: torch.Tensor
    recon_loss: torch.Tensor
    perplexity: torch.Tensor
    usage: torch.Tensor


def _transformer(cfg: LookAgainConfig, layers: int) -> nn.TransformerEncoder:
    layer = nn.TransformerEncoderLayer(
        cfg.d_model,
        cfg.heads,
        dim_feedforward=2 * cfg.d_model,
        dropout=cfg.dropout,
        batch_first=True,
        norm_first=True,
    )
    return nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)


def _mlp(d_in: int, d_hidden: int, d_out: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(d_in, d_hidden), nn.GELU(), nn.Linear(d_hidden, d_out))


def _attend(net: nn.TransformerEncoder, x: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
    """Run ``net`` on ``(N, L, d)`` with key mask ``keep`` ``(N, L)``; rows with no key give 0.

    A row whose keys are all masked would produce NaN, so it is run unmasked and zeroed.
    """
    empty = ~keep.any(dim=1)
    pad = ~keep & ~empty[:, None]
    out: torch.Tensor = net(x, src_key_padding_mask=pad)
    return out * keep[..., None].to(out.dtype)


class LookAgain(nn.Module):
    """The LookAgain gated keypoint-vision model; see the module docstring.

    Args:
        config: sizes and settings.
    """

    def __init__(self, config: LookAgainConfig) -> None:
        """Build the layers ``config`` describes (``d_model`` divisible by ``heads``)."""
        super().__init__()
        if config.d_model % config.heads:
            raise ValueError(
                f"d_model ({config.d_model}) must be divisible by heads ({config.heads})"
            )
        self.config = cfg = config
        d, pad = cfg.d_model, cfg.encoder_kernel // 2
        self.conv1 = nn.Conv1d(cfg.input_dim, d, cfg.encoder_kernel, padding=pad)
        self.conv2 = nn.Conv1d(d, d, cfg.encoder_kernel, padding=pad)
        self.encoder_attn = _transformer(cfg, 1)
        self.to_z = nn.Linear(d, cfg.d_z)
        self.rvq = ResidualVectorQuantizer(
            cfg.d_z,
            levels=cfg.rvq_levels,
            codes=cfg.rvq_codes,
            decay=cfg.rvq_decay,
            beta=cfg.rvq_beta,
            dead_after=cfg.rvq_dead_after,
        )
        self.decoder = _mlp(cfg.d_z, d, cfg.input_dim)
        self.from_z = nn.Linear(cfg.d_z, d)
        self.positions = nn.Parameter(torch.randn(cfg.max_len, d) * 0.02)
        self.temporal = _transformer(cfg, cfg.temporal_layers)
        self.social = _transformer(cfg, cfg.social_layers)
        self.social_fuse = _mlp(2 * d, d, d)
        self.gate_s = nn.Linear(d, cfg.gate_hidden)
        self.gate = _mlp(2 + cfg.gate_hidden, cfg.gate_hidden, 1)
        if cfg.vision_dim is not None:
            self.vision_in = nn.Linear(cfg.vision_dim, d)
            self.aggregator = _transformer(cfg, cfg.aggregator_layers)
            self.vision_fuse = _mlp(3 * d, d, d)
        self.norm = nn.LayerNorm(d)
        self.classifier = nn.Linear(d, cfg.n_classes)
        self.cluster_proj = nn.Linear(d, cfg.d_z)
        self.centroids = nn.Parameter(torch.randn(cfg.n_clusters, cfg.d_z))

    def __repr__(self) -> str:
        """The configuration's sizes."""
        c = self.config
        return (
            f"LookAgain(input_dim={c.input_dim}, n_classes={c.n_classes}, "
            f"vision_dim={c.vision_dim}, d_model={c.d_model}, d_z={c.d_z})"
        )

    def forward(
        self,
        motion: torch.Tensor,
        confidence: torch.Tensor | None = None,
        *,
        time_mask: torch.Tensor | None = None,
        present: torch.Tensor | None = None,
        vision: torch.Tensor | None = None,
        gate_fraction: float | None = None,
        select: torch.Tensor | None = None,
    ) -> LookAgainOutput:
        """Run the model on a batch of windows.

        Args:
            motion: ``(B, A, T, Din)`` float motion descriptors.
            confidence: ``(B, A, T)`` mean keypoint confidence in [0, 1]; None = 1.
            time_mask: ``(B, T)`` bool, True = real frame; None = all real.
            present: ``(B, A, T)`` bool, True = animal present; None = all present.
            vision: ``(B, A, T, Dv)`` vision embeddings (only selected frames are read);
                None = keypoint-only path.
            gate_fraction: fraction of each window's valid frames to select, in [0, 1]
                (0 = none: the vision path sees no frame); None = the configured one.
            select: ``(B, A, T)`` bool, frames to look at instead of the gate's top-k
                (e.g. uniform sampling at the same budget); only valid frames count.
        """
        cfg = self.config
        if motion.ndim != 4 or motion.shape[-1] != cfg.input_dim:
            raise InputError(
                f"motion must be (B, A, T, {cfg.input_dim}); found {tuple(motion.shape)}.",
                fix="pass descriptors from ethoagent.tools.motion with the configured size.",
            )
        b, a, t, _ = motion.shape
        if t > cfg.max_len:
            raise InputError(
                f"windows must be at most max_len={cfg.max_len} frames; found {t}.",
                fix="cut shorter windows or raise max_len.",
            )
        dev = motion.device
        if time_mask is None:
            time_mask = torch.ones(b, t, dtype=torch.bool, device=dev)
        if present is None:
            present = torch.ones(b, a, t, dtype=torch.bool, device=dev)
        if confidence is None:
            confidence = torch.ones(b, a, t, device=dev)
        tm = time_mask.to(torch.bool)[:, None, :].expand(b, a, t).reshape(b * a, t)
        valid = tm.reshape(b, a, t) & present.to(torch.bool)
        keep = tm[..., None].to(motion.dtype)

        # Encoder: zeroing padded frames before each convolution makes a padded window
        # compute exactly what the shorter window would (convolutions zero-pad too).
        x = motion.reshape(b * a, t, -1) * keep
        x = F.gelu(self.conv1(x.transpose(1, 2))).transpose(1, 2) * keep
        x = F.gelu(self.conv2(x.transpose(1, 2))).transpose(1, 2) * keep
        x = _attend(self.encoder_attn, x, tm)
        z_e = self.to_z(x)
        vq = self.rvq(z_e, mask=valid.reshape(b * a, t))
        recon = self.decoder(vq.z_q)
        err = (recon - motion.reshape(b * a, t, -1)).pow(2).mean(dim=-1)
        vflat = valid.reshape(b * a, t).to(err.dtype)
        recon_loss = (err * vflat).sum() / vflat.sum().clamp_min(1.0)

        h = self.from_z(vq.z_q) + self.positions[:t]
        h = _attend(self.temporal, h, tm)
        hs = h.reshape(b, a, t, -1).transpose(1, 2).reshape(b * t, a, -1)
        social = _attend(self.social, hs, present.to(torch.bool).transpose(1, 2).reshape(b * t, a))
        social = social.reshape(b, t, a, -1).transpose(1, 2).reshape(b * a, t, -1)
        h = h + self.social_fuse(torch.cat([h, social], dim=-1))

        # Gate.
        step = (z_e[:, 1:] - z_e[:, :-1]).pow(2).sum(dim=-1)
        q = torch.cat([torch.zeros_like(step[:, :1]), torch.log1p(step)], dim=1)
        c = confidence.reshape(b * a, t).to(h.dtype)
        gate_in = torch.cat([c[..., None], q[..., None], self.gate_s(h)], dim=-1)
        gate_logits = self.gate(gate_in).squeeze(-1)
        alpha = torch.sigmoid(gate_logits)
        if select is not None:
            if select.shape != (b, a, t):
                raise InputError(
                    f"select must be (B, A, T) = {(b, a, t)}; found {tuple(select.shape)}.",
                    fix="pass one bool per frame and animal.",
                )
            selected = select.to(torch.bool).reshape(b * a, t) & valid.reshape(b * a, t)
        else:
            fraction = cfg.gate_fraction if gate_fraction is None else gate_fraction
            if not 0.0 <= fraction <= 1.0:
                raise InputError(
                    f"gate_fraction must be in [0, 1]; found {fraction}.",
                    fix="pass the fraction of frames to look at.",
                )
            selected = self._select(gate_logits, valid.reshape(b * a, t), fraction)

        fused = h
        if vision is not None and cfg.vision_dim is not None:
            if vision.shape != (b, a, t, cfg.vision_dim):
                raise InputError(
                    f"vision must be (B, A, T, Dv) = {(b, a, t, cfg.vision_dim)}; "
                    f"found {tuple(vision.shape)}.",
                    fix="pass one embedding per frame (zeros for frames never looked at).",
                )
            sel = selected.to(h.dtype)[..., None]
            v = self.vision_in(vision.reshape(b * a, t, -1)) * (alpha[..., None] * sel)
            v = _attend(self.aggregator, v + self.positions[:t] * sel, selected)
            n_sel = sel.sum(dim=1).clamp_min(1.0)
            context = (v.sum(dim=1, keepdim=True) / n_sel[:, None]).expand_as(v)
            fused = h + self.vision_fuse(torch.cat([h, v, context], dim=-1))
        fused = self.norm(fused)

        logits = self.classifier(fused)
        emb = self.cluster_proj(fused).reshape(b * a * t, -1)
        cluster_q = soft_assignment(emb, self.centroids)

        def shape(x: torch.Tensor) -> torch.Tensor:
            return x.reshape(b, a, t, *x.shape[2:])

        return LookAgainOutput(
            logits=shape(logits),
            cluster_q=cluster_q.reshape(b, a, t, -1),
            embedding=emb.reshape(b, a, t, -1),
            alpha=shape(alpha),
            gate_logits=shape(gate_logits),
            selected=shape(selected),
            valid=valid,
            z_e=shape(z_e),
            z_q=shape(vq.z_q),
            codes=shape(vq.codes),
            recon=shape(recon),
            commit_loss=vq.commit_loss,
            recon_loss=recon_loss,
            perplexity=vq.perplexity,
            usage=vq.usage,
        )

    def _select(
        self, gate_logits: torch.Tensor, valid: torch.Tensor, fraction: float
    ) -> torch.Tensor:
        """Top-k frames per row of ``(N, T)`` logits among ``valid`` ones; noisy in training.

        ``k = max(1, round(fraction * n))`` of the ``n`` valid frames, or none when
        ``fraction`` is 0.
        """
        if fraction <= 0.0:
            return torch.zeros_like(valid)
        scores = gate_logits.detach()
        if self.training and self.config.gate_noise > 0:
            scores = scores + self.config.gate_noise * torch.randn_like(scores)
        scores = scores.masked_fill(~valid, -math.inf)
        n = valid.sum(dim=1)
        k = torch.where(n > 0, torch.round(n.to(scores.dtype) * fraction).clamp_min(1), 0).to(
            torch.long
        )
        k_max = int(k.max()) if k.numel() else 0
        selected = torch.zeros_like(valid)
        if k_max == 0:
            return selected
        top = scores.topk(k_max, dim=1).indices
        take = torch.arange(k_max, device=k.device)[None, :] < k[:, None]
        rows = torch.arange(valid.shape[0], device=k.device)[:, None].expand_as(top)
        selected[rows[take], top[take]] = True
        return selected

    @torch.no_grad()
    def init_centroids(self, embeddings: torch.Tensor, *, seed: int = 0) -> None:
        """Set the DEC centroids by k-means (scikit-learn) on ``(rows, d_z)`` embeddings.

        Use the ``embedding`` of valid frames (``out.embedding[out.valid]``) before DEC
        training, as DEC does.
        """
        k = self.config.n_clusters
        if embeddings.ndim != 2 or embeddings.shape[1] != self.config.d_z:
            raise InputError(
                f"embeddings must be (rows, {self.config.d_z}); found {tuple(embeddings.shape)}.",
                fix="pass out.embedding[out.valid].",
            )
        if embeddings.shape[0] < k:
            raise InputError(
                f"k-means needs at least n_clusters={k} rows; found {embeddings.shape[0]}.",
                fix="embed more frames first.",
            )
        rows = embeddings.detach().cpu().double().numpy()
        km = KMeans(n_clusters=k, n_init=4, random_state=seed).fit(rows)
        self.centroids.copy_(torch.as_tensor(km.cluster_centers_, dtype=self.centroids.dtype))

    @torch.no_grad()
    def predict(
        self,
        motion: torch.Tensor,
        confidence: torch.Tensor | None = None,
        *,
        time_mask: torch.Tensor | None = None,
        present: torch.Tensor | None = None,
        vision: torch.Tensor | None = None,
    ) -> NDArray[np.float32]:
        """Per-frame class probabilities ``(B, A, T, n_classes)`` float32, in eval mode.

        Arguments as in ``forward``; the model's training mode is restored afterwards.
        """
        was_training = self.training
        self.eval()
        try:
            out = self(motion, confidence, time_mask=time_mask, present=present, vision=vision)
        finally:
            self.train(was_training)
        probs = torch.softmax(out.logits.float(), dim=-1)
        return np.asarray(probs.cpu().numpy(), dtype=np.float32)

    def save(self, path: str | Path) -> Path:
        """Write ``config.json`` and ``weights.pt`` (state dict) into the folder ``path``."""
        folder = Path(path)
        state = {k: v.detach().cpu() for k, v in self.state_dict().items()}
        buffer = io.BytesIO()
        torch.save(state, buffer)
        atomic_write_bytes(folder / WEIGHTS_FILE, buffer.getvalue())
        atomic_write_text(folder / CONFIG_FILE, self.config.model_dump_json(indent=2))
        return folder

    @classmethod
    def load(cls, path: str | Path, *, map_location: str | torch.device = "cpu") -> LookAgain:
        """Read a model written by ``save``; it comes back in eval mode."""
        folder = Path(path)
        cfg_file, weights = folder / CONFIG_FILE, folder / WEIGHTS_FILE
        if not cfg_file.is_file() or not weights.is_file():
            raise InputError(
                f"{folder} must hold {CONFIG_FILE} and {WEIGHTS_FILE}; found "
                f"{sorted(p.name for p in folder.iterdir()) if folder.is_dir() else 'no folder'}.",
                fix="pass the folder written by LookAgain.save.",
            )
        try:
            config = LookAgainConfig.model_validate(json.loads(cfg_file.read_text()))
        except (ValueError, UnicodeDecodeError) as exc:  # JSON and validation errors
            raise InputError(
                f"{cfg_file} is not a gate model configuration ({_first_line(exc)}).",
                fix="the file is truncated or damaged; copy the model folder again or retrain.",
            ) from exc
        model = cls(config)
        try:
            state = torch.load(weights, map_location=map_location, weights_only=True)
            model.load_state_dict(state)
        except Exception as exc:  # torch raises RuntimeError, UnpicklingError, EOFError, ...
            raise InputError(
                f"{weights} cannot be read as the weights of the model {cfg_file} describes "
                f"({_first_line(exc)}).",
                fix="the file is truncated, damaged or from another model; copy the model "
                "folder again or retrain.",
            ) from exc
        return model.to(map_location).eval()


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0][:200]}" if text else type(exc).__name__


def class_weights(
    labels: torch.Tensor, n_classes: int, mask: torch.Tensor | None = None
) -> torch.Tensor:
    """Inverse-frequency class weights ``(n_classes,)``, mean 1 over the classes present.

    Args:
        labels: int64 class labels of any shape; negative = unlabelled.
        n_classes: number of classes.
        mask: bool, same shape as ``labels``; True = counted.
    """
    ok = labels >= 0 if mask is None else (labels >= 0) & mask
    counts = torch.bincount(labels[ok], minlength=n_classes).to(torch.float32)
    w = torch.where(counts > 0, counts.sum() / counts.clamp_min(1.0), 0.0)
    seen = counts > 0
    return w / w[seen].mean() if bool(seen.any()) else torch.ones(n_classes, device=w.device)


def classification_loss(
    out: LookAgainOutput, labels: torch.Tensor, weights: torch.Tensor | None = None
) -> torch.Tensor:
    """Class-weighted cross-entropy over valid, labelled frames.

    Args:
        out: a forward pass.
        labels: ``(B, A, T)`` int64; negative = unlabelled.
        weights: ``(n_classes,)`` class weights (see ``class_weights``); None = equal.
    """
    ok = out.valid & (labels >= 0)
    if not bool(ok.any()):
        return out.logits.sum() * 0.0
    return F.cross_entropy(out.logits[ok], labels[ok], weight=weights)


def total_variation(alpha: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """Mean ``|alpha[t] - alpha[t-1]|`` over pairs of consecutive valid frames (scalar)."""
    pair = valid[..., 1:] & valid[..., :-1]
    diff = (alpha[..., 1:] - alpha[..., :-1]).abs() * pair.to(alpha.dtype)
    return diff.sum() / pair.sum().clamp_min(1)


def dec_loss(out: LookAgainOutput, tv_weight: float = 0.1) -> torch.Tensor:
    """Unsupervised DEC loss ``KL(P || Q) + tv_weight * TV(alpha)`` over valid frames.

    ``P`` is the sharpened target of ``Q`` (``ethoagent.nn.dec.target_distribution``),
    held constant within the step.
    """
    q = out.cluster_q[out.valid]
    if q.shape[0] == 0:
        return out.cluster_q.sum() * 0.0
    p = target_distribution(q.detach())
    kl = (p * (torch.log(p.clamp_min(1e-12)) - torch.log(q.clamp_min(1e-12)))).sum(dim=1).mean()
    return kl + tv_weight * total_variation(out.alpha, out.valid)
