"""The classify graph: in-context behaviour classification of a session, window by window.

The seed is a VLM (Qwen2.5-VL) classifying mouse fear behaviour from video with class
definitions, a few labelled examples in the prompt and preprocessed frames, no finetuning.
As a LangGraph state machine of small nodes (arrays in the run's artifact store):

1. ``prepare``: read the keypoints, compute features (``tools.features``), cut the
   session into query windows of ``window_s`` per animal (``tools.classify.plan_windows``)
   and the user's labelled clips into example windows; per window a keypoint summary
   (``kinematic_vector``: mean features and immobility) and the image the model sees
   (``tools.preprocess.preprocess_window``: animal-centred crop, contrast, a strip of
   frames with the motion overlaid), from the video or, without one, from frames drawn
   from the keypoints (skeleton in the arena; the report says so). The image features of
   queries and examples are z-scored together.
   The classical detector (``tools.detectors``) is fitted on the example clips (rule vs
   fitted model chosen by cross-validation on them) and predicts every frame; its
   uncertainty, averaged per window, sends the most uncertain ``model_budget`` share of
   the windows to the model (``nodes.model_windows``).
2. ``classify`` (chunks of windows, one checkpointed step each): the windows the detector
   is sure of take its answer (its probabilities averaged over the window; the trace
   says ``cheap_path``; counted as model calls saved) and later its per-frame labels.
   The others go to the ``vlm`` role (prompt ``classify/classify``) in a stage per
   window (``stages.make_classify_stage``): the definitions, ``k`` in-context
   examples of *every* class chosen by similarity to the query
   (``tools.classify.select_examples``), the query and, optionally, its keypoint summary,
   and answers a probability per class (``ClassifyAnswer``). Checks: ``schema`` (one
   probability per class, nothing else), ``sum_to_one`` and ``temporal_plausibility``
   (freezing needs ~1 s of immobility, from the keypoints, or from the frame difference
   where the keypoints are missing and there is a video; locomotion needs movement); a
   failure is retried with the reason in the prompt; escalation = the feature kNN with
   the contradicted classes removed; still failing, the window is flagged and its
   plausible classes kept.
3. ``smooth``: per animal, a sticky HMM (Viterbi) or a mode filter over the windows'
   probabilities; every frame of a model's window takes the window's label and
   probability vector (the behaviour vector over time), every frame of a detector's
   window the detector's own (HMM-smoothed) label and probabilities.
4. ``report``: per-frame labels and probabilities, windows, bouts, time budgets, the
   ethogram (CSV and BORIS), figures and ``report.md`` (``graphs.classify_report``).

Offline (the embedded default) the prompt is answered by a registered solver: the
distance of the query to each class's in-context examples (k nearest neighbours over the
image and keypoint features the request carries) plus prototypes parsed from the
definitions; its answers are marked ``offline`` in the trace and the report.

This module only wires the nodes: they are functions of the state and a ``ClassifyGraphEnv``
in ``graphs.classify.nodes``; the checked model stage is in ``graphs.classify.stages``.
"""

from __future__ import annotations

import functools
from typing import Any

from langgraph.graph import END, START, StateGraph

from ethoagent.graphs.classify import nodes, person
from ethoagent.graphs.classify.inputs import ClassifyInputs, ClassifyState
from ethoagent.graphs.classify.nodes import ClassifyGraphEnv
from ethoagent.graphs.kit.runtime import Runtime, run_graph

GRAPH_NAME = "classify"


def build_classify_graph(rt: Runtime, inputs: ClassifyInputs) -> StateGraph[ClassifyState]:
    """The classify ``StateGraph``: prepare -> classify* -> (ask_person) -> smooth -> report.

    Node names are part of a run's checkpoints: renaming one breaks resuming older runs.
    """
    env = ClassifyGraphEnv.of(rt, inputs)
    g: StateGraph[ClassifyState] = StateGraph(ClassifyState)
    g.add_node("prepare", functools.partial(nodes.prepare, env=env))
    g.add_node("classify", functools.partial(nodes.classify, env=env))
    g.add_node("smooth", functools.partial(nodes.smooth, env=env))
    g.add_node("report", functools.partial(nodes.report, env=env))
    then = "smooth"
    if inputs.options.ask_person:  # a person answers the flagged windows before smoothing
        then = "ask_person"
        g.add_node("ask_person", functools.partial(person.ask_person, env=env))
        g.add_edge("ask_person", "smooth")
    more = functools.partial(nodes.more, then=then)
    g.add_edge(START, "prepare")
    g.add_conditional_edges("prepare", more, ["classify", then])
    g.add_conditional_edges("classify", more, ["classify", then])
    g.add_edge("smooth", "report")
    g.add_edge("report", END)
    return g


async def run_classify(rt: Runtime, inputs: ClassifyInputs) -> dict[str, Any]:
    """Run (or resume) the classify graph in ``rt.run``; return the final state."""
    return await run_graph(build_classify_graph(rt, inputs), rt, {"frames": inputs.frames})


__all__ = ["GRAPH_NAME", "build_classify_graph", "run_classify"]
