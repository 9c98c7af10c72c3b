"""Which 2D prediction file belongs to which calibration camera, found from file names.

A lab's session names its cameras in its files: ``minimal_back_proofread.analysis.h5`` is
camera ``back`` (the camera name as a whole word inside the file name), and sleap-anipose
lays a session out as one folder per camera (``back/…``, ``mid/…``). ``match_camera_files``
maps files to cameras by name only (nothing is opened); ``find_camera_files`` lists a
session folder first. Files that name no camera and cameras without a file are reported,
never guessed.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from ethoagent.errors import InputError
from ethoagent.model.camera import Camera
from ethoagent.model.pose import PoseData

__all__ = [
    "PREDICTION_SUFFIXES",
    "CameraFiles",
    "RigPoints",
    "camera_of",
    "find_camera_files",
    "match_camera_files",
    "read_camera_points",
]

PREDICTION_SUFFIXES: tuple[str, ...] = (".analysis.h5", ".h5", ".csv", ".slp", ".nc")
"""2D prediction file suffixes, most preferred first: where one camera has several files
(a SLEAP ``.slp`` beside its ``.analysis.h5`` export), the earlier suffix is taken."""


@dataclass(frozen=True)
class CameraFiles:
    """2D prediction files matched to calibration cameras.

    Attributes:
        files: camera name -> its file, in the calibration's camera order.
        cameras_without_file: calibration cameras no file names (triangulated without).
        unmatched_files: files whose name and folder name no camera.
        ignored: further files of a matched camera, with a less preferred suffix.
    """

    files: dict[str, Path]
    cameras_without_file: tuple[str, ...]
    unmatched_files: tuple[Path, ...]
    ignored: tuple[Path, ...]

    def warnings(self) -> list[str]:
        """One line per camera left without a file and per file left unused."""
        out = [
            f"calibration camera {c!r} has no 2D file; it is left out."
            for c in self.cameras_without_file
        ]
        out += [f"{p} names no calibration camera; it is not used." for p in self.unmatched_files]
        out += [f"{p} is not used: another file of the same camera is." for p in self.ignored]
        return out


def _word(name: str) -> re.Pattern[str]:
    return re.compile(rf"(?<![A-Za-z0-9]){re.escape(name)}(?![A-Za-z0-9])", re.IGNORECASE)


def _suffix_rank(path: Path, prefer: Sequence[str]) -> int:
    name = path.name.lower()
    return next((i for i, s in enumerate(prefer) if name.endswith(s)), len(prefer))


def camera_of(path: str | os.PathLike[str], cameras: Sequence[str]) -> str | None:
    """The camera a file belongs to, by name.

    The file's folder named exactly as a camera (case-insensitive) wins; otherwise a camera
    name that appears as a whole word in the file name (between non-alphanumeric characters,
    so ``cam1`` is not found in ``cam10``); where several do, the longest.

    Args:
        path: a 2D prediction file, e.g. ``session/back/minimal_back_proofread.analysis.h5``.
        cameras: the calibration's camera names.

    Returns:
        The camera name, or ``None`` if the path names none.
    """
    p = Path(path)
    folder = p.parent.name.lower()
    for cam in cameras:
        if cam.lower() == folder:
            return cam
    found = [cam for cam in cameras if _word(cam).search(p.name)]
    if not found:
        return None
    return max(found, key=len)


def match_camera_files(
    files: Iterable[str | os.PathLike[str]],
    cameras: Sequence[str],
    *,
    prefer: Sequence[str] = PREDICTION_SUFFIXES,
) -> CameraFiles:
    """Map 2D prediction files to calibration cameras by the camera names in their paths.

    Args:
        files: candidate files (only their paths are read).
        cameras: the calibration's camera names, in its order.
        prefer: suffixes, most preferred first, deciding between several files of one camera.

    Returns:
        The matches, cameras without a file, files without a camera and unused files.

    Raises:
        InputError: if no file names any camera (both lists are named), or if one camera has
            two files of the same preferred suffix.
    """
    paths = [Path(f) for f in files]
    by_camera: dict[str, list[Path]] = {}
    unmatched: list[Path] = []
    for p in paths:
        cam = camera_of(p, cameras)
        if cam is None:
            unmatched.append(p)
        else:
            by_camera.setdefault(cam, []).append(p)
    if not by_camera:
        raise InputError(
            f"no 2D file names a calibration camera: files {[p.name for p in paths]}, "
            f"cameras {list(cameras)}.",
            fix="put the camera name in each file name (e.g. session_back.h5) or the files "
            "in one folder per camera named as in the calibration.",
        )
    chosen: dict[str, Path] = {}
    ignored: list[Path] = []
    for cam in cameras:
        options = sorted(by_camera.get(cam, []), key=lambda p: (_suffix_rank(p, prefer), str(p)))
        if not options:
            continue
        best = _suffix_rank(options[0], prefer)
        tied = [p for p in options if _suffix_rank(p, prefer) == best]
        if len(tied) > 1:
            raise InputError(
                f"camera {cam!r} has {len(tied)} 2D files: {[str(p) for p in tied]}.",
                fix="keep one 2D prediction file per camera (or pass the files one by one).",
            )
        chosen[cam] = options[0]
        ignored += options[1:]
    return CameraFiles(
        files=chosen,
        cameras_without_file=tuple(c for c in cameras if c not in chosen),
        unmatched_files=tuple(unmatched),
        ignored=tuple(ignored),
    )


def find_camera_files(
    folder: str | os.PathLike[str],
    cameras: Sequence[str],
    *,
    prefer: Sequence[str] = PREDICTION_SUFFIXES,
) -> CameraFiles:
    """The 2D prediction files of a session folder, matched to calibration cameras.

    Looks at files with a ``prefer`` suffix in ``folder`` and in its direct subfolders (one
    folder per camera, as sleap-anipose lays out a session), then ``match_camera_files``;
    the session folder's own name never counts as a camera folder.

    Args:
        folder: the session folder.
        cameras: the calibration's camera names, in its order.
        prefer: prediction suffixes, most preferred first.

    Raises:
        InputError: if the folder does not exist or holds no prediction file, or as
            ``match_camera_files``.
    """
    root = Path(folder)
    if not root.is_dir():
        raise InputError(
            f"2D prediction folder {root} not found.",
            fix="pass a folder of one 2D file per camera, or of one folder per camera.",
        )
    candidates = sorted(
        p
        for p in (*root.iterdir(), *(q for d in root.iterdir() if d.is_dir() for q in d.iterdir()))
        if p.is_file() and _suffix_rank(p, prefer) < len(prefer)
    )
    if not candidates:
        raise InputError(
            f"{root} holds no 2D prediction file ({', '.join(prefer)}) in it or its subfolders.",
            fix="export the 2D predictions (DeepLabCut .h5/.csv, SLEAP .slp/.analysis.h5).",
        )
    # matched on paths relative to the session folder: its own name is not a camera folder
    found = match_camera_files([p.relative_to(root) for p in candidates], cameras, prefer=prefer)
    return CameraFiles(
        files={c: root / p for c, p in found.files.items()},
        cameras_without_file=found.cameras_without_file,
        unmatched_files=tuple(root / p for p in found.unmatched_files),
        ignored=tuple(root / p for p in found.ignored),
    )


@dataclass(frozen=True, eq=False)
class RigPoints:
    """The 2D points of every camera that has a file, stacked for triangulation.

    Attributes:
        cameras: the calibration cameras that have a 2D file, in calibration order.
        points: ``(frames, views, keypoints, 2)`` pixels, NaN = missing; views as
            ``cameras``, keypoints in the skeleton's order.
        confidence: ``(frames, views, keypoints)`` 2D scores, NaN where a file has none.
        keypoints: the keypoint names (the skeleton's).
        warnings: one line per thing left out (cameras without a file, unused files,
            skeleton keypoints absent from a file, individuals beyond the first).
    """

    cameras: list[Camera]
    points: NDArray[np.float64]
    confidence: NDArray[np.float64]
    keypoints: tuple[str, ...]
    warnings: list[str]


def read_camera_points(
    matched: CameraFiles,
    cameras: Sequence[Camera],
    keypoints: Sequence[str],
    *,
    read: Callable[[Path], PoseData] | None = None,
) -> RigPoints:
    """Read each camera's 2D file and stack the points in calibration and skeleton order.

    Args:
        matched: ``match_camera_files`` / ``find_camera_files`` output.
        cameras: the calibration's cameras.
        keypoints: the skeleton's keypoint names; a keypoint a file lacks is NaN there.
        read: reads one file (default ``ethoagent.io.keypoints.read_keypoints``).

    Returns:
        The stacked points; the first individual of multi-animal files.

    Raises:
        InputError: if fewer than two cameras have a file, if the files' frame counts
            differ (files and counts named), or if a file's keypoints match none of the
            skeleton's (both lists named).
    """
    if read is None:
        from ethoagent.io.keypoints import read_keypoints

        read = read_keypoints
    used = [c for c in cameras if c.name in matched.files]
    if len(used) < 2:
        raise InputError(
            f"only {[c.name for c in used]} of the calibration cameras "
            f"{[c.name for c in cameras]} have a 2D file; triangulation needs two.",
            fix="give a 2D prediction file for at least two calibration cameras.",
        )
    kps = tuple(keypoints)
    warnings = matched.warnings()
    data = {c.name: read(matched.files[c.name]) for c in used}
    counts = {str(matched.files[n]): d.points.shape[0] for n, d in data.items()}
    if len(set(counts.values())) > 1:
        raise InputError(
            f"the 2D files have different frame counts: {counts}.",
            fix="pass predictions of the same synchronised frames for every camera.",
        )
    frames = next(iter(counts.values()))
    points = np.full((frames, len(used), len(kps), 2), np.nan)
    conf = np.full((frames, len(used), len(kps)), np.nan)
    for v, cam in enumerate(used):
        d, path = data[cam.name], matched.files[cam.name]
        common = [k for k in kps if k in d.keypoints]
        if not common:
            raise InputError(
                f"{path} names keypoints {list(d.keypoints)}, none of the skeleton's {list(kps)}.",
                fix="pass the skeleton of the model that made these predictions (--skeleton).",
            )
        missing = [k for k in kps if k not in d.keypoints]
        if missing:
            warnings.append(f"{path} lacks keypoints {missing}; they are missing in that view.")
        if d.points.shape[1] > 1:
            warnings.append(
                f"{path} holds individuals {list(d.individuals)}; only {d.individuals[0]!r} "
                "is triangulated."
            )
        src = [d.keypoints.index(k) for k in common]
        dst = [kps.index(k) for k in common]
        points[:, v, dst] = d.points[:, 0, src, :2]
        conf[:, v, dst] = d.confidence[:, 0, src]
    return RigPoints(used, points, conf, kps, warnings)
