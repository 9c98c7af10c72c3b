"""Classify's dyadic classes: both animals of a pair end with the same label (segment's
rule), pairs of three animals are mutual nearest neighbours, and every change is counted."""

from __future__ import annotations

import numpy as np

from ethoagent.graphs.classify.dyadic import reconciled_labels

CLASSES = ("interact", "other")


def _points(xs: list[float], frames: int) -> np.ndarray:
    """``(frames, animals, 2, 2)``: each animal a 1-unit body at its x."""
    p = np.zeros((frames, len(xs), 2, 2))
    for a, x in enumerate(xs):
        p[:, a, 0, 0], p[:, a, 1, 0] = x, x + 1.0
    return p


def test_two_animals_take_the_pair_label() -> None:
    labels = np.ones((40, 2), dtype=np.int64)
    labels[10:20, 0] = 0  # a says interact, b other
    labels[30:35, 1] = 0  # b says interact, a other
    out, changes = reconciled_labels(labels, CLASSES, ("a", "b"))
    assert (out[:, 0] == out[:, 1]).all()
    assert (out[10:20] == 0).all() and (out[30:35] == 0).all()
    assert (out[:10] == 1).all() and (out[20:30] == 1).all()
    got = {(c.animal, c.partner, c.before, c.after, c.frames) for c in changes}
    assert got == {("b", "a", "other", "interact", 10), ("a", "b", "other", "interact", 5)}
    assert labels[10, 1] == 1  # the input is left as it was


def test_three_animals_pair_mutual_nearest_neighbours_only() -> None:
    labels = np.ones((20, 3), dtype=np.int64)
    labels[:, 0] = 0  # a interact, b other: a and b are each other's nearest
    labels[:, 2] = 0  # c interact: its nearest (b) is nearer a, so c has no pair
    out, changes = reconciled_labels(labels, CLASSES, ("a", "b", "c"), _points([0, 2, 9], 20))
    assert (out[:, :2] == 0).all()
    assert (out[:, 2] == 0).all()
    assert [(c.animal, c.partner, c.frames) for c in changes] == [("b", "a", 20)]
    same, none = reconciled_labels(labels, CLASSES, ("a", "b", "c"))  # no keypoints
    assert (same == labels).all() and none == []


def test_a_pair_label_outside_the_label_set_changes_nothing() -> None:
    classes = ("huddle", "walking")  # huddle beside a moving partner = close_contact
    labels = np.zeros((10, 2), dtype=np.int64)
    labels[:, 1] = 1
    out, changes = reconciled_labels(labels, classes, ("a", "b"))
    assert (out == labels).all() and changes == []
    synonym = ("contact", "other")  # contact is interact's synonym: still a pair label
    labels[:, 0] = 0
    out, changes = reconciled_labels(labels, synonym, ("a", "b"))
    assert (out == 0).all() and changes[0].after in synonym


def test_one_animal_is_left_alone() -> None:
    labels = np.zeros((5, 1), dtype=np.int64)
    out, changes = reconciled_labels(labels, CLASSES, ("a",))
    assert out is labels and changes == []
