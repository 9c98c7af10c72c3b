"""Outputs of the gate pipeline's runs, written into the run's ``outputs/``.

- predict: ``labels.csv`` (``frame, animal, label, p_<class>...``), ``ethogram.csv``
  (one row per bout, per animal), ``ethogram.png``, ``summary.json`` (frames, classes,
  shares, what the vision path looked at and cost) and ``report.md``;
- eval: ``results.json`` (macro-F1 and per-class F1 per vision budget), ``results.md``,
  ``f1_vs_budget.png`` and ``summary.json``;
- pretrain / train: the loss plot (``pretrain_losses.png`` / ``train_losses.png``),
  ``vision.json`` (train with a video), ``summary.json`` and ``report.md``.

The front end copies them to its output folder (the model folder for pretrain/train).
"""

from __future__ import annotations

import csv
import io
import json
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ethoagent.figures import new_figure, png_bytes
from ethoagent.graphs.kit.report_md import unit_words
from ethoagent.io.session import body_length, unit_warning
from ethoagent.model.pose import PoseData
from ethoagent.runs import Run

__all__ = [
    "EVAL_OUTPUTS",
    "PREDICT_OUTPUTS",
    "SUMMARY_KEYS",
    "ethogram_figure",
    "f1_scores",
    "keypoint_units",
    "loss_figure",
    "write_eval_outputs",
    "write_fit_outputs",
    "write_predict_outputs",
]

PREDICT_OUTPUTS = ("labels.csv", "ethogram.csv", "ethogram.png", "summary.json", "report.md")
EVAL_OUTPUTS = ("results.json", "results.md", "f1_vs_budget.png", "summary.json")
SUMMARY_KEYS = (
    "frames",
    "animals",
    "classes",
    "steps",
    "macro_f1",
    "frames_looked_at",
    "frames_sent_to_encoder",
    "vision_encoder_calls",
)
"""Keys of ``summary.json`` recorded in ``run.json`` when a run finishes."""


def _json(value: Any) -> str:
    return json.dumps(value, indent=2) + "\n"


def f1_scores(
    codes: NDArray[np.integer], truth: NDArray[np.int64], classes: Sequence[str]
) -> tuple[float, dict[str, float], int]:
    """Macro-F1 over the classes present in ``truth``, per-class F1 and frames scored.

    Args:
        codes: ``(frames, animals)`` predicted class codes.
        truth: ``(frames, animals)`` true codes, -1 = unlabelled (not scored).
        classes: names of the codes.
    """
    from sklearn.metrics import f1_score

    p, t = codes.T.ravel(), truth.T.ravel()
    ok = t >= 0
    present = np.unique(t[ok])
    per = f1_score(t[ok], p[ok], labels=present, average=None, zero_division=0)
    scores = {classes[int(c)]: round(float(f), 4) for c, f in zip(present, per, strict=True)}
    return round(float(np.mean(per)), 4), scores, int(ok.sum())


def loss_figure(log: Path, column: str, title: str) -> bytes:
    """PNG of ``column`` against ``step`` of a training log CSV."""
    with log.open(newline="") as f:
        rows = list(csv.DictReader(f))
    fig, ax = new_figure(6, 3.5)
    ax.plot([float(r["step"]) for r in rows], [float(r[column]) for r in rows], lw=1)
    ax.set_xlabel("step")
    ax.set_ylabel(f"{column} loss")
    ax.set_title(title)
    return png_bytes(fig)


def ethogram_figure(
    codes: NDArray[np.integer], animals: Sequence[str], classes: Sequence[str], fps: float
) -> bytes:
    """PNG: one row of coloured bouts per animal; ``codes`` ``(frames, animals)``."""
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    cmap = plt.get_cmap("tab10" if len(classes) <= 10 else "tab20")
    fig, ax = new_figure(10, 1.0 + 0.6 * len(animals))
    for a in range(len(animals)):
        column = codes[:, a]
        edges = [0, *(i + 1 for i in range(len(column) - 1) if column[i + 1] != column[i])]
        for i, start in enumerate(edges):
            stop = edges[i + 1] if i + 1 < len(edges) else len(column)
            ax.broken_barh(
                [(start / fps, (stop - start) / fps)],
                (len(animals) - 1 - a + 0.1, 0.8),
                color=cmap(int(column[start]) % cmap.N),
            )
    ax.set_yticks([len(animals) - 1 - a + 0.5 for a in range(len(animals))], list(animals))
    ax.set_xlabel("time (s)")
    ax.set_xlim(0, len(codes) / fps)
    ax.set_ylim(0, len(animals))
    ax.set_title("gate model ethogram (most probable class per frame)")
    ax.legend(
        handles=[Patch(color=cmap(i % cmap.N), label=c) for i, c in enumerate(classes)],
        loc="upper left",
        bbox_to_anchor=(1.01, 1.0),
        frameon=False,
        fontsize=8,
    )
    return png_bytes(fig)


def _budget_figure(rows: list[dict[str, Any]]) -> bytes:
    fig, ax = new_figure(5, 3.4)
    rows = [r for r in rows if str(r.get("method", "gate")).startswith("gate")]
    xs = [r["fraction_looked_at"] for r in rows]
    ax.plot(xs, [r["macro_f1"] for r in rows], "o-", color="k", label="macro-F1")
    for name in rows[0]["per_class_f1"]:
        ax.plot(xs, [r["per_class_f1"].get(name, float("nan")) for r in rows], ".--",
                lw=0.8, label=name)  # fmt: skip
    ax.set_xlabel("fraction of frames looked at")
    ax.set_ylabel("F1")
    ax.set_ylim(0, 1.02)
    ax.set_title("gate model: F1 against the vision budget")
    ax.legend(frameon=False, fontsize=7, loc="upper left", bbox_to_anchor=(1.02, 1.0))
    return png_bytes(fig)


def keypoint_units(files: Sequence[tuple[Path, PoseData]]) -> tuple[str, list[str]]:
    """The unit of the keypoint files a gate run read, in words, and what contradicts it.

    Args:
        files: each keypoint file and its ``PoseData`` (points ``(frames, animals,
            keypoints, dims)`` in the file's unit).

    Returns:
        One line per unit with the median body length of each file in it (the gate's
        descriptor is in image units scaled to the training frames, so it does not
        transfer between pixels and millimetres), and one warning per file whose stated
        unit its body size contradicts (``io.session.unit_warning``).
    """
    said: dict[str, list[str]] = {}
    warnings: list[str] = []
    for path, pose in files:
        length = body_length(pose.points, pose.keypoints)
        known = None if np.isnan(length) else length
        said.setdefault(pose.unit, []).append(
            f"{path.name}: {unit_words(pose.unit, known)}" if len(files) > 1
            else unit_words(pose.unit, known)
        )  # fmt: skip
        doubt = unit_warning(path, pose.unit, int(pose.points.shape[-1]), length)
        if doubt is not None:
            warnings.append(doubt)
    line = "; ".join(w for words in said.values() for w in words)
    if len(said) > 1:
        warnings.append(
            f"the keypoint files are in {len(said)} different units ({', '.join(said)}); "
            "the gate's descriptor is not comparable between them."
        )
    return line, warnings


def _table(rows: Sequence[dict[str, Any]]) -> list[str]:
    if not rows:
        return []
    cols = list(rows[0])
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for r in rows:
        cells = [
            ", ".join(f"{k} {v:.2f}" for k, v in r[c].items()) if isinstance(r[c], dict)
            else str(r[c])
            for c in cols
        ]  # fmt: skip
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def _report_md(title: str, summary: dict[str, Any], rows: Sequence[dict[str, Any]]) -> str:
    lines = [f"# {title}", "", "| key | value |", "|---|---|"]
    lines += [
        f"| {k} | {v} |"
        for k, v in summary.items()
        if not isinstance(v, dict | list) or k == "classes"
    ]
    if rows:
        lines += ["", *_table(rows)]
    lines += _examples_md(summary.get("examples_from") or [])
    warnings = summary.get("warnings") or []
    if warnings:
        lines += ["", "## Warnings", "", *(f"- {w}" for w in warnings)]
    return "\n".join(lines) + "\n"


def _examples_md(sessions: Sequence[dict[str, Any]]) -> list[str]:
    """A section naming the labelled sessions ``--examples-from`` added to training."""
    if not sessions:
        return []
    lines = [
        "",
        "## Sessions the examples came from",
        "",
        "Besides the trained session (`trained_on`), each at its own frame rate:",
        "",
        "| keypoints | labels | fps | frames | labelled frame-animals |",
        "|---|---|---|---|---|",
    ]
    return lines + [
        f"| `{s['keypoints']}` | `{s['labels']}` | {s['fps']:g} | {s['frames']} | {s['labelled']} |"
        for s in sessions
    ]


def write_predict_outputs(
    run: Run,
    probs: NDArray[np.float64],
    animals: Sequence[str],
    classes: Sequence[str],
    fps: float,
    vision: dict[str, Any],
    warnings: Sequence[str] = (),
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Write predict's outputs from probabilities ``(frames, animals, n_classes)``.

    ``extra``: more summary entries (the keypoints' ``unit``, the model's
    ``examples_from``).

    Returns:
        The summary (also ``summary.json``).
    """
    from ethoagent.tools.ethogram import epochs_from_labels, write_ethogram_csv

    codes = probs.argmax(axis=-1)
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["frame", "animal", "label", *(f"p_{c}" for c in classes)])
    for f in range(codes.shape[0]):
        for a, name in enumerate(animals):
            writer.writerow([f, name, classes[codes[f, a]], *(f"{p:.4f}" for p in probs[f, a])])
    run.write_output("labels.csv", buf.getvalue())
    lines: list[str] = []
    with tempfile.TemporaryDirectory() as tmp:
        for a, name in enumerate(animals):
            eps = epochs_from_labels(codes[:, a].astype(np.int64), list(classes))
            part = write_ethogram_csv(Path(tmp) / f"{a}.csv", eps, fps, name).read_text()
            lines += part.splitlines()[(1 if lines else 0) :]
    run.write_output("ethogram.csv", "\n".join(lines) + "\n")
    run.write_output("ethogram.png", ethogram_figure(codes, animals, classes, fps))
    shares = np.bincount(codes.reshape(-1), minlength=len(classes)) / codes.size
    summary = {
        **vision,
        "frames": int(codes.shape[0]),
        "animals": list(animals),
        "fps": fps,
        "classes": list(classes),
        "class_shares": {c: round(float(s), 4) for c, s in zip(classes, shares, strict=True)},
        "mean_top_probability": round(float(probs.max(axis=-1).mean()), 4),
        "inference": "probabilities averaged over windows overlapping by half",
        **(extra or {}),
        "warnings": list(warnings),
    }
    run.write_output("summary.json", _json(summary))
    run.write_output("report.md", _report_md("gate predict", summary, []))
    return summary


def write_eval_outputs(
    run: Run, rows: list[dict[str, Any]], description: str, encoder: str | None,
    embedding_cache: Path, held: tuple[int, int, str], warnings: Sequence[str] = (),
    unit: str = "",
) -> dict[str, Any]:  # fmt: skip
    """Write eval's outputs from one row per budget; return ``results.json``'s record.

    ``held`` is ``(start, stop, split)``: the held-out frames scored and how; ``unit``:
    the keypoints' unit in words (``keypoint_units``).
    """
    gate = [r for r in rows if str(r.get("method", "gate")).startswith("gate")]
    metrics: dict[str, Any] = {
        f"macro_f1.{r['top_k'].replace('%', '')}": r["macro_f1"] for r in gate
    }
    metrics.update({f"macro_f1.{r['method']}": r["macro_f1"] for r in rows if r not in gate})
    metrics["frames_sent_to_encoder"] = sum(r["frames_sent_to_encoder"] for r in rows)
    metrics["vision_encoder_calls"] = sum(r["vision_encoder_calls"] for r in rows)
    notes = [
        "Macro-F1 = mean per-class F1 over the classes present in the labels "
        "(unlabelled frames, -1, are not scored).",
        "Scored on the inference of `ethoagent gate predict`: the frames looked at are "
        "the top-k of each disjoint window, the probabilities are averaged over windows "
        "overlapping by half that read those frames only, then the model's head (mode "
        "chosen on held-back training frames) answers.",
        "Baselines on the same frames, each fitted on the model's training frames only: "
        "the transformer alone, logistic regression on the descriptor, and the "
        "nose-distance rule (two classes, two or more animals).",
        "frames_looked_at = frame-animals whose crops the model read at that budget; "
        f"frames_sent_to_encoder = crops not already in the cache {embedding_cache}.",
        *([f"Keypoint positions in {unit}."] if unit else []),
        *[f"Warning: {w}" for w in warnings],
    ]
    record: dict[str, Any] = {
        "suite": "gate eval",
        "description": description,
        "metrics": metrics,
        "table": rows,
        "figures": {"f1_vs_budget": "f1_vs_budget.png"},
        "notes": notes,
        "encoder": encoder,
        "held_out": {"frames": [held[0], held[1]], "split": held[2]},
    }
    lines = [f"# {record['suite']}", "", description, "", "| metric | value |", "|---|---|"]
    lines += [f"| {k} | {v} |" for k, v in metrics.items()]
    lines += ["", *_table(rows), "", "![f1_vs_budget](f1_vs_budget.png)", ""]
    lines += [f"- {n}" for n in notes]
    run.write_output("results.json", _json(record))
    run.write_output("results.md", "\n".join(lines) + "\n")
    run.write_output("f1_vs_budget.png", _budget_figure(rows))
    best = max(r["macro_f1"] for r in gate)
    summary = {
        "macro_f1": best,
        "frames_looked_at": sum(r["frames_looked_at"] for r in rows),
        "frames_sent_to_encoder": metrics["frames_sent_to_encoder"],
        "vision_encoder_calls": metrics["vision_encoder_calls"],
        "split": held[2],
        "unit": unit,
        "warnings": list(warnings),
    }
    run.write_output("summary.json", _json(summary))
    return record


def write_fit_outputs(
    run: Run, kind: str, log: Path, column: str, fit: dict[str, Any],
    vision: dict[str, Any] | None, warnings: Sequence[str] = (),
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:  # fmt: skip
    """Write pretrain's or train's outputs (``kind``); return the summary.

    ``extra``: more summary entries (the keypoints' ``unit``, ``examples_from``).
    """
    if log.is_file():
        run.write_output(f"{kind}_losses.png", loss_figure(log, column, f"gate {kind}ing loss"))
    if vision is not None:
        run.write_output("vision.json", _json(vision))
    summary = {**fit, **(extra or {}), "vision": vision, "warnings": list(warnings)}
    run.write_output("summary.json", _json(summary))
    run.write_output("report.md", _report_md(f"gate {kind}", summary, []))
    return summary
