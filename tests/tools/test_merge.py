"""Rule-based merge of captions into epochs, windows, their tiling check and stitching."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ethoagent.errors import InputError
from ethoagent.model.ethogram import Epoch
from ethoagent.tools.ethogram import check_tiling
from ethoagent.tools.merge import (
    check_window_tiling,
    majority_cluster,
    merge_epochs,
    plan_windows,
    stitch_windows,
)


def ep(a: int, b: int, label: str, conf: float = 1.0, desc: str = "") -> Epoch:
    return Epoch(start=a, stop=b, label=label, confidence=conf, description=desc)


def test_merge_joins_equal_neighbours_and_absorbs_short_ones() -> None:
    pieces = [
        ep(0, 30, "a", 0.8, "short a"),
        ep(30, 35, "b"),
        ep(35, 90, "a", 0.6, "long a"),
        ep(90, 150, "c"),
    ]
    out = merge_epochs(pieces, 30)
    assert [(e.start, e.stop, e.label) for e in out] == [(0, 90, "a"), (90, 150, "c")]
    # the absorbed 5 frames of "b" count 0 towards the confidence of "a"
    assert out[0].confidence == pytest.approx((30 * 0.8 + 55 * 0.6) / 90, abs=1e-4)
    assert out[0].description == "long a"
    assert merge_epochs([ep(10, 20, "x")], 30) == [ep(10, 20, "x")]
    with pytest.raises(InputError, match="tile"):
        merge_epochs([ep(0, 10, "a"), ep(12, 20, "b")], 5)


def test_plan_windows() -> None:
    assert plan_windows(100, 40, 8) == [(0, 40), (32, 72), (64, 100)]
    assert plan_windows(10, 40, 8) == [(0, 10)]
    assert plan_windows(0, 4, 1) == []
    with pytest.raises(InputError, match="overlap < size"):
        plan_windows(10, 4, 4)


def test_window_tiling_names_violations_in_absolute_frames() -> None:
    eps = [ep(10, 20, "a"), ep(25, 40, "b"), ep(35, 55, "c")]
    gaps, overlaps, bounds = check_window_tiling(eps, 10, 50)
    assert not gaps.passed and "[20, 25) (5 frames)" in gaps.message and gaps.value == 5
    assert not overlaps.passed and "[35, 40)" in overlaps.message
    assert not bounds.passed and "epoch 3 [35, 55) lies outside frames [10, 50)" in bounds.message
    assert all(c.passed for c in check_window_tiling([ep(10, 30, "a"), ep(30, 50, "b")], 10, 50))


def test_stitch_cuts_at_a_shared_boundary_else_a_snippet_boundary() -> None:
    a = (0, 100, [ep(0, 50, "a"), ep(50, 70, "b"), ep(70, 100, "c")])
    b = (60, 200, [ep(60, 70, "b"), ep(70, 120, "c"), ep(120, 200, "d")])
    out = stitch_windows([a, b])
    assert [(e.start, e.stop, e.label) for e in out] == [
        (0, 50, "a"), (50, 70, "b"), (70, 120, "c"), (120, 200, "d"),
    ]  # fmt: skip
    b2 = (60, 200, [ep(60, 90, "b"), ep(90, 200, "c")])
    out = stitch_windows([(0, 100, [ep(0, 50, "a"), ep(50, 100, "b")]), b2], [60, 85, 100])
    assert [(e.start, e.stop) for e in out] == [(0, 50), (50, 85), (85, 90), (90, 200)]
    with pytest.raises(InputError, match="does not continue"):
        stitch_windows([a, (120, 200, [ep(120, 200, "d")])])


@settings(max_examples=100, deadline=None)
@given(
    cuts=st.lists(st.integers(1, 299), min_size=2, max_size=30, unique=True),
    labels=st.lists(st.sampled_from("abc"), min_size=31, max_size=31),
    size=st.integers(2, 6),
    overlap=st.integers(0, 1),
)
def test_stitched_windows_tile(cuts: list[int], labels: list[str], size: int, overlap: int) -> None:
    edges = [0, *sorted(cuts), 300]
    pieces = [ep(a, b, labels[i]) for i, (a, b) in enumerate(itertools.pairwise(edges))]
    windows = [
        (pieces[i].start, pieces[j - 1].stop, merge_epochs(pieces[i:j], 10))
        for i, j in plan_windows(len(pieces), size, overlap)
    ]
    out = merge_epochs(stitch_windows(windows, edges), 10)
    assert all(c.passed for c in check_tiling(out, 300))


def test_majority_cluster() -> None:
    assert majority_cluster([1, 1, 2, -1, 2, 2], 0, 6) == 2
    assert majority_cluster([1, 1, 2, 2], 0, 4) == 1
    assert majority_cluster([-1, -1], 0, 2) is None
