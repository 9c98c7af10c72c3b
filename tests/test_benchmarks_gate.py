"""Smoke test of ``benchmarks/gate_throughput.py`` on a few seconds of session (no timing)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import cv2
import pytest
import torch

from benchmarks.gate_throughput import main


@pytest.fixture
def restore_threads() -> Iterator[None]:
    """The benchmark sets torch's and OpenCV's thread counts; put them back."""
    threads, cv_threads = torch.get_num_threads(), cv2.getNumThreads()
    yield
    torch.set_num_threads(threads)
    cv2.setNumThreads(cv_threads)


def test_main_writes_every_field(tmp_path: Path, restore_threads: None) -> None:
    out = tmp_path / "gate.json"
    argv = ["--minutes", "0.2", "--encoders", "classical", "--vision-sample", "4"]
    results = main([*argv, "--json", str(out)])

    assert json.loads(out.read_text()) == results
    assert results["frames"] == 360  # 0.2 min at 30 fps
    for key in (
        "keypoint_path_s",
        "keypoint_path_s_per_hour",
        "keypoint_frames_per_s",
        "meets_goal",
        "calls_saved_fraction",
        "motion_transformer_over_lookagain",
    ):
        assert key in results
    # 25 % of each full 128-frame window is 32 frames; the 104-frame tail gives 26
    assert results["frames_valid"] == 360
    assert results["frames_selected"] == 32 + 32 + 26
    assert results["calls_saved_fraction"] == pytest.approx(1 - 90 / 360)
    classical = results["encoders"]["classical"]
    assert classical["encode_s"] == pytest.approx(classical["ms_per_frame"] * 90 / 1000)
    assert set(results["encoders"]) == {"classical"}
