"""The second simulated body (a 16-keypoint rat) and its case in the pose eval."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ethoagent.errors import InputError
from ethoagent.evals.pose_body import evaluate_body
from ethoagent.io.skeletons import read_skeleton
from ethoagent.sim.body import RAT16, simulate_rat, write_body_session


def test_rat_moves_in_3d_and_keeps_its_rigid_bones() -> None:
    pts = simulate_rat(90, seed=3)
    assert pts.shape == (90, 16, 3) and np.isfinite(pts).all()
    k = {name: i for i, name in enumerate(RAT16.keypoints)}
    # the body travels and the paws lift, but the head stays one piece
    assert np.linalg.norm(pts[-1, k["back_mid"]] - pts[0, k["back_mid"]]) > 5.0
    assert pts[:, k["forepaw_left"], 2].max() > 3.0
    ears = np.linalg.norm(pts[:, k["ear_left"]] - pts[:, k["ear_right"]], axis=-1)
    np.testing.assert_allclose(ears, 32.0, atol=1e-6)
    np.testing.assert_array_equal(pts, simulate_rat(90, seed=3))


def test_rat_session_states_its_skeleton_and_spoils_one_view_at_a_time(tmp_path: Path) -> None:
    s = write_body_session(tmp_path / "a", frames=40, views=4, seed=5)
    skeleton, inferred = read_skeleton(s.skeleton)
    assert skeleton.keypoints == RAT16.keypoints
    assert skeleton.regions == RAT16.regions
    assert set(skeleton.bones) == set(RAT16.bones)
    assert set(skeleton.left_right) == set(RAT16.left_right)
    assert not any("regions" in line or "bones" in line for line in inferred)
    assert sorted(p.name for p in s.candidates.iterdir()) == sorted(
        f"{c.name}.csv" for c in s.cameras
    )
    assert len(list(s.videos.glob("*.mp4"))) == 4
    c = s.corruption
    # a swap exchanges a left/right pair in a single view of its frame
    frames_swapped = np.flatnonzero(c.swapped.any(axis=(1, 2)))
    assert frames_swapped.size > 0
    assert (c.swapped[frames_swapped].any(axis=2).sum(axis=1) == 1).all()
    moved = np.linalg.norm(c.points_2d - s.predictions, axis=-1)[c.outlier]
    assert moved.size > 0 and moved.min() >= 30.0 - 1e-9 and moved.max() <= 80.0 + 1e-9
    assert np.isnan(c.points_2d[c.dropped]).all() and c.dropped.any()
    b = write_body_session(tmp_path / "b", frames=40, views=4, seed=5)
    np.testing.assert_array_equal(c.points_2d, b.corruption.points_2d)
    with pytest.raises(InputError, match="already holds a session"):
        write_body_session(tmp_path / "a", frames=40, views=4, seed=5)


def test_pose_graph_beats_naive_dlt_on_the_rat(tmp_path: Path) -> None:
    rows = {r["variant"]: r for r in evaluate_body(tmp_path, frames=30, seed=1)}
    naive, graph = rows["naive"], rows["full_gated"]
    assert graph["mean_error_mm"] < naive["mean_error_mm"] / 3
    assert graph["swap_rate"] <= naive["swap_rate"]
    assert graph["agree_2px"] > naive["agree_2px"] - 0.05
    assert graph["wrong_used"] < naive["wrong_used"]
    assert graph["missing_3d"] < 0.05
    assert graph["model_calls_per_frame_view"] < 0.5  # gated: the model only where checks fail
