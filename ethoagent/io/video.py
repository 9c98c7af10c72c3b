"""Video frames by index, through OpenCV, with one clear error for a bad file.

``VideoReader`` opens a video once and hands out frames ``(height, width, 3)`` uint8 BGR
(OpenCV's channel order) by index or in order; ``read_frames`` reads a few frames of a
file. A missing, empty, truncated or non-video file, or a frame that cannot be decoded,
is an ``InputError`` naming the file and the fix, never a ``None`` frame.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

import cv2
import numpy as np
from numpy.typing import NDArray

from ethoagent.errors import InputError

__all__ = ["VideoReader", "read_frames"]

_FIX_CORRUPT = (
    "the file is truncated or corrupt (an interrupted copy or recording?); copy or "
    "re-encode it again, e.g. ffmpeg -i in.avi -c:v libx264 out.mp4."
)


class VideoReader:
    """Random and sequential access to the frames of one video file.

    Use as a context manager (or call ``close``)::

        with VideoReader("session.mp4") as video:
            first, last = video[0], video[-1]      # (height, width, 3) uint8 BGR
            for frame in video: ...

    Attributes:
        path: the video file.
        fps: frame rate stated by the container, Hz (``None`` if it states none).
        size: frame size ``(width, height)`` in pixels.

    ``len(reader)`` is the frame count stated by the container; a file that holds fewer
    frames (truncated) raises ``InputError`` at the first frame it cannot decode.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        """Open ``path`` and check that its first frame decodes.

        Args:
            path: a video file OpenCV's FFmpeg backend reads (mp4, avi, mov, mkv, …).

        Raises:
            InputError: the file is missing, empty, not a video, or its first frame
                cannot be decoded.
        """
        self.path = Path(path)
        if not self.path.is_file():
            what = "is a folder, not" if self.path.exists() else "not found; expected"
            raise InputError(f"video {self.path} {what} a video file.", fix="check the path.")
        if self.path.stat().st_size == 0:
            raise InputError(f"video {self.path} is empty (0 bytes).", fix=_FIX_CORRUPT)
        self._cap: Any = cv2.VideoCapture(str(self.path))
        self._next = 0  # index of the frame the next plain read returns
        if not self._cap.isOpened():
            self._cap.release()
            raise InputError(
                f"{self.path} cannot be opened as a video (not a video, or its container "
                f"is truncated or corrupt).",
                fix=_FIX_CORRUPT,
            )
        self._len = int(self._cap.get(cv2.CAP_PROP_FRAME_COUNT))
        fps = float(self._cap.get(cv2.CAP_PROP_FPS))
        self.fps: float | None = fps if fps > 0 else None
        self.size = (
            int(self._cap.get(cv2.CAP_PROP_FRAME_WIDTH)),
            int(self._cap.get(cv2.CAP_PROP_FRAME_HEIGHT)),
        )
        if self._len <= 0:
            self.close()
            raise InputError(
                f"video {self.path} states {self._len} frames.",
                fix=_FIX_CORRUPT,
            )
        try:
            self[0]  # a container that opens but whose frames do not decode fails here
        except InputError:
            self.close()
            raise

    def __len__(self) -> int:
        """Number of frames stated by the container."""
        return self._len

    def __getitem__(self, index: int) -> NDArray[np.uint8]:
        """Frame ``index`` (negative counts from the end).

        Returns:
            ``(height, width, 3)`` uint8, BGR.

        Raises:
            IndexError: ``index`` is outside ``[-len, len)``.
            InputError: the frame cannot be decoded (truncated or corrupt file).
        """
        i = int(index)
        if i < 0:
            i += self._len
        if not 0 <= i < self._len:
            raise IndexError(f"frame {index} is outside {self.path} ({self._len} frames).")
        if self._cap is None:
            raise InputError(f"video {self.path} is closed.", fix="read frames inside `with`.")
        if i != self._next:
            self._cap.set(cv2.CAP_PROP_POS_FRAMES, i)
        ok, frame = self._cap.read()
        if not ok or frame is None:
            self._next = -1  # position unknown: seek on the next read
            raise InputError(
                f"frame {i} of {self.path} ({self._len} frames stated) cannot be decoded.",
                fix=_FIX_CORRUPT,
            )
        self._next = i + 1
        if frame.ndim == 2:
            frame = cv2.cvtColor(frame, cv2.COLOR_GRAY2BGR)
        return np.ascontiguousarray(frame, dtype=np.uint8)

    def __iter__(self) -> Iterator[NDArray[np.uint8]]:
        """Every frame in order, ``(height, width, 3)`` uint8 BGR."""
        for i in range(self._len):
            yield self[i]

    def close(self) -> None:
        """Release the file (idempotent)."""
        if self._cap is not None:
            self._cap.release()
            self._cap = None

    def __enter__(self) -> VideoReader:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        fps = "?" if self.fps is None else f"{self.fps:g}"
        w, h = self.size
        return f"VideoReader({self.path.name!r}, frames={self._len}, size={w}x{h}, fps={fps})"


def read_frames(path: str | os.PathLike[str], indices: Sequence[int]) -> NDArray[np.uint8]:
    """Read some frames of a video.

    Args:
        path: the video file.
        indices: frame indices (any order, repeats allowed, negative from the end).

    Returns:
        ``(len(indices), height, width, 3)`` uint8 BGR, in the order of ``indices``.

    Raises:
        InputError: the file is missing, not a video, truncated or corrupt, or an index
            is outside the video.
    """
    with VideoReader(path) as video:
        n = len(video)
        bad = [i for i in indices if not -n <= int(i) < n]
        if bad:
            raise InputError(
                f"frame(s) {bad[:5]} are outside {video.path} ({n} frames).",
                fix=f"pass indices in [0, {n}).",
            )
        wanted: dict[int, list[int]] = {}
        for j, i in enumerate(indices):
            wanted.setdefault(int(i) % n, []).append(j)
        w, h = video.size
        out = np.empty((len(indices), h, w, 3), dtype=np.uint8)
        for i in sorted(wanted):  # in file order: sequential reads, few seeks
            out[wanted[i]] = video[i]
        return out
