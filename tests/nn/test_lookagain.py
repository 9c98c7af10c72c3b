"""LookAgain model: shapes, padding, gate selection, overfitting a toy task, save/load."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from ethoagent.errors import InputError
from ethoagent.nn.lookagain import (
    LookAgain,
    LookAgainConfig,
    class_weights,
    classification_loss,
    dec_loss,
    total_variation,
)

pytestmark = pytest.mark.usefixtures("one_thread")


TINY = LookAgainConfig(
    input_dim=6,
    n_classes=3,
    vision_dim=5,
    d_z=8,
    d_model=16,
    heads=2,
    encoder_kernel=3,
    temporal_layers=1,
    social_layers=1,
    aggregator_layers=1,
    max_len=64,
    rvq_codes=16,
    gate_fraction=0.25,
    n_clusters=4,
    dropout=0.0,
)


def batch(b: int = 2, a: int = 2, t: int = 12, seed: int = 0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return {
        "motion": torch.randn(b, a, t, 6, generator=g),
        "confidence": torch.rand(b, a, t, generator=g),
        "vision": torch.randn(b, a, t, 5, generator=g),
    }


def model(config: LookAgainConfig = TINY) -> LookAgain:
    torch.manual_seed(0)
    return LookAgain(config)


def test_shapes() -> None:
    m = model()
    out = m(**batch())
    assert out.logits.shape == (2, 2, 12, 3) and out.cluster_q.shape == (2, 2, 12, 4)
    assert out.alpha.shape == out.selected.shape == (2, 2, 12)
    assert out.z_e.shape == out.z_q.shape == (2, 2, 12, 8)
    assert out.codes.shape == (2, 2, 12, 2) and out.recon.shape == (2, 2, 12, 6)
    torch.testing.assert_close(out.cluster_q.sum(-1), torch.ones(2, 2, 12))
    assert bool(((out.alpha > 0) & (out.alpha < 1)).all())
    assert out.embedding.shape == (2, 2, 12, 8)
    assert float(dec_loss(out).detach()) >= 0.0
    m.init_centroids(out.embedding[out.valid])
    after = m(**batch()).cluster_q
    assert int(after.argmax(-1).unique().numel()) == 4
    with pytest.raises(InputError, match="motion must be"):
        m(torch.zeros(1, 1, 4, 7))


@pytest.mark.parametrize("with_vision", [True, False])
def test_padded_frames_never_change_real_frames(with_vision: bool) -> None:
    m = model().eval()
    real = batch(t=10)
    junk = batch(t=16, seed=1)
    padded = {k: torch.cat([v, junk[k][:, :, 10:]], dim=2) for k, v in real.items()}
    mask = torch.zeros(2, 16, dtype=torch.bool)
    mask[:, :10] = True
    if not with_vision:
        real.pop("vision")
        padded.pop("vision")
    a = m(**real)
    b = m(**padded, time_mask=mask)
    torch.testing.assert_close(b.logits[:, :, :10], a.logits, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(b.alpha[:, :, :10], a.alpha, atol=1e-5, rtol=1e-5)
    assert torch.equal(b.selected[:, :, :10], a.selected)
    assert not bool(b.selected[:, :, 10:].any())


def test_absent_animal_is_masked_in_social_attention() -> None:
    m = model().eval()
    x = batch(a=3)
    present = torch.ones(2, 3, 12, dtype=torch.bool)
    present[:, 2] = False
    ref = m(**x, present=present)
    x["motion"][:, 2] = 100.0
    x["vision"][:, 2] = 100.0
    moved = m(**x, present=present)
    torch.testing.assert_close(moved.logits[:, :2], ref.logits[:, :2])
    assert not bool(moved.selected[:, 2].any())


def test_gate_selects_exactly_k_and_is_deterministic_at_eval() -> None:
    m = model().eval()
    x = batch(t=20)
    mask = torch.ones(2, 20, dtype=torch.bool)
    mask[1, 12:] = False
    out = m(**x, time_mask=mask)
    assert out.selected[0].sum(-1).tolist() == [5, 5]  # round(0.25 * 20)
    assert out.selected[1].sum(-1).tolist() == [3, 3]  # round(0.25 * 12)
    top = out.gate_logits[0, 0].topk(5).indices
    assert bool(out.selected[0, 0, top].all())
    assert torch.equal(m(**x, time_mask=mask).selected, out.selected)
    m.train()
    noisy = [m(**x, time_mask=mask).selected for _ in range(3)]
    assert all(s[0].sum(-1).tolist() == [5, 5] for s in noisy)
    assert any(not torch.equal(s, out.selected) for s in noisy)


def toy_task(seed: int = 0) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
    """Label = which of three input channels carries a slow square wave, per frame."""
    g = torch.Generator().manual_seed(seed)
    t = 32
    labels = (torch.arange(t) // 8 + torch.randint(0, 3, (4, 1, 1), generator=g)) % 3
    motion = 0.1 * torch.randn(4, 1, t, 6, generator=g)
    motion.scatter_add_(-1, labels[..., None], torch.ones(4, 1, t, 1))
    return {"motion": motion, "confidence": torch.ones(4, 1, t)}, labels


def test_overfits_a_toy_task() -> None:
    config = TINY.model_copy(update={"vision_dim": None})
    m = model(config)
    x, labels = toy_task()
    w = class_weights(labels, 3)
    opt = torch.optim.AdamW(m.parameters(), lr=1e-2)
    for _ in range(60):
        out = m(**x)
        loss = classification_loss(out, labels, w) + out.commit_loss + out.recon_loss
        opt.zero_grad()
        loss.backward()
        opt.step()
    acc = (m.predict(**x).argmax(-1) == labels.numpy()).mean()
    assert acc > 0.95


def test_save_load_gives_identical_predictions(tmp_path: Path) -> None:
    m = model()
    x = batch()
    m.train()
    m(**x)  # initialises the codebooks
    before = m.predict(**x)
    assert m.training
    loaded = LookAgain.load(m.save(tmp_path / "model"))
    assert loaded.config == m.config
    np.testing.assert_array_equal(loaded.predict(**x), before)
    np.testing.assert_allclose(before.sum(-1), 1.0, rtol=1e-5)
    with pytest.raises(InputError, match=r"config\.json"):
        LookAgain.load(tmp_path / "missing")


def test_losses_on_known_cases() -> None:
    labels = torch.tensor([0, 0, 0, 1, -1])
    torch.testing.assert_close(class_weights(labels, 3), torch.tensor([0.5, 1.5, 0.0]))
    alpha = torch.tensor([[0.0, 1.0, 1.0, 0.0]])
    valid = torch.tensor([[True, True, True, False]])
    torch.testing.assert_close(total_variation(alpha, valid), torch.tensor(0.5))
