"""Options of the gate pipeline's four runs: the only copy of their defaults and bounds.

Front ends (``ethoagent gate ...``, the chat) take their defaults from these models and
validate what a user gives through them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = [
    "ARCHITECTURE",
    "DEFAULT_CACHE",
    "ENCODERS",
    "EVAL_BUDGETS",
    "SIZES",
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


SIZES: dict[str, dict[str, Any]] = {
    "cpu": {"d_model": 64, "d_z": 32, "layers": 2, "window": 64, "epochs": 12, "lr": 2e-3},
    "paper": {"d_model": 256, "d_z": 128, "layers": 4, "window": 128, "epochs": 10, "lr": 3e-4},
}
"""Model sizes (``--size``): ``cpu`` (default) trains on 3 minutes of two-mouse keypoints
in under a minute on 2 CPU cores; ``paper`` is the LookAgain paper's model."""

ARCHITECTURE: dict[str, dict[str, Any]] = {
    "cpu": {"social_layers": 1, "aggregator_layers": 1, "rvq_codes": 64},
    "paper": {},
}
"""``LookAgainConfig`` fields a size sets besides the options (paper: the defaults)."""


class _Options(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _ModelSize(_Options):
    """Size of a new model (ignored when one is loaded or resumed).

    A field left out (or None) takes its value from ``SIZES[size]``.

    Attributes:
        size: ``cpu`` (default) or ``paper``: the defaults of the fields below.
        d_model: transformer width (cpu: 64, paper: 256).
        d_z: code size (cpu: 32, paper: 128).
        layers: temporal transformer layers (cpu: 2, paper: 4).
        window: frames per training window (cpu: 64, paper: 128).
        epochs: passes over all windows.
        lr: peak learning rate (cpu: 2e-3, paper: 3e-4).
    """

    size: Literal["cpu", "paper"] = "cpu"
    d_model: int = Field(SIZES["cpu"]["d_model"], ge=4)
    d_z: int = Field(SIZES["cpu"]["d_z"], ge=1)
    layers: int = Field(SIZES["cpu"]["layers"], ge=1)
    window: int = Field(SIZES["cpu"]["window"], ge=2)
    epochs: int = Field(SIZES["cpu"]["epochs"], ge=1)
    lr: float = Field(SIZES["cpu"]["lr"], gt=0.0)

    @model_validator(mode="before")
    @classmethod
    def _sized(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        size = data.get("size") or "cpu"
        given = {k: v for k, v in data.items() if v is not None}
        preset = {k: v for k, v in SIZES.get(size, {}).items() if k in cls.model_fields}
        return {**preset, **given}


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
        holdout: score only the last fraction of the frames (by time); None = every
            frame the model was not trained on (the frames after its label fraction on
            the session it was trained on, every frame of another session).
        budgets: top-k fractions scored when the model has a vision path and a video is
            given (without a video: 0 only).
        embedding_cache: folder of cached crop embeddings.
    """

    holdout: float | None = Field(None, gt=0.0, le=1.0)
    budgets: tuple[Annotated[float, Field(ge=0.0, le=1.0)], ...] = Field(EVAL_BUDGETS, min_length=1)
    embedding_cache: Path = DEFAULT_CACHE
