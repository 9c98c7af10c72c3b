"""End-to-end CLI: `ethoagent segment` on a small simulated session, resume and errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from ethoagent.io.keypoints import write_dlc_csv
from ethoagent.model.pose import PoseData
from ethoagent.sim.simulate import simulate_session
from ethoagent.sim.synthetic import KEYPOINTS, simulate_world
from ethoagent.tools.ethogram import check_tiling, read_ethogram_csv
from tests.test_cli import cli

FAST = ("--k", "4", "--dec-epochs", "2", "--dec-iters", "100")


@pytest.fixture(scope="module")
def segmented(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    tmp = tmp_path_factory.mktemp("segment-cli")
    sim = tmp / "sim"
    simulate_session(sim, preset="easy", frames=300, animals=2, views=2, seed=3)
    out = cli("segment", str(sim), str(tmp / "out"), *FAST, "--runs-dir", str(tmp / "runs"),
              "--run-id", "s1")  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert "segment: unsupervised ethogram" in out.stdout
    return tmp, tmp / "out", tmp / "runs" / "s1"


def test_segment_writes_outputs_to_out_and_the_run(segmented: tuple[Path, Path, Path]) -> None:
    _, out, run = segmented
    for name in ("ethogram.csv", "clusters.csv", "ethogram_boris.csv", "ethogram.png",
                 "cluster_usage.png", "report.md", "summary.json"):  # fmt: skip
        assert (out / name).is_file(), name
        assert (out / name).read_bytes() == (run / "outputs" / name).read_bytes()
    summary = json.loads((out / "summary.json").read_text())
    assert summary["animals"] == ["mouse_0", "mouse_1"] and summary["frames"] == 300
    assert summary["fps"] == 30.0 and summary["k"] == 4  # fps from the simulated videos
    assert "ground_truth" in summary and summary["data"].startswith("synthetic")
    ethogram = read_ethogram_csv(out / "ethogram.csv")
    assert set(ethogram) == {"mouse_0", "mouse_1"}
    assert all(all(c.passed for c in check_tiling(e, 300)) for e in ethogram.values())
    header = (out / "clusters.csv").read_text().splitlines()[0]
    assert header == "frame,mouse_0,mouse_1"
    info = json.loads((run / "run.json").read_text())
    assert info["status"] == "finished" and info["graph"] == "segment"


def test_segment_resume_and_errors(segmented: tuple[Path, Path, Path]) -> None:
    tmp, out, _ = segmented
    again = cli("segment", str(tmp / "sim"), str(out), "--runs-dir", str(tmp / "runs"))
    assert again.returncode == 1 and "already holds ethogram.csv" in again.stderr
    assert "Traceback" not in again.stderr and len(again.stderr.strip().splitlines()) == 1
    resumed = cli("segment", "--resume", "s1", str(tmp / "out2"), "--runs-dir", str(tmp / "runs"))
    assert resumed.returncode == 0, resumed.stderr
    assert (tmp / "out2" / "ethogram.csv").read_bytes() == (out / "ethogram.csv").read_bytes()
    missing = cli("segment", "--runs-dir", str(tmp / "runs"))
    assert missing.returncode == 1 and "needs KEYPOINTS and OUT" in missing.stderr
    points = simulate_world(60, seed=1).points_3d
    pose = PoseData(points=points, confidence=np.full(points.shape[:3], np.nan),
                    keypoints=KEYPOINTS, individuals=("mouse",), unit="mm")  # fmt: skip
    csv_file = write_dlc_csv(tmp / "nofps.csv", pose)
    no_fps = cli("segment", str(csv_file), str(tmp / "out3"), "--runs-dir", str(tmp / "runs"))
    assert no_fps.returncode == 1 and "pass --fps" in no_fps.stderr
    assert not (tmp / "out3").exists()
    assert [p.name for p in (tmp / "runs").iterdir()] == ["s1"]  # no run for bad inputs


def test_segment_overwrite_on_resume(segmented: tuple[Path, Path, Path]) -> None:
    tmp, out, _ = segmented
    runs = ("--runs-dir", str(tmp / "runs"))
    copy = tmp / "out4"
    first = cli("segment", "--resume", "s1", str(copy), *runs)
    assert first.returncode == 0, first.stderr
    (copy / "report.md").write_text("edited\n")
    refused = cli("segment", "--resume", "s1", str(copy), *runs)
    assert refused.returncode == 1 and "already holds" in refused.stderr
    assert (copy / "report.md").read_text() == "edited\n"
    replaced = cli("segment", "--resume", "s1", str(copy), "--overwrite", *runs)
    assert replaced.returncode == 0, replaced.stderr
    assert (copy / "report.md").read_bytes() == (out / "report.md").read_bytes()
    own = cli("segment", "--resume", "s1", *runs)  # into the run's own OUT: no --overwrite
    assert own.returncode == 0, own.stderr
