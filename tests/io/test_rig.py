"""Camera names found in 2D prediction file names (io/rig.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from ethoagent.errors import InputError
from ethoagent.io.rig import camera_of, find_camera_files, match_camera_files
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
