"""Batch jobs: one (session, graph) run each, in its own process or as a Ray task.

``ethoagent.batch`` reads a batch file into ``Job``s and runs them through an executor from
here: ``LocalExecutor`` spawns a process per job, so one session's crash ends only its own
job; ``RayExecutor`` runs them as Ray tasks. ``run_job`` is what a job's process does: skip
a finished run, resume an interrupted one from its checkpoints, or start it; a job's
failure becomes its ``JobResult``, never an exception. A job's process imports only the
pipeline it runs (``graphs.kit.registry``).
"""

from __future__ import annotations

import contextlib
import ctypes
import multiprocessing as mp
import os
import queue as queue_mod
import signal
import sys
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal, Protocol

from pydantic import BaseModel

from ethoagent.config import Settings, load_settings
from ethoagent.errors import ConfigError, EthoagentError, InputError, RunWaitingError
from ethoagent.graphs.kit.registry import pipeline

JobStatus = Literal["pending", "resolving", "running", "finished", "failed", "interrupted"]
JobAction = Literal["ran", "resumed", "skipped", "none"]

Report = Callable[[dict[str, Any]], None]
"""Where a job sends its live status: ``{"key", "status"}`` or ``{"key", "stage", "done",
"total"}`` (progress counts are cumulative)."""


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
    skipped = finished_before(job)
    if skipped is not None:
        return skipped
    from ethoagent.graphs.kit.run import run_pipeline
    from ethoagent.runs import Run

    emit = report or (lambda _ev: None)
    pipe = pipeline(job.graph)
    root = Path(job.runs_dir) / job.run_id
    t0 = time.monotonic()
    result = _result(job, "failed")
    try:
        settings = job_settings(job)
        resume: Path | None = None
        if (root / "run.json").is_file():
            Run.open(root).info()  # an unreadable record fails the job here, with its fix
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


def finished_before(job: Job) -> JobResult | None:
    """The job's result if a run of its id finished before (action ``skipped``), else None.

    Reads only the run record, so a batch run again settles its finished jobs without
    starting a process for each; an unreadable record is left to the job to report.
    """
    from ethoagent.runs import Run

    root = Path(job.runs_dir) / job.run_id
    if not (root / "run.json").is_file():
        return None
    try:
        info = Run.open(root).info()
    except EthoagentError:
        return None
    if info.status != "finished":
        return None
    return _result(job, "finished", action="skipped", summary=info.summary)


def job_settings(job: Job) -> Settings:
    """The settings of a job: its config file and overrides, its runs directory."""
    return load_settings(
        Path(job.config) if job.config else None,
        {**job.settings, "runs_dir": Path(job.runs_dir)},
    )


class _Progress:
    """Turns a graph's progress increments into throttled cumulative reports.

    The first one also reports the job ``running`` (its inputs are resolved by then).
    """

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
    """Runs jobs with at most ``concurrency`` at once."""

    def run(self, jobs: Sequence[Job], concurrency: int, on_event: Report) -> list[JobResult]:
        """Run ``jobs``; return their results in the order given.

        ``on_event`` is called from the caller's thread with live reports and
        ``{"key", "result": JobResult}`` as each job ends.

        Raises:
            BatchInterruptedError: Ctrl-C; carries every job's result so far.
        """
        ...


def _local_worker(job_json: str, events: Any, parent: int) -> None:
    """Entry point of a job's process (spawned): run the job, send its result."""
    _die_with_parent(parent)
    job = Job.model_validate_json(job_json)
    result = run_job(job, events.put)
    events.put({"key": job.key, "result": result.model_dump()})


def _die_with_parent(parent: int) -> None:
    """On Linux, have the kernel kill this process when the batch process dies.

    Even by SIGKILL: no orphaned session keeps writing into a run that a later batch
    resumes.
    """
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
        """``grace_s``: seconds an interrupted job gets to stop before it is killed."""
        self.grace_s = grace_s

    def run(self, jobs: Sequence[Job], concurrency: int, on_event: Report) -> list[JobResult]:
        """``Executor.run``: a spawned process per job."""
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
        """End the running jobs' processes (by PID).

        A Ctrl-C at the terminal has already interrupted them (same process group), so wait
        a moment, then interrupt those still running (the batch alone was signalled), then
        kill what lingers.
        """
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
        """``results``: every job's result, in the batch's order."""
        super().__init__("batch interrupted")
        self.results = results


def _lost(job: Job, error: str, status: JobStatus = "failed") -> JobResult:
    return _result(job, status, error=error)


def _result(job: Job, status: JobStatus, **fields: Any) -> JobResult:
    return JobResult(
        key=job.key,
        session=job.session,
        graph=job.graph,
        run_id=job.run_id,
        run_dir=str(Path(job.runs_dir) / job.run_id),
        status=status,
        action=fields.pop("action", "none"),
        **fields,
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
        """See the class's arguments."""
        self.address = address
        self.cpus_per_job = cpus_per_job

    def run(self, jobs: Sequence[Job], concurrency: int, on_event: Report) -> list[JobResult]:
        """``Executor.run``: a Ray task per job.

        Raises:
            ConfigError: Ray is not installed.
        """
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


__all__ = [
    "BatchInterruptedError",
    "Executor",
    "Job",
    "JobAction",
    "JobResult",
    "JobStatus",
    "LocalExecutor",
    "RayExecutor",
    "Report",
    "finished_before",
    "job_settings",
    "make_executor",
    "run_job",
]
