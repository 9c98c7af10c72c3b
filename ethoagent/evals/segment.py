"""Evaluation suite ``segment``: the segment graph's ethogram against labels and baselines.

Data sets (each with per-frame, per-animal ground truth):

- ``synthetic_1``: one simulated mouse (``ethoagent.sim.synthetic.simulate_world``), 3 min
  at 30 fps (1 min with ``quick``), 3D keypoints in mm written to a movement netCDF file;
  truth = the behaviour program's labels (still, walking, darting, turning, rearing,
  grooming).
- ``synthetic_3``: three simulated mice, same length; truth adds the social labels
  (approach, chase, huddle, nose-to-nose, nose-to-anogenital) that override the individual
  ones during social bouts.
- ``behaviordepot_demo1``: BehaviorDEPOT's demo1 (one mouse, DeepLabCut 2D, 50 fps, 6,000
  frames; the first minute with ``quick``); truth = human freezing vs not.
- ``ethome_interact`` (full run only): ethome's two-mouse session (DeepLabCut 2D, 30 fps,
  5,700 frames); truth = human ``interact`` bouts, the same label for both mice.

Real data comes from ``shared_data_dir()``; an absent folder is a note, not a failure.

The feature-source variants (video alone, keypoints alone, both; rendered 1- and 3-mouse
sessions) and the real open-field video check come from ``evals.segment_video`` and join
the table and metrics (``video_variants.*``).

Methods, all on the same keypoints in the same run:

- ``merged``: the segment graph's ethogram (``ethogram.csv``), coded per frame by label;
- ``dec``: DEC alone, the graph's per-frame clusters (``clusters.csv``);
- ``kmeans``: ``kmeans_baseline`` on ``compute_features(...).matrix()`` with the same K;
- ``keypoint_moseq`` (optional): syllables of ``benchmarks/segment_keypoint_moseq.py``
  (its AR-HMM stage, 100 iterations; see the script for why not the keypoint-SLDS stage),
  run in its own environment (``$ETHOAGENT_KPMS_PYTHON`` or ``.cache/kpms-venv``) and
  cached by the keypoints' hash under ``.cache/kpms-syllables``; the quick run only reads
  the cache. Without that environment the table has no such rows and a note says why.

Metrics per data set and method, pooled over animals (the per-animal label sequences are
concatenated; label codes are shared across animals): Hungarian macro-F1 and NMI against
the truth, boundary F1 within 0.5 s (matches summed over animals), switches per minute and
median epoch length (s). A frame without features (missing keypoints) is its own label
``-1`` for the clusterings. ``chance_macro_f1`` is the merged ethogram's macro-F1 after a
random circular shift of each animal's labels (mean of 5 shifts): same labels, same epoch
lengths, no alignment with the truth. The floor of the issue — merged beats KMeans and DEC
alone on macro-F1 and on switches per minute — is a boolean per data set.
"""

from __future__ import annotations

import asyncio
import csv
import hashlib
import io
import json
import os
import subprocess
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ethoagent.errors import InputError
from ethoagent.evals.datasets import load_dataset, shared_data_dir
from ethoagent.evals.harness import SuiteOptions, SuiteResult, register_suite
from ethoagent.figures import new_figure, png_bytes
from ethoagent.graphs.kit.runtime import offline_runtime
from ethoagent.graphs.segment.graph import (
    GRAPH_NAME,
    run_segment,
)
from ethoagent.graphs.segment.inputs import SegmentInputs, SegmentSources, resolve_segment
from ethoagent.graphs.segment.options import SegmentOptions
from ethoagent.io.keypoints import write_keypoints
from ethoagent.model.pose import PoseData
from ethoagent.sim.behaviour import BEHAVIOURS, INDIVIDUAL_BEHAVIOURS
from ethoagent.sim.synthetic import KEYPOINTS, simulate_world
from ethoagent.tools.cluster import kmeans_baseline
from ethoagent.tools.ethogram import (
    boundary_f1,
    epochs_from_labels,
    hungarian_macro_f1,
    labels_from_epochs,
    nmi,
    read_ethogram_csv,
    switches_per_minute,
)
from ethoagent.tools.features import compute_features, layout_named

__all__ = [
    "METHODS",
    "SegmentCase",
    "cluster_table",
    "graph_inputs",
    "kmeans_labels",
    "kpms_labels",
    "pooled_scores",
    "run_graph",
    "segment_cases",
    "segment_suite",
]

METHODS: tuple[str, ...] = ("merged", "dec", "kmeans", "keypoint_moseq")
"""Methods of the table, in order (``keypoint_moseq`` only where it ran)."""
REQUIRED_METHODS: tuple[str, ...] = ("merged", "dec", "kmeans")
BOUNDARY_TOLERANCE_S = 0.5
"""Largest distance of a matched boundary, seconds."""
CHANCE_SHIFTS = 5
REFERENCE_FPS = 30.0
"""Time per minute of keypoints is reported per minute of 30 fps frames."""
KPMS_TIMEOUT_S = 3600
_REPO = Path(__file__).resolve().parents[2]
_KPMS_SCRIPT = _REPO / "benchmarks" / "segment_keypoint_moseq.py"
# AR-HMM stage only: on 2 shared CPU cores the keypoint-SLDS stage took ~60 s per
# iteration on 16,200 frames, and on a 1-minute session 50 of its iterations after 50
# AR-HMM ones changed macro-F1 by < 0.01 against 100 AR-HMM iterations alone
_KPMS_ARGS = ("--arhmm-iters", "100", "--full-iters", "0")


@dataclass(frozen=True)
class SegmentCase:
    """One data set of the eval.

    Attributes:
        name: short name (a table row key).
        keypoints_file: the file the graph reads.
        pose: the same keypoints in memory (for the baselines): ``points`` ``(frames,
            animals, keypoints, D)`` float64, mm (3D) or pixels (2D), NaN = missing.
        truth: ``(frames, animals)`` int64 ground-truth codes into ``classes``.
        classes: names of the truth codes.
        fps: frame rate, Hz.
        source: where the data comes from, one line.
    """

    name: str
    keypoints_file: Path
    pose: PoseData
    truth: NDArray[np.int64]
    classes: tuple[str, ...]
    fps: float
    source: str

    @property
    def frames(self) -> int:
        """Number of frames."""
        return int(self.truth.shape[0])

    @property
    def animals(self) -> int:
        """Number of animals."""
        return int(self.truth.shape[1])

    @property
    def minutes_30fps(self) -> float:
        """Animal-minutes of keypoints, counted in 30 fps frames."""
        return self.frames * self.animals / REFERENCE_FPS / 60.0


@dataclass
class GraphOutput:
    """What one graph run produced, per frame and animal."""

    merged: NDArray[np.int64]
    dec: NDArray[np.int64]
    vocabulary: tuple[str, ...]
    wall_s: float
    summary: dict[str, Any] = field(default_factory=dict)


# --------------------------------------------------------------------------- data sets


def _synthetic_case(work: Path, name: str, frames: int, animals: int, seed: int) -> SegmentCase:
    world = simulate_world(frames, animals=animals, seed=seed)
    individuals = tuple(f"mouse{i}" for i in range(animals))
    pose = PoseData(
        points=world.points_3d,
        confidence=np.full(world.points_3d.shape[:3], np.nan),
        keypoints=KEYPOINTS,
        individuals=individuals,
        fps=world.fps,
        unit="mm",
        source="ethoagent.sim.synthetic",
    )
    path = write_keypoints(pose, work / f"{name}.nc", format="netcdf")
    classes = BEHAVIOURS if animals > 1 else INDIVIDUAL_BEHAVIOURS
    return SegmentCase(
        name=name,
        keypoints_file=path,
        pose=pose,
        truth=np.asarray(world.behaviour.labels, dtype=np.int64),
        classes=classes,
        fps=world.fps,
        source=f"simulate_world(frames={frames}, animals={animals}, seed={seed}), 3D mm",
    )


def _crop(pose: PoseData, frames: int) -> PoseData:
    return PoseData(
        points=pose.points[:frames],
        confidence=pose.confidence[:frames],
        keypoints=pose.keypoints,
        individuals=pose.individuals,
        fps=pose.fps,
        unit=pose.unit,
        source=pose.source,
    )


def _behaviordepot_case(root: Path, work: Path, quick: bool) -> SegmentCase:
    data = load_dataset("behaviordepot_freezing", root=root)
    pose = data.pose["demo1"]
    fps = 50.0
    truth = data.labels["demo1"][:, :1]
    frames = min(pose.frames, truth.shape[0])
    path = Path(pose.source)
    if quick:
        frames = min(frames, round(60 * fps))
    if frames != pose.frames:
        pose = _crop(pose, frames)
        path = write_keypoints(pose, work / "behaviordepot_demo1.nc", format="netcdf")
    pose = PoseData(
        points=pose.points,
        confidence=pose.confidence,
        keypoints=pose.keypoints,
        individuals=pose.individuals,
        fps=fps,
        unit=pose.unit,
        source=pose.source,
    )
    return SegmentCase(
        name="behaviordepot_demo1",
        keypoints_file=path,
        pose=pose,
        truth=np.asarray(truth[:frames], dtype=np.int64),
        classes=("not_freezing", "freezing"),
        fps=fps,
        source=f"BehaviorDEPOT demo1, DLC 2D px, {frames} frames at 50 fps, human freezing",
    )


def _ethome_case(root: Path) -> SegmentCase:
    data = load_dataset("ethome_social_interact", root=root)
    (video, pose), *_ = data.pose.items()
    truth = data.labels[video][:, :1]
    frames = min(pose.frames, truth.shape[0])
    if frames != pose.frames:
        raise InputError(
            f"ethome tracking of {video} has {pose.frames} frames but its labels {frames}.",
            fix="check the shared data folder against its SOURCE.md.",
        )
    return SegmentCase(
        name="ethome_interact",
        keypoints_file=Path(pose.source),
        pose=pose,
        truth=np.repeat(np.asarray(truth, dtype=np.int64), pose.points.shape[1], axis=1),
        classes=("no_interaction", "interact"),
        fps=30.0,
        source=f"ethome {video}, 2 mice, DLC 2D px, {frames} frames at 30 fps, human interact",
    )


def segment_cases(
    work: Path, *, quick: bool, seed: int, root: Path | None = None
) -> tuple[list[SegmentCase], list[str]]:
    """Build the eval's data sets, writing synthetic keypoints under ``work``.

    Args:
        work: a scratch folder.
        quick: 1 min synthetic sessions and the first minute of demo1, no ethome.
        seed: seed of the synthetic sessions.
        root: the shared data folder (default ``shared_data_dir()``).

    Returns:
        The cases and notes on the data sets that were skipped, and why.
    """
    work.mkdir(parents=True, exist_ok=True)
    frames = round((1 if quick else 3) * 60 * REFERENCE_FPS)
    cases = [
        _synthetic_case(work, "synthetic_1", frames, 1, seed),
        _synthetic_case(work, "synthetic_3", frames, 3, seed + 1),
    ]
    notes: list[str] = []
    base = root if root is not None else shared_data_dir()
    real: list[tuple[str, Any]] = [
        ("behaviordepot_freezing", lambda: _behaviordepot_case(base, work, quick))
    ]
    if not quick:
        real.append(("ethome_social_interact", lambda: _ethome_case(base)))
    for folder, build in real:
        try:
            cases.append(build())
        except InputError as exc:
            notes.append(f"{folder} skipped: {exc}")
    return cases, notes


# --------------------------------------------------------------------------- methods


def graph_inputs(case: SegmentCase, *, k: int, seed: int, stability: bool = True) -> SegmentInputs:
    """The segment graph's inputs for a case (``k`` clusters, DEC seed ``seed``).

    ``stability``: fit DEC's second seed too (it only reports agreement; the labels are
    the first seed's either way).
    """
    options = SegmentOptions(k=k, seed=seed, check_stability=stability)
    return resolve_segment(SegmentSources(keypoints=case.keypoints_file, fps=case.fps), options)


def run_graph(case: SegmentCase, inputs: SegmentInputs, work: Path) -> GraphOutput:
    """Run the segment graph offline on a case; return its ethogram and clusters per frame.

    Returns:
        ``merged`` and ``dec`` ``(frames, animals)`` int64: the ethogram's label codes
        (index into ``vocabulary``) and the DEC clusters (-1 = no cluster).
    """
    rt = offline_runtime(work, GRAPH_NAME, case.name, inputs.model_dump())
    run = rt.run
    start = time.perf_counter()
    asyncio.run(run_segment(rt, inputs))
    wall = time.perf_counter() - start
    out = run.outputs_dir
    ethogram = read_ethogram_csv(out / "ethogram.csv")
    individuals = case.pose.individuals
    missing = [a for a in individuals if a not in ethogram]
    if missing:
        raise InputError(
            f"{out / 'ethogram.csv'} has no epochs for {missing}; animals: {list(ethogram)}.",
            fix="the segment graph must write one ethogram per animal of the keypoints.",
        )
    vocabulary = tuple(sorted({e.label for eps in ethogram.values() for e in eps}))
    merged = np.stack(
        [labels_from_epochs(ethogram[a], case.frames, names=vocabulary) for a in individuals],
        axis=1,
    )
    dec = cluster_table(out / "clusters.csv", individuals, case.frames)
    summary_path = out / "summary.json"
    summary = json.loads(summary_path.read_text()) if summary_path.is_file() else {}
    return GraphOutput(merged=merged, dec=dec, vocabulary=vocabulary, wall_s=wall, summary=summary)


def cluster_table(path: Path, individuals: Sequence[str], frames: int) -> NDArray[np.int64]:
    """Read a ``frame,<animal...>`` CSV of per-frame integer labels.

    Args:
        path: the CSV (``clusters.csv`` of a segment run, or keypoint-MoSeq syllables).
        individuals: animal columns to read, in this order.
        frames: number of frames; frames the file lacks are -1.

    Returns:
        ``(frames, animals)`` int64, -1 where empty or absent.
    """
    if not path.is_file():
        raise InputError(f"per-frame label file {path} not found.", fix="check the run.")
    reader = csv.DictReader(io.StringIO(path.read_text(encoding="utf-8")))
    cols = reader.fieldnames or []
    missing = [a for a in ("frame", *individuals) if a not in cols]
    if missing:
        raise InputError(
            f"{path} lacks column(s) {missing}; found {cols}.",
            fix="write the header frame,<animal...> with the keypoints' individual names.",
        )
    out = np.full((frames, len(individuals)), -1, dtype=np.int64)
    for row in reader:
        f = int(row["frame"])
        if 0 <= f < frames:
            for j, a in enumerate(individuals):
                cell = (row[a] or "").strip()
                if cell and cell.lstrip("-").isdigit():
                    out[f, j] = int(cell)
    return out


def kmeans_labels(case: SegmentCase, inputs: SegmentInputs) -> NDArray[np.int64]:
    """KMeans on the graph's features of a case (same layout, windows and K as the graph).

    Returns:
        ``(frames, animals)`` int64 clusters, -1 where a frame has no features.
    """
    opts = inputs.options
    feats = compute_features(
        case.pose.points,
        fps=case.fps,
        keypoints=case.pose.keypoints,
        individuals=case.pose.individuals,
        layout=layout_named(inputs.layout, inputs.keypoint_names),
        window_s=opts.feature_window_s,
        max_gap_s=opts.max_gap_s,
    )
    x, index = feats.matrix()
    out = np.full((case.frames, case.animals), -1, dtype=np.int64)
    out[index[:, 0], index[:, 1]] = kmeans_baseline(x, k=opts.k, seed=opts.seed)
    return out


def _kpms_python() -> Path | None:
    env = os.environ.get("ETHOAGENT_KPMS_PYTHON")
    path = Path(env) if env else _REPO / ".cache" / "kpms-venv" / "bin" / "python"
    return path if path.is_file() else None


def _kpms_input(case: SegmentCase, path: Path) -> str:
    """Write the keypoint-MoSeq runner's ``.npz``; return the hash of its content."""
    names = [k.lower() for k in case.pose.keypoints]
    anterior = [k for k, n in zip(case.pose.keypoints, names, strict=True) if "nose" in n]
    if not anterior:
        anterior = [k for k, n in zip(case.pose.keypoints, names, strict=True) if "ear" in n]
    posterior = [
        k
        for k, n in zip(case.pose.keypoints, names, strict=True)
        if n.replace("_", "") in ("tailbase", "tail")
    ][:1]
    arrays = {
        "points": case.pose.points,
        "confidence": case.pose.confidence,
        "keypoints": np.asarray(case.pose.keypoints),
        "individuals": np.asarray(case.pose.individuals),
        "anterior": np.asarray(anterior),
        "posterior": np.asarray(posterior),
        "fps": np.asarray(case.fps),
    }
    digest = hashlib.sha256(" ".join(_KPMS_ARGS).encode())
    for key, arr in arrays.items():
        digest.update(key.encode())
        digest.update(np.ascontiguousarray(arr).tobytes())
    np.savez(path, **arrays)  # type: ignore[arg-type]
    return digest.hexdigest()[:16]


def kpms_labels(
    case: SegmentCase, work: Path, *, fit: bool, seed: int
) -> tuple[NDArray[np.int64] | None, float | None, str]:
    """keypoint-MoSeq syllables of a case, from the cache or a fit in its own venv.

    Returns:
        ``(syllables (frames, animals) int64 or None, fit wall time s or None, note)``.
    """
    cache = _REPO / ".cache" / "kpms-syllables"
    key = _kpms_input(case, work / f"{case.name}_kpms.npz")
    out = cache / f"{case.name}-{key}.csv"
    if not out.is_file():
        python = _kpms_python()
        if python is None:
            return (
                None,
                None,
                (
                    "keypoint-MoSeq not run: no environment (create .cache/kpms-venv with "
                    "`pip install keypoint-moseq`, or set ETHOAGENT_KPMS_PYTHON)."
                ),
            )
        if not fit:
            return None, None, "keypoint-MoSeq not fitted in the quick run (no cached syllables)."
        cmd = [
            str(python),
            str(_KPMS_SCRIPT),
            "--keypoints",
            str(work / f"{case.name}_kpms.npz"),
            "--out",
            str(out),
            "--seed",
            str(seed),
            *_KPMS_ARGS,
        ]
        log = work / f"{case.name}_kpms.log"
        try:
            with log.open("w") as fh:
                code = subprocess.run(
                    cmd, stdout=fh, stderr=subprocess.STDOUT, timeout=KPMS_TIMEOUT_S, check=False
                ).returncode
        except subprocess.TimeoutExpired:
            return None, None, f"keypoint-MoSeq on {case.name} ran over {KPMS_TIMEOUT_S} s."
        if code != 0 or not out.is_file():
            lines = log.read_text(errors="replace").replace("\r", "\n").strip().splitlines()
            return (
                None,
                None,
                f"keypoint-MoSeq failed on {case.name}: {(lines or ['no output'])[-1]}",
            )
    info_path = out.with_suffix(".json")
    info = json.loads(info_path.read_text()) if info_path.is_file() else {}
    labels = cluster_table(out, case.pose.individuals, case.frames)
    stages = f"{info.get('arhmm_iters', '?')} AR-HMM iterations"
    full = info.get("full_iters", 0)
    stages += f" + {full} keypoint-SLDS iterations" if full else " (AR-HMM stage only)"
    note = f"keypoint-MoSeq on {case.name}: {stages}, CPU; wall_s = the fit's time ({key})."
    return labels, info.get("wall_s"), note


# --------------------------------------------------------------------------- metrics


def pooled_scores(
    pred: NDArray[np.int64], truth: NDArray[np.int64], fps: float
) -> dict[str, float]:
    """Metrics of per-frame labels ``(frames, animals)`` against the truth, pooled over animals.

    Returns:
        ``macro_f1`` and ``nmi`` of the concatenated sequences; ``boundary_f1`` (0.5 s
        tolerance) with matched boundaries summed over animals; ``switches_per_min`` (mean
        over animals, equal lengths); ``median_epoch_s`` over all animals' epochs;
        ``labels_used``.
    """
    if pred.shape != truth.shape:
        raise InputError(f"pred {pred.shape} and truth {truth.shape} must have the same shape.")
    tol = round(BOUNDARY_TOLERANCE_S * fps)
    matched = total = 0.0
    lengths: list[int] = []
    switches = []
    for a in range(pred.shape[1]):
        p, t = pred[:, a], truth[:, a]
        n_p = int(np.count_nonzero(p[1:] != p[:-1]))
        n_t = int(np.count_nonzero(t[1:] != t[:-1]))
        # F1 = 2 matched / (n_pred + n_true), so the matches can be summed over animals
        matched += boundary_f1(p, t, tol) * (n_p + n_t) / 2 if n_p + n_t else 0.0
        total += n_p + n_t
        switches.append(switches_per_minute(p, fps))
        lengths += [e.stop - e.start for e in epochs_from_labels(p)]
    return {
        "macro_f1": hungarian_macro_f1(pred.T.ravel(), truth.T.ravel()),
        "nmi": nmi(pred.T.ravel(), truth.T.ravel()),
        "boundary_f1": 2 * matched / total if total else 1.0,
        "switches_per_min": float(np.mean(switches)),
        "median_epoch_s": float(np.median(lengths)) / fps,
        "labels_used": float(np.unique(pred).size),
    }


def _chance_macro_f1(pred: NDArray[np.int64], truth: NDArray[np.int64], seed: int) -> float:
    rng = np.random.default_rng([seed, 0xC4A7CE])
    frames = pred.shape[0]
    scores = []
    for _ in range(CHANCE_SHIFTS):
        shifts = rng.integers(frames // 4, 3 * frames // 4 + 1, size=pred.shape[1])
        shifted = np.stack([np.roll(pred[:, a], s) for a, s in enumerate(shifts)], axis=1)
        scores.append(hungarian_macro_f1(shifted.T.ravel(), truth.T.ravel()))
    return float(np.mean(scores))


# --------------------------------------------------------------------------- suite


_QUICK_NOTE = (
    "quick: the graph runs without DEC's second-seed stability fit (it only reports "
    "agreement), so wall times are not the full run's."
)


@register_suite(
    "segment",
    "Segment graph (features -> DEC -> snippets -> captions -> merged ethogram) against "
    "per-frame labels on synthetic 1- and 3-mouse sessions and real BehaviorDEPOT freezing "
    "(and ethome interaction) data, next to DEC alone, KMeans and keypoint-MoSeq: "
    "Hungarian macro-F1, NMI, boundary F1 (0.5 s), switches per minute, median epoch.",
)
def segment_suite(options: SuiteOptions) -> SuiteResult:
    k = 10
    rows: list[dict[str, Any]] = []
    metrics: dict[str, Any] = {"k": k}
    notes: list[str] = []
    graph_wall = graph_minutes = 0.0
    with tempfile.TemporaryDirectory(prefix="ethoagent-segment-eval-") as tmp:
        work = Path(tmp)
        cases, skipped = segment_cases(work / "data", quick=options.quick, seed=options.seed)
        notes += skipped + ([_QUICK_NOTE] if options.quick else [])
        for case in cases:
            inputs = graph_inputs(case, k=k, seed=options.seed, stability=not options.quick)
            graph = run_graph(case, inputs, work / "runs")
            graph_wall += graph.wall_s
            graph_minutes += case.minutes_30fps
            start = time.perf_counter()
            km = kmeans_labels(case, inputs)
            km_wall = time.perf_counter() - start
            kp, kp_wall, kp_note = kpms_labels(case, work, fit=not options.quick, seed=options.seed)
            notes.append(kp_note)
            preds: dict[str, tuple[NDArray[np.int64], float | None]] = {
                "merged": (graph.merged, graph.wall_s),
                "dec": (graph.dec, None),
                "kmeans": (km, km_wall),
            }
            if kp is not None:
                preds["keypoint_moseq"] = (kp, kp_wall)
            scores = {m: pooled_scores(p, case.truth, case.fps) for m, (p, _) in preds.items()}
            calls = graph.summary.get("model_calls", {}).get("total")
            for method, (_, wall) in preds.items():
                rows.append(
                    {
                        "dataset": case.name,
                        "method": method,
                        "animals": case.animals,
                        "frames": case.frames,
                        **{key: round(v, 4) for key, v in scores[method].items()},
                        "wall_s": None if wall is None else round(wall, 2),
                        "s_per_min_30fps": (
                            None if wall is None else round(wall / case.minutes_30fps, 2)
                        ),
                        "model_calls": calls if method == "merged" else None,
                    }
                )
            metrics.update(_floors(case, scores, graph, options.seed))
            notes.append(f"{case.name}: {case.source}; classes {', '.join(case.classes)}.")
        # the feature-source variants (video / keypoints / both) on rendered sessions
        from ethoagent.evals.segment_video import video_variant_rows

        v_rows, v_metrics, v_notes, v_figures = video_variant_rows(options, work / "video")
        metrics.update({f"video_variants.{k}": v for k, v in v_metrics.items()})
        notes += v_notes
    metrics["graph_wall_s"] = round(graph_wall, 2)
    metrics["graph_s_per_min_30fps"] = (
        round(graph_wall / graph_minutes, 2) if graph_minutes else None
    )
    metrics["floor_met_everywhere"] = all(
        v for key, v in metrics.items() if key.endswith(".floor_met")
    )
    notes += [
        "Backend offline: captions and the merge come from the registered offline solvers, "
        "not from a VLM/LLM.",
        "DEC alone = the graph's own clusters.csv; 'wall_s' of merged is the whole graph "
        "(features, DEC, snippets, captions, merge); DEC has no separate time.",
        "s_per_min_30fps = wall time / animal-minutes of keypoints counted in 30 fps frames.",
        "Fewer switches per minute is better only down to the truth's own rate "
        "(<dataset>.truth_switches_per_min); below it the ethogram merges true bouts.",
        "Macro-F1 maps predicted labels one-to-one to truth classes (Hungarian); a method "
        "with more labels than classes loses the frames of its unmatched labels.",
    ]
    return SuiteResult(
        metrics=metrics,
        table=rows + v_rows,
        figures={"segment_scores": _figure(rows, metrics), **v_figures},
        notes=list(dict.fromkeys(notes)),
    )


def _floors(
    case: SegmentCase, scores: dict[str, dict[str, float]], graph: GraphOutput, seed: int
) -> dict[str, Any]:
    m = scores["merged"]
    out: dict[str, Any] = {}
    for base in ("kmeans", "dec"):
        b = scores[base]
        out[f"{case.name}.merged_beats_{base}_macro_f1"] = m["macro_f1"] > b["macro_f1"]
        out[f"{case.name}.merged_beats_{base}_switches"] = (
            m["switches_per_min"] < b["switches_per_min"]
        )
    out[f"{case.name}.floor_met"] = all(out.values())
    out[f"{case.name}.chance_macro_f1"] = round(_chance_macro_f1(graph.merged, case.truth, seed), 4)
    out[f"{case.name}.truth_switches_per_min"] = round(
        float(
            np.mean([switches_per_minute(case.truth[:, a], case.fps) for a in range(case.animals)])
        ),
        4,
    )
    out[f"{case.name}.vocabulary"] = ", ".join(graph.vocabulary)
    return out


def _figure(rows: list[dict[str, Any]], metrics: dict[str, Any]) -> bytes:
    """Grouped bars of macro-F1 and switches per minute; black ticks: chance and truth."""
    datasets = list(dict.fromkeys(r["dataset"] for r in rows))
    methods = [m for m in METHODS if any(r["method"] == m for r in rows)]
    fig, _ = new_figure(10.5, 3.4)
    fig.clear()
    axes = fig.subplots(1, 2)
    width = 0.8 / max(len(methods), 1)
    x = np.arange(len(datasets))
    centre = x + width * (len(methods) - 1) / 2
    for ax, col, label, ref, ref_label in (
        (axes[0], "macro_f1", "Hungarian macro-F1", "chance_macro_f1", "chance (shifted)"),
        (axes[1], "switches_per_min", "switches per minute", "truth_switches_per_min", "truth"),
    ):
        for i, method in enumerate(methods):
            vals = [
                next(
                    (r[col] for r in rows if r["dataset"] == d and r["method"] == method),
                    np.nan,
                )
                for d in datasets
            ]
            ax.bar(x + i * width, vals, width, label=method)
        refs = [metrics.get(f"{d}.{ref}", np.nan) for d in datasets]
        ax.hlines(refs, centre - 0.45, centre + 0.45, colors="k", linewidth=1.5, label=ref_label)
        ax.set_xticks(centre, datasets, rotation=20, ha="right")
        ax.set_ylabel(label)
    handles, labels = axes[0].get_legend_handles_labels()
    truth_handle, truth_label = axes[1].get_legend_handles_labels()
    axes[1].legend(
        handles[1:] + handles[:1] + truth_handle[:1],
        labels[1:] + labels[:1] + truth_label[:1],
        frameon=False,
        fontsize=8,
        loc="upper left",
        bbox_to_anchor=(1.02, 1.0),
    )
    axes[1].set_yscale("log")
    return png_bytes(fig)
