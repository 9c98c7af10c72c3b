"""The chat agent: a LangGraph loop of the ``llm`` role and the typed chat tools.

Graph (one invocation per user turn, checkpointed per thread in SQLite)::

    START -> agent -> tools -> agent -> ... -> END      (free-form question)
    START -> direct -> END                              (/run segment PATH, /query ...)

``agent`` streams one answer of the ``llm`` role with the tools offered (none once
``max_rounds`` tool rounds have run this turn, so a turn always ends); ``tools`` validates
and runs every tool call of that answer and appends one ``tool`` message per call (a
validation error or a tool's error is the message, so the model can correct itself);
``direct`` runs a tool the user named with a direct command. The state holds the
conversation as OpenAI-style message dicts: small, JSON-able, resumable.
"""

from __future__ import annotations

import asyncio
import operator
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Protocol, TypedDict

from langgraph.graph import END, START, StateGraph

from ethoagent.agent.trace import Tracer
from ethoagent.agent.types import (
    Answer,
    Message,
    PromptRef,
    Role,
    Sampling,
    Tool,
    ToolCall,
    ToolChoice,
)
from ethoagent.chat.actions import TOOLS, ToolContext, ToolOutcome, execute_tool
from ethoagent.errors import ConfigError
from ethoagent.prompts import load_prompt

__all__ = [
    "SYSTEM_PROMPT",
    "ChatHooks",
    "ChatState",
    "StreamingClient",
    "build_chat_graph",
    "chat_tools",
    "to_messages",
]

SYSTEM_PROMPT = "chat/system"
CHAT_SAMPLING = Sampling(temperature=0.0, max_tokens=1024, seed=0)


class ChatState(TypedDict, total=False):
    """One chat thread.

    Attributes:
        messages: the conversation, OpenAI-style dicts (``role``, ``content``,
            ``tool_calls``, ``tool_call_id``); appended to, never rewritten.
        rounds: tool rounds in the current turn.
        direct: the direct command of the current turn (``tool``, ``arguments``,
            ``line``), or ``None``.
        cancelled: the user cancelled a tool in the current turn.
    """

    messages: Annotated[list[dict[str, Any]], operator.add]
    rounds: int
    direct: dict[str, Any] | None
    cancelled: bool


class StreamingClient(Protocol):
    """What the agent needs of a model client (``OpenAICompatibleClient`` has it)."""

    async def stream(
        self,
        role: Role,
        messages: list[Message],
        *,
        tools: list[Tool] | tuple[Tool, ...] = (),
        tool_choice: ToolChoice = "auto",
        sampling: Sampling | None = None,
        on_text: Callable[[str], None] | None = None,
    ) -> Answer[Any]: ...

    async def ask(
        self,
        role: Role,
        messages: list[Message],
        *,
        prompt: PromptRef,
        output: None = None,
        tools: list[Tool] | tuple[Tool, ...] = (),
        tool_choice: ToolChoice = "auto",
        sampling: Sampling | None = None,
    ) -> Answer[Any]: ...


class ChatHooks(Protocol):
    """How the terminal shows a turn as it happens."""

    def answer_start(self) -> None: ...

    def answer_text(self, delta: str) -> None: ...

    def answer_end(self, text: str) -> None: ...

    def tool_start(self, name: str, arguments: dict[str, Any] | None, raw: str) -> None: ...

    def tool_end(self, outcome: ToolOutcome) -> None: ...


def chat_tools(names: Sequence[str] | None = None) -> list[Tool]:
    """The registered chat tools (all, or those named) as model ``Tool`` s, with schemas
    without pydantic's titles, which cost context and say nothing the property names do not.

    Raises:
        ConfigError: a name is not a registered tool.
    """
    unknown = sorted(set(names or ()) - set(TOOLS))
    if unknown:
        raise ConfigError(
            f"unknown chat tool(s) {', '.join(unknown)}.",
            fix=f"choose from {', '.join(TOOLS)}.",
        )
    chosen = [t for t in TOOLS.values() if names is None or t.name in names]
    return [Tool(t.name, t.description, _untitled(t.schema())) for t in chosen]


def _untitled(schema: Any) -> Any:
    if isinstance(schema, dict):
        return {
            k: _untitled(v) for k, v in schema.items() if not (k == "title" and isinstance(v, str))
        }
    if isinstance(schema, list):
        return [_untitled(v) for v in schema]
    return schema


def to_messages(state_messages: list[dict[str, Any]]) -> list[Message]:
    """State dicts to ``Message`` objects for the client."""
    out = []
    for m in state_messages:
        calls = tuple(ToolCall.model_validate(tc) for tc in m.get("tool_calls") or ())
        out.append(
            Message(
                role=m["role"],
                content=m.get("content") or "",
                tool_call_id=m.get("tool_call_id"),
                tool_calls=calls,
            )
        )
    return out


@dataclass
class _Nodes:
    client: StreamingClient | None
    ctx: ToolContext
    hooks: ChatHooks
    system: str
    max_rounds: int
    sampling: Sampling
    stream_tools: bool
    tracer: Tracer | None
    offered: list[Tool]

    def _trace_tool(self, name: str, args: dict[str, Any] | None, outcome: ToolOutcome) -> None:
        if self.tracer is not None:
            result = outcome.result.data if outcome.result is not None else None
            self.tracer.tool_call(name, args or {}, result, outcome.seconds, error=outcome.error)

    async def agent(self, state: ChatState) -> dict[str, Any]:
        assert self.client is not None, "free-form turns need a model client"
        rounds = state.get("rounds", 0)
        tools = self.offered if rounds < self.max_rounds else []
        messages = [Message("system", self.system), *to_messages(state.get("messages", []))]
        answer = await self._ask(messages, tools)
        if tools and not answer.text and not answer.tool_calls:
            # an empty answer to a request with tools (small models, a function-calling
            # grammar cut short): ask once more without tools, so the user gets words
            answer = await self._ask(messages, [])
        if not answer.text and not answer.tool_calls:
            self.hooks.answer_text("*(the model returned an empty answer)*")
            self.hooks.answer_end("")
        message: dict[str, Any] = {"role": "assistant", "content": answer.text}
        if answer.tool_calls:
            message["tool_calls"] = [tc.model_dump() for tc in answer.tool_calls]
        return {"messages": [message]}

    async def _ask(self, messages: list[Message], tools: list[Tool]) -> Answer[Any]:
        """One model answer, streamed to the terminal (unstreamed where tools cannot be)."""
        assert self.client is not None

        def on_text(delta: str) -> None:
            self.ctx.check_cancel()
            self.hooks.answer_text(delta)

        self.hooks.answer_start()
        try:
            if tools and not self.stream_tools:
                answer = await self.client.ask(
                    "llm",
                    messages,
                    prompt=load_prompt(SYSTEM_PROMPT).ref,
                    tools=tools,
                    sampling=self.sampling,
                )
                if answer.text:
                    on_text(answer.text)
            else:
                answer = await self.client.stream(
                    "llm", messages, tools=tools, sampling=self.sampling, on_text=on_text
                )
        finally:
            self.hooks.answer_end("")
        if self.tracer is not None:
            self.tracer.model_call(
                role="llm",
                model=answer.model,
                backend=answer.backend,
                prompt=load_prompt(SYSTEM_PROMPT).ref,
                messages=messages,
                answer=answer,
                tools=tools,
                sampling=self.sampling,
            )
        return answer

    async def tools(self, state: ChatState) -> dict[str, Any]:
        last = state["messages"][-1]
        out: list[dict[str, Any]] = []
        cancelled = False
        for raw in last.get("tool_calls") or []:
            call = ToolCall.model_validate(raw)
            if cancelled:
                outcome = ToolOutcome(call.name, False, error="not run: the user cancelled")
            else:
                self.hooks.tool_start(call.name, call.arguments, call.raw_arguments)
                outcome = await asyncio.to_thread(
                    execute_tool, self.ctx, call.name, call.arguments, call.error
                )
                self.hooks.tool_end(outcome)
                self._trace_tool(call.name, call.arguments, outcome)
                cancelled = outcome.cancelled
            out.append({"role": "tool", "tool_call_id": call.id, "content": outcome.to_message()})
        return {"messages": out, "rounds": state.get("rounds", 0) + 1, "cancelled": cancelled}

    async def direct(self, state: ChatState) -> dict[str, Any]:
        d = state.get("direct") or {}
        self.hooks.tool_start(d["tool"], d["arguments"], "")
        outcome = await asyncio.to_thread(execute_tool, self.ctx, d["tool"], d["arguments"])
        self.hooks.tool_end(outcome)
        self._trace_tool(d["tool"], d["arguments"], outcome)
        note = f"(the user ran the direct command `{d['line']}`; its result follows)\n"
        return {
            "messages": [{"role": "assistant", "content": note + outcome.to_message()}],
            "direct": None,
            "cancelled": outcome.cancelled,
        }


def _after_start(state: ChatState) -> str:
    return "direct" if state.get("direct") else "agent"


def _after_agent(state: ChatState) -> str:
    return "tools" if state["messages"][-1].get("tool_calls") else END


def _after_tools(state: ChatState) -> str:
    return END if state.get("cancelled") else "agent"


def build_chat_graph(
    client: StreamingClient | None,
    ctx: ToolContext,
    hooks: ChatHooks,
    *,
    max_rounds: int = 6,
    sampling: Sampling = CHAT_SAMPLING,
    stream_tools: bool = True,
    tracer: Tracer | None = None,
    tool_names: Sequence[str] | None = None,
) -> StateGraph[ChatState]:
    """The chat graph (compile it with a checkpointer; one thread per conversation).

    Args:
        client: the ``llm`` role's streaming client, or ``None`` (direct commands only).
        ctx: workspace, settings and cancel flag the tools use.
        hooks: the terminal renderer.
        max_rounds: tool rounds per turn before the model must answer without tools.
        sampling: the model's sampling parameters (``max_tokens`` bounds one answer).
        stream_tools: stream answers also when tools are offered. llama.cpp's server
            (llama-cpp-python, ``chatml-function-calling``) streams nothing useful then,
            so requests that offer tools go out unstreamed there.
        tracer: records every model call and tool call of the chat (JSONL).
        tool_names: offer only these tools to the model (small models plan better with
            fewer, and a short tool list keeps the prompt small); default all. Direct
            commands reach every tool either way.
    """
    system = load_prompt(SYSTEM_PROMPT).render(
        workspace=ctx.workspace.root, pipeline_backend=ctx.settings.backend
    )
    nodes = _Nodes(
        client,
        ctx,
        hooks,
        system,
        max_rounds,
        sampling,
        stream_tools,
        tracer,
        chat_tools(tool_names),
    )
    g: StateGraph[ChatState] = StateGraph(ChatState)
    g.add_node("agent", nodes.agent)
    g.add_node("tools", nodes.tools)
    g.add_node("direct", nodes.direct)
    g.add_conditional_edges(START, _after_start, ["agent", "direct"])
    g.add_conditional_edges("agent", _after_agent, ["tools", END])
    g.add_conditional_edges("tools", _after_tools, ["agent", END])
    g.add_edge("direct", END)
    return g
