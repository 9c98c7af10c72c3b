"""The gate pipeline (LookAgain): keypoints, plus video frames where its gate says a look pays.

Inputs and options are pydantic models (``options.py`` holds the only copy of their
defaults and bounds):

- ``GATE_PREDICT`` (``Pipeline``, run by ``graphs.kit.run.run_pipeline``): per-frame
  labels, an ethogram and what the vision path cost;
- ``GATE_EVAL`` (likewise): per-class and macro-F1 per vision budget, with predict's
  inference;
- ``graph.run_gate_pretrain``: masked motion modelling without labels (keypoint path),
  into a model folder (``resume=True`` continues its checkpoint);
- ``graph.run_gate_train``: supervised training, with a video on the frames the gate
  picks, into a model folder (likewise).

Train and pretrain stay entry points: their ``out`` is a model folder they write as they
go and continue with ``resume``, not an output folder ``run_pipeline`` copies into. This
package loads no graph and no torch (the registry imports it).
"""

from ethoagent.graphs.gate.inputs import EvalInputs, PredictInputs, PretrainInputs, TrainInputs
from ethoagent.graphs.gate.options import EvalOptions, PredictOptions, PretrainOptions, TrainOptions
from ethoagent.graphs.gate.pipeline import GATE_EVAL, GATE_PREDICT

__all__ = [
    "GATE_EVAL",
    "GATE_PREDICT",
    "EvalInputs",
    "EvalOptions",
    "PredictInputs",
    "PredictOptions",
    "PretrainInputs",
    "PretrainOptions",
    "TrainInputs",
    "TrainOptions",
]
