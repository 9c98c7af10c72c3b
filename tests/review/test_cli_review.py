"""``ethoagent review`` as a user starts it: a process on 127.0.0.1, stopped and restarted,
and ``--rerun`` from the command line."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from ethoagent.cli.app import app as cli
from ethoagent.review.server import free_port
from ethoagent.review.store import CorrectionStore
from tests.data_paths import REPO_ROOT
from tests.review.conftest import fresh_copy


def _start(run: Path, port: int) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    cmd = [sys.executable, "-m", "ethoagent.cli.app", "review", str(run), "--no-browser"]
    return subprocess.Popen([*cmd, "--port", str(port)], env=env, stdout=subprocess.PIPE, text=True)


def _get(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=10) as r:
        return json.loads(r.read())


def test_the_server_process_survives_a_restart(pose_run: Path, tmp_path: Path) -> None:
    run = fresh_copy(pose_run, tmp_path / pose_run.name)
    port = free_port()
    for attempt in range(2):  # start, act, stop; start again: the action is still there
        proc = _start(run, port)
        try:
            assert proc.stdout is not None
            line = proc.stdout.readline()
            assert f"review at http://127.0.0.1:{port}/" in line, line
            base = f"http://127.0.0.1:{port}/api/{run.name}"
            if attempt == 0:
                body = json.dumps({"item": "pose:frame:5", "kind": "pose", "action": "accept"})
                req = urllib.request.Request(
                    f"{base}/action", body.encode(), {"content-type": "application/json"}
                )
                urllib.request.urlopen(req, timeout=10).close()
            queue = _get(f"{base}/queue")
            assert isinstance(queue["items"], list)
            (card,) = _get(f"http://127.0.0.1:{port}/api/runs")
            assert card["reviewed"] == 1
        finally:
            proc.send_signal(signal.SIGINT)
            proc.wait(timeout=20)


def test_rerun_from_the_command_line(pose_run: Path, tmp_path: Path) -> None:
    run = fresh_copy(pose_run, tmp_path / "runs" / pose_run.name)
    nothing = CliRunner().invoke(cli, ["review", str(run), "--rerun"])
    assert nothing.exit_code != 0 and "no corrected pose point" in str(nothing.exception)
    item = "pose:frame:12:view:ring_1:kp:tail_tip"
    CorrectionStore(run).append(item, "pose", "absent", [1.0, 2.0], None)
    res = CliRunner().invoke(cli, ["review", str(run), "--rerun"])
    assert res.exit_code == 0, res.output
    (new,) = [p for p in run.parent.iterdir() if p != run]
    note = json.loads((new / "review.json").read_text())
    assert note["from"] == run.name and note["seed_frames_added"] == [12]


def test_a_resume_says_the_run_has_corrections(pose_run: Path, tmp_path: Path) -> None:
    run = fresh_copy(pose_run, tmp_path / "runs" / pose_run.name)
    CorrectionStore(run).append("pose:frame:3", "pose", "accept")
    args = ["pose", "--resume", str(run), "--runs-dir", str(run.parent)]
    res = CliRunner().invoke(cli, args)
    assert res.exit_code == 0, res.output
    assert "has 1 reviewed item(s); a resume does not apply them" in " ".join(res.output.split())


def test_a_demo_run_is_reviewed_as_its_pipeline_runs(
    pose_run: Path, classify_run: Path, tmp_path: Path
) -> None:
    from fastapi.testclient import TestClient

    from ethoagent.config import Settings
    from ethoagent.review.app import make_app
    from ethoagent.review.queues import reviewable_runs
    from ethoagent.runs import Run

    demo = Run.create(tmp_path, "demo", Settings(runs_dir=tmp_path), run_id="d", inputs={})
    shutil.copytree(pose_run, demo.root / "runs" / "pose")
    shutil.copytree(classify_run, demo.root / "runs" / "classify")
    paths = reviewable_runs(demo.root)
    assert [p.name for p in paths] == ["classify", "pose"]
    assert reviewable_runs(pose_run) == [pose_run.resolve()]
    c = TestClient(make_app(paths, Settings(runs_dir=tmp_path)))
    for card in c.get("/api/runs").json():
        q = c.get(f"/api/{card['run']}/queue")
        assert q.status_code == 200 and q.json()["graph"] == card["graph"]
