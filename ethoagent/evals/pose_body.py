"""The ``pose`` eval's second body: a simulated 16-keypoint rat from a skeleton file.

So that the pose graph stays general, the suite also labels a body that is not the
simulator's 12-mark mouse (``sim.body``: a rat with 16 keypoints in 6 regions) the way a
markerless lab would run it: its videos, ``calibration.toml``, the skeleton TOML (regions,
bones and left/right pairs stated) and 3 seed frames, with a 2D model's predictions per
camera as candidates, spoilt as such a model errs (left/right swaps in one view, 30-80 px
outliers, missing views and points). Rows: naive DLT of every prediction (the one-line
rule) and the whole pose graph (stages 1-4, cheap-path gating), scored against the true
3D and the unspoilt predictions.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import numpy as np

from ethoagent.evals.pose_real import label_agreement
from ethoagent.graphs.kit.runtime import offline_runtime
from ethoagent.graphs.pose.graph import GRAPH_NAME, run_pose
from ethoagent.graphs.pose.inputs import PoseSources, resolve_pose
from ethoagent.graphs.pose.options import PoseOptions
from ethoagent.graphs.pose.report import assembled, truth_metrics
from ethoagent.sim.body import RAT16, write_body_session
from ethoagent.tools.triangulate import triangulate_dlt

BODY_PRESET = "rat16 (skeleton file, 2D predictions)"
"""The ``preset`` column of the rows ``evaluate_body`` adds."""


def evaluate_body(work: Path, *, frames: int, seed: int) -> list[dict[str, Any]]:
    """Naive DLT and the whole pose graph on one simulated rat session.

    Args:
        work: an empty folder for the session and the run.
        frames: frames simulated and labelled.
        seed: seeds the motion, the rig and the spoiling.

    Returns:
        Two rows (``naive``, ``full_gated``): 3D error (mm) against the truth, PCK@5mm,
        left/right swap rate, 3D missing, 2D agreement within 2 px of the unspoilt
        predictions, wrong predictions used, flagged fraction, model calls per frame-view.
    """
    session = write_body_session(work / "session", frames=frames, seed=seed)
    views = len(session.cameras)
    given = session.corruption.points_2d
    start = time.perf_counter()
    naive = triangulate_dlt(session.cameras, given)
    naive_s = time.perf_counter() - start
    sources = PoseSources(
        videos=session.videos,
        calibration=session.calibration,
        seeds=session.seeds,
        candidates=session.candidates,
        skeleton=session.skeleton,
    )
    start = time.perf_counter()
    inputs = resolve_pose(sources, PoseOptions(frames=frames))
    rt = offline_runtime(work / "runs", GRAPH_NAME, f"rat-{seed}", inputs.model_dump())
    state = asyncio.run(run_pose(rt, inputs))
    graph_s = time.perf_counter() - start
    points, reading = assembled(rt.run, state["n_chunks"])
    order = [inputs.skeleton.keypoints.index(k) for k in RAT16.keypoints]
    cams = inputs.cameras or [c.name for c in session.cameras]
    keep = [[c.name for c in session.cameras].index(c) for c in cams]
    full_reading = np.full_like(given, np.nan)
    full_reading[:, keep] = reading[:, :, order]
    runs = (
        ("naive", naive, given, 0, 0, naive_s),
        (
            "full_gated",
            points[:, order],
            full_reading,
            len(state["flagged"]),
            sum(state["model_calls"].values()),
            graph_s,
        ),
    )
    rows = []
    for variant, pts, read, flagged, calls, seconds in runs:
        m = truth_metrics(pts, session.points_3d, RAT16)
        agree = label_agreement(read, session.predictions, given)
        rows.append(
            {
                "preset": BODY_PRESET,
                "seed": seed,
                "variant": variant,
                "mean_error_mm": m["mean_error_mm"],
                "median_error_mm": m["median_error_mm"],
                "pck_5mm": m["pck_5mm"],
                "swap_rate": m["swap_rate"],
                "missing_3d": float(np.isnan(pts[..., 0]).mean()),
                "agree_2px": agree["agree"],
                "wrong_used": agree["wrong"],
                "flagged_fraction": flagged / frames,
                "model_calls_per_frame_view": calls / (frames * views),
                "frames_per_s": frames / seconds,
                **{f"{r}_mm": e for r, e in m["error_mm_by_region"].items()},
            }
        )
    return rows


__all__ = ["BODY_PRESET", "evaluate_body"]
