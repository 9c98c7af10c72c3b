"""The ``classify`` eval suite in quick mode: every method scored per class on the synthetic
session (rare darting included) and, where the shared data is present, BehaviorDEPOT demo1;
the in-context classifier beats the majority baseline; the F1-vs-model-calls curve."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ethoagent.evals.classify import FREEZING_RULES, freezing_beside_rules
from ethoagent.evals.datasets import shared_data_dir
from ethoagent.evals.harness import SuiteOptions, available_suites, run_suite


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    out = tmp_path_factory.mktemp("classify-eval")
    path = run_suite("classify", out, SuiteOptions(quick=True))
    assert (out / "results.md").is_file()
    assert (out / "figures" / "confusion_synthetic.png").read_bytes()[:4] == b"\x89PNG"
    assert (out / "figures" / "model_calls_synthetic.png").read_bytes()[:4] == b"\x89PNG"
    record: dict[str, object] = json.loads(Path(path).read_text())
    return record


def test_classify_suite_is_registered() -> None:
    assert "classify" in available_suites()


def test_quick_eval_beats_the_majority_baseline(results: dict[str, object]) -> None:
    metrics = results["metrics"]
    assert isinstance(metrics, dict)
    rows = results["table"]
    assert isinstance(rows, list)
    methods = {r["method"] for r in rows if r["dataset"] == "synthetic"}
    expected = {"classify", "in_context", "no_definitions", "no_examples", "no_preprocessing"}
    expected |= {"majority", "velocity_threshold", "knn_features", "logreg_keypoints"}
    expected |= {"classical_detector"}
    assert expected <= methods
    assert metrics["synthetic.classify_beats_majority"] is True
    assert metrics["synthetic.classify.macro_f1"] > metrics["synthetic.majority.macro_f1"] + 0.3
    # the rare class is scored per class
    row = next(r for r in rows if r["dataset"] == "synthetic" and r["method"] == "classify")
    for c in ("freezing", "darting", "rearing", "grooming", "locomotion", "other"):
        assert row[f"f1_{c}"] is not None, c
        assert f"{c} " in metrics["synthetic.classify.precision/recall"]
    assert "darting 0.0" in metrics["synthetic.class_shares"]  # rare: a few percent
    # taking away the examples (offline: definitions' prototypes alone) costs macro-F1
    assert metrics["synthetic.no_examples.macro_f1"] < metrics["synthetic.in_context.macro_f1"]
    # the classical detector keeps up with the keypoint baselines fitted on the same examples
    # (quick: one simulated minute; the full run is where it must lead them by 0.02)
    best = max(metrics[f"synthetic.{m}.macro_f1"] for m in ("knn_features", "logreg_keypoints"))
    assert metrics["synthetic.classical_detector.macro_f1"] > best - 0.01
    cv = "synthetic.classical_detector.detector_cv_macro_f1_on_examples"
    assert metrics[cv] >= metrics["synthetic.classical_detector.rule_cv_macro_f1_on_examples"]
    # classify's cheap path is the detector: the windows it is sure of saved a model call
    # offline the default budget asks no model (the stand-in is weaker than the detector),
    # so classify is the detector
    assert row["calls_saved"] > 0 and row["model_calls"] == 0
    assert metrics["synthetic.classify.macro_f1"] == pytest.approx(
        metrics["synthetic.classical_detector.macro_f1"], abs=0.005
    )
    assert "budget 0.2: gated" in metrics["synthetic.model_call_curve"]


def test_model_call_curve_runs_the_graph_with_a_scripted_model(
    results: dict[str, object],
) -> None:
    metrics = results["metrics"]
    assert isinstance(metrics, dict)
    rows = metrics["synthetic.model_call_curve_rows"]
    assert [r["budget"] for r in rows] == [0.0, 0.2]
    detector = metrics["synthetic.classical_detector.macro_f1"]
    assert rows[0]["gated_model_calls"] == rows[0]["uniform_model_calls"] == 0
    assert rows[0]["gated_macro_f1"] == pytest.approx(detector, abs=0.005)
    # 0.2 of the 120 windows went to the scripted model (checks may add retries), both ways
    assert rows[1]["gated_model_calls"] >= 24 and rows[1]["uniform_model_calls"] >= 24
    # its answers (right on 90 % of windows) replace the detector's in those windows
    assert rows[1]["gated_macro_f1"] != rows[0]["gated_macro_f1"]
    assert rows[1]["gated_macro_f1"] != rows[1]["uniform_macro_f1"]


def test_quick_eval_on_behaviordepot(results: dict[str, object]) -> None:
    if not (shared_data_dir() / "behaviordepot_freezing").is_dir():
        pytest.skip("shared data behaviordepot_freezing is not present")
    metrics = results["metrics"]
    assert isinstance(metrics, dict)
    assert metrics["behaviordepot_demo1.classify_beats_majority"] is True
    assert "behaviordepot_demo1.behaviordepot_output.macro_f1" in metrics
    # the peer's rule at both its threshold pairs sits beside classify
    assert "behaviordepot_demo1.velocity_threshold_defaults.macro_f1" in metrics
    # not below the one-line rule: the detector runs the same rule with the body length as
    # its ruler (6.5 cm) instead of the known 32 px/cm, so it may differ by a few frames
    detector = metrics["behaviordepot_demo1.classical_detector.macro_f1"]
    assert detector >= metrics["behaviordepot_demo1.velocity_threshold.macro_f1"] - 0.005
    assert metrics["behaviordepot_demo1.classical_detector.chosen"] == "published"
    cv = "behaviordepot_demo1.classical_detector.published_cv_macro_f1_on_examples"
    assert (
        metrics[cv]
        == metrics["behaviordepot_demo1.classical_detector.detector_cv_macro_f1_on_examples"]
    )
    # classify's freezing F1 sits beside BehaviorDEPOT's rules and output, losses named
    f1 = metrics["behaviordepot_demo1.freezing_f1"]
    assert set(f1) == {"classify", *FREEZING_RULES}
    below = [m for m in FREEZING_RULES if f1["classify"] < f1[m]]
    assert metrics["behaviordepot_demo1.freezing_below"] == (", ".join(below) or "none")


def test_freezing_losses_are_named() -> None:
    def f1(v: float) -> dict[str, object]:
        return {"per_class": {"freezing": {"f1": v}}}

    scores = {"classify": f1(0.93), "velocity_threshold": f1(0.90)}
    scores |= {"velocity_threshold_defaults": f1(0.94), "behaviordepot_output": f1(0.93)}
    out = freezing_beside_rules("demo", scores)
    assert out["demo.freezing_f1"]["velocity_threshold_defaults"] == 0.94
    assert out["demo.freezing_below"] == "velocity_threshold_defaults"  # a tie is no loss
    scores["classify"] = f1(0.95)
    assert freezing_beside_rules("demo", scores)["demo.freezing_below"] == "none"


def test_ethome_case_scores_both_mice(tmp_path: Path) -> None:
    from ethoagent.evals.classify import (
        _classical_detector,
        _nose_distance_rule,
        _pair_rules,
        interact_floor,
        score,
    )
    from ethoagent.evals.classify_data import _ethome_case

    root = shared_data_dir()
    if not (root / "ethome_social_interact").is_dir():
        pytest.skip("shared data ethome_social_interact is not present")
    case = _ethome_case(root, tmp_path, seed=0)
    assert case.animals == 2
    assert len(case.examples) <= 6
    assert {e.animal for e in case.examples} == {0}
    assert {e.label for e in case.examples} == {"interact", "other"}
    rule = _nose_distance_rule(case)
    det, report = _classical_detector(case)
    labels = det.labels[:, : case.animals]
    assert rule.shape == labels.shape == (case.truth.size, 2)
    assert "animal 1 has no example." in report["warnings"]
    # both mice are scored: the juvenile's column changes the score
    one = score(rule[:, 0], case)["per_class"]["interact"]["support"]
    both = score(rule, case)["per_class"]["interact"]["support"]
    assert both == 2 * one
    for pred in (rule, labels):
        assert score(pred, case)["per_class"]["interact"]["f1"] > 0.4
    # interact is the pair's label: the juvenile (no example) gets the adult's
    assert (labels[:, 0] == labels[:, 1]).all()
    assert any("anchors the pair label interact" in w for w in report["warnings"])
    pair, words = _pair_rules(case)
    assert set(pair) == {"nose_distance_pair", "nose_distance_tuned"}
    assert "on the example frames" in words
    for p in pair.values():
        assert (p[:, 0] == p[:, 1]).all()
    # the floor: never below the pair rule, and 0.80 on this seed's scored frames
    floor = interact_floor(
        "ethome",
        {
            "classify": score(labels, case),
            "nose_distance_pair": score(pair["nose_distance_pair"], case),
        },
    )
    assert floor["ethome.interact_at_least_pair_rule"] is True
    assert floor["ethome.interact_floor_met"] is True
    assert floor["ethome.interact_f1"]["classify"] >= 0.80
