"""Scaling one behaviour's share of time in the synthetic behaviour program."""

from __future__ import annotations

import numpy as np
import pytest

from ethoagent.errors import InputError
from ethoagent.sim.behaviour import (
    CODE,
    INDIVIDUAL_BEHAVIOURS,
    expected_time_shares,
    simulate_behaviour,
    transition_weights,
)


def test_expected_shares_sum_to_one_and_match_a_long_simulation() -> None:
    shares = expected_time_shares()
    assert shares.sum() == pytest.approx(1.0)
    labels = simulate_behaviour(30 * 3600 * 2, fps=30.0, seed=4).labels[:, 0]
    observed = np.bincount(labels, minlength=len(INDIVIDUAL_BEHAVIOURS)) / labels.size
    np.testing.assert_allclose(observed, shares, atol=0.03)


def test_rate_scale_doubles_the_expected_share_and_keeps_the_others_ratios() -> None:
    base = expected_time_shares()
    scaled = expected_time_shares(transition_weights({"rearing": 2.0}))
    r = INDIVIDUAL_BEHAVIOURS.index("rearing")
    assert scaled[r] == pytest.approx(2 * base[r], rel=1e-4)
    others = [i for i in range(len(base)) if i != r]
    np.testing.assert_allclose(
        scaled[others] / scaled[others].sum(), base[others] / base[others].sum(), atol=0.02
    )


def test_rate_scale_in_simulated_sessions() -> None:
    frames = 30 * 1800
    rear = CODE["rearing"]
    plain = [simulate_behaviour(frames, seed=s).labels for s in range(4)]
    more = [
        simulate_behaviour(frames, seed=s, rate_scale={"rearing": 2.0}).labels for s in range(4)
    ]
    ratio = np.mean([(m == rear).mean() for m in more]) / np.mean(
        [(p == rear).mean() for p in plain]
    )
    assert 1.6 < ratio < 2.4
    none = simulate_behaviour(frames, seed=1, rate_scale={"grooming": 0.0}).labels
    assert not (none == CODE["grooming"]).any()


def test_default_program_is_unchanged_by_an_empty_rate_scale() -> None:
    a = simulate_behaviour(3000, seed=7).labels
    b = simulate_behaviour(3000, seed=7, rate_scale={}).labels
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize(
    ("scale", "match"),
    [({"flying": 2.0}, "not an individual"), ({"rearing": -1.0}, ">= 0"), ({"still": 4.0}, "time")],
)
def test_rate_scale_rejects_impossible_requests(scale: dict[str, float], match: str) -> None:
    with pytest.raises(InputError, match=match):
        transition_weights(scale)
