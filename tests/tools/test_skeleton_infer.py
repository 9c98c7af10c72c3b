"""Regions and bones inferred from seed frames (tools/skeleton_infer.py)."""

from __future__ import annotations

import numpy as np
import pytest

from ethoagent.errors import InputError
from ethoagent.tools.skeleton_infer import infer_bones, infer_regions, seed_distances

KPS = ("a", "b", "c", "d", "e", "f")
# two clumps of three along x, 100 units apart
POINTS = np.array([[[0, 0, 0], [1, 0, 0], [0, 1, 0], [100, 0, 0], [101, 0, 0], [100, 2, 0]]], float)


def test_distances_are_medians_over_frames_and_inf_when_never_together() -> None:
    seeds = np.concatenate([POINTS, POINTS + 1, POINTS * 3])
    seeds[:, 5] = np.nan
    d = seed_distances(KPS, seeds)
    assert d[0, 1] == pytest.approx(1.0) and d[1, 0] == d[0, 1]
    assert np.isinf(d[0, 5]) and d[5, 5] == 0


def test_regions_follow_the_clumps() -> None:
    assert infer_regions(KPS, POINTS) == {"a": ("a", "b", "c"), "d": ("d", "e", "f")}


def test_regions_stay_within_max_size() -> None:
    line = np.arange(10.0)[None, :, None] * [1, 0]
    names = tuple(f"tail_{i}" for i in range(10))
    regions = infer_regions(names, line, max_size=3)
    assert all(2 <= len(r) <= 3 for r in regions.values())
    assert sorted(k for r in regions.values() for k in r) == sorted(names)
    assert "tail" in regions and "tail_2" in regions


def test_bones_are_the_minimum_spanning_tree() -> None:
    bones = infer_bones(KPS, POINTS)
    assert len(bones) == 5
    assert {frozenset(b) for b in bones} >= {frozenset(("a", "b")), frozenset(("d", "e"))}
    # the one long bone joins the clumps
    assert (
        sum({"a", "b", "c"} & set(b) != set() and {"d", "e", "f"} & set(b) != set() for b in bones)
        == 1
    )


def test_wrong_seed_shape_is_refused() -> None:
    with pytest.raises(InputError, match="seed points must have shape"):
        infer_bones(KPS, np.zeros((2, 3, 2)))
    with pytest.raises(InputError, match="max_size"):
        infer_regions(KPS, POINTS, max_size=5)
