"""What a skeleton file does not say, inferred from seed frames: regions and bones.

Both work on the median distance between keypoints over labelled seed frames (2D pixels or
3D millimetres; frames where either keypoint is missing are skipped):

- ``infer_regions``: groups of 2 to ``MAX_REGION_KEYPOINTS`` keypoints that lie close
  together (average-linkage agglomeration; a keypoint is left alone only when every group
  near it is full or it was never seen with another keypoint);
- ``infer_bones``: the minimum spanning tree of those distances (every keypoint joined to
  the body through its nearest neighbours, ``n - 1`` bones).

Pure: arrays in, keypoint names out.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Sequence

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ethoagent.errors import InputError
from ethoagent.model.skeleton import MAX_REGION_KEYPOINTS

__all__ = ["infer_bones", "infer_regions", "seed_distances"]


def seed_distances(keypoints: Sequence[str], seed_points: ArrayLike) -> NDArray[np.float64]:
    """Median distance between every two keypoints over the seed frames.

    Args:
        keypoints: keypoint names, in the order of the keypoints axis.
        seed_points: ``(frames, keypoints, D)`` seed positions, D = 2 (px) or 3 (mm); NaN =
            missing.

    Returns:
        ``(keypoints, keypoints)`` symmetric distances, seed units; 0 on the diagonal,
        ``inf`` for pairs never seen in the same frame.
    """
    pts = np.asarray(seed_points, dtype=np.float64)
    if pts.ndim != 3 or pts.shape[1] != len(keypoints) or pts.shape[2] not in (2, 3):
        raise InputError(
            f"seed points must have shape (frames, {len(keypoints)} keypoints, 2 or 3); "
            f"found {pts.shape}.",
            fix="pass the seed frames' keypoints in the skeleton's keypoint order.",
        )
    diff = np.linalg.norm(pts[:, :, None] - pts[:, None, :], axis=-1)  # (F, K, K)
    seen = np.isfinite(diff)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # pairs never seen: All-NaN slice
        med = np.nanmedian(np.where(seen, diff, np.nan), axis=0) if pts.shape[0] else None
    out = np.full((len(keypoints), len(keypoints)), np.inf) if med is None else med
    out = np.where(seen.any(axis=0), out, np.inf)
    np.fill_diagonal(out, 0.0)
    result: NDArray[np.float64] = out
    return result


def _region_name(members: Sequence[str], taken: set[str]) -> str:
    words = [re.split(r"[^A-Za-z]+", m)[0].lower() for m in members]
    shared = words[0] and all(w == words[0] for w in words)
    name = words[0] if shared else members[0].lower()
    base, n = name, 2
    while name in taken:
        name, n = f"{base}_{n}", n + 1
    return name


def infer_regions(
    keypoints: Sequence[str],
    seed_points: ArrayLike,
    *,
    max_size: int = MAX_REGION_KEYPOINTS,
) -> dict[str, tuple[str, ...]]:
    """Regions of nearby keypoints, every keypoint in exactly one.

    Starting from one group per keypoint, the two closest groups (mean distance between
    their keypoints, over the pairs ever seen together) of which at least one is still a
    single keypoint are merged, as long as the merged group has at most ``max_size``
    keypoints. A keypoint never seen with another stays a region of its own.

    Args:
        keypoints: keypoint names, in the order of the keypoints axis.
        seed_points: ``(frames, keypoints, D)`` seed positions (see ``seed_distances``).
        max_size: most keypoints in one region (at most ``MAX_REGION_KEYPOINTS``).

    Returns:
        Region name -> keypoint names (in skeleton order), regions in the order of their
        first keypoint; a region is named after the word its keypoints share (``tail``
        for ``Tail_0``, ``Tail_1``) or else after its first keypoint (lower case).
    """
    if not 2 <= max_size <= MAX_REGION_KEYPOINTS:
        raise InputError(
            f"max_size must be 2 to {MAX_REGION_KEYPOINTS}; found {max_size}.",
            fix=f"pass max_size between 2 and {MAX_REGION_KEYPOINTS}.",
        )
    dist = seed_distances(keypoints, seed_points)
    groups: list[list[int]] = [[k] for k in range(len(keypoints))]
    while True:
        best: tuple[float, int, int] | None = None
        for i, a in enumerate(groups):
            for j in range(i + 1, len(groups)):
                b = groups[j]
                if (len(a) > 1 and len(b) > 1) or len(a) + len(b) > max_size:
                    continue
                between = dist[np.ix_(a, b)]
                finite = between[np.isfinite(between)]
                if not finite.size:
                    continue
                d = float(finite.mean())
                if best is None or d < best[0]:
                    best = (d, i, j)
        if best is None:
            break
        _, i, j = best
        groups[i] = sorted(groups[i] + groups[j])
        del groups[j]
    regions: dict[str, tuple[str, ...]] = {}
    for g in sorted(groups):
        members = tuple(keypoints[k] for k in g)
        regions[_region_name(members, set(regions))] = members
    return regions


def infer_bones(keypoints: Sequence[str], seed_points: ArrayLike) -> tuple[tuple[str, str], ...]:
    """Bones joining every keypoint to its nearest neighbours: the minimum spanning tree.

    Args:
        keypoints: keypoint names, in the order of the keypoints axis.
        seed_points: ``(frames, keypoints, D)`` seed positions (see ``seed_distances``).

    Returns:
        ``(a, b)`` keypoint name pairs, shortest first; fewer than ``n - 1`` where some
        keypoints were never seen with the others.
    """
    dist = seed_distances(keypoints, seed_points)
    n = len(keypoints)
    if n < 2:
        return ()
    inside = np.zeros(n, dtype=bool)
    inside[0] = True
    best = dist[0].copy()
    parent = np.zeros(n, dtype=int)
    edges: list[tuple[float, int, int]] = []
    for _ in range(n - 1):
        cand = np.where(inside, np.inf, best)
        k = int(np.argmin(cand))
        if not np.isfinite(cand[k]):
            # start a new tree at the first keypoint not yet joined
            k = int(np.flatnonzero(~inside)[0])
            inside[k] = True
        else:
            inside[k] = True
            edges.append((float(cand[k]), int(parent[k]), k))
        closer = dist[k] < best
        best = np.where(closer, dist[k], best)
        parent = np.where(closer, k, parent)
    return tuple((keypoints[a], keypoints[b]) for _, a, b in sorted(edges))
