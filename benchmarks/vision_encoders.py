"""Speed of the LookAgain gate's frame encoders on the CPU, against the classical one.

Encodes the same synthetic 224x224 RGB frames (a bright square moving over noise) with
each encoder available here: ``classical`` (HOG + optical flow, always),
``efficientnet-lite0`` (when ``ethoagent[vision]`` is installed) and, with ``--model-dir``,
a local ``transformers`` model. Torch and OpenCV get ``--threads`` threads (default 2, the
budget the gate is designed for). One warm-up batch per encoder is not timed.

Run::

    .venv/bin/python benchmarks/vision_encoders.py [--frames 64] [--threads 2]
        [--repeats 3] [--model-dir PATH]

It prints frames/second and ms/frame of each encoder's best repeat and its speed as a
ratio to the classical encoder measured in the same run (0.25 = four times slower).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ethoagent.agent.embed import make_vision_encoder
from ethoagent.errors import EthoagentError
from ethoagent.tools.vision import VisionEncoder


def synthetic_frames(n: int, size: int = 224, seed: int = 0) -> np.ndarray:
    """``(n, size, size, 3)`` uint8 RGB: a 48 px square moving 3 px/frame over noise."""
    rng = np.random.default_rng(seed)
    frames = rng.integers(0, 80, (n, size, size, 3), dtype=np.uint8)
    for i in range(n):
        x = (20 + 3 * i) % (size - 48)
        frames[i, 80:128, x : x + 48] = (240, 220, 200)
    return frames


def frames_per_second(encoder: VisionEncoder, frames: np.ndarray, repeats: int) -> float:
    """Best-of-``repeats`` frames/second of ``encoder.encode(frames)``."""
    encoder.encode(frames[: min(8, len(frames))])
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        encoder.encode(frames)
        best = min(best, time.perf_counter() - start)
    return len(frames) / best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=64)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--model-dir", type=Path, default=None)
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    cv2.setNumThreads(args.threads)
    frames = synthetic_frames(args.frames)

    kinds = ["classical", "efficientnet-lite0"] + (["transformers"] if args.model_dir else [])
    results: dict[str, float] = {}
    for kind in kinds:
        try:
            encoder = make_vision_encoder(kind, model_dir=args.model_dir)
        except EthoagentError as exc:
            print(f"{kind:<20} skipped: {exc}")
            continue
        results[kind] = frames_per_second(encoder, frames, args.repeats)
        print(f"{kind:<20} dim {encoder.dim:>5}  encoded {encoder.frames_encoded} frames")

    base = results["classical"]
    print(f"\n{args.frames} frames of 224x224 px, {args.threads} threads, best of {args.repeats}")
    print(f"{'encoder':<20} {'frames/s':>10} {'ms/frame':>10} {'x classical':>12}")
    for kind, fps in results.items():
        print(f"{kind:<20} {fps:>10.1f} {1000 / fps:>10.2f} {fps / base:>12.3f}")


if __name__ == "__main__":
    main()
