"""Batch runs: many sessions x graphs declared in one TOML file, run with bounded concurrency.

A batch file (``ethoagent run BATCH.toml``)::

    runs_dir = "runs"                 # optional; relative paths are relative to this file
    graphs = ["segment"]              # default graphs of every session
    [settings]                        # settings overrides for every run (ethoagent.toml keys)
    backend = "offline"
    [options.segment]                 # graph options for every session
    k = 8

    [[sessions]]
    name = "mouse1"
    inputs = { keypoints = "data/mouse1.h5", fps = 30 }

    [[sessions]]
    name = "sim0"
    graphs = ["pose", "segment"]
    inputs = { session = "sim/sim0" }
    options.segment = { k = 6 }
    settings = { budget = { max_retries = 1 } }

Every (session, graph) pair is a *job* with a deterministic run id
``<session>-<graph>-<hash of its declaration>``, so running the same file again skips the
jobs whose run finished, resumes the interrupted ones from their checkpoints
(``graphs.runtime.run_graph``) and starts the rest; editing a session's declaration gives
its jobs new runs. Each job runs in its own process (``LocalExecutor``) or as a Ray task
(``RayExecutor``), so one session's failure, even a crash, never stops the others: its error
lands in the summary (``summary.csv``, ``summary.md``).
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
import tomllib
import typing
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from ethoagent.atomic import atomic_write_text
from ethoagent.batch_jobs import (
    BatchInterruptedError,
    Executor,
    Job,
    JobResult,
    LocalExecutor,
    RayExecutor,
    Report,
    finished_before,
    make_executor,
    run_job,
)
from ethoagent.config import load_settings
from ethoagent.errors import ConfigError
from ethoagent.graphs.kit.registry import PIPELINES, pipeline

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,79}$")


class BatchFileError(ConfigError):
    """A batch file is invalid; the message names the file, line and field."""


# --------------------------------------------------------------------------- the file


class SessionSpec(BaseModel):
    """One ``[[sessions]]`` entry.

    Attributes:
        name: the session's name (letters, digits, ``_.-``); part of its run ids.
        graphs: the graphs to run on it (default: the file's ``graphs``).
        inputs: what the graphs read (``session``, ``keypoints``, ``videos``, ...); each graph
            takes the keys it knows.
        options: per graph, options over the file's ``[options.<graph>]``.
        settings: settings over the file's ``[settings]``.
    """

    model_config = ConfigDict(extra="forbid")

    name: str
    graphs: list[str] | None = None
    inputs: dict[str, Any] = {}
    options: dict[str, dict[str, Any]] = {}
    settings: dict[str, Any] = {}

    @field_validator("name")
    @classmethod
    def _valid_name(cls, v: str) -> str:
        if not _NAME.match(v):
            raise ValueError(f"{v!r} is not a valid session name (letters, digits, '_', '-', '.')")
        return v


class BatchSpec(BaseModel):
    """A whole batch file."""

    model_config = ConfigDict(extra="forbid")

    runs_dir: Path | None = None
    config: Path | None = None
    jobs: int = Field(1, ge=1)
    graphs: list[str] = []
    settings: dict[str, Any] = {}
    options: dict[str, dict[str, Any]] = {}
    sessions: list[SessionSpec] = Field(min_length=1)


class BatchPlan(BaseModel):
    """A validated batch file: its jobs in file order and where they run."""

    source: Path
    runs_dir: Path
    jobs: list[Job]
    concurrency: int


def load_batch(path: Path, runs_dir: Path | None = None, config: Path | None = None) -> BatchPlan:
    """Read and check a batch file; nothing runs and no file but the batch file is read.

    Args:
        path: the TOML file.
        runs_dir: where runs go, over the file's ``runs_dir`` and the settings'.
        config: settings file, over the file's ``config``.

    Raises:
        BatchFileError: unreadable TOML, unknown keys or graphs, invalid inputs, options or
            settings; the message names the line and field.
    """
    if not path.is_file():
        raise BatchFileError(f"batch file {path} does not exist.", fix="check the path.")
    text = path.read_text(encoding="utf-8")
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise BatchFileError(f"batch file {path} is not valid TOML: {exc}.") from None
    try:
        spec = BatchSpec.model_validate(raw)
    except ValidationError as exc:
        err = exc.errors()[0]
        raise _located(path, text, tuple(err["loc"]), err["msg"]) from None
    base = path.parent.resolve()
    cfg = config or (_abs(base, spec.config) if spec.config else None)
    rd = runs_dir or (_abs(base, spec.runs_dir) if spec.runs_dir else None)
    names: set[str] = set()
    jobs: list[Job] = []
    for i, session in enumerate(spec.sessions):
        loc: tuple[str | int, ...] = ("sessions", i)
        if session.name in names:
            raise _located(
                path, text, (*loc, "name"), f"session {session.name!r} is declared twice"
            )
        names.add(session.name)
        graphs = session.graphs if session.graphs is not None else spec.graphs
        if not graphs:
            raise _located(
                path, text, (*loc, "graphs"), "no graphs: set `graphs` here or at the top"
            )
        for g in graphs:
            if g not in PIPELINES:
                raise _located(
                    path,
                    text,
                    (*loc, "graphs"),
                    f"unknown graph {g!r} (known: {sorted(PIPELINES)})",
                )
        known = frozenset().union(*(PIPELINES[g].inputs.model_fields for g in graphs))
        for key in session.inputs:
            if key not in known:
                raise _located(
                    path,
                    text,
                    (*loc, "inputs", key),
                    f"unknown input for {', '.join(graphs)} (known: {sorted(known)})",
                )
        for g in session.options:
            if g not in graphs:
                raise _located(path, text, (*loc, "options", g), f"options for a graph ({g!r}) "
                               "this session does not run")  # fmt: skip
        merged_settings = _deep_merge(spec.settings, session.settings)
        try:
            settings = load_settings(cfg, {**merged_settings, "runs_dir": rd})
        except ConfigError as exc:
            raise _located(path, text, (*loc, "settings"), str(exc)) from None
        for g in graphs:
            pipe = PIPELINES[g]
            given = {k: v for k, v in session.inputs.items() if k in pipe.inputs.model_fields}
            absolute = {k: _abs_value(base, pipe.inputs, k, v) for k, v in given.items()}
            try:
                inputs = pipe.inputs.model_validate(absolute)
            except ValidationError as exc:
                err = exc.errors()[0]
                where = (*loc, "inputs", *err["loc"])
                raise _located(path, text, where, f"{g}: {err['msg']}") from None
            opts_raw = _deep_merge(spec.options.get(g, {}), session.options.get(g, {}))
            try:
                options = pipe.options.model_validate(opts_raw)
            except ValidationError as exc:
                err = exc.errors()[0]
                where = (*loc, "options", g, *err["loc"])
                raise _located(path, text, where, err["msg"]) from None
            inputs_json = inputs.model_dump(mode="json", exclude_none=True)
            options_json = options.model_dump(mode="json")
            declared = {
                "graph": g,
                "inputs": inputs_json,
                "options": options_json,
                "settings": merged_settings,
            }
            digest = hashlib.sha256(
                json.dumps(declared, sort_keys=True, default=str).encode()
            ).hexdigest()[:8]
            jobs.append(
                Job(
                    key=f"{session.name}/{g}",
                    session=session.name,
                    graph=g,
                    run_id=f"{session.name}-{g}-{digest}",
                    runs_dir=str(settings.runs_dir.resolve()),
                    config=None if cfg is None else str(cfg),
                    settings=json.loads(json.dumps(merged_settings, default=str)),
                    inputs=inputs_json,
                    options=options_json,
                )
            )
    first_dir = Path(jobs[0].runs_dir)
    return BatchPlan(source=path.resolve(), runs_dir=first_dir, jobs=jobs, concurrency=spec.jobs)


def _abs(base: Path, p: Path) -> Path:
    return p if p.is_absolute() else base / p


def _is_path(model: type[BaseModel], key: str) -> bool:
    field = model.model_fields.get(key)
    if field is None:
        return False
    return field.annotation is Path or Path in typing.get_args(field.annotation)


def _abs_value(base: Path, model: type[BaseModel], key: str, value: Any) -> Any:
    """Make a relative path input absolute (relative to the batch file's folder)."""
    if isinstance(value, str) and _is_path(model, key):
        return str(_abs(base, Path(value).expanduser()))
    return value


def missing_inputs(job: Job) -> list[str]:
    """The job's input paths that do not exist (what ``--check`` reports before a run)."""
    model = pipeline(job.graph).inputs
    return [
        f"{key} {value}"
        for key, value in job.inputs.items()
        if _is_path(model, key) and not Path(value).exists()
    ]


def _deep_merge(base: Mapping[str, Any], top: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in top.items():
        if isinstance(v, Mapping) and isinstance(out.get(k), Mapping):
            out[k] = _deep_merge(out[k], v)
        else:
            out[k] = v
    return out


def _located(path: Path, text: str, loc: tuple[Any, ...], msg: str) -> BatchFileError:
    field = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in loc).lstrip(".")
    line = _line_of(text, loc)
    where = f"{path} line {line}" if line else str(path)
    msg = msg.replace("Value error, ", "").rstrip(".")
    return BatchFileError(f"{where}, {field or 'top level'}: {msg}.")


def _line_of(text: str, loc: tuple[Any, ...]) -> int | None:
    """The (1-based) line of the TOML ``text`` where the field at ``loc`` is written."""
    lines = text.splitlines()
    start, stop = 0, len(lines)
    parts = list(loc)
    if len(parts) >= 2 and parts[0] == "sessions" and isinstance(parts[1], int):
        headers = [i for i, ln in enumerate(lines) if re.match(r"\s*\[\[\s*sessions\s*\]\]", ln)]
        if parts[1] >= len(headers):
            return None
        start = headers[parts[1]]
        stop = headers[parts[1] + 1] if parts[1] + 1 < len(headers) else len(lines)
        parts = parts[2:]
        found: int | None = start
    else:
        found = None
    keys = [str(p) for p in parts if not isinstance(p, int)]
    for key in keys:
        pattern = re.compile(rf"(^|[\s{{,.\[])\"?{re.escape(key)}\"?\s*(=|\]|\.)", re.IGNORECASE)
        for i in range(found if found is not None else start, stop):
            if pattern.search(lines[i]):
                found = i
                break
    return None if found is None else found + 1


# --------------------------------------------------------------------------- summary

SUMMARY_FIELDS = (
    "session",
    "graph",
    "status",
    "action",
    "seconds",
    "run_id",
    "run_dir",
    "error",
    "summary",
)


def summary_rows(results: Sequence[JobResult]) -> list[dict[str, str]]:
    """One row per job for ``summary.csv``: the graph's summary numbers as JSON."""
    rows = []
    for r in results:
        rows.append(
            {
                "session": r.session,
                "graph": r.graph,
                "status": r.status,
                "action": r.action,
                "seconds": f"{r.seconds:.2f}",
                "run_id": r.run_id,
                "run_dir": r.run_dir,
                "error": r.error or "",
                "summary": json.dumps(r.summary, sort_keys=True),
            }
        )
    return rows


def write_summary(results: Sequence[JobResult], out: Path, title: str) -> tuple[Path, Path]:
    """Write ``summary.csv`` and ``summary.md`` into ``out`` (atomically).

    Returns:
        The two paths.
    """
    rows = summary_rows(results)
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=SUMMARY_FIELDS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    csv_path = atomic_write_text(out / "summary.csv", buf.getvalue())
    counts = {s: sum(r.status == s for r in results) for s in ("finished", "failed")}
    other = len(results) - sum(counts.values())
    md = [
        f"# Batch {title}",
        "",
        f"{len(results)} jobs: {counts['finished']} finished, {counts['failed']} failed"
        + (f", {other} interrupted or not started" if other else "")
        + ".",
        "",
        "| session | graph | status | this batch | seconds | run | summary / error |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in results:
        detail = r.error if r.error else ", ".join(f"{k}={v}" for k, v in r.summary.items())
        detail = detail.replace("|", "\\|")
        md.append(
            f"| {r.session} | {r.graph} | {r.status} | {r.action} | {r.seconds:.1f} | "
            f"`{r.run_id}` | {detail} |"
        )
    md_path = atomic_write_text(out / "summary.md", "\n".join(md) + "\n")
    return csv_path, md_path


def run_batch(
    plan: BatchPlan,
    executor: Executor,
    concurrency: int | None = None,
    on_event: Report | None = None,
) -> list[JobResult]:
    """Run every job of ``plan``; return their results in file order.

    Jobs whose run finished before are settled here (``skipped``) and never reach the
    executor: rerunning a batch after a few failures starts processes only for those.

    Raises:
        BatchInterruptedError: Ctrl-C; carries the results so far.
    """
    emit = on_event or (lambda _e: None)
    settled: dict[str, JobResult] = {}
    for job in plan.jobs:
        done = finished_before(job)
        if done is not None:
            settled[job.key] = done
            emit({"key": job.key, "result": done})
    todo = [j for j in plan.jobs if j.key not in settled]
    try:
        ran = executor.run(todo, concurrency or plan.concurrency, emit) if todo else []
    except BatchInterruptedError as exc:
        exc.results = _in_file_order(plan.jobs, settled, exc.results)
        raise
    return _in_file_order(plan.jobs, settled, ran)


def _in_file_order(
    jobs: Sequence[Job], settled: Mapping[str, JobResult], ran: Sequence[JobResult]
) -> list[JobResult]:
    by_key = {**settled, **{r.key: r for r in ran}}
    return [by_key[j.key] for j in jobs]


__all__ = [
    "BatchFileError",
    "BatchInterruptedError",
    "BatchPlan",
    "BatchSpec",
    "Job",
    "JobResult",
    "LocalExecutor",
    "RayExecutor",
    "SessionSpec",
    "load_batch",
    "make_executor",
    "missing_inputs",
    "run_batch",
    "run_job",
    "write_summary",
]
