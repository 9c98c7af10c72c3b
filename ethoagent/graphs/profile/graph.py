"""The profile graph: one behaviour vocabulary across many sessions, profiles and group tests.

MouseGPT's open-vocabulary profiling as a LangGraph state machine (arrays and tables in
the run's artifacts, counts and summaries in the state):

1. ``segment`` (one session per checkpointed step): the segment pipeline
   (``graphs.segment.PIPELINE`` through ``graphs.kit.run.run_pipeline_in``) on each
   distinct session of the sessions table, in its own run of the run store
   (``<runs>/profile-seg-<stem>-<hash>``; a finished one with the same keypoints file and
   options is reused, an unfinished one resumed), or an existing segment output folder
   named in the table's ``segment`` column.
2. ``embed``: every snippet of the profiled animals with its caption
   (``captions.csv``) and kinematics (recomputed from the keypoints,
   ``tools.captions.summarize_snippet``); the distinct descriptions
   (``tools.vocabulary.snippet_text``) embedded by ``agent.embed`` (the ``embed`` role's
   endpoint, all-MiniLM-L6-v2, or TF-IDF).
3. ``cluster``: k-means of the description embeddings across all sessions
   (``tools.vocabulary.cluster_embeddings``; K given or chosen by the silhouette).
4. ``name`` (a stage per cluster, in order of size): the ``llm`` role (prompt
   ``profile/name``) gets the cluster's most common descriptions, its median kinematics
   and the names already taken, and answers a name and a definition. Checks:
   ``unique_name`` and ``definition_kinematics`` (``tools.vocabulary``); failures are
   retried with the reason, then escalated to a name and a purely kinematic definition
   from the members (``describe_members``). Offline, the solver names a cluster after its
   members' most common caption label (qualified when taken) with that label's
   definition.
5. ``stats``: per profiled animal, frame labels from its snippets' entries ->
   ``tools.profile_stats.compute_profile``; group comparisons
   (``compare_groups``: permutation tests, bootstrap CIs, Hedges' g, Cliff's delta, BH);
   novel behaviour: entries present in only some profiles
   (``find_session_restricted``) and, with a reference vocabulary, entries matching none
   of its entries (cosine similarity of name + definition below ``reference_threshold``).
6. ``report``: the outputs (``graphs.profile_report``).

This module only wires the nodes: they are functions of the state and a ``ProfileEnv`` in
``graphs.profile.nodes``; the naming stage is in ``graphs.profile.stages``.
"""

from __future__ import annotations

import functools
from typing import Any

from langgraph.graph import END, START, StateGraph

from ethoagent.graphs.kit.runtime import Runtime, run_graph
from ethoagent.graphs.profile import nodes
from ethoagent.graphs.profile.inputs import ProfileInputs, ProfileState
from ethoagent.graphs.profile.nodes import ProfileEnv

GRAPH_NAME = "profile"


def build_profile_graph(rt: Runtime, inputs: ProfileInputs) -> StateGraph[ProfileState]:
    """The profile ``StateGraph``: segment* -> embed -> cluster -> name -> stats -> report.

    Node names are part of a run's checkpoints: renaming one breaks resuming older runs.
    """
    env = ProfileEnv.of(rt, inputs)
    more_sessions = functools.partial(nodes.more_sessions, env=env)
    g: StateGraph[ProfileState] = StateGraph(ProfileState)
    g.add_node("start", functools.partial(nodes.start, env=env))
    g.add_node("segment", functools.partial(nodes.segment, env=env))
    g.add_node("embed", functools.partial(nodes.embed, env=env))
    g.add_node("cluster", functools.partial(nodes.cluster, env=env))
    g.add_node("name", functools.partial(nodes.name, env=env))
    g.add_node("stats", functools.partial(nodes.stats, env=env))
    g.add_node("report", functools.partial(nodes.report, env=env))
    g.add_edge(START, "start")
    g.add_conditional_edges("start", more_sessions, ["segment", "embed"])
    g.add_conditional_edges("segment", more_sessions, ["segment", "embed"])
    g.add_edge("embed", "cluster")
    g.add_edge("cluster", "name")
    g.add_edge("name", "stats")
    g.add_edge("stats", "report")
    g.add_edge("report", END)
    return g


async def run_profile(rt: Runtime, inputs: ProfileInputs) -> dict[str, Any]:
    """Run (or resume) the profile graph in ``rt.run``; return the final state.

    Outputs (see ``graphs.profile_report``) are written to the run's ``outputs/``.
    """
    return await run_graph(build_profile_graph(rt, inputs), rt, {})


__all__ = ["GRAPH_NAME", "build_profile_graph", "run_profile"]
