"""Model-free classify tools: in-context selection, the offline scores,
checks, smoothing, time budgets, metrics and BehaviorDEPOT's velocity rule."""

from __future__ import annotations

import numpy as np
import pytest

from ethoagent.tools.classify import (
    check_answer_schema,
    check_probability_sum,
    check_temporal_plausibility,
    class_probabilities,
    definition_logits,
    example_windows,
    freezing_by_velocity,
    knn_logits,
    median_smooth,
    per_class_scores,
    plan_windows,
    select_examples,
    smooth_hmm,
    still_seconds_from_motion,
    time_budgets,
)

CLASSES = ("freezing", "darting", "locomotion")


def test_windows_tile_the_session_and_examples_are_capped() -> None:
    w = plan_windows(10, 4)
    assert w == [(0, 4), (4, 8), (8, 10)]
    from ethoagent.model.ethogram import Example

    long = [Example(animal=0, start=0, stop=100, label="freezing")]
    cut = example_windows(long, 10, max_per_class=3)
    assert len(cut) == 3 and all(e.stop - e.start == 10 for e in cut)


def test_every_class_is_in_the_in_context_set_rare_ones_included() -> None:
    rng = np.random.default_rng(0)
    common = rng.normal(0, 1, (40, 4))
    rare = np.array([[50.0, 50, 50, 50]])  # one far-away darting example
    x = np.concatenate([common, rare])
    labels = ["freezing"] * 20 + ["locomotion"] * 20 + ["darting"]
    sel = select_examples(np.zeros(4), x, labels, CLASSES, k=2)
    chosen = [labels[i] for i in sel]
    assert chosen.count("darting") == 1 and chosen.count("freezing") == 2
    assert chosen.count("locomotion") == 2
    # nearest first within a class
    d = np.linalg.norm(x[sel[:2]], axis=1)
    assert d[0] <= d[1]


def test_offline_scores_follow_the_examples_and_the_definitions() -> None:
    x = np.array([[0.0, 0], [0, 0.1], [5, 5], [10, 10]])
    labels = ["freezing", "freezing", "locomotion", "darting"]
    logits = knn_logits(np.array([0.0, 0.05]), x, labels, CLASSES)
    assert int(np.argmax(logits)) == 0
    defs = {
        "freezing": "No movement for at least 1 s.",
        "darting": "A sudden fast run.",
        "locomotion": "Walking forward.",
    }
    still = definition_logits({"motion": -1.0, "displacement": -1.0}, defs, CLASSES)
    fast = definition_logits({"motion": 2.0, "displacement": 3.0}, defs, CLASSES)
    assert int(np.argmax(still)) == 0 and int(np.argmax(fast)) == 1
    p = class_probabilities(np.array([3.0, 1.0, 0.0]), excluded=[0])
    assert p[0] == 0 and p.sum() == pytest.approx(1.0) and p[1] > p[2]


def test_checks_name_the_failure() -> None:
    assert not check_answer_schema({"freezing": 1.0}, CLASSES).passed
    extra = check_answer_schema(
        {"freezing": 0.5, "darting": 0.2, "locomotion": 0.2, "x": 0.1}, CLASSES
    )
    assert not extra.passed and "'x'" in extra.message
    assert check_answer_schema(dict.fromkeys(CLASSES, 1 / 3), CLASSES).passed
    assert not check_probability_sum({"a": 0.5, "b": 0.3}).passed
    assert check_probability_sum({"a": 0.5, "b": 0.49}).passed
    moving = {"speed": 1.5, "speed_p90": 2.0, "immobile_s": 0.0}
    bad = check_temporal_plausibility(
        {"freezing": 0.9, "darting": 0.05, "locomotion": 0.05}, CLASSES, moving
    )
    assert not bad.passed and "immobility" in bad.message
    brief = {"speed": 0.01, "speed_p90": 0.02, "immobile_s": 0.4}
    r = check_temporal_plausibility(
        {"freezing": 0.9, "darting": 0.05, "locomotion": 0.05}, CLASSES, brief
    )
    assert not r.passed and "0.40 s" in r.message
    long = {"speed": 0.01, "speed_p90": 0.02, "immobile_s": 2.0}
    assert check_temporal_plausibility(
        {"freezing": 0.9, "darting": 0.05, "locomotion": 0.05}, CLASSES, long
    ).passed
    r = check_temporal_plausibility(
        {"freezing": 0.1, "darting": 0.8, "locomotion": 0.1}, CLASSES, long
    )
    assert not r.passed and "locomotion" in r.message


def test_smoothing_removes_a_one_window_flicker() -> None:
    p = np.array([[0.9, 0.1]] * 5 + [[0.45, 0.55]] + [[0.9, 0.1]] * 5)
    assert (smooth_hmm(p, stay=0.8) == 0).all()
    strong = np.array([[0.9, 0.1]] * 5 + [[0.01, 0.99]] * 4 + [[0.9, 0.1]] * 5)
    assert (smooth_hmm(strong, stay=0.8)[5:9] == 1).all()
    assert list(median_smooth([0, 0, 1, 0, 0, 2, 2, 2], 3)) == [0, 0, 0, 0, 0, 2, 2, 2]


def test_time_budgets_and_scores() -> None:
    lab = np.array([0, 0, 0, 1, 1, 0, 0, 2, 2, 2])
    rows = {r["label"]: r for r in time_budgets(lab, CLASSES, fps=10)}
    assert rows["freezing"]["bouts"] == 2 and rows["freezing"]["seconds"] == 0.5
    assert rows["darting"]["mean_bout_s"] == 0.2 and rows["locomotion"]["fraction"] == 0.3
    truth = np.array([0, 0, 1, 1, 2, 2])
    pred = np.array([0, 0, 1, 2, 2, 2])
    s = per_class_scores(pred, truth, CLASSES)
    assert s["per_class"]["freezing"]["f1"] == 1.0
    assert (
        s["per_class"]["darting"]["recall"] == 0.5 and s["per_class"]["darting"]["precision"] == 1.0
    )
    assert s["macro_f1"] == pytest.approx((1 + 2 / 3 + 0.8) / 3)


def test_velocity_rule_finds_a_still_stretch() -> None:
    fps, n = 50.0, 500
    t = np.arange(n) / fps
    x = np.where((t > 3) & (t < 7), 100.0, 100.0 + 64 * np.sin(t))  # 2 cm/s amplitude at 32 px/cm
    x[(t > 3) & (t < 7)] = 100.0 + 64 * np.sin(3.0)
    xy = np.stack([x, np.full(n, 50.0)], axis=1)
    nose = xy + np.array([20.0, 0.0])
    frz = freezing_by_velocity(xy, xy, nose, xy, fps=fps, units_per_cm=32.0)
    assert frz[(t > 3.5) & (t < 6.5)].all()
    assert not frz[(t > 0.5) & (t < 2.0)].any()


def test_frame_difference_confirms_freezing_where_keypoints_are_missing() -> None:
    still = still_seconds_from_motion([0.1, 0.0, 0.0, 0.001, 0.2, 0.0], 0.5)
    assert list(still) == [0.0, 1.5, 1.5, 1.5, 0.0, 0.5]
    probs = {"freezing": 0.9, "darting": 0.05, "locomotion": 0.05}
    lost = {"speed": float("nan"), "speed_p90": float("nan"), "immobile_s": 0.0}
    assert check_temporal_plausibility(probs, CLASSES, lost).passed  # nothing measured
    brief = check_temporal_plausibility(probs, CLASSES, {**lost, "frame_immobile_s": 0.5})
    assert not brief.passed and "frame difference" in brief.message
    assert check_temporal_plausibility(probs, CLASSES, {**lost, "frame_immobile_s": 1.5}).passed


@pytest.mark.parametrize(
    ("fps", "width", "count", "smooth"), [(50.0, 32, 10, 14), (25.0, 16, 5, 7), (30.0, 19, 6, 8)]
)
def test_centred_velocity_rule_moves_the_bout_onto_the_still_frames(
    fps: float, width: int, count: int, smooth: int
) -> None:
    n = int(10 * fps)
    a, b = int(4 * fps), int(6 * fps)  # still from 4 s to 6 s, 2 cm/s sine elsewhere
    x = 100.0 + 64 * np.sin(2 * np.pi * np.arange(n) / fps)
    x[a:b] = x[a]
    xy = np.stack([x, np.full(n, 50.0)], axis=1)
    nose = xy + np.array([20.0, 0.0])
    kw = {"window_width": width, "count_threshold": count, "smooth_frames": smooth}
    late = freezing_by_velocity(xy, xy, nose, xy, fps=fps, units_per_cm=32.0, **kw)
    on = freezing_by_velocity(xy, xy, nose, xy, fps=fps, units_per_cm=32.0, centred=True, **kw)
    # the windows' lag is 1 frame here (backward difference + even widths): moved back by it
    assert np.array_equal(on[:-1], late[1:])
    mid = (a + b - 1) / 2
    idx, idx_late = np.flatnonzero(on), np.flatnonzero(late)
    offset = (idx.min() + idx.max()) / 2 - mid
    assert abs(offset) < abs((idx_late.min() + idx_late.max()) / 2 - mid)
    assert abs(offset) <= 1.0
