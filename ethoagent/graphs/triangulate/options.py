"""The settings of a triangulate run: the only copy of their defaults and bounds."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class TriangulateOptions(BaseModel):
    """The simulated session a triangulate run checks itself on.

    Attributes:
        frames: frames to simulate.
        views: calibrated camera views.
        seed: random seed of the simulation and its corruptions.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    frames: int = Field(150, ge=3)
    views: int = Field(6, ge=2, le=16)
    seed: int = 0


__all__ = ["TriangulateOptions"]
