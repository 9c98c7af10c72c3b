"""The demo graph through the real protocol path: the llama.cpp server as the llm role.

SmolLM2-135M is far too weak to copy a frame list reliably, so the assertions are about the
machinery: the summary stage called the server, its checks ran, a failure was routed (by the
model supervisor or the policy), the outcome is accepted or flagged (never a crash), and a
second run with the same inputs is answered from the cache without a model call.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from ethoagent.agent.trace import read_trace
from ethoagent.config import Settings, load_settings
from ethoagent.graphs.kit.runtime import open_runtime
from ethoagent.graphs.triangulate.inputs import TriangulateInputs
from ethoagent.graphs.triangulate.session import GRAPH_NAME, run_demo
from ethoagent.runs import Run

pytestmark = pytest.mark.server


def server_settings(base_url: str, runs_dir: Path) -> Settings:
    role = {
        "base_url": base_url,
        "timeout_s": 120,
        "max_retries": 1,
        "capabilities": {"structured_output": "json_object", "tool_calls": True},
    }
    return load_settings(None, {"backend": "openai", "runs_dir": runs_dir, "models": {"llm": role}})


def run_once(settings: Settings, run_id: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    run = Run.create(settings.runs_dir, GRAPH_NAME, settings, run_id=run_id)

    async def go() -> dict[str, Any]:
        async with open_runtime(run, settings) as rt:
            return await run_demo(rt, TriangulateInputs(frames=20, views=4, seed=3))

    state = asyncio.run(go())
    return state, read_trace(run.trace_path)


def test_demo_summary_stage_against_llama_server(llama_server: str, tmp_path: Path) -> None:
    settings = server_settings(llama_server, tmp_path)
    state, events = run_once(settings, "first")
    calls = [e for e in events if e["kind"] == "model_call"]
    assert calls, "the summary stage never reached the server"
    assert all(e["backend"] == "openai" for e in calls)
    summary_calls = [e for e in calls if e["prompt"]["name"] == "demo/summary"]
    assert summary_calls and summary_calls[0]["usage"]["completion_tokens"] > 0
    checks = [e for e in events if e["kind"] == "check" and e.get("node") == "summarise"]
    assert checks, "the summary's checks did not run"
    assert state["summary"]["status"] in {"accepted", "flagged"}
    if state["summary"]["status"] == "flagged":
        decisions = [e for e in events if e["kind"] == "decision" and e.get("node") == "summarise"]
        assert decisions and decisions[-1]["action"] in {"flag", "retry", "escalate"}
    assert (tmp_path / "first" / "outputs" / "report.md").is_file()

    # same inputs again: every model answer comes from the cache
    _, again = run_once(settings, "second")
    repeat = [e for e in again if e["kind"] == "model_call"]
    misses = [
        (e["prompt"], e.get("attempt"), e.get("messages")) for e in repeat if not e["cache_hit"]
    ]
    assert repeat and not misses, misses
