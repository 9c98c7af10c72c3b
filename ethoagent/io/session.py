"""A recorded session from a keypoint file: read once, checked, its rate and layout settled.

Segment, classify and profile all start from this: a keypoint file in any format
``io.keypoints.read_keypoints`` reads (or a folder written by ``ethoagent simulate``, whose
``ground_truth/points_3d.csv`` is the file and whose videos state the frame rate), an
optional video, and a frame rate where the file states none.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from ethoagent.errors import InputError
from ethoagent.io.keypoints import read_keypoints
from ethoagent.tools.features import LAYOUTS, BodyLayout, infer_layout


@dataclass(frozen=True)
class Session:
    """A checked keypoint session (no arrays: what a run records about its input).

    Attributes:
        keypoints: the keypoint file.
        video: the video the keypoints were tracked on, or ``None``.
        fps: frame rate, Hz (> 0).
        frames: number of frames (>= 2).
        animals: individual names, as in the file.
        keypoint_names: keypoint names, as in the file.
        dims: 2 (pixels) or 3 (``unit``).
        unit: ``"px"`` or the 3D unit.
        layout: the name of the body layout (``tools.features.LAYOUTS``) fitting the names.
        truth_labels: a simulated session's ``ground_truth/labels.csv`` (frame, one
            behaviour per animal), or ``None``.
    """

    keypoints: Path
    video: Path | None
    fps: float
    frames: int
    animals: tuple[str, ...]
    keypoint_names: tuple[str, ...]
    dims: int
    unit: str
    layout: str
    truth_labels: Path | None


def resolve_session(
    keypoints: Path,
    *,
    video: Path | None = None,
    fps: float | None = None,
    layout: str | None = None,
) -> Session:
    """Read a keypoint file (and check its video) once; settle frame rate and body layout.

    Args:
        keypoints: any file ``io.keypoints.read_keypoints`` reads, or a folder written by
            ``ethoagent simulate`` (its ``ground_truth/points_3d.csv``, fps from its
            videos, labels kept for scoring).
        video: the video the keypoints come from, or ``None``.
        fps: frame rate, Hz; overrides the file's. Needed when neither the file nor the
            video states one.
        layout: name of a body layout (``tools.features.LAYOUTS``); ``None`` infers one
            from the keypoint names.

    Returns:
        The session.

    Raises:
        InputError: unreadable or too short keypoints, no frame rate, no body layout
            fitting the keypoint names, or a video shorter than the keypoints.
    """
    from ethoagent.io.video import VideoReader  # OpenCV loads when a session is read

    path = Path(keypoints)
    truth: Path | None = None
    if path.is_dir():
        gt = path / "ground_truth"
        if not (gt / "points_3d.csv").is_file():
            raise InputError(
                f"{path} is a folder, not a keypoint file, and holds no "
                "ground_truth/points_3d.csv of a simulated session.",
                fix="pass a keypoint file (DeepLabCut, SLEAP, LightningPose, anipose, NWB, "
                "netCDF) or a folder written by `ethoagent simulate`.",
            )
        if fps is None:
            fps = simulated_fps(path)
        truth = gt / "labels.csv" if (gt / "labels.csv").is_file() else None
        path = gt / "points_3d.csv"
    data = read_keypoints(path, fps=fps)
    rate = data.fps
    if video is not None:
        with VideoReader(video) as reader:
            if len(reader) < data.frames:
                raise InputError(
                    f"video {video} has {len(reader)} frames but {path} has {data.frames}.",
                    fix="pass the video the keypoints were tracked on.",
                )
            rate = rate or reader.fps
    if rate is None or not math.isfinite(rate) or rate <= 0:
        raise InputError(
            f"{path} states no frame rate.", fix="pass --fps (frames per second of the video)."
        )
    if data.frames < 2:
        raise InputError(
            f"{path} has {data.frames} frame(s); a behaviour session needs more.",
            fix="pass a longer recording.",
        )
    return Session(
        keypoints=path,
        video=video,
        fps=float(rate),
        frames=data.frames,
        animals=tuple(data.individuals),
        keypoint_names=tuple(data.keypoints),
        dims=int(data.points.shape[-1]),
        unit=data.unit,
        layout=body_layout(layout, data.keypoints).name,
        truth_labels=truth,
    )


def simulated_fps(folder: Path) -> float | None:
    """The frame rate, Hz, of a folder written by ``ethoagent simulate``, or ``None``.

    It is read from the folder's first video; a folder with no video gives ``None``.
    """
    from ethoagent.io.video import VideoReader

    videos = sorted((Path(folder) / "videos").glob("*.mp4"))
    if not videos:
        return None
    with VideoReader(videos[0]) as reader:
        return reader.fps


def body_layout(name: str | None, keypoints: tuple[str, ...] | list[str]) -> BodyLayout:
    """The layout called ``name`` (checked against ``keypoints``), or one inferred from them.

    Raises:
        InputError: the named layout needs keypoints the file lacks, or none fits.
    """
    if name is None:
        return infer_layout(keypoints)
    layout = LAYOUTS[name]
    missing = layout.missing(keypoints)
    if missing:
        raise InputError(
            f"body layout {layout.name!r} needs keypoints {list(missing)} that the file "
            f"lacks (it has {list(keypoints)}).",
            fix="pick another layout or leave it out to infer one.",
        )
    return layout


__all__ = ["Session", "body_layout", "resolve_session", "simulated_fps"]
