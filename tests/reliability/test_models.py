"""Model faults: a server that is down, slow, rate-limiting, failing or answering garbage.

The client retries what may pass on a retry (429, 5xx, timeouts, drops, cut-off bodies)
with growing backoff and a bounded number of attempts, then stops with one error naming
the endpoint; a bad *answer* (cut-off JSON, wrong schema, empty, boxes outside the image,
an answer that never passes the checks) is a failed check: retried with the failure fed
back, escalated, then flagged, within the stage's budget, and the run goes on.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from pydantic import BaseModel

from ethoagent.agent.client import OpenAICompatibleClient
from ethoagent.agent.trace import read_trace
from ethoagent.agent.types import Message, PromptRef, Request
from ethoagent.config import RoleConfig
from ethoagent.errors import EndpointError
from ethoagent.graphs.kit.runtime import offline_runtime
from ethoagent.graphs.pose.graph import GRAPH_NAME, resolve_inputs, run_pose
from ethoagent.graphs.pose.hypotheses import STAGEWISE
from ethoagent.graphs.pose.item_stages import (
    ASSIGN_PROMPT,
    REGIONS_PROMPT,
    RegionBox,
    RegionsAnswer,
    _offline_assign,
)
from ethoagent.graphs.pose.options import PoseOptions
from ethoagent.io.keypoints import write_keypoints
from ethoagent.model.pose import PoseData
from ethoagent.sim.simulate import simulate_session
from ethoagent.sim.synthetic import KEYPOINTS, simulate_world
from ethoagent.tools.ethogram import check_tiling, read_ethogram_csv
from tests.reliability.conftest import CliRunner, assert_one_line_error, snapshot
from tests.reliability.flaky import FlakyServer
from tests.scripted import ScriptedClient
from tests.servers import ScriptedOpenAIServer, ScriptedResponse, chat_completion, error_response


class Answer(BaseModel):
    x: int


def _client(url: str, *, retries: int = 2, timeout_s: float = 5.0) -> OpenAICompatibleClient:
    role = RoleConfig(base_url=url, model="m", timeout_s=timeout_s, max_retries=retries)
    return OpenAICompatibleClient({"llm": role}, backoff_base_s=0.02, backoff_max_s=0.2)


async def _ask(client: OpenAICompatibleClient) -> Any:
    try:
        return await client.ask(
            "llm", [Message("user", "hi")], prompt=PromptRef("t", 1), output=Answer
        )
    finally:
        await client.aclose()


# --------------------------------------------------------------------------- the client


def test_transient_faults_are_retried_with_growing_backoff_then_succeed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    delays: list[float] = []
    original = OpenAICompatibleClient._delay

    def spy(self: OpenAICompatibleClient, attempt: int, retry_after_s: float | None) -> float:
        delays.append(original(self, attempt, retry_after_s))
        return delays[-1]

    monkeypatch.setattr(OpenAICompatibleClient, "_delay", spy)
    script = [
        error_response(429, "slow down", headers={"Retry-After": "0.05"}),
        error_response(500, "worker crashed"),
        ScriptedResponse(status=200, body='{"id": "x", "choices": [{"mess'),  # cut-off body
        chat_completion('{"x": 7}'),
    ]
    with ScriptedOpenAIServer(script) as server:
        answer = asyncio.run(_ask(_client(server.base_url, retries=3)))
        assert server.chat_requests == 4
    assert answer.parsed == Answer(x=7) and answer.parse_error is None
    assert delays[0] == pytest.approx(0.05)  # Retry-After honoured
    assert 0.02 <= delays[1] <= 0.04 and 0.04 <= delays[2] <= 0.08  # exponential, jittered


@pytest.mark.parametrize(
    ("faults", "detail"),
    [
        ({"drop_rate": 1.0}, "cannot connect"),
        ({"status_rates": {500: 1.0}}, "HTTP 500"),
        ({"status_rates": {429: 1.0}}, "HTTP 429"),
        ({"status_rates": {503: 1.0}}, "HTTP 503"),
        ({"malformed_rate": 1.0}, "malformed response body"),
        ({"delay_rate": 1.0, "delay_s": 1.0}, "timed out after 0.2 s"),
    ],
)
def test_persistent_faults_stop_after_bounded_attempts_naming_the_endpoint(
    faults: dict[str, Any], detail: str
) -> None:
    with FlakyServer(lambda body: '{"x": 1}', **faults) as server:
        url = server.base_url
        with pytest.raises(EndpointError) as err:
            # a short timeout only where the timeout is the fault under test: on a loaded
            # machine a 0.2 s timeout also cuts off requests the server has not read yet
            timeout_s = 0.2 if "timed out" in detail else 10.0
            asyncio.run(_ask(_client(url, retries=2, timeout_s=timeout_s)))
        # 1 + max_retries, never more; the client's own count is in the message, and a
        # request cut off by the timeout may never reach the server's handler
        seen = len(server.requests)
        assert seen == 3 or ("timed out" in detail and 1 <= seen < 3)
    message = str(err.value)
    assert url in message and "after 3 attempt(s)" in message
    assert detail in message and "Fix:" in message and "\n" not in message


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ('{"x": 1', "json_invalid"),  # cut off mid-answer
        ('{"y": "no"}', "Field required"),  # valid JSON, wrong schema
        ('{"x": "many"}', "int_parsing"),
        ("", "empty answer"),
        ("Sure! Here is the JSON you asked for.", "json_invalid"),
    ],
)
def test_bad_answers_are_parse_errors_not_crashes(content: str, problem: str) -> None:
    with FlakyServer(lambda body: content) as server:
        answer = asyncio.run(_ask(_client(server.base_url)))
    assert answer.parsed is None and problem in (answer.parse_error or "")


# --------------------------------------------------------------------------- segment, online


@pytest.fixture(scope="module")
def keypoints(tmp_path_factory: pytest.TempPathFactory) -> Path:
    points = simulate_world(300, animals=1, fps=30.0, seed=4).points_3d
    data = PoseData(
        points=points,
        confidence=np.full(points.shape[:3], np.nan),
        keypoints=KEYPOINTS,
        individuals=("mouse_0",),
        fps=30.0,
        unit="mm",
    )
    return write_keypoints(data, tmp_path_factory.mktemp("kp") / "session.nc", format="netcdf")


def online_config(path: Path, base_url: str, *, retries: int = 1, key_env: str = "") -> Path:
    """A TOML config sending both roles to ``base_url`` (text-only, no tool calls)."""
    key = f'api_key_env = "{key_env}"\n' if key_env else ""
    roles = "".join(
        f'[models.{role}]\nbase_url = "{base_url}"\nmodel = "flaky-model"\n{key}'
        f"timeout_s = 5\nmax_retries = {retries}\n"
        f"[models.{role}.capabilities]\nimage_input = false\ntool_calls = false\n"
        for role in ("vlm", "llm")
    )
    path.write_text('backend = "openai"\n' + roles)
    return path


FAST = ("--k", "3", "--dec-epochs", "1", "--dec-iters", "50")

CAPTION = {
    "posture": "on all fours, body level",
    "direction": "none",
    "speed": "unknown",
    "social_interaction": "none",
    "label": "exploring",
    "confidence": 0.6,
}


def prompt_text(body: dict[str, Any]) -> str:
    content = body["messages"][-1]["content"]
    if isinstance(content, list):
        return " ".join(p.get("text", "") for p in content if isinstance(p, dict))
    return str(content)


def merge_answer(body: dict[str, Any], label: str = "exploring") -> str:
    """One epoch over the whole window (the window is read from the prompt)."""
    m = re.search(r"cover frames (\d+) to (\d+)", prompt_text(body))
    assert m, "merge prompt without its frame range"
    start, stop = int(m[1]), int(m[2])
    return json.dumps(
        {
            "epochs": [
                {
                    "start_frame": start,
                    "end_frame": stop,
                    "label": label,
                    "description": "moves about",
                    "confidence": 0.7,
                }
            ],
            "vocabulary": {label: "Moves about the arena."},
        }
    )


def answer_by_prompt(
    caption: Callable[[dict[str, Any]], str], merge: Callable[[dict[str, Any]], str]
) -> Callable[[dict[str, Any]], str]:
    def answer(body: dict[str, Any]) -> str:
        text = prompt_text(body)
        return merge(body) if text.startswith("You turn captions") else caption(body)

    return answer


def test_server_down_stops_the_run_with_one_line_and_keeps_outputs(
    cli: CliRunner, keypoints: Path, tmp_path: Path
) -> None:
    from tests.servers import free_port

    url = f"http://127.0.0.1:{free_port()}/v1"
    out = tmp_path / "out"
    out.mkdir()
    (out / "ethogram.csv").write_text("previous results\n")
    config = online_config(tmp_path / "c.toml", url)
    res = cli("segment", keypoints, out, *FAST, "--config", config,
              "--runs-dir", tmp_path / "runs", "--overwrite")  # fmt: skip
    assert_one_line_error(res, url, "cannot connect", "Fix:", code=3)
    assert snapshot(out) == {"ethogram.csv": b"previous results\n"}


def test_a_model_that_never_passes_is_bounded_flagged_and_the_run_finishes(
    cli: CliRunner, keypoints: Path, tmp_path: Path, flaky_server: Callable[..., FlakyServer]
) -> None:
    """Captions always cut off, merges always leaving a gap: bounded retries, then the
    kinematic captioner and the rule merge take over, the items are flagged, and the
    ethogram still tiles the session."""

    def gap_merge(body: dict[str, Any]) -> str:
        answer = json.loads(merge_answer(body))
        answer["epochs"][0]["end_frame"] -= 1  # leaves the last frame uncovered
        return json.dumps(answer)

    server = flaky_server(answer_by_prompt(lambda b: json.dumps(CAPTION)[:40], gap_merge))
    config = online_config(tmp_path / "c.toml", server.base_url)
    res = cli("segment", keypoints, tmp_path / "out", *FAST, "--config", config,
              "--runs-dir", tmp_path / "runs", "--model-every-snippet", "--no-cache")  # fmt: skip
    assert res.code == 0, res.stderr
    summary = json.loads((tmp_path / "out/summary.json").read_text())
    n = summary["snippets"]
    assert summary["captions_flagged"] == 0  # every caption escalated to the kinematics
    assert summary["snippets_by_kinematics_fallback"] == n
    assert summary["merge_routes"] == {"rules_fallback": summary["merge_routes"]["rules_fallback"]}
    captions = [b for b in server.requests if not prompt_text(b).startswith("You turn")]
    merges = [b for b in server.requests if prompt_text(b).startswith("You turn")]
    assert len(captions) == 3 * n  # first try + max_retries (2), then the escalation
    assert 0 < len(merges) <= 6 * summary["merge_routes"]["rules_fallback"]
    epochs = read_ethogram_csv(tmp_path / "out/ethogram.csv")["mouse_0"]
    assert all(c.passed for c in check_tiling(epochs, 300))
    events = read_trace(
        tmp_path
        / "runs"
        / next(iter(p.name for p in (tmp_path / "runs").iterdir() if p.is_dir()))
        / "trace.jsonl"
    )
    fed_back = [e for e in events if e["kind"] == "decision" and e.get("action") == "retry"]
    assert fed_back


# --------------------------------------------------------------------------- pose, scripted


@pytest.fixture(scope="module")
def pose_session(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("pose") / "sim"
    simulate_session(out, preset="easy", frames=8, views=3, seed=6)
    return out


def test_boxes_outside_the_image_are_retried_then_the_run_goes_on(
    pose_session: Path, tmp_path: Path
) -> None:
    def outside(request: Request) -> str:
        w = int(request.payload["width"])
        box = (w + 10.0, 5.0, w + 90.0, 60.0)
        return RegionsAnswer(
            regions=[RegionBox(region=r, box=box) for r in request.payload["regions"]]
        ).model_dump_json()

    client = ScriptedClient(
        {REGIONS_PROMPT: outside, ASSIGN_PROMPT: lambda r: _offline_assign(r).model_dump_json()}
    )
    inputs = resolve_inputs(
        pose_session / "videos",
        pose_session / "calibration.toml",
        pose_session / "ground_truth" / "seeds.csv",
        options=PoseOptions(model_every_stage=True),
    )
    rt = offline_runtime(tmp_path, GRAPH_NAME, "boxes", inputs.model_dump(), client)
    state = asyncio.run(run_pose(rt, inputs))
    events = read_trace(rt.run.trace_path)
    # the refined reading asks the model in every stage; the stage-wise one (a second
    # hypothesis, cheap path first) boxes the track's predictions, which lie inside
    failed = [
        e
        for e in events
        if e["kind"] == "check"
        and e["name"] == "boxes_inside_image"
        and e.get("reading") != STAGEWISE
    ]
    assert failed and not any(e["passed"] for e in failed)
    assert "outside the" in failed[0]["message"]
    # bounded: never more region requests than the budget allows per frame-view
    per_item: dict[str, int] = {}
    for r in client.calls(REGIONS_PROMPT):
        key = f"{r.payload.get('frame')}-{r.payload.get('view')}"
        per_item[key] = per_item.get(key, 0) + 1
    assert per_item and max(per_item.values()) <= 8
    assert (rt.run.outputs_dir / "points_3d.csv").is_file() and state["outputs"]


def test_a_server_dying_mid_run_stops_it_cleanly_and_resume_finishes(
    cli: CliRunner, keypoints: Path, tmp_path: Path, flaky_server: Callable[..., FlakyServer]
) -> None:
    """The overnight case: the server fails after some answers; the run stops with one
    line (exit 3) and records why, OUT gets nothing half-made, and ``--resume`` completes
    the run from its checkpoint once the server is back."""
    served = {"n": 0}

    def answer(body: dict[str, Any]) -> str:
        served["n"] += 1
        if served["n"] == 4:  # from now on every request fails
            server.config.status_rates = {503: 1.0}
        return answer_by_prompt(lambda b: json.dumps(CAPTION), merge_answer)(body)

    server = flaky_server(answer)
    config = online_config(tmp_path / "c.toml", server.base_url)
    runs, out = tmp_path / "runs", tmp_path / "out"
    res = cli("segment", keypoints, out, *FAST, "--config", config, "--runs-dir", runs,
              "--run-id", "night", "--model-every-snippet", "--no-cache")  # fmt: skip
    assert_one_line_error(res, server.base_url, "HTTP 503", "Fix:", code=3)
    assert not (out / "ethogram.csv").exists()
    info = json.loads((runs / "night" / "run.json").read_text())
    assert info["status"] == "failed" and "HTTP 503" in info["error"]
    before = len(server.requests)

    server.config.status_rates = {}  # the server is back
    again = cli("segment", "--resume", "night", "--config", config, "--runs-dir", runs,
                "--no-cache")  # fmt: skip
    assert again.code == 0, again.stderr
    epochs = read_ethogram_csv(out / "ethogram.csv")["mouse_0"]
    assert all(c.passed for c in check_tiling(epochs, 300))
    assert len(server.requests) > before
    trace = (runs / "night" / "trace.jsonl").read_text()
    assert '"kind": "run_resume"' in trace
    assert json.loads((runs / "night" / "run.json").read_text())["status"] == "finished"
