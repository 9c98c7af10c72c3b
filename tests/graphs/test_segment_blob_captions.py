"""The offline caption solver captions blob kinematics with the blob captioner."""

from __future__ import annotations

from typing import Any

from ethoagent.agent.types import Request, Sampling
from ethoagent.graphs.segment.item_stages import CAPTION_PROMPT, offline_caption
from ethoagent.prompts import load_prompt
from ethoagent.tools.captions import SnippetKinematics


def _request(payload: dict[str, Any]) -> Request:
    return Request(
        role="vlm", messages=[], prompt=load_prompt(CAPTION_PROMPT).ref, output=None,
        tools=(), tool_choice="auto", sampling=Sampling(), payload=payload,
    )  # fmt: skip


def test_the_offline_solver_uses_the_captioner_the_request_names() -> None:
    kin = SnippetKinematics(
        seconds=1.0, frames=30, tracked=1.0, dims=2, speed=0.4, speed_p90=0.6,
        abs_turn_rate=0.3, turn_rate=0.3, elongation=1.0,
    )  # fmt: skip
    payload = {"kinematics": kin.model_dump(), "visual": None}
    assert offline_caption(_request(payload)).label == "walking"
    assert offline_caption(_request({**payload, "captioner": "blob"})).label == "moving_in_place"
