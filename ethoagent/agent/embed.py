"""Text and image embeddings: the ``embed`` role's endpoint, and which embedder to use.

Embedding endpoints are model calls like any other: ``EmbeddingClient`` sends them through
``OpenAICompatibleClient.embed`` (bounded concurrency, retries, one-line errors), records
each request as a ``model_call`` event in the run's trace (so it counts in the model-call
counts), and keeps every vector in the answer cache under ``embedding_key`` (backend,
model, kind, hash of the input), so a re-run embeds nothing it has embedded before.

- ``EndpointEmbedder``: a ``tools.embed.TextEmbedder`` on the endpoint (unit rows);
- ``OpenAIEmbeddingEncoder``: a ``tools.vision.VisionEncoder`` that sends frames as PNG
  data URLs (the server must accept images, e.g. vLLM with a multimodal embedding model);
- ``make_embedder`` / ``make_vision_encoder``: the text embedder or frame encoder of a
  given kind, among these and the local ones (``nn.encoders``: EfficientNet-Lite0, a
  Hugging Face vision folder, all-MiniLM-L6-v2; ``tools``: TF-IDF, HOG + optical flow).
  The local ones open no connection and are not model calls.

Texts are embedded into ``(texts, dims)`` float32; frames ``(n_frames, height, width, 3)``
uint8 RGB into ``(n_frames, dim)`` float32.
"""

from __future__ import annotations

import asyncio
import warnings
from collections.abc import Coroutine, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeVar

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ethoagent.agent.cache import ModelCache, embedding_key
from ethoagent.agent.trace import Tracer
from ethoagent.agent.types import Image, PromptRef, Role
from ethoagent.config import RoleConfig, Settings
from ethoagent.errors import ConfigError, EndpointError, EthoagentError, InputError
from ethoagent.nn.encoders import (
    EfficientNetLite0Encoder,
    MiniLMEmbedder,
    TransformersVisionEncoder,
    efficientnet_lite0_installed,
    minilm_available,
)
from ethoagent.tools.embed import TextEmbedder, TfidfEmbedder, normalise_rows
from ethoagent.tools.vision import ClassicalEncoder, CountingEncoder, VisionEncoder

if TYPE_CHECKING:
    from ethoagent.agent.client import OpenAICompatibleClient

__all__ = [
    "EMBED_IMAGE",
    "EMBED_TEXT",
    "ENCODER_KINDS",
    "EmbedderKind",
    "EmbeddingClient",
    "EndpointEmbedder",
    "OpenAIEmbeddingEncoder",
    "make_embedder",
    "make_vision_encoder",
]

EmbedderKind = Literal["auto", "endpoint", "minilm", "tfidf"]
ENCODER_KINDS = ("efficientnet-lite0", "classical", "openai", "transformers")
EMBED_TEXT = PromptRef("embed_text", 1)
"""What a text embedding request is, in the trace and the cache."""
EMBED_IMAGE = PromptRef("embed_image", 1)
"""What an image embedding request is, in the trace and the cache."""

_R = TypeVar("_R")


def _run_sync(coro: Coroutine[Any, Any, _R]) -> _R:
    """Run ``coro`` to the end from synchronous code, also from inside a running loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coro).result()


class EmbeddingClient:
    """The ``embed`` role's ``/embeddings`` endpoint, traced and cached."""

    backend = "openai"

    def __init__(
        self,
        models: Mapping[Role, RoleConfig],
        *,
        role: Role = "embed",
        tracer: Tracer | None = None,
        cache: ModelCache | None = None,
        batch_size: int = 128,
    ) -> None:
        """Check the role's endpoint settings.

        Args:
            models: endpoint configuration per role (``Settings.models``).
            role: the role to ask.
            tracer: where each request is recorded; ``None`` records nothing.
            cache: where vectors are kept; ``None`` (or the user's ``--no-cache``) keeps
                none.
            batch_size: inputs per request.

        Raises:
            ConfigError: the role has no ``base_url``.
            InputError: ``batch_size`` below 1.
        """
        cfg = models.get(role)
        if cfg is None or not cfg.base_url:
            raise ConfigError(
                f"the {role} role has no base_url.",
                fix=f"set models.{role}.base_url (e.g. http://127.0.0.1:8002/v1).",
            )
        if batch_size < 1:
            raise InputError(f"batch_size must be >= 1; found {batch_size}.")
        self.models = dict(models)
        self.role: Role = role
        self.config = cfg
        self.tracer = tracer
        self.cache = cache
        self.batch_size = batch_size

    def embed(self, inputs: Sequence[str], prompt: PromptRef = EMBED_TEXT) -> NDArray[np.float32]:
        """Embed ``inputs`` (texts, or image data URLs with ``EMBED_IMAGE``), blocking.

        Returns:
            ``(inputs, dims)`` float32 as the server sent them, in the order of ``inputs``;
            ``(0, 0)`` for no inputs (no request is sent).

        Raises:
            ConfigError: the role's api key variable is unset.
            EndpointError: the endpoint fails, or answers vectors of different lengths.
        """
        return _run_sync(self.aembed(inputs, prompt))

    async def aembed(
        self, inputs: Sequence[str], prompt: PromptRef = EMBED_TEXT
    ) -> NDArray[np.float32]:
        """``embed`` for async callers."""
        items = list(inputs)
        if not items:
            return np.zeros((0, 0), np.float32)
        # imported here: the OpenAI client costs ~0.5 s of start-up that only a call needs
        from ethoagent.agent.client import OpenAICompatibleClient

        client = OpenAICompatibleClient(self.models)
        try:
            rows = await self._embed(client, items, prompt)
        finally:
            await client.aclose()
        dims = {len(r) for r in rows}
        if len(dims) != 1:
            raise EndpointError(
                f"embeddings endpoint {self.config.base_url} answered vectors of "
                f"{len(dims)} different lengths ({sorted(dims)}).",
                fix=f"check models.{self.role}.model (the same model must answer every input).",
            )
        return np.asarray(rows, np.float32)

    async def _embed(
        self, client: OpenAICompatibleClient, items: list[str], prompt: PromptRef
    ) -> list[list[float]]:
        role = self.role
        model = client.model_name(role)
        rows: list[list[float] | None] = [None] * len(items)
        keys: list[str] = []
        if self.cache is not None:
            model = model or await client.served_model(role)
            keys = [
                embedding_key(backend=self.backend, model=model, prompt=prompt, item=item)
                for item in items
            ]
            for i, key in enumerate(keys):
                stored = self.cache.get(key)
                vector = stored.get("vector") if stored is not None else None
                if isinstance(vector, list) and vector:
                    rows[i] = [float(v) for v in vector]
            hits = [i for i, r in enumerate(rows) if r is not None]
            if hits and self.tracer is not None:
                first = rows[hits[0]]
                self.tracer.embedding_call(
                    role=role,
                    model=model,
                    backend=self.backend,
                    prompt=prompt,
                    inputs=[items[i] for i in hits],
                    dims=len(first) if first is not None else None,
                    latency_s=0.0,
                    cache_hit=True,
                )
        missing = [i for i, r in enumerate(rows) if r is None]
        for start in range(0, len(missing), self.batch_size):
            batch = missing[start : start + self.batch_size]
            sent = [items[i] for i in batch]
            try:
                answer = await client.embed(role, sent)
            except EthoagentError as exc:
                if self.tracer is not None:
                    self.tracer.embedding_call(
                        role=role,
                        model=model,
                        backend=self.backend,
                        prompt=prompt,
                        inputs=sent,
                        dims=None,
                        error=f"{type(exc).__name__}: {exc}",
                    )
                raise
            if self.tracer is not None:
                self.tracer.embedding_call(
                    role=role,
                    model=answer.model or model,
                    backend=self.backend,
                    prompt=prompt,
                    inputs=sent,
                    dims=len(answer.vectors[0]) if answer.vectors else 0,
                    usage=answer.usage,
                    latency_s=answer.latency_s,
                )
            for i, vector in zip(batch, answer.vectors, strict=True):
                rows[i] = vector
                if self.cache is not None:
                    self.cache.put_data(keys[i], {"vector": vector}, prompt, answer.model or model)
        return [r for r in rows if r is not None]


class EndpointEmbedder:
    """Text embeddings, L2-normalised, from the ``embed`` role's ``/v1/embeddings``."""

    def __init__(
        self,
        config: RoleConfig,
        batch_size: int = 128,
        *,
        tracer: Tracer | None = None,
        cache: ModelCache | None = None,
    ) -> None:
        """Check the endpoint settings.

        Args:
            config: the role's endpoint; ``model`` empty = the first model the server lists.
            batch_size: texts per request.
            tracer: where each request is recorded (the run's trace).
            cache: where vectors are kept (the run's answer cache).
        """
        self.client = EmbeddingClient(
            {"embed": config}, tracer=tracer, cache=cache, batch_size=batch_size
        )
        self.name = f"endpoint:{config.model or config.base_url}"

    def embed(self, texts: Sequence[str]) -> NDArray[np.float32]:
        """``(texts, dims)`` float32 unit rows, in the order of ``texts``.

        Raises:
            EndpointError: the endpoint cannot be reached, rejects the request or answers
                with the wrong number of vectors.
        """
        if len(texts) == 0:
            return np.zeros((0, 1), dtype=np.float32)
        return normalise_rows(self.client.embed(texts, EMBED_TEXT))


class OpenAIEmbeddingEncoder(CountingEncoder):
    """Frame embeddings from the ``embed`` role's OpenAI-compatible ``/embeddings``.

    Each frame travels as a PNG data URL string in ``input``; the server must accept
    images there (e.g. vLLM with a multimodal embedding model). ``dim`` is learned from
    the first answer unless given. Embeddings are returned as served (not normalised).
    """

    def __init__(
        self,
        config: RoleConfig,
        *,
        dim: int | None = None,
        batch_size: int = 16,
        tracer: Tracer | None = None,
        cache: ModelCache | None = None,
    ) -> None:
        """Check the endpoint settings.

        Args:
            config: the role's endpoint.
            dim: the embedding length, if known.
            batch_size: frames per request.
            tracer: where each request is recorded.
            cache: where vectors are kept.

        Raises:
            InputError: the role has no ``base_url``.
        """
        super().__init__()
        if not config.base_url:
            raise InputError(
                "the embed role has no base_url.",
                fix="set models.embed.base_url (e.g. http://127.0.0.1:8000/v1).",
            )
        self.client = EmbeddingClient(
            {"embed": config}, tracer=tracer, cache=cache, batch_size=batch_size
        )
        self._dim = dim or 0
        self._name = f"openai:{config.base_url}:{config.model or 'default'}"

    @property
    def dim(self) -> int:
        """Length of one embedding (asks the endpoint once, with a blank frame, if unknown)."""
        if not self._dim:
            self._dim = int(self.encode(np.zeros((1, 8, 8, 3), np.uint8)).shape[1])
        return self._dim

    def _encode(self, frames: NDArray[np.uint8], previous: NDArray[np.uint8]) -> ArrayLike:
        urls = [Image.from_array(f).data_url() for f in frames]
        out = self.client.embed(urls, EMBED_IMAGE)
        if not self._dim:
            self._dim = int(out.shape[1])
        return out


def make_embedder(
    kind: EmbedderKind = "auto",
    settings: Settings | None = None,
    *,
    tracer: Tracer | None = None,
    cache: ModelCache | None = None,
) -> TextEmbedder:
    """The text embedder of ``kind``.

    ``auto``: the endpoint (online backend with an ``embed`` ``base_url``), else MiniLM
    when installed, else TF-IDF.

    Args:
        kind: which embedder.
        settings: the backend and the ``embed`` role (needed for the endpoint).
        tracer: where endpoint requests are recorded (the run's trace).
        cache: where endpoint vectors are kept (the run's answer cache); unused when
            ``settings.cache_enabled`` is off.

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
        return EndpointEmbedder(
            settings.role("embed"),
            tracer=tracer,
            cache=cache if settings.cache_enabled else None,
        )
    if kind == "minilm" or (kind == "auto" and minilm_available()):
        return MiniLMEmbedder()
    return TfidfEmbedder()


def make_vision_encoder(
    kind: str | None = None,
    *,
    config: RoleConfig | None = None,
    model_dir: str | Path | None = None,
    tracer: Tracer | None = None,
    cache: ModelCache | None = None,
) -> VisionEncoder:
    """The frame encoder named ``kind``, or the default when ``None``.

    Args:
        kind: one of ``ENCODER_KINDS``; ``None`` picks ``"efficientnet-lite0"`` when the
            ``vision`` extra is installed, else ``"classical"`` with a warning.
        config: the ``embed`` role's endpoint, for ``"openai"``.
        model_dir: local model folder, for ``"transformers"``.
        tracer: where ``"openai"`` requests are recorded.
        cache: where ``"openai"`` vectors are kept.

    Raises:
        InputError: an unknown kind, or what the chosen encoder needs is missing.
    """
    if kind is None:
        if efficientnet_lite0_installed():
            return EfficientNetLite0Encoder()
        warnings.warn(
            "EfficientNet-Lite0 is not installed (pip install 'ethoagent[vision]'); "
            "using the classical HOG + optical-flow encoder.",
            stacklevel=2,
        )
        return ClassicalEncoder()
    if kind == "efficientnet-lite0":
        return EfficientNetLite0Encoder()
    if kind == "classical":
        return ClassicalEncoder()
    if kind == "openai":
        if config is None:
            raise InputError(
                "the openai encoder needs the embed role's endpoint settings.",
                fix="pass config=settings.models['embed'].",
            )
        return OpenAIEmbeddingEncoder(config, tracer=tracer, cache=cache)
    if kind == "transformers":
        return TransformersVisionEncoder(model_dir)
    raise InputError(
        f"unknown vision encoder {kind!r}; expected one of {', '.join(ENCODER_KINDS)}.",
        fix="pick one of those names.",
    )
