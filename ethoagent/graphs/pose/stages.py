"""The pose graph's node functions and its frame loop: each node takes (state, ``PoseEnv``).

``graphs.pose.graph`` binds the env with ``functools.partial`` and wires the nodes (prepare
-> label, one chunk of frames per step -> report); a node can be called alone on a small
state. ``label_frame`` runs the per-view stages (``graphs.pose.item_stages``) and the
triangulation stage with its escalations over one frame. With ``refine_3d`` the loop carries
two readings of every frame, each on its own track: the refined one and the stage-wise one
(no 3D refinement); per chunk and keypoint, checks choose between them
(``graphs.pose.hypotheses``).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ethoagent.config import Budget
from ethoagent.errors import InputError
from ethoagent.graphs.kit.env import NodeEnv
from ethoagent.graphs.kit.nodes import (
    Escalation,
    Feedback,
    ItemOutcome,
    Stage,
    StageContext,
    run_item,
    run_stage,
)
from ethoagent.graphs.kit.runtime import Runtime
from ethoagent.graphs.pose.hypotheses import STAGEWISE, Reading, chosen_points
from ethoagent.graphs.pose.inputs import PoseInputs, PoseState
from ethoagent.graphs.pose.item_stages import (
    LR_MARGIN_MM,
    BodyAxes,
    Env,
    ViewFrame,
    ask_assignment,
    body_axes,
    make_assign_stage,
    make_harmonise_stage,
    make_regions_stage,
    missing_axis_roles,
    usable_boxes,
)
from ethoagent.graphs.pose.options import PoseOptions
from ethoagent.graphs.pose.reacquire import Checks, reacquired_points
from ethoagent.graphs.pose.readmit import (
    Limits,
    make_named_escalation,
    named_points,
    readmit_named,
)
from ethoagent.graphs.pose.refind import BodySearch, search_lost_frame
from ethoagent.graphs.pose.report import write_pose_outputs
from ethoagent.graphs.pose.track import FrameResult, Track, TrackChecks
from ethoagent.graphs.pose.verify import kept_proposal, recording, side_offsets
from ethoagent.graphs.triangulate.graph import (
    FrameInput,
    FramePoints,
    TriangulationLimits,
    make_triangulation_stage,
    worst_reprojection,
)
from ethoagent.io.keypoints import read_keypoints
from ethoagent.io.seeds import read_seeds
from ethoagent.io.video import VideoReader
from ethoagent.model.camera import Camera
from ethoagent.model.checks import CheckResult
from ethoagent.tools.cameras import check_calibration, project_points
from ethoagent.tools.detect import (
    Candidates,
    candidates_from_predictions,
    detect_marks,
)
from ethoagent.tools.triangulate import (
    median_bone_lengths,
    reprojection_errors,
    triangulate_dlt,
)

# --- stage 4: triangulation with a model re-ask -------------------------------------------


def reading_2d(views: Sequence[ViewFrame]) -> NDArray[np.float64]:
    """The 2D labels ``(views, keypoints, 2)`` pixels that the assignments give."""
    out = np.full((len(views), len(views[0].assignment) if views else 0, 2), np.nan)
    for v, vf in enumerate(views):
        got = vf.assignment >= 0
        out[v, got] = vf.candidates[vf.assignment[got]]
    return out


def make_left_right_check(axes: BodyAxes) -> Callable[[FrameInput, FramePoints], CheckResult]:
    """A check that every left/right pair lies on its own side of the body axis in 3D."""
    names = axes.skeleton.keypoints

    def left_right(inp: FrameInput, out: FramePoints) -> CheckResult:
        off = side_offsets(axes, out.points_3d)
        wrong = [
            f"{names[a]}/{names[b]}"
            for (a, b), o in zip(axes.skeleton.left_right_index, off, strict=True)
            if np.isfinite(o) and o < -LR_MARGIN_MM
        ]
        return CheckResult(
            name="left_right",
            passed=not wrong,
            value=float(len(wrong)),
            threshold=0.0,
            message="left and right keypoints lie on their own sides of the body"
            if not wrong
            else f"{wrong} lie on the wrong sides of the body axis (swapped in every view?)",
        )

    return left_right


def make_mirror_escalation(
    cameras: Sequence[Camera], axes: BodyAxes
) -> Escalation[FrameInput, FramePoints]:
    """Swap, in every view, the left/right pairs that lie on the wrong sides in 3D."""
    names = axes.skeleton.keypoints

    async def mirror(
        inp: FrameInput, last: FramePoints | None, feedback: Feedback, ctx: StageContext
    ) -> FramePoints:
        reading = (last.points_2d if last is not None else inp.points_2d).copy()
        points = last.points_3d if last is not None else triangulate_dlt(cameras, reading[None])[0]
        off = side_offsets(axes, points)
        swapped = []
        for (a, b), o in zip(axes.skeleton.left_right_index, off, strict=True):
            if np.isfinite(o) and o < -LR_MARGIN_MM:
                reading[:, [a, b]] = reading[:, [b, a]]
                swapped.append(f"{names[a]}<->{names[b]}")
        pts = ctx.tool("triangulate_dlt", triangulate_dlt, list(cameras), points_2d=reading[None])
        return FramePoints(
            points_3d=pts[0], points_2d=reading, method="mirrored " + (", ".join(swapped) or "none")
        )

    return Escalation(
        "mirror_pairs",
        "swap left/right pairs that lie on the wrong side of the body in every view",
        mirror,
    )


def make_reask_escalation(env: Env, views: list[ViewFrame]) -> Escalation[FrameInput, FramePoints]:
    """Re-ask ``pose/assign`` for the keypoints and views whose reprojection failed."""

    async def reask(
        inp: FrameInput, last: FramePoints | None, feedback: Feedback, ctx: StageContext
    ) -> FramePoints:
        reading = inp.points_2d.copy()
        base = (
            last
            if last is not None
            else FramePoints(
                points_3d=triangulate_dlt(env.cameras, reading[None])[0],
                points_2d=reading,
                method="",
            )
        )
        err = reprojection_errors(env.cameras, base.points_3d[None], reading[None])[0]
        bad = np.argwhere(np.nan_to_num(err, nan=0.0) > env.options.reprojection_px)
        for v in sorted({int(b[0]) for b in bad}):
            vf = views[v]
            for region, idx in env.skeleton.region_index.items():
                kps = [int(k) for vv, k in bad if vv == v and k in idx]
                box = vf.boxes.get(region)
                if not kps or box is None:
                    continue
                names = env.skeleton.keypoints
                named = ", ".join(f"{names[k]} ({err[v, k]:.1f} px)" for k in kps)
                chosen = await ask_assignment(
                    env,
                    vf,
                    region,
                    box,
                    ctx,
                    keypoints=kps,
                    excluded=[int(vf.assignment[k]) for k in kps if vf.assignment[k] >= 0],
                    feedback=f"In view {vf.name} these marks reproject badly from 3D: {named}. "
                    + feedback.as_text(),
                )
                for k in kps:
                    r = chosen.get(k, -1)
                    reading[v, k] = vf.candidates[r] if r >= 0 else np.nan
        pts = ctx.tool("triangulate_dlt", triangulate_dlt, env.cameras, points_2d=reading[None])
        return FramePoints(points_3d=pts[0], points_2d=reading, method="re-asked model")

    return Escalation(
        "reask_model",
        "ask the model again for the keypoints and views that failed, naming them",
        reask,
    )


# --- the frame loop ------------------------------------------------------------------------


async def _read_views(rt: Runtime, env: Env, frame: int, views: list[ViewFrame]) -> dict[str, int]:
    """Run regions, assign and harmonise over every view of ``frame``, filling ``views``.

    Returns:
        Model calls per stage (``regions``, ``assign``, ``harmonise``) and ``triangulate: 0``.
    """
    calls = {"regions": 0, "assign": 0, "triangulate": 0}

    async def stage_over_views(stage: Stage[ViewFrame, Any]) -> list[ItemOutcome[Any]]:
        outcomes = await run_stage(
            stage,
            [(f"frame {frame} view {vf.name}", vf) for vf in views],
            client=rt.client,
            tracer=rt.tracer,
            supervisor=rt.supervisor,
            concurrency=env.options.concurrency,
        )
        calls[stage.name] = calls.get(stage.name, 0) + sum(o.model_calls for o in outcomes)
        return outcomes

    for vf, o in zip(views, await stage_over_views(make_regions_stage(env)), strict=True):
        vf.boxes = usable_boxes(vf, o)
    for vf, o in zip(views, await stage_over_views(make_assign_stage(env)), strict=True):
        if o.output is not None and o.status == "accepted":
            vf.assignment, vf.distance = o.output.index, o.output.distance
    for vf, o in zip(views, await stage_over_views(make_harmonise_stage()), strict=True):
        if o.output is not None:
            vf.assignment, vf.distance = o.output.index, o.output.distance
    return calls


def _view_frames(
    env: Env,
    frame: int,
    candidates: Sequence[NDArray[np.float64]],
    predicted_3d: NDArray[np.float64],
    identities: Sequence[NDArray[np.int64]] | None,
) -> list[ViewFrame]:
    """One ``ViewFrame`` per view of ``frame``: its candidates and the track's prediction."""
    cams, n_kp = env.cameras, len(env.skeleton.keypoints)
    pred2d = project_points(cams, predicted_3d).transpose(1, 0, 2)  # (V, K, 2)
    return [
        ViewFrame(
            frame=frame,
            view=v,
            name=cams[v].name,
            size=cams[v].size,
            candidates=np.asarray(c, dtype=np.float64).reshape(-1, 2),
            predicted=pred2d[v],
            assignment=np.full(n_kp, -1),
            distance=np.full(n_kp, np.nan),
            identity=None if identities is None else identities[v],
        )
        for v, c in enumerate(candidates)
    ]


async def label_frame(
    rt: Runtime,
    env: Env,
    frame: int,
    candidates: Sequence[NDArray[np.float64]],
    predicted_3d: NDArray[np.float64],
    reference_lengths: NDArray[np.float64],
    identities: Sequence[NDArray[np.int64]] | None = None,
) -> FrameResult:
    """Run the four stages on one frame; return its 3D points, 2D reading and outcome.

    Args:
        rt: the run's model client, tracer and supervisor.
        env: the stages' context (options, skeleton, cameras, frames, examples).
        frame: the frame's index in the videos.
        candidates: per view ``(n, 2)`` pixels, most confident first.
        identities: per view ``(n,)`` the skeleton keypoint a 2D model named each
            candidate (-1 = unnamed); ``None`` for detected marks.
        predicted_3d: ``(keypoints, 3)`` mm, from the last accepted frames.
        reference_lengths: ``(bones,)`` mm, from the seed frames.
    """
    opts = env.options
    cams = env.cameras
    n_kp = len(env.skeleton.keypoints)
    views = _view_frames(env, frame, candidates, predicted_3d, identities)
    calls = await _read_views(rt, env, frame, views)

    lr = [] if env.axes is None else [make_left_right_check(env.axes)]
    mirror = [] if env.axes is None else [make_mirror_escalation(cams, env.axes)]
    named = None if identities is None else named_points(candidates, identities, n_kp)
    pairs = env.skeleton.left_right_index
    by_names = (
        [] if named is None else [make_named_escalation(cams, named, opts.reprojection_px, pairs)]
    )
    proposals: list[FramePoints] = []
    stage = recording(
        make_triangulation_stage(
            cams,
            reference_lengths,
            env.skeleton,
            limits=TriangulationLimits(
                reprojection_px=opts.reprojection_px,
                bone_tolerance=opts.bone_tolerance,
                min_coverage=opts.min_coverage,
            ),
            extra_escalations=[*mirror, *by_names, make_reask_escalation(env, views)],
            budget=Budget(max_retries=0, max_attempts=5 + len(by_names), max_model_calls=24),
            escalate=opts.refine_3d,
            extra_checks=lr,
            offered=None if named is None else np.isfinite(named[..., 0]),
        ),
        proposals,
    )
    inp = FrameInput(frame=frame, points_2d=reading_2d(views))
    outcome = await run_item(
        stage, f"frame {frame}", inp, client=rt.client, tracer=rt.tracer, supervisor=rt.supervisor
    )
    calls["triangulate"] = outcome.model_calls
    out, reason = outcome.output, outcome.flag_reason
    if outcome.status != "accepted" and proposals:
        out, fails = kept_proposal(stage, inp, proposals)
        reason = f"{reason}; kept {out.method} (fails {', '.join(fails) or 'none'})"
    pts3 = out.points_3d if out is not None else np.full((n_kp, 3), np.nan)
    pts2 = out.points_2d if out is not None else inp.points_2d
    if named is not None:
        pts3, pts2 = _readmitted(env, named, reference_lengths, pts3, pts2)
    return FrameResult(
        points_3d=pts3,
        points_2d=pts2,
        status=outcome.status,
        method=out.method if out is not None else "none",
        reprojection_px=worst_reprojection(cams, pts3, pts2),
        model_calls=calls,
        flag_reason=reason,
    )


def _readmitted(
    env: Env,
    named: NDArray[np.float64],
    reference_lengths: NDArray[np.float64],
    points_3d: NDArray[np.float64],
    points_2d: NDArray[np.float64],
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """A frame's points and reading with the named points that agree in 3D taken back."""
    opts, skeleton = env.options, env.skeleton
    limits = Limits(
        opts.reprojection_px, opts.bone_tolerance, reference_lengths, skeleton.bone_index
    )
    pts3, pts2, _ = readmit_named(env.cameras, points_3d, points_2d, named, limits)
    return pts3, pts2


SEED_FIT_FACTOR = 4.0
"""A view whose seed labels reproject worse than this many ``reprojection_px`` (median)
does not match its calibration."""


def _check_seeds_fit(
    inputs: PoseInputs,
    cams: Sequence[Camera],
    seed_3d: NDArray[np.float64],
    seed_2d: NDArray[np.float64],
) -> None:
    """Refuse a calibration the hand-labelled seeds contradict.

    E.g. swapped intrinsics, or a camera block from another rig: every frame would be
    flagged otherwise.

    Args:
        inputs: the run's inputs (seeds file, calibration file, ``reprojection_px``).
        cams: the calibration's cameras, one per view.
        seed_3d: ``(seeds, keypoints, 3)`` float64, calibration units; NaN = missing.
        seed_2d: ``(seeds, views, keypoints, 2)`` float64, pixels; NaN = missing.

    Raises:
        InputError: a view's median seed reprojection error exceeds
            ``SEED_FIT_FACTOR * reprojection_px``.
    """
    err = reprojection_errors(cams, seed_3d, seed_2d)
    limit = SEED_FIT_FACTOR * inputs.options.reprojection_px
    bad = []
    for v, cam in enumerate(cams):
        e = err[:, v][~np.isnan(err[:, v])]
        if e.size and float(np.median(e)) > limit:
            bad.append(f"{cam.name} {float(np.median(e)):.1f} px")
    if bad:
        raise InputError(
            f"the seed labels in {inputs.seeds} do not fit calibration {inputs.calibration}: "
            f"median reprojection error {', '.join(bad)} (limit {limit:g} px).",
            fix="check that the calibration belongs to these cameras and videos (names, "
            "image size, intrinsics not swapped or transposed); recalibrate if needed.",
        )


# --- graph ----------------------------------------------------------------------------------


def load_predictions(
    paths: Sequence[str],
    frames: int,
    min_confidence: float = 0.0,
    keypoints: Sequence[str] = (),
) -> list[list[Candidates]]:
    """A 2D pose model's predictions (one keypoint file per view) as candidates.

    Every keypoint of every individual in a file is a candidate (the graph decides which
    is which); likelihoods of 0 or below ``min_confidence`` are dropped. A candidate's
    ``keypoint`` is the index in ``keypoints`` (the skeleton's) of the keypoint the model
    named it, -1 where the skeleton has no such keypoint.

    Returns:
        ``out[frame][view]`` candidates for the first ``frames`` frames.

    Raises:
        InputError: a file has fewer frames than the videos, or is not 2D.
    """
    per_view = []
    for path in paths:
        data = read_keypoints(path)
        if data.points.shape[-1] != 2 or data.points.shape[0] < frames:
            raise InputError(
                f"2D predictions {path} have shape {data.points.shape}; need at least "
                f"{frames} frames of 2D points.",
                fix="pass the pose model's 2D output for the same videos.",
            )
        n = data.points.shape[1] * data.points.shape[2]
        named = [keypoints.index(k) if k in keypoints else -1 for k in data.keypoints]
        per_view.append(
            (
                data.points[:frames].reshape(frames, n, 2),
                data.confidence[:frames].reshape(frames, n),
                np.tile(np.asarray(named, dtype=np.int64), data.points.shape[1]),
            )
        )
    width = max(p.shape[1] for p, _, _ in per_view)
    points = np.full((frames, len(paths), width, 2), np.nan)
    conf = np.zeros((frames, len(paths), width))
    for v, (p, c, _) in enumerate(per_view):
        points[:, v, : p.shape[1]] = p
        conf[:, v, : p.shape[1]] = np.where(np.isnan(c), 1.0, c)
    out = candidates_from_predictions(points, conf, min_confidence=min_confidence)
    for v, (_, _, ident) in enumerate(per_view):
        for row in out:
            got = row[v]
            row[v] = Candidates(
                got.xy, got.brightness, got.area_px, got.confidence, ident[got.keypoint]
            )
    return out


class _Videos:
    """Open readers, one per view, with a small frame cache (few-shot examples reuse frames).

    Without videos (2D candidates only), a view's frame is a black image of its camera's
    size: crops keep their pixel geometry and no model is shown one.
    """

    def __init__(self, paths: Sequence[str], cameras: Sequence[Camera]) -> None:
        self.readers = [VideoReader(p) for p in paths]
        self.sizes = [c.size for c in cameras]
        self._cache: dict[tuple[int, int], NDArray[np.uint8]] = {}

    def frame(self, view: int, index: int) -> NDArray[np.uint8]:
        if not self.readers:
            w, h = self.sizes[view]
            return np.zeros((h, w, 3), dtype=np.uint8)
        key = (view, index)
        if key not in self._cache:
            if len(self._cache) > 256:
                self._cache.clear()
            self._cache[key] = self.readers[view][index]
        return self._cache[key]

    def close(self) -> None:
        for r in self.readers:
            r.close()


# --- the run's context and the frame loop's track ----------------------------------------


class PoseEnv(NodeEnv[PoseInputs, PoseOptions]):
    """The pose nodes' ``NodeEnv``, with the calibration's cameras read once per run."""

    @functools.cached_property
    def cameras(self) -> list[Camera]:
        """The calibration's cameras, read on first use and kept for the run's chunks."""
        return self.inputs.read_cameras()


def _seed_result(cams: Sequence[Camera], seeds: dict[str, NDArray[Any]], s: int) -> FrameResult:
    """Seed frame ``s`` (index into the seeds) as an accepted frame result."""
    return FrameResult(
        points_3d=seeds["points_3d"][s],
        points_2d=seeds["points_2d"][s],
        status="accepted",
        method="seed labels",
        reprojection_px=worst_reprojection(cams, seeds["points_3d"][s], seeds["points_2d"][s]),
        model_calls={},
        flag_reason=None,
    )


def _frame_candidates(
    env: PoseEnv, videos: _Videos, predictions: list[list[Candidates]] | None, frame: int
) -> list[NDArray[np.float64]]:
    """Each view's ``(n, 2)`` candidate pixels: the 2D model's, else detected marks."""
    if predictions is not None:
        return [c.xy for c in predictions[frame]]
    rt = env.runtime
    with rt.tracer.scope(node="detect", item=f"frame {frame}"):
        return [
            rt.tool(
                "detect_marks",
                detect_marks,
                videos.frame(v, frame),
                max_candidates=env.options.max_candidates,
            ).xy
            for v in range(len(env.cameras))
        ]


def _frame_row(
    frame: int,
    result: FrameResult,
    cams: Sequence[Camera],
    points_3d: NDArray[np.float64],
    points_2d: NDArray[np.float64],
    stagewise: list[str],
    reacquired: list[str],
) -> dict[str, Any]:
    """One frame's line of ``stages/pose_NNNN.json`` (the refined reading's outcome).

    ``points_3d`` ``(keypoints, 3)`` and ``points_2d`` ``(views, keypoints, 2)`` are the
    frame's output (``stagewise``: the keypoints taken from the stage-wise reading;
    ``reacquired``: those re-acquired in the output, ``graphs.pose.reacquire``).
    """
    worst = worst_reprojection(cams, points_3d, points_2d)
    return {
        "frame": frame,
        "status": result.status,
        "method": result.method,
        "reprojection_px": None if not np.isfinite(worst) else round(worst, 3),
        "model_calls": sum(result.model_calls.values()),
        "flag_reason": result.flag_reason,
        "stagewise_keypoints": ";".join(stagewise),
        "reacquired_keypoints": ";".join(reacquired),
    }


# --- nodes ---------------------------------------------------------------------------------


def prepare(state: PoseState, env: PoseEnv) -> dict[str, Any]:
    """Check the calibration, triangulate the seed labels (``seeds``); plan the chunks."""
    rt, run, inputs, opts = env.runtime, env.run, env.inputs, env.options
    skeleton = inputs.skeleton
    cams = env.cameras
    with rt.tracer.scope(node="prepare"):
        for result in check_calibration(cams):
            rt.tracer.check(result)
        seed = rt.tool(
            "read_seeds",
            read_seeds,
            inputs.seeds,
            [c.name for c in cams],
            skeleton.keypoints,
            frames=inputs.seed_frames,
        )
        seed_frames, seed_2d = seed.frames, seed.points_2d
        seed_3d = rt.tool("triangulate_dlt", triangulate_dlt, cams, points_2d=seed_2d)
        _check_seeds_fit(inputs, cams, seed_3d, seed_2d)
    if seed_frames[0] != 0:
        raise InputError(
            f"the first seed frame is {seed_frames[0]}; labelling runs forward from a "
            "labelled frame 0.",
            fix=f"label frame 0 too in {inputs.seeds} (3 seeds: first, middle, last).",
        )
    if np.isnan(median_bone_lengths(seed_3d, skeleton.bone_index)).any():
        raise InputError(
            f"seed labels in {inputs.seeds} leave some bones unmeasured (a keypoint seen "
            "in fewer than two views in every seed frame).",
            fix="label every keypoint in at least two views of at least one seed frame.",
        )
    run.save_arrays("seeds", frames=np.asarray(seed_frames), points_2d=seed_2d, points_3d=seed_3d)
    track = {
        "history": [0],
        "history_points": [seed_3d[0].tolist()],
        "anchor": seed_3d[0].tolist(),
        "flagged": [],
    }
    # the stage-wise reading is a second hypothesis only where the 3D stage refines
    second = opts.refine_3d and opts.stagewise_hypothesis
    return {
        "chunk": 0,
        "n_chunks": -(-inputs.frames // opts.chunk_frames),
        **track,
        **({"stagewise": dict(track)} if second else {}),
        "routes": {},
        "model_calls": {},
    }


def _track_from_state(saved: dict[str, Any], env: PoseEnv, reference: NDArray[np.float64]) -> Track:
    """A frame loop's track as the last chunk left it (``reference``: seed bones, mm)."""
    opts = env.options
    return Track(
        history=list(saved["history"]),
        history_points=[np.asarray(p, dtype=np.float64) for p in saved["history_points"]],
        anchor=np.asarray(saved["anchor"], dtype=np.float64),
        flagged=list(saved["flagged"]),
        cameras=env.cameras,
        few_shot=opts.few_shot,
        checks=TrackChecks(
            reference, env.inputs.skeleton.bone_index, opts.reprojection_px, opts.bone_tolerance
        ),
    )


def _track_state(track: Track) -> dict[str, Any]:
    """What the next chunk needs of a track (JSON-able, for the checkpoint)."""
    return {
        "history": track.history,
        "history_points": [p.tolist() for p in track.history_points],
        "anchor": track.anchor.tolist(),
        "flagged": track.flagged,
    }


def _readings(
    state: PoseState,
    env: PoseEnv,
    stage_env: Env,
    reference: NDArray[np.float64],
    search: Callable[[], BodySearch],
) -> list[Reading]:
    """The refined reading and, where the state carries it, the stage-wise one."""
    track = _track_from_state(dict(state), env, reference)
    out = [
        Reading("refined", track, replace(stage_env, labelled_examples=track.examples), search())
    ]
    saved = state.get("stagewise")
    if saved:
        alt = _track_from_state(saved, env, reference)
        opts = env.options.model_copy(update={"refine_3d": False, "model_every_stage": False})
        alt_env = replace(stage_env, options=opts, labelled_examples=alt.examples)
        out.append(Reading(STAGEWISE, alt, alt_env, search()))
    return out


async def _read_frame(
    env: PoseEnv,
    reading: Reading,
    frame: int,
    candidates: list[NDArray[np.float64]],
    names: list[NDArray[np.int64]] | None,
    reference: NDArray[np.float64],
) -> None:
    """Label ``frame`` in ``reading``: its stages on its own track, then a lost-body search."""
    rt = env.runtime
    scope = {} if reading.name == "refined" else {"reading": reading.name}
    with rt.tracer.scope(**scope):
        track = reading.track
        result = await label_frame(
            rt, reading.env, frame, candidates, track.predict(frame), reference, names
        )
        track.add(frame, result)
        result = search_lost_frame(rt, reading.search, track, frame, candidates, result)
    reading.results.append(result)


def _reacquired(
    env: PoseEnv,
    axes: BodyAxes | None,
    reference: NDArray[np.float64],
    candidates: list[list[NDArray[np.float64]]],
    points: tuple[NDArray[np.float64], NDArray[np.float64]],
    frames: range,
) -> tuple[NDArray[np.float64], NDArray[np.float64], list[list[str]]]:
    """``points`` (3D, 2D) with lost keypoints re-acquired, if on; per frame their names."""
    opts, skeleton = env.options, env.inputs.skeleton
    if not (opts.refine_3d and opts.reacquire_lost):
        return points[0], points[1], [[] for _ in frames]
    checks = Checks(reference, skeleton.bone_index, opts.bone_tolerance, axes)
    return reacquired_points(
        env.runtime, env.cameras, candidates, points, checks, skeleton.keypoints, frames
    )


async def label(state: PoseState, env: PoseEnv) -> dict[str, Any]:
    """Label one chunk of frames (``pose_NNNN`` arrays, ``stages/pose_NNNN.json``)."""
    rt, run, inputs, opts = env.runtime, env.run, env.inputs, env.options
    skeleton = inputs.skeleton
    cams = env.cameras
    seeds = run.load_arrays("seeds")
    seed_frames = [int(f) for f in seeds["frames"]]
    reference = median_bone_lengths(seeds["points_3d"], skeleton.bone_index)
    videos = _Videos(inputs.videos, cams)
    predictions = (
        rt.tool(
            "load_predictions",
            load_predictions,
            inputs.candidates,
            inputs.frames,
            min_confidence=opts.min_confidence,
            keypoints=skeleton.keypoints,
        )
        if inputs.candidates
        else None
    )
    axes = None if missing_axis_roles(skeleton) else body_axes(skeleton, seeds["points_3d"])
    stage_env = Env(
        options=opts,
        skeleton=skeleton,
        cameras=cams,
        frame_image=videos.frame,
        labelled_examples=lambda frame: [],
        wants_images=rt.client.backend != "offline" and inputs.has_videos,
        axes=axes,
    )
    readings = _readings(
        state,
        env,
        stage_env,
        reference,
        lambda: BodySearch(
            cams, seeds["points_3d"], reference, skeleton.bone_index, opts.bone_tolerance, axes
        ),
    )
    i = state["chunk"]
    frames = range(i * opts.chunk_frames, min(inputs.frames, (i + 1) * opts.chunk_frames))
    chunk_cands: list[list[NDArray[np.float64]]] = []
    try:
        for f in frames:
            if f in seed_frames:
                chunk_cands.append([np.empty((0, 2))] * len(cams))
                for r in readings:
                    r.results.append(_seed_result(cams, seeds, seed_frames.index(f)))
                    r.track.add(f, r.results[-1])
            else:
                cands = _frame_candidates(env, videos, predictions, f)
                chunk_cands.append(cands)
                names = None if predictions is None else [c.keypoint for c in predictions[f]]
                for r in readings:
                    await _read_frame(env, r, f, cands, names, reference)
            rt.report_progress("pose", 1, inputs.frames)
    finally:
        videos.close()
    pts3, pts2, taken = chosen_points(
        rt, readings, reference, skeleton, opts.bone_tolerance, frames
    )
    pts3, pts2, found = _reacquired(env, axes, reference, chunk_cands, (pts3, pts2), frames)
    run.save_arrays(f"pose_{i:04d}", points_3d=pts3, points_2d=pts2)
    rows = [
        _frame_row(f, r, cams, pts3[t], pts2[t], taken, found[t])
        for t, (f, r) in enumerate(zip(frames, readings[0].results, strict=True))
    ]
    run.write_json_output(f"stages/pose_{i:04d}.json", rows)
    return {
        "chunk": i + 1,
        **_track_state(readings[0].track),
        **({"stagewise": _track_state(readings[1].track)} if len(readings) > 1 else {}),
        "routes": _counted(state["routes"], readings[0].results),
        "model_calls": _calls(state["model_calls"], readings),
    }


def _counted(routes: dict[str, int], results: list[FrameResult]) -> dict[str, int]:
    """``routes`` plus each result's route (its method, or ``flagged``)."""
    out = dict(routes)
    for result in results:
        key = "flagged" if result.status != "accepted" else result.method
        out[key] = out.get(key, 0) + 1
    return out


def _calls(calls: dict[str, int], readings: list[Reading]) -> dict[str, int]:
    """``calls`` plus the model calls per stage of every reading's frames."""
    out = dict(calls)
    for reading in readings:
        for result in reading.results:
            for k, c in result.model_calls.items():
                out[k] = out.get(k, 0) + c
    return out


def more(state: PoseState) -> str:
    """The next node after a chunk: ``label`` again or ``report``."""
    return "label" if state["chunk"] < state["n_chunks"] else "report"


def report(state: PoseState, env: PoseEnv) -> dict[str, Any]:
    """Write the run's outputs (``graphs.pose.report``)."""
    outputs = write_pose_outputs(env.runtime, env.inputs, state["n_chunks"], state, env.cameras)
    return {"outputs": outputs}
