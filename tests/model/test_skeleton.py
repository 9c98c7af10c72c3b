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
    find_left_right,
    match_roles,
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
