"""``OpenAICompatibleClient`` against a scripted OpenAI-compatible HTTP server.

Real HTTP on 127.0.0.1 and the real ``openai`` client: image round trips (pixel equality
after PNG decoding on the server side), retries, error mapping, parse failures and the exact
request bodies for each structured-output style.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import io
import json
import threading
import time
from collections.abc import Coroutine
from typing import Any, TypeVar

import numpy as np
import pytest
from numpy.typing import NDArray
from PIL import Image as PILImage
from pydantic import BaseModel

from ethoagent.agent.client import OpenAICompatibleClient
from ethoagent.agent.types import Answer, Image, Message, PromptRef, Role, Sampling, Tool
from ethoagent.config import Capabilities, RoleConfig, StructuredStyle
from ethoagent.errors import EndpointError
from tests.servers import (
    ScriptedOpenAIServer,
    ScriptedResponse,
    chat_completion,
    error_response,
    tool_call,
)

PROMPT = PromptRef("test", 1)
R = TypeVar("R")


class Label(BaseModel):
    label: str
    confidence: float


class ImageReport(BaseModel):
    shapes: list[list[int]]
    checksums: list[str]


class SetLabel(BaseModel):
    label: str


SET_LABEL = Tool.from_model("set_label", "Set the behaviour label.", SetLabel)


def run(coro: Coroutine[Any, Any, R]) -> R:
    return asyncio.run(coro)


def make_client(
    srv: ScriptedOpenAIServer,
    role: Role = "vlm",
    *,
    structured: StructuredStyle = "json_schema",
    image_input: bool = True,
    **cfg: Any,
) -> OpenAICompatibleClient:
    cfg.setdefault("model", "scripted-model")
    cfg.setdefault("timeout_s", 10.0)
    role_cfg = RoleConfig(
        base_url=srv.base_url,
        capabilities=Capabilities(structured_output=structured, image_input=image_input),
        **cfg,
    )
    return OpenAICompatibleClient({role: role_cfg}, backoff_base_s=0.01, backoff_max_s=0.05)


async def ask_once(client: OpenAICompatibleClient, *args: Any, **kwargs: Any) -> Answer[Any]:
    try:
        return await client.ask(*args, prompt=PROMPT, **kwargs)
    finally:
        await client.aclose()


def _decode_data_url(url: str) -> NDArray[np.uint8]:
    prefix = "data:image/png;base64,"
    assert url.startswith(prefix), url[:40]
    png = base64.b64decode(url[len(prefix) :])
    with PILImage.open(io.BytesIO(png)) as im:
        return np.asarray(im, dtype=np.uint8).copy()


def _checksum(arr: NDArray[np.uint8]) -> str:
    return hashlib.sha256(np.ascontiguousarray(arr).tobytes()).hexdigest()


# ---------------------------------------------------------------------- images


def test_images_round_trip_pixel_exact(scripted_server: ScriptedOpenAIServer) -> None:
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, size=(17, 23, 3), dtype=np.uint8)
    grey = rng.integers(0, 256, size=(9, 5), dtype=np.uint8)
    received: list[NDArray[np.uint8]] = []

    def answer(body: dict[str, Any]) -> dict[str, Any]:
        for message in body["messages"]:
            if isinstance(message["content"], list):
                for part in message["content"]:
                    if part["type"] == "image_url":
                        received.append(_decode_data_url(part["image_url"]["url"]))
        report = {
            "shapes": [list(a.shape) for a in received],
            "checksums": [_checksum(a) for a in received],
        }
        return chat_completion(json.dumps(report))

    scripted_server.push(answer)
    client = make_client(scripted_server)
    messages = [
        Message("system", "You describe images."),
        Message(
            "user",
            "Describe these frames.",
            images=(Image.from_array(rgb), Image.from_array(grey)),
        ),
    ]
    result = run(ask_once(client, "vlm", messages, output=ImageReport))

    assert result.parse_error is None
    assert result.parsed == ImageReport(
        shapes=[[17, 23, 3], [9, 5]], checksums=[_checksum(rgb), _checksum(grey)]
    )
    assert len(received) == 2
    np.testing.assert_array_equal(received[0], rgb)  # RGB order kept, no lossy step
    np.testing.assert_array_equal(received[1], grey)

    body = scripted_server.requests[0]
    user = body["messages"][1]
    assert user["role"] == "user"
    assert [p["type"] for p in user["content"]] == ["text", "image_url", "image_url"]
    assert user["content"][0]["text"] == "Describe these frames."
    assert body["messages"][0] == {"role": "system", "content": "You describe images."}


def test_messages_without_images_are_plain_strings(
    scripted_server: ScriptedOpenAIServer,
) -> None:
    scripted_server.push(chat_completion("fine"))
    client = make_client(scripted_server, "llm", image_input=False)
    messages = [
        Message("user", "hi"),
        Message("assistant", "calling"),
        Message("tool", '{"ok": true}', tool_call_id="call_1"),
    ]
    result = run(ask_once(client, "llm", messages))
    assert result.text == "fine"
    sent = scripted_server.requests[0]["messages"]
    assert sent[0] == {"role": "user", "content": "hi"}
    assert sent[2] == {"role": "tool", "content": '{"ok": true}', "tool_call_id": "call_1"}


# ---------------------------------------------------------------------- answer fields


def test_answer_fields_and_sampling(scripted_server: ScriptedOpenAIServer) -> None:
    scripted_server.push(chat_completion("hello", prompt_tokens=21, completion_tokens=4))
    client = make_client(scripted_server, "llm")
    result = run(
        ask_once(
            client,
            "llm",
            [Message("user", "hi")],
            sampling=Sampling(temperature=0.3, max_tokens=77, seed=5),
        )
    )
    assert result.text == "hello"
    assert result.usage.prompt_tokens == 21
    assert result.usage.completion_tokens == 4
    assert result.backend == "openai"
    assert result.model == "scripted-model"
    assert result.latency_s > 0
    assert result.parsed is None and result.parse_error is None
    body = scripted_server.requests[0]
    assert body["model"] == "scripted-model"
    assert body["temperature"] == 0.3
    assert body["max_tokens"] == 77
    assert body["seed"] == 5
    assert "response_format" not in body
    assert "tools" not in body and "tool_choice" not in body


def test_seed_none_is_not_sent(scripted_server: ScriptedOpenAIServer) -> None:
    scripted_server.push(chat_completion("x"))
    client = make_client(scripted_server, "llm")
    run(ask_once(client, "llm", [Message("user", "hi")], sampling=Sampling(seed=None)))
    assert "seed" not in scripted_server.requests[0]


def test_model_discovered_when_not_configured(scripted_server: ScriptedOpenAIServer) -> None:
    scripted_server.model = "served-name"
    scripted_server.push(chat_completion("x", model="served-name"))
    client = make_client(scripted_server, "llm", model="")
    assert client.model_name("llm") == ""

    async def go() -> tuple[Answer[Any], list[str]]:
        try:
            answer = await client.ask("llm", [Message("user", "hi")], prompt=PROMPT)
            return answer, await client.check_health("llm")
        finally:
            await client.aclose()

    answer, ids = run(go())
    assert scripted_server.requests[0]["model"] == "served-name"
    assert answer.model == "served-name"
    assert client.model_name("llm") == "served-name"
    assert ids == ["served-name"]
    assert "/v1/models" in scripted_server.paths


# ---------------------------------------------------------------------- structured output


@pytest.mark.parametrize("style", ["json_schema", "json_object", "none"])
def test_response_format_per_capability(
    scripted_server: ScriptedOpenAIServer, style: StructuredStyle
) -> None:
    scripted_server.push(chat_completion('{"label": "groom", "confidence": 0.9}'))
    client = make_client(scripted_server, "llm", structured=style)
    messages = [Message("system", "You label behaviour."), Message("user", "label this")]
    result = run(ask_once(client, "llm", messages, output=Label))
    assert result.parsed == Label(label="groom", confidence=0.9)

    body = scripted_server.requests[0]
    schema = Label.model_json_schema()
    if style == "json_schema":
        assert body["response_format"] == {
            "type": "json_schema",
            "json_schema": {"name": "Label", "schema": schema},
        }
        assert body["messages"][0]["content"] == "You label behaviour."
    elif style == "json_object":
        assert body["response_format"] == {"type": "json_object", "schema": schema}
        assert body["messages"][0]["content"] == "You label behaviour."
    else:
        assert "response_format" not in body
        system = body["messages"][0]
        assert system["role"] == "system"
        assert system["content"].startswith("You label behaviour.\n\n")
        assert json.dumps(schema) in system["content"]
        assert len(body["messages"]) == 2


def test_schema_prompt_adds_system_message_when_missing(
    scripted_server: ScriptedOpenAIServer,
) -> None:
    scripted_server.push(chat_completion('{"label": "rear", "confidence": 1}'))
    client = make_client(scripted_server, "llm", structured="none")
    result = run(ask_once(client, "llm", [Message("user", "label this")], output=Label))
    assert result.parsed == Label(label="rear", confidence=1.0)
    sent = scripted_server.requests[0]["messages"]
    assert [m["role"] for m in sent] == ["system", "user"]
    assert json.dumps(Label.model_json_schema()) in sent[0]["content"]


def test_fenced_json_is_parsed(scripted_server: ScriptedOpenAIServer) -> None:
    scripted_server.push(chat_completion('```json\n{"label": "walk", "confidence": 0.5}\n```'))
    client = make_client(scripted_server, "llm")
    result = run(ask_once(client, "llm", [Message("user", "x")], output=Label))
    assert result.parsed == Label(label="walk", confidence=0.5)


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        ('{"label": "groom", "confidence": ', "json"),  # malformed JSON
        ('{"label": "groom"}', "confidence"),  # valid JSON, schema violated (missing field)
        ('{"label": "groom", "confidence": "high"}', "confidence"),  # wrong type
        ("", "empty"),
        (None, "empty"),
    ],
)
def test_bad_structured_answer_sets_parse_error(
    scripted_server: ScriptedOpenAIServer, content: str | None, needle: str
) -> None:
    scripted_server.push(chat_completion(content))
    client = make_client(scripted_server, "llm")
    result = run(ask_once(client, "llm", [Message("user", "x")], output=Label))
    assert result.parsed is None
    assert result.parse_error is not None
    assert needle in result.parse_error.lower()
    assert result.text == (content or "")
    with pytest.raises(Exception, match="schema"):
        result.require()


# ---------------------------------------------------------------------- tools


def test_tool_request_forms_and_valid_call(scripted_server: ScriptedOpenAIServer) -> None:
    scripted_server.push(
        chat_completion(None, tool_calls=[tool_call("set_label", '{"label": "groom"}', "c1")]),
        chat_completion("no call"),
        chat_completion("no call"),
    )
    other = Tool("noop", "Do nothing.", {"type": "object", "properties": {}})

    async def go() -> list[Answer[Any]]:
        client = make_client(scripted_server, "llm")
        try:
            out = []
            for choice in ("set_label", "auto", "required"):
                out.append(
                    await client.ask(
                        "llm",
                        [Message("user", "x")],
                        prompt=PROMPT,
                        tools=[SET_LABEL, other],
                        tool_choice=choice,
                    )
                )
            return out
        finally:
            await client.aclose()

    forced, auto, required = run(go())
    assert len(forced.tool_calls) == 1
    call = forced.tool_calls[0]
    assert (call.id, call.name, call.arguments, call.error) == (
        "c1",
        "set_label",
        {"label": "groom"},
        None,
    )
    assert call.raw_arguments == '{"label": "groom"}'
    assert forced.text == ""
    assert auto.tool_calls == [] and auto.text == "no call"
    assert required.text == "no call"

    bodies = scripted_server.requests
    assert bodies[0]["tools"] == [SET_LABEL.to_openai(), other.to_openai()]
    assert bodies[0]["tool_choice"] == {"type": "function", "function": {"name": "set_label"}}
    assert bodies[1]["tool_choice"] == "auto"
    assert bodies[2]["tool_choice"] == "required"


@pytest.mark.parametrize(
    ("raw", "needle"),
    [('{"label": "gro', "not valid json"), ('["groom"]', "json object")],
)
def test_tool_call_with_bad_arguments_sets_error(
    scripted_server: ScriptedOpenAIServer, raw: str, needle: str
) -> None:
    scripted_server.push(
        chat_completion(
            None,
            tool_calls=[
                tool_call("set_label", raw, "bad"),
                tool_call("set_label", '{"label": "ok"}', "good"),
            ],
        )
    )
    client = make_client(scripted_server, "llm")
    result = run(
        ask_once(client, "llm", [Message("user", "x")], tools=[SET_LABEL], tool_choice="set_label")
    )
    bad, good = result.tool_calls
    assert bad.arguments is None
    assert bad.error is not None and needle in bad.error.lower()
    assert bad.raw_arguments == raw
    assert good.arguments == {"label": "ok"} and good.error is None


def test_forced_tool_answered_as_text_invents_no_call(
    scripted_server: ScriptedOpenAIServer,
) -> None:
    content = '{"name": "set_label", "arguments": {"label": "groom"}}'
    scripted_server.push(chat_completion(content))
    client = make_client(scripted_server, "llm")
    result = run(
        ask_once(client, "llm", [Message("user", "x")], tools=[SET_LABEL], tool_choice="set_label")
    )
    assert result.tool_calls == []
    assert result.text == content


# ---------------------------------------------------------------------- retries and errors


def test_429_then_200_retries_with_backoff(scripted_server: ScriptedOpenAIServer) -> None:
    scripted_server.push(
        error_response(429, "slow down"),
        error_response(429, "slow down"),
        chat_completion("finally"),
    )
    client = make_client(scripted_server, "llm", max_retries=3)
    result = run(ask_once(client, "llm", [Message("user", "x")]))
    assert result.text == "finally"
    assert len(scripted_server.requests) == 3


@pytest.fixture
def backoff_sleeps(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The delays the client sleeps between attempts, recorded instead of slept."""
    delays: list[float] = []
    real_sleep = asyncio.sleep

    async def record(delay: float, result: Any = None) -> Any:
        delays.append(delay)
        return await real_sleep(0, result)

    monkeypatch.setattr(asyncio, "sleep", record)
    return delays


def test_retry_after_is_honoured_and_capped(
    scripted_server: ScriptedOpenAIServer, backoff_sleeps: list[float]
) -> None:
    scripted_server.push(
        error_response(429, "wait", headers={"Retry-After": "0.3"}),
        chat_completion("after wait"),
    )
    client = make_client(scripted_server, "llm", max_retries=1)
    result = run(ask_once(client, "llm", [Message("user", "x")]))
    assert result.text == "after wait"
    assert backoff_sleeps == [0.3]

    backoff_sleeps.clear()
    scripted_server.push(
        error_response(503, "busy", headers={"Retry-After": "3600"}),
        chat_completion("capped"),
    )
    role_cfg = RoleConfig(base_url=scripted_server.base_url, model="m", max_retries=1)
    capped = OpenAICompatibleClient({"llm": role_cfg}, retry_after_cap_s=0.05)
    result = run(ask_once(capped, "llm", [Message("user", "x")]))
    assert result.text == "capped"
    assert backoff_sleeps == [0.05]


def test_500_exhausts_retries(scripted_server: ScriptedOpenAIServer) -> None:
    scripted_server.default = error_response(500, "model crashed")
    client = make_client(scripted_server, "llm", max_retries=2)
    with pytest.raises(EndpointError) as err:
        run(ask_once(client, "llm", [Message("user", "x")]))
    msg = str(err.value)
    assert len(scripted_server.requests) == 3
    assert "3 attempt(s)" in msg
    assert "HTTP 500" in msg and "model crashed" in msg
    assert scripted_server.base_url in msg
    assert "check the server's log" in msg
    assert "json_object" not in msg  # no response_format was sent
    assert "\n" not in msg


def test_500_with_json_schema_hints_json_object(scripted_server: ScriptedOpenAIServer) -> None:
    scripted_server.default = ScriptedResponse(status=500, body="Input should be 'text'")
    client = make_client(scripted_server, "llm", structured="json_schema", max_retries=0)
    with pytest.raises(EndpointError, match="json_object"):
        run(ask_once(client, "llm", [Message("user", "x")], output=Label))
    assert len(scripted_server.requests) == 1


def test_400_is_not_retried_and_carries_server_message(
    scripted_server: ScriptedOpenAIServer,
) -> None:
    scripted_server.push(error_response(400, "context length exceeded: 9000 > 2048"))
    client = make_client(scripted_server, "llm", max_retries=3)
    with pytest.raises(EndpointError) as err:
        run(ask_once(client, "llm", [Message("user", "x")]))
    assert len(scripted_server.requests) == 1
    msg = str(err.value)
    assert "HTTP 400" in msg
    assert "context length exceeded: 9000 > 2048" in msg


def test_404_suggests_checking_url_and_model(scripted_server: ScriptedOpenAIServer) -> None:
    scripted_server.push(error_response(404, "model 'x' not found"))
    client = make_client(scripted_server, "llm", max_retries=3)
    with pytest.raises(EndpointError, match=r"model 'x' not found.*Fix: check models\.llm"):
        run(ask_once(client, "llm", [Message("user", "x")]))


def test_slow_server_times_out_and_retries(
    scripted_server: ScriptedOpenAIServer, backoff_sleeps: list[float]
) -> None:
    scripted_server.default = ScriptedResponse(body=chat_completion("late"), delay_s=1.0)
    client = make_client(scripted_server, "llm", timeout_s=0.2, max_retries=1)
    # the answer would come after 1 s: an error rather than "late" is the 0.2 s timeout
    with pytest.raises(EndpointError, match=r"2 attempt\(s\).*timed out after 0\.2 s"):
        run(ask_once(client, "llm", [Message("user", "x")]))
    assert len(scripted_server.requests) == 2
    # one backoff between the two attempts, within make_client's bounds (0.01 s, jittered)
    assert len(backoff_sleeps) == 1 and 0.005 <= backoff_sleeps[0] <= 0.01


def test_concurrency_is_bounded_per_role(scripted_server: ScriptedOpenAIServer) -> None:
    lock = threading.Lock()
    state = {"now": 0, "max": 0}

    def slow(body: dict[str, Any]) -> dict[str, Any]:
        with lock:
            state["now"] += 1
            state["max"] = max(state["max"], state["now"])
        time.sleep(0.1)
        with lock:
            state["now"] -= 1
        return chat_completion(body["messages"][0]["content"])

    scripted_server.default = slow
    client = make_client(scripted_server, "llm", max_concurrency=2)

    async def go() -> list[Answer[Any]]:
        try:
            return await asyncio.gather(
                *(client.ask("llm", [Message("user", f"q{i}")], prompt=PROMPT) for i in range(6))
            )
        finally:
            await client.aclose()

    answers = run(go())
    assert sorted(a.text for a in answers) == [f"q{i}" for i in range(6)]
    assert state["max"] == 2
