"""One small simulated session, and its pose-graph runs, shared by the graph tests here."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from ethoagent.graphs.kit.runtime import offline_runtime
from ethoagent.graphs.pose.graph import GRAPH_NAME, resolve_inputs, run_pose
from ethoagent.graphs.pose.options import PoseOptions
from ethoagent.sim.simulate import simulate_session

PoseRun = Callable[..., tuple[Path, dict[str, Any]]]
"""``run(run_id, **options)``: the run's root and the graph's final state."""


@pytest.fixture(scope="package")
def easy_session(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An easy 20-frame, 4-view session (seed 5)."""
    out = tmp_path_factory.mktemp("sim")
    simulate_session(out, preset="easy", frames=20, views=4, seed=5)
    return out


@pytest.fixture(scope="package")
def pose_run(easy_session: Path, tmp_path_factory: pytest.TempPathFactory) -> PoseRun:
    """Runs the full pose graph on ``easy_session`` in 10-frame chunks, once per run id."""
    runs = tmp_path_factory.mktemp("runs")
    done: dict[str, tuple[Path, dict[str, Any]]] = {}

    def run(run_id: str, **options: Any) -> tuple[Path, dict[str, Any]]:
        if run_id not in done:
            inputs = resolve_inputs(
                easy_session / "videos",
                easy_session / "calibration.toml",
                easy_session / "ground_truth" / "seeds.csv",
                options=PoseOptions(chunk_frames=10, **options),
            )
            rt = offline_runtime(runs, GRAPH_NAME, run_id, inputs.model_dump())
            state = asyncio.run(run_pose(rt, inputs))
            done[run_id] = (rt.run.root, state)
        return done[run_id]

    return run
