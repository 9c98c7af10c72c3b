"""Run store: layout, atomic deterministic artifacts, listing and clear errors."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import numpy as np
import pytest

from ethoagent.atomic import DiskWriteError, atomic_write_text, npz_bytes
from ethoagent.config import load_settings
from ethoagent.errors import RunError
from ethoagent.runs import Run, list_runs


def test_create_writes_layout_and_snapshot(tmp_path: Path) -> None:
    run = Run.create(
        tmp_path, "demo", load_settings(None, {"seed": 9}), run_id="a", inputs={"x": 1}
    )
    assert (run.root / "config.toml").read_text().count("seed = 9") == 1
    assert run.artifacts_dir.is_dir() and run.outputs_dir.is_dir()
    info = run.info()
    assert (info.run_id, info.graph, info.status, info.inputs) == ("a", "demo", "created", {"x": 1})
    run.update(status="finished", summary={"frames": 3})
    assert Run.open("a", tmp_path).info().summary == {"frames": 3}


def test_duplicate_and_invalid_ids_are_refused(tmp_path: Path) -> None:
    settings = load_settings()
    Run.create(tmp_path, "demo", settings, run_id="a")
    with pytest.raises(RunError, match="already exists"):
        Run.create(tmp_path, "demo", settings, run_id="a")
    with pytest.raises(RunError, match="invalid run id"):
        Run.create(tmp_path, "demo", settings, run_id="../escape")
    with pytest.raises(RunError, match="no run at"):
        Run.open("missing", tmp_path)


def test_arrays_round_trip_with_identical_bytes(tmp_path: Path) -> None:
    run = Run.create(tmp_path, "demo", load_settings(), run_id="a")
    x = np.arange(12.0).reshape(3, 4)
    x[1, 2] = np.nan
    path = run.save_arrays("points", x=x, ok=np.array([True, False]))
    first = path.read_bytes()
    run.save_arrays("points", x=x, ok=np.array([True, False]))
    assert path.read_bytes() == first == npz_bytes({"x": x, "ok": np.array([True, False])})
    back = run.load_arrays("points")
    np.testing.assert_array_equal(back["x"], x)
    with pytest.raises(RunError, match="has not run"):
        run.load_arrays("nothing")


def test_disk_full_keeps_the_old_file_and_no_temp_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "out.txt"
    atomic_write_text(target, "old")

    def full(_fd: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(DiskWriteError, match=r"disk full while writing .*out\.txt"):
        atomic_write_text(target, "new")
    assert target.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.txt"]


def test_list_runs_newest_first(tmp_path: Path) -> None:
    settings = load_settings()
    for rid in ("a", "b"):
        Run.create(tmp_path, "demo", settings, run_id=rid)
    (tmp_path / "junk").mkdir()
    assert {i.run_id for i in list_runs(tmp_path)} == {"a", "b"}
    assert list_runs(tmp_path / "none") == []


def test_resume_removes_what_a_kill_left_half_written(tmp_path: Path) -> None:
    run = Run.create(tmp_path, "demo", load_settings(), run_id="a")
    run.write_output("stages/s0.json", "{}")
    # what a SIGKILL between mkstemp and rename leaves behind
    orphan = run.outputs_dir / "stages" / ".s1.json.k2j3h4.tmp"
    orphan.write_text("{half")
    keep = run.outputs_dir / ".hidden.tmp"  # not an atomic temp name: left alone
    keep.write_text("user file")
    resumed = Run.resume("a", tmp_path)
    assert not orphan.exists()
    assert keep.exists() and (resumed.outputs_dir / "stages" / "s0.json").read_text() == "{}"
