"""The pipeline graphs a batch (or any scripted caller) can run, by name.

One ``GraphEntry`` per graph says which session inputs and options it takes (pydantic
models, so a batch file is checked before anything runs), how those become the run's
inputs (``resolve``, which reads the files and raises ``InputError``), how to run or resume
the graph in a runtime, which model roles it calls and which numbers of its
``outputs/summary.json`` go into ``run.json``. A new pipeline (gate, ...)
becomes available to ``ethoagent run`` by adding one entry to ``GRAPHS``.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from ethoagent.errors import InputError

if TYPE_CHECKING:
    from ethoagent.agent.types import Role
    from ethoagent.graphs.kit.runtime import Runtime
    from ethoagent.runs import Run


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


# --------------------------------------------------------------------------- demo


class DemoBatchInputs(_Strict):
    """The demo simulates its own session: it reads no files."""


class DemoBatchOptions(_Strict):
    """``frames`` to simulate, camera ``views``, random ``seed``."""

    frames: int = Field(150, ge=3)
    views: int = Field(6, ge=2, le=16)
    seed: int = 0


def _resolve_demo(inputs: DemoBatchInputs, options: DemoBatchOptions) -> dict[str, Any]:
    return options.model_dump()


async def _run_demo(rt: Runtime, inputs: dict[str, Any]) -> dict[str, Any]:
    from ethoagent.demo.triangulate import run_demo

    return await run_demo(rt, frames=inputs["frames"], views=inputs["views"], seed=inputs["seed"])


# --------------------------------------------------------------------------- pose


class PoseBatchInputs(_Strict):
    """A folder from ``ethoagent simulate`` (``session``) or videos, calibration and seeds.

    Attributes:
        session: sets ``videos``, ``calibration`` and ``seeds`` where they are not given.
        videos: folder with one video per camera, named after the camera.
        calibration: anipose ``calibration.toml``.
        seeds: seed labels, CSV ``frame,view,keypoint,x,y`` (frame 0 included).
        candidates: folder of 2D pose-model predictions, one file per camera.
    """

    session: Path | None = None
    videos: Path | None = None
    calibration: Path | None = None
    seeds: Path | None = None
    candidates: Path | None = None

    @model_validator(mode="after")
    def _complete(self) -> PoseBatchInputs:
        if self.session is None and None in (self.videos, self.calibration, self.seeds):
            raise ValueError("pose needs `session` or all of `videos`, `calibration`, `seeds`")
        return self

    def paths(self) -> tuple[Path, Path, Path]:
        """``(videos, calibration, seeds)``, filled in from ``session``."""
        videos, calibration, seeds = pose_paths(
            self.session, self.videos, self.calibration, self.seeds
        )
        assert videos is not None and calibration is not None and seeds is not None
        return videos, calibration, seeds


def pose_paths(
    session: Path | None,
    videos: Path | None = None,
    calibration: Path | None = None,
    seeds: Path | None = None,
) -> tuple[Path | None, Path | None, Path | None]:
    """``(videos, calibration, seeds)``: those given, the rest from a folder written by
    ``ethoagent simulate`` (``videos/``, ``calibration.toml``, ``ground_truth/seeds.csv``)."""
    if session is not None:
        videos = videos or session / "videos"
        calibration = calibration or session / "calibration.toml"
        seeds = seeds or session / "ground_truth" / "seeds.csv"
    return videos, calibration, seeds


class PoseBatchOptions(_Strict):
    """``frames``: label the first N (default all); ``model_every_stage``: the paper's way."""

    frames: int | None = Field(None, ge=2)
    model_every_stage: bool = False


def _resolve_pose(inputs: PoseBatchInputs, options: PoseBatchOptions) -> dict[str, Any]:
    from ethoagent.graphs.pose.graph import PoseOptions, resolve_inputs

    videos, calibration, seeds = inputs.paths()
    resolved = resolve_inputs(
        videos,
        calibration,
        seeds,
        frames=options.frames,
        options=PoseOptions(model_every_stage=options.model_every_stage),
        candidates_dir=inputs.candidates,
    )
    return resolved.model_dump()


async def _run_pose(rt: Runtime, inputs: dict[str, Any]) -> dict[str, Any]:
    from ethoagent.graphs.pose.graph import PoseInputs, run_pose

    return await run_pose(rt, PoseInputs.model_validate(inputs))


# --------------------------------------------------------------------------- segment


class SegmentBatchInputs(_Strict):
    """``keypoints`` (any file ``tools.io`` reads) or a simulated ``session`` folder.

    Attributes:
        session: a folder from ``ethoagent simulate``; used when ``keypoints`` is absent.
        keypoints: keypoint file (DeepLabCut, SLEAP, LightningPose, anipose, NWB, netCDF).
        video: the video the keypoints were tracked on.
        fps: frame rate, Hz, where the file states none.
    """

    session: Path | None = None
    keypoints: Path | None = None
    video: Path | None = None
    fps: float | None = Field(None, gt=0)

    @model_validator(mode="after")
    def _complete(self) -> SegmentBatchInputs:
        if self.session is None and self.keypoints is None:
            raise ValueError("segment needs `keypoints` or `session`")
        return self


def _segment_options(options: Mapping[str, Any]) -> BaseModel:
    from ethoagent.graphs.segment.graph import SegmentOptions

    return SegmentOptions.model_validate(options)


def _resolve_segment(inputs: SegmentBatchInputs, options: BaseModel) -> dict[str, Any]:
    from ethoagent.graphs.segment.graph import SegmentOptions, resolve_segment_inputs

    assert isinstance(options, SegmentOptions)
    keypoints = inputs.keypoints or inputs.session
    assert keypoints is not None
    resolved = resolve_segment_inputs(
        keypoints, video=inputs.video, fps=inputs.fps, options=options
    )
    return resolved.model_dump()


async def _run_segment(rt: Runtime, inputs: dict[str, Any]) -> dict[str, Any]:
    from ethoagent.graphs.segment.graph import SegmentInputs, run_segment

    return await run_segment(rt, SegmentInputs.model_validate(inputs))


# --------------------------------------------------------------------------- classify


class ClassifyBatchInputs(_Strict):
    """``keypoints`` (or a simulated ``session``), labelled ``examples`` and the label set.

    Attributes:
        session: a folder from ``ethoagent simulate``; used when ``keypoints`` is absent.
        keypoints: keypoint file (DeepLabCut, SLEAP, LightningPose, anipose, NWB, netCDF).
        examples: labelled examples, CSV ``frame,label`` (or ``start_frame,stop_frame,label``;
            optional ``animal``) or a BORIS events export; every class needs one.
        video: the video the keypoints were tracked on (else frames are drawn).
        fps: frame rate, Hz, where the file states none.
        classes: the label set (default: the classes of ``definitions``, else the fear set).
        definitions: JSON file ``{class: one-sentence definition}``.
    """

    session: Path | None = None
    keypoints: Path | None = None
    examples: Path
    video: Path | None = None
    fps: float | None = Field(None, gt=0)
    classes: list[str] | None = None
    definitions: Path | None = None

    @model_validator(mode="after")
    def _complete(self) -> ClassifyBatchInputs:
        if self.session is None and self.keypoints is None:
            raise ValueError("classify needs `keypoints` or `session`")
        return self


def _classify_options(options: Mapping[str, Any]) -> BaseModel:
    from ethoagent.graphs.classify.graph import ClassifyOptions

    return ClassifyOptions.model_validate(options)


def _resolve_classify(inputs: ClassifyBatchInputs, options: BaseModel) -> dict[str, Any]:
    from ethoagent.graphs.classify.graph import (
        ClassifyOptions,
        read_definitions,
        resolve_classify_inputs,
    )

    assert isinstance(options, ClassifyOptions)
    keypoints = inputs.keypoints or inputs.session
    assert keypoints is not None
    resolved = resolve_classify_inputs(
        keypoints,
        inputs.examples,
        classes=inputs.classes,
        definitions=read_definitions(inputs.definitions),
        video=inputs.video,
        fps=inputs.fps,
        options=options,
    )
    return resolved.model_dump()


async def _run_classify(rt: Runtime, inputs: dict[str, Any]) -> dict[str, Any]:
    from ethoagent.graphs.classify.graph import ClassifyInputs, run_classify

    return await run_classify(rt, ClassifyInputs.model_validate(inputs))


# --------------------------------------------------------------------------- profile


class ProfileBatchInputs(_Strict):
    """A sessions table (each row segmented, then one vocabulary across all of them).

    Attributes:
        sessions: CSV of ``session`` (keypoint file or simulated folder), ``animal``,
            ``group``; optional ``day``, ``video``, ``fps``, ``segment``.
        reference_vocabulary: JSON ``{name: definition}`` of known behaviours.
    """

    sessions: Path
    reference_vocabulary: Path | None = None


def _profile_options(options: Mapping[str, Any]) -> BaseModel:
    from ethoagent.graphs.profile.graph import ProfileOptions

    return ProfileOptions.model_validate(options)


def _resolve_profile(inputs: ProfileBatchInputs, options: BaseModel) -> dict[str, Any]:
    from ethoagent.graphs.profile.graph import ProfileOptions, resolve_profile_inputs

    assert isinstance(options, ProfileOptions)
    resolved = resolve_profile_inputs(inputs.sessions, options, inputs.reference_vocabulary)
    return resolved.model_dump(mode="json")


async def _run_profile(rt: Runtime, inputs: dict[str, Any]) -> dict[str, Any]:
    from ethoagent.graphs.profile.graph import ProfileInputs, run_profile

    return await run_profile(rt, ProfileInputs.model_validate(inputs))


def _profile_sessions(inputs: Mapping[str, Any]) -> int:
    from ethoagent.graphs.profile.graph import SessionRow

    return len({SessionRow.model_validate(r).key for r in inputs["rows"]})


# --------------------------------------------------------------------------- registry


@dataclass(frozen=True)
class GraphEntry:
    """How to run one pipeline graph from a declared session.

    Attributes:
        name: the graph's ``GRAPH_NAME`` (recorded in ``run.json``).
        inputs: pydantic model of the session inputs it reads (paths relative to the batch
            file are made absolute before validation).
        options: function validating the graph's options into its options model.
        resolve: ``(inputs, options) -> run inputs`` (JSON-able, kept in ``run.json`` so a
            resume finds them); reads the files and raises ``InputError`` on bad ones.
        run: runs or resumes the graph in a runtime; returns the final state.
        roles: model roles the graph calls (checked for reachability when online).
        summary_keys: entries of ``outputs/summary.json`` copied into ``run.json``.
        total: progress-bar length from the run inputs.
    """

    name: str
    inputs: type[BaseModel]
    options: Callable[[Mapping[str, Any]], BaseModel]
    resolve: Callable[[Any, Any], dict[str, Any]]
    run: Callable[[Runtime, dict[str, Any]], Awaitable[dict[str, Any]]]
    roles: tuple[Role, ...]
    summary_keys: tuple[str, ...]
    total: Callable[[dict[str, Any]], int]

    def input_keys(self) -> frozenset[str]:
        return frozenset(self.inputs.model_fields)


GRAPHS: dict[str, GraphEntry] = {
    "demo": GraphEntry(
        name="demo",
        inputs=DemoBatchInputs,
        options=DemoBatchOptions.model_validate,
        resolve=_resolve_demo,
        run=_run_demo,
        roles=("llm",),
        summary_keys=("frames", "mean_error_mm", "naive_dlt_mean_error_mm", "model_calls"),
        total=lambda inputs: int(inputs["frames"]),
    ),
    "pose": GraphEntry(
        name="pose",
        inputs=PoseBatchInputs,
        options=PoseBatchOptions.model_validate,
        resolve=_resolve_pose,
        run=_run_pose,
        roles=("vlm", "llm"),
        summary_keys=("frames", "model_calls_per_frame_view"),
        total=lambda inputs: int(inputs["frames"]),
    ),
    "segment": GraphEntry(
        name="segment",
        inputs=SegmentBatchInputs,
        options=_segment_options,
        resolve=_resolve_segment,
        run=_run_segment,
        roles=("vlm", "llm"),
        summary_keys=("frames", "epochs", "model_calls_per_snippet"),
        total=lambda inputs: 1,
    ),
    "classify": GraphEntry(
        name="classify",
        inputs=ClassifyBatchInputs,
        options=_classify_options,
        resolve=_resolve_classify,
        run=_run_classify,
        roles=("vlm",),
        summary_keys=(
            "frames",
            "windows",
            "model_calls",
            "model_calls_saved",
            "model_calls_per_window",
            "macro_f1",
        ),
        total=lambda inputs: 1,
    ),
    "profile": GraphEntry(
        name="profile",
        inputs=ProfileBatchInputs,
        options=_profile_options,
        resolve=_resolve_profile,
        run=_run_profile,
        roles=("vlm", "llm"),
        summary_keys=("sessions", "profiles", "clusters", "tests", "novel"),
        total=_profile_sessions,
    ),
}
"""The graphs ``ethoagent run`` knows, by name."""


def graph_entry(name: str) -> GraphEntry:
    """The registry entry of ``name``.

    Raises:
        InputError: no such graph.
    """
    try:
        return GRAPHS[name]
    except KeyError:
        raise InputError(
            f"unknown graph {name!r}.", fix=f"use one of {', '.join(sorted(GRAPHS))}."
        ) from None


def finish_run(run: Run, keys: tuple[str, ...]) -> dict[str, Any]:
    """Mark ``run`` finished with ``keys`` of its ``outputs/summary.json`` in ``run.json``.

    Returns:
        The whole ``summary.json``.
    """
    summary: dict[str, Any] = json.loads((run.outputs_dir / "summary.json").read_text())
    run.update(status="finished", summary={k: summary[k] for k in keys if k in summary})
    return summary


__all__ = [
    "GRAPHS",
    "ClassifyBatchInputs",
    "GraphEntry",
    "ProfileBatchInputs",
    "finish_run",
    "graph_entry",
    "pose_paths",
]
