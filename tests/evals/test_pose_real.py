"""The pose-real eval suite: skeleton from names, corruption, the quick run on real data."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ethoagent.evals.harness import SuiteOptions, SuiteResult, available_suites
from ethoagent.evals.pose_real import GROSS_MM, label_agreement, left_out_by
from ethoagent.evals.pose_real_suite import pose_real_suite
from ethoagent.sim.spoil import corrupt_labels
from tests.data_paths import require_shared


def test_corrupt_labels_is_seeded_and_its_masks_say_what_changed() -> None:
    rng = np.random.default_rng(1)
    clean = rng.uniform(0, 1000, size=(200, 4, 6, 2))
    a = corrupt_labels(clean, [(0, 1), (2, 3)], seed=7)
    b = corrupt_labels(clean, [(0, 1), (2, 3)], seed=7)
    np.testing.assert_array_equal(a.points_2d, b.points_2d)
    moved = np.linalg.norm(a.points_2d - clean, axis=-1)
    only_outlier = a.outlier & ~a.swapped
    assert np.all((moved[only_outlier] >= 30) & (moved[only_outlier] <= 80))
    untouched = ~(a.outlier | a.swapped | a.dropped)
    assert np.all(moved[untouched] == 0)
    assert np.isnan(a.points_2d[a.dropped]).all()
    assert a.dropped.any(axis=(1, 2)).sum() == 10  # 5 % of 200 frames
    assert a.swapped.any(axis=(1, 2)).sum() == 20  # 10 % of 200 frames
    present = np.isfinite(a.points_2d[..., 0]).sum()
    assert a.outlier.sum() == round(0.05 * present)


def test_label_agreement_counts_agree_wrong_and_left_out() -> None:
    proof = np.zeros((1, 1, 4, 2))
    reading = np.array([[[[1.0, 0.0], [5.0, 0.0], [np.nan, np.nan], [0.0, 0.0]]]])
    given = proof.copy()
    given[0, 0, 3] = np.nan  # never given: not counted
    out = label_agreement(reading, proof, given)
    assert out["labels"] == 3
    assert out["agree"] == pytest.approx(1 / 3)
    assert out["wrong"] == pytest.approx(1 / 3)
    assert out["unused"] == pytest.approx(1 / 3)


def test_pose_real_is_registered() -> None:
    assert "pose-real" in available_suites()


@pytest.fixture(scope="module")
def quick_result() -> SuiteResult:
    return pose_real_suite(SuiteOptions(quick=True))


@pytest.mark.slow
def test_quick_run_restores_sleap_anipose(quick_result: SuiteResult) -> None:
    require_shared("sleap_anipose_minimal_session")
    m = quick_result.metrics
    assert m["sleap_present"] is True
    assert "side" not in m["sleap_views"].split("+")  # the duplicated camera is left out
    assert m["sleap_after_mean_mm"] < 0.95 * m["sleap_before_mean_mm"]
    assert m["sleap_after_median_mm"] < 0.95 * m["sleap_before_median_mm"]
    assert m["sleap_after_wrong_used"] < 0.5 * m["sleap_before_wrong_used"]
    # with all four views, the stage's RANSAC leaves the faulty camera out
    assert m["sleap_all_views_after_median_mm"] < 0.5 * m["sleap_all_views_before_median_mm"]
    assert "before_after_sleap_anipose_minimal_session" in quick_result.figures


@pytest.mark.slow
def test_quick_run_restores_dannce(quick_result: SuiteResult) -> None:
    require_shared("dannce_markerless_mouse")
    m = quick_result.metrics
    assert m["dannce_present"] is True
    assert m["dannce_clean_max_mm"] < 0.1  # projected labels triangulate back exactly
    assert m["dannce_before_mean_mm"] > 0.1
    assert m["dannce_after_mean_mm"] < 0.1 * m["dannce_before_mean_mm"]
    assert m["dannce_after_wrong_used"] < 0.5 * m["dannce_before_wrong_used"]
    assert "before_after_dannce_markerless_mouse" in quick_result.figures


@pytest.mark.slow
def test_quick_run_whole_graph_on_sleap_anipose(quick_result: SuiteResult) -> None:
    require_shared("sleap_anipose_minimal_session")
    m = quick_result.metrics
    assert m["sleap_graph_dropped"] == ["side"]  # found by the graph from the seed labels
    assert m["sleap_graph_mean_mm"] < m["sleap_graph_naive_mean_mm"]
    assert m["sleap_graph_missing_3d"] < 0.1
    graph = next(r for r in quick_result.table if r["method"] == "pose graph")
    assert graph["swaps_restored"] > 0.9
    assert graph["model_calls_per_frame_view"] is not None
    assert "pose_graph_sleap" in quick_result.figures
    # the whole graph does not lose to its own triangulation stage
    assert m["sleap_graph_median_mm"] <= m["sleap_graph_stage_median_mm"]
    assert m["sleap_graph_mean_mm"] <= m["sleap_graph_stage_mean_mm"]
    assert m["sleap_graph_gross_3d"] <= m["sleap_graph_stage_gross_3d"]
    assert m["sleap_graph_found_3d"] >= m["sleap_graph_stage_found_3d"]
    assert m["sleap_graph_agree_2px"] >= m["sleap_graph_stage_agree_2px"]
    assert m["sleap_graph_wrong_used"] <= m["sleap_graph_stage_wrong_used"]
    assert m["sleap_graph_flagged"] <= m["sleap_graph_stage_flagged"]
    # except on points left missing: those the stage has there are wrong, not right
    if m["sleap_graph_left_out_stage_has_count"]:
        assert m["sleap_graph_left_out_stage_has_median_mm"] > GROSS_MM


@pytest.mark.slow
def test_quick_run_whole_graph_on_dannce_without_videos(quick_result: SuiteResult) -> None:
    require_shared("dannce_markerless_mouse")
    m = quick_result.metrics
    assert m["dannce_graph_dropped"] == []
    # 2D = exact reprojections of the hand labels: the naive DLT's error is the outliers'
    assert m["dannce_graph_mean_mm"] < m["dannce_graph_naive_mean_mm"]
    assert "pose_graph_dannce" in quick_result.figures
    # the whole graph is at least its own triangulation stage on every accuracy column
    assert m["dannce_graph_mean_mm"] <= m["dannce_graph_stage_mean_mm"] + 1e-6
    assert m["dannce_graph_missing_3d"] <= m["dannce_graph_stage_missing_3d"]
    assert m["dannce_graph_gross_3d"] <= m["dannce_graph_stage_gross_3d"]
    assert m["dannce_graph_agree_2px"] >= m["dannce_graph_stage_agree_2px"]
    assert m["dannce_graph_wrong_used"] <= m["dannce_graph_stage_wrong_used"]
    assert m["dannce_graph_flagged"] <= m["dannce_graph_stage_flagged"]


def test_absent_data_is_skipped_with_a_note(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ETHOAGENT_SHARED_DATA", str(tmp_path))
    result = pose_real_suite(SuiteOptions(quick=True))
    assert result.metrics["sleap_present"] is False
    assert result.metrics["dannce_present"] is False
    assert result.table == []
    assert sum("skipped" in n for n in result.notes) == 2


def test_left_out_by_says_how_right_the_other_methods_points_were() -> None:
    ref = np.zeros((2, 3, 3))
    ours = ref.copy()
    ours[0, 1] = np.nan  # left out where the other is right
    ours[1, 2] = np.nan  # left out where the other is 50 mm off
    other = ref.copy()
    other[1, 2] = [50.0, 0.0, 0.0]
    out = left_out_by(ours, other, ref)
    assert out["count"] == 2
    assert out["median_mm"] == pytest.approx(25.0)
    assert out["within_gross"] == pytest.approx(0.5)
    assert np.isnan(left_out_by(ref, other, ref)["median_mm"])
