"""The chat says when the model answered a data question without a tool, offers the
direct commands, and its resume hint carries ``--workspace``."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from ethoagent.chat.hints import looks_like_data_question, suggest_commands, tool_free_note
from tests.servers import ScriptedOpenAIServer, chat_completion, tool_call

runner = CliRunner()


@pytest.mark.parametrize(
    ("question", "command"),
    [
        ("how long did mouse_1 freeze?", "/run classify"),
        ("how many bouts of grooming in results/seg/ethogram.csv", "/query"),
        ("what frame rate does sim/poses.slp have?", "/inspect"),
        ("segment this session please", "/run segment"),
    ],
)
def test_data_questions_get_the_direct_command(question: str, command: str) -> None:
    assert looks_like_data_question(question)
    assert any(c.startswith(command) for c in suggest_commands(question))
    note = tool_free_note(question)
    assert note is not None and "without calling a tool" in note and command in note


def test_small_talk_gets_no_note() -> None:
    assert not looks_like_data_question("hello, who are you?")
    assert tool_free_note("thanks!") is None


def _chat(ws: Path, url: str, lines: str) -> str:
    from ethoagent.cli.app import app

    env = {"ETHOAGENT_CHAT_PLAIN": "1"}
    args = ["chat", "--workspace", str(ws), "--llm-url", url]
    result = runner.invoke(app, args, input=lines, env=env)
    assert result.exit_code == 0, result.output
    return " ".join(result.output.split())


def test_tool_free_answer_to_a_data_question_is_flagged(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    script = [chat_completion("Mice are small rodents."), chat_completion("Hello!")]
    with ScriptedOpenAIServer(script) as server:
        out = _chat(ws, server.base_url, "how long did mouse_1 freeze?\nhi there\n/quit\n")
    assert out.count("without calling a tool") == 1  # the data question only
    assert "/run classify" in out
    # the exit hint can be followed from anywhere: it names the workspace
    assert f"--workspace {ws.resolve()}" in out.split("bye")[-1]


def test_answer_after_a_tool_call_is_not_flagged(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    script = [
        chat_completion(None, tool_calls=[tool_call("list_files", "{}", "c1")]),
        chat_completion("The workspace is empty."),
    ]
    with ScriptedOpenAIServer(script) as server:
        out = _chat(ws, server.base_url, "which files are in the workspace?\n/quit\n")
    assert "The workspace is empty." in out and "without calling a tool" not in out
