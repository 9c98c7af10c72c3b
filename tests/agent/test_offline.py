"""The offline backend answers from registered solvers and says so."""

from __future__ import annotations

import asyncio

import pytest
from pydantic import BaseModel

from ethoagent.agent.offline import OfflineClient
from ethoagent.agent.types import Message, PromptRef, Request, ToolCall
from ethoagent.errors import ConfigError


class Count(BaseModel):
    n: int


def count_words(request: Request) -> Count:
    return Count(n=len(str(request.payload["text"]).split()))


def test_solver_answers_from_payload_and_is_marked_offline() -> None:
    client = OfflineClient({"t/count": count_words})
    answer = asyncio.run(
        client.ask(
            "llm",
            [Message("user", "count the words")],
            prompt=PromptRef("t/count", 1),
            output=Count,
            payload={"text": "a b c"},
        )
    )
    assert answer.parsed == Count(n=3)
    assert answer.backend == "offline" and answer.model == "offline-llm"
    assert client.calls == 1


def test_solver_may_return_text_or_tool_calls() -> None:
    client = OfflineClient(
        {
            "t/text": lambda r: '{"n": 7}',
            "t/tools": lambda r: [ToolCall(name="flag", arguments={"reason": "x"})],
        }
    )
    text = asyncio.run(client.ask("llm", [], prompt=PromptRef("t/text", 1), output=Count))
    assert text.parsed == Count(n=7)
    tools = asyncio.run(client.ask("llm", [], prompt=PromptRef("t/tools", 1)))
    assert tools.tool_calls[0].name == "flag"


def test_missing_solver_says_an_endpoint_is_needed() -> None:
    with pytest.raises(ConfigError, match="needs a model endpoint"):
        asyncio.run(OfflineClient().ask("vlm", [], prompt=PromptRef("nope/none", 1)))
