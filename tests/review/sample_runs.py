"""Small finished offline runs of every reviewable pipeline, on simulated sessions.

The review tests (``conftest.py``, small and fast) and the docs' screenshots
(``benchmarks/review_screens.py``, larger) build their runs here; the size arguments are
what differs between them.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

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
"""The simulator's behaviours as classify's fear-conditioning label set names them."""


def pose_run(tmp: Path, *, frames: int = 30, preset: str = "easy", seed: int = 5) -> Path:
    """A finished offline pose run on a simulated session of 4 views.

    Args:
        tmp: a folder for the session and the run store.
        frames: simulated frames.
        preset: the simulator's preset (easy, paper-like, hard).
        seed: the simulator's seed.

    Returns:
        The run's folder.
    """
    simulate_session(tmp / "pose-sim", preset=preset, frames=frames, views=4, seed=seed)
    sources = pose.PoseSources(session=tmp / "pose-sim")
    result = run_pipeline(pose.PIPELINE, sources, None, Settings(runs_dir=tmp / "runs"))
    return result.run.root


def write_classify_session(tmp: Path, frames: int = 900) -> classify.ClassifySources:
    """Simulated frames of one mouse and an examples file in ``tmp``: classify's sources.

    The examples are the first 10 frames of up to 2 bouts per class (``NAMES``).
    """
    world = simulate_world(frames, seed=3)
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
    for lab in sorted(set(labels)):
        idx = np.flatnonzero(labels == lab)
        for bout in np.split(idx, np.flatnonzero(np.diff(idx) > 1) + 1)[:2]:
            rows += [f"{f},{lab}" for f in bout[:10]]
    (tmp / "examples.csv").write_text("\n".join(rows) + "\n")
    return classify.ClassifySources(
        keypoints=kp, examples=tmp / "examples.csv", classes=sorted(set(labels))
    )


def classify_run(tmp: Path, frames: int = 900) -> Path:
    """A finished offline classify run on ``write_classify_session(tmp, frames)``."""
    sources = write_classify_session(tmp, frames)
    result = run_pipeline(classify.PIPELINE, sources, None, Settings(runs_dir=tmp / "runs"))
    return result.run.root


def segment_run(
    tmp: Path, *, frames: int = 300, animals: int = 1, k: int = 4, fast: bool = True
) -> Path:
    """A finished offline segment run on a simulated session (easy preset, 2 views).

    Args:
        tmp: a folder for the session and the run store.
        frames: simulated frames.
        animals: simulated mice (1-3).
        k: DEC clusters.
        fast: a short DEC fit (2 pretraining epochs, 100 iterations) instead of the
            options' defaults.

    Returns:
        The run's folder.
    """
    sim = tmp / "segment-sim"
    simulate_session(sim, preset="easy", frames=frames, animals=animals, views=2, seed=3)
    sources = segment.SegmentSources(session=sim)
    opts = _segment_options(k, fast)
    result = run_pipeline(segment.PIPELINE, sources, opts, Settings(runs_dir=tmp / "runs"))
    return result.run.root


def _segment_options(k: int, fast: bool) -> segment.SegmentOptions:
    """Segment options with ``k`` clusters, no stability check, a short DEC fit if ``fast``."""
    if fast:
        return segment.SegmentOptions(
            k=k, check_stability=False, dec_pretrain_epochs=2, dec_cluster_iters=100
        )
    return segment.SegmentOptions(k=k, check_stability=False)


def profile_run(
    tmp: Path, *, sessions: int = 4, frames: int = 300, k: int = 4, fast: bool = True
) -> Path:
    """A finished offline profile run of one simulated mouse per session, in 2 groups.

    Args:
        tmp: a folder for the sessions, their table and the run store.
        sessions: sessions (mice); the first half are group ``a``, the rest ``b``.
        frames: simulated frames per session.
        k: DEC clusters of each segment run and vocabulary entries.
        fast: a short DEC fit (2 pretraining epochs, 100 iterations) and 199
            permutations per test instead of the options' defaults.

    Returns:
        The run's folder.
    """
    table = write_profile_cohort(tmp, sessions=sessions, frames=frames, day=1)
    resamples = 199 if fast else profile.ProfileOptions().n_resamples
    opts = profile.ProfileOptions(
        embedder="tfidf", clusters=k, n_resamples=resamples, segment=_segment_options(k, fast)
    )
    sources = profile.ProfileSources(sessions=table)
    result = run_pipeline(profile.PIPELINE, sources, opts, Settings(runs_dir=tmp / "runs"))
    return result.run.root


def write_profile_cohort(
    tmp: Path,
    *,
    sessions: int = 4,
    frames: int = 300,
    seed: int = 40,
    groups: tuple[str, str] = ("a", "b"),
    day: int | None = None,
    folder: str = "",
) -> Path:
    """One simulated mouse per session as netCDF, and ``tmp/sessions.csv`` naming them.

    Args:
        tmp: where the table goes.
        sessions: sessions (mice ``m0``, ``m1``, ...); the first half are ``groups[0]``,
            the rest ``groups[1]``.
        frames: simulated frames per session.
        seed: the first session's simulator seed (the next ones count up).
        groups: the two group names.
        day: a ``day`` column with this value, or None for none.
        folder: the sessions' folder relative to ``tmp`` (``""``: beside the table).

    Returns:
        The table, columns ``session,animal,group[,day]``, paths relative to it.
    """
    lines = ["session,animal,group" + (",day" if day is not None else "")]
    for i in range(sessions):
        w = simulate_world(frames, seed=seed + i)
        data = PoseData(
            points=w.points_3d,
            confidence=np.full(w.points_3d.shape[:3], np.nan),
            keypoints=KEYPOINTS,
            individuals=("mouse",),
            fps=w.fps,
            unit="mm",
        )
        name = f"{folder}/s{i}.nc" if folder else f"s{i}.nc"
        write_keypoints(data, tmp / name, format="netcdf")
        row = f"{name},m{i},{groups[2 * i // sessions]}"
        lines.append(row + (f",{day}" if day is not None else ""))
    (tmp / "sessions.csv").write_text("\n".join(lines) + "\n")
    return tmp / "sessions.csv"
