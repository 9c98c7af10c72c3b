"""The segment eval suite: pooled metrics on exact cases, and the quick run's floors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ethoagent.evals.datasets import shared_data_dir
from ethoagent.evals.harness import SuiteOptions, SuiteResult, available_suites
from ethoagent.evals.segment import (
    REQUIRED_METHODS,
    SegmentCase,
    cluster_table,
    kpms_labels,
    pooled_scores,
    segment_suite,
)
from ethoagent.model.pose import PoseData
from ethoagent.sim.synthetic import KEYPOINTS
from ethoagent.tools.ethogram import boundary_f1

FPS = 30.0


def test_segment_suite_is_registered() -> None:
    assert "segment" in available_suites()


def test_pooled_scores_of_the_truth_itself_are_perfect() -> None:
    truth = np.repeat(np.array([0, 1, 2, 1, 0]), 60)[:, None].repeat(2, axis=1)
    s = pooled_scores(truth, truth, FPS)
    assert s["macro_f1"] == pytest.approx(1.0)
    assert s["nmi"] == pytest.approx(1.0)
    assert s["boundary_f1"] == pytest.approx(1.0)
    # 4 changes in 300 frames = 10 s
    assert s["switches_per_min"] == pytest.approx(4 / (10 / 60))
    assert s["median_epoch_s"] == pytest.approx(2.0)
    assert s["labels_used"] == 3


def test_pooled_scores_are_invariant_to_renaming_labels() -> None:
    truth = np.repeat(np.array([0, 1, 0, 1]), 45)[:, None]
    renamed = np.where(truth == 0, 7, 3)
    assert pooled_scores(renamed, truth, FPS)["macro_f1"] == pytest.approx(1.0)


def test_pooled_boundary_f1_sums_matches_over_animals() -> None:
    # animal 0: 2 true boundaries, both predicted 3 frames late (inside 0.5 s = 15 frames)
    # animal 1: 1 true boundary, predicted boundaries at 3 wrong places (far away)
    t0 = np.repeat([0, 1, 0], 100)
    p0 = np.roll(t0, 3)
    t1 = np.repeat([0, 1], 150)
    p1 = np.zeros(300, dtype=np.int64)
    p1[20:40] = 1
    p1[250:270] = 1
    truth = np.stack([t0, t1], axis=1)
    pred = np.stack([p0, p1], axis=1)
    s = pooled_scores(pred, truth, FPS)
    # matched 2 + 0 of (2 + 4 predicted) + (2 + 1 true) boundaries
    assert s["boundary_f1"] == pytest.approx(2 * 2 / (6 + 3))
    assert boundary_f1(p0, t0, 15) == pytest.approx(1.0)


def test_cluster_table_reads_empty_cells_and_missing_frames_as_minus_one(
    tmp_path: Path,
) -> None:
    path = tmp_path / "clusters.csv"
    path.write_text("frame,a,b\n0,3,\n1,4,-1\n2,,5\n")
    got = cluster_table(path, ["b", "a"], 4)
    np.testing.assert_array_equal(got, [[-1, 3], [-1, 4], [5, -1], [-1, -1]])


def test_keypoint_moseq_without_its_environment_is_a_note(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ETHOAGENT_KPMS_PYTHON", str(tmp_path / "no-such-python"))
    rng = np.random.default_rng(5)  # random keypoints: never in the syllable cache
    points = rng.normal(size=(40, 1, len(KEYPOINTS), 3))
    pose = PoseData(points, np.full(points.shape[:3], np.nan), KEYPOINTS, ("m",), 30.0, "mm")
    case = SegmentCase(
        "tiny", tmp_path / "x.nc", pose, np.zeros((40, 1), np.int64), ("a",), 30.0, "test"
    )
    labels, wall, note = kpms_labels(case, tmp_path, fit=True, seed=0)
    assert labels is None and wall is None
    assert "no environment" in note


@pytest.fixture(scope="module")
def quick() -> SuiteResult:
    return segment_suite(SuiteOptions(quick=True))


def _row(result: SuiteResult, dataset: str, method: str) -> dict[str, float]:
    return next(r for r in result.table if r["dataset"] == dataset and r["method"] == method)


@pytest.mark.slow
def test_quick_run_has_every_method_and_metric(quick: SuiteResult) -> None:
    datasets = {r["dataset"] for r in quick.table}
    assert {"synthetic_1", "synthetic_3", "rendered_1"} <= datasets  # rendered_3: full run
    video_methods = ("video", "keypoints", "both", "kmeans_video", "kmeans_keypoints")
    for d in datasets:
        rendered = d.startswith("rendered_")  # the feature-source variants
        for m in video_methods if rendered else REQUIRED_METHODS:
            row = _row(quick, d, m)
            for col in ("macro_f1", "nmi", "boundary_f1", "switches_per_min", "median_epoch_s"):
                assert np.isfinite(row[col]), (d, m, col)
            assert 0.0 <= row["macro_f1"] <= 1.0
        if rendered:
            assert isinstance(quick.metrics[f"video_variants.{d}.both_at_least_keypoints"], bool)
        else:
            assert isinstance(quick.metrics[f"{d}.floor_met"], bool)
    assert _row(quick, "synthetic_3", "merged")["animals"] == 3
    assert quick.metrics["graph_s_per_min_30fps"] > 0
    assert quick.figures["segment_scores"].startswith(b"\x89PNG")


@pytest.mark.slow
@pytest.mark.parametrize("dataset", ["synthetic_1", "synthetic_3"])
def test_quick_synthetic_merged_beats_the_clusterings(quick: SuiteResult, dataset: str) -> None:
    merged = _row(quick, dataset, "merged")
    for base in ("kmeans", "dec"):
        assert merged["switches_per_min"] < _row(quick, dataset, base)["switches_per_min"]
    assert merged["macro_f1"] > quick.metrics[f"{dataset}.chance_macro_f1"] + 0.1


@pytest.mark.slow
def test_quick_real_freezing_is_scored(quick: SuiteResult) -> None:
    if not (shared_data_dir() / "behaviordepot_freezing").is_dir():
        pytest.skip(f"BehaviorDEPOT data absent from {shared_data_dir()} (see MANIFEST.md)")
    merged = _row(quick, "behaviordepot_demo1", "merged")
    assert merged["frames"] == 3000  # the first minute at 50 fps
    for base in ("kmeans", "dec"):
        assert (
            merged["switches_per_min"]
            < _row(quick, "behaviordepot_demo1", base)["switches_per_min"]
        )
