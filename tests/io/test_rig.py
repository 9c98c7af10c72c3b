"""Camera names found in 2D prediction file names (io/rig.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ethoagent.errors import InputError
from ethoagent.io.anipose import write_anipose_3d
from ethoagent.io.calibration import read_calibration
from ethoagent.io.keypoints import read_keypoints
from ethoagent.io.rig import (
    camera_of,
    find_camera_files,
    match_camera_files,
    read_camera_points,
)
from ethoagent.io.skeletons import read_skeleton
from ethoagent.model.pose import PoseData
from ethoagent.tools.calibration_check import diagnose_calibration
from ethoagent.tools.cameras import make_ring_cameras
from ethoagent.tools.triangulate import point_summary, triangulate_ransac
from tests.data_paths import require_shared

CAMS = ["back", "mid", "side", "top"]


def test_camera_of_reads_the_name_inside_a_file_name() -> None:
    assert camera_of("minimal_back_proofread.analysis.h5", CAMS) == "back"
    assert camera_of("x/vid_abc_cam1.csv", ["cam1", "cam10"]) == "cam1"
    assert camera_of("x/vid_abc_cam10.csv", ["cam1", "cam10"]) == "cam10"
    assert camera_of("x/backup.h5", CAMS) is None  # a word, not a substring


def test_camera_of_prefers_the_folder_named_as_a_camera() -> None:
    assert camera_of("session/Top/predictions_side_model.h5", CAMS) == "top"


def test_match_reports_cameras_without_file_and_files_without_camera() -> None:
    got = match_camera_files(["a_back.h5", "a_mid.h5", "notes.csv"], CAMS)
    assert got.files == {"back": Path("a_back.h5"), "mid": Path("a_mid.h5")}
    assert got.cameras_without_file == ("side", "top")
    assert got.unmatched_files == (Path("notes.csv"),)
    text = " ".join(got.warnings())
    assert "'side'" in text and "notes.csv" in text


def test_match_prefers_the_analysis_export_to_the_slp() -> None:
    got = match_camera_files(["back/x_back.slp", "back/x_back.analysis.h5"], ["back"])
    assert got.files["back"].name == "x_back.analysis.h5"
    assert got.ignored == (Path("back/x_back.slp"),)


def test_match_without_any_overlap_names_both_lists() -> None:
    with pytest.raises(InputError, match=r"files \['a\.h5'\], cameras \['back', 'mid'") as err:
        match_camera_files(["a.h5"], ["back", "mid"])
    assert err.value.fix


def test_two_equal_files_for_one_camera_are_refused() -> None:
    with pytest.raises(InputError, match="camera 'back' has 2 2D files"):
        match_camera_files(["r1_back.h5", "r2_back.h5"], ["back"])


def test_find_camera_files_in_a_flat_folder(tmp_path: Path) -> None:
    for name in ("s_back.h5", "s_top.csv", "video_back.mp4"):
        (tmp_path / name).write_text("")
    got = find_camera_files(tmp_path, CAMS)
    assert got.files == {"back": tmp_path / "s_back.h5", "top": tmp_path / "s_top.csv"}


def test_a_session_folder_named_as_a_camera_is_not_a_camera_folder(tmp_path: Path) -> None:
    root = tmp_path / "top"
    root.mkdir()
    for name in ("s_back.h5", "s_mid.h5"):
        (root / name).write_text("")
    got = find_camera_files(root, CAMS)
    assert got.files == {"back": root / "s_back.h5", "mid": root / "s_mid.h5"}
    assert got.cameras_without_file == ("side", "top")


def test_find_camera_files_in_an_empty_folder_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="holds no 2D prediction file"):
        find_camera_files(tmp_path, CAMS)


def test_sleap_anipose_session_layout() -> None:
    session = require_shared("sleap_anipose_minimal_session/minimal_session")
    got = find_camera_files(session, CAMS)
    assert {c: p.name for c, p in got.files.items()} == {
        c: f"minimal_{c}_proofread.analysis.h5" for c in CAMS
    }
    assert got.cameras_without_file == ()
    assert {p.name for p in got.unmatched_files} == {"calibration.metadata.h5", "points3d.h5"}


def _pose(frames: int, keypoints: tuple[str, ...], individuals: int = 1) -> PoseData:
    rng = np.random.default_rng(frames)
    return PoseData(
        points=rng.uniform(0, 300, (frames, individuals, len(keypoints), 2)),
        confidence=np.full((frames, individuals, len(keypoints)), 0.9),
        keypoints=keypoints,
        individuals=tuple(f"m{i}" for i in range(individuals)),
    )


def test_read_camera_points_stacks_in_calibration_and_skeleton_order() -> None:
    cams = make_ring_cameras(3)
    names = [c.name for c in cams]
    files = {names[0]: _pose(4, ("b", "a")), names[2]: _pose(4, ("a", "c"), individuals=2)}
    matched = match_camera_files([f"x_{n}.h5" for n in files], names)
    rig = read_camera_points(matched, cams, ("a", "b", "c"), read=lambda p: files[p.stem[2:]])
    assert [c.name for c in rig.cameras] == [names[0], names[2]]
    assert rig.points.shape == (4, 2, 3, 2)
    np.testing.assert_array_equal(rig.points[:, 0, 0], files[names[0]].points[:, 0, 1])
    assert np.isnan(rig.points[:, 0, 2]).all() and np.isnan(rig.points[:, 1, 1]).all()
    text = " ".join(rig.warnings)
    assert f"'{names[1]}' has no 2D file" in text and "lacks keypoints ['c']" in text
    assert "only 'm0' is triangulated" in text


def test_read_camera_points_names_files_with_other_frame_counts() -> None:
    cams = make_ring_cameras(2)
    names = [c.name for c in cams]
    files = {names[0]: _pose(4, ("a",)), names[1]: _pose(5, ("a",))}
    matched = match_camera_files([f"x_{n}.h5" for n in files], names)
    with pytest.raises(
        InputError, match=r"different frame counts: \{'x_ring_0\.h5': 4, 'x_top\.h5': 5\}"
    ):
        read_camera_points(matched, cams, ("a",), read=lambda p: files[p.stem[2:]])


def test_read_camera_points_names_both_keypoint_lists() -> None:
    cams = make_ring_cameras(2)
    names = [c.name for c in cams]
    files = {n: _pose(3, ("Nose",)) for n in names}
    matched = match_camera_files([f"x_{n}.h5" for n in files], names)
    with pytest.raises(
        InputError, match=r"names keypoints \['Nose'\], none of the skeleton's \['ear_left'\]"
    ):
        read_camera_points(matched, cams, ("ear_left",), read=lambda p: files[p.stem[2:]])


def test_sleap_anipose_session_end_to_end(tmp_path: Path) -> None:
    """What `ethoagent triangulate` does on the real session, through the library."""
    session = require_shared("sleap_anipose_minimal_session/minimal_session")
    cams = read_calibration(session / "calibration.toml")
    skeleton, _ = read_skeleton(session / "back" / "minimal_back_proofread.slp")
    matched = find_camera_files(session, [c.name for c in cams])
    rig = read_camera_points(matched, cams, skeleton.keypoints)
    diag = diagnose_calibration(rig.cameras, rig.points)
    assert diag.inconsistent == ("side",)
    keep = [v for v, c in enumerate(rig.cameras) if c.name not in diag.inconsistent]
    result = triangulate_ransac([rig.cameras[v] for v in keep], rig.points[:, keep])
    error, ncams, score = point_summary(result, rig.confidence[:, keep])
    out = write_anipose_3d(
        tmp_path / "points_3d.csv",
        result.points_3d,
        skeleton.keypoints,
        error=error,
        ncams=ncams,
        score=score,
    )
    back = read_keypoints(out)
    assert back.keypoints == skeleton.keypoints and back.points.shape == (120, 1, 15, 3)
    assert np.isfinite(back.points).mean() > 0.9
    assert np.nanmedian(error) < 10
