"""A classify run that pauses for a person (``--ask-person``) and resumes with the answers.

The first process runs ``ethoagent classify --ask-person`` with a scripted model that never
answers in the schema and a supervisor that flags at once, so every window sent to the
model waits for a person; it exits with the run ``waiting``. The review app shows those
windows; with one answered, a resume still waits; with all answered, ``classify --resume``
continues from the checkpoint (no window is proposed again), the relabelled window takes
the person's label and the trace records each answer as a person's decision.
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from ethoagent.agent.trace import read_trace
from ethoagent.batch import load_batch, run_job
from ethoagent.cli.app import app as cli
from ethoagent.config import Settings
from ethoagent.graphs.classify.stages import CLASSIFY_PROMPT
from ethoagent.graphs.kit import runtime
from ethoagent.graphs.kit.nodes import Decision, StageContext, SupervisionRequest
from ethoagent.review.app import make_app
from tests.review.conftest import write_classify_session
from tests.scripted import ScriptedClient

# the first process: a model that never answers in the schema, a supervisor that flags
FIRST = """
import sys
from ethoagent.graphs.classify.stages import CLASSIFY_PROMPT
from ethoagent.graphs.kit import runtime
from ethoagent.graphs.kit.nodes import Decision
from tests.scripted import ScriptedClient

class FlagAtOnce:
    async def decide(self, request, ctx):
        return Decision(action="flag", reason="scripted: flag", decided_by="scripted")

runtime.make_model_client = lambda s: (ScriptedClient({CLASSIFY_PROMPT: lambda r: "?"}), None)
runtime.make_supervisor = lambda s: FlagAtOnce()
from ethoagent.cli.app import app
app(sys.argv[1:])
"""


def _resume(root: Path) -> str:
    res = CliRunner().invoke(cli, ["classify", "--resume", str(root)], env={"COLUMNS": "200"})
    assert res.exit_code == 0, res.output
    return res.output


def start_waiting_run(tmp_path: Path) -> tuple[Path, str, list[str]]:
    """Run ``classify --ask-person`` in a process of its own until it waits (3 windows).

    Returns:
        The run directory, the process's console output and the label set.
    """
    src = write_classify_session(tmp_path)
    args = ["classify", str(src.keypoints), str(tmp_path / "out"), "--examples",
            str(src.examples), "--classes", ",".join(src.classes or []), "--model-budget",
            "0.05", "--ask-person", "--run-id", "r",
            "--runs-dir", str(tmp_path / "runs")]  # fmt: skip
    env = {**os.environ, "COLUMNS": "200", "PYTHONPATH": str(Path.cwd())}
    first = subprocess.run(
        [sys.executable, "-c", FIRST, *args], env=env, capture_output=True, text=True, timeout=300
    )
    assert first.returncode == 0, first.stderr
    return tmp_path / "runs" / "r", first.stdout, list(src.classes or [])


@pytest.mark.parametrize("via_review", [False, True], ids=["classify-resume", "review-rerun"])
def test_a_flagged_window_waits_for_a_person_and_the_resume_uses_the_answer(
    tmp_path: Path, via_review: bool
) -> None:
    root, stdout, classes = start_waiting_run(tmp_path)
    assert "waiting for review: 3 of 3 item(s)" in stdout
    assert f"ethoagent review {root}" in stdout
    assert json.loads((root / "run.json").read_text())["status"] == "waiting"
    assert not (root / "outputs" / "windows.csv").exists()  # smooth and report wait too

    # the review app shows the windows the run waits on, with their evidence
    c = TestClient(make_app([root], Settings(runs_dir=root.parent)))
    q = c.get("/api/r/queue").json()
    assert q["waiting"] and len(q["items"]) == 3
    assert all(it["pending"] and it["flagged"] for it in q["items"])
    first_item, *rest = q["items"]
    png = c.get(f"/api/r/window/0/{first_item['start']}/{first_item['stop']}.png")
    assert png.status_code == 200 and png.content[:4] == b"\x89PNG"
    new = next(lab for lab in classes if lab != first_item["label"])
    body = {"item": first_item["item"], "kind": "classify", "action": "relabel",
            "before": first_item["label"], "after": new}  # fmt: skip
    assert c.post("/api/r/action", json=body).status_code == 200

    # one of three answered: the run stays waiting, nothing runs (command line and page)
    assert "waiting for review: 2 of 3 item(s)" in _resume(root)
    assert json.loads((root / "run.json").read_text())["status"] == "waiting"
    page = c.post("/api/r/rerun", json={}).json()
    assert (page["run"], page["waiting"]) == ("r", 2)
    assert json.loads((root / "run.json").read_text())["status"] == "waiting"

    for it in rest:
        body = {"item": it["item"], "kind": "classify", "action": "accept",
                "before": it["label"], "after": it["label"]}  # fmt: skip
        assert c.post("/api/r/action", json=body).status_code == 200
    n_events = len(read_trace(root / "trace.jsonl"))
    if via_review:  # the review command's --rerun resumes a waiting run in place
        res = CliRunner().invoke(cli, ["review", str(root), "--rerun"], env={"COLUMNS": "200"})
        assert res.exit_code == 0 and f"resumed {root}" in res.output, res.output
    else:
        assert "waiting" not in _resume(root)
    assert json.loads((root / "run.json").read_text())["status"] == "finished"
    assert not (root / "review" / "pending.json").exists()

    # resumed from the checkpoint: no window was proposed again, the answers are decisions
    after = read_trace(root / "trace.jsonl")[n_events:]
    assert not [e for e in after if e.get("kind") == "proposal"]
    person = [e for e in after if e.get("kind") == "decision" and e["decided_by"] == "person"]
    assert sorted(e["item"] for e in person) == sorted(it["item"] for it in q["items"])
    assert {e["action"] for e in person} == {"relabel", "accept"}

    windows = list(csv.DictReader((root / "outputs" / "windows.csv").open()))
    by_start = {int(w["start_frame"]): w for w in windows}
    w = by_start[first_item["start"]]
    assert (w["label"], w["source"], w["status"]) == (new, "reviewed", "accepted")
    for it in rest:
        assert by_start[it["start"]]["source"] == "person_accepted"
    assert not any(w["status"] == "flagged" for w in windows)
    frames = list(csv.DictReader((root / "outputs" / "frames.csv").open()))
    span = frames[first_item["start"] : first_item["stop"]]
    assert {f["label"] for f in span} == {new}
    summary = json.loads((root / "outputs" / "summary.json").read_text())
    assert summary["person_answers"] == 3 and summary["flagged"] == []


class _FlagAtOnce:
    async def decide(self, request: SupervisionRequest, ctx: StageContext) -> Decision:
        return Decision(action="flag", reason="scripted: flag", decided_by="scripted")


def test_a_batch_job_that_waits_for_a_person_is_not_reported_finished(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = ScriptedClient({CLASSIFY_PROMPT: lambda r: "?"})
    monkeypatch.setattr(runtime, "make_model_client", lambda s: (client, None))
    monkeypatch.setattr(runtime, "make_supervisor", lambda s: _FlagAtOnce())
    src = write_classify_session(tmp_path)
    classes = ", ".join(f'"{c}"' for c in src.classes or [])
    batch = tmp_path / "b.toml"
    batch.write_text(
        'graphs = ["classify"]\n[options.classify]\nmodel_budget = 0.05\nask_person = true\n'
        f'[[sessions]]\nname = "s"\ninputs = {{ keypoints = "{src.keypoints}", '
        f'examples = "{src.examples}", classes = [{classes}] }}\n'
    )
    (planned,) = load_batch(batch, runs_dir=tmp_path / "runs").jobs
    job = run_job(planned)  # in this process, where the model and supervisor are scripted
    assert job.status == "failed" and "waits for a person on 3 item(s)" in (job.error or "")
    assert f"ethoagent review {job.run_dir}" in (job.error or "")
    assert json.loads((Path(job.run_dir) / "run.json").read_text())["status"] == "waiting"
