"""Where the shared real data sets live, and a skip when they are absent.

The data (``../shared/data`` beside the repository or ``$ETHOAGENT_SHARED_DATA``, see its
``MANIFEST.md``) is never copied into the repository; tests that need it skip with a clear
reason where it is absent.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]


def shared_data_dir() -> Path:
    """The shared data folder: ``$ETHOAGENT_SHARED_DATA`` or ``<repo root>/../shared/data``.

    May not exist. The environment variable lets a checkout outside the usual layout (a
    worktree) find the data, as ``ethoagent.evals.datasets`` does.
    """
    env = os.environ.get("ETHOAGENT_SHARED_DATA")
    return Path(env).resolve() if env else (REPO_ROOT.parent / "shared" / "data").resolve()


def require_shared(name: str) -> Path:
    """Path of ``shared/data/<name>``, or skip the calling test if it is absent.

    Args:
        name: a folder (or file) under the shared data folder, e.g.
            ``"dannce_markerless_mouse"`` or ``"sleap_anipose_minimal_session/minimal_session"``.
    """
    path = shared_data_dir() / name
    if not path.exists():
        pytest.skip(f"shared data {name!r} not found at {path} (real-data test skipped)")
    return path
