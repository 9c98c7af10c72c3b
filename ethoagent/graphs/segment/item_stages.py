"""The segment graph's checked stages (propose -> check -> retry/escalate, one item each).

``cluster`` fits DEC over every (frame, animal) row; ``caption`` captions one snippet (the
kinematic cheap path or the ``vlm`` role); ``merge`` joins one window of captions into epochs
(the ``llm`` role, escalation = the rule-based merge). The node functions in
``graphs.segment.stages`` run them; the offline solvers of their prompts live here. A
snippet goes to the vlm in one of three forms, each its own versioned prompt: a short
video clip (``segment/caption_video``, where the role has ``video_input``), a contact sheet
of stills (``segment/caption``, with ``image_input``) or the measurements as text.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from pydantic import BaseModel, Field, ValidationError

from ethoagent.agent.offline import register_solver
from ethoagent.agent.types import Clip, Image, Message, Request, Sampling
from ethoagent.config import Budget
from ethoagent.errors import ModelOutputError
from ethoagent.graphs.kit.nodes import Escalation, Feedback, Stage, StageContext
from ethoagent.graphs.segment.options import SegmentOptions
from ethoagent.model.checks import CheckResult
from ethoagent.model.ethogram import Epoch, Snippet
from ethoagent.nn.dec import DecConfig, DecResult, fit_dec
from ethoagent.prompts import load_prompt
from ethoagent.tools.blob_features import caption_from_blob_kinematics
from ethoagent.tools.captions import (
    DEFINITIONS,
    Caption,
    KinematicCaption,
    SnippetKinematics,
    canonical_label,
    caption_from_kinematics,
    check_caption,
    describe_kinematics,
    normalise_label,
)
from ethoagent.tools.clip_motion import (
    ClipMotion,
    caption_from_clip_motion,
    describe_clip_motion,
)
from ethoagent.tools.cluster import check_clusters
from ethoagent.tools.contact_captions import read_blob_contact
from ethoagent.tools.ethogram import check_min_duration, check_vocabulary
from ethoagent.tools.merge import check_window_tiling, merge_epochs

CAPTION_PROMPT = "segment/caption"
CAPTION_VIDEO_PROMPT = "segment/caption_video"
MERGE_PROMPT = "segment/merge"
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


def dec_config(opts: SegmentOptions, seed: int, rows: int = 0) -> DecConfig:
    """The DEC settings of a fit with ``seed`` on ``rows`` rows.

    Pretraining runs ``dec_pretrain_epochs`` epochs, or more where those would be fewer
    than ``dec_pretrain_steps`` mini-batch steps (a 1-minute session's epoch is 7 steps).
    """
    cfg = DecConfig(k=opts.k, seed=seed, cluster_iters=opts.dec_cluster_iters)
    steps_per_epoch = max(1, math.ceil(rows / cfg.batch_size))
    epochs = opts.dec_pretrain_epochs
    if epochs > 0:
        epochs = max(epochs, math.ceil(opts.dec_pretrain_steps / steps_per_epoch))
    return cfg.model_copy(update={"pretrain_epochs": epochs})


# --- stage: clustering -------------------------------------------------------------------


@dataclass(frozen=True)
class ClusterFit:
    """A DEC fit and the seed it used."""

    result: DecResult
    seed: int


def make_cluster_stage(
    opts: SegmentOptions, progress: Callable[[str, int, int], None] | None = None
) -> Stage[NDArray[np.float64], ClusterFit]:
    """DEC over the design matrix ``(rows, features)``; check ``clusters``.

    Escalations re-seed the fit (seed + 1000, seed + 2000).
    """

    def fit(x: NDArray[np.float64], seed: int, ctx: StageContext) -> ClusterFit:
        cfg = dec_config(opts, seed, len(x))
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
    """A snippet's caption and where it came from (``kinematics`` or ``model``)."""

    caption: Caption
    source: str


@dataclass
class CaptionEnv:
    """What the caption proposer needs besides its input (closed over).

    Attributes:
        options: the segment options.
        fps: the recording's frame rate, Hz.
        wants_images: the vlm is shown a contact sheet (``image_input``, online backend).
        wants_video: the vlm is shown a clip (``video_input``, online backend, a video).
        has_video: the session has a video.
        sheet: a snippet's contact sheet and the sentence describing it.
        clip: a snippet's clip and the sentence describing it.
        motion: a snippet's pixel motion (``None`` without a video); used where the
            keypoints do not track the animal.
        captioner: the cheap captioner's name in ``CAPTIONERS``: ``"blob"`` where the
            kinematics are blob features (video alone), else ``"kinematics"``.
    """

    options: SegmentOptions
    fps: float
    wants_images: bool
    has_video: bool
    sheet: Callable[[SnippetItem], tuple[Image, str]]
    wants_video: bool = False
    clip: Callable[[SnippetItem], tuple[Clip, str]] | None = None
    motion: Callable[[SnippetItem], ClipMotion | None] | None = None
    captioner: str = "kinematics"


def caption_blob(k: SnippetKinematics) -> KinematicCaption:
    """The blob captioner, with animals in contact read as contact (``read_blob_contact``)."""
    return read_blob_contact(caption_from_blob_kinematics(k), k)


CAPTIONERS: dict[str, Callable[[SnippetKinematics], KinematicCaption]] = {
    "kinematics": caption_from_kinematics,
    "blob": caption_blob,
}
"""The cheap captioners by name: keypoint kinematics, or blob features (video alone)."""


def _no_image_note() -> str:
    return "No image is attached: judge from the kinematics."


def _untracked(k: SnippetKinematics) -> bool:
    return caption_from_kinematics(k).caption.label == "untracked"


def offline_caption(request: Request) -> Caption:
    """Offline answer to ``segment/caption``: the cheap captioner's caption.

    The captioner is ``CAPTIONERS[payload["captioner"]]`` (the kinematic one by default).
    Where the keypoints do not track the animal and the request carries the snippet's
    pixel motion (``payload["visual"]``), the caption comes from that motion instead.
    """
    kin = SnippetKinematics.model_validate(request.payload["kinematics"])
    visual = request.payload.get("visual")
    if visual is not None and _untracked(kin):
        return caption_from_clip_motion(ClipMotion.model_validate(visual)).caption
    return CAPTIONERS[str(request.payload.get("captioner", "kinematics"))](kin).caption


register_solver(CAPTION_PROMPT)(offline_caption)


@dataclass
class _Shown:
    """What one caption request shows the vlm: prompt, attachments and a note on them."""

    prompt: str
    form: str
    note: str
    images: tuple[Image, ...] = ()
    clips: tuple[Clip, ...] = ()


def _shown(env: CaptionEnv, item: SnippetItem) -> _Shown:
    """The richest form the vlm takes: a clip, else a contact sheet, else text only."""
    if env.wants_video and env.clip is not None:
        clip, note = env.clip(item)
        return _Shown(CAPTION_VIDEO_PROMPT, "video", note, clips=(clip,))
    if env.wants_images:
        image, note = env.sheet(item)
        return _Shown(CAPTION_PROMPT, "sheet", note, images=(image,))
    return _Shown(CAPTION_PROMPT, "text", _no_image_note())


def _rule(
    env: CaptionEnv, item: SnippetItem, visual: ClipMotion | None
) -> tuple[KinematicCaption, str]:
    """The cheap caption: from pixels where keypoints do not track the animal."""
    rule = CAPTIONERS[env.captioner](item.kinematics)
    if visual is not None and rule.caption.label == "untracked":
        return caption_from_clip_motion(visual), "pixels"
    return rule, "kinematics"


def _caption_values(
    env: CaptionEnv,
    item: SnippetItem,
    shown: _Shown,
    visual: ClipMotion | None,
    feedback: Feedback | None,
) -> dict[str, object]:
    """The caption prompt's placeholders for one snippet."""
    measured = describe_kinematics(item.kinematics)
    if visual is not None:
        measured += "\nFrom the pixels (the keypoints do not track it here):\n"
        measured += describe_clip_motion(visual)
    s = item.snippet
    values: dict[str, object] = {
        "animal": _one_line(item.name),
        "start_frame": s.start,
        "end_frame": s.stop,
        "seconds": f"{s.seconds:.2f}",
        "fps": f"{env.fps:g}",
        "kinematics": measured,
        "feedback": feedback.as_text() if feedback else "",
    }
    values["clip_note" if shown.form == "video" else "image_note"] = shown.note
    return values


def _caption_message(text: str, shown: _Shown) -> Message:
    return Message("user", text, images=shown.images, clips=shown.clips)


def _visual_of(env: CaptionEnv, item: SnippetItem) -> ClipMotion | None:
    """The snippet's pixel motion where the keypoints do not track the animal."""
    if env.motion is None or not env.has_video or not _untracked(item.kinematics):
        return None
    return env.motion(item)


def make_caption_stage(env: CaptionEnv) -> Stage[SnippetItem, CaptionProposal]:
    """Caption one snippet: cheap kinematic path, else the VLM; check schema and kinematics."""
    opts = env.options

    visual_of = functools.partial(_visual_of, env)

    async def propose(
        item: SnippetItem, feedback: Feedback | None, ctx: StageContext
    ) -> CaptionProposal:
        visual = visual_of(item)
        rule, source = _rule(env, item, visual)
        blind = rule.caption.label == "untracked" and env.has_video
        if feedback is None and not opts.model_every_snippet and rule.confident and not blind:
            ctx.tracer.event(
                "cheap_path",
                source=source,
                model_called=False,
                label=rule.caption.label,
                reason=f"{source} are clear: {rule.reason}",
            )
            return CaptionProposal(caption=rule.caption, source=source)
        shown = _shown(env, item)
        prompt = load_prompt(shown.prompt)
        ctx.tracer.event(
            "caption_form",
            form=shown.form,
            prompt=str(prompt.ref),
            frames=sum(len(c.frames) for c in shown.clips),
            clip_fps=shown.clips[0].fps if shown.clips else None,
        )
        answer = await ctx.ask(
            "vlm",
            [
                _caption_message(
                    prompt.render(**_caption_values(env, item, shown, visual, feedback)), shown
                )
            ],
            prompt=prompt.ref,
            output=Caption,
            payload={
                "animal": item.name,
                "start": item.snippet.start,
                "stop": item.snippet.stop,
                "kinematics": item.kinematics.model_dump(),
                "visual": visual.model_dump() if visual is not None else None,
                "captioner": env.captioner,
                "form": shown.form,
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
        rule, source = _rule(env, item, visual_of(item))
        return CaptionProposal(caption=rule.caption, source=f"{source} (escalation)")

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
    """Epochs of a merge window, the definitions of their labels, and their source."""

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
    """Text from data as one line, so it stays a field of its own line in a prompt.

    Model captions and definitions and animal names from the keypoint file cannot add
    lines (fake snippets or rules) to a prompt.
    """
    return " ".join(text.split())


def _caption_lines(win: MergeWindow) -> str:
    return "\n".join(
        f"{p.start}-{p.stop} ({(p.stop - p.start) / win.fps:.1f} s): {_one_line(c.label)}; "
        f"posture {_one_line(c.posture)}; direction {_one_line(c.direction)}; speed "
        f"{c.speed}; social {_one_line(c.social_interaction)}; confidence {c.confidence:.2f}"
        for p, c in zip(win.pieces, win.captions, strict=True)
    )


async def _propose_merge(
    win: MergeWindow, feedback: Feedback | None, ctx: StageContext
) -> MergeProposal:
    """Ask ``segment/merge`` for the window's epochs and their labels' definitions."""
    prompt = load_prompt(MERGE_PROMPT)
    text = prompt.render(
        animal=_one_line(win.animal),
        start_frame=win.start,
        end_frame=win.stop,
        fps=f"{win.fps:g}",
        captions=_caption_lines(win),
        vocabulary="\n".join(f"- {_one_line(k)}: {_one_line(v)}" for k, v in win.vocabulary.items())
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


def make_merge_stage() -> Stage[MergeWindow, MergeProposal]:
    """Merge one window of captions into epochs: the LLM, checked; escalation = the rules."""

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
        propose=_propose_merge,
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
