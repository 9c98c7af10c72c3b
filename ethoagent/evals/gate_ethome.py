"""The ``gate`` eval suite's real case: ethome's two mice, human ``interact`` labels.

ethome (``ethome_social_interact``: one video, 5,700 frames at 30 fps, adult + juvenile,
DeepLabCut 2D, 7 keypoints each) is trained and scored by ``gate train`` and ``gate eval``
themselves (``graphs.gate``: ``run_gate_train``, then ``GATE_EVAL`` through
``run_pipeline``), in both directions:

- ``first_half``: trained on the labels of frames 0-2849 (``--label-fraction 0.5``),
  scored on frames 2850-5699;
- ``second_half``: trained on frames 2850-5699 (the first half left unlabelled), scored
  on frames 0-2849 (``gate eval`` scores the frames before a model's labelled span).

Each is scored beside the head's parts on the same frames, each fitted on the training
frames only: the transformer alone, the logistic regression and the nose-distance rule
(threshold of best F1 on the training half). The human ``interact`` label of a frame is
copied to both animals (the labels say that the pair interacts, not who). Everything runs
in a temporary folder; the shared data is read, never copied into the repository.
"""

from __future__ import annotations

import csv
import json
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ethoagent.config import load_settings
from ethoagent.errors import InputError
from ethoagent.graphs.gate import GATE_EVAL, EvalInputs, EvalOptions, TrainInputs, TrainOptions
from ethoagent.graphs.gate.graph import run_gate_train
from ethoagent.graphs.kit.run import run_pipeline

__all__ = [
    "ETHOME_FPS",
    "ETHOME_QUICK",
    "ETHOME_SESSION",
    "SPLITS",
    "EthomeResult",
    "ethome_interact",
    "ethome_rows",
]

ETHOME_SESSION = "e3v813a-20210610T122332-122642"
"""The ethome video with both tracking and labels."""
ETHOME_FPS = 30.0
"""Its frame rate, Hz (the DeepLabCut CSV states none)."""
ETHOME_QUICK = {"d_model": 16, "d_z": 8, "layers": 1, "window": 32, "epochs": 1}
"""Model size of the quick run (a smoke run, not a measurement); the full run: ``--size cpu``."""
SPLITS: dict[str, str] = {
    "first_half": "trained on frames 0-2849, scored on 2850-5699",
    "second_half": "trained on frames 2850-5699, scored on 0-2849",
}
"""The two directions, by name."""


@dataclass(frozen=True)
class EthomeResult:
    """One direction of the ethome case.

    Attributes:
        split: a key of ``SPLITS``.
        rows: ``gate eval``'s table (``results.json``): the gate, then its parts alone.
        head: the head ``gate train`` chose (``mode``, ``smooth_frames``, ``validation``:
            macro-F1 of every mode on the held-back training frames).
        scored: ``(start, stop)`` frames scored.
        train_cpu_s: CPU seconds of ``gate train`` (this process).
        train_wall_s: its wall-clock seconds.
    """

    split: str
    rows: list[dict[str, Any]]
    head: dict[str, Any]
    scored: tuple[int, int]
    train_cpu_s: float
    train_wall_s: float


def _files(root: Path) -> tuple[Path, Path]:
    """The session's DeepLabCut CSV and frame-wise interact labels under ``root``."""
    folder = root / "ethome_social_interact"
    dlc = sorted((folder / "dlc").glob(f"{ETHOME_SESSION}*.csv"))
    labels = folder / "derived" / f"{ETHOME_SESSION}_interact_framewise.csv"
    if not dlc or not labels.is_file():
        raise InputError(
            f"ethome tracking or labels of {ETHOME_SESSION} not found under {folder}.",
            fix="set ETHOAGENT_SHARED_DATA to the shared data folder (see its MANIFEST.md).",
        )
    return dlc[0], labels


def _read_interact(source: Path) -> list[bool]:
    """Per frame, whether the human labelled ``interact`` (the derived frame-wise CSV)."""
    with source.open(newline="") as f:
        return [value.strip() == "1" for _, value in list(csv.reader(f))[1:]]


def _write_labels(interact: list[bool], out: Path, unlabelled_before: int) -> Path:
    """``frame,adult,juvenile`` with ``interact``/``other`` per frame (blank before a frame)."""
    lines = ["frame,adult,juvenile"]
    for frame, on in enumerate(interact):
        name = "" if frame < unlabelled_before else ("interact" if on else "other")
        lines.append(f"{frame},{name},{name}")
    out.write_text("\n".join(lines) + "\n")
    return out


def ethome_interact(root: Path, *, quick: bool) -> list[EthomeResult]:
    """Train and score the gate on ethome in both directions (see the module doc).

    Args:
        root: the shared data folder.
        quick: a small model trained one epoch (smoke run); else ``gate train``'s default
            ``cpu`` size.

    Raises:
        InputError: the ethome files are absent.
    """
    keypoints, source = _files(root)
    size = ETHOME_QUICK if quick else {}
    out: list[EthomeResult] = []
    with tempfile.TemporaryDirectory(prefix="gate-ethome-") as tmp:
        work = Path(tmp)
        settings = load_settings(None, {"runs_dir": work / "runs"})
        interact = _read_interact(source)
        truth = _write_labels(interact, work / "labels.csv", 0)
        for split in SPLITS:
            first = split == "first_half"
            late = len(interact) // 2
            labels = truth if first else _write_labels(interact, work / "late.csv", late)
            options = TrainOptions(label_fraction=0.5 if first else 1.0, **size)
            start, cpu = time.perf_counter(), time.process_time()
            trained = run_gate_train(
                TrainInputs(keypoints=keypoints, labels=labels, fps=ETHOME_FPS), options,
                settings, out=work / split,
            )  # fmt: skip
            cpu, wall = time.process_time() - cpu, time.perf_counter() - start
            inputs = EvalInputs(
                keypoints=keypoints, labels=truth, gate_model=work / split, fps=ETHOME_FPS
            )
            run_pipeline(GATE_EVAL, inputs, EvalOptions(), settings, out=work / f"{split}-eval")
            record = json.loads((work / f"{split}-eval" / "results.json").read_text())
            held = record["held_out"]["frames"]
            out.append(EthomeResult(split, record["table"], trained.summary["head"] or {},
                                    (int(held[0]), int(held[1])), round(cpu, 1),
                                    round(wall, 1)))  # fmt: skip
    return out


def _method(row: dict[str, Any], head: dict[str, Any], fps: float) -> str:
    name = str(row["method"])
    if not name.startswith("gate") or not head:
        return name
    return f"gate (head = {head['mode']}, {head['smooth_frames'] / fps:g} s smoothing)"


def ethome_rows(results: list[EthomeResult]) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Table rows (the suite's columns) and metrics of ``ethome_interact``'s results.

    Metrics: ``ethome.<split>.<method>.interact_f1`` / ``.macro_f1`` (method: ``gate``,
    ``transformer``, ``logreg``, ``rule``), ``ethome.<split>.head``, ``.train_cpu_s``,
    ``.train_wall_s``.
    """
    keys = {"transformer alone": "transformer", "logistic regression": "logreg",
            "nose-distance rule": "rule"}  # fmt: skip
    rows: list[dict[str, Any]] = []
    metrics: dict[str, Any] = {}
    for r in results:
        base = f"ethome.{r.split}"
        for row in r.rows:
            key = keys.get(str(row["method"]), "gate")
            interact = float(row["per_class_f1"].get("interact", 0.0))
            metrics[f"{base}.{key}.interact_f1"] = round(interact, 4)
            metrics[f"{base}.{key}.macro_f1"] = round(float(row["macro_f1"]), 4)
            rows.append(
                {
                    "dataset": "ethome_interact",
                    "method": _method(row, r.head, ETHOME_FPS),
                    "labels": f"{r.split.replace('_', ' ')} ({SPLITS[r.split]})",
                    "topk": "keypoints only",
                    "frames_looked_at": 0,
                    "looked_fraction": 0.0,
                    "macro_f1": round(float(row["macro_f1"]), 4),
                    "macro_f1_std": None,
                    "seeds": 1,
                    "per_class_f1": row["per_class_f1"],
                }
            )
        metrics[f"{base}.head"] = r.head.get("mode", "transformer")
        metrics[f"{base}.head_validation"] = r.head.get("validation", {})
        metrics[f"{base}.frames_scored"] = list(r.scored)
        metrics[f"{base}.train_cpu_s"] = r.train_cpu_s
        metrics[f"{base}.train_wall_s"] = r.train_wall_s
    return rows, metrics


def ethome_notes(metrics: dict[str, Any], *, quick: bool) -> list[str]:
    """One line per direction: the gate beside its parts (interact F1), wins and losses."""
    notes = [
        "ethome_interact: two mice, one video (5,700 frames at 30 fps), human interact "
        "labels copied to both animals; trained and scored by `gate train` and `gate eval` "
        "themselves, keypoints only, each baseline fitted on the training half only"
        + (" (quick run: a 16-wide model trained one epoch, a smoke run)." if quick else ".")
    ]
    for split, what in SPLITS.items():
        base = f"ethome.{split}"
        if f"{base}.gate.interact_f1" not in metrics:
            continue
        f1 = {k: metrics.get(f"{base}.{k}.interact_f1") for k in
              ("gate", "transformer", "logreg", "rule")}  # fmt: skip
        others = {k: v for k, v in f1.items() if k != "gate" and v is not None}
        best = max(others, key=lambda k: others[k])
        verdict = "at or above" if f1["gate"] >= others[best] else "below"
        notes.append(
            f"ethome {split.replace('_', ' ')} ({what}): interact F1 gate {f1['gate']:.2f} "
            f"(head {metrics[f'{base}.head']}), transformer alone {f1['transformer']:.2f}, "
            + ", ".join(f"{k} {v:.2f}" for k, v in others.items() if k != "transformer")
            + f"; the gate is {verdict} the best of them ({best}). One video with 5 "
            "interact bouts per half: a single measurement, not a benchmark."
        )
    return notes
