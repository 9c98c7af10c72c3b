"""A fault-injecting OpenAI-compatible server on 127.0.0.1, for reliability and load tests.

``FlakyServer`` answers ``POST /v1/chat/completions`` with the content an ``answer``
function returns for the request body, except that, drawn independently per request from a
seeded generator, it

* drops the connection without a response (``drop_rate``),
* answers an HTTP error status (``status_rates``, e.g. ``{429: 0.05, 500: 0.05}``),
* answers HTTP 200 with a body cut off mid-JSON (``malformed_rate``),
* answers a well-formed completion whose *content* is cut-off JSON
  (``truncated_content_rate``),
* sleeps before answering (``delay_rate`` of the requests, ``delay_s`` seconds).

Each fault actually served is counted in ``faults`` so that a test can check that it was
exercised. ``GET /v1/models`` always answers (the health check is not what is tested).

Example:
    ``with FlakyServer(lambda body: '{"ok": 1}', drop_rate=0.1, seed=3) as srv: ...``
"""

from __future__ import annotations

import json
import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

from tests.servers import HOST, chat_completion

Answerer = Callable[[dict[str, Any]], str]
"""The model's content for a request body (a JSON string for structured answers)."""


@dataclass
class Faults:
    """Per-request fault probabilities (each in [0, 1], drawn in this order)."""

    drop_rate: float = 0.0
    status_rates: Mapping[int, float] = field(default_factory=dict)
    malformed_rate: float = 0.0
    truncated_content_rate: float = 0.0
    delay_rate: float = 0.0
    delay_s: float = 0.0


class FlakyServer:
    """An OpenAI-compatible chat server on 127.0.0.1 (free port) with injected faults.

    Args:
        answer: the content of a healthy answer, from the request body.
        seed: seed of the fault draws (the same seed and request order give the same faults).
        model: the name ``GET /v1/models`` serves.
        **rates: the fields of ``Faults``.
    """

    def __init__(
        self,
        answer: Answerer,
        *,
        seed: int = 0,
        model: str = "flaky-model",
        drop_rate: float = 0.0,
        status_rates: Mapping[int, float] | None = None,
        malformed_rate: float = 0.0,
        truncated_content_rate: float = 0.0,
        delay_rate: float = 0.0,
        delay_s: float = 0.0,
    ) -> None:
        self.answer = answer
        self.model = model
        self.config = Faults(
            drop_rate=drop_rate,
            status_rates=dict(status_rates or {}),
            malformed_rate=malformed_rate,
            truncated_content_rate=truncated_content_rate,
            delay_rate=delay_rate,
            delay_s=delay_s,
        )
        self.faults: Counter[str] = Counter()
        self.requests: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        assert self._httpd is not None, "server not started"
        return int(self._httpd.server_address[1])

    @property
    def base_url(self) -> str:
        return f"http://{HOST}:{self.port}/v1"

    def start(self) -> FlakyServer:
        self._httpd = ThreadingHTTPServer((HOST, 0), _make_handler(self))
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="flaky-openai",
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
        self._httpd = self._thread = None

    def __enter__(self) -> FlakyServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def draw(self) -> tuple[str, float]:
        """The fault for the next request (``"ok"`` for none) and the delay before it."""
        c = self.config
        with self._lock:
            r = self._rng.random
            delay = c.delay_s if r() < c.delay_rate else 0.0
            if r() < c.drop_rate:
                return "drop", delay
            for status, rate in sorted(c.status_rates.items()):
                if r() < rate:
                    return f"http_{status}", delay
            if r() < c.malformed_rate:
                return "malformed_body", delay
            if r() < c.truncated_content_rate:
                return "truncated_content", delay
            return "ok", delay


def _make_handler(server: FlakyServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.0"

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _send(self, status: int, payload: bytes) -> None:
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)
            except (BrokenPipeError, ConnectionResetError):  # the client gave up
                pass

        def do_GET(self) -> None:
            if self.path.rstrip("/").endswith("/models"):
                body = {"object": "list", "data": [{"id": server.model, "object": "model"}]}
                self._send(200, json.dumps(body).encode())
            else:
                self._send(404, b'{"error": {"message": "no route"}}')

        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if not self.path.rstrip("/").endswith("/chat/completions"):
                self._send(404, b'{"error": {"message": "no route"}}')
                return
            body = json.loads(raw)
            fault, delay = server.draw()
            with server._lock:
                server.requests.append(body)
                server.headers.append({k.lower(): v for k, v in self.headers.items()})
                server.faults[fault] += 1
                if delay:
                    server.faults["delayed"] += 1
            if delay:
                time.sleep(delay)
            if fault == "drop":
                self.close_connection = True  # no status line: the client sees a disconnect
                return
            if fault.startswith("http_"):
                status = int(fault.removeprefix("http_"))
                err = {"error": {"message": f"injected {status}", "code": status}}
                self._send(status, json.dumps(err).encode())
                return
            content = server.answer(body)
            if fault == "truncated_content":
                content = content[: max(1, len(content) // 2)]
            payload = json.dumps(chat_completion(content, model=server.model)).encode()
            if fault == "malformed_body":
                payload = payload[: len(payload) // 2]
            self._send(200, payload)

    return Handler
