"""Dyadic labels made the same for both animals of a pair (tools.dyadic)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ethoagent.errors import InputError
from ethoagent.model.ethogram import Epoch
from ethoagent.tools.dyadic import (
    MUTUAL_LABELS,
    nearest_partners,
    pair_label,
    reconcile_dyadic,
)
from ethoagent.tools.ethogram import check_tiling

LABELS = ("walking", "still", "huddle", "close_contact", "nose_to_nose", "chase", "untracked")


def _per_frame(eps: list[Epoch], frames: int) -> list[str]:
    out = [""] * frames
    for e in eps:
        out[e.start : e.stop] = [e.label] * (e.stop - e.start)
    return out


def test_pair_label_is_symmetric_and_follows_its_rules() -> None:
    for a, b in itertools.product((*LABELS, "contact", "interact", "grooming"), repeat=2):
        assert pair_label(a, b) == pair_label(b, a)
    assert pair_label("huddle", "close_contact") == "close_contact"
    assert pair_label("nose_to_nose", "huddle") == "nose_to_nose"
    assert pair_label("huddle", "still") == "huddle"
    assert pair_label("huddle", "walking") == "close_contact"  # a moving partner
    assert pair_label("interact", "grooming") == "interact"
    assert pair_label("huddle", "untracked") is None  # no data is not contradicted
    assert pair_label("close_contact", "nose_to_anogenital") is None  # a directed act
    assert pair_label("walking", "still") is None  # nothing dyadic
    assert pair_label("huddle", "huddle") is None
    assert pair_label("contact", "close_contact") == "close_contact"  # one label, two names


def test_huddle_against_close_contact_becomes_one_label_for_both() -> None:
    eps = {
        "adult": [
            Epoch(start=0, stop=30, label="huddle"),
            Epoch(start=30, stop=60, label="walking"),
        ],
        "juvenile": [
            Epoch(start=0, stop=20, label="close_contact", confidence=0.5),
            Epoch(start=20, stop=60, label="walking"),
        ],
    }
    out, changes = reconcile_dyadic(eps, 60)
    adult, juvenile = _per_frame(out["adult"], 60), _per_frame(out["juvenile"], 60)
    assert adult[:30] == juvenile[:30] == ["close_contact"] * 30
    assert adult[30:] == juvenile[30:] == ["walking"] * 30
    by = {(c.animal, c.before, c.after): c.frames for c in changes}
    # frames 0-20: huddle vs close_contact; 20-30: huddle beside a walking partner
    assert by == {
        ("adult", "huddle", "close_contact"): 30,
        ("juvenile", "walking", "close_contact"): 10,
    }
    for name in out:
        assert all(c.passed for c in check_tiling(out[name], 60))
    # the juvenile's close contact grew by the 10 frames it took from the adult
    assert out["juvenile"][0].description.endswith("(frames 20-30 made the same as adult's)")
    assert out["adult"][0].description.startswith("close_contact with juvenile")
    assert out["adult"][0].description.endswith("was huddle)")


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.tuples(st.integers(1, 8), st.sampled_from(LABELS)), min_size=1, max_size=6),
    st.lists(st.tuples(st.integers(1, 8), st.sampled_from(LABELS)), min_size=1, max_size=6),
)
def test_after_reconciling_no_frame_has_two_different_mutual_labels(
    a: list[tuple[int, str]], b: list[tuple[int, str]]
) -> None:
    def epochs(runs: list[tuple[int, str]], frames: int) -> list[Epoch]:
        out, f = [], 0
        for n, label in runs:
            stop = min(frames, f + n)
            if stop > f:
                out.append(Epoch(start=f, stop=stop, label=label))
            f = stop
        if f < frames:
            out.append(Epoch(start=f, stop=frames, label="still"))
        return out

    frames = 20
    eps = {"a": epochs(a, frames), "b": epochs(b, frames)}
    out, changes = reconcile_dyadic(eps, frames)
    la, lb = _per_frame(out["a"], frames), _per_frame(out["b"], frames)
    for x, y in zip(la, lb, strict=True):
        assert pair_label(x, y) is None  # nothing left to reconcile
        if x in MUTUAL_LABELS and y in MUTUAL_LABELS:
            assert x == y
    after = {n: _per_frame(out[n], frames) for n in eps}
    changed = sum(
        u != v for n in eps for u, v in zip(_per_frame(eps[n], frames), after[n], strict=True)
    )
    assert changed == sum(c.frames for c in changes)


def test_one_animal_or_no_partners_changes_nothing() -> None:
    eps = {"solo": [Epoch(start=0, stop=10, label="huddle")]}
    assert reconcile_dyadic(eps, 10) == (eps, [])


def test_three_animals_pair_only_mutual_nearest_neighbours() -> None:
    points = np.zeros((4, 3, 2, 2))
    points[:, 1] += 1.0  # b is next to a; c is far away and nearest to b (not mutual)
    points[:, 2] += 10.0
    partners = nearest_partners(points)
    assert partners.tolist() == [[1, 0, 1]] * 4
    eps = {
        "a": [Epoch(start=0, stop=4, label="huddle")],
        "b": [Epoch(start=0, stop=4, label="still")],
        "c": [Epoch(start=0, stop=4, label="walking")],
    }
    out, changes = reconcile_dyadic(eps, 4, partners)
    assert [e.label for e in out["b"]] == ["huddle"]
    assert [e.label for e in out["c"]] == ["walking"]
    assert [(c.animal, c.partner) for c in changes] == [("b", "a")]


def test_nearest_partner_of_an_untracked_animal_is_none() -> None:
    points = np.zeros((2, 2, 1, 2))
    points[1, 1] = np.nan
    assert nearest_partners(points).tolist() == [[1, 0], [-1, -1]]


def test_bad_inputs_name_the_problem() -> None:
    eps = {
        "a": [Epoch(start=0, stop=5, label="huddle")],
        "b": [Epoch(start=0, stop=10, label="still")],
    }
    with pytest.raises(InputError, match="ethogram of a leaves frame 5"):
        reconcile_dyadic(eps, 10)
    with pytest.raises(InputError, match="partners must be"):
        reconcile_dyadic(eps, 10, np.zeros((3, 2), dtype=np.int64))
    with pytest.raises(InputError, match="frames, animals, keypoints, dims"):
        nearest_partners(np.zeros((3, 2)))
