"""The gate pipeline (LookAgain): keypoints, plus video frames where its gate says a look pays.

Inputs and options are pydantic models (``options.py`` holds the only copy of their
defaults and bounds):

- ``run_gate_pretrain``: masked motion modelling without labels (keypoint path), into a
  model folder (``resume=True`` continues its checkpoint);
- ``run_gate_train``: supervised training, with a video on the frames the gate picks,
  into a model folder (likewise);
- ``GATE_PREDICT`` (``Pipeline``, run by ``graphs.kit.run.run_pipeline``): per-frame
  labels, an ethogram and what the vision path cost;
- ``GATE_EVAL`` (likewise): per-class and macro-F1 per vision budget, with predict's
  inference.

Train and pretrain stay entry points: their ``out`` is a model folder they write as they
go and continue with ``resume``, not an output folder ``run_pipeline`` copies into.
"""

from ethoagent.graphs.gate.graph import (
    GRAPH_NAME,
    EvalRun,
    GateResult,
    PredictRun,
    execute_eval,
    execute_predict,
    resolve_eval_run,
    resolve_predict_run,
    run_gate_pretrain,
    run_gate_train,
)
from ethoagent.graphs.gate.inputs import EvalInputs, PredictInputs, PretrainInputs, TrainInputs
from ethoagent.graphs.gate.options import EvalOptions, PredictOptions, PretrainOptions, TrainOptions
from ethoagent.graphs.gate.report import EVAL_OUTPUTS, PREDICT_OUTPUTS, SUMMARY_KEYS
from ethoagent.graphs.kit.spec import Pipeline

GATE_PREDICT: Pipeline[PredictInputs, PredictOptions, PredictRun] = Pipeline(
    name="gate-predict",
    inputs=PredictInputs,
    options=PredictOptions,
    resolved=PredictRun,
    resolve=resolve_predict_run,
    execute=execute_predict,
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
    resolve=resolve_eval_run,
    execute=execute_eval,
    roles=(),
    outputs=EVAL_OUTPUTS,
    summary_keys=SUMMARY_KEYS,
)
"""``ethoagent gate eval``: a trained model scored on held-out labels per vision budget."""

__all__ = [
    "GATE_EVAL",
    "GATE_PREDICT",
    "GRAPH_NAME",
    "EvalInputs",
    "EvalOptions",
    "GateResult",
    "PredictInputs",
    "PredictOptions",
    "PretrainInputs",
    "PretrainOptions",
    "TrainInputs",
    "TrainOptions",
    "run_gate_pretrain",
    "run_gate_train",
]
