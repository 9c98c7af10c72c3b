"""The pose graph's per-view stages: ``regions``, ``assign`` and ``harmonise``.

Each is a ``Stage`` of the shared node pattern (propose -> check -> retry/escalate -> flag)
over one view of one frame (``ViewFrame``); the offline solvers of their two prompts live
here, and so do the body axes of a skeleton that the 3D left/right check uses.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray
from pydantic import BaseModel, Field

from ethoagent.agent.offline import register_solver
from ethoagent.agent.types import Image, Message, Request
from ethoagent.config import Budget
from ethoagent.errors import InputError, ModelOutputError
from ethoagent.graphs.kit.nodes import (
    Feedback,
    ItemOutcome,
    Stage,
    StageContext,
)
from ethoagent.graphs.pose.options import PoseOptions
from ethoagent.model.camera import Camera
from ethoagent.model.checks import CheckResult
from ethoagent.model.skeleton import Skeleton
from ethoagent.prompts import load_prompt
from ethoagent.tools.crop import crop_region, draw_numbered_candidates
from ethoagent.tools.detect import (
    match_candidates,
)
from ethoagent.tools.labelling import (
    Box,
    draw_keypoints,
    harmonise_assignment,
    region_boxes,
)

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
        identity: ``(n,)`` the skeleton keypoint a 2D pose model named each candidate
            (-1 = unnamed), or ``None`` for detected marks.
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
    identity: NDArray[np.int64] | None = None


class Regions(BaseModel):
    """A box per region of one view (``None`` = not visible) and where they came from."""

    boxes: dict[str, Box | None]
    source: str


class Assignment(BaseModel, arbitrary_types_allowed=True):
    """Candidate row per keypoint of one view (-1 = none) and where it came from.

    ``distance`` is each assigned candidate's distance to its prediction, pixels.
    """

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


def _matchable(
    vf: ViewFrame, rows: NDArray[np.intp], keypoints: list[int], skeleton: Skeleton
) -> NDArray[np.intp]:
    """Of candidate ``rows``, those position matching may give to ``keypoints``.

    Unnamed candidates (detected marks, or points of keypoints the skeleton lacks) and
    those a 2D model named as one of ``keypoints`` or as a left/right partner of one.
    """
    if vf.identity is None:
        return rows
    partner = {a: b for a, b in skeleton.left_right_index} | {
        b: a for a, b in skeleton.left_right_index
    }
    allowed = {-1, *keypoints, *(partner[k] for k in keypoints if k in partner)}
    return rows[np.isin(vf.identity[rows], list(allowed))]


async def _propose_regions(
    env: Env, vf: ViewFrame, feedback: Feedback | None, ctx: StageContext
) -> Regions:
    """Boxes around the predicted keypoints (cheap path), else the ``vlm``'s (``pose/regions``)."""
    opts = env.options
    skeleton = env.skeleton
    regions = skeleton.region_index
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


def make_regions_stage(env: Env) -> Stage[ViewFrame, Regions]:
    """Box each body region in one view; check the boxes lie in the image and hold candidates."""

    async def propose(vf: ViewFrame, feedback: Feedback | None, ctx: StageContext) -> Regions:
        return await _propose_regions(env, vf, feedback, ctx)

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


def usable_boxes(vf: ViewFrame, outcome: ItemOutcome[Regions]) -> dict[str, Box | None]:
    """The regions stage's boxes of one view that the assign stage may use.

    An accepted proposal's boxes; of a flagged one (a region whose keypoints no view's
    2D model found, say), the boxes that lie inside the image and hold a candidate, so
    one empty region does not cost the view its other regions.
    """
    out = outcome.output
    if out is None:
        return {}
    if outcome.status == "accepted":
        return out.boxes
    w, h = vf.size
    return {
        r: b
        for r, b in out.boxes.items()
        if b is not None
        and 0 <= b[0] < b[2] <= w
        and 0 <= b[1] < b[3] <= h
        and _in_box(vf.candidates, b).any()
    }


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


def _chosen_rows(
    parsed: AssignAnswer, names: Sequence[str], kps: Sequence[int], rows: NDArray[np.intp]
) -> dict[int, int]:
    """Keypoint -> candidate row of an assign answer (candidate numbers are ``rows`` + 1).

    Raises:
        ModelOutputError: the answer names a keypoint outside ``kps`` or a number not drawn.
    """
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
        env: the stages' context (skeleton, frames, whether the model sees images).
        vf: the view of the frame, with its candidates and predictions.
        region: the region asked for.
        box: the region's box, pixels of the full frame.
        ctx: the stage's context (model calls are counted there).
        keypoints: the keypoints to ask for (default: all of the region).
        excluded: candidate rows the answer may not use (a failed earlier reading).
        feedback: why an earlier answer failed, for the prompt.
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
    return _chosen_rows(answer.require(), names, kps, rows)


def _take_named(
    vf: ViewFrame, kps: list[int], rows: NDArray[np.intp], bound_px: float
) -> NDArray[np.int64]:
    """Per keypoint of ``kps``, the candidate a 2D model named so, near its prediction.

    The most confident of ``rows`` named as that keypoint within ``bound_px`` (pixels) of
    its prediction; -1 where none.

    A markerless rig's 2D model says which keypoint each point is; the 3D checks and the
    swap / dropped-view hypotheses verify it, so the name is the first choice and position
    matching only fills what no named candidate covers.
    """
    out = np.full(len(kps), -1, dtype=np.int64)
    if vf.identity is None:
        return out
    for i, k in enumerate(kps):
        mine = rows[vf.identity[rows] == k]  # rows are most confident first
        if mine.size:
            dist = np.linalg.norm(vf.candidates[mine] - vf.predicted[k], axis=1)
            near = mine[dist <= bound_px]
            if near.size:
                out[i] = int(near[0])
    return out


async def _propose_assignment(
    env: Env, vf: ViewFrame, feedback: Feedback | None, ctx: StageContext
) -> Assignment:
    """Match candidates in each box to its region's predictions, else ask ``pose/assign``."""
    opts = env.options
    names = env.skeleton.keypoints
    regions = env.skeleton.region_index
    index = np.full(len(names), -1, dtype=np.int64)
    sources = set()
    for region, box in vf.boxes.items():
        if box is None:
            continue
        kps = list(regions[region])
        rows = np.flatnonzero(_in_box(vf.candidates, box))
        predicted = np.isfinite(vf.predicted[kps]).all(axis=1).all()
        if feedback is None and not opts.model_every_stage and predicted:
            named = _take_named(vf, kps, rows, opts.jump_bound_px)
            index[kps] = named
            # a point the 2D model named as another body part is not matched by position
            # (a hidden ear would take the nose), one named as the left/right partner is
            # (the identity error 2D models make)
            rest = [k for k, r in zip(kps, named, strict=True) if r < 0]
            free = np.setdiff1d(_matchable(vf, rows, rest, env.skeleton), named[named >= 0])
            if rest and free.size:
                matched, _ = ctx.tool(
                    "match_candidates",
                    match_candidates,
                    vf.candidates[free],
                    vf.predicted[rest],
                    opts.match_gate_px,
                )
                index[rest] = np.where(matched >= 0, free[np.maximum(matched, 0)], -1)
            sources.add("named+prediction" if (named >= 0).any() else "prediction")
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


def make_assign_stage(env: Env) -> Stage[ViewFrame, Assignment]:
    """Assign candidates to keypoints region by region in one view; check boxes, reuse, jumps."""
    opts = env.options
    names = env.skeleton.keypoints
    regions = env.skeleton.region_index

    async def propose(vf: ViewFrame, feedback: Feedback | None, ctx: StageContext) -> Assignment:
        return await _propose_assignment(env, vf, feedback, ctx)

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
    """Give a candidate two regions claim to the nearer keypoint; check nothing else is lost."""

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


def body_ends(
    skeleton: Skeleton, p: NDArray[np.float64]
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Front (``head``, ``neck``) and rear (``hips``, ``tail_base``) of the body.

    Each the mean of the known keypoints of the roles the skeleton names.

    Args:
        skeleton: names the roles.
        p: ``(..., keypoints, 3)`` mm, NaN = missing.

    Returns:
        ``(..., 3)`` front and ``(..., 3)`` rear, mm, NaN where unknown.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN -> NaN, by design
        front = np.nanmean(p[..., _role_points(skeleton, ("head", "neck")), :], axis=-2)
        rear = np.nanmean(p[..., _role_points(skeleton, ("hips", "tail_base")), :], axis=-2)
    return front, rear


def _forward(skeleton: Skeleton, p: NDArray[np.float64]) -> NDArray[np.float64]:
    """``(..., 3)`` rear -> front of the body from ``(..., keypoints, 3)``, NaN if unknown."""
    front, rear = body_ends(skeleton, p)
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
    """Per left/right pair, how far its left keypoint lies on the animal's left of its right.

    In mm, NaN where unknown.

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
