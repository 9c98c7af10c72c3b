"""The kinematic captioner read for a blob: axis swings at rest and drift in place."""

from __future__ import annotations

from ethoagent.tools.blob_features import AXIS_NOISE, RESTLESS_TURN, caption_from_blob_kinematics
from ethoagent.tools.captions import SnippetKinematics, caption_from_kinematics


def _kin(
    speed: float, turn: float, elongation: float = 1.0, noise: float | None = None
) -> SnippetKinematics:
    return SnippetKinematics(
        seconds=1.0, frames=30, tracked=1.0, dims=2, speed=speed, speed_p90=speed * 1.5,
        abs_turn_rate=turn, turn_rate=turn, elongation=elongation, speed_noise=noise,
    )  # fmt: skip


def test_a_resting_blob_whose_axis_swings_grooms_and_a_quiet_one_is_still() -> None:
    k = _kin(0.05, 1.2)
    assert caption_from_kinematics(k).caption.label == "turning"
    blob = caption_from_blob_kinematics(k)
    assert blob.caption.label == "grooming" and not blob.confident
    assert "swinging" in blob.reason and blob.caption.direction == "none"
    # the keypoint rules say still at rest with a slowly swinging axis; the blob does not
    swinging = _kin(0.05, RESTLESS_TURN + 0.1)
    assert caption_from_kinematics(swinging).caption.label == "still"
    assert caption_from_blob_kinematics(swinging).caption.label == "grooming"
    quiet = caption_from_blob_kinematics(_kin(0.05, RESTLESS_TURN - 0.1))
    assert quiet.caption.label == "still" and not quiet.confident


def test_a_noisy_outline_raises_the_swing_a_resting_blob_needs_to_groom() -> None:
    noise = 0.39  # BL/s, the open-field video's speed noise floor
    swing = AXIS_NOISE * noise
    assert swing > RESTLESS_TURN
    for turn in (RESTLESS_TURN + 0.1, swing - 0.1):
        assert caption_from_blob_kinematics(_kin(0.05, turn, noise=noise)).caption.label == "still"
    assert caption_from_blob_kinematics(_kin(0.05, turn, noise=0.02)).caption.label == "grooming"
    noisy = caption_from_blob_kinematics(_kin(0.05, swing + 0.1, noise=noise))
    assert noisy.caption.label == "grooming" and f"{swing:.2f}" in noisy.reason


def test_a_slowly_drifting_blob_moves_in_place_and_walking_stays_walking() -> None:
    k = _kin(0.4, 0.3)
    assert caption_from_kinematics(k).caption.label == "walking"
    assert caption_from_blob_kinematics(k).caption.label == "moving_in_place"
    for fast, label in ((1.5, "walking"), (3.0, "darting")):
        assert caption_from_blob_kinematics(_kin(fast, 0.3)).caption.label == label
    assert caption_from_blob_kinematics(_kin(0.4, 2.0)).caption.label == "turning"
    assert caption_from_blob_kinematics(_kin(0.05, 0.1, 0.7)).caption.label == "rearing"
