"""The pose eval suite (quick): the issue's floors hold on a simulated session."""

from __future__ import annotations

import pytest

from ethoagent.evals.harness import SuiteOptions
from ethoagent.evals.pose import VARIANTS, pose_suite


@pytest.mark.slow
def test_quick_pose_eval_meets_the_floors() -> None:
    result = pose_suite(SuiteOptions(quick=True))
    m = result.metrics
    assert {r["variant"] for r in result.table} == set(VARIANTS)
    mouse = [r for r in result.table if r["preset"] == "paper-like"]
    assert all(0 <= r["missing_fraction"] <= 1 for r in mouse)
    assert all(0 <= r["refound_fraction"] <= 1 for r in mouse)
    # full cuts the naive error by at least the paper's 54 %
    assert m["full_vs_naive_error_reduction"] >= 0.54
    # gating keeps full's error within 10 % at no more than a quarter of its model calls
    assert m["gated_vs_full_error_ratio"] <= 1.10
    assert m["gated_vs_full_model_call_ratio"] is not None
    assert m["gated_vs_full_model_call_ratio"] <= 0.25
    assert m["model_calls_per_frame_view_full"] > 1.0  # the model really was asked everywhere
    assert "error_by_variant" in result.figures
    # the second body: the graph beats naive DLT of the spoilt 2D predictions
    assert m["rat16_mean_error_mm_full_gated"] < m["rat16_mean_error_mm_naive"] / 3
    assert m["rat16_pck_5mm_full_gated"] > m["rat16_pck_5mm_naive"]
    assert "rat16_naive_vs_graph" in result.figures
