"""Triangulate: the verified 3D stage (checks, hypotheses, RANSAC) on labelled 2D points.

``graph`` holds the stage (pose uses it too); ``session`` the graph that runs it on a
simulated session, which ``PIPELINE`` runs (``graphs.kit.run.run_pipeline``; the demo);
``files`` the graph that triangulates a lab's own 2D predictions with its calibration,
which ``FILES_PIPELINE`` runs (``ethoagent triangulate``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ethoagent.graphs.kit.spec import Pipeline
from ethoagent.graphs.triangulate.files_report import FILES_OUTPUTS
from ethoagent.graphs.triangulate.inputs import (
    TriangulateFilesInputs,
    TriangulateFilesSources,
    TriangulateInputs,
    TriangulateSources,
    resolve_triangulate,
    resolve_triangulate_files,
)
from ethoagent.graphs.triangulate.options import TriangulateFilesOptions, TriangulateOptions

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


async def _execute_files(rt: Runtime, inputs: TriangulateFilesInputs) -> dict[str, Any]:
    from ethoagent.graphs.triangulate.files import run_files

    return await run_files(rt, inputs)


FILES_PIPELINE: Pipeline[
    TriangulateFilesSources, TriangulateFilesOptions, TriangulateFilesInputs
] = Pipeline(
    name="triangulate",
    inputs=TriangulateFilesSources,
    options=TriangulateFilesOptions,
    resolved=TriangulateFilesInputs,
    resolve=resolve_triangulate_files,
    execute=_execute_files,
    roles=(),
    outputs=FILES_OUTPUTS,
    summary_keys=(
        "frames",
        "cameras",
        "dropped_cameras",
        "unit",
        "median_error_px",
        "flagged_points",
        "corrected_points",
    ),
)
"""``ethoagent triangulate``: a lab's own 2D predictions and calibration to 3D points."""

__all__ = [
    "FILES_OUTPUTS",
    "FILES_PIPELINE",
    "OUTPUTS",
    "PIPELINE",
    "TriangulateFilesInputs",
    "TriangulateFilesOptions",
    "TriangulateFilesSources",
    "TriangulateInputs",
    "TriangulateOptions",
    "TriangulateSources",
]
