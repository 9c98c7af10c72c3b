"""Outputs of a pose run: files users open, figures, and ``report.md``.

Written into the run's ``outputs/``:

- ``points_3d.csv`` (anipose's 3D layout: ``<kp>_x/_y/_z`` in mm in the calibration's world
  frame, ``_error`` mean reprojection error over the views used in px, ``_ncams``, ``_score``
  empty as the labels carry no 2D scores, ``fnum``) and ``points_3d.nc`` (movement netCDF);
- ``points_2d/<camera>.csv``: the accepted 2D labels per view, DeepLabCut-style;
- ``frames.csv``: per frame the outcome, how it was reached, worst reprojection error and
  model calls;
- ``summary.json`` and ``report.md`` with three figures: reprojection error over time,
  the 3D trajectory seen from above, and one frame with the 3D points reprojected into
  every view.

Where the session is a simulated one (``<videos>/../ground_truth/arrays.npz`` exists), the
summary adds the 3D error against the ground truth, and says the data is synthetic.
"""

from __future__ import annotations

import csv
import io
import json
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import cv2
import numpy as np
from numpy.typing import NDArray

from ethoagent.figures import new_figure, png_bytes
from ethoagent.graphs.pose.inputs import PoseInputs, PoseState
from ethoagent.io.anipose import write_anipose_3d
from ethoagent.io.keypoints import write_dlc_csv, write_keypoints
from ethoagent.io.session import body_length, unit_warning
from ethoagent.io.video import VideoReader
from ethoagent.model.camera import Camera
from ethoagent.model.pose import PoseData
from ethoagent.model.skeleton import Skeleton
from ethoagent.tools.cameras import project_points
from ethoagent.tools.labelling import draw_keypoints
from ethoagent.tools.triangulate import reprojection_errors

if TYPE_CHECKING:
    from ethoagent.graphs.kit.runtime import Runtime
    from ethoagent.runs import Run


def assembled(run: Run, n_chunks: int) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """All chunks' 3D ``(frames, keypoints, 3)`` mm and 2D ``(frames, views, keypoints, 2)``."""
    parts = [run.load_arrays(f"pose_{i:04d}") for i in range(n_chunks)]
    return (
        np.concatenate([p["points_3d"] for p in parts]),
        np.concatenate([p["points_2d"] for p in parts]),
    )


def frame_rows(run: Run, n_chunks: int) -> list[dict[str, Any]]:
    """Per-frame outcome rows of every chunk, in frame order."""
    rows: list[dict[str, Any]] = []
    for i in range(n_chunks):
        rows += json.loads((run.outputs_dir / "stages" / f"pose_{i:04d}.json").read_text())
    return rows


def ground_truth(inputs: PoseInputs) -> NDArray[np.float64] | None:
    """Ground-truth 3D ``(frames, keypoints, 3)`` mm of a simulated session, else ``None``."""
    if not inputs.has_videos:
        return None
    path = Path(inputs.videos[0]).parent.parent / "ground_truth" / "arrays.npz"
    if not path.is_file():
        return None
    with np.load(path, allow_pickle=False) as data:
        truth = np.asarray(data["points_3d"], dtype=np.float64)
    return truth[: inputs.frames, 0] if truth.ndim == 4 else None


def truth_metrics(
    points: NDArray[np.float64], truth: NDArray[np.float64], skeleton: Skeleton
) -> dict[str, Any]:
    """3D error against ground truth: mean/median mm, per region, PCK@5mm, L/R swaps.

    Args:
        points: ``(frames, keypoints, 3)`` mm, NaN = not labelled.
        truth: ``(frames, keypoints, 3)`` mm.
        skeleton: names the regions and left/right pairs of the keypoints axis.
    """
    err = np.linalg.norm(points - truth, axis=-1)  # (frames, keypoints)
    found = np.isfinite(err)
    per_region = {
        region: round(float(np.nanmean(err[:, list(idx)])), 3)
        if found[:, list(idx)].any()
        else None
        for region, idx in skeleton.region_index.items()
    }
    swaps = 0
    pairs = 0
    for a, b in skeleton.left_right_index:
        ok = np.isfinite(err[:, a]) & np.isfinite(err[:, b])
        straight = err[ok, a] + err[ok, b]
        crossed = np.linalg.norm(points[ok, a] - truth[ok, b], axis=-1) + np.linalg.norm(
            points[ok, b] - truth[ok, a], axis=-1
        )
        swaps += int((crossed < straight).sum())
        pairs += int(ok.sum())
    return {
        "mean_error_mm": round(float(np.nanmean(err)), 3) if found.any() else None,
        "median_error_mm": round(float(np.nanmedian(err)), 3) if found.any() else None,
        "error_mm_by_region": per_region,
        "pck_5mm": round(float((err[found] <= 5.0).mean()), 4) if found.any() else None,
        "swap_rate": round(swaps / pairs, 4) if pairs else None,
        "missing_fraction": round(float(1 - found.mean()), 4),
    }


def write_pose_outputs(
    rt: Runtime, inputs: PoseInputs, n_chunks: int, state: PoseState, cams: Sequence[Camera]
) -> list[str]:
    """Write every output of a finished pose run; return their paths relative to the run.

    Args:
        rt: the run's runtime (its run directory holds the chunks' arrays).
        inputs: the run's resolved inputs.
        n_chunks: chunks the label node wrote.
        state: the graph's final state.
        cams: the cameras labelled (``PoseInputs.read_cameras``), one per view.
    """
    run = rt.run
    points, reading = assembled(run, n_chunks)
    rows = frame_rows(run, n_chunks)
    flagged = sorted(state["flagged"])
    fps = _fps(inputs.videos[0]) if inputs.has_videos else None
    keypoints = inputs.skeleton.keypoints

    error, ncams = _point_errors(cams, points, reading)
    outputs = [
        write_anipose_3d(
            run.outputs_dir / "points_3d.csv", points, keypoints, error=error, ncams=ncams
        )
    ]

    pose3d = PoseData(
        points=points[:, None],
        confidence=np.where(np.isfinite(points[..., 0]), 1.0, np.nan)[:, None],
        keypoints=keypoints,
        individuals=("mouse",),
        fps=fps,
        unit="mm",
    )
    nc = run.outputs_dir / "points_3d.nc"
    outputs.append(write_keypoints(pose3d, nc, format="netcdf"))
    for v, cam in enumerate(cams):
        pts = reading[:, v]
        pose2d = PoseData(
            points=pts[:, None],
            confidence=np.where(np.isfinite(pts[..., 0]), 1.0, 0.0)[:, None],
            keypoints=keypoints,
            individuals=("mouse",),
            fps=fps,
            unit="px",
        )
        outputs.append(write_dlc_csv(run.outputs_dir / "points_2d" / f"{cam.name}.csv", pose2d))
    outputs.append(run.write_output("frames.csv", _rows_csv(rows)))

    model_calls = dict(state["model_calls"])
    total_calls = sum(model_calls.values())
    errs = np.array([r["reprojection_px"] for r in rows if r["reprojection_px"] is not None])
    summary: dict[str, Any] = {
        "frames": len(points),
        "views": len(cams),
        "flagged_frames": flagged,
        "reviewed_frames": list(inputs.reviewed_frames),
        "routes": state["routes"],
        "model_calls": model_calls,
        "model_calls_per_frame_view": round(total_calls / max(1, len(points) * len(cams)), 4),
        "reprojection_px_median": round(float(np.median(errs)), 3) if errs.size else None,
        "reprojection_px_p95": round(float(np.percentile(errs, 95)), 3) if errs.size else None,
        "backend": rt.settings.backend,
        "model_every_stage": inputs.options.model_every_stage,
        "reacquired_keypoint_frames": _reacquired_counts(rows),
        "unit": "millimetres, world frame of the calibration",
        **_unit_check(inputs, points),
    }
    truth = ground_truth(inputs)
    if truth is not None:
        summary["ground_truth"] = truth_metrics(points, truth, inputs.skeleton)
        summary["data"] = "synthetic session (ground truth from the simulator)"
    outputs.append(run.write_json_output("summary.json", summary))
    outputs.append(run.write_output("reprojection.png", _error_figure(rows, flagged)))
    outputs.append(run.write_output("trajectory.png", _trajectory_figure(points, inputs.skeleton)))
    overlay = _overlay(inputs, cams, points)
    if overlay is not None:
        outputs.append(run.write_output("overlay.png", overlay))
    outputs.append(run.write_output("report.md", _report_md(summary, overlay is not None)))
    return [str(Path(p).relative_to(run.root)) for p in outputs]


def _reacquired_counts(rows: Sequence[dict[str, Any]]) -> dict[str, int]:
    """Keypoint name -> frames where the output re-acquired it (``graphs.pose.reacquire``)."""
    out: dict[str, int] = {}
    for r in rows:
        for name in filter(None, str(r.get("reacquired_keypoints", "")).split(";")):
            out[name] = out.get(name, 0) + 1
    return out


def _unit_check(inputs: PoseInputs, points: NDArray[np.float64]) -> dict[str, Any]:
    """The 3D body length (mm, ``body_length_mm``) and a warning where it fits no mouse or rat.

    Also whether the run read ``videos`` (the report says so where it did not).

    Args:
        inputs: the run's inputs (the warning names the first video, else the calibration).
        points: ``(frames, keypoints, 3)`` mm, NaN = missing.
    """
    where = Path(inputs.videos[0] if inputs.has_videos else inputs.calibration)
    length = body_length(points[:, None], inputs.skeleton.keypoints)
    doubt = unit_warning(where, "mm", 3, length)
    return {
        "body_length_mm": None if np.isnan(length) else round(length, 2),
        "warnings": [] if doubt is None else [doubt],
        "videos": inputs.has_videos,
    }


def _point_errors(
    cams: Sequence[Camera], points: NDArray[np.float64], reading: NDArray[np.float64]
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Per 3D point, the mean reprojection error (px) over the views used and their count.

    Args:
        cams: the views, in the order of ``reading``'s views axis.
        points: ``(frames, keypoints, 3)`` mm.
        reading: ``(frames, views, keypoints, 2)`` px, the 2D labels the points rest on.

    Returns:
        ``(error, ncams)``, each ``(frames, keypoints)``; error NaN where no view was used.
    """
    err = reprojection_errors(cams, points, reading)
    used = np.isfinite(err)
    ncams = used.sum(axis=1).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        error = np.where(used, err, 0.0).sum(axis=1) / ncams
    return error, ncams


def _fps(video: str) -> float | None:
    with VideoReader(video) as reader:
        return reader.fps


FRAME_COLUMNS = (
    "frame",
    "status",
    "method",
    "reprojection_px",
    "model_calls",
    "flag_reason",
    "stagewise_keypoints",
    "reacquired_keypoints",
)


def _rows_csv(rows: Sequence[dict[str, Any]]) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=FRAME_COLUMNS, lineterminator="\n")
    w.writeheader()
    w.writerows(rows)
    return buf.getvalue()


def _error_figure(rows: Sequence[dict[str, Any]], flagged: Sequence[int]) -> bytes:
    frames = [r["frame"] for r in rows]
    err = [np.nan if r["reprojection_px"] is None else r["reprojection_px"] for r in rows]
    fig, ax = new_figure(8, 3)
    ax.plot(frames, err, lw=0.8, color="C0", label="worst reprojection error")
    if flagged:
        ax.scatter(flagged, [0] * len(flagged), marker="|", color="C3", label="flagged")
    ax.set_xlabel("frame")
    ax.set_ylabel("pixels")
    ax.legend(loc="upper right", frameon=False)
    return png_bytes(fig)


def _trajectory_figure(points: NDArray[np.float64], skeleton: Skeleton) -> bytes:
    centre = skeleton.roles.get("centre", skeleton.keypoints)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a frame without it: NaN, not drawn
        back = np.nanmean(points[:, [skeleton.index(k) for k in centre]], axis=1)
    fig, ax = new_figure(4.5, 4)
    sc = ax.scatter(back[:, 0], back[:, 1], c=np.arange(len(back)), s=3, cmap="viridis")
    fig.colorbar(sc, ax=ax, label="frame")
    ax.set_aspect("equal")
    ax.set_xlabel("x (mm)")
    ax.set_ylabel("y (mm)")
    ax.set_title(f"{', '.join(centre)} from above")
    return png_bytes(fig)


def _frame_image(inputs: PoseInputs, view: int, cam: Camera, frame: int) -> NDArray[np.uint8]:
    """Frame ``frame`` of ``view``'s video, or a black frame of the camera's size."""
    if not inputs.has_videos:
        w, h = cam.size
        return np.zeros((h, w, 3), dtype=np.uint8)
    with VideoReader(inputs.videos[view]) as reader:
        return np.asarray(reader[frame], dtype=np.uint8)


def _overlay(
    inputs: PoseInputs, cams: Sequence[Camera], points: NDArray[np.float64]
) -> bytes | None:
    """One frame (the one with most keypoints found) with the 3D points drawn in every view."""
    found = np.isfinite(points[..., 0]).sum(axis=1)
    if not found.any():
        return None
    frame = int(np.argmax(found))
    proj = project_points(cams, points[frame]).transpose(1, 0, 2)  # (V, K, 2)
    tiles = []
    for v, cam in enumerate(cams):
        img = draw_keypoints(
            _frame_image(inputs, v, cam, frame),
            proj[v],
            inputs.skeleton.keypoints,
            groups=inputs.skeleton.region_of,
        )
        cv2.putText(img, f"{cams[v].name} frame {frame}", (4, 14), 0, 0.4, (255, 255, 255), 1)
        tiles.append(img)
    h, w = max(t.shape[0] for t in tiles), max(t.shape[1] for t in tiles)
    tiles = [
        np.asarray(
            cv2.copyMakeBorder(t, 0, h - t.shape[0], 0, w - t.shape[1], cv2.BORDER_CONSTANT),
            dtype=np.uint8,
        )
        for t in tiles
    ]
    cols = 3 if len(tiles) > 4 else 2
    while len(tiles) % cols:
        tiles.append(np.zeros_like(tiles[0]))
    grid = np.vstack([np.hstack(tiles[i : i + cols]) for i in range(0, len(tiles), cols)])
    ok, buf = cv2.imencode(".png", grid)
    return buf.tobytes() if ok else None


def _unit_line(s: dict[str, Any]) -> str:
    length = s.get("body_length_mm")
    return (
        f"3D points in {s['unit']}"
        + (f" (median body length {length:g} mm)" if length is not None else "")
        + "; 2D points and reprojection errors in pixels."
        + "".join(f" **Warning: {w}**" for w in s.get("warnings", []))
    )


def _report_md(s: dict[str, Any], overlay: bool) -> str:
    backend = s["backend"]
    lines = [
        "# ethoagent pose report",
        "",
        f"Backend: `{backend}`"
        + (" (no model was called; offline solvers answered)." if backend == "offline" else "."),
        f"Data: {s.get('data', 'as given')}.",
        *(
            []
            if s.get("videos", True)
            else [
                "No videos: the 2D candidates were the only evidence; no model saw a frame "
                "or a crop (offline solvers and the verified 3D checks decided), and the "
                "overlay draws the points on blank frames."
            ]
        ),
        _unit_line(s),
        "",
        "| metric | value |",
        "|---|---|",
        f"| frames x views | {s['frames']} x {s['views']} |",
        f"| flagged for review | {len(s['flagged_frames'])} |",
        f"| corrected by a person (`ethoagent review`; seed frames now) | "
        f"{len(s.get('reviewed_frames', []))} |",
        f"| worst reprojection error, median / 95th pct (px) | "
        f"{s['reprojection_px_median']} / {s['reprojection_px_p95']} |",
        f"| model calls per frame-view | {s['model_calls_per_frame_view']} |",
        "| keypoint-frames re-acquired in the output (`frames.csv`: reacquired_keypoints) | "
        f"{sum(s.get('reacquired_keypoint_frames', {}).values())} |",
    ]
    gt = s.get("ground_truth")
    if gt:
        lines += [
            f"| 3D error vs ground truth, mean / median (mm) | "
            f"{gt['mean_error_mm']} / {gt['median_error_mm']} |",
            f"| PCK@5mm | {gt['pck_5mm']} |",
            f"| left/right swap rate | {gt['swap_rate']} |",
        ]
    lines += [
        "",
        "Routes: " + ", ".join(f"{k}: {v}" for k, v in sorted(s["routes"].items())),
        "",
        "Model calls by stage: "
        + (", ".join(f"{k}: {v}" for k, v in sorted(s["model_calls"].items())) or "none"),
        "",
        "![reprojection error](reprojection.png)",
        "",
        "![trajectory](trajectory.png)",
        "",
    ]
    if overlay:
        lines += ["![reprojected points in every view](overlay.png)", ""]
    if s["flagged_frames"]:
        shown = ", ".join(map(str, s["flagged_frames"][:50]))
        more = " …" if len(s["flagged_frames"]) > 50 else ""
        lines += [f"Flagged frames (see `frames.csv` and the trace): {shown}{more}", ""]
    return "\n".join(lines)
