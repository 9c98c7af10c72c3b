"""``ethoagent chat``: a terminal conversation with typed tools over a workspace."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any

import typer

from ethoagent.cli.base import BackendOpt, ConfigOpt, console
from ethoagent.config import load_settings


def chat(
    workspace: Annotated[
        Path,
        typer.Option(
            "--workspace",
            "-w",
            help="Folder the chat's tools may read and write (created); default: here.",
            file_okay=False,
        ),
    ] = Path(),
    resume: Annotated[
        str | None, typer.Option("--resume", help="Continue this conversation thread.")
    ] = None,
    llm_url: Annotated[
        str | None,
        typer.Option(
            "--llm-url", help="OpenAI-compatible endpoint of the chat model (models.llm.base_url)."
        ),
    ] = None,
    llm_model: Annotated[
        str | None, typer.Option("--llm-model", help="Model name at that endpoint.")
    ] = None,
    max_tokens: Annotated[
        int, typer.Option("--max-tokens", min=16, help="Most tokens of one model answer.")
    ] = 1024,
    max_tool_rounds: Annotated[
        int,
        typer.Option(
            "--max-tool-rounds", min=0, help="Tool rounds per question before the model answers."
        ),
    ] = 6,
    tools: Annotated[
        str | None,
        typer.Option(
            "--tools",
            help="Comma-separated tools offered to the model (default all; /tools lists them).",
        ),
    ] = None,
    config: ConfigOpt = None,
    backend: BackendOpt = None,
) -> None:
    """Chat about your sessions: load, inspect, run pipelines, query, plot, explain.

    Free-form questions go to the `llm` role (it calls typed tools; it never runs code);
    direct commands (/run segment PATH, /query ETHOGRAM ...) work without any model.
    """
    from ethoagent.agent.workspace import Workspace
    from ethoagent.chat.session import ChatSession

    overrides: dict[str, Any] = {"backend": backend}
    llm: dict[str, Any] = {}
    if llm_url is not None:
        llm["base_url"] = llm_url
    if llm_model is not None:
        llm["model"] = llm_model
    if llm:
        overrides["models"] = {"llm": llm}
    settings = load_settings(config, overrides)
    ws = Workspace(workspace)
    live = console.is_terminal and os.environ.get("ETHOAGENT_CHAT_PLAIN") != "1"
    session = ChatSession(
        ws,
        settings,
        console,
        thread=resume,
        live=live,
        max_tokens=max_tokens,
        max_tool_rounds=max_tool_rounds,
        tool_names=None if tools is None else [t.strip() for t in tools.split(",") if t.strip()],
    )
    session.start()
    try:
        session.run()
    finally:
        session.close()
