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
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import time
import warnings
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from langgraph.graph import END, START, StateGraph
from pydantic import BaseModel, ConfigDict, Field

from ethoagent.agent.embed import make_embedder
from ethoagent.agent.offline import register_solver
from ethoagent.agent.types import Message, Request
from ethoagent.atomic import atomic_write_text
from ethoagent.config import Budget
from ethoagent.errors import InputError
from ethoagent.graphs.kit.nodes import Escalation, Feedback, Stage, StageContext, run_item
from ethoagent.graphs.kit.run import run_pipeline_in
from ethoagent.graphs.kit.runtime import Runtime, run_graph
from ethoagent.graphs.profile.inputs import ProfileInputs, ProfileState, SessionRow
from ethoagent.graphs.profile.report import write_profile_outputs
from ethoagent.graphs.segment import PIPELINE as SEGMENT
from ethoagent.graphs.segment import SegmentOptions, SegmentSources
from ethoagent.io.keypoints import read_keypoints
from ethoagent.model.checks import CheckResult
from ethoagent.prompts import load_prompt
from ethoagent.tools.captions import (
    DEFINITIONS,
    SnippetKinematics,
    canonical_label,
    kinematic_baselines,
    normalise_label,
    summarize_snippet,
)
from ethoagent.tools.features import compute_features, layout_named
from ethoagent.tools.profile_stats import (
    UNLABELLED,
    Profile,
    bout_dispersion_p,
    compare_groups,
    compute_profile,
    find_session_restricted,
)
from ethoagent.tools.vocabulary import (
    ClusterKinematics,
    check_definition,
    check_unique_name,
    cluster_embeddings,
    describe_cluster,
    match_reference,
    snippet_text,
    summarize_cluster,
)

GRAPH_NAME = "profile"
NAME_PROMPT = "profile/name"
MAX_SEGMENT_STEPS = 60
"""Sessions are grouped so that segmenting takes at most this many graph steps."""


# --- model answer ------------------------------------------------------------------------


class NameAnswer(BaseModel):
    """Answer of ``profile/name``: a vocabulary entry."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=60)
    definition: str = Field(min_length=1, max_length=400)


class ClusterItem(BaseModel):
    """One cluster as the naming stage sees it.

    Attributes:
        cluster: its index.
        descriptions: its most common descriptions with their share of its snippets.
        labels: caption label -> seconds of its members.
        kinematics: its members' median kinematics.
        taken: names of the entries named before it.
    """

    cluster: int
    descriptions: list[tuple[str, float]]
    labels: dict[str, float]
    kinematics: ClusterKinematics
    taken: list[str]


class NameProposal(BaseModel):
    name: str
    definition: str
    source: str


def _qualifiers(item: ClusterItem) -> list[str]:
    """Words telling the cluster apart, from its dominant description's fields."""
    text = item.descriptions[0][0] if item.descriptions else ""
    out: list[str] = []
    for field in ("speed", "direction", "posture"):
        m = text.split(f"{field} ", 1)
        if len(m) == 2:
            value = normalise_label(m[1].split(";")[0])
            if value and value not in {"none", "unknown", "forward"}:
                out.append("_".join(value.split("_")[:2]))
    return out


def name_from_members(item: ClusterItem) -> NameProposal:
    """The offline name: the members' most common caption label (canonical), qualified by
    their speed, direction or posture when that name is taken, and its definition."""
    top = max(item.labels.items(), key=lambda kv: kv[1])[0] if item.labels else "cluster"
    base = canonical_label(top) or "cluster"
    taken = {normalise_label(t) for t in item.taken}
    name = base
    for q in [*_qualifiers(item), *(str(i) for i in range(2, 100))]:
        if name not in taken:
            break
        name = f"{base}_{q}"
    k = item.kinematics
    definition = DEFINITIONS.get(base, f"Snippets described as {base.replace('_', ' ')}.")
    if k.speed is not None:
        definition += f" Members move at a median {k.speed:.2f} body lengths/s."
    return NameProposal(name=name, definition=definition, source="offline")


def describe_members(item: ClusterItem) -> NameProposal:
    """Escalation: ``cluster_<n>`` with a definition made of its kinematics only."""
    k = item.kinematics
    parts = [f"{k.members} snippets"]
    for label, value, unit in (
        ("body-centre speed", k.speed, " body lengths/s"),
        ("heading change", k.abs_turn_rate, " rad/s"),
        ("back height", k.height_ratio, " x usual"),
        ("paw-to-head distance", k.paw_head_ratio, " x usual"),
    ):
        if value is not None:
            parts.append(f"median {label} {value:.2f}{unit}")
    taken = {normalise_label(t) for t in item.taken}
    name = f"cluster_{item.cluster + 1}"
    n = 2
    while name in taken:
        name = f"cluster_{item.cluster + 1}_{n}"
        n += 1
    return NameProposal(name=name, definition="; ".join(parts) + ".", source="kinematics")


def offline_name(request: Request) -> NameAnswer:
    """Offline answer to ``profile/name`` (``name_from_members``)."""
    item = ClusterItem.model_validate(request.payload["cluster"])
    p = name_from_members(item)
    return NameAnswer(name=p.name, definition=p.definition)


register_solver(NAME_PROMPT)(offline_name)


def make_name_stage() -> Stage[ClusterItem, NameProposal]:
    """Name one cluster: the LLM, checked for a unique name and a definition consistent
    with the members' kinematics; escalation = a kinematic name and definition."""

    async def propose(
        item: ClusterItem, feedback: Feedback | None, ctx: StageContext
    ) -> NameProposal:
        prompt = load_prompt(NAME_PROMPT)
        k = item.kinematics
        text = prompt.render(
            cluster=item.cluster + 1,
            members=k.members,
            seconds=f"{k.seconds:.1f}",
            descriptions="\n".join(f"- {share:.0%}: {d}" for d, share in item.descriptions),
            kinematics=describe_cluster(k),
            taken=", ".join(item.taken) or "(none yet)",
            feedback=feedback.as_text() if feedback else "",
        )
        answer = await ctx.ask(
            "llm",
            [Message("user", text)],
            prompt=prompt.ref,
            output=NameAnswer,
            payload={"cluster": item.model_dump(), "attempt": ctx.attempt},
        )
        parsed = answer.require()
        name = normalise_label(parsed.name) or parsed.name
        source = "offline" if ctx.client.backend == "offline" else "model"
        return NameProposal(name=name, definition=parsed.definition.strip(), source=source)

    async def kinematic(
        item: ClusterItem, last: NameProposal | None, fb: Feedback, ctx: StageContext
    ) -> NameProposal:
        result: NameProposal = ctx.tool("describe_members", describe_members, item)
        return result

    def unique(item: ClusterItem, out: NameProposal) -> CheckResult:
        return check_unique_name(out.name, item.taken)

    def consistent(item: ClusterItem, out: NameProposal) -> CheckResult:
        return check_definition(out.name, out.definition, item.kinematics)

    return Stage(
        name="name",
        propose=propose,
        checks=[unique, consistent],
        escalations=[
            Escalation("describe_members", "name and define it from its kinematics", kinematic)
        ],
        budget=Budget(max_retries=2, max_attempts=4, max_model_calls=6),
        describe=lambda p: f"{p.source}: {p.name}: {p.definition}",
    )


# --- per-session pieces -------------------------------------------------------------------


def _segment_outputs(folder: Path) -> Path:
    """The folder holding a segment run's outputs (``captions.csv``, ``summary.json``)."""
    for cand in (folder, folder / "outputs"):
        if (cand / "captions.csv").is_file() and (cand / "summary.json").is_file():
            return cand
    raise InputError(
        f"{folder} holds no segment outputs (captions.csv and summary.json).",
        fix="name the OUT folder of `ethoagent segment` or a segment run's folder.",
    )


def _session_run_id(row: SessionRow, options: SegmentOptions) -> str:
    p = Path(row.session)
    stat = p.stat() if p.is_file() else None
    ident = json.dumps(
        [
            str(p),
            None if stat is None else [stat.st_size, stat.st_mtime_ns],
            row.video,
            row.fps,
            options.model_dump(mode="json"),
        ],
        sort_keys=True,
    )
    stem = normalise_label(p.stem if p.is_file() else p.name)[:40] or "session"
    return f"profile-seg-{stem}-{hashlib.sha1(ident.encode()).hexdigest()[:10]}"


async def _segment_session(rt: Runtime, row: SessionRow, opts: SegmentOptions) -> dict[str, Any]:
    """Run (or reuse) the segment pipeline on one session; return where its outputs are."""
    if row.segment is not None:
        out = _segment_outputs(Path(row.segment))
        return {"outputs": str(out), "run_id": None, "reused": True}
    runs_dir = rt.run.root.parent
    run_id = _session_run_id(row, opts)
    root = runs_dir / run_id
    if (root / "outputs" / "summary.json").is_file():
        return {"outputs": str(root / "outputs"), "run_id": run_id, "reused": True}
    sources = SegmentSources(
        keypoints=Path(row.session),
        video=None if row.video is None else Path(row.video),
        fps=row.fps,
    )
    await run_pipeline_in(rt, SEGMENT, sources, opts, run_id=run_id)
    return {"outputs": str(root / "outputs"), "run_id": run_id, "reused": False}


def _read_captions(out: Path) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO((out / "captions.csv").read_text(encoding="utf-8"))))


def session_snippets(
    outputs: Path, animals: Sequence[str], opts: SegmentOptions
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Every captioned snippet of ``animals`` in a segment output folder, with kinematics.

    Returns:
        Snippet records (``animal``, ``start``, ``stop``, ``caption``, ``kinematics``) and
        the segment summary (``summary.json``).

    Raises:
        InputError: an animal the keypoint file does not have.
    """
    summary = json.loads((outputs / "summary.json").read_text(encoding="utf-8"))
    data = read_keypoints(summary["keypoints"], fps=float(summary["fps"]))
    names = list(data.individuals)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        feats = compute_features(
            data.points,
            fps=float(summary["fps"]),
            keypoints=list(data.keypoints),
            individuals=names,
            layout=layout_named(summary["layout"], data.keypoints),
            window_s=opts.feature_window_s,
            max_gap_s=opts.max_gap_s,
        )
    base = kinematic_baselines(feats)
    wanted = set(animals)
    out: list[dict[str, Any]] = []
    for r in _read_captions(outputs):
        if r["animal"] not in wanted:
            continue
        a, start, stop = names.index(r["animal"]), int(r["start_frame"]), int(r["stop_frame"])
        kin = summarize_snippet(feats, a, start, stop, base)
        caption = {
            k: r[k] for k in ("label", "posture", "direction", "speed", "social_interaction")
        }
        out.append(
            {
                "animal": r["animal"],
                "start": start,
                "stop": stop,
                "caption": caption,
                "kinematics": kin.model_dump(),
            }
        )
    return out, summary


def _subject(row: SessionRow, individuals: Sequence[str]) -> str:
    """The individual of the keypoint file that a table row profiles."""
    if row.animal in individuals:
        return row.animal
    if len(individuals) == 1:
        return individuals[0]
    raise InputError(
        f"line {row.row}: animal {row.animal!r} is not one of the individuals "
        f"{list(individuals)} of {row.session}.",
        fix="name the individual as the keypoint file does.",
    )


# --- graph ----------------------------------------------------------------------------------


def _write_json(path: Path, value: Any) -> None:
    atomic_write_text(path, json.dumps(value, sort_keys=True) + "\n")


def _read_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def build_profile_graph(rt: Runtime, inputs: ProfileInputs) -> StateGraph[ProfileState]:
    """The profile ``StateGraph``: segment* -> embed -> cluster -> name -> stats -> report."""
    run = rt.run
    opts = inputs.options
    keys = list(dict.fromkeys(r.key for r in inputs.rows))
    first_row = {k: next(r for r in inputs.rows if r.key == k) for k in keys}
    art = run.artifacts_dir
    # sessions per checkpointed step: a graph run takes at most ~100 steps
    per_step = max(1, -(-len(keys) // MAX_SEGMENT_STEPS))

    def timed(state: ProfileState, node: str, t0: float) -> dict[str, float]:
        timings = dict(state.get("timings", {}))
        timings[node] = round(timings.get(node, 0.0) + time.perf_counter() - t0, 4)
        return timings

    def start(state: ProfileState) -> dict[str, Any]:
        return {"n_sessions": len(keys), "session": 0, "segments": [], "warnings": []}

    async def segment(state: ProfileState) -> dict[str, Any]:
        t0 = time.perf_counter()
        i = state["session"]
        done = list(state.get("segments", []))
        for key in keys[i : i + per_step]:
            row = first_row[key]
            with rt.tracer.scope(node="segment", item=Path(row.session).name):
                info = await _segment_session(rt, row, opts.segment)
                rt.tracer.event("session_segmented", session=row.session, **info)
            done.append({"key": key, **info})
            rt.report_progress("sessions", 1, len(keys))
        return {
            "session": min(len(keys), i + per_step),
            "segments": done,
            "timings": timed(state, "segment", t0),
        }

    def more_sessions(state: ProfileState) -> str:
        return "segment" if state["session"] < len(keys) else "embed"

    def embed(state: ProfileState) -> dict[str, Any]:
        t0 = time.perf_counter()
        by_key = {s["key"]: s for s in state["segments"]}
        snippets: list[dict[str, Any]] = []
        subjects: list[dict[str, Any]] = []
        with rt.tracer.scope(node="embed"):
            for key in keys:
                rows = [r for r in inputs.rows if r.key == key]
                outputs = Path(by_key[key]["outputs"])
                summary = json.loads((outputs / "summary.json").read_text(encoding="utf-8"))
                who = {r.row: _subject(r, summary["animals"]) for r in rows}
                recs, summary = session_snippets(outputs, sorted(set(who.values())), opts.segment)
                for r in rows:
                    subjects.append(
                        {
                            "row": r.row,
                            "individual": who[r.row],
                            "frames": int(summary["frames"]),
                            "fps": float(summary["fps"]),
                            "outputs": str(outputs),
                        }
                    )
                for rec in recs:
                    rec["key"] = key
                    rec["text"] = snippet_text(rec["caption"])
                    snippets.append(rec)
            if not snippets:
                raise InputError(
                    "the sessions have no captioned snippet of the profiled animals.",
                    fix="check the sessions' keypoints (are they all missing?).",
                )
            texts = sorted({s["text"] for s in snippets})
            embedder = make_embedder(opts.embedder, rt.settings, tracer=rt.tracer, cache=rt.cache)
            with rt.tracer.timed_tool(
                "embed_texts", {"texts": len(texts), "embedder": embedder.name}
            ) as timing:
                vectors = embedder.embed(texts)
                timing.result = {"shape": list(vectors.shape)}
        _write_json(art / "snippets.json", snippets)
        _write_json(art / "subjects.json", subjects)
        run.save_arrays("embeddings", vectors=vectors, texts=np.asarray(texts))
        rt.report_progress("embedding", 1, 1)
        return {
            "embedder": embedder.name,
            "n_snippets": len(snippets),
            "n_texts": len(texts),
            "timings": timed(state, "embed", t0),
        }

    def cluster(state: ProfileState) -> dict[str, Any]:
        t0 = time.perf_counter()
        snippets = _read_json(art / "snippets.json")
        arrays = run.load_arrays("embeddings")
        texts = [str(t) for t in arrays["texts"]]
        index = {t: i for i, t in enumerate(texts)}
        seconds = np.zeros(len(texts))
        for s in snippets:
            seconds[index[s["text"]]] += s["kinematics"]["seconds"]
        with (
            rt.tracer.scope(node="cluster"),
            rt.tracer.timed_tool(
                "cluster_embeddings", {"points": len(texts), "k": opts.clusters}
            ) as timing,
        ):
            labels, scores = cluster_embeddings(
                arrays["vectors"],
                seconds,
                k=opts.clusters,
                k_range=(opts.min_clusters, opts.max_clusters),
                seed=opts.seed,
            )
            timing.result = {"k": int(labels.max()) + 1, "silhouette": scores}
        k = int(labels.max()) + 1
        for s in snippets:
            s["cluster"] = int(labels[index[s["text"]]])
        _write_json(art / "snippets.json", snippets)
        return {
            "k": k,
            "silhouette": {str(kk): v for kk, v in scores.items()},
            "timings": timed(state, "cluster", t0),
        }

    async def name(state: ProfileState) -> dict[str, Any]:
        t0 = time.perf_counter()
        snippets = _read_json(art / "snippets.json")
        k = state["k"]
        members: list[list[dict[str, Any]]] = [[] for _ in range(k)]
        for s in snippets:
            members[s["cluster"]].append(s)
        order = sorted(range(k), key=lambda c: -sum(m["kinematics"]["seconds"] for m in members[c]))
        stage = make_name_stage()
        entries: list[dict[str, Any]] = []
        routes: Counter[str] = Counter()
        calls = 0
        for c in order:
            ms = members[c]
            total = sum(m["kinematics"]["seconds"] for m in ms) or 1.0
            by_text: Counter[str] = Counter()
            by_label: Counter[str] = Counter()
            for m in ms:
                by_text[m["text"]] += m["kinematics"]["seconds"]
                by_label[m["caption"]["label"]] += m["kinematics"]["seconds"]
            item = ClusterItem(
                cluster=c,
                descriptions=[(t, round(v / total, 4)) for t, v in by_text.most_common(8)],
                labels={lab: round(v, 3) for lab, v in by_label.most_common()},
                kinematics=summarize_cluster(
                    [SnippetKinematics.model_validate(m["kinematics"]) for m in ms]
                ),
                taken=[e["name"] for e in entries],
            )
            o = await run_item(
                stage,
                f"cluster {c + 1}",
                item,
                client=rt.client,
                tracer=rt.tracer,
                supervisor=rt.supervisor,
            )
            calls += o.model_calls
            if o.status == "accepted" and o.output is not None:
                prop = o.output
                route = "accepted_first" if o.attempts == 1 else f"accepted_by_{o.accepted_by}"
            else:
                prop = describe_members(item)
                route = "flagged"
            routes[route] += 1
            entries.append(
                {
                    "cluster": c,
                    "name": prop.name,
                    "definition": prop.definition,
                    "source": prop.source,
                    "status": o.status,
                    "attempts": o.attempts,
                    "checks": [ch.model_dump() for ch in o.checks],
                    "kinematics": item.kinematics.model_dump(),
                    "descriptions": item.descriptions,
                    "caption_labels": item.labels,
                }
            )
            rt.report_progress("naming", 1, k)
        _write_json(art / "vocabulary.json", entries)
        return {
            "vocabulary": [e["name"] for e in entries],
            "naming": dict(routes),
            "model_calls": calls,
            "timings": timed(state, "name", t0),
        }

    def stats(state: ProfileState) -> dict[str, Any]:
        t0 = time.perf_counter()
        snippets = _read_json(art / "snippets.json")
        subjects = _read_json(art / "subjects.json")
        entries = _read_json(art / "vocabulary.json")
        names = [e["name"] for e in entries]
        by_cluster = {e["cluster"]: e["name"] for e in entries}
        rows = {r.row: r for r in inputs.rows}
        profiles: list[Profile] = []
        with rt.tracer.scope(node="stats"):
            for subj in subjects:
                row = rows[subj["row"]]
                frames = np.full(subj["frames"], UNLABELLED, dtype=object)
                for s in snippets:
                    if s["key"] == row.key and s["animal"] == subj["individual"]:
                        frames[s["start"] : s["stop"]] = by_cluster[s["cluster"]]
                profiles.append(compute_profile(list(frames), names, subj["fps"]))
            groups = [rows[s["row"]].group for s in subjects]
            pairs = None
            warn = list(state.get("warnings", []))
            group_names = sorted(set(groups))
            if opts.reference_group is not None:
                if opts.reference_group not in group_names:
                    raise InputError(
                        f"reference group {opts.reference_group!r} is not among {group_names}.",
                        fix="pass one of the table's groups.",
                    )
                pairs = [
                    (opts.reference_group, g) for g in group_names if g != opts.reference_group
                ]
            comparisons = []
            if len(group_names) >= 2:
                with rt.tracer.timed_tool(
                    "compare_groups", {"profiles": len(profiles), "groups": group_names}
                ) as timing:
                    comparisons = compare_groups(
                        profiles,
                        groups,
                        units=[rows[s["row"]].animal for s in subjects],
                        metrics=opts.metrics,
                        pairs=pairs,
                        alpha=opts.alpha,
                        n_resamples=opts.n_resamples,
                        seed=opts.seed,
                    )
                    timing.result = {"tests": len(comparisons)}
            else:
                warn.append("one group only: no group comparison")
            restricted = find_session_restricted(
                profiles,
                min_fraction=opts.novel_min_fraction,
                max_share=opts.novel_max_share,
                max_p=opts.novel_max_p,
            )
            reference_match: list[tuple[int, float]] = []
            ref_names: list[str] = []
            if inputs.reference:
                ref_names = list(inputs.reference)
                embedder = make_embedder(
                    opts.embedder, rt.settings, tracer=rt.tracer, cache=rt.cache
                )
                texts = [f"{e['name'].replace('_', ' ')}: {e['definition']}" for e in entries] + [
                    f"{n.replace('_', ' ')}: {d}" for n, d in inputs.reference.items()
                ]
                vecs = embedder.embed(texts)
                reference_match = match_reference(vecs[: len(entries)], vecs[len(entries) :])
            novel: list[dict[str, Any]] = []
            for i, e in enumerate(entries):
                reasons = []
                if e["name"] in restricted:
                    has = restricted[e["name"]]
                    reasons.append(
                        f"present (>= {opts.novel_min_fraction:.0%} of the time) in only "
                        f"{len(has)} of {len(profiles)} profiles (bout dispersion p = "
                        f"{bout_dispersion_p(profiles, e['name']):.2g})"
                    )
                if reference_match and reference_match[i][1] < opts.reference_threshold:
                    j, sim = reference_match[i]
                    reasons.append(
                        f"fits no reference entry (closest {ref_names[j]!r}, cosine {sim:.2f} "
                        f"< {opts.reference_threshold})"
                    )
                if reasons:
                    novel.append(
                        {
                            "name": e["name"],
                            "reasons": reasons,
                            "profiles": [subjects[j]["row"] for j in restricted.get(e["name"], [])],
                        }
                    )
            for n in novel:
                rt.tracer.event("novel_behaviour", **n)
        _write_json(art / "profiles.json", [p.model_dump() for p in profiles])
        _write_json(art / "comparisons.json", [c.model_dump() for c in comparisons])
        _write_json(
            art / "novel.json",
            {
                "novel": novel,
                "reference": {
                    e["name"]: {"closest": ref_names[m[0]], "cosine": m[1]}
                    for e, m in zip(entries, reference_match, strict=False)
                },
            },
        )
        return {
            "n_tests": len(comparisons),
            "significant": [
                f"{c.behaviour} {c.metric} {c.group_b} vs {c.group_a}"
                for c in comparisons
                if c.significant
            ],
            "novel": [n["name"] for n in novel],
            "warnings": warn,
            "timings": timed(state, "stats", t0),
        }

    def report(state: ProfileState) -> dict[str, Any]:
        return {"outputs": write_profile_outputs(rt, inputs, state)}

    g: StateGraph[ProfileState] = StateGraph(ProfileState)
    g.add_node("start", start)
    g.add_node("segment", segment)
    g.add_node("embed", embed)
    g.add_node("cluster", cluster)
    g.add_node("name", name)
    g.add_node("stats", stats)
    g.add_node("report", report)
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


__all__ = [
    "GRAPH_NAME",
    "NAME_PROMPT",
    "ClusterItem",
    "NameAnswer",
    "build_profile_graph",
    "describe_members",
    "name_from_members",
    "offline_name",
    "run_profile",
    "session_snippets",
]
