"""Process faults: SIGKILL at a random point of a pose and a segment run, then resume; a
full disk while writing.

``tests/test_resume.py`` kills the demo at a fixed chunk; here the kill time is drawn at
random (seeded, within the run's measured duration), on the two real pipelines.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from threadpoolctl import threadpool_limits

from ethoagent.atomic import is_partial_write
from ethoagent.io.ethogram_export import read_ethogram_nwb
from ethoagent.sim.simulate import simulate_session
from tests.reliability.conftest import CliRunner, assert_one_line_error, snapshot

FAST_SEGMENT = ("--k", "4", "--dec-epochs", "2", "--dec-iters", "100")
VOLATILE_SUMMARY_KEYS = ("seconds", "timings")
"""Wall-clock fields of segment's summary.json (and the report's "seconds taken" row): the
only bytes two identical runs may differ in."""


@pytest.fixture(scope="module")
def sim(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("sim") / "sim"
    simulate_session(out, preset="easy", frames=60, animals=1, views=3, seed=8)
    return out


def _cmd(*args: str | Path) -> list[str]:
    return [sys.executable, "-m", "ethoagent.cli.app", *map(str, args)]


def _env() -> dict[str, str]:
    env = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1", "OMP_NUM_THREADS": "1"}
    env.pop("ETHOAGENT_DEBUG", None)
    return env


def _comparable(files: dict[str, bytes]) -> dict[str, Any]:
    """Outputs with the wall-clock fields of segment's summary and report taken out."""
    out: dict[str, Any] = dict(files)
    if "summary.json" in out:
        summary = json.loads(out["summary.json"])
        for key in VOLATILE_SUMMARY_KEYS:
            summary.pop(key, None)
        out["summary.json"] = summary
    if "report.md" in out:
        lines = out["report.md"].decode().splitlines()
        out["report.md"] = [ln for ln in lines if not ln.startswith("| seconds taken |")]
    if "ethogram.nwb" in out:  # NWB stamps its creation time and random object ids
        out["ethogram.nwb"] = _nwb_epochs(out["ethogram.nwb"])
    return out


def _nwb_epochs(data: bytes) -> dict[str, list[Any]]:
    """The epochs an NWB ethogram holds (times in seconds), for comparing two files."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "ethogram.nwb"
        path.write_bytes(data)
        epochs = read_ethogram_nwb(path, fps=1000.0)
    return {k: [e.model_dump() for e in v] for k, v in epochs.items()}


@contextlib.contextmanager
def _one_thread() -> Iterator[None]:
    """Run in-process on one BLAS and torch thread, as the ``OMP_NUM_THREADS=1`` process
    that is killed does, so that every part of the comparison computes alike."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with threadpool_limits(limits=1):
            yield
    finally:
        torch.set_num_threads(threads)


def _kill_at_random_then_resume(
    tmp: Path,
    cli: CliRunner,
    run_args: list[str | Path],
    resume_args: list[str | Path],
    seed: int,
    kill_args: list[str | Path] | None = None,
) -> tuple[Path, Path, float]:
    """A reference run, then the same run (``kill_args``, if its arguments differ, e.g.
    in the output folder) SIGKILLed at a random point and resumed.

    Only the run that is killed needs a process of its own: the reference run and the
    resume run in-process (``cli``), which spares two interpreter start-ups per test.

    Returns the reference and the resumed run directories, and when the kill came (as a
    fraction of the reference run's duration).
    """
    ref_runs, kill_runs = tmp / "ref", tmp / "killed"
    with _one_thread():
        started = time.monotonic()
        ref = cli(*run_args, "--runs-dir", ref_runs, "--run-id", "r")
        duration = time.monotonic() - started
    assert ref.code == 0, ref.stderr

    fraction = random.Random(seed).uniform(0.05, 0.9)
    proc = subprocess.Popen(
        _cmd(*(kill_args or run_args), "--runs-dir", kill_runs, "--run-id", "r"),
        env=_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    while not (kill_runs / "r" / "run.json").exists():
        assert proc.poll() is None, "the run ended before it created its directory"
        time.sleep(0.005)
    time.sleep(fraction * duration)
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=60)

    with _one_thread():
        resumed = cli(*resume_args, "--runs-dir", kill_runs, "--resume", "r")
    assert resumed.code == 0, resumed.stderr
    return ref_runs / "r", kill_runs / "r", fraction


def _no_partial_files(root: Path) -> None:
    partial = [p for p in root.rglob("*") if p.is_file() and is_partial_write(p)]
    assert not partial, partial


@pytest.mark.slow
def test_pose_sigkill_at_a_random_point_then_resume_is_byte_identical(
    sim: Path, tmp_path: Path, cli: CliRunner
) -> None:
    ref, killed, _ = _kill_at_random_then_resume(
        tmp_path,
        cli,
        ["pose", "--session", sim],
        ["pose"],
        seed=int(os.environ.get("SEED", "11")),
    )
    want, got = snapshot(ref / "outputs"), snapshot(killed / "outputs")
    assert sorted(want) == sorted(got)
    for name in want:
        assert want[name] == got[name], f"{name} differs after the resume"
    _no_partial_files(killed)
    assert json.loads((killed / "run.json").read_text())["status"] == "finished"


@pytest.mark.slow
def test_segment_sigkill_at_a_random_point_then_resume_gives_the_same_outputs(
    sim: Path, tmp_path: Path, cli: CliRunner
) -> None:
    ref, killed, _ = _kill_at_random_then_resume(
        tmp_path,
        cli,
        ["segment", sim, tmp_path / "out_ref", *FAST_SEGMENT],
        ["segment"],  # into the run's own folder, even if the kill left part of a copy
        seed=int(os.environ.get("SEED", "12")),
        kill_args=["segment", sim, tmp_path / "out_killed", *FAST_SEGMENT],
    )
    want, got = snapshot(ref / "outputs"), snapshot(killed / "outputs")
    assert sorted(want) == sorted(got)
    assert _comparable(want) == _comparable(got)
    for name in set(want) - {"summary.json", "report.md", "ethogram.nwb"}:
        assert want[name] == got[name], f"{name} differs after the resume"
    assert _comparable(snapshot(tmp_path / "out_killed")) == _comparable(want)
    _no_partial_files(killed)
    _no_partial_files(tmp_path / "out_killed")


# --------------------------------------------------------------------------- full disk


def _fill_disk_after(monkeypatch: pytest.MonkeyPatch, root: Path, writes: int) -> list[str]:
    """Make the ``writes``-th and later fsyncs of files under ``root`` fail with ENOSPC
    (the atomic writer fsyncs every file before renaming it into place)."""
    seen: list[str] = []
    real_fsync = os.fsync

    def fsync(fd: int) -> None:
        try:
            path = str(Path(f"/proc/self/fd/{fd}").readlink())
        except OSError:
            path = ""
        if path.startswith(str(root)):
            seen.append(path)
            if len(seen) >= writes:
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    return seen


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs /proc/self/fd")
@pytest.mark.parametrize("writes", [2, 7])
def test_full_disk_is_one_line_leaves_no_partial_file_and_the_run_resumes(
    cli: CliRunner, sim: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, writes: int
) -> None:
    runs, out = tmp_path / "runs", tmp_path / "out"
    seen = _fill_disk_after(monkeypatch, tmp_path, writes)
    res = cli("segment", sim, out, *FAST_SEGMENT, "--runs-dir", runs, "--run-id", "d")
    assert len(seen) >= writes  # (recording the failure in run.json needs the disk too)
    target = Path(seen[writes - 1]).name.split(".")[1]  # ".<name>.<ext>.<random>.tmp"
    line = assert_one_line_error(res, "disk full while writing", "Fix: free space")
    assert f"{target}." in line, (target, line)  # the first failed write, not a later one
    _no_partial_files(tmp_path)
    for path in (runs / "d").rglob("*.npz"):  # every file that exists is whole
        with np.load(path) as arrays:
            assert arrays.files
    for path in (runs / "d").rglob("*.json"):
        json.loads(path.read_text())
    monkeypatch.undo()  # space freed
    if (runs / "d" / "run.json").exists():
        # "failed" when the disk let the status through, else still "running"
        assert json.loads((runs / "d" / "run.json").read_text())["status"] != "finished"
        again = cli("segment", out, "--resume", "d", "--runs-dir", runs, "--overwrite")
    else:  # the disk filled before the run existed: the same command simply runs again
        again = cli("segment", sim, out, *FAST_SEGMENT, "--runs-dir", runs, "--run-id", "d")
    assert again.code == 0, again.stderr
    assert (out / "ethogram.csv").is_file() and (out / "summary.json").is_file()
    _no_partial_files(tmp_path)


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs /proc/self/fd")
def test_full_disk_while_replacing_outputs_keeps_each_file_old_or_new(
    cli: CliRunner, sim: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    runs, out = tmp_path / "runs", tmp_path / "out"
    first = cli("segment", sim, out, *FAST_SEGMENT, "--runs-dir", runs, "--run-id", "a")
    assert first.code == 0, first.stderr
    old = snapshot(out)
    seen = _fill_disk_after(monkeypatch, out, 3)  # only the copy into OUT fails
    res = cli("segment", sim, out, *FAST_SEGMENT, "--k", "3", "--runs-dir", runs,
              "--run-id", "b", "--overwrite")  # fmt: skip
    assert len(seen) >= 3
    assert_one_line_error(res, "disk full while writing", str(out))
    new = snapshot(runs / "b" / "outputs")
    now = snapshot(out)
    assert sorted(now) == sorted(old)
    for name, data in now.items():
        assert data in (old[name], new[name]), f"{name} is neither the old nor the new file"
    _no_partial_files(out)
