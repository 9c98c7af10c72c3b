"""The profile eval's pieces: cohorts, null statistics, and a planted effect end to end."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from ethoagent.evals.harness import available_suites
from ethoagent.evals.profile import (
    CohortDesign,
    entry_truth,
    null_rates_ground_truth,
    run_cohort,
    write_cohort,
)
from ethoagent.graphs.profile.options import ProfileOptions
from ethoagent.graphs.segment.options import SegmentOptions
from ethoagent.sim.behaviour import CODE


def test_suite_is_registered() -> None:
    assert "profile" in available_suites()


def test_write_cohort_plants_the_design(tmp_path: Path) -> None:
    design = CohortDesign(
        groups={"a": {}, "b": {"rearing": 2.0}},
        n=2,
        seconds=20.0,
        seed=3,
        restricted="grooming",
        only_in=(("a", 0),),
    )
    table, truth = write_cohort(design, tmp_path)
    lines = table.read_text().splitlines()
    assert lines[0] == "session,animal,group,day" and len(lines) == 5
    assert len(truth) == 4 and all(len(t) == 600 for t in truth.values())
    groomers = [p for p, t in truth.items() if (t == CODE["grooming"]).any()]
    assert all(Path(p).name == "a_00.nc" for p in groomers)


def test_null_statistics_on_ground_truth_labels() -> None:
    result = null_rates_ground_truth(10, 4, 30.0, seed=2, n_resamples=499)
    assert result["tests"] == 60 and len(result["p_values"]) == 60
    assert result["per_test_fpr"] <= 0.15 and result["cohort_fwer"] <= 0.3
    ps = np.asarray(result["p_values"])
    assert ((ps > 0) & (ps <= 1)).all()


@pytest.mark.slow
def test_planted_rearing_effect_is_recovered_by_the_pipeline(tmp_path: Path) -> None:
    design = CohortDesign(
        groups={"control": {}, "rearing_x2": {"rearing": 2.0}},
        n=5,
        seconds=60.0,
        seed=1,
        restricted="grooming",
        only_in=(("control", 0), ("control", 1), ("rearing_x2", 0)),
    )
    table, truth = write_cohort(design, tmp_path / "cohort")
    # DEC's defaults (10 epochs, 2000 iterations per session) were two thirds of this test's
    # CPU; the shorter fit still separates rearing and grooming on these sessions
    segment = SegmentOptions(
        k=10, dec_pretrain_epochs=4, dec_cluster_iters=300, check_stability=False
    )
    options = ProfileOptions(n_resamples=1999, segment=segment)
    state, root = run_cohort(table, tmp_path / "runs", "planted", options)
    composition = entry_truth(root, truth)
    rearing = [e for e, c in composition.items() if next(iter(c)) == "rearing"]
    grooming = [e for e, c in composition.items() if next(iter(c)) == "grooming"]
    assert rearing and grooming
    tests = json.loads((root / "artifacts" / "comparisons.json").read_text())
    found = [t for t in tests if t["behaviour"] in rearing and t["metric"] == "time_fraction"]
    best = min(found, key=lambda t: t["p"])
    assert best["p"] < 0.05 and best["difference"] > 0.05 and best["ci_low"] > 0
    assert set(grooming) & set(state["novel"])
    vocab = json.loads((root / "outputs" / "vocabulary.json").read_text())
    novel = [e for e in vocab["entries"] if e["novel"]]
    assert all(e["examples"] and e["novel_reasons"] for e in novel)
