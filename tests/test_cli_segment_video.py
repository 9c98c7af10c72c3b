"""End-to-end CLI: `ethoagent segment VIDEO OUT` with no keypoints, --features, bad videos."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from ethoagent.io.keypoints import write_keypoints
from ethoagent.model.pose import PoseData
from ethoagent.tools.ethogram import check_tiling, read_ethogram_csv
from tests.test_cli import cli

FAST = ("--k", "3", "--dec-epochs", "2", "--dec-iters", "100")
FRAMES = 150


def path_of_mouse(frames: int) -> np.ndarray:
    """(frames, 2) px: still for 1 s, a walk across for 2 s, still for the rest."""
    x = np.interp(np.arange(frames), [0, 30, 90, frames], [60, 60, 250, 250])
    return np.stack([x, 120 + 20 * np.sin(np.arange(frames) / 9)], axis=1)


def write_video(path: Path, centres: np.ndarray, fps: float = 30.0) -> Path:
    """An mp4 of a dark ellipse on a light floor at ``centres`` (frames, 2) px."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"mp4v"), fps, (320, 240))
    rng = np.random.default_rng(0)
    for x, y in centres:
        img = np.clip(190 + rng.normal(0, 2, (240, 320)), 0, 255).astype(np.uint8)
        cv2.ellipse(img, (round(x), round(y)), (18, 8), 10, 0, 360, 50, -1)
        writer.write(cv2.cvtColor(img, cv2.COLOR_GRAY2BGR))
    writer.release()
    return path


@pytest.fixture(scope="module")
def video_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    tmp = tmp_path_factory.mktemp("segment-video-cli")
    video = write_video(tmp / "mouse.mp4", path_of_mouse(FRAMES))
    out = cli("segment", str(video), str(tmp / "out"), *FAST, "--runs-dir", str(tmp / "runs"),
              "--run-id", "v1")  # fmt: skip
    assert out.returncode == 0, out.stderr
    return tmp, tmp / "out"


def test_segment_video_alone_writes_an_ethogram_and_says_where_features_came_from(
    video_run: tuple[Path, Path],
) -> None:
    tmp, out = video_run
    summary = json.loads((out / "summary.json").read_text())
    assert summary["feature_source"] == "video" and summary["keypoints"] == ""
    assert summary["animals"] == ["animal1"] and summary["frames"] == FRAMES
    assert summary["identity"]["detected_frames"] == [FRAMES]
    ethogram = read_ethogram_csv(out / "ethogram.csv")
    assert all(c.passed for c in check_tiling(ethogram["animal1"], FRAMES))
    report = (out / "report.md").read_text()
    assert "no keypoints" in report and "Features clustered: video features" in report
    # the walk is faster than the still stretches: a walking label covers the crossing
    labels = {e.label for e in ethogram["animal1"] if e.start < 70 and e.stop > 50}
    assert labels & {"walking", "darting"}, labels
    # the blob tracks were cached: a second run reads them back
    again = cli("segment", str(tmp / "mouse.mp4"), str(tmp / "out2"), *FAST,
                "--runs-dir", str(tmp / "runs"))  # fmt: skip
    assert again.returncode == 0, again.stderr
    assert json.loads((tmp / "out2" / "summary.json").read_text())["identity"]["cached"]


def test_segment_video_and_keypoints_both(video_run: tuple[Path, Path]) -> None:
    tmp, _ = video_run
    c = path_of_mouse(FRAMES)
    heading = np.array([np.cos(0.17), np.sin(0.17)])
    points = np.stack([c + 15 * heading, c, c - 15 * heading], axis=1)[:, None]
    pose = PoseData(points=points, confidence=np.ones(points.shape[:3]),
                    keypoints=("nose", "centre", "tail_base"), individuals=("mouse",),
                    fps=30.0, unit="px")  # fmt: skip
    kp = write_keypoints(pose, tmp / "mouse.nc", format="netcdf")
    out = cli("segment", str(kp), str(tmp / "both"), "--video", str(tmp / "mouse.mp4"),
              "--features", "both", *FAST, "--runs-dir", str(tmp / "runs"))  # fmt: skip
    assert out.returncode == 0, out.stderr
    summary = json.loads((tmp / "both" / "summary.json").read_text())
    assert summary["feature_source"] == "both"


def test_bad_videos_are_one_line_and_write_nothing(video_run: tuple[Path, Path]) -> None:
    tmp, _ = video_run
    runs = ("--runs-dir", str(tmp / "bad-runs"))
    garbage = tmp / "garbage.mp4"
    garbage.write_bytes(np.random.default_rng(1).bytes(4096))
    still = write_video(tmp / "still.mp4", np.tile([150.0, 120.0], (60, 1)))
    c = path_of_mouse(FRAMES - 10)
    points = np.stack([c + 15, c, c - 15], axis=1)[:, None]
    pose = PoseData(points=points, confidence=np.ones(points.shape[:3]),
                    keypoints=("nose", "centre", "tail_base"), individuals=("mouse",),
                    fps=30.0, unit="px")  # fmt: skip
    short = write_keypoints(pose, tmp / "short.nc", format="netcdf")
    cases = [
        (("segment", garbage, tmp / "o1"), "garbage.mp4", "re-encode"),
        (("segment", still, tmp / "o2"), "no moving animal found in", "--video-threshold"),
        (("segment", short, tmp / "o3", "--video", tmp / "mouse.mp4", "--features", "video"),
         f"has {FRAMES} frames but", "pass the video the keypoints were tracked on"),
    ]  # fmt: skip
    for args, message, fix in cases:
        res = cli(*args, *runs)
        assert res.returncode == 1, res.stdout
        assert message in res.stderr and fix in res.stderr
        assert "Traceback" not in res.stderr and len(res.stderr.strip().splitlines()) == 1
        assert not Path(args[2]).exists()
    assert not (tmp / "bad-runs").exists() or not any((tmp / "bad-runs").iterdir())
