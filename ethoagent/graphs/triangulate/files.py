"""The ``triangulate`` graph: a lab's own 2D predictions to anipose-layout 3D points.

``resolve_triangulate_files`` has matched the 2D files to the calibration's cameras, read
the skeleton and diagnosed the calibration (dropping an inconsistent camera). The graph:

1. ``load``: read the 2D points of the kept cameras; with ``refine_calibration``, refine
   their extrinsics by bundle adjustment (``calibration.refined.toml`` in the outputs) and
   triangulate with the refined cameras.
2. ``triangulate`` (one step per chunk of frames, each checkpointed): the verified
   triangulation (``tools.verify3d.verify_points``): RANSAC over views weighted by the 2D
   scores, left/right hypotheses where a view is an outlier, the bone check with
   dropped-view hypotheses where a bone is off its reference length; then anipose's
   per-point error, camera count and score over the views kept.
3. ``report``: ``points_3d.csv`` (anipose's layout, calibration units), ``points_3d.nc``
   (a movement dataset), ``flags.csv``, ``summary.json``, a figure and ``report.md``.
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path
from typing import Any, TypedDict

import numpy as np
from langgraph.graph import END, START, StateGraph
from numpy.typing import NDArray

from ethoagent.atomic import atomic_write_bytes
from ethoagent.graphs.kit.runtime import Runtime, run_graph
from ethoagent.graphs.triangulate.files_report import write_files_outputs
from ethoagent.graphs.triangulate.inputs import TriangulateFilesInputs
from ethoagent.io.calibration import read_calibration, write_calibration
from ethoagent.io.rig import CameraFiles, read_camera_points
from ethoagent.model.camera import Camera
from ethoagent.tools.calibration_refine import refine_calibration
from ethoagent.tools.triangulate import RansacResult, point_summary
from ethoagent.tools.verify3d import verify_points

GRAPH_NAME = "triangulate"
"""Recorded in ``run.json``; ``ethoagent run`` batch files name it so."""
MAX_CHUNKS = 60
"""Most checkpointed triangulation steps (longer sessions get longer chunks)."""


class FilesState(TypedDict, total=False):
    chunk: int
    n_chunks: int
    chunk_frames: int
    refine: list[str]
    outputs: list[str]


def build_files_graph(rt: Runtime, inputs: TriangulateFilesInputs) -> StateGraph[FilesState]:
    """The ``triangulate`` graph's ``StateGraph``; nodes close over ``rt`` and ``inputs``."""
    run = rt.run
    cameras_toml = run.artifacts_dir / "cameras.toml"
    lengths: NDArray[np.float64] | None = np.array(
        [np.nan if x is None else x for x in inputs.bone_lengths], dtype=float
    )
    if len(inputs.bone_lengths) != len(inputs.bones):
        lengths = None  # a run recorded before reference lengths: each chunk's medians

    def load(state: FilesState) -> dict[str, Any]:
        cams = read_calibration(inputs.calibration)
        files = CameraFiles(
            files=dict(inputs.files), cameras_without_file=(), unmatched_files=(), ignored=()
        )
        rig = read_camera_points(files, cams, inputs.keypoints)
        keep = [v for v, c in enumerate(rig.cameras) if c.name in inputs.cameras]
        kept = [rig.cameras[v] for v in keep]
        pts, conf = rig.points[:, keep], rig.confidence[:, keep]
        refine: list[str] = []
        if inputs.options.refine_calibration:
            with rt.tracer.timed_tool("refine_calibration", {"cameras": inputs.cameras}):
                ref = refine_calibration(kept, pts, conf)
            write_calibration(
                run.outputs_dir / "calibration.refined.toml", ref.cameras, ref.metadata()
            )
            kept, refine = ref.cameras, ref.messages()
        write_calibration(cameras_toml, kept)
        _save_npy(run.artifacts_dir / "rig_points_2d.npy", pts)
        _save_npy(run.artifacts_dir / "rig_confidence.npy", conf)
        size = max(inputs.options.chunk_frames, -(-inputs.frames // MAX_CHUNKS))
        return {
            "chunk": 0,
            "n_chunks": -(-inputs.frames // size),
            "chunk_frames": size,
            "refine": refine,
        }

    def triangulate(state: FilesState) -> dict[str, Any]:
        i, size = state["chunk"], state["chunk_frames"]
        lo, hi = i * size, min(inputs.frames, (i + 1) * size)
        arrays = _verify_chunk(rt, inputs, read_calibration(cameras_toml), lengths, (lo, hi))
        _save_npz(run.artifacts_dir / f"triangulate_{i:04d}.npz", **arrays)
        rt.report_progress("triangulate", hi - lo, inputs.frames)
        return {"chunk": i + 1}

    def more_chunks(state: FilesState) -> str:
        return "triangulate" if state["chunk"] < state["n_chunks"] else "report"

    def report(state: FilesState) -> dict[str, Any]:
        parts = [
            _load_npz(run.artifacts_dir / f"triangulate_{i:04d}.npz")
            for i in range(state["n_chunks"])
        ]
        arrays = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
        written = write_files_outputs(run.outputs_dir, inputs, arrays, state.get("refine", []))
        return {"outputs": [str(p.relative_to(run.root)) for p in written]}

    g: StateGraph[FilesState] = StateGraph(FilesState)
    g.add_node("load", load)
    g.add_node("triangulate", triangulate)
    g.add_node("report", report)
    g.add_edge(START, "load")
    g.add_edge("load", "triangulate")
    g.add_conditional_edges("triangulate", more_chunks, ["triangulate", "report"])
    g.add_edge("report", END)
    return g


def _verify_chunk(
    rt: Runtime,
    inputs: TriangulateFilesInputs,
    cams: list[Camera],
    lengths: NDArray[np.float64] | None,
    frames: tuple[int, int],
) -> dict[str, NDArray[Any]]:
    """The verified triangulation of frames ``[lo, hi)`` and what the report needs of it."""
    lo, hi = frames
    art = rt.run.artifacts_dir
    pts = np.array(np.load(art / "rig_points_2d.npy", mmap_mode="r")[lo:hi])
    conf = np.array(np.load(art / "rig_confidence.npy", mmap_mode="r")[lo:hi])
    weights = np.nan_to_num(conf, nan=1.0)
    skeleton = inputs.skeleton()
    with rt.tracer.timed_tool("verify_points", {"frames": [lo, hi]}):
        res = verify_points(
            cams,
            pts,
            weights,
            threshold_px=inputs.options.threshold_px,
            left_right=skeleton.left_right_index,
            bones=skeleton.bone_index,
            reference_lengths=lengths,
            bone_tolerance=inputs.options.bone_tolerance,
        )
    ransac = RansacResult(points_3d=res.points_3d, inliers=res.inliers, errors=res.errors)
    # scores as read: a relabelled observation brings its own score
    error, ncams, score = point_summary(ransac, np.where(res.weights > 0, res.weights, np.nan))
    return {
        "seen": np.isfinite(pts[..., 0]).sum(axis=1).astype(np.int8),
        "points_3d": res.points_3d,
        "error": error,
        "ncams": ncams,
        "score": score,
        "view_error": np.where(res.inliers, res.errors, np.nan),
        "errors": res.errors,
        "outlier": (res.weights > 0) & ~res.inliers & ~res.bone_dropped,
        "relabelled": res.relabelled,
        "bone_dropped": res.bone_dropped,
        "bone_error": res.bone_error,
    }


def _save_npy(path: Path, array: NDArray[Any]) -> None:
    """One array, uncompressed (sliced through a memory map by each chunk), atomically."""
    buf = io.BytesIO()
    np.lib.format.write_array(buf, np.ascontiguousarray(array), allow_pickle=False)
    atomic_write_bytes(path, buf.getvalue())


def _save_npz(path: Path, **arrays: NDArray[Any]) -> None:
    """A chunk's arrays, uncompressed (deflating an hour of floats costs more than it saves)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_STORED) as zf:
        for name in sorted(arrays):
            one = io.BytesIO()
            np.lib.format.write_array(one, np.asarray(arrays[name]), allow_pickle=False)
            zf.writestr(f"{name}.npy", one.getvalue())
    atomic_write_bytes(path, buf.getvalue())


def _load_npz(path: Path) -> dict[str, NDArray[Any]]:
    with np.load(path, allow_pickle=False) as data:
        return {k: data[k] for k in data.files}


async def run_files(rt: Runtime, inputs: TriangulateFilesInputs) -> dict[str, Any]:
    """Run (or resume) the ``triangulate`` graph in ``rt.run``; return the final state."""
    return await run_graph(build_files_graph(rt, inputs), rt, {})


__all__ = ["GRAPH_NAME", "build_files_graph", "run_files"]
