"""``pose`` without videos: a 2D model's predictions only (DANNCE-style data sets)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np
import pytest

from ethoagent.errors import InputError
from ethoagent.graphs.kit.runtime import offline_runtime
from ethoagent.graphs.pose.graph import GRAPH_NAME, run_pose
from ethoagent.graphs.pose.inputs import PoseSources, resolve_pose
from ethoagent.graphs.pose.options import PoseOptions
from ethoagent.graphs.pose.report import assembled
from ethoagent.sim.body import BodySession, write_body_session


@pytest.fixture(scope="module")
def rat(tmp_path_factory: pytest.TempPathFactory) -> BodySession:
    return write_body_session(tmp_path_factory.mktemp("rat") / "s", frames=12, views=3, seed=1)


def _run(tmp: Path, sources: PoseSources) -> tuple[np.ndarray, list[str], Path]:
    inputs = resolve_pose(sources, PoseOptions(frames=12))
    rt = offline_runtime(tmp / "runs", GRAPH_NAME, "t", inputs.model_dump())
    state = asyncio.run(run_pose(rt, inputs))
    return assembled(rt.run, state["n_chunks"])[0], inputs.warnings, rt.run.outputs_dir


def test_pose_runs_without_videos_and_says_so(rat: BodySession, tmp_path: Path) -> None:
    given = {
        "calibration": rat.calibration,
        "seeds": rat.seeds,
        "candidates": rat.candidates,
        "skeleton": rat.skeleton,
    }
    bare, warnings, outputs = _run(tmp_path / "bare", PoseSources(**given))
    with_videos, _, _ = _run(tmp_path / "videos", PoseSources(videos=rat.videos, **given))
    # offline, the frames never reach a solver: the same points with or without them
    np.testing.assert_allclose(bare, with_videos, equal_nan=True)
    assert np.isfinite(bare).mean() > 0.9
    assert any(w.startswith("no videos:") for w in warnings)
    assert "No videos" in (outputs / "report.md").read_text()
    assert (outputs / "overlay.png").is_file()


def test_pose_without_videos_needs_candidates(rat: BodySession) -> None:
    with pytest.raises(ValueError, match="videos` or `candidates"):
        PoseSources(calibration=rat.calibration, seeds=rat.seeds, skeleton=rat.skeleton)


def test_frames_beyond_the_predictions_are_refused(rat: BodySession) -> None:
    sources = PoseSources(
        calibration=rat.calibration,
        seeds=rat.seeds,
        candidates=rat.candidates,
        skeleton=rat.skeleton,
    )
    with pytest.raises(InputError, match="shortest 2D prediction file has 12 frames"):
        resolve_pose(sources, PoseOptions(frames=40))
