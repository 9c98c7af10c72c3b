"""Tests of the SQLite model-answer cache and the caching client."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import pytest
from pydantic import BaseModel

from ethoagent.agent.cache import CachedClient, ModelCache, cache_key
from ethoagent.agent.types import (
    Answer,
    Backend,
    Image,
    Message,
    PromptRef,
    Role,
    Sampling,
    Tool,
    ToolCall,
    ToolChoice,
    Usage,
    parse_output,
)
from ethoagent.errors import RunError

T = TypeVar("T", bound=BaseModel)
PROMPT = PromptRef("label", 1)


class Label(BaseModel):
    label: str
    score: float


class LabelV2(BaseModel):
    label: str
    score: float
    note: str = ""


class Strict(BaseModel):
    label: int


class ScriptedClient:
    """Answers with a JSON text that embeds the call number; counts calls; can fail."""

    def __init__(self, backend: Backend = "openai", fail: bool = False) -> None:
        self.backend: Backend = backend
        self.fail = fail
        self.calls = 0
        self.closed = False

    async def ask(
        self,
        role: Role,
        messages: list[Message],
        *,
        prompt: PromptRef,
        output: type[T] | None = None,
        tools: list[Tool] | tuple[Tool, ...] = (),
        tool_choice: ToolChoice = "auto",
        sampling: Sampling | None = None,
        payload: Mapping[str, Any] | None = None,
    ) -> Answer[T]:
        self.calls += 1
        if self.fail:
            raise TimeoutError("slow endpoint")
        text = f'{{"label": "call-{self.calls}", "score": 0.5}}'
        parsed, err = parse_output(text, output) if output is not None else (None, None)
        return Answer(
            text=text,
            parsed=parsed,
            parse_error=err,
            tool_calls=[ToolCall(id="c1", name="lookup", arguments={"q": 1}, raw_arguments="{}")]
            if tools
            else [],
            usage=Usage(prompt_tokens=30, completion_tokens=10),
            latency_s=2.0,
            backend=self.backend,
            model="scripted-1",
        )

    def model_name(self, role: Role) -> str:
        return "scripted-1"

    async def aclose(self) -> None:
        self.closed = True


def _img(value: int) -> Image:
    return Image.from_array(np.full((3, 3, 3), value, np.uint8))


def _msgs(value: int = 1) -> list[Message]:
    return [Message("system", "label it"), Message("user", "frame", images=(_img(value),))]


def _ask(
    client: CachedClient,
    *,
    prompt: PromptRef = PROMPT,
    output: type[BaseModel] | None = Label,
    sampling: Sampling | None = None,
    messages: list[Message] | None = None,
    tools: tuple[Tool, ...] = (),
) -> Answer[Any]:
    return asyncio.run(
        client.ask(
            "vlm",
            messages if messages is not None else _msgs(),
            prompt=prompt,
            output=output,
            sampling=sampling,
            tools=tools,
        )
    )


@pytest.fixture
def cache(tmp_path: Path) -> Iterator[ModelCache]:
    c = ModelCache(tmp_path / "sub" / "cache.sqlite")
    yield c
    c.close()


def test_hit_on_identical_request(cache: ModelCache) -> None:
    inner = ScriptedClient()
    client = CachedClient(inner, cache)
    first = _ask(client)
    second = _ask(client)
    assert inner.calls == 1
    assert not first.cache_hit and first.latency_s == 2.0
    assert second.cache_hit and second.latency_s == 0.0
    assert isinstance(second.parsed, Label) and second.parsed.label == "call-1"
    assert second.text == first.text and second.usage == first.usage
    assert second.model == "scripted-1" and second.backend == "openai"
    stats = cache.stats()
    assert (stats.hits, stats.misses, stats.entries) == (1, 1, 1)
    assert stats.by_prompt == {"label.v1": 1}
    assert stats.bytes > 50


@pytest.mark.parametrize(
    "change",
    [
        {"prompt": PromptRef("label", 2)},
        {"sampling": Sampling(temperature=0.7)},
        {"sampling": Sampling(seed=1)},
        {"messages": _msgs(value=2)},
        {"output": LabelV2},
        {"output": None},
        {"tools": (Tool("lookup", "find", {"type": "object", "properties": {}}),)},
    ],
)
def test_miss_when_request_differs(cache: ModelCache, change: dict[str, Any]) -> None:
    inner = ScriptedClient()
    client = CachedClient(inner, cache)
    _ask(client)
    answer = _ask(client, **change)
    assert inner.calls == 2 and not answer.cache_hit
    assert cache.stats().entries == 2


def test_default_sampling_equals_explicit_default(cache: ModelCache) -> None:
    inner = ScriptedClient()
    client = CachedClient(inner, cache)
    _ask(client)
    assert _ask(client, sampling=Sampling()).cache_hit
    assert inner.calls == 1


def test_cache_key_is_stable_and_sensitive() -> None:
    base: dict[str, Any] = {
        "backend": "openai",
        "model": "m",
        "prompt": PROMPT,
        "sampling": Sampling(),
        "messages": _msgs(),
        "output": Label,
        "tools": (),
        "tool_choice": "auto",
    }
    key = cache_key(**base)
    assert len(key) == 64 and key == cache_key(**{**base, "messages": _msgs()})
    for change in (
        {"backend": "offline"},
        {"model": "m2"},
        {"tool_choice": "required"},
        {"messages": [Message("system", "label it!"), _msgs()[1]]},
    ):
        assert cache_key(**{**base, **change}) != key


def test_disabled_cache_passes_through(cache: ModelCache) -> None:
    inner = ScriptedClient()
    client = CachedClient(inner, cache, enabled=False)
    assert not _ask(client).cache_hit
    assert not _ask(client).cache_hit
    assert inner.calls == 2
    stats = cache.stats()
    assert (stats.entries, stats.hits, stats.misses) == (0, 0, 0)


def test_offline_inner_bypasses_cache(cache: ModelCache) -> None:
    inner = ScriptedClient(backend="offline")
    client = CachedClient(inner, cache)
    assert client.backend == "offline"
    _ask(client)
    _ask(client)
    assert inner.calls == 2
    stats = cache.stats()
    assert (stats.entries, stats.hits, stats.misses) == (0, 0, 0)


def test_errors_are_not_cached(cache: ModelCache) -> None:
    inner = ScriptedClient(fail=True)
    client = CachedClient(inner, cache)
    for _ in range(2):
        with pytest.raises(TimeoutError):
            _ask(client)
    assert inner.calls == 2 and cache.stats().entries == 0


def test_hit_revalidates_with_requested_output(cache: ModelCache) -> None:
    inner = ScriptedClient()
    client = CachedClient(inner, cache)
    # A stored answer for the same key whose parsed object no longer validates against the
    # requested type is re-parsed from the text; failing that, parse_error says why.
    key = cache_key(
        backend="openai",
        model="scripted-1",
        prompt=PROMPT,
        sampling=Sampling(),
        messages=_msgs(),
        output=Strict,
        tools=(),
        tool_choice="auto",
    )
    cache.put(key, Answer(text='{"label": "x"}', model="scripted-1"), PROMPT, "scripted-1")
    answer = _ask(client, output=Strict)
    assert inner.calls == 0 and answer.cache_hit
    assert answer.parsed is None and answer.parse_error
    # no output requested: parsed stays None
    plain = _ask(client, output=None)
    again = _ask(client, output=None)
    assert plain.parsed is None and again.cache_hit and again.text == plain.text


def test_tool_calls_survive_the_cache(cache: ModelCache) -> None:
    inner = ScriptedClient()
    client = CachedClient(inner, cache)
    tools = (Tool("lookup", "find", {"type": "object", "properties": {}}),)
    _ask(client, tools=tools)
    hit = _ask(client, tools=tools)
    assert hit.cache_hit and hit.tool_calls[0].name == "lookup"
    assert hit.tool_calls[0].arguments == {"q": 1}


def test_cache_survives_reopen_and_clear(tmp_path: Path) -> None:
    path = tmp_path / "cache.sqlite"
    with ModelCache(path) as c1:
        _ask(CachedClient(ScriptedClient(), c1))
        _ask(CachedClient(ScriptedClient(), c1), prompt=PromptRef("other", 3))
    with ModelCache(path) as c2:
        inner = ScriptedClient()
        assert _ask(CachedClient(inner, c2)).cache_hit
        assert inner.calls == 0
        stats = c2.stats()
        assert stats.entries == 2 and stats.by_prompt == {"label.v1": 1, "other.v3": 1}
        assert (stats.hits, stats.misses) == (1, 0)
        assert c2.clear() == 2
        assert c2.stats().entries == 0 and c2.stats().bytes == 0


def test_two_connections_share_the_file(tmp_path: Path) -> None:
    path = tmp_path / "cache.sqlite"
    with ModelCache(path) as a, ModelCache(path) as b:
        _ask(CachedClient(ScriptedClient(), a))
        inner = ScriptedClient()
        assert _ask(CachedClient(inner, b)).cache_hit and inner.calls == 0


def test_concurrent_tasks(cache: ModelCache) -> None:
    inner = ScriptedClient()
    client = CachedClient(inner, cache)

    async def main() -> list[Answer[Label]]:
        return await asyncio.gather(
            *(client.ask("vlm", _msgs(k % 3), prompt=PROMPT, output=Label) for k in range(12))
        )

    answers = asyncio.run(main())
    assert all(a.parsed is not None for a in answers)
    assert cache.stats().entries == 3
    again = asyncio.run(main())
    assert all(a.cache_hit for a in again)


def test_corrupt_entry_is_a_miss(cache: ModelCache) -> None:
    inner = ScriptedClient()
    client = CachedClient(inner, cache)
    _ask(client)
    conn = sqlite3.connect(cache.path)
    conn.execute("UPDATE answers SET answer_json = 'not json'")
    conn.commit()
    conn.close()
    answer = _ask(client)
    assert not answer.cache_hit and inner.calls == 2
    assert _ask(client).cache_hit


def test_not_a_database(tmp_path: Path) -> None:
    path = tmp_path / "cache.sqlite"
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(RunError, match=r"cache\.sqlite"):
        ModelCache(path)


def test_aclose_and_model_name(cache: ModelCache) -> None:
    inner = ScriptedClient()
    client = CachedClient(inner, cache)
    assert client.model_name("vlm") == "scripted-1"
    asyncio.run(client.aclose())
    assert inner.closed
