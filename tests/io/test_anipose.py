"""anipose's 3D CSV layout: written as anipose does, read back by read_keypoints."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ethoagent.errors import InputError
from ethoagent.io.anipose import write_anipose_3d
from ethoagent.io.keypoints import read_keypoints

KPS = ("Nose", "Ear_R", "tail_tip")


def _points(frames: int = 5) -> np.ndarray:
    rng = np.random.default_rng(0)
    pts = rng.normal(0, 30, (frames, len(KPS), 3))
    pts[2, 1] = np.nan
    return pts


def test_header_is_anipose_layout(tmp_path: Path) -> None:
    path = write_anipose_3d(tmp_path / "p.csv", _points(), KPS)
    header = path.read_text().splitlines()[0].split(",")
    per_kp = [f"{k}_{s}" for k in KPS for s in ("x", "y", "z", "error", "ncams", "score")]
    m = [f"M_{i}{j}" for i in range(3) for j in range(3)]
    assert header == [*per_kp, *m, "center_0", "center_1", "center_2", "fnum"]


def test_round_trip_through_read_keypoints(tmp_path: Path) -> None:
    pts = _points()
    ncams = np.full(pts.shape[:2], 3.0)
    ncams[0, 0] = 1  # seen by one camera: anipose blanks error, ncams and score
    error = np.full(pts.shape[:2], 1.5)
    score = np.full(pts.shape[:2], 0.8)
    path = write_anipose_3d(tmp_path / "p.csv", pts, KPS, error=error, ncams=ncams, score=score)
    data = read_keypoints(path)
    assert data.keypoints == KPS
    assert data.unit == "mm"
    # coordinates are written with 6 decimals
    np.testing.assert_allclose(data.points[:, 0], pts, atol=5e-7, equal_nan=True)
    assert np.isnan(data.confidence[0, 0, 0])
    assert data.confidence[1, 0, 0] == pytest.approx(0.8)
    import pandas as pd

    table = pd.read_csv(path)
    assert np.isnan(table["Nose_error"][0]) and np.isnan(table["Nose_ncams"][0])
    assert table["Ear_R_ncams"][1] == 3 and table["Ear_R_error"][1] == 1.5
    assert table["fnum"].tolist() == list(range(5))


def test_wrong_shapes_are_refused(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="shape"):
        write_anipose_3d(tmp_path / "p.csv", np.zeros((4, 2, 3)), KPS)
    with pytest.raises(InputError, match="error must have shape"):
        write_anipose_3d(tmp_path / "p.csv", _points(), KPS, error=np.zeros(3))
