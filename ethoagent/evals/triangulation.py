"""Eval suite ``triangulation``: naive DLT vs the verified triangulate stage on synthetic data.

For each left/right swap rate, a synthetic session is observed by ring cameras with pixel
noise, missing marks and swaps; the suite compares the mean 3D error (mm) of naive
all-view DLT with the demo graph's verified stage (checks, swap-hypothesis and RANSAC
escalations, flags), and reports how many frames each route handled. Synthetic data only:
the real-data pose suite comes with the pose pipeline.
"""

from __future__ import annotations

import asyncio
from typing import Any

import numpy as np

from ethoagent.agent.offline import OfflineClient
from ethoagent.agent.trace import Tracer
from ethoagent.evals.harness import SuiteOptions, SuiteResult, register_suite
from ethoagent.figures import new_figure, png_bytes
from ethoagent.graphs.kit.nodes import PolicySupervisor, run_stage, summarize_outcomes
from ethoagent.graphs.triangulate.graph import FrameInput, make_triangulation_stage
from ethoagent.sim import synthetic
from ethoagent.tools.cameras import make_ring_cameras
from ethoagent.tools.triangulate import median_bone_lengths, triangulate_dlt


def evaluate_condition(*, frames: int, views: int, swap_rate: float, seed: int) -> dict[str, Any]:
    """One synthetic session through naive DLT and the verified stage; errors in mm."""
    cams = make_ring_cameras(views, seed=seed)
    truth = synthetic.simulate_trajectory(frames, seed=seed)
    obs = synthetic.observe(cams, truth, swap_rate=swap_rate, seed=seed + 1)
    naive = triangulate_dlt(cams, obs.points_2d)
    ref = median_bone_lengths(truth[[0, frames // 2, frames - 1]], synthetic.BONES)
    stage = make_triangulation_stage(cams, ref, synthetic.SKELETON)
    items = [(str(f), FrameInput(frame=f, points_2d=obs.points_2d[f])) for f in range(frames)]
    outcomes = asyncio.run(
        run_stage(
            stage,
            items,
            client=OfflineClient(),
            tracer=Tracer(None, run_id="eval"),
            supervisor=PolicySupervisor(),
        )
    )
    verified = np.stack([o.output.points_3d for o in outcomes if o.output is not None])
    accepted = np.array([o.status == "accepted" for o in outcomes])
    err_naive = np.linalg.norm(naive - truth, axis=-1)
    err_ver = np.linalg.norm(verified - truth, axis=-1)
    swapped_frames = obs.swapped.any(axis=(1, 2))
    summary = summarize_outcomes(outcomes)
    return {
        "swap_rate": swap_rate,
        "seed": seed,
        "frames_with_swaps": int(swapped_frames.sum()),
        "naive_mm": float(np.nanmean(err_naive)),
        "verified_mm": float(np.nanmean(err_ver)),
        "verified_accepted_mm": float(np.nanmean(err_ver[accepted])) if accepted.any() else None,
        "flagged": int((~accepted).sum()),
        "escalated": int(sum(o.attempts > 1 for o in outcomes)),
        "model_calls_per_frame": summary["model_calls"] / frames,
    }


@register_suite(
    "triangulation",
    "Naive all-view DLT vs the verified triangulate stage (checks + escalations) on "
    "synthetic multi-view sessions with injected left/right swaps; 3D error in mm.",
)
def triangulation_suite(options: SuiteOptions) -> SuiteResult:
    frames = 60 if options.quick else 300
    seeds = [options.seed] if options.quick else [options.seed + i for i in range(3)]
    rates = [0.0, 0.02, 0.05, 0.1]
    rows = [
        evaluate_condition(frames=frames, views=6, swap_rate=r, seed=s)
        for r in rates
        for s in seeds
    ]
    table = []
    for r in rates:
        sub = [x for x in rows if x["swap_rate"] == r]
        table.append(
            {
                "swap_rate": r,
                "naive_mm": float(np.mean([x["naive_mm"] for x in sub])),
                "verified_mm": float(np.mean([x["verified_mm"] for x in sub])),
                "flagged_frac": float(np.mean([x["flagged"] for x in sub])) / frames,
                "escalated_frac": float(np.mean([x["escalated"] for x in sub])) / frames,
            }
        )
    naive = float(np.mean([x["naive_mm"] for x in rows]))
    ver = float(np.mean([x["verified_mm"] for x in rows]))
    metrics = {
        "frames_per_session": frames,
        "sessions": len(rows),
        "naive_mean_error_mm": naive,
        "verified_mean_error_mm": ver,
        "error_reduction": 1.0 - ver / naive if naive > 0 else 0.0,
        "model_calls_per_frame": float(np.mean([x["model_calls_per_frame"] for x in rows])),
    }
    return SuiteResult(
        metrics=metrics,
        table=table,
        figures={"error_vs_swap_rate": _figure(table)},
        notes=[
            "Synthetic data (ethoagent.sim.synthetic); offline policy supervisor.",
            "The triangulate stage calls no model: its proposer and escalations are tools.",
        ],
    )


def _figure(table: list[dict[str, Any]]) -> bytes:
    rates = [r["swap_rate"] for r in table]
    fig, ax = new_figure(5, 3.2)
    ax.plot(rates, [r["naive_mm"] for r in table], "o-", color="0.5", label="naive DLT")
    ax.plot(rates, [r["verified_mm"] for r in table], "o-", color="C0", label="verified stage")
    ax.set_xlabel("left/right swap rate per view and pair")
    ax.set_ylabel("mean 3D error (mm)")
    ax.legend(frameon=False)
    return png_bytes(fig)
