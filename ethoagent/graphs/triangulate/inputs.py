"""What a triangulate run reads.

The demo (``TriangulateSources``) reads nothing from disk: it simulates its session, so
its recorded inputs are its options. ``ethoagent triangulate`` (``TriangulateFilesSources``)
reads a lab's own 2D predictions, calibration and skeleton; ``resolve_triangulate_files``
matches files to cameras, reads the skeleton and diagnoses the calibration on the 2D
points before any run exists (a refused calibration leaves nothing behind).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from pydantic import BaseModel, ConfigDict

from ethoagent.errors import InputError
from ethoagent.graphs.triangulate.options import TriangulateFilesOptions, TriangulateOptions
from ethoagent.io.calibration import read_calibration
from ethoagent.io.keypoints import read_keypoints
from ethoagent.io.rig import CameraFiles, RigPoints, find_camera_files, read_camera_points
from ethoagent.io.skeletons import complete_skeleton, read_skeleton
from ethoagent.model.camera import Camera
from ethoagent.model.skeleton import Skeleton
from ethoagent.tools.calibration_check import diagnose_calibration
from ethoagent.tools.cameras import check_calibration
from ethoagent.tools.triangulate import triangulate_ransac
from ethoagent.tools.verify3d import reference_bone_lengths

REFERENCE_FRAMES = 2000
"""Most frames triangulated while resolving, for inferred bones and reference lengths."""
DIAGNOSIS_FRAMES = 5000
"""Most frames (spread over the recording) the calibration is diagnosed on."""


class TriangulateSources(BaseModel):
    """The triangulate graph simulates its own session: it reads no files."""

    model_config = ConfigDict(extra="forbid")


class TriangulateInputs(BaseModel):
    """What a triangulate run records in ``run.json``: the session it simulates."""

    model_config = ConfigDict(extra="forbid")

    frames: int
    views: int
    seed: int


def resolve_triangulate(
    sources: TriangulateSources, options: TriangulateOptions
) -> TriangulateInputs:
    """The run's inputs: the simulated session's size and seed."""
    return TriangulateInputs(frames=options.frames, views=options.views, seed=options.seed)


class TriangulateFilesSources(BaseModel):
    """What ``ethoagent triangulate`` is given.

    Attributes:
        two_d: folder of one 2D prediction file per camera, or of one folder per camera
            (the camera named in the file or folder name).
        calibration: anipose ``calibration.toml`` or DANNCE ``.mat``.
        skeleton: SLEAP ``.slp``, DeepLabCut ``config.yaml``, anipose or skeleton TOML; without
            one the keypoints are the 2D files' and bones/regions are not known.
    """

    model_config = ConfigDict(extra="forbid")

    two_d: Path
    calibration: Path
    skeleton: Path | None = None


class TriangulateFilesInputs(BaseModel):
    """What a ``triangulate`` run records in ``run.json``: files, skeleton, diagnosis.

    Attributes:
        calibration: the calibration file.
        files: camera name -> its 2D file (every calibration camera that has one).
        cameras: the cameras triangulated from, in calibration order.
        dropped: cameras left out because their 2D points do not fit their parameters.
        skeleton: name, keypoints, bones and left/right pairs (``Skeleton`` fields).
        inferred: one sentence per skeleton part that was inferred, not read.
        warnings: files and cameras left out, keypoints missing in a file.
        diagnosis: the calibration diagnosis, one sentence per finding.
        unit: the calibration's length unit (``"mm"`` or ``"m"``), and ``unit_message``
            why.
        bone_lengths: each bone's reference length in the calibration's unit (median
            over sampled frames whose views agree; ``None`` for a bone never seen whole).
        frames: frames in the 2D files.
        options: the run's options.
    """

    model_config = ConfigDict(extra="forbid")

    calibration: Path
    files: dict[str, Path]
    cameras: list[str]
    dropped: list[str]
    skeleton_name: str
    keypoints: list[str]
    bones: list[tuple[str, str]]
    left_right: list[tuple[str, str]]
    inferred: list[str]
    warnings: list[str]
    diagnosis: list[str]
    unit: str
    unit_message: str
    bone_lengths: list[float | None] = []
    frames: int
    options: TriangulateFilesOptions

    def skeleton(self) -> Skeleton:
        """The skeleton the run triangulates (keypoints, bones, left/right pairs)."""
        return Skeleton(
            name=self.skeleton_name,
            keypoints=tuple(self.keypoints),
            bones=tuple(self.bones),
            left_right=tuple(self.left_right),
        )


def _skeleton(sources: TriangulateFilesSources, matched: CameraFiles) -> tuple[Skeleton, list[str]]:
    if sources.skeleton is not None:
        return read_skeleton(sources.skeleton)
    first = next(iter(matched.files.values()))
    name = sources.two_d.resolve().name or "skeleton"
    return complete_skeleton(name, read_keypoints(first).keypoints)


def _spread(n: int, most: int) -> NDArray[np.intp]:
    """Up to ``most`` frame indices spread evenly over ``n`` frames (all of them if fewer)."""
    return np.unique(np.linspace(0, n - 1, min(n, most)).astype(np.intp))


def _reference_bones(
    skeleton: Skeleton,
    inferred: list[str],
    rig: RigPoints,
    kept: list[Camera],
    options: TriangulateFilesOptions,
) -> tuple[Skeleton, list[str], NDArray[np.float64]]:
    """Bones (inferred from the animal's 3D points where the skeleton names none) and lengths.

    Up to ``REFERENCE_FRAMES`` frames spread over the recording are triangulated by RANSAC
    with the kept cameras; points that two or more views agree on within ``threshold_px``
    are the seed points of ``complete_skeleton`` and give each bone's median length.

    Returns:
        The skeleton, the inferred-part sentences and ``(bones,)`` reference lengths in
        the calibration's unit (NaN for a bone never seen whole).
    """
    names = [c.name for c in kept]
    views = [v for v, c in enumerate(rig.cameras) if c.name in names]
    rows = _spread(rig.points.shape[0], REFERENCE_FRAMES)
    pts = rig.points[rows][:, views]
    res = triangulate_ransac(
        kept,
        pts,
        threshold_px=options.threshold_px,
        weights=np.nan_to_num(rig.confidence[rows][:, views], nan=1.0),
    )
    agree = res.inliers.sum(axis=1) >= 2  # (frames, keypoints): RANSAC found a consensus
    seeds = np.where(agree[..., None], res.points_3d, np.nan)
    if not skeleton.bones:
        skeleton, more = complete_skeleton(
            skeleton.name,
            skeleton.keypoints,
            left_right=skeleton.left_right,
            regions=dict(skeleton.regions),
            roles=dict(skeleton.roles),
            seed_points=seeds,
        )
        inferred = [line for line in inferred if not line.startswith("no bones")]
        inferred += [line.replace("seed frames", "frames' RANSAC points") for line in more]
    return skeleton, inferred, reference_bone_lengths(seeds, skeleton.bone_index)


def resolve_triangulate_files(
    sources: TriangulateFilesSources, options: TriangulateFilesOptions
) -> TriangulateFilesInputs:
    """Read and check the calibration, 2D files and skeleton; diagnose the calibration.

    Raises:
        InputError: an unreadable calibration, skeleton or 2D file; no 2D file naming a
            camera; different frame counts; with ``strict``, an inconsistent camera;
            fewer than two usable cameras; a failed calibration check on those kept.
    """
    cams = read_calibration(sources.calibration)
    matched = find_camera_files(sources.two_d, [c.name for c in cams])
    skeleton, inferred = _skeleton(sources, matched)
    rig = read_camera_points(matched, cams, skeleton.keypoints)
    diag = diagnose_calibration(
        rig.cameras, rig.points[_spread(rig.points.shape[0], DIAGNOSIS_FRAMES)]
    )
    findings = diag.messages()
    if diag.inconsistent and options.strict:
        raise InputError(
            f"{sources.calibration}: camera(s) {list(diag.inconsistent)} do not fit their 2D "
            f"points. {' '.join(findings[1:-1])}",
            fix="recalibrate those cameras, or run without --strict to leave them out.",
        )
    kept = [c for c in rig.cameras if c.name not in diag.inconsistent]
    failed = [r.message for r in check_calibration(kept) if not r.passed]
    if failed:
        raise InputError(
            f"{sources.calibration}: the cameras {[c.name for c in kept]} cannot be "
            f"triangulated from: {' '.join(failed)}",
            fix="recalibrate, or give 2D files for more cameras.",
        )
    skeleton, inferred, lengths = _reference_bones(skeleton, inferred, rig, kept, options)
    return TriangulateFilesInputs(
        calibration=sources.calibration,
        files={c.name: matched.files[c.name] for c in rig.cameras},
        cameras=[c.name for c in kept],
        dropped=list(diag.inconsistent),
        skeleton_name=skeleton.name,
        keypoints=list(skeleton.keypoints),
        bones=list(skeleton.bones),
        left_right=list(skeleton.left_right),
        inferred=inferred,
        warnings=rig.warnings,
        diagnosis=findings,
        unit=diag.units.unit,
        unit_message=diag.units.message,
        bone_lengths=[float(x) if np.isfinite(x) else None for x in lengths],
        frames=int(rig.points.shape[0]),
        options=options,
    )


__all__ = [
    "TriangulateFilesInputs",
    "TriangulateFilesSources",
    "TriangulateInputs",
    "TriangulateSources",
    "resolve_triangulate",
    "resolve_triangulate_files",
]
