"""The body layout each naming family of keypoints gets, and the features that turns on.

One row per family the labs of our field use (DeepLabCut, SLEAP, MARS/CalMS21, SimBA,
BehaviorDEPOT, DLCAnalyzer, rat skeletons, two- and three-point sets): the layout
``infer_layout`` picks, the roles the report lists as matched (``describe_roles``, in the
file's own spelling), the features left off for lack of a role, the arena points and the
keypoints no role takes. A richer layout must win over the bare nose-and-tail-base one.
"""

from __future__ import annotations

import numpy as np
import pytest
from numpy.typing import NDArray

from ethoagent.graphs.kit.report_md import roles_md
from ethoagent.io.keypoints import read_keypoints
from ethoagent.model.skeleton import group_by_animal_number
from ethoagent.tools.features import compute_features, describe_roles, infer_layout
from tests.data_paths import require_shared

DLCANALYZER_MOUSE = ["nose", "headcentre", "neck", "earl", "earr", "bodycentre", "bcl", "bcr",
                     "hipl", "hipr", "tailbase", "tailcentre", "tailtip"]  # fmt: skip
EPM_MAZE = ["tl", "tr", "bl", "br", "lt", "lb", "rt", "rb", "ctl", "ctr", "cbl", "cbr"]
SIMBA8 = ("Ear_left", "Ear_right", "Nose", "Center", "Lat_left", "Lat_right", "Tail_base",
          "Tail_end")  # fmt: skip
DLCANALYZER_ROLES = {
    "head": ("nose",), "ear_left": ("earl",), "ear_right": ("earr",), "neck": ("neck",),
    "centre": ("bodycentre",), "hips": ("hipl", "hipr"), "tail_base": ("tailbase",),
    "tail": ("tailbase", "tailcentre", "tailtip"),
}  # fmt: skip

# family: (names, layout, matched roles, features off, arena points, keypoints no role takes)
Row = tuple[
    tuple[str, ...],
    str,
    dict[str, tuple[str, ...]],
    tuple[str, ...],
    tuple[str, ...],
    tuple[str, ...],
]
FAMILIES: dict[str, Row] = {
    "deeplabcut_openfield": (
        ("snout", "leftear", "rightear", "tailbase"), "derived",
        {"head": ("snout",), "ear_left": ("leftear",), "ear_right": ("rightear",),
         "tail_base": ("tailbase",)},
        ("paw_head", "tail_bend"), (), (),
    ),
    "sleap_15_node_mouse": (
        ("Nose", "Ear_R", "Ear_L", "TTI", "TailTip", "Head", "Trunk", "Tail_0", "Tail_1",
         "Tail_2", "Shoulder_left", "Shoulder_right", "Haunch_left", "Haunch_right", "Neck"),
        "derived",
        {"head": ("Nose",), "ear_left": ("Ear_L",), "ear_right": ("Ear_R",), "neck": ("Neck",),
         "centre": ("Trunk",), "hips": ("Haunch_left", "Haunch_right"), "tail_base": ("TTI",),
         "tail": ("TTI", "Tail_0", "Tail_1", "Tail_2", "TailTip")},
        ("paw_head",), (), ("Head", "Shoulder_left", "Shoulder_right"),
    ),
    "calms21": (
        ("nose", "left_ear", "right_ear", "neck", "left_hip", "right_hip", "tail_base"),
        "calms21",
        {"head": ("nose",), "ear_left": ("left_ear",), "ear_right": ("right_ear",),
         "neck": ("neck",), "centre": ("neck", "left_hip", "right_hip"),
         "hips": ("left_hip", "right_hip"), "tail_base": ("tail_base",)},
        ("paw_head", "tail_bend"), (), (),
    ),
    "calms21_as_ethome_names_it": (
        ("nose", "leftear", "rightear", "neck", "lefthip", "righthip", "tail"), "ethome",
        {"head": ("nose",), "ear_left": ("leftear",), "ear_right": ("rightear",),
         "neck": ("neck",), "centre": ("neck", "lefthip", "righthip"),
         "hips": ("lefthip", "righthip"), "tail_base": ("tail",)},
        ("paw_head", "tail_bend"), (), (),
    ),
    "mars_top_view": (
        ("nose", "right_ear", "left_ear", "neck", "right_side", "left_side", "tail_base"),
        "derived",
        {"head": ("nose",), "ear_left": ("left_ear",), "ear_right": ("right_ear",),
         "neck": ("neck",), "centre": ("left_side", "right_side"), "tail_base": ("tail_base",)},
        ("paw_head", "tail_bend"), (), (),
    ),
    "simba_8_point": (
        tuple(f"{n}_1" for n in SIMBA8), "derived",
        {"head": ("Nose_1",), "ear_left": ("Ear_left_1",), "ear_right": ("Ear_right_1",),
         "centre": ("Center_1",), "tail_base": ("Tail_base_1",),
         "tail": ("Tail_base_1", "Tail_end_1")},
        ("paw_head", "tail_bend"), (), ("Lat_left_1", "Lat_right_1"),
    ),
    "simba_16_point_two_mice": (
        tuple(f"{n}_{i}" for i in (1, 2) for n in SIMBA8), "derived",
        {"head": ("Nose_1",), "ear_left": ("Ear_left_1",), "ear_right": ("Ear_right_1",),
         "centre": ("Center_1",), "tail_base": ("Tail_base_1",),
         "tail": ("Tail_base_1", "Tail_end_1")},
        ("paw_head", "tail_bend"), (),
        ("Lat_left_1", "Lat_right_1", *(f"{n}_2" for n in SIMBA8)),
    ),
    "behaviordepot_8_point": (
        ("Nose", "Left Ear", "Right Ear", "Tailbase", "Left Leg", "Right Leg", "Mid-Back",
         "Tail"),
        "behaviordepot",
        {"head": ("Nose",), "ear_left": ("Left Ear",), "ear_right": ("Right Ear",),
         "centre": ("Mid-Back",), "tail_base": ("Tailbase",), "paws": ("Left Leg", "Right Leg"),
         "tail": ("Mid-Back", "Tailbase", "Tail")},
        (), (), (),
    ),
    "behaviordepot_implant": (
        ("Nose", "LeftEar", "RightEar", "Tailbase", "Implant"), "derived",
        {"head": ("Nose",), "ear_left": ("LeftEar",), "ear_right": ("RightEar",),
         "tail_base": ("Tailbase",)},
        ("paw_head", "tail_bend"), (), ("Implant",),
    ),
    "dlcanalyzer_plus_maze": (
        (*EPM_MAZE, *DLCANALYZER_MOUSE), "derived", DLCANALYZER_ROLES,
        ("paw_head",), tuple(EPM_MAZE), ("headcentre", "bcl", "bcr"),
    ),
    "dlcanalyzer_open_field_arena_centre": (
        ("tl", "tr", "bl", "br", "centre", *DLCANALYZER_MOUSE), "derived", DLCANALYZER_ROLES,
        ("paw_head",), ("tl", "tr", "bl", "br", "centre"), ("headcentre", "bcl", "bcr"),
    ),
    "rat_dannce_23": (
        ("Snout", "EarL", "EarR", "SpineF", "SpineM", "SpineL", "TailBase", "ShoulderL",
         "ElbowL", "WristL", "HandL", "ShoulderR", "ElbowR", "WristR", "HandR", "HipL", "KneeL",
         "AnkleL", "FootL", "HipR", "KneeR", "AnkleR", "FootR"),
        "derived",
        {"head": ("Snout",), "ear_left": ("EarL",), "ear_right": ("EarR",), "neck": ("SpineF",),
         "centre": ("SpineM",), "hips": ("HipL", "HipR"), "tail_base": ("TailBase",),
         "back": ("SpineF", "SpineM", "SpineL"), "paws": ("HandL", "HandR", "FootL", "FootR")},
        ("tail_bend",), (),
        ("ShoulderL", "ElbowL", "WristL", "ShoulderR", "ElbowR", "WristR", "KneeL", "AnkleL",
         "KneeR", "AnkleR"),
    ),
    "rat7m": (
        ("HeadF", "HeadB", "HeadL", "SpineF", "SpineM", "SpineL", "Offset1", "Offset2", "HipL",
         "HipR", "ElbowL", "ArmL", "ShoulderL", "ShoulderR", "ElbowR", "ArmR", "KneeR", "KneeL",
         "ShinL", "ShinR"),
        "derived",
        {"head": ("HeadF",), "neck": ("SpineF",), "centre": ("SpineM",), "hips": ("HipL", "HipR"),
         "back": ("SpineF", "SpineM", "SpineL")},
        ("paw_head", "tail_bend"), (),
        ("HeadB", "HeadL", "Offset1", "Offset2", "ElbowL", "ArmL", "ShoulderL", "ShoulderR",
         "ElbowR", "ArmR", "KneeR", "KneeL", "ShinL", "ShinR"),
    ),
    "two_points_nose_tailbase": (
        ("nose", "tailbase"), "nose_tailbase", {"head": ("nose",), "tail_base": ("tailbase",)},
        ("paw_head", "tail_bend"), (), (),
    ),
    "two_points_head_tail": (
        ("Head", "Tail"), "derived", {"head": ("Head",), "tail_base": ("Tail",)},
        ("paw_head", "tail_bend"), (), (),
    ),
    "three_points": (
        ("snout", "centroid", "tailbase"), "derived",
        {"head": ("snout",), "centre": ("centroid",), "tail_base": ("tailbase",)},
        ("paw_head", "tail_bend"), (), (),
    ),
}  # fmt: skip


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_each_naming_family_gets_the_richest_layout(family: str) -> None:
    names, layout_name, matched, off, arena, unused = FAMILIES[family]
    layout = infer_layout(names)
    roles = describe_roles(layout, names)
    assert layout.name == layout_name
    assert roles.matched == matched
    assert roles.disabled == off
    assert roles.arena == arena
    assert roles.unused == unused
    assert "centre" in roles.matched or roles.derived["centre"] == "midpoint of head and tail base"


def test_simba_16_point_names_number_two_animals() -> None:
    names = FAMILIES["simba_16_point_two_mice"][0]
    animals = group_by_animal_number(names)
    assert list(animals) == ["1", "2"] and animals["2"] == tuple(f"{n}_2" for n in SIMBA8)
    # one animal's numbered chain (a SLEAP tail) is not two animals
    assert group_by_animal_number(("Tail_0", "Tail_1", "Tail_2")) == {}
    assert group_by_animal_number(FAMILIES["simba_8_point"][0]) == {}


def _walking_mouse(names: list[str], frames: int = 40) -> NDArray[np.float64]:
    """A straight mouse along +x at 2 px/frame, tail curled, arena points still."""
    pts = np.zeros((frames, 1, len(names), 2))
    spots = {
        "nose": (60.0, 0.0), "neck": (45.0, 0.0), "earl": (50.0, 5.0), "earr": (50.0, -5.0),
        "headcentre": (52.0, 0.0), "bodycentre": (30.0, 0.0), "bcl": (30.0, 8.0),
        "bcr": (30.0, -8.0), "hipl": (15.0, 6.0), "hipr": (15.0, -6.0), "tailbase": (0.0, 0.0),
        "tailcentre": (-20.0, 10.0), "tailtip": (-30.0, 30.0),
    }  # fmt: skip
    for i, n in enumerate(names):
        x, y = spots.get(n, (500.0 + 10 * i, 400.0))
        pts[:, 0, i, 0] = x + (2.0 * np.arange(frames) if n in spots else 0.0)
        pts[:, 0, i, 1] = y
    return pts


def test_the_plus_maze_mouse_gets_its_body_centre_and_tail_bend() -> None:
    names = [*EPM_MAZE, *DLCANALYZER_MOUSE]
    feats = compute_features(_walking_mouse(names), fps=25.0, keypoints=names)
    assert "tail_bend" in feats.names  # off with the bare nose-tail-base layout
    # tail base -> tail centre (-20, 10) -> tail tip (-10, 20 further): cos = 400 / 500
    np.testing.assert_allclose(feats.column("tail_bend"), np.arccos(0.8), rtol=1e-9)
    # the centre is the tracked body centre: 2 px/frame at 25 Hz over a 60 px body
    np.testing.assert_allclose(feats.column("speed"), 2.0 * 25.0 / 60.0, rtol=1e-9)
    assert feats.roles.matched["hips"] == ("hipl", "hipr")


def test_the_real_plus_maze_file_lists_its_roles_as_matched() -> None:
    folder = require_shared("sturman2020_dlcanalyzer/data/EPM/Output_DLC")
    data = read_keypoints(next(folder.glob("EPM_15*.csv")), fps=25.0)
    feats = compute_features(data.points, fps=25.0, keypoints=data.keypoints)
    assert feats.roles.matched == DLCANALYZER_ROLES
    assert feats.roles.arena == tuple(EPM_MAZE)
    assert "tail_bend" in feats.names and feats.valid.mean() > 0.9


def test_the_report_lists_ears_neck_and_hips_as_matched() -> None:
    names = [*EPM_MAZE, *DLCANALYZER_MOUSE]
    text = "\n".join(roles_md(describe_roles(infer_layout(names), names).model_dump(), "px"))
    for role, kps in DLCANALYZER_ROLES.items():
        assert f"| {role} | matched | {', '.join(kps)} |" in text
    assert "| centre | derived" not in text
    assert "Features not computed for lack of a role: `paw_head`." in text
    assert "Keypoints no role takes: headcentre, bcl, bcr." in text
