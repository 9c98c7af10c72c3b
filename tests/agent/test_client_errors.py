"""Configuration errors of ``OpenAICompatibleClient``: raised before any request is sent."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest
from pydantic import BaseModel

from ethoagent.agent.client import OpenAICompatibleClient
from ethoagent.agent.types import Image, Message, PromptRef, Tool
from ethoagent.config import Capabilities, RoleConfig
from ethoagent.errors import ConfigError, EndpointError
from tests.servers import ScriptedOpenAIServer, chat_completion, free_port

PROMPT = PromptRef("test", 1)


class Label(BaseModel):
    label: str


def _ask(client: OpenAICompatibleClient, *args: object, **kwargs: object) -> object:
    async def go() -> object:
        try:
            return await client.ask(*args, prompt=PROMPT, **kwargs)  # type: ignore[arg-type]
        finally:
            await client.aclose()

    return asyncio.run(go())


def test_role_without_base_url_is_config_error() -> None:
    client = OpenAICompatibleClient({"llm": RoleConfig()})
    with pytest.raises(ConfigError) as err:
        _ask(client, "llm", [Message("user", "hi")])
    msg = str(err.value)
    assert "'llm'" in msg
    assert "base_url" in msg
    assert "ETHOAGENT_MODELS__LLM__BASE_URL" in msg
    assert "--backend offline" in msg
    assert "\n" not in msg


def test_role_missing_from_mapping_is_config_error() -> None:
    client = OpenAICompatibleClient({})
    with pytest.raises(ConfigError, match="'vlm'"):
        _ask(client, "vlm", [Message("user", "hi")])
    with pytest.raises(ConfigError, match="'embed'"):
        asyncio.run(client.check_health("embed"))


def test_images_to_role_without_image_input_is_config_error() -> None:
    # A live server would answer; the error must come before any request is sent.
    with ScriptedOpenAIServer(default=chat_completion("ok")) as srv:
        cfg = RoleConfig(
            base_url=srv.base_url,
            model="m",
            capabilities=Capabilities(image_input=False),
        )
        client = OpenAICompatibleClient({"llm": cfg})
        image = Image.from_array(np.zeros((4, 4, 3), np.uint8))
        with pytest.raises(ConfigError) as err:
            _ask(client, "llm", [Message("user", "what is this?", images=(image,))])
        assert srv.requests == []
    msg = str(err.value)
    assert "'llm'" in msg
    assert "image_input" in msg
    assert "Fix:" in msg


def test_tools_to_role_without_tool_calls_is_config_error() -> None:
    cfg = RoleConfig(
        base_url=f"http://127.0.0.1:{free_port()}/v1",
        model="m",
        capabilities=Capabilities(tool_calls=False),
    )
    client = OpenAICompatibleClient({"embed": cfg})
    tool = Tool.from_model("set_label", "set the label", Label)
    with pytest.raises(ConfigError, match="tool calls"):
        _ask(client, "embed", [Message("user", "hi")], tools=[tool])


def test_forcing_an_unknown_tool_is_value_error() -> None:
    cfg = RoleConfig(base_url=f"http://127.0.0.1:{free_port()}/v1", model="m")
    client = OpenAICompatibleClient({"llm": cfg})
    tool = Tool.from_model("set_label", "set the label", Label)
    with pytest.raises(ValueError, match="nope"):
        _ask(client, "llm", [Message("user", "hi")], tools=[tool], tool_choice="nope")


def test_missing_api_key_env_is_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ETHOAGENT_TEST_MISSING_KEY", raising=False)
    cfg = RoleConfig(
        base_url=f"http://127.0.0.1:{free_port()}/v1",
        model="m",
        api_key_env="ETHOAGENT_TEST_MISSING_KEY",
    )
    client = OpenAICompatibleClient({"llm": cfg})
    with pytest.raises(ConfigError, match="ETHOAGENT_TEST_MISSING_KEY"):
        _ask(client, "llm", [Message("user", "hi")])
    with pytest.raises(ConfigError, match="ETHOAGENT_TEST_MISSING_KEY"):
        asyncio.run(client.check_health("llm"))


def test_api_key_from_env_is_sent(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ETHOAGENT_TEST_KEY", "sk-test-123")
    with ScriptedOpenAIServer(default=chat_completion("ok")) as srv:
        cfg = RoleConfig(base_url=srv.base_url, model="m", api_key_env="ETHOAGENT_TEST_KEY")
        client = OpenAICompatibleClient({"llm": cfg})
        answer = _ask(client, "llm", [Message("user", "hi")])
    assert getattr(answer, "text", None) == "ok"
    assert srv.request_headers[0]["authorization"] == "Bearer sk-test-123"


def test_unreachable_endpoint_names_url_and_fix() -> None:
    url = f"http://127.0.0.1:{free_port()}/v1"
    cfg = RoleConfig(base_url=url, model="m", max_retries=1, timeout_s=5)
    client = OpenAICompatibleClient({"vlm": cfg}, backoff_base_s=0.01)
    with pytest.raises(EndpointError) as err:
        _ask(client, "vlm", [Message("user", "hi")])
    msg = str(err.value)
    assert url in msg
    assert "'vlm'" in msg
    assert "2 attempt(s)" in msg
    assert "ETHOAGENT_MODELS__VLM__BASE_URL" in msg
    assert "models.vlm.base_url" in msg
    assert "--backend offline" in msg
    assert "\n" not in msg
    assert err.value.exit_code == 3

    client = OpenAICompatibleClient({"vlm": cfg})
    with pytest.raises(EndpointError, match=url):
        asyncio.run(client.check_health("vlm"))
