"""Examples from one recording classify another (``classify --examples-from``), on real data.

BehaviorDEPOT demo1 (``../shared/data/behaviordepot_freezing``: one mouse, DeepLabCut 2D,
6,000 frames at 50 fps, human frame-wise freezing) is the only labelled tracked session of
its kind here, so it is cut into two recordings of 60 s, A (frames 0-2999) and B
(3000-5999), each written as its own keypoint file. Each half is classified four ways, and
every number is scored on the same frames of that half against the human labels:

- ``examples_from_other``: ``ethoagent classify HALF --examples-from TABLE`` where the
  table names the other half and all its labels (the cohort use: label one session,
  classify the next);
- ``own_examples``: ``--examples`` with five 0.5 s clips per class drawn from the half's
  own labels (what a user labelling a few clips of every session gets);
- ``velocity_rule``: BehaviorDEPOT's published velocity freezing rule (32 px/cm);
- ``majority``: every frame ``other``.

Scores: F1 of freezing and macro-F1 (freezing, other). Run::

    .venv/bin/python benchmarks/classify_examples_from.py [--root ../shared/data] [--json OUT]
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray
from sklearn.metrics import f1_score

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ethoagent.config import load_settings
from ethoagent.graphs.classify import PIPELINE
from ethoagent.graphs.kit.run import run_pipeline
from ethoagent.io.keypoints import read_keypoints, write_keypoints
from ethoagent.model.pose import PoseData
from ethoagent.tools.classify import freezing_by_velocity

FPS = 50.0
PX_PER_CM = 32.0
CLIP = round(0.5 * FPS)


def _half(pose: PoseData, frz: NDArray[np.int64], lo: int, hi: int, work: Path, name: str) -> Path:
    part = PoseData(
        points=pose.points[lo:hi],
        confidence=pose.confidence[lo:hi],
        keypoints=pose.keypoints,
        individuals=pose.individuals,
        fps=FPS,
        unit=pose.unit,
    )
    path = write_keypoints(part, work / f"{name}.nc", format="netcdf")
    with (work / f"{name}_labels.csv").open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["frame", "freezing"])
        w.writerows(enumerate(frz[lo:hi].tolist()))
    return path


def _own_examples(truth: NDArray[np.int64], work: Path, name: str, seed: int) -> Path:
    """Five 0.5 s clips per class from different bouts of the half's labels."""
    rng = np.random.default_rng(seed)
    rows = ["frame,label"]
    for value, label in ((1, "freezing"), (0, "other")):
        idx = np.flatnonzero(truth == value)
        bouts = np.split(idx, np.flatnonzero(np.diff(idx) > 1) + 1)
        for i in rng.permutation(len(bouts))[:5]:
            rows += [f"{f},{label}" for f in bouts[i][:CLIP]]
    path = work / f"{name}_own_examples.csv"
    path.write_text("\n".join(rows) + "\n")
    return path


def _classify(keypoints: Path, work: Path, tag: str, **sources: Any) -> NDArray[np.int64]:
    settings = load_settings(None, {"runs_dir": work / "runs"})
    inputs = PIPELINE.parse_inputs(
        {"keypoints": keypoints, "classes": ["freezing", "other"], **sources}
    )
    out = work / f"out_{tag}"
    run_pipeline(PIPELINE, inputs, PIPELINE.parse_options({}), settings, out=out)
    with (out / "frames.csv").open() as fh:
        return np.array([r["label"] == "freezing" for r in csv.DictReader(fh)], dtype=np.int64)


def _velocity_rule(pose: PoseData, lo: int, hi: int) -> NDArray[np.int64]:
    names = [k.lower().replace(" ", "_").replace("-", "_") for k in pose.keypoints]
    pts = pose.points[lo:hi, 0, :, :2]

    def mean_of(*parts: str) -> NDArray[np.float64]:
        idx = [names.index(p) for p in parts]
        with np.errstate(all="ignore"):
            return np.asarray(np.nanmean(pts[:, idx], axis=1), dtype=np.float64)

    frz = freezing_by_velocity(
        mean_of("nose", "left_ear", "right_ear"),
        mean_of("left_leg", "right_leg", "tailbase"),
        mean_of("nose"),
        mean_of("left_ear", "right_ear"),
        fps=FPS,
        units_per_cm=PX_PER_CM,
    )
    return frz.astype(np.int64)


def _scores(pred: NDArray[np.int64], truth: NDArray[np.int64]) -> dict[str, float]:
    return {
        "f1_freezing": round(float(f1_score(truth, pred, pos_label=1, zero_division=0)), 3),
        "macro_f1": round(float(f1_score(truth, pred, average="macro", zero_division=0)), 3),
    }


def main() -> None:
    """Classify each half of demo1 four ways and print the scores side by side."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--root", type=Path, default=None, help="shared data folder")
    ap.add_argument("--json", type=Path, default=None, help="write the results here")
    args = ap.parse_args()
    root = args.root or Path(__file__).resolve().parents[2] / "shared" / "data"
    demo = root / "behaviordepot_freezing" / "demo" / "demo1"
    pose = read_keypoints(demo / "demo1_tracking.csv", fps=FPS)
    with (demo / "demo1_human_freezing_framewise.csv").open() as fh:
        frz = np.array([int(r["freezing"]) for r in csv.DictReader(fh)], dtype=np.int64)
    n = min(pose.frames, frz.size)
    halves = {"A": (0, n // 2), "B": (n // 2, n)}
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        files = {h: _half(pose, frz, lo, hi, work, h) for h, (lo, hi) in halves.items()}
        for h, (lo, hi) in halves.items():
            other = "B" if h == "A" else "A"
            table = work / f"table_{h}.csv"
            table.write_text(f"keypoints,labels,fps\n{other}.nc,{other}_labels.csv,{FPS:g}\n")
            truth = frz[lo:hi]
            preds = {
                "examples_from_other": _classify(files[h], work, f"{h}_from", examples_from=table),
                "own_examples": _classify(
                    files[h], work, f"{h}_own", examples=_own_examples(truth, work, h, seed=0)
                ),
                "velocity_rule": _velocity_rule(pose, lo, hi),
                "majority": np.zeros_like(truth),
            }
            results[f"half {h} (frames {lo}-{hi - 1})"] = {
                k: _scores(p, truth) for k, p in preds.items()
            }
    for half, rows in results.items():
        print(half)
        for k, v in rows.items():
            print(f"  {k:<22} F1 freezing {v['f1_freezing']:.3f}  macro-F1 {v['macro_f1']:.3f}")
    if args.json is not None:
        args.json.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
