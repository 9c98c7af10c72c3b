"""Snippets: exact tiling, max length, merging of short runs at the start and end."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ethoagent.errors import InputError
from ethoagent.model.ethogram import Snippet
from ethoagent.tools.snippets import cut_snippets, runs, sample_frames, split_snippets


def _tiles(snips: list[Snippet], frames: int) -> bool:
    edges = [s.start for s in snips] + [snips[-1].stop]
    return edges[0] == 0 and edges[-1] == frames and all(s.stop > s.start for s in snips)


def test_runs() -> None:
    assert runs([1, 1, 2, 2, 2, 1]) == [(0, 2, 1), (2, 5, 2), (5, 6, 1)]
    assert runs(np.array([], dtype=int)) == []


def test_long_run_cut_into_equal_pieces() -> None:
    snips = cut_snippets(np.zeros(120, dtype=int), fps=10.0, min_s=1.0, max_s=5.0)
    # 12 s at most 5 s a piece -> 3 pieces of 4 s
    assert [(s.start, s.stop) for s in snips] == [(0, 40), (40, 80), (80, 120)]
    assert all(s.seconds == pytest.approx(4.0) and s.cluster == 0 for s in snips)


def test_short_runs_at_start_and_end_merge_into_neighbour() -> None:
    labels = np.r_[np.full(3, 7), np.full(30, 1), np.full(40, 2), np.full(5, 9)]
    snips = cut_snippets(labels, fps=10.0, min_s=1.0, max_s=5.0)
    assert [(s.start, s.stop, s.cluster) for s in snips] == [(0, 33, 1), (33, 78, 2)]


def test_short_run_in_the_middle_goes_to_longer_neighbour() -> None:
    labels = np.r_[np.full(12, 0), np.full(4, 5), np.full(20, 1)]
    snips = cut_snippets(labels, fps=10.0)
    assert [(s.start, s.stop, s.cluster) for s in snips] == [(0, 12, 0), (12, 36, 1)]
    # the absorbed run joins equal neighbours on both sides
    snips = cut_snippets(np.r_[np.full(12, 0), np.full(4, 5), np.full(20, 0)], fps=10.0)
    assert [(s.start, s.stop, s.cluster) for s in snips] == [(0, 36, 0)]


def test_timeline_shorter_than_min_is_one_snippet() -> None:
    snips = cut_snippets([0, 1, 1, 2], fps=10.0)
    assert len(snips) == 1 and (snips[0].start, snips[0].stop) == (0, 4)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.integers(0, 3), min_size=1, max_size=300),
    st.sampled_from([5.0, 10.0, 30.0]),
)
def test_snippets_always_tile_and_respect_bounds(codes: list[int], fps: float) -> None:
    labels = np.repeat(codes, 3)
    snips = cut_snippets(labels, fps=fps, min_s=0.5, max_s=2.0)
    assert _tiles(snips, labels.size)
    assert all(a.stop == b.start for a, b in itertools.pairwise(snips))
    assert all(s.stop - s.start <= 2.0 * fps for s in snips)
    if len(snips) > 1:
        # pieces of runs >= min are at least half of the min length
        assert all(s.stop - s.start >= round(0.5 * fps) // 2 for s in snips)


def test_sample_frames() -> None:
    snip = Snippet(start=30, stop=60, cluster=0, seconds=1.0)
    assert sample_frames(snip, fps=30.0, max_fps=10.0) == list(range(30, 60, 3))
    assert sample_frames(snip, fps=5.0, max_fps=10.0) == list(range(30, 60))
    assert sample_frames(Snippet(start=0, stop=1, cluster=0, seconds=0.1), fps=30.0) == [0]


def test_validation() -> None:
    with pytest.raises(InputError, match="fps"):
        cut_snippets([0, 1], fps=0.0)
    with pytest.raises(InputError, match="min_s"):
        cut_snippets([0, 1], fps=10.0, min_s=6.0, max_s=5.0)
    with pytest.raises(InputError, match="integer"):
        cut_snippets([0.5, 1.0], fps=10.0)


def test_split_snippets_cuts_where_the_class_holds() -> None:
    snips = cut_snippets(np.zeros(100, dtype=int), fps=10.0, min_s=1.0, max_s=10.0)
    classes = np.zeros(100, dtype=int)
    classes[30:60] = 1  # 3 s of another class: a boundary at 30 and at 60
    classes[80:83] = 2  # 0.3 s: too short to make a boundary
    out = split_snippets(snips, classes, fps=10.0, min_s=0.5)
    assert [(s.start, s.stop) for s in out] == [(0, 30), (30, 60), (60, 100)]
    assert all(s.cluster == 0 and s.seconds == pytest.approx((s.stop - s.start) / 10) for s in out)
    # a class change 0.2 s inside a snippet leaves no piece shorter than min_s
    two = cut_snippets(np.repeat([0, 1], 50), fps=10.0, min_s=1.0, max_s=10.0)
    shifted = np.repeat([0, 1], [52, 48])
    assert [(s.start, s.stop) for s in split_snippets(two, shifted, 10.0)] == [(0, 50), (50, 100)]
    with pytest.raises(InputError, match="classes cover"):
        split_snippets(snips, classes[:50], fps=10.0)
