"""Triangulation speed and accuracy: ethoagent vs aniposelib on the same synthetic scene.

The scene: ring cameras (``make_ring_cameras``, with lens distortion) around a 120 mm box,
``frames × keypoints`` random points, Gaussian pixel noise, and (for the robust methods) a
fraction of observations moved by a gross 30–80 px error. Every method sees the same 2D
points in the same run; accuracy is the mean distance to the true 3D points (mm) and speed
is the best of ``--repeats`` wall-clock runs after one warm-up call (aniposelib JIT-compiles
its solver with JAX on the first call).

aniposelib is not a dependency of ethoagent (it pulls opencv-contrib-python, which clashes
with opencv-python-headless), so run this in a separate environment::

    python3 -m venv .cache/bench-venv
    .cache/bench-venv/bin/pip install numpy scipy pydantic aniposelib
    .cache/bench-venv/bin/python benchmarks/triangulation_vs_aniposelib.py

ethoagent is imported from this checkout (no install needed). Without aniposelib the
script says so and times ethoagent only. aniposelib's ``triangulate_ransac`` loops over
points in Python, so it runs on the first ``--ransac-frames`` frames only and its time is
reported per point next to ours.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ethoagent.tools.cameras import Camera, make_ring_cameras, project_points
from ethoagent.tools.triangulate import triangulate_dlt, triangulate_ransac


def _scene(args: argparse.Namespace) -> dict[str, Any]:
    cams = make_ring_cameras(
        args.views, distortion=(-0.15, 0.03, 0.0005, -0.0005, 0.0), seed=args.seed
    )
    rng = np.random.default_rng(args.seed)
    truth = rng.uniform(-60.0, 60.0, (args.frames, args.keypoints, 3))
    clean = project_points(cams, truth).transpose(0, 2, 1, 3)  # (frames, views, kp, 2)
    noisy = clean + rng.normal(0.0, args.noise_px, clean.shape)
    outliers = rng.random(clean.shape[:3]) < args.outlier_fraction
    angle = rng.uniform(0, 2 * np.pi, clean.shape[:3])
    radius = rng.uniform(30.0, 80.0, clean.shape[:3])
    shift = np.stack([np.cos(angle), np.sin(angle)], axis=-1) * radius[..., None]
    corrupted = np.where(outliers[..., None], noisy + shift, noisy)
    return {"cameras": cams, "truth": truth, "noisy": noisy, "corrupted": corrupted}


def _best_time(fn: Callable[[], NDArray[np.float64]], repeats: int) -> tuple[float, Any]:
    out = fn()  # warm-up (JIT, caches)
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def _error_mm(points: NDArray[np.float64], truth: NDArray[np.float64]) -> tuple[float, float]:
    d = np.linalg.norm(points - truth, axis=-1)
    return float(np.nanmean(d)), float(np.isnan(d).mean())


def _anipose_group(cams: list[Camera]) -> Any:
    from aniposelib.cameras import Camera as ACamera
    from aniposelib.cameras import CameraGroup

    return CameraGroup(
        [
            ACamera(
                name=c.name,
                size=c.size,
                matrix=c.matrix.copy(),
                dist=c.dist.copy(),
                rvec=c.rvec.copy(),
                tvec=c.tvec.copy(),
            )
            for c in cams
        ]
    )


def run(args: argparse.Namespace) -> list[dict[str, Any]]:
    scene = _scene(args)
    cams, truth = scene["cameras"], scene["truth"]
    f, k = truth.shape[:2]
    n_points = f * k
    rows: list[dict[str, Any]] = []

    def record(lib: str, method: str, data: str, seconds: float, pts: Any, n: int) -> None:
        err, nan = _error_mm(pts, truth[: pts.shape[0]])
        rows.append(
            {
                "library": lib,
                "method": method,
                "data": data,
                "points": n,
                "seconds": seconds,
                "us_per_point": 1e6 * seconds / n,
                "mean_error_mm": err,
                "nan_fraction": nan,
            }
        )

    for data in ("noisy", "corrupted"):
        p2 = scene[data]
        t, out = _best_time(lambda p2=p2: triangulate_dlt(cams, p2), args.repeats)
        record("ethoagent", "triangulate_dlt", data, t, out, n_points)
        t, res = _best_time(
            lambda p2=p2: triangulate_ransac(cams, p2, threshold_px=args.threshold_px),
            args.repeats,
        )
        record("ethoagent", "triangulate_ransac", data, t, res.points_3d, n_points)

    try:
        import aniposelib
    except ImportError as exc:
        print(f"aniposelib is not installed ({exc}); timing ethoagent only.")
        return rows

    group = _anipose_group(cams)
    version = getattr(aniposelib, "__version__", "?")
    for data in ("noisy", "corrupted"):
        p2 = scene[data]
        flat = p2.transpose(1, 0, 2, 3).reshape(len(cams), n_points, 2)  # (views, N, 2)
        t, out = _best_time(lambda flat=flat: group.triangulate(flat), args.repeats)
        record(f"aniposelib {version}", "triangulate", data, t, out.reshape(f, k, 3), n_points)
        t, out = _best_time(lambda flat=flat: group.triangulate(flat, fast=True), args.repeats)
        record(
            f"aniposelib {version}",
            "triangulate(fast=True)",
            data,
            t,
            out.reshape(f, k, 3),
            n_points,
        )
        if hasattr(group, "triangulate_ransac"):
            sub_f = min(args.ransac_frames, f)
            sub = p2[:sub_f].transpose(1, 0, 2, 3).reshape(len(cams), sub_f * k, 2)
            t0 = time.perf_counter()
            res = group.triangulate_ransac(sub, min_cams=2)
            t = time.perf_counter() - t0
            record(
                f"aniposelib {version}",
                "triangulate_ransac",
                data,
                t,
                np.asarray(res[0]).reshape(sub_f, k, 3),
                sub_f * k,
            )
    return rows


def _print(rows: list[dict[str, Any]], args: argparse.Namespace) -> None:
    print(
        f"scene: {args.views} ring views (distorted), {args.frames} frames x {args.keypoints} "
        f"keypoints, noise {args.noise_px} px; 'corrupted' adds {args.outlier_fraction:.0%} "
        f"gross 30-80 px outliers; RANSAC threshold {args.threshold_px} px"
    )
    head = f"{'library':<18} {'method':<24} {'data':<10} {'points':>7} {'seconds':>9} "
    head += f"{'us/point':>9} {'mean mm':>9} {'NaN':>6}"
    print(head)
    print("-" * len(head))
    for r in rows:
        print(
            f"{r['library']:<18} {r['method']:<24} {r['data']:<10} {r['points']:>7} "
            f"{r['seconds']:>9.4f} {r['us_per_point']:>9.2f} {r['mean_error_mm']:>9.4f} "
            f"{r['nan_fraction']:>6.3f}"
        )
    ours = {(r["method"], r["data"]): r for r in rows if r["library"] == "ethoagent"}
    theirs = [r for r in rows if r["library"] != "ethoagent"]
    if theirs:
        print("\nspeed ratio (aniposelib time per point / ethoagent time per point):")
        for r in theirs:
            mine = "triangulate_ransac" if "ransac" in r["method"] else "triangulate_dlt"
            o = ours[(mine, r["data"])]
            print(
                f"  {r['method']:<24} {r['data']:<10} vs {mine:<20} "
                f"{r['us_per_point'] / o['us_per_point']:8.1f}x"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--views", type=int, default=6)
    parser.add_argument("--frames", type=int, default=1000)
    parser.add_argument("--keypoints", type=int, default=12)
    parser.add_argument("--noise-px", type=float, default=1.0)
    parser.add_argument("--outlier-fraction", type=float, default=0.05)
    parser.add_argument("--threshold-px", type=float, default=5.0)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--ransac-frames", type=int, default=50)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, help="also write the rows as JSON here")
    args = parser.parse_args()
    rows = run(args)
    _print(rows, args)
    if args.json:
        args.json.write_text(
            json.dumps({"args": vars(args) | {"json": str(args.json)}, "rows": rows}, indent=2)
        )


if __name__ == "__main__":
    main()
