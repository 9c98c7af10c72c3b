"""`ethoagent gate train|predict|eval --video`: the vision path on a tiny rendered session."""

from __future__ import annotations

import csv
import json
from dataclasses import replace
from pathlib import Path

import pytest

from ethoagent.io.keypoints import read_keypoints, write_keypoints
from ethoagent.nn.encoders import efficientnet_lite0_installed
from ethoagent.sim.behaviour import BEHAVIOURS
from ethoagent.sim.simulate import simulate_session
from tests.test_cli import cli
from tests.test_cli_gate import _one_line_error

FRAMES = 96
TINY = ("--d-model", "16", "--d-z", "8", "--layers", "1", "--window", "32")
# EfficientNet-Lite0 on 32 px crops: fast, and (not temporal) its cache keys on the frame
# alone, so the frames picked at predict time come from the cache training filled
VISION = ("--vision-encoder", "efficientnet", "--crop-px", "32")


@pytest.fixture(scope="module")
def session(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path, Path]:
    """Overhead video, its 2D keypoints (DLC CSV, px) and frame-wise labels (codes)."""
    if not efficientnet_lite0_installed():
        pytest.skip("the vision extra (EfficientNet-Lite0) is not installed")
    tmp = tmp_path_factory.mktemp("gate-vision")
    paths = simulate_session(tmp / "sim", preset="easy", frames=FRAMES, views=2, seed=3)
    video, keypoints = paths.videos[-1], paths.points_2d[-1]
    with paths.labels.open() as f:
        names = [row[1] for row in csv.reader(f)][1:]
    labels = tmp / "labels.csv"
    codes = [BEHAVIOURS.index(n) for n in names]
    labels.write_text("frame,label\n" + "".join(f"{i},{c}\n" for i, c in enumerate(codes)))
    return tmp, video, keypoints, labels


@pytest.fixture(scope="module")
def model(session: tuple[Path, Path, Path, Path]) -> Path:
    tmp, video, keypoints, labels = session
    out = tmp / "model"
    res = cli("gate", "train", str(keypoints), "--labels", str(labels), "--out", str(out),
              "--video", str(video), *VISION, *TINY, "--epochs", "2", "--top-k", "0.25",
              "--embedding-cache", str(tmp / "cache"), "--fps", "30")  # fmt: skip
    assert res.returncode == 0, res.stderr
    assert "sent to the encoder" in res.stdout
    stats = json.loads((out / "vision.json").read_text())
    pose = read_keypoints(keypoints)
    assert stats["crops_wanted"] == stats["frame_animals_with_keypoints"] == FRAMES
    assert stats["frames_sent_to_encoder"] == FRAMES and stats["cache_hits"] == 0
    meta = json.loads((out / "gate.json").read_text())
    assert meta["vision"]["encoder"] == "efficientnet-lite0@32" and pose.frames == FRAMES
    return out


def test_predict_looks_at_the_top_k_frames_only(
    session: tuple[Path, Path, Path, Path], model: Path
) -> None:
    tmp, video, keypoints, _ = session
    out = tmp / "pred"
    res = cli("gate", "predict", str(keypoints), str(out), "--model", str(model), "--video",
              str(video), "--embedding-cache", str(tmp / "cache"), "--fps", "30")  # fmt: skip
    assert res.returncode == 0, res.stderr
    summary = json.loads((out / "summary.json").read_text())
    # 96 frames in 3 disjoint windows of 32: 8 frames each at top-k 25 %
    assert summary["top_k"] == 0.25 and summary["frames_looked_at"] == 24
    assert summary["encoder_calls_saved"] == pytest.approx(0.75)
    # training embedded every frame's crop: all 24 come from the cache
    assert summary["frames_sent_to_encoder"] == 0 and summary["cache_hits"] == 24
    assert "frames looked at" in res.stdout
    with (out / "labels.csv").open() as f:
        assert len(list(csv.DictReader(f))) == FRAMES

    fresh = tmp / "pred-fresh"
    res = cli("gate", "predict", str(keypoints), str(fresh), "--model", str(model), "--video",
              str(video), "--embedding-cache", str(tmp / "cache2"), "--top-k", "0.5",
              "--fps", "30")  # fmt: skip
    assert res.returncode == 0, res.stderr
    summary = json.loads((fresh / "summary.json").read_text())
    assert summary["frames_looked_at"] == 48 and summary["frames_sent_to_encoder"] == 48

    kp_only = tmp / "pred-kp"
    res = cli("gate", "predict", str(keypoints), str(kp_only), "--model", str(model),
              "--top-k", "0", "--fps", "30")  # fmt: skip
    assert res.returncode == 0, res.stderr
    assert json.loads((kp_only / "summary.json").read_text())["frames_looked_at"] == 0


def test_video_errors_give_one_red_line(
    session: tuple[Path, Path, Path, Path], model: Path
) -> None:
    tmp, video, keypoints, labels = session
    no_video = cli("gate", "predict", str(keypoints), str(tmp / "p1"), "--model", str(model),
                   "--fps", "30")  # fmt: skip
    _one_line_error(no_video, "pass --video, or --top-k 0")
    short = tmp / "short.csv"
    short.write_text("\n".join(keypoints.read_text().splitlines()[:44]) + "\n")
    n = read_keypoints(short).frames
    short_labels = tmp / "short_labels.csv"
    short_labels.write_text("\n".join(labels.read_text().splitlines()[: n + 1]) + "\n")
    mismatch = cli("gate", "train", str(short), "--labels", str(short_labels), "--out",
                   str(tmp / "bad"), "--video", str(video), *VISION, *TINY,
                   "--fps", "30")  # fmt: skip
    _one_line_error(mismatch, f"has {FRAMES} frames")


def test_eval_scores_every_budget(session: tuple[Path, Path, Path, Path], model: Path) -> None:
    tmp, video, keypoints, labels = session
    # gate eval refuses the model's own training session: score a second tracking of the
    # same video (the points moved by a thousandth of a pixel), as a whole
    pose = read_keypoints(keypoints)
    other = tmp / "retracked.csv"
    write_keypoints(replace(pose, points=pose.points + 1e-3), other, format="dlc")
    out = tmp / "eval"
    res = cli("gate", "eval", str(model), str(labels), str(other), "--video", str(video),
              "--out", str(out), "--embedding-cache", str(tmp / "cache"),
              "--fps", "30")  # fmt: skip
    assert res.returncode == 0, res.stderr
    record = json.loads((out / "results.json").read_text())
    rows = record["table"]
    assert [r["top_k"] for r in rows] == ["0%", "25%", "50%", "100%"]
    assert [r["frames_looked_at"] for r in rows] == [0, 24, 48, FRAMES]
    assert all(0.0 <= r["macro_f1"] <= 1.0 and r["frames_scored"] == FRAMES for r in rows)
    # the training run cached every crop: nothing new is sent
    assert record["metrics"]["frames_sent_to_encoder"] == 0
    assert set(record["metrics"]) >= {"macro_f1.0", "macro_f1.25", "macro_f1.50", "macro_f1.100"}
    assert (out / "f1_vs_budget.png").read_bytes()[:4] == b"\x89PNG"
    assert "| 25% |" in (out / "results.md").read_text()
