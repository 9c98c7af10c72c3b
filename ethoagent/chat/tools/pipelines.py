"""Chat tools that run pipeline graphs (segment, pose, gate) into the workspace."""

from __future__ import annotations

import asyncio
import csv
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import Field

from ethoagent.chat.tools.core import (
    MAX_ROWS,
    ChatTool,
    ToolCancelledError,
    ToolContext,
    ToolResult,
    _Args,
    _keypoint_file,
    _new_folder,
    _rel,
    register_tool,
)
from ethoagent.errors import InputError

# ------------------------------------------------------------------------------ pipelines


def _run_graph_tool(
    ctx: ToolContext,
    graph: str,
    inputs: dict[str, Any],
    body: Callable[[Any], Any],
    roles: tuple[Any, ...],
) -> tuple[Any, dict[str, Any]]:
    """Create a run in the workspace's runs folder and run ``body(runtime)`` in it."""
    from ethoagent.graphs.runtime import open_runtime
    from ethoagent.runs import Run

    run = Run.create(ctx.settings.runs_dir, graph, ctx.settings, inputs=inputs)
    run.update(status="running")

    async def go() -> dict[str, Any]:
        async with open_runtime(run, ctx.settings, ctx.progress, roles=roles) as rt:
            result: dict[str, Any] = await body(rt)
            return result

    try:
        state = asyncio.run(go())
    except BaseException as exc:
        cancelled = isinstance(exc, ToolCancelledError | KeyboardInterrupt)
        run.update(status="interrupted" if cancelled else "failed", error=str(exc)[:500])
        raise
    return run, state


def _copy_outputs(run: Any, state: dict[str, Any], out: Path) -> list[str]:
    from ethoagent.atomic import atomic_write_bytes

    written = []
    for rel in state.get("outputs", []):
        src = run.root / rel
        dest = out / src.relative_to(run.outputs_dir)
        atomic_write_bytes(dest, src.read_bytes())
        written.append(dest)
    return [str(p) for p in written]


class RunSegmentArgs(_Args):
    keypoints: str = Field(description="Keypoint file or simulated session folder.")
    fps: float | None = Field(None, gt=0, description="Frame rate, Hz, if the file has none.")
    k: int = Field(10, ge=2, le=50, description="DEC clusters.")
    min_epoch_s: float = Field(0.5, ge=0, description="Shortest epoch, seconds.")
    dec_epochs: int = Field(10, ge=0, le=200, description="DEC pretraining epochs.")
    dec_iters: int = Field(2000, ge=0, le=20000, description="Most DEC iterations.")
    out: str | None = Field(None, description="Name of the new folder under results/.")


def _run_segment(ctx: ToolContext, a: RunSegmentArgs) -> ToolResult:
    from ethoagent.graphs.segment import (
        GRAPH_NAME,
        SegmentOptions,
        resolve_segment_inputs,
        run_segment,
    )

    path = ctx.workspace.resolve(a.keypoints, must_exist=True, what="keypoint file")
    options = SegmentOptions(
        k=a.k, min_epoch_s=a.min_epoch_s, dec_pretrain_epochs=a.dec_epochs,
        dec_cluster_iters=a.dec_iters,
    )  # fmt: skip
    inputs = resolve_segment_inputs(path, fps=a.fps, options=options)
    ctx.check_cancel()
    out = _new_folder(ctx, "segment", a.out)
    run, state = _run_graph_tool(
        ctx,
        GRAPH_NAME,
        {**inputs.model_dump(), "out": str(out)},
        lambda rt: run_segment(rt, inputs),
        ("vlm", "llm"),
    )
    files = [_rel(ctx, Path(p)) for p in _copy_outputs(run, state, out)]
    summary = json.loads((run.outputs_dir / "summary.json").read_text())
    run.update(
        status="finished",
        summary={k: summary[k] for k in ("frames", "epochs", "model_calls_per_snippet")},
    )
    budget = _time_budget(out / "ethogram.csv")
    data = {
        "run": run.run_id,
        "outputs": _rel(ctx, out),
        "ethogram": _rel(ctx, out / "ethogram.csv"),
        "frames": summary["frames"],
        "fps": summary["fps"],
        "animals": summary["animals"],
        "epochs": summary["epochs"],
        "labels": summary["vocabulary"],
        "model_calls_per_snippet": summary["model_calls_per_snippet"],
        "backend": summary["backend"],
        "seconds_per_label": budget,
    }
    rows = [[an, lab, s] for an, per in budget.items() for lab, s in per.items()]
    return ToolResult(
        f"segment run {run.run_id}: {summary['epochs']} epochs, labels "
        f"{', '.join(summary['vocabulary'])}; ethogram {data['ethogram']}",
        data,
        ["animal", "label", "seconds"],
        rows[:MAX_ROWS],
        files,
    )


def _time_budget(ethogram: Path) -> dict[str, dict[str, float]]:
    from ethoagent.tools.ethogram import read_ethogram_csv

    out: dict[str, dict[str, float]] = {}
    with ethogram.open(encoding="utf-8-sig") as fh:
        for row in csv.DictReader(fh):
            per = out.setdefault(row["animal"], {})
            dur = float(row["stop_s"]) - float(row["start_s"])
            per[row["label"]] = round(per.get(row["label"], 0.0) + dur, 3)
    read_ethogram_csv(ethogram)  # validates the file's layout
    return out


register_tool(
    ChatTool(
        "run_segment",
        "Run the segment pipeline (unsupervised ethogram: features -> DEC clusters -> "
        "snippet captions -> merged epochs) on keypoints; writes ethogram.csv, figures and "
        "report.md into a new folder under results/.",
        RunSegmentArgs,
        _run_segment,
        command="run segment",
        positional=("keypoints",),
        long=True,
    )
)


class RunPoseArgs(_Args):
    session: str | None = Field(
        None, description="Folder written by `ethoagent simulate` (sets the three below)."
    )
    videos: str | None = Field(None, description="Folder with one video per camera.")
    calibration: str | None = Field(None, description="anipose calibration.toml.")
    seeds: str | None = Field(None, description="Seed labels CSV frame,view,keypoint,x,y.")
    frames: int | None = Field(None, ge=2, description="Label the first N frames.")
    out: str | None = Field(None, description="Name of the new folder under results/.")


def _run_pose(ctx: ToolContext, a: RunPoseArgs) -> ToolResult:
    from ethoagent.graphs.pose import GRAPH_NAME, PoseOptions, resolve_inputs, run_pose

    ws = ctx.workspace
    videos, calibration, seeds = a.videos, a.calibration, a.seeds
    if a.session is not None:
        s = ws.resolve(a.session, must_exist=True, what="session folder")
        videos = videos or str(s / "videos")
        calibration = calibration or str(s / "calibration.toml")
        seeds = seeds or str(s / "ground_truth" / "seeds.csv")
    if videos is None or calibration is None or seeds is None:
        raise InputError(
            "run_pose needs session, or videos, calibration and seeds.",
            fix="pass session= a folder written by `ethoagent simulate`.",
        )
    inputs = resolve_inputs(
        ws.resolve(videos, must_exist=True, what="videos folder"),
        ws.resolve(calibration, must_exist=True, what="calibration"),
        ws.resolve(seeds, must_exist=True, what="seed labels"),
        frames=a.frames,
        options=PoseOptions(),
    )
    out = _new_folder(ctx, "pose", a.out)
    run, state = _run_graph_tool(
        ctx, GRAPH_NAME, inputs.model_dump(), lambda rt: run_pose(rt, inputs), ("vlm", "llm")
    )
    files = [_rel(ctx, Path(p)) for p in _copy_outputs(run, state, out)]
    s = json.loads((run.outputs_dir / "summary.json").read_text())
    run.update(status="finished", summary={"frames": s["frames"]})
    data = {
        "run": run.run_id,
        "outputs": _rel(ctx, out),
        "frames": s["frames"],
        "views": s["views"],
        "flagged_frames": len(s["flagged_frames"]),
        "reprojection_px_median": s["reprojection_px_median"],
        "reprojection_px_p95": s["reprojection_px_p95"],
        "model_calls_per_frame_view": s["model_calls_per_frame_view"],
        "backend": s["backend"],
        "ground_truth": s.get("ground_truth"),
    }
    rows = [[k, json.dumps(v) if isinstance(v, dict) else v] for k, v in data.items()]
    return ToolResult(
        f"pose run {run.run_id}: {s['frames']} frames x {s['views']} views, "
        f"{len(s['flagged_frames'])} flagged; points_3d.csv in {_rel(ctx, out)}",
        data,
        ["field", "value"],
        rows,
        files,
    )


register_tool(
    ChatTool(
        "run_pose",
        "Run the pose pipeline (verified multi-view 3D labels of 12 marks from 3 seed frames) "
        "on a simulated session or videos + calibration + seeds; writes points_3d.csv and a "
        "report into a new folder under results/.",
        RunPoseArgs,
        _run_pose,
        command="run pose",
        positional=("session",),
        long=True,
    )
)


class RunGateArgs(_Args):
    keypoints: str = Field(description="Keypoint file.")
    model: str = Field(description="Model folder written by `ethoagent gate train`.")
    fps: float | None = Field(None, gt=0, description="Frame rate, Hz, if the file has none.")
    out: str | None = Field(None, description="Name of the new folder under results/.")


def _run_gate(ctx: ToolContext, a: RunGateArgs) -> ToolResult:
    from ethoagent.cli_gate import gate_predict

    keypoints, _ = _keypoint_file(ctx, a.keypoints)
    model = ctx.workspace.resolve(a.model, must_exist=True, what="gate model folder")
    out = _new_folder(ctx, "gate", a.out)
    ctx.progress("gate predict", 0, 1)
    gate_predict(keypoints, out, model_dir=model, fps=a.fps, overwrite=True)
    ctx.progress("gate predict", 1, 1)
    budget = _time_budget(out / "ethogram.csv")
    rows = [[an, lab, s] for an, per in budget.items() for lab, s in per.items()]
    files = [_rel(ctx, out / n) for n in ("labels.csv", "ethogram.csv", "ethogram.png")]
    return ToolResult(
        f"gate labels in {_rel(ctx, out)}",
        {
            "outputs": _rel(ctx, out),
            "ethogram": _rel(ctx, out / "ethogram.csv"),
            "seconds_per_label": budget,
        },
        ["animal", "label", "seconds"],
        rows[:MAX_ROWS],
        files,
    )


register_tool(
    ChatTool(
        "run_gate",
        "Label every frame with a trained LookAgain gate model (keypoint path); writes "
        "labels.csv, ethogram.csv and ethogram.png into a new folder under results/.",
        RunGateArgs,
        _run_gate,
        command="run gate",
        positional=("keypoints",),
        long=True,
    )
)
