"""The segment graph's cluster node on a 2D top view: what DEC sees and the HMM smoothing."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from ethoagent.agent.offline import OfflineClient
from ethoagent.graphs.segment.inputs import SegmentSources, resolve_segment
from ethoagent.graphs.segment.options import SegmentOptions
from ethoagent.io.keypoints import read_keypoints
from ethoagent.runs import Run
from ethoagent.sim.synthetic import simulate_world
from ethoagent.tools.features import compute_features
from tests.graphs.test_segment import FAST, _clusters, _run, _write_session

FPS = 30.0


@pytest.fixture(scope="module")
def top_view(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 1-minute simulated mouse seen from above: the x–y of its marks, NaN-free."""
    tmp = tmp_path_factory.mktemp("segment_cluster")
    world = simulate_world(1800, animals=1, fps=FPS, seed=4)
    return _write_session(tmp / "top.nc", world.points_3d[..., :2] * 4.0)


def _go(top_view: Path, tmp: Path, run_id: str, **options: Any) -> tuple[dict[str, Any], Run]:
    opts = SegmentOptions(**FAST, check_stability=False, **options)
    inputs = resolve_segment(SegmentSources(keypoints=top_view), opts)
    _, run = _run(tmp, inputs, OfflineClient(), run_id)
    summary = json.loads((run.outputs_dir / "summary.json").read_text())
    return summary, run


def _switches(labels: np.ndarray[Any, Any]) -> int:
    return int(np.count_nonzero(labels[1:] != labels[:-1]))


@pytest.fixture(scope="module")
def runs(top_view: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Default run, the same without smoothing, and with the kinematics alone."""
    tmp = tmp_path_factory.mktemp("runs")
    return {
        "default": _go(top_view, tmp, "default"),
        "raw": _go(top_view, tmp, "raw", cluster_dwell_s=0.0),
        "kinematics": _go(top_view, tmp, "kinematics", pose_components=0),
    }


def test_smoothing_joins_flicker_of_the_same_fit(runs: dict[str, Any]) -> None:
    (smooth, run_s), (raw, run_r) = runs["default"], runs["raw"]
    a, b = _clusters(run_s)[1][:, 1], _clusters(run_r)[1][:, 1]
    assert smooth["clusters"]["dwell_s"] == 0.5 and raw["clusters"]["dwell_s"] == 0.0
    # the same DEC fit (same seed and matrix): the HMM only removes short excursions
    assert _switches(a) < _switches(b)
    assert np.mean(a == b) > 0.8
    assert sum(smooth["clusters"]["usage"]) == sum(raw["clusters"]["usage"]) == 1800


def test_dec_sees_pose_components_unless_turned_off(runs: dict[str, Any], top_view: Path) -> None:
    pose = read_keypoints(top_view)
    kin_names = compute_features(pose.points, fps=FPS, keypoints=pose.keypoints).names
    assert runs["kinematics"][0]["clusters"]["features"] == len(kin_names)
    # + 6 components with their rolling mean and std (no context window by default)
    assert runs["default"][0]["clusters"]["features"] == len(kin_names) + 3 * 6


def test_3d_keypoints_cluster_the_kinematics_alone(tmp_path: Path) -> None:
    world = simulate_world(600, animals=1, fps=FPS, seed=5)
    nc = _write_session(tmp_path / "3d.nc", world.points_3d)
    summary, _ = _go(nc, tmp_path / "runs", "3d")
    pose = read_keypoints(nc)
    kin_names = compute_features(pose.points, fps=FPS, keypoints=pose.keypoints).names
    assert summary["clusters"]["features"] == len(kin_names)
    assert summary["clusters"]["dwell_s"] == 0.0
