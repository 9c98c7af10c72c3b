"""The segment graph: unsupervised behaviour segmentation of keypoints into an ethogram.

BehaviorVLM's segmentation pipeline as a LangGraph state machine of small nodes; arrays
live in the run's artifact store, the graph state holds counts and summaries:

1. ``load``: read the keypoints (``tools.io.read_keypoints``; any format it reads) and
   compute unit-free features (``tools.features.compute_features``). Frames without
   features (keypoints missing beyond the gap filling) are reported, with a warning where
   they exceed ``nan_warning`` of an animal's frames; they are not clustered.
2. ``cluster``: deep embedded clustering (``nn.dec.fit_dec``, ``k`` clusters) of every
   (frame, animal) row jointly, so a cluster means the same for every animal. A stage of
   the node pattern: check ``clusters`` (no empty or degenerate cluster,
   ``tools.cluster.check_clusters``), escalation = re-seed. A second seed's fit gives the
   adjusted Rand index between seeds (``stability`` check in the trace; a failure is a
   warning, not fatal).
3. ``snippets``: per animal, the cluster labels cut into 1–5 s snippets
   (``tools.snippets.cut_snippets``) with a kinematic summary each
   (``tools.captions.summarize_snippet``).
4. ``caption`` (chunks of snippets, one checkpointed step each): a stage per snippet.
   Cheap path: where the kinematics alone are clear (``caption_from_kinematics``), no
   model is called and the trace says so (``cheap_path`` event). Otherwise the ``vlm``
   role (prompt ``segment/caption``) gets a contact sheet of frames sampled at <= 10 fps
   (cropped around the animal where 2D keypoints allow; with no video, a drawing of the
   keypoints) and the kinematic summary, and answers a ``Caption``. Checks: schema
   (pydantic) and ``kinematics`` (``tools.captions.check_caption``: a locomotion label at
   near-zero speed, "still" at high speed, ...); a failed check is retried with the
   contradiction named in the prompt; escalation = the kinematic caption.
5. ``merge`` (one animal per step): the ``llm`` role (prompt ``segment/merge``) joins
   consecutive captions into epochs with a vocabulary, in overlapping windows of
   ``merge_window`` snippets so its context stays bounded; the session's vocabulary so
   far goes into every window's prompt. Checks: exact tiling of the window, every label
   in the vocabulary, no epoch shorter than ``min_epoch_s``; failures are retried with the
   violations listed; escalation = the rule-based merge. Windows are stitched
   deterministically (``tools.merge.stitch_windows``) and tidied (``merge_epochs``).
6. ``report``: the outputs (``graphs.segment_report``).

Offline (the embedded default) the two prompts are answered by registered solvers: the
kinematic captioner and the rule-based merge of equal or synonymous labels
(``tools.captions.SYNONYMS``), both marked ``offline`` in the trace and the report.
"""

from __future__ import annotations

import functools
import json
import math
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
from langgraph.graph import END, START, StateGraph
from numpy.typing import NDArray
from pydantic import BaseModel, Field, ValidationError

from ethoagent.agent.offline import register_solver
from ethoagent.agent.types import Image, Message, Request, Sampling
from ethoagent.atomic import atomic_write_text
from ethoagent.config import Budget
from ethoagent.errors import InputError, ModelOutputError
from ethoagent.graphs.kit.nodes import (
    Escalation,
    Feedback,
    Stage,
    StageContext,
    run_item,
    run_stage,
)
from ethoagent.graphs.kit.runtime import Runtime, run_graph
from ethoagent.graphs.segment.inputs import SegmentInputs, SegmentState
from ethoagent.graphs.segment.options import SegmentOptions
from ethoagent.graphs.segment.report import write_segment_outputs
from ethoagent.io.keypoints import read_keypoints
from ethoagent.io.video import VideoReader
from ethoagent.model.checks import CheckResult
from ethoagent.model.ethogram import Epoch, Snippet
from ethoagent.model.pose import PoseData
from ethoagent.nn.dec import DecConfig, DecResult, fit_dec
from ethoagent.prompts import load_prompt
from ethoagent.tools.captions import (
    DEFINITIONS,
    Caption,
    SnippetKinematics,
    canonical_label,
    caption_from_kinematics,
    check_caption,
    classify_frames,
    describe_kinematics,
    kinematic_baselines,
    normalise_label,
    summarize_snippet,
)
from ethoagent.tools.cluster import assignment_stability, check_clusters, check_stability
from ethoagent.tools.ethogram import check_min_duration, check_tiling, check_vocabulary
from ethoagent.tools.features import (
    IMPLAUSIBLE_SPREAD,
    Features,
    compute_features,
    layout_named,
    mask_implausible_points,
)
from ethoagent.tools.merge import (
    check_window_tiling,
    majority_cluster,
    merge_epochs,
    plan_windows,
    stitch_windows,
)
from ethoagent.tools.sheets import skeleton_edges, skeleton_tiles, tile_images, video_tiles
from ethoagent.tools.snippets import cut_snippets, sample_frames, split_snippets

GRAPH_NAME = "segment"
CAPTION_PROMPT = "segment/caption"
MERGE_PROMPT = "segment/merge"
MAX_CAPTION_STEPS = 40
"""Caption chunks are sized so that a session takes at most this many graph steps."""
MERGE_SAMPLING = Sampling(max_tokens=4096)
"""A merge answer lists up to ``merge_window`` epochs: more tokens than the default 512."""


# --- model answers ---------------------------------------------------------------------


class MergedEpoch(BaseModel):
    """One epoch of a merge answer; ``end_frame`` is exclusive."""

    start_frame: int = Field(ge=0)
    end_frame: int = Field(ge=1)
    label: str = Field(min_length=1, max_length=60)
    description: str = ""
    confidence: float = Field(ge=0.0, le=1.0)


class MergeAnswer(BaseModel):
    """Answer of ``segment/merge``: epochs tiling the window and the labels' definitions."""

    epochs: list[MergedEpoch]
    vocabulary: dict[str, str]


# --- shared helpers ----------------------------------------------------------------------


def _dec_config(opts: SegmentOptions, seed: int) -> DecConfig:
    """The DEC settings of a fit with ``seed``."""
    return DecConfig(
        k=opts.k,
        seed=seed,
        pretrain_epochs=opts.dec_pretrain_epochs,
        cluster_iters=opts.dec_cluster_iters,
    )


def _read(inputs: SegmentInputs) -> PoseData:
    data = read_keypoints(inputs.keypoints, fps=inputs.fps)
    if data.frames != inputs.frames or list(data.individuals) != inputs.animals:
        raise InputError(
            f"{inputs.keypoints} changed since the run started ({data.frames} frames, "
            f"animals {list(data.individuals)}; the run expects {inputs.frames} and "
            f"{inputs.animals}).",
            fix="start a new run for the new file.",
        )
    return data


PARTNER_ABSENT = {
    "nose_nose": 10.0,
    "nose_tailbase": 10.0,
    "relative_heading": math.pi / 2,
    "partner_bearing": math.pi / 2,
    "approach_speed": 0.0,
}
"""Social feature values of an animal whose partners are all untracked (far, no relation)."""


def _features(
    inputs: SegmentInputs, points: NDArray[np.float64], *, fill_absent_partner: bool = True
) -> Features:
    """The session's features; with ``fill_absent_partner``, social features of frames
    whose partners are all untracked get ``PARTNER_ABSENT`` values (so a lost partner does
    not drop a tracked animal from clustering).

    ``report["partner_missing_frames"]`` counts those frames per animal, and
    ``report["masked_frames"]`` is recounted after the fill.
    """
    opts = inputs.options
    with warnings.catch_warnings():
        # all-NaN stretches are expected here and reported (report["masked_frames"])
        warnings.simplefilter("ignore", RuntimeWarning)
        feats = compute_features(
            points,
            fps=inputs.fps,
            keypoints=inputs.keypoint_names,
            individuals=inputs.animals,
            layout=layout_named(inputs.layout, inputs.keypoint_names),
            window_s=opts.feature_window_s,
            max_gap_s=opts.max_gap_s,
        )
    social = {
        i: PARTNER_ABSENT[n.removesuffix("_mean").removesuffix("_std")]
        if not n.endswith("_std")
        else 0.0
        for i, n in enumerate(feats.names)
        if n.removesuffix("_mean").removesuffix("_std") in PARTNER_ABSENT
    }
    if not social or not fill_absent_partner:
        return feats
    values = feats.values.copy()
    own = [i for i in range(len(feats.names)) if i not in social]
    alone = np.isfinite(values[:, :, own]).all(axis=2)  # (frames, animals)
    filled = np.zeros(alone.shape, dtype=bool)
    for i, v in social.items():
        gap = alone & ~np.isfinite(values[:, :, i])
        values[:, :, i][gap] = v
        filled |= gap
    valid = np.asarray(np.isfinite(values).all(axis=-1), dtype=np.bool_)
    report = {
        **feats.report,
        "masked_frames": {
            n: int(c) for n, c in zip(feats.individuals, (~valid).sum(axis=0), strict=True)
        },
        "partner_missing_frames": {
            n: int(c) for n, c in zip(feats.individuals, filled.sum(axis=0), strict=True)
        },
    }
    return replace(feats, values=values, valid=valid, report=report)


def _traced(rt: Runtime, name: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    with rt.tracer.timed_tool(name, kwargs) as timing:
        timing.result = fn(*args, **kwargs)
    return timing.result


def _warn(rt: Runtime, warnings: list[str], message: str) -> None:
    rt.tracer.event("warning", message=message)
    warnings.append(message)


def _write_json(path: Path, value: Any) -> None:
    atomic_write_text(path, json.dumps(value, sort_keys=True) + "\n")


def _read_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


# --- stage: clustering -------------------------------------------------------------------


@dataclass(frozen=True)
class ClusterFit:
    """A DEC fit and the seed it used."""

    result: DecResult
    seed: int


def make_cluster_stage(
    opts: SegmentOptions, progress: Callable[[str, int, int], None] | None = None
) -> Stage[NDArray[np.float64], ClusterFit]:
    """DEC over the design matrix ``(rows, features)``; check ``clusters``; escalations
    re-seed the fit."""

    def fit(x: NDArray[np.float64], seed: int, ctx: StageContext) -> ClusterFit:
        cfg = _dec_config(opts, seed)
        fit_with_progress = functools.partial(fit_dec, progress=progress)
        result: DecResult = ctx.tool("fit_dec", fit_with_progress, x, config=cfg)
        return ClusterFit(result=result, seed=seed)

    async def propose(
        x: NDArray[np.float64], feedback: Feedback | None, ctx: StageContext
    ) -> ClusterFit:
        return fit(x, opts.seed, ctx)

    def reseed(seed: int) -> Escalation[NDArray[np.float64], ClusterFit]:
        async def run(
            x: NDArray[np.float64], last: ClusterFit | None, fb: Feedback, ctx: StageContext
        ) -> ClusterFit:
            return fit(x, seed, ctx)

        return Escalation(f"reseed_{seed}", f"fit DEC again with seed {seed}", run)

    def clusters(x: NDArray[np.float64], out: ClusterFit) -> CheckResult:
        return check_clusters(out.result.labels, opts.k, opts.min_cluster_fraction)

    return Stage(
        name="cluster",
        propose=propose,
        checks=[clusters],
        escalations=[reseed(opts.seed + 1000), reseed(opts.seed + 2000)],
        budget=Budget(max_retries=0, max_attempts=3, max_model_calls=0),
        retryable=False,
        describe=lambda f: f"seed {f.seed}: {f.result!r}",
    )


# --- stage: captions ---------------------------------------------------------------------


@dataclass
class SnippetItem:
    """One snippet of one animal, as the caption stage sees it."""

    animal: int
    name: str
    snippet: Snippet
    kinematics: SnippetKinematics


class CaptionProposal(BaseModel):
    caption: Caption
    source: str


@dataclass
class CaptionEnv:
    """What the caption proposer needs besides its input (closed over)."""

    options: SegmentOptions
    fps: float
    wants_images: bool
    has_video: bool
    sheet: Callable[[SnippetItem], tuple[Image, str]]


def _no_image_note() -> str:
    return "No image is attached: judge from the kinematics."


def offline_caption(request: Request) -> Caption:
    """Offline answer to ``segment/caption``: the kinematic captioner's caption."""
    kin = SnippetKinematics.model_validate(request.payload["kinematics"])
    return caption_from_kinematics(kin).caption


register_solver(CAPTION_PROMPT)(offline_caption)


def make_caption_stage(env: CaptionEnv) -> Stage[SnippetItem, CaptionProposal]:
    """Caption one snippet: cheap kinematic path, else the VLM; check schema and kinematics."""
    opts = env.options

    async def propose(
        item: SnippetItem, feedback: Feedback | None, ctx: StageContext
    ) -> CaptionProposal:
        rule = caption_from_kinematics(item.kinematics)
        blind = rule.caption.label == "untracked" and env.has_video
        if feedback is None and not opts.model_every_snippet and rule.confident and not blind:
            ctx.tracer.event(
                "cheap_path",
                source="kinematics",
                model_called=False,
                label=rule.caption.label,
                reason=f"kinematics are clear: {rule.reason}",
            )
            return CaptionProposal(caption=rule.caption, source="kinematics")
        prompt = load_prompt(CAPTION_PROMPT)
        images: tuple[Image, ...] = ()
        note = _no_image_note()
        if env.wants_images:
            image, note = env.sheet(item)
            images = (image,)
        s = item.snippet
        text = prompt.render(
            animal=_one_line(item.name),
            start_frame=s.start,
            end_frame=s.stop,
            seconds=f"{s.seconds:.2f}",
            fps=f"{env.fps:g}",
            image_note=note,
            kinematics=describe_kinematics(item.kinematics),
            feedback=feedback.as_text() if feedback else "",
        )
        answer = await ctx.ask(
            "vlm",
            [Message("user", text, images=images)],
            prompt=prompt.ref,
            output=Caption,
            payload={
                "animal": item.name,
                "start": s.start,
                "stop": s.stop,
                "kinematics": item.kinematics.model_dump(),
                "attempt": ctx.attempt,
            },
        )
        caption = answer.require()
        label = normalise_label(caption.label)
        if not label:
            raise ModelOutputError(f"label {caption.label!r} has no letters or digits")
        return CaptionProposal(caption=caption.model_copy(update={"label": label}), source="model")

    async def kinematic(
        item: SnippetItem, last: CaptionProposal | None, fb: Feedback, ctx: StageContext
    ) -> CaptionProposal:
        rule = caption_from_kinematics(item.kinematics)
        return CaptionProposal(caption=rule.caption, source="kinematics (escalation)")

    def consistent(item: SnippetItem, out: CaptionProposal) -> CheckResult:
        return check_caption(out.caption, item.kinematics)

    return Stage(
        name="caption",
        propose=propose,
        checks=[consistent],
        escalations=[
            Escalation(
                "kinematic_caption", "caption the snippet from its kinematics alone", kinematic
            )
        ],
        budget=Budget(max_retries=2, max_attempts=4, max_model_calls=6),
        describe=lambda p: (
            f"{p.source}: {p.caption.label} (speed {p.caption.speed}, "
            f"confidence {p.caption.confidence:.2f})"
        ),
    )


# --- stage: merge --------------------------------------------------------------------------


@dataclass
class MergeWindow:
    """Consecutive captioned snippets of one animal, as the merge stage sees them.

    Attributes:
        pieces: one epoch per snippet (its caption's label, description, confidence).
        captions: the snippets' captions, in the same order.
        vocabulary: the session's vocabulary so far.
        min_frames: shortest epoch, frames.
    """

    animal: str
    start: int
    stop: int
    pieces: list[Epoch]
    captions: list[Caption]
    vocabulary: dict[str, str]
    min_frames: int
    fps: float


class MergeProposal(BaseModel):
    epochs: list[Epoch]
    vocabulary: dict[str, str]
    source: str


def rule_merge(
    pieces: Sequence[Epoch], min_frames: int, vocabulary: dict[str, str]
) -> MergeProposal:
    """The rule-based merge: synonyms to one label, equal neighbours joined, short absorbed.

    Args:
        pieces: one epoch per snippet, tiling a range in order.
        min_frames: shortest epoch, frames.
        vocabulary: definitions known so far (used before ``DEFINITIONS``).

    Returns:
        Epochs tiling the same range and the definition of every label used.
    """
    canon = [p.model_copy(update={"label": canonical_label(p.label)}) for p in pieces]
    epochs = merge_epochs(canon, min_frames)
    vocab: dict[str, str] = {}
    for e in epochs:
        if e.label not in vocab:
            vocab[e.label] = (
                vocabulary.get(e.label)
                or DEFINITIONS.get(e.label)
                or f"As captioned: {e.description or e.label}."
            )
    return MergeProposal(epochs=epochs, vocabulary=vocab, source="rules")


def offline_merge(request: Request) -> MergeAnswer:
    """Offline answer to ``segment/merge``: the rule-based merge (``rule_merge``)."""
    p = request.payload
    pieces = [Epoch.model_validate(e) for e in p["pieces"]]
    merged = rule_merge(pieces, int(p["min_frames"]), dict(p["vocabulary"]))
    return MergeAnswer(
        epochs=[
            MergedEpoch(
                start_frame=e.start,
                end_frame=e.stop,
                label=e.label,
                description=e.description,
                confidence=e.confidence,
            )
            for e in merged.epochs
        ],
        vocabulary=merged.vocabulary,
    )


register_solver(MERGE_PROMPT)(offline_merge)


def _one_line(text: str) -> str:
    """Text from data (model captions and definitions, animal names from the keypoint
    file) as one line: it cannot add lines (fake snippets or rules) to a prompt; it stays
    a field of its own line."""
    return " ".join(text.split())


def _caption_lines(win: MergeWindow) -> str:
    return "\n".join(
        f"{p.start}-{p.stop} ({(p.stop - p.start) / win.fps:.1f} s): {_one_line(c.label)}; "
        f"posture {_one_line(c.posture)}; direction {_one_line(c.direction)}; speed "
        f"{c.speed}; social {_one_line(c.social_interaction)}; confidence {c.confidence:.2f}"
        for p, c in zip(win.pieces, win.captions, strict=True)
    )


def make_merge_stage() -> Stage[MergeWindow, MergeProposal]:
    """Merge one window of captions into epochs: the LLM, checked; escalation = the rules."""

    async def propose(
        win: MergeWindow, feedback: Feedback | None, ctx: StageContext
    ) -> MergeProposal:
        prompt = load_prompt(MERGE_PROMPT)
        text = prompt.render(
            animal=_one_line(win.animal),
            start_frame=win.start,
            end_frame=win.stop,
            fps=f"{win.fps:g}",
            captions=_caption_lines(win),
            vocabulary="\n".join(
                f"- {_one_line(k)}: {_one_line(v)}" for k, v in win.vocabulary.items()
            )
            or "(none yet)",
            min_epoch_frames=win.min_frames,
            min_epoch_s=f"{win.min_frames / win.fps:.2f}",
            feedback=feedback.as_text() if feedback else "",
        )
        answer = await ctx.ask(
            "llm",
            [Message("user", text)],
            prompt=prompt.ref,
            output=MergeAnswer,
            sampling=MERGE_SAMPLING,
            payload={
                "animal": win.animal,
                "start": win.start,
                "stop": win.stop,
                "pieces": [p.model_dump() for p in win.pieces],
                "min_frames": win.min_frames,
                "vocabulary": win.vocabulary,
                "attempt": ctx.attempt,
            },
        )
        parsed = answer.require()
        epochs = []
        for i, e in enumerate(parsed.epochs, start=1):
            try:
                epochs.append(
                    Epoch(
                        start=e.start_frame,
                        stop=e.end_frame,
                        label=normalise_label(e.label) or e.label,
                        description=e.description,
                        confidence=e.confidence,
                    )
                )
            except ValidationError as exc:
                raise ModelOutputError(
                    f"epoch {i} [{e.start_frame}, {e.end_frame}) is empty: end_frame must be "
                    f"greater than start_frame (end_frame is exclusive)"
                ) from exc
        vocab = {normalise_label(k) or k: v for k, v in parsed.vocabulary.items()}
        return MergeProposal(epochs=epochs, vocabulary=vocab, source="model")

    async def rules(
        win: MergeWindow, last: MergeProposal | None, fb: Feedback, ctx: StageContext
    ) -> MergeProposal:
        result: MergeProposal = ctx.tool(
            "rule_merge", rule_merge, win.pieces, win.min_frames, win.vocabulary
        )
        return result

    def tiling(name: str) -> Callable[[MergeWindow, MergeProposal], CheckResult]:
        def check(win: MergeWindow, out: MergeProposal) -> CheckResult:
            results = check_window_tiling(out.epochs, win.start, win.stop)
            return next(r for r in results if r.name == name)

        check.__name__ = name
        return check

    def vocabulary(win: MergeWindow, out: MergeProposal) -> CheckResult:
        return check_vocabulary(out.epochs, [*win.vocabulary, *out.vocabulary])

    def min_duration(win: MergeWindow, out: MergeProposal) -> CheckResult:
        if win.stop - win.start < win.min_frames:
            return CheckResult(
                name="min_duration",
                passed=True,
                message=f"the window is shorter than {win.min_frames} frames",
            )
        return check_min_duration(out.epochs, win.min_frames)

    return Stage(
        name="merge",
        propose=propose,
        checks=[
            tiling("tiling_gaps"),
            tiling("tiling_overlaps"),
            tiling("tiling_bounds"),
            vocabulary,
            min_duration,
        ],
        escalations=[Escalation("rule_merge", "merge by the synonym rules, no model", rules)],
        budget=Budget(max_retries=2, max_attempts=4, max_model_calls=6),
        describe=lambda p: (
            f"{p.source}: "
            + ", ".join(f"[{e.start}, {e.stop}) {e.label}" for e in p.epochs[:40])
            + (" …" if len(p.epochs) > 40 else "")
        ),
    )


# --- contact sheets ------------------------------------------------------------------------


class _Sheets:
    """Contact sheets of snippets: video frames when there is a video, else drawings."""

    def __init__(self, inputs: SegmentInputs, points: NDArray[np.float64]) -> None:
        self.inputs = inputs
        self.points = points
        self.edges = skeleton_edges(points)
        layout = layout_named(inputs.layout, inputs.keypoint_names)
        names = [normalise_label(k) for k in inputs.keypoint_names]
        self.head = [names.index(normalise_label(h)) for h in layout.head]
        self.reader = VideoReader(inputs.video) if inputs.video is not None else None

    def close(self) -> None:
        if self.reader is not None:
            self.reader.close()

    def __call__(self, item: SnippetItem) -> tuple[Image, str]:
        opts, fps = self.inputs.options, self.inputs.fps
        sampled = sample_frames(item.snippet, fps, opts.sample_fps)
        pick = np.unique(np.linspace(0, len(sampled) - 1, min(opts.sheet_tiles, len(sampled))))
        frames = [sampled[int(i)] for i in pick]
        captions = [f"frame {f}" for f in frames]
        a = item.animal
        if self.reader is not None:
            images = [self.reader[f] for f in frames]
            focal = self.points[frames, a] if self.inputs.dims == 2 else None
            tiles = video_tiles(images, focal)
            where = (
                "cropped around the animal (its keypoints are marked with orange dots)"
                if focal is not None
                else f"whole frames (the keypoints are 3D, so no crop); the animal is {item.name!r}"
            )
            note = (
                f"The image is a contact sheet of {len(frames)} video frames sampled from "
                f"the snippet, in reading order, {where}. Each tile is labelled with its "
                "frame number."
            )
        else:
            s = item.snippet
            with np.errstate(all="ignore"):
                path = np.nanmean(self.points[s.start : s.stop, a, :, :2], axis=1)
            tiles = skeleton_tiles(
                self.points[frames],
                a,
                self.edges,
                path=path,
                head=self.head,
                flip_y=self.inputs.dims == 3,
            )
            view = "from above" if self.inputs.dims == 3 else "in image coordinates"
            note = (
                "There is no video: the image is a drawing of the tracked keypoints seen "
                f"{view}, one panel per sampled frame ({len(frames)} panels, reading "
                "order, labelled with the frame number). The animal described is drawn in "
                "orange with its head circled, other animals in grey; the green line is its "
                "path over the snippet."
            )
        return Image.from_array(tile_images(tiles, captions)), note


# --- graph ----------------------------------------------------------------------------------


def build_segment_graph(rt: Runtime, inputs: SegmentInputs) -> StateGraph[SegmentState]:
    """The segment ``StateGraph``: load -> cluster -> snippets -> caption* -> merge* -> report."""
    run = rt.run
    opts = inputs.options
    min_epoch = max(1, round(opts.min_epoch_s * inputs.fps))

    def timed(state: SegmentState, node: str, t0: float) -> dict[str, float]:
        timings = dict(state.get("timings", {}))
        timings[node] = round(timings.get(node, 0.0) + time.perf_counter() - t0, 4)
        return timings

    def load(state: SegmentState) -> dict[str, Any]:
        t0 = time.perf_counter()
        warnings: list[str] = []
        with rt.tracer.scope(node="load"):
            data = _traced(rt, "read_keypoints", _read, inputs)
            points, glitches = _traced(
                rt, "mask_implausible_points", mask_implausible_points, data.points
            )
            if glitches:
                _warn(
                    rt,
                    warnings,
                    f"{glitches} keypoint position(s) of {inputs.keypoints} are infinite or "
                    f"more than {IMPLAUSIBLE_SPREAD:g} times the session's spread away "
                    "(tracking or export glitches); they are treated as missing.",
                )
            feats: Features = _traced(rt, "compute_features", _features, inputs, points)
            run.save_arrays("points", points=points)
            masked = feats.report["masked_frames"]
            for name, n in masked.items():
                if n == inputs.frames:
                    _warn(
                        rt,
                        warnings,
                        f"{name}: no frame has the keypoints the body layout "
                        f"{inputs.layout!r} needs ({', '.join(feats.layout.names())}); "
                        "its whole timeline is labelled 'untracked'.",
                    )
                elif n > opts.nan_warning * inputs.frames:
                    _warn(
                        rt,
                        warnings,
                        f"{name}: {n} of {inputs.frames} frames ({n / inputs.frames:.0%}) have "
                        "no features (keypoints missing for longer than the "
                        f"{opts.max_gap_s:g} s gap filling); they are not clustered and "
                        "snippets made mostly of them are captioned 'untracked'.",
                    )
            if not feats.valid.any():
                empty = [
                    k
                    for k, col in zip(inputs.keypoint_names, np.moveaxis(points, 2, 0), strict=True)
                    if np.isnan(col).all()
                ]
                never = f" ({', '.join(empty)} never tracked)" if empty else ""
                raise InputError(
                    f"no frame of {inputs.keypoints} has every keypoint the body layout "
                    f"{inputs.layout!r} needs ({', '.join(feats.layout.names())})"
                    f"{never}; nothing can be clustered.",
                    fix="check the keypoint file (are the keypoints all NaN?), or pass a "
                    "layout naming keypoints that are tracked.",
                )
        rt.report_progress("load", 1, 1)
        return {
            "frames": inputs.frames,
            "animals": inputs.animals,
            "fps": inputs.fps,
            "features": list(feats.names),
            "nan_report": feats.report,
            "warnings": warnings,
            "timings": timed(state, "load", t0),
        }

    async def cluster(state: SegmentState) -> dict[str, Any]:
        t0 = time.perf_counter()
        warnings = list(state.get("warnings", []))
        points = run.load_arrays("points")["points"]
        feats = _features(inputs, points)
        x, index = feats.matrix()
        if len(x) < opts.k:
            raise InputError(
                f"only {len(x)} (frame, animal) rows of {inputs.keypoints} have features, "
                f"fewer than k={opts.k} clusters.",
                fix="pass a smaller --k or a longer recording.",
            )
        fits = 2 if opts.check_stability else 1
        total = fits * (opts.dec_pretrain_epochs + opts.dec_cluster_iters)

        def progress(stage: str, step: int, steps: int) -> None:
            rt.report_progress("clustering (DEC)", 1, total)

        stage = make_cluster_stage(opts, progress)
        with rt.tracer.scope(node="cluster"):
            outcome = await run_item(
                stage, "clusters", x, client=rt.client, tracer=rt.tracer, supervisor=rt.supervisor
            )
        if outcome.output is None:  # fit_dec raised: the trace has the error
            raise RuntimeError(f"DEC failed on {inputs.keypoints}: {outcome.flag_reason}")
        result, used_seed = outcome.output.result, outcome.output.seed
        if outcome.status != "accepted":
            with rt.tracer.scope(node="cluster"):
                _warn(rt, warnings, f"clusters: {outcome.checks[0].message} (kept anyway)")
        ari: float | None = None
        stable: bool | None = None
        if opts.check_stability:
            with rt.tracer.scope(node="cluster", item="stability"):
                fit_with_progress = functools.partial(fit_dec, progress=progress)
                cfg = _dec_config(opts, used_seed + 1)
                other = _traced(rt, "fit_dec", fit_with_progress, x, config=cfg)
                ari = _traced(
                    rt, "assignment_stability", assignment_stability, result.labels, other.labels
                )
                check = check_stability(float(ari), opts.stability_ari)
                rt.tracer.check(check)
                stable = check.passed
                if not check.passed:
                    _warn(rt, warnings, f"stability: {check.message} (reported, not fatal)")
        labels = np.full((inputs.frames, len(inputs.animals)), -1, dtype=np.int64)
        labels[index[:, 0], index[:, 1]] = result.labels
        confidence = np.full(labels.shape, np.nan)
        confidence[index[:, 0], index[:, 1]] = result.soft.max(axis=1)
        run.save_arrays("clusters", labels=labels, confidence=confidence)
        counts = np.bincount(result.labels, minlength=opts.k)
        return {
            "clusters": {
                "k": opts.k,
                "seed": used_seed,
                "rows": len(x),
                "status": outcome.status,
                "check": outcome.checks[0].message if outcome.checks else "",
                "ari_between_seeds": None if ari is None else round(float(ari), 4),
                "stability_passed": stable,
                "iterations": result.iterations,
                "converged": result.converged,
                "usage": [int(c) for c in counts],
            },
            "warnings": warnings,
            "timings": timed(state, "cluster", t0),
        }

    def snippets(state: SegmentState) -> dict[str, Any]:
        t0 = time.perf_counter()
        points = run.load_arrays("points")["points"]
        labels = run.load_arrays("clusters")["labels"]
        # summaries say "not tracked" for an absent partner, not the clustering's fill
        feats = _features(inputs, points, fill_absent_partner=False)
        base = kinematic_baselines(feats)
        rows: list[dict[str, Any]] = []
        with rt.tracer.scope(node="snippets"):
            for a, name in enumerate(inputs.animals):
                cut = _traced(
                    rt,
                    "cut_snippets",
                    cut_snippets,
                    labels[:, a],
                    inputs.fps,
                    min_s=opts.min_snippet_s,
                    max_s=opts.max_snippet_s,
                )
                if opts.split_snippet_s > 0:
                    per_frame = classify_frames(feats, a, base)
                    names = sorted(set(per_frame))
                    codes = np.searchsorted(names, per_frame)
                    cut = _traced(
                        rt,
                        "split_snippets",
                        split_snippets,
                        cut,
                        codes,
                        inputs.fps,
                        min_s=min(opts.split_snippet_s, opts.max_snippet_s),
                    )
                for s in cut:
                    kin = summarize_snippet(feats, a, s.start, s.stop, base)
                    rows.append(
                        {
                            "animal": a,
                            "name": name,
                            "snippet": s.model_dump(),
                            "kinematics": kin.model_dump(),
                        }
                    )
        _write_json(run.artifacts_dir / "snippets.json", rows)
        size = max(opts.caption_chunk, -(-len(rows) // MAX_CAPTION_STEPS))
        return {
            "n_snippets": len(rows),
            "chunk": 0,
            "chunk_size": size,
            "n_chunks": -(-len(rows) // size),
            "captioned_by": {},
            "flagged": [],
            "model_calls": {"caption": 0, "merge": 0},
            "timings": timed(state, "snippets", t0),
        }

    async def caption(state: SegmentState) -> dict[str, Any]:
        t0 = time.perf_counter()
        rows = _read_json(run.artifacts_dir / "snippets.json")
        i, size = state["chunk"], state["chunk_size"]
        part = rows[i * size : (i + 1) * size]
        # a vlm role declared without image input gets the kinematics as text only
        vlm_sees = rt.settings.role("vlm").capabilities.image_input
        wants_images = rt.client.backend != "offline" and vlm_sees
        points = run.load_arrays("points")["points"]
        sheets = _Sheets(inputs, points) if wants_images else None
        env = CaptionEnv(
            options=opts,
            fps=inputs.fps,
            wants_images=wants_images,
            has_video=inputs.video is not None,
            sheet=sheets if sheets is not None else _no_sheet,
        )
        items = [
            (
                f"{r['name']} {r['snippet']['start']}-{r['snippet']['stop']}",
                SnippetItem(
                    animal=r["animal"],
                    name=r["name"],
                    snippet=Snippet.model_validate(r["snippet"]),
                    kinematics=SnippetKinematics.model_validate(r["kinematics"]),
                ),
            )
            for r in part
        ]
        try:
            outcomes = await run_stage(
                make_caption_stage(env),
                items,
                client=rt.client,
                tracer=rt.tracer,
                supervisor=rt.supervisor,
                concurrency=opts.concurrency,
                on_done=lambda _o: rt.report_progress("captioning", 1, state["n_snippets"]),
            )
        finally:
            if sheets is not None:
                sheets.close()
        by = dict(state.get("captioned_by", {}))
        flagged = list(state.get("flagged", []))
        records = []
        for (item_id, item), o in zip(items, outcomes, strict=True):
            if o.status == "accepted" and o.output is not None:
                cap, source = o.output.caption, o.output.source
            else:
                cap, source = caption_from_kinematics(item.kinematics).caption, "kinematics"
                flagged.append(f"caption {item_id}")
            route = "model" if source == "model" else source.replace(" (escalation)", "_fallback")
            by[route] = by.get(route, 0) + 1
            records.append(
                {
                    "animal": item.animal,
                    "start": item.snippet.start,
                    "stop": item.snippet.stop,
                    "cluster": item.snippet.cluster,
                    "caption": cap.model_dump(),
                    "source": route,
                    "status": o.status,
                    "attempts": o.attempts,
                    "model_calls": o.model_calls,
                }
            )
        _write_json(run.artifacts_dir / f"captions_{i:04d}.json", records)
        calls = dict(state["model_calls"])
        calls["caption"] = calls.get("caption", 0) + sum(o.model_calls for o in outcomes)
        return {
            "chunk": i + 1,
            "captioned_by": by,
            "flagged": flagged,
            "model_calls": calls,
            "animal": 0,
            "vocabulary": dict(state.get("vocabulary", {})),
            "epochs": dict(state.get("epochs", {})),
            "merge_routes": dict(state.get("merge_routes", {})),
            "timings": timed(state, "caption", t0),
        }

    def more_captions(state: SegmentState) -> str:
        return "caption" if state["chunk"] < state["n_chunks"] else "merge"

    async def merge(state: SegmentState) -> dict[str, Any]:
        t0 = time.perf_counter()
        a = state["animal"]
        name = inputs.animals[a]
        records = [
            r
            for i in range(state["n_chunks"])
            for r in _read_json(run.artifacts_dir / f"captions_{i:04d}.json")
            if r["animal"] == a
        ]
        records.sort(key=lambda r: r["start"])
        captions = [Caption.model_validate(r["caption"]) for r in records]
        pieces = [
            Epoch(
                start=r["start"],
                stop=r["stop"],
                label=c.label,
                description=_describe(c),
                confidence=c.confidence,
                cluster=r["cluster"] if r["cluster"] >= 0 else None,
            )
            for r, c in zip(records, captions, strict=True)
        ]
        vocabulary = dict(state.get("vocabulary", {}))
        routes = dict(state.get("merge_routes", {}))
        flagged = list(state.get("flagged", []))
        windows = plan_windows(len(pieces), opts.merge_window, opts.merge_overlap)
        parts: list[tuple[int, int, Sequence[Epoch]]] = []
        calls = 0
        stage = make_merge_stage()
        for w, (i0, i1) in enumerate(windows, start=1):
            win = MergeWindow(
                animal=name,
                start=pieces[i0].start,
                stop=pieces[i1 - 1].stop,
                pieces=pieces[i0:i1],
                captions=captions[i0:i1],
                vocabulary=dict(vocabulary),
                min_frames=min_epoch,
                fps=inputs.fps,
            )
            item = f"{name} window {w}/{len(windows)}"
            o = await run_item(
                stage, item, win, client=rt.client, tracer=rt.tracer, supervisor=rt.supervisor
            )
            calls += o.model_calls
            if o.status == "accepted" and o.output is not None:
                proposal = o.output
                route = "model" if proposal.source == "model" else "rules_fallback"
            else:
                proposal = rule_merge(win.pieces, min_epoch, win.vocabulary)
                route = "rules_fallback"
                flagged.append(f"merge {item}")
            routes[route] = routes.get(route, 0) + 1
            for label, definition in proposal.vocabulary.items():
                vocabulary.setdefault(label, definition)
            parts.append((win.start, win.stop, proposal.epochs))
            rt.report_progress("merging", 1, len(windows) * len(inputs.animals))
        with rt.tracer.scope(node="merge", item=name):
            stitched = _traced(
                rt, "stitch_windows", stitch_windows, parts, boundaries=[p.start for p in pieces]
            )
            tidy = _traced(rt, "merge_epochs", merge_epochs, stitched, min_epoch)
            labels = run.load_arrays("clusters")["labels"][:, a]
            final = [
                e.model_copy(update={"cluster": majority_cluster(labels, e.start, e.stop)})
                for e in tidy
            ]
            for vocab_label in {e.label for e in final} - set(vocabulary):
                vocabulary[vocab_label] = DEFINITIONS.get(vocab_label, vocab_label)
            checks = [
                *check_tiling(final, inputs.frames),
                check_vocabulary(final, list(vocabulary)),
            ]
            if inputs.frames >= min_epoch:
                checks.append(check_min_duration(final, min_epoch))
            for c in checks:
                rt.tracer.check(c)
        if not all(c.passed for c in checks[:4]):
            raise RuntimeError(
                f"the ethogram of {name} does not tile its {inputs.frames} frames: "
                + "; ".join(c.message for c in checks[:4] if not c.passed)
            )
        _write_json(run.artifacts_dir / f"epochs_{a:03d}.json", [e.model_dump() for e in final])
        model_calls = dict(state["model_calls"])
        model_calls["merge"] = model_calls.get("merge", 0) + calls
        epochs = dict(state.get("epochs", {}))
        epochs[name] = len(final)
        return {
            "animal": a + 1,
            "vocabulary": vocabulary,
            "merge_routes": routes,
            "flagged": flagged,
            "model_calls": model_calls,
            "epochs": epochs,
            "timings": timed(state, "merge", t0),
        }

    def more_animals(state: SegmentState) -> str:
        return "merge" if state["animal"] < len(inputs.animals) else "report"

    def report(state: SegmentState) -> dict[str, Any]:
        return {"outputs": write_segment_outputs(rt, inputs, state)}

    g: StateGraph[SegmentState] = StateGraph(SegmentState)
    g.add_node("load", load)
    g.add_node("cluster", cluster)
    g.add_node("snippets", snippets)
    g.add_node("caption", caption)
    g.add_node("merge", merge)
    g.add_node("report", report)
    g.add_edge(START, "load")
    g.add_edge("load", "cluster")
    g.add_edge("cluster", "snippets")
    g.add_conditional_edges("snippets", more_captions, ["caption", "merge"])
    g.add_conditional_edges("caption", more_captions, ["caption", "merge"])
    g.add_conditional_edges("merge", more_animals, ["merge", "report"])
    g.add_edge("report", END)
    return g


def _no_sheet(item: SnippetItem) -> tuple[Image, str]:
    raise AssertionError("contact sheets are only drawn for a model that sees images")


def _describe(c: Caption) -> str:
    social = "" if c.social_interaction.startswith("none") else f"; {c.social_interaction}"
    return f"{c.posture}, {c.direction}, speed {c.speed}{social}"


async def run_segment(rt: Runtime, inputs: SegmentInputs) -> dict[str, Any]:
    """Run (or resume) the segment graph in ``rt.run``; return the final state.

    Outputs (see ``graphs.segment_report``) are written to the run's ``outputs/``.
    """
    return await run_graph(build_segment_graph(rt, inputs), rt, {"frames": inputs.frames})


__all__ = [
    "CAPTION_PROMPT",
    "GRAPH_NAME",
    "MERGE_PROMPT",
    "Caption",
    "MergeAnswer",
    "MergedEpoch",
    "build_segment_graph",
    "offline_caption",
    "offline_merge",
    "rule_merge",
    "run_segment",
]
