"""The outputs of ``ethoagent triangulate``: anipose CSV, netCDF, flags, figure, report."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ethoagent.atomic import atomic_write_bytes, atomic_write_text
from ethoagent.figures import new_figure, png_bytes
from ethoagent.graphs.triangulate.inputs import TriangulateFilesInputs
from ethoagent.io.anipose import write_anipose_3d
from ethoagent.io.keypoints import write_keypoints
from ethoagent.model.pose import PoseData

FILES_OUTPUTS = (
    "points_3d.csv",
    "points_3d.nc",
    "flags.csv",
    "summary.json",
    "reprojection_error.png",
    "report.md",
    "calibration.refined.toml",
)
"""The files of a ``triangulate`` run (the last only with ``--refine-calibration``)."""

_UNIT_NAMES = {"mm": "millimetres", "m": "metres"}


def point_flags(
    inputs: TriangulateFilesInputs, arrays: dict[str, NDArray[Any]]
) -> list[tuple[int, str, str, float]]:
    """Every 3D point that needs a look, and why.

    Reasons: ``fewer than 2 views`` (not triangulated: seen by under two cameras),
    ``views disagree`` (not triangulated: no two views within the threshold),
    ``reprojection`` (mean inlier error over ``threshold_px``) and ``bone <a>-<b>`` (the
    bone's length off its median by more than ``bone_tolerance``, both ends flagged).

    Args:
        inputs: the run's inputs (keypoints, bones, thresholds).
        arrays: ``points_3d`` ``(frames, keypoints, 3)``, ``error`` ``(frames, keypoints)``
            px and ``points_2d`` ``(frames, views, keypoints, 2)`` px.

    Returns:
        ``(frame, keypoint, reason, value)`` rows, by frame then keypoint; ``value`` is the
        count of views, the error in px or the relative bone deviation.
    """
    kps, opts = inputs.keypoints, inputs.options
    p3, err = arrays["points_3d"], arrays["error"]
    seen = np.isfinite(arrays["points_2d"][..., 0]).sum(axis=1)  # (F, K)
    missing = ~np.isfinite(p3).all(axis=-1)
    rows: list[tuple[int, str, str, float]] = []
    for f, k in zip(*np.nonzero(missing & (seen < 2)), strict=True):
        rows.append((int(f), kps[k], "fewer than 2 views", float(seen[f, k])))
    for f, k in zip(*np.nonzero(missing & (seen >= 2)), strict=True):
        rows.append((int(f), kps[k], "views disagree", float(seen[f, k])))
    over = np.nan_to_num(err, nan=0.0) > opts.threshold_px
    for f, k in zip(*np.nonzero(over), strict=True):
        rows.append((int(f), kps[k], "reprojection", float(err[f, k])))
    for a, b in inputs.bones:
        i, j = kps.index(a), kps.index(b)
        length = np.linalg.norm(p3[:, i] - p3[:, j], axis=-1)
        if not np.isfinite(length).any():
            continue
        dev = np.abs(length / np.nanmedian(length) - 1.0)
        for f in np.nonzero(np.nan_to_num(dev, nan=0.0) > opts.bone_tolerance)[0]:
            rows += [(int(f), kp, f"bone {a}-{b}", float(dev[f])) for kp in (a, b)]
    return sorted(rows, key=lambda r: (r[0], kps.index(r[1]), r[2]))


def camera_keypoint_errors(view_error: NDArray[np.float64]) -> NDArray[np.float64]:
    """Median reprojection error per camera and keypoint over the inlier views, px.

    Args:
        view_error: ``(frames, views, keypoints)`` px, NaN where a view was not used.

    Returns:
        ``(views, keypoints)`` px, NaN where a camera never contributed to a keypoint.
    """
    out = np.full(view_error.shape[1:], np.nan)
    used = np.isfinite(view_error).any(axis=0)
    out[used] = np.nanmedian(view_error[:, used], axis=0)
    return out


def write_files_outputs(
    out: Path,
    inputs: TriangulateFilesInputs,
    arrays: dict[str, NDArray[Any]],
    refine: list[str],
) -> list[Path]:
    """Write the run's outputs into ``out`` (the run's ``outputs/``); return their paths.

    Args:
        out: the folder.
        inputs: the run's inputs.
        arrays: ``points_3d`` ``(F, K, 3)`` calibration units; ``error``, ``ncams``,
            ``score`` ``(F, K)``; ``view_error`` ``(F, V, K)`` px; ``points_2d``
            ``(F, V, K, 2)`` px.
        refine: the calibration refinement's lines (empty if not refined).
    """
    p3, kps = arrays["points_3d"], tuple(inputs.keypoints)
    paths = [
        write_anipose_3d(
            out / "points_3d.csv",
            p3,
            kps,
            error=arrays["error"],
            ncams=arrays["ncams"],
            score=arrays["score"],
        )
    ]
    pose = PoseData(
        points=p3[:, None],
        confidence=arrays["score"][:, None],
        keypoints=kps,
        individuals=("individual_0",),
        unit=inputs.unit,
        source=str(out / "points_3d.csv"),
    )
    paths.append(write_keypoints(pose, out / "points_3d.nc", format="netcdf"))
    flags = point_flags(inputs, arrays)
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["frame", "keypoint", "reason", "value"])
    w.writerows([f, k, r, f"{v:.3f}"] for f, k, r, v in flags)
    paths.append(atomic_write_text(out / "flags.csv", buf.getvalue()))
    per_cam = camera_keypoint_errors(arrays["view_error"])
    summary = _summary(inputs, arrays, flags, per_cam, refine)
    paths.append(atomic_write_text(out / "summary.json", json.dumps(summary, indent=2) + "\n"))
    figure = _error_figure(per_cam, inputs.cameras, kps)
    paths.append(atomic_write_bytes(out / "reprojection_error.png", figure))
    paths.append(atomic_write_text(out / "report.md", _report_md(summary, per_cam)))
    if (out / "calibration.refined.toml").is_file():
        paths.append(out / "calibration.refined.toml")
    return paths


def _rounded(x: float) -> float | None:
    return round(x, 3) if np.isfinite(x) else None


def _summary(
    inputs: TriangulateFilesInputs,
    arrays: dict[str, NDArray[Any]],
    flags: list[tuple[int, str, str, float]],
    per_cam: NDArray[np.float64],
    refine: list[str],
) -> dict[str, Any]:
    p3, err = arrays["points_3d"], arrays["error"]
    done = np.isfinite(p3).all(axis=-1)
    by_reason: dict[str, int] = {}
    for _, _, reason, _ in flags:
        by_reason[reason] = by_reason.get(reason, 0) + 1
    return {
        "frames": int(p3.shape[0]),
        "keypoints": list(inputs.keypoints),
        "cameras": list(inputs.cameras),
        "dropped_cameras": list(inputs.dropped),
        "unit": inputs.unit,
        "unit_message": inputs.unit_message,
        "triangulated_fraction": round(float(done.mean()), 4) if done.size else 0.0,
        "median_error_px": _rounded(float(np.nanmedian(err))) if done.any() else None,
        "error_px_per_camera": {
            c: _rounded(float(np.nanmedian(per_cam[v]))) if np.isfinite(per_cam[v]).any() else None
            for v, c in enumerate(inputs.cameras)
        },
        "flagged_points": len({(f, k) for f, k, _, _ in flags}),
        "flags_by_reason": by_reason,
        "threshold_px": inputs.options.threshold_px,
        "diagnosis": inputs.diagnosis,
        "refined_calibration": refine,
        "skeleton": inputs.skeleton_name,
        "skeleton_inferred": inputs.inferred,
        "warnings": inputs.warnings,
        "files": {c: str(p) for c, p in inputs.files.items()},
        "calibration": str(inputs.calibration),
    }


def _error_figure(
    per_cam: NDArray[np.float64], cameras: list[str], keypoints: tuple[str, ...]
) -> bytes:
    fig, ax = new_figure(max(6.0, 0.45 * len(keypoints) + 2), 0.45 * len(cameras) + 2)
    im = ax.imshow(per_cam, aspect="auto", cmap="viridis")
    ax.set_xticks(range(len(keypoints)), keypoints, rotation=60, ha="right", fontsize=8)
    ax.set_yticks(range(len(cameras)), cameras)
    ax.set_title("median reprojection error (px), inlier views")
    fig.colorbar(im, ax=ax, label="px")
    return png_bytes(fig)


def _cell(x: float) -> str:
    return f"{x:.1f}" if np.isfinite(x) else ""


def _report_md(m: dict[str, Any], per_cam: NDArray[np.float64]) -> str:
    unit = _UNIT_NAMES.get(m["unit"], m["unit"])
    lines = [
        "# ethoagent triangulate report",
        "",
        f"Calibration `{m['calibration']}`; {m['frames']} frames; cameras used: "
        + ", ".join(m["cameras"])
        + (f"; left out: {', '.join(m['dropped_cameras'])}" if m["dropped_cameras"] else "")
        + ".",
        "",
        f"3D coordinates are in the calibration's unit, **{unit}**: {m['unit_message']}",
        "",
        "## Calibration",
        "",
        *[f"- {line}" for line in m["diagnosis"]],
        *(
            ["", "Refined by bundle adjustment (`calibration.refined.toml`), median error:"]
            + [f"- {line}" for line in m["refined_calibration"]]
            if m["refined_calibration"]
            else []
        ),
        "",
        "## Result",
        "",
        "| metric | value |",
        "|---|---|",
        f"| points triangulated | {m['triangulated_fraction']:.1%} |",
        f"| median reprojection error (px) | {m['median_error_px']} |",
        f"| flagged points (frame, keypoint) | {m['flagged_points']} |",
        "",
        "## Reprojection error per camera and keypoint (median px, inlier views)",
        "",
        "| camera | " + " | ".join(m["keypoints"]) + " |",
        "|---|" + "---|" * len(m["keypoints"]),
        *[
            f"| {c} | " + " | ".join(_cell(x) for x in per_cam[v]) + " |"
            for v, c in enumerate(m["cameras"])
        ],
        "",
        "![reprojection error](reprojection_error.png)",
        "",
        "## Flagged points",
        "",
        "Every flagged point is listed in `flags.csv` (frame, keypoint, reason, value).",
        "",
        *[f"- {reason}: {n}" for reason, n in sorted(m["flags_by_reason"].items())],
        "",
        "## Skeleton",
        "",
        f"`{m['skeleton']}`: " + ", ".join(m["keypoints"]) + ".",
        *[f"- {line}" for line in m["skeleton_inferred"]],
    ]
    if m["warnings"]:
        lines += ["", "## Warnings", "", *[f"- {w}" for w in m["warnings"]]]
    return "\n".join(lines) + "\n"


__all__ = ["FILES_OUTPUTS", "camera_keypoint_errors", "point_flags", "write_files_outputs"]
