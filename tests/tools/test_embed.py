"""The model-free text embedder (TF-IDF) and row normalisation."""

from __future__ import annotations

import numpy as np

from ethoagent.tools.embed import TfidfEmbedder, normalise_rows

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


def test_normalise_rows_gives_unit_rows_and_keeps_zero_rows() -> None:
    x = normalise_rows([[3.0, 4.0], [0.0, 0.0]])
    np.testing.assert_allclose(x, [[0.6, 0.8], [0.0, 0.0]])
    assert x.dtype == np.float32
