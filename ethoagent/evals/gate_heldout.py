"""The ``gate`` eval suite's held-out cases, run by ``gate train`` and ``gate eval`` themselves.

Each case trains a model with ``graphs.gate.graph.run_gate_train`` and scores it with
``GATE_EVAL`` through ``run_pipeline`` (keypoints only), beside the head's parts on the
same frames, each fitted on the training frames only: the transformer alone, the logistic
regression and the nose-distance rule (two classes only; threshold of best F1 on the
training frames).

- ethome (``ethome_social_interact``: one video, 5,700 frames at 30 fps, adult +
  juvenile, DeepLabCut 2D, 7 keypoints each), human ``interact`` labels copied to both
  animals (they say that the pair interacts, not who), in both directions:
  ``ethome_first_half`` trains on frames 0-2849 (``--label-fraction 0.5``) and scores
  2850-5699; ``ethome_second_half`` trains on 2850-5699 (the first half unlabelled) and
  scores 0-2849 (``gate eval`` scores the frames before a model's labelled span).
- full run only: simulated keypoint sessions (``simulate_world``, ``SIM_FRAMES`` frames,
  3D marks in mm, 1 mouse seed 11 and 3 mice seed 12), first half trained, second scored.

Everything runs in a temporary folder; the shared data is read, never copied into the
repository.
"""

from __future__ import annotations

import csv
import json
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ethoagent.config import load_settings
from ethoagent.errors import InputError
from ethoagent.graphs.gate import GATE_EVAL, EvalInputs, EvalOptions, TrainInputs, TrainOptions
from ethoagent.graphs.gate.graph import run_gate_train
from ethoagent.graphs.kit.run import run_pipeline
from ethoagent.io.keypoints import write_dlc_csv
from ethoagent.model.pose import PoseData
from ethoagent.sim.behaviour import BEHAVIOURS
from ethoagent.sim.synthetic import KEYPOINTS, simulate_world

__all__ = [
    "CASES",
    "ETHOME_SESSION",
    "FPS",
    "QUICK_SIZE",
    "SIM_FRAMES",
    "HeldOutResult",
    "ethome_interact",
    "heldout_notes",
    "heldout_rows",
    "simulated_keypoints",
]

ETHOME_SESSION = "e3v813a-20210610T122332-122642"
"""The ethome video with both tracking and labels."""
FPS = 30.0
"""Frame rate of every case, Hz (ethome's DeepLabCut CSV states none)."""
QUICK_SIZE = {"d_model": 16, "d_z": 8, "layers": 1, "window": 32, "epochs": 1}
"""Model size of the quick run (a smoke run, not a measurement); the full run: ``--size cpu``."""
SIM_FRAMES = 3000
"""Frames of a simulated keypoint session (100 s at 30 fps)."""
CASES: dict[str, str] = {
    "ethome_first_half": "ethome interact, trained on frames 0-2849, scored on 2850-5699",
    "ethome_second_half": "ethome interact, trained on frames 2850-5699, scored on 0-2849",
    "synthetic_keypoints_1": "1 simulated mouse (seed 11), first half trained, second scored",
    "synthetic_keypoints_3": "3 simulated mice (seed 12), first half trained, second scored",
}
"""The cases, by name."""


@dataclass(frozen=True)
class HeldOutResult:
    """One case.

    Attributes:
        name: a key of ``CASES``.
        rows: ``gate eval``'s table (``results.json``): the gate, then its parts alone.
        head: the head ``gate train`` chose (``mode``, ``smooth_frames``, ``validation``:
            macro-F1 of every mode on the held-back training frames).
        scored: ``(start, stop)`` frames scored.
        train_cpu_s: CPU seconds of ``gate train`` (this process).
        train_wall_s: its wall-clock seconds.
    """

    name: str
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


def _train_and_score(
    name: str, keypoints: Path, labels: Path, truth: Path, work: Path, options: TrainOptions
) -> HeldOutResult:
    """``gate train`` on ``labels``, then ``gate eval`` on ``truth``'s held-out frames."""
    settings = load_settings(None, {"runs_dir": work / "runs"})
    start, cpu = time.perf_counter(), time.process_time()
    trained = run_gate_train(
        TrainInputs(keypoints=keypoints, labels=labels, fps=FPS), options, settings,
        out=work / name,
    )  # fmt: skip
    cpu, wall = time.process_time() - cpu, time.perf_counter() - start
    inputs = EvalInputs(keypoints=keypoints, labels=truth, gate_model=work / name, fps=FPS)
    run_pipeline(GATE_EVAL, inputs, EvalOptions(), settings, out=work / f"{name}-eval")
    record = json.loads((work / f"{name}-eval" / "results.json").read_text())
    held = record["held_out"]["frames"]
    return HeldOutResult(name, record["table"], trained.summary["head"] or {},
                         (int(held[0]), int(held[1])), round(cpu, 1),
                         round(wall, 1))  # fmt: skip


def ethome_interact(root: Path, *, quick: bool) -> list[HeldOutResult]:
    """Train and score the gate on ethome in both directions (see the module doc).

    Args:
        root: the shared data folder.
        quick: a small model trained one epoch (smoke run); else ``gate train``'s default
            ``cpu`` size.

    Raises:
        InputError: the ethome files are absent.
    """
    keypoints, source = _files(root)
    options = TrainOptions(**(QUICK_SIZE if quick else {}))
    out: list[HeldOutResult] = []
    with tempfile.TemporaryDirectory(prefix="gate-ethome-") as tmp:
        work = Path(tmp)
        interact = _read_interact(source)
        truth = _write_labels(interact, work / "labels.csv", 0)
        late = _write_labels(interact, work / "late.csv", len(interact) // 2)
        first = options.model_copy(update={"label_fraction": 0.5})
        out.append(_train_and_score("ethome_first_half", keypoints, truth, truth, work, first))
        out.append(_train_and_score("ethome_second_half", keypoints, late, truth, work, options))
    return out


def simulated_keypoints(animals: int, seed: int, frames: int = SIM_FRAMES) -> HeldOutResult:
    """The gate on a simulated keypoint session, first half trained, second half scored.

    ``simulate_world`` marks (3D, mm) written as a DeepLabCut CSV with the behaviour names
    per animal; ``gate train --label-fraction 0.5`` at the default ``cpu`` size, then
    ``gate eval``. No video, and no rule with more than two classes.
    """
    world = simulate_world(frames, animals=animals, fps=FPS, seed=seed)
    names = tuple(f"mouse{i + 1}" for i in range(animals))
    pose = PoseData(points=world.points_3d, confidence=np.ones(world.points_3d.shape[:3]),
                    keypoints=KEYPOINTS, individuals=names, unit="mm")  # fmt: skip
    codes = np.asarray(world.behaviour.labels, np.int64)
    with tempfile.TemporaryDirectory(prefix="gate-sim-") as tmp:
        work = Path(tmp)
        keypoints = write_dlc_csv(work / "session.csv", pose)
        rows = [",".join(("frame", *names))]
        rows += [",".join((str(f), *(BEHAVIOURS[c] for c in codes[f]))) for f in range(frames)]
        labels = work / "labels.csv"
        labels.write_text("\n".join(rows) + "\n")
        options = TrainOptions(label_fraction=0.5)
        return _train_and_score(f"synthetic_keypoints_{animals}", keypoints, labels, labels,
                                work, options)  # fmt: skip


def _method(row: dict[str, Any], head: dict[str, Any]) -> str:
    name = str(row["method"])
    if not name.startswith("gate") or not head:
        return name
    return f"gate (head = {head['mode']}, {head['smooth_frames'] / FPS:g} s smoothing)"


_KEYS = {"transformer alone": "transformer", "logistic regression": "logreg",
         "nose-distance rule": "rule"}  # fmt: skip


def _watched(result: HeldOutResult) -> str:
    """The class each case is read by: ethome's ``interact``, the simulation's ``darting``."""
    return "interact" if result.name.startswith("ethome") else "darting"


def heldout_rows(results: list[HeldOutResult]) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Table rows (the suite's columns) and metrics of the held-out cases.

    Metrics per case and method (``gate``, ``transformer``, ``logreg``, ``rule``):
    ``<case>.<method>.macro_f1`` and ``.<class>_f1`` (ethome: ``interact``, simulated:
    ``darting``, the rare class); per case ``.head``, ``.head_validation``,
    ``.frames_scored``, ``.train_cpu_s``, ``.train_wall_s``.
    """
    rows: list[dict[str, Any]] = []
    metrics: dict[str, Any] = {}
    for r in results:
        watched = _watched(r)
        for row in r.rows:
            key = f"{r.name}.{_KEYS.get(str(row['method']), 'gate')}"
            metrics[f"{key}.{watched}_f1"] = round(float(row["per_class_f1"].get(watched, 0)), 4)
            metrics[f"{key}.macro_f1"] = round(float(row["macro_f1"]), 4)
            rows.append(
                {
                    "dataset": r.name,
                    "method": _method(row, r.head),
                    "labels": CASES[r.name],
                    "topk": "keypoints only",
                    "frames_looked_at": 0,
                    "looked_fraction": 0.0,
                    "macro_f1": round(float(row["macro_f1"]), 4),
                    "macro_f1_std": None,
                    "seeds": 1,
                    "per_class_f1": row["per_class_f1"],
                }
            )
        metrics[f"{r.name}.head"] = r.head.get("mode", "transformer")
        metrics[f"{r.name}.head_validation"] = r.head.get("validation", {})
        metrics[f"{r.name}.frames_scored"] = list(r.scored)
        metrics[f"{r.name}.train_cpu_s"] = r.train_cpu_s
        metrics[f"{r.name}.train_wall_s"] = r.train_wall_s
    return rows, metrics


def heldout_notes(results: list[HeldOutResult], metrics: dict[str, Any]) -> list[str]:
    """One line per case: the gate beside its parts, wins and losses stated."""
    notes = []
    for r in results:
        watched = _watched(r)
        f1 = {k: metrics.get(f"{r.name}.{k}.macro_f1") for k in
              ("gate", "transformer", "logreg", "rule")}  # fmt: skip
        others = {k: v for k, v in f1.items() if k != "gate" and v is not None}
        best = max(others, key=lambda k: others[k])
        verdict = "at or above" if (f1["gate"] or 0.0) >= others[best] else "below"
        notes.append(
            f"{r.name} ({CASES[r.name]}): macro-F1 gate {f1['gate']:.2f} (head "
            f"{metrics[f'{r.name}.head']}; {watched} F1 "
            f"{metrics[f'{r.name}.gate.{watched}_f1']:.2f}), "
            + ", ".join(f"{k} {v:.2f}" for k, v in others.items())
            + f"; the gate is {verdict} the best of them ({best}), on one session: a "
            "single measurement, not a benchmark."
        )
    return notes
