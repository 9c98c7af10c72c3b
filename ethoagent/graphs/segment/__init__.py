"""Segment: features -> DEC -> snippets -> captions -> merged epochs (unsupervised ethogram).

``PIPELINE`` is how every front end runs it (``graphs.kit.run.run_pipeline``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ethoagent.graphs.kit.spec import Pipeline
from ethoagent.graphs.segment.inputs import SegmentInputs, SegmentSources, resolve_segment
from ethoagent.graphs.segment.options import SegmentOptions

if TYPE_CHECKING:
    from ethoagent.graphs.kit.runtime import Runtime

OUTPUTS = (
    "ethogram.csv",
    "clusters.csv",
    "ethogram_boris.csv",
    "ethogram.nc",
    "ethogram.nwb",
    "time_budget.csv",
    "captions.csv",
    "ethogram.png",
    "cluster_usage.png",
    "report.md",
    "summary.json",
)
"""The files of a segment run (``outputs/`` of the run, and the OUT folder);
``ethogram.nwb`` only where pynwb is installed."""


async def _execute(rt: Runtime, inputs: SegmentInputs) -> dict[str, Any]:
    # imported here so that reading the options (``ethoagent --help``) loads no torch
    from ethoagent.graphs.segment.graph import run_segment

    return await run_segment(rt, inputs)


PIPELINE: Pipeline[SegmentSources, SegmentOptions, SegmentInputs] = Pipeline(
    name="segment",
    inputs=SegmentSources,
    options=SegmentOptions,
    resolved=SegmentInputs,
    resolve=resolve_segment,
    execute=_execute,
    roles=("vlm", "llm"),
    outputs=OUTPUTS,
    summary_keys=("frames", "epochs", "model_calls_per_snippet"),
)

__all__ = ["OUTPUTS", "PIPELINE", "SegmentInputs", "SegmentOptions", "SegmentSources"]
