"""Text embeddings of behaviour descriptions: the protocol and the model-free TF-IDF.

Every text embedder follows ``TextEmbedder.embed(texts) -> (texts, dims)`` float32, every
row L2-normalised so that a dot product is the cosine similarity:

- ``TfidfEmbedder`` (here): scikit-learn TF-IDF of words and word pairs, fitted on the
  texts of the call (so one call must hold every text to be compared), the fallback when
  the packaged model is not installed;
- ``MiniLMEmbedder`` (``ethoagent.nn.encoders``): the packaged all-MiniLM-L6-v2;
- ``EndpointEmbedder`` (``ethoagent.agent.embed``): the ``embed`` role's OpenAI-compatible
  ``/v1/embeddings`` endpoint, traced and cached like every model call.

``ethoagent.agent.embed.make_embedder`` picks one.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = ["TextEmbedder", "TfidfEmbedder", "normalise_rows"]


class TextEmbedder(Protocol):
    """Embeds texts into unit vectors; ``name`` says which backend (for reports)."""

    name: str

    def embed(self, texts: Sequence[str]) -> NDArray[np.float32]:
        """``(texts, dims)`` float32 unit rows, in the order of ``texts``."""
        ...


def normalise_rows(x: ArrayLike) -> NDArray[np.float32]:
    """``(rows, dims)`` as float32 with every row scaled to unit L2 norm (zero rows stay 0)."""
    arr = np.asarray(x, dtype=np.float32)
    norms = np.linalg.norm(arr, axis=1, keepdims=True)
    return np.asarray(np.divide(arr, norms, out=np.zeros_like(arr), where=norms > 0))


class TfidfEmbedder:
    """TF-IDF of words and word pairs, fitted on the texts of each call.

    Dimensions depend on the call's vocabulary; texts embedded in different calls are not
    comparable.
    """

    name = "tfidf"

    def embed(self, texts: Sequence[str]) -> NDArray[np.float32]:
        """``(texts, terms)`` float32 unit rows (all-zero for a text with no word)."""
        if len(texts) == 0:
            return np.zeros((0, 1), dtype=np.float32)
        from sklearn.feature_extraction.text import TfidfVectorizer

        vec = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, token_pattern=r"[a-z]+")
        try:
            x = vec.fit_transform([t.lower().replace("_", " ") for t in texts])
        except ValueError:  # no text has a word
            return np.zeros((len(texts), 1), dtype=np.float32)
        return normalise_rows(x.toarray())
