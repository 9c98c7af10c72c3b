"""Small finished runs to review: simulated pose, classify, segment and profile runs."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest

from ethoagent.config import Settings
from ethoagent.graphs import classify, pose, profile, segment
from ethoagent.graphs.kit.run import run_pipeline
from ethoagent.io.keypoints import write_keypoints
from ethoagent.model.pose import PoseData
from ethoagent.sim.behaviour import INDIVIDUAL_BEHAVIOURS
from ethoagent.sim.simulate import simulate_session
from ethoagent.sim.synthetic import KEYPOINTS, simulate_world

NAMES = {"still": "freezing", "walking": "locomotion", "darting": "darting",
         "rearing": "rearing", "grooming": "grooming", "turning": "other"}  # fmt: skip


@pytest.fixture(scope="session")
def pose_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished offline pose run on 30 simulated frames, 4 views."""
    tmp = tmp_path_factory.mktemp("review-pose")
    simulate_session(tmp / "sim", preset="easy", frames=30, views=4, seed=5)
    settings = Settings(runs_dir=tmp / "runs")
    result = run_pipeline(pose.PIPELINE, pose.PoseSources(session=tmp / "sim"), None, settings)
    return result.run.root


def write_classify_session(tmp: Path) -> classify.ClassifySources:
    """900 simulated frames of one mouse and an examples file: classify's sources."""
    world = simulate_world(900, seed=3)
    data = PoseData(
        points=world.points_3d,
        confidence=np.full(world.points_3d.shape[:3], np.nan),
        keypoints=KEYPOINTS,
        individuals=("mouse_0",),
        fps=30.0,
        unit="mm",
    )
    kp = write_keypoints(data, tmp / "session.nc", format="netcdf")
    labels = np.array([NAMES[INDIVIDUAL_BEHAVIOURS[c]] for c in world.behaviour.labels[:, 0]])
    rows = ["frame,label"]
    for lab in sorted(set(labels)):  # the first 10 frames of up to 2 bouts per class
        idx = np.flatnonzero(labels == lab)
        for bout in np.split(idx, np.flatnonzero(np.diff(idx) > 1) + 1)[:2]:
            rows += [f"{f},{lab}" for f in bout[:10]]
    (tmp / "examples.csv").write_text("\n".join(rows) + "\n")
    return classify.ClassifySources(
        keypoints=kp, examples=tmp / "examples.csv", classes=sorted(set(labels))
    )


@pytest.fixture(scope="session")
def classify_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished offline classify run on 900 simulated frames of one mouse."""
    tmp = tmp_path_factory.mktemp("review-classify")
    sources = write_classify_session(tmp)
    result = run_pipeline(classify.PIPELINE, sources, None, Settings(runs_dir=tmp / "runs"))
    return result.run.root


@pytest.fixture(scope="session")
def segment_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished offline segment run on 300 simulated frames of one mouse (k = 4)."""
    tmp = tmp_path_factory.mktemp("review-segment")
    simulate_session(tmp / "sim", preset="easy", frames=300, animals=1, views=2, seed=3)
    opts = segment.SegmentOptions(
        k=4, dec_pretrain_epochs=2, dec_cluster_iters=100, check_stability=False
    )
    sources = segment.SegmentSources(session=tmp / "sim")
    result = run_pipeline(segment.PIPELINE, sources, opts, Settings(runs_dir=tmp / "runs"))
    return result.run.root


@pytest.fixture(scope="session")
def profile_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished offline profile run of 4 simulated mice, 300 frames each, 4 entries."""
    tmp = tmp_path_factory.mktemp("review-profile")
    lines = ["session,animal,group,day"]
    for i in range(4):
        w = simulate_world(300, seed=40 + i)
        data = PoseData(
            points=w.points_3d,
            confidence=np.full(w.points_3d.shape[:3], np.nan),
            keypoints=KEYPOINTS,
            individuals=("mouse",),
            fps=w.fps,
            unit="mm",
        )
        write_keypoints(data, tmp / f"s{i}.nc", format="netcdf")
        lines.append(f"s{i}.nc,m{i},{'ab'[i // 2]},1")
    (tmp / "sessions.csv").write_text("\n".join(lines) + "\n")
    seg = segment.SegmentOptions(
        k=4, dec_pretrain_epochs=2, dec_cluster_iters=100, check_stability=False
    )
    opts = profile.ProfileOptions(embedder="tfidf", clusters=4, n_resamples=199, segment=seg)
    sources = profile.ProfileSources(sessions=tmp / "sessions.csv")
    result = run_pipeline(profile.PIPELINE, sources, opts, Settings(runs_dir=tmp / "runs"))
    return result.run.root


def fresh_copy(run: Path, dest: Path) -> Path:
    """A copy of ``run`` at ``dest`` without its review folder (no correction yet)."""
    return Path(shutil.copytree(run, dest, ignore=shutil.ignore_patterns("review")))


@contextmanager
def serving(runs: list[Path]) -> Iterator[str]:
    """The review app for ``runs`` on a free loopback port; yields its URL, then stops it."""
    from ethoagent.review.server import serving as serve_in_thread

    with serve_in_thread(runs, Settings(runs_dir=runs[0].parent)) as url:
        yield url
