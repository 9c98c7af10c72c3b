"""Gate training loop: windowing, learning a toy task, exact resume from a checkpoint."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from ethoagent.errors import InputError
from ethoagent.nn.train_gate import GateSession, TrainConfig, cut_windows, train_gate
from tests.nn.toy import fresh

TRAIN = TrainConfig(
    epochs=2, batch_size=2, window=16, stride=8, lr=1e-2, warmup_steps=1, checkpoint_every=1
)


pytestmark = pytest.mark.usefixtures("one_thread")


def session(frames: int = 48) -> GateSession:
    """Two animals; the label is the sign of feature 0, in blocks of 6 frames."""
    rng = np.random.default_rng(0)
    labels = ((np.arange(frames)[:, None] // 6 + np.arange(2)) % 2).astype(np.int64)
    motion = rng.normal(0.0, 0.1, (frames, 2, 4)).astype(np.float32)
    motion[..., 0] += 2.0 * labels - 1.0
    vision = rng.normal(0.0, 1.0, (frames, 2, 3)).astype(np.float32)
    return GateSession(motion=motion, labels=labels, vision=vision)


def test_cut_windows() -> None:
    assert cut_windows(300, 128, 64) == [(0, 128), (64, 192), (128, 256), (172, 300)]
    assert cut_windows(256, 128, 64) == [(0, 128), (64, 192), (128, 256)]
    assert cut_windows(100, 128, 64) == [(0, 100)]
    assert cut_windows(0, 128, 64) == []


def test_resume_gives_the_same_weights_as_one_run(tmp_path: Path) -> None:
    whole = fresh()
    full = train_gate(whole, [session()], TRAIN)
    assert full.steps == 6 and len(full.losses) == 6  # 5 windows, 3 steps per epoch

    def stop_at_3(step: int, total: int, loss: float) -> None:
        if step == 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train_gate(fresh(), [session()], TRAIN, checkpoint_dir=tmp_path, progress=stop_at_3)
    resumed = fresh()
    rest = train_gate(resumed, [session()], TRAIN, checkpoint_dir=tmp_path)
    assert rest.resumed_from == 3 and rest.steps == 6 and len(rest.losses) == 3
    np.testing.assert_allclose(rest.losses, full.losses[3:], rtol=1e-5)
    for (name, a), b in zip(whole.state_dict().items(), resumed.state_dict().values(), strict=True):
        torch.testing.assert_close(a, b, msg=name)


def test_learns_a_toy_task() -> None:
    model = fresh()
    s = session()
    config = TRAIN.model_copy(update={"epochs": 15, "lr": 5e-3})
    result = train_gate(model, [s], config)
    assert np.mean(result.losses[-3:]) < np.mean(result.losses[:3])
    motion = torch.from_numpy(s.motion.transpose(1, 0, 2))[None]
    vision = torch.from_numpy(s.vision.transpose(1, 0, 2))[None] if s.vision is not None else None
    pred = model.predict(motion, vision=vision).argmax(-1)[0].T
    assert (pred == s.labels).mean() > 0.9


def test_rejects_mismatched_sessions() -> None:
    bad = GateSession(motion=np.zeros((10, 2, 5), np.float32), labels=np.zeros((10, 2), np.int64))
    with pytest.raises(InputError, match="motion must be"):
        train_gate(fresh(), [bad], TRAIN)
