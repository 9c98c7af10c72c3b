"""One description of a pipeline (``Pipeline``) and one way to run it (``run_pipeline``).

Every front end (the CLI commands, the chat's actions, ``ethoagent run`` batches, the demo,
profile's per-session segment runs) runs a pipeline through ``run_pipeline``:

1. a fresh run's inputs are resolved first (``Pipeline.resolve`` reads the files once and
   raises ``InputError``), so a bad input leaves no run directory behind; a resumed run
   takes the inputs it recorded;
2. the run is created (or reopened) and marked ``running`` with this process's id, so
   ``ethoagent runs`` can tell a killed run from a live one;
3. the graph runs with the run's checkpointer (``graphs.kit.runtime.execute_run``): a run
   killed half-way resumes where it stopped;
4. its outputs are copied into ``out`` (when given) and the run is marked ``finished`` with
   the pipeline's summary keys in ``run.json`` (``failed``/``interrupted`` on an error).

``--out``, ``--overwrite``, ``--resume`` and ``--run-id`` mean the same on every command
because they all end here.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from ethoagent.atomic import atomic_write_bytes
from ethoagent.config import Settings
from ethoagent.errors import InputError, RunError
from ethoagent.graphs.kit.node_io import read_json
from ethoagent.graphs.kit.runtime import (
    WAITING,
    PersonAnswers,
    ProgressCallback,
    Runtime,
    execute_run,
    execute_sub_run,
)
from ethoagent.graphs.kit.spec import (
    AnyPipeline,
    InputsT,
    OptionsT,
    Pipeline,
    ResolvedT,
    check_out,
)
from ethoagent.runs import Run


@dataclass(frozen=True)
class PipelineResult:
    """A finished run of a pipeline.

    Attributes:
        run: the run (its directory holds the trace, checkpoints and ``outputs/``).
        inputs: the resolved inputs it ran on (``Pipeline.resolved``).
        state: the graph's final state.
        summary: the whole ``outputs/summary.json``.
        files: the output files, in ``out`` when it was given, else in the run.
        out: the folder the outputs were copied into, or ``None``.
        resumed: whether an existing run was continued.
        waiting: the items a paused run waits on a person for (``nodes.ask_person``; the
            run is ``waiting``, ``summary`` and ``files`` are empty), each with ``answered``;
            empty when finished.
    """

    run: Run
    inputs: Any
    state: dict[str, Any]
    summary: dict[str, Any]
    files: list[Path]
    out: Path | None
    resumed: bool
    waiting: list[dict[str, Any]] = field(default_factory=list)

    @property
    def unanswered(self) -> int:
        """How many of the items a paused run waits on have no answer from a person yet."""
        return sum(not w.get("answered") for w in self.waiting)


def run_pipeline(
    spec: Pipeline[InputsT, OptionsT, ResolvedT],
    inputs: InputsT | None,
    options: OptionsT | None,
    settings: Settings,
    *,
    out: Path | None = None,
    resume: str | Path | None = None,
    overwrite: bool = False,
    run_id: str | None = None,
    progress: ProgressCallback | None = None,
    person: PersonAnswers | None = None,
) -> PipelineResult:
    """Run ``spec`` on ``inputs`` (or resume a run of it) and close the run record.

    Args:
        spec: the pipeline.
        inputs: what the user named; ignored when resuming (the run's own are used).
        options: the run's settings (``None``: the defaults); ignored when resuming.
        settings: backend, models and ``runs_dir`` (where the run is created or looked up).
        out: also copy the outputs into this folder; when resuming, ``None`` means the
            folder the run recorded (if any).
        resume: id or path of a run of ``spec`` to continue from its last checkpoint; a
            finished run reruns nothing and copies its outputs again.
        overwrite: replace outputs that ``out`` already holds (resuming into the run's own
            recorded folder needs no ``overwrite``: it may hold part of the run's outputs).
        run_id: name of a new run (default: ``<name>-<UTC time>-<random>``).
        progress: ``(stage, done, total)`` callback, ``done`` an increment.
        person: where a run paused for a person gets the answers it resumes with.

    Returns:
        The finished run, its summary and where its output files are (or, paused for a
        person, the run marked ``waiting`` and the items it waits on).

    Raises:
        InputError: bad inputs or options, or ``out`` holds outputs (nothing was created).
        RunError: ``resume`` is no run of ``spec``, is still running, or ``run_id`` exists.
        EthoagentError: the graph failed; the run is marked ``failed`` with the error.
    """
    run, resolved, out = _open(spec, inputs, options, settings, out, resume, overwrite, run_id)
    state = execute_run(
        run,
        settings,
        lambda rt: spec.execute(rt, resolved),
        roles=spec.roles,
        progress=progress,
        person=person,
    )
    return _close(spec, run, resolved, state, out, resumed=resume is not None)


def run_resolved(
    spec: Pipeline[InputsT, OptionsT, ResolvedT],
    resolved: ResolvedT,
    settings: Settings,
    *,
    run_id: str | None = None,
    progress: ProgressCallback | None = None,
) -> PipelineResult:
    """Run ``spec`` in a new run on inputs already resolved and checked.

    A review's re-run uses it: the recorded inputs of the reviewed run with the person's
    corrections applied (``review.rerun``), so no file is read twice.

    Raises:
        RunError: ``run_id`` exists.
        EthoagentError: the graph failed; the run is marked ``failed`` with the error.
    """
    run = Run.create(
        settings.runs_dir,
        spec.name,
        settings,
        run_id=run_id,
        inputs=resolved.model_dump(mode="json"),
    )
    state = execute_run(
        run, settings, lambda rt: spec.execute(rt, resolved), roles=spec.roles, progress=progress
    )
    return _close(spec, run, resolved, state, None, resumed=False)


async def run_pipeline_in(
    parent: Runtime,
    spec: Pipeline[InputsT, OptionsT, ResolvedT],
    inputs: InputsT,
    options: OptionsT,
    *,
    run_id: str,
) -> PipelineResult:
    """Run ``spec`` as a sub-run of a running graph (profile's per-session segment runs).

    The sub-run is ``run_id`` beside the parent run (created, or resumed where it exists);
    it shares the parent's model client, answer cache and supervisor
    (``graphs.kit.runtime.execute_sub_run``) and is closed as ``run_pipeline`` closes a run.

    Args:
        parent: the runtime of the graph that asks for the sub-run.
        spec: the pipeline of the sub-run.
        inputs: what to run it on (ignored when the sub-run exists and is resumed).
        options: its settings (likewise).
        run_id: the sub-run's id (a stable one lets a rerun reuse it).

    Raises:
        InputError, RunError, EthoagentError: as ``run_pipeline``.
    """
    settings = parent.settings.model_copy(update={"runs_dir": parent.run.root.parent})
    resume = run_id if (settings.runs_dir / run_id / "run.json").is_file() else None
    run, resolved, out = _open(spec, inputs, options, settings, None, resume, False, run_id)
    state = await execute_sub_run(parent, run, lambda rt: spec.execute(rt, resolved))
    return _close(spec, run, resolved, state, out, resumed=resume is not None)


def _open(
    spec: Pipeline[InputsT, OptionsT, ResolvedT],
    inputs: InputsT | None,
    options: OptionsT | None,
    settings: Settings,
    out: Path | None,
    resume: str | Path | None,
    overwrite: bool,
    run_id: str | None,
) -> tuple[Run, ResolvedT, Path | None]:
    """The run to execute, its resolved inputs and output folder.

    A new run's inputs are resolved (and ``out`` checked) before the run is created.
    """
    if resume is not None:
        run = _reopen(spec, resume, settings)
        info = run.info()
        resolved = spec.resolved.model_validate(info.inputs)
        return run, resolved, _resumed_out(info.out, out, spec.outputs, overwrite)
    if inputs is None:
        raise InputError(f"{spec.name} needs its inputs.", fix="name them, or pass --resume RUN.")
    if out is not None:
        check_out(out, spec.outputs, overwrite)
    resolved = spec.resolve(inputs, options if options is not None else spec.options())
    run = Run.create(
        settings.runs_dir,
        spec.name,
        settings,
        run_id=run_id,
        inputs=resolved.model_dump(mode="json"),
        out=out,
    )
    return run, resolved, out


def _close(
    spec: AnyPipeline,
    run: Run,
    resolved: BaseModel,
    state: dict[str, Any],
    out: Path | None,
    *,
    resumed: bool,
) -> PipelineResult:
    """Copy the outputs into ``out`` and mark the run finished with its summary keys.

    A run paused for a person is marked ``waiting`` instead (nothing copied).
    """
    if state.get(WAITING):
        run.update(status="waiting", error=None)
        waiting = list(state[WAITING])
        return PipelineResult(run, resolved, state, {}, [], out, resumed, waiting)
    try:
        files = _copy_outputs(run, state, out)
        summary = finish_run(run, spec.summary_keys)
    except BaseException as exc:
        run.update(status="failed", error=str(exc)[:500] or type(exc).__name__)
        raise
    return PipelineResult(
        run=run,
        inputs=resolved,
        state=state,
        summary=summary,
        files=files,
        out=out,
        resumed=resumed,
    )


def finish_run(run: Run, keys: Sequence[str]) -> dict[str, Any]:
    """Mark ``run`` finished with ``keys`` of its ``outputs/summary.json`` in ``run.json``.

    Returns:
        The whole ``summary.json``.
    """
    summary: dict[str, Any] = read_json(run.outputs_dir / "summary.json")
    run.update(status="finished", summary={k: summary[k] for k in keys if k in summary})
    return summary


def _command(graph: str) -> str:
    """The CLI command that runs a graph name (``gate-predict`` -> ``gate predict``)."""
    return "demo --only triangulate" if graph == "demo" else graph.replace("-", " ")


def _reopen(spec: AnyPipeline, resume: str | Path, settings: Settings) -> Run:
    run = Run.resume(resume, settings.runs_dir)
    info = run.info()
    if info.graph != spec.name:
        raise RunError(
            f"run {run.root} is a {info.graph!r} run, not {spec.name!r}.",
            fix=f"resume it with `ethoagent {_command(info.graph)} --resume {run.run_id}`.",
        )
    if info.status == "running" and info.pid != os.getpid() and not info.process_gone():
        raise RunError(
            f"run {run.root} is still running (process {info.pid} on {info.host}).",
            fix="wait for it to finish, or stop that process first.",
        )
    return run


def _resumed_out(
    stored: str | None, given: Path | None, outputs: Sequence[str], overwrite: bool
) -> Path | None:
    """``given``, else the folder the run recorded.

    Only the recorded folder may already hold outputs without ``overwrite`` (a kill while
    they were being copied leaves part of them there).
    """
    out = given if given is not None else (Path(stored) if stored else None)
    if out is None:
        return None
    own = stored is not None and Path(stored).resolve() == out.resolve()
    check_out(out, outputs, overwrite or own)
    return out


def _copy_outputs(run: Run, state: Mapping[str, Any], out: Path | None) -> list[Path]:
    files = [run.root / rel for rel in state.get("outputs", [])]
    if out is None:
        return files
    copied = []
    for src in files:
        dest = out / src.relative_to(run.outputs_dir)
        atomic_write_bytes(dest, src.read_bytes())
        copied.append(dest)
    return copied


__all__ = ["PipelineResult", "finish_run", "run_pipeline", "run_pipeline_in", "run_resolved"]
