"""The tiny LookAgain model the gate training and pretraining tests share."""

from __future__ import annotations

import torch

from ethoagent.nn.lookagain import LookAgain, LookAgainConfig

CONFIG = LookAgainConfig(
    input_dim=4,
    n_classes=2,
    vision_dim=3,
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
    dropout=0.1,
)


def fresh() -> LookAgain:
    """A new ``CONFIG`` model, always with the same initial weights."""
    torch.manual_seed(0)
    return LookAgain(CONFIG)
