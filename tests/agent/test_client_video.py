"""Clips go to an OpenAI-compatible server as one ``video_url`` part of JPEG frames (the
form vLLM decodes for Qwen2.5-VL and Qwen3-VL), and only to a role declared with
``video_input``."""

from __future__ import annotations

import asyncio
import base64
import json
from typing import Any

import cv2
import numpy as np
import pytest

from ethoagent.agent.client import OpenAICompatibleClient
from ethoagent.agent.types import Clip, Message, PromptRef
from ethoagent.config import Capabilities, RoleConfig
from ethoagent.errors import ConfigError, InputError
from tests.servers import ScriptedOpenAIServer, chat_completion

PROMPT = PromptRef("test", 1)


def _frames(n: int) -> list[np.ndarray[Any, Any]]:
    """A bright square moving right on a dark background, 48x64 RGB."""
    out = []
    for i in range(n):
        frame = np.zeros((48, 64, 3), np.uint8)
        frame[16:32, 4 + 8 * i : 20 + 8 * i] = (250, 120, 30)
        out.append(frame)
    return out


def _client(srv: ScriptedOpenAIServer, *, video_input: bool) -> OpenAICompatibleClient:
    cfg = RoleConfig(
        base_url=srv.base_url,
        model="scripted-model",
        timeout_s=10.0,
        capabilities=Capabilities(image_input=True, video_input=video_input),
    )
    return OpenAICompatibleClient({"vlm": cfg}, backoff_base_s=0.01, backoff_max_s=0.05)


def test_a_clip_travels_as_one_video_url_of_jpeg_frames(
    scripted_server: ScriptedOpenAIServer,
) -> None:
    received: list[dict[str, Any]] = []

    def answer(body: dict[str, Any]) -> dict[str, Any]:
        received.extend(
            p for m in body["messages"] if isinstance(m["content"], list) for p in m["content"]
        )
        return chat_completion("a square moving right")

    scripted_server.push(answer)
    clip = Clip.from_arrays(_frames(5), fps=10.0)
    client = _client(scripted_server, video_input=True)

    async def ask() -> str:
        try:
            answer = await client.ask(
                "vlm", [Message("user", "Which way?", clips=(clip,))], prompt=PROMPT
            )
            return answer.text
        finally:
            await client.aclose()

    assert asyncio.run(ask()) == "a square moving right"
    assert [p["type"] for p in received] == ["text", "video_url"]
    url = received[1]["video_url"]["url"]
    prefix = "data:video/jpeg;base64,"
    assert url.startswith(prefix)
    frames = url[len(prefix) :].split(",")
    assert len(frames) == 5
    decoded = [
        cv2.imdecode(np.frombuffer(base64.b64decode(f), np.uint8), cv2.IMREAD_COLOR) for f in frames
    ]
    # the square's centre moves right by 8 px a frame (JPEG keeps it within a pixel)
    xs = [float(np.nonzero(d.max(axis=(0, 2)) > 128)[0].mean()) for d in decoded]
    assert np.allclose(np.diff(xs), 8.0, atol=1.0)
    assert json.dumps(received)  # JSON-able as sent


def test_a_role_without_video_input_refuses_a_clip(scripted_server: ScriptedOpenAIServer) -> None:
    client = _client(scripted_server, video_input=False)
    clip = Clip.from_arrays(_frames(2), fps=4.0)

    async def ask() -> None:
        try:
            await client.ask("vlm", [Message("user", "?", clips=(clip,))], prompt=PROMPT)
        finally:
            await client.aclose()

    with pytest.raises(ConfigError, match="video_input = true"):
        asyncio.run(ask())
    assert scripted_server.chat_requests == 0


def test_clips_are_checked_and_hashed_by_content() -> None:
    a = Clip.from_arrays(_frames(3), fps=10.0)
    b = Clip.from_arrays(_frames(3), fps=10.0)
    assert a.sha256 == b.sha256
    assert Clip.from_arrays(_frames(3), fps=5.0).sha256 != a.sha256
    assert Message("user", "x", clips=(a,)).fingerprint()["clips"] == [a.sha256]
    with pytest.raises(InputError, match="positive"):
        Clip.from_arrays(_frames(2), fps=0.0)
    with pytest.raises(InputError, match="at least one frame"):
        Clip((), fps=10.0)
    with pytest.raises(InputError, match="uint8"):
        Clip.from_arrays([np.zeros((4, 4, 3), np.float32)], fps=10.0)
