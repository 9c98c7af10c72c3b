"""Evaluation suite ``gate``: the LookAgain gate model against labels, budgets and baselines.

Data sets (each a training and a held-out test session with per-frame truth):
``synthetic_1``, ``synthetic_3`` and ``behaviordepot_demo1``, described in ``evals.gate_data``.

Methods, in the same run, each trained with 3 seeds (1 with ``quick``) on 10 %, 30 % and
100 % of the training labels (seeded random blocks of one window each):

- ``lookagain``: the LookAgain model with vision, trained with the gate at 25 % (noisy
  top-k) and evaluated with the learned gate at top-k 0, 25, 50 and 100 % of the frames
  (0 % = the vision path sees no frame; the keypoint-only model on behaviordepot);
- ``uniform``: the same trained model, the gate's choice replaced by evenly spaced frames
  at the same budget (same k per window and animal);
- ``transformer``: a plain supervised transformer on the motion descriptors (same width,
  depth, windows, steps and class weights; no RVQ, gate or vision);
- ``majority``: the most frequent training class everywhere (floor).

Unsupervised (no labels; fitted on the test session, scored by Hungarian macro-F1 with K
= the number of test classes): ``lookagain_dec`` (masked-motion / cross-modal pretraining,
k-means initialisation, then the DEC head with the total-variation penalty on alpha),
``dec`` (``ethoagent.nn.dec.fit_dec`` on the motion descriptors) and ``kmeans``.

Data sets are built in ``evals.gate_data``, models trained and scored in
``evals.gate_models``, the held-out cases (``gate train`` and ``gate eval`` themselves) in
``evals.gate_heldout``; this module runs the suite and writes its table and notes.

Test sessions are scored with the inference of ``ethoagent gate predict``
(``ethoagent.nn.predict_gate``): the frames looked at are the top-k of each disjoint
window, then the probabilities are averaged over overlapping windows that read those
frames only. ``frames_looked_at`` counts them (the frames a deployment sends to the vision
encoder), next to ``vision_frames_encoded`` (crops this run really sent to the encoder;
0 when the on-disk cache held them all) and ``vision_crops`` (crops embedded for training
and test). Embeddings are cached under ``$ETHOAGENT_GATE_EVAL_CACHE`` (default
``.cache/gate-eval-embeddings`` in the repository), keyed by a hash of the simulated
world, camera, render settings and renderer source.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from ethoagent.errors import InputError
from ethoagent.evals.datasets import shared_data_dir
from ethoagent.evals.gate_data import (
    LABEL_RATIOS,
    QUICK,
    TOPK,
    TRAIN_FRACTION,
    EvalSizes,
    GateCase,
    gate_cases,
)
from ethoagent.evals.gate_heldout import (
    QUICK_SIZE,
    HeldOutResult,
    ethome_interact,
    heldout_notes,
    heldout_rows,
    simulated_keypoints,
)
from ethoagent.evals.gate_models import (
    evaluate_supervised,
    label_blocks,
    macro_f1_scores,
    train_lookagain,
    train_steps,
    train_transformer,
    unsupervised_scores,
)
from ethoagent.evals.harness import SuiteOptions, SuiteResult, register_suite
from ethoagent.figures import new_figure, png_bytes

__all__ = ["gate_suite"]


def _key(ratio: float) -> str:
    return f"labels_{round(ratio * 100)}"


def _topk_key(fraction: float) -> str:
    return f"topk_{round(fraction * 100)}"


def _mean_std(values: Sequence[float]) -> tuple[float, float]:
    arr = np.asarray(values, np.float64)
    return round(float(arr.mean()), 4), round(float(arr.std()), 4)


def _run_case(
    case: GateCase, sizes: EvalSizes, seed0: int
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Train and score every method on one case; return table rows and metrics."""
    seeds = [seed0 + i for i in range(sizes.seeds)]
    # (method, ratio, topk) -> per-seed (macro, per-class, looked, valid)
    runs: dict[tuple[str, float, float | None], list[tuple[float, dict[str, float], int, int]]] = {}
    fractions = TOPK if case.has_vision else (0.0,)
    start = time.perf_counter()
    for ratio in LABEL_RATIOS:
        for seed in seeds:
            sessions = label_blocks(case.train, ratio, sizes.window, seed)
            la = train_lookagain(case, sessions, sizes, seed, train_steps(ratio, sizes))
            for frac in fractions:
                modes = [("lookagain", False)]
                if case.has_vision and 0.0 < frac < 1.0:
                    modes.append(("uniform", True))
                for method, uniform in modes:
                    pred = evaluate_supervised(
                        la,
                        case.test,
                        sizes.window,
                        fraction=frac if case.has_vision else None,
                        uniform=uniform,
                    )
                    macro, per = macro_f1_scores(pred.codes, case.test.labels, case.classes)
                    runs.setdefault((method, ratio, frac), []).append(
                        (macro, per, pred.looked, pred.valid)
                    )
            tf = train_transformer(case, sessions, sizes, seed, train_steps(ratio, sizes))
            pred = evaluate_supervised(tf, case.test, sizes.window)
            macro, per = macro_f1_scores(pred.codes, case.test.labels, case.classes)
            runs.setdefault(("transformer", ratio, None), []).append((macro, per, 0, pred.valid))
        first = label_blocks(case.train, ratio, sizes.window, seeds[0])
        labelled = np.concatenate([s.labels.ravel() for s in first])
        majority = int(np.bincount(labelled[labelled >= 0]).argmax())
        macro, per = macro_f1_scores(
            np.full_like(case.test.labels, majority), case.test.labels, case.classes
        )
        runs[("majority", ratio, None)] = [(macro, per, 0, 0)]
    supervised_s = time.perf_counter() - start

    rows: list[dict[str, Any]] = []
    metrics: dict[str, Any] = {}
    for (method, ratio, budget), vals in runs.items():
        mean, std = _mean_std([v[0] for v in vals])
        per_class = {
            c: round(float(np.mean([v[1].get(c, 0.0) for v in vals])), 4) for c in vals[0][1]
        }
        looked, valid = vals[0][2], vals[0][3]
        topk = _topk_key(budget) if budget is not None else "-"
        if case.has_vision or budget is None:
            key = f"{case.name}.{method}.{_key(ratio)}" + (f".{topk}" if budget is not None else "")
        else:
            key = f"{case.name}.{method}.{_key(ratio)}.keypoints_only"
        metrics[f"macro_f1.{key}"] = mean
        rows.append(
            {
                "dataset": case.name,
                "method": method,
                "labels": f"{round(ratio * 100)}%",
                "topk": topk if case.has_vision else "keypoints only",
                "frames_looked_at": looked,
                "looked_fraction": round(looked / valid, 4) if valid else 0.0,
                "macro_f1": mean,
                "macro_f1_std": std,
                "seeds": len(vals),
                "per_class_f1": per_class,
            }
        )
    unsup: dict[str, list[float]] = {}
    start = time.perf_counter()
    for seed in seeds:
        for method, value in unsupervised_scores(case, sizes, seed).items():
            unsup.setdefault(method, []).append(value)
    unsupervised_s = time.perf_counter() - start
    for method, scores in unsup.items():
        mean, std = _mean_std(scores)
        metrics[f"unsupervised_macro_f1.{case.name}.{method}"] = mean
        rows.append(
            {
                "dataset": case.name,
                "method": method,
                "labels": "none",
                "topk": (
                    _topk_key(TRAIN_FRACTION)
                    if method == "lookagain_dec" and case.has_vision
                    else "-"
                ),
                "frames_looked_at": None,
                "looked_fraction": None,
                "macro_f1": mean,
                "macro_f1_std": std,
                "seeds": len(scores),
                "per_class_f1": "Hungarian-matched clusters",
            }
        )
    metrics[f"{case.name}.train_s"] = round(supervised_s, 1)
    metrics[f"{case.name}.unsupervised_s"] = round(unsupervised_s, 1)
    metrics[f"{case.name}.vision_crops"] = case.vision_crops
    metrics[f"{case.name}.vision_frames_encoded"] = case.vision_frames_encoded
    if case.has_vision:
        metrics.update(_claims(case.name, metrics))
    return rows, metrics


def _claims(name: str, metrics: dict[str, Any]) -> dict[str, Any]:
    """The paper's two claims at 100 % of the labels, as deltas and booleans."""
    base = f"macro_f1.{name}"
    full = metrics[f"{base}.lookagain.labels_100.topk_100"]
    at25 = metrics[f"{base}.lookagain.labels_100.topk_25"]
    uni25 = metrics[f"{base}.uniform.labels_100.topk_25"]
    return {
        f"{name}.claim_topk25_minus_topk100": round(at25 - full, 4),
        f"{name}.claim_topk25_within_0.02": bool(at25 >= full - 0.02),
        f"{name}.claim_gate_minus_uniform_at_25": round(at25 - uni25, 4),
        f"{name}.claim_gate_beats_uniform_at_25": bool(at25 > uni25),
    }


@register_suite(
    "gate",
    "LookAgain gate model (keypoints + EfficientNet-Lite0 crops where looked at) on "
    "synthetic 1- and 3-mouse rendered sessions, BehaviorDEPOT freezing (keypoints "
    "only) and ethome two-mouse interact (gate train + gate eval, both halves, beside the "
    "transformer alone, logistic regression and the nose-distance rule): per-class and "
    "macro-F1 at top-k 0/25/50/100 % of frames, learned gate vs uniform sampling, "
    "10/30/100 % of labels, next to a plain transformer, a majority floor and KMeans/DEC "
    "for the unsupervised head; mean and spread over seeds.",
)
def gate_suite(options: SuiteOptions) -> SuiteResult:
    sizes = QUICK if options.quick else EvalSizes()
    torch_threads = torch.get_num_threads()
    start = time.perf_counter()
    cases, notes = gate_cases(sizes, seed=options.seed)
    data_s = time.perf_counter() - start
    rows: list[dict[str, Any]] = []
    metrics: dict[str, Any] = {
        "topk": list(TOPK),
        "label_ratios": list(LABEL_RATIOS),
        "seeds": sizes.seeds,
        "data_s": round(data_s, 1),
        "torch_threads": torch_threads,
    }
    for case in cases:
        case_rows, case_metrics = _run_case(case, sizes, options.seed)
        rows += case_rows
        metrics.update(case_metrics)
        notes.append(
            f"{case.name}: {case.source}; classes {', '.join(case.classes)}; vision: "
            + (
                f"{case.encoder} on {sizes.crop_px} px animal-centred crops, "
                f"{case.vision_crops} crops embedded, {case.vision_frames_encoded} sent to "
                "the encoder in this run (the rest from the on-disk cache)."
                if case.has_vision
                else "none (keypoint path)."
            )
        )
    notes += _claim_notes(metrics, cases)
    held, skipped = _heldout_cases(options.quick)
    held_rows, held_metrics = heldout_rows(held)
    rows += held_rows
    metrics.update(held_metrics)
    notes += skipped + heldout_notes(held, held_metrics)
    notes += [
        f"Sizes: {sizes.model_dump()} (paper: d_model 256, d_z 128, 4 temporal layers, "
        "512 codes); RVQ 2 levels, social and aggregation transformers 1 layer each.",
        "frames_looked_at = frames x animals of the test session the vision path looked "
        "at (disjoint windows; k = max(1, round(top-k x valid frames)) per window "
        "and animal): what a deployment sends to the vision encoder. Every method is "
        "scored as `ethoagent gate predict` labels: probabilities averaged over windows "
        "overlapping by half, reading the selected frames only. Training needs the "
        "embeddings of every training frame (the noisy top-k moves).",
        "uniform = the same trained model with the gate's choice replaced by evenly "
        "spaced frames at the same k (an inference-time ablation, not a separately "
        "trained model).",
        "Label ratios use seeded random blocks of one window of the training session; the "
        "majority floor uses the first seed's blocks.",
        "Macro-F1 = mean of the per-class F1 over the classes present in the test truth; "
        "unsupervised rows use Hungarian-matched macro-F1 with K = number of test classes.",
        "BehaviorDEPOT: the shared data holds no video for demo1 (the upstream README says "
        "to download videos separately), so only the keypoint path runs there.",
    ]
    return SuiteResult(
        metrics=metrics,
        table=rows,
        figures={"gate_f1_vs_budget": _figure(rows, cases)},
        notes=list(dict.fromkeys(notes)),
    )


def _heldout_cases(quick: bool) -> tuple[list[HeldOutResult], list[str]]:
    """The cases run by ``gate train`` + ``gate eval``, and notes on what was skipped."""
    results: list[HeldOutResult] = []
    notes = []
    try:
        results += ethome_interact(shared_data_dir(), quick=quick)
    except InputError as exc:
        notes.append(f"ethome_social_interact skipped: {exc}")
    if quick:
        notes.append(
            f"Held-out cases (gate train + gate eval): ethome only, model {QUICK_SIZE} (a "
            "smoke run, not a measurement); the simulated keypoint sessions run in the full "
            "suite."
        )
    else:
        results += [simulated_keypoints(1, seed=11), simulated_keypoints(3, seed=12)]
    return results, notes


def _claim_notes(metrics: dict[str, Any], cases: Sequence[GateCase]) -> list[str]:
    notes = []
    for case in cases:
        if not case.has_vision:
            continue
        d1 = metrics[f"{case.name}.claim_topk25_minus_topk100"]
        d2 = metrics[f"{case.name}.claim_gate_minus_uniform_at_25"]
        notes.append(
            f"{case.name}, 100 % labels: top-k 25 % minus top-k 100 % = {d1:+.4f} macro-F1 "
            f"(paper: within 0.02 -> {'holds' if d1 >= -0.02 else 'does not hold'}); learned "
            f"gate minus uniform at 25 % = {d2:+.4f} "
            f"(paper: gate beats uniform -> {'holds' if d2 > 0 else 'does not hold'}); "
            "differences smaller than the seed spread in the table are not evidence either way."
        )
    return notes


def _figure(rows: list[dict[str, Any]], cases: Sequence[GateCase]) -> bytes:
    """Macro-F1 against the fraction of frames looked at, learned vs uniform, per case."""
    vis = [c for c in cases if c.has_vision]
    fig, _ = new_figure(4.2 * max(1, len(vis)), 3.4)
    fig.clear()
    axes = np.atleast_1d(fig.subplots(1, max(1, len(vis))))
    styles = {1.0: "-", 0.3: "--", 0.1: ":"}
    for ax, case in zip(axes, vis, strict=False):
        for method, colour in (("lookagain", "C0"), ("uniform", "C1")):
            for ratio in LABEL_RATIOS:
                pts = [
                    (r["looked_fraction"], r["macro_f1"], r["macro_f1_std"])
                    for r in rows
                    if r["dataset"] == case.name
                    and r["labels"] == f"{round(ratio * 100)}%"
                    and (
                        r["method"] == method
                        or (r["method"] == "lookagain" and r["topk"] in ("topk_0", "topk_100"))
                    )
                ]
                if not pts:
                    continue
                pts.sort()
                x, y, e = (np.array(v) for v in zip(*pts, strict=True))
                ax.errorbar(
                    x,
                    y,
                    yerr=e,
                    color=colour,
                    ls=styles[ratio],
                    marker="o",
                    ms=3,
                    capsize=2,
                    label=f"{'learned gate' if method == 'lookagain' else 'uniform'}, "
                    f"{round(ratio * 100)}% labels",
                )
        tf = [
            r["macro_f1"]
            for r in rows
            if r["dataset"] == case.name and r["method"] == "transformer" and r["labels"] == "100%"
        ]
        if tf:
            ax.axhline(tf[0], color="k", lw=1, label="transformer (motion), 100% labels")
        ax.set_xlabel("fraction of frames looked at")
        ax.set_ylabel("macro-F1 (test)")
        ax.set_title(case.name)
    if vis:
        axes[-1].legend(frameon=False, fontsize=7, loc="upper left", bbox_to_anchor=(1.02, 1.0))
    return png_bytes(fig)
