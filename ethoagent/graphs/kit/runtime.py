"""What a running graph needs besides its state: the run store, model client, trace, supervisor.

``open_runtime`` wires the configured backend (offline, or an OpenAI-compatible server)
behind the answer cache and the trace; ``run_graph`` compiles a pipeline's ``StateGraph``
with the run's SQLite checkpointer and either starts it or resumes it from its last
checkpoint (a run killed half-way continues where it stopped and gives the same outputs).

A graph that pauses for a person (``nodes.ask_person``) ends ``run_graph`` with the pending
items in ``RUN/review/pending.json`` and ``__interrupt__`` in the returned state (the run is
then ``waiting``); resuming it gives the person's answers (``Runtime.person``) to the
paused node as ``Command(resume=answers)`` and runs only what is left.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver
from langgraph.graph import StateGraph
from langgraph.types import Command

from ethoagent.agent.cache import CachedClient, ModelCache
from ethoagent.agent.offline import OfflineClient
from ethoagent.agent.trace import TracedClient, Tracer
from ethoagent.agent.types import ModelClient, Role
from ethoagent.atomic import atomic_write_bytes
from ethoagent.config import Settings, load_settings
from ethoagent.errors import EthoagentError, RunCancelledError
from ethoagent.graphs.kit.nodes import ModelSupervisor, PolicySupervisor, Supervisor
from ethoagent.runs import Run

ResultT = TypeVar("ResultT")

ProgressCallback = Callable[[str, int, int], None]
"""``(stage, done, total)``: called as items finish, for progress bars."""

PersonAnswers = Callable[[Run, list[dict[str, Any]]], dict[str, Any]]
"""``(run, pending items) -> {item id: answer}``: a person's answers to a paused run."""

PENDING_FILE = "review/pending.json"
"""The items a paused run waits on, relative to the run directory."""

WAITING = "__interrupt__"
"""The key of a graph's returned state that says it paused for a person."""


@dataclass
class Runtime:
    """Everything a graph's nodes use besides their state."""

    run: Run
    settings: Settings
    client: ModelClient
    tracer: Tracer
    supervisor: Supervisor
    cache: ModelCache | None = None
    progress: ProgressCallback | None = None
    person: PersonAnswers | None = None
    extras: dict[str, Any] = field(default_factory=dict)

    def report_progress(self, stage: str, done: int, total: int) -> None:
        if self.progress is not None:
            self.progress(stage, done, total)

    def tool(self, name: str, fn: Callable[..., ResultT], /, *args: Any, **kwargs: Any) -> ResultT:
        """Call a pure tool outside a stage and record it in the trace.

        ``kwargs`` are recorded as its arguments; inside a stage, ``StageContext.tool``.
        """
        with self.tracer.timed_tool(name, kwargs) as timing:
            result = fn(*args, **kwargs)
            timing.result = result
        return result


def make_model_client(settings: Settings) -> tuple[ModelClient, ModelCache | None]:
    """The configured backend, behind the answer cache when it is an online one."""
    if settings.backend == "offline":
        return OfflineClient(), None
    from ethoagent.agent.client import OpenAICompatibleClient

    online = OpenAICompatibleClient(settings.models)
    cache = ModelCache(settings.resolved_cache_path())
    return CachedClient(online, cache, enabled=settings.cache_enabled), cache


def make_supervisor(settings: Settings) -> Supervisor:
    """The ``llm`` role as supervisor when online and able to call tools, else the policy."""
    llm = settings.role("llm")
    if settings.backend == "offline" or not llm.capabilities.tool_calls:
        return PolicySupervisor()
    # llama.cpp's server cannot force "some tool"; it is the server whose structured output
    # is json_object, so that style doubles as the hint to use "auto".
    choice = "auto" if llm.capabilities.structured_output == "json_object" else "required"
    return ModelSupervisor(tool_choice=choice)


async def check_endpoints(settings: Settings, roles: Sequence[Role]) -> Settings:
    """Fail fast, with one clear error naming the endpoint, if a needed role is unreachable.

    Returns:
        The settings with each checked role's empty ``model`` set to the first model its
        server serves, so cache keys and traces name the real model from the first call.

    Raises:
        ConfigError: a role has no ``base_url``.
        EndpointError: a role's server does not answer.
    """
    if settings.backend == "offline" or not roles:
        return settings
    from ethoagent.agent.client import OpenAICompatibleClient

    probe = OpenAICompatibleClient(settings.models)
    resolved = settings.model_copy(deep=True)
    try:
        for role in roles:
            served = await probe.check_health(role)
            if not resolved.models[role].model and served:
                resolved.models[role].model = served[0]
    finally:
        await probe.aclose()
    return resolved


def offline_runtime(
    work: Path,
    graph: str,
    run_id: str,
    inputs: dict[str, Any],
    client: ModelClient | None = None,
) -> Runtime:
    """A new run under ``work`` answered by the offline solvers (or ``client``, e.g. a
    scripted one in tests) with the policy supervisor and no answer cache: what evaluation
    suites and graph tests run graphs with.

    Args:
        work: the runs directory.
        graph: the graph's name (``GRAPH_NAME``).
        run_id: the run's name under ``work``.
        inputs: the graph's inputs, recorded in the run.
        client: answers instead of the offline solvers; traced like any other.
    """
    settings = load_settings(None, {"runs_dir": work})
    run = Run.create(work, graph, settings, run_id=run_id, inputs=inputs)
    tracer = Tracer(run.trace_path, run_id=run.run_id, images_dir=run.images_dir)
    return Runtime(
        run=run,
        settings=settings,
        client=TracedClient(client or OfflineClient(), tracer),
        tracer=tracer,
        supervisor=PolicySupervisor(),
    )


@asynccontextmanager
async def open_runtime(
    run: Run,
    settings: Settings,
    progress: ProgressCallback | None = None,
    *,
    roles: Sequence[Role] = ("llm",),
    person: PersonAnswers | None = None,
) -> AsyncIterator[Runtime]:
    """Open the run's trace, client, cache and supervisor; close them afterwards.

    Args:
        roles: the model roles the graph will call; checked for reachability first.
        person: where a run paused for a person gets the person's answers on resume.
    """
    settings = await check_endpoints(settings, roles)
    tracer = Tracer(run.trace_path, run_id=run.run_id, images_dir=run.images_dir)
    inner, cache = make_model_client(settings)
    client = TracedClient(inner, tracer)
    runtime = Runtime(
        run=run,
        settings=settings,
        client=client,
        tracer=tracer,
        supervisor=make_supervisor(settings),
        cache=cache,
        progress=progress,
        person=person,
    )
    try:
        yield runtime
    finally:
        await client.aclose()
        if cache is not None:
            cache.close()


def execute_run(
    run: Run,
    settings: Settings,
    body: Callable[[Runtime], Awaitable[dict[str, Any]]],
    *,
    roles: Sequence[Role] = ("llm",),
    progress: ProgressCallback | None = None,
    person: PersonAnswers | None = None,
) -> dict[str, Any]:
    """Run ``body`` in the run's runtime (its own event loop); record the run's status.

    The run is marked ``running`` first; an exception marks it ``failed`` (``interrupted``
    for Ctrl-C) with the error in ``run.json``, then propagates. Marking it ``finished`` is
    the caller's, once it has read the outputs.

    Returns:
        What ``body`` returned (the graph's final state).
    """
    run.mark_running()

    async def go() -> dict[str, Any]:
        async with open_runtime(run, settings, progress, roles=roles, person=person) as rt:
            return await body(rt)

    try:
        return asyncio.run(go())
    except BaseException as exc:
        _mark_stopped(run, exc)
        raise


async def execute_sub_run(
    parent: Runtime, run: Run, body: Callable[[Runtime], Awaitable[dict[str, Any]]]
) -> dict[str, Any]:
    """Run ``body`` for ``run`` inside a running graph (``parent``); record the run's status.

    The sub-run gets its own trace and run directory but shares the parent's model client
    (so its answer cache and call counts), supervisor and settings; as ``execute_run``,
    an exception marks it ``failed`` (``interrupted`` when cancelled) and propagates.

    Returns:
        What ``body`` returned (the graph's final state).
    """
    run.mark_running()
    tracer = Tracer(run.trace_path, run_id=run.run_id, images_dir=run.images_dir)
    inner = parent.client.inner if isinstance(parent.client, TracedClient) else parent.client
    runtime = Runtime(
        run=run,
        settings=parent.settings,
        client=TracedClient(inner, tracer),
        tracer=tracer,
        supervisor=parent.supervisor,
        cache=parent.cache,
    )
    try:
        return await body(runtime)
    except BaseException as exc:
        _mark_stopped(run, exc)
        raise


def _mark_stopped(run: Run, exc: BaseException) -> None:
    interrupted = isinstance(exc, KeyboardInterrupt | asyncio.CancelledError | RunCancelledError)
    # on a full disk the status cannot be written either: report the first error
    with contextlib.suppress(EthoagentError):
        run.update(
            status="interrupted" if interrupted else "failed",
            error=str(exc)[:500] or type(exc).__name__,
        )


async def run_graph(
    builder: StateGraph[Any], runtime: Runtime, initial_state: dict[str, Any]
) -> dict[str, Any]:
    """Run (or resume) a graph with the run's checkpointer; return the final state.

    A run with a checkpoint resumes from it; a finished run returns its final state
    without re-running anything. A run paused for a person is resumed with the answers
    ``runtime.person`` gives; while some of its items have none it stays paused.

    Returns:
        The final state, or (paused) the state so far with ``WAITING``: the pending items.
    """
    run = runtime.run
    config: Any = {"configurable": {"thread_id": run.run_id}, "recursion_limit": 100}
    # durability="sync": a step's checkpoint is on disk before the next step starts, so a
    # SIGKILL never loses finished work (the default "async" lets the writes lag behind).
    async with AsyncSqliteSaver.from_conn_string(str(run.checkpoints_path)) as saver:
        graph = builder.compile(checkpointer=saver)
        snapshot = await graph.aget_state(config)
        pending = _pending_items(snapshot.interrupts) if snapshot.values else []
        if pending:
            answers = runtime.person(run, pending) if runtime.person is not None else {}
            missing = [i for i in pending if str(i["item"]) not in answers]
            if missing:
                runtime.tracer.event("run_waiting", items=len(pending), unanswered=len(missing))
                marked = [dict(i, answered=str(i["item"]) in answers) for i in pending]
                return {**snapshot.values, WAITING: marked}
            runtime.tracer.event("run_resume", next=list(snapshot.next), person=len(answers))
            result = await graph.ainvoke(Command(resume=answers), config, durability="sync")
        elif snapshot.values:
            # Resuming with None applies the writes of tasks that finished after the last
            # checkpoint and runs what is left; on a finished thread it runs nothing.
            # (snapshot.next is not enough to tell: it is empty while such writes pend.)
            runtime.tracer.event("run_resume", next=list(snapshot.next))
            result = await graph.ainvoke(None, config, durability="sync")
        else:
            runtime.tracer.event("run_start", graph=run.info().graph)
            result = await graph.ainvoke(initial_state, config, durability="sync")
        waiting = _pending_items(result.get(WAITING, ()))
        if waiting:
            _write_pending(run, waiting)
            runtime.tracer.event("run_waiting", items=len(waiting), unanswered=len(waiting))
            return {**dict(result), WAITING: waiting}
        (run.root / PENDING_FILE).unlink(missing_ok=True)
        runtime.tracer.event("run_end")
        return dict(result)


def _pending_items(interrupts: Sequence[Any]) -> list[dict[str, Any]]:
    """The items of a graph's pending interrupts (``nodes.ask_person``'s values)."""
    out: list[dict[str, Any]] = []
    for it in interrupts:
        value = getattr(it, "value", None)
        if isinstance(value, dict):
            out += [dict(x, stage=value.get("stage"), answered=False) for x in value["items"]]
    return out


def _write_pending(run: Run, items: list[dict[str, Any]]) -> None:
    """Write the items a paused run waits on to ``RUN/review/pending.json``."""
    path = run.root / PENDING_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(path, json.dumps(items, indent=1, default=str).encode())
