"""Model client for OpenAI-compatible servers (vLLM, llama.cpp, OpenAI, ...).

``OpenAICompatibleClient`` implements the ``ModelClient`` protocol on the ``openai`` package.
One ``AsyncOpenAI`` per role is created lazily from its ``RoleConfig``; the client bounds the
number of requests in flight per role, retries 429, 5xx, timeouts and connection errors with
exponential backoff and jitter (honouring ``Retry-After``), and turns every failure a user can
fix into a one-line ``EndpointError`` or ``ConfigError``.

Structured output follows ``capabilities.structured_output``:

* ``json_schema``: ``response_format={"type": "json_schema", "json_schema": {...}}`` (vLLM,
  OpenAI).
* ``json_object``: ``response_format={"type": "json_object", "schema": {...}}`` (llama.cpp
  server, which answers HTTP 500 to ``json_schema``).
* ``none``: no ``response_format``; the schema is appended to the system prompt.

A malformed answer never raises here: it is reported in ``Answer.parse_error`` (and in
``ToolCall.error`` for tool arguments).
"""

from __future__ import annotations

import asyncio
import email.utils
import json
import math
import os
import random
import ssl
import time
from collections.abc import Awaitable, Callable, Mapping
from functools import cache
from typing import Any, NoReturn, TypeVar

import httpx
import openai
from openai import AsyncOpenAI, DefaultAsyncHttpxClient
from pydantic import BaseModel

from ethoagent.agent.types import (
    Answer,
    Backend,
    EmbeddingAnswer,
    Message,
    PromptRef,
    Role,
    Sampling,
    T,
    Tool,
    ToolCall,
    ToolChoice,
    Usage,
    parse_output,
    parse_tool_arguments,
)
from ethoagent.config import RoleConfig
from ethoagent.errors import ConfigError, EndpointError

__all__ = ["OpenAICompatibleClient"]

R = TypeVar("R")
_RETRYABLE_STATUS = frozenset({408, 409, 429})
_SCHEMA_INSTRUCTION = (
    "Answer with one JSON object that matches this JSON schema, and nothing else "
    "(no prose, no code fence):\n"
)


class _RetryableError(Exception):
    """One failed attempt that may succeed when repeated."""

    def __init__(self, detail: str, *, retry_after_s: float | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.retry_after_s = retry_after_s


class OpenAICompatibleClient:
    """``ModelClient`` for OpenAI-compatible HTTP servers.

    Args:
        models: endpoint configuration per role (``Settings.models``).
        backoff_base_s: first retry delay; doubles with every retry (before jitter).
        backoff_max_s: upper bound of one backoff delay.
        retry_after_cap_s: upper bound applied to a server's ``Retry-After``.

    Example:
        ``client = OpenAICompatibleClient(settings.models)``, then
        ``answer = await client.ask("llm", messages, prompt=PromptRef("label", 1))``.
    """

    backend: Backend = "openai"

    def __init__(
        self,
        models: Mapping[Role, RoleConfig],
        *,
        backoff_base_s: float = 0.5,
        backoff_max_s: float = 20.0,
        retry_after_cap_s: float = 30.0,
    ) -> None:
        self._models: dict[Role, RoleConfig] = dict(models)
        self._clients: dict[Role, AsyncOpenAI] = {}
        self._semaphores: dict[Role, asyncio.Semaphore] = {}
        self._discovered_model: dict[Role, str] = {}
        self._backoff_base_s = backoff_base_s
        self._backoff_max_s = backoff_max_s
        self._retry_after_cap_s = retry_after_cap_s
        self._rng = random.Random()

    # ------------------------------------------------------------------ public API

    def model_name(self, role: Role) -> str:
        """The model name used for ``role``.

        Returns the configured ``model``, or the name the server reported when none was
        configured and a request has already discovered it; ``""`` otherwise.
        """
        cfg = self._models.get(role)
        if cfg is not None and cfg.model:
            return cfg.model
        return self._discovered_model.get(role, "")

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
        """Send one chat completion request for ``role`` and return its answer.

        Args:
            role: which configured model to ask.
            messages: the conversation; images go out as ``image_url`` content parts.
            prompt: the prompt template the messages came from (not sent to the server).
            output: pydantic model the answer must validate against, if any.
            tools: functions the model may call.
            tool_choice: ``auto``/``required``/``none`` or the name of one tool to force.
            sampling: temperature, max_tokens and seed; defaults to ``Sampling()``.
            payload: ignored by online backends (the messages carry the same content).

        Returns:
            The answer; parse failures are in ``parse_error`` / ``ToolCall.error``.
            ``latency_s`` is the wall time of the whole call, including waiting for a
            concurrency slot and any retries.

        Raises:
            ConfigError: the role has no ``base_url``, its api key variable is unset, or the
                request needs a capability (image input, tool calls) the role lacks.
            EndpointError: the server is unreachable, keeps failing or rejects the request.
        """
        del prompt, payload  # identify the request for callers/caches; nothing to send
        cfg = self._config(role)
        self._check_capabilities(role, cfg, messages, tools)
        sampling = sampling or Sampling()

        kwargs: dict[str, Any] = {
            "messages": _to_openai_messages(
                messages, output if cfg.capabilities.structured_output == "none" else None
            ),
            "temperature": sampling.temperature,
            "max_tokens": sampling.max_tokens,
        }
        if sampling.seed is not None:
            kwargs["seed"] = sampling.seed
        if output is not None:
            response_format = _response_format(output, cfg)
            if response_format is not None:
                kwargs["response_format"] = response_format
        if tools:
            kwargs["tools"] = [t.to_openai() for t in tools]
            kwargs["tool_choice"] = _tool_choice(tool_choice, tools)

        started = time.perf_counter()
        client = self._client(role, cfg)
        model = await self._resolve_model(role, cfg, client)
        kwargs["model"] = model or "default"
        json_schema_sent = kwargs.get("response_format", {}).get("type") == "json_schema"
        response = await self._with_retries(
            role,
            cfg,
            lambda: client.chat.completions.create(**kwargs),
            json_schema_sent=json_schema_sent,
        )
        latency = time.perf_counter() - started

        if not response.choices:
            answer: Answer[T] = Answer(
                text="",
                parse_error="server returned no choices" if output is not None else None,
                latency_s=latency,
                backend="openai",
                model=response.model or model,
            )
            return answer
        message = response.choices[0].message
        text = message.content or ""
        parsed: T | None = None
        parse_error: str | None = None
        if output is not None:
            parsed, parse_error = parse_output(text, output)
        usage = Usage()
        if response.usage is not None:
            usage = Usage(
                prompt_tokens=response.usage.prompt_tokens or 0,
                completion_tokens=response.usage.completion_tokens or 0,
            )
        return Answer(
            text=text,
            parsed=parsed,
            parse_error=parse_error,
            tool_calls=_tool_calls(message.tool_calls),
            usage=usage,
            latency_s=latency,
            backend="openai",
            model=model or response.model or "",
        )

    async def stream(
        self,
        role: Role,
        messages: list[Message],
        *,
        tools: list[Tool] | tuple[Tool, ...] = (),
        tool_choice: ToolChoice = "auto",
        sampling: Sampling | None = None,
        on_text: Callable[[str], None] | None = None,
    ) -> Answer[Any]:
        """Like ``ask`` without structured output, but streamed (``stream=True``).

        Text deltas go to ``on_text`` as they arrive; tool-call deltas are assembled by
        their index. Opening the stream is retried like ``ask``; a stream that breaks
        half-way raises ``EndpointError`` (its text has already been shown).

        Returns:
            The whole answer: text, tool calls (argument parse errors in
            ``ToolCall.error``), usage where the server reports it.
        """
        cfg = self._config(role)
        self._check_capabilities(role, cfg, messages, tools)
        sampling = sampling or Sampling()
        kwargs: dict[str, Any] = {
            "messages": _to_openai_messages(messages, None),
            "temperature": sampling.temperature,
            "max_tokens": sampling.max_tokens,
            "stream": True,
        }
        if sampling.seed is not None:
            kwargs["seed"] = sampling.seed
        if tools:
            kwargs["tools"] = [t.to_openai() for t in tools]
            kwargs["tool_choice"] = _tool_choice(tool_choice, tools)
        started = time.perf_counter()
        client = self._client(role, cfg)
        model = await self._resolve_model(role, cfg, client)
        kwargs["model"] = model or "default"
        stream = await self._with_retries(
            role, cfg, lambda: client.chat.completions.create(**kwargs)
        )
        text: list[str] = []
        calls: dict[int, dict[str, str]] = {}
        usage = Usage()
        served = ""
        try:
            async with asyncio.timeout(cfg.timeout_s):
                async for chunk in stream:
                    served = served or (chunk.model or "")
                    if chunk.usage is not None:
                        usage = Usage(
                            prompt_tokens=chunk.usage.prompt_tokens or 0,
                            completion_tokens=chunk.usage.completion_tokens or 0,
                        )
                    for choice in chunk.choices:
                        delta = choice.delta
                        if delta.content:
                            text.append(delta.content)
                            if on_text is not None:
                                on_text(delta.content)
                        for tc in delta.tool_calls or []:
                            slot = calls.setdefault(tc.index, {"id": "", "name": "", "args": ""})
                            slot["id"] = slot["id"] or (tc.id or "")
                            if tc.function is not None:
                                slot["name"] += tc.function.name or ""
                                slot["args"] += tc.function.arguments or ""
        except TimeoutError as exc:
            raise EndpointError(
                f"model endpoint for role '{role}' at {cfg.base_url}: the answer stream "
                f"stopped for longer than {cfg.timeout_s:g} s.",
                fix=f"raise models.{role}.timeout_s or check the server.",
            ) from exc
        except openai.OpenAIError as exc:
            raise EndpointError(
                f"model endpoint for role '{role}' at {cfg.base_url} broke off its answer: "
                f"{_one_line(str(exc))}."
            ) from exc
        tool_calls = []
        for index in sorted(calls):
            slot = calls[index]
            arguments, error = parse_tool_arguments(slot["args"])
            tool_calls.append(
                ToolCall(
                    id=slot["id"] or f"call_{index}",
                    name=slot["name"],
                    arguments=arguments,
                    raw_arguments=slot["args"],
                    error=error,
                )
            )
        return Answer(
            text="".join(text),
            tool_calls=tool_calls,
            usage=usage,
            latency_s=time.perf_counter() - started,
            backend="openai",
            model=model or served,
        )

    async def served_model(self, role: Role) -> str:
        """The configured model name for ``role``, else the first model its server lists.

        Raises:
            ConfigError: the role has no ``base_url`` or its api key variable is unset.
            EndpointError: the server cannot be asked.
        """
        cfg = self._config(role)
        return await self._resolve_model(role, cfg, self._client(role, cfg))

    async def embed(self, role: Role, inputs: list[str]) -> EmbeddingAnswer:
        """Send one ``/embeddings`` request for ``role``: one vector per input.

        Args:
            role: which configured model to ask (normally ``embed``).
            inputs: texts, or images as ``data:image/png;base64,...`` URLs (the server must
                serve a model that accepts them).

        Returns:
            The vectors in the order of ``inputs``; ``latency_s`` includes waiting for a
            concurrency slot and any retries.

        Raises:
            ConfigError: the role has no ``base_url`` or its api key variable is unset.
            EndpointError: the server is unreachable, keeps failing, rejects the request or
                answers with a different number of vectors.
        """
        cfg = self._config(role)
        started = time.perf_counter()
        client = self._client(role, cfg)
        model = await self._resolve_model(role, cfg, client)
        response = await self._with_retries(
            role,
            cfg,
            lambda: client.embeddings.create(
                model=model or "default", input=inputs, encoding_format="float"
            ),
        )
        data = sorted(response.data, key=lambda d: d.index)
        if len(data) != len(inputs):
            raise EndpointError(
                f"embeddings endpoint for role '{role}' at {cfg.base_url} returned "
                f"{len(data)} vectors for {len(inputs)} inputs.",
                fix=f"check that models.{role}.model is an embedding model.",
            )
        usage = Usage()
        if response.usage is not None:
            usage = Usage(prompt_tokens=response.usage.prompt_tokens or 0)
        return EmbeddingAnswer(
            vectors=[[float(v) for v in d.embedding] for d in data],
            usage=usage,
            latency_s=time.perf_counter() - started,
            model=model or response.model or "",
        )

    async def check_health(self, role: Role) -> list[str]:
        """Ask the role's server which models it serves (``GET /models``).

        Returns:
            The served model ids.

        Raises:
            ConfigError: the role has no ``base_url`` or its api key variable is unset.
            EndpointError: the server is unreachable or answers with an error.
        """
        cfg = self._config(role)
        client = self._client(role, cfg)
        return await self._with_retries(role, cfg, lambda: _list_model_ids(client), attempts=1)

    async def aclose(self) -> None:
        """Close the HTTP connections of every role."""
        clients = list(self._clients.values())
        self._clients.clear()
        self._semaphores.clear()
        for client in clients:
            await client.close()

    # ------------------------------------------------------------------ internals

    def _config(self, role: Role) -> RoleConfig:
        cfg = self._models.get(role)
        if cfg is None or not cfg.base_url:
            upper = role.upper()
            raise ConfigError(
                f"model role '{role}' has no base_url (backend 'openai').",
                fix=(
                    f"set models.{role}.base_url in ethoagent.toml or "
                    f"ETHOAGENT_MODELS__{upper}__BASE_URL=http://127.0.0.1:8000/v1, "
                    "or use --backend offline."
                ),
            )
        return cfg

    @staticmethod
    def _check_capabilities(
        role: Role,
        cfg: RoleConfig,
        messages: list[Message],
        tools: list[Tool] | tuple[Tool, ...],
    ) -> None:
        n_images = sum(len(m.images) for m in messages)
        if n_images and not cfg.capabilities.image_input:
            raise ConfigError(
                f"model role '{role}' ({cfg.model or cfg.base_url}) does not accept images "
                f"but the request carries {n_images}.",
                fix=(
                    f"serve a vision model and set models.{role}.capabilities.image_input = true "
                    f"(ETHOAGENT_MODELS__{role.upper()}__CAPABILITIES__IMAGE_INPUT=true), "
                    "or send the request to the 'vlm' role."
                ),
            )
        n_clips = sum(len(m.clips) for m in messages)
        if n_clips and not cfg.capabilities.video_input:
            raise ConfigError(
                f"model role '{role}' ({cfg.model or cfg.base_url}) does not accept video "
                f"but the request carries {n_clips} clip(s).",
                fix=(
                    f"serve a video-capable model (vLLM with Qwen2.5-VL or Qwen3-VL) and set "
                    f"models.{role}.capabilities.video_input = true "
                    f"(ETHOAGENT_MODELS__{role.upper()}__CAPABILITIES__VIDEO_INPUT=true)."
                ),
            )
        if tools and not cfg.capabilities.tool_calls:
            raise ConfigError(
                f"model role '{role}' ({cfg.model or cfg.base_url}) does not support tool calls "
                f"but the request offers {len(tools)} tool(s).",
                fix=(
                    f"set models.{role}.capabilities.tool_calls = true if the server supports "
                    "them (vLLM: --enable-auto-tool-choice; llama.cpp: a function-calling "
                    "chat format)."
                ),
            )

    def _client(self, role: Role, cfg: RoleConfig) -> AsyncOpenAI:
        client = self._clients.get(role)
        if client is None:
            client = AsyncOpenAI(
                base_url=cfg.base_url,
                api_key=cfg.api_key(),
                timeout=cfg.timeout_s,
                max_retries=0,
                http_client=DefaultAsyncHttpxClient(verify=_tls_context()),
            )
            self._clients[role] = client
        return client

    def _semaphore(self, role: Role, cfg: RoleConfig) -> asyncio.Semaphore:
        sem = self._semaphores.get(role)
        if sem is None:
            sem = asyncio.Semaphore(cfg.max_concurrency)
            self._semaphores[role] = sem
        return sem

    async def _resolve_model(self, role: Role, cfg: RoleConfig, client: AsyncOpenAI) -> str:
        """The configured model name, else the first model the server lists (cached)."""
        if cfg.model:
            return cfg.model
        if role not in self._discovered_model:
            ids = await self._with_retries(role, cfg, lambda: _list_model_ids(client))
            self._discovered_model[role] = ids[0] if ids else ""
        return self._discovered_model[role]

    async def _with_retries(
        self,
        role: Role,
        cfg: RoleConfig,
        call: Callable[[], Awaitable[R]],
        *,
        attempts: int | None = None,
        json_schema_sent: bool = False,
    ) -> R:
        """Run ``call()`` (a coroutine factory) with timeout, retries and error mapping.

        Each attempt holds one of the role's ``max_concurrency`` slots; backoff sleeps do not.
        """
        total = attempts if attempts is not None else cfg.max_retries + 1
        last = ""
        for attempt in range(total):
            try:
                try:
                    async with self._semaphore(role, cfg), asyncio.timeout(cfg.timeout_s):
                        return await call()
                except TimeoutError as exc:
                    raise _RetryableError(f"timed out after {cfg.timeout_s:g} s") from exc
                except openai.APITimeoutError as exc:
                    raise _RetryableError(f"timed out after {cfg.timeout_s:g} s") from exc
                except openai.APIConnectionError as exc:
                    raise _RetryableError(_connection_detail(exc)) from exc
                except openai.APIStatusError as exc:
                    status = exc.status_code
                    if status in _RETRYABLE_STATUS or status >= 500:
                        raise _RetryableError(
                            f"HTTP {status}: {_redact(_server_message(exc), cfg)}",
                            retry_after_s=_retry_after(exc),
                        ) from exc
                    self._raise_rejected(role, cfg, exc)
                except json.JSONDecodeError as exc:
                    # HTTP 200 with a body cut off or garbled (a proxy, a crashed worker):
                    # the same request usually succeeds again
                    raise _RetryableError(
                        f"malformed response body (not JSON: {exc.msg} at char {exc.pos})"
                    ) from exc
                except openai.OpenAIError as exc:
                    raise EndpointError(
                        f"model endpoint for role '{role}' at {cfg.base_url} failed: "
                        f"{_redact(_one_line(str(exc)), cfg)}."
                    ) from exc
            except _RetryableError as exc:
                last = exc.detail
                if attempt + 1 >= total:
                    break
                await asyncio.sleep(self._delay(attempt, exc.retry_after_s))
        self._raise_exhausted(role, cfg, last, total, json_schema_sent)

    def _delay(self, attempt: int, retry_after_s: float | None) -> float:
        if retry_after_s is not None and retry_after_s >= 0:
            return min(retry_after_s, self._retry_after_cap_s)
        base = min(self._backoff_max_s, self._backoff_base_s * 2.0**attempt)
        return float(base * (0.5 + 0.5 * self._rng.random()))

    @staticmethod
    def _raise_rejected(role: Role, cfg: RoleConfig, exc: openai.APIStatusError) -> NoReturn:
        status = exc.status_code
        fix: str | None = None
        if status in (401, 403):
            fix = (
                f"check the api key (models.{role}.api_key_env names the environment variable "
                "that holds it)."
            )
        elif status == 404:
            fix = (
                f"check models.{role}.base_url (usually ends in /v1) and models.{role}.model "
                "(GET /v1/models lists the served names)."
            )
        raise EndpointError(
            f"model endpoint for role '{role}' at {cfg.base_url} rejected the request "
            f"(HTTP {status}): {_redact(_server_message(exc), cfg)}.",
            fix=fix,
        ) from exc

    @staticmethod
    def _raise_exhausted(
        role: Role, cfg: RoleConfig, detail: str, attempts: int, json_schema_sent: bool
    ) -> NoReturn:
        upper = role.upper()
        general = (
            f"start the server, or set ETHOAGENT_MODELS__{upper}__BASE_URL / "
            f"models.{role}.base_url to a running OpenAI-compatible endpoint, "
            "or use --backend offline."
        )
        if detail.startswith("timed out"):
            fix = (
                f"raise models.{role}.timeout_s (now {cfg.timeout_s:g}) or lower "
                f"models.{role}.max_concurrency if the server is busy; otherwise {general}"
            )
        elif detail.startswith("HTTP 500") and json_schema_sent:
            fix = (
                "a llama.cpp server answers HTTP 500 to response_format json_schema: set "
                f"models.{role}.capabilities.structured_output = 'json_object' "
                f"(ETHOAGENT_MODELS__{upper}__CAPABILITIES__STRUCTURED_OUTPUT=json_object); "
                f"otherwise check the server's log, {general}"
            )
        elif detail.startswith("HTTP"):
            fix = f"check the server's log (it keeps failing), {general}"
        elif detail.startswith("malformed"):
            fix = (
                "check the server's log and any proxy in between (its answers arrive cut "
                f"off or garbled), or {general}"
            )
        else:
            fix = general
        raise EndpointError(
            f"model endpoint for role '{role}' at {cfg.base_url} failed after "
            f"{attempts} attempt(s): {detail}.",
            fix=fix,
        )


# ---------------------------------------------------------------------- request building


def _to_openai_messages(
    messages: list[Message], schema_output: type[BaseModel] | None
) -> list[dict[str, Any]]:
    """Convert messages to OpenAI chat format; with ``schema_output``, add the schema prompt."""
    out: list[dict[str, Any]] = []
    for m in messages:
        entry: dict[str, Any] = {"role": m.role}
        if m.images or m.clips:
            parts: list[dict[str, Any]] = [{"type": "text", "text": m.content}]
            parts.extend(
                {"type": "image_url", "image_url": {"url": im.data_url()}} for im in m.images
            )
            parts.extend(
                {"type": "video_url", "video_url": {"url": clip.data_url()}} for clip in m.clips
            )
            entry["content"] = parts
        else:
            entry["content"] = m.content
        if m.tool_call_id is not None:
            entry["tool_call_id"] = m.tool_call_id
        if m.tool_calls:
            entry["tool_calls"] = [
                {
                    "id": tc.id,
                    "type": "function",
                    "function": {"name": tc.name, "arguments": tc.raw_arguments or "{}"},
                }
                for tc in m.tool_calls
            ]
        out.append(entry)
    if schema_output is not None:
        instruction = _SCHEMA_INSTRUCTION + json.dumps(schema_output.model_json_schema())
        for entry in reversed(out):
            if entry["role"] == "system" and isinstance(entry["content"], str):
                entry["content"] = f"{entry['content']}\n\n{instruction}"
                break
        else:
            out.insert(0, {"role": "system", "content": instruction})
    return out


def _response_format(output: type[BaseModel], cfg: RoleConfig) -> dict[str, Any] | None:
    schema = output.model_json_schema()
    style = cfg.capabilities.structured_output
    if style == "json_schema":
        return {"type": "json_schema", "json_schema": {"name": output.__name__, "schema": schema}}
    if style == "json_object":
        return {"type": "json_object", "schema": schema}
    return None


def _tool_choice(choice: ToolChoice, tools: list[Tool] | tuple[Tool, ...]) -> Any:
    if choice in ("auto", "required", "none"):
        return choice
    names = [t.name for t in tools]
    if choice not in names:
        raise ValueError(f"tool_choice {choice!r} names no offered tool (offered: {names}).")
    return {"type": "function", "function": {"name": choice}}


# ---------------------------------------------------------------------- response handling


def _tool_calls(raw_calls: Any) -> list[ToolCall]:
    calls: list[ToolCall] = []
    for tc in raw_calls or []:
        function = getattr(tc, "function", None)
        if function is None:  # custom (non-function) tool calls are not used here
            continue
        raw = function.arguments or ""
        arguments, error = parse_tool_arguments(raw)
        calls.append(
            ToolCall(
                id=tc.id or "",
                name=function.name or "",
                arguments=arguments,
                raw_arguments=raw,
                error=error,
            )
        )
    return calls


@cache
def _tls_context() -> ssl.SSLContext:
    """One TLS context for every client of the process.

    Each ``AsyncOpenAI`` would otherwise load the certificate bundle again (about 25 ms of
    CPU per client); an ``SSLContext`` is safe to share between clients and event loops.
    httpx builds it as it would for each client, ``SSL_CERT_FILE`` and ``SSL_CERT_DIR``
    included.
    """
    return httpx.create_ssl_context()


async def _list_model_ids(client: AsyncOpenAI) -> list[str]:
    page = await client.models.list()
    return [m.id for m in page.data]


# ---------------------------------------------------------------------- error details


def _one_line(text: str, limit: int = 300) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


def _redact(text: str, cfg: RoleConfig) -> str:
    """``text`` with the role's api key replaced: servers echo a rejected key in errors,
    and error messages end up in run records, logs and the terminal."""
    if not cfg.api_key_env:
        return text
    key = os.environ.get(cfg.api_key_env, "")
    if len(key) < 4:  # too short to tell from ordinary text
        return text
    return text.replace(key, f"<${cfg.api_key_env}>")


def _server_message(exc: openai.APIStatusError) -> str:
    """The server's own error message (OpenAI ``{"error": {"message": ...}}`` or raw body)."""
    body = exc.body
    if isinstance(body, dict):
        err = body.get("error", body)
        if isinstance(err, dict):
            msg = err.get("message") or err.get("detail")
            if msg:
                return _one_line(str(msg))
        elif isinstance(err, str):
            return _one_line(err)
        detail = body.get("detail")
        if detail:
            return _one_line(json.dumps(detail) if not isinstance(detail, str) else detail)
    elif isinstance(body, str) and body.strip():
        return _one_line(body)
    return _one_line(exc.message)


def _connection_detail(exc: openai.APIConnectionError) -> str:
    cause: BaseException | None = exc.__cause__ or exc.__context__
    seen = 0
    while cause is not None and seen < 5:
        text = str(cause).strip()
        if text:
            return f"cannot connect ({_one_line(text, 160)})"
        cause = cause.__cause__ or cause.__context__
        seen += 1
    return "cannot connect"


def _retry_after(exc: openai.APIStatusError) -> float | None:
    """Seconds from ``retry-after-ms`` / ``Retry-After`` (seconds or HTTP date), if present."""
    headers = exc.response.headers
    ms = headers.get("retry-after-ms")
    if ms:
        try:
            value = float(ms) / 1000.0
        except ValueError:
            value = math.nan
        if math.isfinite(value):
            return max(value, 0.0)
    ra = headers.get("retry-after")
    if not ra:
        return None
    try:
        value = float(ra)
    except ValueError:
        parsed = email.utils.parsedate_tz(ra)
        if parsed is None:
            return None
        return max(float(email.utils.mktime_tz(parsed)) - time.time(), 0.0)
    return max(value, 0.0) if math.isfinite(value) else None
