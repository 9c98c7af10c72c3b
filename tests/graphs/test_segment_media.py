"""What the segment graph shows of a snippet: its frames are decoded once and shared."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import cv2
import numpy as np

from ethoagent.graphs.segment.inputs import SegmentSources, resolve_segment
from ethoagent.graphs.segment.item_stages import SnippetItem
from ethoagent.graphs.segment.media import MOTION_SIZE, SnippetMedia
from ethoagent.graphs.segment.options import SegmentOptions
from ethoagent.model.ethogram import Snippet
from ethoagent.tools.captions import SnippetKinematics
from ethoagent.tools.clip_motion import video_background

FPS = 30.0


def _video(path: Path, frames: int) -> Path:
    """A grey floor with a dark 40x16 px body walking right, 320x240 px."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"mp4v"), FPS, (320, 240))
    for i in range(frames):
        img = np.full((240, 320, 3), 190, np.uint8)
        cv2.ellipse(img, (60 + 2 * i, 120), (20, 8), 0.0, 0, 360, (40, 40, 40), -1)
        writer.write(img)
    writer.release()
    return path


class _Counting:
    """A frame source that counts how often each frame is decoded."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.reads: dict[int, int] = {}

    def __len__(self) -> int:
        return len(self.inner)

    def __getitem__(self, index: int) -> Any:
        self.reads[index] = self.reads.get(index, 0) + 1
        return self.inner[index]

    def close(self) -> None:
        self.inner.close()


def test_a_snippets_clip_and_motion_decode_its_frames_once(tmp_path: Path) -> None:
    video = _video(tmp_path / "walk.mp4", 90)
    inputs = resolve_segment(SegmentSources(video=video), SegmentOptions(features="video"))
    points = np.zeros((90, 1, 1, 2))
    points[:, 0, 0] = np.c_[60 + 2 * np.arange(90), np.full(90, 120)]
    media = SnippetMedia(inputs, points)
    assert media.reader is not None
    media._background = video_background(media.reader, MOTION_SIZE)  # the whole video's
    media.reader = _Counting(media.reader)  # type: ignore[assignment]
    kin = SnippetKinematics(seconds=2.0, frames=60, tracked=0.0, dims=2)
    item = SnippetItem(0, "blob_0", Snippet(start=15, stop=75, cluster=0, seconds=2.0), kin)
    try:
        motion = media.motion(item)
        clip, _ = media.clip(item)
    finally:
        media.close()
    reads = media.reader.reads  # type: ignore[attr-defined]
    assert len(clip.frames) == len(reads) > 1
    assert set(reads.values()) == {1}
    assert motion is not None and motion.blob_frames == 1.0
    assert motion.centre_speed is not None and motion.centre_speed > 0.3  # 1.5 BL/s walking
