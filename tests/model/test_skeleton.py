"""``Skeleton``: validation on construction, named skeletons, pairs, regions and roles."""

from __future__ import annotations

from typing import Any

import pytest

from ethoagent.errors import InputError
from ethoagent.model.skeleton import (
    CALMS21,
    MOUSE12,
    SKELETONS,
    Skeleton,
    find_arena_points,
    find_left_right,
    match_roles,
    parse_keypoint_name,
    skeleton_named,
)

THREE = ("nose", "ear_left", "ear_right")


def test_indices_follow_the_keypoint_order() -> None:
    given: dict[str, Any] = {  # lists and single names are read as tuples
        "bones": [("nose", "ear_left"), ("nose", "ear_right")],
        "left_right": [["ear_left", "ear_right"]],
        "regions": {"head": ["nose"], "ears": ["ear_left", "ear_right"]},
        "roles": {"nose": "nose", "head": ["nose"]},
    }
    s = Skeleton(name="tiny", keypoints=THREE, **given)
    assert s.bone_index == ((0, 1), (0, 2))
    assert s.left_right_index == ((1, 2),)
    assert s.region_index == {"head": (0,), "ears": (1, 2)}
    assert s.region_of == (0, 1, 1)
    assert s.roles == {"nose": ("nose",), "head": ("nose",)}
    assert s.left_right == (("ear_left", "ear_right"),)
    assert s.role_index("head") == (0,) and s.has_roles("nose", "head")
    assert not s.has_roles("tail_base")
    assert repr(s) == (
        "Skeleton('tiny', keypoints=3, bones=2, left_right=1, regions=['head', 'ears'], "
        "roles=['nose', 'head'])"
    )
    assert Skeleton(name="bare", keypoints=THREE).region_of == ()


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"name": ""}, "needs a name"),
        ({"keypoints": ()}, "one or more keypoint names"),
        ({"keypoints": ("a", "b", "a")}, r"names keypoints \['a'\] more than once"),
        ({"bones": [("nose", "tail")]}, r"bone \(nose, tail\) names \['tail'\]"),
        ({"bones": [("nose", "nose")]}, "joins a keypoint to itself"),
        ({"bones": [("nose", "ear_left"), ("ear_left", "nose")]}, "more than once"),
        ({"bones": ["nose"]}, "must be pairs of keypoint names"),
        ({"bones": ["ab"]}, "must be pairs of keypoint names"),
        ({"left_right": "ear_left"}, "must be pairs of keypoint names"),
        ({"left_right": [("ear_left", "nose")], "bones": ()}, None),
        ({"left_right": [("ear_left", "ear_right"), ("ear_left", "nose")]}, "more than one"),
        ({"regions": {"head": ("nose",)}}, r"in no region \['ear_left', 'ear_right'\]"),
        ({"regions": {"a": THREE, "b": ("nose",)}}, r"in two regions \['nose'\]"),
        ({"regions": {"a": (*THREE, "x")}}, r"unknown \['x'\]"),
        ({"regions": {"a": THREE, "b": ()}}, "has 0 keypoints"),
        ({"regions": ["nose"]}, "must map a name to keypoint names"),
        ({"roles": {"snout": ("nose",)}}, "unknown body role 'snout'"),
        ({"roles": {"head": ("beak",)}}, "not keypoints of the skeleton"),
        ({"roles": {"nose": ("nose", "ear_left")}}, "must name one keypoint"),
    ],
)
def test_bad_skeletons_are_refused_with_the_fix(
    kwargs: dict[str, object], match: str | None
) -> None:
    args: dict[str, object] = {"name": "s", "keypoints": THREE, **kwargs}
    if match is None:
        Skeleton(**args)  # type: ignore[arg-type]  # a pair in either order is fine
        return
    with pytest.raises(InputError, match=match) as err:
        Skeleton(**args)  # type: ignore[arg-type]
    assert err.value.fix and "\n" not in str(err.value)


def test_a_region_holds_at_most_four_keypoints() -> None:
    five = tuple("abcde")
    with pytest.raises(InputError, match="has 5 keypoints; a region has 1 to 4"):
        Skeleton(name="s", keypoints=five, regions={"all": five})


def test_named_skeletons() -> None:
    assert skeleton_named("mouse12") is MOUSE12 and SKELETONS["calms21"] is CALMS21
    assert len(MOUSE12.keypoints) == 12 and list(MOUSE12.regions) == [
        "ears",
        "back",
        "paws",
        "tail",
    ]
    assert MOUSE12.left_right == (
        ("ear_left", "ear_right"),
        ("forepaw_left", "forepaw_right"),
        ("hindpaw_left", "hindpaw_right"),
    )
    # every named skeleton's pairs are what its names say, and its roles what they suggest
    for s in SKELETONS.values():
        assert set(s.left_right) == set(find_left_right(s.keypoints)), s.name
        assert match_roles(s.keypoints) == s.roles, s.name
    with pytest.raises(InputError, match=r"no named skeleton .rat.*calms21"):
        skeleton_named("rat")


def test_skeletons_compare_and_hash_by_value() -> None:
    copy = Skeleton(
        name=MOUSE12.name,
        keypoints=list(MOUSE12.keypoints),  # type: ignore[arg-type]
        bones=MOUSE12.bones,
        left_right=MOUSE12.left_right,
        regions=dict(MOUSE12.regions),
        roles=dict(MOUSE12.roles),
    )
    assert copy == MOUSE12 and hash(copy) == hash(MOUSE12)
    assert copy != CALMS21


def test_find_left_right_reads_the_usual_naming_schemes() -> None:
    names = [
        "EarL", "EarR", "Ear_L", "Ear_R", "Shoulder_left", "Shoulder_right",
        "LeftPaw", "RightPaw", "Tail", "Snout", "Knee_L",
    ]  # fmt: skip
    assert find_left_right(names) == (
        ("EarL", "EarR"),
        ("Ear_L", "Ear_R"),
        ("Shoulder_left", "Shoulder_right"),
        ("LeftPaw", "RightPaw"),
    )


def test_match_roles_reads_common_names() -> None:
    dlc = ("Snout", "Left Ear", "Right Ear", "Mid-Back", "Tail Base", "Tail_tip")
    roles = match_roles(dlc)
    assert roles["nose"] == roles["head"] == ("Snout",)
    assert roles["ear_left"] == ("Left Ear",) and roles["ear_right"] == ("Right Ear",)
    assert roles["centre"] == ("Mid-Back",) and roles["back"] == ("Mid-Back",)
    assert roles["tail_base"] == ("Tail Base",)
    assert roles["tail"] == ("Tail Base", "Tail_tip")
    assert "hindpaws" not in roles and "neck" not in roles
    # no nose: both ears are the head; the result is ready for Skeleton(roles=...)
    ears = match_roles(("EarL", "EarR", "SpineM", "HindpawL", "HindpawR"))
    assert ears["head"] == ("EarL", "EarR") and ears["hindpaws"] == ("HindpawL", "HindpawR")
    Skeleton(name="s", keypoints=("EarL", "EarR", "SpineM", "HindpawL", "HindpawR"), roles=ears)
    assert match_roles(("a", "b")) == {}


# --------------------------------------------------------------------------- naming families

FAMILIES: dict[str, tuple[tuple[str, ...], dict[str, tuple[str, ...]]]] = {
    "deeplabcut_openfield": (
        ("snout", "leftear", "rightear", "tailbase"),
        {"nose": ("snout",), "head": ("snout",), "ear_left": ("leftear",),
         "ear_right": ("rightear",), "tail_base": ("tailbase",)},
    ),
    "sleap_15_node": (
        ("Nose", "Ear_R", "Ear_L", "TTI", "TailTip", "Head", "Trunk", "Tail_0", "Tail_1",
         "Tail_2", "Shoulder_left", "Shoulder_right", "Haunch_left", "Haunch_right", "Neck"),
        {"nose": ("Nose",), "head": ("Nose",), "ear_left": ("Ear_L",), "ear_right": ("Ear_R",),
         "neck": ("Neck",), "centre": ("Trunk",), "hips": ("Haunch_left", "Haunch_right"),
         "tail_base": ("TTI",), "tail": ("TTI", "Tail_0", "Tail_1", "Tail_2", "TailTip")},
    ),
    "mars": (
        ("nose", "right_ear", "left_ear", "neck", "right_side", "left_side", "tail_base"),
        {"nose": ("nose",), "head": ("nose",), "ear_left": ("left_ear",),
         "ear_right": ("right_ear",), "neck": ("neck",), "centre": ("left_side", "right_side"),
         "tail_base": ("tail_base",)},
    ),
    "simba": (
        ("Nose_1", "Ear_left_1", "Ear_right_1", "Center_1", "Lat_left_1", "Lat_right_1",
         "Tail_base_1", "Tail_end_1"),
        {"nose": ("Nose_1",), "head": ("Nose_1",), "ear_left": ("Ear_left_1",),
         "ear_right": ("Ear_right_1",), "centre": ("Center_1",), "tail_base": ("Tail_base_1",),
         "tail": ("Tail_base_1", "Tail_end_1")},
    ),
    "behaviordepot": (
        ("Nose", "Left Ear", "Right Ear", "Tailbase", "Left Leg", "Right Leg", "Mid-Back",
         "Tail"),
        {"nose": ("Nose",), "head": ("Nose",), "ear_left": ("Left Ear",),
         "ear_right": ("Right Ear",), "centre": ("Mid-Back",), "tail_base": ("Tailbase",),
         "back": ("Mid-Back",), "paws": ("Left Leg", "Right Leg"), "tail": ("Tailbase", "Tail")},
    ),
    "dlcanalyzer_with_arena": (
        ("nose", "headcentre", "neck", "earr", "earl", "bodycentre", "bcl", "bcr", "hipl",
         "hipr", "tailbase", "tailcentre", "tailtip", "tl", "tr", "bl", "br"),
        {"nose": ("nose",), "head": ("nose",), "ear_left": ("earl",), "ear_right": ("earr",),
         "neck": ("neck",), "centre": ("bodycentre",), "hips": ("hipl", "hipr"),
         "tail_base": ("tailbase",), "tail": ("tailbase", "tailcentre", "tailtip")},
    ),
    "rat_with_paw_codes": (
        ("Snout", "l_ear", "r_ear", "SpineMid", "TailBase", "FL", "FR", "HL", "HR", "Feeder2"),
        {"nose": ("Snout",), "head": ("Snout",), "ear_left": ("l_ear",),
         "ear_right": ("r_ear",), "centre": ("SpineMid",), "tail_base": ("TailBase",),
         "back": ("SpineMid",), "paws": ("FL", "FR", "HL", "HR"), "hindpaws": ("HL", "HR")},
    ),
    "camelcase_paws": (
        ("LeftEar", "RightEar", "BackPawLeft", "BackPawRight", "LeftForePaw", "RightForePaw",
         "Spine1", "Spine2", "Spine3"),
        {"head": ("LeftEar", "RightEar"), "ear_left": ("LeftEar",), "ear_right": ("RightEar",),
         "centre": ("Spine2",), "back": ("Spine1", "Spine2", "Spine3"),
         "paws": ("LeftForePaw", "RightForePaw", "BackPawLeft", "BackPawRight"),
         "hindpaws": ("BackPawLeft", "BackPawRight")},
    ),
    "three_points": (
        ("head", "body", "tail"),
        {"head": ("head",), "centre": ("body",), "tail_base": ("tail",)},
    ),
    "deeplabcut_multi_animal_rodent": (
        ("snout", "leftear", "rightear", "shoulder", "spine1", "spine2", "spine3", "spine4",
         "tailbase", "tail1", "tail2", "tailend"),
        {"nose": ("snout",), "head": ("snout",), "ear_left": ("leftear",),
         "ear_right": ("rightear",), "centre": ("spine3",),
         "back": ("spine1", "spine2", "spine3", "spine4"), "tail_base": ("tailbase",),
         "tail": ("tailbase", "tail1", "tail2", "tailend")},
    ),
    "two_points": (("nose", "tail_end"), {"nose": ("nose",), "head": ("nose",)}),
}  # fmt: skip


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_match_roles_reads_each_naming_family(family: str) -> None:
    names, expected = FAMILIES[family]
    roles = match_roles(names)
    assert roles == expected
    Skeleton(name=family, keypoints=names, roles=roles)  # valid roles for a skeleton


def test_keypoint_names_parse_to_part_side_and_number() -> None:
    assert parse_keypoint_name("Ear_L") == ("ear", "left", None)
    assert parse_keypoint_name("l_ear") == ("ear", "left", None)
    assert parse_keypoint_name("LeftHindPaw") == ("hindpaw", "left", None)
    assert parse_keypoint_name("hipr") == ("hip", "right", None)
    assert parse_keypoint_name("Tail_2") == ("tail", None, 2)
    assert parse_keypoint_name("Implant") == (None, None, None)
    # a final upper-case L or R is a side only after a separator or CamelCase
    assert parse_keypoint_name("TAIL")[0] == "tail" and parse_keypoint_name("EarL")[1] == "left"


def test_arena_and_object_points_are_kept_out_of_the_body() -> None:
    names = ("nose", "Corner1", "corner_br", "TL", "object_b", "feeder-left", "lever", "tail")
    assert find_arena_points(names) == names[1:-1]
    assert match_roles(names) == {"nose": ("nose",), "head": ("nose",), "tail_base": ("tail",)}
    # DLCAnalyzer's elevated plus maze: arm ends and centre corners beside the mouse
    maze = ("tl", "lt", "rb", "ctl", "cbr", "nose", "hipl", "tailbase")
    assert find_arena_points(maze) == maze[:5]
