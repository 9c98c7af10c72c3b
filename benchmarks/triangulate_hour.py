"""One hour of 6-camera 2D predictions through ``ethoagent triangulate``: wall time and memory.

The session (issue 17): 108,000 frames (one hour at 30 fps) of a 15-keypoint animal walking
in a 6-camera ring rig (``make_ring_cameras(5)`` plus the overhead camera, 1280x1024 px,
lens distortion),
projected into each camera with 1 px noise; 2 % of the 2D points moved 30-80 px (a 2D
model's outliers), 0.5 % of the left/right pairs swapped in one view, 2 % missing, and 2D
scores in [0.5, 1]. One DeepLabCut ``.h5`` file per camera (``session_<camera>.h5``, the
files a lab's DeepLabCut run writes) and an anipose ``calibration.toml``; no skeleton file
(left/right pairs from the names, bones inferred). The data is written once into
``--work`` (not timed), then the command runs in a child process::

    ethoagent triangulate WORK/2d --calibration WORK/calibration.toml --out WORK/out

and its wall time and peak resident memory (``getrusage`` of the child) are printed, with
the 3D error against the simulated truth beside a plain all-view DLT of the same 2D points.
``--frames`` makes a shorter session for a quick check; ``--profile`` runs the command in
process under cProfile instead and prints the top functions.

    .venv/bin/python benchmarks/triangulate_hour.py [--frames 108000] [--work DIR]
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import pstats
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ethoagent.io.calibration import write_calibration
from ethoagent.io.keypoints import read_keypoints, write_keypoints
from ethoagent.model.camera import Camera
from ethoagent.model.pose import PoseData
from ethoagent.tools.cameras import make_ring_cameras, project_points
from ethoagent.tools.triangulate import triangulate_dlt

KEYPOINTS = (
    "nose",
    "ear_left",
    "ear_right",
    "neck",
    "shoulder_left",
    "shoulder_right",
    "spine",
    "hip_left",
    "hip_right",
    "tail_base",
    "tail_1",
    "tail_2",
    "tail_tip",
    "paw_left",
    "paw_right",
)
# body frame, mm: x forward, y left, z up
BODY = np.array(
    [
        [45, 0, 25],
        [33, 9, 30],
        [33, -9, 30],
        [25, 0, 27],
        [12, 12, 18],
        [12, -12, 18],
        [0, 0, 28],
        [-18, 12, 18],
        [-18, -12, 18],
        [-32, 0, 20],
        [-50, 0, 14],
        [-68, 0, 9],
        [-85, 0, 5],
        [5, 14, 2],
        [5, -14, 2],
    ],
    dtype=float,
)


def _truth(frames: int, seed: int) -> NDArray[np.float64]:
    """(frames, 15, 3) mm: a body turning and walking inside a 160 mm arena."""
    rng = np.random.default_rng(seed)
    heading = np.cumsum(rng.normal(0.0, 0.03, frames))
    step = np.stack([np.cos(heading), np.sin(heading)], axis=-1) * rng.uniform(0, 2, (frames, 1))
    pos = np.cumsum(step, axis=0)
    pos = 80.0 * np.tanh(pos / 80.0)  # stay inside the arena
    c, s = np.cos(heading), np.sin(heading)
    rot = np.stack([np.stack([c, -s], -1), np.stack([s, c], -1)], -2)  # (F, 2, 2)
    xy = np.einsum("fij,kj->fki", rot, BODY[:, :2]) + pos[:, None]
    z = np.broadcast_to(BODY[:, 2], (frames, len(BODY)))
    out = np.concatenate([xy, z[..., None]], axis=-1)
    return out + rng.normal(0.0, 0.8, out.shape)


def _two_d(
    cams: list[Camera], truth: NDArray[np.float64], seed: int
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """2D predictions (frames, views, 15, 2) px with a 2D model's errors, and scores."""
    rng = np.random.default_rng(seed + 1)
    pts = project_points(cams, truth).transpose(0, 2, 1, 3)
    pts = pts + rng.normal(0.0, 1.0, pts.shape)
    bad = rng.random(pts.shape[:3]) < 0.02
    angle = rng.uniform(0, 2 * np.pi, pts.shape[:3])
    radius = rng.uniform(30.0, 80.0, pts.shape[:3])
    shift = np.stack([np.cos(angle), np.sin(angle)], axis=-1) * radius[..., None]
    pts = np.where(bad[..., None], pts + shift, pts)
    pairs = [(1, 2), (4, 5), (7, 8), (13, 14)]
    for a, b in pairs:
        swap = rng.random(pts.shape[:2]) < 0.005
        fa, va = np.nonzero(swap)
        pts[fa, va, a], pts[fa, va, b] = pts[fa, va, b].copy(), pts[fa, va, a].copy()
    pts[rng.random(pts.shape[:3]) < 0.02] = np.nan
    score = np.where(np.isnan(pts[..., 0]), np.nan, rng.uniform(0.5, 1.0, pts.shape[:3]))
    return pts, score


def _cameras(seed: int) -> list[Camera]:
    return make_ring_cameras(
        5,
        size=(1280, 1024),
        focal_px=1100.0,
        distortion=(-0.1, 0.02, 0.0005, -0.0005, 0.0),
        seed=seed,
    )


def _write(work: Path, frames: int, seed: int) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Write the session once (2D files, calibration, truth) and return truth and 2D."""
    cams = _cameras(seed)
    truth = _truth(frames, seed)
    pts, score = _two_d(cams, truth, seed)
    marker = work / "session.json"
    if marker.is_file() and json.loads(marker.read_text()) == {"frames": frames, "seed": seed}:
        return truth, pts
    two_d = work / "2d"
    two_d.mkdir(parents=True, exist_ok=True)
    for v, cam in enumerate(cams):
        data = PoseData(
            points=pts[:, v, None],
            confidence=score[:, v, None],
            keypoints=KEYPOINTS,
            individuals=("mouse",),
            fps=30.0,
        )
        write_keypoints(data, two_d / f"session_{cam.name}.h5", format="dlc")
    write_calibration(work / "calibration.toml", cams)
    marker.write_text(json.dumps({"frames": frames, "seed": seed}))
    return truth, pts


def _command(work: Path) -> list[str]:
    return [
        str(work / "2d"),
        "--calibration",
        str(work / "calibration.toml"),
        "--out",
        str(work / "out"),
        "--runs-dir",
        str(work / "runs"),
        "--overwrite",
    ]


def _accuracy(
    work: Path, cams: list[Camera], truth: NDArray[np.float64], pts: NDArray[np.float64]
) -> None:
    ours = read_keypoints(work / "out" / "points_3d.nc").points[:, 0]
    dlt = triangulate_dlt(cams, pts)
    for name, p in (("ethoagent triangulate", ours), ("plain DLT, all views", dlt)):
        err = np.linalg.norm(p - truth, axis=-1)
        print(
            f"  {name:<24} median {np.nanmedian(err):6.2f} mm, 95th pct "
            f"{np.nanpercentile(err, 95):7.2f} mm, missing {np.isnan(err).mean():.2%}"
        )
    summary = json.loads((work / "out" / "summary.json").read_text())
    print(
        f"  flagged points {summary['flagged_points']}, corrected points "
        f"{summary['corrected_points']}, by reason {summary['flags_by_reason']}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=108_000)
    parser.add_argument("--work", type=Path, default=Path(".cache/triangulate-hour"))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    truth, pts = _write(args.work, args.frames, args.seed)
    made = time.perf_counter() - t0
    print(f"session: {args.frames} frames x 6 cameras x 15 keypoints ({made:.0f} s to make)")
    if args.profile:
        from ethoagent.cli.app import app

        prof = cProfile.Profile()
        prof.enable()
        try:
            app(["triangulate", *_command(args.work)], standalone_mode=False)
        finally:
            prof.disable()
        pstats.Stats(prof).sort_stats("cumulative").print_stats(35)
        return
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    t0 = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "ethoagent.cli.app", "triangulate", *_command(args.work)],
        check=True,
        env=env,
        stdout=subprocess.DEVNULL,
    )
    wall = time.perf_counter() - t0
    peak_mib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(f"ethoagent triangulate: {wall:.1f} s wall, peak memory {peak_mib:.0f} MiB")
    _accuracy(args.work, _cameras(args.seed), truth, pts)


if __name__ == "__main__":
    main()
