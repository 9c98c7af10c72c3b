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
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
from langgraph.graph import END, START, StateGraph
from numpy.typing import NDArray

from ethoagent.errors import InputError
from ethoagent.graphs.kit.runtime import Runtime, run_graph
from ethoagent.graphs.pose import stages
from ethoagent.graphs.pose.inputs import PoseInputs, PoseState
from ethoagent.graphs.pose.item_stages import missing_axis_roles
from ethoagent.graphs.pose.options import PoseOptions
from ethoagent.graphs.pose.stages import SEED_FIT_FACTOR, PoseEnv
from ethoagent.io.calibration import read_calibration
from ethoagent.io.keypoints import read_keypoints
from ethoagent.io.rig import CameraFiles, find_camera_files
from ethoagent.io.seeds import read_seeds
from ethoagent.io.video import VideoReader
from ethoagent.model.camera import Camera
from ethoagent.model.skeleton import SKELETONS, Skeleton
from ethoagent.tools.calibration_check import diagnose_calibration
from ethoagent.tools.cameras import check_calibration
from ethoagent.tools.skeleton_infer import infer_regions
from ethoagent.tools.triangulate import (
    bone_length_errors,
    median_bone_lengths,
    reprojection_errors,
    triangulate_dlt,
)

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


VIDEO_SUFFIXES: tuple[str, ...] = (".mp4", ".avi", ".mov", ".mkv", ".webm")
"""Video suffixes a pose run looks for, one video per camera, the camera found by name."""

LIMIT_MARGIN = 1.5
"""Check limits are raised to this many times the worst the seed labels themselves show."""


def resolve_inputs(
    videos_dir: Path | None,
    calibration: Path,
    seeds: Path,
    *,
    frames: int | None = None,
    options: PoseOptions | None = None,
    candidates_dir: Path | None = None,
    skeleton: Skeleton | None = None,
    seed_frames: list[int] | None = None,
) -> PoseInputs:
    """Match one video per calibrated camera, read the seeds, diagnose the calibration.

    Videos and 2D prediction files belong to the camera their file name (as a whole word)
    or their folder names (``io.rig.camera_of``): ``videos/back.mp4``,
    ``session/back/minimal_back.mp4`` and ``minimal_back_proofread.analysis.h5`` all are
    camera ``back``. Of two cameras with identical parameters, the one whose seed labels
    do not fit them (``tools.calibration_check.diagnose_calibration``) is left out and
    named in ``warnings``. Real labels on a real calibration reproject worse than the
    defaults allow: the reprojection and bone limits are raised to ``LIMIT_MARGIN`` times
    the worst the seeds show (never lowered), and ``warnings`` says so.

    Args:
        videos_dir: folder of one video per camera, or ``None`` where ``candidates_dir``
            is given: the run then reads no frame, no model is shown an image (the
            offline solvers and the 3D checks decide) and ``warnings`` says so.
        candidates_dir: optional folder of 2D pose-model predictions, one keypoint file per
            camera (or one folder per camera), used as candidates instead of detected marks.
        skeleton: the animal's skeleton (with regions); ``None`` picks the named skeleton
            the seed labels fit (``skeleton_for_seeds``, a seeds CSV only).
        seed_frames: the labelled frames to take as seeds (``io.seeds.read_seeds``).

    Views of different lengths are labelled up to the shortest (``warnings`` says so).

    Raises:
        InputError: a calibration camera without a video, too few frames,
            views at different frame rates, a calibration that fails ``check_calibration``
            on the cameras kept, seeds naming none of the skeleton's keypoints, or a
            skeleton without regions.
    """
    opts = options or PoseOptions()
    all_cams = read_calibration(calibration)
    if skeleton is None:
        skeleton = _default_skeleton(Path(seeds))
    seed = read_seeds(seeds, [c.name for c in all_cams], skeleton.keypoints, frames=seed_frames)
    cams, warnings = _fitting_cameras(calibration, all_cams, seed.points_2d)
    if not skeleton.regions:
        skeleton = _with_regions(skeleton, cams, seed.points_2d, all_cams, warnings)
    _check_kept(calibration, cams)
    predictions = _predictions(candidates_dir, cams)
    cams, paths, n = _frame_source(videos_dir, cams, predictions, frames, warnings)
    used = {c.name for c in cams}
    kept = [i for i, c in enumerate(all_cams) if c.name in used]
    opts = _seed_limits(calibration, cams, seed.points_2d[:, kept], skeleton, opts, warnings)
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
        cameras=None if len(cams) == len(all_cams) else [c.name for c in cams],
        seed_frames=seed.frames,
        skeleton=skeleton,
        candidates=predictions,
        options=opts,
        warnings=[seed.source, *warnings],
    )


def _with_regions(
    skeleton: Skeleton,
    cams: list[Camera],
    seed_2d: NDArray[np.float64],
    all_cams: list[Camera],
    warnings: list[str],
) -> Skeleton:
    """``skeleton`` with regions inferred from the seed labels where its file names none.

    Raises:
        InputError: the seeds leave some keypoint unseen in 3D (no region can hold it).
    """
    used = {c.name for c in cams}
    kept = [i for i, c in enumerate(all_cams) if c.name in used]
    seed_3d = triangulate_dlt(cams, seed_2d[:, kept])
    if not np.isfinite(seed_3d).all(axis=2).any(axis=0).all():
        raise InputError(
            f"skeleton {skeleton.name!r} has no regions and the seed labels do not show "
            "every keypoint in two views, so none can be inferred; the pose graph boxes and "
            "assigns keypoints region by region.",
            fix="group the keypoints into regions of 1 to 4 in the skeleton file (e.g. "
            "head, back, paws, tail), or label every keypoint in a seed frame.",
        )
    regions = infer_regions(skeleton.keypoints, seed_3d)
    warnings.append(
        f"skeleton {skeleton.name!r} names no regions: inferred by proximity in the "
        f"{len(seed_3d)} seed frames: { {r: list(m) for r, m in regions.items()} }."
    )
    return replace(skeleton, regions=regions)


def _frame_source(
    videos_dir: Path | None,
    cams: list[Camera],
    predictions: list[str] | None,
    frames: int | None,
    warnings: list[str],
) -> tuple[list[Camera], list[Path], int]:
    """The cameras, their videos (none without ``videos_dir``) and the frames to label."""
    if videos_dir is not None:
        cams, paths = _videos(videos_dir, cams)
        return cams, paths, _common_length(paths, frames, warnings)
    if predictions is None:
        raise InputError(
            "pose needs videos to detect marks in when no 2D candidates are given.",
            fix="pass --videos DIR, or --candidates DIR with a 2D model's predictions.",
        )
    warnings.append(
        "no videos: the 2D candidates are the only evidence; no model is shown a frame "
        "or crop (the offline solvers and the 3D checks decide), and the overlay figure "
        "draws the points on blank frames."
    )
    return cams, [], _predictions_length(predictions, frames)


def _predictions_length(paths: list[str], frames: int | None) -> int:
    """Frames every 2D prediction file has (``frames`` if given and not more)."""
    lengths = [int(read_keypoints(p).points.shape[0]) for p in paths]
    n = min(lengths)
    if frames is not None:
        if frames > n:
            each = ", ".join(f"{Path(p).name} {k}" for p, k in zip(paths, lengths, strict=True))
            raise InputError(
                f"--frames {frames} but the shortest 2D prediction file has {n} frames ({each}).",
                fix=f"pass --frames {n} or less.",
            )
        n = frames
    return n


def _default_skeleton(seeds: Path) -> Skeleton:
    if seeds.suffix.lower() == ".csv":
        return skeleton_for_seeds(seeds)
    raise InputError(
        f"seeds {seeds} are a folder of labelled files; which skeleton they follow is not known.",
        fix="pass --skeleton FILE (the SLEAP .slp, DeepLabCut config.yaml, anipose config "
        "or skeleton TOML of the labels).",
    )


def _fitting_cameras(
    calibration: Path, cams: list[Camera], seed_2d: NDArray[np.float64]
) -> tuple[list[Camera], list[str]]:
    """The cameras whose seed labels fit the calibration, and what was found."""
    seen = [bool(np.isfinite(seed_2d[:, v, :, 0]).any()) for v in range(len(cams))]
    if sum(seen) < 2:
        return cams, []
    labelled = [c for c, s in zip(cams, seen, strict=True) if s]
    diag = diagnose_calibration(labelled, seed_2d[:, seen])
    said = [f"calibration {calibration.name} on the seed labels: {m}" for m in diag.messages()]
    # only a camera that shares its parameters with another is left out here; any other
    # misfit is refused with the seeds' reprojection errors when the run starts
    twins = {c for group in diag.duplicates for c in group}
    wrong = [c for c in diag.inconsistent if c in twins]
    if wrong:
        said.append(
            f"camera(s) {wrong} left out: they share their parameters with another camera "
            "and their seed labels do not fit them."
        )
    return [c for c in cams if c.name not in wrong], said


def _check_kept(calibration: Path, cams: list[Camera]) -> None:
    failed = [c for c in check_calibration(cams) if not c.passed]
    if failed:
        raise InputError(
            f"calibration {calibration} fails {', '.join(c.name for c in failed)} on cameras "
            f"{[c.name for c in cams]}: " + " ".join(c.message for c in failed),
            fix="correct the file or recalibrate (e.g. anipose calibrate); triangulation "
            "through these cameras would be wrong.",
        )


def _videos(folder: Path, cams: list[Camera]) -> tuple[list[Camera], list[Path]]:
    """One video per camera of ``cams``."""
    if not folder.is_dir():
        raise InputError(
            f"video folder {folder} does not exist.",
            fix="pass a folder holding one video per camera (the camera named in the file "
            "name, or one folder per camera).",
        )
    names = [c.name for c in cams]
    try:
        found = find_camera_files(folder, names, prefer=VIDEO_SUFFIXES)
    except InputError:
        found = CameraFiles({}, tuple(names), (), ())
    if found.cameras_without_file:
        missing = ", ".join(repr(c) for c in found.cameras_without_file)
        raise InputError(
            f"no video file for camera {missing} in {folder} ({', '.join(VIDEO_SUFFIXES)}; "
            f"videos found: {[p.name for p in found.files.values()]}).",
            fix="name each camera's video after it (e.g. session_side.mp4, or side/...mp4), "
            "or remove the camera from the calibration.",
        )
    return cams, [found.files[c.name] for c in cams]


def _predictions(folder: Path | None, cams: list[Camera]) -> list[str] | None:
    if folder is None:
        return None
    found = find_camera_files(folder, [c.name for c in cams])
    if found.cameras_without_file:
        raise InputError(
            f"no 2D prediction file for camera(s) {list(found.cameras_without_file)} in "
            f"{folder} (files found: {[p.name for p in found.files.values()]}).",
            fix="give every camera's predictions, the camera named in the file name.",
        )
    return [str(found.files[c.name]) for c in cams]


def _common_length(paths: list[Path], frames: int | None, warnings: list[str]) -> int:
    """Frames every view has (``frames`` if given): checks frame rates and lengths."""
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
    return n


def _seed_limits(
    calibration: Path,
    cams: list[Camera],
    seed_2d: NDArray[np.float64],
    skeleton: Skeleton,
    options: PoseOptions,
    warnings: list[str],
) -> PoseOptions:
    """``options`` with the check limits raised to what the seed labels need."""
    seed_3d = triangulate_dlt(cams, seed_2d)
    reproj = reprojection_errors(cams, seed_3d, seed_2d)
    # limits grow with honest label noise, never with a calibration the seeds contradict
    limit = SEED_FIT_FACTOR * options.reprojection_px
    medians = {c.name: np.nanmedian(reproj[:, v]) for v, c in enumerate(cams)}
    bad = [f"{n} {m:.1f} px" for n, m in medians.items() if np.isfinite(m) and m > limit]
    if bad:
        raise InputError(
            f"the seed labels do not fit calibration {calibration}: median reprojection "
            f"error {', '.join(bad)} (limit {limit:g} px).",
            fix="check that the calibration belongs to these cameras and videos (names, "
            "image size, intrinsics not swapped or transposed); recalibrate if needed.",
        )
    lengths = median_bone_lengths(seed_3d, skeleton.bone_index)
    dev = np.abs(bone_length_errors(seed_3d, skeleton.bone_index, lengths))
    worst_px = float(np.nanmax(reproj)) if np.isfinite(reproj).any() else 0.0
    worst_bone = float(np.nanmax(dev)) if np.isfinite(dev).any() else 0.0
    px = max(options.reprojection_px, LIMIT_MARGIN * worst_px)
    bone = max(options.bone_tolerance, LIMIT_MARGIN * worst_bone)
    if px == options.reprojection_px and bone == options.bone_tolerance:
        return options
    # a keypoint predicted from 3D lands as far from its label as the seeds reproject
    gate = max(options.match_gate_px, px)
    jump = max(options.jump_bound_px, 2 * px)
    margin = max(options.region_margin_px, px)
    warnings.append(
        f"the seed labels reproject at up to {worst_px:.1f} px and their bones deviate up to "
        f"{100 * worst_bone:.0f} % from their medians: check limits raised to "
        f"{px:.1f} px and {100 * bone:.0f} % ({LIMIT_MARGIN:g}x the seeds; the defaults are "
        f"{options.reprojection_px:g} px, {100 * options.bone_tolerance:.0f} %), the "
        f"matching gate and region margin to {gate:.1f} px and the jump bound to {jump:.1f} px."
    )
    return options.model_copy(
        update={
            "reprojection_px": px,
            "bone_tolerance": bone,
            "match_gate_px": gate,
            "jump_bound_px": jump,
            "region_margin_px": margin,
        }
    )


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
    "LIMIT_MARGIN",
    "VIDEO_SUFFIXES",
    "build_pose_graph",
    "resolve_inputs",
    "run_pose",
    "skeleton_for_seeds",
]
