"""Inference speed of the LookAgain gate model on 2 CPU cores, for a 1-hour 30 fps session.

Keypoints come from ``ethoagent.sim.synthetic.simulate_world`` (top-down x-y, mm; about
6 s for 108,000 frames, so no random stand-in is needed) and are not part of any timing.
With the default ``LookAgainConfig`` (only ``gate_fraction`` set to ``--looks``) it times:

1. **keypoint path**: ``describe_motion`` plus the model's keypoint-only forward
   (encoder, RVQ, temporal and social transformers, gate, heads) on windows of
   ``--window`` frames cut at stride ``--window`` (no overlap, so every frame is computed
   once; the last window is padded and masked), ``--batch`` windows a call, under
   ``torch.inference_mode``.
2. **25 % looks**: the frames the gate selects (top-k per window and animal) are counted;
   each vision encoder (classical, and EfficientNet-Lite0 when installed) is timed on
   ``--vision-sample`` synthetic 224x224 frames and its ms/frame extrapolated to the
   selected frames; the model with a vision branch (``vision_dim`` = the encoder's size)
   is timed on the same windows. Total = keypoint path (the gate pass, which picks the
   frames) + vision encoding + the vision forward. Video decoding and cropping are not
   counted.

Peers measured in the same run: the same pipeline with the gate at 100 % looks (every
frame encoded), and a plain motion-only transformer (the same two convolutions and
1 + ``temporal_layers`` transformer layers and a linear head; no RVQ, social
transformer or gate). Ratios are peer time / LookAgain time (2.0 = the peer is twice as
slow). The goal is the keypoint path at <= 30 s per session-hour. Every path is timed
once, so other processes on the same cores inflate it: the report prints the load average.

Run::

    .venv/bin/python benchmarks/gate_throughput.py [--minutes 60] [--animals 1]
        [--looks 0.25] [--window 128] [--batch 64] [--threads 2]
        [--encoders classical efficientnet-lite0] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch
import torch.nn.functional as F  # noqa: N812
from numpy.typing import NDArray
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.vision_encoders import synthetic_frames
from ethoagent.agent.embed import make_vision_encoder
from ethoagent.errors import EthoagentError
from ethoagent.nn.lookagain import LookAgain, LookAgainConfig
from ethoagent.sim.synthetic import simulate_world
from ethoagent.tools.motion import describe_motion

GOAL_S_PER_HOUR = 30.0
"""Target for the keypoint path: seconds of compute per hour of 30 fps video."""
ENCODERS = ("classical", "efficientnet-lite0")


class MotionTransformer(nn.Module):
    """Peer: LookAgain's convolutions and transformer stack without RVQ, social or gate."""

    def __init__(self, cfg: LookAgainConfig) -> None:
        super().__init__()
        d, pad = cfg.d_model, cfg.encoder_kernel // 2
        self.conv1 = nn.Conv1d(cfg.input_dim, d, cfg.encoder_kernel, padding=pad)
        self.conv2 = nn.Conv1d(d, d, cfg.encoder_kernel, padding=pad)
        self.positions = nn.Parameter(torch.randn(cfg.max_len, d) * 0.02)
        layer = nn.TransformerEncoderLayer(
            d, cfg.heads, 2 * d, cfg.dropout, batch_first=True, norm_first=True
        )
        self.temporal = nn.TransformerEncoder(
            layer, 1 + cfg.temporal_layers, enable_nested_tensor=False
        )
        self.head = nn.Linear(d, cfg.n_classes)

    def forward(self, motion: torch.Tensor, time_mask: torch.Tensor) -> torch.Tensor:
        """``(B, A, T, Din)`` descriptors, ``(B, T)`` mask -> ``(B, A, T, n_classes)`` logits."""
        b, a, t, _ = motion.shape
        tm = time_mask[:, None, :].expand(b, a, t).reshape(b * a, t)
        keep = tm[..., None].to(motion.dtype)
        x = motion.reshape(b * a, t, -1) * keep
        x = F.gelu(self.conv1(x.transpose(1, 2))).transpose(1, 2) * keep
        x = F.gelu(self.conv2(x.transpose(1, 2))).transpose(1, 2) * keep
        x = self.temporal(x + self.positions[:t], src_key_padding_mask=~tm)
        out: torch.Tensor = self.head(x).reshape(b, a, t, -1)
        return out


def simulate_keypoints(frames: int, animals: int, seed: int = 0) -> NDArray[np.float64]:
    """``(frames, animals, 12, 2)`` top-down keypoints, mm, from ``simulate_world``."""
    world = simulate_world(frames, animals=animals, seed=seed)
    return world.points_3d[..., :2]


def windows(
    features: NDArray[np.float32],
    confidence: NDArray[np.float32],
    valid: NDArray[np.bool_],
    size: int,
) -> dict[str, torch.Tensor]:
    """Cut ``(frames, animals, ...)`` arrays into padded, non-overlapping windows.

    Returns ``motion`` ``(W, A, size, D)``, ``confidence`` and ``present`` ``(W, A, size)``
    and ``time_mask`` ``(W, size)`` (False = padding after the last frame).
    """
    n = features.shape[0]
    w = -(-n // size)
    pad = w * size - n

    def cut(x: NDArray[Any]) -> torch.Tensor:
        x = np.concatenate([x, np.zeros((pad, *x.shape[1:]), x.dtype)])
        x = x.reshape(w, size, *x.shape[1:]).swapaxes(1, 2)
        return torch.from_numpy(np.ascontiguousarray(x))

    mask = np.arange(w * size).reshape(w, size) < n
    return {
        "motion": cut(features),
        "confidence": cut(confidence),
        "present": cut(valid),
        "time_mask": torch.from_numpy(mask),
    }


def batches(win: dict[str, torch.Tensor], batch: int) -> list[dict[str, torch.Tensor]]:
    """Split the windows into groups of ``batch`` along the first axis."""
    n = win["time_mask"].shape[0]
    return [{k: v[s : s + batch] for k, v in win.items()} for s in range(0, n, batch)]


def run_lookagain(
    model: LookAgain, groups: list[dict[str, torch.Tensor]], vision_dim: int | None = None
) -> tuple[float, int, int]:
    """Time ``model`` over every batch; returns (seconds, frames selected, frames valid).

    With ``vision_dim`` a random ``(B, A, T, vision_dim)`` embedding is passed (its
    creation is not timed), so the aggregation branch runs.
    """
    vis = [
        torch.randn(*g["motion"].shape[:3], vision_dim) if vision_dim is not None else None
        for g in groups
    ]
    selected = valid = 0
    seconds = 0.0
    with torch.inference_mode():
        model(**groups[0], vision=vis[0])  # warm-up, not timed
        for g, v in zip(groups, vis, strict=True):
            start = time.perf_counter()
            out = model(**g, vision=v)
            torch.softmax(out.logits, dim=-1)
            seconds += time.perf_counter() - start
            selected += int(out.selected.sum())
            valid += int(out.valid.sum())
    return seconds, selected, valid


def run_peer(model: MotionTransformer, groups: list[dict[str, torch.Tensor]]) -> float:
    """Seconds of the motion-only transformer over every batch."""
    seconds = 0.0
    with torch.inference_mode():
        model(groups[0]["motion"], groups[0]["time_mask"])
        for g in groups:
            start = time.perf_counter()
            torch.softmax(model(g["motion"], g["time_mask"]), dim=-1)
            seconds += time.perf_counter() - start
    return seconds


def encoder_ms_per_frame(kind: str, sample: int) -> tuple[int, float] | None:
    """(embedding size, best-of-2 ms per frame) of a vision encoder on 224 px frames."""
    try:
        encoder = make_vision_encoder(kind)
    except EthoagentError:
        return None
    frames = synthetic_frames(sample)
    encoder.encode(frames[: min(4, sample)])
    best = float("inf")
    for _ in range(2):
        start = time.perf_counter()
        encoder.encode(frames)
        best = min(best, time.perf_counter() - start)
    return encoder.dim, 1000.0 * best / sample


def measure(args: argparse.Namespace) -> dict[str, Any]:
    """Run every timing; see the module docstring. Returns plain data (JSON-ready)."""
    torch.set_num_threads(args.threads)
    cv2.setNumThreads(args.threads)
    torch.manual_seed(0)
    n = max(args.window, round(args.minutes * 60 * args.fps))
    per_hour = 3600.0 * args.fps / n

    start = time.perf_counter()
    points = simulate_keypoints(n, args.animals)
    simulate_s = time.perf_counter() - start

    start = time.perf_counter()
    desc = describe_motion(points)
    descriptor_s = time.perf_counter() - start
    win = windows(desc.features, desc.confidence, desc.valid, args.window)
    groups = batches(win, args.batch)
    base = LookAgainConfig(input_dim=desc.features.shape[-1], gate_fraction=args.looks)

    model = LookAgain(base).eval()
    model_s, selected, valid = run_lookagain(model, groups)
    keypoint_s = descriptor_s + model_s
    peer = MotionTransformer(base).eval()
    peer_s = descriptor_s + run_peer(peer, groups)

    selected_all = valid  # at 100 % looks the gate selects every valid frame

    encoders: dict[str, Any] = {}
    for kind in args.encoders:
        timing = encoder_ms_per_frame(kind, args.vision_sample)
        if timing is None:
            continue
        dim, ms = timing
        looked = LookAgain(base.model_copy(update={"vision_dim": dim})).eval()
        vision_model_s, _, _ = run_lookagain(looked, groups, vision_dim=dim)
        every = LookAgain(base.model_copy(update={"vision_dim": dim, "gate_fraction": 1.0}))
        every_model_s, _, _ = run_lookagain(every.eval(), groups, vision_dim=dim)
        encode_s = ms * selected / 1000.0
        encode_all_s = ms * selected_all / 1000.0
        total = keypoint_s + encode_s + vision_model_s
        total_all = keypoint_s + encode_all_s + every_model_s
        encoders[kind] = {
            "dim": dim,
            "ms_per_frame": ms,
            "encode_s": encode_s,
            "vision_model_s": vision_model_s,
            "total_s": total,
            "total_s_per_hour": total * per_hour,
            "encode_all_s": encode_all_s,
            "vision_model_all_s": every_model_s,
            "total_all_s": total_all,
            "total_all_s_per_hour": total_all * per_hour,
            "all_over_looks": total_all / total,
        }

    return {
        "load_average_1min": os.getloadavg()[0],
        "frames": n,
        "animals": args.animals,
        "fps": args.fps,
        "threads": args.threads,
        "window": args.window,
        "stride": args.window,
        "batch": args.batch,
        "keypoints": "simulate_world",
        "simulate_s": simulate_s,
        "descriptor_s": descriptor_s,
        "keypoint_model_s": model_s,
        "keypoint_path_s": keypoint_s,
        "keypoint_path_s_per_hour": keypoint_s * per_hour,
        "keypoint_frames_per_s": n / keypoint_s,
        "goal_s_per_hour": GOAL_S_PER_HOUR,
        "meets_goal": keypoint_s * per_hour <= GOAL_S_PER_HOUR,
        "looks": args.looks,
        "frames_valid": valid,
        "frames_selected": selected,
        "calls_saved": valid - selected,
        "calls_saved_fraction": 1.0 - selected / max(valid, 1),
        "encoders": encoders,
        "motion_transformer_s": peer_s,
        "motion_transformer_s_per_hour": peer_s * per_hour,
        "motion_transformer_over_lookagain": peer_s / keypoint_s,
    }


def report(r: dict[str, Any]) -> None:
    """Print the table and ratios."""
    hours = r["frames"] / r["fps"] / 3600.0
    print(
        f"{r['frames']} frames x {r['animals']} animal(s) "
        f"({hours * 60:.1f} min at {r['fps']} fps), "
        f"{r['threads']} threads, windows {r['window']} stride {r['stride']}, batch {r['batch']}; "
        f"keypoints simulated in {r['simulate_s']:.1f} s (not timed below); "
        f"load average at the end {r['load_average_1min']:.2f} (other processes slow it)"
    )
    print(f"\n{'path':<40} {'s':>9} {'s/hour':>9} {'frames/s':>10}")

    def row(name: str, seconds: float) -> None:
        print(f"{name:<40} {seconds:>9.2f} {seconds / hours:>9.1f} {r['frames'] / seconds:>10.0f}")

    row("motion descriptor", r["descriptor_s"])
    row("keypoint path (descriptor + model)", r["keypoint_path_s"])
    row("peer: motion-only transformer", r["motion_transformer_s"])
    pct = round(100 * r["looks"])
    for kind, e in r["encoders"].items():
        row(f"{pct}% looks, {kind}", e["total_s"])
        row(f"  of which encoding ({e['ms_per_frame']:.1f} ms/frame)", e["encode_s"])
        row("  of which vision forward", e["vision_model_s"])
        row(f"peer: 100% looks, {kind}", e["total_all_s"])
    print(
        f"\nkeypoint path: {r['keypoint_path_s_per_hour']:.1f} s per session-hour vs goal "
        f"{r['goal_s_per_hour']:.0f} s ({r['keypoint_path_s_per_hour'] / r['goal_s_per_hour']:.2f}"
        f" x goal; {'met' if r['meets_goal'] else 'missed'})"
    )
    print(
        f"vision calls: {r['frames_selected']} of {r['frames_valid']} animal-frames; "
        f"saved {r['calls_saved']} ({r['calls_saved_fraction']:.1%})"
    )
    ratio = r["motion_transformer_over_lookagain"]
    print(f"motion-only transformer / LookAgain keypoint path: {ratio:.2f}")
    for kind, e in r["encoders"].items():
        print(f"100% looks / {pct}% looks, {kind}: {e['all_over_looks']:.2f}")


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Parse ``argv``, run the benchmark, print the report and return the results."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=60.0, help="session length")
    parser.add_argument("--animals", type=int, default=1)
    parser.add_argument("--fps", type=float, default=30.0)
    parser.add_argument("--looks", type=float, default=0.25, help="gate fraction")
    parser.add_argument("--window", type=int, default=128, help="frames per window (= stride)")
    parser.add_argument("--batch", type=int, default=64, help="windows per forward call")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--vision-sample", type=int, default=32, help="frames timed per encoder")
    parser.add_argument(
        "--encoders", nargs="+", choices=ENCODERS, default=list(ENCODERS), help="vision encoders"
    )
    parser.add_argument("--json", type=Path, default=None, help="also write results here")
    args = parser.parse_args(argv)
    results = measure(args)
    report(results)
    if args.json is not None:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    return results


if __name__ == "__main__":
    main()
