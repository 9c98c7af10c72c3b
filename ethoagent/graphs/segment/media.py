"""What the segment graph shows a model of a snippet: contact sheets, clips, pixel motion.

``SnippetMedia`` reads the session's video once per caption chunk and answers, per
snippet, a contact sheet of sampled stills (or drawings of the keypoints without a video),
a short clip at up to 10 frames per second, and the pixel motion the offline captioner uses
where the keypoints do not track the animal. A snippet's frames are decoded once and shared
by its sheet, clip and motion; the pixel motion is measured against the whole video's
background and noise threshold (``tools.clip_motion.video_background``, computed once per
video file and process, not per chunk).
"""

from __future__ import annotations

import functools
import math
from pathlib import Path

import cv2
import numpy as np
from numpy.typing import NDArray

from ethoagent.agent.types import Clip, Image
from ethoagent.graphs.segment.inputs import VIDEO_LAYOUT, SegmentInputs
from ethoagent.graphs.segment.item_stages import SnippetItem
from ethoagent.io.video import VideoReader
from ethoagent.tools.captions import normalise_label
from ethoagent.tools.clip_motion import ClipMotion, clip_motion, video_background
from ethoagent.tools.features import layout_named
from ethoagent.tools.sheets import skeleton_edges, skeleton_tiles, tile_images, video_tiles
from ethoagent.tools.snippets import sample_frames

MAX_CLIP_FRAMES = 32
"""Most frames in one clip; a longer snippet is sampled more sparsely."""
CLIP_SIZE = (320, 240)
"""Width and height of a clip's frames, pixels (cropped around the animal where known)."""
MOTION_SIZE = (160, 120)
"""Width and height at which pixel motion is measured, pixels."""


@functools.lru_cache(maxsize=4)
def _background(video: str, modified_ns: int) -> tuple[NDArray[np.float32], float]:
    """The video's background and noise threshold at ``MOTION_SIZE`` (kept per file)."""
    with VideoReader(video) as reader:
        return video_background(reader, MOTION_SIZE)


class SnippetMedia:
    """What a snippet looks like: contact sheets, clips and pixel motion.

    Contact sheets show video frames when there is a video, else drawings of the
    keypoints; clips and pixel motion need the video.

    Args:
        inputs: the session's resolved inputs.
        points: ``(frames, animals, keypoints, dims)`` the session's keypoints.
    """

    def __init__(self, inputs: SegmentInputs, points: NDArray[np.float64]) -> None:  # noqa: D107
        self.inputs = inputs
        self.points = points
        self.edges = skeleton_edges(points)
        self.head: list[int] = []
        self.marks = "its keypoints are marked with orange dots"
        if inputs.layout == VIDEO_LAYOUT:  # a video-only run's one point is the blob centre
            self.marks = "the centre of its moving blob is marked with an orange dot; no keypoints"
        else:
            layout = layout_named(inputs.layout, inputs.keypoint_names)
            names = [normalise_label(k) for k in inputs.keypoint_names]
            self.head = [names.index(normalise_label(h)) for h in layout.head]
        self.reader = VideoReader(inputs.video) if inputs.video is not None else None
        self._key: tuple[int, int, int] | None = None
        self._decoded: dict[int, NDArray[np.uint8]] = {}
        self._background: tuple[NDArray[np.float32], float] | None = None

    def close(self) -> None:
        """Close the video."""
        if self.reader is not None:
            self.reader.close()

    def _frames(self, item: SnippetItem, frames: list[int]) -> list[NDArray[np.uint8]]:
        """The video's ``frames`` of one snippet, each decoded once per snippet.

        Only the current snippet's frames are kept: a new snippet drops the last one's.
        """
        assert self.reader is not None
        key = (item.animal, item.snippet.start, item.snippet.stop)
        if key != self._key:
            self._key, self._decoded = key, {}
        for f in frames:
            if f not in self._decoded:
                self._decoded[f] = self.reader[f]
        return [self._decoded[f] for f in frames]

    def sheet(self, item: SnippetItem) -> tuple[Image, str]:
        """The snippet's contact sheet and the sentence describing it to the model."""
        opts, fps = self.inputs.options, self.inputs.fps
        sampled = sample_frames(item.snippet, fps, opts.sample_fps)
        pick = np.unique(np.linspace(0, len(sampled) - 1, min(opts.sheet_tiles, len(sampled))))
        frames = [sampled[int(i)] for i in pick]
        captions = [f"frame {f}" for f in frames]
        a = item.animal
        if self.reader is not None:
            images = self._frames(item, frames)
            focal = self.points[frames, a] if self.inputs.dims == 2 else None
            tiles = video_tiles(images, focal)
            where = (
                f"cropped around the animal ({self.marks})"
                if focal is not None
                else f"whole frames (the keypoints are 3D, so no crop); the animal is {item.name!r}"
            )
            note = (
                f"The image is a contact sheet of {len(frames)} video frames sampled from "
                f"the snippet, in reading order, {where}. Each tile is labelled with its "
                "frame number."
            )
        else:
            s = item.snippet
            with np.errstate(all="ignore"):
                path = np.nanmean(self.points[s.start : s.stop, a, :, :2], axis=1)
            tiles = skeleton_tiles(
                self.points[frames],
                a,
                self.edges,
                path=path,
                head=self.head,
                flip_y=self.inputs.dims == 3,
            )
            view = "from above" if self.inputs.dims == 3 else "in image coordinates"
            note = (
                "There is no video: the image is a drawing of the tracked keypoints seen "
                f"{view}, one panel per sampled frame ({len(frames)} panels, reading "
                "order, labelled with the frame number). The animal described is drawn in "
                "orange with its head circled, other animals in grey; the green line is its "
                "path over the snippet."
            )
        return Image.from_array(tile_images(tiles, captions)), note

    def _clip_frames(self, item: SnippetItem, most: int) -> tuple[list[int], float]:
        """Frames sampled from the snippet (at most ``most``) and their rate, Hz."""
        opts, fps = self.inputs.options, self.inputs.fps
        rate = min(opts.sample_fps, 10.0)
        frames = sample_frames(item.snippet, fps, rate)
        most = min(most, max(1, math.floor(item.snippet.seconds * rate + 1e-9)))
        if len(frames) > most:
            pick = np.linspace(0, len(frames) - 1, most).round().astype(int)
            frames = [frames[int(i)] for i in np.unique(pick)]
        rate = len(frames) / max(item.snippet.seconds, 1e-9)
        return frames, min(rate, fps)

    def clip(self, item: SnippetItem) -> tuple[Clip, str]:
        """The snippet as a short clip (at most 10 frames/s) and the sentence describing it."""
        if self.reader is None:
            raise AssertionError("clips are only made for a session with a video")
        frames, rate = self._clip_frames(item, MAX_CLIP_FRAMES)
        images = self._frames(item, frames)
        focal = self.points[frames, item.animal] if self.inputs.dims == 2 else None
        tiles = video_tiles(images, focal, tile_size=CLIP_SIZE)
        rgb = [cv2.cvtColor(t, cv2.COLOR_BGR2RGB) for t in tiles]
        clip = Clip.from_arrays(rgb, rate, source=f"{self.inputs.video}:{frames[0]}-{frames[-1]}")
        where = (
            f"cropped around the animal ({self.marks})"
            if focal is not None
            else f"whole frames; the animal is {item.name!r}"
        )
        note = (
            f"{len(frames)} video frames from frame {frames[0]} to {frames[-1]}, "
            f"{rate:.1f} frames per second of recording time, {where}."
        )
        return clip, note

    def motion(self, item: SnippetItem) -> ClipMotion | None:
        """The snippet's pixel motion over whole frames, or ``None`` without a video.

        Measured on the clip's frames (``clip`` reuses them) against the whole video's
        background and noise threshold at ``MOTION_SIZE``.
        """
        if self.reader is None:
            return None
        if self._background is None:
            assert self.inputs.video is not None
            video = Path(self.inputs.video)
            self._background = _background(str(video.resolve()), video.stat().st_mtime_ns)
        frames, rate = self._clip_frames(item, MAX_CLIP_FRAMES)
        small: list[NDArray[np.uint8]] = [
            np.asarray(cv2.resize(f, MOTION_SIZE, interpolation=cv2.INTER_AREA))
            for f in self._frames(item, frames)
        ]
        background, threshold = self._background
        return clip_motion(small, rate, background=background, threshold=threshold)


def no_sheet(item: SnippetItem) -> tuple[Image, str]:
    """Stand-in for ``SnippetMedia.sheet`` where no model sees images (never called)."""
    raise AssertionError("contact sheets are only drawn for a model that sees images")
