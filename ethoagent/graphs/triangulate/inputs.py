"""What a triangulate run reads: nothing from disk (it simulates its session).

Its recorded inputs are therefore its options.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from ethoagent.graphs.triangulate.options import TriangulateOptions


class TriangulateSources(BaseModel):
    """The triangulate graph simulates its own session: it reads no files."""

    model_config = ConfigDict(extra="forbid")


class TriangulateInputs(BaseModel):
    """What a triangulate run records in ``run.json``: the session it simulates."""

    model_config = ConfigDict(extra="forbid")

    frames: int
    views: int
    seed: int


def resolve_triangulate(
    sources: TriangulateSources, options: TriangulateOptions
) -> TriangulateInputs:
    """The run's inputs: the simulated session's size and seed."""
    return TriangulateInputs(frames=options.frames, views=options.views, seed=options.seed)


__all__ = ["TriangulateInputs", "TriangulateSources", "resolve_triangulate"]
