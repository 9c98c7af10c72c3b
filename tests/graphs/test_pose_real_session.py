"""The pose graph on the real sleap-anipose session, laid out as its lab keeps it."""

from __future__ import annotations

import asyncio
from pathlib import Path

import h5py
import numpy as np

from ethoagent.graphs.kit.runtime import offline_runtime
from ethoagent.graphs.pose.graph import GRAPH_NAME, run_pose
from ethoagent.graphs.pose.inputs import PoseSources, resolve_pose
from ethoagent.graphs.pose.options import PoseOptions
from ethoagent.graphs.pose.report import assembled
from tests.data_paths import require_shared

FRAMES = 12


def test_pose_runs_on_the_sleap_anipose_session(tmp_path: Path) -> None:
    session = require_shared("sleap_anipose_minimal_session/minimal_session")
    sources = PoseSources(
        videos=session,
        calibration=session / "calibration.toml",
        seeds=session,
        seed_frames=[0, 6, 11],
        candidates=session,
        skeleton=session / "top" / "minimal_top_proofread.slp",
    )
    inputs = resolve_pose(sources, PoseOptions(frames=FRAMES))
    # 'side' shares every parameter with 'top' and its labels do not fit them
    assert inputs.cameras == ["back", "mid", "top"]
    assert any("'side'" in w and "left out" in w for w in inputs.warnings)
    assert [Path(v).parent.name for v in inputs.videos] == ["back", "mid", "top"]
    assert inputs.candidates is not None
    assert all(c.endswith(".analysis.h5") for c in inputs.candidates)
    assert inputs.seed_frames == [0, 6, 11]
    assert inputs.options.reprojection_px > PoseOptions().reprojection_px  # from the seeds
    assert len(inputs.skeleton.keypoints) == 15

    rt = offline_runtime(tmp_path, GRAPH_NAME, "real", inputs.model_dump())
    state = asyncio.run(run_pose(rt, inputs))
    points, _ = assembled(rt.run, state["n_chunks"])
    assert points.shape == (FRAMES, 15, 3)
    with h5py.File(session / "points3d.h5") as fh:
        reference = np.asarray(fh["tracks"][:FRAMES, 0], dtype=np.float64)
    order = [
        n.decode() if isinstance(n, bytes) else str(n)
        for n in h5py.File(session / "top" / "minimal_top_proofread.analysis.h5")["node_names"]
    ]
    ref = reference[:, [order.index(k) for k in inputs.skeleton.keypoints]]
    err = np.linalg.norm(points - ref, axis=-1)
    # the proofread labels as candidates: the graph reads them back (the reference is
    # sleap-anipose's triangulation through all four cameras, 'side' included)
    assert np.isfinite(err).mean() > 0.9
    assert np.nanmedian(err) < 10.0


def test_pose_command_on_the_session_as_laid_out(tmp_path: Path) -> None:
    from tests.test_cli import cli

    session = require_shared("sleap_anipose_minimal_session/minimal_session")
    common: list[str | Path] = [
        "pose",
        "--videos",
        session,
        "--calibration",
        session / "calibration.toml",
        "--seeds",
        session,
        "--skeleton",
        session / "top" / "minimal_top_proofread.slp",
        "--candidates",
        session,
        "--frames",
        "6",
        "--runs-dir",
        tmp_path,
    ]
    done = cli(*common, "--seed-frames", "0,3,5", "--out", tmp_path / "out")
    assert done.returncode == 0, done.stdout + done.stderr
    header = (tmp_path / "out" / "points_3d.csv").read_text().splitlines()[0]
    assert "TailTip_x" in header and "Haunch_left_error" in header  # SLEAP's node names
    assert "'side'" in done.stdout  # named as the camera left out
    bad = cli(*common, "--seed-frames", "zero")
    assert bad.returncode != 0 and "--seed-frames 'zero'" in bad.stdout + bad.stderr
    unlabelled = cli(*common, "--seed-frames", "0,500")
    assert unlabelled.returncode != 0
    assert "seed frames [500] are not labelled" in unlabelled.stdout + unlabelled.stderr
