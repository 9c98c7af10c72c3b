"""The chat's run_classify when the run pauses for a person (``ask_person``): it says the
run waits and names ``ethoagent review RUN`` and the resume command."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from ethoagent.chat.actions import execute_tool
from ethoagent.config import Settings
from ethoagent.graphs.classify.stages import CLASSIFY_PROMPT
from ethoagent.graphs.kit import runtime
from ethoagent.graphs.kit.nodes import Decision, StageContext, SupervisionRequest
from tests.chat.test_tools_classify_profile import make_ctx, truth_examples
from tests.scripted import ScriptedClient


class _FlagAtOnce:
    async def decide(self, request: SupervisionRequest, ctx: StageContext) -> Decision:
        return Decision(action="flag", reason="scripted: flag", decided_by="scripted")


def test_a_run_waiting_for_a_person_is_named_with_the_review_command(
    tmp_path: Path, sim_session: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def reachable(settings: Settings, roles: Any) -> Settings:
        return settings

    # a model endpoint (so some windows go to the model) that never answers in the schema
    monkeypatch.setattr(runtime, "check_endpoints", reachable)
    monkeypatch.setattr(
        runtime,
        "make_model_client",
        lambda s: (ScriptedClient({CLASSIFY_PROMPT: lambda r: "?"}), None),
    )
    monkeypatch.setattr(runtime, "make_supervisor", lambda s: _FlagAtOnce())
    ctx = make_ctx(tmp_path / "ws")
    ctx.settings = ctx.settings.model_copy(update={"backend": "openai"})
    shutil.copytree(sim_session, ctx.workspace.root / "sim")
    classes = truth_examples(sim_session, ctx.workspace.root / "examples.csv")
    args = {"keypoints": "sim", "examples": "examples.csv", "classes": classes, "out": "cls"}
    out = execute_tool(ctx, "run_classify", {**args, "ask_person": True})
    assert not out.ok and out.error is not None
    (run_dir,) = [p for p in ctx.settings.runs_dir.iterdir() if p.is_dir()]
    assert json.loads((run_dir / "run.json").read_text())["status"] == "waiting"
    assert "is waiting for review" in out.error
    assert f"ethoagent review {run_dir}" in out.error
    assert f"ethoagent classify --resume {run_dir}" in out.error
    assert not (ctx.workspace.root / "results" / "cls").exists()  # no empty folder left
