"""The profile graph's node functions: each takes the graph state and a ``ProfileEnv``.

``graphs.profile.graph`` binds the env with ``functools.partial`` and wires the nodes
(start -> segment* -> embed -> cluster -> name -> stats -> report); a node can be called
alone on a small state. Tables live in the run's artifacts; each node returns its state
update. The naming stage the ``name`` node runs per cluster is in
``graphs.profile.stages``.
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
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Self

import numpy as np

from ethoagent.agent.embed import make_embedder
from ethoagent.errors import InputError
from ethoagent.graphs.kit.env import NodeEnv
from ethoagent.graphs.kit.node_io import add_timing, read_json, write_json
from ethoagent.graphs.kit.nodes import run_item
from ethoagent.graphs.kit.run import run_pipeline_in
from ethoagent.graphs.kit.runtime import Runtime
from ethoagent.graphs.profile.inputs import ProfileInputs, ProfileState, SessionRow
from ethoagent.graphs.profile.options import ProfileOptions
from ethoagent.graphs.profile.report import write_profile_outputs
from ethoagent.graphs.profile.stages import ClusterItem, describe_members, make_name_stage
from ethoagent.graphs.segment import PIPELINE as SEGMENT
from ethoagent.graphs.segment import SegmentOptions, SegmentSources, output_video_features
from ethoagent.io.keypoints import KeypointFormat, read_keypoints
from ethoagent.tools.captions import (
    SnippetKinematics,
    kinematic_baselines,
    normalise_label,
    summarize_snippet,
)
from ethoagent.tools.features import Features, compute_features, layout_named
from ethoagent.tools.profile_stats import (
    UNLABELLED,
    Comparison,
    Profile,
    bout_dispersion_p,
    compare_groups,
    compute_profile,
    find_session_restricted,
)
from ethoagent.tools.vocabulary import (
    cluster_embeddings,
    match_reference,
    snippet_text,
    summarize_cluster,
)

MAX_SEGMENT_STEPS = 60
"""Sessions are grouped so that segmenting takes at most this many graph steps."""


@dataclass(frozen=True)
class ProfileEnv(NodeEnv[ProfileInputs, ProfileOptions]):
    """The profile nodes' ``NodeEnv``, with the distinct sessions and their grouping.

    Attributes:
        keys: the distinct sessions (``SessionRow.key``), in table order.
        first_row: session key -> its first row of the table.
        per_step: sessions segmented per checkpointed ``segment`` step.
    """

    keys: tuple[str, ...]
    first_row: dict[str, SessionRow]
    per_step: int

    @classmethod
    def of(cls, rt: Runtime, inputs: ProfileInputs) -> Self:
        """The env of a run of ``inputs`` in ``rt``."""
        keys = tuple(dict.fromkeys(r.key for r in inputs.rows))
        return cls(
            runtime=rt,
            inputs=inputs,
            options=inputs.options,
            run=rt.run,
            keys=keys,
            first_row={k: next(r for r in inputs.rows if r.key == k) for k in keys},
            # sessions per checkpointed step: a graph run takes at most ~100 steps
            per_step=max(1, -(-len(keys) // MAX_SEGMENT_STEPS)),
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


def _session_run_id(
    row: SessionRow, options: SegmentOptions, body: str | None, fmt: KeypointFormat | None
) -> str:
    p = Path(row.source)
    stat = p.stat() if p.is_file() else None
    ident = json.dumps(
        [
            str(p),
            None if stat is None else [stat.st_size, stat.st_mtime_ns],
            row.video,
            row.fps,
            options.model_dump(mode="json"),
            *([] if body is None else [body]),
            *([] if fmt is None else [fmt]),
            *([] if row.skeleton is None else [row.skeleton]),
        ],
        sort_keys=True,
    )
    stem = normalise_label(p.stem if p.is_file() else p.name)[:40] or "session"
    return f"profile-seg-{stem}-{hashlib.sha1(ident.encode()).hexdigest()[:10]}"


async def _segment_session(
    rt: Runtime,
    row: SessionRow,
    opts: SegmentOptions,
    body: str | None,
    fmt: KeypointFormat | None = None,
) -> dict[str, Any]:
    """Run (or reuse) the segment pipeline on one session; return where its outputs are."""
    if row.segment is not None:
        out = _segment_outputs(Path(row.segment))
        return {"outputs": str(out), "run_id": None, "reused": True}
    runs_dir = rt.run.root.parent
    run_id = _session_run_id(row, opts, body, fmt)
    root = runs_dir / run_id
    if (root / "outputs" / "summary.json").is_file():
        return {"outputs": str(root / "outputs"), "run_id": run_id, "reused": True}
    sources = SegmentSources(
        keypoints=Path(row.session) if row.session else None,
        video=None if row.video is None else Path(row.video),
        fps=row.fps,
        body=None if body is None else Path(body),
        format=fmt,
        skeleton=None if row.skeleton is None else Path(row.skeleton),
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
    summary = read_json(outputs / "summary.json")
    if summary.get("feature_source") == "video":  # a video-only session: blob features
        return _snippet_records(
            outputs, animals, output_video_features(outputs, summary, opts), summary
        )
    data = read_keypoints(
        summary["keypoints"],
        fps=float(summary["fps"]),
        format=summary.get("format"),
        skeleton=summary.get("skeleton"),
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        feats = compute_features(
            data.points,
            fps=float(summary["fps"]),
            keypoints=list(data.keypoints),
            individuals=list(data.individuals),
            layout=layout_named(summary["layout"], data.keypoints),
            window_s=opts.feature_window_s,
            max_gap_s=opts.max_gap_s,
        )
    return _snippet_records(outputs, animals, feats, summary)


def _snippet_records(
    outputs: Path, animals: Sequence[str], feats: Features, summary: dict[str, Any]
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """``session_snippets``' records from the session's features."""
    names = list(feats.individuals)
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
        f"{list(individuals)} of {row.source}.",
        fix="name the individual as the keypoint file does.",
    )


# --- nodes ----------------------------------------------------------------------------------


def start(state: ProfileState, env: ProfileEnv) -> dict[str, Any]:
    """The session counter and empty lists: the first checkpoint of a run."""
    return {"n_sessions": len(env.keys), "session": 0, "segments": [], "warnings": []}


async def segment(state: ProfileState, env: ProfileEnv) -> dict[str, Any]:
    """Segment the next ``env.per_step`` sessions (or reuse their segment runs)."""
    t0 = time.perf_counter()
    rt, keys = env.runtime, env.keys
    i = state["session"]
    done = list(state.get("segments", []))
    for key in keys[i : i + env.per_step]:
        row = env.first_row[key]
        with rt.tracer.scope(node="segment", item=Path(row.source).name):
            if row.skeleton is None and env.inputs.skeleton is not None:
                row = row.model_copy(update={"skeleton": env.inputs.skeleton})
            info = await _segment_session(
                rt, row, env.options.segment, env.inputs.body, env.inputs.format
            )
            rt.tracer.event("session_segmented", session=row.session, **info)
        done.append({"key": key, **info})
        rt.report_progress("sessions", 1, len(keys))
    return {
        "session": min(len(keys), i + env.per_step),
        "segments": done,
        "timings": add_timing(state, "segment", t0),
    }


def more_sessions(state: ProfileState, env: ProfileEnv) -> str:
    """The next node: ``segment`` while sessions remain, then ``embed``."""
    return "segment" if state["session"] < len(env.keys) else "embed"


def _subjects_and_snippets(
    state: ProfileState, env: ProfileEnv
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The profiled subjects and their captioned snippets, from the segment outputs.

    Returns:
        ``(subjects, snippets)``: one subject per table row (its individual, frames, fps,
        segment outputs), and every captioned snippet of the profiled animals with its
        session key and description text.
    """
    by_key = {s["key"]: s for s in state["segments"]}
    snippets: list[dict[str, Any]] = []
    subjects: list[dict[str, Any]] = []
    for key in env.keys:
        rows = [r for r in env.inputs.rows if r.key == key]
        outputs = Path(by_key[key]["outputs"])
        summary = read_json(outputs / "summary.json")
        who = {r.row: _subject(r, summary["animals"]) for r in rows}
        recs, summary = session_snippets(outputs, sorted(set(who.values())), env.options.segment)
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
    return subjects, snippets


def embed(state: ProfileState, env: ProfileEnv) -> dict[str, Any]:
    """Collect the snippets of the profiled animals and embed their distinct descriptions.

    Writes ``snippets.json``, ``subjects.json`` and the ``embeddings`` arrays (``vectors``
    (texts, dims), ``texts``).
    """
    t0 = time.perf_counter()
    rt, art = env.runtime, env.run.artifacts_dir
    with rt.tracer.scope(node="embed"):
        subjects, snippets = _subjects_and_snippets(state, env)
        if not snippets:
            raise InputError(
                "the sessions have no captioned snippet of the profiled animals.",
                fix="check the sessions' keypoints (are they all missing?).",
            )
        texts = sorted({s["text"] for s in snippets})
        embedder = make_embedder(
            env.options.embedder, rt.settings, tracer=rt.tracer, cache=rt.cache
        )
        with rt.tracer.timed_tool(
            "embed_texts", {"texts": len(texts), "embedder": embedder.name}
        ) as timing:
            vectors = embedder.embed(texts)
            timing.result = {"shape": list(vectors.shape)}
    write_json(art / "snippets.json", snippets)
    write_json(art / "subjects.json", subjects)
    env.run.save_arrays("embeddings", vectors=vectors, texts=np.asarray(texts))
    rt.report_progress("embedding", 1, 1)
    return {
        "embedder": embedder.name,
        "n_snippets": len(snippets),
        "n_texts": len(texts),
        "timings": add_timing(state, "embed", t0),
    }


def cluster(state: ProfileState, env: ProfileEnv) -> dict[str, Any]:
    """k-means of the description embeddings; each snippet in ``snippets.json`` gets one."""
    t0 = time.perf_counter()
    rt, opts, art = env.runtime, env.options, env.run.artifacts_dir
    snippets = read_json(art / "snippets.json")
    arrays = env.run.load_arrays("embeddings")
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
    write_json(art / "snippets.json", snippets)
    return {
        "k": k,
        "silhouette": {str(kk): v for kk, v in scores.items()},
        "timings": add_timing(state, "cluster", t0),
    }


def _cluster_item(c: int, ms: Sequence[dict[str, Any]], taken: list[str]) -> ClusterItem:
    """Cluster ``c`` as the naming stage sees it, from its member snippets ``ms``."""
    total = sum(m["kinematics"]["seconds"] for m in ms) or 1.0
    by_text: Counter[str] = Counter()
    by_label: Counter[str] = Counter()
    for m in ms:
        by_text[m["text"]] += m["kinematics"]["seconds"]
        by_label[m["caption"]["label"]] += m["kinematics"]["seconds"]
    return ClusterItem(
        cluster=c,
        descriptions=[(t, round(v / total, 4)) for t, v in by_text.most_common(8)],
        labels={lab: round(v, 3) for lab, v in by_label.most_common()},
        kinematics=summarize_cluster(
            [SnippetKinematics.model_validate(m["kinematics"]) for m in ms]
        ),
        taken=taken,
    )


async def name(state: ProfileState, env: ProfileEnv) -> dict[str, Any]:
    """Name the clusters in order of size (the naming stage); write ``vocabulary.json``."""
    t0 = time.perf_counter()
    rt, art = env.runtime, env.run.artifacts_dir
    snippets = read_json(art / "snippets.json")
    k = state["k"]
    members: list[list[dict[str, Any]]] = [[] for _ in range(k)]
    for s in snippets:
        members[s["cluster"]].append(s)
    order = sorted(range(k), key=lambda c: -sum(m["kinematics"]["seconds"] for m in members[c]))
    stage = make_name_stage()
    entries: list[dict[str, Any]] = []
    routes: Counter[str] = Counter()
    calls = 0
    for c in (c for c in order if members[c]):  # a resumed re-run may have merged some
        item = _cluster_item(c, members[c], [e["name"] for e in entries])
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
    if env.inputs.reviewed:
        entries = _apply_edits(env, entries, members)
        write_json(art / "snippets.json", snippets)  # merged members now name their entry
    write_json(art / "vocabulary.json", entries)
    return {
        "vocabulary": [e["name"] for e in entries],
        "naming": dict(routes),
        "model_calls": calls,
        "timings": add_timing(state, "name", t0),
    }


def _apply_edits(
    env: ProfileEnv, entries: list[dict[str, Any]], members: list[list[dict[str, Any]]]
) -> list[dict[str, Any]]:
    """``entries`` with a person's renames and merges applied; merged members move.

    A merged entry keeps its name and definition; its kinematics, descriptions and caption
    labels are summarised again over the members of both.

    Raises:
        InputError: an edit naming a cluster that has no entry, or a name already taken.
    """
    by_cluster = {e["cluster"]: e for e in entries}
    for ed in env.inputs.reviewed:
        gone = 0 <= ed.cluster < len(members) and not members[ed.cluster]
        if ed.action == "merge" and gone and ed.into in by_cluster:
            continue  # applied before a resume: its snippets already name ``into``
        target = ed.into if ed.action == "merge" else ed.cluster
        if ed.cluster not in by_cluster or target not in by_cluster or ed.cluster == ed.into:
            raise InputError(
                f"reviewed {ed.action} of cluster {ed.cluster}: no such entry (or itself).",
                fix="undo it in `ethoagent review`.",
            )
        if ed.action == "rename":
            taken = {e["name"] for c, e in by_cluster.items() if c != ed.cluster}
            if not ed.name or ed.name in taken:
                raise InputError(
                    f"reviewed rename of cluster {ed.cluster} to {ed.name!r}: empty or taken.",
                    fix="undo it in `ethoagent review`, or merge into the entry of that name.",
                )
            by_cluster[ed.cluster] = {
                **by_cluster[ed.cluster],
                "name": ed.name,
                "source": "reviewer",
            }
            continue
        assert ed.into is not None  # target is in by_cluster
        for m in members[ed.cluster]:
            m["cluster"] = ed.into
        members[ed.into] += members[ed.cluster]
        members[ed.cluster] = []
        del by_cluster[ed.cluster]
        item = _cluster_item(ed.into, members[ed.into], [])
        by_cluster[ed.into] = {
            **by_cluster[ed.into],
            "kinematics": item.kinematics.model_dump(),
            "descriptions": item.descriptions,
            "caption_labels": item.labels,
        }
    return [by_cluster[e["cluster"]] for e in entries if e["cluster"] in by_cluster]


def _profiles(
    env: ProfileEnv,
    snippets: Sequence[dict[str, Any]],
    subjects: Sequence[dict[str, Any]],
    entries: Sequence[dict[str, Any]],
) -> list[Profile]:
    """One profile per subject, from its frames' labels (its snippets' entries)."""
    names = [e["name"] for e in entries]
    by_cluster = {e["cluster"]: e["name"] for e in entries}
    rows = {r.row: r for r in env.inputs.rows}
    profiles: list[Profile] = []
    for subj in subjects:
        row = rows[subj["row"]]
        frames = np.full(subj["frames"], UNLABELLED, dtype=object)
        for s in snippets:
            if s["key"] == row.key and s["animal"] == subj["individual"]:
                frames[s["start"] : s["stop"]] = by_cluster[s["cluster"]]
        profiles.append(compute_profile(list(frames), names, subj["fps"]))
    return profiles


def _comparisons(
    env: ProfileEnv,
    profiles: Sequence[Profile],
    subjects: Sequence[dict[str, Any]],
    warn: list[str],
) -> list[Comparison]:
    """The group comparisons of the profiles.

    A single group has none: a warning is appended to ``warn`` instead.
    """
    rt, opts = env.runtime, env.options
    rows = {r.row: r for r in env.inputs.rows}
    groups = [rows[s["row"]].group for s in subjects]
    pairs = None
    group_names = sorted(set(groups))
    if opts.reference_group is not None:
        if opts.reference_group not in group_names:
            raise InputError(
                f"reference group {opts.reference_group!r} is not among {group_names}.",
                fix="pass one of the table's groups.",
            )
        pairs = [(opts.reference_group, g) for g in group_names if g != opts.reference_group]
    if len(group_names) < 2:
        warn.append("one group only: no group comparison")
        return []
    with rt.tracer.timed_tool(
        "compare_groups", {"profiles": len(profiles), "groups": group_names}
    ) as timing:
        comparisons = compare_groups(
            list(profiles),
            groups,
            units=[rows[s["row"]].animal for s in subjects],
            metrics=opts.metrics,
            pairs=pairs,
            alpha=opts.alpha,
            n_resamples=opts.n_resamples,
            seed=opts.seed,
        )
        timing.result = {"tests": len(comparisons)}
    return comparisons


def _reference_match(env: ProfileEnv, entries: Sequence[dict[str, Any]]) -> list[tuple[int, float]]:
    """Per entry, ``(closest reference entry, cosine)``; empty without a reference."""
    if not env.inputs.reference:
        return []
    rt = env.runtime
    embedder = make_embedder(env.options.embedder, rt.settings, tracer=rt.tracer, cache=rt.cache)
    texts = [f"{e['name'].replace('_', ' ')}: {e['definition']}" for e in entries] + [
        f"{n.replace('_', ' ')}: {d}" for n, d in env.inputs.reference.items()
    ]
    vecs = embedder.embed(texts)
    return match_reference(vecs[: len(entries)], vecs[len(entries) :])


def _novel(
    env: ProfileEnv,
    entries: Sequence[dict[str, Any]],
    profiles: Sequence[Profile],
    subjects: Sequence[dict[str, Any]],
    reference_match: Sequence[tuple[int, float]],
) -> list[dict[str, Any]]:
    """The novel entries: present in only some profiles, or fitting no reference entry."""
    opts = env.options
    ref_names = list(env.inputs.reference or {})
    restricted = find_session_restricted(
        list(profiles),
        min_fraction=opts.novel_min_fraction,
        max_share=opts.novel_max_share,
        max_p=opts.novel_max_p,
    )
    novel: list[dict[str, Any]] = []
    for i, e in enumerate(entries):
        reasons = []
        if e["name"] in restricted:
            has = restricted[e["name"]]
            reasons.append(
                f"present (>= {opts.novel_min_fraction:.0%} of the time) in only "
                f"{len(has)} of {len(profiles)} profiles (bout dispersion p = "
                f"{bout_dispersion_p(list(profiles), e['name']):.2g})"
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
    return novel


def stats(state: ProfileState, env: ProfileEnv) -> dict[str, Any]:
    """Profiles, group comparisons and novel behaviour; written to the artifacts."""
    t0 = time.perf_counter()
    rt, art = env.runtime, env.run.artifacts_dir
    snippets = read_json(art / "snippets.json")
    subjects = read_json(art / "subjects.json")
    entries = read_json(art / "vocabulary.json")
    with rt.tracer.scope(node="stats"):
        profiles = _profiles(env, snippets, subjects, entries)
        warn = list(state.get("warnings", []))
        comparisons = _comparisons(env, profiles, subjects, warn)
        reference_match = _reference_match(env, entries)
        novel = _novel(env, entries, profiles, subjects, reference_match)
        for n in novel:
            rt.tracer.event("novel_behaviour", **n)
    ref_names = list(env.inputs.reference or {})
    write_json(art / "profiles.json", [p.model_dump() for p in profiles])
    write_json(art / "comparisons.json", [c.model_dump() for c in comparisons])
    write_json(
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
        "timings": add_timing(state, "stats", t0),
    }


def report(state: ProfileState, env: ProfileEnv) -> dict[str, Any]:
    """Write the outputs (vocabulary, profiles, comparisons, figures, ``report.md``)."""
    return {"outputs": write_profile_outputs(env.runtime, env.inputs, state)}
