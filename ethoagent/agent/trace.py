"""Append-only JSONL reasoning trace of a run.

Every model call, tool call, check, decision and run event is one JSON object on one line of
``trace.jsonl`` in the run directory. Lines are written and flushed one at a time under a lock,
so a run killed mid-write leaves at most one truncated last line, which ``read_trace`` skips.

Events carry the fields of the enclosing ``Tracer.scope`` (graph, node, item, attempt, ...)
held in a ``contextvars.ContextVar``: asyncio tasks copy the context when they are created, so
concurrent tasks each keep their own scope.

Example:
    >>> tracer = Tracer(None, run_id="demo")
    >>> with tracer.scope(node="triangulate", item="frame-12"):
    ...     ev = tracer.event("note", text="hello")
    >>> ev["node"], ev["item"], ev["kind"]
    ('triangulate', 'frame-12', 'note')
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import logging
import math
import os
import threading
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextvars import ContextVar
from datetime import UTC, datetime
from pathlib import Path
from types import MappingProxyType, TracebackType
from typing import IO, Any, TypeVar

import numpy as np
from pydantic import BaseModel

from ethoagent.agent.types import (
    Answer,
    Backend,
    Clip,
    Image,
    Message,
    ModelClient,
    PromptRef,
    Role,
    Sampling,
    Tool,
    ToolChoice,
    Usage,
)
from ethoagent.errors import RunError
from ethoagent.model.checks import CheckResult

__all__ = [
    "MAX_TEXT",
    "TracedClient",
    "Tracer",
    "current_scope",
    "read_trace",
    "read_trace_counted",
    "summarize",
]

log = logging.getLogger(__name__)

_T = TypeVar("_T", bound=BaseModel)

MAX_TEXT = 20_000
"""Longest string (characters) kept in a trace event; longer ones are truncated with a marker."""

MAX_SUMMARY_STR = 2_000
"""Longest string kept in a tool argument/result summary."""

MAX_SUMMARY_ITEMS = 20
"""Most list items / mapping entries kept in a tool argument/result summary."""

_MAX_DEPTH = 8
_RESERVED = ("ts", "seq", "run_id", "kind")

_EMPTY: Mapping[str, Any] = MappingProxyType({})
_SCOPE: ContextVar[Mapping[str, Any]] = ContextVar("ethoagent_trace_scope", default=_EMPTY)


def current_scope() -> dict[str, Any]:
    """The scope fields active in the current context (a copy)."""
    return dict(_SCOPE.get())


# --------------------------------------------------------------------------- summaries


def _truncate(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    return f"{text[:limit]}…[truncated, {len(text)} chars in all]"


def _finite(x: float) -> float | None:
    return x if math.isfinite(x) else None


def _summarize_array(arr: np.ndarray[Any, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {
        "shape": list(arr.shape),
        "dtype": str(arr.dtype),
        "nan": 0,
        "min": None,
        "max": None,
    }
    kind = arr.dtype.kind
    if kind == "c":
        out["nan"] = int(np.count_nonzero(np.isnan(arr)))
        return out
    if kind not in "biuf":
        return out
    values = arr.astype(np.float64) if kind == "b" else arr
    if kind == "f":
        out["nan"] = int(np.count_nonzero(np.isnan(values)))
        values = values[np.isfinite(values)]
    if values.size:
        lo, hi = np.min(values), np.max(values)
        out["min"] = lo.item() if kind in "iu" else _finite(float(lo))
        out["max"] = hi.item() if kind in "iu" else _finite(float(hi))
    return out


def _jsonable(value: Any, *, max_items: int | None, max_str: int, depth: int = 0) -> Any:
    """Convert ``value`` to JSON-able data (no NaN); shorten collections when ``max_items``."""
    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, float):
        return _finite(value)
    if isinstance(value, str):
        return _truncate(value, max_str)
    if isinstance(value, np.ndarray):
        return _summarize_array(value)
    if isinstance(value, np.generic):
        return _jsonable(value.item(), max_items=max_items, max_str=max_str, depth=depth)
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, bytes):
        return f"<{len(value)} bytes>"
    if isinstance(value, Image):
        return {"image": value.sha256, "bytes": len(value.data), "source": value.source}
    if isinstance(value, Message):
        return _jsonable(value.fingerprint(), max_items=max_items, max_str=max_str, depth=depth)
    if isinstance(value, PromptRef):
        return {"name": value.name, "version": value.version}
    if depth >= _MAX_DEPTH:
        return _truncate(repr(value), 200)
    sub = depth + 1
    if isinstance(value, BaseModel):
        return _jsonable(value.model_dump(), max_items=max_items, max_str=max_str, depth=sub)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        fields = {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
        return _jsonable(fields, max_items=max_items, max_str=max_str, depth=sub)
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for i, (k, v) in enumerate(value.items()):
            if max_items is not None and i >= max_items:
                out["…"] = f"{len(value) - max_items} more entries"
                break
            out[str(k)] = _jsonable(v, max_items=max_items, max_str=max_str, depth=sub)
        return out
    if isinstance(value, list | tuple | set | frozenset):
        items = sorted(value, key=repr) if isinstance(value, set | frozenset) else list(value)
        kept = items if max_items is None else items[:max_items]
        res = [_jsonable(v, max_items=max_items, max_str=max_str, depth=sub) for v in kept]
        if len(kept) < len(items):
            res.append(f"…{len(items) - len(kept)} more items")
        return res
    return _truncate(repr(value), 200 if max_items is not None else max_str)


def summarize(value: Any) -> Any:
    """A short, JSON-able summary of a tool argument or result.

    numpy arrays become ``{"shape", "dtype", "nan", "min", "max"}`` (min/max over finite
    values; ``None`` when there are none), lists and mappings keep their first
    ``MAX_SUMMARY_ITEMS`` entries plus a marker, pydantic models and dataclasses become dicts,
    paths strings, non-finite floats ``None``; other scalars are kept as they are.

    Args:
        value: anything.

    Returns:
        JSON-serialisable data.
    """
    return _jsonable(value, max_items=MAX_SUMMARY_ITEMS, max_str=MAX_SUMMARY_STR)


def _clean(value: Any) -> Any:
    return _jsonable(value, max_items=None, max_str=MAX_TEXT)


# --------------------------------------------------------------------------- reading


def read_trace_counted(path: Path | str) -> tuple[list[dict[str, Any]], int]:
    """Read a trace file, skipping lines that are not a JSON object.

    Args:
        path: the ``trace.jsonl`` file.

    Returns:
        ``(events, skipped)``: the events in file order and how many corrupt lines were
        skipped (a run killed mid-write leaves a truncated last line).

    Raises:
        RunError: the file does not exist.
    """
    p = Path(path)
    if not p.is_file():
        raise RunError(f"trace file {p} does not exist.", fix="check the run directory.")
    events: list[dict[str, Any]] = []
    skipped = 0
    with p.open("rb") as fh:
        for raw in fh:
            line = raw.strip()
            if not line:
                continue
            try:
                value = json.loads(line.decode("utf-8"))
            except (UnicodeDecodeError, ValueError):
                skipped += 1
                continue
            if isinstance(value, dict):
                events.append(value)
            else:
                skipped += 1
    return events, skipped


def read_trace(path: Path | str) -> list[dict[str, Any]]:
    """Read a trace file; corrupt lines are skipped and counted in a logged warning.

    Args:
        path: the ``trace.jsonl`` file.

    Returns:
        The events in file order.

    Raises:
        RunError: the file does not exist.
    """
    events, skipped = read_trace_counted(path)
    if skipped:
        log.warning("%s: skipped %d corrupt line(s) (a run killed mid-write?)", path, skipped)
    return events


def _last_seq(path: Path) -> int:
    """The largest ``seq`` in an existing trace (0 when there is none)."""
    size = path.stat().st_size
    if size == 0:
        return 0
    tail = 256 * 1024
    with path.open("rb") as fh:
        start = max(0, size - tail)
        fh.seek(start)
        lines = fh.read().split(b"\n")
    if start > 0:
        lines = lines[1:]
    best = 0
    for line in lines:
        try:
            value = json.loads(line)
        except ValueError:
            continue
        if isinstance(value, dict) and isinstance(value.get("seq"), int):
            best = max(best, value["seq"])
    if best == 0 and start > 0:
        events, _ = read_trace_counted(path)
        best = max((e["seq"] for e in events if isinstance(e.get("seq"), int)), default=0)
    return best


# --------------------------------------------------------------------------- tracer


@dataclasses.dataclass
class ToolTiming:
    """Yielded by ``Tracer.timed_tool``: set ``result``; ``event`` is filled in at exit."""

    result: Any = None
    event: dict[str, Any] | None = None


class Tracer:
    """Writes trace events as JSON lines and keeps them in ``events``.

    Args:
        path: the JSONL file (appended to if it exists, so a resumed run continues its trace);
            ``None`` keeps events in memory only.
        run_id: written into every event.
        images_dir: where message images are stored once, as ``<sha256>.png``; ``None`` records
            only their hashes.
    """

    def __init__(self, path: Path | None, run_id: str, images_dir: Path | None = None) -> None:
        self.path = path
        self.run_id = run_id
        self.images_dir = images_dir
        self.events: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._seq = 0
        self._fh: IO[str] | None = None
        self._images: set[str] = set()
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            if path.exists() and path.stat().st_size > 0:
                self._seq = _last_seq(path)
                with path.open("rb") as fh:
                    fh.seek(-1, os.SEEK_END)
                    needs_newline = fh.read(1) != b"\n"
                if needs_newline:  # a run killed mid-line: keep its fragment on a line of its own
                    with path.open("a", encoding="utf-8") as fa:
                        fa.write("\n")
            self._fh = path.open("a", encoding="utf-8")  # closed in close()
        if images_dir is not None:
            images_dir.mkdir(parents=True, exist_ok=True)

    # -- lifecycle

    def close(self) -> None:
        """Close the trace file (events can no longer be written to it)."""
        with self._lock:
            if self._fh is not None:
                self._fh.close()
                self._fh = None

    def __enter__(self) -> Tracer:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- scope

    @contextlib.contextmanager
    def scope(self, **fields: Any) -> Iterator[dict[str, Any]]:
        """Set scope fields for events written inside the block; nested scopes merge.

        A field set to ``None`` removes it from the scope for the block.

        Yields:
            The merged scope fields.
        """
        merged = {**_SCOPE.get(), **fields}
        merged = {k: v for k, v in merged.items() if v is not None}
        token = _SCOPE.set(MappingProxyType(merged))
        try:
            yield dict(merged)
        finally:
            _SCOPE.reset(token)

    # -- writing

    def _emit(self, kind: str, fields: Mapping[str, Any]) -> dict[str, Any]:
        body = _clean({**_SCOPE.get(), **fields})
        for key in _RESERVED:
            body.pop(key, None)
        with self._lock:
            self._seq += 1
            event: dict[str, Any] = {
                **body,
                "ts": datetime.now(UTC).isoformat(timespec="microseconds"),
                "seq": self._seq,
                "run_id": self.run_id,
                "kind": kind,
            }
            if self._fh is not None:
                line = json.dumps(event, sort_keys=True, allow_nan=False, ensure_ascii=False)
                self._fh.write(line + "\n")
                self._fh.flush()
            self.events.append(event)
        return event

    def event(self, kind: str, **fields: Any) -> dict[str, Any]:
        """Write a generic event (``run_start``, ``stage_result``, ``flag``, ``run_end``, ...).

        Args:
            kind: the event kind.
            **fields: its fields; converted to JSON-able data (arrays summarised, NaN → null).

        Returns:
            The event as written.
        """
        return self._emit(kind, fields)

    def _image_record(self, image: Image) -> dict[str, Any]:
        rec: dict[str, Any] = {
            "sha256": image.sha256,
            "bytes": len(image.data),
            "source": image.source,
        }
        if self.images_dir is None:
            return rec
        target = self.images_dir / f"{image.sha256}.png"
        with self._lock:
            known = image.sha256 in self._images
            self._images.add(image.sha256)
        if not known and not target.exists():
            tmp = target.with_name(f".{image.sha256}.{os.getpid()}.{threading.get_ident()}.tmp")
            tmp.write_bytes(image.data)
            tmp.replace(target)
        base = self.path.parent if self.path is not None else self.images_dir.parent
        try:
            rec["path"] = str(target.resolve().relative_to(base.resolve()))
        except ValueError:
            rec["path"] = str(target.resolve())
        return rec

    def _clip_record(self, clip: Clip) -> dict[str, Any]:
        """A clip's hash, frame count and rate; its middle frame stored as the evidence image."""
        middle = Image.from_array(clip.to_arrays()[len(clip.frames) // 2])
        return {
            "sha256": clip.sha256,
            "frames": len(clip.frames),
            "fps": clip.fps,
            "bytes": sum(len(f) for f in clip.frames),
            "source": clip.source,
            "middle_frame": self._image_record(middle),
        }

    def _message_record(self, message: Message) -> dict[str, Any]:
        rec: dict[str, Any] = {
            "role": message.role,
            "content": _truncate(message.content, MAX_TEXT),
        }
        if message.images:
            rec["images"] = [self._image_record(im) for im in message.images]
        if message.clips:
            rec["clips"] = [self._clip_record(c) for c in message.clips]
        if message.tool_call_id is not None:
            rec["tool_call_id"] = message.tool_call_id
        return rec

    def model_call(
        self,
        *,
        role: str,
        model: str,
        backend: str,
        prompt: PromptRef,
        messages: Sequence[Message],
        answer: Answer[Any] | None,
        tools: Iterable[Tool] = (),
        error: str | None = None,
        sampling: Sampling | None = None,
        latency_s: float | None = None,
    ) -> dict[str, Any]:
        """Record one model request and its answer (or the error it raised).

        Args:
            role: the model role (``vlm``, ``llm``, ``embed``).
            model: the model name.
            backend: ``offline`` or ``openai``.
            prompt: the prompt the request was built from.
            messages: the request; images are recorded by sha256 (and stored once when the
                tracer has an ``images_dir``).
            answer: what came back, or ``None`` when the call raised.
            tools: tools offered to the model (recorded by name).
            error: the error the call raised, if any.
            sampling: the sampling parameters, if known.
            latency_s: wall time of the call; defaults to ``answer.latency_s``.

        Returns:
            The event as written.
        """
        fields: dict[str, Any] = {
            "role": role,
            "model": model,
            "backend": backend,
            "prompt": {"name": prompt.name, "version": prompt.version},
            "messages": [self._message_record(m) for m in messages],
            "tools": [t.name for t in tools],
            "error": error,
            "text": None,
            "parsed": None,
            "parse_error": None,
            "tool_calls": [],
            "usage": {"prompt_tokens": 0, "completion_tokens": 0},
            "latency_s": latency_s,
            "cache_hit": False,
        }
        if sampling is not None:
            fields["sampling"] = sampling.model_dump()
        if answer is not None:
            parsed = answer.parsed
            fields.update(
                text=_truncate(answer.text, MAX_TEXT),
                parsed=parsed.model_dump() if isinstance(parsed, BaseModel) else parsed,
                parse_error=answer.parse_error,
                tool_calls=[tc.model_dump() for tc in answer.tool_calls],
                usage=answer.usage.model_dump(),
                cache_hit=answer.cache_hit,
                answer_backend=answer.backend,
            )
            if answer.model:
                fields["model"] = answer.model
            if latency_s is None:
                fields["latency_s"] = answer.latency_s
        return self._emit("model_call", fields)

    def embedding_call(
        self,
        *,
        role: str,
        model: str,
        backend: str,
        prompt: PromptRef,
        inputs: Sequence[str],
        dims: int | None,
        usage: Usage | None = None,
        latency_s: float | None = None,
        cache_hit: bool = False,
        error: str | None = None,
    ) -> dict[str, Any]:
        """Record one embeddings request (or the inputs the cache answered) as a model call.

        The event is a ``model_call`` (role ``embed``), so it counts like every other.

        Args:
            role: the model role (``embed``).
            model: the model name.
            backend: ``openai``.
            prompt: what was embedded (``embed_text.v1``, ``embed_image.v1``).
            inputs: the inputs; recorded by count and sha256 (texts also by their start).
            dims: length of each returned vector, or ``None`` when the call raised.
            usage: tokens the server counted.
            latency_s: wall time of the request.
            cache_hit: the vectors came from the answer cache.
            error: the error the call raised, if any.

        Returns:
            The event as written.
        """
        images = prompt.name == "embed_image"
        shown = [] if images else [_truncate(t, 200) for t in inputs[:8]]
        return self._emit(
            "model_call",
            {
                "role": role,
                "model": model,
                "backend": backend,
                "prompt": {"name": prompt.name, "version": prompt.version},
                "messages": [],
                "inputs": {
                    "count": len(inputs),
                    "sha256": [hashlib.sha256(t.encode("utf-8")).hexdigest() for t in inputs],
                    "texts": shown,
                },
                "tools": [],
                "error": error,
                "text": None if dims is None else f"{len(inputs)} vectors of {dims} dimensions",
                "parsed": None,
                "parse_error": None,
                "tool_calls": [],
                "usage": (usage or Usage()).model_dump(),
                "latency_s": latency_s,
                "cache_hit": cache_hit,
            },
        )

    def tool_call(
        self,
        name: str,
        args: Mapping[str, Any],
        result: Any,
        duration_s: float,
        error: str | None = None,
    ) -> dict[str, Any]:
        """Record one tool call with summaries of its arguments and result.

        Args:
            name: the tool name.
            args: its arguments (summarised with ``summarize``).
            result: its result (summarised with ``summarize``).
            duration_s: wall time of the call.
            error: the error it raised, if any.

        Returns:
            The event as written.
        """
        return self._emit(
            "tool_call",
            {
                "name": name,
                "args": {str(k): summarize(v) for k, v in args.items()},
                "result": summarize(result),
                "duration_s": duration_s,
                "error": error,
            },
        )

    @contextlib.contextmanager
    def timed_tool(self, name: str, args: Mapping[str, Any]) -> Iterator[ToolTiming]:
        """Time a tool call and record it at exit, with any exception (which is re-raised).

        Example:
            >>> tracer = Tracer(None, run_id="demo")
            >>> with tracer.timed_tool("add", {"a": 1, "b": 2}) as call:
            ...     call.result = 3
            >>> tracer.events[-1]["result"]
            3

        Yields:
            A ``ToolTiming`` whose ``result`` the block sets.
        """
        timing = ToolTiming()
        t0 = time.perf_counter()
        try:
            yield timing
        except BaseException as exc:
            timing.event = self.tool_call(
                name, args, timing.result, time.perf_counter() - t0, error=_describe(exc)
            )
            raise
        timing.event = self.tool_call(name, args, timing.result, time.perf_counter() - t0)

    def check(self, result: CheckResult) -> dict[str, Any]:
        """Record a check result (name, passed, value, threshold, message)."""
        return self._emit("check", result.model_dump())

    def decision(
        self,
        *,
        decided_by: str,
        action: str,
        reason: str,
        strategy: str | None = None,
        instruction: str | None = None,
    ) -> dict[str, Any]:
        """Record a routing decision.

        Args:
            decided_by: who decided, e.g. ``supervisor`` (a model) or ``policy`` (a rule).
            action: what was decided (``accept``, ``retry``, ``escalate``, ``flag``, ...).
            reason: why, in one sentence.
            strategy: the retry strategy chosen, if any.
            instruction: the instruction given to the next attempt, if any.

        Returns:
            The event as written.
        """
        return self._emit(
            "decision",
            {
                "decided_by": decided_by,
                "action": action,
                "reason": reason,
                "strategy": strategy,
                "instruction": instruction,
            },
        )


def _describe(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


# --------------------------------------------------------------------------- client wrapper


class TracedClient:
    """A ``ModelClient`` that records one ``model_call`` event per ``ask``.

    Args:
        inner: the client that answers.
        tracer: where events go.
    """

    def __init__(self, inner: ModelClient, tracer: Tracer) -> None:
        self.inner = inner
        self.tracer = tracer
        self.backend: Backend = inner.backend

    async def ask(
        self,
        role: Role,
        messages: list[Message],
        *,
        prompt: PromptRef,
        output: type[_T] | None = None,
        tools: list[Tool] | tuple[Tool, ...] = (),
        tool_choice: ToolChoice = "auto",
        sampling: Sampling | None = None,
        payload: Mapping[str, Any] | None = None,
    ) -> Answer[_T]:
        """Ask the inner client and record the call; an exception is recorded, then re-raised."""
        t0 = time.perf_counter()
        try:
            answer = await self.inner.ask(
                role,
                messages,
                prompt=prompt,
                output=output,
                tools=tools,
                tool_choice=tool_choice,
                sampling=sampling,
                payload=payload,
            )
        except BaseException as exc:
            self.tracer.model_call(
                role=role,
                model=self._model(role),
                backend=self.backend,
                prompt=prompt,
                messages=messages,
                answer=None,
                tools=tools,
                error=_describe(exc),
                sampling=sampling,
                latency_s=time.perf_counter() - t0,
            )
            raise
        self.tracer.model_call(
            role=role,
            model=answer.model or self._model(role),
            backend=self.backend,
            prompt=prompt,
            messages=messages,
            answer=answer,
            tools=tools,
            sampling=sampling,
        )
        return answer

    def _model(self, role: Role) -> str:
        try:
            return self.inner.model_name(role)
        except Exception:  # the trace must not hide the original error
            return ""

    def model_name(self, role: Role) -> str:
        """The inner client's model name for ``role``."""
        return self.inner.model_name(role)

    async def aclose(self) -> None:
        """Close the inner client."""
        await self.inner.aclose()
