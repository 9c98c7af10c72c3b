"""The segment graph: unsupervised behaviour segmentation of keypoints into an ethogram.

BehaviorVLM's segmentation pipeline as a LangGraph state machine of small nodes; arrays
live in the run's artifact store, the graph state holds counts and summaries:

1. ``load``: read the keypoints (``tools.io.read_keypoints``; any format it reads) and
   compute unit-free features (``tools.features.compute_features``). Frames without
   features (keypoints missing beyond the gap filling) are reported, with a warning where
   they exceed ``nan_warning`` of an animal's frames; they are not clustered.
2. ``cluster``: deep embedded clustering (``nn.dec.fit_dec``, ``k`` clusters) of every
   (frame, animal) row jointly, so a cluster means the same for every animal. A stage of
   the node pattern: check ``clusters`` (no empty or degenerate cluster,
   ``tools.cluster.check_clusters``), escalation = re-seed. A second seed's fit gives the
   adjusted Rand index between seeds (``stability`` check in the trace; a failure is a
   warning, not fatal).
3. ``snippets``: per animal, the cluster labels cut into 1–5 s snippets
   (``tools.snippets.cut_snippets``) with a kinematic summary each
   (``tools.captions.summarize_snippet``).
4. ``caption`` (chunks of snippets, one checkpointed step each): a stage per snippet.
   Cheap path: where the kinematics alone are clear (``caption_from_kinematics``), no
   model is called and the trace says so (``cheap_path`` event). Otherwise the ``vlm``
   role (prompt ``segment/caption``) gets a contact sheet of frames sampled at <= 10 fps
   (cropped around the animal where 2D keypoints allow; with no video, a drawing of the
   keypoints) and the kinematic summary, and answers a ``Caption``. Checks: schema
   (pydantic) and ``kinematics`` (``tools.captions.check_caption``: a locomotion label at
   near-zero speed, "still" at high speed, ...); a failed check is retried with the
   contradiction named in the prompt; escalation = the kinematic caption.
5. ``merge`` (one animal per step): the ``llm`` role (prompt ``segment/merge``) joins
   consecutive captions into epochs with a vocabulary, in overlapping windows of
   ``merge_window`` snippets so its context stays bounded; the session's vocabulary so
   far goes into every window's prompt. Checks: exact tiling of the window, every label
   in the vocabulary, no epoch shorter than ``min_epoch_s``; failures are retried with the
   violations listed; escalation = the rule-based merge. Windows are stitched
   deterministically (``tools.merge.stitch_windows``) and tidied (``merge_epochs``).
6. ``report``: the outputs (``graphs.segment_report``).

Offline (the embedded default) the two prompts are answered by registered solvers: the
kinematic captioner and the rule-based merge of equal or synonymous labels
(``tools.captions.SYNONYMS``), both marked ``offline`` in the trace and the report.

This module only wires the nodes: they are functions of the state and a ``SegmentEnv`` in
``graphs.segment.stages``; the checked stages they run are in ``graphs.segment.item_stages``.
"""

from __future__ import annotations

import functools
from typing import Any

from langgraph.graph import END, START, StateGraph

from ethoagent.graphs.kit.runtime import Runtime, run_graph
from ethoagent.graphs.segment import stages
from ethoagent.graphs.segment.inputs import SegmentInputs, SegmentState
from ethoagent.graphs.segment.stages import SegmentEnv

GRAPH_NAME = "segment"


def build_segment_graph(rt: Runtime, inputs: SegmentInputs) -> StateGraph[SegmentState]:
    """The segment ``StateGraph``: load -> cluster -> snippets -> caption* -> merge* -> report.

    Node names are part of a run's checkpoints: renaming one breaks resuming older runs.
    """
    env = SegmentEnv.of(rt, inputs)
    more_animals = functools.partial(stages.more_animals, env=env)
    g: StateGraph[SegmentState] = StateGraph(SegmentState)
    g.add_node("load", functools.partial(stages.load, env=env))
    g.add_node("cluster", functools.partial(stages.cluster, env=env))
    g.add_node("snippets", functools.partial(stages.snippets, env=env))
    g.add_node("caption", functools.partial(stages.caption, env=env))
    g.add_node("merge", functools.partial(stages.merge, env=env))
    g.add_node("report", functools.partial(stages.report, env=env))
    g.add_edge(START, "load")
    g.add_edge("load", "cluster")
    g.add_edge("cluster", "snippets")
    g.add_conditional_edges("snippets", stages.more_captions, ["caption", "merge"])
    g.add_conditional_edges("caption", stages.more_captions, ["caption", "merge"])
    g.add_conditional_edges("merge", more_animals, ["merge", "report"])
    g.add_edge("report", END)
    return g


async def run_segment(rt: Runtime, inputs: SegmentInputs) -> dict[str, Any]:
    """Run (or resume) the segment graph in ``rt.run``; return the final state.

    Outputs (see ``graphs.segment_report``) are written to the run's ``outputs/``.
    """
    return await run_graph(build_segment_graph(rt, inputs), rt, {"frames": inputs.frames})


__all__ = ["GRAPH_NAME", "build_segment_graph", "run_segment"]
