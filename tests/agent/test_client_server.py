"""``OpenAICompatibleClient`` against a real llama.cpp server (SmolLM2-135M, CPU).

The assertions are about shape and types, never about the tiny model's judgement.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

import pytest
from pydantic import BaseModel

from ethoagent.agent.client import OpenAICompatibleClient
from ethoagent.agent.types import Answer, Message, PromptRef, Sampling, Tool, ToolCall
from ethoagent.config import Capabilities, RoleConfig, StructuredStyle
from ethoagent.errors import EndpointError
from tests.servers import LLAMA_MODEL_ALIAS, free_port

pytestmark = pytest.mark.server

PROMPT = PromptRef("test", 1)
R = TypeVar("R")


class Label(BaseModel):
    label: str
    confidence: float


class SetLabel(BaseModel):
    label: str


SET_LABEL = Tool.from_model("set_label", "Set the behaviour label of the clip.", SetLabel)
SYSTEM = Message("system", "You are a concise assistant that labels mouse behaviour.")


def run(coro: Coroutine[Any, Any, R]) -> R:
    return asyncio.run(coro)


def make_client(
    base_url: str,
    *,
    structured: StructuredStyle = "json_object",
    model: str = LLAMA_MODEL_ALIAS,
    **cfg: Any,
) -> OpenAICompatibleClient:
    cfg.setdefault("timeout_s", 60.0)
    cfg.setdefault("max_retries", 1)
    role = RoleConfig(
        base_url=base_url,
        model=model,
        capabilities=Capabilities(structured_output=structured, tool_calls=True),
        **cfg,
    )
    return OpenAICompatibleClient({"llm": role}, backoff_base_s=0.05)


async def ask_once(client: OpenAICompatibleClient, *args: Any, **kwargs: Any) -> Answer[Any]:
    try:
        return await client.ask("llm", *args, prompt=PROMPT, **kwargs)
    finally:
        await client.aclose()


def test_health_lists_the_served_model(llama_server: str) -> None:
    client = make_client(llama_server)

    async def go() -> list[str]:
        try:
            return await client.check_health("llm")
        finally:
            await client.aclose()

    assert run(go()) == [LLAMA_MODEL_ALIAS]


def test_plain_chat_returns_text_and_usage(llama_server: str) -> None:
    client = make_client(llama_server, model="")  # name discovered from GET /models
    answer = run(
        ask_once(
            client,
            [SYSTEM, Message("user", "Say hello in five words.")],
            sampling=Sampling(max_tokens=24),
        )
    )
    assert answer.text.strip()
    assert answer.usage.prompt_tokens > 0
    assert 0 < answer.usage.completion_tokens <= 24
    assert answer.backend == "openai"
    assert answer.model == LLAMA_MODEL_ALIAS
    assert answer.latency_s > 0
    assert answer.tool_calls == []


def test_json_object_structured_output_parses(llama_server: str) -> None:
    client = make_client(llama_server, structured="json_object")
    messages = [
        SYSTEM,
        Message(
            "user",
            'Clip: the mouse licks its paws. Answer as JSON {"label": <one word>, '
            '"confidence": <number between 0 and 1>}.',
        ),
    ]
    answer = run(ask_once(client, messages, output=Label, sampling=Sampling(max_tokens=96)))
    # llama.cpp turns the schema into a grammar, so the shape is guaranteed.
    assert answer.parse_error is None, (answer.parse_error, answer.text)
    assert isinstance(answer.parsed, Label)
    assert isinstance(answer.parsed.label, str)
    assert isinstance(answer.parsed.confidence, float)


def test_truncated_structured_output_is_parse_error_not_exception(llama_server: str) -> None:
    client = make_client(llama_server, structured="json_object")
    messages = [SYSTEM, Message("user", "Label the clip: the mouse rears. Answer as JSON.")]
    answer = run(ask_once(client, messages, output=Label, sampling=Sampling(max_tokens=3)))
    assert answer.parsed is None
    assert answer.parse_error
    assert answer.usage.completion_tokens <= 3


def test_json_schema_style_is_rejected_by_llama_cpp(llama_server: str) -> None:
    # llama-cpp-python's server only accepts response_format.type "text" or "json_object":
    # "json_schema" fails request validation and comes back as HTTP 500 (not 400/422), e.g.
    # "Input should be 'text' or 'json_object'". That is why llama.cpp roles are configured
    # with capabilities.structured_output = "json_object"; the error names that fix.
    client = make_client(llama_server, structured="json_schema", max_retries=0)
    with pytest.raises(EndpointError) as err:
        run(ask_once(client, [Message("user", "hi")], output=Label))
    msg = str(err.value)
    assert "HTTP 500" in msg
    assert "json_object" in msg


def test_forced_tool_call_returns_tool_call(llama_server: str) -> None:
    client = make_client(llama_server)
    messages = [SYSTEM, Message("user", "The mouse is grooming. Set the label.")]
    answer = run(
        ask_once(
            client,
            messages,
            tools=[SET_LABEL],
            tool_choice="set_label",
            sampling=Sampling(max_tokens=64),
        )
    )
    assert len(answer.tool_calls) >= 1
    call = answer.tool_calls[0]
    assert isinstance(call, ToolCall)
    assert call.name == "set_label"
    assert call.error is None, call.raw_arguments
    assert isinstance(call.arguments, dict)


def test_auto_tool_choice_does_not_crash(llama_server: str) -> None:
    client = make_client(llama_server)
    messages = [SYSTEM, Message("user", "The mouse is grooming. Set the label if needed.")]
    answer = run(
        ask_once(
            client,
            messages,
            tools=[SET_LABEL],
            tool_choice="auto",
            sampling=Sampling(max_tokens=48),
        )
    )
    # SmolLM2 may answer in text, call the tool, or say nothing; all are valid answers.
    assert isinstance(answer.text, str)
    for call in answer.tool_calls:
        assert call.name == "set_label"
        assert call.arguments is not None or call.error is not None


def test_concurrent_requests_all_answer(llama_server: str) -> None:
    client = make_client(llama_server, max_concurrency=2)

    async def go() -> list[Answer[Any]]:
        try:
            return await asyncio.gather(
                *(
                    client.ask(
                        "llm",
                        [Message("user", f"Count to {i}.")],
                        prompt=PROMPT,
                        sampling=Sampling(max_tokens=8),
                    )
                    for i in range(1, 4)
                )
            )
        finally:
            await client.aclose()

    answers = run(go())
    assert len(answers) == 3
    assert all(a.usage.completion_tokens > 0 for a in answers)


def test_tiny_timeout_is_endpoint_error(llama_server: str) -> None:
    client = make_client(llama_server, timeout_s=0.001, max_retries=0)
    with pytest.raises(EndpointError, match="timed out") as err:
        run(ask_once(client, [Message("user", "Write a long story.")]))
    assert llama_server in str(err.value)


def test_server_down_is_endpoint_error_naming_url() -> None:
    url = f"http://127.0.0.1:{free_port()}/v1"
    client = make_client(url, max_retries=1)
    with pytest.raises(EndpointError) as err:
        run(ask_once(client, [Message("user", "hi")]))
    msg = str(err.value)
    assert url in msg
    assert "ETHOAGENT_MODELS__LLM__BASE_URL" in msg
