"""What a run records about the keypoint session it read (shared by segment and classify)."""

from __future__ import annotations

from typing import Any, Self

from pydantic import BaseModel, ConfigDict, Field

from ethoagent.io.keypoints import KeypointFormat
from ethoagent.io.session import Session


class SessionRecord(BaseModel):
    """A checked keypoint session as a run's ``run.json`` keeps it (``io.session.Session``).

    Attributes:
        keypoints: the keypoint file; video: its video or ``None``.
        fps: frame rate, Hz. frames: number of frames.
        animals: individual names, as in the keypoint file.
        keypoint_names: keypoint names.
        dims: 2 (pixels) or 3 (``unit``). unit: ``"px"`` or the 3D unit.
        layout: the body layout's name.
        truth_labels: a simulated session's ``ground_truth/labels.csv`` (frame, one
            behaviour per animal), or ``None``; the summary then scores the ethogram.
        format: the keypoint format the user named (``None``: detected from the file).
        skeleton: the skeleton file naming a sleap-anipose ``points3d.h5``'s nodes, or
            ``None`` (the ``.slp`` files beside it); a resume re-reads the file with it.
        warnings: what reading the session found doubtful (frame rate, speeds), one line
            each, for the report's warnings.
        body_length: the animals' median body extent in ``unit``, or ``None``.
    """

    model_config = ConfigDict(extra="forbid")

    keypoints: str
    video: str | None = None
    fps: float = Field(gt=0)
    frames: int = Field(ge=2)
    animals: list[str]
    keypoint_names: list[str]
    dims: int
    unit: str
    layout: str
    truth_labels: str | None = None
    format: KeypointFormat | None = None
    skeleton: str | None = None
    warnings: list[str] = Field(default_factory=list)
    body_length: float | None = None

    @classmethod
    def from_session(cls, s: Session, **fields: Any) -> Self:
        """The record of ``s``, with the subclass's own ``fields`` (e.g. ``options``)."""
        return cls(
            keypoints=str(s.keypoints),
            video=None if s.video is None else str(s.video),
            fps=s.fps,
            frames=s.frames,
            animals=list(s.animals),
            keypoint_names=list(s.keypoint_names),
            dims=s.dims,
            unit=s.unit,
            layout=s.layout,
            truth_labels=None if s.truth_labels is None else str(s.truth_labels),
            format=s.format,
            skeleton=None if s.skeleton is None else str(s.skeleton),
            warnings=list(s.warnings),
            body_length=s.body_length,
            **fields,
        )


__all__ = ["SessionRecord"]
