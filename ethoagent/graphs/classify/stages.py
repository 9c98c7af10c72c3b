"""The classify stage: one query window the classical detector is unsure of, to the model.

The ``vlm`` role (prompt ``classify/classify``) gets the class definitions, ``k``
in-context examples of every class chosen by similarity to the window
(``tools.classify.select_examples``), the window's image and, optionally, its keypoint
summary, and answers a probability per class (``ClassifyAnswer``). Checks: ``schema``,
``sum_to_one`` and ``temporal_plausibility``; a failure is retried with the reason in the
prompt; escalation = the feature kNN without the contradicted classes; still failing, the
window is flagged and its plausible classes kept (``final_probabilities``).

Offline the prompt is answered by ``offline_classify``: kNN to the in-context examples
plus the definitions' prototypes, over the features the request carries.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray
from pydantic import BaseModel, ConfigDict, Field

from ethoagent.agent.offline import register_solver
from ethoagent.agent.types import Image, Message, Request
from ethoagent.config import Budget
from ethoagent.graphs.classify.inputs import ClassifyInputs
from ethoagent.graphs.kit.nodes import Escalation, Feedback, Stage, StageContext
from ethoagent.model.checks import CheckResult
from ethoagent.prompts import load_prompt
from ethoagent.tools.classify import (
    check_answer_schema,
    check_probability_sum,
    check_temporal_plausibility,
    class_probabilities,
    definition_logits,
    implausible_classes,
    knn_logits,
    select_examples,
)

CLASSIFY_PROMPT = "classify/classify"


class ClassifyAnswer(BaseModel):
    """Answer of ``classify/classify``: a probability per class of the label set.

    Attributes:
        probabilities: class name -> probability in [0, 1], summing to 1.
        reason: one sentence on what in the images decided it.
    """

    model_config = ConfigDict(extra="forbid")

    probabilities: dict[str, float]
    reason: str = Field("", max_length=600)


# --------------------------------------------------------------------------- stage


@dataclass
class WindowItem:
    """One query window of one animal, as the classify stage sees it.

    Attributes:
        row: index into the run's window arrays.
        features: ``(d,)`` z-scored features the offline solver and the example
            selection compare (image, plus keypoints when ``kinematics_in_prompt``).
        semantic: z-scored ``motion``, ``displacement``, ``elongation`` of its image.
        kin: ``speed``, ``speed_p90`` (BL/s), ``immobile_s`` (s).
    """

    row: int
    animal: int
    name: str
    start: int
    stop: int
    features: NDArray[np.float64]
    semantic: dict[str, float]
    kin: dict[str, float]
    kin_text: str


class ClassProposal(BaseModel):
    """A window's answer: probability per class, who gave it and why."""

    probabilities: dict[str, float]
    source: str
    reason: str = ""


@dataclass
class ClassifyEnv:
    """What the classify proposer needs besides its window (closed over)."""

    inputs: ClassifyInputs
    example_features: NDArray[np.float64]
    example_labels: list[str]
    example_spans: list[tuple[int, int, int]]
    wants_images: bool
    image_of: Any = None
    notes: dict[str, str] = field(default_factory=dict)


def _solve(payload: dict[str, Any]) -> ClassifyAnswer:
    classes: list[str] = list(payload["classes"])
    q = np.asarray(payload["query"]["features"], dtype=np.float64)
    ex = payload.get("examples", [])
    logits = np.zeros(len(classes))
    parts = []
    if ex:
        feats = np.asarray([e["features"] for e in ex], dtype=np.float64)
        logits += knn_logits(q, feats, [e["label"] for e in ex], classes)
        parts.append(f"nearest in-context examples ({len(ex)})")
    defs = payload.get("definitions") or {}
    if defs:
        logits += definition_logits(payload["query"]["semantic"], defs, classes)
        parts.append("definition prototypes")
    excluded = [classes.index(c) for c in payload.get("excluded", []) if c in classes]
    p = class_probabilities(logits, excluded)
    return ClassifyAnswer(
        probabilities={c: float(v) for c, v in zip(classes, p, strict=True)},
        reason="offline: "
        + (" + ".join(parts) or "no examples or definitions: uniform")
        + (f"; ruled out {payload.get('excluded')}" if excluded else ""),
    )


def offline_classify(request: Request) -> ClassifyAnswer:
    """Offline answer to ``classify/classify``.

    The kNN to the in-context examples plus the definitions' prototypes, over the
    features the request carries.
    """
    return _solve(dict(request.payload))


register_solver(CLASSIFY_PROMPT)(offline_classify)


def _definitions_text(inputs: ClassifyInputs) -> str:
    if not inputs.options.use_definitions:
        return "(no definitions are given: judge from the class names and the examples)"
    return "\n".join(f"- {c}: {inputs.definitions[c]}" for c in inputs.classes)


def _example_lines(env: ClassifyEnv, sel: Sequence[int], with_images: bool) -> str:
    if not sel:
        return "(no labelled examples are given)"
    lines = []
    for n, i in enumerate(sel, start=1):
        a, s, e = env.example_spans[i]
        img = f"image {n}: " if with_images else ""
        lines.append(f"- {img}{env.example_labels[i]} ({env.inputs.animals[a]}, frames {s}-{e})")
    return "\n".join(lines)


def make_classify_stage(env: ClassifyEnv) -> Stage[WindowItem, ClassProposal]:
    """The stage classifying one window the detector is unsure of.

    The VLM with in-context examples; checks: schema, sum to one, temporal plausibility.
    """
    inputs = env.inputs
    opts = inputs.options
    classes = inputs.classes

    async def propose(
        item: WindowItem, feedback: Feedback | None, ctx: StageContext
    ) -> ClassProposal:
        prompt = load_prompt(CLASSIFY_PROMPT)
        sel = (
            select_examples(
                item.features, env.example_features, env.example_labels, classes, opts.k
            )
            if opts.use_examples and env.example_labels
            else []
        )
        excluded = (
            implausible_classes(classes, item.kin, min_freezing_s=opts.min_freezing_s)
            if feedback is not None
            else {}
        )
        images: tuple[Image, ...] = ()
        note = "No image is attached: judge from the descriptions."
        if env.wants_images and env.image_of is not None:
            pics = [env.image_of(*env.example_spans[i]) for i in sel]
            pics.append(env.image_of(item.animal, item.start, item.stop))
            images = tuple(Image.from_array(im) for im in pics)
            note = env.notes.get("images", "")
        text = prompt.render(
            classes=", ".join(classes),
            definitions=_definitions_text(inputs),
            examples=_example_lines(env, sel, bool(images)),
            query_image=f"image {len(sel) + 1}" if images else "the query window",
            animal=item.name,
            start_frame=item.start,
            end_frame=item.stop,
            seconds=f"{(item.stop - item.start) / inputs.fps:.2f}",
            image_note=note,
            kinematics=item.kin_text if opts.kinematics_in_prompt else "(not given)",
            min_freezing_s=f"{opts.min_freezing_s:g}",
            feedback=feedback.as_text() if feedback else "",
        )
        answer = await ctx.ask(
            "vlm",
            [Message("user", text, images=images)],
            prompt=prompt.ref,
            output=ClassifyAnswer,
            payload={
                "classes": classes,
                "definitions": inputs.definitions if opts.use_definitions else {},
                "query": {"features": item.features.tolist(), "semantic": item.semantic},
                "examples": [
                    {"label": env.example_labels[i], "features": env.example_features[i].tolist()}
                    for i in sel
                ],
                "excluded": sorted(excluded),
                "window": [item.animal, item.start, item.stop],
                "attempt": ctx.attempt,
            },
        )
        parsed = answer.require()
        return ClassProposal(
            probabilities=dict(parsed.probabilities), source="model", reason=parsed.reason
        )

    async def feature_knn(
        item: WindowItem, last: ClassProposal | None, fb: Feedback, ctx: StageContext
    ) -> ClassProposal:
        sel = select_examples(
            item.features, env.example_features, env.example_labels, classes, opts.k
        )
        excluded = implausible_classes(classes, item.kin, min_freezing_s=opts.min_freezing_s)
        payload = {
            "classes": classes,
            "definitions": inputs.definitions,
            "query": {"features": item.features.tolist(), "semantic": item.semantic},
            "examples": [
                {"label": env.example_labels[i], "features": env.example_features[i].tolist()}
                for i in sel
            ],
            "excluded": sorted(excluded),
        }
        ans: ClassifyAnswer = ctx.tool("feature_knn", _solve, payload)
        return ClassProposal(
            probabilities=ans.probabilities, source="features (escalation)", reason=ans.reason
        )

    def schema(item: WindowItem, out: ClassProposal) -> CheckResult:
        return check_answer_schema(out.probabilities, classes)

    def sums(item: WindowItem, out: ClassProposal) -> CheckResult:
        return check_probability_sum(out.probabilities)

    def plausible(item: WindowItem, out: ClassProposal) -> CheckResult:
        return check_temporal_plausibility(
            out.probabilities, classes, item.kin, min_freezing_s=opts.min_freezing_s
        )

    sums.__name__ = "sum_to_one"
    plausible.__name__ = "temporal_plausibility"
    return Stage(
        name="classify",
        propose=propose,
        checks=[schema, sums, plausible],
        escalations=[
            Escalation(
                "feature_knn",
                "kNN over the window's features against the labelled examples, without the "
                "classes the keypoints rule out (no model)",
                feature_knn,
            )
        ],
        budget=Budget(max_retries=2, max_attempts=4, max_model_calls=4),
        describe=lambda p: (
            f"{p.source}: "
            + ", ".join(
                f"{c}={v:.2f}"
                for c, v in sorted(p.probabilities.items(), key=lambda kv: -kv[1])[:4]
            )
        ),
    )


def kin_text(kin: dict[str, float]) -> str:
    """The keypoint summary of a window as the prompt states it (``WindowItem.kin``)."""

    def f(x: float) -> str:
        return "n/a" if not math.isfinite(x) else f"{x:.2f}"

    return (
        f"body-centre speed mean {f(kin['speed'])} body lengths/s (90th percentile "
        f"{f(kin['speed_p90'])}); immobile for {f(kin['immobile_s'])} s around this window"
    )


def final_probabilities(
    out: ClassProposal | None,
    status: str,
    classes: Sequence[str],
    item: WindowItem,
    min_freezing_s: float,
) -> dict[str, float]:
    """The window's probability vector.

    The accepted answer renormalised; for a flagged window its last answer (or uniform)
    with the classes the keypoints rule out removed.
    """
    if out is None or check_answer_schema(out.probabilities, classes).passed is False:
        p = np.full(len(classes), 1.0 / len(classes))
    else:
        p = np.asarray([max(0.0, float(out.probabilities[c])) for c in classes])
        p = p / p.sum() if p.sum() > 0 else np.full(len(classes), 1.0 / len(classes))
    if status != "accepted":
        ruled = implausible_classes(classes, item.kin, min_freezing_s=min_freezing_s)
        keep = np.asarray([c not in ruled for c in classes])
        if keep.any() and (p * keep).sum() > 0:
            p = p * keep / (p * keep).sum()
    return {c: float(v) for c, v in zip(classes, p, strict=True)}


__all__ = [
    "CLASSIFY_PROMPT",
    "ClassProposal",
    "ClassifyAnswer",
    "ClassifyEnv",
    "WindowItem",
    "final_probabilities",
    "kin_text",
    "make_classify_stage",
    "offline_classify",
]
