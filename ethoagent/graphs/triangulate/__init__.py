"""Triangulate: the verified 3D stage (checks, hypotheses, RANSAC) on labelled 2D points.

``graph`` holds the stage (pose uses it too); ``session`` the graph that runs it on a
simulated session, which ``PIPELINE`` runs (``graphs.kit.run.run_pipeline``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ethoagent.graphs.kit.spec import Pipeline
from ethoagent.graphs.triangulate.inputs import (
    TriangulateInputs,
    TriangulateSources,
    resolve_triangulate,
)
from ethoagent.graphs.triangulate.options import TriangulateOptions

if TYPE_CHECKING:
    from ethoagent.graphs.kit.runtime import Runtime

OUTPUTS = ("points_3d.csv", "frames.csv", "summary.json", "error_per_frame.png", "report.md")
"""The files of a triangulate run (``outputs/`` of the run, and an output folder)."""


async def _execute(rt: Runtime, inputs: TriangulateInputs) -> dict[str, Any]:
    # imported here so that reading the options (``ethoagent --help``) loads no graph
    from ethoagent.graphs.triangulate.session import run_demo

    return await run_demo(rt, inputs)


PIPELINE: Pipeline[TriangulateSources, TriangulateOptions, TriangulateInputs] = Pipeline(
    name="demo",
    inputs=TriangulateSources,
    options=TriangulateOptions,
    resolved=TriangulateInputs,
    resolve=resolve_triangulate,
    execute=_execute,
    roles=("llm",),
    outputs=OUTPUTS,
    summary_keys=("frames", "mean_error_mm", "naive_dlt_mean_error_mm", "model_calls"),
)

__all__ = ["OUTPUTS", "PIPELINE", "TriangulateInputs", "TriangulateOptions", "TriangulateSources"]
