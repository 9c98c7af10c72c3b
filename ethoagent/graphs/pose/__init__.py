"""Pose: multi-view 3D labels from a few seed frames (BehaviorVLM's pose pipeline).

``PIPELINE`` is how every front end runs it (``graphs.kit.run.run_pipeline``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ethoagent.graphs.kit.spec import Pipeline
from ethoagent.graphs.pose.inputs import PoseInputs, PoseSources, resolve_pose
from ethoagent.graphs.pose.options import PoseOptions

if TYPE_CHECKING:
    from ethoagent.graphs.kit.runtime import Runtime

OUTPUTS = (
    "points_3d.csv",
    "points_3d.nc",
    "points_2d",
    "frames.csv",
    "summary.json",
    "reprojection.png",
    "trajectory.png",
    "overlay.png",
    "report.md",
)
"""The files of a pose run (``outputs/`` of the run, and the --out folder)."""


async def _execute(rt: Runtime, inputs: PoseInputs) -> dict[str, Any]:
    # imported here so that reading the options (``ethoagent --help``) loads no graph
    from ethoagent.graphs.pose.graph import run_pose

    return await run_pose(rt, inputs)


PIPELINE: Pipeline[PoseSources, PoseOptions, PoseInputs] = Pipeline(
    name="pose",
    inputs=PoseSources,
    options=PoseOptions,
    resolved=PoseInputs,
    resolve=resolve_pose,
    execute=_execute,
    roles=("vlm", "llm"),
    outputs=OUTPUTS,
    summary_keys=("frames", "model_calls_per_frame_view"),
)

__all__ = ["OUTPUTS", "PIPELINE", "PoseInputs", "PoseOptions", "PoseSources"]
