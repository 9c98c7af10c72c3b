"""Seed labels for the pose graph, from whichever file a lab already has.

Three sources, one result (``SeedLabels``: the seed frames and their labels
``(seeds, views, keypoints, 2)`` pixels, NaN = not labelled):

- a seeds CSV ``frame,view,keypoint,x,y`` (``tools.labelling.read_seed_labels``);
- a folder of labelled 2D files, one per camera (SLEAP ``.slp`` / ``.analysis.h5``,
  DeepLabCut ``.h5`` / ``.csv``), the camera found by name inside the file name or as the
  folder of the file (``io.rig.find_camera_files``), as sleap-anipose lays out a session;
- a DeepLabCut ``labeled-data`` folder: one subfolder per video (its name holds the camera
  name) with a ``CollectedData_<scorer>.csv``; the frame of each label is the number in its
  image name (``img0042.png`` is frame 42).

Which frames are seeds: ``frames`` when given (``--seed-frames``); otherwise every labelled
frame of a DeepLabCut folder or CSV, and of a folder of per-camera files (where every
frame may carry a label, e.g. proofread predictions) ``DEFAULT_SEEDS`` frames spread from
the first to the last frame labelled in at least two views.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from ethoagent.errors import InputError
from ethoagent.io.keypoints import read_keypoints
from ethoagent.io.rig import camera_of, find_camera_files
from ethoagent.model.pose import PoseData
from ethoagent.tools.labelling import read_seed_labels

__all__ = ["DEFAULT_SEEDS", "SEED_SUFFIXES", "SeedLabels", "read_seeds"]

DEFAULT_SEEDS = 3
"""Seed frames taken from a folder of per-camera files when ``frames`` is not given."""

SEED_SUFFIXES: tuple[str, ...] = (".slp", ".analysis.h5", ".h5", ".csv", ".nc")
"""Labelled-file suffixes of a seed folder, most preferred first: a SLEAP ``.slp`` (the
labeller's file) before its ``.analysis.h5`` export."""


@dataclass(frozen=True, eq=False)
class SeedLabels:
    """Labelled seed frames of every camera.

    Attributes:
        frames: the seed frames, ascending, as video frame indices.
        points_2d: ``(seeds, views, keypoints, 2)`` float64 pixels, NaN = not labelled;
            views in calibration order, keypoints in the skeleton's order.
        source: one line saying where the seeds came from and which frames were taken.
    """

    frames: list[int]
    points_2d: NDArray[np.float64]
    source: str


def read_seeds(
    path: str | os.PathLike[str],
    cameras: Sequence[str],
    keypoints: Sequence[str],
    *,
    frames: Sequence[int] | None = None,
) -> SeedLabels:
    """Read seed labels from a CSV, a folder of per-camera files or DLC ``labeled-data``.

    Args:
        path: the seeds CSV or folder.
        cameras: the calibration's camera names, in the order of the views axis.
        keypoints: the skeleton's keypoint names, in the order of the keypoints axis.
        frames: the video frames to take as seeds (``--seed-frames``); ``None``: see the
            module docstring.

    Returns:
        The seed frames and labels.

    Raises:
        InputError: a missing path; keypoint names matching none of the skeleton's (both
            lists named); a camera name in no file name; a requested frame without labels.
    """
    p = Path(path)
    if p.is_file():
        if p.suffix.lower() != ".csv":
            raise InputError(
                f"seed file {p} is a single {p.suffix} file; the seeds need labels from "
                "every camera.",
                fix="pass the seeds CSV (frame,view,keypoint,x,y), the session folder holding "
                "one labelled file per camera, or a DeepLabCut labeled-data folder.",
            )
        found, pts = read_seed_labels(p, cameras, keypoints)
        return _select(found, pts, frames, p, every=True)
    if not p.is_dir():
        raise InputError(
            f"seed labels {p} not found.",
            fix="pass the seeds CSV, the session folder of per-camera labelled files, or a "
            "DeepLabCut labeled-data folder.",
        )
    if _collected_data(p):
        found, pts = _read_dlc_labeled_data(p, cameras, keypoints)
        return _select(found, pts, frames, p, every=True)
    pts = _read_camera_folder(p, cameras, keypoints)
    return _select(list(range(pts.shape[0])), pts, frames, p, every=False)


def _collected_data(folder: Path) -> list[Path]:
    return sorted(folder.glob("*/CollectedData_*.csv"))


def _frame_of(name: str, source: Path) -> int:
    digits = re.findall(r"\d+", Path(name).stem)
    if not digits:
        raise InputError(
            f"{source}: labelled image {name!r} has no frame number in its name.",
            fix="keep DeepLabCut's image names (img<frame>.png) in labeled-data.",
        )
    return int(digits[-1])


def _read_dlc_labeled_data(
    folder: Path, cameras: Sequence[str], keypoints: Sequence[str]
) -> tuple[list[int], NDArray[np.float64]]:
    """Labels of a DeepLabCut ``labeled-data`` folder: ``(frames, views, keypoints, 2)``."""
    per_camera: dict[str, tuple[Path, PoseData]] = {}
    for csv_path in _collected_data(folder):
        cam = camera_of(Path(csv_path.parent.name), cameras)
        if cam is None:
            continue
        if cam in per_camera:
            raise InputError(
                f"camera {cam!r} has two labelled folders: {per_camera[cam][0].parent} and "
                f"{csv_path.parent}.",
                fix="keep one labeled-data folder per camera.",
            )
        per_camera[cam] = (csv_path, read_keypoints(csv_path))
    if not per_camera:
        raise InputError(
            f"no folder of {folder} names a calibration camera: folders "
            f"{[c.parent.name for c in _collected_data(folder)]}, cameras {list(cameras)}.",
            fix="name each labeled-data folder after its video, which holds the camera name.",
        )
    labelled: dict[str, dict[int, NDArray[np.float64]]] = {}
    for cam, (csv_path, data) in per_camera.items():
        names = data.frame_names or ()
        cols = _columns(data, keypoints, csv_path)
        labelled[cam] = {
            _frame_of(n, csv_path): _reorder(data.points[i, 0], cols, len(keypoints))
            for i, n in enumerate(names)
        }
    found = sorted({f for by in labelled.values() for f in by})
    out = np.full((len(found), len(cameras), len(keypoints), 2), np.nan)
    for v, cam in enumerate(cameras):
        for i, f in enumerate(found):
            if f in labelled.get(cam, {}):
                out[i, v] = labelled[cam][f]
    return found, out


def _columns(data: PoseData, keypoints: Sequence[str], source: Path) -> list[int]:
    """Index into ``data.keypoints`` of each skeleton keypoint (-1 where the file lacks it)."""
    cols = [data.keypoints.index(k) if k in data.keypoints else -1 for k in keypoints]
    if all(c < 0 for c in cols):
        raise InputError(
            f"{source} names keypoints {list(data.keypoints)}, none of the skeleton's "
            f"{list(keypoints)}.",
            fix="pass the skeleton the labels were made with (--skeleton).",
        )
    return cols


def _reorder(points: NDArray[np.float64], cols: list[int], n: int) -> NDArray[np.float64]:
    out = np.full((n, 2), np.nan)
    for k, c in enumerate(cols):
        if c >= 0:
            out[k] = points[c, :2]
    return out


def _read_camera_folder(
    folder: Path, cameras: Sequence[str], keypoints: Sequence[str]
) -> NDArray[np.float64]:
    """Labels of one file per camera: ``(frames, views, keypoints, 2)``, every camera."""
    matched = find_camera_files(folder, cameras, prefer=SEED_SUFFIXES)
    out: NDArray[np.float64] | None = None
    for v, cam in enumerate(cameras):
        path = matched.files.get(cam)
        if path is None:
            continue
        data = read_keypoints(path)
        cols = _columns(data, keypoints, path)
        pts = np.full((data.points.shape[0], len(keypoints), 2), np.nan)
        for k, c in enumerate(cols):
            if c >= 0:
                pts[:, k] = data.points[:, 0, c, :2]
        if out is None:
            out = np.full((pts.shape[0], len(cameras), len(keypoints), 2), np.nan)
        n = min(out.shape[0], pts.shape[0])
        out = out[:n]
        out[:, v] = pts[:n]
    assert out is not None  # find_camera_files matched at least one camera
    return out


def _select(
    found: list[int],
    points: NDArray[np.float64],
    frames: Sequence[int] | None,
    source: Path,
    *,
    every: bool,
) -> SeedLabels:
    """The requested seed frames of ``points`` (indexed by ``found``), with a source line."""
    two_views = (np.isfinite(points[..., 0]).any(axis=2)).sum(axis=1) >= 2
    usable = [f for f, ok in zip(found, two_views, strict=True) if ok]
    if frames is not None:
        wanted = sorted(set(frames))
        missing = [f for f in wanted if f not in usable]
        if missing:
            shown = usable if len(usable) <= 12 else [*usable[:6], "...", *usable[-6:]]
            raise InputError(
                f"seed frames {missing} are not labelled in two or more views of {source} "
                f"(labelled frames: {shown}).",
                fix="pass --seed-frames from the labelled frames.",
            )
        how = "requested"
    elif every:
        wanted, how = usable, "every labelled frame"
    else:
        idx = np.linspace(0, len(usable) - 1, min(DEFAULT_SEEDS, len(usable))).round()
        wanted = sorted({usable[int(i)] for i in idx})
        how = f"{len(wanted)} spread over the {len(usable)} labelled frames (--seed-frames)"
    if not wanted:
        raise InputError(
            f"{source} has no frame labelled in two or more views.",
            fix="label at least 3 frames (frame 0 included) in two or more views.",
        )
    index = {f: i for i, f in enumerate(found)}
    pts = points[[index[f] for f in wanted]]
    return SeedLabels(frames=wanted, points_2d=pts, source=f"seeds {wanted} from {source} ({how})")
