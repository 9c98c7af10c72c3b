"""Eval suite ``pose-real``: the pose graph on real multi-view labels spoilt as a 2D model errs.

Per data set present (``evals.pose_real.evaluate_dataset``): naive DLT vs the
triangulation stage (stage 4) on every frame, under each corruption; then the whole pose
graph (``evaluate_graph``) on each, described below (DANNCE without videos, which its data
set does not distribute: ``dannce_sources``).

The session is used as its lab keeps it: the real videos, ``calibration.toml`` (the graph
has to find the faulty ``side`` camera itself), the skeleton read from a proofread ``.slp``
(SLEAP's own 15 nodes and edges; regions and left/right pairs inferred and reported), and
seeds = 3 proofread frames of the per-camera ``.slp`` files (``--seed-frames``). The
candidates are the proofread labels of every camera spoilt as ``sim.spoil.corrupt_labels``
does (left/right swaps in one view, 30-80 px outliers, unlabelled views), written as one
DeepLabCut CSV per camera, camera named in the file name, the way a 2D model's output
arrives. The graph runs offline (policy supervisor, offline solvers for the two prompts).

On the same consecutive frames and the views the graph kept, the naive all-view DLT of the
spoilt labels and the triangulation stage alone (``pose_real.evaluate_views``) are the
baselines; all three are scored by ``pose_real.result_row`` against sleap-anipose's
reference 3D and the proofread 2D.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ethoagent.errors import InputError
from ethoagent.evals.datasets import Dataset, load_dataset, shared_data_dir
from ethoagent.evals.harness import SuiteOptions, SuiteResult, register_suite
from ethoagent.evals.pose_real import (
    DANNCE,
    GROSS_MM,
    SLEAP,
    evaluate_dataset,
    evaluate_views,
    left_out_by,
    make_skeleton,
    no_nan,
    pick_seed_frames,
    result_row,
    seed_limits,
)
from ethoagent.figures import new_figure, png_bytes
from ethoagent.graphs.kit.runtime import offline_runtime
from ethoagent.graphs.pose.graph import GRAPH_NAME, run_pose
from ethoagent.graphs.pose.inputs import PoseInputs, PoseSources, resolve_pose
from ethoagent.graphs.pose.options import PoseOptions
from ethoagent.graphs.pose.report import assembled
from ethoagent.io.keypoints import write_keypoints
from ethoagent.io.skeletons import read_skeleton
from ethoagent.model.pose import PoseData
from ethoagent.sim.spoil import corrupt_labels
from ethoagent.tools.labelling import write_seed_labels
from ethoagent.tools.triangulate import triangulate_dlt

GRAPH_LABELS = "corrupted, graph frames"
"""The ``labels`` column of the rows ``evaluate_graph`` adds."""

SLP_SKELETON = Path("top") / "minimal_top_proofread.slp"
"""The proofread ``.slp`` (inside the session folder) the skeleton is read from."""

DANNCE_SKELETON = Path("mouse22_skeleton.mat")
DANNCE_CALIBRATION = Path("markerless_mouse_1") / "label3d_dannce.mat"
"""DANNCE's skeleton and calibration files, inside its data folder."""


@dataclass(frozen=True, eq=False)
class GraphRun:
    """One offline run of the pose graph: its inputs, final state and arrays.

    Attributes:
        points: ``(frames, keypoints, 3)`` mm, skeleton order (``inputs.skeleton``).
        reading: ``(frames, views, keypoints, 2)`` pixels, the 2D the 3D rests on; views
            as ``inputs.cameras``.
    """

    inputs: PoseInputs
    state: dict[str, Any]
    points: NDArray[np.float64]
    reading: NDArray[np.float64]


def run_graph(
    candidates_2d: NDArray[np.float64],
    views: Sequence[str],
    keypoints: Sequence[str],
    sources: Callable[[Path, Path], PoseSources],
    frames: int,
) -> GraphRun:
    """Run the pose graph offline with ``candidates_2d`` as a 2D model's predictions.

    Args:
        candidates_2d: ``(frames, views, keypoints, 2)`` pixels, written as one DeepLabCut
            CSV per camera (``spoilt_<view>_predictions.csv``), likelihood 1.
        views: camera names of the views axis.
        keypoints: keypoint names of the keypoints axis, as the skeleton names them.
        sources: ``(work folder, candidates folder) -> PoseSources``: the run's files
            (it may write seed labels into the work folder).
        frames: frames labelled from frame 0.
    """
    with tempfile.TemporaryDirectory(prefix="ethoagent-pose-real-") as tmp:
        cands = Path(tmp) / "candidates"
        cands.mkdir()
        for v, view in enumerate(views):
            pts = candidates_2d[:, v][:, None]
            conf = np.where(np.isfinite(pts[..., 0]), 1.0, np.nan)
            write_keypoints(
                PoseData(
                    points=pts, confidence=conf, keypoints=tuple(keypoints), individuals=("a",)
                ),
                cands / f"spoilt_{view}_predictions.csv",
                format="dlc",
            )
        inputs = resolve_pose(sources(Path(tmp), cands), PoseOptions(frames=frames))
        rt = offline_runtime(Path(tmp) / "runs", GRAPH_NAME, "pose-real", inputs.model_dump())
        state = asyncio.run(run_pose(rt, inputs))
        points, reading = assembled(rt.run, state["n_chunks"])
    return GraphRun(inputs=inputs, state=state, points=points, reading=reading)


def sleap_sources(session: Path, seeds: list[int]) -> Callable[[Path, Path], PoseSources]:
    """The sleap-anipose session as laid out: videos, calibration, ``.slp`` seeds, skeleton."""

    def sources(work: Path, candidates: Path) -> PoseSources:
        return PoseSources(
            videos=session,
            calibration=session / "calibration.toml",
            seeds=session,
            seed_frames=seeds,
            candidates=candidates,
            skeleton=session / SLP_SKELETON,
        )

    return sources


def dannce_sources(
    root: Path, clean_2d: NDArray[np.float64], views: Sequence[str], seeds: list[int]
) -> Callable[[Path, Path], PoseSources]:
    """DANNCE without videos: its calibration, skeleton, seeds CSV and the candidates only.

    The calibration is ``label3d_dannce.mat``, the skeleton ``mouse22_skeleton.mat``, the
    seeds a CSV of the clean 2D of ``seeds`` written into the work folder.

    Args:
        root: the ``dannce_markerless_mouse`` folder.
        clean_2d: ``(frames, views, keypoints, 2)`` pixels, the reprojected hand labels.
        views: camera names of the views axis.
        seeds: seed frames (frame 0 first).
    """
    skeleton = root / DANNCE_SKELETON

    def sources(work: Path, candidates: Path) -> PoseSources:
        names, _ = read_skeleton(skeleton)
        write_seed_labels(work / "seeds.csv", seeds, clean_2d[seeds], list(views), names.keypoints)
        return PoseSources(
            calibration=root / DANNCE_CALIBRATION,
            seeds=work / "seeds.csv",
            candidates=candidates,
            skeleton=skeleton,
        )

    return sources


def evaluate_graph(
    data: Dataset, root: Path, *, seed: int, frames: int
) -> tuple[list[dict[str, Any]], dict[str, Any], list[str]]:
    """Naive DLT, the stage and the whole pose graph on ``frames`` frames of ``data``.

    sleap-anipose: the session as laid out (videos, ``.slp`` seeds), frames 0 onwards.
    DANNCE: no videos (candidates only), from the first frame with every keypoint labelled
    (the seeds need it); its labelled frames are not consecutive video frames, so the
    graph's temporal prediction is weak there.

    Args:
        data: the loaded data set (cameras, clean 2D, reference 3D).
        root: the shared data folder.
        seed: seeds the corruption.
        frames: frames labelled.

    Returns:
        Table rows (labels ``corrupted, graph frames``), metrics ``<key>_graph_*`` and notes.
    """
    assert data.points_2d is not None and data.points_3d is not None
    first = 0 if data.name == SLEAP else pick_seed_frames(data.points_3d, 1)[0]
    n = min(frames, data.points_2d.shape[0] - first)
    clean, ref3d = data.points_2d[first : first + n], data.points_3d[first : first + n]
    skeleton = make_skeleton(data.name, list(data.keypoints_3d))
    corruption = corrupt_labels(clean, skeleton.left_right_index, seed=seed)
    if data.name == SLEAP:
        seeds = [0, n // 2, n - 1]
        sources = sleap_sources(root / SLEAP / "minimal_session", seeds)
        given_names = list(skeleton.keypoints)
    else:
        seeds = pick_seed_frames(ref3d)
        sources = dannce_sources(root / DANNCE, clean, data.view_names, seeds)
        given_names = list(read_skeleton(root / DANNCE / DANNCE_SKELETON)[0].keypoints)
    run = run_graph(corruption.points_2d, data.view_names, given_names, sources, n)
    inputs, state = run.inputs, run.state
    kept_names = inputs.cameras or list(data.view_names)
    keep = [data.view_names.index(c) for c in kept_names]
    order = [inputs.skeleton.keypoints.index(k) for k in given_names]
    points, reading = run.points[:, order], run.reading[:, :, order]
    cams = [data.cameras[v] for v in keep]
    limits, lengths = seed_limits(cams, clean[seeds][:, keep], skeleton)
    clean_3d = triangulate_dlt(cams, clean[:, keep])
    base = {"data": data.name, "views": "+".join(kept_names), "labels": GRAPH_LABELS}
    spoilt = corruption.views(keep)
    method_points: dict[str, NDArray[np.float64]] = {}
    rows = evaluate_views(
        cams,
        clean[:, keep],
        spoilt,
        reference_3d=ref3d,
        clean_3d=clean_3d,
        skeleton=skeleton,
        reference_lengths=lengths,
        limits=limits,
        base=base,
        points_out=method_points,
    )
    calls = sum(state["model_calls"].values()) / (n * len(keep))
    graph = result_row(
        base,
        "pose graph",
        points,
        reading,
        reference_3d=ref3d,
        clean_3d=clean_3d,
        clean_2d=clean[:, keep],
        given=spoilt.points_2d,
        corruption=spoilt,
    )
    graph |= {
        "flagged": len(state["flagged"]),
        "routes": ", ".join(f"{k} {v}" for k, v in sorted(state["routes"].items())),
    }
    rows.append(graph)
    for r in rows:
        r.setdefault("model_calls_per_frame_view", 0.0)
    graph["model_calls_per_frame_view"] = calls
    metrics, notes = _graph_summary(rows[0], rows[1], graph, inputs, data, seeds, first)
    left_metrics, left_notes = _left_out(data.name, points, method_points["stage"], ref3d)
    return rows, metrics | left_metrics, notes + left_notes


def _left_out(
    name: str,
    points: NDArray[np.float64],
    stage_points: NDArray[np.float64],
    reference: NDArray[np.float64],
) -> tuple[dict[str, Any], list[str]]:
    """The ``<key>_graph_left_out_stage_has_*`` metrics and their note (``left_out_by``).

    Args:
        name: the data set.
        points: ``(frames, keypoints, 3)`` mm, the graph's points.
        stage_points: the same shape, the stage's.
        reference: the same shape, the reference 3D.
    """
    left_out = left_out_by(points, stage_points, reference)
    key = "sleap" if name == SLEAP else "dannce"
    metrics = {f"{key}_graph_left_out_stage_has_{k}": v for k, v in left_out.items()}
    if not left_out["count"]:
        return metrics, []
    return metrics, [
        f"{name}, whole pose graph: of the {left_out['count']:.0f} points it leaves out and "
        f"the stage alone has, the stage's are off by a median {left_out['median_mm']:.1f} "
        f"mm ({100 * left_out['within_gross']:.0f} % within {GROSS_MM:g} mm of the reference)."
    ]


def _graph_summary(
    naive: dict[str, Any],
    stage: dict[str, Any],
    graph: dict[str, Any],
    inputs: PoseInputs,
    data: Dataset,
    seeds: list[int],
    first: int,
) -> tuple[dict[str, Any], list[str]]:
    """The ``<key>_graph_*`` metrics and the note of ``evaluate_graph``."""
    kept = inputs.cameras or list(data.view_names)
    dropped = sorted(set(data.view_names) - set(kept))
    key = "sleap" if data.name == SLEAP else "dannce"
    metrics = {
        f"{key}_graph_frames": inputs.frames,
        f"{key}_graph_views": "+".join(kept),
        f"{key}_graph_dropped": dropped,
        f"{key}_graph_naive_median_mm": naive["median_mm"],
        f"{key}_graph_median_mm": graph["median_mm"],
        f"{key}_graph_naive_mean_mm": naive["mean_mm"],
        f"{key}_graph_mean_mm": graph["mean_mm"],
        f"{key}_graph_naive_agree_2px": naive["agree_2px"],
        f"{key}_graph_agree_2px": graph["agree_2px"],
        f"{key}_graph_stage_median_mm": stage["median_mm"],
        f"{key}_graph_stage_agree_2px": stage["agree_2px"],
        f"{key}_graph_stage_missing_3d": stage["missing_3d"],
        f"{key}_graph_stage_gross_3d": stage["gross_3d"],
        f"{key}_graph_stage_mean_mm": stage["mean_mm"],
        f"{key}_graph_stage_wrong_used": stage["wrong_used"],
        f"{key}_graph_stage_found_3d": stage["found_3d"],
        f"{key}_graph_stage_flagged": stage["flagged"],
        f"{key}_graph_wrong_used": graph["wrong_used"],
        f"{key}_graph_found_3d": graph["found_3d"],
        f"{key}_graph_missing_3d": graph["missing_3d"],
        f"{key}_graph_gross_3d": graph["gross_3d"],
        f"{key}_graph_flagged": graph["flagged"],
        f"{key}_graph_model_calls_per_frame_view": graph["model_calls_per_frame_view"],
    }
    source = (
        f"seeds {seeds} from the proofread .slp files, skeleton from {SLP_SKELETON} "
        "(SLEAP's edges), the real videos"
        if data.name == SLEAP
        else f"seeds {seeds} (a seeds CSV of the reprojected hand labels), skeleton from "
        f"{DANNCE_SKELETON} (regions inferred from the seeds), calibration "
        f"{DANNCE_CALIBRATION}, no videos (the graph's no-video mode: no model sees a crop); "
        "the labelled frames are not consecutive video frames"
    )
    note = (
        f"{data.name}, whole pose graph: labelled frames {first}-{first + inputs.frames - 1} "
        f"(as frames 0-{inputs.frames - 1}), {source}, candidates = the spoilt labels as one "
        f"DeepLabCut CSV per camera; the graph kept {kept}"
        + (f" and left out {dropped}" if dropped else "")
        + "; warnings: "
        + " | ".join(w for w in inputs.warnings if not w.startswith("skeleton:"))
    )
    return metrics, [note]


@register_suite(
    "pose-real",
    "The pose graph on real multi-view labels spoilt the way a 2D model errs (left/right "
    "swaps in one view, 30-80 px outliers, missing views): naive DLT vs the triangulation "
    "stage (stage 4) vs the whole graph (stages 1-4, sleap-anipose session as laid out); 3D "
    "error in mm against the reference 3D, 2D labels within 2 px of the proofread ones, "
    "flags, routes and model calls per frame-view.",
)
def pose_real_suite(options: SuiteOptions) -> SuiteResult:
    """Every real multi-view data set present: its table rows, metrics, notes and figures."""
    frame_step = 3 if options.quick else 1
    graph_frames = 40 if options.quick else 120
    rows: list[dict[str, Any]] = []
    metrics: dict[str, Any] = {"frame_step": frame_step, "corruption_seed": options.seed}
    notes: list[str] = []
    root = shared_data_dir()
    for name in (SLEAP, DANNCE):
        key = "sleap" if name == SLEAP else "dannce"
        if not (root / name).is_dir():
            metrics[f"{key}_present"] = False
            notes.append(f"{name}: not found under {root}; skipped (see its MANIFEST.md).")
            continue
        start = time.perf_counter()
        try:
            data = load_dataset(name, root=root)
        except InputError as exc:
            metrics[f"{key}_present"] = False
            notes.append(f"{name}: could not be loaded ({exc}); skipped.")
            continue
        r, m, n = evaluate_dataset(data, seed=options.seed, frame_step=frame_step)
        g_rows, g_metrics, g_notes = evaluate_graph(
            data, root, seed=options.seed, frames=graph_frames
        )
        r, m, n = r + g_rows, m | g_metrics, n + g_notes
        rows += r
        metrics |= {f"{key}_present": True, **m, f"{key}_seconds": time.perf_counter() - start}
        notes += n
    notes += [
        "3D error: Euclidean, mm, in each calibration's world frame, over the points present; "
        "'before' = naive all-view DLT of the corrupted labels, 'after' = the stage's output "
        "for every frame (flagged frames keep their last proposal).",
        "sleap_anipose reference 3D = sleap-anipose's own triangulation (points3d.h5) made "
        "with the faulty calibration: not an independent truth; mean_mm_vs_clean_dlt "
        "measures against the DLT of the proofread labels in the same views instead.",
        "2D agreement counts labels present both in the proofread and in the given labels: "
        "agree_2px = the stage's reading (FramePoints.points_2d) within 2 px of the "
        "proofread label, wrong_used = used but further away (the rest was left out). "
        "swaps_restored / outliers_left_out / clean_kept: what became of the swapped, the "
        "outlier and the untouched labels. A triangulation can leave an outlier out but "
        "cannot move it back, so outliers at best count as left out.",
        "Skeleton: left/right pairs from the keypoint names; bones as in "
        "ethoagent.evals.pose_real.BONES (an anatomical chain for sleap_anipose, DANNCE's "
        "own mouse22 skeleton); reference bone lengths = medians over 3 seed frames of the "
        "clean labels.",
        "Swaps undone by the swap-hypothesis escalation are lost when a frame also needs "
        "RANSAC: the RANSAC escalation starts again from the given labels, not from the "
        "hypothesis's reading, so it leaves the swapped labels out instead (3D still right, "
        "2D reading not restored).",
        "DANNCE has no videos in the shared data: the whole graph runs there without them "
        "(2D candidates only; no model is shown a crop, the offline solvers and the 3D "
        "checks decide).",
        "Offline policy supervisor; the triangulation stage calls no model. The stage with "
        "its default limits (TriangulationLimits()) is reported too; 'stage' rows use the "
        "seed-frame limits (seed_limits: 1.5x the worst the clean seed frames show, never "
        "below the defaults).",
    ]
    rows = [{k: no_nan(v) for k, v in r.items()} for r in rows]
    metrics = {k: no_nan(v) for k, v in metrics.items()}
    figures = {
        f"before_after_{name}": _figure([r for r in rows if r["data"] == name])
        for name in (SLEAP, DANNCE)
        if any(r["data"] == name for r in rows)
    }
    for name, key in ((SLEAP, "sleap"), (DANNCE, "dannce")):
        graph_rows = [r for r in rows if r["labels"] == GRAPH_LABELS and r["data"] == name]
        if graph_rows:
            figures[f"pose_graph_{key}"] = _graph_figure(graph_rows)
    return SuiteResult(metrics=metrics, table=rows, figures=figures, notes=notes)


def _figure(rows: Sequence[dict[str, Any]]) -> bytes:
    """Bars per view set of one data set: clean labels, before and after; 3D error and 2D."""
    rows = [r for r in rows if r["labels"] != GRAPH_LABELS]
    groups = list(dict.fromkeys(r["views"] for r in rows))
    bars = (
        ("clean", "naive DLT", "clean labels, naive DLT", "0.7"),
        ("corrupted", "naive DLT", "corrupted, naive DLT (before)", "C3"),
        ("corrupted", "stage", "corrupted, stage (after)", "C0"),
    )
    fig, _ = new_figure(8, 3.2)
    fig.clear()
    ax_err, ax_agree = fig.subplots(1, 2)
    x = np.arange(len(groups))
    width = 0.8 / len(bars)
    top = 0.0
    for b, (labels, method, text, colour) in enumerate(bars):
        err, agree = [], []
        for g in groups:
            hit = [
                r
                for r in rows
                if r["views"] == g and r["labels"] == labels and r["method"] == method
            ]
            mean = hit[0]["mean_mm"] if hit else None
            share = hit[0]["agree_2px"] if hit else None
            err.append(np.nan if mean is None else mean)
            agree.append(np.nan if share is None else 100 * share)
        pos = x + (b - (len(bars) - 1) / 2) * width
        ax_err.bar_label(ax_err.bar(pos, err, width, color=colour, label=text), fmt="%.2f")
        ax_agree.bar_label(ax_agree.bar(pos, agree, width, color=colour, label=text), fmt="%.0f")
        top = max(top, float(np.nanmax(err)) if np.isfinite(err).any() else 0.0)
    ticks = [g if len(g) <= 20 else f"{g.count('+') + 1} views" for g in groups]
    for ax in (ax_err, ax_agree):
        ax.set_xticks(x, ticks)
    ax_err.set_ylabel("mean 3D error vs reference (mm)")
    ax_agree.set_ylabel("2D labels within 2 px of proofread (%)")
    ax_err.set_ylim(0, 1.45 * top if top > 0 else 1.0)  # room for the legend
    ax_agree.set_ylim(0, 125)
    ax_agree.set_yticks(range(0, 101, 20))
    ax_err.legend(frameon=False, fontsize=7, loc="upper left")
    fig.suptitle(str(rows[0]["data"]), fontsize=9)
    return png_bytes(fig)


def _graph_figure(rows: Sequence[dict[str, Any]]) -> bytes:
    """Naive DLT, the stage and the whole graph on the graph's frames: 3D error and 2D."""
    fig, _ = new_figure(7, 3.0)
    fig.clear()
    ax_err, ax_agree = fig.subplots(1, 2)
    names = [str(r["method"]) for r in rows]
    x = np.arange(len(rows))
    colours = ["C3", "C1", "C2", "C0"][: len(rows)]
    err = [np.nan if r["mean_mm"] is None else r["mean_mm"] for r in rows]
    agree = [np.nan if r["agree_2px"] is None else 100 * r["agree_2px"] for r in rows]
    ax_err.bar_label(ax_err.bar(x, err, color=colours), fmt="%.2f")
    ax_agree.bar_label(ax_agree.bar(x, agree, color=colours), fmt="%.0f")
    for ax in (ax_err, ax_agree):
        ax.set_xticks(x, names, fontsize=7)
    ax_err.set_ylabel("mean 3D error vs reference (mm)")
    ax_agree.set_ylabel("2D labels within 2 px of proofread (%)")
    ax_agree.set_ylim(0, 110)
    fig.suptitle(f"{rows[0]['data']}: spoilt labels, views {rows[0]['views']}", fontsize=9)
    return png_bytes(fig)


__all__ = [
    "GRAPH_LABELS",
    "SLP_SKELETON",
    "GraphRun",
    "dannce_sources",
    "evaluate_graph",
    "pose_real_suite",
    "run_graph",
    "sleap_sources",
]
