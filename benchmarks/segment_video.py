r"""Speed and memory of ``ethoagent segment VIDEO OUT`` on a long video with no keypoints.

Renders a simulated mouse seen from above (``ethoagent.sim``; default 10 minutes of 30 fps
640x480, the issue's size) to an mp4, then times in a child process, so that its peak
memory is the segment run's alone:

1. ``track``: blob tracking and motion features alone (``tools.video_features``), the
   video decoded once as a stream;
2. ``segment``: the whole segment pipeline end to end, offline (resolve + blob tracking +
   DEC + snippets + captions + merge + report), as ``ethoagent segment VIDEO OUT`` runs it;
3. ``efficientnet``: where the ``vision`` extra is installed, EfficientNet-Lite0 on
   animal-centred crops at 10 fps (the optional embedding cost, reported beside the
   motion-feature time; not part of ``segment``).

Each child reports its wall time and peak resident memory (``ru_maxrss``). Run::

    PYTHONPATH=. python benchmarks/segment_video.py --minutes 10 --out .cache/bench-video

and read ``<out>/segment_video.json``. ``--minutes 1`` is a quick check.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

CHILD = r"""
import json, resource, sys, time
from pathlib import Path
step, video, work = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])
t0 = time.perf_counter()
extra = {}
if step == "track":
    from ethoagent.io.video import VideoReader
    from ethoagent.tools.blob_features import video_features
    from ethoagent.tools.video_features import BlobSettings, track_blobs
    with VideoReader(video) as r:
        tracks = track_blobs(r, BlobSettings())
        fps = r.fps or 30.0
    feats = video_features(tracks, fps)
    extra = {"frames": tracks.frames, "valid_frames": int(feats.valid.sum())}
elif step == "segment":
    from ethoagent.cli.app import main
    sys.argv = ["ethoagent", "segment", str(video), str(work / "out"), "--runs-dir",
                str(work / "runs"), "--overwrite"]
    try:
        main()
    except SystemExit as exc:
        if exc.code not in (0, None):
            raise
    summary = json.loads((work / "out" / "summary.json").read_text())
    extra = {"epochs": summary["epochs"], "labels": list(summary["vocabulary"])}
elif step == "efficientnet":
    import numpy as np
    from ethoagent.io.video import VideoReader
    from ethoagent.nn.encoders import EfficientNetLite0Encoder
    from ethoagent.tools.video_features import BlobSettings, track_blobs
    with VideoReader(video) as r:
        tracks = track_blobs(r, BlobSettings())
        t0 = time.perf_counter()  # the encoder's own time: crops + forward passes
        enc = EfficientNetLite0Encoder(size=128)
        step_f = max(1, round((r.fps or 30.0) / 10))
        picks = range(0, len(r), step_f)
        side = 96
        n = 0
        batch = []
        for f in picks:
            c = tracks.centre[f, 0]
            if not np.isfinite(c).all():
                continue
            img = r[f][:, :, ::-1]
            x0 = int(min(max(c[0] - side, 0), img.shape[1] - 2 * side))
            y0 = int(min(max(c[1] - side, 0), img.shape[0] - 2 * side))
            batch.append(np.ascontiguousarray(img[y0:y0 + 2 * side, x0:x0 + 2 * side]))
            if len(batch) == 64:
                enc.encode(np.stack(batch)); n += len(batch); batch = []
        if batch:
            enc.encode(np.stack(batch)); n += len(batch)
    extra = {"crops": n, "crop_px": 2 * side, "encoder_size_px": 128}
wall = time.perf_counter() - t0
rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"wall_s": round(wall, 2), "peak_rss_mib": round(rss, 1), **extra}))
"""


def render(path: Path, minutes: float, size: tuple[int, int], seed: int) -> int:
    """Render ``minutes`` of a simulated mouse from above to ``path``; return its frames."""
    from ethoagent.sim.render import (
        RenderSettings,
        VideoSink,
        compute_visibility,
        make_occluders,
        render_view,
    )
    from ethoagent.sim.synthetic import simulate_world
    from ethoagent.tools.cameras import make_ring_cameras, project_points

    frames = round(minutes * 60 * 30)
    world = simulate_world(frames, animals=1, seed=seed)
    cam = make_ring_cameras(2, size=size, focal_px=280.0 * size[0] / 320, seed=seed)[-1]
    occ = make_occluders(world, obstacles=0, seed=seed)
    visible = compute_visibility([cam], world.points_3d, occ)[:, 0]
    uv = np.moveaxis(project_points([cam], world.points_3d), 3, 1)[:, 0]
    with VideoSink(path, fps=world.fps, size=cam.size) as sink:
        render_view(world, cam, points_2d=uv, visible=visible, occluders=occ,
                    settings=RenderSettings(), sink=sink, seed=seed)  # fmt: skip
    return frames


def child(step: str, video: Path, work: Path) -> dict[str, Any]:
    """Run one step in a fresh interpreter; its JSON line, plus the exit status."""
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, step, str(video), str(work)],
        capture_output=True,
        text=True,
        check=False,
    )
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if proc.returncode != 0 or not lines:
        return {"error": proc.stderr.strip().splitlines()[-1:] or ["no output"]}
    result: dict[str, Any] = json.loads(lines[-1])
    return result


def main() -> None:
    """Render, time each step, write ``segment_video.json`` and print it."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=10.0)
    ap.add_argument("--width", type=int, default=640)
    ap.add_argument("--height", type=int, default=480)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=Path(".cache/bench-video"))
    ap.add_argument("--skip-efficientnet", action="store_true")
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    video = args.out / f"mouse_{args.minutes:g}min_{args.width}x{args.height}.mp4"
    t0 = time.perf_counter()
    frames = render(video, args.minutes, (args.width, args.height), args.seed)
    results: dict[str, Any] = {
        "video": str(video),
        "frames": frames,
        "size": [args.width, args.height],
        "minutes": args.minutes,
        "render_s": round(time.perf_counter() - t0, 1),
    }
    steps = ["track", "segment"] + ([] if args.skip_efficientnet else ["efficientnet"])
    for step in steps:
        results[step] = child(step, video, args.out)
        wall = results[step].get("wall_s")
        if wall is not None:
            results[step]["s_per_video_minute"] = round(wall / args.minutes, 2)
        print(step, results[step], flush=True)
    results["cpu_count"] = len(__import__("os").sched_getaffinity(0))
    results["parent_peak_rss_mib"] = round(
        resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1
    )
    (args.out / "segment_video.json").write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
