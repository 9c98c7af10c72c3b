"""End-to-end tests of simulate_session (small sessions, low resolution)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from ethoagent.errors import InputError
from ethoagent.evals.simulate import PRESETS, simulate_session
from ethoagent.tools.cameras import project_points, read_calibration
from ethoagent.tools.io import read_dlc_csv


def test_session_files_and_geometry(tmp_path: Path) -> None:
    calls: list[tuple[int, int]] = []
    paths = simulate_session(
        tmp_path / "s",
        preset="easy",
        frames=30,
        views=3,
        seed=1,
        progress=lambda d, t: calls.append((d, t)),
    )
    assert calls[-1] == (90, 90)
    for p in (*paths.videos, paths.calibration, *paths.points_2d, paths.points_3d, paths.labels):
        assert p.is_file(), p
    assert "ground_truth/2d/<view>.csv" in paths.readme.read_text()
    cams = read_calibration(paths.calibration)
    assert len(cams) == 3
    p3 = read_dlc_csv(paths.points_3d)
    assert p3.points.shape == (30, 1, 12, 3) and p3.unit == "mm"
    proj = project_points(cams, p3.points)  # (F, A, K, V, 2)
    for v, csv_path in enumerate(paths.points_2d):
        p2 = read_dlc_csv(csv_path)
        # 3D through the written calibration reproduces the written 2D (6-decimal CSVs)
        assert np.nanmax(np.abs(proj[..., v, :] - p2.points)) < 0.01
        assert set(np.unique(p2.confidence)) <= {0.0, 1.0}
    cap = cv2.VideoCapture(str(paths.videos[0]))
    n = 0
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        n += 1
        assert frame.shape == (240, 320, 3)
    cap.release()
    assert n == 30


def test_session_is_deterministic(tmp_path: Path) -> None:
    a = simulate_session(tmp_path / "a", frames=15, views=2, seed=5)
    b = simulate_session(tmp_path / "b", frames=15, views=2, seed=5)
    for name in ("points_3d", "points_2d", "visible", "labels", "dropped"):
        np.testing.assert_array_equal(np.load(a.arrays)[name], np.load(b.arrays)[name])
    assert a.labels.read_text() == b.labels.read_text()


def test_hard_preset_has_three_animals(tmp_path: Path) -> None:
    assert PRESETS["hard"].animals == 3
    paths = simulate_session(tmp_path / "h", preset="hard", frames=12, views=2, seed=0)
    arrays = np.load(paths.arrays)
    assert arrays["points_3d"].shape == (12, 3, 12, 3)
    assert arrays["visible"].shape == (12, 2, 3, 12)
    header = paths.labels.read_text().splitlines()[0]
    assert header == "frame,mouse_0,mouse_1,mouse_2"


def test_bad_arguments(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="preset"):
        simulate_session(tmp_path, preset="impossible", frames=5)
    with pytest.raises(InputError, match="views"):
        simulate_session(tmp_path, frames=5, views=1)
