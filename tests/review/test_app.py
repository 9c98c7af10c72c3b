"""The review app's routes without a browser: queues, evidence, refusals and errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from ethoagent.cli.app import app as cli
from ethoagent.config import Settings
from ethoagent.errors import InputError
from ethoagent.review.app import make_app
from ethoagent.review.server import check_host
from tests.review.conftest import fresh_copy


def _client(run: Path) -> TestClient:
    return TestClient(make_app([run], Settings(runs_dir=run.parent)))


def test_pose_queue_and_evidence(pose_run: Path) -> None:
    c, rid = _client(pose_run), pose_run.name
    items = c.get(f"/api/{rid}/queue").json()["items"]
    errs = [i["reprojection_px"] for i in items if not i["flagged"]]
    assert items and errs == sorted(errs, reverse=True)  # worst first
    frame = c.get(f"/api/{rid}/pose/{items[0]['frame']}").json()
    assert frame["views"] == ["ring_0", "ring_1", "ring_2", "top"] and len(frame["keypoints"]) == 12
    x0, y0, x1, y1 = frame["boxes"][3]
    png = c.get(f"/api/{rid}/pose/{items[0]['frame']}/top.png")
    assert png.status_code == 200 and png.content[:4] == b"\x89PNG"
    for p in frame["points"][3]:  # the crop holds every label of the view
        assert p is None or (x0 <= p[0] <= x1 and y0 <= p[1] <= y1)
    marks = np.asarray(frame["candidates"][3])  # the detector's marks in the crop
    labels = np.asarray([p for p in frame["points"][3] if p is not None])
    assert marks.size and (marks[:, 0] >= x0).all() and (marks[:, 1] < y1).all()
    nearest = np.linalg.norm(labels[:, None] - marks[None], axis=-1).min(axis=1)
    assert np.median(nearest) < 1.0  # the labels sit on detected marks
    assert c.get(f"/api/{rid}/pose/999").status_code == 400
    assert c.get(f"/api/{rid}/pose/3/side.png").status_code == 404


def test_classify_queue_is_worst_first(classify_run: Path) -> None:
    c, rid = _client(classify_run), classify_run.name
    items = c.get(f"/api/{rid}/queue").json()["items"]
    assert items
    keys = [(not i["flagged"], not i["disagree"], i["confidence"]) for i in items]
    assert keys == sorted(keys)
    w = items[0]
    png = c.get(f"/api/{rid}/window/0/{w['start']}/{w['stop']}.png")
    assert png.status_code == 200 and png.content[:4] == b"\x89PNG"


def test_paths_outside_the_run_and_other_runs_are_refused(pose_run: Path) -> None:
    c, rid = _client(pose_run), pose_run.name
    assert c.get(f"/api/{rid}/files/outputs/report.md").status_code == 200
    assert c.get(f"/api/{rid}/files/%2e%2e/%2e%2e/etc/passwd").status_code == 403
    assert c.get(f"/api/{rid}/files/outputs/%2e%2e/%2e%2e/%2e%2e/etc/hosts").status_code == 403
    assert c.get(f"/api/{rid}/files//etc/passwd").status_code in (403, 404)
    assert c.get("/api/not-a-run/queue").status_code == 404


def test_actions_are_checked_and_a_rerun_needs_a_correction(pose_run: Path, tmp_path: Path) -> None:
    run = fresh_copy(pose_run, tmp_path / pose_run.name)
    c, rid = _client(run), run.name
    bad = {"item": "pose:frame:x", "kind": "pose", "action": "correct", "after": [1, 2]}
    r = c.post(f"/api/{rid}/action", json=bad)
    assert r.status_code == 400 and "unknown review item" in r.json()["detail"]
    r = c.post(f"/api/{rid}/rerun", json={})
    assert r.status_code == 400 and "no corrected pose point" in r.json()["detail"]


def test_changes_from_other_sites_are_refused(pose_run: Path, tmp_path: Path) -> None:
    run = fresh_copy(pose_run, tmp_path / pose_run.name)
    c, rid = _client(run), run.name
    form = c.post(f"/api/{rid}/undo", data={"x": "1"})  # what a form on any site can send
    assert form.status_code == 415
    other = c.post(f"/api/{rid}/undo", json={}, headers={"origin": "http://evil.example"})
    assert other.status_code == 403
    ok = c.post(f"/api/{rid}/undo", json={}, headers={"origin": "http://testserver"})
    assert ok.status_code == 200 and ok.json() == {"undone": None}
    assert not (run / "review" / "corrections.jsonl").exists()


def test_non_loopback_binds_are_refused_unless_asked(tmp_path: Path) -> None:
    assert check_host("127.0.0.1", allow_remote=False) == "127.0.0.1"
    assert check_host("::1", allow_remote=False) == "::1"
    with pytest.raises(InputError, match=r"refuses to listen on 0\.0\.0\.0"):
        check_host("0.0.0.0", allow_remote=False)
    assert check_host("0.0.0.0", allow_remote=True) == "0.0.0.0"
    res = CliRunner().invoke(cli, ["review", str(tmp_path), "--host", "0.0.0.0"])
    assert res.exit_code != 0 and "refuses to listen on 0.0.0.0" in str(res.exception)


def test_a_folder_that_is_no_run_is_one_clear_error(tmp_path: Path, pose_run: Path) -> None:
    with pytest.raises(InputError, match="not a run directory"):
        make_app([tmp_path], Settings(runs_dir=tmp_path))
