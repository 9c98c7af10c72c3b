"""Speed of the synthetic multi-view mouse world: ``simulate_session`` end to end.

Times one call of ``ethoagent.sim.simulate.simulate_session`` (default: 1,000 frames x 6
views, 320x240, preset ``paper-like``, as the issue's "well under a minute on 2 cores"
target states) and splits the wall time into its stages by wrapping the functions the
session calls (the arguments and outputs are untouched):

- world: ``simulate_world`` (behaviour program and kinematics);
- geometry: occluders, ray-cast visibility and the exact 2D projections;
- rendering: ``render_view`` (drawing, blur, lighting, noise), encoding excluded;
- encoding: OpenCV ``VideoWriter`` (mp4v) writes and closes;
- files: the rest (calibration, DLC-style CSVs, ``arrays.npz``, README).

Run::

    .venv/bin/python benchmarks/simulator_speed.py [--frames 1000] [--views 6]
        [--preset paper-like] [--repeats 1]

It prints frames x views per second and the wall time of the best repeat.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ethoagent.sim import simulate as sim
from ethoagent.sim.render import VideoSink

_TIMES: defaultdict[str, float] = defaultdict(float)


def _timed(stage: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            _TIMES[stage] += time.perf_counter() - start

    return wrapper


class _TimedSink(VideoSink):
    def __call__(self, image: np.ndarray[Any, np.dtype[np.uint8]]) -> None:
        start = time.perf_counter()
        super().__call__(image)
        _TIMES["encoding"] += time.perf_counter() - start

    def close(self) -> None:
        start = time.perf_counter()
        super().close()
        _TIMES["encoding"] += time.perf_counter() - start


def _instrument() -> None:
    """Wrap the functions ``simulate_session`` looks up in its module with timers."""
    stages = {
        "simulate_world": "world",
        "make_occluders": "geometry",
        "compute_visibility": "geometry",
        "project_points": "geometry",
        "render_view": "render_view",
    }
    for name, stage in stages.items():
        setattr(sim, name, _timed(stage, getattr(sim, name)))
    setattr(sim, "VideoSink", _TimedSink)  # noqa: B010 - patching a module attribute


def run_once(frames: int, views: int, preset: str) -> tuple[float, dict[str, float]]:
    """One ``simulate_session`` into a temporary folder: wall seconds and stage seconds."""
    _TIMES.clear()
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        sim.simulate_session(Path(tmp) / "s", preset=preset, frames=frames, views=views)
        wall = time.perf_counter() - start
    stages = dict(_TIMES)
    # encoding happens inside render_view's sink calls (and in the session's `with`)
    stages["rendering"] = stages.pop("render_view", 0.0) - stages.get("encoding", 0.0)
    stages["encoding"] = stages.get("encoding", 0.0)
    stages["files"] = wall - sum(stages.values())
    return wall, stages


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=1000)
    parser.add_argument("--views", type=int, default=6)
    parser.add_argument("--preset", default="paper-like", choices=sorted(sim.PRESETS))
    parser.add_argument("--repeats", type=int, default=1)
    args = parser.parse_args()
    _instrument()
    pre = sim.PRESETS[args.preset]
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    print(
        f"simulate_session: {args.frames} frames x {args.views} views, "
        f"{pre.width}x{pre.height}, preset {args.preset!r}, {pre.animals} animal(s); "
        f"{cores} CPU core(s) available, OpenCV threads {cv2.getNumThreads()}"
    )
    best: tuple[float, dict[str, float]] | None = None
    for _ in range(args.repeats):
        wall, stages = run_once(args.frames, args.views, args.preset)
        if best is None or wall < best[0]:
            best = (wall, stages)
    assert best is not None
    wall, stages = best
    images = args.frames * args.views
    print(f"wall time {wall:.2f} s; {images / wall:,.0f} frames x views per second")
    for stage in ("world", "geometry", "rendering", "encoding", "files"):
        print(f"  {stage:<10} {stages[stage]:6.2f} s  ({stages[stage] / wall:4.0%})")


if __name__ == "__main__":
    main()
