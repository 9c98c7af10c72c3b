"""Versioned prompt templates.

A prompt is a text file ``prompts/<pipeline>/<name>.v<N>.md`` using ``$placeholders``
(``string.Template``, so JSON braces need no escaping). A structured answer's JSON schema
lies beside it as ``<name>.v<N>.schema.json``; a test keeps it equal to the pydantic model
that parses the answer. Changing a prompt means adding the next version: the version is part
of the model-answer cache key and of every trace event.
"""

from __future__ import annotations

import json
import re
import string
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from ethoagent.agent.types import PromptRef
from ethoagent.errors import ConfigError

PROMPTS_DIR = Path(__file__).parent
_VERSIONED = re.compile(r"^(?P<stem>.+)\.v(?P<version>\d+)\.md$")


@dataclass(frozen=True)
class Prompt:
    """A loaded prompt template."""

    ref: PromptRef
    template: str
    schema: dict[str, Any] | None

    def render(self, **values: object) -> str:
        """Fill ``$placeholders``; a missing value is an error, never a silent blank."""
        try:
            return string.Template(self.template).substitute({k: str(v) for k, v in values.items()})
        except KeyError as exc:
            raise ConfigError(f"prompt {self.ref} needs a value for ${exc.args[0]}.") from exc


def prompt_versions(name: str) -> list[int]:
    """All versions of prompt ``name`` (e.g. ``"demo/summary"``), ascending."""
    folder = PROMPTS_DIR / Path(name).parent
    stem = Path(name).name
    versions = []
    for path in folder.glob(f"{stem}.v*.md"):
        m = _VERSIONED.match(path.name)
        if m and m.group("stem") == stem:
            versions.append(int(m.group("version")))
    return sorted(versions)


@cache
def load_prompt(name: str, version: int | None = None) -> Prompt:
    """Load prompt ``name`` at ``version`` (default: the newest).

    Raises:
        ConfigError: no such prompt or version.
    """
    versions = prompt_versions(name)
    if not versions:
        raise ConfigError(f"no prompt named {name!r} under {PROMPTS_DIR}.")
    v = versions[-1] if version is None else version
    if v not in versions:
        raise ConfigError(f"prompt {name!r} has versions {versions}, not {v}.")
    base = PROMPTS_DIR / f"{name}.v{v}"
    text = (base.parent / f"{base.name}.md").read_text(encoding="utf-8")
    schema_path = base.parent / f"{base.name}.schema.json"
    schema = json.loads(schema_path.read_text(encoding="utf-8")) if schema_path.is_file() else None
    return Prompt(ref=PromptRef(name=name, version=v), template=text, schema=schema)


def all_prompts() -> list[PromptRef]:
    """Every prompt file shipped with the package."""
    refs = []
    for path in sorted(PROMPTS_DIR.rglob("*.v*.md")):
        m = _VERSIONED.match(path.name)
        if m:
            rel = path.parent.relative_to(PROMPTS_DIR) / m.group("stem")
            refs.append(PromptRef(name=rel.as_posix(), version=int(m.group("version"))))
    return refs
