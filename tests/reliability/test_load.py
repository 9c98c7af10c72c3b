"""Load: 50 small sessions through the segment graph against a flaky model server.

The server (127.0.0.1 only) drops 10 % of requests, delays others, and sometimes answers
a cut-off body or cut-off JSON content. Sessions run concurrently (bounded) on the graph
runtime with the ``openai`` backend; every session must end accounted for: done, or
flagged with its reason, and the batch summary must say so.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from ethoagent.agent import client as client_module
from ethoagent.agent.client import OpenAICompatibleClient
from ethoagent.atomic import atomic_write_text
from ethoagent.config import load_settings
from ethoagent.errors import EthoagentError
from ethoagent.graphs.kit.runtime import open_runtime
from ethoagent.graphs.segment.graph import (
    GRAPH_NAME,
    run_segment,
)
from ethoagent.graphs.segment.inputs import SegmentSources, resolve_segment
from ethoagent.graphs.segment.options import SegmentOptions
from ethoagent.io.keypoints import write_keypoints
from ethoagent.model.pose import PoseData
from ethoagent.runs import Run
from ethoagent.sim.synthetic import KEYPOINTS, simulate_world
from tests.reliability.flaky import FlakyServer
from tests.reliability.test_models import CAPTION, answer_by_prompt, merge_answer

SESSIONS = 50
CONCURRENCY = 6
FRAMES = 240  # 8 s at 30 fps


class _ShortBackoffClient(OpenAICompatibleClient):
    """The runtime's client with backoff delays of 10-200 ms instead of 0.25-20 s: every
    retry still happens, but the test does not sleep through hundreds of them."""

    def __init__(self, models: Any, **kwargs: Any) -> None:
        super().__init__(models, **{"backoff_base_s": 0.02, "backoff_max_s": 0.2, **kwargs})


@dataclass
class Outcome:
    session: str
    status: str  # "done" or "flagged"
    reason: str = ""
    flagged_items: int = 0


async def _one(
    name: str, keypoints: Path, settings: Any, runs: Path, gate: asyncio.Semaphore
) -> Outcome:
    async with gate:
        try:
            opts = SegmentOptions(
                k=3,
                dec_pretrain_epochs=1,
                dec_cluster_iters=30,
                check_stability=False,
                model_every_snippet=True,
            )
            inputs = resolve_segment(SegmentSources(keypoints=keypoints), opts)
            run = Run.create(runs, GRAPH_NAME, settings, run_id=name, inputs=inputs.model_dump())
            async with open_runtime(run, settings, roles=("vlm", "llm")) as rt:
                state = await run_segment(rt, inputs)
            return Outcome(name, "done", flagged_items=len(state.get("flagged", [])))
        except EthoagentError as exc:
            return Outcome(name, "flagged", reason=str(exc))


def _summary(outcomes: list[Outcome], total: int) -> dict[str, Any]:
    done = [o for o in outcomes if o.status == "done"]
    flagged = [o for o in outcomes if o.status == "flagged"]
    return {
        "sessions": total,
        "done": len(done),
        "flagged": len(flagged),
        "accounted_for": len(done) + len(flagged),
        "flagged_reasons": {o.session: o.reason for o in flagged},
        "items_flagged_in_done_sessions": sum(o.flagged_items for o in done),
        "all_accounted_for": len({o.session for o in outcomes}) == total,
    }


@pytest.mark.slow
def test_fifty_sessions_against_a_flaky_server_are_all_accounted_for(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(client_module, "OpenAICompatibleClient", _ShortBackoffClient)
    sessions = []
    for i in range(SESSIONS):
        points = simulate_world(FRAMES, animals=1, fps=30.0, seed=100 + i).points_3d
        data = PoseData(
            points=points,
            confidence=np.full(points.shape[:3], np.nan),
            keypoints=KEYPOINTS,
            individuals=("mouse_0",),
            fps=30.0,
            unit="mm",
        )
        sessions.append(write_keypoints(data, tmp_path / f"s{i:02d}.nc", format="netcdf"))

    answer = answer_by_prompt(lambda body: json.dumps(CAPTION), merge_answer)
    with FlakyServer(
        answer,
        seed=5,
        drop_rate=0.10,
        delay_rate=0.3,
        delay_s=0.05,
        malformed_rate=0.05,
        truncated_content_rate=0.05,
    ) as server:
        roles = {
            role: {
                "base_url": server.base_url,
                "model": "flaky-model",
                "timeout_s": 10,
                "max_retries": 3,
                "max_concurrency": 4,
                "capabilities": {"image_input": False, "tool_calls": False},
            }
            for role in ("vlm", "llm")
        }
        settings = load_settings(
            None,
            {"backend": "openai", "runs_dir": tmp_path / "runs", "models": roles,
             "cache_enabled": False},
        )  # fmt: skip

        async def batch() -> list[Outcome]:
            gate = asyncio.Semaphore(CONCURRENCY)
            jobs = [
                _one(f"s{i:02d}", kp, settings, tmp_path / "runs", gate)
                for i, kp in enumerate(sessions)
            ]
            return list(await asyncio.wait_for(asyncio.gather(*jobs), timeout=600))

        outcomes = asyncio.run(batch())
        faults = dict(server.faults)

    summary = _summary(outcomes, SESSIONS)
    atomic_write_text(tmp_path / "batch_summary.json", json.dumps(summary, indent=1))
    assert summary["all_accounted_for"] and summary["accounted_for"] == SESSIONS
    assert all(reason for reason in summary["flagged_reasons"].values())
    # every fault kind was actually served, and most sessions got through them
    for kind in ("drop", "malformed_body", "truncated_content", "delayed", "ok"):
        assert faults.get(kind, 0) > 0, (kind, faults)
    assert summary["done"] >= SESSIONS * 0.9, summary
    for o in outcomes:
        if o.status == "done":
            out = tmp_path / "runs" / o.session / "outputs"
            assert (out / "ethogram.csv").is_file() and (out / "summary.json").is_file()
            info = json.loads((tmp_path / "runs" / o.session / "run.json").read_text())
            assert info["graph"] == GRAPH_NAME
