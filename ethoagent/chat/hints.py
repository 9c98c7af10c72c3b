"""What the chat tells a user when the model answered a data question from thin air.

A small model often answers "how long did mouse_1 freeze?" with a sentence and no tool
call: nothing in that answer was read from the user's files. ``tool_free_note`` says so
and offers the direct commands (``/inspect``, ``/run classify``, ``/query``, ...) that
answer the question without a model.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from ethoagent.chat.actions import TOOLS, ChatTool

__all__ = ["looks_like_data_question", "suggest_commands", "tool_free_note"]

_PATH = re.compile(r"[\w.-]+\.(csv|h5|hdf5|slp|nc|nwb|mp4|avi|json|toml|yaml|yml|mat)\b", re.I)

_BY_TOOL: tuple[tuple[str, str], ...] = (
    ("inspect_keypoints", r"keypoint|bodypart|skeleton|fps|frame ?rate|missing|nan|track"),
    ("run_classify", r"freez|classif|label|groom|rear|dart|interact"),
    ("run_segment", r"segment|ethogram|cluster|behaviou?r|syllable|motif"),
    ("query_behaviour", r"how (long|much|many|often)|seconds|minutes|bouts?|time (spent|budget)"),
    ("plot", r"plot|figure|graph|chart|draw"),
    ("run_profile", r"group|cohort|compare|profile|condition"),
    ("list_runs", r"\bruns?\b|result"),
    ("list_files", r"file|folder|workspace|data ?set|session"),
)
"""Tool name -> words of a question it answers (first match first)."""


def looks_like_data_question(text: str) -> bool:
    """Whether a question is about the user's data (names a file, or asks what a tool answers).

    Args:
        text: the user's line.
    """
    if _PATH.search(text):
        return True
    return any(re.search(words, text, re.I) for _, words in _BY_TOOL)


def suggest_commands(text: str, tools: Mapping[str, ChatTool] | None = None) -> list[str]:
    """Usage lines of the direct commands that answer ``text`` (at most three).

    Args:
        text: the user's line.
        tools: the chat's tools by name; default the registry.

    Returns:
        ``ChatTool.usage()`` lines, best first; ``/ls`` and ``/help`` where nothing matches.
    """
    reg = TOOLS if tools is None else tools
    hits = [
        reg[name].usage()
        for name, words in _BY_TOOL
        if name in reg and re.search(words, text, re.I)
    ]
    if not hits:
        hits = [reg["list_files"].usage()] if "list_files" in reg else []
        hits.append("/help")
    return hits[:3]


def tool_free_note(text: str, tools: Mapping[str, ChatTool] | None = None) -> str | None:
    """The note shown after a tool-free answer to a data question; ``None`` otherwise.

    Args:
        text: the user's line the model answered without calling a tool.
        tools: the chat's tools by name; default the registry.
    """
    if not looks_like_data_question(text):
        return None
    commands = "; ".join(suggest_commands(text, tools))
    return (
        "note: the model answered without calling a tool, so nothing in that answer was "
        f"read from your files. Direct commands answer it without the model: {commands}"
    )
