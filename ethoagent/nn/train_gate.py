"""Supervised training of a ``LookAgain`` model on labelled sessions, with resumable checkpoints.

Sessions are cut into windows of ``window`` frames every ``stride`` frames (the last
window ends at the last frame; a session shorter than a window gives one short window,
padded in the batch and masked). Each step draws ``batch_size`` windows in an order fixed
by the seed and epoch, and minimises the class-weighted cross-entropy plus the RVQ
commitment loss and ``recon_weight`` times the reconstruction loss, with AdamW and a
cosine learning rate after a linear warm-up.

A checkpoint (``checkpoint.pt`` in ``checkpoint_dir``: model, optimiser, scheduler, step
and torch RNG state) is written atomically every ``checkpoint_every`` steps and at the
end; ``train_gate`` resumes from it when it exists, so a resumed run ends with the same
weights as an uninterrupted one.
"""

from __future__ import annotations

import io
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray
from pydantic import BaseModel, ConfigDict, Field

from ethoagent.atomic import atomic_write_bytes
from ethoagent.errors import InputError
from ethoagent.nn.lookagain import LookAgain, class_weights, classification_loss

__all__ = [
    "GateSession",
    "TrainConfig",
    "TrainResult",
    "batch_rows",
    "batch_windows",
    "check_sessions",
    "cut_windows",
    "load_checkpoint",
    "plan_windows",
    "save_checkpoint",
    "train_gate",
    "warmup_cosine",
]

CHECKPOINT_FILE = "checkpoint.pt"

ProgressCallback = Callable[[int, int, float], None]
"""``progress(step, total_steps, loss)`` after every step."""


class TrainConfig(BaseModel):
    """Settings of ``train_gate``.

    Attributes:
        epochs: passes over all windows.
        batch_size: windows per step.
        window: frames per window.
        stride: frames between the starts of two windows.
        lr: peak AdamW learning rate.
        weight_decay: AdamW weight decay.
        warmup_steps: steps of linear warm-up before the cosine decay (to 0).
        recon_weight: weight of the reconstruction loss.
        checkpoint_every: steps between two checkpoints (when a folder is given).
        seed: seed of the window order, noise and dropout.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    epochs: int = Field(default=10, ge=1)
    batch_size: int = Field(default=8, ge=1)
    window: int = Field(default=128, ge=1)
    stride: int = Field(default=64, ge=1)
    lr: float = Field(default=3e-4, gt=0.0)
    weight_decay: float = Field(default=0.01, ge=0.0)
    warmup_steps: int = Field(default=100, ge=0)
    recon_weight: float = Field(default=1.0, ge=0.0)
    checkpoint_every: int = Field(default=200, ge=1)
    seed: int = 0


@dataclass(frozen=True)
class GateSession:
    """One labelled session.

    Attributes:
        motion: ``(frames, animals, Din)`` float32 motion descriptors.
        labels: ``(frames, animals)`` int64 classes; negative = unlabelled.
        confidence: ``(frames, animals)`` mean keypoint confidence; None = 1.
        present: ``(frames, animals)`` bool; None = always present.
        vision: ``(frames, animals, Dv)`` vision embeddings; None = keypoint-only.
    """

    motion: NDArray[np.float32]
    labels: NDArray[np.int64]
    confidence: NDArray[np.float32] | None = None
    present: NDArray[np.bool_] | None = None
    vision: NDArray[np.float32] | None = None

    def part(self, frames: slice) -> GateSession:
        """The session cut to ``frames`` (every array sliced along its first axis)."""

        def cut(a: Any) -> Any:
            return None if a is None else a[frames]

        return GateSession(
            self.motion[frames], self.labels[frames], cut(self.confidence), cut(self.present),
            cut(self.vision),
        )  # fmt: skip


@dataclass(frozen=True)
class TrainResult:
    """Outcome of ``train_gate``.

    Attributes:
        losses: training loss of every step run by this call.
        steps: total steps done (including those before a resume).
        resumed_from: step of the checkpoint resumed from, or 0.
    """

    losses: list[float]
    steps: int
    resumed_from: int


def cut_windows(n_frames: int, window: int, stride: int) -> list[tuple[int, int]]:
    """``(start, stop)`` frame ranges of ``window`` frames every ``stride`` frames.

    The last window is moved back to end at ``n_frames``; fewer than ``window`` frames give
    the single window ``(0, n_frames)``.
    """
    if n_frames < 1:
        return []
    if n_frames <= window:
        return [(0, n_frames)]
    starts = list(range(0, n_frames - window + 1, stride))
    if starts[-1] + window < n_frames:
        starts.append(n_frames - window)
    return [(s, s + window) for s in starts]


def check_sessions(sessions: Sequence[GateSession], model: LookAgain) -> None:
    """Raise ``InputError`` unless ``sessions`` are non-empty and agree with ``model``."""
    if not sessions:
        raise InputError("no sessions to train on.", fix="pass at least one GateSession.")
    cfg = model.config
    animals = sessions[0].motion.shape[1] if sessions[0].motion.ndim == 3 else -1
    for i, s in enumerate(sessions):
        if s.motion.ndim == 3 and s.motion.shape[1] != animals:
            raise InputError(
                f"session {i} has {s.motion.shape[1]} animals, session 0 has {animals}.",
                fix="train on sessions with the same number of animals (pad absent ones).",
            )
        if (s.vision is None) != (sessions[0].vision is None):
            raise InputError(
                f"session {i} and session 0 disagree on having vision embeddings.",
                fix="give vision embeddings for every session or for none.",
            )
        if s.motion.ndim != 3 or s.motion.shape[-1] != cfg.input_dim:
            raise InputError(
                f"session {i}: motion must be (frames, animals, {cfg.input_dim}); "
                f"found {s.motion.shape}.",
                fix="compute descriptors with ethoagent.tools.motion.describe_motion.",
            )
        if s.labels.shape != s.motion.shape[:2]:
            raise InputError(
                f"session {i}: labels must be (frames, animals) = {s.motion.shape[:2]}; "
                f"found {s.labels.shape}.",
                fix="give one label per frame and animal (-1 = unlabelled).",
            )


def batch_windows(
    sessions: Sequence[GateSession], picks: Sequence[tuple[int, int, int]], window: int
) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
    """Stack windows ``(session, start, stop)`` into padded ``(B, A, T, ...)`` tensors.

    Returns:
        The keyword inputs of ``LookAgain.forward`` (``motion``, ``confidence``,
        ``present``, ``time_mask`` and, when the sessions have them, ``vision``) and the
        ``(B, A, T)`` int64 labels (-1 on padding).
    """
    b = len(picks)
    first = sessions[picks[0][0]]
    a, d = first.motion.shape[1:]
    t = min(window, max(stop - start for _, start, stop in picks))
    motion = np.zeros((b, a, t, d), np.float32)
    conf = np.zeros((b, a, t), np.float32)
    present = np.zeros((b, a, t), bool)
    labels = np.full((b, a, t), -1, np.int64)
    mask = np.zeros((b, t), bool)
    vision = (
        np.zeros((b, a, t, first.vision.shape[-1]), np.float32)
        if first.vision is not None
        else None
    )
    for i, (si, start, stop) in enumerate(picks):
        s, n = sessions[si], stop - start
        motion[i, :, :n] = s.motion[start:stop].transpose(1, 0, 2)
        c = s.confidence[start:stop] if s.confidence is not None else np.ones((n, a))
        conf[i, :, :n] = c.T
        p = s.present[start:stop] if s.present is not None else np.ones((n, a), bool)
        present[i, :, :n] = p.T
        labels[i, :, :n] = s.labels[start:stop].T
        mask[i, :n] = True
        if vision is not None and s.vision is not None:
            vision[i, :, :n] = s.vision[start:stop].transpose(1, 0, 2)
    tensors = {
        "motion": torch.from_numpy(motion),
        "confidence": torch.from_numpy(conf),
        "present": torch.from_numpy(present),
        "time_mask": torch.from_numpy(mask),
    }
    if vision is not None:
        tensors["vision"] = torch.from_numpy(vision)
    return tensors, torch.from_numpy(labels)


def warmup_steps(
    frames: Sequence[int], *, window: int, stride: int, batch_size: int, epochs: int
) -> int:
    """Warm-up steps of a run over sessions of ``frames``: a tenth of its steps, at most 100.

    A fixed 100-step warm-up would take up most of a short run on a few minutes of data.
    """
    windows = sum(len(cut_windows(n, window, stride)) for n in frames)
    total = epochs * math.ceil(windows / batch_size)
    return max(1, min(100, total // 10))


def plan_windows(
    sessions: Sequence[GateSession],
    model: LookAgain,
    *,
    window: int,
    stride: int,
    batch_size: int,
    epochs: int,
) -> tuple[list[tuple[int, int, int]], int, int]:
    """Check ``sessions`` against ``model`` and cut them into training windows.

    Returns:
        ``(windows, per_epoch, total)``: ``(session, start, stop)`` per window, batches
        per epoch and total steps.
    """
    check_sessions(sessions, model)
    if window > model.config.max_len:
        raise InputError(
            f"window ({window} frames) exceeds the model's max_len ({model.config.max_len}).",
            fix="shorten the window or build the model with a larger max_len.",
        )
    windows = [
        (i, start, stop)
        for i, s in enumerate(sessions)
        for start, stop in cut_windows(s.motion.shape[0], window, stride)
    ]
    per_epoch = math.ceil(len(windows) / batch_size)
    return windows, per_epoch, epochs * per_epoch


def batch_rows(
    step: int, per_epoch: int, n_windows: int, batch_size: int, seed: int
) -> NDArray[np.int64]:
    """Indices of the windows in batch ``step``: epoch ``step // per_epoch`` shuffled by seed."""
    epoch, index = divmod(step, per_epoch)
    order = np.random.default_rng([seed, epoch]).permutation(n_windows)
    rows: NDArray[np.int64] = order[index * batch_size : (index + 1) * batch_size]
    return rows


def warmup_cosine(warmup_steps: int, total_steps: int) -> Callable[[int], float]:
    """Learning-rate factor of a step: linear warm-up to 1, then cosine decay to 0.

    For ``torch.optim.lr_scheduler.LambdaLR``; ``total_steps`` counts the warm-up.
    """

    def schedule(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / warmup_steps
        span = max(1, total_steps - warmup_steps)
        return 0.5 * (1.0 + math.cos(math.pi * min(1.0, (step - warmup_steps) / span)))

    return schedule


def save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    """Write ``state`` (state dicts, tensors, numbers) with ``torch.save``, atomically."""
    buffer = io.BytesIO()
    torch.save(state, buffer)
    atomic_write_bytes(path, buffer.getvalue())


def load_checkpoint(path: Path, device: torch.device) -> dict[str, Any] | None:
    """The state ``save_checkpoint`` wrote to ``path`` (tensors on ``device``), or None."""
    if not path.is_file():
        return None
    try:
        state: dict[str, Any] = torch.load(path, map_location=device, weights_only=True)
    except Exception as exc:  # torch raises RuntimeError, UnpicklingError, EOFError, ...
        raise InputError(
            f"checkpoint {path} cannot be read ({type(exc).__name__}: "
            f"{(str(exc).strip().splitlines() or [''])[0][:200]}).",
            fix="the file was damaged outside ethoagent (it writes checkpoints atomically); "
            "delete it to train from the start.",
        ) from exc
    return state


def train_gate(
    model: LookAgain,
    sessions: Sequence[GateSession],
    config: TrainConfig | None = None,
    *,
    checkpoint_dir: str | Path | None = None,
    progress: ProgressCallback | None = None,
) -> TrainResult:
    """Train ``model`` in place on ``sessions``; resume from ``checkpoint_dir`` if it holds one.

    Args:
        model: the model (on any device; batches follow it).
        sessions: labelled sessions with the same number of animals.
        config: settings; None = defaults.
        checkpoint_dir: folder of ``checkpoint.pt``; None = no checkpoints.
        progress: called after every step.

    Returns:
        Per-step losses of this call and the step count; the model is left in eval mode.
    """
    cfg = config or TrainConfig()
    windows, per_epoch, total = plan_windows(
        sessions,
        model,
        window=cfg.window,
        stride=cfg.stride,
        batch_size=cfg.batch_size,
        epochs=cfg.epochs,
    )
    device = next(model.parameters()).device
    weights = class_weights(
        torch.from_numpy(np.concatenate([s.labels.reshape(-1) for s in sessions])),
        model.config.n_classes,
    ).to(device)

    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, warmup_cosine(cfg.warmup_steps, total))
    folder = Path(checkpoint_dir) if checkpoint_dir is not None else None
    state = load_checkpoint(folder / CHECKPOINT_FILE, device) if folder is not None else None
    step = 0
    if state is not None:
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        sched.load_state_dict(state["scheduler"])
        step = int(state["step"])
    resumed_from = step

    def save() -> None:
        if folder is None:
            return
        save_checkpoint(
            folder / CHECKPOINT_FILE,
            {
                "model": model.state_dict(),
                "optimizer": opt.state_dict(),
                "scheduler": sched.state_dict(),
                "rng": torch.get_rng_state(),
                "step": step,
            },
        )

    losses: list[float] = []
    model.train()
    # The caller's random state is left alone; noise and dropout follow the seed.
    with torch.random.fork_rng(devices=[]):
        if state is not None:
            torch.set_rng_state(state["rng"].cpu())
        else:
            torch.manual_seed(cfg.seed)
        while step < total:
            rows = batch_rows(step, per_epoch, len(windows), cfg.batch_size, cfg.seed)
            inputs, labels = batch_windows(sessions, [windows[j] for j in rows], cfg.window)
            out = model(**{k: v.to(device) for k, v in inputs.items()})
            loss = (
                classification_loss(out, labels.to(device), weights)
                + out.commit_loss
                + cfg.recon_weight * out.recon_loss
            )
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            step += 1
            losses.append(float(loss.detach()))
            if step % cfg.checkpoint_every == 0 or step == total:
                save()
            if progress is not None:
                progress(step, total, losses[-1])
    model.eval()
    return TrainResult(losses=losses, steps=step, resumed_from=resumed_from)
