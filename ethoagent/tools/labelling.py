"""Model-free helpers of multi-view keypoint labelling: prediction, regions, harmonisation.

- ``predict_points``: where each keypoint should be in the next frame, from the last
  accepted 3D frames (constant velocity, bounded extrapolation).
- ``region_boxes``: a box per body region around (predicted) 2D keypoints in one view.
- ``harmonise_assignment``: make one view's keypoint -> candidate assignment one-to-one.
- ``draw_keypoints``: an image with labelled keypoints drawn, for few-shot examples.
- ``read_seed_labels`` / ``write_seed_labels``: the labelled seed frames, a long CSV
  ``frame,view,keypoint,x,y`` (pixels; a keypoint hidden in a view is simply absent).

Shapes: 3D points ``(keypoints, 3)`` mm; 2D ``(keypoints, 2)`` pixels; NaN = missing.
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import cv2
import numpy as np
from numpy.typing import ArrayLike, NDArray

from ethoagent.atomic import atomic_write_text
from ethoagent.errors import InputError

__all__ = [
    "Box",
    "draw_keypoints",
    "harmonise_assignment",
    "predict_points",
    "read_seed_labels",
    "region_boxes",
    "write_seed_labels",
]

Box = tuple[float, float, float, float]
"""``(x0, y0, x1, y1)`` pixels in the full frame, ``x0 < x1``, ``y0 < y1``."""

# region colours (BGR) for drawings, cycled
_COLOURS = ((60, 200, 255), (255, 160, 60), (90, 255, 90), (200, 110, 255), (255, 255, 80))


def predict_points(
    frames: Sequence[int],
    points_3d: Sequence[ArrayLike],
    frame: int,
    *,
    max_extrapolation: int = 5,
) -> NDArray[np.float64]:
    """Predict every keypoint's 3D position at ``frame`` from earlier accepted frames.

    Constant velocity from the last two frames where the keypoint is known; with one such
    frame, its position. The velocity is extrapolated over at most ``max_extrapolation``
    frames (a long gap predicts the last position moved by that many frames of velocity).

    Args:
        frames: frame indices of the accepted frames, ascending, all ``< frame``.
        points_3d: per accepted frame ``(keypoints, 3)`` mm, NaN = missing.
        frame: the frame to predict.
        max_extrapolation: frames of velocity applied at most.

    Returns:
        ``(keypoints, 3)`` float64 mm; NaN for keypoints never seen.
    """
    if len(frames) != len(points_3d) or not frames:
        raise InputError(
            f"predict_points needs one (keypoints, 3) array per frame; got {len(frames)} "
            f"frames and {len(points_3d)} arrays.",
            fix="pass the accepted frames and their 3D points in the same order.",
        )
    if list(frames) != sorted(frames) or frames[-1] >= frame:
        raise InputError(
            f"accepted frames {list(frames)} must be ascending and before frame {frame}.",
            fix="predict only forward in time.",
        )
    pts = np.stack([np.asarray(p, dtype=np.float64) for p in points_3d])  # (n, K, 3)
    known = np.all(np.isfinite(pts), axis=-1)  # (n, K)
    out = np.full(pts.shape[1:], np.nan)
    t = np.asarray(frames, dtype=np.float64)
    for k in range(pts.shape[1]):
        idx = np.flatnonzero(known[:, k])
        if idx.size == 0:
            continue
        last = idx[-1]
        out[k] = pts[last, k]
        if idx.size >= 2:
            prev = idx[-2]
            velocity = (pts[last, k] - pts[prev, k]) / (t[last] - t[prev])
            out[k] += velocity * min(frame - t[last], max_extrapolation)
    return out


def region_boxes(
    points_2d: ArrayLike,
    regions: Mapping[str, Sequence[int]],
    *,
    margin_px: float,
    image_size: tuple[int, int],
    min_size_px: float = 4.0,
) -> dict[str, Box | None]:
    """A box per region around its keypoints in one view, clipped to the image.

    Args:
        points_2d: ``(keypoints, 2)`` pixels, NaN = unknown.
        regions: region name -> keypoint indices.
        margin_px: added on every side, pixels.
        image_size: ``(width, height)`` pixels.
        min_size_px: boxes are at least this wide and tall (before the margin).

    Returns:
        Region -> box, or ``None`` where no keypoint of the region is known or the box lies
        outside the image.
    """
    pts = np.asarray(points_2d, dtype=np.float64)
    if pts.ndim != 2 or pts.shape[1] != 2:
        raise InputError(
            f"points_2d must be (keypoints, 2) pixels; found shape {pts.shape}.",
            fix="pass one view's 2D points.",
        )
    width, height = image_size
    out: dict[str, Box | None] = {}
    for name, idx in regions.items():
        p = pts[list(idx)]
        p = p[np.all(np.isfinite(p), axis=1)]
        if not len(p):
            out[name] = None
            continue
        lo, hi = p.min(axis=0), p.max(axis=0)
        grow = np.maximum(0.0, min_size_px - (hi - lo)) / 2
        x0, y0 = np.maximum(lo - grow - margin_px, 0.0)
        x1 = min(float(hi[0] + grow[0] + margin_px), width - 1.0)
        y1 = min(float(hi[1] + grow[1] + margin_px), height - 1.0)
        out[name] = (float(x0), float(y0), x1, y1) if x1 > x0 and y1 > y0 else None
    return out


def harmonise_assignment(
    assignment: ArrayLike, distance: ArrayLike
) -> tuple[NDArray[np.int64], list[str]]:
    """Make one view's assignment one-to-one: a candidate claimed twice goes to the nearer.

    Args:
        assignment: ``(keypoints,)`` int, candidate index per keypoint, -1 = none.
        distance: ``(keypoints,)`` float, pixels from each keypoint's prediction to its
            candidate (NaN = unknown, treated as farthest).

    Returns:
        The harmonised assignment and one message per keypoint that lost its candidate.
    """
    a = np.asarray(assignment, dtype=np.int64).copy()
    d = np.asarray(distance, dtype=np.float64)
    if a.shape != d.shape or a.ndim != 1:
        raise InputError(
            f"assignment {a.shape} and distance {d.shape} must both be (keypoints,).",
            fix="pass one value per keypoint.",
        )
    notes: list[str] = []
    for cand in np.unique(a[a >= 0]):
        claim = np.flatnonzero(a == cand)
        if claim.size < 2:
            continue
        order = claim[np.argsort(np.where(np.isfinite(d[claim]), d[claim], np.inf))]
        for k in order[1:]:
            a[k] = -1
            notes.append(f"keypoint {k} dropped candidate {cand} (also claimed by {order[0]})")
    return a, notes


def draw_keypoints(
    image: ArrayLike,
    points_2d: ArrayLike,
    names: Sequence[str],
    *,
    groups: Sequence[int] | None = None,
) -> NDArray[np.uint8]:
    """A copy of ``image`` with each known keypoint drawn as a dot and its name.

    Args:
        image: ``(height, width, 3)`` uint8 BGR (or grey ``(height, width)``).
        points_2d: ``(keypoints, 2)`` pixels, NaN = not drawn.
        names: keypoint names.
        groups: per keypoint a colour group (e.g. its region index).

    Returns:
        ``(height, width, 3)`` uint8 BGR.
    """
    img = np.asarray(image)
    if img.dtype != np.uint8 or img.ndim not in (2, 3):
        raise InputError(
            f"image must be uint8 (height, width[, 3]); found {img.dtype} {img.shape}.",
            fix="pass a decoded video frame.",
        )
    out: NDArray[np.uint8] = (
        cv2.cvtColor(img, cv2.COLOR_GRAY2BGR) if img.ndim == 2 else img.copy()
    ).astype(np.uint8, copy=False)
    pts = np.asarray(points_2d, dtype=np.float64)
    if pts.shape != (len(names), 2):
        raise InputError(
            f"points_2d has shape {pts.shape}; expected ({len(names)}, 2) for {len(names)} names.",
            fix="pass one (x, y) per keypoint name.",
        )
    scale = max(out.shape[:2]) / 640
    for k, (name, (x, y)) in enumerate(zip(names, pts, strict=True)):
        if not (np.isfinite(x) and np.isfinite(y)):
            continue
        colour = _COLOURS[(groups[k] if groups is not None else k) % len(_COLOURS)]
        centre = (round(x), round(y))
        cv2.circle(out, centre, max(2, round(3 * scale)), colour, -1, cv2.LINE_AA)
        cv2.putText(
            out,
            name,
            (centre[0] + 4, centre[1] - 3),
            cv2.FONT_HERSHEY_SIMPLEX,
            0.3 * max(scale, 0.6),
            colour,
            1,
            cv2.LINE_AA,
        )
    return out


_SEED_COLUMNS = ["frame", "view", "keypoint", "x", "y"]


def read_seed_labels(
    path: str | os.PathLike[str], views: Sequence[str], keypoints: Sequence[str]
) -> tuple[list[int], NDArray[np.float64]]:
    """Read labelled seed frames from a ``frame,view,keypoint,x,y`` CSV.

    Args:
        path: the CSV file.
        views: camera names, in the order of the views axis.
        keypoints: keypoint names, in the order of the keypoints axis.

    Returns:
        The seed frames (ascending) and their labels ``(seeds, views, keypoints, 2)``
        float64 pixels, NaN where a keypoint is not labelled in a view.

    Raises:
        InputError: missing file, wrong columns, unknown view or keypoint, bad numbers.
    """
    p = Path(path)
    if not p.is_file():
        raise InputError(
            f"seed label file {p} does not exist.",
            fix="label 3 frames in every view and save them as frame,view,keypoint,x,y CSV.",
        )
    with p.open(newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
        fh.seek(0)
        header = next(csv.reader(fh), [])
    if [h.strip() for h in header] != _SEED_COLUMNS:
        raise InputError(
            f"seed label file {p} has columns {header}; expected {_SEED_COLUMNS}.",
            fix="write one row per labelled keypoint: frame,view,keypoint,x,y (pixels).",
        )
    view_idx = {v: i for i, v in enumerate(views)}
    kp_idx = {k: i for i, k in enumerate(keypoints)}
    parsed: list[tuple[int, int, int, float, float]] = []
    for line, row in enumerate(rows, start=2):
        try:
            frame, x, y = int(row["frame"]), float(row["x"]), float(row["y"])
        except (TypeError, ValueError) as exc:
            raise InputError(
                f"{p} line {line}: frame, x and y must be numbers; found {row}.",
                fix="fix or delete that row.",
            ) from exc
        if row["view"] not in view_idx or row["keypoint"] not in kp_idx:
            raise InputError(
                f"{p} line {line}: unknown view {row['view']!r} or keypoint "
                f"{row['keypoint']!r}; views are {list(views)}, keypoints {list(keypoints)}.",
                fix="use the camera names of calibration.toml and the pipeline's keypoints.",
            )
        if frame < 0 or not (np.isfinite(x) and np.isfinite(y)):
            raise InputError(f"{p} line {line}: frame must be >= 0 and x, y finite; {row}.")
        parsed.append((frame, view_idx[row["view"]], kp_idx[row["keypoint"]], x, y))
    if not parsed:
        raise InputError(f"seed label file {p} has no rows.", fix="label at least one frame.")
    frames = sorted({r[0] for r in parsed})
    f_idx = {f: i for i, f in enumerate(frames)}
    out = np.full((len(frames), len(views), len(keypoints), 2), np.nan)
    for frame, v, k, x, y in parsed:
        out[f_idx[frame], v, k] = (x, y)
    return frames, out


def write_seed_labels(
    path: str | os.PathLike[str],
    frames: Sequence[int],
    points_2d: ArrayLike,
    views: Sequence[str],
    keypoints: Sequence[str],
) -> Path:
    """Write seed labels ``(seeds, views, keypoints, 2)`` pixels as ``frame,view,keypoint,x,y``.

    NaN points are left out. The file is written atomically.
    """
    pts = np.asarray(points_2d, dtype=np.float64)
    if pts.shape != (len(frames), len(views), len(keypoints), 2):
        raise InputError(
            f"seed labels have shape {pts.shape}; expected "
            f"{(len(frames), len(views), len(keypoints), 2)}.",
            fix="pass (seeds, views, keypoints, 2) pixels.",
        )
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(_SEED_COLUMNS)
    for i, frame in enumerate(frames):
        for v, view in enumerate(views):
            for k, name in enumerate(keypoints):
                x, y = pts[i, v, k]
                if np.isfinite(x) and np.isfinite(y):
                    w.writerow([frame, view, name, f"{x:.4f}", f"{y:.4f}"])
    return atomic_write_text(Path(path), buf.getvalue())
