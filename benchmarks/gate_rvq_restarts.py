"""RVQ code use with and without dead-code restarts, on real keypoints (BehaviorDEPOT demo1).

Pretrains the LookAgain encoder (masked motion modelling, reconstruction and RVQ losses;
``ethoagent.nn.pretrain_gate``) on the motion descriptors of BehaviorDEPOT demo1 (one
mouse, 8 DeepLabCut keypoints, 6,000 frames at 50 fps, velocities included) with the
paper's codebooks (2 levels x 512 codes, d_z 128, EMA decay 0.99) and a small transformer
(d_model 64, 2 temporal layers), once per ``dead_after`` setting, same seed and steps.
Then quantises the whole session in eval mode and prints, per level, the fraction of
codes used, the perplexity (exp of the entropy of code use) and the mean squared
quantisation residual, next to the run without restarts.

Run: ``python benchmarks/gate_rvq_restarts.py [--steps 300] [--dead-after 100 20 0]``
(0 = no restarts).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from ethoagent.evals.datasets import load_dataset
from ethoagent.nn.lookagain import LookAgain, LookAgainConfig
from ethoagent.nn.pretrain_gate import PretrainConfig, pretrain_gate
from ethoagent.nn.train_gate import GateSession, batch_windows, cut_windows
from ethoagent.tools.motion import describe_motion

NEVER = 10**9


def session() -> GateSession:
    data = load_dataset("behaviordepot_freezing")
    pose = data.pose["demo1"]
    conf = np.where(np.isnan(pose.confidence), 1.0, pose.confidence)
    desc = describe_motion(pose.points, conf, velocity_fps=50.0)
    return GateSession(
        motion=desc.features,
        labels=np.full(desc.valid.shape, -1, np.int64),
        confidence=desc.confidence,
        present=desc.valid,
    )


@torch.no_grad()
def code_stats(model: LookAgain, s: GateSession, window: int) -> dict[str, list[float]]:
    """Usage, perplexity and residual per level over every frame of the session."""
    model.eval()
    codes, residual = [], []
    for start, stop in cut_windows(s.motion.shape[0], window, window):
        inputs, _ = batch_windows([s], [(0, start, stop)], window)
        out = model(**inputs)
        codes.append(out.codes[out.valid])
        residual.append((out.z_e - out.z_q)[out.valid].pow(2).mean(dim=-1))
    c = torch.cat(codes)
    k = model.config.rvq_codes
    stats: dict[str, list[float]] = {"usage": [], "perplexity": [], "residual": []}
    for level in range(c.shape[1]):
        p = torch.bincount(c[:, level], minlength=k).double() / c.shape[0]
        stats["usage"].append(float((p > 0).double().mean()))
        stats["perplexity"].append(float(torch.exp(-(p * torch.log(p.clamp_min(1e-12))).sum())))
    stats["residual"].append(float(torch.cat(residual).mean()))
    return stats


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--dead-after", type=int, nargs="+", default=[100, 20, 0])
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    torch.set_num_threads(1)
    s = session()
    window, batch = 128, 8
    per_epoch = -(-len(cut_windows(s.motion.shape[0], window, window // 2)) // batch)
    epochs = max(1, -(-args.steps // per_epoch))
    print(
        f"BehaviorDEPOT demo1: {s.motion.shape[0]} frames, {s.motion.shape[-1]} features; "
        f"{epochs * per_epoch} pretraining steps of {batch} windows x {window} frames"
    )
    rows = []
    for dead in args.dead_after:
        cfg = LookAgainConfig(
            input_dim=s.motion.shape[-1],
            d_model=64,
            temporal_layers=2,
            social_layers=1,
            aggregator_layers=1,
            max_len=window,
            dropout=0.0,
            rvq_dead_after=dead if dead > 0 else NEVER,
        )
        torch.manual_seed(args.seed)
        model = LookAgain(cfg)
        t = time.perf_counter()
        pretrain_gate(
            model,
            [s],
            PretrainConfig(epochs=epochs, batch_size=batch, window=window, stride=window // 2,
                           lr=1e-3, warmup_steps=30, seed=args.seed),
        )  # fmt: skip
        stats = code_stats(model, s, window)
        rows.append((dead, stats, time.perf_counter() - t))
    base = next((st for d, st, _ in rows if d == 0), None)
    print(
        f"{'dead_after':>10} | usage L0, L1 | perplexity L0, L1 | residual | vs none (perplexity)"
    )
    for dead, st, wall in rows:
        ratio = (
            ", ".join(
                f"{a / b:.2f}x" for a, b in zip(st["perplexity"], base["perplexity"], strict=True)
            )
            if base is not None
            else "-"
        )
        name = "none" if dead == 0 else str(dead)
        print(
            f"{name:>10} | {st['usage'][0]:.3f}, {st['usage'][1]:.3f} | "
            f"{st['perplexity'][0]:7.1f}, {st['perplexity'][1]:7.1f} | "
            f"{st['residual'][0]:.4f} | {ratio}  ({wall:.0f} s)"
        )


if __name__ == "__main__":
    main()
