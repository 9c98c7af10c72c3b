"""Chat tools over results: behaviour queries, plots, runs, and why a label exists."""

from __future__ import annotations

import csv
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import Field

from ethoagent.chat.actions.core import (
    MAX_ROWS,
    ChatTool,
    ToolContext,
    ToolResult,
    _Args,
    _match_name,
    _open_run,
    _read_pose,
    _rel,
    register_tool,
)
from ethoagent.errors import InputError

# ------------------------------------------------------------------------------ queries


@dataclass
class _Timeline:
    """Per-animal epochs in seconds: ``{animal: [(start_s, stop_s, label), ...]}``."""

    epochs: dict[str, list[tuple[float, float, str]]]
    source: str
    duration_s: float


def _load_timeline(ctx: ToolContext, source: str, fps: float | None) -> _Timeline:
    """Epochs from an ethogram CSV, a run (its ethogram), or a frame-wise label CSV."""
    from ethoagent.runs import Run
    from ethoagent.tools.ethogram import ETHOGRAM_COLUMNS, epochs_from_labels

    p: Path | None = None
    if (
        re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", source)
        and (ctx.settings.runs_dir / source / "run.json").is_file()
    ):
        run = Run.open(source, ctx.settings.runs_dir)
        p = run.outputs_dir / "ethogram.csv"
        if not p.is_file():
            raise InputError(f"run {source} has no ethogram.csv (a {run.info().graph} run).")
    if p is None:
        p = ctx.workspace.resolve(source, must_exist=True, what="ethogram or label CSV")
        if p.is_dir():
            for cand in ("ethogram.csv", "outputs/ethogram.csv", "ground_truth/labels.csv"):
                if (p / cand).is_file():
                    p = p / cand
                    break
    with p.open(newline="", encoding="utf-8-sig") as fh:
        rows = list(csv.reader(fh))
    if not rows:
        raise InputError(f"{_rel(ctx, p)} is empty.")
    header = [h.strip() for h in rows[0]]
    epochs: dict[str, list[tuple[float, float, str]]] = {}
    if all(c in header for c in ETHOGRAM_COLUMNS[:6]):
        col = {c: header.index(c) for c in header}
        for r in rows[1:]:
            if not r:
                continue
            epochs.setdefault(r[col["animal"]], []).append(
                (float(r[col["start_s"]]), float(r[col["stop_s"]]), r[col["label"]])
            )
        end = max((e[1] for eps in epochs.values() for e in eps), default=0.0)
        return _Timeline(epochs, _rel(ctx, p), end)
    if header and header[0] == "frame":
        if fps is None:
            sim = p.parent.parent / "videos"
            if sim.is_dir():
                from ethoagent.io.session import simulated_fps

                fps = simulated_fps(p.parent.parent)
        if fps is None and "time_s" in header:  # classify frames.csv: frame, time_s, ...
            ti = header.index("time_s")
            timed = [(int(r[0]), float(r[ti])) for r in rows[1:] if r and float(r[ti]) > 0]
            if timed:
                fps = timed[0][0] / timed[0][1]
        if fps is None:
            raise InputError(
                f"{_rel(ctx, p)} is a frame-wise label file without times.",
                fix="pass fps (frames per second).",
            )
        per: dict[str, list[str]] = {}
        if "animal" in header and "label" in header:
            # gate labels.csv (frame, animal, label, p_*) or classify frames.csv (frame,
            # time_s, animal, label, raw_label, p_*): one row per frame and animal
            ai, li = header.index("animal"), header.index("label")
            for r in rows[1:]:
                if r:
                    per.setdefault(r[ai], []).append(r[li])
        else:  # simulated labels.csv: frame, one behaviour column per animal
            for j, name in enumerate(header[1:], start=1):
                per[name] = [r[j] for r in rows[1:] if r]
        for animal, labels in per.items():
            names, codes = np.unique(np.asarray(labels, dtype=str), return_inverse=True)
            eps = epochs_from_labels(codes.astype(np.int64), [str(n) for n in names])
            epochs[animal] = [(e.start / fps, e.stop / fps, e.label) for e in eps]
        n = max(len(v) for v in per.values())
        return _Timeline(epochs, _rel(ctx, p), n / fps)
    raise InputError(
        f"{_rel(ctx, p)} is neither an ethogram CSV ({', '.join(ETHOGRAM_COLUMNS[:6])}, ...) "
        "nor a frame-wise label CSV (frame, ...).",
        fix="query an ethogram.csv written by a run, or a run id.",
    )


class QueryBehaviourArgs(_Args):
    source: str = Field(
        description="Ethogram CSV (segment, classify or gate), a run id (its ethogram), a "
        "results folder, a simulated session's ground_truth/labels.csv, a gate labels.csv or "
        "a classify frames.csv."
    )
    animal: str | None = Field(None, description="Animal name as in the file; all if empty.")
    behaviour: str | None = Field(None, description="Behaviour label; all if empty.")
    start_s: float = Field(0.0, ge=0, description="Window start, seconds.")
    stop_s: float | None = Field(None, gt=0, description="Window end, seconds (end of data).")
    fps: float | None = Field(None, gt=0, description="Frame rate for frame-wise labels.")


def _query_behaviour(ctx: ToolContext, a: QueryBehaviourArgs) -> ToolResult:
    tl = _load_timeline(ctx, a.source, a.fps)
    animals = sorted(tl.epochs)
    if a.animal is not None:
        animals = [animals[_match_name(a.animal, animals, "animal")]]
    stop = tl.duration_s if a.stop_s is None else min(a.stop_s, tl.duration_s)
    if stop <= a.start_s:
        raise InputError(
            f"empty window [{a.start_s:g}, {stop:g}) s; the data last {tl.duration_s:g} s."
        )
    labels = sorted({e[2] for an in animals for e in tl.epochs[an]})
    if a.behaviour is not None:
        labels = [labels[_match_name(a.behaviour, labels, "behaviour")]]
    rows: list[list[Any]] = []
    for an in animals:
        for lab in labels:
            pieces = [
                (max(s, a.start_s), min(e, stop))
                for s, e, lb in tl.epochs[an]
                if lb == lab and e > a.start_s and s < stop
            ]
            total = sum(e - s for s, e in pieces)
            rows.append(
                [
                    an,
                    lab,
                    round(total, 3),
                    len(pieces),
                    round(total / len(pieces), 3) if pieces else 0.0,
                    round(100 * total / (stop - a.start_s), 1),
                ]
            )
    cols = ["animal", "behaviour", "total_s", "bouts", "mean_bout_s", "percent_of_window"]
    window = {"start_s": a.start_s, "stop_s": round(stop, 3)}
    summary = f"{tl.source}, window {a.start_s:g}-{stop:g} s: " + "; ".join(
        f"{r[0]} {r[1]} {r[2]:g} s in {r[3]} bout(s)" for r in rows[:6]
    )
    if len(rows) > 6:
        summary += f"; ... ({len(rows)} rows)"
    return ToolResult(
        summary,
        {"source": tl.source, "window": window, "columns": cols, "rows": rows[: MAX_ROWS * 3]},
        cols,
        rows[:MAX_ROWS],
    )


register_tool(
    ChatTool(
        "query_behaviour",
        "How long and how often animals showed behaviours in a time window: total seconds, "
        "bouts, mean bout length and percent of the window, per animal and behaviour.",
        QueryBehaviourArgs,
        _query_behaviour,
        command="query",
        positional=("source",),
    )
)

# ------------------------------------------------------------------------------ plots


class PlotArgs(_Args):
    kind: Literal["ethogram", "time_budget", "trajectory"] = Field(
        description="ethogram: timeline per animal; time_budget: seconds per behaviour; "
        "trajectory: top view of each animal's mean keypoint position."
    )
    source: str = Field(
        description="Ethogram/label CSV or run id (ethogram, time_budget); keypoint file or "
        "session folder (trajectory)."
    )
    start_s: float = Field(0.0, ge=0)
    stop_s: float | None = Field(None, gt=0)
    name: str | None = Field(
        None, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,80}$", description="File name (no folder)."
    )


def _plot(ctx: ToolContext, a: PlotArgs) -> ToolResult:
    import matplotlib.pyplot as plt

    from ethoagent.atomic import atomic_write_bytes
    from ethoagent.figures import new_figure, png_bytes

    name = a.name or f"{a.kind}-{time.strftime('%Y%m%d-%H%M%S')}"
    target = ctx.workspace.resolve(
        f"plots/{name if name.endswith('.png') else name + '.png'}", what="plot"
    )
    n = 1
    while target.exists():
        n += 1
        target = target.with_name(f"{target.stem.rsplit('~', 1)[0]}~{n}.png")
    data: dict[str, Any] = {"kind": a.kind}
    if a.kind == "trajectory":
        pose, file, _ = _read_pose(ctx, a.source, None)
        fig, ax = new_figure(6, 6)
        for i, an in enumerate(pose.individuals):
            xy = np.nanmean(pose.points[:, i, :, :2], axis=1)
            ax.plot(xy[:, 0], xy[:, 1], lw=0.8, label=an)
        ax.set_aspect("equal")
        ax.set_xlabel(f"x ({pose.unit})")
        ax.set_ylabel(f"y ({pose.unit})")
        ax.legend(frameon=False, fontsize=8)
        ax.set_title(f"trajectories: {_rel(ctx, file)}")
        data["source"] = _rel(ctx, file)
    else:
        tl = _load_timeline(ctx, a.source, None)
        stop = tl.duration_s if a.stop_s is None else a.stop_s
        animals = sorted(tl.epochs)
        labels = sorted({e[2] for eps in tl.epochs.values() for e in eps})
        cmap = plt.get_cmap("tab10" if len(labels) <= 10 else "tab20")
        colour = {lab: cmap(i % cmap.N) for i, lab in enumerate(labels)}
        if a.kind == "ethogram":
            fig, ax = new_figure(10, 1.0 + 0.6 * len(animals))
            for row, an in enumerate(animals):
                for s, e, lab in tl.epochs[an]:
                    if e > a.start_s and s < stop:
                        ax.broken_barh([(s, e - s)], (row + 0.1, 0.8), color=colour[lab])
            ax.set_yticks([r + 0.5 for r in range(len(animals))], animals)
            ax.set_xlim(a.start_s, stop)
            ax.set_xlabel("time (s)")
        else:
            fig, ax = new_figure(8, 4)
            width = 0.8 / max(1, len(animals))
            for j, an in enumerate(animals):
                secs = [
                    sum(
                        min(e, stop) - max(s, a.start_s)
                        for s, e, lb in tl.epochs[an]
                        if lb == lab and e > a.start_s and s < stop
                    )
                    for lab in labels
                ]
                ax.bar(np.arange(len(labels)) + j * width, secs, width, label=an)
            ax.set_xticks(np.arange(len(labels)) + 0.4 - width / 2, labels, rotation=30)
            ax.set_ylabel("seconds")
            ax.legend(frameon=False, fontsize=8)
        from matplotlib.patches import Patch

        if a.kind == "ethogram":
            ax.legend(
                handles=[Patch(color=colour[lab], label=lab) for lab in labels],
                loc="upper left",
                bbox_to_anchor=(1.01, 1.0),
                frameon=False,
                fontsize=8,
            )
        ax.set_title(f"{a.kind.replace('_', ' ')}: {tl.source} ({a.start_s:g}-{stop:g} s)")
        data["source"] = tl.source
    atomic_write_bytes(target, png_bytes(fig))
    rel = _rel(ctx, target)
    data["png"] = rel
    return ToolResult(f"wrote {rel}", data, files=[rel])


register_tool(
    ChatTool(
        "plot",
        "Draw a figure (ethogram timeline, time budget bars, or trajectories) as a PNG under "
        "plots/ and return its path.",
        PlotArgs,
        _plot,
        command="plot",
        positional=("kind", "source"),
    )
)

# ------------------------------------------------------------------------------ runs, traces


class ListRunsArgs(_Args):
    pass


def _list_runs(ctx: ToolContext, a: ListRunsArgs) -> ToolResult:
    from ethoagent.runs import list_runs

    infos = list_runs(ctx.settings.runs_dir)
    rows = [[i.run_id, i.graph, i.status, i.created] for i in infos]
    return ToolResult(
        f"{len(rows)} run(s) in {_rel(ctx, ctx.settings.runs_dir)}",
        {"runs": [dict(zip(("run", "graph", "status", "created"), r, strict=True)) for r in rows]},
        ["run", "graph", "status", "created"],
        rows[:MAX_ROWS],
    )


register_tool(
    ChatTool(
        "list_runs",
        "List the pipeline runs of this workspace, newest first.",
        ListRunsArgs,
        _list_runs,
        command="runs",
    )
)


class ExplainLabelArgs(_Args):
    run: str = Field(description="Run id (a segment run).")
    animal: str = Field(description="Animal name.")
    time_s: float = Field(ge=0, description="A time in the recording, seconds.")


def _explain_label(ctx: ToolContext, a: ExplainLabelArgs) -> ToolResult:
    from ethoagent.agent.trace import read_trace
    from ethoagent.agent.trace_report import summarize_trace

    run = _open_run(ctx, a.run)
    tl = _load_timeline(ctx, str(run.root), None)
    animals = sorted(tl.epochs)
    animal = animals[_match_name(a.animal, animals, "animal")]
    hit = next(((s, e, lab) for s, e, lab in tl.epochs[animal] if s <= a.time_s < e), None)
    if hit is None:
        raise InputError(f"{animal} has no epoch at {a.time_s:g} s (data end {tl.duration_s:g}).")
    fps = float(run.info().inputs.get("fps") or 0) or None
    events = read_trace(run.trace_path)
    snippets: list[dict[str, Any]] = []
    related: list[dict[str, Any]] = []
    pattern = re.compile(rf"^{re.escape(animal)} (\d+)-(\d+)$")
    for ev in events:
        item = str(ev.get("item") or "")
        m = pattern.match(item)
        if m and fps:
            s, e = int(m.group(1)) / fps, int(m.group(2)) / fps
            # overlap of at least half a frame: the CSV's seconds are rounded
            if min(e, hit[1]) - max(s, hit[0]) > 0.5 / fps:
                related.append(ev)
        elif item.startswith(f"{animal} window") or item == animal:
            related.append(ev)
    by_item: dict[str, dict[str, Any]] = {}
    for ev in related:
        item = str(ev.get("item"))
        rec = by_item.setdefault(
            item, {"item": item, "node": ev.get("node"), "checks": [], "source": None}
        )
        if ev["kind"] == "model_call":
            parsed = ev.get("parsed") or {}
            rec["source"] = f"model ({ev.get('answer_backend') or ev.get('backend')})"
            if isinstance(parsed, dict) and "label" in parsed:
                rec["label"] = parsed["label"]
        elif ev["kind"] == "cheap_path":
            rec["source"] = "kinematics (no model call)"
            rec["label"] = ev.get("label")
            rec["reason"] = ev.get("reason")
        elif ev["kind"] == "check":
            rec["checks"].append(f"{'pass' if ev.get('passed') else 'FAIL'} {ev.get('name')}")
        elif ev["kind"] in ("decision", "flag", "escalation"):
            rec.setdefault("events", []).append(ev["kind"])
    for rec in by_item.values():
        rec["checks"] = sorted(set(rec["checks"]))
        snippets.append(rec)
    counts = summarize_trace(related)
    rows = [
        [r["item"], r["node"], r.get("label", ""), r["source"] or "", ", ".join(r["checks"])]
        for r in snippets
    ]
    return ToolResult(
        f"{animal} at {a.time_s:g} s: '{hit[2]}' (epoch {hit[0]:g}-{hit[1]:g} s) from "
        f"{sum(1 for r in snippets if r['node'] == 'caption')} captioned snippet(s), "
        f"{counts['checks_failed']} failed check(s), {counts['retries']} retries",
        {
            "label": hit[2],
            "epoch_s": [hit[0], hit[1]],
            "animal": animal,
            "evidence": snippets[:MAX_ROWS],
            "checks_failed": counts["checks_failed"],
            "retries": counts["retries"],
            "escalations": counts["escalations"],
            "model_calls": counts["model_calls"],
        },
        ["item", "stage", "label", "from", "checks"],
        rows[:MAX_ROWS],
    )


register_tool(
    ChatTool(
        "explain_label",
        "Why a segment run gave an animal a label at a time: the snippets behind the epoch, "
        "who proposed each caption (model or kinematics), the checks, retries and merge.",
        ExplainLabelArgs,
        _explain_label,
        command="explain",
        positional=("run", "animal", "time_s"),
    )
)


class InspectTraceArgs(_Args):
    run: str = Field(description="Run id (any pipeline) or its folder.")
    item: str | None = Field(None, description="Only this item, e.g. 'frame 12'.")
    node: str | None = Field(None, description="Only this stage, e.g. 'triangulate'.")
    failed_only: bool = Field(True, description="Only items with a failed check or a flag.")


def _inspect_trace(ctx: ToolContext, a: InspectTraceArgs) -> ToolResult:
    from ethoagent.agent.trace import read_trace
    from ethoagent.agent.trace_report import summarize_trace

    run = _open_run(ctx, a.run)
    events = read_trace(run.trace_path)
    groups: dict[tuple[str, str], dict[str, Any]] = {}
    for ev in events:
        item = ev.get("item")
        if item is None or (a.item is not None and str(item) != a.item):
            continue
        if a.node is not None and ev.get("node") != a.node:
            continue
        g = groups.setdefault(
            (str(ev.get("node")), str(item)),
            {"failed": [], "actions": [], "flagged": False, "model_calls": 0, "attempts": 0},
        )
        kind = ev["kind"]
        if kind == "check" and not ev.get("passed"):
            value, threshold = ev.get("value"), ev.get("threshold")
            g["failed"].append(f"{ev.get('name')} {value} vs {threshold}")
        elif kind == "decision":
            g["actions"].append(f"{ev.get('action')} ({ev.get('decided_by')})")
        elif kind == "flag":
            g["flagged"] = True
        elif kind == "model_call":
            g["model_calls"] += 1
        elif kind == "proposal":
            g["attempts"] += 1
    rows = [
        [node, item, g["attempts"], "; ".join(g["failed"][:4]), ", ".join(g["actions"][:4]),
         "yes" if g["flagged"] else "", g["model_calls"]]
        for (node, item), g in groups.items()
        if not a.failed_only or g["failed"] or g["flagged"]
    ]  # fmt: skip
    counts = summarize_trace(events)
    keep = ("model_calls", "checks", "checks_failed", "retries", "escalations", "flags", "items")
    data = {k: counts[k] for k in keep}
    data["flagged_items"] = counts["flagged_items"][:MAX_ROWS]
    data["items_shown"] = rows[: MAX_ROWS * 2]
    cols = ["stage", "item", "attempts", "failed checks", "routes", "flagged", "model calls"]
    return ToolResult(
        f"run {run.run_id} ({run.info().graph}): {counts['items']} items, "
        f"{counts['checks_failed']} failed checks, {counts['retries']} retries, "
        f"{counts['escalations']} escalations, {counts['flags']} flagged; {len(rows)} shown",
        data,
        cols,
        rows[:MAX_ROWS],
    )


register_tool(
    ChatTool(
        "inspect_trace",
        "Why a run's results are what they are, from its trace: per item (frame, snippet, "
        "window) the attempts, failed checks (value vs threshold), retries/escalations and "
        "flags; works for every pipeline (pose frames, segment snippets, ...).",
        InspectTraceArgs,
        _inspect_trace,
        command="why",
        positional=("run", "item"),
    )
)
