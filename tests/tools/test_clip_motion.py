"""Pixel motion of a clip: a still, a walking and an in-place animal tell apart."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from ethoagent.errors import InputError
from ethoagent.tools.clip_motion import caption_from_clip_motion, clip_motion
from ethoagent.tools.video_features import prepare_frame

FPS = 10.0


def _scene(xs: list[float], wiggle: bool = False) -> list[np.ndarray[Any, Any]]:
    """A 120x160 grey floor with a dark 30x12 px ellipse-like body centred at each x."""
    frames = []
    for i, x in enumerate(xs):
        frame = np.full((120, 160, 3), 200, np.uint8)
        yy, xx = np.mgrid[0:120, 0:160]
        body = ((xx - x) / 15.0) ** 2 + ((yy - 60) / 6.0) ** 2 <= 1.0
        frame[body] = 40
        if wiggle:  # a head that moves up and down while the body stays
            head_y = 60 + (6 if i % 2 else -6)
            frame[head_y - 3 : head_y + 3, int(x) + 14 : int(x) + 20] = 40
        frames.append(frame)
    return frames


def test_still_walking_and_in_place_are_told_apart() -> None:
    still = clip_motion(_scene([80.0] * 10), FPS)
    assert still.motion_energy < 0.002
    assert caption_from_clip_motion(still).caption.label == "still"
    assert caption_from_clip_motion(still).confident

    floor = prepare_frame(_scene([-100.0])[0], 160)
    walk = clip_motion(_scene([40.0 + 4 * i for i in range(10)]), FPS, background=floor)  # 1.3 BL/s
    assert walk.centre_speed is not None and walk.centre_speed > 0.3
    assert walk.elongation is not None and walk.elongation > 2.0  # 30x12 px body
    assert caption_from_clip_motion(walk).caption.label == "walking"

    fidget = clip_motion(_scene([80.0] * 10, wiggle=True), FPS, background=floor)
    assert fidget.motion_energy > 0.002
    assert fidget.centre_speed is not None and fidget.centre_speed < 0.3
    assert caption_from_clip_motion(fidget).caption.label == "moving_in_place"


def test_bad_clips_are_refused() -> None:
    with pytest.raises(InputError, match="at least one frame"):
        clip_motion([], FPS)
    with pytest.raises(InputError, match="positive"):
        clip_motion(_scene([80.0]), 0.0)
    with pytest.raises(InputError, match="uint8"):
        clip_motion([np.zeros((8, 8), np.float32)], FPS)  # type: ignore[list-item]


def test_a_background_of_another_size_is_refused() -> None:
    with pytest.raises(InputError, match="background"):
        clip_motion(_scene([80.0] * 3), FPS, background=np.zeros((60, 80), np.float32))
