"""What a person's review of a pose run's queue changes: 3D error before and after.

A simulated reviewer works through ``ethoagent review``'s pose queue (the flagged frames,
then the 20 with the worst reprojection error) the way a careful person would: in every
view, a label more than ``--tolerance`` px from the mark is moved onto it, a label where
the mark is hidden is marked absent, a missing label of a visible mark is added; a frame
that needs nothing is accepted. The corrections go through the review store, the run is
re-run with them (``review.rerun``: corrected frames become seed frames), and both runs
are scored against the simulator's 3D ground truth. The baseline is the run before
review, on the same frames. Run::

    .venv/bin/python benchmarks/review_pose.py [--frames 300] [--preset paper-like] [--json OUT]
    .venv/bin/python benchmarks/review_pose.py --run DEMO_RUN/runs/pose   # the demo's run
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ethoagent.config import Settings
from ethoagent.graphs import pose
from ethoagent.graphs.kit.run import run_pipeline
from ethoagent.review.queues import pose_item_id, pose_queue, read_pose_run
from ethoagent.review.rerun import rerun
from ethoagent.review.store import CorrectionStore
from ethoagent.runs import Run
from ethoagent.sim.simulate import simulate_session


def review_like_a_person(
    run: Run, truth_2d: Any, visible: Any, tolerance: float, flagged_only: bool = False
) -> dict[str, int]:
    """Correct the queue's frames of ``run`` from the marks; return what was done."""
    pr = read_pose_run(run)
    store = CorrectionStore(run.root)
    done = {"frames": 0, "corrected": 0, "absent": 0, "accepted": 0}
    for item in queue(run, flagged_only):
        f = item["frame"]
        done["frames"] += 1
        changed = False
        for v, view in enumerate(pr.views):
            for k, kp in enumerate(pr.keypoints):
                now = pr.points_2d[f, v, k]
                seen = bool(visible[f, v, 0, k])
                mark = truth_2d[f, v, 0, k]
                before = now.tolist() if np.isfinite(now).all() else None
                iid = pose_item_id(f, view, kp)
                if not seen and before is not None:
                    store.append(iid, "pose", "absent", before, None)
                    done["absent"] += 1
                    changed = True
                elif seen and (before is None or np.hypot(*(now - mark)) > tolerance):
                    store.append(iid, "pose", "correct", before, [float(x) for x in mark])
                    done["corrected"] += 1
                    changed = True
        if not changed:
            store.append(item["item"], "pose", "accept")
            done["accepted"] += 1
    return done


def queue(run: Run, flagged_only: bool) -> list[dict[str, Any]]:
    """The pose queue, or only its flagged frames."""
    return [i for i in pose_queue(run) if i["flagged"] or not flagged_only]


def score(run: Run, truth: Any, frames: list[int]) -> dict[str, Any]:
    """Mean 3D error (mm) and PCK@5mm overall, on ``frames`` and on the other frames."""
    from ethoagent.graphs.pose.report import assembled

    n = len(list(run.artifacts_dir.glob("pose_*.npz")))
    points, _ = assembled(run, n)
    err = np.linalg.norm(points - truth, axis=-1)  # (frames, keypoints), NaN = missing
    rest = sorted(set(range(len(points))) - set(frames))

    def stats(e: Any) -> dict[str, float]:
        ok = np.isfinite(e)
        return {
            "mean_mm": round(float(e[ok].mean()), 3) if ok.any() else float("nan"),
            "pck_5mm": round(float((e < 5).sum() / e.size), 4),
            "missing": round(float(1 - ok.mean()), 4),
        }

    return {"all": stats(err), "reviewed": stats(err[frames]), "others": stats(err[rest])}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--frames", type=int, default=300)
    ap.add_argument("--views", type=int, default=4)
    ap.add_argument("--preset", default="paper-like")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--tolerance", type=float, default=2.0, help="px")
    ap.add_argument("--run", type=Path, help="review this finished pose run of a simulated "
                    "session (e.g. the demo's runs/pose) instead of simulating one")  # fmt: skip
    ap.add_argument("--flagged-only", action="store_true", help="review the flagged frames only")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        if args.run is not None:
            first = Run(args.run.resolve())
            sim = Path(first.info().inputs["videos"][0]).parent.parent
            settings = Settings(runs_dir=first.root.parent)
        else:
            sim = Path(tmp) / "sim"
            simulate_session(sim, preset=args.preset, frames=args.frames, views=args.views,
                             seed=args.seed)  # fmt: skip
            settings = Settings(runs_dir=Path(tmp) / "runs")
            sources = pose.PoseSources(session=sim)
            first = run_pipeline(pose.PIPELINE, sources, None, settings).run
        t_run = time.perf_counter() - t0
        gt = np.load(sim / "ground_truth" / "arrays.npz")
        done = review_like_a_person(
            first, gt["points_2d"], gt["visible"], args.tolerance, args.flagged_only
        )
        reviewed = sorted({i["frame"] for i in queue(first, args.flagged_only)})
        t0 = time.perf_counter()
        second = rerun(first, settings).run
        t_rerun = time.perf_counter() - t0
        truth = gt["points_3d"][:, 0]
        session = {k: getattr(args, k) for k in ("preset", "frames", "views", "seed")}
        result = {
            "session": str(args.run) if args.run else session,
            "flagged_frames": read_pose_run(first).flagged,
            "review": done,
            "before": score(first, truth, reviewed),
            "after": score(second, truth, reviewed),
            "seconds": {"run": round(t_run, 1), "rerun": round(t_rerun, 1)},
        }
    print(json.dumps(result, indent=2))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
