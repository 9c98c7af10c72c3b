"""The gate's head: rule, logistic regression and the choice between them and the transformer."""

from __future__ import annotations

import itertools

import numpy as np

from ethoagent.graphs.gate.head import (
    apply_head,
    choose_head,
    fit_logreg,
    fit_rule,
    logreg_probs,
    macro_f1,
    rule_probs,
    smooth,
    social_inputs,
    split_span,
)


def _close_data(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Nose distances (frames, 2 animals) and labels: class 0 ("interact") below 1 L."""
    rng = np.random.default_rng(seed)
    d = rng.uniform(0.0, 4.0, size=(400, 2))
    return d, np.where(d < 1.0, 0, 1).astype(np.int64)


def test_the_rule_finds_the_threshold_and_the_close_class() -> None:
    d, y = _close_data()
    rule = fit_rule(d, y, 2)
    assert rule is not None
    assert rule["close"] == 0 and rule["other"] == 1
    assert abs(rule["threshold"] - 1.0) < 0.1
    assert rule["f1"] > 0.95
    probs = rule_probs(rule, np.array([[0.5, np.nan], [3.0, 0.2]]))
    np.testing.assert_array_equal(probs.argmax(-1), [[0, 1], [1, 0]])  # unknown = far
    assert fit_rule(d, y, 3) is None  # two classes only


def test_logistic_regression_maps_two_classes_back_to_their_codes() -> None:
    rng = np.random.default_rng(1)
    x = rng.normal(size=(300, 2, 3)).astype(np.float32)
    y = np.where(x[..., 0] > 0.5, 2, 0).astype(np.int64)  # codes 0 and 2 of 3
    y[:10] = -1
    head = fit_logreg(x, y, 3)
    assert head is not None and len(head["animals"]) == 2
    p = logreg_probs(head, x)
    assert p.shape == (300, 2, 3)
    np.testing.assert_allclose(p.sum(-1), 1.0, atol=1e-9)
    assert p[..., 1].max() < 1e-6  # class 1 never seen
    assert (p.argmax(-1)[10:] == y[10:]).mean() > 0.9
    assert fit_logreg(x, np.zeros_like(y), 3) is None


def test_each_animal_gets_its_own_model_on_its_and_its_partners_features() -> None:
    rng = np.random.default_rng(4)
    x = rng.normal(size=(400, 2, 5)).astype(np.float32)
    social = social_inputs(x, 2)  # the last 2 columns are the pose features
    np.testing.assert_array_equal(social[:, 0], np.concatenate([x[:, 0, 3:], x[:, 1, 3:]], -1))
    np.testing.assert_array_equal(social[:, 1], np.concatenate([x[:, 1, 3:], x[:, 0, 3:]], -1))
    # animal 0's class follows its partner's feature, animal 1's its own, with opposite signs
    y = np.stack([x[:, 1, 4] > 0, x[:, 1, 4] < 0], axis=1).astype(np.int64)
    head = fit_logreg(x, y, 2, pose_dims=2)
    assert head is not None
    assert (logreg_probs(head, x).argmax(-1) == y).mean() > 0.95
    y[:, 1] = 0  # one class only for animal 1: it takes the pooled model
    assert fit_logreg(x, y, 2, pose_dims=2) is not None


def test_smoothing_is_a_centred_moving_average() -> None:
    p = np.zeros((9, 1, 2))
    p[4, 0, 0] = 1.0
    p[..., 1] = 1.0 - p[..., 0]
    s = smooth(p, 3)
    np.testing.assert_allclose(s[3:6, 0, 0], 1 / 3)
    assert s[2, 0, 0] == 0.0 and s[6, 0, 0] == 0.0
    np.testing.assert_allclose(s.sum(-1), 1.0)
    assert smooth(p, 1) is p


def test_macro_f1_of_known_predictions() -> None:
    truth = np.array([0, 0, 1, 1, -1])
    assert macro_f1(np.array([0, 0, 1, 1, 0]), truth, 2) == 1.0
    assert macro_f1(np.array([0, 1, 1, 1, 0]), truth, 2) == (2 / 3 + 0.8) / 2


def test_the_head_falls_back_to_the_rule_when_the_transformer_is_worse() -> None:
    d, y = _close_data(2)
    rng = np.random.default_rng(3)
    noise = rng.dirichlet([1.0, 1.0], size=y.shape)
    x = rng.normal(size=(*y.shape, 4)).astype(np.float32)  # uninformative features
    rule = fit_rule(d, y, 2)
    assert rule is not None
    fitted = (fit_logreg(x, y, 2), rule)
    head = choose_head(noise, x, d, y, fitted, fps=30.0)
    assert head["mode"] == "rule"
    assert head["validation"]["rule"] > head["validation"]["transformer"]
    perfect = np.eye(2)[y]
    assert choose_head(perfect, x, d, y, fitted, fps=30.0)["validation"]["transformer"] == 1.0
    head.update(rule=fitted[1], logreg=fitted[0])
    np.testing.assert_array_equal(apply_head(head, noise, x, d), rule_probs(rule, d))
    assert apply_head(None, noise, x, d) is noise


def test_held_back_blocks_are_interleaved_and_need_a_long_enough_span() -> None:
    fit, val = split_span(slice(0, 2850), 64)
    assert val and all(v.stop - v.start <= 128 for v in val)
    held = sum(v.stop - v.start for v in val)
    assert 0.15 < held / 2850 < 0.25
    assert val[0].start > 0 and val[-1].start > 2000  # early and late frames held back
    covered = sorted([(p.start, p.stop) for p in fit + val])
    assert covered[0][0] == 0 and covered[-1][1] == 2850
    assert all(a[1] == b[0] for a, b in itertools.pairwise(covered))
    assert split_span(slice(0, 500), 64) == ([slice(0, 500)], [])


def test_a_mode_must_beat_a_simpler_one_by_the_margin() -> None:
    d, y = _close_data(5)
    far = int(np.argmax(d[:, 0]))
    y[far, 0] = 0  # one label the rule gets wrong; the transformer gets every one right
    rule = fit_rule(d, y, 2)
    assert rule is not None
    x = np.random.default_rng(6).normal(size=(*y.shape, 4)).astype(np.float32)
    head = choose_head(np.eye(2)[y], x, d, y, (None, rule), fps=30.0)
    assert head["validation"]["rule"] < head["validation"]["transformer"] == 1.0
    assert head["validation"]["transformer"] - head["validation"]["rule"] < 0.01
    assert head["mode"] == "rule"
