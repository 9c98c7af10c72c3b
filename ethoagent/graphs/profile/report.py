"""Outputs of a profile run: tables, the vocabulary, figures and ``report.md``.

Written into the run's ``outputs/`` (the CLI copies them to its OUT folder):

- ``profiles.csv`` (``profiles.parquet`` too when pyarrow is installed): one row per
  (profile, behaviour): row of the sessions table, session, animal, group, day,
  behaviour, ``time_fraction`` (share of the labelled time), ``bouts``,
  ``bouts_per_min``, ``mean_bout_s``, ``labelled_s``;
- ``profile_matrix.csv``: one row per profile, one ``time_fraction`` column per behaviour;
- ``transitions.csv``: per profile, bout-to-bout transition counts and row probabilities;
- ``comparisons.csv``: every group test (difference in means with its bootstrap CI,
  Hedges' g, Cliff's delta, permutation p, BH q, significant);
- ``vocabulary.json``: the entries (name, definition, who named it, checks, member
  kinematics, the captions behind it, example snippets, novelty);
- ``snippets.csv``: every snippet with its description and vocabulary entry;
- ``profile_heatmap.png``, ``group_differences.png``, ``transitions.png``;
- ``summary.json`` and ``report.md``: every warning (the profile's and each segment
  run's, named by session, a DEC that did not converge included), the body roles each
  keypoint set gave (matched, derived, absent, and the features that disables) and the
  unit of its positions, and the share of time per behaviour with a column per profile
  (session and animal) beside the seconds summed over all of them.
"""

from __future__ import annotations

import csv
import importlib.util
import io
import json
import math
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ethoagent.figures import new_figure, png_bytes
from ethoagent.graphs.kit.node_io import read_json
from ethoagent.graphs.kit.report_md import roles_md, unit_words, warnings_md
from ethoagent.graphs.profile.inputs import ProfileInputs, ProfileState, SessionRow
from ethoagent.tools.profile_stats import Comparison, Profile, pooled_transitions

if TYPE_CHECKING:
    from ethoagent.graphs.kit.runtime import Runtime


def _csv(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    w.writerows(rows)
    return buf.getvalue()


def _r(x: float, digits: int = 6) -> float | str:
    return "" if not math.isfinite(x) else round(x, digits)


def write_profile_outputs(
    rt: Runtime, inputs: ProfileInputs, state: ProfileState | Mapping[str, Any]
) -> list[str]:
    """Write every output of a finished profile run; return their paths relative to the run."""
    run = rt.run
    art = run.artifacts_dir
    rows = {r.row: r for r in inputs.rows}
    subjects = read_json(art / "subjects.json")
    profiles = [Profile.model_validate(p) for p in read_json(art / "profiles.json")]
    comparisons = [Comparison.model_validate(c) for c in read_json(art / "comparisons.json")]
    entries = read_json(art / "vocabulary.json")
    snippets = read_json(art / "snippets.json")
    novel = read_json(art / "novel.json")
    names = [e["name"] for e in entries]
    who = [rows[s["row"]] for s in subjects]
    outputs: list[Path] = []

    tidy = []
    for row, p in zip(who, profiles, strict=True):
        for b in names:
            tidy.append(
                [
                    row.row,
                    row.source,
                    row.animal,
                    row.group,
                    row.day,
                    b,
                    _r(p.time_fraction[b]),
                    p.bouts[b],
                    _r(p.bouts_per_min[b]),
                    _r(p.mean_bout_s[b]),
                    _r(p.labelled_frames / p.fps, 3),
                ]
            )
    header = [
        "row",
        "session",
        "animal",
        "group",
        "day",
        "behaviour",
        "time_fraction",
        "bouts",
        "bouts_per_min",
        "mean_bout_s",
        "labelled_s",
    ]
    outputs.append(run.write_output("profiles.csv", _csv(header, tidy)))
    if importlib.util.find_spec("pyarrow") is not None:
        import pandas as pd

        frame = pd.DataFrame(tidy, columns=header).replace("", np.nan)
        buf = io.BytesIO()
        frame.to_parquet(buf, index=False)
        outputs.append(run.write_output("profiles.parquet", buf.getvalue()))
    outputs.append(
        run.write_output(
            "profile_matrix.csv",
            _csv(
                ["row", "session", "animal", "group", "day", *names],
                [
                    [r.row, r.source, r.animal, r.group, r.day]
                    + [_r(p.time_fraction[b]) for b in names]
                    for r, p in zip(who, profiles, strict=True)
                ],
            ),
        )
    )
    trans_rows = []
    for r, p in zip(who, profiles, strict=True):
        prob = p.transition_probabilities()
        for i, a in enumerate(names):
            for j, b in enumerate(names):
                if p.transitions[i][j]:
                    trans_rows.append(
                        [
                            r.row,
                            r.source,
                            r.animal,
                            r.group,
                            a,
                            b,
                            p.transitions[i][j],
                            _r(prob[i, j]),
                        ]
                    )
    outputs.append(
        run.write_output(
            "transitions.csv",
            _csv(
                ["row", "session", "animal", "group", "from", "to", "count", "probability"],
                trans_rows,
            ),
        )
    )
    comp_header = list(Comparison.model_fields)
    outputs.append(
        run.write_output(
            "comparisons.csv",
            _csv(
                comp_header,
                [
                    [_r(v) if isinstance(v, float) else v for v in c.model_dump().values()]
                    for c in comparisons
                ],
            ),
        )
    )
    by_name = {n["name"]: n for n in novel["novel"]}
    examples = _examples(snippets, entries, inputs, inputs.options.examples)
    vocab = {
        "embedder": state.get("embedder"),
        "clusters": state.get("k"),
        "silhouette": state.get("silhouette", {}),
        "backend": rt.settings.backend,
        "entries": [
            {
                "name": e["name"],
                "definition": e["definition"],
                "cluster": e["cluster"],
                "named_by": e["source"],
                "status": e["status"],
                "attempts": e["attempts"],
                "checks": e["checks"],
                "members": e["kinematics"]["members"],
                "seconds": e["kinematics"]["seconds"],
                "kinematics": e["kinematics"],
                "caption_labels": e["caption_labels"],
                "descriptions": e["descriptions"],
                "examples": examples[e["name"]],
                "novel": e["name"] in by_name,
                "novel_reasons": by_name.get(e["name"], {}).get("reasons", []),
                "reference_match": novel["reference"].get(e["name"]),
            }
            for e in entries
        ],
    }
    outputs.append(run.write_json_output("vocabulary.json", vocab))
    cluster_name = {e["cluster"]: e["name"] for e in entries}
    sessions = {r.key: r.source for r in inputs.rows}
    outputs.append(
        run.write_output(
            "snippets.csv",
            _csv(
                [
                    "session",
                    "animal",
                    "start_frame",
                    "stop_frame",
                    "seconds",
                    "behaviour",
                    "description",
                ],
                [
                    [
                        sessions[s["key"]],
                        s["animal"],
                        s["start"],
                        s["stop"],
                        s["kinematics"]["seconds"],
                        cluster_name[s["cluster"]],
                        s["text"],
                    ]
                    for s in snippets
                ],
            ),
        )
    )
    outputs.append(run.write_output("profile_heatmap.png", _heatmap(who, profiles, names)))
    outputs.append(run.write_output("group_differences.png", _differences(comparisons, names)))
    outputs.append(run.write_output("transitions.png", _transition_figure(who, profiles, names)))
    summary = _summary(rt, inputs, state, who, profiles, comparisons, vocab)
    notes = statistics_notes(who, comparisons, inputs.options.alpha, keypoint_sets(subjects))
    segments = segment_summaries(subjects)
    summary["warnings"] = [*summary["warnings"], *notes, *segment_warnings(segments)]
    summary["bodies"] = body_records(segments)
    summary["shares"] = {
        "profiles": [f"{Path(r.session).name} {r.animal}" for r in who],
        "time_fraction": {b: [round(p.time_fraction[b], 4) for p in profiles] for b in names},
    }
    summary["reviewed_edits"] = len(inputs.reviewed)
    outputs.append(run.write_json_output("summary.json", summary))
    outputs.append(run.write_output("report.md", _report_md(summary, vocab, comparisons)))
    return [str(Path(p).relative_to(run.root)) for p in outputs]


def _examples(
    snippets: Sequence[Mapping[str, Any]],
    entries: Sequence[Mapping[str, Any]],
    inputs: ProfileInputs,
    n: int,
) -> dict[str, list[dict[str, Any]]]:
    """Up to ``n`` example snippets per entry, the longest first, spread over sessions."""
    sessions = {r.key: r.source for r in inputs.rows}
    out: dict[str, list[dict[str, Any]]] = {}
    for e in entries:
        members = sorted(
            (s for s in snippets if s["cluster"] == e["cluster"]),
            key=lambda s: (-s["kinematics"]["seconds"], s["key"], s["start"]),
        )
        by_session: dict[str, list[Mapping[str, Any]]] = defaultdict(list)
        for s in members:
            by_session[s["key"]].append(s)
        picked: list[Mapping[str, Any]] = []
        queues = list(by_session.values())
        while len(picked) < n and any(queues):
            for q in queues:
                if q and len(picked) < n:
                    picked.append(q.pop(0))
        out[e["name"]] = [
            {
                "session": sessions[s["key"]],
                "animal": s["animal"],
                "start_frame": s["start"],
                "stop_frame": s["stop"],
                "seconds": s["kinematics"]["seconds"],
                "description": s["text"],
            }
            for s in picked
        ]
    return out


# --- figures -----------------------------------------------------------------------------


def _heatmap(who: Sequence[SessionRow], profiles: Sequence[Profile], names: Sequence[str]) -> bytes:
    order = sorted(range(len(who)), key=lambda i: (who[i].group, who[i].day, who[i].row))
    m = np.asarray([[profiles[i].time_fraction[b] for b in names] for i in order])
    fig, ax = new_figure(max(5.0, 0.55 * len(names) + 3), max(3.0, 0.25 * len(order) + 1.5))
    im = ax.imshow(m, aspect="auto", cmap="viridis", vmin=0)
    ax.set_xticks(range(len(names)), names, rotation=45, ha="right", fontsize=8)
    labels = [
        f"{who[i].group} | {who[i].animal}" + (f" | {who[i].day}" if who[i].day else "")
        for i in order
    ]
    ax.set_yticks(range(len(order)), labels, fontsize=7)
    fig.colorbar(im, ax=ax, label="share of labelled time")
    ax.set_title("behaviour profiles (rows sorted by group)")
    return png_bytes(fig)


def _differences(comparisons: Sequence[Comparison], names: Sequence[str]) -> bytes:
    tf = [c for c in comparisons if c.metric == "time_fraction"]
    pairs = list(dict.fromkeys((c.group_a, c.group_b) for c in tf))
    fig, ax = new_figure(7.0, max(2.5, 0.35 * len(names) * max(1, len(pairs)) + 1.2))
    if not tf:
        ax.text(0.5, 0.5, "one group only: no comparison", ha="center", va="center")
        ax.set_axis_off()
        return png_bytes(fig)
    height = 0.8 / max(1, len(pairs))
    for k, (a, b) in enumerate(pairs):
        rows = {c.behaviour: c for c in tf if (c.group_a, c.group_b) == (a, b)}
        ys = np.arange(len(names)) + (k - (len(pairs) - 1) / 2) * height
        d = np.asarray([rows[n].difference for n in names])
        tested = np.asarray([rows[n].tested for n in names])
        lo = np.asarray([rows[n].ci_low for n in names])[tested]
        hi = np.asarray([rows[n].ci_high for n in names])[tested]
        sig = np.asarray([rows[n].significant for n in names])
        line = ax.errorbar(d[tested], ys[tested], xerr=[d[tested] - lo, hi - d[tested]],
                           fmt="o", capsize=3, label=f"{b} − {a}")  # fmt: skip
        ax.scatter(d[sig], ys[sig], s=90, facecolors="none", edgecolors=line[0].get_color())
        if not tested.all():
            ax.scatter(d[~tested], ys[~tested], marker="x", color=line[0].get_color(),
                       label=f"{b} − {a}: not tested, too few animals (no interval)")  # fmt: skip
    ax.axvline(0, color="grey", lw=0.8)
    ax.set_yticks(range(len(names)), names, fontsize=8)
    ax.invert_yaxis()
    level = tf[0].level
    ax.set_xlabel(
        f"difference in share of time ({level:.0%} bootstrap CI); circled: BH q < alpha; "
        "x: not tested"
    )
    ax.legend(frameon=False, fontsize=8)
    return png_bytes(fig)


def _transition_figure(
    who: Sequence[SessionRow], profiles: Sequence[Profile], names: Sequence[str]
) -> bytes:
    groups = sorted({r.group for r in who})
    n = len(names)
    fig, axes = new_figure(4.2 * len(groups), 4.4)
    axs = list(np.atleast_1d(axes))
    if len(axs) < len(groups):  # new_figure makes one axes: add the rest
        fig.clf()
        axs = [fig.add_subplot(1, len(groups), i + 1) for i in range(len(groups))]
    angle = np.linspace(0, 2 * np.pi, n, endpoint=False) + np.pi / 2
    xy = np.stack([np.cos(angle), np.sin(angle)], axis=1)
    for ax, g in zip(axs, groups, strict=False):
        members = [p for r, p in zip(who, profiles, strict=True) if r.group == g]
        prob = pooled_transitions(members)
        share = np.mean([[p.time_fraction[b] for b in names] for p in members], axis=0)
        for i in range(n):
            for j in range(n):
                w = prob[i, j]
                if i == j or w < 0.1:
                    continue
                ax.annotate(
                    "",
                    xy=xy[j] * 0.88,
                    xytext=xy[i] * 0.88,
                    arrowprops={
                        "arrowstyle": "-|>",
                        "lw": 0.5 + 4 * w,
                        "alpha": 0.3 + 0.6 * w,
                        "connectionstyle": "arc3,rad=0.15",
                        "color": "tab:blue",
                    },
                )
        ax.scatter(xy[:, 0], xy[:, 1], s=200 + 3000 * share, color="tab:orange", zorder=3)
        for i, b in enumerate(names):
            ax.text(xy[i, 0] * 1.18, xy[i, 1] * 1.18, b, ha="center", va="center", fontsize=7)
        ax.set_xlim(-1.5, 1.5)
        ax.set_ylim(-1.4, 1.4)
        ax.set_aspect("equal")
        ax.set_axis_off()
        ax.set_title(f"{g} (n={len(members)}): transitions >= 0.1", fontsize=9)
    return png_bytes(fig)


# --- summary and report --------------------------------------------------------------------


def keypoint_sets(subjects: Sequence[Mapping[str, Any]]) -> dict[tuple[str, ...], list[str]]:
    """Keypoint names -> the session files tracked with them (from the segment outputs)."""
    from ethoagent.io.keypoints import read_keypoints

    sets: dict[tuple[str, ...], list[str]] = defaultdict(list)
    for outputs in dict.fromkeys(str(s["outputs"]) for s in subjects):
        summary = read_json(Path(outputs) / "summary.json")
        path = str(summary["keypoints"])
        if not path:  # a video-only session: its features come from the video's blobs
            path, names = str(summary["video"]), tuple[str, ...](["(video only, no keypoints)"])
        else:
            fmt = summary.get("format")  # as the segment run read it (--format, --skeleton)
            data = read_keypoints(
                path, fps=float(summary["fps"]), format=fmt, skeleton=summary.get("skeleton")
            )
            names = tuple(data.keypoints)
        if path not in sets[names]:
            sets[names].append(path)
    return dict(sets)


def statistics_notes(
    who: Sequence[SessionRow],
    comparisons: Sequence[Comparison],
    alpha: float,
    keypoints: Mapping[tuple[str, ...], Sequence[str]],
) -> list[str]:
    """What the reader of the group tests must know, one line each.

    Group pairs with too few animals for any test to reach ``alpha`` (tests not run),
    animals with repeated sessions (averaged into one value per animal), intervals that
    exclude 0 beside a test that is not significant, and sessions tracked with
    different keypoint sets.
    """
    notes: list[str] = []
    skipped: dict[tuple[str, str], Comparison] = {}
    for c in comparisons:
        if not c.tested:
            skipped.setdefault((c.group_a, c.group_b), c)
    for (a, b), c in skipped.items():
        n = sum(1 for x in comparisons if (x.group_a, x.group_b) == (a, b))
        notes.append(
            f"{b} vs {a}: {c.n_b} vs {c.n_a} animals; the smallest p a permutation test can "
            f"give is {c.min_p:.3g} > alpha {alpha:g}, so its {n} tests were not run (no p, "
            "q or interval; the differences are descriptive only). Add animals to test."
        )
    sessions = Counter((r.group, r.animal) for r in who)
    repeated = {k: n for k, n in sessions.items() if n > 1}
    if repeated:
        listed = ", ".join(f"{a} ({g}): {n}" for (g, a), n in sorted(repeated.items()))
        notes.append(
            f"{len(repeated)} animal(s) have repeated sessions ({listed}): their sessions "
            "were averaged into one value per animal before the tests (per-animal "
            "aggregation; n = animals, not sessions)."
        )
    clear = [c for c in comparisons if c.tested and not c.significant and _excludes_zero(c)]
    if clear:
        notes.append(
            f"{len(clear)} test(s) are not significant although their bootstrap interval "
            "excludes 0 (marked † in the table): with few animals the percentile interval is "
            "too narrow; trust the test."
        )
    if len(keypoints) > 1:
        sets = "; ".join(
            f"{len(names)} keypoints ({', '.join(names)}) in "
            + ", ".join(Path(f).name for f in files)
            for names, files in sorted(keypoints.items(), key=lambda kv: -len(kv[0]))
        )
        notes.append(
            f"sessions were tracked with {len(keypoints)} different keypoint sets and "
            f"profiled together: {sets}. Differences between them may come from the "
            "tracking, not the animals."
        )
    return notes


def segment_summaries(subjects: Sequence[Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """Each segment run's ``summary.json`` by its output folder (read once per session)."""
    folders = dict.fromkeys(str(s["outputs"]) for s in subjects)
    return {folder: read_json(Path(folder) / "summary.json") for folder in folders}


def _name(summary: Mapping[str, Any]) -> str:
    return Path(str(summary.get("keypoints", "?"))).name


def segment_warnings(segments: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """Every warning of the segment runs behind the profiles, named by session file.

    Plus one line where sessions were read in different units (pixels and mm).
    """
    out = [f"{_name(s)}: {w}" for s in segments.values() for w in s.get("warnings", [])]
    units: dict[str, list[str]] = defaultdict(list)
    for s in segments.values():
        units[str(s.get("unit", "?"))].append(_name(s))
    if len(units) > 1:
        listed = "; ".join(f"{unit_words(u)}: {', '.join(f)}" for u, f in sorted(units.items()))
        out.append(
            f"sessions were tracked in {len(units)} different units ({listed}); the "
            "features are in body lengths, so profiles compare, but positions do not."
        )
    return out


def body_records(segments: Mapping[str, Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The distinct (body roles, unit) records of the sessions, each with its session files.

    Segment runs written before roles were recorded give none and are listed with
    ``roles`` = ``None``. ``body_lengths``: session file -> its animals' median body
    length in ``unit`` (the sessions whose segment run recorded one).
    """
    groups: dict[str, dict[str, Any]] = {}
    for s in segments.values():
        roles, unit = s.get("roles"), str(s.get("unit", "?"))
        key = json.dumps([roles, unit], sort_keys=True)
        entry = groups.setdefault(
            key, {"roles": roles, "unit": unit, "sessions": [], "body_lengths": {}}
        )
        entry["sessions"].append(_name(s))
        if s.get("body_length") is not None:
            entry["body_lengths"][_name(s)] = float(s["body_length"])
    return list(groups.values())


def _bodies_md(bodies: Sequence[Mapping[str, Any]]) -> list[str]:
    """One ``## Body roles`` section, a ``###`` part per keypoint set and its sessions."""
    lines = ["## Body roles", ""] if bodies else []
    for b in bodies:
        lines += ["### " + ", ".join(f"`{n}`" for n in b["sessions"]), ""]
        if b["roles"] is None:
            lines += [
                f"Positions in {unit_words(b['unit'])}. These segment runs predate the roles "
                "record; rerun segment on them to see it.",
                "",
            ]
            continue
        lines += roles_md(b["roles"], b["unit"])[2:]  # without its own heading
        lengths = b.get("body_lengths") or {}
        if lengths:
            lines += [
                "Median body length: "
                + ", ".join(f"{n} {v:.3g} {b['unit']}" for n, v in lengths.items())
                + ".",
                "",
            ]
    return lines


def _shares_md(s: Mapping[str, Any], limit: int = 12) -> list[str]:
    """Share of labelled time per behaviour, a column per profile (session and animal)."""
    names, table = s["shares"]["profiles"], s["shares"]["time_fraction"]
    lines = ["## Time share per animal", ""]
    if not names:
        return []
    if len(names) > limit:
        return [
            *lines,
            f"{len(names)} profiles: one column each in `profile_matrix.csv` (share of each "
            "animal's labelled time per behaviour).",
            "",
        ]
    lines += [
        "| behaviour | " + " | ".join(names) + " | mean over animals |",
        "|" + "---|" * (len(names) + 2),
    ]
    for b, shares in table.items():
        mean = sum(shares) / len(shares)
        lines.append(f"| {b} | " + " | ".join(f"{v:.1%}" for v in shares) + f" | {mean:.1%} |")
    return [
        *lines,
        "",
        "Each column is the share of that animal's labelled time in its session; the "
        "vocabulary's time (s) above adds the seconds of every animal and session.",
        "",
    ]


def _excludes_zero(c: Comparison) -> bool:
    return bool(c.ci_low > 0 or c.ci_high < 0)


def _summary(
    rt: Runtime,
    inputs: ProfileInputs,
    state: ProfileState | Mapping[str, Any],
    who: Sequence[SessionRow],
    profiles: Sequence[Profile],
    comparisons: Sequence[Comparison],
    vocab: Mapping[str, Any],
) -> dict[str, Any]:
    segs = list(state.get("segments", []))
    return {
        "sessions_csv": inputs.sessions_csv,
        "sessions": len(segs),
        "segment_runs_reused": sum(1 for s in segs if s.get("reused")),
        "profiles": len(profiles),
        "groups": {g: sum(1 for r in who if r.group == g) for g in sorted({r.group for r in who})},
        "snippets": state.get("n_snippets"),
        "distinct_descriptions": state.get("n_texts"),
        "embedder": state.get("embedder"),
        "clusters": state.get("k"),
        "silhouette": state.get("silhouette", {}),
        "vocabulary": [e["name"] for e in vocab["entries"]],
        "naming": state.get("naming", {}),
        "naming_model_calls": state.get("model_calls", 0),
        "tests": len(comparisons),
        "alpha": inputs.options.alpha,
        "significant": [c.model_dump() for c in comparisons if c.significant],
        "novel": [e["name"] for e in vocab["entries"] if e["novel"]],
        "warnings": list(state.get("warnings", [])),
        "backend": rt.settings.backend,
        "models": {"llm": rt.client.model_name("llm")},
        "timings": dict(state.get("timings", {})),
        "seconds": round(sum(dict(state.get("timings", {})).values()), 3),
        "segment_runs": [
            {"outputs": s["outputs"], "run_id": s.get("run_id"), "reused": s.get("reused")}
            for s in segs
        ],
    }


def _f(x: float, digits: int = 3) -> str:
    if not math.isfinite(x):
        return "inf" if x > 0 else ("-inf" if x < 0 else "n/a")
    return f"{x:.{digits}g}"


def _report_md(
    s: Mapping[str, Any], vocab: Mapping[str, Any], comparisons: Sequence[Comparison]
) -> str:
    offline = s["backend"] == "offline"
    lines = [
        "# ethoagent profile report",
        "",
        f"Backend: `{s['backend']}`"
        + (
            " (no language model was called: the offline solvers captioned the snippets and "
            "named the vocabulary from the captions and kinematics)."
            if offline
            else f" (llm: `{s['models']['llm']}`)."
        ),
        f"Sessions: {s['sessions']} ({s['segment_runs_reused']} segment runs reused); profiles: "
        f"{s['profiles']}; groups: "
        + ", ".join(f"{g} (n={n})" for g, n in s["groups"].items())
        + ".",
        f"Snippets: {s['snippets']} ({s['distinct_descriptions']} distinct descriptions), embedded "
        f"with `{s['embedder']}`, clustered into {s['clusters']} vocabulary entries.",
        "",
    ]
    lines += warnings_md(s["warnings"])
    lines += _bodies_md(s.get("bodies", []))
    if s.get("reviewed_edits"):
        lines += [
            f"A person renamed or merged entries {s['reviewed_edits']} times in `ethoagent "
            "review`; the tables use the reviewed vocabulary (named by `reviewer`).",
            "",
        ]
    lines += [
        "## Vocabulary",
        "",
        "| behaviour | definition | snippets | time (s, summed over all "
        f"{s['profiles']} profiles: animals x sessions) | named by | novel |",
        "|---|---|---|---|---|---|",
    ]
    for e in vocab["entries"]:
        named = e["named_by"] + ("" if e["status"] == "accepted" else " (flagged)")
        lines.append(
            f"| {e['name']} | {e['definition']} | {e['members']} | {e['seconds']:.1f} | {named} | "
            + ("yes" if e["novel"] else "")
            + " |"
        )
    lines += ["", *_shares_md(s), "![profiles](profile_heatmap.png)", ""]
    tf = [c for c in comparisons if c.metric == "time_fraction"]
    if comparisons:
        lines += [
            "## Group differences",
            "",
            f"Two-sided permutation tests of the difference in group means, {len(comparisons)} "
            f"tests (behaviours x metrics x group pairs) with Benjamini–Hochberg correction at "
            f"alpha = {s['alpha']}; 95 % percentile-bootstrap intervals; Hedges' g and Cliff's "
            "delta of the second group against the first. The unit is the animal (repeated "
            "sessions of one animal averaged); a pair with too few animals for p to reach "
            "alpha is not tested (see Warnings).",
            "",
            "| behaviour | metric | groups | mean a | mean b | difference [CI] | g | delta | p "
            "| q |",
            "|---|---|---|---|---|---|---|---|---|---|",
        ]
        shown = sorted(comparisons, key=lambda c: (not c.tested, c.p))[:30]
        for c in shown:
            star = " **" if c.significant else ""
            mark = " †" if c.tested and not c.significant and _excludes_zero(c) else ""
            ci = f"[{_f(c.ci_low)}, {_f(c.ci_high)}]{mark}" if c.tested else "(not tested)"
            lines.append(
                f"| {c.behaviour}{star} | {c.metric} | {c.group_b} vs {c.group_a} | "
                f"{_f(c.mean_a)} | {_f(c.mean_b)} | {_f(c.difference)} {ci} | "
                f"{_f(c.hedges_g)} | {_f(c.cliffs_delta)} | {_f(c.p)} | {_f(c.q)} |"
            )
        if len(comparisons) > len(shown):
            lines.append(
                f"\n(the {len(shown)} smallest p of {len(comparisons)}; all in `comparisons.csv`)"
            )
        lines += ["", "![group differences](group_differences.png)", ""]
        del tf
    lines += ["## Transitions", "", "![transitions](transitions.png)", ""]
    novel = [e for e in vocab["entries"] if e["novel"]]
    lines += ["## Novel behaviour", ""]
    if not novel:
        lines += [
            "No entry is restricted to some sessions or unmatched by the reference vocabulary.",
            "",
        ]
    for e in novel:
        lines += [
            f"### {e['name']}",
            "",
            e["definition"],
            "",
            *[f"- {r}" for r in e["novel_reasons"]],
            "",
        ]
        lines += ["Examples:", ""]
        for x in e["examples"]:
            lines.append(
                f"- `{Path(x['session']).name}` {x['animal']}, frames {x['start_frame']}–"
                f"{x['stop_frame']} ({x['seconds']:.1f} s): {x['description']}"
            )
        lines.append("")
    lines += [
        "Files: `profiles.csv` (tidy profile table), `profile_matrix.csv`, `transitions.csv`, "
        "`comparisons.csv`, `vocabulary.json` (definitions, examples), `snippets.csv`, "
        "`summary.json`.",
        "",
    ]
    return "\n".join(lines)
