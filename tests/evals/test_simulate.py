"""End-to-end tests of simulate_session (small sessions, low resolution)."""

from __future__ import annotations

import tomllib
from pathlib import Path

import cv2
import numpy as np
import pytest

from ethoagent.errors import InputError
from ethoagent.io.calibration import read_calibration
from ethoagent.io.keypoints import read_dlc_csv
from ethoagent.sim.simulate import PRESETS, preview_frame, simulate_session
from ethoagent.tools.cameras import project_points


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


def _read_video(path: Path) -> np.ndarray:
    """Every frame of a video, ``(frames, height, width)`` uint8 (first channel: grey)."""
    cap = cv2.VideoCapture(str(path))
    frames = []
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        frames.append(frame[..., 0])
    cap.release()
    return np.stack(frames)


def test_session_is_deterministic(tmp_path: Path) -> None:
    a = simulate_session(tmp_path / "a", frames=15, views=2, seed=5)
    b = simulate_session(tmp_path / "b", frames=15, views=2, seed=5)
    for name in ("points_3d", "points_2d", "visible", "labels", "dropped"):
        np.testing.assert_array_equal(np.load(a.arrays)[name], np.load(b.arrays)[name])
    for pa, pb in zip(
        (a.labels, a.calibration, a.points_3d, *a.points_2d, a.social_bouts),
        (b.labels, b.calibration, b.points_3d, *b.points_2d, b.social_bouts),
        strict=True,
    ):
        assert pa.read_text() == pb.read_text(), pa.name
    for va, vb in zip(a.videos, b.videos, strict=True):
        np.testing.assert_array_equal(_read_video(va), _read_video(vb))
    c = simulate_session(tmp_path / "c", frames=15, views=2, seed=6)
    assert c.points_3d.read_text() != a.points_3d.read_text()
    assert not np.array_equal(_read_video(c.videos[0]), _read_video(a.videos[0]))


def test_written_calibration_reproduces_written_2d_with_plain_opencv(tmp_path: Path) -> None:
    paths = simulate_session(tmp_path / "s", preset="easy", frames=20, animals=2, views=4, seed=3)
    # parse the TOML directly and project with cv2 alone: no ethoagent camera code involved
    calib = tomllib.loads(paths.calibration.read_text())
    cams = [calib[f"cam_{v}"] for v in range(4)]
    assert [c["name"] for c in cams] == [p.stem for p in paths.points_2d]
    p3 = read_dlc_csv(paths.points_3d).points  # (frames, animals, keypoints, 3) mm
    checked = 0
    for cam, csv_path in zip(cams, paths.points_2d, strict=True):
        proj, _ = cv2.projectPoints(
            p3.reshape(-1, 1, 3),
            np.asarray(cam["rotation"], dtype=np.float64),
            np.asarray(cam["translation"], dtype=np.float64),
            np.asarray(cam["matrix"], dtype=np.float64),
            np.asarray(cam["distortions"], dtype=np.float64),
        )
        gt = read_dlc_csv(csv_path)
        visible = gt.confidence == 1.0
        err = np.linalg.norm(proj.reshape(gt.points.shape) - gt.points, axis=-1)
        assert err[visible].max() < 0.01, csv_path.name
        checked += int(visible.sum())
    assert checked > 0.5 * p3.shape[0] * p3.shape[1] * p3.shape[2] * len(cams)


def test_hidden_marks_are_not_drawn(tmp_path: Path) -> None:
    # easy: no distractors or motion blur, so a bright blob can only be a visible mark
    paths = simulate_session(tmp_path / "s", preset="easy", frames=40, animals=3, views=3, seed=2)
    arrays = np.load(paths.arrays)
    uv, visible = arrays["points_2d"], arrays["visible"]  # (F, V, A, K, 2), (F, V, A, K)
    hidden_peaks: list[int] = []
    visible_peaks: list[int] = []
    for v, video in enumerate(paths.videos):
        images = _read_video(video)
        h, w = images.shape[1:]
        for f, a, k in np.ndindex(visible.shape[0], *visible.shape[2:]):
            x, y = np.round(uv[f, v, a, k]).astype(int)
            if not (1 <= x < w - 1 and 1 <= y < h - 1):
                continue
            peak = int(images[f, y - 1 : y + 2, x - 1 : x + 2].max())
            if visible[f, v, a, k]:
                visible_peaks.append(peak)
                continue
            # a hidden mark next to a visible one (≤ 10 px: a mark's radius plus blur) may
            # sit on that mark's blob
            others = uv[f, v][visible[f, v]]
            if np.linalg.norm(others - uv[f, v, a, k], axis=-1).min(initial=np.inf) > 10.0:
                hidden_peaks.append(peak)
    assert len(hidden_peaks) > 20 and len(visible_peaks) > 1000
    assert min(visible_peaks) > 180  # marks are drawn at 250 before blur and compression
    assert max(hidden_peaks) < 160  # floor 150 ± texture, bodies darker


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


def test_preview_frame_shows_the_session_images(tmp_path: Path) -> None:
    paths = simulate_session(tmp_path / "s", preset="easy", frames=10, views=3, seed=4)
    arrays = np.load(paths.arrays)
    grid = preview_frame("easy", frame=6, frames=10, views=3, seed=4, columns=2)
    assert grid.shape == (2 * 240, 2 * 320) and grid.dtype == np.uint8
    assert not grid[240:, 320:].any()  # the fourth tile is empty
    for v, (r, c) in enumerate([(0, 0), (0, 1), (1, 0)]):
        tile = grid[r * 240 : (r + 1) * 240, c * 320 : (c + 1) * 320]
        # of the session's decoded frames, frame 6 is the closest (below the name label)
        video = _read_video(paths.videos[v]).astype(float)
        diff = np.abs(video[:, 20:] - tile[20:].astype(float)).mean(axis=(1, 2))
        assert int(np.argmin(diff)) == 6
        for a, k in zip(*np.nonzero(arrays["visible"][6, v]), strict=True):
            x, y = np.round(arrays["points_2d"][6, v, a, k]).astype(int)
            if y > 20:
                assert tile[y - 1 : y + 2, x - 1 : x + 2].max() > 200
    with pytest.raises(InputError, match="frame"):
        preview_frame("easy", frame=10, frames=10)
