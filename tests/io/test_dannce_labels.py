"""DANNCE / Label3D ``label3d_dannce.mat``: hand-labelled 3D keypoints, names from a skeleton."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ethoagent.errors import InputError
from ethoagent.io.keypoints import read_keypoints
from tests.data_paths import require_shared

NAMES = ("Snout", "EarL", "EarR", "SpineM")


def _label3d(path: Path, frames: int = 5, cameras: int = 2) -> np.ndarray:
    """Write a Label3D-like .mat; return its 3D labels (frames, keypoints, 3), mm."""
    from scipy.io import savemat

    rng = np.random.default_rng(1)
    pts = rng.normal(0.0, 30.0, (frames, len(NAMES), 3))
    pts[2, 1] = np.nan
    cells = np.empty((cameras, 1), dtype=object)
    for c in range(cameras):
        cells[c, 0] = {
            "data_3d": pts.reshape(frames, -1),
            "data_frame": np.arange(frames)[None, :] * 10,
        }
    path.parent.mkdir(parents=True, exist_ok=True)
    savemat(path, {"labelData": cells, "camnames": np.array(["Camera1", "Camera2"])})
    return pts


def _skeleton_mat(path: Path, names: tuple[str, ...] = NAMES) -> None:
    from scipy.io import savemat

    joints = np.array([[1, i] for i in range(2, len(names) + 1)])
    savemat(path, {"joint_names": np.array(names, dtype=object)[None, :], "joints_idx": joints})


def test_names_from_the_skeleton_one_folder_up(tmp_path: Path) -> None:
    pts = _label3d(tmp_path / "mouse_1" / "label3d_dannce.mat")
    _skeleton_mat(tmp_path / "mouse4_skeleton.mat")
    data = read_keypoints(tmp_path / "mouse_1" / "label3d_dannce.mat", fps=100.0)
    assert data.keypoints == NAMES and data.unit == "mm" and data.fps == 100.0
    assert data.points.shape == (5, 1, 4, 3) and data.individuals == ("individual_0",)
    np.testing.assert_array_equal(data.points[:, 0], pts)
    assert np.isnan(data.confidence[2, 0, 1]) and data.confidence[0, 0, 0] == 1.0


def test_a_named_skeleton_wins_and_must_fit(tmp_path: Path) -> None:
    _label3d(tmp_path / "label3d_dannce.mat")
    toml = tmp_path / "other.toml"
    toml.write_text('keypoints = ["a", "b", "c", "d"]\n')
    data = read_keypoints(tmp_path / "label3d_dannce.mat", skeleton=toml)
    assert data.keypoints == ("a", "b", "c", "d")
    toml.write_text('keypoints = ["a", "b"]\n')
    with pytest.raises(InputError, match=r"holds 4 keypoints but other\.toml names 2"):
        read_keypoints(tmp_path / "label3d_dannce.mat", skeleton=toml)


def test_errors_name_the_file_and_the_fix(tmp_path: Path) -> None:
    from scipy.io import savemat

    _label3d(tmp_path / "s" / "label3d_dannce.mat")
    with pytest.raises(InputError, match=r"names none; no \*skeleton\*\.mat.*--skeleton"):
        read_keypoints(tmp_path / "s" / "label3d_dannce.mat")
    savemat(tmp_path / "calibration.mat", {"params": np.zeros((1, 1))})
    with pytest.raises(InputError, match=r"calibration\.mat has no 'labelData'"):
        read_keypoints(tmp_path / "calibration.mat")
    (tmp_path / "broken.mat").write_bytes(b"not a mat file at all")
    with pytest.raises(InputError, match=r"broken\.mat is not a readable MATLAB"):
        read_keypoints(tmp_path / "broken.mat")


def test_real_markerless_mouse_labels() -> None:
    root = require_shared("dannce_markerless_mouse")
    data = read_keypoints(root / "markerless_mouse_1" / "label3d_dannce.mat")
    assert data.points.shape == (81, 1, 22, 3) and data.unit == "mm"
    assert data.keypoints[:3] == ("EarL", "EarR", "Snout")
    snout_to_tail = np.nanmedian(
        np.linalg.norm(data.points[:, 0, 2] - data.points[:, 0, 5], axis=-1)
    )
    assert 40.0 < snout_to_tail < 120.0  # a mouse, in mm
    assert read_keypoints(root / "markerless_mouse_2" / "label3d_dannce.mat").frames == 91
