"""Tests of video frame access (ethoagent.io.video) on small generated videos."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from ethoagent.errors import InputError
from ethoagent.io.video import VideoReader, read_frames
from tests.data_paths import require_shared

FRAMES, WIDTH, HEIGHT, FPS = 20, 64, 48, 25.0
STEP = 12  # grey level of frame i is 6 + STEP * i: far apart after lossy coding


def _write_video(path: Path, fourcc: str) -> Path:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), FPS, (WIDTH, HEIGHT))
    assert writer.isOpened()
    for i in range(FRAMES):
        writer.write(np.full((HEIGHT, WIDTH, 3), 6 + STEP * i, dtype=np.uint8))
    writer.release()
    return path


@pytest.fixture
def mp4(tmp_path: Path) -> Path:
    return _write_video(tmp_path / "clip.mp4", "mp4v")


def _index_of(frame: np.ndarray) -> int:
    """Which frame a decoded frame is: the nearest grey level."""
    return round((float(frame.mean()) - 6) / STEP)


def test_reader_size_length_and_random_access(mp4: Path) -> None:
    with VideoReader(mp4) as video:
        assert len(video) == FRAMES and video.size == (WIDTH, HEIGHT) and video.fps == FPS
        assert repr(video) == "VideoReader('clip.mp4', frames=20, size=64x48, fps=25)"
        for i in (7, 3, 19, 0, 8, 9, -1, -20):
            frame = video[i]
            assert frame.shape == (HEIGHT, WIDTH, 3) and frame.dtype == np.uint8
            assert _index_of(frame) == i % FRAMES
        with pytest.raises(IndexError, match=r"frame 20 is outside .*clip\.mp4"):
            video[FRAMES]
        assert [_index_of(f) for f in video] == list(range(FRAMES))
    with pytest.raises(InputError, match="closed"):
        video[0]


def test_read_frames_keeps_the_callers_order(mp4: Path) -> None:
    frames = read_frames(mp4, [5, 2, 5, -1])
    assert frames.shape == (4, HEIGHT, WIDTH, 3) and frames.dtype == np.uint8
    assert [_index_of(f) for f in frames] == [5, 2, 5, 19]
    np.testing.assert_array_equal(frames[0], frames[2])
    with pytest.raises(InputError, match=r"\[25\] are outside .*clip\.mp4 \(20 frames\)"):
        read_frames(mp4, [1, 25])


def test_bad_files_give_one_clear_error(tmp_path: Path, mp4: Path) -> None:
    truncated = tmp_path / "truncated.mp4"
    truncated.write_bytes(mp4.read_bytes()[: mp4.stat().st_size // 2])
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    text = tmp_path / "notes.mp4"
    text.write_text("not a video\n")
    cases = {
        tmp_path / "missing.mp4": "not found",
        tmp_path: "is a folder",
        empty: "empty",
        text: "cannot be opened as a video",
        truncated: "cannot be opened as a video",
    }
    for path, message in cases.items():
        with pytest.raises(InputError, match=message) as err:
            VideoReader(path)
        assert str(path) in str(err.value) and "Fix:" in str(err.value)
        with pytest.raises(InputError, match=message):
            read_frames(path, [0])


def test_frames_cut_off_from_an_indexed_container(tmp_path: Path) -> None:
    """An AVI cut short still opens (its header states 20 frames); the lost frames fail."""
    avi = _write_video(tmp_path / "clip.avi", "MJPG")
    cut = tmp_path / "cut.avi"
    cut.write_bytes(avi.read_bytes()[: int(avi.stat().st_size * 0.6)])
    with VideoReader(cut) as video:
        assert len(video) == FRAMES and _index_of(video[0]) == 0
        with pytest.raises(InputError, match=r"frame 19 of .*cut\.avi .*cannot be decoded"):
            video[19]
        assert _index_of(video[0]) == 0  # still usable after a failed read


def test_real_video_matches_sleap_metadata() -> None:
    mp4 = require_shared("sleap_anipose_minimal_session/minimal_session/back/minimal_back.mp4")
    with VideoReader(mp4) as video:
        assert (len(video), video.size, video.fps) == (120, (1280, 1024), 30.0)
        last = video[-1]
    assert last.shape == (1024, 1280, 3) and last.std() > 0
