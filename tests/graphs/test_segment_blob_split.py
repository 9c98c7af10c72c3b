"""With video alone, snippets are split at each change of the blob's per-window caption."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ethoagent.io.keypoints import write_keypoints
from ethoagent.model.pose import PoseData
from ethoagent.tools.blob_features import BLOB_SPLIT_S
from ethoagent.tools.ethogram import check_tiling, read_ethogram_csv
from tests.test_cli import cli
from tests.test_cli_segment_video import FAST, FRAMES, path_of_mouse, write_video


def _split_args(run: Path) -> list[float]:
    """The ``min_s`` of every ``split_snippets`` call in a run's trace."""
    calls = [json.loads(line) for line in (run / "trace.jsonl").read_text().splitlines()]
    return [c["args"]["min_s"] for c in calls if c.get("name") == "split_snippets"]


def test_video_alone_splits_at_each_window_and_keypoints_at_half_a_second(tmp_path: Path) -> None:
    video = write_video(tmp_path / "mouse.mp4", path_of_mouse(FRAMES))
    runs = ("--runs-dir", str(tmp_path / "runs"))
    out = cli("segment", str(video), str(tmp_path / "v"), *FAST, *runs, "--run-id", "v")
    assert out.returncode == 0, out.stderr
    assert _split_args(tmp_path / "runs" / "v") == [BLOB_SPLIT_S]
    ethogram = read_ethogram_csv(tmp_path / "v" / "ethogram.csv")
    assert all(c.passed for c in check_tiling(ethogram["animal1"], FRAMES))
    # with keypoints (``both``: the pose is captioned) the 0.5 s default holds
    c = path_of_mouse(FRAMES)
    points = np.stack([c + 15.0, c, c - 15.0], axis=1)[:, None]
    pose = PoseData(points=points, confidence=np.ones(points.shape[:3]),
                    keypoints=("nose", "centre", "tail_base"), individuals=("mouse",),
                    fps=30.0, unit="px")  # fmt: skip
    kp = write_keypoints(pose, tmp_path / "mouse.nc", format="netcdf")
    out = cli("segment", str(kp), str(tmp_path / "b"), "--video", str(video), "--features",
              "both", *FAST, *runs, "--run-id", "b")  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert _split_args(tmp_path / "runs" / "b") == [0.5]
