"""Options of the gate pipeline's four runs: the only copy of their defaults and bounds.

Front ends (``ethoagent gate ...``, the chat) take their defaults from these models and
validate what a user gives through them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "DEFAULT_CACHE",
    "ENCODERS",
    "EVAL_BUDGETS",
    "EvalOptions",
    "PredictOptions",
    "PretrainOptions",
    "TrainOptions",
]

DEFAULT_CACHE = Path(".cache/ethoagent-embeddings")
"""Folder of cached crop embeddings, relative to the working directory."""

ENCODERS = {
    "efficientnet": "efficientnet-lite0",
    "efficientnet-lite0": "efficientnet-lite0",
    "classical": "classical",
    "openai": "openai",
    "transformers": "transformers",
}
"""``--vision-encoder`` names -> ``agent.embed.make_vision_encoder`` names."""

EVAL_BUDGETS: tuple[float, ...] = (0.0, 0.25, 0.5, 1.0)
"""Top-k fractions a vision model is scored at by ``gate eval`` with a video."""


class _Options(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _ModelSize(_Options):
    """Size of a new model (ignored when one is loaded or resumed).

    Attributes:
        d_model: transformer width (paper: 256).
        d_z: code size (paper: 128).
        layers: temporal transformer layers (paper: 4).
        window: frames per training window.
        epochs: passes over all windows.
    """

    d_model: int = Field(256, ge=4)
    d_z: int = Field(128, ge=1)
    layers: int = Field(4, ge=1)
    window: int = Field(128, ge=2)
    epochs: int = Field(10, ge=1)


class PretrainOptions(_ModelSize):
    """Options of ``gate pretrain`` (masked motion modelling, no labels)."""


class TrainOptions(_ModelSize):
    """Options of ``gate train``.

    Attributes:
        label_fraction: train on the labels of the first fraction of frames only (> 0).
        vision_encoder: with a video: efficientnet, classical, openai or transformers;
            None = EfficientNet-Lite0 when installed, else classical (with a warning).
        crop_px: side of the animal-centred crops given to the encoder, pixels.
        top_k: with a video, fraction of each window's frames the gate picks in training.
        embedding_cache: folder of cached crop embeddings (reused by reruns).
    """

    label_fraction: float = Field(1.0, ge=0.0, le=1.0)
    vision_encoder: str | None = None
    crop_px: int = Field(224, ge=32)
    top_k: float = Field(0.25, ge=0.01, le=1.0)
    embedding_cache: Path = DEFAULT_CACHE


class PredictOptions(_Options):
    """Options of ``gate predict``.

    Attributes:
        top_k: fraction of each window's frames to look at; None = the training one,
            0 = keypoints only.
        embedding_cache: folder of cached crop embeddings.
    """

    top_k: float | None = Field(None, ge=0.0, le=1.0)
    embedding_cache: Path = DEFAULT_CACHE


class EvalOptions(_Options):
    """Options of ``gate eval``.

    Attributes:
        budgets: top-k fractions scored when the model has a vision path and a video is
            given (without a video: 0 only).
        embedding_cache: folder of cached crop embeddings.
    """

    budgets: tuple[Annotated[float, Field(ge=0.0, le=1.0)], ...] = Field(EVAL_BUDGETS, min_length=1)
    embedding_cache: Path = DEFAULT_CACHE
