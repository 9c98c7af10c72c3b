"""The gate pipeline's graphs: pretrain, train, predict and eval.

Pretrain and train are run by their entry points (``run_gate_pretrain``,
``run_gate_train``): they resolve their inputs (``InputError`` before any run exists),
open a run directory (``run.json``, ``trace.jsonl``, ``checkpoints.sqlite``,
``outputs/``), run the graph with the run's checkpointer, copy the outputs to the model
folder ``out`` and mark the run finished. Predict and eval are ``Pipeline`` specs
(``GATE_PREDICT``, ``GATE_EVAL`` in the package) run by ``graphs.kit.run.run_pipeline``;
``execute_*`` here are what those specs run.

- pretrain: ``pretrain -> report``;
- train: ``look -> train -> report`` (``look`` embeds every frame's crops with a video);
- predict: ``select -> look -> infer -> report``;
- eval: ``score -> report`` (``score`` runs predict's inference at every budget).

Pretrain and train write their model into ``out`` (the model folder) as they go, so
``resume=True`` continues a killed training from the checkpoint there; predict and eval
resume a run by its id (``run_pipeline(..., resume="<run id>")``), with the inputs it
recorded.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from langgraph.graph import END, START, StateGraph

import ethoagent.graphs.gate.report as report
import ethoagent.graphs.gate.stages as stages
from ethoagent.atomic import atomic_write_bytes
from ethoagent.config import Settings
from ethoagent.graphs.gate.descriptor import body_words
from ethoagent.graphs.gate.inputs import (
    PretrainInputs,
    ResolvedEval,
    ResolvedPredict,
    ResolvedPretrain,
    ResolvedTrain,
    TrainInputs,
    resolve_pretrain,
    resolve_train,
)
from ethoagent.graphs.gate.options import PretrainOptions, TrainOptions
from ethoagent.graphs.gate.stages import GateEnv, GateState
from ethoagent.graphs.kit.runtime import ProgressCallback, Runtime, execute_run, run_graph
from ethoagent.runs import Run

__all__ = [
    "GRAPH_NAME",
    "GateResult",
    "build_eval_graph",
    "build_predict_graph",
    "build_pretrain_graph",
    "build_train_graph",
    "execute_eval",
    "execute_predict",
    "run_gate_pretrain",
    "run_gate_train",
]

GRAPH_NAME = "gate"


@dataclass(frozen=True)
class GateResult:
    """A finished gate run.

    Attributes:
        run: its run directory.
        out: the folder its outputs were copied to.
        summary: its ``summary.json``.
    """

    run: Run
    out: Path
    summary: dict[str, Any]


Node = Callable[[GateEnv, GateState], GateState]


def _chain(env: GateEnv, nodes: list[tuple[str, Node]]) -> StateGraph[GateState]:
    g: StateGraph[GateState] = StateGraph(GateState)
    names = [name for name, _ in nodes]
    for name, fn in nodes:
        g.add_node(name, _bind(env, fn))
    g.add_edge(START, names[0])
    for a, b in itertools.pairwise(names):
        g.add_edge(a, b)
    g.add_edge(names[-1], END)
    return g


def _bind(env: GateEnv, fn: Node) -> Any:
    """``fn`` as a LangGraph node of one argument, ``state`` (traced in its own scope)."""

    def node(state: GateState) -> dict[str, Any]:
        with env.rt.tracer.scope(node=fn.__name__.removesuffix("_node")):
            return dict(fn(env, state))

    return node


def _pretrain_report(env: GateEnv, state: GateState) -> GateState:
    from ethoagent.nn.pretrain_gate import LOG_FILE

    r = env.resolved
    assert isinstance(r, ResolvedPretrain)
    unit, doubts = report.keypoint_units([(k.path, k.pose) for k in r.files])
    report.write_fit_outputs(env.rt.run, "pretrain", r.out / LOG_FILE, "total", state["fit"],
                             None, [*env.warnings, *doubts], {"unit": unit})  # fmt: skip
    return {"outputs": ["pretrain_losses.png", "summary.json", "report.md"]}


def _train_report(env: GateEnv, state: GateState) -> GateState:
    r = env.resolved
    assert isinstance(r, ResolvedTrain)
    vision = state.get("vision")
    unit, doubts = report.keypoint_units([(r.keypoints.path, r.keypoints.pose)])
    taught = r.meta.get("examples_from")
    extra = {"unit": unit, "body_roles": body_words(r.keypoints.body),
             **({"examples_from": taught} if taught else {})}  # fmt: skip
    report.write_fit_outputs(env.rt.run, "train", r.out / stages.TRAIN_LOG, "loss",
                             state["fit"], vision, [*state.get("warnings", []), *doubts],
                             extra)  # fmt: skip
    names = ["train_losses.png", "summary.json", "report.md"]
    return {"outputs": names + (["vision.json"] if vision is not None else [])}


def _predict_report(env: GateEnv, state: GateState) -> GateState:
    r = env.resolved
    assert isinstance(r, ResolvedPredict)
    probs = env.rt.run.load_arrays("probs")["probs"]
    unit, doubts = report.keypoint_units([(r.keypoints.path, r.keypoints.pose)])
    taught = r.model.meta.get("examples_from")
    extra = {"unit": unit, "body_roles": body_words(r.keypoints.body),
             **({"examples_from": taught} if taught else {})}  # fmt: skip
    report.write_predict_outputs(
        env.rt.run, probs, list(r.keypoints.pose.individuals), r.model.classes, r.fps,
        state["vision"] or {}, [*state.get("warnings", []), *doubts], extra,
    )  # fmt: skip
    return {"outputs": list(report.PREDICT_OUTPUTS)}


def _eval_report(env: GateEnv, state: GateState) -> GateState:
    r = env.resolved
    assert isinstance(r, ResolvedEval)
    i = r.inputs
    description = (
        f"{i.gate_model} on {i.keypoints} against {i.labels}"
        + (f" with {i.video}" if i.video else " (keypoints only)")
        + f"; held-out frames scored {r.split}"
    )
    encoder = (r.model.vision or {}).get("encoder")
    unit, doubts = report.keypoint_units([(r.keypoints.path, r.keypoints.pose)])
    report.write_eval_outputs(env.rt.run, state["rows"], description, encoder,
                              r.embedding_cache, (*r.scored, r.split),
                              [*state.get("warnings", []), *doubts], unit)  # fmt: skip
    return {"outputs": list(report.EVAL_OUTPUTS)}


def build_pretrain_graph(env: GateEnv) -> StateGraph[GateState]:
    """``pretrain -> report``."""
    return _chain(env, [("pretrain", stages.pretrain_node), ("report", _pretrain_report)])


def build_train_graph(env: GateEnv) -> StateGraph[GateState]:
    """``look -> train -> report``."""
    return _chain(
        env,
        [("look", stages.train_look_node), ("train", stages.train_node),
         ("report", _train_report)],
    )  # fmt: skip


def build_predict_graph(env: GateEnv) -> StateGraph[GateState]:
    """``select -> look -> infer -> report``."""
    return _chain(
        env,
        [("select", stages.select_node), ("look", stages.look_node),
         ("infer", stages.infer_node), ("report", _predict_report)],
    )  # fmt: skip


def build_eval_graph(env: GateEnv) -> StateGraph[GateState]:
    """``score -> report``."""
    return _chain(env, [("score", stages.score_node), ("report", _eval_report)])


def _execute(
    run: Run,
    settings: Settings,
    resolved: Any,
    build: Callable[[GateEnv], StateGraph[GateState]],
    out: Path,
    progress: ProgressCallback | None,
) -> GateResult:
    """Run the graph in ``run``, copy its outputs to ``out`` and mark the run finished."""
    from ethoagent.graphs.kit.run import finish_run

    async def body(rt: Runtime) -> dict[str, Any]:
        return await run_graph(build(GateEnv(rt, resolved)), rt, {})

    state = execute_run(run, settings, body, roles=(), progress=progress)
    out.mkdir(parents=True, exist_ok=True)
    for name in state.get("outputs", []):
        atomic_write_bytes(out / name, (run.outputs_dir / name).read_bytes())
    summary = finish_run(run, report.SUMMARY_KEYS)
    return GateResult(run, out, summary)


def _record(inputs: Any, options: Any, out: Path, kind: str) -> dict[str, Any]:
    return {
        "command": kind,
        "inputs": inputs.model_dump(mode="json"),
        "options": options.model_dump(mode="json"),
        "out": str(out),
    }


def run_gate_pretrain(
    inputs: PretrainInputs,
    options: PretrainOptions,
    settings: Settings,
    *,
    out: Path,
    resume: bool = False,
    progress: ProgressCallback | None = None,
) -> GateResult:
    """Pretrain a gate model's encoder without labels into the model folder ``out``.

    Args:
        inputs: the input files (checked by the matching ``resolve_*``).
        options: the run's options (defaults and bounds in ``options.py``).
        settings: backend, model roles and the runs folder.
        out: the model folder (created): encoder weights, ``gate.json``, the training log
            and checkpoint.
        resume: continue the training in ``out`` from its checkpoint, with the settings
            it was started with (``options`` are then ignored).
        progress: called with (stage, done, total) as the run goes.

    Raises:
        InputError: before any run exists (see ``resolve_pretrain``).
    """
    resolved = resolve_pretrain(inputs, options, out=out, resume=resume)
    run = Run.create(settings.runs_dir, GRAPH_NAME, settings,
                     inputs=_record(inputs, options, out, "pretrain"))  # fmt: skip
    return _execute(run, settings, resolved, build_pretrain_graph, out, progress)


def run_gate_train(
    inputs: TrainInputs,
    options: TrainOptions,
    settings: Settings,
    *,
    out: Path,
    resume: bool = False,
    progress: ProgressCallback | None = None,
) -> GateResult:
    """Train a gate model on labelled keypoints (and, with a video, the frames it picks).

    Args:
        inputs: the input files (checked by the matching ``resolve_*``).
        options: the run's options (defaults and bounds in ``options.py``).
        settings: backend, model roles and the runs folder.
        out: the model folder (created): weights, ``gate.json``, ``classes.json``, the
            training log, checkpoint, loss plot and ``vision.json``.
        resume: continue the training in ``out`` from its checkpoint (needs the same
            video); its recorded settings win over ``options``.
        progress: called with (stage, done, total) as the run goes.

    Raises:
        InputError: before any run exists (see ``resolve_train``).
    """
    resolved = resolve_train(inputs, options, out=out, resume=resume)
    run = Run.create(settings.runs_dir, GRAPH_NAME, settings,
                     inputs=_record(inputs, options, out, "train"))  # fmt: skip
    return _execute(run, settings, resolved, build_train_graph, out, progress)


async def _run_in(
    rt: Runtime, resolved: Any, build: Callable[[GateEnv], StateGraph[GateState]]
) -> dict[str, Any]:
    """Run the graph; its ``outputs`` as paths relative to the run (``run_pipeline``)."""
    state = await run_graph(build(GateEnv(rt, resolved)), rt, {})
    run = rt.run
    names = state.get("outputs", [])
    return {**state, "outputs": [str((run.outputs_dir / n).relative_to(run.root)) for n in names]}


async def execute_predict(rt: Runtime, resolved: ResolvedPredict) -> dict[str, Any]:
    """Run (or resume) ``select -> look -> infer -> report`` in ``rt``'s run.

    Returns:
        The final state; ``outputs`` relative to the run (as ``run_pipeline`` copies them).
    """
    return await _run_in(rt, resolved, build_predict_graph)


async def execute_eval(rt: Runtime, resolved: ResolvedEval) -> dict[str, Any]:
    """Run (or resume) ``score -> report`` in ``rt``'s run (outputs as ``execute_predict``)."""
    return await _run_in(rt, resolved, build_eval_graph)
