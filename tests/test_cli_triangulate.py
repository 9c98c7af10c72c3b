"""``ethoagent triangulate`` on the real sleap-anipose session (skips without shared data)."""

from __future__ import annotations

import json
from pathlib import Path

from ethoagent.graphs import segment
from ethoagent.io.keypoints import read_keypoints
from tests.data_paths import require_shared
from tests.test_cli import cli

SLEAP_NODES = (
    "Nose",
    "Ear_R",
    "Ear_L",
    "TTI",
    "TailTip",
    "Head",
    "Trunk",
    "Tail_0",
    "Tail_1",
    "Tail_2",
    "Shoulder_left",
    "Shoulder_right",
    "Haunch_left",
    "Haunch_right",
    "Neck",
)


def test_triangulate_sleap_anipose_session_names_side_and_writes_anipose(tmp_path: Path) -> None:
    session = require_shared("sleap_anipose_minimal_session/minimal_session")
    out = tmp_path / "out"
    args: list[str | Path] = [session, "--calibration", session / "calibration.toml", "--out", out]
    done = cli("triangulate", *args, "--runs-dir", tmp_path / "runs")
    assert done.returncode == 0, done.stderr
    assert "left out: side" in done.stdout
    summary = json.loads((out / "summary.json").read_text())
    assert summary["dropped_cameras"] == ["side"]
    assert summary["cameras"] == ["back", "mid", "top"]
    assert summary["unit"] == "mm"
    assert summary["median_error_px"] < 5.0
    header = (out / "points_3d.csv").read_text().splitlines()[0].split(",")
    for kp in SLEAP_NODES:
        assert all(f"{kp}_{c}" in header for c in ("x", "y", "z", "error", "ncams", "score"))
    assert header[-1] == "fnum"
    back = read_keypoints(out / "points_3d.csv")
    assert back.keypoints == SLEAP_NODES
    assert back.points.shape == (120, 1, 15, 3)
    # segment reads the 3D points back
    spec = segment.PIPELINE
    resolved = spec.resolve(
        spec.parse_inputs({"keypoints": out / "points_3d.csv", "fps": 30}), spec.options()
    )
    assert resolved.dims == 3 and resolved.frames == 120

    strict = cli("triangulate", *args[:-1], tmp_path / "strict", "--strict")
    assert strict.returncode != 0
    assert "'side'" in strict.stderr and "--strict" in strict.stderr
    assert not (tmp_path / "strict").exists()
