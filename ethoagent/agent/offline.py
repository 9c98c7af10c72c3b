"""Deterministic offline backend: answers model requests from registered solvers.

An offline solver is a plain function that answers one prompt (by name) from the request's
structured ``payload`` with classical vision, geometry or kinematic rules. It returns the
object the online model would have returned (a pydantic model for structured requests, a
string for free text, or tool calls). Every answer is marked ``backend: offline`` so traces
and reports can say which results no model produced.

Pipelines register their solvers at import time::

    @register_solver("demo/summary")
    def _summarise(request: Request) -> RunSummary: ...
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from pydantic import BaseModel

from ethoagent.agent.types import (
    Answer,
    Backend,
    Message,
    PromptRef,
    Request,
    Role,
    Sampling,
    Tool,
    ToolCall,
    ToolChoice,
    parse_output,
)
from ethoagent.errors import ConfigError

T = TypeVar("T", bound=BaseModel)
SolverResult = BaseModel | str | list[ToolCall]
Solver = Callable[[Request], SolverResult]

_SOLVERS: dict[str, Solver] = {}


def register_solver(prompt_name: str) -> Callable[[Solver], Solver]:
    """Register ``fn`` as the offline answer to prompt ``prompt_name`` (all versions)."""

    def deco(fn: Solver) -> Solver:
        _SOLVERS[prompt_name] = fn
        return fn

    return deco


def registered_solvers() -> list[str]:
    """The prompt names that have an offline solver, sorted."""
    return sorted(_SOLVERS)


class OfflineClient:
    """``ModelClient`` answering from registered offline solvers; never touches a network.

    Args:
        solvers: extra or overriding solvers by prompt name (tests use this).
    """

    backend: Backend = "offline"

    def __init__(self, solvers: Mapping[str, Solver] | None = None) -> None:
        """Start with no calls counted; ``solvers`` override the registered ones."""
        self._solvers = dict(solvers or {})
        self.calls = 0

    def model_name(self, role: Role) -> str:
        """The name the trace records for ``role``: ``offline-<role>``."""
        return f"offline-{role}"

    async def ask(
        self,
        role: Role,
        messages: list[Message],
        *,
        prompt: PromptRef,
        output: type[T] | None = None,
        tools: list[Tool] | tuple[Tool, ...] = (),
        tool_choice: ToolChoice = "auto",
        sampling: Sampling | None = None,
        payload: Mapping[str, Any] | None = None,
    ) -> Answer[T]:
        """Answer from the solver registered for ``prompt.name``."""
        solver = self._solvers.get(prompt.name) or _SOLVERS.get(prompt.name)
        if solver is None:
            raise ConfigError(
                f"no offline solver for prompt {prompt}; this step needs a model endpoint.",
                fix=f"configure models.{role}.base_url and use --backend openai.",
            )
        self.calls += 1
        request = Request(
            role=role,
            messages=list(messages),
            prompt=prompt,
            output=output,
            tools=tuple(tools),
            tool_choice=tool_choice,
            sampling=sampling or Sampling(),
            payload=dict(payload or {}),
        )
        start = time.perf_counter()
        result = solver(request)
        answer: Answer[T] = Answer(backend="offline", model=self.model_name(role))
        if isinstance(result, list):
            answer.tool_calls = result
        elif isinstance(result, BaseModel):
            answer.text = result.model_dump_json()
            if output is not None:
                answer.parsed, answer.parse_error = parse_output(answer.text, output)
        else:
            answer.text = result
            if output is not None:
                answer.parsed, answer.parse_error = parse_output(result, output)
        answer.latency_s = time.perf_counter() - start
        return answer

    async def aclose(self) -> None:
        """Nothing to close: the offline client holds no connection."""
        return None
