"""Ethograms: tiling and vocabulary checks, conversions, metrics and CSV round trips."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ethoagent.errors import InputError
from ethoagent.io.labels import boris_to_framewise, read_boris_events
from ethoagent.model.checks import CheckResult
from ethoagent.model.ethogram import Epoch
from ethoagent.tools.ethogram import (
    boundary_f1,
    check_min_duration,
    check_tiling,
    check_vocabulary,
    epochs_from_labels,
    hungarian_macro_f1,
    labels_from_epochs,
    median_epoch_seconds,
    nmi,
    read_ethogram_csv,
    switches_per_minute,
    time_shares,
    time_shares_csv,
    time_shares_markdown,
    write_boris_csv,
    write_ethogram_csv,
)

NAMES = ("rest", "walk", "groom", "rear")


def _by_name(results: list[CheckResult]) -> dict[str, CheckResult]:
    return {r.name: r for r in results}


def test_tiling_passes_for_exact_cover() -> None:
    eps = [Epoch(start=0, stop=10, label="rest"), Epoch(start=10, stop=25, label="walk")]
    assert all(r.passed for r in check_tiling(eps, 25))


def test_tiling_names_gap_overlap_and_unsorted() -> None:
    eps = [
        Epoch(start=0, stop=10, label="rest"),
        Epoch(start=30, stop=40, label="walk"),  # unsorted: comes before [15, 35)
        Epoch(start=15, stop=35, label="groom"),  # gap [10, 15), overlaps [30, 35)
    ]
    res = _by_name(check_tiling(eps, 50))
    assert not res["tiling_sorted"].passed
    assert "epoch 2 [15, 35) starts before epoch 1 [30, 40)" in res["tiling_sorted"].message
    assert not res["tiling_gaps"].passed and res["tiling_gaps"].value == 15.0
    assert "gap [10, 15)" in res["tiling_gaps"].message
    assert "gap [40, 50)" in res["tiling_gaps"].message
    assert not res["tiling_overlaps"].passed and res["tiling_overlaps"].value == 5.0
    assert "epochs 2 and 1 both cover [30, 35)" in res["tiling_overlaps"].message
    assert res["tiling_bounds"].passed
    past = _by_name(check_tiling([Epoch(start=0, stop=60, label="rest")], 50))
    assert (
        not past["tiling_bounds"].passed and "ends after frame 50" in past["tiling_bounds"].message
    )
    empty = _by_name(check_tiling([], 5))
    assert "gap [0, 5)" in empty["tiling_gaps"].message


def test_vocabulary_and_min_duration() -> None:
    eps = [Epoch(start=0, stop=3, label="rest"), Epoch(start=3, stop=20, label="fly")]
    voc = check_vocabulary(eps, NAMES)
    assert not voc.passed and "epoch 1 [3, 20) has label 'fly'" in voc.message
    assert check_vocabulary(eps[:1], NAMES).passed
    dur = check_min_duration(eps, 5)
    assert not dur.passed and dur.value == 3.0 and "epoch 0 [0, 3)" in dur.message
    assert check_min_duration(eps, 3).passed


def test_epoch_validation() -> None:
    with pytest.raises(ValueError, match="must be > start"):
        Epoch(start=5, stop=5, label="rest")
    with pytest.raises(ValueError):
        Epoch(start=0, stop=5, label="rest", confidence=1.5)


@settings(max_examples=80, deadline=None)
@given(st.lists(st.integers(0, len(NAMES) - 1), min_size=1, max_size=200))
def test_epochs_from_labels_tile_and_invert(codes: list[int]) -> None:
    labels = np.asarray(codes, dtype=np.int64)
    eps = epochs_from_labels(labels, NAMES)
    assert all(r.passed for r in check_tiling(eps, labels.size))
    assert check_vocabulary(eps, NAMES).passed
    np.testing.assert_array_equal(labels_from_epochs(eps, labels.size, NAMES), labels)
    np.testing.assert_array_equal(labels_from_epochs(eps, labels.size), labels)


def test_labels_from_epochs_marks_uncovered_and_unknown() -> None:
    out = labels_from_epochs([Epoch(start=2, stop=4, label="walk")], 6, NAMES)
    np.testing.assert_array_equal(out, [-1, -1, 1, 1, -1, -1])
    with pytest.raises(InputError, match="'fly'"):
        labels_from_epochs([Epoch(start=0, stop=1, label="fly")], 2, NAMES)
    with pytest.raises(InputError, match="no name"):
        epochs_from_labels([0, 9], NAMES)


def test_hungarian_macro_f1() -> None:
    truth = np.array([0, 0, 0, 1, 1, 2, 2, 2, 2])
    assert hungarian_macro_f1((truth + 5) * 3, truth) == pytest.approx(1.0)
    assert hungarian_macro_f1(np.array(NAMES)[truth], truth) == pytest.approx(1.0)
    # pred clusters a, b, c: overlap (rows pred, cols truth)
    #   a: [2, 0, 0]  b: [1, 2, 0]  c: [0, 0, 4]  -> a->0, b->1, c->2
    pred = np.array(["a", "a", "b", "b", "b", "c", "c", "c", "c"])
    f1_0 = 2 * 2 / (2 + 3)
    f1_1 = 2 * 2 / (3 + 2)
    f1_2 = 1.0
    assert hungarian_macro_f1(pred, truth) == pytest.approx((f1_0 + f1_1 + f1_2) / 3)
    # more predicted clusters than truth: the unmatched one ("d") is wrong everywhere
    pred2 = np.array(["a", "a", "d", "b", "b", "c", "c", "c", "c"])
    expect = (2 * 2 / (2 + 3) + 1.0 + 1.0) / 3
    assert hungarian_macro_f1(pred2, truth) == pytest.approx(expect)
    # one predicted label for everything: matched to the largest class only
    assert hungarian_macro_f1(np.zeros(9), truth) == pytest.approx((2 * 4 / (9 + 4)) / 3)


def test_nmi() -> None:
    truth = np.repeat([0, 1, 2], 5)
    assert nmi(truth + 10, truth) == pytest.approx(1.0)
    assert nmi(np.zeros(15), truth) == pytest.approx(0.0)


def test_boundary_f1() -> None:
    truth = np.repeat([0, 1, 0], 10)  # boundaries at 10, 20
    shifted = np.repeat([0, 1, 0], [12, 10, 8])  # boundaries at 12, 22
    assert boundary_f1(truth, truth) == 1.0
    assert boundary_f1(shifted, truth, tolerance_frames=1) == 0.0
    assert boundary_f1(shifted, truth, tolerance_frames=2) == 1.0
    extra = np.repeat([0, 1, 0, 2], [10, 10, 5, 5])  # boundaries 10, 20, 25: P = 2/3, R = 1
    assert boundary_f1(extra, truth) == pytest.approx(2 * (2 / 3) / (2 / 3 + 1))
    assert boundary_f1(np.zeros(30), truth) == 0.0
    assert boundary_f1(np.zeros(30), np.ones(30)) == 1.0


def test_switches_and_median_epoch() -> None:
    labels = np.repeat([0, 1, 0, 2], [30, 60, 90, 120])  # 300 frames = 10 s at 30 fps
    assert switches_per_minute(labels, fps=30.0) == pytest.approx(3 / (10 / 60))
    assert median_epoch_seconds(labels, fps=30.0) == pytest.approx(2.5)  # (2 s + 3 s) / 2
    with pytest.raises(InputError, match="fps"):
        switches_per_minute(labels, fps=0.0)


def _ethogram() -> list[Epoch]:
    return [
        Epoch(start=0, stop=31, label="rest", description="lies still", cluster=3),
        Epoch(start=31, stop=95, label="walk", description='moves, "fast"', confidence=0.75),
        Epoch(start=95, stop=100, label="rest", cluster=3),
    ]


def test_ethogram_csv_round_trip(tmp_path: Path) -> None:
    eps = _ethogram()
    path = write_ethogram_csv(tmp_path / "e.csv", eps, fps=30.0, animal="mouse_1")
    head = path.read_text().splitlines()[0]
    assert head == (
        "animal,start_frame,stop_frame,start_s,stop_s,label,description,confidence,cluster"
    )
    assert read_ethogram_csv(path) == {"mouse_1": eps}


def test_boris_csv_round_trip(tmp_path: Path) -> None:
    eps = _ethogram()
    path = write_boris_csv(tmp_path / "b.csv", eps, fps=30.0, subject="mouse_1", media="v.mp4")
    events = read_boris_events(path)
    assert [e.status for e in events][:3] == ["START", "STOP", "START"]
    assert {e.subject for e in events} == {"mouse_1"}
    assert events[0].fps == 30.0 and events[0].media_length_s == pytest.approx(100 / 30)
    codes = labels_from_epochs(eps, 100, NAMES)
    for code, name in enumerate(NAMES):
        got = boris_to_framewise(events, fps=30.0, frames=100, behaviour=name, subject="mouse_1")
        np.testing.assert_array_equal(got, (codes == code).astype(np.int64))


def test_time_shares_per_animal_and_summed_total() -> None:
    eps = {
        "adult": [
            Epoch(start=0, stop=60, label="walking"),
            Epoch(start=60, stop=90, label="still"),
        ],
        "juvenile": [Epoch(start=0, stop=90, label="walking")],
    }
    rows = time_shares(eps, frames=90, fps=30.0)
    walking, still = rows  # longest total first
    assert walking.label == "walking"
    assert walking.seconds == {"adult": 2.0, "juvenile": 3.0}
    assert walking.share == {"adult": pytest.approx(2 / 3, abs=1e-4), "juvenile": 1.0}
    assert walking.total_seconds == 5.0  # more than the 3 s session: summed over 2 animals
    assert walking.total_share == pytest.approx(5 / 6, abs=1e-4)
    assert still.bouts == {"adult": 1, "juvenile": 0}
    text = time_shares_csv(rows, ["adult", "juvenile"])
    head, first = text.splitlines()[:2]
    assert head.split(",")[-2] == "total_s_summed_over_2_animals"
    assert first.split(",")[:4] == ["walking", "2.0", "0.6667", "1"]
    md = "\n".join(time_shares_markdown(rows, ["adult", "juvenile"], 3.0))
    assert "total (s, summed over 2 animals)" in md
    assert "| walking | 2 (66.7%) | 3 (100.0%) | 5 |" in md
    assert "can exceed the session's 3 s" in md
    solo = time_shares_markdown(time_shares({"a": eps["adult"]}, 90, 30.0), ["a"], 3.0)
    assert "summed" not in "\n".join(solo)


def test_time_shares_refuses_bad_rates() -> None:
    with pytest.raises(InputError, match="fps"):
        time_shares({"a": [Epoch(start=0, stop=1, label="x")]}, 1, 0.0)
