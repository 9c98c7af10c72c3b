"""The outputs of ``ethoagent triangulate``: anipose CSV, netCDF, flags, figure, report."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
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


FLAG_COLUMNS = ("frame", "keypoint", "status", "reason", "camera", "bone", "value")
"""The columns of ``flags.csv``."""


@dataclass(frozen=True)
class Flags:
    """Every 3D point that needs a look or was corrected, one row per (point, reason).

    ``status`` is ``flagged`` (the point is missing or failed a check: look at it) or
    ``corrected`` (a hypothesis changed how its 2D points were read, and the point passed).
    Reasons, flagged: ``fewer than 2 views`` (value: views that saw it), ``views disagree``
    (no two views within the bound; value: views that saw it), ``reprojection`` (mean
    inlier error over ``threshold_px``; value: px), ``bone`` (a bone's length off its
    reference by more than ``bone_tolerance`` that no hypothesis fixed, both ends; value:
    relative deviation). Corrected: ``outlier view left out`` (RANSAC; value: that view's
    error, px), ``left/right relabelled`` (that view's label was the other side's; value:
    its error now, px), ``view left out for a bone`` (value: that view's error, px).

    Attributes:
        frame, keypoint, reason, camera, bone: ``(rows,)`` int indices (``camera`` and
            ``bone`` -1 where not applicable); ``reason`` indexes ``REASONS``.
        value: ``(rows,)`` float64.
    """

    frame: NDArray[np.intp]
    keypoint: NDArray[np.intp]
    reason: NDArray[np.intp]
    camera: NDArray[np.intp]
    bone: NDArray[np.intp]
    value: NDArray[np.float64]

    REASONS = (
        ("flagged", "fewer than 2 views"),
        ("flagged", "views disagree"),
        ("flagged", "reprojection"),
        ("flagged", "bone"),
        ("corrected", "outlier view left out"),
        ("corrected", "left/right relabelled"),
        ("corrected", "view left out for a bone"),
    )

    def points(self, status: str) -> int:
        """Distinct (frame, keypoint) points with a reason of this status."""
        codes = [i for i, (s, _) in enumerate(self.REASONS) if s == status]
        sel = np.isin(self.reason, codes)
        return len(
            np.unique(
                self.frame[sel] * (int(self.keypoint.max(initial=0)) + 1) + self.keypoint[sel]
            )
        )

    def by_reason(self) -> dict[str, int]:
        """Rows per reason (reasons with none left out)."""
        counts = np.bincount(self.reason, minlength=len(self.REASONS))
        return {self.REASONS[i][1]: int(n) for i, n in enumerate(counts) if n}


def point_flags(inputs: TriangulateFilesInputs, arrays: dict[str, NDArray[Any]]) -> Flags:
    """Every point that needs a look or was corrected, and why (see ``Flags``).

    Args:
        inputs: the run's inputs (keypoints, bones, thresholds).
        arrays: ``points_3d`` ``(F, K, 3)``, ``error`` ``(F, K)`` px, ``seen`` ``(F, K)``
            views with a 2D point (as given), ``view_error`` ``(F, V, K)`` px (inlier views),
            ``errors`` ``(F, V, K)`` px (every view), ``outlier``, ``relabelled`` and
            ``bone_dropped`` ``(F, V, K)`` bool, ``bone_error`` ``(F, B)``.

    Returns:
        The rows, sorted by frame, keypoint and reason.
    """
    opts = inputs.options
    p3, err = arrays["points_3d"], arrays["error"]
    seen = arrays["seen"].astype(np.int64)  # (F, K) views that saw the point
    missing = ~np.isfinite(p3).all(axis=-1)
    parts: list[tuple[int, tuple[NDArray[np.intp], ...], NDArray[np.float64]]] = []

    def add(code: int, mask: NDArray[np.bool_], value: NDArray[Any]) -> None:
        idx = np.nonzero(mask)
        parts.append((code, idx, np.asarray(value[idx], dtype=np.float64)))

    add(0, missing & (seen < 2), seen)
    add(1, missing & (seen >= 2), seen)
    add(2, np.nan_to_num(err, nan=0.0) > opts.threshold_px, err)
    all_err = arrays["errors"]
    for code, key in ((4, "outlier"), (5, "relabelled"), (6, "bone_dropped")):
        add(code, arrays[key], all_err)
    rows = [_rows(code, idx, value) for code, idx, value in parts]
    bone_rows = _bone_rows(inputs, arrays["bone_error"], opts.bone_tolerance)
    cols = [np.concatenate([r[i] for r in [*rows, bone_rows]]) for i in range(6)]
    order = np.lexsort((cols[2], cols[1], cols[0]))
    frame, kp, reason, cam, bone, value = (c[order] for c in cols)
    return Flags(
        frame=frame.astype(np.intp),
        keypoint=kp.astype(np.intp),
        reason=reason.astype(np.intp),
        camera=cam.astype(np.intp),
        bone=bone.astype(np.intp),
        value=value.astype(np.float64),
    )


def _rows(
    code: int, idx: tuple[NDArray[np.intp], ...], value: NDArray[np.float64]
) -> tuple[NDArray[Any], ...]:
    """Flag columns for ``(frame, keypoint)`` or ``(frame, view, keypoint)`` indices."""
    n = len(value)
    if len(idx) == 2:
        frame, kp, cam = idx[0], idx[1], np.full(n, -1)
    else:
        frame, cam, kp = idx
    return frame, kp, np.full(n, code), cam, np.full(n, -1), value


def _bone_rows(
    inputs: TriangulateFilesInputs, bone_error: NDArray[np.float64], tolerance: float
) -> tuple[NDArray[Any], ...]:
    """``bone`` flags: both ends of every bone still off its reference length."""
    frame, bone = np.nonzero(np.nan_to_num(bone_error, nan=0.0) > tolerance)
    ends = np.array(
        [[inputs.keypoints.index(a), inputs.keypoints.index(b)] for a, b in inputs.bones],
        dtype=np.intp,
    ).reshape(-1, 2)
    kp = np.concatenate([ends[bone, 0], ends[bone, 1]])
    value = np.tile(bone_error[frame, bone], 2)
    n = len(kp)
    return np.tile(frame, 2), kp, np.full(n, 3), np.full(n, -1), np.tile(bone, 2), value


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
            ``score`` ``(F, K)``; ``view_error`` ``(F, V, K)`` px; and what
            ``point_flags`` reads.
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
    paths.append(atomic_write_text(out / "flags.csv", _flags_csv(flags, inputs)))
    per_cam = camera_keypoint_errors(arrays["view_error"])
    summary = _summary(inputs, arrays, flags, per_cam, refine)
    paths.append(atomic_write_text(out / "summary.json", json.dumps(summary, indent=2) + "\n"))
    figure = _error_figure(per_cam, inputs.cameras, kps)
    paths.append(atomic_write_bytes(out / "reprojection_error.png", figure))
    paths.append(atomic_write_text(out / "report.md", _report_md(summary, per_cam)))
    if (out / "calibration.refined.toml").is_file():
        paths.append(out / "calibration.refined.toml")
    return paths


def _flags_csv(flags: Flags, inputs: TriangulateFilesInputs) -> str:
    """``flags.csv``'s text (``FLAG_COLUMNS``)."""
    kps, cams = inputs.keypoints, inputs.cameras
    bones = [f"{a}-{b}" for a, b in inputs.bones]
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(FLAG_COLUMNS)
    w.writerows(
        [
            f,
            kps[k],
            *Flags.REASONS[r],
            cams[c] if c >= 0 else "",
            bones[b] if b >= 0 else "",
            f"{v:.3f}",
        ]
        for f, k, r, c, b, v in zip(
            flags.frame.tolist(),
            flags.keypoint.tolist(),
            flags.reason.tolist(),
            flags.camera.tolist(),
            flags.bone.tolist(),
            flags.value.tolist(),
            strict=True,
        )
    )
    return buf.getvalue()


def _rounded(x: float) -> float | None:
    return round(x, 3) if np.isfinite(x) else None


def _summary(
    inputs: TriangulateFilesInputs,
    arrays: dict[str, NDArray[Any]],
    flags: Flags,
    per_cam: NDArray[np.float64],
    refine: list[str],
) -> dict[str, Any]:
    p3, err = arrays["points_3d"], arrays["error"]
    done = np.isfinite(p3).all(axis=-1)
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
        "flagged_points": flags.points("flagged"),
        "corrected_points": flags.points("corrected"),
        "flags_by_reason": flags.by_reason(),
        "bone_tolerance": inputs.options.bone_tolerance,
        "bones": [f"{a}-{b}" for a, b in inputs.bones],
        "bone_lengths": inputs.bone_lengths,
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


def _bones_line(m: dict[str, Any]) -> str:
    if not m["bones"]:
        return "No bones: the bone check did not run (give --skeleton with bones)."
    unit = m["unit"]
    parts = [
        f"{b} {x:.1f} {unit}" if x is not None else f"{b} never seen whole"
        for b, x in zip(m["bones"], m["bone_lengths"], strict=False)
    ]
    return (
        "Bone reference lengths (median over sampled frames where views agree): "
        + ", ".join(parts)
        + "."
    )


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
        f"| flagged points (frame, keypoint): missing or failing a check | {m['flagged_points']} |",
        f"| corrected points: a hypothesis changed how their 2D points were read | "
        f"{m['corrected_points']} |",
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
        "Every point is listed in `flags.csv` (frame, keypoint, status, reason, camera, bone,",
        "value) once per reason: `flagged` points are missing or failed a check (look at",
        "them); `corrected` points passed after a hypothesis: an outlier view left out",
        "(RANSAC over views), a left/right label read as the other side's in one view, or a",
        f"view left out because a bone was more than {m['bone_tolerance']:.0%} off its",
        "reference length. `_ncams` and `_error` in points_3d.csv count the views kept.",
        "",
        "| status | reason | rows |",
        "|---|---|---|",
        *[
            f"| {status} | {reason} | {m['flags_by_reason'].get(reason, 0)} |"
            for status, reason in Flags.REASONS
        ],
        "",
        _bones_line(m),
        "",
        "## Skeleton",
        "",
        f"`{m['skeleton']}`: " + ", ".join(m["keypoints"]) + ".",
        *[f"- {line}" for line in m["skeleton_inferred"]],
    ]
    if m["warnings"]:
        lines += ["", "## Warnings", "", *[f"- {w}" for w in m["warnings"]]]
    return "\n".join(lines) + "\n"


__all__ = [
    "FILES_OUTPUTS",
    "FLAG_COLUMNS",
    "Flags",
    "camera_keypoint_errors",
    "point_flags",
    "write_files_outputs",
]
