"""Screenshots of ``ethoagent review``'s queues for docs/review.md, in headless Chromium.

Builds a small simulated pose run and classify run (offline), serves them on 127.0.0.1,
opens the first item of each queue, and writes ``docs/review_pose.png`` and
``docs/review_classify.png``. Needs chromium on PATH and playwright. Run::

    .venv/bin/python benchmarks/review_screens.py [--out docs] [--frames 300]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ethoagent.config import Settings
from ethoagent.graphs import classify, pose
from ethoagent.graphs.kit.run import run_pipeline
from ethoagent.io.keypoints import write_keypoints
from ethoagent.model.pose import PoseData
from ethoagent.review.server import serving
from ethoagent.sim.behaviour import INDIVIDUAL_BEHAVIOURS
from ethoagent.sim.simulate import simulate_session
from ethoagent.sim.synthetic import KEYPOINTS, simulate_world

NAMES = {"still": "freezing", "walking": "locomotion", "darting": "darting",
         "rearing": "rearing", "grooming": "grooming", "turning": "other"}  # fmt: skip


def classify_run(tmp: Path) -> Path:
    """An offline classify run on 900 simulated frames with 10-frame examples per class."""
    world = simulate_world(900, seed=3)
    data = PoseData(
        points=world.points_3d,
        confidence=np.full(world.points_3d.shape[:3], np.nan),
        keypoints=KEYPOINTS,
        individuals=("mouse_0",),
        fps=30.0,
        unit="mm",
    )
    kp = write_keypoints(data, tmp / "session.nc", format="netcdf")
    labels = np.array([NAMES[INDIVIDUAL_BEHAVIOURS[c]] for c in world.behaviour.labels[:, 0]])
    rows = ["frame,label"]
    for lab in sorted(set(labels)):
        idx = np.flatnonzero(labels == lab)
        for bout in np.split(idx, np.flatnonzero(np.diff(idx) > 1) + 1)[:2]:
            rows += [f"{f},{lab}" for f in bout[:10]]
    (tmp / "examples.csv").write_text("\n".join(rows) + "\n")
    src = classify.ClassifySources(
        keypoints=kp, examples=tmp / "examples.csv", classes=sorted(set(labels))
    )
    return run_pipeline(classify.PIPELINE, src, None, Settings(runs_dir=tmp / "runs")).run.root


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, default=Path("docs"))
    ap.add_argument("--frames", type=int, default=300)
    args = ap.parse_args()
    from playwright.sync_api import sync_playwright

    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        raise SystemExit("no chromium on PATH")
    with tempfile.TemporaryDirectory() as t:
        tmp = Path(t)
        simulate_session(tmp / "sim", preset="paper-like", frames=args.frames, views=4, seed=0)
        settings = Settings(runs_dir=tmp / "runs")
        prun = run_pipeline(pose.PIPELINE, pose.PoseSources(session=tmp / "sim"), None, settings)
        crun = classify_run(tmp)
        with serving([prun.run.root, crun], settings) as url, sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
            page = browser.new_page(viewport={"width": 1500, "height": 1000})
            for run, name in ((prun.run.root, "pose"), (crun, "classify")):
                page.goto(f"{url}#run={run.name}")
                page.reload()
                page.locator("#queue li").first.click()
                page.wait_for_load_state("networkidle")
                page.wait_for_timeout(500)
                page.screenshot(path=str(args.out / f"review_{name}.png"))
                print("wrote", args.out / f"review_{name}.png")
            browser.close()


if __name__ == "__main__":
    main()
