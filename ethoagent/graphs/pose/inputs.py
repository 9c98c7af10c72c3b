"""What a pose run reads, how it is resolved, and the graph's state.

The user's files (``PoseSources``) resolve into the run's recorded inputs
(``resolve_pose``); the graph and its report share the state.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypedDict

from pydantic import BaseModel, ConfigDict, Field, model_validator

from ethoagent.graphs.pose.options import PoseOptions
from ethoagent.io.calibration import read_calibration
from ethoagent.io.skeletons import read_skeleton
from ethoagent.model.camera import Camera
from ethoagent.model.skeleton import MOUSE12, Skeleton


class PoseSources(BaseModel):
    """A folder from ``ethoagent simulate`` (``session``) or videos, calibration and seeds.

    Attributes:
        session: sets ``videos``, ``calibration`` and ``seeds`` where they are not given
            (``videos/``, ``calibration.toml``, ``ground_truth/seeds.csv``).
        videos: folder with one video per camera, named after the camera; may be left
            out where ``candidates`` are given (no image is shown to a model then).
        calibration: anipose ``calibration.toml``.
        seeds: seed labels: a CSV ``frame,view,keypoint,x,y`` (frame 0 included), a folder
            of labelled files, one per camera (SLEAP ``.slp``, DeepLabCut), or a DeepLabCut
            ``labeled-data`` folder (``io.seeds.read_seeds``).
        seed_frames: the labelled frames to take as seeds (default: see ``read_seeds``).
        candidates: folder of 2D pose-model predictions, one file per camera (the camera
            named in the file name, or one folder per camera).
        skeleton: the animal's skeleton file (SLEAP ``.slp``, DeepLabCut ``config.yaml``,
            anipose or skeleton TOML; ``io.skeletons.read_skeleton``); default: the named
            skeleton the seed labels fit.
    """

    model_config = ConfigDict(extra="forbid")

    session: Path | None = None
    videos: Path | None = None
    calibration: Path | None = None
    seeds: Path | None = None
    seed_frames: list[int] | None = None
    candidates: Path | None = None
    skeleton: Path | None = None

    @model_validator(mode="after")
    def _complete(self) -> PoseSources:
        if self.session is not None:
            self.videos = self.videos or self.session / "videos"
            self.calibration = self.calibration or self.session / "calibration.toml"
            self.seeds = self.seeds or self.session / "ground_truth" / "seeds.csv"
        if None in (self.calibration, self.seeds) or (self.videos or self.candidates) is None:
            raise ValueError(
                "pose needs `session` or `calibration`, `seeds` and `videos` or `candidates`"
            )
        return self


class PoseInputs(BaseModel):
    """What a pose run reads (kept in ``run.json`` so a resume finds it).

    Attributes:
        videos: one video per used camera, in the order of ``cameras``; empty where the
            run has none (2D candidates only: no model sees an image, ``has_videos``).
        cameras: the calibration cameras labelled, in calibration order (``None``: all);
            a camera whose labels do not fit the calibration, or without a video, is left
            out and ``warnings`` says why.
        seed_frames: the seed frames requested (``None``: ``io.seeds.read_seeds``'s choice).
        skeleton: the labelled animal's keypoints, bones, left/right pairs, regions and
            body roles; ``resolve_inputs`` picks the named skeleton the seed labels fit
            (``mouse12`` for a simulated session) unless one is given.
        reviewed_frames: frames a person corrected in ``ethoagent review``; a re-run adds
            them to ``seeds`` (its labels: the person's points and the run's others).
    """

    videos: list[str]
    calibration: str
    seeds: str
    frames: int
    cameras: list[str] | None = None
    seed_frames: list[int] | None = None
    skeleton: Skeleton = MOUSE12
    candidates: list[str] | None = None
    options: PoseOptions = PoseOptions()
    warnings: list[str] = Field(default_factory=list)
    reviewed_frames: list[int] = Field(default_factory=list)

    @property
    def has_videos(self) -> bool:
        """Whether the run reads video frames (crops and few-shot images for a model)."""
        return bool(self.videos)

    def read_cameras(self) -> list[Camera]:
        """The used cameras of the calibration (``cameras``), in calibration order."""
        cams = read_calibration(self.calibration)
        return cams if self.cameras is None else [c for c in cams if c.name in self.cameras]


def resolve_pose(sources: PoseSources, options: PoseOptions) -> PoseInputs:
    """Match one video per calibrated camera and check the calibration, seeds and lengths.

    A skeleton file is read with ``io.skeletons.read_skeleton``; what it does not say and
    was inferred is listed in the inputs' ``warnings`` (``skeleton: ...``).

    Raises:
        InputError: see ``graphs.pose.graph.resolve_inputs``, and an unreadable skeleton
            file (file and line named).
    """
    # the graph module (OpenCV, LangGraph) loads when a run is resolved, not with the options
    from ethoagent.graphs.pose.graph import resolve_inputs

    assert sources.calibration and sources.seeds  # PoseSources checks
    skeleton, inferred = (
        read_skeleton(sources.skeleton) if sources.skeleton is not None else (None, [])
    )
    inputs = resolve_inputs(
        sources.videos,
        sources.calibration,
        sources.seeds,
        frames=options.frames,
        options=options,
        candidates_dir=sources.candidates,
        skeleton=skeleton,
        seed_frames=sources.seed_frames,
    )
    if not inferred:
        return inputs
    said = [f"skeleton: {line}" for line in inferred]
    return inputs.model_copy(update={"warnings": [*said, *inputs.warnings]})


class PoseState(TypedDict, total=False):
    """The pose graph's state: counts, names and summaries (arrays live in artifacts)."""

    frames: int
    chunk: int
    n_chunks: int
    history: list[int]
    history_points: list[list[list[float]]]
    anchor: list[list[float]]
    flagged: list[int]
    stagewise: dict[str, Any]
    routes: dict[str, int]
    model_calls: dict[str, int]
    outputs: list[str]


__all__ = ["PoseInputs", "PoseSources", "PoseState", "resolve_pose"]
