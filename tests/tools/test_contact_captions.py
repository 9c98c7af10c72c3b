"""Blob captions of animals in contact: the shared blob's shape is not read as posture."""

from __future__ import annotations

import numpy as np
import pytest

from ethoagent.tools.blob_features import caption_from_blob_kinematics, video_features
from ethoagent.tools.captions import SLOW_SPEED, SnippetKinematics
from ethoagent.tools.contact_captions import CONTACT_SHARE, read_blob_contact
from ethoagent.tools.video_features import BlobTracks


def _kin(speed: float, elongation: float, contact: float | None) -> SnippetKinematics:
    return SnippetKinematics(
        seconds=1.0, frames=30, tracked=1.0, dims=2, speed=speed, speed_p90=speed * 1.5,
        abs_turn_rate=0.1, turn_rate=0.1, elongation=elongation, partners=2, contact=contact,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("speed", "elongation", "alone"),
    [(0.05, 0.7, "rearing"), (0.05, 1.0, "still"), (0.4, 1.0, "moving_in_place")],
)
def test_a_slow_snippet_in_contact_is_huddle_whatever_its_shape_says(
    speed: float, elongation: float, alone: str
) -> None:
    rule = caption_from_blob_kinematics(_kin(speed, elongation, None))
    assert rule.caption.label == alone
    assert read_blob_contact(rule, _kin(speed, elongation, None)) == rule
    touching = _kin(speed, elongation, CONTACT_SHARE + 0.1)
    out = read_blob_contact(caption_from_blob_kinematics(touching), touching)
    assert out.caption.label == "huddle" and not out.confident
    assert "shared blob" in out.reason and alone in out.reason


def test_contact_for_under_half_the_snippet_or_displacement_labels_are_kept() -> None:
    brief = _kin(0.05, 0.7, CONTACT_SHARE - 0.1)
    assert read_blob_contact(caption_from_blob_kinematics(brief), brief).caption.label == "rearing"
    walking = _kin(SLOW_SPEED + 0.4, 1.0, 1.0)
    rule = caption_from_blob_kinematics(walking)
    assert rule.caption.label == "walking" and read_blob_contact(rule, walking) == rule


def test_a_change_of_contact_moves_the_centre_but_is_no_speed() -> None:
    # an animal walking at 1.5 px/frame; at frame 60 its blob joins another's and its
    # centre becomes its part's, 6 px to the side: the jump is the measurement's
    frames = 120
    x = 100.0 + 1.5 * np.arange(frames)
    y = np.where(np.arange(frames) >= 60, 126.0, 120.0)
    merged = np.zeros((frames, 1), dtype=np.bool_)
    merged[60:] = True
    tracks = BlobTracks(
        centre=np.stack([x, y], axis=1)[:, None],
        area=np.full((frames, 1), 400.0),
        major=np.full((frames, 1), 40.0),
        minor=np.full((frames, 1), 16.0),
        angle=np.zeros((frames, 1)),
        motion=np.full((frames, 1), 0.2),
        merged=merged,
        uncertain=np.zeros((frames, 1), dtype=np.bool_),
        held=np.zeros((frames, 1), dtype=np.bool_),
        frame_motion=np.zeros(frames),
        threshold=20.0,
        scale=1.0,
    )
    speed = video_features(tracks, 30.0, window_s=0.2, noise_floor=False).column("speed")
    walking = 1.5 * 30.0 / 40.0  # body lengths/s
    assert np.allclose(speed[5:-5, 0], walking, rtol=1e-6)
