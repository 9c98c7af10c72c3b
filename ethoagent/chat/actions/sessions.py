"""Chat tools that open a session: keypoints, their quality, the calibration."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
from pydantic import Field

from ethoagent.chat.actions.core import (
    MAX_ROWS,
    ChatTool,
    ToolContext,
    ToolResult,
    _Args,
    _match_name,
    _num,
    _read_pose,
    _rel,
    register_tool,
)

# ------------------------------------------------------------------------------ sessions


class LoadSessionArgs(_Args):
    path: str = Field(
        description="Keypoint file (DeepLabCut, SLEAP, LightningPose, anipose, NWB, netCDF) "
        "or a folder written by `ethoagent simulate`."
    )
    fps: float | None = Field(None, gt=0, description="Frame rate, Hz, if the file has none.")


def _load_session(ctx: ToolContext, a: LoadSessionArgs) -> ToolResult:
    pose, file, session = _read_pose(ctx, a.path, a.fps)
    pts = pose.points
    missing = float(np.isnan(pts).any(axis=-1).mean())
    data: dict[str, Any] = {
        "keypoint_file": _rel(ctx, file),
        "frames": pose.frames,
        "fps": pose.fps,
        "duration_s": _num(pose.frames / pose.fps) if pose.fps else None,
        "animals": list(pose.individuals),
        "keypoints": list(pose.keypoints),
        "dims": int(pts.shape[-1]),
        "unit": pose.unit,
        "missing_fraction": _num(missing, 4),
    }
    if session is not None:
        gt = session / "ground_truth"
        data["session"] = {
            "folder": _rel(ctx, session),
            "videos": sorted(p.name for p in (session / "videos").glob("*.mp4")),
            "calibration": _rel(ctx, session / "calibration.toml")
            if (session / "calibration.toml").is_file()
            else None,
            "labels": _rel(ctx, gt / "labels.csv") if (gt / "labels.csv").is_file() else None,
        }
    rows = [[k, json.dumps(v) if isinstance(v, list | dict) else v] for k, v in data.items()]
    return ToolResult(
        f"{pose.frames} frames x {len(pose.individuals)} animal(s) x {len(pose.keypoints)} "
        f"keypoints ({data['dims']}D, {pose.unit})",
        data,
        ["field", "value"],
        rows,
    )


register_tool(
    ChatTool(
        "load_session",
        "Open a keypoint file or simulated session folder and summarise it (frames, fps, "
        "animals, keypoints, units, missing data, videos, calibration, labels).",
        LoadSessionArgs,
        _load_session,
        command="load",
        positional=("path",),
    )
)


class InspectKeypointsArgs(_Args):
    path: str = Field(description="Keypoint file or simulated session folder.")
    animal: str | None = Field(None, description="Only this animal.")
    fps: float | None = Field(None, gt=0)


def _inspect_keypoints(ctx: ToolContext, a: InspectKeypointsArgs) -> ToolResult:
    pose, file, _ = _read_pose(ctx, a.path, a.fps)
    animals = list(pose.individuals)
    idx = list(range(len(animals)))
    if a.animal is not None:
        idx = [_match_name(a.animal, animals, "animal")]
    rows: list[list[Any]] = []
    for i in idx:
        for k, name in enumerate(pose.keypoints):
            xyz = pose.points[:, i, k]
            ok = ~np.isnan(xyz).any(axis=-1)
            conf = pose.confidence[:, i, k]
            step = np.linalg.norm(np.diff(xyz, axis=0), axis=-1)
            rows.append(
                [
                    animals[i],
                    name,
                    _num(100 * (1 - ok.mean()), 1),
                    _num(float(np.nanmean(conf))) if np.isfinite(conf).any() else None,
                    _num(float(np.nanmedian(step))) if np.isfinite(step).any() else None,
                ]
            )
    cols = ["animal", "keypoint", "missing_%", "mean_confidence", f"median_step_{pose.unit}"]
    return ToolResult(
        f"{len(rows)} keypoint tracks in {_rel(ctx, file)}",
        {"columns": cols, "rows": rows[: MAX_ROWS * 3]},
        cols,
        rows[:MAX_ROWS],
    )


register_tool(
    ChatTool(
        "inspect_keypoints",
        "Per keypoint and animal: missing frames (%), mean confidence, median frame-to-frame "
        "step (pixels or the 3D unit).",
        InspectKeypointsArgs,
        _inspect_keypoints,
        command="inspect",
        positional=("path",),
    )
)


class InspectCalibrationArgs(_Args):
    path: str = Field(description="anipose calibration.toml, or a simulated session folder.")


def _inspect_calibration(ctx: ToolContext, a: InspectCalibrationArgs) -> ToolResult:
    from ethoagent.io.calibration import read_calibration

    p = ctx.workspace.resolve(a.path, must_exist=True, what="calibration")
    if p.is_dir():
        p = ctx.workspace.resolve(p / "calibration.toml", must_exist=True, what="calibration")
    cameras = read_calibration(p)
    rows: list[list[Any]] = []
    import cv2

    for cam in cameras:
        rot, _ = cv2.Rodrigues(cam.rvec)
        centre = -rot.T @ cam.tvec
        rows.append(
            [
                cam.name,
                f"{cam.size[0]}x{cam.size[1]}",
                _num(cam.matrix[0, 0], 1),
                _num(cam.matrix[1, 1], 1),
                [_num(float(c), 1) for c in centre],
                _num(float(np.abs(cam.dist).max()), 4),
            ]
        )
    cols = ["camera", "image_px", "fx_px", "fy_px", "centre_world", "max_abs_distortion"]
    return ToolResult(
        f"{len(cameras)} cameras in {_rel(ctx, p)}",
        {"columns": cols, "rows": rows},
        cols,
        rows,
    )


register_tool(
    ChatTool(
        "inspect_calibration",
        "Summarise an anipose calibration.toml: cameras, image sizes, focal lengths, camera "
        "centres in world units (mm unless stated), distortion.",
        InspectCalibrationArgs,
        _inspect_calibration,
        command="calibration",
        positional=("path",),
    )
)
