"""Run store: one directory per run holding everything needed to inspect or resume it.

Layout of ``runs/<run_id>/``::

    run.json              graph name, inputs, status, timestamps
    config.toml           settings snapshot taken when the run was created
    trace.jsonl           the reasoning trace (append-only)
    checkpoints.sqlite    LangGraph checkpointer (resume after a crash)
    artifacts/            arrays (.npz, written atomically) and images referenced by the trace
    outputs/              files users open: CSV, JSON, PNG, report.md

Graph state holds only small things (ids, paths, summaries); arrays go to ``artifacts/``.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import socket
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray
from pydantic import BaseModel, ValidationError

from ethoagent.atomic import (
    atomic_save_npz,
    atomic_write_bytes,
    atomic_write_text,
    remove_partial_writes,
)
from ethoagent.config import Settings
from ethoagent.errors import RunError

RunStatus = Literal["created", "running", "waiting", "finished", "failed", "interrupted"]
_RUN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")


class RunInfo(BaseModel):
    """The small JSON record of a run (``run.json``)."""

    run_id: str
    graph: str
    created: str
    updated: str
    status: RunStatus = "created"
    inputs: dict[str, Any] = {}
    error: str | None = None
    summary: dict[str, Any] = {}
    out: str | None = None
    pid: int | None = None
    host: str | None = None

    def process_gone(self) -> bool:
        """Whether the run says ``running`` but the process running it (on this host) ended.

        A killed process cannot close its run record; this tells such a run from a live
        one. A run started on another host is never judged (its process is not visible).
        """
        if self.status != "running" or self.pid is None or self.host != socket.gethostname():
            return False
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return True
        except PermissionError:  # alive, owned by another user
            return False
        return False


def new_run_id(graph: str) -> str:
    """A sortable, unique id: ``<graph>-<UTC time>-<random>``."""
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    return f"{graph}-{stamp}-{secrets.token_hex(3)}"


class Run:
    """A run directory. Create with ``Run.create``; reopen with ``Run.open``."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.run_id = root.name

    def __repr__(self) -> str:
        return f"Run({self.root})"

    @classmethod
    def create(
        cls,
        runs_dir: Path,
        graph: str,
        settings: Settings,
        *,
        run_id: str | None = None,
        inputs: dict[str, Any] | None = None,
        out: Path | None = None,
    ) -> Run:
        """Create ``runs_dir/<run_id>/`` with its config snapshot and ``run.json``.

        Args:
            runs_dir: the folder holding the runs.
            graph: the pipeline's name.
            settings: the settings, snapshotted into ``config.toml``.
            run_id: the run's name (default: ``<graph>-<UTC time>-<random>``).
            inputs: the run's resolved inputs, kept in ``run.json`` for a resume.
            out: the folder the run's outputs are also copied into, recorded for a resume.

        Raises:
            RunError: the id is invalid or a run with that id already exists.
        """
        rid = run_id or new_run_id(graph)
        if not _RUN_ID.match(rid):
            raise RunError(f"invalid run id {rid!r}: use letters, digits, '_', '-', '.'.")
        root = Path(runs_dir) / rid
        if (root / "run.json").exists():
            raise RunError(
                f"run {root} already exists.", fix="use --resume to continue it or pick a new id."
            )
        run = cls(root)
        run.artifacts_dir.mkdir(parents=True, exist_ok=True)
        run.outputs_dir.mkdir(parents=True, exist_ok=True)
        atomic_write_text(root / "config.toml", settings.to_toml())
        now = _now()
        run._write_info(
            RunInfo(
                run_id=rid,
                graph=graph,
                created=now,
                updated=now,
                inputs=inputs or {},
                out=None if out is None else str(out),
            )
        )
        return run

    @classmethod
    def open(cls, path_or_id: str | Path, runs_dir: Path | None = None) -> Run:
        """Open an existing run by path or by id under ``runs_dir``.

        Raises:
            RunError: no run there.
        """
        candidate = Path(path_or_id)
        if not (candidate / "run.json").is_file() and runs_dir is not None:
            candidate = Path(runs_dir) / str(path_or_id)
        if not (candidate / "run.json").is_file():
            where = f" (looked in {runs_dir})" if runs_dir else ""
            raise RunError(
                f"no run at {path_or_id}{where}.", fix="`ethoagent runs` lists the runs."
            )
        return cls(candidate)

    @classmethod
    def resume(cls, path_or_id: str | Path, runs_dir: Path | None = None) -> Run:
        """Open an existing run to continue it, first removing what a kill left half-written.

        A run killed during an atomic write leaves a hidden temp file beside the target (the
        target itself is intact); resuming would otherwise carry it into the outputs.

        Raises:
            RunError: no run there.
        """
        run = cls.open(path_or_id, runs_dir)
        remove_partial_writes(run.root)
        return run

    # paths -------------------------------------------------------------------------------
    @property
    def trace_path(self) -> Path:
        return self.root / "trace.jsonl"

    @property
    def checkpoints_path(self) -> Path:
        return self.root / "checkpoints.sqlite"

    @property
    def artifacts_dir(self) -> Path:
        return self.root / "artifacts"

    @property
    def images_dir(self) -> Path:
        return self.artifacts_dir / "images"

    @property
    def outputs_dir(self) -> Path:
        return self.root / "outputs"

    @property
    def config_path(self) -> Path:
        return self.root / "config.toml"

    # info --------------------------------------------------------------------------------
    def info(self) -> RunInfo:
        try:
            return RunInfo.model_validate_json((self.root / "run.json").read_text())
        except (OSError, ValueError) as exc:
            reason = str(exc).strip().splitlines()
            if isinstance(exc, ValidationError):
                reason = [e["msg"] for e in exc.errors()[:1]]
            raise RunError(
                f"run record {self.root / 'run.json'} is unreadable: "
                f"{reason[0] if reason else type(exc).__name__}.",
                fix="it was damaged outside ethoagent (which writes it atomically); start a "
                "new run.",
            ) from exc

    def _write_info(self, info: RunInfo) -> None:
        atomic_write_text(self.root / "run.json", info.model_dump_json(indent=2) + "\n")

    def update(self, **fields: Any) -> RunInfo:
        """Update fields of ``run.json`` (status, summary, error) atomically."""
        info = self.info().model_copy(update={**fields, "updated": _now()})
        self._write_info(info)
        return info

    def mark_running(self) -> RunInfo:
        """Mark the run ``running`` in this process (its pid and host go into ``run.json``)."""
        return self.update(status="running", error=None, pid=os.getpid(), host=socket.gethostname())

    # artifacts ---------------------------------------------------------------------------
    def save_arrays(self, name: str, **arrays: NDArray[Any]) -> Path:
        """Save arrays as ``artifacts/<name>.npz`` (atomic, deterministic bytes)."""
        return atomic_save_npz(self.artifacts_dir / f"{name}.npz", arrays)

    def load_arrays(self, name: str) -> dict[str, NDArray[Any]]:
        """Load ``artifacts/<name>.npz``.

        Raises:
            RunError: the artifact does not exist.
        """
        path = self.artifacts_dir / f"{name}.npz"
        if not path.is_file():
            raise RunError(f"artifact {path} does not exist; the stage that writes it has not run.")
        with np.load(path, allow_pickle=False) as data:
            return {k: data[k] for k in data.files}

    def has_artifact(self, name: str) -> bool:
        return (self.artifacts_dir / f"{name}.npz").is_file()

    def write_output(self, relpath: str, content: str | bytes) -> Path:
        """Write ``outputs/<relpath>`` atomically."""
        data = content.encode("utf-8") if isinstance(content, str) else content
        return atomic_write_bytes(self.outputs_dir / relpath, data)

    def write_json_output(self, relpath: str, value: Any) -> Path:
        return self.write_output(relpath, json.dumps(value, indent=2, sort_keys=True) + "\n")


def list_runs(runs_dir: Path) -> list[RunInfo]:
    """All runs under ``runs_dir``, newest first (unreadable ones skipped).

    A run recorded as ``running`` whose process has ended (killed before it could close
    its record) is listed as ``interrupted``; ``run.json`` itself is left as it is.
    """
    infos = []
    if not Path(runs_dir).is_dir():
        return []
    for child in Path(runs_dir).iterdir():
        if (child / "run.json").is_file():
            try:
                info = Run(child).info()
            except RunError:
                continue
            if info.process_gone():
                info = info.model_copy(
                    update={
                        "status": "interrupted",
                        "error": f"process {info.pid} ended without closing the run",
                    }
                )
            infos.append(info)
    return sorted(infos, key=lambda i: i.created, reverse=True)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")
