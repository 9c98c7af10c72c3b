"""Pair features of animals placed at exactly known positions and headings."""

from __future__ import annotations

import numpy as np

from ethoagent.tools.social import PAIR_FEATURES, compute_pair_features


def _two_facing(frames: int, gap: float) -> tuple[np.ndarray, ...]:
    """Two animals of body length 2 on the x axis, heads towards each other, ``gap`` apart."""
    head = np.zeros((frames, 2, 2))
    base = np.zeros((frames, 2, 2))
    head[:, 0], base[:, 0] = [0.0, 0.0], [-2.0, 0.0]
    head[:, 1], base[:, 1] = [gap, 0.0], [gap + 2.0, 0.0]
    centre = (head + base) / 2
    heading = np.array([[0.0, np.pi]] * frames)
    return head, base, centre, heading


def test_pair_features_of_two_animals_facing_each_other() -> None:
    """Nose-nose = gap / L, nose-tail base = (gap + 2) / L, opposite headings, bearing 0."""
    head, base, centre, heading = _two_facing(4, gap=4.0)
    scale = np.array([0.5, 0.5])  # body length 2
    pairs, nearest = compute_pair_features(head, base, centre, heading, scale, 30.0)
    assert pairs.shape == (4, 2, 2, len(PAIR_FEATURES)) and nearest.shape == (4, 2, 5)
    np.testing.assert_allclose(pairs[:, 0, 1], [[2.0, 3.0, np.pi, 0.0, 0.0]] * 4, atol=1e-12)
    np.testing.assert_allclose(nearest[:, 1], pairs[:, 1, 0])
    assert np.isnan(pairs[:, [0, 1], [0, 1]]).all()  # no pair with itself


def test_approach_speed_is_the_closing_speed_in_body_lengths() -> None:
    """The partner walks in at 1 unit per frame at 10 fps: 10 units/s = 5 L/s, > 0."""
    head, base, centre, heading = _two_facing(6, gap=10.0)
    shift = np.arange(6, dtype=np.float64)[:, None]
    for arr in (head, base, centre):
        arr[:, 1, 0] -= shift[:, 0]
    pairs, _ = compute_pair_features(head, base, centre, heading, np.array([0.5, 0.5]), 10.0)
    np.testing.assert_allclose(pairs[:, 0, 1, PAIR_FEATURES.index("approach_speed")], 5.0)


def test_one_animal_has_no_partner() -> None:
    """A single animal: every pair and nearest-partner value is NaN."""
    head, base, centre, heading = (a[:, :1] for a in _two_facing(3, gap=4.0))
    pairs, nearest = compute_pair_features(head, base, centre, heading, np.array([0.5]), 30.0)
    assert pairs.shape == (3, 1, 1, 5) and np.isnan(pairs).all() and np.isnan(nearest).all()
