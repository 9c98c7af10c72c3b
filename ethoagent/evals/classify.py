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
  ``velocity_threshold`` (BehaviorDEPOT's velocity freezing rule with the thresholds its
  demo1 output used, 0.52 cm/s and 12 deg/s; other frames get the most frequent
  non-freezing class), ``velocity_threshold_defaults`` (the same at the defaults its demo
  README gives, 0.59 cm/s and 15 deg/s), ``knn_features``
  (3-nearest neighbours on per-frame keypoint features of the example frames) and
  ``logreg_keypoints`` (logistic regression on the same); where the classes include
  interact: ``nose_distance`` (each animal's own rule: interact where its nose is within
  half its body length of any keypoint of another animal), ``nose_distance_pair`` (one
  label for the pair: the interact examples' animal's nose within 0.5 BL of the other,
  the same fixed prior) and ``nose_distance_tuned`` (the best one-line pair rule tuned on
  the example frames only: one of four distances and its threshold, ``_pair_rules``);
- ``classical_detector``: ``tools.detectors`` fitted on the example frames: multi-scale
  kinematic features, a class-balanced logistic regression, rules from the class names
  calibrated on the examples, mixed and smoothed as cross-validation on the example clips
  chooses (never below the rules there);
- the F1-vs-model-calls curve (``model_call_curve``): the classify graph run with a
  scripted VLM that is right on 90 % of the windows it is asked about, the windows sent by
  the detector's uncertainty (as classify does) or at random, at the budgets
  ``CURVE_BUDGETS`` (``QUICK_CURVE_BUDGETS`` in the quick run).

Offline the "model" is the registered kNN solver, so the ablations change what that
solver can use: without definitions it loses the definitions' motion prototypes; without
examples it has only those prototypes (zero-shot); without preprocessing it sees one raw
frame of the whole arena (no crop, no contrast, no motion). Scores: precision, recall
and F1 per class, macro-F1 over the classes present, accuracy, a confusion matrix.
"""

from __future__ import annotations

import asyncio
import json
import math
import tempfile
import time
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ethoagent.agent.offline import OfflineClient
from ethoagent.agent.types import ModelClient, Request
from ethoagent.errors import InputError
from ethoagent.evals.classify_data import (
    SIM_TO_CLASS,
    ClassifyCase,
    classify_cases,
    draw_examples,
)
from ethoagent.evals.datasets import load_dataset, shared_data_dir
from ethoagent.evals.harness import SuiteOptions, SuiteResult, register_suite
from ethoagent.figures import new_figure, png_bytes
from ethoagent.graphs.classify.graph import GRAPH_NAME, run_classify
from ethoagent.graphs.classify.inputs import resolve_classify_inputs
from ethoagent.graphs.classify.options import ClassifyOptions
from ethoagent.graphs.classify.report import final_labels
from ethoagent.graphs.classify.stages import CLASSIFY_PROMPT
from ethoagent.graphs.kit.runtime import offline_runtime
from ethoagent.io.labels import read_labels
from ethoagent.tools.classify import (
    DEFAULT_CLASSES,
    confusion_matrix,
    freezing_by_velocity,
    per_class_scores,
)
from ethoagent.tools.detectors import (
    DetectorPrediction,
    detector_features,
    fit_detector,
)
from ethoagent.tools.features import compute_features, infer_layout

__all__ = [
    "SIM_TO_CLASS",
    "ClassifyCase",
    "classify_cases",
    "classify_suite",
    "draw_examples",
    "model_call_curve",
    "score",
]

ABLATIONS: dict[str, dict[str, Any]] = {
    "in_context": {},
    "no_definitions": {"use_definitions": False},
    "no_examples": {"use_examples": False},
    "no_preprocessing": {"preprocess": False},
}
_IMAGE_ONLY = {"kinematics_in_prompt": False, "model_budget": 1.0}
CURVE_BUDGETS: tuple[float, ...] = (0.05, 0.2, 0.4)
"""Model budgets (share of windows) of the F1-vs-model-calls curve, after budget 0 (the
detector alone: classify's offline default)."""
QUICK_CURVE_BUDGETS: tuple[float, ...] = (0.2,)
"""The curve's budgets in the quick run."""
SCRIPTED_CORRECT = 0.9
"""Share of windows the curve's scripted model answers correctly."""


# --------------------------------------------------------------------------- methods


def _graph(
    case: ClassifyCase, work: Path, name: str, overrides: dict[str, Any],
    client: ModelClient | None = None,
) -> tuple[NDArray[np.int64], dict[str, Any], float]:  # fmt: skip
    opts = ClassifyOptions(**{"px_per_cm": _px_per_cm(case), **overrides})
    inputs = resolve_classify_inputs(
        case.keypoints_file, list(case.examples), classes=case.classes, fps=case.fps, options=opts
    )
    rt = offline_runtime(work, GRAPH_NAME, f"{case.name}-{name}", inputs.model_dump(), client)
    t0 = time.perf_counter()
    state = asyncio.run(run_classify(rt, inputs))
    wall = time.perf_counter() - t0
    labels, _, _, _ = final_labels(rt, inputs)
    return labels[:, : case.animals], state, wall


def _px_per_cm(case: ClassifyCase) -> float | None:
    """The case's pixel scale for 2D keypoints (the velocity rule's), else None."""
    pixels = case.pose.points.shape[-1] == 2 and math.isfinite(case.units_per_cm)
    return case.units_per_cm if pixels else None


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


def _velocity_rule(
    case: ClassifyCase, velocity_cm_s: float = 0.52, angle_deg_s: float = 12.0
) -> NDArray[np.int64]:
    """BehaviorDEPOT's velocity freezing rule at ``case.units_per_cm``, ``(frames,)`` codes.

    Defaults: the thresholds demo1 was analysed with (its ``Params.mat``).
    """
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
    frz = freezing_by_velocity(
        head, rear, nose, ears, fps=case.fps, units_per_cm=case.units_per_cm,
        velocity_threshold=velocity_cm_s, angle_threshold=angle_deg_s,
    )  # fmt: skip
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


PAIR_RULE_FEATURES: tuple[str, ...] = (
    "nose_body",
    "partner_nose_body",
    "nose_nose",
    "min_distance",
)
"""Distances (BL) a one-line interact rule may threshold: own nose to the partner's body,
the partner's nose to one's body, nose to nose, the nearest pair of keypoints."""
PAIR_RULE_GRID: tuple[float, ...] = tuple(round(0.1 + 0.05 * i, 2) for i in range(39))
"""Thresholds (BL) tried for the tuned rule, 0.1 to 2.0."""


def _anchor(case: ClassifyCase) -> int:
    """The animal with the most interact example frames (the pair rule's point of view)."""
    frames = np.zeros(case.pose.points.shape[1])
    for e in case.examples:
        if e.label == "interact":
            frames[e.animal] += e.stop - e.start
    return int(np.argmax(frames))


def _pair_rule(case: ClassifyCase, near: NDArray[np.bool_]) -> NDArray[np.int64]:
    """``(frames, animals)``: interact for both animals where ``near`` ``(frames,)``."""
    i = case.classes.index("interact")
    other = next(j for j in range(len(case.classes)) if j != i)
    lab = np.where(near, i, other).astype(np.int64)
    return np.repeat(lab[:, None], case.animals, axis=1)


def _pair_rules(case: ClassifyCase) -> tuple[dict[str, NDArray[np.int64]], str]:
    """Two pair-label rules, and the tuned one in words.

    ``nose_distance_pair``: the interact examples' animal's nose within 0.5 BL of the
    other's body, one label for both (the fixed prior). ``nose_distance_tuned``: the best
    one-line rule a user could write from the examples: a distance of
    ``PAIR_RULE_FEATURES`` below a threshold of ``PAIR_RULE_GRID``, the pair with the
    highest interact F1 on the example frames (ties: nearest 0.5 BL, then the order of
    ``PAIR_RULE_FEATURES``); the scored frames are never looked at.
    """
    feats = detector_features(
        case.pose.points, fps=case.fps, keypoints=case.pose.keypoints,
        individuals=case.pose.individuals,
    )  # fmt: skip
    a = _anchor(case)
    frames, _ = _example_rows(case)
    truth = case.truth[frames] == case.classes.index("interact")
    best: tuple[float, float, str] = (-1.0, 0.0, "")
    for name in PAIR_RULE_FEATURES:
        d = feats.column(name)[:, a]
        for t in sorted(PAIR_RULE_GRID, key=lambda v: abs(v - 0.5)):
            hit = d[frames] < t
            den = hit.sum() + truth.sum()
            f1 = float(2 * (hit & truth).sum() / den) if den else 0.0
            if f1 > best[0] + 1e-12:
                best = (f1, t, name)
    f1, t, name = best
    with np.errstate(invalid="ignore"):
        fixed = feats.column("nose_body")[:, a] < 0.5
        tuned = feats.column(name)[:, a] < t
    who = case.pose.individuals[a]
    words = f"{name} of {who} < {t:g} BL (interact F1 {f1:.3f} on the example frames)"
    return {
        "nose_distance_pair": _pair_rule(case, fixed),
        "nose_distance_tuned": _pair_rule(case, tuned),
    }, words


def _classical_detector(case: ClassifyCase) -> tuple[DetectorPrediction, dict[str, Any]]:
    """The prediction of ``tools.detectors`` fitted on the examples, and its CV report."""
    feats = detector_features(
        case.pose.points,
        fps=case.fps,
        keypoints=case.pose.keypoints,
        individuals=case.pose.individuals,
        units_per_cm=case.units_per_cm if math.isfinite(case.units_per_cm) else None,
    )
    det = fit_detector(feats, case.examples, case.classes)
    return det.predict(feats), det.cv_report


def _scripted_vlm(case: ClassifyCase, seed: int) -> OfflineClient:
    """A model for the classify prompt that is right on ``SCRIPTED_CORRECT`` of windows.

    Right = all probability on the window's most frequent true class; wrong = on another
    class. Whether a window is answered right is drawn from (seed, animal, first frame),
    so every run, gated or uniform, faces the same answers for the same window.
    """
    n_c = len(case.classes)

    def answer(request: Request) -> str:
        animal, start, stop = (int(v) for v in request.payload["window"])
        true = int(np.bincount(case.truth[start:stop], minlength=n_c).argmax())
        rng = np.random.default_rng([seed, animal, start])
        right = rng.random() < SCRIPTED_CORRECT
        c = true if right else (true + int(rng.integers(1, max(2, n_c)))) % n_c
        probs = {name: float(j == c) for j, name in enumerate(case.classes)}
        return json.dumps({"probabilities": probs, "reason": "scripted"})

    return OfflineClient({CLASSIFY_PROMPT: answer})


def model_call_curve(
    case: ClassifyCase, work: Path, base: NDArray[np.int64], *,
    budgets: tuple[float, ...] = CURVE_BUDGETS, seed: int = 0,
) -> list[dict[str, Any]]:  # fmt: skip
    """Macro-F1 against model calls: the classify graph run with a scripted VLM.

    For every budget the graph runs twice with the scripted model of ``_scripted_vlm``:
    ``gated`` sends the detector's most uncertain ``model_budget`` share of the windows
    (``windows_by="uncertainty"``, as classify does), ``uniform`` as many drawn at random
    (``windows_by="random"``). Checks, retries, escalations and smoothing are the graph's
    own. The first row is budget 0: ``base``, the labels ``(frames, animals)`` of the
    graph run that asked no model.

    Returns:
        One row per budget: ``budget``, ``gated_model_calls``, ``uniform_model_calls``
        (calls made, retries included), ``gated_macro_f1``, ``uniform_macro_f1``.
    """
    f1 = round(float(score(base, case)["macro_f1"]), 4)
    rows: list[dict[str, Any]] = [
        {"budget": 0.0, "gated_model_calls": 0, "gated_macro_f1": f1}
        | {"uniform_model_calls": 0, "uniform_macro_f1": f1}
    ]
    for b in budgets:
        row: dict[str, Any] = {"budget": b}
        for key, by in (("gated", "uncertainty"), ("uniform", "random")):
            over = {"model_budget": b, "windows_by": by}
            labels, state, _ = _graph(
                case, work, f"curve-{key}-{b:g}", over, _scripted_vlm(case, seed)
            )
            row[f"{key}_model_calls"] = int(state.get("model_calls", 0))
            row[f"{key}_macro_f1"] = round(float(score(labels, case)["macro_f1"]), 4)
        rows.append(row)
    return rows


def _curve_figure(name: str, rows: list[dict[str, Any]]) -> bytes:
    fig, ax = new_figure(4.5, 3.2)
    for key, style, label in (
        ("gated", "o-", "most uncertain windows"),
        ("uniform", "s--", "windows at random"),
    ):
        calls = [r[f"{key}_model_calls"] for r in rows]
        ax.plot(calls, [r[f"{key}_macro_f1"] for r in rows], style, label=label)
    ax.set_xlabel("model calls (retries included)")
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
            preds, report = _case_predictions(case, work / "runs", root, options.quick)
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
            if "nose_distance_pair" in preds:
                metrics |= interact_floor(
                    case.name,
                    {m: score(preds[m][0], case) for m in ("classify", "nose_distance_pair")},
                )
            if "velocity_threshold_defaults" in preds:
                metrics |= freezing_beside_rules(
                    case.name, {m: score(p[0], case) for m, p in preds.items()}
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
        "get the most frequent non-freezing class; velocity_threshold_defaults = the same "
        "rule at the defaults BehaviorDEPOT's demo README gives (0.59 cm/s, 15 deg/s).",
        "The demo7 inter-rater agreement is on another session (no keypoints): a ceiling "
        "for demo1's freezing F1, not a score on the same frames.",
        "classical_detector = tools.detectors fitted on the example frames only (features "
        "over 0.1/0.25/0.5 s, class-balanced logistic regression, rules from the class names "
        "calibrated on the examples, mix and smoothing chosen by cross-validation over the "
        "example clips); '<case>.classical_detector.*_on_examples' are those CV scores, "
        "not scores on the scored frames.",
        "model_call_curve: the classify graph run with a scripted VLM (checks, retries and "
        "smoothing are the graph's): in each window it is asked about it answers the "
        f"window's most frequent true class on {SCRIPTED_CORRECT:.0%} of the windows, "
        "another class elsewhere; gated = the most uncertain windows (as classify sends "
        "them), uniform = as many at random (windows_by='random'); calls include retries.",
        "ethome_interact (full run): both mice scored against the same human interact "
        "label; examples (3 + 3 bouts, at most 3 s each) come from the adult only; "
        "nose_distance = each animal's own rule (its nose within half a body length of any "
        "keypoint of another animal); nose_distance_pair = the same 0.5 BL prior on the "
        "adult's nose, one label for the pair (the rule behind the issue's 0.80: the human "
        "label is the pair's, and the juvenile's own nose rule scores far lower); "
        "nose_distance_tuned = distance and threshold chosen on the example frames only "
        "(overfits 6 bouts: below the prior). None is tuned on the scored frames; "
        "classify's contact-bout priors (enter 0.3 BL facing the partner, leave 2.5 times "
        "it, bridge 1 s) "
        "were chosen after looking at this session's errors (docs/classify.md).",
    ]
    return SuiteResult(metrics=metrics, table=rows, figures=figures, notes=notes)


INTERACT_FLOOR = 0.80
"""The issue's interact F1 floor on ethome (the adult's nose rule given to both mice)."""


def interact_floor(name: str, scores: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Classify's interact F1 against the floor and the pair rule on the same frames.

    Args:
        name: the case's name (metric prefix).
        scores: ``score`` of ``classify`` and of ``nose_distance_pair``.

    Returns:
        ``<name>.interact_f1`` (classify, pair rule), ``<name>.interact_floor_met``
        (at least ``INTERACT_FLOOR``) and ``<name>.interact_at_least_pair_rule``.
    """
    ours, rule = (
        float(scores[m]["per_class"]["interact"]["f1"]) for m in ("classify", "nose_distance_pair")
    )
    return {
        f"{name}.interact_f1": {"classify": round(ours, 4), "pair_rule": round(rule, 4)},
        f"{name}.interact_floor_met": ours >= INTERACT_FLOOR,
        f"{name}.interact_at_least_pair_rule": ours >= rule,
    }


FREEZING_RULES: tuple[str, ...] = (
    "velocity_threshold",
    "velocity_threshold_defaults",
    "behaviordepot_output",
)
"""The freezing baselines classify must not fall below (BehaviorDEPOT's rule at both
threshold pairs, and its own output where present)."""


def freezing_beside_rules(name: str, scores: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Classify's freezing F1 beside BehaviorDEPOT's rules and output on the same frames.

    Args:
        name: the case's name (metric prefix).
        scores: ``score`` of every method, ``classify`` and those of ``FREEZING_RULES``
            present.

    Returns:
        ``<name>.freezing_f1`` (method -> F1) and ``<name>.freezing_below`` (the baselines
        classify scores below, comma-separated, or ``"none"``): the eval's warning.
    """
    f1 = {
        m: round(float(scores[m]["per_class"]["freezing"]["f1"]), 4)
        for m in ("classify", *FREEZING_RULES)
        if m in scores
    }
    below = [m for m in FREEZING_RULES if m in f1 and f1["classify"] < f1[m]]
    return {f"{name}.freezing_f1": f1, f"{name}.freezing_below": ", ".join(below) or "none"}


Prediction = tuple[NDArray[np.int64], dict[str, Any] | None, float | None]
"""Labels ``(frames,)`` or ``(frames, animals)``, the graph state (graph runs), wall s."""


def _case_predictions(
    case: ClassifyCase, work: Path, root: Path, quick: bool
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
        baselines[:0] = [
            ("velocity_threshold", _velocity_rule),
            (
                "velocity_threshold_defaults",
                partial(_velocity_rule, velocity_cm_s=0.59, angle_deg_s=15.0),
            ),
        ]
    if "interact" in case.classes:
        baselines.insert(0, ("nose_distance", _nose_distance_rule))
    for name, fn in baselines:
        t0 = time.perf_counter()
        preds[name] = (fn(case), None, time.perf_counter() - t0)
    extra: dict[str, Any] = {}
    if "interact" in case.classes and case.pose.points.shape[1] == 2:
        pair, extra["pair_rule"] = _pair_rules(case)
        preds |= {k: (v, None, None) for k, v in pair.items()}
    t0 = time.perf_counter()
    det, report = _classical_detector(case)
    preds["classical_detector"] = (det.labels[:, : case.animals], None, time.perf_counter() - t0)
    budgets = QUICK_CURVE_BUDGETS if quick else CURVE_BUDGETS
    base, state, _ = preds["classify"]
    if state is None or state.get("model_calls", 0):  # classify asked a model: rerun at 0
        base = _graph(case, work, "curve-0", {"model_budget": 0.0})[0]
    curve = model_call_curve(case, work, base, budgets=budgets)
    report = {**report, **extra, "model_call_curve": curve}
    if case.name == "behaviordepot_demo1":
        bd = _behaviordepot_output(root / "behaviordepot_freezing", case.truth.size)
        if bd is not None:
            preds["behaviordepot_output"] = (bd, None, None)
    return preds, report


def _detector_metrics(metrics: dict[str, Any], case: ClassifyCase, report: dict[str, Any]) -> None:
    """The classical detector's cross-validated comparison with its rules, on the examples."""
    key = f"{case.name}.classical_detector"
    metrics[f"{key}.chosen"] = report["chosen"]
    for what in ("detector", "rule", "published", "model"):
        v = report.get(f"{what}_cv_macro_f1")
        metrics[f"{key}.{what}_cv_macro_f1_on_examples"] = None if v is None else round(v, 4)
    metrics[f"{key}.warnings"] = "; ".join(report["warnings"]) or "none"
    if "pair_rule" in report:
        metrics[f"{case.name}.nose_distance_tuned.rule"] = report["pair_rule"]
    metrics[f"{case.name}.model_call_curve_rows"] = report["model_call_curve"]
    metrics[f"{case.name}.model_call_curve"] = "; ".join(
        f"budget {r['budget']:g}: gated {r['gated_macro_f1']:.3f} ({r['gated_model_calls']} "
        f"calls), uniform {r['uniform_macro_f1']:.3f} ({r['uniform_model_calls']} calls)"
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
