"""Profile with video-only sessions: an empty keypoints column, segmented from the video."""

from __future__ import annotations

import asyncio
import csv
from pathlib import Path

import numpy as np
import pytest

from ethoagent.errors import InputError
from ethoagent.graphs.kit.runtime import offline_runtime
from ethoagent.graphs.profile.graph import GRAPH_NAME, run_profile
from ethoagent.graphs.profile.inputs import ProfileInputs, read_sessions_csv
from ethoagent.graphs.profile.options import ProfileOptions
from ethoagent.graphs.segment.options import SegmentOptions
from ethoagent.io.keypoints import write_keypoints
from ethoagent.model.pose import PoseData
from ethoagent.sim.synthetic import KEYPOINTS, simulate_world
from tests.test_cli_segment_video import path_of_mouse, write_video


def test_a_row_may_name_a_video_and_no_keypoints(tmp_path: Path) -> None:
    write_video(tmp_path / "v.mp4", path_of_mouse(40))
    (tmp_path / "a.nc").write_bytes(b"x")
    table = tmp_path / "s.csv"
    table.write_text("session,animal,group,video\n,m1,g,v.mp4\na.nc,m2,g,\n")
    rows = read_sessions_csv(table)
    assert rows[0].session == "" and rows[0].video == str((tmp_path / "v.mp4").resolve())
    assert rows[1].session.endswith("a.nc") and rows[1].video is None
    table.write_text("session,animal,group\n,m1,g\na.nc,m2,g\n")
    with pytest.raises(InputError, match="column 'session' is empty") as err:
        read_sessions_csv(table)
    assert "give a video" in (err.value.fix or "")


def test_profile_mixes_video_only_and_keypoint_sessions(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    lines = ["session,animal,group,video"]
    for i in range(2):  # one keypoint session and one video-only session per group
        world = simulate_world(240, seed=70 + i)
        pose = PoseData(points=world.points_3d,
                        confidence=np.full(world.points_3d.shape[:3], np.nan),
                        keypoints=KEYPOINTS, individuals=("mouse",), fps=world.fps,
                        unit="mm")  # fmt: skip
        write_keypoints(pose, data / f"k{i}.nc", format="netcdf")
        write_video(data / f"v{i}.mp4", path_of_mouse(240)[:: 1 if i else -1])
        group = "ab"[i]
        lines += [f"k{i}.nc,kp{i},{group},", f",vid{i},{group},v{i}.mp4"]
    (data / "sessions.csv").write_text("\n".join(lines) + "\n")
    options = ProfileOptions(
        embedder="tfidf",
        n_resamples=99,
        segment=SegmentOptions(
            k=3, dec_pretrain_epochs=2, dec_cluster_iters=100, check_stability=False
        ),
    )
    table = data / "sessions.csv"
    inputs = ProfileInputs(sessions_csv=str(table), rows=read_sessions_csv(table), options=options)
    rt = offline_runtime(tmp_path / "runs", GRAPH_NAME, "p", inputs.model_dump(mode="json"))
    state = asyncio.run(run_profile(rt, inputs))
    assert len(state["segments"]) == 4
    with (rt.run.outputs_dir / "profiles.csv").open() as f:
        animals = {r["animal"] for r in csv.DictReader(f)}
    assert animals == {"kp0", "kp1", "vid0", "vid1"}
    assert state["n_tests"] > 0 or "not tested" in (rt.run.outputs_dir / "report.md").read_text()
