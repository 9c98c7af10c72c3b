"""Evaluation suite ``pose``: the pose graph's ablation on simulated sessions.

Variants, each on the same rendered sessions (videos, calibration, 3 seed frames):

- ``naive``: every view on its own, candidates matched to the first seed frame's labels
  (few-shot only: no temporal roll, no geometry), then plain DLT. Computed here by the same
  tools the graph uses, without a model.
- ``staged_no_3d``: the graph's stages 1-3 with the rolling temporal prediction, then DLT
  with its checks but no 3D escalation (failing frames keep their DLT points).
- ``full``: the whole graph with the model asked in every stage (the paper's way).
- ``full_gated``: the whole graph, the model asked only where the cheap path fails.

Metrics per variant: mean / median 3D error (mm) and per region, PCK@5mm, left/right swap
rate, share of keypoints without a 3D point, flagged fraction, share of frames where the
lost body was re-found (``graphs.pose.refind``), model calls per frame-view and frames per
second.

A second body (``evals.pose_body``): a simulated 16-keypoint rat run from its skeleton file
with a 2D model's spoilt predictions as candidates, naive DLT vs the whole graph, on the same
seeds. With the offline
backend the "model" is the registered offline solvers (the report says so).
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ethoagent.evals.harness import SuiteOptions, SuiteResult, register_suite
from ethoagent.evals.pose_body import BODY_PRESET, evaluate_body
from ethoagent.figures import new_figure, png_bytes
from ethoagent.graphs.kit.runtime import offline_runtime
from ethoagent.graphs.pose.graph import GRAPH_NAME, resolve_inputs, run_pose
from ethoagent.graphs.pose.inputs import PoseInputs
from ethoagent.graphs.pose.options import PoseOptions
from ethoagent.graphs.pose.report import assembled, truth_metrics
from ethoagent.io.seeds import read_seeds
from ethoagent.io.video import VideoReader
from ethoagent.sim.simulate import simulate_session
from ethoagent.tools.detect import detect_marks, match_candidates
from ethoagent.tools.triangulate import triangulate_dlt

VARIANTS: dict[str, PoseOptions | None] = {
    "naive": None,
    "staged_no_3d": PoseOptions(refine_3d=False),
    "full": PoseOptions(model_every_stage=True),
    "full_gated": PoseOptions(),
}
BODY_NOTE = (
    f"{BODY_PRESET}: ethoagent.sim.body, 16 keypoints in 6 regions, 6 cameras, "
    "skeleton.toml stating bones, left/right pairs and regions; candidates = a 2D "
    "model's predictions (1 px jitter) spoilt by sim.spoil.corrupt_labels (one-view "
    "left/right swap on 10 % of frames, 30-80 px outliers on 5 % of points, a view "
    "unpredicted on 5 % of frames, 5 % of points missing). naive = DLT of every "
    "prediction; agree_2px = predictions the 3D rests on within 2 px of the "
    "unspoilt ones (naive uses all, so its misses are the spoilt ones it used)."
)
"""The suite's note on the second body's rows."""
NAIVE_GATE_FRACTION = 0.25
"""The naive matcher's gate: this fraction of the image diagonal."""


def naive_points(inputs: PoseInputs) -> NDArray[np.float64]:
    """3D points ``(frames, keypoints, 3)`` mm from per-view matching to the first seed."""
    cams = inputs.read_cameras()
    keypoints = inputs.skeleton.keypoints
    seeds = read_seeds(
        inputs.seeds, [c.name for c in cams], keypoints, frames=inputs.seed_frames
    ).points_2d
    reading = np.full((inputs.frames, len(cams), len(keypoints), 2), np.nan)
    for v, path in enumerate(inputs.videos):
        gate = NAIVE_GATE_FRACTION * float(np.hypot(*cams[v].size))
        with VideoReader(path) as video:
            for f in range(inputs.frames):
                cand = detect_marks(video[f], max_candidates=inputs.options.max_candidates)
                idx, _ = match_candidates(cand, seeds[0, v], gate)
                reading[f, v, idx >= 0] = cand.xy[idx[idx >= 0]]
    return triangulate_dlt(cams, reading)


def run_variant(
    inputs: PoseInputs, options: PoseOptions, work: Path, name: str
) -> tuple[NDArray[np.float64], dict[str, Any]]:
    """Run the pose graph offline; return its 3D points and its summary numbers."""
    data = inputs.model_copy(update={"options": options})
    rt = offline_runtime(work, GRAPH_NAME, name, data.model_dump())
    run = rt.run
    state = asyncio.run(run_pose(rt, data))
    points, _ = assembled(run, state["n_chunks"])
    calls = sum(state["model_calls"].values())
    return points, {
        "flagged": len(state["flagged"]),
        "model_calls": calls,
        "refound": state["routes"].get("re-found body", 0),
    }


@register_suite(
    "pose",
    "Pose graph ablation on simulated 6-camera sessions: naive few-shot per view -> staged "
    "without 3D refinement -> full (model in every stage) -> full with cheap-path gating; "
    "3D error in mm, PCK@5mm, swap rate, flags, model calls per frame-view; plus a "
    "16-keypoint rat from a skeleton file with spoilt 2D predictions: naive DLT vs the graph.",
)
def pose_suite(options: SuiteOptions) -> SuiteResult:
    """The pose eval: 3D error (mm), PCK and model calls per frame of each ablation."""
    frames = 40 if options.quick else 500
    presets = ["paper-like"] if options.quick else ["paper-like", "hard"]
    seeds = [options.seed] if options.quick else [options.seed + i for i in range(3)]
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="ethoagent-pose-eval-") as tmp:
        for preset in presets:
            for seed in seeds:
                rows += _session_rows(Path(tmp), preset, seed, frames)
        body_rows = [
            r
            for seed in seeds
            for r in evaluate_body(Path(tmp) / f"rat-{seed}", frames=frames, seed=seed)
        ]
    body_table = _mean_by(body_rows, ("preset", "variant"))
    table = _mean_by(rows, ("preset", "variant"))
    by_variant = {r["variant"]: r for r in _mean_by(rows, ("variant",))}
    naive, full, gated = (by_variant[k] for k in ("naive", "full", "full_gated"))
    metrics: dict[str, Any] = {
        "frames_per_session": frames,
        "sessions": len(presets) * len(seeds),
        **{f"mean_error_mm_{v}": by_variant[v]["mean_error_mm"] for v in VARIANTS},
        **{
            f"model_calls_per_frame_view_{v}": by_variant[v]["model_calls_per_frame_view"]
            for v in VARIANTS
        },
        "full_vs_naive_error_reduction": 1 - full["mean_error_mm"] / naive["mean_error_mm"],
        "gated_vs_full_error_ratio": gated["mean_error_mm"] / full["mean_error_mm"],
        "gated_vs_full_model_call_ratio": (
            gated["model_calls_per_frame_view"] / full["model_calls_per_frame_view"]
            if full["model_calls_per_frame_view"]
            else None
        ),
        **_body_metrics(body_table),
    }
    return SuiteResult(
        metrics=metrics,
        table=_union_columns(table + body_table),
        figures={
            "error_by_variant": _figure(table),
            "rat16_naive_vs_graph": _body_figure(body_table),
        },
        notes=[
            "Synthetic sessions (ethoagent.sim.simulate), one mouse, 6 cameras; seeds are "
            "the first, middle and last frames' visible marks.",
            "Backend offline: the 'model' answers come from the registered offline solvers "
            "(geometry on the temporal prediction), not from a VLM.",
            "naive is computed by the graph's tools without a model; with a VLM it would "
            "cost one call per frame-view.",
            BODY_NOTE,
        ],
    )


def _session_rows(tmp: Path, preset: str, seed: int, frames: int) -> list[dict[str, Any]]:
    """One simulated mouse session of ``preset``: a row per variant (``VARIANTS``)."""
    rows: list[dict[str, Any]] = []
    session = tmp / f"{preset}-{seed}"
    # one animal: the pose graph labels one mouse (the hard preset's others
    # would only add distractor marks)
    simulate_session(session, preset=preset, frames=frames, animals=1, seed=seed)
    inputs = resolve_inputs(
        session / "videos",
        session / "calibration.toml",
        session / "ground_truth" / "seeds.csv",
    )
    with np.load(session / "ground_truth" / "arrays.npz") as gt:
        truth = np.asarray(gt["points_3d"][:, 0], dtype=np.float64)
    views = len(inputs.videos)
    for variant, opts in VARIANTS.items():
        start = time.perf_counter()
        if opts is None:
            points, extra = naive_points(inputs), {"flagged": 0, "model_calls": 0, "refound": 0}
        else:
            work = tmp / "runs" / f"{preset}-{seed}"
            points, extra = run_variant(inputs, opts, work, variant)
        elapsed = time.perf_counter() - start
        m = truth_metrics(points, truth, inputs.skeleton)
        rows.append(
            {
                "preset": preset,
                "seed": seed,
                "variant": variant,
                "mean_error_mm": m["mean_error_mm"],
                "median_error_mm": m["median_error_mm"],
                "pck_5mm": m["pck_5mm"],
                "swap_rate": m["swap_rate"],
                "missing_fraction": m["missing_fraction"],
                "flagged_fraction": extra["flagged"] / frames,
                "refound_fraction": extra["refound"] / frames,
                "model_calls_per_frame_view": extra["model_calls"] / (frames * views),
                "frames_per_s": frames / elapsed,
                **{f"{r}_mm": e for r, e in m["error_mm_by_region"].items()},
            }
        )
    return rows


def _mean_by(rows: list[dict[str, Any]], keys: tuple[str, ...]) -> list[dict[str, Any]]:
    groups: dict[tuple[Any, ...], list[dict[str, Any]]] = {}
    for r in rows:
        groups.setdefault(tuple(r[k] for k in keys), []).append(r)
    out = []
    for key, sub in groups.items():
        row: dict[str, Any] = dict(zip(keys, key, strict=True))
        for col in sub[0]:
            if col in keys or col in ("preset", "seed", "variant"):
                continue
            vals = [s[col] for s in sub if isinstance(s[col], (int, float))]
            row[col] = round(float(np.mean(vals)), 4) if vals else None
        out.append(row)
    return out


def _union_columns(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every row with every column of any row (``None`` where it has none), in first-seen order.

    The mouse and the rat rows have different region and 2D columns; the report's table
    takes its header from the rows, so each row carries them all.
    """
    cols = list(dict.fromkeys(k for r in rows for k in r))
    return [{k: r.get(k) for k in cols} for r in rows]


def _body_metrics(body_table: list[dict[str, Any]]) -> dict[str, Any]:
    """``rat16_<metric>_<variant>``: the second body's means over the seeds."""
    return {
        f"rat16_{k}_{r['variant']}": r[k]
        for r in body_table
        for k in ("mean_error_mm", "pck_5mm", "agree_2px", "model_calls_per_frame_view")
    }


def _body_figure(body_table: list[dict[str, Any]]) -> bytes:
    """The rat's naive DLT vs the graph: mean 3D error and 2D agreement."""
    body = {r["variant"]: r for r in body_table}
    fig, _ = new_figure(6, 2.8)
    fig.clear()
    ax_err, ax_agree = fig.subplots(1, 2)
    names = list(body)
    x = np.arange(len(names))
    err = [body[v]["mean_error_mm"] or np.nan for v in names]
    agree = [100 * (body[v]["agree_2px"] or np.nan) for v in names]
    ax_err.bar_label(ax_err.bar(x, err, color=["C3", "C0"][: len(x)]), fmt="%.2f")
    ax_agree.bar_label(ax_agree.bar(x, agree, color=["C3", "C0"][: len(x)]), fmt="%.0f")
    for ax in (ax_err, ax_agree):
        ax.set_xticks(x, names)
    ax_err.set_ylabel("mean 3D error (mm)")
    ax_agree.set_ylabel("predictions within 2 px (%)")
    ax_agree.set_ylim(0, 110)
    fig.suptitle(BODY_PRESET, fontsize=9)
    return png_bytes(fig)


def _figure(table: list[dict[str, Any]]) -> bytes:
    presets = sorted({r["preset"] for r in table})
    variants = list(VARIANTS)
    fig, ax = new_figure(6, 3.2)
    width = 0.8 / len(presets)
    for i, preset in enumerate(presets):
        vals = [
            next(
                (r["mean_error_mm"] for r in table if r["preset"] == preset and r["variant"] == v),
                0,
            )
            for v in variants
        ]
        ax.bar(np.arange(len(variants)) + i * width, vals, width, label=preset)
    ax.set_xticks(np.arange(len(variants)) + width * (len(presets) - 1) / 2, variants)
    ax.set_ylabel("mean 3D error (mm)")
    ax.set_yscale("log")
    ax.legend(frameon=False)
    return png_bytes(fig)


__all__ = ["VARIANTS", "naive_points", "pose_suite", "run_variant"]
