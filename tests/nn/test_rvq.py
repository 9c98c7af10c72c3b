"""Residual vector quantisation: shapes, masks, codebook use on a toy set, dead-code restarts."""

from __future__ import annotations

import pytest
import torch

from ethoagent.nn.rvq import ResidualVectorQuantizer

pytestmark = pytest.mark.usefixtures("one_thread")


def toy(n: int = 512, seed: int = 0) -> torch.Tensor:
    """16 fixed Gaussian blobs in 4-D; ``seed`` draws the rows."""
    centres = torch.randn(16, 4, generator=torch.Generator().manual_seed(0)) * 3.0
    g = torch.Generator().manual_seed(seed + 1)
    return centres[torch.randint(0, 16, (n,), generator=g)] + 0.1 * torch.randn(n, 4, generator=g)


def test_shapes_straight_through_and_residual_levels() -> None:
    torch.manual_seed(0)
    rvq = ResidualVectorQuantizer(4, levels=2, codes=8)
    z = toy(60).reshape(3, 20, 4).requires_grad_()
    out = rvq(z)
    assert out.z_q.shape == (3, 20, 4) and out.codes.shape == (3, 20, 2)
    assert out.codes.dtype == torch.int64 and out.perplexity.shape == (2,)
    out.z_q.sum().backward()
    assert z.grad is not None
    torch.testing.assert_close(z.grad, torch.ones_like(z))
    rvq.eval()
    two = rvq(z.detach())
    one_level = rvq.embed[0][two.codes[..., 0]]
    second = rvq.embed[1][two.codes[..., 1]]
    torch.testing.assert_close(two.z_q, one_level + second)
    assert (two.z_q - z).pow(2).mean() <= (one_level - z).pow(2).mean()


def test_codebooks_do_not_collapse_on_toy_set() -> None:
    torch.manual_seed(0)
    rvq = ResidualVectorQuantizer(4, levels=2, codes=32, dead_after=5)
    for step in range(30):
        out = rvq(toy(256, seed=step))
    for level in range(2):
        assert int(out.codes[:, level].unique().numel()) >= 8
        assert float(out.perplexity[level]) > 6.0
    assert float(out.commit_loss) < 0.25 * 0.5


def test_eval_and_masked_rows_leave_codebooks_alone() -> None:
    torch.manual_seed(0)
    rvq = ResidualVectorQuantizer(4, levels=1, codes=8)
    rvq(toy(64))
    before = rvq.embed.clone()
    rvq(toy(64), mask=torch.zeros(64, dtype=torch.bool))
    torch.testing.assert_close(rvq.embed, before)
    rvq.eval()
    rvq(toy(64, seed=3))
    torch.testing.assert_close(rvq.embed, before)


def test_dead_codes_are_restarted_from_current_outputs() -> None:
    torch.manual_seed(0)
    rvq = ResidualVectorQuantizer(2, levels=1, codes=4, dead_after=3)
    rvq(torch.zeros(8, 2))
    far = torch.full((1, 2), 1000.0)
    rvq.embed[0, 3] = far
    rvq.embed_sum[0, 3] = far
    batch = torch.tensor([[5.0, 5.0], [-5.0, 5.0]]).repeat(4, 1)
    for _ in range(3):
        rvq(batch)
    assert (rvq.embed[0] - far).abs().min() > 100.0
    used = rvq.embed[0][:, None, :] - batch[None, :2, :]
    assert bool((used.abs().amax(dim=-1) < 1.0).any())
