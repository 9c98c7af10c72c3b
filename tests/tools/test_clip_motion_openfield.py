"""The pixel captioner on the real open-field video (shared data): still, in place, walking.

The 77 s video (``dlc_openfield_pranav2018``, one mouse, 640x480) is measured as the segment
graph measures a snippet: 1 s at 10 fps, 160x120, against the whole video's background and
noise threshold. Its mouse never sits fully still (its quietest second, by frame
differences, is the mouse moving its head at the wall), so the still stretch holds the
mouse of one real frame over ten real frames of the arena, with their own sensor noise and
compression.
"""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np
import pytest

from ethoagent.io.video import VideoReader
from ethoagent.tools.clip_motion import caption_from_clip_motion, clip_motion, video_background
from ethoagent.tools.video_features import detect_blobs, prepare_frame
from tests.data_paths import require_shared

SIZE = (160, 120)
VIDEO = "dlc_openfield_pranav2018/openfield-Pranav-2018-10-30/videos/m3v1mp4.mp4"


@pytest.fixture(scope="module")
def scene() -> dict[str, Any]:
    wanted = {0, *range(90, 120, 3), *range(900, 1800, 30), *range(1710, 1740, 3)}
    small: dict[int, np.ndarray[Any, Any]] = {}
    with VideoReader(require_shared(VIDEO)) as reader:
        for i, frame in enumerate(reader):  # one pass: seeking an mp4 is slow
            if i % 10 == 0 or i in wanted:
                small[i] = np.asarray(cv2.resize(frame, SIZE, interpolation=cv2.INTER_AREA))
            if i >= 1800:
                break
    background, threshold = video_background([small[i] for i in range(0, 1801, 10)], SIZE)

    def mouse(img: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
        blobs, labels = detect_blobs(prepare_frame(img, SIZE[0]), background, threshold, 12, 1)
        grown = cv2.dilate((labels == blobs[0].label).astype(np.uint8), np.ones((9, 9)))
        return np.asarray(grown, dtype=bool)

    first = small[0]
    held = mouse(first)
    still = []
    for i in range(900, 1800, 30):  # arena frames where the mouse is elsewhere
        frame = small[i].copy()
        away = mouse(frame)
        if (away & held).any():
            continue
        frame[away] = first[away]  # the mouse of frame i out, frame 0's arena there
        frame[held] = first[held]  # the mouse of frame 0 in, unmoved
        still.append(frame)
    return {
        "background": background,
        "threshold": threshold,
        "still": still[:10],
        "quiet": [small[i] for i in range(1710, 1740, 3)],
        "walking": [small[i] for i in range(90, 120, 3)],
    }


def _label(scene: dict[str, Any], clip: str) -> tuple[str, bool]:
    m = clip_motion(scene[clip], 10.0, background=scene["background"], threshold=scene["threshold"])
    caption = caption_from_clip_motion(m)
    return caption.caption.label, caption.confident


def test_a_mouse_held_still_over_the_real_arena_is_still(scene: dict[str, Any]) -> None:
    assert len(scene["still"]) == 10
    assert _label(scene, "still") == ("still", True)


def test_the_real_quietest_second_moves_in_place_and_a_walk_walks(scene: dict[str, Any]) -> None:
    assert _label(scene, "quiet")[0] == "moving_in_place"
    assert _label(scene, "walking")[0] == "walking"
