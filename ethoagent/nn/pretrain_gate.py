"""Self-supervised pretraining of the LookAgain encoder, and freezing it for finetuning.

Shapes use ``B`` windows, ``A`` animals, ``T`` frames, ``Din`` motion-descriptor features,
``Dv`` vision-embedding features and ``d_z`` the model's embedding size.

Each step runs the model keypoint-only (vision embeddings are targets, never inputs, so
the model cannot copy the future from them) on windows in which a random
``mask_fraction`` of the real, present frames has its motion descriptor replaced by a
learned mask token (``PretrainHeads.mask_token``, ``(Din,)``). The motion embedding
``e_t`` is the model's ``embedding`` output ``(B, A, T, d_z)``. The loss is::

    L = L_mask + lambda_pred * L_pred + lambda_RVQ * L_commit + lambda_recon * L_recon

- ``L_mask``: mean over masked real, present frames of the mean squared error (over the
  ``Din`` features) between ``masked_head(e_t)`` and the original descriptor; unmasked
  and padded frames do not count.
- ``L_pred``: ``sum_h w_h * mean_t (1 - cos(future_head_h(e_t), v_{t+h}))`` over
  horizons ``h`` = 4, 8, 16 frames with weights ``w_h`` = 1.0, 0.7, 0.4, the mean taken
  over pairs where frames ``t`` and ``t + h`` are both real, present and inside the window
  (a horizon with no such pair adds 0); ``L_pred`` = 0 when the sessions have no vision
  embeddings.
- ``L_commit``: the model's RVQ ``commit_loss`` (it already holds ``beta``).
- ``L_recon``: mean over unmasked real, present frames of the mean squared error between
  the model's ``recon`` and the descriptor (masked frames only saw the mask token).

Defaults: ``lambda_pred`` = 0.5, ``lambda_RVQ`` = 0.1, ``lambda_recon`` = 0.1, windows of
128 frames every 64, AdamW with linear warm-up and cosine decay, all shared with
``ethoagent.nn.train_gate``. Checkpoints (``pretrain_checkpoint.pt``: model, heads,
optimiser, scheduler, step, torch RNG) are written atomically, so a killed run resumes to
the same weights; every step appends its losses to ``pretrain_log.csv`` beside it.

``freeze_encoder`` then freezes the pretrained parts for finetuning with ``train_gate``.
"""

from __future__ import annotations

import csv
import io
import weakref
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F  # noqa: N812
from pydantic import BaseModel, ConfigDict, Field, model_validator
from torch import nn

from ethoagent.atomic import atomic_write_text
from ethoagent.errors import InputError
from ethoagent.nn.lookagain import LookAgain, LookAgainConfig
from ethoagent.nn.train_gate import (
    GateSession,
    ProgressCallback,
    batch_rows,
    batch_windows,
    load_checkpoint,
    plan_windows,
    save_checkpoint,
    warmup_cosine,
)

__all__ = [
    "ENCODER_MODULES",
    "PretrainConfig",
    "PretrainHeads",
    "PretrainLosses",
    "PretrainResult",
    "cross_modal_loss",
    "draw_mask",
    "freeze_encoder",
    "masked_prediction_loss",
    "pretrain_gate",
    "pretrain_losses",
]

CHECKPOINT_FILE = "pretrain_checkpoint.pt"
LOG_FILE = "pretrain_log.csv"
LOG_COLUMNS = ("step", "lr", "total", "masked", "cross_modal", "commit", "recon")

ENCODER_MODULES = (
    "conv1",
    "conv2",
    "encoder_attn",
    "to_z",
    "rvq",
    "decoder",
    "from_z",
    "positions",
    "temporal",
    "social",
    "social_fuse",
)
"""``LookAgain`` attributes that pretraining learns and ``freeze_encoder`` freezes."""


class PretrainConfig(BaseModel):
    """Settings of ``pretrain_gate``.

    Attributes:
        epochs: passes over all windows.
        batch_size: windows per step.
        window: frames per window.
        stride: frames between the starts of two windows.
        lr: peak AdamW learning rate.
        weight_decay: AdamW weight decay.
        warmup_steps: steps of linear warm-up before the cosine decay (to 0).
        mask_fraction: probability that a real, present frame is masked.
        horizons: frames ahead of the predicted vision embeddings.
        horizon_weights: weight of each horizon in ``L_pred``.
        lambda_pred: weight of the cross-modal loss.
        lambda_rvq: weight of the RVQ commitment loss.
        lambda_recon: weight of the reconstruction loss.
        checkpoint_every: steps between two checkpoints (when a folder is given).
        seed: seed of the window order, masks and dropout.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    epochs: int = Field(default=10, ge=1)
    batch_size: int = Field(default=8, ge=1)
    window: int = Field(default=128, ge=1)
    stride: int = Field(default=64, ge=1)
    lr: float = Field(default=3e-4, gt=0.0)
    weight_decay: float = Field(default=0.01, ge=0.0)
    warmup_steps: int = Field(default=100, ge=0)
    mask_fraction: float = Field(default=0.2, gt=0.0, lt=1.0)
    horizons: tuple[int, ...] = (4, 8, 16)
    horizon_weights: tuple[float, ...] = (1.0, 0.7, 0.4)
    lambda_pred: float = Field(default=0.5, ge=0.0)
    lambda_rvq: float = Field(default=0.1, ge=0.0)
    lambda_recon: float = Field(default=0.1, ge=0.0)
    checkpoint_every: int = Field(default=200, ge=1)
    seed: int = 0

    @model_validator(mode="after")
    def _horizons_match(self) -> PretrainConfig:
        if len(self.horizons) != len(self.horizon_weights) or any(h < 1 for h in self.horizons):
            raise ValueError(
                f"need one weight per horizon and horizons >= 1; found horizons "
                f"{self.horizons} and weights {self.horizon_weights}"
            )
        return self


class PretrainHeads(nn.Module):
    """The pretraining-only parameters, dropped after pretraining.

    Args:
        config: the config of the model being pretrained.
        horizons: frames ahead of each future-vision head (one head per horizon; none when
            the model has no ``vision_dim``).
    """

    def __init__(self, config: LookAgainConfig, horizons: Sequence[int] = (4, 8, 16)) -> None:
        """The masked-motion head, plus one future-frame head per horizon with vision."""
        super().__init__()
        self.horizons = tuple(horizons)
        self.mask_token = nn.Parameter(torch.zeros(config.input_dim))
        self.masked_head = _mlp(config.d_z, config.d_model, config.input_dim)
        dv = config.vision_dim
        self.future_heads = nn.ModuleList(
            [] if dv is None else [_mlp(config.d_z, config.d_model, dv) for _ in self.horizons]
        )

    def __repr__(self) -> str:
        """Horizons and whether the vision heads exist."""
        return f"PretrainHeads(horizons={self.horizons}, vision={len(self.future_heads) > 0})"


def _mlp(d_in: int, d_hidden: int, d_out: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(d_in, d_hidden), nn.GELU(), nn.Linear(d_hidden, d_out))


@dataclass(frozen=True)
class PretrainLosses:
    """Scalar losses of one batch; ``total`` is the weighted sum (module docstring)."""

    total: torch.Tensor
    masked: torch.Tensor
    cross_modal: torch.Tensor
    commit: torch.Tensor
    recon: torch.Tensor

    def as_floats(self) -> dict[str, float]:
        """The losses as plain floats, keyed by field name."""
        return {k: float(getattr(self, k).detach()) for k in LOG_COLUMNS[2:]}


@dataclass(frozen=True)
class PretrainResult:
    """Outcome of ``pretrain_gate``.

    Attributes:
        losses: per-step losses of this call (keys of ``PretrainLosses.as_floats``).
        steps: total steps done (including those before a resume).
        resumed_from: step of the checkpoint resumed from, or 0.
        heads: the trained pretraining heads.
    """

    losses: list[dict[str, float]]
    steps: int
    resumed_from: int
    heads: PretrainHeads


def draw_mask(
    valid: torch.Tensor, fraction: float, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Mask each ``valid`` frame with probability ``fraction``.

    Args:
        valid: ``(B, A, T)`` bool, real frames with the animal present.
        fraction: probability in (0, 1).
        generator: CPU random generator; None = torch's global one.

    Returns:
        ``(B, A, T)`` bool on ``valid``'s device, never True where ``valid`` is False.
    """
    draws = torch.rand(valid.shape, generator=generator)
    return (draws < fraction).to(valid.device) & valid.to(torch.bool)


def masked_prediction_loss(
    predicted: torch.Tensor, target: torch.Tensor, masked: torch.Tensor
) -> torch.Tensor:
    """Mean over ``masked`` frames of the per-frame mean squared error; 0 if none is masked.

    Args:
        predicted: ``(..., Din)`` predicted descriptors.
        target: ``(..., Din)`` true descriptors.
        masked: ``(...)`` bool, frames that count (masked, real and present).
    """
    weight = masked.to(predicted.dtype)
    err = (predicted - target).pow(2).mean(dim=-1)
    # where() rather than a product so NaN or inf in frames that do not count stays out.
    err = torch.where(masked.to(torch.bool), err, torch.zeros_like(err))
    return err.sum() / weight.sum().clamp_min(1.0)


def cross_modal_loss(
    predictions: Sequence[torch.Tensor],
    vision: torch.Tensor,
    valid: torch.Tensor,
    horizons: Sequence[int] = (4, 8, 16),
    weights: Sequence[float] = (1.0, 0.7, 0.4),
) -> torch.Tensor:
    """``sum_h w_h * mean_t (1 - cos(predictions[h][t], vision[t + h]))``.

    Args:
        predictions: per horizon, ``(B, A, T, Dv)`` the prediction made at frame ``t``.
        vision: ``(B, A, T, Dv)`` vision embeddings.
        valid: ``(B, A, T)`` bool, real frames with the animal present.
        horizons: frames ahead, one per prediction.
        weights: weight of each horizon.

    Returns:
        Scalar; pairs where ``t`` or ``t + h`` is not valid or ``t + h >= T`` do not count,
        and a horizon without any pair adds 0.
    """
    if not len(predictions) == len(horizons) == len(weights):
        raise InputError(
            f"need one prediction and weight per horizon; found {len(predictions)} "
            f"predictions, {len(horizons)} horizons and {len(weights)} weights.",
            fix="build PretrainHeads with the config's horizons.",
        )
    t = vision.shape[2]
    total = vision.new_zeros(())
    for pred, h, w in zip(predictions, horizons, weights, strict=True):
        if h >= t:
            continue
        pairs = valid[:, :, :-h].to(torch.bool) & valid[:, :, h:].to(torch.bool)
        dist = 1.0 - F.cosine_similarity(pred[:, :, :-h], vision[:, :, h:], dim=-1, eps=1e-8)
        dist = torch.where(pairs, dist, torch.zeros_like(dist))
        total = total + w * dist.sum() / pairs.sum().clamp_min(1)
    return total


def pretrain_losses(
    model: LookAgain,
    heads: PretrainHeads,
    inputs: Mapping[str, torch.Tensor],
    masked: torch.Tensor,
    config: PretrainConfig | None = None,
) -> PretrainLosses:
    """The pretraining losses of one batch with the given frames masked.

    Args:
        model: the model being pretrained.
        heads: its pretraining heads.
        inputs: ``motion`` ``(B, A, T, Din)`` and optionally ``confidence``,
            ``time_mask``, ``present`` and ``vision`` ``(B, A, T, Dv)`` (a target only),
            as from ``train_gate.batch_windows``.
        masked: ``(B, A, T)`` bool, frames whose descriptor is replaced by the mask token
            (see ``draw_mask``); masks on padded or absent frames are ignored.
        config: loss weights and horizons; None = defaults.
    """
    cfg = config or PretrainConfig()
    motion = inputs["motion"]
    if masked.shape != motion.shape[:3]:
        raise InputError(
            f"masked must be (B, A, T) = {tuple(motion.shape[:3])}; found {tuple(masked.shape)}.",
            fix="draw it with draw_mask(out.valid-shaped tensor, fraction).",
        )
    hidden = masked.to(torch.bool)[..., None]
    corrupted = torch.where(hidden, heads.mask_token.to(motion.dtype), motion)
    out = model(
        corrupted,
        inputs.get("confidence"),
        time_mask=inputs.get("time_mask"),
        present=inputs.get("present"),
    )
    hidden_valid = hidden[..., 0] & out.valid
    l_mask = masked_prediction_loss(heads.masked_head(out.embedding), motion, hidden_valid)
    l_recon = masked_prediction_loss(out.recon, motion, out.valid & ~hidden_valid)
    vision = inputs.get("vision")
    if vision is not None and len(heads.future_heads) > 0:
        predictions = [head(out.embedding) for head in heads.future_heads]
        l_pred = cross_modal_loss(predictions, vision, out.valid, cfg.horizons, cfg.horizon_weights)
    else:
        l_pred = motion.new_zeros(())
    total = (
        l_mask
        + cfg.lambda_pred * l_pred
        + cfg.lambda_rvq * out.commit_loss
        + cfg.lambda_recon * l_recon
    )
    return PretrainLosses(
        total=total, masked=l_mask, cross_modal=l_pred, commit=out.commit_loss, recon=l_recon
    )


def _write_log(path: Path, rows: Sequence[Mapping[str, float]]) -> None:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=LOG_COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    atomic_write_text(path, buffer.getvalue())


def _read_log(path: Path, up_to: int) -> list[dict[str, float]]:
    """Rows of the log up to step ``up_to``: later ones belong to a run killed after it."""
    if not path.is_file():
        return []
    with path.open(newline="") as f:
        rows = [{k: float(v) for k, v in row.items()} for row in csv.DictReader(f)]
    return [r for r in rows if r["step"] <= up_to]


def pretrain_gate(
    model: LookAgain,
    sessions: Sequence[GateSession],
    config: PretrainConfig | None = None,
    *,
    heads: PretrainHeads | None = None,
    checkpoint_dir: str | Path | None = None,
    progress: ProgressCallback | None = None,
) -> PretrainResult:
    """Pretrain ``model`` in place without labels; resume from ``checkpoint_dir`` if possible.

    Args:
        model: the model (on any device; batches follow it).
        sessions: sessions with the same number of animals; labels are not read (all -1
            is fine); vision embeddings, when given, are the cross-modal targets.
        config: settings; None = defaults.
        heads: pretraining heads to continue; None = new ones (seeded by ``config.seed``).
        checkpoint_dir: folder of ``pretrain_checkpoint.pt`` and ``pretrain_log.csv``;
            None = neither.
        progress: ``progress(step, total_steps, total_loss)`` after every step.

    Returns:
        Per-step losses of this call, the step count and the heads; the model is left in
        eval mode.
    """
    cfg = config or PretrainConfig()
    windows, per_epoch, total = plan_windows(
        sessions,
        model,
        window=cfg.window,
        stride=cfg.stride,
        batch_size=cfg.batch_size,
        epochs=cfg.epochs,
    )
    device = next(model.parameters()).device
    if heads is None:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(cfg.seed)
            heads = PretrainHeads(model.config, cfg.horizons)
    heads.to(device)
    params = [*model.parameters(), *heads.parameters()]
    opt = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, warmup_cosine(cfg.warmup_steps, total))
    folder = Path(checkpoint_dir) if checkpoint_dir is not None else None
    state = load_checkpoint(folder / CHECKPOINT_FILE, device) if folder is not None else None
    step = 0
    if state is not None:
        model.load_state_dict(state["model"])
        heads.load_state_dict(state["heads"])
        opt.load_state_dict(state["optimizer"])
        sched.load_state_dict(state["scheduler"])
        step = int(state["step"])
    resumed_from = step
    if folder is not None:
        _write_log(folder / LOG_FILE, _read_log(folder / LOG_FILE, step))

    losses: list[dict[str, float]] = []
    model.train()
    heads.train()
    with torch.random.fork_rng(devices=[]):
        if state is not None:
            torch.set_rng_state(state["rng"].cpu())
        else:
            torch.manual_seed(cfg.seed)
        while step < total:
            rows = batch_rows(step, per_epoch, len(windows), cfg.batch_size, cfg.seed)
            inputs, _ = batch_windows(sessions, [windows[j] for j in rows], cfg.window)
            inputs = {k: v.to(device) for k, v in inputs.items()}
            valid = inputs["time_mask"][:, None, :] & inputs["present"]
            masked = draw_mask(valid, cfg.mask_fraction)
            parts = pretrain_losses(model, heads, inputs, masked, cfg)
            lr = float(sched.get_last_lr()[0])
            opt.zero_grad()
            torch.autograd.backward([parts.total])
            opt.step()
            sched.step()
            step += 1
            row = {"step": float(step), "lr": lr, **parts.as_floats()}
            losses.append(parts.as_floats())
            if folder is not None:
                with (folder / LOG_FILE).open("a", newline="") as f:
                    csv.DictWriter(f, fieldnames=LOG_COLUMNS, lineterminator="\n").writerow(row)
                if step % cfg.checkpoint_every == 0 or step == total:
                    save_checkpoint(
                        folder / CHECKPOINT_FILE,
                        {
                            "model": model.state_dict(),
                            "heads": heads.state_dict(),
                            "optimizer": opt.state_dict(),
                            "scheduler": sched.state_dict(),
                            "rng": torch.get_rng_state(),
                            "step": step,
                        },
                    )
            if progress is not None:
                progress(step, total, losses[-1]["total"])
    model.eval()
    heads.eval()
    return PretrainResult(losses=losses, steps=step, resumed_from=resumed_from, heads=heads)


_FROZEN: weakref.WeakSet[nn.Module] = weakref.WeakSet()


def _keep_eval(module: nn.Module, args: object) -> None:
    """Forward pre-hook: a frozen part runs as in evaluation (no dropout, no EMA update)."""
    module.eval()


def freeze_encoder(model: LookAgain) -> LookAgain:
    """Freeze the pretrained parts of ``model`` for finetuning; returns the same model.

    The parameters of ``ENCODER_MODULES`` (encoder convolutions and attention, RVQ,
    decoder, learned positions, temporal and social transformers and their fusion) get
    ``requires_grad = False``, and those modules always run in evaluation mode, so dropout
    is off and the RVQ codebooks (EMA buffers, not parameters) stop updating. The gate,
    vision aggregation, final norm, classifier and DEC head stay trainable. Optimisers
    skip parameters without a gradient, so ``train_gate`` on the frozen model leaves the
    encoder's weights unchanged.
    """
    for name in ENCODER_MODULES:
        part = getattr(model, name)
        if isinstance(part, nn.Parameter):
            part.requires_grad_(False)
            continue
        part.requires_grad_(False)
        if part not in _FROZEN:
            part.register_forward_pre_hook(_keep_eval)
            _FROZEN.add(part)
    return model
