"""Small finished runs to review: simulated pose, classify, segment and profile runs."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from ethoagent.config import Settings
from tests.review import sample_runs
from tests.review.sample_runs import write_classify_session

__all__ = ["fresh_copy", "serving", "write_classify_session"]


@pytest.fixture(scope="session")
def pose_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished offline pose run on 30 simulated frames, 4 views."""
    return sample_runs.pose_run(tmp_path_factory.mktemp("review-pose"), frames=30)


@pytest.fixture(scope="session")
def classify_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished offline classify run on 900 simulated frames of one mouse."""
    return sample_runs.classify_run(tmp_path_factory.mktemp("review-classify"), frames=900)


@pytest.fixture(scope="session")
def segment_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished offline segment run on 300 simulated frames of one mouse (k = 4)."""
    tmp = tmp_path_factory.mktemp("review-segment")
    return sample_runs.segment_run(tmp, frames=300, animals=1, k=4, fast=True)


@pytest.fixture(scope="session")
def profile_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished offline profile run of 4 simulated mice, 300 frames each, 4 entries."""
    tmp = tmp_path_factory.mktemp("review-profile")
    return sample_runs.profile_run(tmp, sessions=4, frames=300, k=4, fast=True)


def fresh_copy(run: Path, dest: Path) -> Path:
    """A copy of ``run`` at ``dest`` without its review folder (no correction yet)."""
    return Path(shutil.copytree(run, dest, ignore=shutil.ignore_patterns("review")))


@contextmanager
def serving(runs: list[Path]) -> Iterator[str]:
    """The review app for ``runs`` on a free loopback port; yields its URL, then stops it."""
    from ethoagent.review.server import serving as serve_in_thread

    with serve_in_thread(runs, Settings(runs_dir=runs[0].parent)) as url:
        yield url
