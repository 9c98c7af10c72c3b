"""The gate pipeline (LookAgain): keypoints, plus video frames where its gate says a look pays.

Entry points take pydantic ``Inputs`` and ``Options`` models (``options.py`` holds the
only copy of their defaults and bounds) and return a ``GateResult`` (run directory,
output folder, summary):

- ``run_gate_pretrain``: masked motion modelling without labels (keypoint path);
- ``run_gate_train``: supervised training, with a video on the frames the gate picks;
- ``run_gate_predict``: per-frame labels, an ethogram and what the vision path cost;
- ``run_gate_eval``: per-class and macro-F1 per vision budget, with predict's inference.
"""

from ethoagent.graphs.gate.graph import (
    GRAPH_NAME,
    GateResult,
    run_gate_eval,
    run_gate_predict,
    run_gate_pretrain,
    run_gate_train,
)
from ethoagent.graphs.gate.inputs import EvalInputs, PredictInputs, PretrainInputs, TrainInputs
from ethoagent.graphs.gate.options import EvalOptions, PredictOptions, PretrainOptions, TrainOptions

__all__ = [
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
    "run_gate_eval",
    "run_gate_predict",
    "run_gate_pretrain",
    "run_gate_train",
]
