"""Classify examples transferred across frame rates and pixel scales, on real labels.

The transferred classify runs of the demo (BehaviorDEPOT demo4-6, the SLEAP and
open-field sessions) have no labels, so their accuracy cannot be measured. The labelled
real sessions here are BehaviorDEPOT demo1 (one mouse, 6,000 frames at 50 fps, 32 px/cm,
frame-wise human freezing) and ethome (two mice, ``interact``); freezing is the behaviour
whose transfer this measures. demo1 is cut into two recordings of 60 s, A (frames
0-2999) and B (3000-5999), and each is also written as if filmed by another rig: every
second frame (25 fps) and/or the coordinates scaled by ``SCALE`` about a shifted origin
(16 px/cm instead of 32). Examples from one recording classify another through
``classify --examples-from``, so a recording at 50 fps and 32 px/cm labels one at 25 fps
and 16 px/cm: the test of classify's own-fps and own-body-size normalisation.

Every target is scored on its own frames against the human labels, beside:

- ``own_examples``: ``--examples`` with five 0.5 s clips per class from the target's own
  labels (examples from the same session);
- ``velocity_rule``: BehaviorDEPOT's published velocity freezing rule with the target's
  true fps and px/cm (the rule a user writes who measured the new rig);
- ``velocity_rule_old_px_per_cm``: the same rule with the source rig's 32 px/cm (a user
  who did not re-measure), only where the scale changed;
- ``majority``: every frame ``other``.

classify's detector chose a rule alone on every run here (BehaviorDEPOT's published
one; the fitted model did not beat it by more than the cross-validation noise), so the
two classify rows share the rule's labels. The learned part is measured on its own:
``model_only ...`` is the detector's fitted logistic regression
(``tools.detectors.fit_detector``, rules weight 0, no smoothing) trained on the source's
(or the target's own five clips per class) features, each at its own fps and body
length, and applied to the target's.

Scores: F1 of freezing and macro-F1 (freezing, other). Run::

    .venv/bin/python benchmarks/classify_transfer.py [--root ../shared/data] [--json OUT]
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import tempfile
from dataclasses import dataclass, replace
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
from ethoagent.model.ethogram import Example
from ethoagent.model.pose import PoseData
from ethoagent.tools.classify import freezing_by_velocity
from ethoagent.tools.detectors import DetectorFeatures, detector_features, fit_detector

CLASSES = ("freezing", "other")

FPS = 50.0
PX_PER_CM = 32.0
SCALE = 0.5
"""Pixel scale of the simulated second rig (a camera twice as far: 16 px/cm)."""
OFFSET = np.array([40.0, 25.0])
"""Where the second rig's image origin lies, px (a camera also placed elsewhere)."""


@dataclass(frozen=True)
class Recording:
    """One recording of demo1: a frame range, written at a frame rate and pixel scale.

    Attributes:
        name: a short name, e.g. ``"B@25fps,x0.5"``.
        pose: the keypoints as that rig would give them.
        truth: ``(frames,)`` int64 human freezing labels of those frames (1 = freezing).
        fps: frame rate, Hz.
        px_per_cm: pixels per cm.
    """

    name: str
    pose: PoseData
    truth: NDArray[np.int64]
    fps: float
    px_per_cm: float


def resample(
    pose: PoseData, labels: NDArray[np.int64], lo: int, hi: int, step: int, scale: float
) -> tuple[PoseData, NDArray[np.int64]]:
    """Frames ``lo:hi`` as another rig would give them: every ``step``-th frame, rescaled.

    Args:
        pose: the recording, ``points`` ``(frames, individuals, keypoints, 2)`` px.
        labels: ``(frames,)`` int64 labels of every frame.
        lo: first frame.
        hi: end frame (exclusive).
        step: keep every ``step``-th frame (2 turns 50 fps into 25).
        scale: pixel scale (0.5 = half as many px per cm), about the shifted origin
            ``OFFSET``.

    Returns:
        The resampled keypoints (fps ``pose.fps / step``) and their labels.
    """
    sel = slice(lo, hi, step)
    points = pose.points[sel] * scale + (OFFSET if scale != 1.0 else 0.0)
    part = PoseData(
        points=points,
        confidence=pose.confidence[sel],
        keypoints=pose.keypoints,
        individuals=pose.individuals,
        fps=(pose.fps or FPS) / step,
        unit=pose.unit,
    )
    return part, labels[sel]


def _write(rec: Recording, work: Path) -> tuple[Path, Path]:
    tag = rec.name.replace("@", "_").replace(",", "_")
    path = write_keypoints(rec.pose, work / f"{tag}.nc", format="netcdf")
    labels = work / f"{tag}_labels.csv"
    with labels.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["frame", "freezing"])
        w.writerows(enumerate(rec.truth.tolist()))
    return path, labels


def _clips(rec: Recording, per_class: int | None, seed: int = 0) -> list[Example]:
    """Labelled clips: every bout (``per_class`` None), or five 0.5 s clips per class."""
    rng = np.random.default_rng(seed)
    out = []
    for value, label in ((1, "freezing"), (0, "other")):
        idx = np.flatnonzero(rec.truth == value)
        bouts = np.split(idx, np.flatnonzero(np.diff(idx) > 1) + 1)
        if per_class is None:
            out += [
                Example(animal=0, start=int(b[0]), stop=int(b[-1]) + 1, label=label) for b in bouts
            ]
            continue
        clip = round(0.5 * rec.fps)
        for i in rng.permutation(len(bouts))[:per_class]:
            b = bouts[i][:clip]
            out.append(Example(animal=0, start=int(b[0]), stop=int(b[-1]) + 1, label=label))
    return out


def _own_examples(rec: Recording, work: Path) -> Path:
    """Five 0.5 s clips per class from different bouts of the recording's own labels."""
    rows = ["frame,label"] + [
        f"{f},{e.label}" for e in _clips(rec, 5) for f in range(e.start, e.stop)
    ]
    path = work / f"own_{rec.name.replace('@', '_').replace(',', '_')}.csv"
    path.write_text("\n".join(rows) + "\n")
    return path


def _features(rec: Recording) -> DetectorFeatures:
    """The detector's features of a recording, at its own fps and body length."""
    return detector_features(rec.pose.points, fps=rec.fps, keypoints=rec.pose.keypoints)


def _model_only(source: Recording, clips: list[Example], target: Recording) -> NDArray[np.int64]:
    """Freezing (1) by the detector's fitted model alone, trained on ``clips`` of ``source``."""
    fitted = fit_detector(_features(source), clips, CLASSES)
    model = replace(fitted, model_kind="logreg", weight=0.0, dwell_s=0.0)
    labels = np.asarray(model.predict(_features(target)).labels[:, 0])
    return np.asarray(labels == CLASSES.index("freezing"), dtype=np.int64)


def _classify(
    keypoints: Path, work: Path, tag: str, **sources: Any
) -> tuple[NDArray[np.int64], str]:
    """Per-frame freezing (1) of a classify run, and the detector its examples chose."""
    settings = load_settings(None, {"runs_dir": work / "runs"})
    inputs = PIPELINE.parse_inputs({"keypoints": keypoints, "classes": list(CLASSES), **sources})
    out = work / f"out_{tag}"
    run_pipeline(PIPELINE, inputs, PIPELINE.parse_options({}), settings, out=out)
    with (out / "frames.csv").open() as fh:
        pred = np.array([r["label"] == "freezing" for r in csv.DictReader(fh)], dtype=np.int64)
    chosen = json.loads((out / "summary.json").read_text())["detector"].get("chosen")
    return pred, str(chosen)


def _velocity_rule(rec: Recording, px_per_cm: float) -> NDArray[np.int64]:
    names = [k.lower().replace(" ", "_").replace("-", "_") for k in rec.pose.keypoints]
    pts = rec.pose.points[:, 0, :, :2]

    def mean_of(*parts: str) -> NDArray[np.float64]:
        with np.errstate(all="ignore"):
            got = np.nanmean(pts[:, [names.index(p) for p in parts]], axis=1)
        return np.asarray(got, dtype=np.float64)

    frz = freezing_by_velocity(
        mean_of("nose", "left_ear", "right_ear"),
        mean_of("left_leg", "right_leg", "tailbase"),
        mean_of("nose"),
        mean_of("left_ear", "right_ear"),
        fps=rec.fps,
        units_per_cm=px_per_cm,
    )
    return frz.astype(np.int64)


def _scores(pred: NDArray[np.int64], truth: NDArray[np.int64]) -> dict[str, float]:
    return {
        "f1_freezing": round(float(f1_score(truth, pred, pos_label=1, zero_division=0)), 3),
        "macro_f1": round(float(f1_score(truth, pred, average="macro", zero_division=0)), 3),
    }


def recordings(root: Path) -> dict[str, Recording]:
    """demo1's two halves at 50 fps and 32 px/cm, and as the second rig would film them."""
    demo = root / "behaviordepot_freezing" / "demo" / "demo1"
    pose = read_keypoints(demo / "demo1_tracking.csv", fps=FPS)
    with (demo / "demo1_human_freezing_framewise.csv").open() as fh:
        frz = np.array([int(r["freezing"]) for r in csv.DictReader(fh)], dtype=np.int64)
    n = min(pose.frames, frz.size)
    out: dict[str, Recording] = {}
    for half, (lo, hi) in (("A", (0, n // 2)), ("B", (n // 2, n))):
        for step, scale in ((1, 1.0), (2, 1.0), (1, SCALE), (2, SCALE)):
            name = f"{half}@{FPS / step:g}fps" + (f",x{scale:g}" if scale != 1.0 else "")
            part, truth = resample(pose, frz, lo, hi, step, scale)
            out[name] = Recording(name, part, truth, FPS / step, PX_PER_CM * scale)
    return out


PAIRS: tuple[tuple[str, str], ...] = (
    ("A@50fps", "B@50fps"),
    ("A@50fps", "B@25fps"),
    ("A@50fps", "B@50fps,x0.5"),
    ("A@50fps", "B@25fps,x0.5"),
    ("B@50fps", "A@50fps"),
    ("B@25fps,x0.5", "A@50fps"),
)
"""(examples from, classified) pairs: the same rig, then fps, scale and both changed; then
the other way round, from the same rig and from 25 fps at half the scale."""


def run(root: Path) -> dict[str, dict[str, dict[str, Any]]]:
    """Score every pair of ``PAIRS`` and its baselines; target label -> method -> scores.

    A classify method's scores also name the ``detector`` its examples chose (``rule``:
    the calibrated immobility rule won the cross-validation on the example clips,
    ``model``: the classifier fitted on them).
    """
    recs = recordings(root)
    results: dict[str, dict[str, dict[str, Any]]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        files = {name: _write(recs[name], work) for pair in PAIRS for name in pair}
        for i, (source, target) in enumerate(PAIRS):
            rec = recs[target]
            table = work / f"table_{i}.csv"
            src_kp, src_labels = files[source]
            table.write_text(
                f"keypoints,labels,fps\n{src_kp.name},{src_labels.name},{recs[source].fps:g}\n"
            )
            transfer = _classify(files[target][0], work, f"{i}_from", examples_from=table)
            own = _classify(files[target][0], work, f"{i}_own", examples=_own_examples(rec, work))
            chosen = {f"examples_from {source}": transfer[1], "own_examples": own[1]}
            preds = {
                f"examples_from {source}": transfer[0],
                "own_examples": own[0],
                f"model_only from {source}": _model_only(
                    recs[source], _clips(recs[source], None), rec
                ),
                "model_only own_examples": _model_only(rec, _clips(rec, 5), rec),
                "velocity_rule": _velocity_rule(rec, rec.px_per_cm),
                "majority": np.zeros_like(rec.truth),
            }
            if rec.px_per_cm != recs[source].px_per_cm:
                preds["velocity_rule_old_px_per_cm"] = _velocity_rule(rec, recs[source].px_per_cm)
            label = f"{target} ({rec.truth.size} frames, {rec.px_per_cm:g} px/cm) from {source}"
            results[label] = {
                k: {**_scores(p, rec.truth), "detector": chosen.get(k, "-")}
                for k, p in preds.items()
            }
            print(f"scored {label}", file=sys.stderr, flush=True)
    return results


def main() -> None:
    """Classify each target of ``PAIRS`` with transferred examples and print the table."""
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    ap.add_argument("--root", type=Path, default=None, help="shared data folder")
    ap.add_argument("--json", type=Path, default=None, help="write the results here")
    args = ap.parse_args()
    root = args.root or Path(__file__).resolve().parents[2] / "shared" / "data"
    results = run(root)
    print("| classified | method | detector chosen | F1 freezing | macro-F1 |")
    print("|---|---|---|---|---|")
    for target, rows in results.items():
        for method, v in rows.items():
            print(
                f"| {target} | {method} | {v['detector']} | {v['f1_freezing']:.3f} "
                f"| {v['macro_f1']:.3f} |"
            )
    if args.json is not None:
        args.json.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
