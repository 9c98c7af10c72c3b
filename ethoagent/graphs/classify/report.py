"""Outputs of a classify run: per-frame labels and behaviour vectors, ethogram, budgets, report.

Written into the run's ``outputs/`` (the CLI copies them to its OUT folder); every label
file, budget and figure holds the same per-frame labels (``final_labels``: the run's labels
with every pair's dyadic classes made the same by segment's rule,
``graphs.classify.dyadic``):

- ``frames.csv``: ``frame, time_s, animal, label, raw_label, p_<class>...``: the smoothed
  label of every frame of every animal and its probability vector (its window's answer:
  the behaviour vector over time); ``raw_label`` is the window's own most likely class;
- ``windows.csv``: every query window with its probabilities, where its answer came from
  (``model``, ``detector`` = the classical detector was sure and no model was asked,
  ``features_escalation``, ``flagged``), attempts and model calls;
- ``ethogram.csv`` (``tools.ethogram.ETHOGRAM_COLUMNS``: one row per bout) and
  ``ethogram_boris.csv`` (BORIS events, one subject per animal);
- ``ethogram.nc`` (the bouts on movement's time axis, ``io.ethogram_export``) and
  ``ethogram.nwb`` (NWB ``TimeIntervals``) when pynwb is installed;
- ``time_budget.csv``: per class, seconds, share and bouts of each animal (a column
  each) and the total summed over the animals (``tools.ethogram.time_shares_csv``);
- ``ethogram.png`` (per animal: the labels over time above the stacked class
  probabilities), ``time_budget.png``;
- ``summary.json`` and ``report.md`` (every warning, the body roles matched, derived or
  absent and the features that disables, the unit of the positions, and every frame whose
  dyadic class was made the same as the partner's, ``summary.json`` ``dyadic_changes``);
  for a simulated session the per-class F1 against the simulator's labels (mapped to the
  label set by synonym).
"""

from __future__ import annotations

import csv
import io
import json
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from ethoagent.figures import new_figure, png_bytes
from ethoagent.graphs.classify.dyadic import reconciled_labels
from ethoagent.graphs.classify.inputs import (
    ClassifyInputs,
    ClassifyState,
    ExampleSession,
    query_windows,
)
from ethoagent.graphs.kit.report_md import (
    dyadic_md,
    roles_md,
    unit_words,
    warnings_md,
)
from ethoagent.io.ethogram_export import ethogram_netcdf_bytes, nwb_or_reason
from ethoagent.model.ethogram import Epoch
from ethoagent.tools.captions import canonical_label
from ethoagent.tools.classify import per_class_scores, spread_to_frames, time_budgets
from ethoagent.tools.dyadic import DyadicChange
from ethoagent.tools.ethogram import (
    ETHOGRAM_COLUMNS,
    TimeShare,
    epochs_from_labels,
    time_shares,
    time_shares_csv,
    time_shares_markdown,
    write_boris_csv,
    write_ethogram_csv,
)
from ethoagent.tools.features import describe_roles, layout_named

if TYPE_CHECKING:
    from ethoagent.graphs.kit.runtime import Runtime


def frame_labels(
    rt: Runtime, inputs: ClassifyInputs
) -> tuple[NDArray[np.int64], NDArray[np.float64], NDArray[np.int64]]:
    """Per-frame ``(labels (frames, animals), probabilities (frames, animals, classes),
    raw labels (frames, animals))`` of a finished run.

    In windows the model answered: the window's smoothed label, its probabilities and its
    own most likely class; in windows the detector decided: the detector's per-frame
    labels (smoothed by its HMM), probabilities and their argmax.
    """
    arr = rt.run.load_arrays("labels")
    spans = query_windows(inputs)
    n_a, n_c = len(inputs.animals), len(inputs.classes)
    labels = np.zeros((inputs.frames, n_a), dtype=np.int64)
    raw = np.zeros((inputs.frames, n_a), dtype=np.int64)
    probs = np.zeros((inputs.frames, n_a, n_c))
    for a in range(n_a):
        rows = [i for i, sp in enumerate(spans) if sp[0] == a]
        wins = [(spans[i][1], spans[i][2]) for i in rows]
        labels[:, a] = spread_to_frames(arr["smoothed"][rows], wins, inputs.frames)
        raw[:, a] = spread_to_frames(arr["raw"][rows], wins, inputs.frames)
        probs[:, a] = spread_to_frames(arr["probabilities"][rows], wins, inputs.frames)
    for r in np.flatnonzero(arr["by_detector"]):
        a, s, e = spans[r]
        labels[s:e, a] = arr["detector_labels"][s:e, a]
        probs[s:e, a] = arr["detector_proba"][s:e, a]
        raw[s:e, a] = arr["detector_proba"][s:e, a].argmax(axis=-1)
    return labels, probs, raw


def final_labels(
    rt: Runtime, inputs: ClassifyInputs
) -> tuple[NDArray[np.int64], NDArray[np.float64], NDArray[np.int64], list[DyadicChange]]:
    """``frame_labels`` with dyadic classes made the same for both animals of each pair.

    Returns ``(labels, probabilities, raw labels, changes)``: the labels every output
    holds, and each change (``graphs.classify.dyadic.reconciled_labels``; pairs of more
    than two animals from the keypoints saved by ``prepare``).
    """
    labels, probs, raw = frame_labels(rt, inputs)
    points = rt.run.load_arrays("windows")["points"] if len(inputs.animals) > 2 else None
    labels, changes = reconciled_labels(labels, inputs.classes, inputs.animals, points)
    return labels, probs, raw, changes


def load_windows(rt: Runtime, n_chunks: int) -> list[dict[str, Any]]:
    """Every query window's record, in window order."""
    rows: list[dict[str, Any]] = []
    for i in range(n_chunks):
        rows += json.loads((rt.run.artifacts_dir / f"windows_{i:04d}.json").read_text())
    return sorted(rows, key=lambda r: r["row"])


def write_classify_outputs(
    rt: Runtime, inputs: ClassifyInputs, state: ClassifyState | Mapping[str, Any]
) -> list[str]:
    """Write every output of a finished classify run; return their paths relative to the run."""
    t0 = time.perf_counter()
    run = rt.run
    fps, classes = inputs.fps, inputs.classes
    labels, probs, raw, dyadic = final_labels(rt, inputs)
    windows = load_windows(rt, int(state["n_chunks"]))
    epochs = {
        name: epochs_from_labels(labels[:, a], classes) for a, name in enumerate(inputs.animals)
    }
    epochs = {
        name: [
            e.model_copy(
                update={
                    "confidence": round(
                        float(probs[e.start : e.stop, a, e.cluster or 0].mean()), 4
                    ),
                    "cluster": None,
                }
            )
            for e in eps
        ]
        for a, (name, eps) in enumerate(epochs.items())
    }
    budgets = {
        name: time_budgets(labels[:, a], classes, fps) for a, name in enumerate(inputs.animals)
    }
    shares = time_shares(epochs, inputs.frames, fps, labels=classes)
    source = inputs.keypoints
    outputs = [
        run.write_output("frames.csv", _frames_csv(labels, probs, raw, inputs)),
        run.write_output("windows.csv", _windows_csv(windows, inputs)),
        run.write_output("ethogram.csv", _ethogram_csv(rt, epochs, fps)),
        run.write_output("ethogram_boris.csv", _boris_csv(rt, epochs, fps, inputs)),
        run.write_output(
            "ethogram.nc", ethogram_netcdf_bytes(epochs, inputs.frames, fps, source=source)
        ),
        run.write_output("time_budget.csv", time_shares_csv(shares, inputs.animals)),
        run.write_output("ethogram.png", _timeline_figure(labels, probs, inputs)),
        run.write_output("time_budget.png", _budget_figure(budgets, classes)),
    ]
    nwb = nwb_or_reason(epochs, inputs.frames, fps, source=source)
    if isinstance(nwb, bytes):
        outputs.append(run.write_output("ethogram.nwb", nwb))
    timings = dict(state.get("timings", {}))
    timings["report"] = round(timings.get("report", 0.0) + time.perf_counter() - t0, 4)
    summary = _summary(rt, inputs, {**state, "timings": timings}, windows, budgets, labels)
    summary["time_shares"] = [r.model_dump() for r in shares]
    summary["dyadic_changes"] = [c.model_dump() for c in dyadic]
    summary["exports"] = ["csv", "boris", "netcdf", *(["nwb"] if isinstance(nwb, bytes) else [])]
    summary["nwb_missing"] = None if isinstance(nwb, bytes) else nwb
    outputs.append(run.write_json_output("summary.json", summary))
    outputs.append(run.write_output("report.md", _report_md(summary)))
    return [str(Path(p).relative_to(run.root)) for p in outputs]


def _csv(rows: Sequence[Sequence[object]]) -> str:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerows(rows)
    return buf.getvalue()


def _frames_csv(
    labels: NDArray[np.int64],
    probs: NDArray[np.float64],
    raw: NDArray[np.int64],
    inputs: ClassifyInputs,
) -> str:
    classes = inputs.classes
    rows: list[Sequence[object]] = [
        ["frame", "time_s", "animal", "label", "raw_label", *(f"p_{c}" for c in classes)]
    ]
    for a, name in enumerate(inputs.animals):
        for f in range(inputs.frames):
            rows.append(
                [
                    f,
                    f"{f / inputs.fps:.4f}",
                    name,
                    classes[labels[f, a]],
                    classes[raw[f, a]],
                    *(f"{v:.4f}" for v in probs[f, a]),
                ]
            )
    return _csv(rows)


def _windows_csv(windows: Sequence[Mapping[str, Any]], inputs: ClassifyInputs) -> str:
    classes = inputs.classes
    rows: list[Sequence[object]] = [
        [
            "animal", "start_frame", "stop_frame", "label", "source", "status", "attempts",
            "model_calls", *(f"p_{c}" for c in classes), "reason",
        ]
    ]  # fmt: skip
    for w in windows:
        p = w["probabilities"]
        rows.append(
            [
                inputs.animals[w["animal"]],
                w["start"],
                w["stop"],
                classes[int(np.argmax(p))],
                w["source"],
                w["status"],
                w["attempts"],
                w["model_calls"],
                *(f"{v:.4f}" for v in p),
                w["reason"],
            ]
        )
    return _csv(rows)


def _ethogram_csv(rt: Runtime, epochs: Mapping[str, Sequence[Epoch]], fps: float) -> str:
    lines = [",".join(ETHOGRAM_COLUMNS)]
    for a, (name, eps) in enumerate(epochs.items()):
        part = write_ethogram_csv(rt.run.artifacts_dir / f"ethogram_{a:03d}.csv", eps, fps, name)
        lines += part.read_text(encoding="utf-8").splitlines()[1:]
    return "\n".join(lines) + "\n"


def _boris_csv(
    rt: Runtime, epochs: Mapping[str, Sequence[Epoch]], fps: float, inputs: ClassifyInputs
) -> str:
    header: list[list[str]] = []
    events: list[tuple[float, int, int, list[str]]] = []
    for a, (name, eps) in enumerate(epochs.items()):
        path = rt.run.artifacts_dir / f"boris_{a:03d}" / "ethogram_boris.csv"
        write_boris_csv(path, eps, fps, name, media=inputs.video or "", frames=inputs.frames)
        rows = list(csv.reader(io.StringIO(path.read_text(encoding="utf-8"))))
        start = next(i for i, r in enumerate(rows) if r and r[0] == "Time")
        if not header:
            header = rows[: start + 1]
        for n, r in enumerate(rows[start + 1 :]):
            if r:
                events.append((float(r[0]), 0 if r[-1] == "STOP" else 1, a * 10**9 + n, r))
    events.sort(key=lambda e: e[:3])
    return _csv([*header, *(e[3] for e in events)])


# --- summary ----------------------------------------------------------------------------


def _truth_codes(inputs: ClassifyInputs) -> NDArray[np.int64] | None:
    """A simulated session's labels mapped onto the label set (synonyms; "other" catches
    the rest), ``(frames, animals)``; ``None`` without truth or without a mapping."""
    if inputs.truth_labels is None or not Path(inputs.truth_labels).is_file():
        return None
    rows = list(csv.reader(io.StringIO(Path(inputs.truth_labels).read_text(encoding="utf-8"))))
    head, body = rows[0], rows[1:]
    if head[1:] != list(inputs.animals) or len(body) != inputs.frames:
        return None
    canon = {canonical_label(c): j for j, c in enumerate(inputs.classes)}
    other = next((j for j, c in enumerate(inputs.classes) if canonical_label(c) == "other"), -1)
    out = np.full((inputs.frames, len(inputs.animals)), -1, dtype=np.int64)
    for f, r in enumerate(body):
        for a, name in enumerate(r[1:]):
            out[f, a] = canon.get(canonical_label(name), other)
    return out if (out >= 0).any() else None


def _summary(
    rt: Runtime,
    inputs: ClassifyInputs,
    state: Mapping[str, Any],
    windows: Sequence[Mapping[str, Any]],
    budgets: Mapping[str, Sequence[Mapping[str, Any]]],
    labels: NDArray[np.int64],
) -> dict[str, Any]:
    routes = dict(state.get("routes", {}))
    n = len(windows)
    skipped = routes.get("detector", 0)
    calls = int(state.get("model_calls", 0))
    timings = dict(state.get("timings", {}))
    opts = inputs.options
    summary: dict[str, Any] = {
        "frames": inputs.frames,
        "animals": list(inputs.animals),
        "fps": inputs.fps,
        "keypoints": inputs.keypoints,
        "video": inputs.video,
        "frames_drawn_from_keypoints": bool(state.get("rendered", inputs.video is None)),
        "dims": inputs.dims,
        "unit": inputs.unit,
        "body_length": inputs.body_length,
        "layout": inputs.layout,
        "roles": describe_roles(
            layout_named(inputs.layout, inputs.keypoint_names), inputs.keypoint_names, inputs.dims
        ).model_dump(),
        "classes": list(inputs.classes),
        "definitions": dict(inputs.definitions) if opts.use_definitions else {},
        "examples_file": inputs.examples_file,
        "example_sessions": [_example_session(t) for t in inputs.example_sessions],
        "example_windows": dict(state.get("example_counts", {})),
        "window_s": opts.window_s,
        "window_frames": inputs.step,
        "labels_to_frames": (
            "in a window the classical detector decides, each frame keeps the detector's "
            f"own label (smoothed by its HMM); in a {opts.window_s:g} s window the model "
            f"answers, each frame takes the window's answer, smoothed over windows "
            f"({opts.smoothing})"
        ),
        "windows": n,
        "reviewed_windows": len(inputs.reviewed),
        "person_answers": int(state.get("person_answers", 0)),
        "routes": routes,
        "model_calls": calls,
        "model_calls_per_window": round(calls / max(1, n), 4),
        "model_calls_saved": skipped,
        "windows_decided_by_detector": skipped,
        "windows_sent_to_model": int(state.get("model_windows", n - skipped)),
        "model_budget": dict(state.get("detector", {})).get("model_budget"),
        "detector": dict(state.get("detector", {})),
        "flagged": list(state.get("flagged", [])),
        "time_budget": {k: list(v) for k, v in budgets.items()},
        "options": opts.model_dump(),
        "warnings": list(state.get("warnings", [])),
        "seconds": round(sum(timings.values()), 3),
        "timings": timings,
        "backend": rt.settings.backend,
        "models": {"vlm": rt.client.model_name("vlm")},
    }
    truth = _truth_codes(inputs)
    if truth is not None:
        scores = per_class_scores(labels.T.ravel(), truth.T.ravel(), inputs.classes)
        summary["macro_f1"] = round(float(scores["macro_f1"]), 4)  # headline of run.json
        summary["ground_truth"] = {
            "macro_f1": round(float(scores["macro_f1"]), 4),
            "per_class_f1": {c: round(float(v["f1"]), 4) for c, v in scores["per_class"].items()},
            "labels": inputs.truth_labels,
            "note": "simulator labels mapped to the label set by synonym; example frames included",
        }
    return summary


# --- figures ----------------------------------------------------------------------------


def _palette(n: int) -> list[Any]:
    from matplotlib import colormaps

    cmap = colormaps["tab10" if n <= 10 else "tab20"]
    return [cmap(i % cmap.N) for i in range(n)]


def _timeline_figure(
    labels: NDArray[np.int64], probs: NDArray[np.float64], inputs: ClassifyInputs
) -> bytes:
    classes, fps = inputs.classes, inputs.fps
    colours = _palette(len(classes))
    n_a = len(inputs.animals)
    fig, _ = new_figure(10, 1.2 + 1.6 * n_a)
    fig.clear()
    axes = np.atleast_1d(fig.subplots(n_a, 1, sharex=True))
    t = np.arange(inputs.frames) / fps
    for a, ax in enumerate(axes):
        lab = labels[:, a]
        edges = np.flatnonzero(lab[1:] != lab[:-1]) + 1
        for s, e in zip(
            np.concatenate([[0], edges]), np.concatenate([edges, [lab.size]]), strict=True
        ):
            ax.broken_barh([(s / fps, (e - s) / fps)], (1.05, 0.3), color=colours[lab[s]])
        ax.stackplot(t, probs[:, a].T, colors=colours, alpha=0.85)
        ax.set_ylim(0, 1.4)
        ax.set_yticks([0, 0.5, 1.0, 1.2], ["0", "0.5", "1", "label"])
        ax.set_ylabel(inputs.animals[a], fontsize=8)
    axes[-1].set_xlabel("time (s)")
    axes[-1].set_xlim(0, inputs.frames / fps)
    from matplotlib.patches import Patch

    axes[0].legend(
        handles=[Patch(color=colours[j], label=c) for j, c in enumerate(classes)],
        loc="upper left",
        bbox_to_anchor=(1.01, 1.0),
        frameon=False,
        fontsize=8,
    )
    axes[0].set_title("label (bar) and class probabilities (stacked) over time")
    return png_bytes(fig)


def _budget_figure(
    budgets: Mapping[str, Sequence[Mapping[str, Any]]], classes: Sequence[str]
) -> bytes:
    fig, ax = new_figure(max(5.0, 0.8 * len(classes) + 2), 3.2)
    width = 0.8 / max(1, len(budgets))
    x = np.arange(len(classes))
    for a, (name, rows) in enumerate(budgets.items()):
        share = [float(r["fraction"]) for r in rows]
        ax.bar(x + (a - (len(budgets) - 1) / 2) * width, share, width, label=name)
    ax.set_xticks(x, list(classes), rotation=20, ha="right")
    ax.set_ylabel("share of frames")
    if len(budgets) > 1:
        ax.legend(frameon=False, fontsize=8)
    return png_bytes(fig)


# --- report -----------------------------------------------------------------------------


def _f(v: Any) -> str:
    return "n/a" if v is None else f"{v:.2f}"


def _detector_md(d: Mapping[str, Any], unit: str) -> list[str]:
    """The report's section on the classical detector and its cross-validated comparison.

    ``unit``: the keypoints' unit, naming the published rule's ruler (``"32 px/cm"``).
    """
    if not d.get("chosen"):
        return []
    cut = d.get("uncertainty_cutoff")
    ruler = str(d.get("published_ruler")).replace("units/cm", f"{unit}/cm")
    return [
        "## Classical detector (the cheap path)",
        "",
        f"Chosen by cross-validation on the example clips ({d['folds']} folds, scored on "
        f"held-out clips only): `{d['chosen']}` (`{d['detector']}`).",
        "",
        "| cross-validated macro-F1 on the examples | value |",
        "|---|---|",
        f"| rule alone (baseline) | {_f(d['rule_cv_macro_f1'])} |",
        *(
            [
                "| BehaviorDEPOT's published freezing rule (0.59 cm/s, 15 deg/s; "
                f"{ruler}) | {_f(d['published_cv_macro_f1'])} |"
            ]
            if d.get("published_cv_macro_f1") is not None
            else []
        ),
        f"| best fitted model | {_f(d['model_cv_macro_f1'])} |",
        f"| chosen detector | {_f(d['detector_cv_macro_f1'])} |",
        "",
        f"Windows whose detector uncertainty is at least {_f(cut)} (the most uncertain "
        f"{d['model_budget']:g} of them, `--model-budget`) went to the model; the rest keep "
        "the detector's labels."
        if cut is not None
        else "No window went to the model (`--model-budget` 0): every label is the detector's.",
        "",
    ]


def _time_md(s: Mapping[str, Any]) -> list[str]:
    """Time per class and animal, and the frames whose dyadic class was reconciled."""
    lines = ["## Time budget", ""]
    lines += time_shares_markdown(
        [TimeShare.model_validate(r) for r in s["time_shares"]],
        s["animals"],
        s["frames"] / s["fps"],
    )
    lines += [
        "",
        "Bouts and mean bout length per animal and class: `time_budget.csv` and "
        "`summary.json` (`time_budget`).",
        "",
    ]
    if len(s["animals"]) >= 2:
        lines += dyadic_md(s["dyadic_changes"])
    return lines


def _example_session(t: ExampleSession) -> dict[str, Any]:
    """What the report says of a session examples came from (``--examples-from``)."""
    clips = Counter(e.label for e in t.examples)
    return {
        "keypoints": t.keypoints,
        "labels": t.labels,
        "fps": t.fps,
        "frames": t.frames,
        "animals": list(t.animals),
        "unit": t.unit,
        "body_length": t.body_length,
        "clips": dict(sorted(clips.items())),
        "warnings": list(t.warnings),
    }


def _examples_md(s: Mapping[str, Any]) -> list[str]:
    """``## Sessions the examples came from``: one row per labelled session taught from."""
    taught = s.get("example_sessions") or []
    if not taught:
        return []
    lines = [
        "## Sessions the examples came from",
        "",
        "The examples were taken from these labelled sessions (`--examples-from`), each "
        "read at its own frame rate; no frame of the session classified was scored "
        "against labels.",
        "",
        "| keypoints | labels | fps | frames | animals | unit | clips per class |",
        "|---|---|---|---|---|---|---|",
    ]
    for t in taught:
        clips = ", ".join(f"{k} {v}" for k, v in t["clips"].items()) or "none"
        lines.append(
            f"| `{t['keypoints']}` | `{t['labels']}` | {t['fps']:g} | {t['frames']} | "
            f"{', '.join(t['animals'])} | {unit_words(t['unit'], t.get('body_length'))} | "
            f"{clips} |"
        )
    doubts = [f"{Path(t['keypoints']).name}: {w}" for t in taught for w in t["warnings"]]
    lines += ["", *(f"- {d}" for d in doubts)] if doubts else []
    return [*lines, ""]


def _report_md(s: Mapping[str, Any]) -> str:
    offline = s["backend"] == "offline"
    per_class = ", ".join(f"{k} {v}" for k, v in s["example_windows"].items())
    lines = [
        "# ethoagent classify report",
        "",
        f"Backend: `{s['backend']}`"
        + (
            " (no model was called: the offline solver — nearest in-context examples over "
            "image and keypoint features, plus the definitions' prototypes — answered)."
            if offline
            else f" (vlm: `{s['models']['vlm']}`)."
        ),
        f"Data: `{s['keypoints']}`"
        + (f", video `{s['video']}`" if s["video"] else ", no video")
        + f"; {s['dims']}D keypoints in {unit_words(s['unit'], s.get('body_length'))}, "
        + f"body layout `{s['layout']}`.",
    ]
    if s["frames_drawn_from_keypoints"]:
        lines.append(
            "**The frames shown to the model were drawn from the keypoints (skeleton in the "
            "arena), not filmed: there is no video.**"
        )
    lines += [
        "",
        "| metric | value |",
        "|---|---|",
        f"| frames x animals | {s['frames']} x {len(s['animals'])} at {s['fps']:g} fps |",
        f"| label set | {', '.join(s['classes'])} |",
        f"| example windows per class | {per_class} |",
        f"| query windows | {s['windows']} ({s['window_s']:g} s each) |",
        f"| decided by the classical detector (model calls saved) | {s['model_calls_saved']} |",
        f"| labelled by a person (`ethoagent review`) | {s.get('reviewed_windows', 0)} |",
        f"| flagged windows a person answered while the run waited (`--ask-person`) | "
        f"{s.get('person_answers', 0)} |",
        f"| sent to the model (budget {s['model_budget']:g} of the windows) | "
        f"{s['windows_sent_to_model']} |",
        f"| model calls (per window) | {s['model_calls']} ({s['model_calls_per_window']}) |",
        f"| windows flagged | {len(s['flagged'])} |",
        f"| seconds taken | {s['seconds']} |",
    ]
    gt = s.get("ground_truth")
    if gt:
        lines.append(f"| macro-F1 vs simulator labels | {gt['macro_f1']} |")
    lines += ["", f"Labels to frames: {s['labels_to_frames']}.", ""]
    lines += _detector_md(s["detector"], s["unit"])
    lines += _examples_md(s)
    lines += warnings_md(s["warnings"])
    lines += roles_md(s["roles"], s["unit"])
    lines += _time_md(s)
    if gt:
        lines += [
            "",
            "Per-class F1 against the simulator's labels: "
            + ", ".join(f"{k} {v}" for k, v in gt["per_class_f1"].items())
            + ".",
        ]
    lines += [
        "",
        "![ethogram](ethogram.png)",
        "",
        "![time budget](time_budget.png)",
        "",
        "Files: `frames.csv` (label and probabilities per frame), `windows.csv` (every "
        "window's answer and its source), `ethogram.csv`, `ethogram_boris.csv`, "
        "`ethogram.nc` (the bouts on movement's time axis, netCDF)"
        + (", `ethogram.nwb` (NWB TimeIntervals)" if "nwb" in s["exports"] else "")
        + ", `time_budget.csv`, `summary.json`.",
        "",
    ]
    if s["nwb_missing"]:
        lines += [s["nwb_missing"][0].upper() + s["nwb_missing"][1:], ""]
    if s["flagged"]:
        shown = ", ".join(s["flagged"][:30]) + (" …" if len(s["flagged"]) > 30 else "")
        lines += [f"Flagged for review (see the trace): {shown}", ""]
    return "\n".join(lines)
