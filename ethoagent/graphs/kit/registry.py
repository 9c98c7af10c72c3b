"""The pipelines ``ethoagent run`` (a batch, or any scripted caller) can run, by name.

Each pipeline's package exports its ``PIPELINE`` (``graphs.kit.spec.Pipeline``); a new
pipeline becomes available to batches by adding one line to ``PIPELINES``.
"""

from __future__ import annotations

from ethoagent.errors import InputError
from ethoagent.graphs import classify, gate, pose, profile, segment, triangulate
from ethoagent.graphs.kit.spec import AnyPipeline

PIPELINES: dict[str, AnyPipeline] = {
    p.name: p
    for p in (
        triangulate.PIPELINE,
        triangulate.FILES_PIPELINE,
        pose.PIPELINE,
        segment.PIPELINE,
        classify.PIPELINE,
        profile.PIPELINE,
        gate.GATE_PREDICT,
    )
}
"""The pipelines ``ethoagent run`` knows, by name (``Pipeline.name``)."""


def pipeline(name: str) -> AnyPipeline:
    """The pipeline called ``name``.

    Raises:
        InputError: no such pipeline.
    """
    try:
        return PIPELINES[name]
    except KeyError:
        raise InputError(
            f"unknown graph {name!r}.", fix=f"use one of {', '.join(sorted(PIPELINES))}."
        ) from None


__all__ = ["PIPELINES", "pipeline"]
