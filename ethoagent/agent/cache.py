"""Model-answer cache in SQLite.

An answer is stored under a sha256 key over everything that determines it: backend, model,
prompt name and version, sampling, the messages (images by content hash), the output schema,
the tools and the tool choice. Re-running a step with an identical request costs nothing;
changing the prompt version, the sampling, an image or the output schema misses. An
embedding vector is stored per input, under a key over the backend, model, kind (text or
image) and the input's hash (``embedding_key``).

The database uses WAL and a busy timeout, so several asyncio tasks of one process and several
processes can share one cache file.

Example:
    >>> import tempfile
    >>> cache = ModelCache(Path(tempfile.mkdtemp()) / "cache.sqlite")
    >>> cache.stats().entries
    0
    >>> cache.close()
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar, cast

from pydantic import BaseModel, ValidationError

from ethoagent.agent.types import (
    Answer,
    Backend,
    Message,
    ModelClient,
    PromptRef,
    Role,
    Sampling,
    Tool,
    ToolChoice,
    parse_output,
)
from ethoagent.errors import RunError

__all__ = ["CacheStats", "CachedClient", "ModelCache", "cache_key", "embedding_key"]

_T = TypeVar("_T", bound=BaseModel)

KEY_VERSION = 1
"""Bumped when the key layout changes, so old entries stop matching."""

_BUSY_TIMEOUT_S = 30.0

_SCHEMA = """
CREATE TABLE IF NOT EXISTS answers (
    key TEXT PRIMARY KEY,
    created TEXT NOT NULL,
    prompt TEXT NOT NULL,
    model TEXT NOT NULL,
    answer_json TEXT NOT NULL,
    bytes INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS answers_prompt ON answers (prompt);
"""


def cache_key(
    *,
    backend: str,
    model: str,
    prompt: PromptRef,
    sampling: Sampling,
    messages: Sequence[Message],
    output: type[BaseModel] | None,
    tools: Sequence[Tool],
    tool_choice: ToolChoice,
) -> str:
    """The sha256 (hex) of a canonical JSON description of a request.

    Args:
        backend: ``offline`` or ``openai``.
        model: the model name.
        prompt: the prompt name and version.
        sampling: the sampling parameters.
        messages: the messages (images enter by their sha256 via ``Message.fingerprint``).
        output: the requested output type (its JSON schema enters the key), or ``None``.
        tools: the tools offered (their OpenAI definitions enter the key).
        tool_choice: the tool choice.

    Returns:
        64 hex characters.
    """
    doc = {
        "v": KEY_VERSION,
        "backend": backend,
        "model": model,
        "prompt": {"name": prompt.name, "version": prompt.version},
        "sampling": sampling.model_dump(mode="json"),
        "messages": [m.fingerprint() for m in messages],
        "output": None if output is None else output.model_json_schema(),
        "tools": [t.to_openai() for t in tools],
        "tool_choice": tool_choice,
    }
    text = json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def embedding_key(*, backend: str, model: str, prompt: PromptRef, item: str) -> str:
    """The sha256 (hex) of one embedding request's input: backend, model, kind, input hash.

    Args:
        backend: ``openai`` (only online embeddings are cached).
        model: the model name.
        prompt: what is embedded (``embed_text.v1``, ``embed_image.v1``).
        item: the input text or image data URL (enters the key by its sha256).

    Returns:
        64 hex characters.
    """
    doc = {
        "v": KEY_VERSION,
        "backend": backend,
        "model": model,
        "prompt": {"name": prompt.name, "version": prompt.version},
        "input": hashlib.sha256(item.encode("utf-8")).hexdigest(),
    }
    text = json.dumps(doc, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class CacheStats(BaseModel):
    """Size of the cache and how it was used in this session.

    Attributes:
        path: the database file.
        entries: stored answers.
        bytes: total size of the stored answers (JSON text, bytes).
        hits: lookups that found an answer, this session.
        misses: lookups that did not, this session.
        by_prompt: stored answers per prompt (``name.vN``).
    """

    path: str
    entries: int
    bytes: int
    hits: int
    misses: int
    by_prompt: dict[str, int]


class ModelCache:
    """An SQLite table of model answers keyed by ``cache_key``.

    Args:
        path: the database file; created with its parent folders if missing.

    Raises:
        RunError: the file exists but is not an SQLite database.
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.hits = 0
        self.misses = 0
        self._lock = threading.Lock()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._conn: sqlite3.Connection | None = sqlite3.connect(
                str(self.path),
                timeout=_BUSY_TIMEOUT_S,
                isolation_level=None,
                check_same_thread=False,
            )
            self._conn.execute(f"PRAGMA busy_timeout = {int(_BUSY_TIMEOUT_S * 1000)}")
            self._conn.execute("PRAGMA journal_mode = WAL")
            self._conn.execute("PRAGMA synchronous = NORMAL")
            self._conn.executescript(_SCHEMA)
        except sqlite3.DatabaseError as exc:
            raise RunError(
                f"model cache {self.path} could not be opened: {exc}.",
                fix="delete the file (it only holds cached answers) or use --no-cache.",
            ) from exc

    def _db(self) -> sqlite3.Connection:
        if self._conn is None:
            raise RunError(f"model cache {self.path} is closed.")
        return self._conn

    def get(self, key: str) -> dict[str, Any] | None:
        """The stored answer (``Answer`` fields as JSON data) for ``key``, or ``None``.

        Counts a hit or a miss; an unreadable entry counts as a miss.
        """
        with self._lock:
            row = (
                self._db()
                .execute("SELECT answer_json FROM answers WHERE key = ?", (key,))
                .fetchone()
            )
        value: Any = None
        if row is not None:
            try:
                value = json.loads(row[0])
            except ValueError:
                value = None
        with self._lock:
            if not isinstance(value, dict):
                self.misses += 1
                return None
            self.hits += 1
        return value

    def put(self, key: str, answer: Answer[Any], prompt: PromptRef, model: str) -> None:
        """Store ``answer`` under ``key`` (replacing any earlier one).

        The parsed object is stored as its own JSON data; ``cache_hit`` and ``latency_s`` are
        not stored.
        """
        data = answer.model_dump(mode="json", exclude={"parsed", "cache_hit", "latency_s"})
        parsed = answer.parsed
        data["parsed"] = parsed.model_dump(mode="json") if parsed is not None else None
        self.put_data(key, data, prompt, model)

    def put_data(self, key: str, data: Mapping[str, Any], prompt: PromptRef, model: str) -> None:
        """Store JSON data under ``key`` (replacing any earlier entry); ``get`` returns it.

        Args:
            key: the request's key (``cache_key``, ``embedding_key``).
            data: a JSON-able mapping (an answer's fields, an embedding vector).
            prompt: what the request was (counted per prompt in ``stats``).
            model: the model that answered.
        """
        text = json.dumps(dict(data), sort_keys=True, ensure_ascii=False)
        created = datetime.now(UTC).isoformat(timespec="seconds")
        with self._lock:
            self._db().execute(
                "INSERT OR REPLACE INTO answers (key, created, prompt, model, answer_json, bytes)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (key, created, str(prompt), model, text, len(text.encode("utf-8"))),
            )

    def stats(self) -> CacheStats:
        """Entries, bytes and per-prompt counts in the file; hits and misses this session."""
        with self._lock:
            db = self._db()
            entries, size = db.execute(
                "SELECT COUNT(*), COALESCE(SUM(bytes), 0) FROM answers"
            ).fetchone()
            rows = db.execute(
                "SELECT prompt, COUNT(*) FROM answers GROUP BY prompt ORDER BY prompt"
            ).fetchall()
        return CacheStats(
            path=str(self.path),
            entries=int(entries),
            bytes=int(size),
            hits=self.hits,
            misses=self.misses,
            by_prompt={str(p): int(n) for p, n in rows},
        )

    def clear(self) -> int:
        """Delete every stored answer.

        Returns:
            How many were deleted.
        """
        with self._lock:
            cur = self._db().execute("DELETE FROM answers")
            return int(cur.rowcount)

    def close(self) -> None:
        """Close the database (idempotent)."""
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def __enter__(self) -> ModelCache:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _restore(stored: Mapping[str, Any], output: type[_T] | None) -> Answer[_T] | None:
    """Rebuild an answer from stored data, revalidated against ``output``; ``None`` if unusable."""
    data = dict(stored)
    parsed_raw = data.pop("parsed", None)
    try:
        base: Answer[Any] = Answer.model_validate(data)
    except ValidationError:
        return None
    parsed: _T | None = None
    parse_error: str | None = None
    if output is not None:
        if parsed_raw is not None:
            try:
                parsed = output.model_validate(parsed_raw)
            except ValidationError:
                parsed = None
        if parsed is None:
            parsed, parse_error = parse_output(base.text, output)
            if parsed is None and base.parse_error:
                parse_error = base.parse_error
    answer = base.model_copy(
        update={"parsed": parsed, "parse_error": parse_error, "cache_hit": True, "latency_s": 0.0}
    )
    return cast("Answer[_T]", answer)


class CachedClient:
    """A ``ModelClient`` that answers identical requests from a ``ModelCache``.

    Only online backends are cached: when ``inner.backend == "offline"`` every call goes
    through (offline answers are deterministic and free). Calls that raise are never cached.

    Args:
        inner: the client that answers misses.
        cache: where answers are stored.
        enabled: ``False`` (the user's ``--no-cache``) passes every call through, reading,
            writing and counting nothing.
    """

    def __init__(self, inner: ModelClient, cache: ModelCache, enabled: bool = True) -> None:
        self.inner = inner
        self.cache = cache
        self.enabled = enabled
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
        """Return the cached answer for an identical request, or ask ``inner`` and store it.

        A cached answer has ``cache_hit=True`` and ``latency_s=0``; its ``parsed`` is
        revalidated with ``output`` (re-parsed from the stored text if needed).
        """
        if not self.enabled or self.inner.backend == "offline":
            return await self.inner.ask(
                role,
                messages,
                prompt=prompt,
                output=output,
                tools=tools,
                tool_choice=tool_choice,
                sampling=sampling,
                payload=payload,
            )
        model = self.inner.model_name(role)
        key = cache_key(
            backend=self.inner.backend,
            model=model,
            prompt=prompt,
            sampling=sampling if sampling is not None else Sampling(),
            messages=messages,
            output=output,
            tools=tools,
            tool_choice=tool_choice,
        )
        stored = self.cache.get(key)
        if stored is not None:
            restored = _restore(stored, output)
            if restored is not None:
                return restored
            self.cache.hits -= 1  # an entry that no longer validates is a miss
            self.cache.misses += 1
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
        self.cache.put(key, answer, prompt, answer.model or model)
        return answer

    def model_name(self, role: Role) -> str:
        """The inner client's model name for ``role``."""
        return self.inner.model_name(role)

    async def aclose(self) -> None:
        """Close the inner client (the cache stays open; close it separately)."""
        await self.inner.aclose()
