"""Profile: open-vocabulary behaviour profiles across sessions and group comparisons.

``PIPELINE`` is how every front end runs it (``graphs.kit.run.run_pipeline``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ethoagent.graphs.kit.spec import Pipeline
from ethoagent.graphs.profile.inputs import ProfileInputs, ProfileSources, resolve_profile
from ethoagent.graphs.profile.options import ProfileOptions

if TYPE_CHECKING:
    from ethoagent.graphs.kit.runtime import Runtime

OUTPUTS = ("profiles.csv", "vocabulary.json", "comparisons.csv", "report.md", "summary.json")
"""The files of a profile run whose presence in the OUT folder needs ``overwrite``."""


async def _execute(rt: Runtime, inputs: ProfileInputs) -> dict[str, Any]:
    # imported here so that reading the options (``ethoagent --help``) loads no graph
    from ethoagent.graphs.profile.graph import run_profile

    return await run_profile(rt, inputs)


PIPELINE: Pipeline[ProfileSources, ProfileOptions, ProfileInputs] = Pipeline(
    name="profile",
    inputs=ProfileSources,
    options=ProfileOptions,
    resolved=ProfileInputs,
    resolve=resolve_profile,
    execute=_execute,
    roles=("vlm", "llm"),
    outputs=OUTPUTS,
    summary_keys=("sessions", "profiles", "clusters", "tests", "novel"),
)

__all__ = ["OUTPUTS", "PIPELINE", "ProfileInputs", "ProfileOptions", "ProfileSources"]
