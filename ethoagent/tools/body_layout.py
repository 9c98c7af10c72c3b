"""Body layouts: which keypoints play the head, tail base, centre, back, paws and tail.

A ``BodyLayout`` is the pose features' view of a skeleton's body roles
(``BodyLayout.from_skeleton``). Ready layouts cover the named skeletons ``mouse12`` (the
simulator's 12 marks) and ``calms21`` (also as ethome names them), BehaviorDEPOT's DLC model
(8 keypoints) and any set with a nose and a tail base; ``infer_layout`` picks one by name,
or where none fits derives one from the names (``BodyLayout.from_keypoints``: roles read by
``model.skeleton.match_roles``, arena points left out, the head, tail base and centre the
names do not give derived from the tracked points, ``tools.body``). ``describe_roles``
records which roles were matched, derived or absent and which features that disables;
``layout_named`` rebuilds the layout a run recorded by name. The features themselves are
``tools.features``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, replace

from ethoagent.errors import InputError
from ethoagent.model.skeleton import (
    CALMS21,
    MOUSE12,
    Skeleton,
    find_arena_points,
    match_roles,
    normalise_name,
)
from ethoagent.tools.body import BodyRoles

__all__ = [
    "BEHAVIORDEPOT_LAYOUT",
    "CALMS21_LAYOUT",
    "ETHOME_LAYOUT",
    "LAYOUTS",
    "NOSE_TAILBASE_LAYOUT",
    "SYNTHETIC_LAYOUT",
    "BodyLayout",
    "describe_roles",
    "infer_layout",
    "layout_named",
    "roles_layout_name",
]


@dataclass(frozen=True)
class BodyLayout:
    """Which keypoints play which part of the body.

    Names match keypoint names case-insensitively, ignoring spaces, ``_`` and ``-``
    (``"left_ear"`` matches ``"Left Ear"`` and ``"leftear"``). A layout names a head and a
    tail base, or lists two or more ``body`` keypoints from which ``compute_features``
    derives the missing ones (``BodyLayout.from_keypoints``).

    Attributes:
        name: a short name of the layout (e.g. ``"calms21"``; ``"derived"`` for one read
            from the data's keypoint names).
        head: keypoints whose mean is the head point (the nose, or both ears where there
            is no nose); the "nose" of social features; empty = derived.
        tail_base: the tail-base keypoint; empty = derived.
        centre: keypoints whose mean is the body centre (speed, acceleration); empty = the
            centroid of the tracked ``body`` keypoints, or without them the midpoint of
            head and tail base.
        back: keypoints whose mean height (z) is the height proxy (3D only); empty = the
            centre keypoints.
        paws: paw keypoints (paw-to-head distance); empty = no such feature.
        tail: a chain of keypoints from the body towards the tail tip (tail bend); fewer
            than 3 = no such feature.
        body: the animal's keypoints (arena and object points left out), from which the
            centre, head and tail base are derived where not named; empty for ready layouts.
    """

    name: str
    head: tuple[str, ...] = ()
    tail_base: str = ""
    centre: tuple[str, ...] = ()
    back: tuple[str, ...] = ()
    paws: tuple[str, ...] = ()
    tail: tuple[str, ...] = ()
    body: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not (self.head and self.tail_base) and len(self.body) < 2:
            raise InputError(
                f"BodyLayout {self.name!r} needs a head keypoint and a tail base, or two or "
                f"more body keypoints to derive them from; found head={self.head!r}, "
                f"tail_base={self.tail_base!r}, body={self.body!r}.",
                fix="name the nose (or both ears) as head and the tail-base keypoint, or use "
                "BodyLayout.from_keypoints(names).",
            )

    @classmethod
    def from_skeleton(cls, skeleton: Skeleton, name: str | None = None) -> BodyLayout:
        """The layout a skeleton's body roles give.

        Roles: ``head``, ``tail_base``, ``centre``, ``back``, ``paws``, ``tail``; roles the
        skeleton does not name stay empty.

        Args:
            skeleton: a skeleton naming at least ``head`` and ``tail_base``.
            name: the layout's name; default the skeleton's.

        Raises:
            InputError: the skeleton names no head or no tail base.
        """
        roles = skeleton.roles
        return cls(
            name=name or skeleton.name,
            head=roles.get("head", ()),
            tail_base=roles.get("tail_base", ("",))[0],
            centre=roles.get("centre", ()),
            back=roles.get("back", ()),
            paws=roles.get("paws", ()),
            tail=roles.get("tail", ()),
        )

    @classmethod
    def from_roles(
        cls, roles: dict[str, tuple[str, ...]], keypoints: Sequence[str], name: str = "derived"
    ) -> BodyLayout:
        """A layout from body roles (``model.skeleton.ROLES``) and the data's keypoints.

        Every keypoint that is not an arena or object point (``find_arena_points``) is a
        body keypoint, so roles the names do not give are derived from the tracked points.

        Args:
            roles: role -> keypoint names, e.g. ``match_roles(keypoints)``.
            keypoints: the data's keypoint names, e.g. ``PoseData.keypoints``.
            name: the layout's name.

        Raises:
            InputError: no head and tail base, and fewer than two body keypoints.
        """
        arena = set(find_arena_points(keypoints))
        return cls(
            name=name,
            head=roles.get("head", ()),
            tail_base=roles.get("tail_base", ("",))[0],
            centre=roles.get("centre", ()),
            back=roles.get("back", ()),
            paws=roles.get("paws", ()),
            tail=roles.get("tail", ()),
            body=tuple(k for k in keypoints if k not in arena),
        )

    @classmethod
    def from_keypoints(cls, keypoints: Sequence[str], name: str = "derived") -> BodyLayout:
        """The layout the keypoint names give (``match_roles``), the rest derived.

        Args:
            keypoints: the data's keypoint names, e.g. ``PoseData.keypoints``.
            name: the layout's name.

        Raises:
            InputError: fewer than two body keypoints (one point has no body length).
        """
        names = [str(k) for k in keypoints]
        return cls.from_roles(match_roles(names), names, name=name)

    def names(self) -> tuple[str, ...]:
        """Every keypoint name the layout uses, without repeats, in first-use order."""
        seq = (*self.head, self.tail_base, *self.centre, *self.back, *self.paws, *self.tail)
        return tuple(dict.fromkeys(n for n in (*seq, *self.body) if n))

    def missing(self, keypoints: Sequence[str]) -> tuple[str, ...]:
        """Names of the layout that are not among ``keypoints``."""
        have = {normalise_name(k) for k in keypoints}
        return tuple(n for n in self.names() if normalise_name(n) not in have)


def describe_roles(layout: BodyLayout, keypoints: Sequence[str], dims: int = 2) -> BodyRoles:
    """The roles record of ``layout`` on data with ``keypoints`` (see ``BodyRoles``).

    Args:
        layout: the body layout ``compute_features`` uses.
        keypoints: the data's keypoint names.
        dims: 2 (image) or 3 (world) coordinates.
    """
    matched = {
        role: members
        for role, members in (
            ("head", layout.head),
            ("tail_base", (layout.tail_base,) if layout.tail_base else ()),
            ("centre", layout.centre),
            ("back", layout.back),
            ("paws", layout.paws),
            ("tail", layout.tail),
        )
        if members
    }
    derived: dict[str, str] = {}
    if not layout.head and not layout.tail_base:
        ends = "the ends of the body points' principal axis, front = the direction of motion"
        derived["head"] = f"front end: {ends}"
        derived["tail_base"] = f"rear end: {ends}"
    elif not layout.head:
        derived["head"] = "front end: the centroid of the body points before the tail base"
    elif not layout.tail_base:
        derived["tail_base"] = "rear end: the centroid of the body points behind the head"
    if not layout.centre:
        derived["centre"] = (
            f"centroid of the tracked body points ({', '.join(layout.body)})"
            if layout.body
            else "midpoint of head and tail base"
        )
    if dims == 3 and not layout.back:
        derived["back"] = "the centre keypoints' height"
    disabled = [
        f for f, ok in (("paw_head", layout.paws), ("tail_bend", len(layout.tail) >= 3)) if not ok
    ]
    absent = [r for r in ("paws", "tail") if not getattr(layout, r)]
    if dims == 3 and "back" not in matched and "back" not in derived:
        absent.append("back")
    arena = find_arena_points(keypoints)
    roles = (*layout.head, layout.tail_base, *layout.centre, *layout.back, *layout.paws)
    used = {normalise_name(n) for n in (*roles, *layout.tail, *arena)}
    return BodyRoles(
        layout=layout.name,
        matched=matched,
        derived=derived,
        absent=tuple(absent),
        disabled=tuple(disabled),
        arena=arena,
        unused=tuple(k for k in keypoints if normalise_name(k) not in used),
    )


SYNTHETIC_LAYOUT = BodyLayout.from_skeleton(MOUSE12, name="synthetic12")
"""The named skeleton ``mouse12``, the simulator's 12 marks (no nose: the ear midpoint is
the head); its name is the one ``--layout`` has always taken."""

CALMS21_LAYOUT = BodyLayout.from_skeleton(CALMS21)
"""CalMS21's 7 keypoints: nose, left/right ear, neck, left/right hip, tail base."""

ETHOME_LAYOUT = replace(CALMS21_LAYOUT, name="ethome", tail_base="tail")
"""ethome's DLC names of the CalMS21 keypoints (``leftear``, ..., ``tail`` = tail base)."""

BEHAVIORDEPOT_LAYOUT = BodyLayout(
    name="behaviordepot",
    head=("Nose",),
    tail_base="Tailbase",
    centre=("Mid-Back",),
    paws=("Left Leg", "Right Leg"),
    tail=("Mid-Back", "Tailbase", "Tail"),
)
"""BehaviorDEPOT's 8-point DLC model; the tail bend is the back–tail-base–tail angle."""

NOSE_TAILBASE_LAYOUT = BodyLayout(name="nose_tailbase", head=("nose",), tail_base="tailbase")
"""Any keypoint set with a nose and a tail base (the centre is their midpoint)."""

LAYOUTS: dict[str, BodyLayout] = {
    lay.name: lay
    for lay in (
        SYNTHETIC_LAYOUT,
        CALMS21_LAYOUT,
        ETHOME_LAYOUT,
        BEHAVIORDEPOT_LAYOUT,
        NOSE_TAILBASE_LAYOUT,
    )
}
"""Ready layouts by name."""


def infer_layout(keypoint_names: Sequence[str]) -> BodyLayout:
    """The layout for a set of keypoint names: a ready one, else one derived from the names.

    Of the ready layouts (``LAYOUTS``) whose every name is present, the one that uses the
    most keypoints wins; where none fits, ``BodyLayout.from_keypoints`` reads the roles from
    the names and leaves the rest to be derived from the tracked points.

    Args:
        keypoint_names: the keypoint names of the data, e.g. ``PoseData.keypoints``.

    Returns:
        The best-fitting layout.

    Raises:
        InputError: if no ready layout fits and fewer than two keypoints are on the body.
    """
    names = [str(n) for n in keypoint_names]
    fits = [lay for lay in LAYOUTS.values() if not lay.missing(names)]
    if not fits:
        return BodyLayout.from_keypoints(names)
    return max(fits, key=lambda lay: len(lay.names()))


_ROLES_PREFIX = "roles:"


def roles_layout_name(roles: dict[str, tuple[str, ...]], body: Sequence[str] | None = None) -> str:
    """The name of a layout stated role by role (``--body``), from which it is rebuilt.

    Args:
        roles: layout role (``head``, ``tail_base``, ``centre``, ``back``, ``paws``,
            ``tail``) -> keypoint names.
        body: the animal's keypoints, or ``None`` for every non-arena keypoint.

    Returns:
        ``"roles:"`` and the roles as compact JSON; ``layout_named`` reads it back.
    """
    said: dict[str, object] = {"roles": {r: list(v) for r, v in roles.items()}}
    if body is not None:
        said["body"] = list(body)
    return _ROLES_PREFIX + json.dumps(said, separators=(",", ":"))


def layout_named(name: str, keypoints: Sequence[str]) -> BodyLayout:
    """The layout a run recorded by name: a ready one, or ``"derived"`` read again.

    Args:
        name: a name of ``LAYOUTS``, ``"derived"`` (``BodyLayout.from_keypoints``), or a
            ``roles_layout_name`` (a layout stated role by role).
        keypoints: the data's keypoint names.

    Raises:
        InputError: an unknown name, or (derived) fewer than two body keypoints.
    """
    if name in LAYOUTS:
        return LAYOUTS[name]
    if name == "derived":
        return BodyLayout.from_keypoints(keypoints)
    if name.startswith(_ROLES_PREFIX):
        said = json.loads(name.removeprefix(_ROLES_PREFIX))
        roles = {str(r): tuple(v) for r, v in said["roles"].items()}
        body = said.get("body") or list(keypoints)
        return BodyLayout.from_roles(roles, body, name=name)
    raise InputError(
        f"no body layout named {name!r}; the ready layouts are {sorted(LAYOUTS)}, or 'derived'.",
        fix="pick one of those names, or leave the layout out to infer one.",
    )
