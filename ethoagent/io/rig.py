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
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from ethoagent.errors import InputError

__all__ = [
    "PREDICTION_SUFFIXES",
    "CameraFiles",
    "camera_of",
    "find_camera_files",
    "match_camera_files",
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
    folder per camera, as sleap-anipose lays out a session), then ``match_camera_files``.

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
    return match_camera_files(candidates, cameras, prefer=prefer)
