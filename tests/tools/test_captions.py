"""Snippet kinematics, the kinematic captioner and the caption-vs-kinematics check."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ethoagent.errors import InputError
from ethoagent.sim.synthetic import KEYPOINTS, simulate_world
from ethoagent.tools.captions import (
    Caption,
    SnippetKinematics,
    Speed,
    canonical_label,
    caption_from_kinematics,
    check_caption,
    classify_frames,
    describe_kinematics,
    kinematic_baselines,
    normalise_label,
    summarize_snippet,
)
from ethoagent.tools.features import compute_features


def _kin(**kw: object) -> SnippetKinematics:
    base: dict[str, object] = {
        "seconds": 2.0,
        "frames": 60,
        "tracked": 1.0,
        "dims": 3,
        "speed": 0.0,
        "speed_p90": 0.0,
        "forward_speed": 0.0,
        "turn_rate": 0.0,
        "abs_turn_rate": 0.0,
        "elongation": 1.0,
        "height_ratio": 1.0,
        "paw_head_ratio": 1.0,
    }
    return SnippetKinematics.model_validate({**base, **kw})


def _caption(label: str, speed: Speed = "moderate") -> Caption:
    return Caption(
        posture="on all fours",
        direction="forward",
        speed=speed,
        social_interaction="none",
        label=label,
        confidence=0.8,
    )


def test_labels_normalise_and_map_synonyms() -> None:
    assert normalise_label("  Nose to Nose ") == "nose_to_nose"
    assert canonical_label("Freezing") == "still"
    assert canonical_label("running") == "darting"
    assert canonical_label("Self-grooming") == "grooming"
    assert canonical_label("digging") == "digging"


def test_uniform_linear_motion_has_constant_speed() -> None:
    pose = simulate_world(1, seed=0).points_3d[0, 0]  # (12, 3) mm
    fps, v = 30.0, 150.0  # mm/s along x
    t = np.arange(90)[:, None, None] / fps
    points = (pose[None] + np.array([v, 0.0, 0.0]) * t)[:, None]
    feats = compute_features(points, fps=fps, keypoints=KEYPOINTS)
    k = summarize_snippet(feats, 0, 10, 80)
    body = float(feats.body_length[0])
    assert k.speed == pytest.approx(v / body, rel=1e-3)
    assert k.speed_p90 == pytest.approx(v / body, rel=1e-3)
    assert k.turn_rate == pytest.approx(0.0, abs=1e-6)
    assert k.height_ratio == pytest.approx(1.0) and k.paw_head_ratio == pytest.approx(1.0)
    assert k.partners == 0 and k.partner_distance is None and k.tracked == 1.0
    assert k.seconds == pytest.approx(70 / fps, abs=1e-3) and k.dims == 3
    assert "body lengths/s" in describe_kinematics(k)
    assert kinematic_baselines(feats)["height"][0] is not None
    with pytest.raises(InputError, match="outside features"):
        summarize_snippet(feats, 1, 0, 10)


@pytest.mark.parametrize(
    ("kw", "label", "confident"),
    [
        ({}, "still", True),
        ({"speed": 3.0, "speed_p90": 4.0}, "darting", True),
        ({"speed": 1.3, "abs_turn_rate": 0.5}, "walking", True),
        ({"speed": 0.3, "height_ratio": 1.5}, "rearing", True),
        ({"paw_head_ratio": 0.5}, "grooming", False),
        ({"abs_turn_rate": 2.0, "turn_rate": 2.0}, "turning", False),
        ({"tracked": 0.2}, "untracked", True),
        ({"paw_head_ratio": None}, "still", False),  # no paws: grooming cannot be ruled out
        ({"abs_turn_rate": 0.5}, "moving_in_place", False),  # heading swings at rest
        ({"paw_head_ratio": 0.85}, "still", False),  # a posture held, not a movement
        ({"height_ratio": 1.2}, "still", False),
        ({"elongation": 0.85}, "still", False),  # crouched, as in freezing
        ({"paw_head_ratio": None, "abs_turn_rate": 0.5}, "still", False),  # no paws: no rule
        ({"partners": 1, "partner_distance": 0.8}, "still", False),  # beside a partner
        ({"partners": 1, "partner_distance": 0.8, "abs_turn_rate": 0.5}, "moving_in_place", False),
        # closing in on a partner: approach when the animal itself moves, not when at rest
        (
            {"partners": 1, "partner_distance": 2.0, "speed": 0.6, "approach_speed": 0.5},
            "approach",
            False,
        ),
        (
            {"partners": 1, "partner_distance": 2.0, "speed": 0.05, "approach_speed": 0.5},
            "still",
            True,
        ),
        (
            {"partners": 1, "partner_distance": 0.3, "nose_nose": 0.3, "relative_heading": 3.0},
            "nose_to_nose",
            False,
        ),
        ({"partners": 1, "partner_distance": 0.4, "nose_nose": 0.5}, "huddle", False),
        # in contact at rest, the heading swinging: moving in place, not a huddle
        ({"partners": 1, "partner_distance": 0.4, "abs_turn_rate": 0.5}, "moving_in_place", False),
        (
            {
                "partners": 1,
                "partner_distance": 0.3,
                "nose_nose": 0.3,
                "relative_heading": 3.0,
                "abs_turn_rate": 0.5,
            },
            "moving_in_place",
            False,
        ),
        (  # without paws the swing tells nothing: still a huddle
            {"partners": 1, "partner_distance": 0.4, "abs_turn_rate": 0.5, "paw_head_ratio": None},
            "huddle",
            False,
        ),
        ({"partners": 1, "partner_distance": 0.4, "elongation": 0.7}, "rearing", False),
        (  # without paws a short body in contact is a head bent to the partner
            {"partners": 1, "partner_distance": 0.4, "elongation": 0.7, "paw_head_ratio": None},
            "huddle",
            False,
        ),
    ],
)
def test_kinematic_captioner_rules(kw: dict[str, object], label: str, confident: bool) -> None:
    k = _kin(**kw)
    kc = caption_from_kinematics(k)
    assert kc.caption.label == label and kc.confident is confident
    assert check_caption(kc.caption, k).passed


def test_unconfirmed_rest_is_moving_in_place_below_confirmed_still() -> None:
    confirmed = caption_from_kinematics(_kin())
    swinging = caption_from_kinematics(_kin(abs_turn_rate=0.45, paw_head_ratio=0.88))
    assert confirmed.caption.label == "still" and confirmed.caption.confidence == 0.9
    assert swinging.caption.label == "moving_in_place" and not swinging.confident
    assert swinging.caption.confidence < confirmed.caption.confidence
    assert swinging.caption.speed == "still" and swinging.caption.direction == "none"
    # the caption names the movement with its number; a posture held off its usual values
    # (crouched: paws nearer the head, body shorter) is an unconfirmed still
    assert "heading swings at 0.45 rad/s" in swinging.reason
    crouched = caption_from_kinematics(_kin(paw_head_ratio=0.88, elongation=0.85))
    assert crouched.caption.label == "still" and crouched.caption.confidence == 0.6
    assert "paw to head 0.88 x usual" in crouched.reason and not crouched.confident
    assert "at rest" in swinging.caption.posture
    assert canonical_label("fidgeting") == "moving_in_place"


def _resting(swing_rad: float) -> list[str]:
    """Per-frame labels of a simulated mouse held in place, its body swinging by ±swing."""
    pose = simulate_world(1, seed=0).points_3d[0, 0]  # (12, 3) mm
    centre = pose.mean(axis=0)
    angle = swing_rad * np.sin(2 * np.pi * np.arange(150) / 30.0)  # 1 Hz, radians
    c, s = np.cos(angle), np.sin(angle)
    rot = np.zeros((150, 3, 3))
    rot[:, 0, 0], rot[:, 0, 1], rot[:, 1, 0], rot[:, 1, 1], rot[:, 2, 2] = c, -s, s, c, 1.0
    points = (np.einsum("fij,kj->fki", rot, pose - centre) + centre)[:, None]
    feats = compute_features(points, fps=30.0, keypoints=KEYPOINTS)
    return classify_frames(feats, 0)


def test_classify_frames_tells_resting_still_from_moving_in_place() -> None:
    # a body turning back and forth about its centre by ±0.1 rad at 1 Hz: its heading
    # changes at about 0.4 rad/s on average while the centre stays put
    assert set(_resting(0.0)[20:130]) == {"still"}
    assert set(_resting(0.1)[20:130]) == {"moving_in_place"}


def test_check_names_contradictions_with_numbers() -> None:
    still = _kin(speed=0.02, speed_p90=0.05)
    result = check_caption(_caption("running", "fast"), still)
    assert not result.passed and result.value == 2.0
    assert (
        "'running' implies locomotion" in result.message and "0.02 body lengths/s" in result.message
    )
    fast = _kin(speed=2.0, speed_p90=2.5)
    assert "at rest" in check_caption(_caption("freezing"), fast).message
    assert not check_caption(_caption("walking", "still"), fast).passed
    assert not check_caption(_caption("grooming"), fast).passed
    assert "alone" in check_caption(_caption("nose_to_nose"), still).message
    far = _kin(partners=1, partner_distance=5.0)
    assert "5.00 body lengths away" in check_caption(_caption("huddle"), far).message
    assert "raised front body" in check_caption(_caption("rearing"), _kin()).message
    assert check_caption(_caption("walking"), fast).passed
    unknown = _kin(speed=None, speed_p90=None, height_ratio=None, tracked=0.0)
    assert check_caption(_caption("running", "fast"), unknown).passed


finite = st.floats(0.0, 6.0, allow_nan=False)


@settings(max_examples=200, deadline=None)
@given(
    speed=finite,
    turn=st.floats(-5.0, 5.0),
    elongation=st.floats(0.3, 1.3),
    height=st.one_of(st.none(), st.floats(0.5, 2.0)),
    paw=st.one_of(st.none(), st.floats(0.2, 1.5)),
    partner=st.one_of(st.none(), st.floats(0.1, 8.0)),
    heading=st.floats(0.0, 3.14),
    approach=st.floats(-2.0, 2.0),
)
def test_kinematic_captions_never_contradict_their_kinematics(
    speed: float,
    turn: float,
    elongation: float,
    height: float | None,
    paw: float | None,
    partner: float | None,
    heading: float,
    approach: float,
) -> None:
    social = {} if partner is None else {
        "partners": 2,
        "partner_distance": partner,
        "nose_nose": partner * 1.2,
        "nose_tailbase": partner,
        "relative_heading": heading,
        "approach_speed": approach,
    }  # fmt: skip
    k = _kin(
        speed=speed,
        speed_p90=speed * 1.3,
        turn_rate=turn,
        abs_turn_rate=abs(turn),
        elongation=elongation,
        height_ratio=height,
        paw_head_ratio=paw,
        **social,
    )
    assert check_caption(caption_from_kinematics(k).caption, k).passed


def test_classify_frames_labels_still_then_walking() -> None:
    pose = simulate_world(1, seed=0).points_3d[0, 0]  # (12, 3) mm
    fps, v = 30.0, 150.0  # mm/s along x, about 1.5 body lengths/s
    speed = np.where(np.arange(120) < 60, 0.0, v)
    x = np.cumsum(speed) / fps
    points = (pose[None] + x[:, None, None] * np.array([1.0, 0.0, 0.0]))[:, None]
    feats = compute_features(points, fps=fps, keypoints=KEYPOINTS)
    labels = classify_frames(feats, 0)
    assert len(labels) == 120
    # the windows (features' and classify_frames') blur the change by under 0.5 s
    assert set(labels[:40]) == {"still"} and set(labels[75:]) == {"walking"}
    with pytest.raises(InputError, match="positive"):
        classify_frames(feats, 0, step_s=0.0)
