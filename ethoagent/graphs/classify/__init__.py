"""Classify: in-context behaviour classification from a few labelled examples per class.

``PIPELINE`` is how every front end runs it (``graphs.kit.run.run_pipeline``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ethoagent.graphs.classify.inputs import ClassifyInputs, ClassifySources, resolve_classify
from ethoagent.graphs.classify.options import ClassifyOptions
from ethoagent.graphs.kit.spec import Pipeline

if TYPE_CHECKING:
    from ethoagent.graphs.kit.runtime import Runtime

OUTPUTS = (
    "frames.csv",
    "windows.csv",
    "ethogram.csv",
    "ethogram_boris.csv",
    "ethogram.nc",
    "ethogram.nwb",
    "time_budget.csv",
    "ethogram.png",
    "time_budget.png",
    "report.md",
    "summary.json",
)
"""The files of a classify run (``outputs/`` of the run, and the OUT folder);
``ethogram.nwb`` only where pynwb is installed."""


async def _execute(rt: Runtime, inputs: ClassifyInputs) -> dict[str, Any]:
    # imported here so that reading the options (``ethoagent --help``) loads no graph
    from ethoagent.graphs.classify.graph import run_classify

    return await run_classify(rt, inputs)


PIPELINE: Pipeline[ClassifySources, ClassifyOptions, ClassifyInputs] = Pipeline(
    name="classify",
    inputs=ClassifySources,
    options=ClassifyOptions,
    resolved=ClassifyInputs,
    resolve=resolve_classify,
    execute=_execute,
    roles=("vlm",),
    outputs=OUTPUTS,
    summary_keys=(
        "frames",
        "windows",
        "model_calls",
        "model_calls_saved",
        "model_calls_per_window",
        "macro_f1",
    ),
)

__all__ = ["OUTPUTS", "PIPELINE", "ClassifyInputs", "ClassifyOptions", "ClassifySources"]
