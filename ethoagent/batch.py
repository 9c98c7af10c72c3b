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

import contextlib
import csv
import ctypes
import hashlib
import io
import json
import multiprocessing as mp
import os
import queue as queue_mod
import re
import signal
import sys
import time
import tomllib
import typing
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from ethoagent.atomic import atomic_write_text
from ethoagent.config import Settings, load_settings
from ethoagent.errors import ConfigError, EthoagentError, InputError, RunWaitingError
from ethoagent.graphs.kit.registry import PIPELINES, pipeline

JobStatus = Literal["pending", "resolving", "running", "finished", "failed", "interrupted"]
JobAction = Literal["ran", "resumed", "skipped", "none"]
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,79}$")

Report = Callable[[dict[str, Any]], None]
"""Where a job sends its live status: ``{"key", "status"}`` or ``{"key", "stage", "done",
"total"}`` (progress counts are cumulative)."""


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


class Job(BaseModel):
    """One (session, graph) run, as sent to a worker (JSON-able, so Ray can ship it)."""

    key: str
    session: str
    graph: str
    run_id: str
    runs_dir: str
    config: str | None
    settings: dict[str, Any]
    inputs: dict[str, Any]
    options: dict[str, Any]


class JobResult(BaseModel):
    """What became of one job."""

    key: str
    session: str
    graph: str
    run_id: str
    run_dir: str
    status: JobStatus
    action: JobAction
    seconds: float = 0.0
    error: str | None = None
    summary: dict[str, Any] = {}


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


# --------------------------------------------------------------------------- one job


def run_job(job: Job, report: Report | None = None) -> JobResult:
    """Run, resume or skip one job; never raises for a failure of the job itself.

    A finished run of the job's id is skipped; an unfinished one is resumed from its
    checkpoints with the inputs it recorded; otherwise the inputs are resolved (files read
    and checked) and a new run is created.

    Args:
        job: the job.
        report: receives live status and progress (see ``Report``).

    Returns:
        The job's result; ``status`` is ``finished``, ``failed`` or ``interrupted``.
    """
    from ethoagent.graphs.kit.run import run_pipeline
    from ethoagent.runs import Run

    emit = report or (lambda _ev: None)
    pipe = pipeline(job.graph)
    root = Path(job.runs_dir) / job.run_id
    t0 = time.monotonic()
    result = JobResult(
        key=job.key,
        session=job.session,
        graph=job.graph,
        run_id=job.run_id,
        run_dir=str(root),
        status="failed",
        action="none",
    )
    try:
        settings = job_settings(job)
        resume: Path | None = None
        if (root / "run.json").is_file():
            info = Run.open(root).info()
            if info.status == "finished":
                return result.model_copy(
                    update={"status": "finished", "action": "skipped", "summary": info.summary}
                )
            resume = root
            result.action = "resumed"
            emit({"key": job.key, "status": "running", "action": result.action})
        else:
            emit({"key": job.key, "status": "resolving"})
            result.action = "ran"
        finished = run_pipeline(
            pipe,
            pipe.inputs.model_validate(job.inputs),
            pipe.options.model_validate(job.options),
            settings,
            resume=resume,
            run_id=job.run_id,
            progress=_Progress(job.key, emit, result.action),
        )
        if finished.waiting:  # paused for a person (ask_person): not finished
            root = finished.run.root
            raise RunWaitingError(
                f"run {root} waits for a person on {finished.unanswered} item(s).",
                fix=f"answer them with `ethoagent review {root}`, then "
                f"`ethoagent {job.graph} --resume {root}`.",
            )
        result.summary = finished.run.info().summary
        result.status = "finished"
    except KeyboardInterrupt:
        result.status = "interrupted"
        result.error = "interrupted"
    except EthoagentError as exc:
        result.error = _one_line(str(exc))
    except Exception as exc:  # a bug in one session must not stop the batch
        result.error = _one_line(f"{type(exc).__name__}: {exc}")
    if result.action == "ran" and not (root / "run.json").is_file():
        result.action = "none"  # its inputs were refused before a run existed
    result.seconds = round(time.monotonic() - t0, 3)
    return result


def job_settings(job: Job) -> Settings:
    """The settings of a job: its config file and overrides, its runs directory."""
    return load_settings(
        Path(job.config) if job.config else None,
        {**job.settings, "runs_dir": Path(job.runs_dir)},
    )


class _Progress:
    """Turns a graph's progress increments into throttled cumulative reports; the first
    one also reports the job ``running`` (its inputs are resolved by then)."""

    def __init__(self, key: str, emit: Report, action: str, every_s: float = 0.25) -> None:
        self.key = key
        self.emit = emit
        self.action = action
        self.every_s = every_s
        self.counts: dict[str, int] = {}
        self.last = 0.0

    def __call__(self, stage: str, done: int, total: int) -> None:
        if not self.counts:
            self.emit({"key": self.key, "status": "running", "action": self.action})
        self.counts[stage] = self.counts.get(stage, 0) + done
        now = time.monotonic()
        if now - self.last >= self.every_s or self.counts[stage] >= total:
            self.last = now
            self.emit({"key": self.key, "stage": stage, "done": self.counts[stage], "total": total})


def _one_line(text: str, limit: int = 400) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


# --------------------------------------------------------------------------- executors


class Executor(Protocol):
    """Runs jobs with at most ``concurrency`` at once; calls ``on_event`` from the caller's
    thread with live reports and ``{"key", "result": JobResult}`` as each ends."""

    def run(self, jobs: Sequence[Job], concurrency: int, on_event: Report) -> list[JobResult]: ...


def _local_worker(job_json: str, events: Any, parent: int) -> None:
    """Entry point of a job's process (spawned): run the job, send its result."""
    _die_with_parent(parent)
    job = Job.model_validate_json(job_json)
    result = run_job(job, events.put)
    events.put({"key": job.key, "result": result.model_dump()})


def _die_with_parent(parent: int) -> None:
    """On Linux, have the kernel kill this process when the batch process dies (even by
    SIGKILL), so that no orphaned session keeps writing into a run that a later batch
    resumes."""
    if not sys.platform.startswith("linux"):
        return
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:  # the batch died before the line above
        os._exit(1)


_PR_SET_PDEATHSIG = 1


class LocalExecutor:
    """One spawned process per job, at most ``concurrency`` at a time.

    A process per job isolates sessions completely: a crash (segfault, out of memory)
    ends only its own job, reported as failed with the exit code.
    """

    def __init__(self, grace_s: float = 10.0) -> None:
        self.grace_s = grace_s

    def run(self, jobs: Sequence[Job], concurrency: int, on_event: Report) -> list[JobResult]:
        ctx = mp.get_context("spawn")
        events: Any = ctx.Queue()
        pending = deque(jobs)
        by_key = {j.key: j for j in jobs}
        running: dict[str, Any] = {}
        results: dict[str, JobResult] = {}

        def drain(timeout: float) -> None:
            try:
                ev = events.get(timeout=timeout) if timeout > 0 else events.get_nowait()
            except queue_mod.Empty:
                return
            while True:
                if "result" in ev:
                    results[ev["key"]] = JobResult.model_validate(ev["result"])
                    on_event({"key": ev["key"], "result": results[ev["key"]]})
                else:
                    on_event(ev)
                try:
                    ev = events.get_nowait()
                except queue_mod.Empty:
                    return

        try:
            while pending or running:
                while pending and len(running) < concurrency:
                    job = pending.popleft()
                    proc = ctx.Process(
                        target=_local_worker,
                        args=(job.model_dump_json(), events, os.getpid()),
                        name=f"ethoagent-{job.key}",
                    )
                    proc.start()
                    running[job.key] = proc
                    on_event({"key": job.key, "status": "resolving"})
                drain(0.2)
                for key, proc in list(running.items()):
                    if proc.exitcode is None:
                        continue
                    proc.join()
                    drain(0)
                    del running[key]
                    if key not in results:
                        results[key] = _lost(
                            by_key[key], f"worker exited with code {proc.exitcode}"
                        )
                        on_event({"key": key, "result": results[key]})
        except KeyboardInterrupt:
            self._stop(running)
            drain(0)
            for key in running:
                if key not in results:
                    results[key] = _lost(by_key[key], "interrupted", status="interrupted")
            raise BatchInterruptedError(
                [results.get(j.key) or _lost(j, "not started", "pending") for j in jobs]
            ) from None
        finally:
            events.close()
        return [results[j.key] for j in jobs]

    def _stop(self, running: Mapping[str, Any]) -> None:
        """End the running jobs' processes (by PID): a Ctrl-C at the terminal has already
        interrupted them (same process group), so wait a moment, then interrupt those still
        running (the batch alone was signalled), then kill what lingers."""
        procs = [p for p in running.values() if p.exitcode is None]
        deadline = time.monotonic() + min(2.0, self.grace_s)
        for proc in procs:
            proc.join(max(0.0, deadline - time.monotonic()))
        for proc in procs:
            if proc.exitcode is None and proc.pid is not None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(proc.pid, signal.SIGINT)
        deadline = time.monotonic() + self.grace_s
        for proc in procs:
            proc.join(max(0.0, deadline - time.monotonic()))
            if proc.exitcode is None:
                proc.kill()
                proc.join()


class BatchInterruptedError(Exception):
    """Ctrl-C during a batch; carries every job's result so far (the rest pending)."""

    def __init__(self, results: list[JobResult]) -> None:
        super().__init__("batch interrupted")
        self.results = results


def _lost(job: Job, error: str, status: JobStatus = "failed") -> JobResult:
    return JobResult(
        key=job.key,
        session=job.session,
        graph=job.graph,
        run_id=job.run_id,
        run_dir=str(Path(job.runs_dir) / job.run_id),
        status=status,
        action="none",
        error=error,
    )


def _ray_job(job_json: str, events: Any) -> dict[str, Any]:
    """A job as a Ray task; live reports go through a Ray queue (dropped when it is full)."""

    def report(ev: dict[str, Any]) -> None:
        with contextlib.suppress(Exception):
            events.put_nowait(ev)

    return run_job(Job.model_validate_json(job_json), report).model_dump()


class RayExecutor:
    """Jobs as Ray tasks on an existing cluster (``address``) or a local Ray instance.

    Every node must see the same paths (inputs and runs directory on a shared file
    system) and have ethoagent installed. A Ray session already initialised in this
    process is used as it is.

    Args:
        address: ``ray://host:10001`` or ``host:6379`` of a running cluster; ``None`` starts
            a local instance (or joins one started with ``ray start`` on this machine when
            ``RAY_ADDRESS`` is set).
        cpus_per_job: CPUs Ray reserves per job.
    """

    def __init__(self, address: str | None = None, cpus_per_job: float = 1.0) -> None:
        self.address = address
        self.cpus_per_job = cpus_per_job

    def run(self, jobs: Sequence[Job], concurrency: int, on_event: Report) -> list[JobResult]:
        try:
            import ray
            from ray.util.queue import Empty, Queue
        except ImportError:
            raise ConfigError(
                "--executor ray needs Ray, which is not installed.",
                fix="pip install 'ethoagent[ray]' (or pip install ray).",
            ) from None
        started = False
        if not ray.is_initialized():
            ray.init(address=self.address, include_dashboard=False, log_to_driver=False)
            started = True
        events = Queue(maxsize=10_000, actor_options={"num_cpus": 0})
        task = ray.remote(num_cpus=self.cpus_per_job, max_retries=0)(_ray_job)
        pending = deque(jobs)
        by_key = {j.key: j for j in jobs}
        refs: dict[Any, str] = {}
        results: dict[str, JobResult] = {}

        def drain() -> None:
            with contextlib.suppress(Empty):
                for ev in events.get_nowait_batch(events.qsize()):
                    on_event(ev)

        try:
            while pending or refs:
                while pending and len(refs) < concurrency:
                    job = pending.popleft()
                    refs[task.remote(job.model_dump_json(), events)] = job.key
                    on_event({"key": job.key, "status": "resolving"})
                ready, _ = ray.wait(list(refs), num_returns=1, timeout=0.2)
                drain()
                for ref in ready:
                    key = refs.pop(ref)
                    try:
                        results[key] = JobResult.model_validate(ray.get(ref))
                    except Exception as exc:  # the task died (node lost, worker crash)
                        results[key] = _lost(by_key[key], _one_line(f"ray task failed: {exc}"))
                    on_event({"key": key, "result": results[key]})
        except KeyboardInterrupt:
            for ref, key in refs.items():
                with contextlib.suppress(Exception):
                    ray.cancel(ref)
                results[key] = _lost(by_key[key], "interrupted", status="interrupted")
            raise BatchInterruptedError(
                [results.get(j.key) or _lost(j, "not started", "pending") for j in jobs]
            ) from None
        finally:
            with contextlib.suppress(Exception):
                events.shutdown()
            if started:
                ray.shutdown()
        return [results[j.key] for j in jobs]


def make_executor(name: str, address: str | None = None) -> Executor:
    """``local`` (a process per job) or ``ray``.

    Raises:
        InputError: another name.
    """
    if name == "local":
        if address is not None:
            raise InputError("--address is for --executor ray.", fix="add --executor ray.")
        return LocalExecutor()
    if name == "ray":
        return RayExecutor(address)
    raise InputError(f"unknown executor {name!r}.", fix="use local or ray.")


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

    Raises:
        BatchInterruptedError: Ctrl-C; carries the results so far.
    """
    return executor.run(plan.jobs, concurrency or plan.concurrency, on_event or (lambda _e: None))


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
