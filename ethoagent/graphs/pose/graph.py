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
"""

from __future__ import annotations

import csv
import json
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from langgraph.graph import END, START, StateGraph
from numpy.typing import NDArray
from pydantic import BaseModel, Field

from ethoagent.agent.offline import register_solver
from ethoagent.agent.types import Image, Message, Request
from ethoagent.config import Budget
from ethoagent.errors import InputError, ModelOutputError
from ethoagent.graphs.kit.nodes import (
    Escalation,
    Feedback,
    ItemOutcome,
    Stage,
    StageContext,
    run_item,
    run_stage,
)
from ethoagent.graphs.kit.runtime import Runtime, run_graph
from ethoagent.graphs.pose.inputs import PoseInputs, PoseState
from ethoagent.graphs.pose.options import PoseOptions
from ethoagent.graphs.pose.report import write_pose_outputs
from ethoagent.graphs.triangulate.graph import (
    FrameInput,
    FramePoints,
    TriangulationLimits,
    make_triangulation_stage,
    worst_reprojection,
)
from ethoagent.io.calibration import read_calibration
from ethoagent.io.keypoints import read_keypoints
from ethoagent.io.video import VideoReader
from ethoagent.model.camera import Camera
from ethoagent.model.checks import CheckResult
from ethoagent.model.skeleton import SKELETONS, Skeleton
from ethoagent.prompts import load_prompt
from ethoagent.tools.cameras import check_calibration, project_points
from ethoagent.tools.crop import crop_region, draw_numbered_candidates
from ethoagent.tools.detect import (
    Candidates,
    candidates_from_predictions,
    detect_marks,
    match_candidates,
)
from ethoagent.tools.labelling import (
    Box,
    draw_keypoints,
    harmonise_assignment,
    predict_points,
    read_seed_labels,
    region_boxes,
)
from ethoagent.tools.triangulate import (
    bone_length_errors,
    median_bone_lengths,
    reprojection_errors,
    triangulate_dlt,
)

GRAPH_NAME = "pose"
REGIONS_PROMPT = "pose/regions"
ASSIGN_PROMPT = "pose/assign"
CROP_SIZE = (256, 256)
"""Size of the region crops shown to the model, pixels (small regions are enlarged)."""


# --- model answers ---------------------------------------------------------------------


class RegionBox(BaseModel):
    """One region's box in a view, or ``null`` when the region is not visible."""

    region: str
    box: tuple[float, float, float, float] | None = Field(
        description="x0, y0, x1, y1 in pixels of the full frame"
    )


class RegionsAnswer(BaseModel):
    """Answer of ``pose/regions``: one box per body region."""

    regions: list[RegionBox]


class KeypointChoice(BaseModel):
    """One keypoint's candidate number as drawn on the crop, or ``null`` when hidden."""

    keypoint: str
    candidate: int | None


class AssignAnswer(BaseModel):
    """Answer of ``pose/assign``: a candidate number per keypoint of the region."""

    labels: list[KeypointChoice]


# --- stage inputs and proposals ----------------------------------------------------------


@dataclass
class ViewFrame:
    """One view of one frame, as the stages see it.

    Attributes:
        candidates: ``(n, 2)`` pixels, most confident first.
        predicted: ``(keypoints, 2)`` pixels, NaN = no prediction.
        assignment: ``(keypoints,)`` candidate row per keypoint (-1 = none), filled by the
            assign stage.
        distance: ``(keypoints,)`` pixels from each assigned candidate to its prediction.
        boxes: filled by the regions stage.
    """

    frame: int
    view: int
    name: str
    size: tuple[int, int]
    candidates: NDArray[np.float64]
    predicted: NDArray[np.float64]
    assignment: NDArray[np.int64]
    distance: NDArray[np.float64]
    boxes: dict[str, Box | None] = field(default_factory=dict)


class Regions(BaseModel):
    boxes: dict[str, Box | None]
    source: str


class Assignment(BaseModel, arbitrary_types_allowed=True):
    index: NDArray[np.int64]
    distance: NDArray[np.float64]
    source: str


@dataclass
class Env:
    """What the stages' proposers need besides their input (closed over)."""

    options: PoseOptions
    skeleton: Skeleton
    cameras: list[Camera]
    frame_image: Callable[[int, int], NDArray[np.uint8]]
    labelled_examples: Callable[[int], list[tuple[int, NDArray[np.float64]]]]
    wants_images: bool
    axes: BodyAxes | None
    """``None`` where the skeleton lacks the roles of a body axis (no left/right check)."""


def _fmt_xy(points: NDArray[np.float64]) -> list[list[float] | None]:
    return [
        [round(float(x), 2), round(float(y), 2)] if np.isfinite(x) and np.isfinite(y) else None
        for x, y in points
    ]


def _in_box(xy: NDArray[np.float64], box: Box) -> NDArray[np.bool_]:
    x0, y0, x1, y1 = box
    return (xy[:, 0] >= x0) & (xy[:, 0] <= x1) & (xy[:, 1] >= y0) & (xy[:, 1] <= y1)


# --- stage 1: regions --------------------------------------------------------------------


@register_solver(REGIONS_PROMPT)
def _offline_regions(request: Request) -> RegionsAnswer:
    """Boxes around the predicted keypoints; the margin grows with every attempt."""
    p = request.payload
    pred = np.array([xy if xy is not None else [np.nan, np.nan] for xy in p["predicted"]])
    margin = float(p["margin_px"]) * (1 + 0.5 * (int(p["attempt"]) - 1))
    names: list[str] = p["keypoints"]
    regions = {r: [names.index(k) for k in kps] for r, kps in p["regions"].items()}
    boxes = region_boxes(
        pred, regions, margin_px=margin, image_size=(int(p["width"]), int(p["height"]))
    )
    return RegionsAnswer(regions=[RegionBox(region=r, box=b) for r, b in boxes.items()])


def make_regions_stage(env: Env) -> Stage[ViewFrame, Regions]:
    opts = env.options
    skeleton = env.skeleton
    regions = skeleton.region_index

    async def propose(vf: ViewFrame, feedback: Feedback | None, ctx: StageContext) -> Regions:
        known = np.isfinite(vf.predicted).all(axis=1).any()
        if feedback is None and not opts.model_every_stage and known:
            boxes = ctx.tool(
                "region_boxes",
                region_boxes,
                vf.predicted,
                regions,
                margin_px=opts.region_margin_px,
                image_size=vf.size,
            )
            return Regions(boxes=boxes, source="prediction")
        prompt = load_prompt(REGIONS_PROMPT)
        text = prompt.render(
            width=vf.size[0],
            height=vf.size[1],
            regions="\n".join(f"- {r}: {', '.join(kps)}" for r, kps in skeleton.regions.items()),
            candidates=json.dumps(_fmt_xy(vf.candidates)),
            predicted=json.dumps(
                {skeleton.keypoints[k]: xy or "?" for k, xy in enumerate(_fmt_xy(vf.predicted))}
            ),
            feedback=feedback.as_text() if feedback else "",
        )
        images: list[Image] = []
        if env.wants_images:
            shots = env.labelled_examples(vf.frame)[-opts.few_shot :] if opts.few_shot else []
            for f, pts in shots:
                drawn = draw_keypoints(
                    env.frame_image(vf.view, f),
                    pts[vf.view],
                    skeleton.keypoints,
                    groups=skeleton.region_of,
                )
                images.append(Image.from_array(drawn[..., ::-1].copy()))
            images.append(Image.from_array(env.frame_image(vf.view, vf.frame)[..., ::-1].copy()))
        answer = await ctx.ask(
            "vlm",
            [Message("user", text, images=tuple(images))],
            prompt=prompt.ref,
            output=RegionsAnswer,
            payload={
                "frame": vf.frame,
                "view": vf.name,
                "predicted": _fmt_xy(vf.predicted),
                "candidates": _fmt_xy(vf.candidates),
                "width": vf.size[0],
                "height": vf.size[1],
                "margin_px": opts.region_margin_px,
                "attempt": ctx.attempt,
                "keypoints": list(skeleton.keypoints),
                "regions": {r: list(kps) for r, kps in skeleton.regions.items()},
            },
        )
        parsed = answer.require()
        asked: dict[str, Box | None] = {r: None for r in regions}
        for rb in parsed.regions:
            if rb.region not in regions:
                raise ModelOutputError(f"unknown region {rb.region!r}; regions are {list(regions)}")
            asked[rb.region] = rb.box
        return Regions(boxes=asked, source="model")

    def inside(vf: ViewFrame, out: Regions) -> CheckResult:
        w, h = vf.size
        bad = [
            r
            for r, b in out.boxes.items()
            if b is not None and not (0 <= b[0] < b[2] <= w and 0 <= b[1] < b[3] <= h)
        ]
        return CheckResult(
            name="boxes_inside_image",
            passed=not bad,
            value=float(len(bad)),
            threshold=0.0,
            message="every box lies inside the image"
            if not bad
            else f"boxes of {bad} are inverted or outside the {w}x{h} image",
        )

    def hold_candidates(vf: ViewFrame, out: Regions) -> CheckResult:
        given = {r: b for r, b in out.boxes.items() if b is not None}
        empty = [r for r, b in given.items() if not _in_box(vf.candidates, b).any()]
        ok = bool(given) and not empty
        return CheckResult(
            name="boxes_hold_candidates",
            passed=ok,
            value=float(len(empty)),
            threshold=0.0,
            message="every box holds a candidate"
            if ok
            else ("no region was boxed" if not given else f"boxes of {empty} hold no candidate"),
        )

    return Stage(
        name="regions",
        propose=propose,
        checks=[inside, hold_candidates],
        budget=Budget(max_retries=2, max_attempts=3, max_model_calls=4),
        describe=lambda r: f"{r.source}: {r.boxes}",
    )


# --- stage 2: assignment -----------------------------------------------------------------


@register_solver(ASSIGN_PROMPT)
def _offline_assign(request: Request) -> AssignAnswer:
    """Hungarian matching of the predicted positions to the numbered candidates."""
    p = request.payload
    names: list[str] = p["keypoints"]
    pred = np.array([xy if xy is not None else [np.nan, np.nan] for xy in p["predicted"]])
    cand = np.array(p["candidates"], dtype=np.float64).reshape(-1, 2)
    excluded = set(p["excluded"])
    cand[[i for i in range(len(cand)) if i + 1 in excluded]] = np.nan
    gate = float(p["gate_px"]) * (1 + 0.5 * (int(p["attempt"]) - 1))
    matched, _ = match_candidates(cand, pred, gate)
    return AssignAnswer(
        labels=[
            KeypointChoice(keypoint=n, candidate=int(i) + 1 if i >= 0 else None)
            for n, i in zip(names, matched, strict=True)
        ]
    )


async def ask_assignment(
    env: Env,
    vf: ViewFrame,
    region: str,
    box: Box,
    ctx: StageContext,
    *,
    keypoints: Sequence[int] | None = None,
    excluded: Sequence[int] = (),
    feedback: str = "",
) -> dict[int, int]:
    """Ask ``pose/assign`` for one region of one view; return keypoint -> candidate row.

    Args:
        keypoints: the keypoints to ask for (default: all of the region).
        excluded: candidate rows the answer may not use (a failed earlier reading).
    """
    names = env.skeleton.keypoints
    kps = list(keypoints if keypoints is not None else env.skeleton.region_index[region])
    rows = np.flatnonzero(_in_box(vf.candidates, box))
    crop = crop_region(env.frame_image(vf.view, vf.frame), box, pad=4, out_size=CROP_SIZE)
    cand_crop = crop.to_crop(vf.candidates[rows]) if len(rows) else np.empty((0, 2))
    pred_crop = crop.to_crop(vf.predicted[kps])
    excluded_numbers = [int(np.flatnonzero(rows == r)[0]) + 1 for r in excluded if r in rows]
    prompt = load_prompt(ASSIGN_PROMPT)
    text = prompt.render(
        region=region,
        view=" ".join(vf.name.split()),  # a camera name from the file: data, one line
        keypoints=", ".join(names[k] for k in kps),
        candidates="\n".join(f"{i + 1}: {x:.1f}, {y:.1f}" for i, (x, y) in enumerate(cand_crop))
        or "(none)",
        predicted=json.dumps(
            {names[k]: xy or "?" for k, xy in zip(kps, _fmt_xy(pred_crop), strict=True)}
        ),
        exclusions=(
            f"These candidates were tried and failed the 3D check: {excluded_numbers}."
            if excluded_numbers
            else ""
        ),
        feedback=feedback,
    )
    images: tuple[Image, ...] = ()
    if env.wants_images:
        drawn = draw_numbered_candidates(
            np.asarray(crop.image, dtype=np.uint8), cand_crop, list(range(1, len(cand_crop) + 1))
        )
        images = (Image.from_array(np.ascontiguousarray(drawn[..., ::-1])),)
    answer = await ctx.ask(
        "vlm",
        [Message("user", text, images=images)],
        prompt=prompt.ref,
        output=AssignAnswer,
        payload={
            "frame": vf.frame,
            "view": vf.name,
            "region": region,
            "keypoints": [names[k] for k in kps],
            "candidates": cand_crop.tolist(),
            "predicted": _fmt_xy(pred_crop),
            "excluded": excluded_numbers,
            "gate_px": env.options.match_gate_px * float(np.mean(crop.scale)),
            "attempt": ctx.attempt,
        },
    )
    parsed = answer.require()
    out: dict[int, int] = {}
    for choice in parsed.labels:
        if choice.keypoint not in names or names.index(choice.keypoint) not in kps:
            raise ModelOutputError(
                f"keypoint {choice.keypoint!r} is not one of {[names[k] for k in kps]}"
            )
        if choice.candidate is None:
            continue
        if not 1 <= choice.candidate <= len(rows):
            raise ModelOutputError(
                f"candidate {choice.candidate} for {choice.keypoint} does not exist; the "
                f"numbers drawn are 1..{len(rows)}"
            )
        out[names.index(choice.keypoint)] = int(rows[choice.candidate - 1])
    return out


def make_assign_stage(env: Env) -> Stage[ViewFrame, Assignment]:
    opts = env.options
    names = env.skeleton.keypoints
    regions = env.skeleton.region_index

    async def propose(vf: ViewFrame, feedback: Feedback | None, ctx: StageContext) -> Assignment:
        index = np.full(len(names), -1, dtype=np.int64)
        sources = set()
        for region, box in vf.boxes.items():
            if box is None:
                continue
            kps = list(regions[region])
            rows = np.flatnonzero(_in_box(vf.candidates, box))
            predicted = np.isfinite(vf.predicted[kps]).all(axis=1).all()
            if feedback is None and not opts.model_every_stage and predicted:
                matched, _ = ctx.tool(
                    "match_candidates",
                    match_candidates,
                    vf.candidates[rows],
                    vf.predicted[kps],
                    opts.match_gate_px,
                )
                index[kps] = np.where(matched >= 0, rows[np.maximum(matched, 0)], -1)
                sources.add("prediction")
            else:
                chosen = await ask_assignment(
                    env, vf, region, box, ctx, feedback=feedback.as_text() if feedback else ""
                )
                for k, r in chosen.items():
                    index[k] = r
                sources.add("model")
        distance = np.full(len(index), np.nan)
        got = index >= 0
        distance[got] = np.linalg.norm(vf.candidates[index[got]] - vf.predicted[got], axis=1)
        return Assignment(index=index, distance=distance, source="+".join(sorted(sources)))

    def in_boxes(vf: ViewFrame, out: Assignment) -> CheckResult:
        bad = []
        for region, box in vf.boxes.items():
            for k in regions[region]:
                r = out.index[k]
                if r >= 0 and (box is None or not _in_box(vf.candidates[[r]], box)[0]):
                    bad.append(names[k])
        return CheckResult(
            name="assigned_in_box",
            passed=not bad,
            value=float(len(bad)),
            threshold=0.0,
            message="every assigned candidate lies in its region's box"
            if not bad
            else f"{bad} were given candidates outside their region's box",
        )

    def unique(vf: ViewFrame, out: Assignment) -> CheckResult:
        dupes = []
        for region, idx in regions.items():
            used = out.index[list(idx)]
            used = used[used >= 0]
            if len(used) != len(set(used.tolist())):
                dupes.append(region)
        return CheckResult(
            name="one_candidate_per_keypoint",
            passed=not dupes,
            value=float(len(dupes)),
            threshold=0.0,
            message="no candidate is used twice in a region"
            if not dupes
            else f"a candidate is used for two keypoints in {dupes}",
        )

    def jump(vf: ViewFrame, out: Assignment) -> CheckResult:
        far = np.flatnonzero(np.nan_to_num(out.distance, nan=0.0) > opts.jump_bound_px)
        worst = float(np.nanmax(out.distance)) if np.isfinite(out.distance).any() else 0.0
        return CheckResult(
            name="temporal_jump",
            passed=not len(far),
            value=worst,
            threshold=opts.jump_bound_px,
            message=f"every assignment within {opts.jump_bound_px:g} px of its prediction"
            if not len(far)
            else f"{[names[k] for k in far]} jump more than "
            f"{opts.jump_bound_px:g} px from where the last frames predict them",
        )

    return Stage(
        name="assign",
        propose=propose,
        checks=[in_boxes, unique, jump],
        budget=Budget(max_retries=1, max_attempts=2, max_model_calls=10),
        describe=lambda a: f"{a.source}: {a.index.tolist()}",
    )


# --- stage 3: harmonisation --------------------------------------------------------------


def make_harmonise_stage() -> Stage[ViewFrame, Assignment]:
    async def propose(vf: ViewFrame, feedback: Feedback | None, ctx: StageContext) -> Assignment:
        index, notes = ctx.tool(
            "harmonise_assignment", harmonise_assignment, vf.assignment, vf.distance
        )
        distance = np.where(index >= 0, vf.distance, np.nan)
        return Assignment(index=index, distance=distance, source="; ".join(notes) or "unchanged")

    def one_to_one(vf: ViewFrame, out: Assignment) -> CheckResult:
        used = out.index[out.index >= 0]
        ok = len(used) == len(set(used.tolist()))
        return CheckResult(
            name="one_to_one",
            passed=ok,
            value=float(len(used) - len(set(used.tolist()))),
            threshold=0.0,
            message="no candidate serves two keypoints" if ok else "a candidate is used twice",
        )

    def nothing_lost(vf: ViewFrame, out: Assignment) -> CheckResult:
        lost = int((vf.assignment >= 0).sum() - (out.index >= 0).sum())
        return CheckResult(
            name="omissions_explained",
            passed=True,
            value=float(lost),
            threshold=None,
            message=f"{lost} keypoints lost a contested candidate ({out.source})",
        )

    return Stage(
        name="harmonise",
        propose=propose,
        checks=[one_to_one, nothing_lost],
        budget=Budget(max_retries=0, max_attempts=1, max_model_calls=0),
        retryable=False,
        describe=lambda a: a.source,
    )


# --- stage 4: triangulation with a model re-ask -------------------------------------------


def reading_2d(views: Sequence[ViewFrame]) -> NDArray[np.float64]:
    """The 2D labels ``(views, keypoints, 2)`` pixels that the assignments give."""
    out = np.full((len(views), len(views[0].assignment) if views else 0, 2), np.nan)
    for v, vf in enumerate(views):
        got = vf.assignment >= 0
        out[v, got] = vf.candidates[vf.assignment[got]]
    return out


LR_MARGIN_MM = 2.0
"""Left/right pairs closer than this across the body axis are not judged (mm)."""


AXIS_ROLES: tuple[tuple[str, ...], ...] = (
    ("head", "neck"),
    ("hips", "tail_base"),
    ("centre",),
    ("hindpaws",),
)
"""Body roles the 3D left/right check reads its axes from (one of each group)."""


def missing_axis_roles(skeleton: Skeleton) -> list[str]:
    """What the skeleton lacks for the 3D left/right check (empty = it can run)."""
    missing = [
        " or ".join(group) for group in AXIS_ROLES if not any(r in skeleton.roles for r in group)
    ]
    if not skeleton.left_right:
        missing.append("left/right pairs")
    return missing


def _role_points(skeleton: Skeleton, roles: Sequence[str]) -> list[int]:
    """Indices of the keypoints playing any of ``roles``, in role order, without repeats."""
    return list(
        dict.fromkeys(i for r in roles if r in skeleton.roles for i in skeleton.role_index(r))
    )


def _forward(skeleton: Skeleton, p: NDArray[np.float64]) -> NDArray[np.float64]:
    """``(..., 3)`` rear -> front of the body from ``(..., keypoints, 3)``, NaN if unknown."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN -> NaN, by design
        front = np.nanmean(p[..., _role_points(skeleton, ("head", "neck")), :], axis=-2)
        rear = np.nanmean(p[..., _role_points(skeleton, ("hips", "tail_base")), :], axis=-2)
    out: NDArray[np.float64] = front - rear
    return out


def _dorsal(skeleton: Skeleton, p: NDArray[np.float64]) -> NDArray[np.float64]:
    """``(..., 3)`` from the hindpaws' midpoint to the body centre (NaN if one is unknown)."""
    hind = p[..., list(skeleton.role_index("hindpaws")), :].mean(axis=-2)
    centre = p[..., list(skeleton.role_index("centre")), :].mean(axis=-2)
    out: NDArray[np.float64] = centre - hind
    return out


def lateral_offsets(
    skeleton: Skeleton, points_3d: NDArray[np.float64], up: NDArray[np.float64] | None = None
) -> NDArray[np.float64]:
    """Per left/right pair, how far its left keypoint lies on the animal's left of its right
    keypoint, mm (NaN where unknown).

    The animal's left is ``up × forward``: forward from the rear (the ``hips`` and
    ``tail_base`` roles) to the front (``head`` and ``neck``), each the mean of what is
    known (a swap of the ears does not move their mean); ``up`` the dorsal direction in the
    calibration's world frame (``body_axes`` reads it from the seed frames), or, when not
    given, per frame from the hindpaws' midpoint to the body centre (a swap of the pair
    does not move that midpoint, but a hidden hindpaw leaves it unknown). The sign also
    depends on the handedness of the world frame; ``body_axes`` reads it too.

    Args:
        skeleton: names the roles above (``missing_axis_roles`` is empty).
        points_3d: ``(..., keypoints, 3)`` mm.
        up: ``(3,)`` unit vector, or ``None``.

    Returns:
        ``(..., pairs)`` mm, pairs in the order of ``skeleton.left_right``.
    """
    p = np.asarray(points_3d, dtype=np.float64)
    forward = _forward(skeleton, p)
    if up is None:
        dorsal = _dorsal(skeleton, p)
    else:
        dorsal = np.broadcast_to(np.asarray(up, dtype=np.float64), forward.shape)
    left = np.cross(dorsal, forward)
    norm = np.linalg.norm(left, axis=-1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        left = left / norm
    return np.stack(
        [
            np.einsum("...i,...i->...", p[..., a, :] - p[..., b, :], left)
            for a, b in skeleton.left_right_index
        ],
        axis=-1,
    )


@dataclass(frozen=True)
class BodyAxes:
    """What the left/right check needs from the seed frames.

    Attributes:
        skeleton: the skeleton the axes were read with.
        up: ``(3,)`` unit dorsal direction in the calibration's world frame.
        sign: +1 or -1, the sign ``lateral_offsets`` has for correctly labelled frames.
    """

    skeleton: Skeleton
    up: NDArray[np.float64]
    sign: float


def body_axes(skeleton: Skeleton, seed_points_3d: NDArray[np.float64]) -> BodyAxes:
    """Dorsal direction and left/right sign from correctly labelled seed frames.

    Args:
        skeleton: names the roles of ``AXIS_ROLES`` and left/right pairs.
        seed_points_3d: ``(seeds, keypoints, 3)`` mm.

    Raises:
        InputError: the skeleton lacks those roles, or no seed frame shows the body centre
            and both hindpaws.
    """
    missing = missing_axis_roles(skeleton)
    if missing:
        raise InputError(
            f"skeleton {skeleton.name!r} names no {', '.join(missing)}, so the animal's "
            "left and right sides cannot be told apart in 3D.",
            fix="add those body roles (and left/right pairs) to the skeleton.",
        )
    p = np.asarray(seed_points_3d, dtype=np.float64)
    dorsal = _dorsal(skeleton, p)
    forward = _forward(skeleton, p)
    with np.errstate(invalid="ignore", divide="ignore"):
        forward = forward / np.linalg.norm(forward, axis=-1, keepdims=True)
        # the part of hips -> back perpendicular to the spine: up for a standing animal
        dorsal = dorsal - np.einsum("si,si->s", dorsal, forward)[:, None] * forward
        dorsal = dorsal / np.linalg.norm(dorsal, axis=-1, keepdims=True)
    mean = np.nanmean(dorsal, axis=0) if np.isfinite(dorsal).all(axis=1).any() else None
    if mean is None or not np.isfinite(mean).all() or np.linalg.norm(mean) < 1e-6:
        shown = [*skeleton.roles["centre"], *skeleton.roles["hindpaws"]]
        raise InputError(
            f"the seed frames do not show {', '.join(shown)} together, so the animal's up "
            "direction is unknown.",
            fix=f"label {', '.join(shown)} and the head in a seed frame.",
        )
    up = mean / np.linalg.norm(mean)
    offsets = lateral_offsets(skeleton, p, up)
    med = np.nanmedian(offsets) if np.isfinite(offsets).any() else 1.0
    return BodyAxes(skeleton=skeleton, up=up, sign=1.0 if med >= 0 else -1.0)


def make_left_right_check(axes: BodyAxes) -> Callable[[FrameInput, FramePoints], CheckResult]:
    """A check that every left/right pair lies on its own side of the body axis in 3D."""
    names = axes.skeleton.keypoints

    def left_right(inp: FrameInput, out: FramePoints) -> CheckResult:
        off = lateral_offsets(axes.skeleton, out.points_3d, axes.up) * axes.sign
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
        off = lateral_offsets(axes.skeleton, points, axes.up) * axes.sign
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


@dataclass
class FrameResult:
    points_3d: NDArray[np.float64]
    points_2d: NDArray[np.float64]
    status: str
    method: str
    reprojection_px: float
    model_calls: dict[str, int]
    flag_reason: str | None


async def label_frame(
    rt: Runtime,
    env: Env,
    frame: int,
    candidates: Sequence[NDArray[np.float64]],
    predicted_3d: NDArray[np.float64],
    reference_lengths: NDArray[np.float64],
) -> FrameResult:
    """Run the four stages on one frame; return its 3D points, 2D reading and outcome.

    Args:
        candidates: per view ``(n, 2)`` pixels, most confident first.
        predicted_3d: ``(keypoints, 3)`` mm, from the last accepted frames.
        reference_lengths: ``(bones,)`` mm, from the seed frames.
    """
    opts = env.options
    cams = env.cameras
    n_kp = len(env.skeleton.keypoints)
    pred2d = project_points(cams, predicted_3d).transpose(1, 0, 2)  # (V, K, 2)
    views = [
        ViewFrame(
            frame=frame,
            view=v,
            name=cams[v].name,
            size=cams[v].size,
            candidates=np.asarray(c, dtype=np.float64).reshape(-1, 2),
            predicted=pred2d[v],
            assignment=np.full(n_kp, -1),
            distance=np.full(n_kp, np.nan),
        )
        for v, c in enumerate(candidates)
    ]
    calls = {"regions": 0, "assign": 0, "triangulate": 0}

    async def stage_over_views(stage: Stage[ViewFrame, Any]) -> list[ItemOutcome[Any]]:
        outcomes = await run_stage(
            stage,
            [(f"frame {frame} view {vf.name}", vf) for vf in views],
            client=rt.client,
            tracer=rt.tracer,
            supervisor=rt.supervisor,
            concurrency=opts.concurrency,
        )
        calls[stage.name] = calls.get(stage.name, 0) + sum(o.model_calls for o in outcomes)
        return outcomes

    for vf, o in zip(views, await stage_over_views(make_regions_stage(env)), strict=True):
        vf.boxes = o.output.boxes if o.status == "accepted" and o.output else {}
    for vf, o in zip(views, await stage_over_views(make_assign_stage(env)), strict=True):
        if o.output is not None and o.status == "accepted":
            vf.assignment, vf.distance = o.output.index, o.output.distance
    for vf, o in zip(views, await stage_over_views(make_harmonise_stage()), strict=True):
        if o.output is not None:
            vf.assignment, vf.distance = o.output.index, o.output.distance

    lr = [] if env.axes is None else [make_left_right_check(env.axes)]
    mirror = [] if env.axes is None else [make_mirror_escalation(cams, env.axes)]
    stage = make_triangulation_stage(
        cams,
        reference_lengths,
        env.skeleton,
        limits=TriangulationLimits(
            reprojection_px=opts.reprojection_px,
            bone_tolerance=opts.bone_tolerance,
            min_coverage=opts.min_coverage,
        ),
        extra_escalations=[*mirror, make_reask_escalation(env, views)],
        budget=Budget(max_retries=0, max_attempts=5, max_model_calls=24),
        escalate=opts.refine_3d,
        extra_checks=lr,
    )
    outcome = await run_item(
        stage,
        f"frame {frame}",
        FrameInput(frame=frame, points_2d=reading_2d(views)),
        client=rt.client,
        tracer=rt.tracer,
        supervisor=rt.supervisor,
    )
    calls["triangulate"] = outcome.model_calls
    nan3 = np.full((n_kp, 3), np.nan)
    out = outcome.output
    pts3 = out.points_3d if out is not None else nan3
    pts2 = out.points_2d if out is not None else reading_2d(views)
    return FrameResult(
        points_3d=pts3,
        points_2d=pts2,
        status=outcome.status,
        method=out.method if out is not None else "none",
        reprojection_px=worst_reprojection(cams, pts3, pts2),
        model_calls=calls,
        flag_reason=outcome.flag_reason,
    )


def trusted_points(
    cameras: Sequence[Camera],
    result: FrameResult,
    threshold_px: float,
    reference_lengths: NDArray[np.float64],
    bone_tolerance: float,
    bones: Sequence[tuple[int, int]],
) -> NDArray[np.float64]:
    """The 3D keypoints ``(keypoints, 3)`` mm of a frame that the checks support one by
    one: every used observation reprojects within ``threshold_px``, at least two views see
    it, and no bone it belongs to deviates from the seeds by more than ``bone_tolerance``
    (a mark consistent in 3D but on the wrong body part fails this); others NaN.

    Args:
        reference_lengths: ``(bones,)`` mm, the seeds' bone lengths.
        bones: ``(i, j)`` keypoint indices (``Skeleton.bone_index``), as in the reference.
    """
    err = reprojection_errors(cameras, result.points_3d[None], result.points_2d[None])[0]
    seen = np.isfinite(err)
    good = (np.where(seen, err, 0.0) <= threshold_px).all(axis=0) & (seen.sum(axis=0) >= 2)
    rel = bone_length_errors(result.points_3d[None], list(bones), reference_lengths)[0]
    for (a, b), e in zip(bones, rel, strict=True):
        if np.isfinite(e) and abs(e) > bone_tolerance:
            good[[a, b]] = False
    return np.where(good[:, None], result.points_3d, np.nan)


def fill_from_anchor(
    predicted: NDArray[np.float64], anchor: NDArray[np.float64]
) -> NDArray[np.float64]:
    """Predict keypoints the recent frames lost from where they sat, relative to the body,
    in the last fully accepted frame (``anchor``): re-acquisition after a lost track.

    The anchor is moved onto the keypoints both know by the best rigid motion (rotation
    and translation, Kabsch) when at least 3 of them span a plane, else by their mean
    shift, and the missing keypoints are read off the moved anchor.

    Args:
        predicted: ``(keypoints, 3)`` mm, NaN where the recent frames give no prediction.
        anchor: ``(keypoints, 3)`` mm, the last frame with every keypoint accepted.
    """
    missing = ~np.isfinite(predicted).all(axis=1)
    if not missing.any():
        return predicted
    known = ~missing & np.isfinite(anchor).all(axis=1)
    if not known.any():
        return predicted
    src, dst = anchor[known], predicted[known]
    src_c, dst_c = src.mean(axis=0), dst.mean(axis=0)
    rot = np.eye(3)
    if known.sum() >= 3:
        u, sv, vt = np.linalg.svd((src - src_c).T @ (dst - dst_c))
        if sv[1] > 1e-6 * max(sv[0], 1e-12):  # not collinear
            d = np.sign(np.linalg.det(vt.T @ u.T)) or 1.0
            rot = vt.T @ np.diag([1.0, 1.0, d]) @ u.T
    out = predicted.copy()
    out[missing] = (anchor[missing] - src_c) @ rot.T + dst_c
    return out


def _traced(rt: Runtime, name: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    with rt.tracer.timed_tool(name, kwargs) as timing:
        timing.result = fn(*args, **kwargs)
    return timing.result


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


SEED_FIT_FACTOR = 4.0
"""A view whose seed labels reproject worse than this many ``reprojection_px`` (median)
does not match its calibration."""


def _check_seeds_fit(
    inputs: PoseInputs,
    cams: Sequence[Camera],
    seed_3d: NDArray[np.float64],
    seed_2d: NDArray[np.float64],
) -> None:
    """Refuse a calibration the hand-labelled seeds contradict (e.g. swapped intrinsics,
    a camera block from another rig): every frame would be flagged otherwise.

    Args:
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


def load_predictions(paths: Sequence[str], frames: int) -> list[list[Candidates]]:
    """A 2D pose model's predictions (one keypoint file per view) as candidates.

    Every keypoint of every individual in a file is a candidate (the graph decides which
    is which); likelihoods below 0.5 are dropped.

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
        per_view.append(
            (
                data.points[:frames].reshape(frames, n, 2),
                data.confidence[:frames].reshape(frames, n),
            )
        )
    width = max(p.shape[1] for p, _ in per_view)
    points = np.full((frames, len(paths), width, 2), np.nan)
    conf = np.zeros((frames, len(paths), width))
    for v, (p, c) in enumerate(per_view):
        points[:, v, : p.shape[1]] = p
        conf[:, v, : p.shape[1]] = np.where(np.isnan(c), 1.0, c)
    return candidates_from_predictions(points, conf)


class _Videos:
    """Open readers, one per view, with a small frame cache (few-shot examples reuse frames)."""

    def __init__(self, paths: Sequence[str]) -> None:
        self.readers = [VideoReader(p) for p in paths]
        self._cache: dict[tuple[int, int], NDArray[np.uint8]] = {}

    def frame(self, view: int, index: int) -> NDArray[np.uint8]:
        key = (view, index)
        if key not in self._cache:
            if len(self._cache) > 256:
                self._cache.clear()
            self._cache[key] = self.readers[view][index]
        return self._cache[key]

    def close(self) -> None:
        for r in self.readers:
            r.close()


def build_pose_graph(rt: Runtime, inputs: PoseInputs) -> StateGraph[PoseState]:
    """The pose ``StateGraph``: prepare -> label (one chunk per step) -> report."""
    run = rt.run
    opts = inputs.options
    skeleton = inputs.skeleton

    def prepare(state: PoseState) -> dict[str, Any]:
        cams = read_calibration(inputs.calibration)
        with rt.tracer.scope(node="prepare"):
            for result in check_calibration(cams):
                rt.tracer.check(result)
            seed_frames, seed_2d = _traced(
                rt,
                "read_seed_labels",
                read_seed_labels,
                inputs.seeds,
                [c.name for c in cams],
                skeleton.keypoints,
            )
            seed_3d = _traced(rt, "triangulate_dlt", triangulate_dlt, cams, points_2d=seed_2d)
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
        run.save_arrays(
            "seeds", frames=np.asarray(seed_frames), points_2d=seed_2d, points_3d=seed_3d
        )
        return {
            "chunk": 0,
            "n_chunks": -(-inputs.frames // opts.chunk_frames),
            "history": [0],
            "history_points": [seed_3d[0].tolist()],
            "anchor": seed_3d[0].tolist(),
            "flagged": [],
            "routes": {},
            "model_calls": {},
        }

    async def label(state: PoseState) -> dict[str, Any]:
        cams = read_calibration(inputs.calibration)
        seeds = run.load_arrays("seeds")
        seed_frames = [int(f) for f in seeds["frames"]]
        reference = median_bone_lengths(seeds["points_3d"], skeleton.bone_index)
        history = list(state["history"])
        history_points = [np.asarray(p, dtype=np.float64) for p in state["history_points"]]
        anchor = np.asarray(state["anchor"], dtype=np.float64)
        videos = _Videos(inputs.videos)
        predictions = (
            _traced(rt, "load_predictions", load_predictions, inputs.candidates, inputs.frames)
            if inputs.candidates
            else None
        )
        accepted_2d: dict[int, NDArray[np.float64]] = {}

        def examples(frame: int) -> list[tuple[int, NDArray[np.float64]]]:
            out = []
            for f, p in zip(history, history_points, strict=True):
                if f < frame and f not in flagged:
                    pts = accepted_2d.get(f)
                    if pts is None:
                        pts = project_points(cams, p).transpose(1, 0, 2)
                    out.append((f, pts))
            return out[-max(opts.few_shot, 1) :]

        env = Env(
            options=opts,
            skeleton=skeleton,
            cameras=cams,
            frame_image=videos.frame,
            labelled_examples=examples,
            wants_images=rt.client.backend != "offline",
            axes=None if missing_axis_roles(skeleton) else body_axes(skeleton, seeds["points_3d"]),
        )
        i = state["chunk"]
        lo, hi = i * opts.chunk_frames, min(inputs.frames, (i + 1) * opts.chunk_frames)
        rows: list[dict[str, Any]] = []
        pts3 = np.full((hi - lo, len(skeleton.keypoints), 3), np.nan)
        pts2 = np.full((hi - lo, len(cams), len(skeleton.keypoints), 2), np.nan)
        flagged = list(state["flagged"])
        routes = dict(state["routes"])
        calls = dict(state["model_calls"])
        try:
            for f in range(lo, hi):
                if f in seed_frames:
                    s = seed_frames.index(f)
                    result = FrameResult(
                        points_3d=seeds["points_3d"][s],
                        points_2d=seeds["points_2d"][s],
                        status="accepted",
                        method="seed labels",
                        reprojection_px=worst_reprojection(
                            cams, seeds["points_3d"][s], seeds["points_2d"][s]
                        ),
                        model_calls={},
                        flag_reason=None,
                    )
                else:
                    recent = [(h, p) for h, p in zip(history, history_points, strict=True)][-3:]
                    predicted = predict_points([h for h, _ in recent], [p for _, p in recent], f)
                    predicted = fill_from_anchor(predicted, anchor)
                    if predictions is not None:
                        cands = [c.xy for c in predictions[f]]
                    else:
                        with rt.tracer.scope(node="detect", item=f"frame {f}"):
                            cands = [
                                _traced(
                                    rt,
                                    "detect_marks",
                                    detect_marks,
                                    videos.frame(v, f),
                                    max_candidates=opts.max_candidates,
                                ).xy
                                for v in range(len(cams))
                            ]
                    result = await label_frame(rt, env, f, cands, predicted, reference)
                pts3[f - lo], pts2[f - lo] = result.points_3d, result.points_2d
                if result.status == "accepted":
                    if not history or history[-1] != f:
                        history.append(f)
                        history_points.append(result.points_3d)
                    accepted_2d[f] = result.points_2d
                    if np.isfinite(result.points_3d).all():
                        anchor = result.points_3d
                else:
                    flagged.append(f)
                    # a flagged frame still tells the predictor where its well-supported
                    # keypoints are (never shown to the model as a labelled example)
                    trusted = trusted_points(
                        cams,
                        result,
                        opts.reprojection_px,
                        reference,
                        opts.bone_tolerance,
                        skeleton.bone_index,
                    )
                    if np.isfinite(trusted[:, 0]).mean() >= 0.5:
                        history.append(f)
                        history_points.append(trusted)
                history, history_points = history[-4:], history_points[-4:]
                key = "flagged" if result.status != "accepted" else result.method
                routes[key] = routes.get(key, 0) + 1
                for k, c in result.model_calls.items():
                    calls[k] = calls.get(k, 0) + c
                rows.append(
                    {
                        "frame": f,
                        "status": result.status,
                        "method": result.method,
                        "reprojection_px": None
                        if not np.isfinite(result.reprojection_px)
                        else round(result.reprojection_px, 3),
                        "model_calls": sum(result.model_calls.values()),
                        "flag_reason": result.flag_reason,
                    }
                )
                rt.report_progress("pose", 1, inputs.frames)
        finally:
            videos.close()
        run.save_arrays(f"pose_{i:04d}", points_3d=pts3, points_2d=pts2)
        run.write_json_output(f"stages/pose_{i:04d}.json", rows)
        return {
            "chunk": i + 1,
            "history": history,
            "history_points": [p.tolist() for p in history_points],
            "anchor": anchor.tolist(),
            "flagged": flagged,
            "routes": routes,
            "model_calls": calls,
        }

    def more(state: PoseState) -> str:
        return "label" if state["chunk"] < state["n_chunks"] else "report"

    def report(state: PoseState) -> dict[str, Any]:
        return {"outputs": write_pose_outputs(rt, inputs, state["n_chunks"], state)}

    g: StateGraph[PoseState] = StateGraph(PoseState)
    g.add_node("prepare", prepare)
    g.add_node("label", label)
    g.add_node("report", report)
    g.add_edge(START, "prepare")
    g.add_edge("prepare", "label")
    g.add_conditional_edges("label", more, ["label", "report"])
    g.add_edge("report", END)
    return g


async def run_pose(rt: Runtime, inputs: PoseInputs) -> dict[str, Any]:
    """Run (or resume) the pose graph in ``rt.run``; return the final state."""
    return await run_graph(build_pose_graph(rt, inputs), rt, {"frames": inputs.frames})


__all__ = [
    "GRAPH_NAME",
    "AssignAnswer",
    "RegionsAnswer",
    "build_pose_graph",
    "resolve_inputs",
    "run_pose",
    "skeleton_for_seeds",
]
