"""What a segment run reads, how it is resolved, and the graph's state.

The user's files (``SegmentSources``) resolve into the run's recorded inputs
(``resolve_segment``, reading the keypoints once through ``io.session.resolve_session``);
the graph and its report share the state.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypedDict

from pydantic import BaseModel, ConfigDict, Field, model_validator

from ethoagent.graphs.kit.inputs import SessionRecord
from ethoagent.graphs.segment.options import SegmentOptions
from ethoagent.io.keypoints import KeypointFormat
from ethoagent.io.session import resolve_session


class SegmentSources(BaseModel):
    """What a user names for a segment run.

    Attributes:
        keypoints: keypoint file (DeepLabCut, SLEAP, LightningPose, anipose, NWB, netCDF)
            or a folder written by ``ethoagent simulate``.
        session: a folder from ``ethoagent simulate``; used when ``keypoints`` is absent.
        video: the video the keypoints were tracked on (frames for the VLM).
        fps: frame rate, Hz, where the file states none.
        body: a body file stating which keypoints play which role (``io.body``: a TOML
            ``head = "snout"``, ... or a skeleton file); overrides name matching.
        format: the keypoint format (``io.keypoints.KEYPOINT_FORMATS``) where detection
            from the suffix and first rows is ambiguous.
    """

    model_config = ConfigDict(extra="forbid")

    keypoints: Path | None = None
    session: Path | None = None
    video: Path | None = None
    fps: float | None = Field(None, gt=0)
    body: Path | None = None
    format: KeypointFormat | None = None

    @model_validator(mode="after")
    def _complete(self) -> SegmentSources:
        if self.session is None and self.keypoints is None:
            raise ValueError("segment needs `keypoints` or `session`")
        return self


class SegmentInputs(SessionRecord):
    """What a segment run reads (kept in ``run.json`` so a resume finds it).

    Attributes:
        options: the run's settings; the session's fields are ``SessionRecord``'s.
    """

    options: SegmentOptions = SegmentOptions()


def resolve_segment(sources: SegmentSources, options: SegmentOptions) -> SegmentInputs:
    """Check a keypoint file (and video) and settle the frame rate and body layout.

    Args:
        sources: the keypoint file (or simulated folder), video and frame rate.
        options: the run's settings (``layout`` names the body layout; ``None`` infers).

    Returns:
        The inputs of a segment run.

    Raises:
        InputError: unreadable or too short keypoints, no frame rate, no body layout
            fitting the keypoint names, or a video shorter than the keypoints.
    """
    keypoints = sources.keypoints or sources.session
    assert keypoints is not None  # SegmentSources requires one
    s = resolve_session(
        keypoints,
        video=sources.video,
        fps=sources.fps,
        layout=options.layout,
        body=sources.body,
        format=sources.format,
    )
    return SegmentInputs.from_session(s, options=options)


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
    model_calls: dict[str, int]
    animal: int
    vocabulary: dict[str, str]
    epochs: dict[str, int]
    merge_routes: dict[str, int]
    timings: dict[str, float]
    outputs: list[str]


__all__ = ["SegmentInputs", "SegmentSources", "SegmentState", "resolve_segment"]
