"""Skeletons read from SLEAP, DeepLabCut, anipose and skeleton-TOML files (io/skeletons.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ethoagent.errors import InputError
from ethoagent.io.skeletons import complete_skeleton, read_skeleton
from tests.data_paths import require_shared

SKELETON_TOML = """\
name = "rat"
keypoints = ["nose", "ear_l", "ear_r", "spine", "tail_base"]
bones = [["nose", "ear_l"], ["nose", "ear_r"], ["spine", "tail_base"]]
left_right = [["ear_l", "ear_r"]]

[regions]
head = ["nose", "ear_l", "ear_r"]
body = ["spine", "tail_base"]
"""

DLC_CONFIG = """\
Task: openfield
scorer: Pranav
bodyparts:
- snout
- leftear
- rightear
- tailbase
skeleton:
- - snout
  - leftear
- - snout
  - rightear
"""

DLC_MULTI = """\
Task: social
multianimalproject: true
individuals: [mouse1, mouse2]
bodyparts: MULTI!
multianimalbodyparts: [nose, left_ear, right_ear, tail_base]
uniquebodyparts: [cage_corner]
skeleton: []
"""

ANIPOSE_CONFIG = """\
project = "flies"
model_folder = "missing-dlc-project"

[labeling]
scheme = [["L1A", "L1B", "L1C"], ["R1A", "R1B", "R1C"]]

[triangulation]
cam_regex = "Cam([A-Z])"
"""


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_skeleton_toml_says_everything(tmp_path: Path) -> None:
    skel, inferred = read_skeleton(_write(tmp_path, "rat.toml", SKELETON_TOML))
    assert skel.name == "rat"
    assert skel.keypoints == ("nose", "ear_l", "ear_r", "spine", "tail_base")
    assert skel.left_right == (("ear_l", "ear_r"),)
    assert skel.regions["head"] == ("nose", "ear_l", "ear_r")
    assert inferred == [f"body roles matched from names: {sorted(skel.roles)}."]


def test_a_bone_naming_an_unknown_keypoint_names_the_line(tmp_path: Path) -> None:
    text = SKELETON_TOML.replace('["spine", "tail_base"]]', '["spine", "tail_tip"]]')
    with pytest.raises(InputError, match=r"rat\.toml:3: .*tail_tip") as err:
        read_skeleton(_write(tmp_path, "rat.toml", text))
    assert err.value.fix


def test_toml_syntax_error_names_the_file_and_line(tmp_path: Path) -> None:
    text = 'name = "x"\nkeypoints = ["a" "b"]\nbones = []\n'
    with pytest.raises(InputError, match=r"bad\.toml is not valid TOML: .*line 2"):
        read_skeleton(_write(tmp_path, "bad.toml", text))


def test_unknown_key_in_skeleton_toml_names_its_line(tmp_path: Path) -> None:
    text = SKELETON_TOML + "\n[colours]\nnose = 'red'\n"
    with pytest.raises(InputError, match=r"rat\.toml:10: unknown key\(s\) \['colours'\]"):
        read_skeleton(_write(tmp_path, "rat.toml", text))


def test_dlc_config_infers_left_right_and_reports_no_regions(tmp_path: Path) -> None:
    skel, inferred = read_skeleton(_write(tmp_path, "config.yaml", DLC_CONFIG))
    assert skel.name == "openfield"
    assert skel.keypoints == ("snout", "leftear", "rightear", "tailbase")
    assert skel.bones == (("snout", "leftear"), ("snout", "rightear"))
    assert skel.left_right == (("leftear", "rightear"),)
    assert skel.regions == {}
    text = " ".join(inferred)
    assert "left/right pairs inferred from names" in text and "no regions" in text


def test_dlc_multi_animal_config_with_seeds_infers_bones_and_regions(tmp_path: Path) -> None:
    # nose and ears together, tail base and the cage corner far apart
    seeds = np.array(
        [
            [[0, 0], [5, 3], [5, -3], [60, 0], [300, 300]],
            [[10, 0], [15, 3], [15, -3], [70, 0], [300, 300]],
        ],
        dtype=float,
    )
    skel, inferred = read_skeleton(_write(tmp_path, "config.yaml", DLC_MULTI), seed_points=seeds)
    assert skel.keypoints == ("nose", "left_ear", "right_ear", "tail_base", "cage_corner")
    assert skel.left_right == (("left_ear", "right_ear"),)
    # the tail base joins the nearest group that has room; the far cage corner stays alone
    assert skel.regions == {
        "nose": ("nose", "left_ear", "right_ear", "tail_base"),
        "cage": ("cage_corner",),
    }
    assert {frozenset(b) for b in skel.bones} >= {
        frozenset(("nose", "left_ear")),
        frozenset(("nose", "right_ear")),
    }
    assert len(skel.bones) == 4
    assert any("4 bones inferred" in line for line in inferred)


def test_anipose_config_reads_keypoints_from_its_scheme(tmp_path: Path) -> None:
    skel, _ = read_skeleton(_write(tmp_path, "config.toml", ANIPOSE_CONFIG))
    assert skel.name == "flies"
    assert skel.keypoints == ("L1A", "L1B", "L1C", "R1A", "R1B", "R1C")
    assert skel.bones[:2] == (("L1A", "L1B"), ("L1B", "L1C"))


def test_anipose_config_takes_keypoints_from_its_dlc_project(tmp_path: Path) -> None:
    (tmp_path / "dlc").mkdir()
    _write(tmp_path / "dlc", "config.yaml", DLC_CONFIG)
    text = ANIPOSE_CONFIG.replace("missing-dlc-project", "dlc")
    text += 'constraints = [["snout", "tailbase"]]\n'
    skel, _ = read_skeleton(_write(tmp_path, "config.toml", text))
    assert skel.keypoints == ("snout", "leftear", "rightear", "tailbase")
    assert skel.bones == (("snout", "tailbase"),)


def test_dlc_yaml_error_names_the_line(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"config\.yaml:[34]: not valid YAML"):
        read_skeleton(_write(tmp_path, "config.yaml", "Task: x\nbodyparts:\n- a: [\n"))


def test_other_files_are_refused_with_the_formats(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"unknown skeleton file type '\.json'.*SLEAP \.slp"):
        read_skeleton(_write(tmp_path, "s.json", "{}"))
    with pytest.raises(InputError, match="neither a skeleton TOML"):
        read_skeleton(_write(tmp_path, "s.toml", "a = 1\n"))
    with pytest.raises(InputError, match="not found"):
        read_skeleton(tmp_path / "none.slp")


def test_complete_skeleton_keeps_what_was_said() -> None:
    skel, inferred = complete_skeleton(
        "m", ("a", "b"), bones=(("a", "b"),), left_right=(), regions={}, roles={}
    )
    assert skel.bones == (("a", "b"),) and inferred == []


def test_real_sleap_slp_skeleton() -> None:
    session = require_shared("sleap_anipose_minimal_session/minimal_session")
    skel, inferred = read_skeleton(session / "top" / "minimal_top_proofread.slp")
    assert len(skel.keypoints) == 15 and skel.keypoints[:3] == ("Nose", "Ear_R", "Ear_L")
    assert len(skel.bones) == 14  # the file's edges
    assert set(skel.left_right) == {
        ("Ear_L", "Ear_R"),
        ("Shoulder_left", "Shoulder_right"),
        ("Haunch_left", "Haunch_right"),
    }
    # regions of the proofread frames: every keypoint once, 1-4 per region
    assert sorted(k for r in skel.regions.values() for k in r) == sorted(skel.keypoints)
    assert skel.regions["tti"] == ("TTI", "Trunk", "Haunch_left", "Haunch_right")
    assert any("regions inferred by proximity in 120 seed frames" in line for line in inferred)


def test_dannce_skeleton_mat(tmp_path: Path) -> None:
    from scipy.io import savemat

    names = np.array(["Snout", "EarL", "EarR", "SpineM"], dtype=object).reshape(1, -1)
    path = tmp_path / "mouse4_skeleton.mat"
    savemat(path, {"joint_names": names, "joints_idx": np.array([[1, 2], [1, 3], [3, 1], [4, 1]])})
    skel, _ = read_skeleton(path)
    assert skel.keypoints == ("Snout", "EarL", "EarR", "SpineM")
    assert skel.bones == (("Snout", "EarL"), ("Snout", "EarR"), ("Snout", "SpineM"))
    assert skel.left_right == (("EarL", "EarR"),)
    savemat(path, {"joint_names": names, "joints_idx": np.array([[0, 2]])})
    with pytest.raises(InputError, match=r"mouse4_skeleton\.mat: joints_idx holds 0\.\.2"):
        read_skeleton(path)


def test_real_dannce_skeleton() -> None:
    path = require_shared("dannce_markerless_mouse/mouse22_skeleton.mat")
    skel, _ = read_skeleton(path)
    assert len(skel.keypoints) == 22 and len(skel.bones) == 24 and len(skel.left_right) == 8
