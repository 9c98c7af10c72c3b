"""Evaluation suite ``classify``: in-context behaviour classification against labels.

Data sets (per-frame ground truth; a few labelled example clips are drawn from the truth
of the same session, as a user labels a few frames of their own video, and the frames of
those clips are left out of every score):

- ``synthetic``: one simulated mouse (``ethoagent.sim.synthetic.simulate_world``), 3 min
  at 30 fps (1 min with ``quick``), 3D keypoints (mm), no video (frames drawn from the
  keypoints). The simulator's labels map onto the fear label set: ``still`` -> freezing,
  ``walking`` -> locomotion, ``darting`` -> darting (rare: its share of frames is reported
  and checked to lie in 2-5 %), ``rearing``, ``grooming``, ``turning`` -> other.
- ``behaviordepot_demo1``: BehaviorDEPOT's demo1 (DeepLabCut 2D, 50 fps, 6,000 frames;
  the first minute with ``quick``); label set freezing / other from the human freezing
  vector. BehaviorDEPOT's own classifier output (``Behavior.mat``) is scored too, and the
  agreement between its four human raters on demo7 (no keypoints) is the ceiling.
- ``ethome_interact`` (full run only): ethome's two-mouse session (DeepLabCut 2D, 30 fps,
  5,700 frames), label set interact / other from the human ``interact`` bouts, the same
  label for both mice; up to 3 + 3 example bouts (at most 3 s each) of the adult only,
  both mice scored (the juvenile has no example).

Methods, all in the same run:

- ``classify``: the classify graph with its defaults (the classical detector answers
  every window but the ``model_budget`` share it is least sure of, which go to the
  model with kinematics in the prompt, definitions, in-context examples, preprocessing,
  HMM smoothing);
- ``in_context``: the same graph image-only, as in the seed paper: the model asked for
  every window (``model_budget`` 1), no keypoint summary; and its ablations ``no_definitions``,
  ``no_examples``, ``no_preprocessing`` (one help switched off each);
- baselines: ``majority`` (the truth's most frequent class: an oracle constant),
  ``velocity_threshold`` (BehaviorDEPOT's velocity freezing rule with its published
  thresholds; other frames get the most frequent non-freezing class), ``knn_features``
  (3-nearest neighbours on per-frame keypoint features of the example frames) and
  ``logreg_keypoints`` (logistic regression on the same), ``nose_distance`` (where the
  classes include interact: interact where the nose of an animal is within half its body
  length of any keypoint of another animal);
- ``classical_detector``: ``tools.detectors`` fitted on the example frames: multi-scale
  kinematic features, a class-balanced logistic regression, rules from the class names
  calibrated on the examples, mixed and smoothed as cross-validation on the example clips
  chooses (never below the rules there);
- the F1-vs-model-calls curve (``model_call_curve``): the detector's labels with the
  windows sent to a scripted model that is right on 90 % of them, sent by the detector's
  uncertainty (as classify does) or uniformly at random, at the budgets
  ``CURVE_BUDGETS``.

Offline the "model" is the registered kNN solver, so the ablations change what that
solver can use: without definitions it loses the definitions' motion prototypes; without
examples it has only those prototypes (zero-shot); without preprocessing it sees one raw
frame of the whole arena (no crop, no contrast, no motion). Scores: precision, recall
and F1 per class, macro-F1 over the classes present, accuracy, a confusion matrix.
"""

from __future__ import annotations

import asyncio
import math
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ethoagent.errors import InputError
from ethoagent.evals.datasets import load_dataset, shared_data_dir
from ethoagent.evals.harness import SuiteOptions, SuiteResult, register_suite
from ethoagent.figures import new_figure, png_bytes
from ethoagent.graphs.classify.graph import GRAPH_NAME, run_classify
from ethoagent.graphs.classify.inputs import resolve_classify_inputs
from ethoagent.graphs.classify.nodes import model_windows
from ethoagent.graphs.classify.options import ClassifyOptions
from ethoagent.graphs.classify.report import frame_labels
from ethoagent.graphs.kit.runtime import offline_runtime
from ethoagent.io.keypoints import write_keypoints
from ethoagent.io.labels import read_labels
from ethoagent.model.ethogram import Example
from ethoagent.model.pose import PoseData
from ethoagent.sim.behaviour import INDIVIDUAL_BEHAVIOURS
from ethoagent.sim.synthetic import KEYPOINTS, simulate_world
from ethoagent.tools.classify import (
    DEFAULT_CLASSES,
    confusion_matrix,
    freezing_by_velocity,
    per_class_scores,
    plan_windows,
)
from ethoagent.tools.detectors import (
    DetectorPrediction,
    detector_features,
    fit_detector,
    window_uncertainty,
)
from ethoagent.tools.features import compute_features, infer_layout

__all__ = [
    "ClassifyCase",
    "classify_cases",
    "classify_suite",
    "draw_examples",
    "model_call_curve",
    "score",
]

SIM_TO_CLASS: dict[str, str] = {
    "still": "freezing",
    "walking": "locomotion",
    "darting": "darting",
    "rearing": "rearing",
    "grooming": "grooming",
    "turning": "other",
}
"""Simulator label -> class of the fear label set."""

ABLATIONS: dict[str, dict[str, Any]] = {
    "in_context": {},
    "no_definitions": {"use_definitions": False},
    "no_examples": {"use_examples": False},
    "no_preprocessing": {"preprocess": False},
}
_IMAGE_ONLY = {"kinematics_in_prompt": False, "model_budget": 1.0}
CLIPS_PER_CLASS = 5
CURVE_BUDGETS: tuple[float, ...] = (0.0, 0.05, 0.1, 0.2, 0.4)
"""Model budgets (share of windows) of the F1-vs-model-calls curve."""
SCRIPTED_CORRECT = 0.9
"""Share of windows the curve's scripted model answers correctly."""


@dataclass(frozen=True)
class ClassifyCase:
    """One data set of the eval.

    Attributes:
        keypoints_file: what the graph reads; pose: the same in memory.
        truth: ``(frames,)`` int64 class codes, the same for every scored animal.
        classes: the label set; examples: the labelled clips given to every method.
        units_per_cm: keypoint units per cm (velocity rule).
        animals: how many animals are scored (the first ``animals``).
    """

    name: str
    keypoints_file: Path
    pose: PoseData
    truth: NDArray[np.int64]
    classes: tuple[str, ...]
    examples: tuple[Example, ...]
    fps: float
    units_per_cm: float
    source: str
    animals: int = 1

    @property
    def scored(self) -> NDArray[np.bool_]:
        """Frames scored: all but the example clips'."""
        mask = np.ones(self.truth.size, dtype=bool)
        for e in self.examples:
            mask[e.start : e.stop] = False
        return mask


def draw_examples(
    truth: NDArray[np.int64],
    classes: tuple[str, ...],
    *,
    clip_frames: int,
    per_class: int,
    seed: int,
) -> list[Example]:
    """Up to ``per_class`` clips of ``clip_frames`` per class, drawn at random.

    Each clip comes from a different bout of the truth; every class present gets at least
    one.
    """
    rng = np.random.default_rng([seed, 0xC1A55])
    out: list[Example] = []
    for j, c in enumerate(classes):
        idx = np.flatnonzero(truth == j)
        if idx.size == 0:
            continue
        bouts = np.split(idx, np.flatnonzero(np.diff(idx) > 1) + 1)
        for b in (bouts[i] for i in rng.permutation(len(bouts))[:per_class]):
            s = int(b[0])
            out.append(
                Example(animal=0, start=s, stop=int(min(b[-1] + 1, s + clip_frames)), label=c)
            )
    return out


def _synthetic_case(work: Path, frames: int, seed: int) -> ClassifyCase:
    world = simulate_world(frames, seed=seed)
    pose = PoseData(
        points=world.points_3d,
        confidence=np.full(world.points_3d.shape[:3], np.nan),
        keypoints=KEYPOINTS,
        individuals=("mouse0",),
        fps=world.fps,
        unit="mm",
        source="ethoagent.sim.synthetic",
    )
    path = write_keypoints(pose, work / "synthetic.nc", format="netcdf")
    classes = DEFAULT_CLASSES
    truth = np.asarray(
        [
            classes.index(SIM_TO_CLASS[INDIVIDUAL_BEHAVIOURS[c]])
            for c in world.behaviour.labels[:, 0]
        ],
        dtype=np.int64,
    )
    ex = draw_examples(
        truth, classes, clip_frames=round(0.5 * world.fps), per_class=CLIPS_PER_CLASS, seed=seed
    )
    return ClassifyCase(
        name="synthetic",
        keypoints_file=path,
        pose=pose,
        truth=truth,
        classes=classes,
        examples=tuple(ex),
        fps=world.fps,
        units_per_cm=10.0,
        source=f"simulate_world(frames={frames}, animals=1, seed={seed}), 3D mm, no video",
    )


def _behaviordepot_case(root: Path, work: Path, quick: bool, seed: int) -> ClassifyCase:
    data = load_dataset("behaviordepot_freezing", root=root)
    pose = data.pose["demo1"]
    fps = 50.0
    frz = data.labels["demo1"][:, 0]
    frames = min(pose.frames, frz.size, round(60 * fps) if quick else pose.frames)
    pose = PoseData(
        points=pose.points[:frames],
        confidence=pose.confidence[:frames],
        keypoints=pose.keypoints,
        individuals=pose.individuals,
        fps=fps,
        unit=pose.unit,
        source=pose.source,
    )
    path = write_keypoints(pose, work / "behaviordepot_demo1.nc", format="netcdf")
    classes = ("freezing", "other")
    truth = np.where(frz[:frames] > 0, 0, 1).astype(np.int64)
    ex = draw_examples(
        truth, classes, clip_frames=round(0.5 * fps), per_class=CLIPS_PER_CLASS, seed=seed
    )
    return ClassifyCase(
        name="behaviordepot_demo1",
        keypoints_file=path,
        pose=pose,
        truth=truth,
        classes=classes,
        examples=tuple(ex),
        fps=fps,
        units_per_cm=32.0,
        source=f"BehaviorDEPOT demo1, DLC 2D px, {frames} frames at 50 fps, human freezing",
    )


def _ethome_case(root: Path, work: Path, seed: int) -> ClassifyCase:
    data = load_dataset("ethome_social_interact", root=root)
    (video, pose), *_ = data.pose.items()
    frames = min(pose.frames, data.labels[video].shape[0])
    pose = PoseData(
        points=pose.points[:frames],
        confidence=pose.confidence[:frames],
        keypoints=pose.keypoints,
        individuals=pose.individuals,
        fps=30.0,
        unit=pose.unit,
        source=pose.source,
    )
    path = write_keypoints(pose, work / "ethome_interact.nc", format="netcdf")
    classes = ("interact", "other")
    truth = np.where(data.labels[video][:frames, 0] > 0, 0, 1).astype(np.int64)
    ex = draw_examples(truth, classes, clip_frames=90, per_class=3, seed=seed)
    return ClassifyCase(
        name="ethome_interact",
        keypoints_file=path,
        pose=pose,
        truth=truth,
        classes=classes,
        examples=tuple(ex),
        fps=30.0,
        units_per_cm=float("nan"),
        source=f"ethome {video}, 2 mice (both scored, examples of the adult only), DLC 2D "
        f"px, {frames} frames at 30 fps, human interact",
        animals=pose.points.shape[1],
    )


def classify_cases(
    work: Path, *, quick: bool, seed: int, root: Path | None = None
) -> tuple[list[ClassifyCase], list[str]]:
    """The eval's data sets (synthetic keypoints written under ``work``) and skip notes.

    ethome's two-mouse session is in the full run only.
    """
    work.mkdir(parents=True, exist_ok=True)
    cases = [_synthetic_case(work, (1 if quick else 3) * 60 * 30, seed + 11)]
    notes: list[str] = []
    base = root if root is not None else shared_data_dir()
    try:
        cases.append(_behaviordepot_case(base, work, quick, seed))
    except InputError as exc:
        notes.append(f"behaviordepot_freezing skipped: {exc}")
    if not quick:
        try:
            cases.append(_ethome_case(base, work, seed))
        except InputError as exc:
            notes.append(f"ethome_social_interact skipped: {exc}")
    return cases, notes


# --------------------------------------------------------------------------- methods


def _graph(
    case: ClassifyCase, work: Path, name: str, overrides: dict[str, Any]
) -> tuple[NDArray[np.int64], dict[str, Any], float]:
    opts = ClassifyOptions(**overrides)
    inputs = resolve_classify_inputs(
        case.keypoints_file, list(case.examples), classes=case.classes, fps=case.fps, options=opts
    )
    rt = offline_runtime(work, GRAPH_NAME, f"{case.name}-{name}", inputs.model_dump())
    t0 = time.perf_counter()
    state = asyncio.run(run_classify(rt, inputs))
    wall = time.perf_counter() - t0
    labels, _, _ = frame_labels(rt, inputs)
    return labels[:, : case.animals], state, wall


def _keypoint_matrix(case: ClassifyCase) -> NDArray[np.float64]:
    """``(frames, animals, features)`` per-frame features, standardised over the session."""
    feats = compute_features(
        case.pose.points,
        fps=case.fps,
        keypoints=case.pose.keypoints,
        individuals=case.pose.individuals,
        layout=infer_layout(case.pose.keypoints),
        window_s=0.5,
    )
    x = feats.values[:, : case.animals]
    with np.errstate(all="ignore"):
        mu, sd = np.nanmean(x, axis=(0, 1)), np.nanstd(x, axis=(0, 1))
    z = (x - np.nan_to_num(mu)) / np.where(np.isfinite(sd) & (sd > 1e-9), sd, 1.0)
    out: NDArray[np.float64] = np.nan_to_num(z, nan=0.0, posinf=0.0, neginf=0.0)
    return out


def _example_rows(case: ClassifyCase) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """Frames and animals of the example clips."""
    frames = [np.arange(e.start, e.stop) for e in case.examples]
    animals = [np.full(e.stop - e.start, e.animal) for e in case.examples]
    return np.concatenate(frames), np.concatenate(animals)


def _fit_predict(case: ClassifyCase, kind: str) -> NDArray[np.int64]:
    """``(frames, animals)`` labels of a kNN / logistic regression fitted on the examples."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.neighbors import KNeighborsClassifier

    x = _keypoint_matrix(case)
    frames, animals = _example_rows(case)
    model: Any = (
        KNeighborsClassifier(n_neighbors=3)
        if kind == "knn"
        else LogisticRegression(max_iter=2000, class_weight="balanced")
    )
    model.fit(x[frames, animals], case.truth[frames])
    pred = model.predict(x.reshape(-1, x.shape[-1])).reshape(x.shape[:2])
    return np.asarray(pred, dtype=np.int64)


def _knn_baseline(case: ClassifyCase) -> NDArray[np.int64]:
    return _fit_predict(case, "knn")


def _logreg_baseline(case: ClassifyCase) -> NDArray[np.int64]:
    return _fit_predict(case, "logreg")


def _velocity_rule(case: ClassifyCase) -> NDArray[np.int64]:
    names = [k.lower().replace(" ", "_").replace("-", "_") for k in case.pose.keypoints]
    pts = case.pose.points[:, 0, :, :2]

    def mean_of(*parts: str) -> NDArray[np.float64]:
        idx = [names.index(p) for p in parts if p in names]
        with np.errstate(all="ignore"):
            return np.asarray(np.nanmean(pts[:, idx], axis=1), dtype=np.float64)

    if "nose" in names:
        head = mean_of("nose", "left_ear", "right_ear")
        rear = mean_of("left_leg", "right_leg", "tailbase")
        nose, ears = mean_of("nose"), mean_of("left_ear", "right_ear")
    else:  # the synthetic mouse: no nose, the front of the back stands in for it
        head = mean_of("ear_left", "ear_right")
        rear = mean_of("hindpaw_left", "hindpaw_right", "tail_base")
        nose, ears = head, mean_of("back_front")
    frz = freezing_by_velocity(head, rear, nose, ears, fps=case.fps, units_per_cm=case.units_per_cm)
    f = case.classes.index("freezing")
    rest = [j for j in range(len(case.classes)) if j != f]
    other = max(rest, key=lambda j: int((case.truth == j).sum()))
    return np.where(frz, f, other).astype(np.int64)


def _nose_distance_rule(case: ClassifyCase) -> NDArray[np.int64]:
    """``(frames, animals)``: interact where a nose is near another animal, else other.

    Near: within half the animal's body length (median nose-to-tail-base distance) of
    any keypoint of another animal.
    """
    feats = compute_features(
        case.pose.points,
        fps=case.fps,
        keypoints=case.pose.keypoints,
        layout=infer_layout(case.pose.keypoints),
        window_s=0,
    )
    pts = case.pose.points[..., :2]
    head = [case.pose.keypoints.index(k) for k in feats.layout.head]
    near = np.zeros(pts.shape[:2], dtype=bool)
    with np.errstate(all="ignore"):
        for a in range(pts.shape[1]):
            nose = pts[:, a, head].mean(axis=1)
            for b in range(pts.shape[1]):
                if b != a:
                    d = np.nanmin(np.linalg.norm(pts[:, b] - nose[:, None], axis=-1), axis=1)
                    near[:, a] |= d < 0.5 * feats.body_length[a]
    i = case.classes.index("interact")
    other = next(j for j in range(len(case.classes)) if j != i)
    return np.where(near[:, : case.animals], i, other).astype(np.int64)


def _classical_detector(case: ClassifyCase) -> tuple[DetectorPrediction, dict[str, Any]]:
    """The prediction of ``tools.detectors`` fitted on the examples, and its CV report."""
    feats = detector_features(
        case.pose.points,
        fps=case.fps,
        keypoints=case.pose.keypoints,
        individuals=case.pose.individuals,
    )
    det = fit_detector(feats, case.examples, case.classes)
    return det.predict(feats), det.cv_report


def model_call_curve(
    case: ClassifyCase, pred: DetectorPrediction, *, seed: int = 0
) -> list[dict[str, Any]]:
    """Macro-F1 against model calls, windows sent by uncertainty vs uniformly at random.

    The labels are the detector's, except in the windows sent to a scripted model, which
    take its answer: the window's most frequent true class on ``SCRIPTED_CORRECT`` of the
    windows (drawn once, so both ways of sending face the same model), another class on
    the rest. ``gated`` sends the most uncertain windows (``graphs.classify.nodes.
    model_windows``, as classify does at ``model_budget``); ``uniform`` as many windows
    drawn at random. Windows of ``ClassifyOptions().window_s``; one model call per window.

    Returns:
        One row per budget of ``CURVE_BUDGETS``: ``budget``, ``model_calls``,
        ``gated_macro_f1``, ``uniform_macro_f1``.
    """
    rng = np.random.default_rng(seed)
    step = max(1, round(ClassifyOptions().window_s * case.fps))
    spans = plan_windows(case.truth.size, step)
    per = window_uncertainty(pred.uncertainty[:, : case.animals], spans)
    queries = [(a, s, e) for a in range(case.animals) for s, e in spans]
    u = np.asarray([per[i % len(spans), a] for i, (a, _, _) in enumerate(queries)])
    n_c = len(case.classes)
    truth = [int(np.bincount(case.truth[s:e], minlength=n_c).argmax()) for _, s, e in queries]
    correct = rng.random(len(queries)) < SCRIPTED_CORRECT
    wrong = rng.integers(1, max(2, n_c), len(queries))
    answer = [t if ok else (t + w) % n_c for t, ok, w in zip(truth, correct, wrong, strict=True)]

    def f1(sent: NDArray[np.int64]) -> float:
        lab = pred.labels[:, : case.animals].copy()
        for i in sent:
            a, s, e = queries[i]
            lab[s:e, a] = answer[i]
        return round(float(score(lab, case)["macro_f1"]), 4)

    rows = []
    for b in CURVE_BUDGETS:
        gated = np.flatnonzero(model_windows(u, b))
        uniform = rng.choice(len(queries), gated.size, replace=False)
        rows.append(
            {
                "budget": b,
                "model_calls": int(gated.size),
                "gated_macro_f1": f1(gated),
                "uniform_macro_f1": f1(uniform),
            }
        )
    return rows


def _curve_figure(name: str, rows: list[dict[str, Any]]) -> bytes:
    fig, ax = new_figure(4.5, 3.2)
    calls = [r["model_calls"] for r in rows]
    ax.plot(calls, [r["gated_macro_f1"] for r in rows], "o-", label="most uncertain windows")
    ax.plot(calls, [r["uniform_macro_f1"] for r in rows], "s--", label="windows at random")
    ax.set_xlabel("model calls (windows sent)")
    ax.set_ylabel("macro-F1")
    ax.set_title(f"{name}: scripted model right on {SCRIPTED_CORRECT:.0%} of windows")
    ax.legend(frameon=False, fontsize=8)
    return png_bytes(fig)


def _behaviordepot_output(root: Path, frames: int) -> NDArray[np.int64] | None:
    path = root / "demo" / "demo1" / "demo1_video.avi_analyzed" / "Behavior.mat"
    if not path.is_file():
        return None
    vec = read_labels(path, classes=("freezing",), unknown="ignore").values[:frames, 0]
    return np.where(vec > 0, 0, 1).astype(np.int64)


def _inter_rater(root: Path) -> list[dict[str, Any]]:
    """Pairwise agreement of demo7's four raters: freezing F1 and 2-class macro-F1.

    Args:
        root: the shared data folder (holding ``behaviordepot_freezing``).
    """
    data = load_dataset("behaviordepot_freezing", root=root)
    if "demo7" not in data.labels:
        return []
    lab = data.labels["demo7"]
    cols = data.label_columns["demo7"]
    rows = []
    for i in range(len(cols)):
        for j in range(i + 1, len(cols)):
            a = np.where(lab[:, i] > 0, 0, 1)
            b = np.where(lab[:, j] > 0, 0, 1)
            s = per_class_scores(a, b, ("freezing", "other"))
            rows.append(
                {
                    "pair": f"{cols[i]} vs {cols[j]}",
                    "freezing_f1": float(s["per_class"]["freezing"]["f1"]),
                    "macro_f1": float(s["macro_f1"]),
                }
            )
    return rows


def _scored(
    pred: NDArray[np.int64], case: ClassifyCase
) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """Predictions and truth on the scored frames of every scored animal, flattened.

    ``pred`` is ``(frames,)`` (the first animal) or ``(frames, animals)``.
    """
    p = pred.reshape(pred.shape[0], -1)[:, : case.animals][case.scored]
    t = np.repeat(case.truth[case.scored, None], p.shape[1], axis=1)
    return p.ravel(), t.ravel()


def score(pred: NDArray[np.int64], case: ClassifyCase) -> dict[str, Any]:
    """Per-class scores of ``pred`` on the scored frames of the scored animals.

    ``pred`` is ``(frames,)`` (the first animal) or ``(frames, animals)``.
    """
    p, t = _scored(pred, case)
    return per_class_scores(p, t, case.classes)


# --------------------------------------------------------------------------- suite


@register_suite(
    "classify",
    "In-context behaviour classification (fear label set) on a synthetic session with rare "
    "darting and on BehaviorDEPOT demo1 freezing: per-class precision/recall/F1, macro-F1, "
    "confusion matrices; ablations without definitions / examples / preprocessing; "
    "baselines: majority, BehaviorDEPOT's velocity rule, kNN and logistic regression on "
    "keypoint features; BehaviorDEPOT's own output and the demo7 inter-rater ceiling; "
    "the classical detector (tools.detectors); ethome two-mouse interact in the full run.",
)
def classify_suite(options: SuiteOptions) -> SuiteResult:
    """The classify eval: per-class F1 on a synthetic session and BehaviorDEPOT's demo."""
    rows: list[dict[str, Any]] = []
    metrics: dict[str, Any] = {}
    notes: list[str] = []
    figures: dict[str, bytes] = {}
    all_classes = [*DEFAULT_CLASSES, "interact"]
    root = shared_data_dir()
    with tempfile.TemporaryDirectory(prefix="ethoagent-classify-eval-") as tmp:
        work = Path(tmp)
        cases, skipped = classify_cases(work / "data", quick=options.quick, seed=options.seed)
        notes += skipped
        for case in cases:
            preds, report = _case_predictions(case, work / "runs", root)
            _detector_metrics(metrics, case, report)
            for method, (pred, st, wall_s) in preds.items():
                s = score(pred, case)
                per = s["per_class"]
                row: dict[str, Any] = {
                    "dataset": case.name,
                    "method": method,
                    "macro_f1": round(float(s["macro_f1"]), 4),
                    "accuracy": round(float(s["accuracy"]), 4),
                }
                for c in all_classes:
                    f1 = per[c]["f1"] if c in per else None
                    row[f"f1_{c}"] = None if f1 is None or math.isnan(f1) else round(float(f1), 4)
                row["model_calls"] = None if st is None else st.get("model_calls")
                row["calls_saved"] = None if st is None else st.get("routes", {}).get("detector", 0)
                row["wall_s"] = None if wall_s is None else round(wall_s, 2)
                rows.append(row)
                metrics[f"{case.name}.{method}.macro_f1"] = row["macro_f1"]
                metrics[f"{case.name}.{method}.precision/recall"] = ", ".join(
                    f"{c} {d['precision']:.2f}/{d['recall']:.2f}" for c, d in per.items()
                )
            figures[f"confusion_{case.name}"] = _confusion_figure(preds["classify"][0], case)
            figures[f"model_calls_{case.name}"] = _curve_figure(
                case.name, report["model_call_curve"]
            )
            counts = np.bincount(case.truth, minlength=len(case.classes)) / case.truth.size
            metrics[f"{case.name}.class_shares"] = ", ".join(
                f"{c} {v:.3f}" for c, v in zip(case.classes, counts, strict=True)
            )
            metrics[f"{case.name}.example_clips"] = len(case.examples)
            metrics[f"{case.name}.scored_frames"] = int(case.scored.sum())
            metrics[f"{case.name}.classify_beats_majority"] = (
                metrics[f"{case.name}.classify.macro_f1"]
                > metrics[f"{case.name}.majority.macro_f1"]
            )
            if case.name == "synthetic":
                dart = float(counts[case.classes.index("darting")])
                metrics["synthetic.darting_share_in_2_5_percent"] = 0.02 <= dart <= 0.05
            notes.append(f"{case.name}: {case.source}; classes {', '.join(case.classes)}.")
        if not options.quick:
            try:
                pairs = _inter_rater(root)
            except InputError as exc:
                pairs = []
                notes.append(f"demo7 inter-rater ceiling skipped: {exc}")
            if pairs:
                f1s = [p["freezing_f1"] for p in pairs]
                macro = [p["macro_f1"] for p in pairs]
                metrics["behaviordepot_demo7.inter_rater_freezing_f1_mean"] = round(
                    float(np.mean(f1s)), 4
                )
                metrics["behaviordepot_demo7.inter_rater_freezing_f1_range"] = [
                    round(min(f1s), 4),
                    round(max(f1s), 4),
                ]
                metrics["behaviordepot_demo7.inter_rater_macro_f1_mean"] = round(
                    float(np.mean(macro)), 4
                )
                metrics["behaviordepot_demo7.inter_rater_pairs"] = ", ".join(
                    f"{p['pair']} {p['freezing_f1']:.3f}" for p in pairs
                )
    notes += [
        "Backend offline: the classify prompt is answered by the registered kNN solver "
        "(distance to each class's in-context examples over image + keypoint features, plus "
        "prototypes parsed from the definitions), not by a VLM.",
        "classify answers with the classical detector where it is sure and sends the "
        "most uncertain model_budget share of the windows to the model (default "
        "0.05 with an endpoint, 0 offline: here every window keeps the detector's answer).",
        "in_context and its ablations are image-only as in the seed paper: "
        "no keypoint summary in the prompt, the model asked for every window. With the "
        "offline solver the 'no_definitions' ablation can only remove what that solver uses "
        "from the definitions (motion prototypes parsed from their keywords).",
        "Example clips (5 per class, 0.5 s each, from different bouts) are drawn from the "
        "same session's labels; their frames are left out of every score.",
        "majority = the most frequent class of the scored truth (an oracle constant); "
        "velocity_threshold = BehaviorDEPOT's freezing rule (0.52 cm/s, 12 deg/s, window 32, "
        "count 10, min 0.9 s; a moving average of 14 frames instead of LOWESS), other frames "
        "get the most frequent non-freezing class.",
        "The demo7 inter-rater agreement is on another session (no keypoints): a ceiling "
        "for demo1's freezing F1, not a score on the same frames.",
        "classical_detector = tools.detectors fitted on the example frames only (features "
        "over 0.1/0.25/0.5 s, class-balanced logistic regression, rules from the class names "
        "calibrated on the examples, mix and smoothing chosen by cross-validation over the "
        "example clips); '<case>.classical_detector.*_on_examples' are those CV scores, "
        "not scores on the scored frames.",
        "model_call_curve: the detector's labels, and in each window sent to the model "
        "(one call each) a scripted answer: the window's most frequent true class on "
        f"{SCRIPTED_CORRECT:.0%} of the windows, another class elsewhere; gated = the most "
        "uncertain windows (as classify sends them), uniform = as many at random.",
        "ethome_interact (full run): both mice scored against the same human interact "
        "label; examples (3 + 3 bouts, at most 3 s each) come from the adult only; "
        "nose_distance = interact where a nose is within half a body length of any keypoint "
        "of another animal (a fixed prior, not tuned on the scored frames).",
    ]
    return SuiteResult(metrics=metrics, table=rows, figures=figures, notes=notes)


Prediction = tuple[NDArray[np.int64], dict[str, Any] | None, float | None]
"""Labels ``(frames,)`` or ``(frames, animals)``, the graph state (graph runs), wall s."""


def _case_predictions(
    case: ClassifyCase, work: Path, root: Path
) -> tuple[dict[str, Prediction], dict[str, Any]]:
    """Every method's labels on one case, and the classical detector's CV report."""
    preds: dict[str, Prediction] = {}
    preds["classify"] = _graph(case, work, "classify", {})
    for name, over in ABLATIONS.items():
        preds[name] = _graph(case, work, name, {**_IMAGE_ONLY, **over})
    majority = int(np.bincount(case.truth[case.scored]).argmax())
    preds["majority"] = (np.full(case.truth.size, majority, np.int64), None, None)
    baselines = [("knn_features", _knn_baseline), ("logreg_keypoints", _logreg_baseline)]
    if "freezing" in case.classes:
        baselines.insert(0, ("velocity_threshold", _velocity_rule))
    if "interact" in case.classes:
        baselines.insert(0, ("nose_distance", _nose_distance_rule))
    for name, fn in baselines:
        t0 = time.perf_counter()
        preds[name] = (fn(case), None, time.perf_counter() - t0)
    t0 = time.perf_counter()
    det, report = _classical_detector(case)
    preds["classical_detector"] = (det.labels[:, : case.animals], None, time.perf_counter() - t0)
    report = {**report, "model_call_curve": model_call_curve(case, det)}
    if case.name == "behaviordepot_demo1":
        bd = _behaviordepot_output(root / "behaviordepot_freezing", case.truth.size)
        if bd is not None:
            preds["behaviordepot_output"] = (bd, None, None)
    return preds, report


def _detector_metrics(metrics: dict[str, Any], case: ClassifyCase, report: dict[str, Any]) -> None:
    """The classical detector's cross-validated comparison with its rules, on the examples."""
    key = f"{case.name}.classical_detector"
    metrics[f"{key}.chosen"] = report["chosen"]
    for what in ("detector", "rule", "model"):
        v = report[f"{what}_cv_macro_f1"]
        metrics[f"{key}.{what}_cv_macro_f1_on_examples"] = None if v is None else round(v, 4)
    metrics[f"{key}.warnings"] = "; ".join(report["warnings"]) or "none"
    metrics[f"{case.name}.model_call_curve"] = "; ".join(
        f"budget {r['budget']:g}: {r['model_calls']} calls, gated {r['gated_macro_f1']:.3f}, "
        f"uniform {r['uniform_macro_f1']:.3f}"
        for r in report["model_call_curve"]
    )


def _confusion_figure(pred: NDArray[np.int64], case: ClassifyCase) -> bytes:
    m = confusion_matrix(*_scored(pred, case), len(case.classes))
    norm = m / np.maximum(m.sum(axis=1, keepdims=True), 1)
    n = len(case.classes)
    fig, ax = new_figure(1.2 + 0.9 * n, 1.0 + 0.8 * n)
    ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
    for i in range(n):
        for j in range(n):
            ax.text(j, i, f"{norm[i, j]:.2f}\n({m[i, j]})", ha="center", va="center", fontsize=7,
                    color="white" if norm[i, j] > 0.5 else "black")  # fmt: skip
    ax.set_xticks(range(n), list(case.classes), rotation=30, ha="right")
    ax.set_yticks(range(n), list(case.classes))
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(f"classify on {case.name} (rows normalised)")
    return png_bytes(fig)
