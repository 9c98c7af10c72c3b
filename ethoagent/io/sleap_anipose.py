"""sleap-anipose's 3D output, ``points3d.h5``: a bare ``tracks`` dataset.

``sleap-anipose triangulate`` writes one HDF5 dataset, ``tracks``, shape ``(frames, tracks,
nodes, 3)`` float64 in the calibration's unit (millimetres for a board measured in mm),
NaN = not triangulated, and nothing else: no node names, no frame rate. The node names
come from the session's SLEAP files (the ``.slp`` beside the file or in its per-camera
folders, the layout sleap-anipose works in, all naming the same nodes) or from a skeleton
file the user names (``skeleton=``: ``.slp``, DeepLabCut ``config.yaml``, skeleton TOML;
``io.skeletons.read_skeleton``). ``io.keypoints.read_keypoints`` reads the format as
``"sleap_anipose"``.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ethoagent.errors import InputError
from ethoagent.io.skeletons import read_skeleton
from ethoagent.model.pose import PoseData

TRACKS = "tracks"
"""The one dataset of a ``points3d.h5``."""

__all__ = ["TRACKS", "is_points3d_h5", "read_points3d_h5"]


def is_points3d_h5(keys: set[str]) -> bool:
    """Whether an HDF5 file with top-level ``keys`` is a sleap-anipose ``points3d.h5``."""
    return TRACKS in keys and "node_names" not in keys


def _session_slp(p: Path) -> list[Path]:
    """The ``.slp`` files beside ``p`` and in its subfolders (one per camera)."""
    return sorted(p.parent.glob("*.slp")) + sorted(p.parent.glob("*/*.slp"))


def _node_names(p: Path, nodes: int, skeleton: str | os.PathLike[str] | None) -> tuple[str, ...]:
    """The node names of ``p``'s ``nodes`` axis, from ``skeleton`` or the session's ``.slp``.

    Raises:
        InputError: no name source, sources that disagree, or a node count that differs.
    """
    fix = (
        "pass the session's skeleton (--skeleton FILE: its .slp, config.yaml or a skeleton "
        "TOML listing the nodes in order; skeleton= in Python), or keep the per-camera .slp "
        f"files beside {p.name} as sleap-anipose lays them out."
    )
    if skeleton is not None:
        sources = [Path(skeleton)]
    else:
        sources = _session_slp(p)
        if not sources:
            raise InputError(
                f"{p} is a sleap-anipose points3d.h5 ({nodes} nodes in 3D) and names no "
                "nodes; no .slp lies beside it to name them.",
                fix=fix,
            )
    names = {src: read_skeleton(src)[0].keypoints for src in sources}
    distinct = set(names.values())
    if len(distinct) > 1:
        raise InputError(
            f"the .slp files beside {p} name different nodes: "
            + "; ".join(f"{s.name}: {list(n)}" for s, n in names.items())
            + ".",
            fix=fix,
        )
    chosen = distinct.pop()
    if len(chosen) != nodes:
        raise InputError(
            f"{p} holds {nodes} nodes but {', '.join(s.name for s in sources)} names "
            f"{len(chosen)}: {list(chosen)}.",
            fix=fix,
        )
    return chosen


def read_points3d_h5(
    path: str | os.PathLike[str],
    *,
    skeleton: str | os.PathLike[str] | None = None,
    fps: float | None = None,
) -> PoseData:
    """Read a sleap-anipose ``points3d.h5``.

    Args:
        path: the file (one dataset ``tracks``, ``(frames, tracks, nodes, 3)``).
        skeleton: a skeleton file naming the nodes in order; ``None`` reads them from the
            session's ``.slp`` files (beside the file or one folder down).
        fps: frame rate, Hz (the file states none).

    Returns:
        ``PoseData``: points ``(frames, tracks, nodes, 3)`` in ``"mm"`` (the calibration's
        unit), individuals ``track_0``, ``track_1``, …; confidence 1 where a point was
        triangulated, NaN where not.

    Raises:
        InputError: not such a file, a ``tracks`` of another shape, or node names that
            cannot be found or do not fit (see ``_node_names``).
    """
    import h5py

    p = Path(path)
    try:
        with h5py.File(p, "r") as f:
            if TRACKS not in f:
                raise InputError(
                    f"{p} has no '{TRACKS}' dataset; found {sorted(f.keys())}.",
                    fix="pass the points3d.h5 that sleap-anipose triangulate wrote.",
                )
            tracks = np.asarray(f[TRACKS][()], dtype=np.float64)
    except OSError as exc:
        raise InputError(
            f"{p} is not a readable HDF5 file ({exc}).",
            fix="the file is truncated or corrupt; triangulate or copy it again.",
        ) from exc
    if tracks.ndim != 4 or tracks.shape[-1] != 3:
        raise InputError(
            f"{p}: '{TRACKS}' has shape {tracks.shape}; a sleap-anipose points3d.h5 holds "
            "(frames, tracks, nodes, 3).",
            fix="pass the points3d.h5 that sleap-anipose triangulate wrote.",
        )
    names = _node_names(p, tracks.shape[2], skeleton)
    present = np.asarray(np.isfinite(tracks).all(axis=-1), dtype=bool)
    return PoseData(
        points=np.where(present[..., None], tracks, np.nan),
        confidence=np.where(present, 1.0, np.nan),
        keypoints=names,
        individuals=tuple(f"track_{i}" for i in range(tracks.shape[1])),
        fps=fps,
        unit="mm",
        source=str(p),
    )
