"""Body layouts: which keypoints play the head, ears, neck, centre, hips, tail base, ...

A ``BodyLayout`` is ``tools.features``' view of a skeleton's body roles
(``model.skeleton.ROLES``). Ready layouts (``LAYOUTS``) cover the named skeletons
``mouse12`` (the simulator's 12 marks) and ``calms21`` (also as ethome names them),
BehaviorDEPOT's DLC model (8 keypoints) and any set with a nose and a tail base;
``infer_layout`` picks the richest layout the keypoint names support: a ready one, or one
read from the names (``BodyLayout.from_keypoints``: roles by ``model.skeleton.match_roles``,
arena points left out, what the names do not give derived from the tracked points,
``tools.body``). ``describe_roles`` records which roles were matched, derived or absent and
which features that disables, for reports and ``ethoagent inspect``; ``layout_named``
rebuilds the layout a run recorded by name. The features themselves are
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
    "LAYOUT_ROLES",
    "NOSE_TAILBASE_LAYOUT",
    "SYNTHETIC_LAYOUT",
    "BodyLayout",
    "describe_roles",
    "infer_layout",
    "layout_named",
    "roles_layout_name",
]

LAYOUT_ROLES: tuple[str, ...] = (
    "head", "ear_left", "ear_right", "neck", "centre", "hips", "tail_base", "back", "paws",
    "tail",
)  # fmt: skip
"""The body roles (``model.skeleton.ROLES``) a layout carries, in report order."""


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
            midpoint of head and tail base where both are named, else the centroid of
            the tracked ``body`` keypoints.
        back: keypoints whose mean height (z) is the height proxy (3D only); empty = the
            centre keypoints.
        paws: paw keypoints (paw-to-head distance); empty = no such feature.
        tail: a chain of keypoints from the body towards the tail tip (tail bend); fewer
            than 3 = no such feature.
        body: the animal's keypoints (arena and object points left out), from which the
            centre, head and tail base are derived where not named; empty for ready layouts.
        ear_left: the left ear keypoint; empty = none.
        ear_right: the right ear keypoint; empty = none.
        neck: keypoints whose mean is the neck (between head and trunk); empty = none.
        hips: keypoints whose mean is the rear of the trunk (both hips, or a rump point);
            empty = none.
    """

    name: str
    head: tuple[str, ...] = ()
    tail_base: str = ""
    centre: tuple[str, ...] = ()
    back: tuple[str, ...] = ()
    paws: tuple[str, ...] = ()
    tail: tuple[str, ...] = ()
    body: tuple[str, ...] = ()
    ear_left: str = ""
    ear_right: str = ""
    neck: tuple[str, ...] = ()
    hips: tuple[str, ...] = ()

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
        """The layout a skeleton's body roles give (``LAYOUT_ROLES``).

        Args:
            skeleton: a skeleton naming at least ``head`` and ``tail_base``.
            name: the layout's name; default the skeleton's.

        Raises:
            InputError: the skeleton names no head or no tail base.
        """
        return _layout(name or skeleton.name, skeleton.roles)

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
        body = tuple(k for k in keypoints if k not in arena)
        return _layout(name, roles, body)

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

    def roles(self) -> dict[str, tuple[str, ...]]:
        """Role -> keypoint names for the roles the layout names, in ``LAYOUT_ROLES`` order."""
        said = {
            "head": self.head,
            "ear_left": (self.ear_left,) if self.ear_left else (),
            "ear_right": (self.ear_right,) if self.ear_right else (),
            "neck": self.neck,
            "centre": self.centre,
            "hips": self.hips,
            "tail_base": (self.tail_base,) if self.tail_base else (),
            "back": self.back,
            "paws": self.paws,
            "tail": self.tail,
        }
        return {r: said[r] for r in LAYOUT_ROLES if said[r]}

    def names(self) -> tuple[str, ...]:
        """Every keypoint name the layout uses, without repeats, in first-use order."""
        named = (*self.head, self.tail_base, *self.centre, *self.back, *self.paws, *self.tail)
        extra = (self.ear_left, self.ear_right, *self.neck, *self.hips)
        return tuple(dict.fromkeys(n for n in (*named, *extra, *self.body) if n))

    def missing(self, keypoints: Sequence[str]) -> tuple[str, ...]:
        """Names of the layout that are not among ``keypoints``."""
        have = {normalise_name(k) for k in keypoints}
        return tuple(n for n in self.names() if normalise_name(n) not in have)

    def features(self) -> tuple[str, ...]:
        """The optional features (``paw_head``, ``tail_bend``) this layout's roles allow."""
        return tuple(
            f for f, ok in (("paw_head", self.paws), ("tail_bend", len(self.tail) >= 3)) if ok
        )


def _layout(name: str, roles: dict[str, tuple[str, ...]], body: tuple[str, ...] = ()) -> BodyLayout:
    """A ``BodyLayout`` from role -> keypoint names (roles outside ``LAYOUT_ROLES`` ignored)."""

    def one(role: str) -> str:
        return roles.get(role, ("",))[0]

    return BodyLayout(
        name=name,
        head=tuple(roles.get("head", ())),
        tail_base=one("tail_base"),
        centre=tuple(roles.get("centre", ())),
        back=tuple(roles.get("back", ())),
        paws=tuple(roles.get("paws", ())),
        tail=tuple(roles.get("tail", ())),
        body=body,
        ear_left=one("ear_left"),
        ear_right=one("ear_right"),
        neck=tuple(roles.get("neck", ())),
        hips=tuple(roles.get("hips", ())),
    )


def describe_roles(layout: BodyLayout, keypoints: Sequence[str], dims: int = 2) -> BodyRoles:
    """The roles record of ``layout`` on data with ``keypoints`` (see ``BodyRoles``).

    Keypoints are named as the data spells them (a ready layout's ``left_ear`` is the
    file's ``leftear``).

    Args:
        layout: the body layout ``compute_features`` uses.
        keypoints: the data's keypoint names.
        dims: 2 (image) or 3 (world) coordinates.
    """
    spelt = {normalise_name(k): k for k in keypoints}
    matched = {
        role: tuple(spelt.get(normalise_name(k), k) for k in members)
        for role, members in layout.roles().items()
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
            if layout.body and not (layout.head and layout.tail_base)
            else "midpoint of head and tail base"
        )
    if dims == 3 and not layout.back:
        derived["back"] = "the centre keypoints' height"
    disabled = tuple(f for f in ("paw_head", "tail_bend") if f not in layout.features())
    absent = [r for r in ("paws", "tail") if not getattr(layout, r)]
    if dims == 3 and "back" not in matched and "back" not in derived:
        absent.append("back")
    arena = find_arena_points(keypoints)
    named = (n for members in layout.roles().values() for n in members)
    used = {normalise_name(n) for n in (*named, *arena)}
    return BodyRoles(
        layout=layout.name,
        matched=matched,
        derived=derived,
        absent=tuple(absent),
        disabled=disabled,
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
    ear_left="Left Ear",
    ear_right="Right Ear",
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


def _richness(layout: BodyLayout) -> tuple[int, int, int]:
    """How much a layout gives: optional features, named centre, keypoints in roles."""
    named = {normalise_name(n) for members in layout.roles().values() for n in members}
    return len(layout.features()), int(bool(layout.centre)), len(named)


def infer_layout(keypoint_names: Sequence[str]) -> BodyLayout:
    """The richest layout the keypoint names support: a ready one or one read from the names.

    Candidates are the ready layouts (``LAYOUTS``) whose every name is present and the
    layout read from the names (``BodyLayout.from_keypoints``). The one that allows the
    most optional features (``paw_head``, ``tail_bend``) wins, then one with a named body
    centre, then the one whose roles take the most keypoints; a ready layout wins a tie
    (its name is what earlier runs recorded). So a DLCAnalyzer mouse (nose, neck, ears,
    body centre, hips, tail chain) gets all of them, not only its nose and tail base.

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
    ready = max(fits, key=_richness)
    try:
        derived = BodyLayout.from_keypoints(names)
    except InputError:
        return ready
    return derived if _richness(derived) > _richness(ready) else ready


_ROLES_PREFIX = "roles:"


def roles_layout_name(roles: dict[str, tuple[str, ...]], body: Sequence[str] | None = None) -> str:
    """The name of a layout stated role by role (``--body``), from which it is rebuilt.

    Args:
        roles: layout role (``LAYOUT_ROLES``) -> keypoint names.
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
