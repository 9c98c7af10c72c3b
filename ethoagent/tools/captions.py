"""Snippet captions from kinematics: summaries, a rule-based captioner and its checks.

The segment pipeline describes each snippet (a 1–5 s stretch of one animal) with a
``Caption``: posture, direction, speed, social interaction, a short behaviour label and a
confidence. This module holds the model-free side of that step:

- ``kinematic_baselines`` / ``summarize_snippet``: a ``SnippetKinematics`` per snippet from
  ``tools.features.Features`` (means and percentiles over the snippet's frames, in body
  lengths per second, radians and ratios to the animal's own session median);
- ``describe_kinematics``: the summary as lines of text for a prompt; ``caption_from_kinematics``:
  a caption by fixed thresholds, and whether they are *clear* enough that no model needs to look;
- ``classify_frames``: the captioner's label per frame, from a short window centred on
  it, so that snippets can be split where the behaviour changes inside a cluster run;
- ``check_caption``: does a caption (any source) contradict the kinematics? A
  locomotion label at near-zero speed, "still" at high speed, rearing with a level back,
  a social label with no partner nearby;
- ``normalise_label`` / ``canonical_label``, ``SYNONYMS`` and ``DEFINITIONS``, re-exported
  from ``tools.label_names``.

Units: speeds in body lengths per second (BL/s; one body length = the animal's median
head–tail-base distance), angles in radians, heading rates in rad/s (counter-clockwise in
the x–y plane positive; with z up that is a left turn seen from above, in image
coordinates (y down) it is clockwise on screen).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Literal

import numpy as np
from numpy.typing import NDArray
from pydantic import BaseModel, ConfigDict, Field

from ethoagent.errors import InputError
from ethoagent.model.checks import CheckResult
from ethoagent.tools.features import PAIR_FEATURES, Features, feature_base
from ethoagent.tools.label_names import DEFINITIONS, SYNONYMS, canonical_label, normalise_label

__all__ = [
    "DEFINITIONS",
    "SYNONYMS",
    "Caption",
    "KinematicCaption",
    "SnippetKinematics",
    "Speed",
    "canonical_label",
    "caption_from_kinematics",
    "check_caption",
    "classify_frames",
    "describe_kinematics",
    "kinematic_baselines",
    "normalise_label",
    "summarize_snippet",
]

Speed = Literal["still", "slow", "moderate", "fast", "unknown"]
"""Coarse speed of a caption."""

# Thresholds of the captioner (BL/s, rad/s, ratios); see caption_from_kinematics.
STILL_SPEED = 0.1
SLOW_SPEED = 0.8
WALK_MAX_SPEED = 2.2
FAST_SPEED = 2.5
TURN_RATE = 1.5
REAR_HEIGHT = 1.3
REAR_ELONGATION = 0.8
GROOM_PAW = 0.75
CONTACT_BL = 0.6
NEAR_BL = 1.0
CHASE_BL = 3.0
APPROACH_SPEED = 0.3
APPROACH_SHARE = 0.5
MIN_TRACKED = 0.5
# a usual resting posture (_rest_rule): paw-head and elongation above, height below these
# ratios to the animal's session medians, and the heading rate below USUAL_TURN rad/s
USUAL_PAW = 0.9
USUAL_TURN = 0.3
USUAL_HEIGHT = 1.1
USUAL_ELONGATION = 0.9
STILL_CONFIRMED = 0.9
STILL_UNCONFIRMED = 0.6
IN_PLACE_CONFIDENCE = 0.5
MOVING_IN_PLACE = "moving_in_place"

# Bounds of the consistency check: generous, so that only a plain contradiction fails.
CHECK_MOVING_SPEED = 0.1
CHECK_MOVING_P90 = 0.3
CHECK_STILL_SPEED = 1.0
CHECK_FAST_SPEED = 0.3
CHECK_FAR_BL = 3.0


class Caption(BaseModel):
    """What one animal does in one snippet (a model's answer or the kinematic captioner's).

    Attributes:
        posture: body posture, e.g. ``"on all fours, body level"``, ``"upright"``.
        direction: ``"forward"``, ``"backward"``, ``"turning left"``, ``"none"``, ...
        speed: coarse speed of the body centre.
        social_interaction: ``"none"`` or what it does with which partner.
        label: a short behaviour name, 1–3 words (e.g. ``walking``, ``nose_to_nose``).
        confidence: in ``[0, 1]``.
    """

    model_config = ConfigDict(extra="forbid")

    posture: str = Field(max_length=200)
    direction: str = Field(max_length=200)
    speed: Speed
    social_interaction: str = Field(max_length=300)
    label: str = Field(min_length=1, max_length=60)
    confidence: float = Field(ge=0.0, le=1.0)


class SnippetKinematics(BaseModel):
    """Kinematic summary of one animal over one snippet; ``None`` = not measurable.

    Attributes:
        seconds: duration, s.
        frames: number of frames.
        tracked: fraction of the frames with all of the animal's own (not social)
            features.
        dims: 2 (pixels, y down) or 3 (z up).
        speed: mean body-centre speed, BL/s, of the velocity averaged over the features'
            rolling window (``<name>_mean`` features; per-frame speed without them), so
            that keypoint jitter does not count as movement; ``speed_p90``: its 90th
            percentile.
        forward_speed: mean speed along the heading, BL/s (negative = backwards).
        turn_rate: mean heading change rate, rad/s, counter-clockwise in x–y positive;
            ``abs_turn_rate``: mean of its absolute value.
        elongation: mean head–tail-base length in the x–y plane / body length.
        height_ratio: mean back height / the animal's session median (3D only).
        paw_head_ratio: mean nearest-paw-to-head distance / the animal's session median
            (layouts with paws only).
        partners: number of other animals in the session.
        partner_distance: median over the snippet of the nearer of nose–nose and
            nose–tail-base distance to the nearest animal, BL.
        nose_nose, nose_tailbase: their medians, BL.
        relative_heading: median |heading difference| to the nearest animal, rad.
        approach_speed: mean closing speed to the nearest animal, BL/s (> 0 = closing).
        speed_noise, area_ratio, contact: blob features only: the blob's speed noise floor,
            BL/s, already subtracted from ``speed``; its mean area over its median in the
            surrounding seconds (``area_local``); share of frames its blob is shared.
    """

    model_config = ConfigDict(frozen=True)

    seconds: float
    frames: int
    tracked: float
    dims: int
    speed: float | None = None
    speed_p90: float | None = None
    forward_speed: float | None = None
    turn_rate: float | None = None
    abs_turn_rate: float | None = None
    elongation: float | None = None
    height_ratio: float | None = None
    paw_head_ratio: float | None = None
    partners: int = 0
    partner_distance: float | None = None
    nose_nose: float | None = None
    nose_tailbase: float | None = None
    relative_heading: float | None = None
    approach_speed: float | None = None
    speed_noise: float | None = None
    area_ratio: float | None = None
    contact: float | None = None


class KinematicCaption(BaseModel):
    """The rule-based caption and whether its thresholds are clear enough to skip a model.

    Attributes:
        caption: the caption.
        confident: the kinematics alone decide it (no model needs to look).
        reason: which rule fired, with the numbers.
    """

    caption: Caption
    confident: bool
    reason: str


# --------------------------------------------------------------------------- summaries


def _finite_or_none(x: float) -> float | None:
    return round(float(x), 4) if math.isfinite(x) else None


def _median_per_animal(features: Features, name: str) -> NDArray[np.float64]:
    if name not in features.names:
        return np.full(len(features.individuals), np.nan)
    col = features.column(name)
    with np.errstate(all="ignore"):
        out: NDArray[np.float64] = np.asarray(
            [
                np.nanmedian(col[:, a]) if np.isfinite(col[:, a]).any() else np.nan
                for a in range(col.shape[1])
            ],
            dtype=np.float64,
        )
    return out


def kinematic_baselines(features: Features) -> dict[str, list[float | None]]:
    """Per-animal session medians that snippet ratios are taken against.

    Args:
        features: the session's features.

    Returns:
        ``{"height": [...], "paw_head": [...]}``, one value per individual (body lengths;
        ``None`` where the feature does not exist or was never measured).
    """
    return {
        name: [_finite_or_none(v) for v in _median_per_animal(features, name)]
        for name in ("height", "paw_head")
    }


def summarize_snippet(
    features: Features,
    animal: int,
    start: int,
    stop: int,
    baselines: dict[str, list[float | None]] | None = None,
) -> SnippetKinematics:
    """Summarise one animal's features over frames ``[start, stop)``.

    Args:
        features: the session's features (``values`` ``(frames, individuals, features)``).
        animal: index of the individual.
        start: first frame.
        stop: one past the last frame (``start < stop <= frames``).
        baselines: from ``kinematic_baselines``; ``None`` computes them.

    Returns:
        The summary; values the snippet cannot give (no valid frame, no such feature)
        are ``None``.

    Raises:
        InputError: the animal or frame range is outside the features.
    """
    frames, animals, _ = features.values.shape
    if not 0 <= animal < animals or not 0 <= start < stop <= frames:
        raise InputError(
            f"snippet of animal {animal}, frames [{start}, {stop}) lies outside features of "
            f"{animals} animal(s) and {frames} frames.",
            fix="pass a snippet cut from these features' cluster labels.",
        )
    base = baselines if baselines is not None else kinematic_baselines(features)
    rows = slice(start, stop)
    # tracked = the animal's own features exist (a partner lost does not untrack it)
    own = [i for i, n in enumerate(features.names) if feature_base(n) not in PAIR_FEATURES]
    valid = np.isfinite(features.values[rows, animal][:, own]).all(axis=1)

    def col(name: str) -> NDArray[np.float64]:
        if name not in features.names:
            return np.full(stop - start, np.nan)
        c: NDArray[np.float64] = features.column(name)[rows, animal]
        return c

    def stat(x: NDArray[np.float64], how: str = "mean") -> float | None:
        ok = np.isfinite(x)
        if not ok.any():
            return None
        v = x[ok]
        value = {
            "mean": np.mean(v),
            "median": np.median(v),
            "p90": np.percentile(v, 90),
            "absmean": np.mean(np.abs(v)),
        }[how]
        return _finite_or_none(float(value))

    def ratio(name: str) -> float | None:
        ref = base.get(name, [None] * animals)[animal]
        value = stat(col(name))
        if ref is None or value is None or ref <= 0:
            return None
        return _finite_or_none(value / ref)

    # speed of the windowed (rolling-mean) velocity: keypoint jitter, which has no
    # direction, averages out instead of adding up as it does in per-frame speed
    windowed = {"forward_speed_mean", "lateral_speed_mean"} <= set(features.names)
    speed = (
        np.hypot(col("forward_speed_mean"), col("lateral_speed_mean")) if windowed else col("speed")
    )
    partners = animals - 1
    noise = features.report.get("speed_noise_mbl_s", {}).get(features.individuals[animal])
    nn, nt = col("nose_nose"), col("nose_tailbase")
    with np.errstate(all="ignore"):
        nearer = np.fmin(nn, nt)
    return SnippetKinematics(
        seconds=round((stop - start) / features.fps, 4),
        frames=stop - start,
        tracked=round(float(valid.mean()), 4),
        dims=3 if "height" in features.names else 2,
        speed=stat(speed),
        speed_p90=stat(speed, "p90"),
        forward_speed=stat(col("forward_speed")),
        turn_rate=stat(col("heading_rate")),
        abs_turn_rate=stat(col("heading_rate"), "absmean"),
        elongation=stat(col("elongation")),
        height_ratio=ratio("height"),
        paw_head_ratio=ratio("paw_head"),
        partners=partners,
        partner_distance=stat(nearer, "median") if partners else None,
        nose_nose=stat(nn, "median") if partners else None,
        nose_tailbase=stat(nt, "median") if partners else None,
        relative_heading=stat(col("relative_heading"), "median") if partners else None,
        approach_speed=stat(col("approach_speed")) if partners else None,
        speed_noise=None if noise is None else noise / 1000,
        area_ratio=stat(col("area_local")),
    )


def _fmt(x: float | None, digits: int = 2) -> str:
    return "n/a" if x is None else f"{x:.{digits}f}"


def describe_kinematics(k: SnippetKinematics) -> str:
    """The summary as short lines of text for a prompt (units spelled out)."""
    lines = [
        f"- duration {k.seconds:.2f} s ({k.frames} frames); keypoints tracked in "
        f"{k.tracked:.0%} of them",
        f"- body-centre speed (over short windows, jitter removed): mean {_fmt(k.speed)} "
        f"body lengths/s, 90th percentile {_fmt(k.speed_p90)}; along the heading "
        f"{_fmt(k.forward_speed)} body lengths/s",
        f"- heading change: mean {_fmt(k.turn_rate)} rad/s ({_turn_words(k)}), mean "
        f"absolute {_fmt(k.abs_turn_rate)} rad/s",
        f"- body elongation (head to tail base, seen from above): {_fmt(k.elongation)} of "
        "its usual length",
    ]
    if k.height_ratio is not None:
        lines.append(f"- back height: {_fmt(k.height_ratio)} x its usual height")
    if k.paw_head_ratio is not None:
        lines.append(f"- nearest paw to the head: {_fmt(k.paw_head_ratio)} x its usual distance")
    if k.partners:
        lines.append(
            f"- nearest other animal: nose-nose {_fmt(k.nose_nose)} body lengths, own nose "
            f"to its tail base {_fmt(k.nose_tailbase)} body lengths, heading difference "
            f"{_fmt(k.relative_heading)} rad, closing in at {_fmt(k.approach_speed)} body "
            "lengths/s"
        )
    else:
        lines.append("- no other animal in the session")
    lines += [] if k.contact is None else [f"- in contact (one shared blob) {k.contact:.0%} of it"]
    return "\n".join(lines)


def _turn_words(k: SnippetKinematics) -> str:
    if k.turn_rate is None:
        return "unknown"
    if k.dims == 3:
        return "positive = turning left, seen from above"
    return "positive = clockwise as seen in the image"


# --------------------------------------------------------------------------- captioner


def _speed_word(speed: float | None) -> Speed:
    if speed is None:
        return "unknown"
    if speed < STILL_SPEED:
        return "still"
    if speed < SLOW_SPEED:
        return "slow"
    if speed < FAST_SPEED:
        return "moderate"
    return "fast"


def _direction(k: SnippetKinematics) -> str:
    speed, turn = k.speed, k.turn_rate
    if speed is None or turn is None:
        return "unknown"
    if abs(turn) >= 1.0:
        if k.dims == 3:
            return "turning left" if turn > 0 else "turning right"
        return "turning clockwise in the image" if turn > 0 else "turning counter-clockwise"
    if speed < STILL_SPEED:
        return "none"
    if k.forward_speed is not None and k.forward_speed < -0.3:
        return "backward"
    return "forward"


def _posture(k: SnippetKinematics) -> str:
    if k.height_ratio is not None and k.height_ratio > REAR_HEIGHT:
        return "upright, front body raised"
    if k.elongation is not None and k.elongation < REAR_ELONGATION:
        return "compact (raised or curled; shorter than usual seen from above)"
    if k.paw_head_ratio is not None and k.paw_head_ratio < GROOM_PAW:
        return "hunched, forepaws at the head"
    if k.elongation is not None and k.elongation > 1.05:
        return "stretched"
    if k.elongation is None:
        return "unknown"
    return "on all fours, body level"


def _social(k: SnippetKinematics) -> str:
    if not k.partners:
        return "none (alone in the session)"
    d = k.partner_distance
    if d is None:
        return "unknown (the other animals are not tracked here)"
    if d < CONTACT_BL:
        return f"in contact with the nearest animal ({d:.2f} body lengths)"
    if d < NEAR_BL:
        return f"near another animal ({d:.2f} body lengths)"
    return f"none (nearest animal {d:.2f} body lengths away)"


def _contact_rule(k: SnippetKinematics, speed: float, d: float) -> tuple[str, float, str]:
    """Rule 3 of ``caption_from_kinematics`` in contact: label, confidence and reason.

    With the paws tracked (a whole-body layout), the animal's own posture comes before
    the partner: at rest with the heading swinging at ``USUAL_TURN`` rad/s or more it is
    ``moving_in_place``, as beside a partner in ``_rest_rule`` (three mice in a small
    arena rest against each other while one grooms; a huddle or a contact held nose to
    nose keeps its heading), and with the body shorter than ``REAR_ELONGATION`` it is
    ``rearing`` (rule 5), neither confident. Without paws (CalMS21's 7 points) a short
    body in contact is mostly a head bent to the partner, so the contact labels stay
    (docs/segment.md "Three mice, keypoints").

    Args:
        k: the snippet's kinematics.
        speed: its mean speed, BL/s (below ``SLOW_SPEED``).
        d: distance to the nearest partner, body lengths (below ``CONTACT_BL``).
    """
    turn, paws = k.abs_turn_rate or 0.0, k.paw_head_ratio is not None
    if paws and speed < STILL_SPEED and turn >= USUAL_TURN:
        return MOVING_IN_PLACE, IN_PLACE_CONFIDENCE, f"at rest, heading swinging {turn:.2f} rad/s"
    if paws and k.elongation is not None and k.elongation < REAR_ELONGATION:
        return "rearing", 0.6, f"body shortened to {k.elongation:.2f} of its length"
    if k.nose_nose is not None and k.nose_nose < CONTACT_BL and (k.relative_heading or 0) > 2.3:
        return "nose_to_nose", 0.6, f"facing a partner, nose-nose {d:.2f} BL"
    if k.nose_tailbase is not None and k.nose_tailbase < CONTACT_BL:
        return "nose_to_anogenital", 0.6, f"nose at a partner's tail base ({d:.2f} BL)"
    if speed < STILL_SPEED:
        return "huddle", 0.6, f"at rest {d:.2f} BL from a partner"
    return "close_contact", 0.5, f"moving {d:.2f} BL from a partner"


def _rest_rule(
    k: SnippetKinematics, speed: float, turn: float, near: bool
) -> tuple[str, float, str]:
    """Rule 6 of ``caption_from_kinematics`` at rest: label, confidence and reason.

    With paws tracked, a heading swinging at ``USUAL_TURN`` rad/s or more on average is
    ``moving_in_place``, beside a partner too (docs/segment.md "Three mice"): the body
    rests while the head or forepaws move (mostly grooming in the simulator), not
    confident. Otherwise the posture is usual (paw-head distance and elongation above,
    back height below the ``USUAL_*`` ratios to the session medians: a confirmed
    ``still``) or held off them (crouched, as in freezing), and without paws or
    elongation or beside a partner it tells neither: ``still``, unconfirmed.

    Args:
        k: the snippet's kinematics.
        speed: its mean speed, BL/s (below ``STILL_SPEED``).
        turn: its mean absolute heading rate, rad/s.
        near: a partner within ``NEAR_BL``.
    """
    at_rest = f"mean speed {speed:.3f} BL/s < {STILL_SPEED}"
    paw, height, length = k.paw_head_ratio, k.height_ratio, k.elongation
    if paw is None or length is None or (near and turn < USUAL_TURN):
        why = "a partner within 1 BL" if near and turn < USUAL_TURN else "paws or length untracked"
        return "still", STILL_UNCONFIRMED, f"{at_rest}; posture not confirmed ({why})"
    if turn >= USUAL_TURN:
        reason = f"{at_rest}, but the heading swings at {turn:.2f} rad/s: moving in place"
        return MOVING_IN_PLACE, IN_PLACE_CONFIDENCE, reason
    off = [
        f"paw to head {paw:.2f} x usual" if paw <= USUAL_PAW else "",
        f"back {height:.2f} x its usual height" if (height or 0.0) >= USUAL_HEIGHT else "",
        f"body {length:.2f} of its length" if length <= USUAL_ELONGATION else "",
    ]
    if any(off):
        held = "; ".join(filter(None, off))
        return "still", STILL_UNCONFIRMED, f"{at_rest}; posture held off its usual: {held}"
    return "still", STILL_CONFIRMED, f"{at_rest}; paws, height and heading at their usual values"


def caption_from_kinematics(k: SnippetKinematics) -> KinematicCaption:
    """Caption a snippet by fixed kinematic thresholds.

    Rules, first match wins (speeds in BL/s):

    1. tracked in less than half the frames: ``untracked`` (confident);
    2. slower than 0.1 with the nearest paw < 0.75 x its usual distance to the head:
       ``grooming``;
    3. with a partner nearer than 0.6 BL, below 0.8 BL/s: with paws tracked
       ``moving_in_place`` (at rest, heading swinging >= 0.3 rad/s) or ``rearing``
       (elongation < 0.8), else ``nose_to_nose`` (facing,
       nose-nose < 0.6), ``nose_to_anogenital`` (nose to its tail base < 0.6),
       ``huddle`` (at rest) or ``close_contact``; faster than 2.5 with a partner within
       3 BL heading the same way: ``chase``;
    4. faster than 2.5: ``darting``; back height > 1.3 x usual: ``rearing``
       (confident); closing in on a partner within 3 BL faster than
       0.3 BL/s and at least half the animal's own speed (moving mostly towards it):
       ``approach`` (social context is never confident: it is for the model to judge);
    5. elongation < 0.8 below 0.8 BL/s: ``rearing``;
    6. slower than 0.1: ``turning`` (> 1 rad/s); else ``still``, confident when the
       paws, height and elongation are at their usual values and the heading barely
       changes, and ``moving_in_place`` (not confident) when the paws are tracked and
       the heading swings faster than 0.3 rad/s (``_rest_rule``);
    7. turning faster than 1.5 rad/s below 0.8 BL/s: ``turning``;
    8. otherwise ``walking`` (confident between 0.8 and 2.2 BL/s turning < 1.5 rad/s).

    Darting, still and walking are confident only with no partner within 1 BL.

    Args:
        k: the snippet's kinematics.

    Returns:
        The caption, whether the kinematics alone decide it, and the rule with numbers.
    """
    speed_word = _speed_word(k.speed)
    direction, posture, social = _direction(k), _posture(k), _social(k)

    def make(label: str, confidence: float, confident: bool, reason: str) -> KinematicCaption:
        caption = Caption(
            posture=posture,
            direction=direction,
            speed=speed_word,
            social_interaction=social,
            label=label,
            confidence=confidence,
        )
        return KinematicCaption(caption=caption, confident=confident, reason=reason)

    if k.tracked < MIN_TRACKED or k.speed is None:
        return make(
            "untracked", 0.2, True, f"keypoints tracked in only {k.tracked:.0%} of the frames"
        )
    speed = k.speed
    turn = k.abs_turn_rate or 0.0
    near = k.partners > 0 and k.partner_distance is not None and k.partner_distance < NEAR_BL
    paw = k.paw_head_ratio
    if speed < STILL_SPEED and paw is not None and paw < GROOM_PAW:
        return make("grooming", 0.7, False, f"at rest, paw to head {paw:.2f} x usual")
    contact = near and k.partner_distance is not None and k.partner_distance < CONTACT_BL
    if contact and k.partner_distance is not None and speed < SLOW_SPEED:
        label, confidence, reason = _contact_rule(k, speed, k.partner_distance)
        return make(label, confidence, False, reason)
    same_way = k.relative_heading is not None and k.relative_heading < 1.0
    behind = k.partner_distance is not None and k.partner_distance < CHASE_BL
    if k.partners and behind and speed > FAST_SPEED and same_way:
        return make("chase", 0.6, False, f"{speed:.2f} BL/s behind a partner heading the same way")
    if speed > FAST_SPEED:
        return make("darting", 0.9, not near, f"mean speed {speed:.2f} BL/s > {FAST_SPEED}")
    # a raised back is rearing whatever the partners do
    height = k.height_ratio
    if height is not None and height > REAR_HEIGHT:
        return make("rearing", 0.9, True, f"back height {height:.2f} x usual > {REAR_HEIGHT}")
    # walking past a partner, or resting while it comes, closes the distance too; approaching
    # is moving (faster than the closing threshold), closing at least half the own speed
    if (
        k.partners
        and speed > APPROACH_SPEED
        and k.approach_speed is not None
        and k.approach_speed > APPROACH_SPEED
        and k.approach_speed >= APPROACH_SHARE * speed
        and k.partner_distance is not None
        and k.partner_distance < CHECK_FAR_BL
    ):
        return make(
            "approach", 0.5, False, f"closing in at {k.approach_speed:.2f} BL/s on a partner"
        )
    if k.elongation is not None and k.elongation < REAR_ELONGATION and speed < SLOW_SPEED:
        return make("rearing", 0.6, False, f"body shortened to {k.elongation:.2f} of its length")
    if speed < STILL_SPEED:
        if turn > 1.0:
            return make("turning", 0.6, False, f"turning {turn:.2f} rad/s in place")
        label, confidence, reason = _rest_rule(k, speed, turn, near)
        if label == MOVING_IN_PLACE:
            posture = "body at rest, heading swinging (head or forepaws moving)"
        return make(label, confidence, confidence >= STILL_CONFIRMED, reason)
    if turn > TURN_RATE and speed < SLOW_SPEED:
        return make("turning", 0.7, False, f"turning {turn:.2f} rad/s at {speed:.2f} BL/s")
    walking = SLOW_SPEED <= speed <= WALK_MAX_SPEED and turn < TURN_RATE and not near
    return make(
        "walking",
        0.85 if walking else 0.6,
        walking,
        f"mean speed {speed:.2f} BL/s, turning {turn:.2f} rad/s",
    )


def classify_frames(
    features: Features,
    animal: int,
    baselines: dict[str, list[float | None]] | None = None,
    window_s: float = 0.5,
    step_s: float = 0.1,
    captioner: Callable[[SnippetKinematics], KinematicCaption] | None = None,
) -> list[str]:
    """The kinematic captioner's label of each frame of one animal.

    Every ``step_s`` a window of ``window_s`` centred on the step is summarised
    (``summarize_snippet``) and captioned (``caption_from_kinematics``); the frames of the
    step take its label. Half a second is about one stride of a walking mouse: long
    enough to measure speed and heading rate, short enough to see a dart or a rear.

    Args:
        features: the session's features (``values`` ``(frames, individuals, features)``).
        animal: index of the individual.
        baselines: from ``kinematic_baselines``; ``None`` computes them.
        window_s: window length, s (at least one frame).
        step_s: spacing of the windows' centres, s (at least one frame).
        captioner: the rules that caption a window; ``None`` = ``caption_from_kinematics``.

    Returns:
        ``frames`` canonical labels (``"untracked"`` where the window is not tracked).

    Raises:
        InputError: the animal is outside the features or a duration is not positive.
    """
    frames, animals, _ = features.values.shape
    if not 0 <= animal < animals:
        raise InputError(f"animal {animal} is outside features of {animals} animal(s).")
    if not (window_s > 0 and step_s > 0):
        raise InputError(
            f"window_s and step_s must be positive seconds; found {window_s}, {step_s}.",
            fix="e.g. window_s=0.5, step_s=0.1.",
        )
    base = baselines if baselines is not None else kinematic_baselines(features)
    half = max(1, round(window_s * features.fps)) / 2
    step = max(1, round(step_s * features.fps))
    out: list[str] = []
    for first in range(0, frames, step):
        centre = first + min(step, frames - first) / 2
        a = max(0, math.floor(centre - half))
        b = min(frames, max(a + 1, math.ceil(centre + half)))
        k = summarize_snippet(features, animal, a, b, base)
        label = (captioner or caption_from_kinematics)(k).caption.label
        out += [label] * min(step, frames - first)
    return out


# --------------------------------------------------------------------------- labels

# fmt: off
_LOCOMOTION = frozenset({
    "run", "running", "dart", "darting", "walk", "walking", "locomotion", "trot", "trotting",
    "gallop", "galloping", "flee", "fleeing", "escape", "escaping", "sprint", "sprinting",
    "chase", "chasing", "dash", "dashing", "ambulating",
})
_IMMOBILE = frozenset({
    "still", "freeze", "freezing", "frozen", "immobile", "immobility", "motionless", "rest",
    "resting", "sleep", "sleeping", "stationary",
})
_SOCIAL = frozenset({
    "nose", "sniff", "sniffing", "anogenital", "huddle", "huddling", "chase", "chasing",
    "follow", "following", "social", "allogrooming", "approach", "approaching", "contact",
    "fight", "fighting", "attack", "mount", "mounting", "partner",
})
_CONTACT = frozenset({
    "nose", "sniff", "sniffing", "anogenital", "huddle", "huddling", "contact",
    "allogrooming", "mount", "mounting", "fight", "fighting",
})
_REARING = frozenset({"rear", "rearing", "upright", "standing"})
# fmt: on


def _words(label: str) -> set[str]:
    return set(normalise_label(label).split("_"))


# --------------------------------------------------------------------------- check


def check_caption(caption: Caption, k: SnippetKinematics) -> CheckResult:
    """Check that a caption does not contradict the snippet's kinematics.

    Fails, naming the contradiction with the measured numbers, when the label implies
    locomotion (run, dart, walk, chase, ...) but the body centre barely moved (mean
    < 0.1 BL/s and 90th percentile < 0.3 BL/s); the label or ``speed`` says still /
    freezing but the mean speed exceeds 1 BL/s (or ``speed`` says fast below 0.3 BL/s);
    the label says grooming above 1 BL/s; rearing with the back at its usual height
    (< 1.05 x) and the body stretched (>= 0.95); a social label with no other animal in
    the session, or a contact label (nose, huddle, contact, ...) with the nearest
    animal more than 3 BL away. Unmeasured quantities never fail.

    Args:
        caption: the caption to check.
        k: the snippet's kinematics.

    Returns:
        ``kinematics`` check; value = number of contradictions.
    """
    words = _words(caption.label)
    speed, p90 = k.speed, k.speed_p90
    problems: list[str] = []
    label = repr(caption.label)
    if speed is not None:
        moved = f"the body centre moved at {speed:.2f} body lengths/s on average" + (
            f" (90th percentile {p90:.2f})" if p90 is not None else ""
        )
        barely = speed < CHECK_MOVING_SPEED and (p90 is None or p90 < CHECK_MOVING_P90)
        if words & _LOCOMOTION and barely:
            problems.append(f"label {label} implies locomotion, but {moved}: it barely moved")
        if words & _IMMOBILE and speed > CHECK_STILL_SPEED:
            problems.append(f"label {label} says the animal is at rest, but {moved}")
        if caption.speed == "still" and speed > CHECK_STILL_SPEED:
            problems.append(f"speed 'still' contradicts the measured speed: {moved}")
        if caption.speed == "fast" and speed < CHECK_FAST_SPEED and (p90 is None or p90 < 1.0):
            problems.append(f"speed 'fast' contradicts the measured speed: {moved}")
        if "grooming" in words and speed > CHECK_STILL_SPEED:
            problems.append(f"label {label} needs the body at rest, but {moved}")
    if (
        words & _REARING
        and k.height_ratio is not None
        and k.height_ratio < 1.05
        and (k.elongation is None or k.elongation >= 0.95)
    ):
        problems.append(
            f"label {label} implies a raised front body, but the back stayed at "
            f"{k.height_ratio:.2f} x its usual height"
        )
    if words & _SOCIAL and k.partners == 0:
        problems.append(f"label {label} names a social behaviour, but the animal is alone")
    elif words & _CONTACT and k.partner_distance is not None and k.partner_distance > CHECK_FAR_BL:
        problems.append(
            f"label {label} implies contact, but the nearest animal stayed "
            f"{k.partner_distance:.2f} body lengths away"
        )
    return CheckResult(
        name="kinematics",
        passed=not problems,
        value=float(len(problems)),
        threshold=0.0,
        message="; ".join(problems) + "." if problems else "the caption agrees with the kinematics",
    )
