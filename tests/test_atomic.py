"""Atomic writes: whole files or none, deterministic arrays, the user's umask."""

from __future__ import annotations

import os
import stat
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from ethoagent.atomic import atomic_save_npz, atomic_write_text, current_umask


@pytest.fixture
def umask() -> Iterator[None]:
    before = os.umask(0o022)
    yield
    os.umask(before)


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX file modes")
@pytest.mark.parametrize(("mask", "mode"), [(0o022, 0o644), (0o002, 0o664), (0o077, 0o600)])
def test_written_files_follow_the_umask(tmp_path: Path, umask: None, mask: int, mode: int) -> None:
    os.umask(mask)
    assert current_umask() == mask
    text = atomic_write_text(tmp_path / "out" / "report.md", "# report\n")
    arrays = atomic_save_npz(tmp_path / "out" / "a.npz", {"x": np.arange(3)})
    for path in (text, arrays):
        assert stat.S_IMODE(path.stat().st_mode) == mode, path
    assert text.read_text() == "# report\n"
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a.npz", "report.md"]
