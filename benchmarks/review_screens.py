"""Screenshots of ``ethoagent review``'s queues for docs/review.md, in headless Chromium.

Builds small simulated pose, classify, segment and profile runs (offline), serves them on
127.0.0.1, opens the first item of each queue, and writes ``docs/review_<queue>.png``.
Needs chromium on PATH and playwright. Run::

    .venv/bin/python benchmarks/review_screens.py [--out docs] [--frames 300] [--queues segment]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ethoagent.config import Settings
from ethoagent.review.server import serving
from tests.review import sample_runs


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, default=Path("docs"))
    ap.add_argument("--frames", type=int, default=300)
    ap.add_argument("--queues", default="pose,classify,segment,profile", help="comma-separated")
    args = ap.parse_args()
    from playwright.sync_api import sync_playwright

    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        raise SystemExit("no chromium on PATH")
    with tempfile.TemporaryDirectory() as t:
        tmp = Path(t)
        settings = Settings(runs_dir=tmp / "runs")
        runs: dict[str, Path] = {}
        queues = args.queues.split(",")
        if "pose" in queues:
            runs["pose"] = sample_runs.pose_run(
                tmp, frames=args.frames, preset="paper-like", seed=0
            )
        if "classify" in queues:
            runs["classify"] = sample_runs.classify_run(tmp, frames=900)
        if "segment" in queues:  # 2 mice, full DEC fit
            runs["segment"] = sample_runs.segment_run(tmp, frames=600, animals=2, k=6, fast=False)
        if "profile" in queues:  # 6 mice in 2 groups, 450 frames each
            runs["profile"] = sample_runs.profile_run(tmp, sessions=6, frames=450, k=6, fast=False)
        with serving(list(runs.values()), settings) as url, sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
            page = browser.new_page(viewport={"width": 1500, "height": 1000})
            for name, run in runs.items():
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
