"""An in-process scripted ``ModelClient``: answers chosen by the test, every request kept."""

from __future__ import annotations

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

T = TypeVar("T", bound=BaseModel)
Script = Callable[[Request], str | list[ToolCall]]


class ScriptedClient:
    """Answers each prompt name from a script: text (parsed if an output type is asked)
    or tool calls. Keeps every request in ``requests``."""

    def __init__(self, scripts: Mapping[str, Script], backend: Backend = "openai") -> None:
        self.scripts = dict(scripts)
        self.backend: Backend = backend
        self.requests: list[Request] = []

    def model_name(self, role: Role) -> str:
        return f"scripted-{role}"

    def calls(self, prompt_name: str) -> list[Request]:
        return [r for r in self.requests if r.prompt.name == prompt_name]

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
        self.requests.append(request)
        result = self.scripts[prompt.name](request)
        answer: Answer[T] = Answer(backend=self.backend, model=self.model_name(role))
        if isinstance(result, list):
            answer.tool_calls = result
        else:
            answer.text = result
            if output is not None:
                answer.parsed, answer.parse_error = parse_output(result, output)
        return answer

    async def aclose(self) -> None:
        return None
