"""Segment: features -> DEC -> snippets -> captions -> merged epochs (unsupervised ethogram).

``PIPELINE`` is how every front end runs it (``graphs.kit.run.run_pipeline``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ethoagent.graphs.kit.spec import Pipeline
from ethoagent.graphs.segment.inputs import SegmentInputs, SegmentSources, resolve_segment
from ethoagent.graphs.segment.options import SegmentOptions

if TYPE_CHECKING:
    from collections.abc import Mapping
    from pathlib import Path

    from ethoagent.graphs.kit.runtime import Runtime
    from ethoagent.tools.features import Features

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


def output_video_features(
    outputs: Path, summary: Mapping[str, Any], options: SegmentOptions
) -> Features:
    """``graphs.segment.video.output_video_features``, imported when first called."""
    from ethoagent.graphs.segment.video import output_video_features as features

    return features(outputs, summary, options)


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

__all__ = [
    "OUTPUTS",
    "PIPELINE",
    "SegmentInputs",
    "SegmentOptions",
    "SegmentSources",
    "output_video_features",
]
