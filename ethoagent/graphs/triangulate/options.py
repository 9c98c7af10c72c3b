"""The settings of a triangulate run: the only copy of their defaults and bounds."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class TriangulateOptions(BaseModel):
    """The simulated session a triangulate run checks itself on.

    Attributes:
        frames: frames to simulate.
        views: calibrated camera views.
        seed: random seed of the simulation and its corruptions.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    frames: int = Field(150, ge=3)
    views: int = Field(6, ge=2, le=16)
    seed: int = 0


class TriangulateFilesOptions(BaseModel):
    """How ``ethoagent triangulate`` treats a lab's own 2D predictions and calibration.

    Attributes:
        strict: refuse a calibration with an inconsistent camera instead of dropping it.
        refine_calibration: refine the extrinsics by bundle adjustment on the 2D points
            first (written as ``calibration.refined.toml``, never over the user's file).
        threshold_px: RANSAC inlier bound and the reprojection error above which a 3D
            point is flagged, pixels.
        bone_tolerance: relative deviation of a bone from its median length above which
            both its keypoints are flagged (only where the skeleton has bones).
        chunk_frames: frames triangulated per checkpointed step.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    strict: bool = False
    refine_calibration: bool = False
    threshold_px: float = Field(20.0, gt=0)
    bone_tolerance: float = Field(0.5, gt=0)
    chunk_frames: int = Field(20_000, ge=1)


__all__ = ["TriangulateFilesOptions", "TriangulateOptions"]
