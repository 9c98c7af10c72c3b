"""SIGKILL a real demo run half-way, resume it, and get byte-identical outputs."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.test_cli import cli

FRAMES = "300"  # 6 checkpointed chunks of 50 frames


def demo_args(runs_dir: Path, *extra: str) -> list[str]:
    return [
        "demo",
        "--only",
        "triangulate",
        "--frames",
        FRAMES,
        "--runs-dir",
        str(runs_dir),
        *extra,
    ]


def outputs(run_dir: Path) -> dict[str, bytes]:
    root = run_dir / "outputs"
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


@pytest.mark.slow
def test_sigkill_then_resume_gives_identical_outputs(tmp_path: Path) -> None:
    env = {**os.environ, "COLUMNS": "120"}
    ref_dir, kill_dir = tmp_path / "ref", tmp_path / "killed"
    ref_run = cli(*demo_args(ref_dir, "--run-id", "r"))
    assert ref_run.returncode == 0, ref_run.stderr

    # only the run that is killed needs a process of its own
    proc = subprocess.Popen(
        [sys.executable, "-m", "ethoagent.cli.app", *demo_args(kill_dir, "--run-id", "r")],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    marker = kill_dir / "r" / "artifacts" / "triangulate_0002.npz"
    deadline = time.monotonic() + 120
    while not marker.exists():
        assert proc.poll() is None, "the run ended before it could be killed"
        assert time.monotonic() < deadline, "the run never reached its third chunk"
        time.sleep(0.005)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    killed_run = kill_dir / "r"
    assert not (killed_run / "outputs" / "report.md").exists()

    resumed = cli(*demo_args(kill_dir, "--resume", "r"))
    assert resumed.returncode == 0, resumed.stderr
    ref, got = outputs(ref_dir / "r"), outputs(killed_run)
    assert sorted(ref) == sorted(got)
    for name in ref:
        assert ref[name] == got[name], f"{name} differs after resume"
    trace = (killed_run / "trace.jsonl").read_text().splitlines()
    assert any('"kind": "run_resume"' in line for line in trace)
    # the chunks finished before the kill were not redone: chunk 0's frames appear once
    frame0_proposals = [ln for ln in trace if '"item": "frame 0"' in ln and '"proposal"' in ln]
    assert len(frame0_proposals) == 1
