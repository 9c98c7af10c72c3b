"""``ethoagent demo`` end to end on a small session: every pipeline, the HTML report
(structure, and in headless Chromium: renders, images load, no console message), the
terminal summary, and resume."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.report.htmlcheck import assert_self_contained, find_chromium, render_in_chromium
from tests.test_cli import cli

pytestmark = pytest.mark.slow
SECTIONS = ("overview", "session", "pose", "segment", "gate", "classify", "triangulate")


SMALL = ("--frames", "150", "--views", "3", "--gate-epochs", "1")  # one pass trains the gate


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    runs = tmp_path_factory.mktemp("runs")
    out = cli("demo", *SMALL, "--runs-dir", str(runs), "--run-id", "d")
    assert out.returncode == 0, out.stderr
    return runs / "d", out.stdout


def test_every_pipeline_ran_and_the_terminal_summary_says_so(demo_run: tuple[Path, str]) -> None:
    root, stdout = demo_run
    summary = json.loads((root / "outputs" / "summary.json").read_text())
    assert {k: v["status"] for k, v in summary["sections"].items()} == dict.fromkeys(SECTIONS, "ok")
    s = summary["sections"]
    assert s["pose"]["data"]["ground_truth"]["mean_error_mm"] < 5
    truth = set(s["session"]["data"]["label_shares"])
    assert set(s["segment"]["data"]["f1"]) == truth
    assert set(s["gate"]["data"]["f1"]) <= truth and s["gate"]["data"]["steps"] > 0
    assert set(s["classify"]["data"]["f1"]) <= truth and s["classify"]["data"]["windows"] == 10
    assert 0.0 <= s["classify"]["data"]["macro_f1"] <= 1.0
    assert (
        s["triangulate"]["data"]["mean_error_mm"]
        <= s["triangulate"]["data"]["naive_dlt_mean_error_mm"]
    )
    for key in ("pose", "segment", "classify", "triangulate"):
        sub = root / "runs" / key
        assert (sub / "trace.jsonl").is_file()
        assert json.loads((sub / "run.json").read_text())["status"] == "finished"
    assert json.loads((root / "run.json").read_text())["status"] == "finished"
    for word in ("per-class F1", "report:", "run directory", "pose", "gate (held-out)"):
        assert word in stdout


def test_report_is_self_contained(demo_run: tuple[Path, str]) -> None:
    root, _ = demo_run
    text = (root / "outputs" / "report.html").read_text()
    parts = assert_self_contained(text)
    assert parts.sections == dict.fromkeys(SECTIONS, "ok")
    # overview (F1, calls), session, pose (3D, reprojection, overlay), segment (2), gate (2),
    # classify (2), triangulate
    assert len(parts.images) == 13
    for title in (
        "3D trajectory",
        "reprojection error per frame",
        "ethogram timeline vs ground truth",
        "per-class F1 against ground truth",
        "model calls made and saved",
        "runs/pose",
    ):
        assert title in text


def test_report_renders_in_headless_chromium(demo_run: tuple[Path, str], tmp_path: Path) -> None:
    chromium = find_chromium()
    if chromium is None:
        pytest.skip("chromium is not installed (apt-get install -y chromium)")
    root, _ = demo_run
    result = render_in_chromium(chromium, root / "outputs" / "report.html", tmp_path)
    assert result.console == []
    assert result.probe["sections"] == len(SECTIONS)
    images = result.probe["images"]
    assert isinstance(images, list) and len(images) == 13
    assert all(im["complete"] and im["width"] > 0 and im["height"] > 0 for im in images)


def test_resume_reuses_finished_sections_and_reruns_the_rest(
    demo_run: tuple[Path, str], tmp_path: Path
) -> None:
    root = tmp_path / "d"
    shutil.copytree(demo_run[0], root)
    # as if killed during segment: its section record and everything later is missing
    for key in ("segment", "gate", "classify", "triangulate"):
        (root / "outputs" / "sections" / f"{key}.json").unlink()
    (root / "outputs" / "report.html").unlink()
    pose_trace = (root / "runs" / "pose" / "trace.jsonl").read_bytes()
    before = json.loads((root / "outputs" / "summary.json").read_text())["sections"]
    out = cli("demo", "--resume", "d", "--runs-dir", str(tmp_path))
    assert out.returncode == 0, out.stderr
    assert (root / "runs" / "pose" / "trace.jsonl").read_bytes() == pose_trace
    segment_trace = (root / "runs" / "segment" / "trace.jsonl").read_text()
    assert '"kind": "run_resume"' in segment_trace  # the finished graph was not redone
    after = json.loads((root / "outputs" / "summary.json").read_text())["sections"]
    assert after["gate"]["data"]["resumed_from"] == before["gate"]["data"]["steps"]
    for key in ("segment", "classify", "triangulate"):
        assert after[key]["data"] == before[key]["data"]
    assert (root / "outputs" / "report.html").is_file()


def test_skip_and_bad_options_are_one_line(tmp_path: Path) -> None:
    out = cli("demo", "--skip", "nope", "--frames", "60", "--runs-dir", str(tmp_path))
    assert out.returncode != 0 and "no such section" in out.stderr
    out = cli("demo", "--frames", "10", "--runs-dir", str(tmp_path))
    assert out.returncode != 0 and "invalid demo options" in out.stderr
    assert "Traceback" not in out.stderr


def _section_data(root: Path) -> dict[str, object]:
    sections = json.loads((root / "outputs" / "summary.json").read_text())["sections"]
    return {k: v["data"] for k, v in sections.items()}


def test_sigkill_during_segment_then_resume_gives_the_same_results(
    demo_run: tuple[Path, str], tmp_path: Path
) -> None:
    env = {**os.environ, "COLUMNS": "120"}
    env.pop("ETHOAGENT_DEBUG", None)
    command = [sys.executable, "-m", "ethoagent.cli.app", "demo", "--runs-dir", str(tmp_path)]
    proc = subprocess.Popen(
        [*command, *SMALL, "--run-id", "k"], env=env, stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    root = tmp_path / "k"
    marker = root / "outputs" / "sections" / "pose.json"
    deadline = time.monotonic() + 240
    while not marker.exists():
        assert proc.poll() is None, "the demo ended before it could be killed"
        assert time.monotonic() < deadline, "the demo never finished its pose section"
        time.sleep(0.01)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not (root / "outputs" / "sections" / "segment.json").exists()
    assert not (root / "outputs" / "report.html").exists()
    pose_trace = (root / "runs" / "pose" / "trace.jsonl").read_bytes()

    resumed = cli("demo", "--runs-dir", tmp_path, "--resume", "k")
    assert resumed.returncode == 0, resumed.stderr
    assert (root / "runs" / "pose" / "trace.jsonl").read_bytes() == pose_trace
    got, want = _section_data(root), _section_data(demo_run[0])
    assert {k for k in want if got.get(k) != want[k]} == set()
    assert_self_contained((root / "outputs" / "report.html").read_text())
