"""``io.session``: frame-rate and speed sanity warnings, ``--format``, and the examples
table of ``--examples-from`` (paths relative to the table, errors naming file and line)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from ethoagent.errors import InputError
from ethoagent.io.keypoints import write_keypoints
from ethoagent.io.session import (
    MAX_SPEED_BODY_LENGTHS,
    body_length,
    read_examples_table,
    resolve_session,
    typical_speed,
    unit_warning,
)
from ethoagent.model.pose import PoseData
from tests.data_paths import require_shared

NAMES = ("nose", "neck", "tailbase")


def _walk(frames: int, step_px: float) -> np.ndarray:
    """``(frames, 1, 3, 2)``: a 20 px long body moving ``step_px`` per frame along x."""
    x = np.arange(frames, dtype=float)[:, None] * step_px + np.array([20.0, 10.0, 0.0])
    pts = np.stack([x, np.full_like(x, 100.0)], axis=-1)
    return pts[:, None]


def _session(tmp: Path, points: np.ndarray, fps: float | None, name: str = "s.nc") -> Path:
    data = PoseData(
        points=points,
        confidence=np.ones(points.shape[:3]),
        keypoints=NAMES,
        individuals=("m",),
        fps=fps,
        unit="px",
    )
    return write_keypoints(data, tmp / name, format="netcdf" if name.endswith(".nc") else "dlc")


def _video(path: Path, frames: int, fps: float) -> Path:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"mp4v"), fps, (64, 48))
    assert writer.isOpened()
    for _ in range(frames):
        writer.write(np.zeros((48, 64, 3), dtype=np.uint8))
    writer.release()
    return path


def test_typical_speed_is_body_lengths_per_second() -> None:
    # 2 px per frame on a 20 px body at 30 fps: 3 body lengths per second
    assert typical_speed(_walk(50, 2.0), NAMES, 30.0) == pytest.approx(3.0)


def test_plausible_session_has_no_warning(tmp_path: Path) -> None:
    s = resolve_session(_session(tmp_path, _walk(50, 2.0), 30.0))
    assert s.warnings == ()


def test_stated_fps_contradicting_the_file_is_warned(tmp_path: Path) -> None:
    s = resolve_session(_session(tmp_path, _walk(50, 2.0), 30.0), fps=50.0)
    assert s.fps == 50.0
    (w,) = s.warnings
    assert "--fps 50" in w and "30 fps" in w


def test_stated_fps_contradicting_the_video_is_warned(tmp_path: Path) -> None:
    kp = _session(tmp_path, _walk(30, 2.0), None, "s.csv")
    video = _video(tmp_path / "v.mp4", 30, 30.0)
    s = resolve_session(kp, video=video, fps=50.0)
    (w,) = s.warnings
    assert "50 fps" in w and "30 fps" in w and str(video) in w
    assert resolve_session(kp, video=video, fps=30.0).warnings == ()


def test_speed_no_mouse_reaches_is_warned(tmp_path: Path) -> None:
    # 20 px per frame on a 20 px body at 30 fps: 30 body lengths per second
    s = resolve_session(_session(tmp_path, _walk(50, 20.0), 30.0))
    (w,) = s.warnings
    assert "30.0 body lengths/s" in w and f"{MAX_SPEED_BODY_LENGTHS:g}" in w


def test_format_is_passed_to_the_reader(tmp_path: Path) -> None:
    kp = _session(tmp_path, _walk(20, 1.0), None, "s.csv")
    assert resolve_session(kp, fps=30.0, format="dlc").format == "dlc"
    with pytest.raises(InputError, match=r"must end in \.slp"):
        resolve_session(kp, fps=30.0, format="sleap")


def test_examples_table_paths_are_relative_to_it(tmp_path: Path) -> None:
    sub = tmp_path / "cohort"
    sub.mkdir()
    (sub / "a.csv").write_text("x")
    (sub / "a_labels.csv").write_text("x")
    table = sub / "examples.csv"
    table.write_text("keypoints,labels,fps\na.csv,a_labels.csv,50\na.csv,a_labels.csv,\n")
    rows = read_examples_table(table)
    assert [r.keypoints for r in rows] == [sub / "a.csv"] * 2
    assert [r.fps for r in rows] == [50.0, None] and [r.line for r in rows] == [2, 3]


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("keypoints,fps\na.csv,50\n", ":1 lacks column(s) ['labels']"),
        ("keypoints,labels\n", "lists no session"),
        ("keypoints,labels\na.csv,nope.csv\n", ":2: labels file"),
        ("keypoints,labels,fps\na.csv,a.csv,fast\n", ":2: fps 'fast'"),
        ("keypoints,labels\n,a.csv\n", ":2: the keypoints cell is empty"),
    ],
)
def test_bad_examples_tables_name_file_and_line(tmp_path: Path, text: str, needle: str) -> None:
    (tmp_path / "a.csv").write_text("x")
    table = tmp_path / "t.csv"
    table.write_text(text)
    with pytest.raises(InputError) as err:
        read_examples_table(table)
    assert str(table) in str(err.value) and needle in str(err.value)


def test_real_files_read_without_a_layout_error() -> None:
    demo = require_shared("behaviordepot_freezing/demo")
    slp = require_shared("sleap_anipose_minimal_session/minimal_session/top")
    for path in (
        demo / "demo1" / "demo1_tracking.csv",
        demo / "demo4" / "demo4_video.csv",
        slp / "minimal_top_proofread.slp",
    ):
        s = resolve_session(path, fps=None if path.suffix == ".slp" else 50.0)
        assert s.warnings == (), (path, s.warnings)


def _3d(points_2d: np.ndarray, scale: float) -> np.ndarray:
    """The 2D walk lifted to 3D (z = 0) and scaled: ``(frames, 1, 3, 3)``."""
    z = np.zeros((*points_2d.shape[:-1], 1))
    return np.concatenate([points_2d, z], axis=-1) * scale


def test_body_length_is_the_median_extent() -> None:
    assert body_length(_walk(50, 2.0), NAMES) == pytest.approx(20.0)
    assert np.isnan(body_length(_walk(5, 1.0)[:, :, :1], NAMES[:1]))


@pytest.mark.parametrize(
    ("unit", "scale", "fits"),
    [("mm", 0.0025, "m"), ("mm", 0.25, "cm"), ("m", 2.5, "mm"), ("cm", 0.025, "m")],
)
def test_stated_unit_contradicting_body_size_names_the_fitting_one(
    unit: str, scale: float, fits: str
) -> None:
    # the walk's body is 20 long: x 0.0025 = 0.05 (metres of a 50 mm mouse) ...
    length = body_length(_3d(_walk(10, 1.0), scale), NAMES)
    w = unit_warning(Path("a.csv"), unit, 3, length)
    assert w is not None and "a.csv" in w and f"it fits {fits} (" in w


@pytest.mark.parametrize(("unit", "scale"), [("mm", 4.0), ("m", 0.004), ("cm", 0.4)])
def test_plausible_units_are_not_warned(unit: str, scale: float) -> None:
    length = body_length(_3d(_walk(10, 1.0), scale), NAMES)  # 80 mm in each unit
    assert unit_warning(Path("a.csv"), unit, 3, length) is None


def test_pixels_at_3d_and_normalised_pixels_are_warned() -> None:
    assert "3D positions stated in pixels" in str(unit_warning(Path("a"), "px", 3, 80.0))
    assert "normalised" in str(unit_warning(Path("a"), "px", 2, 0.2))
    assert unit_warning(Path("a"), "px", 2, 80.0) is None


def test_session_in_metres_stated_as_mm_is_warned(tmp_path: Path) -> None:
    data = PoseData(
        points=_3d(_walk(50, 0.1), 0.0025),
        confidence=np.ones((50, 1, 3)),
        keypoints=NAMES,
        individuals=("m",),
        fps=30.0,
        unit="mm",
    )
    s = resolve_session(write_keypoints(data, tmp_path / "m.nc", format="netcdf"))
    assert s.body_length == pytest.approx(0.05)
    assert any("it fits m (50 mm)" in w for w in s.warnings), s.warnings
