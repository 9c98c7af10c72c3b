"""Prompt files: loadable, versioned, and their schema files equal the answer models."""

from __future__ import annotations

import json
import string

import pytest
from pydantic import BaseModel

from ethoagent.errors import ConfigError
from ethoagent.graphs.pose.item_stages import AssignAnswer, RegionsAnswer
from ethoagent.graphs.profile.stages import NameAnswer
from ethoagent.graphs.triangulate.session import SessionSummary
from ethoagent.prompts import PROMPTS_DIR, all_prompts, load_prompt, prompt_versions
from ethoagent.tools.captions import Caption

# every structured answer's model, by prompt name
ANSWER_MODELS: dict[str, type[BaseModel]] = {
    "demo/summary": SessionSummary,
    "pose/regions": RegionsAnswer,
    "pose/assign": AssignAnswer,
    "profile/name": NameAnswer,
    "segment/caption": Caption,
    "segment/caption_video": Caption,
}


def test_every_prompt_loads_and_names_its_placeholders() -> None:
    refs = all_prompts()
    assert {r.name for r in refs} >= {"demo/summary", "supervisor/route"}
    for ref in refs:
        prompt = load_prompt(ref.name, ref.version)
        names = {m[1] or m[2] for m in string.Template.pattern.findall(prompt.template)}
        assert names, f"{ref} has no placeholders"


@pytest.mark.parametrize("name", sorted(ANSWER_MODELS))
def test_schema_files_match_answer_models(name: str) -> None:
    for version in prompt_versions(name):
        schema_file = PROMPTS_DIR / f"{name}.v{version}.schema.json"
        assert json.loads(schema_file.read_text()) == ANSWER_MODELS[name].model_json_schema()


def test_render_requires_every_value() -> None:
    prompt = load_prompt("demo/summary")
    with pytest.raises(ConfigError, match="needs a value"):
        prompt.render(facts="{}")
    text = prompt.render(facts='{"n_frames": 3}', feedback="")
    assert '{"n_frames": 3}' in text


def test_unknown_prompt_or_version() -> None:
    with pytest.raises(ConfigError, match="no prompt named"):
        load_prompt("nope/none")
    with pytest.raises(ConfigError, match="not 99"):
        load_prompt("demo/summary", 99)
