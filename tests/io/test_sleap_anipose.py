"""sleap-anipose's points3d.h5: node names from the session's .slp or a skeleton file."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest

from ethoagent.errors import InputError
from ethoagent.io.keypoints import read_keypoints, write_keypoints
from ethoagent.io.session import resolve_session
from ethoagent.model.pose import PoseData
from tests.data_paths import require_shared

NODES = ("nose", "neck", "tail_base")


def _points3d(path: Path, frames: int = 40) -> np.ndarray:
    rng = np.random.default_rng(0)
    steps = rng.normal(0, 1.0, (frames, 1, 3, 3))
    tracks: np.ndarray = np.cumsum(steps, axis=0) + np.array([0.0, 0.0, 50.0])
    tracks[:, :, 0] += [30.0, 0.0, 0.0]  # the nose 30 mm ahead of the neck
    tracks[:, :, 2] -= [50.0, 0.0, 0.0]
    tracks[5, 0, 1] = np.nan
    path.parent.mkdir(parents=True, exist_ok=True)
    with h5py.File(path, "w") as f:
        f.create_dataset("tracks", data=tracks)
    return tracks


def _slp(path: Path, names: tuple[str, ...]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    pts = np.full((2, 1, len(names), 2), 10.0)
    write_keypoints(
        PoseData(
            points=pts, confidence=np.ones(pts.shape[:-1]), keypoints=names, individuals=("a",)
        ),
        path,
        format="sleap",
    )


def test_names_come_from_the_session_slp_files(tmp_path: Path) -> None:
    tracks = _points3d(tmp_path / "session" / "points3d.h5")
    for cam in ("back", "top"):
        _slp(tmp_path / "session" / cam / f"{cam}.slp", NODES)
    data = read_keypoints(tmp_path / "session" / "points3d.h5")
    assert data.keypoints == NODES
    assert data.unit == "mm" and data.points.shape == (40, 1, 3, 3)
    np.testing.assert_array_equal(data.points, tracks)
    assert np.isnan(data.confidence[5, 0, 1]) and data.confidence[0, 0, 0] == 1.0
    # segment and classify read it through the session resolver
    session = resolve_session(tmp_path / "session" / "points3d.h5", fps=30.0)
    assert session.dims == 3 and session.keypoint_names == NODES and session.unit == "mm"


def test_a_skeleton_file_names_the_nodes(tmp_path: Path) -> None:
    _points3d(tmp_path / "points3d.h5")
    toml = tmp_path / "skeleton.toml"
    toml.write_text('keypoints = ["a", "b", "c"]\n')
    assert read_keypoints(tmp_path / "points3d.h5", skeleton=toml).keypoints == ("a", "b", "c")
    toml.write_text('keypoints = ["a", "b"]\n')
    with pytest.raises(InputError, match=r"holds 3 nodes but skeleton\.toml names 2"):
        read_keypoints(tmp_path / "points3d.h5", skeleton=toml)


def test_without_names_the_error_says_where_to_get_them(tmp_path: Path) -> None:
    _points3d(tmp_path / "points3d.h5")
    with pytest.raises(InputError, match=r"names no nodes.*--skeleton"):
        read_keypoints(tmp_path / "points3d.h5")
    _slp(tmp_path / "a" / "a.slp", NODES)
    _slp(tmp_path / "b" / "b.slp", ("x", "y", "z"))
    with pytest.raises(InputError, match="name different nodes"):
        read_keypoints(tmp_path / "points3d.h5")


def test_it_is_read_not_written(tmp_path: Path) -> None:
    pts = np.zeros((2, 1, 3, 3))
    data = PoseData(
        points=pts, confidence=np.ones(pts.shape[:-1]), keypoints=NODES, individuals=("a",)
    )
    with pytest.raises(InputError, match="read, not written"):
        write_keypoints(data, tmp_path / "out.h5", format="sleap_anipose")


def test_the_sleap_anipose_session_reads_as_its_reference() -> None:
    root = require_shared("sleap_anipose_minimal_session") / "minimal_session"
    data = read_keypoints(root / "points3d.h5")
    assert data.points.shape == (120, 1, 15, 3)
    assert data.keypoints[:3] == ("Nose", "Ear_R", "Ear_L")
    assert np.isfinite(data.points).all()
