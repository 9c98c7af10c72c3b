"""The pose graph: multi-view 3D labelling of quantum-dot marks from 3 seed frames.

BehaviorVLM's staged labelling, every stage a ``Stage`` of the shared node pattern
(propose -> check -> retry/escalate -> flag), run frame by frame so that each frame rolls
the few-shot context and the temporal prediction forward:

1. ``regions`` (per view): a box per body region (ears, back, paws, tail). Cheap path:
   boxes around the keypoints predicted from the last accepted 3D frames (constant
   velocity), projected into the view. Model path (a retry, or every time when
   ``model_every_stage``): the ``vlm`` role sees the last accepted frames of that camera
   drawn with their labels, then the frame, and answers boxes (``pose/regions``).
   Checks: boxes inside the image; every box holds a detected candidate.
2. ``assign`` (per view): candidates inside each box are assigned to that region's
   keypoints. Cheap path: Hungarian matching to the predicted positions with a distance
   gate. Model path: the ``vlm`` role sees a crop with numbered candidates
   (``pose/assign``). Checks: candidates exist and lie in their box; none used twice in a
   region; each lies within the temporal jump bound of its prediction.
3. ``harmonise`` (per view): no candidate used by two regions (the nearer keypoint keeps it).
4. ``triangulate`` (per frame): DLT; checks reprojection error, bone lengths against the
   seeds, coverage; escalations: left/right-swap and dropped-view hypotheses, RANSAC over
   views, then re-asking ``pose/assign`` for the failing keypoints and views (named), then
   a review flag.

Candidates are bright marks found by ``detect_marks``. Offline (the embedded default) the
two model prompts are answered by registered solvers doing geometry on the prediction, and
say so in the trace. The graph labels one animal whose ``Skeleton`` (keypoints, bones,
left/right pairs, regions, body roles) comes with the inputs: the regions are what the
stages box and assign, the roles give the body axis of the 3D left/right check.

This module wires the nodes (``graphs.pose.stages``: ``prepare``, ``label``, ``report``,
functions of the state and a ``PoseEnv``) and resolves the inputs; the per-view stages are
in ``graphs.pose.item_stages``.
"""

from __future__ import annotations

import csv
import functools
from pathlib import Path
from typing import Any

from langgraph.graph import END, START, StateGraph

from ethoagent.errors import InputError
from ethoagent.graphs.kit.runtime import Runtime, run_graph
from ethoagent.graphs.pose import stages
from ethoagent.graphs.pose.inputs import PoseInputs, PoseState
from ethoagent.graphs.pose.item_stages import missing_axis_roles
from ethoagent.graphs.pose.options import PoseOptions
from ethoagent.graphs.pose.stages import PoseEnv
from ethoagent.io.calibration import read_calibration
from ethoagent.io.video import VideoReader
from ethoagent.model.skeleton import SKELETONS, Skeleton
from ethoagent.tools.cameras import check_calibration

GRAPH_NAME = "pose"


# --- inputs ---------------------------------------------------------------------------------


def skeleton_for_seeds(seeds: Path) -> Skeleton:
    """The named skeleton (``SKELETONS``) whose keypoints include every keypoint the seed
    labels name (the smallest such, if several).

    Raises:
        InputError: the file is missing or has no ``keypoint`` column, or no named skeleton
            has all of its keypoints.
    """
    if not seeds.is_file():
        raise InputError(
            f"seed label file {seeds} does not exist.",
            fix="label 3 frames in every view and save them as frame,view,keypoint,x,y CSV.",
        )
    with seeds.open(newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        if "keypoint" not in (reader.fieldnames or []):
            raise InputError(
                f"seed label file {seeds} has columns {reader.fieldnames}; expected "
                "frame,view,keypoint,x,y.",
                fix="write one row per labelled keypoint: frame,view,keypoint,x,y (pixels).",
            )
        named = {row["keypoint"] for row in reader}
    fits = [s for s in SKELETONS.values() if named <= set(s.keypoints)]
    if not fits:
        raise InputError(
            f"the seed labels in {seeds} name keypoints {sorted(named)}, which no named "
            f"skeleton ({', '.join(SKELETONS)}) has.",
            fix="describe your animal as a Skeleton (keypoints, bones, left/right pairs, "
            "regions, roles) and pass it as the skeleton.",
        )
    return min(fits, key=lambda s: len(s.keypoints))


def resolve_inputs(
    videos_dir: Path,
    calibration: Path,
    seeds: Path,
    *,
    frames: int | None = None,
    options: PoseOptions | None = None,
    candidates_dir: Path | None = None,
    skeleton: Skeleton | None = None,
) -> PoseInputs:
    """Match one video per calibrated camera (``<camera name>.<ext>``) and check lengths.

    Args:
        candidates_dir: optional folder of 2D pose-model predictions, one keypoint file per
            camera (``<camera name>.csv|.h5|.slp|.nc``), used as candidates instead of
            detected marks.
        skeleton: the animal's skeleton (with regions); ``None`` picks the named skeleton
            the seed labels fit (``skeleton_for_seeds``).

    Views of different lengths are labelled up to the shortest (``warnings`` says so).

    Raises:
        InputError: missing videos, cameras without a video, too few frames, views at
            different frame rates, a calibration that fails ``check_calibration``
            (fewer than two cameras, implausible intrinsics, two identical cameras), or a
            skeleton without regions.
    """
    cams = read_calibration(calibration)
    failed = [c for c in check_calibration(cams) if not c.passed]
    if failed:
        raise InputError(
            f"calibration {calibration} fails {', '.join(c.name for c in failed)}: "
            + " ".join(c.message for c in failed),
            fix="correct the file or recalibrate (e.g. anipose calibrate); triangulation "
            "through these cameras would be wrong.",
        )
    paths = [_file_per_camera(videos_dir, cam.name, "video") for cam in cams]
    predictions = (
        [str(_file_per_camera(candidates_dir, c.name, "predictions")) for c in cams]
        if candidates_dir is not None
        else None
    )
    lengths, rates = [], []
    for p in paths:
        with VideoReader(p) as video:
            lengths.append(len(video))
            rates.append(video.fps)
    known = [(p, r) for p, r in zip(paths, rates, strict=True) if r is not None]
    if known and any(abs(r - known[0][1]) > 0.01 * known[0][1] for _, r in known):
        raise InputError(
            "the views are not synchronised: frame rates "
            + ", ".join(f"{p.name} {r:g} fps" for p, r in known)
            + ".",
            fix="pass videos recorded together at one frame rate (re-encode a view with "
            "the others' rate only if its frames really are the same instants).",
        )
    n = min(lengths)
    warnings = []
    if len(set(lengths)) > 1:
        warnings.append(
            "the views differ in length ("
            + ", ".join(f"{p.name} {k}" for p, k in zip(paths, lengths, strict=True))
            + f" frames); only the first {n} frames, which every view has, are labelled."
        )
    if frames is not None:
        if frames > n:
            raise InputError(
                f"--frames {frames} but the shortest video has {n} frames ({lengths}).",
                fix=f"pass --frames {n} or less.",
            )
        n = frames
    skeleton = skeleton if skeleton is not None else skeleton_for_seeds(Path(seeds))
    if not skeleton.regions:
        raise InputError(
            f"skeleton {skeleton.name!r} has no regions; the pose graph boxes and assigns "
            "keypoints region by region.",
            fix="group the keypoints into regions of 1 to 4 (e.g. head, back, paws, tail).",
        )
    missing = missing_axis_roles(skeleton)
    if missing:
        warnings.append(
            f"skeleton {skeleton.name!r} names no {', '.join(missing)}: the 3D check that "
            "left and right keypoints lie on their own sides of the body is off."
        )
    return PoseInputs(
        videos=[str(p) for p in paths],
        calibration=str(calibration),
        seeds=str(seeds),
        frames=n,
        skeleton=skeleton,
        candidates=predictions,
        options=options or PoseOptions(),
        warnings=warnings,
    )


def _file_per_camera(folder: Path, camera: str, what: str) -> Path:
    if not folder.is_dir():
        raise InputError(
            f"{what} folder {folder} does not exist.",
            fix=f"pass a folder holding one {what} file per camera, named after the camera.",
        )
    found = sorted(p for p in folder.iterdir() if p.stem == camera and p.is_file())
    if not found:
        raise InputError(
            f"no {what} file for camera {camera!r} in {folder} (expected {camera}.<ext>).",
            fix="name each file after its camera in calibration.toml.",
        )
    return found[0]


# --- graph ----------------------------------------------------------------------------------


def build_pose_graph(rt: Runtime, inputs: PoseInputs) -> StateGraph[PoseState]:
    """The pose ``StateGraph``: prepare -> label (one chunk per step) -> report.

    Node names are part of a run's checkpoints: renaming one breaks resuming older runs.
    """
    env = PoseEnv.of(rt, inputs)
    g: StateGraph[PoseState] = StateGraph(PoseState)
    g.add_node("prepare", functools.partial(stages.prepare, env=env))
    g.add_node("label", functools.partial(stages.label, env=env))
    g.add_node("report", functools.partial(stages.report, env=env))
    g.add_edge(START, "prepare")
    g.add_edge("prepare", "label")
    g.add_conditional_edges("label", stages.more, ["label", "report"])
    g.add_edge("report", END)
    return g


async def run_pose(rt: Runtime, inputs: PoseInputs) -> dict[str, Any]:
    """Run (or resume) the pose graph in ``rt.run``; return the final state."""
    return await run_graph(build_pose_graph(rt, inputs), rt, {"frames": inputs.frames})


__all__ = [
    "GRAPH_NAME",
    "build_pose_graph",
    "resolve_inputs",
    "run_pose",
    "skeleton_for_seeds",
]
