"""Contact sheets: the sampled frames of a snippet as one image for a vision-language model.

- ``tile_images``: equal-size tiles in a grid, each captioned (e.g. with its frame number);
- ``video_tiles``: video frames, cropped around the focal animal when its 2D keypoints
  are known (one crop box over the whole snippet, so its movement stays visible), with
  its keypoints marked;
- ``skeleton_edges``: a stick figure for any keypoint set (the minimum spanning tree of
  the keypoints' median distances), for drawings without video;
- ``skeleton_tiles``: keypoints drawn from above (3D, z up) or in image coordinates (2D),
  the focal animal in colour, others grey, its body-centre path over the snippet as a
  line.

Images are ``(height, width, 3)`` uint8; the tile functions return BGR (OpenCV's order),
``tile_images`` returns RGB (what ``agent.types.Image.from_array`` takes).
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.sparse.csgraph import minimum_spanning_tree

from ethoagent.errors import InputError
from ethoagent.tools.crop import box_around, crop_region

__all__ = ["skeleton_edges", "skeleton_tiles", "tile_images", "video_tiles"]

_FOCAL = (40, 170, 255)  # BGR orange
_PATH = (90, 200, 90)
_OTHER = (150, 150, 150)
_BACKGROUND = (24, 24, 24)


def tile_images(
    tiles: Sequence[NDArray[np.uint8]], captions: Sequence[str], columns: int = 4
) -> NDArray[np.uint8]:
    """Arrange equal-size BGR tiles in a grid, each with its caption in the corner.

    Args:
        tiles: ``(height, width, 3)`` uint8 BGR, all the same size.
        captions: one short text per tile.
        columns: tiles per row.

    Returns:
        ``(rows * height, columns * width, 3)`` uint8 **RGB** (empty cells black).
    """
    if not tiles or len(tiles) != len(captions):
        raise InputError(
            f"need one caption per tile and at least one tile; found {len(tiles)} tiles and "
            f"{len(captions)} captions.",
            fix="pass the sampled frames with their frame numbers.",
        )
    h, w = tiles[0].shape[:2]
    if any(t.shape != (h, w, 3) for t in tiles):
        raise InputError(
            f"tiles must all be ({h}, {w}, 3) uint8; found {[t.shape for t in tiles][:4]}."
        )
    cols = max(1, min(columns, len(tiles)))
    rows = -(-len(tiles) // cols)
    sheet = np.zeros((rows * h, cols * w, 3), dtype=np.uint8)
    for i, (tile, text) in enumerate(zip(tiles, captions, strict=True)):
        r, c = divmod(i, cols)
        cell = tile.copy()
        cv2.rectangle(cell, (0, 0), (w - 1, h - 1), (80, 80, 80), 1)
        cv2.putText(cell, text, (4, 14), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (0, 0, 0), 3, cv2.LINE_AA)
        cv2.putText(
            cell, text, (4, 14), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (255, 255, 255), 1, cv2.LINE_AA
        )
        sheet[r * h : (r + 1) * h, c * w : (c + 1) * w] = cell
    return np.ascontiguousarray(sheet[..., ::-1])


def video_tiles(
    frames: Sequence[NDArray[np.uint8]],
    focal_2d: ArrayLike | None = None,
    *,
    tile_size: tuple[int, int] = (192, 144),
    margin: float = 0.6,
) -> list[NDArray[np.uint8]]:
    """Video frames as tiles, cropped around the focal animal when its 2D keypoints are known.

    Args:
        frames: ``(height, width, 3)`` uint8 BGR video frames.
        focal_2d: ``(len(frames), keypoints, 2)`` pixels of the focal animal in those
            frames (NaN = missing), or ``None`` for whole frames.
        tile_size: ``(width, height)`` of each tile, pixels.
        margin: crop margin around the animal's keypoints over all frames, as a fraction
            of their extent (at least 16 pixels).

    Returns:
        One BGR tile per frame; the focal animal's keypoints drawn as small dots.
    """
    if not frames:
        return []
    h, w = frames[0].shape[:2]
    box = (0, 0, w, h)
    pts = None
    if focal_2d is not None:
        pts = np.asarray(focal_2d, dtype=np.float64).reshape(len(frames), -1, 2)
        flat = pts.reshape(-1, 2)
        ok = np.isfinite(flat).all(axis=1)
        if ok.any():
            extent = float(np.max(flat[ok].max(axis=0) - flat[ok].min(axis=0)))
            try:
                box = box_around(flat[ok], max(16.0, margin * extent), (w, h))
            except InputError:  # keypoints outside this video: show the whole frame
                box, pts = (0, 0, w, h), None
    out = []
    for i, frame in enumerate(frames):
        crop = crop_region(frame, box, out_size=tile_size, fill=0.0)
        tile = np.ascontiguousarray(np.asarray(crop.image, dtype=np.uint8))
        if pts is not None:
            for x, y in crop.to_crop(pts[i]):
                if np.isfinite(x) and np.isfinite(y):
                    cv2.circle(tile, (round(x), round(y)), 2, _FOCAL, -1, cv2.LINE_AA)
        out.append(tile)
    return out


def skeleton_edges(points: ArrayLike) -> list[tuple[int, int]]:
    """A stick figure for a keypoint set: the minimum spanning tree of median distances.

    Args:
        points: ``(frames, individuals, keypoints, D)`` float64, NaN = missing.

    Returns:
        ``keypoints - 1`` edges ``(i, j)``, ``i < j``, fewer where keypoints are never seen.
    """
    p = np.asarray(points, dtype=np.float64)
    if p.ndim != 4:
        raise InputError(
            f"points must be (frames, individuals, keypoints, D); found shape {p.shape}."
        )
    k = p.shape[2]
    step = max(1, p.shape[0] // 500)
    sub = p[::step].reshape(-1, k, p.shape[3])
    with np.errstate(all="ignore"):
        d = np.linalg.norm(sub[:, :, None] - sub[:, None, :], axis=-1)
        med = np.nanmedian(np.where(np.isfinite(d), d, np.nan), axis=0)
    med = np.where(np.isfinite(med), med + 1e-9, 0.0)
    np.fill_diagonal(med, 0.0)
    tree = minimum_spanning_tree(med).tocoo()
    return sorted((int(min(a, b)), int(max(a, b))) for a, b in zip(tree.row, tree.col, strict=True))


def skeleton_tiles(
    points: ArrayLike,
    focal: int,
    edges: Sequence[tuple[int, int]],
    *,
    path: ArrayLike | None = None,
    head: Sequence[int] = (),
    flip_y: bool = True,
    tile_size: tuple[int, int] = (192, 144),
) -> list[NDArray[np.uint8]]:
    """Drawings of the keypoints of every animal in some frames, one tile per frame.

    The view (x–y plane) is fixed over the tiles: it holds every animal's keypoints in
    every given frame, so movement shows as displacement between tiles.

    Args:
        points: ``(n, individuals, keypoints, D)`` float64 of the frames to draw, NaN =
            missing; D = 2 (pixels) or 3 (z up; drawn from above).
        focal: index of the animal drawn in colour.
        edges: keypoint pairs to join (``skeleton_edges``).
        path: ``(m, 2)`` x–y of the focal animal's body centre over the snippet, drawn
            as a line; ``None`` = no line.
        head: keypoints of the head, circled so the heading shows.
        flip_y: draw +y upwards (for 3D seen from above); ``False`` keeps image rows.
        tile_size: ``(width, height)`` of each tile, pixels.

    Returns:
        One BGR tile per frame.
    """
    p = np.asarray(points, dtype=np.float64)[..., :2]
    if p.ndim != 4 or not 0 <= focal < p.shape[1]:
        raise InputError(
            f"points must be (frames, individuals, keypoints, D) with focal < individuals; "
            f"found shape {np.shape(points)} and focal {focal}."
        )
    w, h = tile_size
    xy = p.reshape(-1, 2)
    trail = np.asarray(path, dtype=np.float64).reshape(-1, 2) if path is not None else None
    every = np.concatenate([xy, trail]) if trail is not None else xy
    ok = np.isfinite(every).all(axis=1)
    lo = every[ok].min(axis=0) if ok.any() else np.zeros(2)
    hi = every[ok].max(axis=0) if ok.any() else np.ones(2)
    pad = 0.1 * max(float(np.max(hi - lo)), 1e-6)
    lo, hi = lo - pad, hi + pad
    scale = min((w - 8) / max(hi[0] - lo[0], 1e-9), (h - 8) / max(hi[1] - lo[1], 1e-9))
    centre = (lo + hi) / 2

    def px(q: NDArray[np.float64]) -> NDArray[np.float64]:
        out: NDArray[np.float64] = (q - centre) * scale
        if flip_y:
            out[..., 1] = -out[..., 1]
        out += np.array([w / 2, h / 2])
        return out

    tiles = []
    for f in range(p.shape[0]):
        tile = np.full((h, w, 3), _BACKGROUND, dtype=np.uint8)
        if trail is not None:
            line = px(trail)
            good = np.isfinite(line).all(axis=1)
            pts_line = np.round(line[good]).astype(np.int32)
            if len(pts_line) >= 2:
                cv2.polylines(tile, [pts_line], False, _PATH, 1, cv2.LINE_AA)
        order = [a for a in range(p.shape[1]) if a != focal] + [focal]
        for a in order:
            colour = _FOCAL if a == focal else _OTHER
            q = px(p[f, a])
            for i, j in edges:
                if np.isfinite(q[[i, j]]).all():
                    a_pt = (round(q[i, 0]), round(q[i, 1]))
                    b_pt = (round(q[j, 0]), round(q[j, 1]))
                    cv2.line(tile, a_pt, b_pt, colour, 2 if a == focal else 1, cv2.LINE_AA)
            for x, y in q:
                if np.isfinite(x) and np.isfinite(y):
                    cv2.circle(tile, (round(x), round(y)), 2, colour, -1, cv2.LINE_AA)
            for x, y in q[list(head)]:
                if np.isfinite(x) and np.isfinite(y):
                    cv2.circle(tile, (round(x), round(y)), 4, (255, 255, 255), 1, cv2.LINE_AA)
        tiles.append(tile)
    return tiles
