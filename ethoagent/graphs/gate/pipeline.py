"""``GATE_PREDICT`` and ``GATE_EVAL``: gate predict and eval as ``Pipeline`` specs.

``graphs.kit.run.run_pipeline`` runs them: a fresh run's files are read and checked once
(``resolve_predict``/``resolve_eval``) before the run exists; the run records its inputs
and options (``PredictRun``/``EvalRun``) in ``run.json``, so a resume reads its files
again from them. This module loads no graph and no torch: the graph is imported when a
run executes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, PrivateAttr

from ethoagent.graphs.gate.inputs import (
    EvalInputs,
    PredictInputs,
    ResolvedEval,
    ResolvedPredict,
    resolve_eval,
    resolve_predict,
)
from ethoagent.graphs.gate.options import EvalOptions, PredictOptions
from ethoagent.graphs.gate.report import EVAL_OUTPUTS, PREDICT_OUTPUTS, SUMMARY_KEYS
from ethoagent.graphs.kit.spec import Pipeline

if TYPE_CHECKING:
    from ethoagent.graphs.kit.runtime import Runtime

__all__ = ["GATE_EVAL", "GATE_PREDICT", "EvalRun", "PredictRun"]


class PredictRun(BaseModel):
    """What a ``gate-predict`` run records in ``run.json``: its inputs and options."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    inputs: PredictInputs
    options: PredictOptions
    _read: ResolvedPredict | None = PrivateAttr(None)

    def read(self) -> ResolvedPredict:
        """The files read and checked: once for a fresh run, again for a resumed one."""
        return self._read or resolve_predict(self.inputs, self.options)


class EvalRun(BaseModel):
    """What a ``gate-eval`` run records in ``run.json``: its inputs and options."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    inputs: EvalInputs
    options: EvalOptions
    _read: ResolvedEval | None = PrivateAttr(None)

    def read(self) -> ResolvedEval:
        """The files read and checked: once for a fresh run, again for a resumed one."""
        return self._read or resolve_eval(self.inputs, self.options)


def _resolve_predict(inputs: PredictInputs, options: PredictOptions) -> PredictRun:
    record = PredictRun(inputs=inputs, options=options)
    record._read = resolve_predict(inputs, options)
    return record


def _resolve_eval(inputs: EvalInputs, options: EvalOptions) -> EvalRun:
    record = EvalRun(inputs=inputs, options=options)
    record._read = resolve_eval(inputs, options)
    return record


async def _execute_predict(rt: Runtime, record: PredictRun) -> dict[str, Any]:
    from ethoagent.graphs.gate.graph import execute_predict

    return await execute_predict(rt, record.read())


async def _execute_eval(rt: Runtime, record: EvalRun) -> dict[str, Any]:
    from ethoagent.graphs.gate.graph import execute_eval

    return await execute_eval(rt, record.read())


GATE_PREDICT: Pipeline[PredictInputs, PredictOptions, PredictRun] = Pipeline(
    name="gate-predict",
    inputs=PredictInputs,
    options=PredictOptions,
    resolved=PredictRun,
    resolve=_resolve_predict,
    execute=_execute_predict,
    roles=(),
    outputs=PREDICT_OUTPUTS,
    summary_keys=SUMMARY_KEYS,
)
"""``ethoagent gate predict``: per-frame labels of a keypoint file by a trained model."""

GATE_EVAL: Pipeline[EvalInputs, EvalOptions, EvalRun] = Pipeline(
    name="gate-eval",
    inputs=EvalInputs,
    options=EvalOptions,
    resolved=EvalRun,
    resolve=_resolve_eval,
    execute=_execute_eval,
    roles=(),
    outputs=EVAL_OUTPUTS,
    summary_keys=SUMMARY_KEYS,
)
"""``ethoagent gate eval``: a trained model scored on held-out labels per vision budget."""
