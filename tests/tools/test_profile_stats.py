"""Profiles, effect sizes, permutation tests and FDR control (tools.profile_stats)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from ethoagent.errors import InputError
from ethoagent.sim.behaviour import INDIVIDUAL_BEHAVIOURS, simulate_behaviour
from ethoagent.tools.profile_stats import (
    UNLABELLED,
    bout_dispersion_p,
    cliffs_delta,
    compare_groups,
    compute_profile,
    find_session_restricted,
    hedges_g,
    min_permutation_p,
    pooled_transitions,
)


def test_profile_of_a_known_sequence() -> None:
    labels = ["a"] * 30 + ["b"] * 60 + [UNLABELLED] * 10 + ["a"] * 30 + ["b"] * 30
    p = compute_profile(labels, ["a", "b", "c"], fps=30.0)
    assert p.labelled_frames == 150
    assert p.time_fraction == pytest.approx({"a": 0.4, "b": 0.6, "c": 0.0})
    assert p.bouts == {"a": 2, "b": 2, "c": 0}
    assert p.mean_bout_s == pytest.approx({"a": 1.0, "b": 1.5, "c": 0.0})
    assert p.bouts_per_min["a"] == pytest.approx(2 / (150 / 30 / 60))
    # a->b twice; b->(gap)->a is not a transition
    assert p.transitions == [[0, 2, 0], [0, 0, 0], [0, 0, 0]]
    np.testing.assert_allclose(p.transition_probabilities()[0], [0, 1, 0])
    np.testing.assert_allclose(pooled_transitions([p, p])[0], [0, 1, 0])


def test_profile_rejects_labels_outside_the_vocabulary() -> None:
    with pytest.raises(InputError, match="not in the vocabulary"):
        compute_profile(["a", "z"], ["a"], fps=30.0)


def test_effect_sizes_on_exact_cases() -> None:
    a, b = [1.0, 2.0, 3.0], [3.0, 4.0, 5.0]
    # pooled SD 1, difference 2, correction 1 - 3/(4*6 - 9) = 0.8
    assert hedges_g(a, b) == pytest.approx(2 * 0.8)
    assert hedges_g(b, a) == pytest.approx(-1.6)
    assert cliffs_delta(a, b) == pytest.approx((8 - 0) / 9)  # one tie (3 vs 3)
    assert cliffs_delta([1, 2], [5, 6]) == 1.0
    assert math.isnan(hedges_g([1.0], [2.0, 3.0]))
    assert hedges_g([1.0, 1.0], [1.0, 1.0]) == 0.0


def _profiles(labels: list[np.ndarray]) -> list:
    names = list(INDIVIDUAL_BEHAVIOURS)
    return [compute_profile([names[c] for c in lab], names, 30.0) for lab in labels]


def test_planted_rearing_effect_is_found_on_ground_truth_labels() -> None:
    frames = 30 * 90
    ctrl = [simulate_behaviour(frames, seed=s).labels[:, 0] for s in range(8)]
    more = [
        simulate_behaviour(frames, seed=100 + s, rate_scale={"rearing": 2.0}).labels[:, 0]
        for s in range(8)
    ]
    profiles = _profiles(ctrl + more)
    groups = ["control"] * 8 + ["treated"] * 8
    result = compare_groups(profiles, groups, n_resamples=4999, seed=1)
    rear = next(c for c in result if c.behaviour == "rearing")
    assert rear.tested and rear.min_p < 0.001 and rear.note == ""
    assert rear.p < 0.01 and rear.significant
    assert rear.difference > 0 and rear.ci_low > 0
    assert rear.hedges_g > 1 and rear.cliffs_delta > 0.6
    assert all(c.q >= c.p - 1e-12 for c in result)


def test_null_cohorts_keep_the_false_positive_rate_near_alpha() -> None:
    frames, n = 30 * 60, 6
    raw, cohorts_with_discovery, tests = 0, 0, 0
    for cohort in range(30):
        labels = [
            simulate_behaviour(frames, seed=1000 * cohort + s).labels[:, 0] for s in range(2 * n)
        ]
        result = compare_groups(
            _profiles(labels), ["a"] * n + ["b"] * n, n_resamples=999, seed=cohort
        )
        raw += sum(c.p < 0.05 for c in result)
        tests += len(result)
        cohorts_with_discovery += any(c.significant for c in result)
    # 180 tests: binomial(180, 0.05) exceeds 18 with probability < 0.5 %
    assert raw / tests <= 0.10
    assert cohorts_with_discovery <= 4


def test_compare_groups_rejects_a_group_of_one() -> None:
    profiles = _profiles([simulate_behaviour(300, seed=s).labels[:, 0] for s in range(3)])
    with pytest.raises(InputError, match="single profile"):
        compare_groups(profiles, ["a", "a", "b"])


def test_constant_metric_gives_p_one() -> None:
    profiles = _profiles([np.zeros(300, dtype=int)] * 8)
    result = compare_groups(profiles, ["a"] * 4 + ["b"] * 4, n_resamples=99)
    assert all(c.tested and c.p == 1.0 and not c.significant for c in result)


def test_smallest_attainable_permutation_p() -> None:
    assert min_permutation_p(2, 2, 9999) == pytest.approx(1 / 3)  # 2 of 6 arrangements
    assert min_permutation_p(3, 3, 9999) == pytest.approx(0.1)
    assert min_permutation_p(2, 3, 9999) == pytest.approx(0.2)
    assert min_permutation_p(4, 4, 9999) == pytest.approx(2 / 70)
    assert min_permutation_p(8, 8, 999) == pytest.approx(2 / 1000)  # random permutations
    assert min_permutation_p(1, 5, 9999) == pytest.approx(1 / 3)
    assert min_permutation_p(1, 1, 9999) == 1.0


def test_two_against_two_animals_is_not_tested_even_with_a_huge_effect() -> None:
    frames = 30 * 90
    ctrl = [simulate_behaviour(frames, seed=s).labels[:, 0] for s in range(2)]
    more = [
        simulate_behaviour(frames, seed=100 + s, rate_scale={"rearing": 4.0}).labels[:, 0]
        for s in range(2)
    ]
    result = compare_groups(_profiles(ctrl + more), ["a", "a", "b", "b"], n_resamples=999)
    assert result and not any(c.tested or c.significant for c in result)
    for c in result:
        assert c.min_p == pytest.approx(1 / 3)
        assert math.isnan(c.p) and math.isnan(c.q)
        assert math.isnan(c.ci_low) and math.isnan(c.ci_high)  # no interval beside no test
        assert "2 vs 2 animals" in c.note and "0.333" in c.note
    rear = next(c for c in result if c.behaviour == "rearing")
    assert rear.difference > 0  # the descriptive difference is still reported


def test_repeated_sessions_of_one_animal_count_once() -> None:
    frames = 30 * 60
    labels = [simulate_behaviour(frames, seed=s).labels[:, 0] for s in range(8)]
    profiles = _profiles(labels)
    groups = ["a"] * 4 + ["b"] * 4
    # eight sessions, but of four animals (two sessions each): 2 vs 2 animals
    animals = ["m1", "m1", "m2", "m2", "m3", "m3", "m4", "m4"]
    result = compare_groups(profiles, groups, units=animals, n_resamples=999)
    assert all(c.n_a == 2 and c.n_b == 2 and not c.tested for c in result)
    assert all(c.n_sessions_a == 4 and c.n_sessions_b == 4 for c in result)
    first = result[0]
    v = np.asarray([p.time_fraction[first.behaviour] for p in profiles])
    per_animal = [v[0:2].mean(), v[2:4].mean()]
    assert first.mean_a == pytest.approx(np.mean(per_animal))
    # the same sessions as eight animals are tested
    separate = compare_groups(profiles, groups, n_resamples=999)
    assert all(c.tested and c.n_a == 4 for c in separate)
    with pytest.raises(InputError, match="animal ids"):
        compare_groups(profiles, groups, units=animals[:3])


def test_session_restricted_behaviours() -> None:
    names = ["x", "y"]
    profiles = [compute_profile(["x"] * 1800, names, 30.0) for _ in range(6)]
    # y: 6 bouts, all in one profile
    y = (["x"] * 100 + ["y"] * 30) * 6 + ["x"] * 1020
    profiles.append(compute_profile(y, names, 30.0))
    assert find_session_restricted(profiles) == {"y": [6]}
    assert find_session_restricted(profiles, min_fraction=0.5) == {}
    assert bout_dispersion_p(profiles, "y") < 0.001


def test_a_rare_but_evenly_spread_behaviour_is_not_novel() -> None:
    names = ["x", "y"]
    # one short bout in half of the profiles: present in only some, but as by chance
    one = ["x"] * 900 + ["y"] * 30 + ["x"] * 870
    profiles = [compute_profile(one if i % 2 else ["x"] * 1800, names, 30.0) for i in range(8)]
    assert bout_dispersion_p(profiles, "y") > 0.05
    assert find_session_restricted(profiles) == {}
    assert find_session_restricted(profiles, max_p=1.0) == {"y": [1, 3, 5, 7]}
