"""The gate pipeline's graphs and its four entry points (pretrain, train, predict, eval).

Each entry point resolves its inputs (``InputError`` before any run exists), opens a run
directory (``run.json``, ``trace.jsonl``, ``checkpoints.sqlite``, ``outputs/``), runs its
``StateGraph`` with the run's checkpointer, copies the outputs to ``out`` and marks the
run finished:

- pretrain: ``pretrain -> report``;
- train: ``look -> train -> report`` (``look`` embeds every frame's crops with a video);
- predict: ``select -> look -> infer -> report``;
- eval: ``score -> report`` (``score`` runs predict's inference at every budget).

Pretrain and train write their model into ``out`` (the model folder) as they go, so
``resume=True`` continues a killed training from the checkpoint there; predict and eval
resume a run by its id (``resume="<run id>"``), with the inputs it recorded.
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
from ethoagent.graphs.gate.inputs import (
    EvalInputs,
    PredictInputs,
    PretrainInputs,
    ResolvedEval,
    ResolvedPredict,
    ResolvedPretrain,
    ResolvedTrain,
    TrainInputs,
    resolve_eval,
    resolve_predict,
    resolve_pretrain,
    resolve_train,
)
from ethoagent.graphs.gate.options import EvalOptions, PredictOptions, PretrainOptions, TrainOptions
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
    "run_gate_eval",
    "run_gate_predict",
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
    report.write_fit_outputs(env.rt.run, "pretrain", r.out / LOG_FILE, "total", state["fit"],
                             None, env.warnings)  # fmt: skip
    return {"outputs": ["pretrain_losses.png", "summary.json", "report.md"]}


def _train_report(env: GateEnv, state: GateState) -> GateState:
    r = env.resolved
    assert isinstance(r, ResolvedTrain)
    vision = state.get("vision")
    report.write_fit_outputs(env.rt.run, "train", r.out / stages.TRAIN_LOG, "loss",
                             state["fit"], vision, state.get("warnings", []))  # fmt: skip
    names = ["train_losses.png", "summary.json", "report.md"]
    return {"outputs": names + (["vision.json"] if vision is not None else [])}


def _predict_report(env: GateEnv, state: GateState) -> GateState:
    r = env.resolved
    assert isinstance(r, ResolvedPredict)
    probs = env.rt.run.load_arrays("probs")["probs"]
    report.write_predict_outputs(
        env.rt.run, probs, list(r.keypoints.pose.individuals), r.model.classes, r.fps,
        state["vision"] or {}, state.get("warnings", []),
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
    report.write_eval_outputs(env.rt.run, state["rows"], description, encoder,
                              r.embedding_cache, (*r.scored, r.split),
                              state.get("warnings", []))  # fmt: skip
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


def _reopen(resume: str, settings: Settings, kind: str) -> tuple[Run, dict[str, Any]]:
    from ethoagent.errors import RunError

    run = Run.resume(resume, settings.runs_dir)
    raw = run.info().inputs
    if run.info().graph != GRAPH_NAME or raw.get("command") != kind:
        raise RunError(f"run {run.root} is not a gate {kind} run.", fix="pass a gate run id.")
    return run, raw


def run_gate_predict(
    inputs: PredictInputs,
    options: PredictOptions,
    settings: Settings,
    *,
    out: Path,
    resume: str | None = None,
    overwrite: bool = False,
    progress: ProgressCallback | None = None,
) -> GateResult:
    """Label every frame with a trained gate model; with a video, look at its top-k frames.

    Args:
        inputs: the input files (checked by the matching ``resolve_*``).
        options: the run's options (defaults and bounds in ``options.py``).
        settings: backend, model roles and the runs folder.
        out: folder for ``labels.csv``, ``ethogram.csv``, ``ethogram.png``,
            ``summary.json`` and ``report.md`` (created).
        resume: id or path of an unfinished predict run to continue, with the inputs,
            options and output folder it recorded (``inputs``/``options``/``out`` ignored).
        overwrite: replace outputs ``out`` already holds.
        progress: called with (stage, done, total) as the run goes.

    Raises:
        InputError: before any run exists (see ``resolve_predict``).
    """
    if resume is not None:
        run, raw = _reopen(resume, settings, "predict")
        inputs = PredictInputs.model_validate(raw["inputs"])
        options = PredictOptions.model_validate(raw["options"])
        out = Path(raw["out"])
        resolved = resolve_predict(inputs, options, out=out, overwrite=True)
    else:
        resolved = resolve_predict(inputs, options, out=out, overwrite=overwrite)
        run = Run.create(settings.runs_dir, GRAPH_NAME, settings,
                         inputs=_record(inputs, options, out, "predict"))  # fmt: skip
    return _execute(run, settings, resolved, build_predict_graph, out, progress)


def run_gate_eval(
    inputs: EvalInputs,
    options: EvalOptions,
    settings: Settings,
    *,
    out: Path,
    resume: str | None = None,
    overwrite: bool = False,
    progress: ProgressCallback | None = None,
) -> GateResult:
    """Score a trained gate model against labels at every vision budget.

    The inference is ``run_gate_predict``'s. With a video (a model trained with video):
    top-k 0, 25, 50 and 100 % (``options.budgets``); otherwise the keypoint path.

    Args:
        inputs: the input files (checked by the matching ``resolve_*``).
        options: the run's options (defaults and bounds in ``options.py``).
        settings: backend, model roles and the runs folder.
        out: folder for ``results.json``, ``results.md``, ``f1_vs_budget.png`` and
            ``summary.json`` (created).
        resume: id or path of an unfinished eval run to continue (as for predict).
        overwrite: replace outputs ``out`` already holds.
        progress: called with (stage, done, total) as the run goes.

    Raises:
        InputError: before any run exists (see ``resolve_eval``).
    """
    if resume is not None:
        run, raw = _reopen(resume, settings, "eval")
        inputs = EvalInputs.model_validate(raw["inputs"])
        options = EvalOptions.model_validate(raw["options"])
        out = Path(raw["out"])
        resolved = resolve_eval(inputs, options, out=out, overwrite=True)
    else:
        resolved = resolve_eval(inputs, options, out=out, overwrite=overwrite)
        run = Run.create(settings.runs_dir, GRAPH_NAME, settings,
                         inputs=_record(inputs, options, out, "eval"))  # fmt: skip
    return _execute(run, settings, resolved, build_eval_graph, out, progress)
