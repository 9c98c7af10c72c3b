"""The interactive chat session: prompt loop, slash commands, direct commands, threads.

The prompt loop runs in the main thread; the chat graph, the model client and the SQLite
checkpointer live on one asyncio loop in a background thread. Ctrl-C while a turn runs
sets the tools' cancel flag (a long tool stops at its next progress step, its run is
marked interrupted and can be resumed with the pipeline's ``--resume``); a second Ctrl-C
abandons the turn. Ctrl-C at the prompt does not end the chat; ``/quit`` or Ctrl-D does.

Without an ``llm`` endpoint (``models.llm.base_url`` unset) the chat still runs slash and
direct commands and answers a free-form question with what to configure.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import json
import shlex
import threading
import time
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver
from rich.console import Console
from rich.markdown import Markdown
from rich.text import Text

from ethoagent.agent.trace import Tracer
from ethoagent.agent.types import Sampling
from ethoagent.agent.workspace import Workspace
from ethoagent.chat.actions import TOOLS, ToolContext, execute_tool, parse_direct
from ethoagent.chat.agent import build_chat_graph
from ethoagent.chat.hints import tool_free_note
from ethoagent.chat.render import ChatRenderer, result_table
from ethoagent.config import Settings
from ethoagent.errors import EthoagentError, InputError, RunError

__all__ = ["NEEDS_ENDPOINT", "ChatSession", "chat_db_path", "chat_trace_path"]

_R = TypeVar("_R")

NEEDS_ENDPOINT = (
    "Free-form questions need a model endpoint that can call tools, and none is configured "
    "(models.llm.base_url is unset). Set it in ethoagent.toml, with "
    "ETHOAGENT_MODELS__LLM__BASE_URL=http://HOST:PORT/v1, or with --llm-url: vLLM "
    "(--enable-auto-tool-choice), Ollama, llama.cpp or any OpenAI-compatible service. "
    "The packaged SmolLM2-135M is too small to plan tool calls. Until then, the direct "
    "commands work without a model: /help lists them."
)

_SLASH_HELP = [
    ("/help", "this help"),
    ("/tools", "the tools the model can call, with their direct commands"),
    ("/runs", "pipeline runs in this workspace"),
    ("/trace RUN [--failed]", "a run's reasoning trace: proposals, checks, retries, flags"),
    ("/trace chat", "this thread's own trace: questions, model calls, tool calls"),
    ("/model", "the model endpoint of the chat and the pipelines' backend"),
    ("/history", "this thread's conversation so far"),
    ("/quit", "leave (Ctrl-D too); the thread is kept, resume with --resume THREAD"),
]


def chat_db_path(workspace: Workspace) -> Path:
    """Where a workspace keeps its chat threads (LangGraph SQLite checkpointer)."""
    return workspace.root / ".ethoagent" / "chat.sqlite"


def chat_trace_path(workspace: Workspace, thread: str) -> Path:
    """The JSONL trace of one chat thread: every question, model call and tool call."""
    return workspace.root / ".ethoagent" / "threads" / f"{thread}.jsonl"


class ChatSession:
    """One terminal chat over a workspace.

    Args:
        workspace: the folder the tools may read and write.
        settings: pipeline settings (``runs_dir`` is put inside the workspace) and the
            ``llm`` endpoint of the chat.
        console: where to print.
        thread: the conversation to resume, or ``None`` for a new one.
        live: stream answers with ``rich.live``.
        max_tokens: most tokens of one model answer.
        max_tool_rounds: tool rounds per question before the model must answer.
        tool_names: the tools offered to the model (default all).
    """

    def __init__(
        self,
        workspace: Workspace,
        settings: Settings,
        console: Console,
        *,
        thread: str | None = None,
        live: bool = True,
        max_tokens: int = 1024,
        max_tool_rounds: int = 6,
        tool_names: list[str] | None = None,
    ) -> None:
        self.workspace = workspace
        runs_dir = settings.runs_dir
        if not runs_dir.is_absolute():
            runs_dir = workspace.root / runs_dir
        self.settings = settings.model_copy(update={"runs_dir": workspace.resolve(runs_dir)})
        self.console = console
        self.renderer = ChatRenderer(console, live=live)
        self.ctx = ToolContext(workspace, self.settings, on_progress=self.renderer.progress)
        self.resuming = thread is not None
        self.thread = thread or f"chat-{time.strftime('%Y%m%d-%H%M%S')}"
        self.llm = self.settings.role("llm")
        self.online = bool(self.llm.base_url)
        self.max_tokens = max_tokens
        self.max_tool_rounds = max_tool_rounds
        self.tool_names = tool_names
        self._loop = asyncio.new_event_loop()
        self._loop_thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self.tracer: Tracer | None = None
        self._graph: Any = None
        self._saver_cm: Any = None
        self._client: Any = None

    # ------------------------------------------------------------------ lifecycle

    def _print(self, *objects: Any, **kwargs: Any) -> None:
        # no automatic highlighting: numbers and paths stay as typed (and greppable)
        self.console.print(*objects, highlight=False, **kwargs)

    def _call(self, coro: Coroutine[Any, Any, _R]) -> _R:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result()

    async def _open(self) -> None:
        db = chat_db_path(self.workspace)
        db.parent.mkdir(parents=True, exist_ok=True)
        self.tracer = Tracer(chat_trace_path(self.workspace, self.thread), run_id=self.thread)
        self._saver_cm = AsyncSqliteSaver.from_conn_string(str(db))
        saver = await self._saver_cm.__aenter__()
        if self.online:
            from ethoagent.agent.client import OpenAICompatibleClient

            self._client = OpenAICompatibleClient(self.settings.models)
        builder = build_chat_graph(
            self._client,
            self.ctx,
            self.renderer,
            max_rounds=self.max_tool_rounds,
            sampling=Sampling(temperature=0.0, max_tokens=self.max_tokens, seed=0),
            # llama.cpp's server (the one answering json_object) cannot stream tool calls
            stream_tools=self.llm.capabilities.structured_output != "json_object",
            tracer=self.tracer,
            tool_names=self.tool_names,
        )
        self._graph = builder.compile(checkpointer=saver)

    async def _close(self) -> None:
        if self._client is not None:
            await self._client.aclose()
        if self._saver_cm is not None:
            await self._saver_cm.__aexit__(None, None, None)
        if self.tracer is not None:
            self.tracer.close()

    def _config(self) -> dict[str, Any]:
        return {"configurable": {"thread_id": self.thread}, "recursion_limit": 40}

    async def _messages(self) -> list[dict[str, Any]]:
        snap = await self._graph.aget_state(self._config())
        return list((snap.values or {}).get("messages", []))

    async def _threads(self) -> list[str]:
        seen: list[str] = []
        async for cp in self._graph.checkpointer.alist(None):
            tid = cp.config["configurable"]["thread_id"]
            if tid not in seen:
                seen.append(tid)
        return seen

    def start(self) -> None:
        """Open the checkpointer and the client; check a resumed thread exists.

        Raises:
            RunError: ``--resume`` names no thread of this workspace.
        """
        self._loop_thread.start()
        self._call(self._open())
        if self.resuming and not self._call(self._messages()):
            threads = self._call(self._threads())
            self.close()
            raise RunError(
                f"no chat thread {self.thread!r} in workspace {self.workspace.root}.",
                fix="threads here: "
                + (", ".join(threads) if threads else "none yet")
                + " (start a new chat without --resume).",
            )

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self._call(self._close())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._loop_thread.join(timeout=5)

    # ------------------------------------------------------------------ the loop

    def banner(self) -> None:
        c = self
        c._print(Text.assemble(("ethoagent chat", "bold"), f"  workspace {self.workspace.root}"))
        if self.online:
            name = self.llm.model or "(first served model)"
            c._print(
                Text(f"model: {name} at {self.llm.base_url}; pipelines: {self.settings.backend}")
            )
        else:
            c._print(
                Text(
                    "no model endpoint: slash and direct commands only (free-form questions "
                    "need models.llm.base_url; see /model)",
                    style="yellow",
                )
            )
        verb = "resumed" if self.resuming else "new"
        c._print(
            Text(f"thread {self.thread} ({verb}; continue later with: {self.resume_command()})")
        )
        c._print(Text("/help lists commands; Ctrl-C stops a running tool; /quit leaves"))

    def run(self) -> None:
        """The prompt loop (returns on /quit or end of input)."""
        self.banner()
        if self.resuming:
            self.show_history()
        while True:
            try:
                line = self.console.input(Text("you> ", style="bold")).strip()
            except EOFError:
                self._print()
                break
            except KeyboardInterrupt:
                self._print(Text("\n(Ctrl-C: /quit to leave)"))
                continue
            if not line:
                continue
            if line in ("/quit", "/exit", "/q"):
                break
            try:
                self.handle(line)
            except EthoagentError as exc:
                self._print(Text.assemble(("error: ", "bold red"), str(exc)))
        self._print(Text(f"bye (resume with: {self.resume_command()})"))

    def resume_command(self) -> str:
        """The command that continues this thread (with ``--workspace`` unless it is here)."""
        command = f"ethoagent chat --resume {shlex.quote(self.thread)}"
        root = self.workspace.root.resolve()
        if root != Path.cwd().resolve():
            command += f" --workspace {shlex.quote(str(root))}"
        return command

    def handle(self, line: str) -> None:
        """One line: a slash command, a direct command or a free-form question."""
        if line.startswith("/"):
            word = line.split()[0]
            slash = {
                "/help": self.cmd_help,
                "/tools": self.cmd_tools,
                "/model": self.cmd_model,
                "/history": lambda _: self.show_history(),
                "/trace": self.cmd_trace,
            }.get(word)
            if slash is not None:
                slash(line)
                return
            parsed = parse_direct(line)
            if parsed is None:
                raise InputError(f"unknown command {word}.", fix="/help lists the commands.")
            tool, arguments = parsed
            self._turn({"role": "user", "content": line}, {
                "tool": tool.name, "arguments": arguments, "line": line,
            })  # fmt: skip
            return
        if not self.online:
            self._print(Text(NEEDS_ENDPOINT, style="yellow"))
            return
        self._turn({"role": "user", "content": line}, None)
        note = tool_free_note(line) if self._answered_without_tools() else None
        if note is not None:
            self._print(Text(note, style="yellow"))

    def _answered_without_tools(self) -> bool:
        """Whether the model answered the thread's last user message with words alone."""
        messages = self._call(self._messages())
        last_user = max((i for i, m in enumerate(messages) if m.get("role") == "user"), default=-1)
        turn = messages[last_user + 1 :]
        answered = bool(turn) and turn[-1].get("role") == "assistant" and turn[-1].get("content")
        return bool(answered) and not any(m.get("tool_calls") for m in turn)

    def _turn(self, user: dict[str, Any], direct: dict[str, Any] | None) -> None:
        inputs = {"messages": [user], "rounds": 0, "direct": direct, "cancelled": False}
        if self.tracer is not None:
            self.tracer.event("user", content=user["content"])
        self.ctx.cancel.clear()
        future = asyncio.run_coroutine_threadsafe(
            self._graph.ainvoke(inputs, self._config()), self._loop
        )
        interrupts = 0
        while True:
            try:
                future.result(timeout=0.1)
                break
            except concurrent.futures.TimeoutError:
                continue
            except KeyboardInterrupt:
                interrupts += 1
                self.ctx.cancel.set()
                if interrupts == 1:
                    self._print(
                        Text("cancelling at the next step (Ctrl-C again to abandon the turn)")
                    )
                else:
                    future.cancel()
            except concurrent.futures.CancelledError:
                self._print(Text("turn abandoned", style="yellow"))
                break
            except EthoagentError:
                if self.ctx.cancel.is_set():
                    self._print(Text("answer stopped", style="yellow"))
                    break
                raise
            except Exception as exc:
                if self.ctx.cancel.is_set():
                    self._print(Text("answer stopped", style="yellow"))
                    break
                raise EthoagentError(f"the chat turn failed: {type(exc).__name__}: {exc}") from exc
        self.ctx.cancel.clear()

    # ------------------------------------------------------------------ slash commands

    def cmd_help(self, _: str) -> None:
        rows = [[c, d] for c, d in _SLASH_HELP]
        rows += [[t.usage(), t.description.split(".")[0]] for t in TOOLS.values()]
        self._print(result_table("commands", ["command", "what it does"], rows))
        self._print(
            "Direct commands run a tool without a model: values by position or --name value "
            "(quote values with spaces). Anything not starting with / is a question for the "
            "model" + ("." if self.online else " (needs an endpoint; see /model).")
        )

    def cmd_tools(self, _: str) -> None:
        rows = [[t.name, f"/{t.command}", t.description] for t in TOOLS.values()]
        self._print(result_table("tools", ["tool", "direct command", "description"], rows))

    def cmd_model(self, _: str) -> None:
        if self.online:
            self._print(
                f"chat model: {self.llm.model or '(first served model)'} at {self.llm.base_url} "
                f"(role llm, tool calls {'on' if self.llm.capabilities.tool_calls else 'off'})"
            )
        else:
            self._print(Text(NEEDS_ENDPOINT, style="yellow"))
        self._print(
            f"pipelines: backend {self.settings.backend}; runs in "
            f"{self.workspace.relative(self.settings.runs_dir)}/"
        )

    def cmd_trace(self, line: str) -> None:
        from ethoagent.agent.trace import read_trace
        from ethoagent.agent.trace_report import render_trace, summarize_trace
        from ethoagent.runs import Run

        words = line.split()[1:]
        failed = "--failed" in words
        names = [w for w in words if not w.startswith("--")]
        if not names:
            raise InputError("/trace needs a run id.", fix="/runs lists them.")
        if names[0] == "chat":
            path = chat_trace_path(self.workspace, self.thread)
            events = read_trace(path) if path.is_file() else []
            render_trace(events, self.console, failed_only=failed)
            return
        runs_dir = self.settings.runs_dir
        target = names[0]
        if not (runs_dir / target / "run.json").is_file():
            target = str(self.workspace.resolve(target, must_exist=True, what="run"))
        run = Run.open(target, runs_dir)
        events = read_trace(run.trace_path)
        render_trace(events, self.console, failed_only=failed)
        counts = summarize_trace(events)
        self._print(", ".join(f"{k}: {v}" for k, v in counts.items() if isinstance(v, int | float)))

    def show_history(self) -> None:
        messages = self._call(self._messages())
        if not messages:
            self._print(Text("(no history yet)", style="dim"))
            return
        self._print(Text(f"history of thread {self.thread}:", style="bold"))
        for m in messages:
            role = m.get("role")
            content = m.get("content") or ""
            if role == "user":
                self._print(Text.assemble(("you> ", "bold"), content))
            elif role == "assistant":
                for tc in m.get("tool_calls") or []:
                    self._print(Text(f"-> {tc['name']}({tc.get('raw_arguments', '')})"))
                if content.startswith("(the user ran the direct command"):
                    body = content.split("\n", 1)[-1]
                    self._print(Text("   " + _tool_line(body), style="dim"))
                elif content:
                    self._print(Markdown(content))
            elif role == "tool":
                self._print(Text("   " + _tool_line(content), style="dim"))
        self._print(Text("(end of history)", style="dim"))

    # ------------------------------------------------------------------ scripting

    def run_tool(self, name: str, arguments: dict[str, Any]) -> Any:
        """Run a tool directly (no model, no history); for scripts and tests."""
        return execute_tool(self.ctx, name, arguments)


def _tool_line(content: str) -> str:
    try:
        body = json.loads(content)
    except ValueError:
        return content[:200]
    if body.get("ok"):
        return f"{body.get('tool')}: {body.get('summary', '')}"
    return f"{body.get('tool')}: error: {body.get('error', '')}"
