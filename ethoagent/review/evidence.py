"""Images a reviewer judges by: a pose frame's view with its labels, a classify window sheet.

Pose: the video frame of one view cropped around the labelled points (``crop_box``) and
encoded as PNG; the page draws the labels over it so a click maps back to pixels. Classify:
a contact sheet of the window (the animal's keypoints at evenly spaced frames, top-down, in
the session's unit) beside its speed and the label probabilities over the window.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
from numpy.typing import NDArray

from ethoagent.errors import InputError
from ethoagent.figures import new_figure, png_bytes
from ethoagent.io.video import VideoReader
from ethoagent.runs import Run
from ethoagent.tools.detect import detect_marks

CROP_MARGIN = 0.35
"""Margin around the labelled points' box, as a share of its larger side (at least 24 px)."""


def crop_box(points: NDArray[np.float64], size: tuple[int, int]) -> tuple[int, int, int, int]:
    """The ``(x0, y0, x1, y1)`` pixel box around ``points`` ``(keypoints, 2)`` in a frame.

    ``size`` is ``(width, height)`` in pixels; with no finite point the whole frame.
    """
    w, h = size
    ok = np.isfinite(points).all(axis=1)
    if not ok.any():
        return 0, 0, w, h
    lo, hi = points[ok].min(axis=0), points[ok].max(axis=0)
    pad = max(24.0, CROP_MARGIN * float((hi - lo).max()))
    x0, y0 = max(0, int(lo[0] - pad)), max(0, int(lo[1] - pad))
    x1, y1 = min(w, int(np.ceil(hi[0] + pad))), min(h, int(np.ceil(hi[1] + pad)))
    return x0, y0, max(x1, x0 + 1), max(y1, y0 + 1)


def video_size(path: str | Path) -> tuple[int, int]:
    """``(width, height)`` of a video, pixels."""
    reader = VideoReader(path)
    try:
        return int(reader.size[0]), int(reader.size[1])
    finally:
        reader.close()


def read_view(video: str | Path, frame: int) -> NDArray[np.uint8]:
    """Frame ``frame`` of ``video``: ``(height, width, 3)`` uint8 BGR.

    Raises:
        InputError: the video is missing or unreadable, or has no such frame.
    """
    reader = VideoReader(video)
    try:
        if not 0 <= frame < len(reader):
            raise InputError(
                f"video {video} has no frame {frame} ({len(reader)} frames).",
                fix="pick a frame of the run.",
            )
        return reader[frame]
    finally:
        reader.close()


def view_candidates(
    video: str | Path, frame: int, box: tuple[int, int, int, int]
) -> list[list[float]]:
    """The bright marks ``tools.detect.detect_marks`` finds in ``box`` of a frame.

    Returns:
        ``[[x, y], ...]`` pixels of the full frame, most confident first.
    """
    x0, y0, x1, y1 = box
    found = detect_marks(read_view(video, frame)[y0:y1, x0:x1])
    return [[round(float(x) + x0, 2), round(float(y) + y0, 2)] for x, y in found.xy]


def view_png(video: str | Path, frame: int, box: tuple[int, int, int, int]) -> bytes:
    """Frame ``frame`` of ``video`` cropped to ``box`` ``(x0, y0, x1, y1)``, as PNG.

    Raises:
        InputError: the video is missing or unreadable, or has no such frame.
    """
    image = read_view(video, frame)
    x0, y0, x1, y1 = box
    ok, buf = cv2.imencode(".png", image[y0:y1, x0:x1])
    assert ok, "PNG encoding of a uint8 image cannot fail"
    return bytes(buf.tobytes())


def window_png(run: Run, animal: int, start: int, stop: int) -> bytes:
    """The contact sheet of a classify window: keypoints at 6 frames, speed, probabilities.

    Raises:
        InputError: the window is outside the run.
    """
    win = run.load_arrays("windows")
    points = win["points"]  # (frames, animals, keypoints, dims)
    if not (0 <= animal < points.shape[1] and 0 <= start < stop <= points.shape[0]):
        raise InputError(
            f"window {animal}:{start}:{stop} is outside run {run.root}.",
            fix="pick a window from the classify queue.",
        )
    # a run paused for a person has no labels yet: the detector's are in the windows
    labels = run.load_arrays("labels") if run.has_artifact("labels") else None
    classes = list(run.info().inputs["classes"])
    xy = points[start:stop, animal, :, :2]
    fig, _ = new_figure(9.0, 2.6)
    fig.clf()
    sheet = fig.add_subplot(1, 2, 1)
    picks = np.unique(np.linspace(0, len(xy) - 1, 6).round().astype(int))
    for n, i in enumerate(picks):
        p = xy[i]
        sheet.plot(p[:, 0], p[:, 1], "o", ms=3, color=_shade(n, len(picks)))
    sheet.set_aspect("equal", adjustable="datalim")
    sheet.set_title(f"keypoints, frames {start}-{stop - 1} (light = early)", fontsize=8)
    sheet.tick_params(labelsize=6)
    ax = fig.add_subplot(1, 2, 2)
    centre = np.nanmean(points[max(0, start - 1) : stop, animal, :, :2], axis=1)
    speed = np.linalg.norm(np.diff(centre, axis=0), axis=1)
    ax.plot(np.arange(len(speed)) + max(0, start - 1) + 1, speed, color="k", lw=1)
    ax.set_ylabel("speed / frame", fontsize=7)
    ax2 = ax.twinx()
    proba = labels["detector_proba"] if labels is not None else win["det_proba"]
    proba = proba[start:stop, animal]
    for c, name in enumerate(classes):
        ax2.plot(np.arange(start, stop), proba[:, c], lw=1, label=name)
    ax2.set_ylim(0, 1)
    ax2.legend(fontsize=6, loc="upper right", ncol=2)
    ax.set_title("speed (black) and the detector's class probabilities", fontsize=8)
    ax.tick_params(labelsize=6)
    ax2.tick_params(labelsize=6)
    return png_bytes(fig)


def _shade(n: int, total: int) -> tuple[float, float, float]:
    t = n / max(1, total - 1)
    return (0.75 - 0.65 * t, 0.8 - 0.6 * t, 0.95 - 0.35 * t)


__all__ = [
    "CROP_MARGIN",
    "crop_box",
    "read_view",
    "video_size",
    "view_candidates",
    "view_png",
    "window_png",
]
