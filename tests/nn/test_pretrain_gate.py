"""LookAgain pretraining: loss masking, horizons, learning, exact resume, frozen finetuning."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from ethoagent.nn.pretrain_gate import (
    ENCODER_MODULES,
    PretrainConfig,
    PretrainHeads,
    cross_modal_loss,
    draw_mask,
    freeze_encoder,
    masked_prediction_loss,
    pretrain_gate,
    pretrain_losses,
)
from ethoagent.nn.train_gate import GateSession, TrainConfig, train_gate
from tests.nn.toy import CONFIG, fresh

PRETRAIN = PretrainConfig(
    epochs=2,
    batch_size=4,
    window=24,
    stride=12,
    lr=5e-3,
    warmup_steps=1,
    mask_fraction=0.25,
    checkpoint_every=1,
)


pytestmark = pytest.mark.usefixtures("one_thread")


def session(frames: int = 72, vision: bool = True) -> GateSession:
    """Two animals moving smoothly (sines), vision a smooth function of the phase; no labels."""
    rng = np.random.default_rng(0)
    t = np.arange(frames)[:, None, None] * 0.3 + np.arange(2)[None, :, None]
    motion = np.concatenate([np.sin(t), np.cos(t), np.sin(2 * t), np.cos(0.5 * t)], axis=-1)
    motion = (motion + rng.normal(0.0, 0.05, motion.shape)).astype(np.float32)
    emb = np.concatenate([np.sin(t), np.cos(t), np.ones_like(t)], axis=-1).astype(np.float32)
    return GateSession(
        motion=motion,
        labels=np.full((frames, 2), -1, np.int64),
        vision=emb if vision else None,
    )


def inputs(t: int = 12, pad: int = 4, seed: int = 0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    mask = torch.ones(2, t, dtype=torch.bool)
    mask[1, t - pad :] = False
    return {
        "motion": torch.randn(2, 2, t, 4, generator=g),
        "vision": torch.randn(2, 2, t, 3, generator=g),
        "time_mask": mask,
        "present": torch.ones(2, 2, t, dtype=torch.bool),
    }


def test_masked_loss_counts_only_masked_frames() -> None:
    g = torch.Generator().manual_seed(1)
    pred, target = torch.randn(2, 3, 10, 4, generator=g), torch.randn(2, 3, 10, 4, generator=g)
    masked = torch.rand(2, 3, 10, generator=g) < 0.3
    loss = masked_prediction_loss(pred, target, masked)
    expected = (pred - target).pow(2).mean(-1)[masked].mean()
    torch.testing.assert_close(loss, expected)
    other = torch.where(masked[..., None], target, torch.full_like(target, math.nan))
    torch.testing.assert_close(masked_prediction_loss(pred, other, masked), loss)
    assert float(masked_prediction_loss(pred, target, torch.zeros_like(masked))) == 0.0


def test_draw_mask_only_picks_valid_frames() -> None:
    valid = torch.zeros(4, 2, 200, dtype=torch.bool)
    valid[:, :, :150] = True
    masked = draw_mask(valid, 0.2, torch.Generator().manual_seed(0))
    assert not masked[~valid].any()
    assert 0.15 < masked[valid].float().mean() < 0.25


def test_pretrain_loss_ignores_padded_frames() -> None:
    model, heads = fresh().eval(), PretrainHeads(CONFIG)
    batch = inputs()
    valid = batch["time_mask"][:, None, :] & batch["present"]
    masked = draw_mask(valid, 0.3, torch.Generator().manual_seed(0))
    masked[1, :, -1] = True  # a mask on a padded frame is ignored too
    before = pretrain_losses(model, heads, batch, masked).as_floats()
    changed = {k: v.clone() for k, v in batch.items()}
    changed["motion"][1, :, -4:] = 100.0
    changed["vision"][1, :, -4:] = -7.0
    after = pretrain_losses(model, heads, changed, masked).as_floats()
    assert after == pytest.approx(before, rel=1e-5, abs=1e-6)
    assert all(math.isfinite(v) for v in before.values()) and before["cross_modal"] > 0


def test_cross_modal_loss_is_skipped_without_vision() -> None:
    model = fresh().eval()
    batch = inputs()
    del batch["vision"]
    masked = torch.zeros(2, 2, 12, dtype=torch.bool)
    parts = pretrain_losses(model, PretrainHeads(CONFIG), batch, masked)
    assert float(parts.cross_modal) == 0.0
    keypoint_only = CONFIG.model_copy(update={"vision_dim": None})
    assert len(PretrainHeads(keypoint_only).future_heads) == 0


def test_cross_modal_loss_uses_the_horizons() -> None:
    """Vision at ``t`` points at angle ``t * theta``; every head predicts angle ``(t+4) theta``.

    So horizon 4 is exact, horizon 8 is off by ``4 theta`` and horizon 16 by ``12 theta``.
    """
    theta, t = 0.1, 20
    angle = torch.arange(t, dtype=torch.float64) * theta
    vision = torch.stack([torch.cos(angle), torch.sin(angle)], -1)[None, None]
    guess = torch.stack([torch.cos(angle + 4 * theta), torch.sin(angle + 4 * theta)], -1)
    preds = [3.0 * guess[None, None]] * 3  # cosine ignores the scale
    valid = torch.ones(1, 1, t, dtype=torch.bool)
    loss = cross_modal_loss(preds, vision, valid)
    expected = 0.7 * (1 - math.cos(4 * theta)) + 0.4 * (1 - math.cos(12 * theta))
    assert float(loss) == pytest.approx(expected, rel=1e-9)
    only_4 = cross_modal_loss(preds[:1], vision, valid, horizons=(4,), weights=(1.0,))
    assert float(only_4) == pytest.approx(0.0, abs=1e-12)
    # Frames past the window or padded do not count: break them and nothing changes.
    valid[..., 15:] = False
    broken = vision.clone()
    broken[..., 15:, :] = torch.tensor([-1.0, 0.0], dtype=torch.float64)
    short = cross_modal_loss(preds, broken, valid)
    assert float(short) == pytest.approx(0.7 * (1 - math.cos(4 * theta)), rel=1e-9)


def test_losses_decrease_and_are_logged(tmp_path: Path) -> None:
    model = fresh()
    config = PRETRAIN.model_copy(update={"epochs": 60, "checkpoint_every": 100})
    result = pretrain_gate(model, [session()], config, checkpoint_dir=tmp_path)
    assert result.steps == 120 and len(result.losses) == 120  # 5 windows, 2 steps per epoch
    for key in ("total", "masked", "cross_modal"):
        series = [row[key] for row in result.losses]
        assert all(math.isfinite(v) for v in series)
        assert np.mean(series[-5:]) < 0.7 * np.mean(series[:5]), key
    with (tmp_path / "pretrain_log.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert [int(float(r["step"])) for r in rows] == list(range(1, 121))
    assert float(rows[-1]["total"]) == pytest.approx(result.losses[-1]["total"])


def test_resume_gives_the_same_weights_as_one_run(tmp_path: Path) -> None:
    whole = fresh()
    full = pretrain_gate(whole, [session()], PRETRAIN)
    assert full.steps == 4

    def stop_at_2(step: int, total: int, loss: float) -> None:
        if step == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        pretrain_gate(fresh(), [session()], PRETRAIN, checkpoint_dir=tmp_path, progress=stop_at_2)
    resumed = fresh()
    rest = pretrain_gate(resumed, [session()], PRETRAIN, checkpoint_dir=tmp_path)
    assert rest.resumed_from == 2 and rest.steps == 4 and len(rest.losses) == 2
    assert rest.losses == full.losses[2:]
    for (name, a), b in zip(whole.state_dict().items(), resumed.state_dict().values(), strict=True):
        torch.testing.assert_close(a, b, msg=name, rtol=0, atol=0)
    for a, b in zip(
        full.heads.state_dict().values(), rest.heads.state_dict().values(), strict=True
    ):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    with (tmp_path / "pretrain_log.csv").open() as f:
        assert [r["step"] for r in csv.DictReader(f)] == ["1.0", "2.0", "3.0", "4.0"]


def test_freeze_encoder_then_finetuning_leaves_the_encoder_alone() -> None:
    model = fresh()
    pretrain_gate(model, [session(vision=False)], PRETRAIN.model_copy(update={"epochs": 1}))
    freeze_encoder(model)
    frozen = {n for n, p in model.named_parameters() if not p.requires_grad}
    expected = {n for n, _ in model.named_parameters() if n.split(".")[0] in ENCODER_MODULES}
    assert frozen == expected and "positions" in frozen and "conv1.weight" in frozen
    params = dict(model.named_parameters())
    trainable = ("gate.0.weight", "gate_s.weight", "classifier.weight", "vision_in.weight")
    assert all(params[n].requires_grad for n in (*trainable, "centroids", "norm.weight"))
    assert "rvq.embed" in {n for n, _ in model.named_buffers()}
    before = {
        n: v.clone() for n, v in model.state_dict().items() if n.split(".")[0] in ENCODER_MODULES
    }
    s = session()
    labelled = GateSession(
        motion=s.motion, labels=(s.motion[..., 0] > 0).astype(np.int64), vision=s.vision
    )
    train = TrainConfig(epochs=1, batch_size=4, window=24, stride=12, lr=1e-2, warmup_steps=1)
    gate_before = params["gate.0.weight"].detach().clone()
    train_gate(model, [labelled], train)
    after = model.state_dict()
    for name, value in before.items():
        torch.testing.assert_close(after[name], value, rtol=0, atol=0, msg=name)
    assert not torch.equal(params["gate.0.weight"].detach(), gate_before)
