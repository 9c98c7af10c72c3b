"""The ``gate`` eval suite: quick run structure, frame budgets and sanity against a floor."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from ethoagent.evals.datasets import shared_data_dir
from ethoagent.evals.gate_data import LABEL_RATIOS, TOPK
from ethoagent.evals.gate_models import label_blocks
from ethoagent.evals.harness import SuiteOptions, available_suites, run_suite
from ethoagent.nn.train_gate import GateSession
from tests.data_paths import require_shared


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """One quick run of the suite (embedding cache in a temporary folder)."""
    tmp = tmp_path_factory.mktemp("gate-eval")
    mp = pytest.MonkeyPatch()
    mp.setenv("ETHOAGENT_GATE_EVAL_CACHE", str(tmp / "cache"))
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        path = run_suite("gate", tmp / "out", SuiteOptions(quick=True))
        record = json.loads(path.read_text())
        record["_dir"] = str(path.parent)
        yield record
    finally:
        torch.set_num_threads(threads)
        mp.undo()


def test_suite_is_registered() -> None:
    assert "gate" in available_suites()


def test_results_hold_macro_f1_per_topk_method_and_label_ratio(quick_run: dict[str, Any]) -> None:
    m = quick_run["metrics"]
    for case in ("synthetic_1", "synthetic_3"):
        for ratio in LABEL_RATIOS:
            lab = f"labels_{round(ratio * 100)}"
            for k in TOPK:
                value = m[f"macro_f1.{case}.lookagain.{lab}.topk_{round(k * 100)}"]
                assert 0.0 <= value <= 1.0
                if 0.0 < k < 1.0:
                    assert 0.0 <= m[f"macro_f1.{case}.uniform.{lab}.topk_{round(k * 100)}"] <= 1.0
            assert 0.0 <= m[f"macro_f1.{case}.transformer.{lab}"] <= 1.0
            assert 0.0 <= m[f"macro_f1.{case}.majority.{lab}"] <= 1.0
        for method in ("lookagain_dec", "dec", "kmeans"):
            assert 0.0 <= m[f"unsupervised_macro_f1.{case}.{method}"] <= 1.0
        assert m[f"{case}.vision_crops"] > 0
        assert isinstance(m[f"{case}.claim_topk25_within_0.02"], bool)
    out = Path(quick_run["_dir"])
    assert (out / "results.md").read_text().count("| synthetic_3 |") >= 20
    assert (out / quick_run["figures"]["gate_f1_vs_budget"]).stat().st_size > 1000
    assert any("within 0.02" in n for n in quick_run["notes"])


def test_frames_looked_at_match_the_budget(quick_run: dict[str, Any]) -> None:
    rows = [r for r in quick_run["table"] if r["dataset"].startswith("synthetic")]
    by_key: dict[tuple[str, str, str], int] = {}
    for r in rows:
        if r["method"] not in ("lookagain", "uniform"):
            continue
        k = int(r["topk"].split("_")[1]) / 100
        # k = max(1, round(k * n)) per window and animal: within a frame per window
        assert abs(r["looked_fraction"] - k) <= 0.03, r
        if k in (0.0, 1.0):
            assert r["looked_fraction"] == k
        by_key.setdefault((r["dataset"], r["labels"], r["topk"]), r["frames_looked_at"])
        assert by_key[(r["dataset"], r["labels"], r["topk"])] == r["frames_looked_at"]


def test_supervised_beats_the_majority_floor(quick_run: dict[str, Any]) -> None:
    m = quick_run["metrics"]
    best = max(
        m["macro_f1.synthetic_1.transformer.labels_100"],
        *(m[f"macro_f1.synthetic_1.lookagain.labels_100.topk_{round(k * 100)}"] for k in TOPK),
    )
    assert best > m["macro_f1.synthetic_1.majority.labels_100"] + 0.1


def test_behaviordepot_runs_on_the_keypoint_path(quick_run: dict[str, Any]) -> None:
    if not (shared_data_dir() / "behaviordepot_freezing").is_dir():
        pytest.skip(f"BehaviorDEPOT data absent from {shared_data_dir()} (see MANIFEST.md)")
    rows = [r for r in quick_run["table"] if r["dataset"] == "behaviordepot_demo1"]
    assert rows and all(r["frames_looked_at"] in (0, None) for r in rows)
    assert quick_run["metrics"]["behaviordepot_demo1.vision_crops"] == 0


def test_ethome_is_scored_both_ways_beside_the_heads_parts(quick_run: dict[str, Any]) -> None:
    """Both halves held out in turn, each method's interact F1 and macro-F1 on the same frames."""
    require_shared("ethome_social_interact")
    m = quick_run["metrics"]
    assert m["ethome_first_half.frames_scored"] == [2850, 5700]
    assert m["ethome_second_half.frames_scored"] == [0, 2850]
    for case in ("ethome_first_half", "ethome_second_half"):
        for method in ("gate", "transformer", "logreg", "rule"):
            assert 0.0 <= m[f"{case}.{method}.interact_f1"] <= 1.0
            assert 0.0 < m[f"{case}.{method}.macro_f1"] <= 1.0
        assert m[f"{case}.head"] in ("rule", "logreg", "mean", "transformer")
        assert m[f"{case}.train_cpu_s"] > 0
    rows = [r for r in quick_run["table"] if r["dataset"].startswith("ethome")]
    assert len(rows) == 8 and all("interact" in r["per_class_f1"] for r in rows)
    assert rows[0]["method"].startswith("gate (head = ")
    assert sum(n.startswith("ethome_second_half (") for n in quick_run["notes"]) == 1
    assert "synthetic_keypoints_1.gate.macro_f1" not in m  # full run only


def test_label_blocks_draw_the_ratio_of_windows() -> None:
    frames = 1000
    s = GateSession(
        motion=np.zeros((frames, 1, 3), np.float32),
        labels=np.arange(frames, dtype=np.int64)[:, None],
    )
    blocks = label_blocks(s, 0.3, 100, seed=0)
    assert len(blocks) == 3 and all(b.motion.shape[0] == 100 for b in blocks)
    starts = sorted(int(b.labels[0, 0]) for b in blocks)
    assert all(x % 100 == 0 for x in starts) and len(set(starts)) == 3
    assert label_blocks(s, 1.0, 100, seed=0) == [s]


def test_the_eval_and_the_cli_give_the_same_features_for_the_same_file() -> None:
    """One descriptor and one standardisation: the eval's demo1 sessions are the CLI's."""
    from ethoagent.evals.gate_data import EvalSizes, behaviordepot_case
    from ethoagent.graphs.gate.fitted import feature_scale
    from ethoagent.graphs.gate.inputs import read_keypoints_motion

    root = require_shared("behaviordepot_freezing").parent
    case = behaviordepot_case(root, EvalSizes(real_frames=10**6))
    kp = read_keypoints_motion(
        root / "behaviordepot_freezing" / "demo" / "demo1" / "demo1_tracking.csv", 50.0
    )
    split = case.train.motion.shape[0]
    cli = kp.session(scale=feature_scale(kp.motion.features[:split]))
    assert case.train.motion.shape[0] + case.test.motion.shape[0] == cli.motion.shape[0]
    np.testing.assert_allclose(case.train.motion, cli.motion[:split], atol=1e-5)
    np.testing.assert_allclose(case.test.motion, cli.motion[split:], atol=1e-5)
    # standardised on the training part: mean 0 there, pose features included
    assert np.abs(case.train.motion.mean(axis=(0, 1))).max() < 1e-3
    assert case.train.motion.shape[-1] > 8 * 5  # keypoints x (x, y, conf, vx, vy) + pose
