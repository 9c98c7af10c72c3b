"""The triangulate graph: verified 3D triangulation of a synthetic multi-view mouse session.

A small, complete instance of the architecture, runnable on the embedded default (the
quick ``ethoagent demo --only triangulate`` and the demo report's triangulation section):

1. ``simulate``: a mouse walks in an arena seen by calibrated cameras; its 2D labels carry
   pixel noise, missing marks and left/right swaps (ground truth kept).
2. ``triangulate`` (one stage, run over chunks of frames so each chunk is checkpointed):
   propose = linear DLT over all views; checks = reprojection error and bone-length
   consistency against 3 seed frames; escalations = enumerate left/right-swap and
   dropped-view hypotheses, then RANSAC over views; still failing = flag the frame.
3. ``summarise``: the ``llm`` role writes a structured summary whose flagged-frame list is
   checked against the stage's real outcome.
4. ``report``: CSV, JSON, a figure and ``report.md`` in the run's ``outputs/``.
"""

from __future__ import annotations

import csv
import io
import json
from typing import Any, TypedDict

import numpy as np
from langgraph.graph import END, START, StateGraph
from numpy.typing import NDArray
from pydantic import BaseModel, Field

from ethoagent.agent.offline import register_solver
from ethoagent.agent.types import Message, Request
from ethoagent.config import Budget
from ethoagent.figures import new_figure, png_bytes
from ethoagent.graphs.kit.nodes import (
    Feedback,
    ItemOutcome,
    Stage,
    StageContext,
    run_stage,
    summarize_outcomes,
)
from ethoagent.graphs.kit.runtime import Runtime, run_graph
from ethoagent.graphs.triangulate.graph import (
    FrameInput,
    FramePoints,
    make_triangulation_stage,
)
from ethoagent.graphs.triangulate.inputs import TriangulateInputs
from ethoagent.io.calibration import read_calibration, write_calibration
from ethoagent.model.checks import CheckResult
from ethoagent.prompts import load_prompt
from ethoagent.sim import synthetic
from ethoagent.tools.cameras import make_ring_cameras
from ethoagent.tools.triangulate import (
    median_bone_lengths,
    triangulate_dlt,
)

GRAPH_NAME = "demo"
"""Recorded in ``run.json``: batch files and ``ethoagent demo --only triangulate`` name it so."""
CHUNK_FRAMES = 50


class DemoState(TypedDict, total=False):
    frames: int
    views: int
    seed: int
    chunk: int
    n_chunks: int
    flagged: list[int]
    routes: dict[str, int]
    model_calls: int
    summary: dict[str, Any]
    outputs: list[str]


# --- the summary stage ----------------------------------------------------------------


class SessionSummary(BaseModel):
    """The ``llm`` role's summary of a triangulation run (answer of demo/summary.v1)."""

    headline: str = Field(description="one sentence for the user")
    n_frames: int = Field(description="number of frames in the session")
    flagged_frames: list[int] = Field(description="frames flagged for human review, ascending")


class SummaryInput(BaseModel):
    n_frames: int
    flagged_frames: list[int]
    routes: dict[str, int]
    mean_error_mm: float | None


SUMMARY_PROMPT = "demo/summary"


@register_solver(SUMMARY_PROMPT)
def _offline_summary(request: Request) -> SessionSummary:
    data = SummaryInput.model_validate(request.payload)
    fixed = sum(v for k, v in data.routes.items() if k.startswith("accepted_by"))
    return SessionSummary(
        headline=(
            f"{data.n_frames} frames triangulated; {fixed} repaired by escalation, "
            f"{len(data.flagged_frames)} flagged for review."
        ),
        n_frames=data.n_frames,
        flagged_frames=sorted(data.flagged_frames),
    )


def make_summary_stage() -> Stage[SummaryInput, SessionSummary]:
    async def propose(
        inp: SummaryInput, feedback: Feedback | None, ctx: StageContext
    ) -> SessionSummary:
        prompt = load_prompt(SUMMARY_PROMPT)
        text = prompt.render(
            facts=json.dumps(inp.model_dump(), sort_keys=True),
            feedback=feedback.as_text() if feedback else "",
        )
        answer = await ctx.ask(
            "llm",
            [Message("user", text)],
            prompt=prompt.ref,
            output=SessionSummary,
            payload=inp.model_dump(),
        )
        return answer.require()

    def flagged_match(inp: SummaryInput, out: SessionSummary) -> CheckResult:
        want, got = sorted(inp.flagged_frames), sorted(out.flagged_frames)
        missing, extra = sorted(set(want) - set(got)), sorted(set(got) - set(want))
        ok = not missing and not extra
        return CheckResult(
            name="flagged_frames",
            passed=ok,
            value=float(len(missing) + len(extra)),
            threshold=0.0,
            message="flagged frames match the stage outcome"
            if ok
            else f"flagged_frames must be exactly {want}; missing {missing}, extra {extra}",
        )

    def frame_count(inp: SummaryInput, out: SessionSummary) -> CheckResult:
        ok = out.n_frames == inp.n_frames
        return CheckResult(
            name="n_frames",
            passed=ok,
            value=float(out.n_frames),
            threshold=float(inp.n_frames),
            message="frame count matches" if ok else f"n_frames must be {inp.n_frames}",
        )

    return Stage(
        name="summarise",
        propose=propose,
        checks=[flagged_match, frame_count],
        budget=Budget(max_retries=2, max_attempts=3, max_model_calls=6),
        describe=lambda s: s.model_dump_json(),
    )


# --- graph ------------------------------------------------------------------------------


def build_demo_graph(rt: Runtime) -> StateGraph[DemoState]:
    """The demo's ``StateGraph``; nodes close over the runtime ``rt``."""
    run = rt.run

    def simulate(state: DemoState) -> dict[str, Any]:
        frames, views, seed = state["frames"], state["views"], state["seed"]
        with rt.tracer.scope(node="simulate"):
            cams = rt.tool("make_ring_cameras", make_ring_cameras, views, seed=seed)
            truth = rt.tool("simulate_trajectory", synthetic.simulate_trajectory, frames, seed=seed)
            obs = rt.tool("observe", synthetic.observe, cams, truth, seed=seed + 1)
        write_calibration(run.outputs_dir / "calibration.toml", cams)
        run.save_arrays(
            "scene",
            points_3d=truth,
            points_2d=obs.points_2d,
            swapped=obs.swapped,
            missing=obs.missing,
        )
        n_chunks = -(-frames // CHUNK_FRAMES)
        return {"chunk": 0, "n_chunks": n_chunks, "flagged": [], "routes": {}, "model_calls": 0}

    async def triangulate(state: DemoState) -> dict[str, Any]:
        cams = read_calibration(run.outputs_dir / "calibration.toml")
        scene = run.load_arrays("scene")
        truth, pts2d = scene["points_3d"], scene["points_2d"]
        seeds = _seed_frames(len(truth))
        ref = median_bone_lengths(truth[seeds], synthetic.SKELETON.bone_index)
        stage = make_triangulation_stage(cams, ref, synthetic.SKELETON)
        i = state["chunk"]
        lo, hi = i * CHUNK_FRAMES, min(len(truth), (i + 1) * CHUNK_FRAMES)
        items = [(f"frame {f}", FrameInput(frame=f, points_2d=pts2d[f])) for f in range(lo, hi)]
        outcomes = await run_stage(
            stage,
            items,
            client=rt.client,
            tracer=rt.tracer,
            supervisor=rt.supervisor,
            on_done=lambda _o: rt.report_progress("triangulate", 1, len(truth)),
        )
        points = np.stack(
            [o.output.points_3d if o.output is not None else _nan_points() for o in outcomes]
        )
        status = np.array([o.status == "accepted" for o in outcomes])
        run.save_arrays(f"triangulate_{i:04d}", points_3d=points, accepted=status)
        run.write_json_output(f"stages/triangulate_{i:04d}.json", _outcome_rows(outcomes, lo))
        summary = summarize_outcomes(outcomes)
        routes = dict(state.get("routes", {}))
        for k, v in summary["by_route"].items():
            routes[k] = routes.get(k, 0) + v
        flagged = list(state.get("flagged", [])) + [
            lo + j for j, o in enumerate(outcomes) if o.status == "flagged"
        ]
        return {
            "chunk": i + 1,
            "flagged": flagged,
            "routes": routes,
            "model_calls": state.get("model_calls", 0) + summary["model_calls"],
        }

    def more_chunks(state: DemoState) -> str:
        return "triangulate" if state["chunk"] < state["n_chunks"] else "summarise"

    async def summarise(state: DemoState) -> dict[str, Any]:
        points, truth = _assembled(run, state)
        err = np.linalg.norm(points - truth, axis=-1)
        mean_err = float(np.nanmean(err)) if np.isfinite(err).any() else None
        inp = SummaryInput(
            n_frames=state["frames"],
            flagged_frames=state["flagged"],
            routes=state["routes"],
            mean_error_mm=None if mean_err is None else round(mean_err, 3),
        )
        [outcome] = await run_stage(
            make_summary_stage(),
            [("session", inp)],
            client=rt.client,
            tracer=rt.tracer,
            supervisor=rt.supervisor,
        )
        summary: dict[str, Any] = {
            "status": outcome.status,
            "flag_reason": outcome.flag_reason,
            "model_calls": outcome.model_calls,
            "answer": outcome.output.model_dump() if outcome.output is not None else None,
        }
        return {"summary": summary, "model_calls": state["model_calls"] + outcome.model_calls}

    def report(state: DemoState) -> dict[str, Any]:
        return {"outputs": write_demo_outputs(rt, state)}

    g: StateGraph[DemoState] = StateGraph(DemoState)
    g.add_node("simulate", simulate)
    g.add_node("triangulate", triangulate)
    g.add_node("summarise", summarise)
    g.add_node("report", report)
    g.add_edge(START, "simulate")
    g.add_edge("simulate", "triangulate")
    g.add_conditional_edges("triangulate", more_chunks, ["triangulate", "summarise"])
    g.add_edge("summarise", "report")
    g.add_edge("report", END)
    return g


def _seed_frames(n: int) -> list[int]:
    """The 3 labelled seed frames (BehaviorVLM): first, middle and last."""
    return sorted({0, n // 2, n - 1})


def _nan_points() -> NDArray[np.float64]:
    return np.full((len(synthetic.SKELETON.keypoints), 3), np.nan)


def _outcome_rows(outcomes: list[ItemOutcome[FramePoints]], first: int) -> list[dict[str, Any]]:
    return [
        {
            "frame": first + j,
            "status": o.status,
            "attempts": o.attempts,
            "accepted_by": o.accepted_by,
            "method": o.output.method if o.output is not None else None,
            "checks": {c.name: c.value for c in o.checks},
            "flag_reason": o.flag_reason,
        }
        for j, o in enumerate(outcomes)
    ]


def _assembled(run: Any, state: DemoState) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    truth = run.load_arrays("scene")["points_3d"]
    parts = [run.load_arrays(f"triangulate_{i:04d}")["points_3d"] for i in range(state["n_chunks"])]
    return np.concatenate(parts), truth


def write_demo_outputs(rt: Runtime, state: DemoState) -> list[str]:
    """Write points CSV, per-frame CSV, summary JSON, a figure and report.md."""
    run = rt.run
    points, truth = _assembled(run, state)
    scene = run.load_arrays("scene")
    err_mm = np.linalg.norm(points - truth, axis=-1)  # (frames, keypoints)
    cams = read_calibration(run.outputs_dir / "calibration.toml")
    naive = triangulate_dlt(cams, scene["points_2d"])
    naive_err = np.linalg.norm(naive - truth, axis=-1)
    flagged = set(state["flagged"])

    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["frame", *[f"{k}_{a}_mm" for k in synthetic.SKELETON.keypoints for a in "xyz"]])
    for f, row in enumerate(points):
        w.writerow([f, *[f"{v:.3f}" for v in row.ravel()]])
    outputs = [run.write_output("points_3d.csv", buf.getvalue())]

    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["frame", "flagged", "mean_error_mm", "naive_mean_error_mm", "swaps_injected"])
    for f in range(len(points)):
        w.writerow(
            [
                f,
                int(f in flagged),
                f"{np.nanmean(err_mm[f]):.3f}",
                f"{np.nanmean(naive_err[f]):.3f}",
                int(scene["swapped"][f].sum()),
            ]
        )
    outputs.append(run.write_output("frames.csv", buf.getvalue()))

    metrics = {
        "frames": len(points),
        "views": int(scene["points_2d"].shape[1]),
        "flagged_frames": sorted(flagged),
        "routes": state["routes"],
        "mean_error_mm": round(float(np.nanmean(err_mm)), 3),
        "mean_error_mm_accepted": round(
            float(np.nanmean(err_mm[[f not in flagged for f in range(len(points))]])), 3
        ),
        "naive_dlt_mean_error_mm": round(float(np.nanmean(naive_err)), 3),
        "model_calls": state["model_calls"],
        "backend": rt.settings.backend,
        "summary": state["summary"],
        "unit": "millimetres, arena frame (z up)",
        "data": "synthetic (ethoagent.sim.synthetic), not a real recording",
    }
    outputs.append(run.write_json_output("summary.json", metrics))
    outputs.append(run.write_output("error_per_frame.png", _error_figure(err_mm, naive_err)))
    outputs.append(run.write_output("report.md", _report_md(metrics)))
    return [str(p.relative_to(run.root)) for p in outputs]


def _error_figure(err: NDArray[np.float64], naive: NDArray[np.float64]) -> bytes:
    fig, ax = new_figure(8, 3)
    ax.plot(np.nanmean(naive, axis=1), lw=0.8, color="0.6", label="naive DLT")
    ax.plot(np.nanmean(err, axis=1), lw=1.0, color="C0", label="verified (checks + escalation)")
    ax.set_xlabel("frame")
    ax.set_ylabel("mean 3D error (mm)")
    ax.set_yscale("log")
    ax.legend(loc="upper right", frameon=False)
    return png_bytes(fig)


def _report_md(m: dict[str, Any]) -> str:
    answer = (m["summary"] or {}).get("answer") or {}
    lines = [
        "# ethoagent demo report",
        "",
        f"Data: {m['data']}. Backend: `{m['backend']}`"
        + (
            " (no model was called; offline solvers answered)."
            if m["backend"] == "offline"
            else "."
        ),
        "",
        f"> {answer.get('headline', '(no accepted summary)')}",
        "",
        "| metric | value |",
        "|---|---|",
        f"| frames x views | {m['frames']} x {m['views']} |",
        f"| mean 3D error, naive DLT (mm) | {m['naive_dlt_mean_error_mm']} |",
        f"| mean 3D error, verified (mm) | {m['mean_error_mm']} |",
        f"| mean 3D error, accepted frames (mm) | {m['mean_error_mm_accepted']} |",
        f"| flagged for review | {len(m['flagged_frames'])} |",
        f"| model calls | {m['model_calls']} |",
        "",
        f"3D coordinates in {m['unit']}; 2D points in pixels.",
        "",
        "Routes: " + ", ".join(f"{k}: {v}" for k, v in sorted(m["routes"].items())),
        "",
        "![error per frame](error_per_frame.png)",
        "",
    ]
    return "\n".join(lines)


async def run_demo(rt: Runtime, inputs: TriangulateInputs) -> dict[str, Any]:
    """Run (or resume) the triangulate graph in ``rt.run``; return the final state."""
    return await run_graph(build_demo_graph(rt), rt, inputs.model_dump())


__all__ = ["GRAPH_NAME", "SessionSummary", "build_demo_graph", "run_demo"]
