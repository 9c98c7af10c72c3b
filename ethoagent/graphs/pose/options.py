"""The settings of a pose run: the only copy of their defaults and bounds."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class PoseOptions(BaseModel):
    """Settings of one pose run.

    Attributes:
        model_every_stage: ask the model in every stage for every frame and view (the
            paper's behaviour, for the ablation) instead of only where the cheap path fails.
        refine_3d: escalate frames that fail the 3D checks (hypotheses, RANSAC, re-ask);
            ``False`` keeps their plain DLT points (the ablation without 3D refinement).
        stagewise_hypothesis: with ``refine_3d``, also carry the stage-wise reading (a
            second track without 3D refinement) and take it per chunk and keypoint where
            the checks prefer it (``graphs.pose.hypotheses``); about doubles the labelling
            time.
        reacquire_lost: with ``refine_3d``, fill a keypoint the output lacks from the marks
            no keypoint reads, where 3D checks verify it (``graphs.pose.reacquire``; the
            output only, never the track).
        chunk_frames: frames per checkpointed chunk.
        match_gate_px: Hungarian gate between a prediction and a candidate, pixels.
        jump_bound_px: a model's assignment must lie this close to the prediction, pixels.
        region_margin_px: margin of the predicted region boxes, pixels.
        max_candidates: candidates kept per view and frame (most confident first).
        min_confidence: 2D predictions (``--candidates``) with a likelihood below this are
            not candidates; 0 keeps every point the model gave a non-zero likelihood (the
            checks decide; a proofread SLEAP view can score its right labels at 0.3).
        few_shot: accepted frames shown to the model as examples.
        reprojection_px, bone_tolerance, min_coverage: triangulation check thresholds.
        concurrency: items of a stage run at once (model calls in flight).
        frames: label the first N frames (``None``: all).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    model_every_stage: bool = False
    refine_3d: bool = True
    stagewise_hypothesis: bool = True
    reacquire_lost: bool = True
    chunk_frames: int = Field(25, ge=1)
    match_gate_px: float = Field(10.0, gt=0)
    jump_bound_px: float = Field(30.0, gt=0)
    region_margin_px: float = Field(8.0, ge=0)
    max_candidates: int = Field(40, ge=1)
    min_confidence: float = Field(0.0, ge=0, le=1)
    few_shot: int = Field(3, ge=0)
    reprojection_px: float = Field(6.0, gt=0)
    bone_tolerance: float = Field(0.25, gt=0)
    min_coverage: float = Field(0.75, gt=0, le=1)
    concurrency: int = Field(8, ge=1)
    frames: int | None = Field(None, ge=2)


__all__ = ["PoseOptions"]
