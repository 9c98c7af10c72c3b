"""Blob captions of animals in contact: the shared blob's shape is not read as posture."""

from __future__ import annotations

import pytest

from ethoagent.tools.blob_features import caption_from_blob_kinematics
from ethoagent.tools.captions import SLOW_SPEED, SnippetKinematics
from ethoagent.tools.contact_captions import CONTACT_SHARE, read_blob_contact


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
