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


def test_blob_snippets_spent_in_contact_are_captioned_as_contact() -> None:
    kin = SnippetKinematics(
        seconds=1.0, frames=30, tracked=1.0, dims=2, speed=0.05, speed_p90=0.1,
        abs_turn_rate=0.1, turn_rate=0.1, elongation=0.7, partners=2, contact=0.8,
    )  # fmt: skip
    blob = {"kinematics": kin.model_dump(), "visual": None, "captioner": "blob"}
    assert offline_caption(_request(blob)).label == "huddle"
    # the keypoint captioner reads its own partner features, never the blobs' contact
    assert offline_caption(_request({**blob, "captioner": "kinematics"})).label == "rearing"
