"""``Skeleton``: an animal's keypoints, bones, left/right pairs, regions and body roles.

Pure data, validated on construction (one-line ``InputError`` naming the fix), no I/O.
Every relation is stored by keypoint name, so a skeleton reads the same in a TOML file, in
``run.json`` and in a prompt; the index forms that the array code needs (``bone_index``,
``left_right_index``, ``region_index``, ``region_of``, ``role_index``) are derived.

- bones: keypoint pairs whose 3D length the checks compare with the seed frames;
- left/right pairs: ``(left, right)`` keypoints a labeller or a model may confuse;
- regions: named groups of 1 to ``MAX_REGION_KEYPOINTS`` keypoints that the pose graph
  boxes and assigns together; either none (a skeleton only triangulated or featurised) or
  every keypoint in exactly one region;
- body roles (``ROLES``): which keypoints play the nose, head, centre, tail base, ... of
  the body; ``match_roles`` reads them from common names.

Named skeletons (``SKELETONS``, ``skeleton_named``) include the simulator's 12-mark mouse
(``MOUSE12``), one layout among others.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property

from ethoagent.errors import InputError

__all__ = [
    "CALMS21",
    "MAX_REGION_KEYPOINTS",
    "MOUSE12",
    "ROLES",
    "SKELETONS",
    "Skeleton",
    "find_left_right",
    "match_roles",
    "skeleton_named",
]

ROLES: dict[str, str] = {
    "nose": "the snout tip (one keypoint)",
    "head": "keypoints whose mean is the head point: the nose, or both ears without a nose",
    "ear_left": "the left ear (one keypoint)",
    "ear_right": "the right ear (one keypoint)",
    "neck": "keypoints between the head and the back (neck, withers)",
    "centre": "keypoints whose mean is the body centre",
    "hips": "keypoints whose mean is the rear of the trunk (pelvis)",
    "tail_base": "the base of the tail (one keypoint)",
    "back": "dorsal keypoints whose mean height is the body's height",
    "paws": "every paw keypoint",
    "hindpaws": "the hind paws (their midpoint lies below the body centre)",
    "tail": "a chain of keypoints from the body towards the tail tip",
}
"""Body roles a skeleton may name, and what each means."""

_SINGLE_ROLES = frozenset({"nose", "ear_left", "ear_right", "tail_base"})

MAX_REGION_KEYPOINTS = 4
"""Most keypoints in one region (the assign prompt shows one region's crop at a time)."""


def _pairs(value: object, what: str) -> tuple[tuple[str, str], ...]:
    items = list(value) if isinstance(value, Iterable) and not isinstance(value, str) else None
    if items is None or not all(
        isinstance(p, Sequence) and not isinstance(p, str) and len(p) == 2 for p in items
    ):
        raise InputError(
            f"skeleton {what} must be pairs of keypoint names; found {value!r}.",
            fix=f"pass {what} as [(name_a, name_b), ...].",
        )
    return tuple((str(a), str(b)) for a, b in items)


def _groups(value: object, what: str) -> dict[str, tuple[str, ...]]:
    if not isinstance(value, Mapping):
        raise InputError(
            f"skeleton {what} must map a name to keypoint names; found {value!r}.",
            fix=f"pass {what} as {{name: (keypoint, ...)}}.",
        )
    return {
        str(k): (v,) if isinstance(v, str) else tuple(str(x) for x in v) for k, v in value.items()
    }


@dataclass(frozen=True, repr=False)
class Skeleton:
    """What ethoagent knows of an animal's body, by keypoint name.

    Attributes:
        name: a short name, e.g. ``"mouse12"``.
        keypoints: keypoint names, in the order of the keypoints axis of the data.
        bones: ``(a, b)`` keypoint pairs whose length is checked; no pair twice.
        left_right: ``(left, right)`` keypoint pairs; each keypoint in at most one pair.
        regions: region name -> 1 to ``MAX_REGION_KEYPOINTS`` keypoints; either empty or
            every keypoint in exactly one region.
        roles: role of ``ROLES`` -> keypoints; ``nose``, ``ear_left``, ``ear_right`` and
            ``tail_base`` name one keypoint, the others one or more.
    """

    name: str
    keypoints: tuple[str, ...]
    bones: tuple[tuple[str, str], ...] = ()
    left_right: tuple[tuple[str, str], ...] = ()
    regions: dict[str, tuple[str, ...]] = field(default_factory=dict)
    roles: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise InputError(
                f"a skeleton needs a name; found {self.name!r}.",
                fix="pass name='my_mouse' (any short text).",
            )
        what = f"skeleton {self.name!r}"
        kps = (self.keypoints,) if isinstance(self.keypoints, str) else tuple(self.keypoints)
        if not kps or not all(isinstance(k, str) and k for k in kps):
            raise InputError(
                f"{what} needs one or more keypoint names; found {self.keypoints!r}.",
                fix="pass keypoints=('nose', 'tail_base', ...).",
            )
        dupes = sorted({k for k in kps if kps.count(k) > 1})
        if dupes:
            raise InputError(
                f"{what} names keypoints {dupes} more than once.",
                fix="give every keypoint a unique name.",
            )
        known = set(kps)
        bones = _pairs(self.bones, "bones")
        left_right = _pairs(self.left_right, "left_right")
        regions = _groups(self.regions, "regions")
        roles = _groups(self.roles, "roles")
        for label, pairs in (("bone", bones), ("left/right pair", left_right)):
            for a, b in pairs:
                unknown = [k for k in (a, b) if k not in known]
                if unknown:
                    raise InputError(
                        f"{what}: {label} ({a}, {b}) names {unknown}, not among its "
                        f"keypoints {list(kps)}.",
                        fix=f"name only keypoints of the skeleton in each {label}.",
                    )
                if a == b:
                    raise InputError(
                        f"{what}: {label} ({a}, {b}) joins a keypoint to itself.",
                        fix=f"join two different keypoints in each {label}.",
                    )
        seen_bones = [frozenset(b) for b in bones]
        twice = sorted({tuple(sorted(b)) for b in seen_bones if seen_bones.count(b) > 1})
        if twice:
            raise InputError(
                f"{what} lists bones {twice} more than once.",
                fix="list every bone once (either direction).",
            )
        paired = [k for pair in left_right for k in pair]
        again = sorted({k for k in paired if paired.count(k) > 1})
        if again:
            raise InputError(
                f"{what}: keypoints {again} are in more than one left/right pair.",
                fix="put each keypoint in at most one (left, right) pair.",
            )
        if regions:
            self._check_regions(what, kps, regions)
        for role, members in roles.items():
            if role not in ROLES:
                raise InputError(
                    f"{what}: unknown body role {role!r}; the roles are {list(ROLES)}.",
                    fix="name roles from ethoagent.model.skeleton.ROLES.",
                )
            unknown = [k for k in members if k not in known]
            if not members or unknown:
                raise InputError(
                    f"{what}: role {role!r} names {list(members)}, which are not keypoints "
                    f"of the skeleton {list(kps)}.",
                    fix=f"name one or more of the skeleton's keypoints as {role!r}.",
                )
            if role in _SINGLE_ROLES and len(members) != 1:
                raise InputError(
                    f"{what}: role {role!r} must name one keypoint; found {list(members)}.",
                    fix=f"name the single keypoint that is the {role}.",
                )
        object.__setattr__(self, "keypoints", kps)
        object.__setattr__(self, "bones", bones)
        object.__setattr__(self, "left_right", left_right)
        object.__setattr__(self, "regions", regions)
        object.__setattr__(self, "roles", roles)

    @staticmethod
    def _check_regions(
        what: str, kps: tuple[str, ...], regions: dict[str, tuple[str, ...]]
    ) -> None:
        for region, members in regions.items():
            if not 1 <= len(members) <= MAX_REGION_KEYPOINTS:
                raise InputError(
                    f"{what}: region {region!r} has {len(members)} keypoints; a region has "
                    f"1 to {MAX_REGION_KEYPOINTS}.",
                    fix="split large regions (e.g. fore and hind paws) and drop empty ones.",
                )
        listed = [k for members in regions.values() for k in members]
        unknown = sorted(set(listed) - set(kps))
        twice = sorted({k for k in listed if listed.count(k) > 1})
        left_out = [k for k in kps if k not in listed]
        if unknown or twice or left_out:
            found = "; ".join(
                f"{label} {names}"
                for label, names in (
                    ("unknown", unknown),
                    ("in two regions", twice),
                    ("in no region", left_out),
                )
                if names
            )
            raise InputError(
                f"{what}: every keypoint must be in exactly one region; found {found}.",
                fix="list each keypoint in one region, or pass no regions at all.",
            )

    def __hash__(self) -> int:
        return hash(
            (
                self.name,
                self.keypoints,
                self.bones,
                self.left_right,
                tuple(self.regions.items()),
                tuple(self.roles.items()),
            )
        )

    def __repr__(self) -> str:
        return (
            f"Skeleton({self.name!r}, keypoints={len(self.keypoints)}, bones={len(self.bones)}, "
            f"left_right={len(self.left_right)}, regions={list(self.regions)}, "
            f"roles={list(self.roles)})"
        )

    def index(self, keypoint: str) -> int:
        """Position of ``keypoint`` on the keypoints axis.

        Raises:
            InputError: if the skeleton has no such keypoint.
        """
        try:
            return self.keypoints.index(keypoint)
        except ValueError:
            raise InputError(
                f"skeleton {self.name!r} has no keypoint {keypoint!r}; it has "
                f"{list(self.keypoints)}.",
                fix="use one of the skeleton's keypoint names.",
            ) from None

    @cached_property
    def bone_index(self) -> tuple[tuple[int, int], ...]:
        """``bones`` as ``(i, j)`` indices into ``keypoints``."""
        return tuple((self.index(a), self.index(b)) for a, b in self.bones)

    @cached_property
    def left_right_index(self) -> tuple[tuple[int, int], ...]:
        """``left_right`` as ``(left, right)`` indices into ``keypoints``."""
        return tuple((self.index(a), self.index(b)) for a, b in self.left_right)

    @cached_property
    def region_index(self) -> dict[str, tuple[int, ...]]:
        """Region name -> indices into ``keypoints``, in the region's order."""
        return {r: tuple(self.index(k) for k in kps) for r, kps in self.regions.items()}

    @cached_property
    def region_of(self) -> tuple[int, ...]:
        """Per keypoint, the number of its region in ``regions`` (empty without regions)."""
        if not self.regions:
            return ()
        number = {k: r for r, kps in enumerate(self.regions.values()) for k in kps}
        return tuple(number[k] for k in self.keypoints)

    def has_roles(self, *roles: str) -> bool:
        """Whether the skeleton names every one of ``roles``."""
        return all(r in self.roles for r in roles)

    def role_index(self, role: str) -> tuple[int, ...]:
        """Indices into ``keypoints`` of the keypoints playing ``role``.

        Raises:
            InputError: if the skeleton does not name that role.
        """
        if role not in self.roles:
            raise InputError(
                f"skeleton {self.name!r} names no {role!r} ({ROLES.get(role, 'unknown role')}); "
                f"it names {list(self.roles)}.",
                fix=f"add roles={{'{role}': (...)}} to the skeleton.",
            )
        return tuple(self.index(k) for k in self.roles[role])


# --------------------------------------------------------------------------- from names


_SIDE_PATTERNS = (
    re.compile(r"^(?P<stem>.+?)[_\- ]?(?P<side>L|R)$"),
    re.compile(r"^(?P<stem>.+?)[_\- ]?(?P<side>left|right)$", re.IGNORECASE),
    re.compile(r"^(?P<side>left|right)[_\- ]?(?P<stem>.+)$", re.IGNORECASE),
)


def find_left_right(keypoints: Sequence[str]) -> tuple[tuple[str, str], ...]:
    """Left/right keypoint pairs found from names.

    Name forms: ``EarL``/``EarR``, ``Ear_L``/``Ear_R``, ``paw_left``/``paw_right``,
    ``LeftEar``/``RightEar``.

    A single-letter side must be an upper-case ``L`` / ``R`` at the end (so ``Tail`` is not
    a left tail); ``left`` / ``right`` may be any case, at the start or the end.

    Args:
        keypoints: keypoint names, in the order of the keypoints axis.

    Returns:
        ``(left, right)`` name pairs, in the order of the left keypoints.
    """
    keys: dict[tuple[str, str], int] = {}
    for i, name in enumerate(keypoints):
        for pattern in _SIDE_PATTERNS:
            m = pattern.match(name)
            if m is not None:
                # the name with its side word cut out: EarL and Ear_L are different keypoints
                template = (name[: m.start("side")] + "\0" + name[m.end("side") :]).lower()
                keys.setdefault((template, "L" if m["side"][0] in "lL" else "R"), i)
                break
    pairs = sorted(
        (i, keys[(template, "R")])
        for (template, side), i in keys.items()
        if side == "L" and (template, "R") in keys
    )
    return tuple((keypoints[a], keypoints[b]) for a, b in pairs)


def _norm(name: str) -> str:
    """Keypoint name for matching: lower case, letters and digits only."""
    return re.sub(r"[^a-z0-9]", "", name.lower())


_ROLE_NAMES: dict[str, tuple[str, ...]] = {
    "nose": ("nose", "snout", "nosetip"),
    "ear_left": ("earleft", "leftear", "earl"),
    "ear_right": ("earright", "rightear", "earr"),
    "neck": ("neck", "withers", "spinef", "backfront", "spinefront"),
    "centre": (
        "centre", "center", "centroid", "bodycentre", "bodycenter", "backmid", "midback",
        "spinem", "spinemid", "spine", "back", "thorax",
    ),
    "tail_base": ("tailbase", "tail0", "tailstart", "tailroot", "tail1"),
    "tail_mid": ("tailmid", "tailmiddle", "tail2", "tailcentre", "tailcenter"),
    "tail_tip": ("tailtip", "tailend", "tail3"),
    "hip_left": ("hipleft", "lefthip", "hipl"),
    "hip_right": ("hipright", "righthip", "hipr"),
    "back_rear": ("backrear", "spinel", "lowerback", "rump"),
    "hindpaw_left": ("hindpawleft", "lefthindpaw", "hindpawl", "lefthindlimb", "hindleft"),
    "hindpaw_right": ("hindpawright", "righthindpaw", "hindpawr", "righthindlimb", "hindright"),
    "forepaw_left": ("forepawleft", "leftforepaw", "forepawl", "frontleft", "leftfrontpaw"),
    "forepaw_right": ("forepawright", "rightforepaw", "forepawr", "frontright", "rightfrontpaw"),
}  # fmt: skip
"""Normalised names (``_norm``) that usually mean a body part, in order of preference."""


def match_roles(keypoints: Sequence[str]) -> dict[str, tuple[str, ...]]:
    """Body roles (``ROLES``) read from common keypoint names.

    Names match case-insensitively, ignoring spaces, ``_`` and ``-`` (``"Left Ear"``,
    ``"left_ear"``, ``"EarL"`` are the left ear). The head is the nose, or both ears where
    there is no nose; the centre is a named centre or back keypoint, else the neck and both
    hips; the back is every keypoint named back or spine; the tail is the chain tail base,
    tail middle, tail tip where at least two of them exist. Roles nothing matches are left
    out, so a caller states what it needs with ``Skeleton.role_index``.

    Args:
        keypoints: keypoint names, e.g. ``PoseData.keypoints``.

    Returns:
        Role -> keypoint names, ready for ``Skeleton(roles=...)``.
    """
    by_norm: dict[str, str] = {}
    for k in keypoints:
        by_norm.setdefault(_norm(k), k)

    def find(part: str) -> str | None:
        return next((by_norm[n] for n in _ROLE_NAMES[part] if n in by_norm), None)

    parts = {part: find(part) for part in _ROLE_NAMES}
    roles: dict[str, tuple[str, ...]] = {}
    for role in ("nose", "ear_left", "ear_right", "neck", "tail_base"):
        if parts[role] is not None:
            roles[role] = (str(parts[role]),)
    ears = (parts["ear_left"], parts["ear_right"])
    if parts["nose"] is not None:
        roles["head"] = (parts["nose"],)
    elif ears[0] is not None and ears[1] is not None:
        roles["head"] = (ears[0], ears[1])
    hips = tuple(h for h in (parts["hip_left"], parts["hip_right"]) if h is not None)
    if parts["centre"] is not None:
        roles["centre"] = (parts["centre"],)
    elif parts["neck"] is not None and len(hips) == 2:
        roles["centre"] = (parts["neck"], *hips)
    if len(hips) == 2:
        roles["hips"] = hips
    elif parts["back_rear"] is not None:
        roles["hips"] = (parts["back_rear"],)
    back = tuple(k for k in keypoints if "back" in _norm(k) or "spine" in _norm(k))
    if back:
        roles["back"] = back
    hind = tuple(p for p in (parts["hindpaw_left"], parts["hindpaw_right"]) if p is not None)
    fore = tuple(p for p in (parts["forepaw_left"], parts["forepaw_right"]) if p is not None)
    if fore or hind:
        roles["paws"] = (*fore, *hind)
    if len(hind) == 2:
        roles["hindpaws"] = hind
    tail = tuple(
        p for p in (parts["tail_base"], parts["tail_mid"], parts["tail_tip"]) if p is not None
    )
    if len(set(tail)) >= 2 and len(set(tail)) == len(tail):
        roles["tail"] = tail
    return roles


# --------------------------------------------------------------------------- named


MOUSE12 = Skeleton(
    name="mouse12",
    keypoints=(
        "ear_left",
        "ear_right",
        "back_front",
        "back_mid",
        "back_rear",
        "forepaw_left",
        "forepaw_right",
        "hindpaw_left",
        "hindpaw_right",
        "tail_base",
        "tail_mid",
        "tail_tip",
    ),
    bones=(
        ("ear_left", "ear_right"),
        ("ear_left", "back_front"),
        ("ear_right", "back_front"),
        ("back_front", "back_mid"),
        ("back_mid", "back_rear"),
        ("back_rear", "tail_base"),
        ("tail_base", "tail_mid"),
        ("tail_mid", "tail_tip"),
        ("back_front", "forepaw_left"),
        ("back_front", "forepaw_right"),
        ("back_rear", "hindpaw_left"),
        ("back_rear", "hindpaw_right"),
    ),
    left_right=(
        ("ear_left", "ear_right"),
        ("forepaw_left", "forepaw_right"),
        ("hindpaw_left", "hindpaw_right"),
    ),
    regions={
        "ears": ("ear_left", "ear_right"),
        "back": ("back_front", "back_mid", "back_rear"),
        "paws": ("forepaw_left", "forepaw_right", "hindpaw_left", "hindpaw_right"),
        "tail": ("tail_base", "tail_mid", "tail_tip"),
    },
    roles={
        "head": ("ear_left", "ear_right"),
        "ear_left": ("ear_left",),
        "ear_right": ("ear_right",),
        "neck": ("back_front",),
        "centre": ("back_mid",),
        "hips": ("back_rear",),
        "tail_base": ("tail_base",),
        "back": ("back_front", "back_mid", "back_rear"),
        "paws": ("forepaw_left", "forepaw_right", "hindpaw_left", "hindpaw_right"),
        "hindpaws": ("hindpaw_left", "hindpaw_right"),
        "tail": ("tail_base", "tail_mid", "tail_tip"),
    },
)
"""The 12 quantum-dot-style marks of the papers and of the simulated sessions: no nose
(the ear midpoint is the head), three back marks, four paws, a three-mark tail."""

CALMS21 = Skeleton(
    name="calms21",
    keypoints=("nose", "left_ear", "right_ear", "neck", "left_hip", "right_hip", "tail_base"),
    bones=(
        ("nose", "left_ear"),
        ("nose", "right_ear"),
        ("left_ear", "neck"),
        ("right_ear", "neck"),
        ("neck", "left_hip"),
        ("neck", "right_hip"),
        ("left_hip", "tail_base"),
        ("right_hip", "tail_base"),
    ),
    left_right=(("left_ear", "right_ear"), ("left_hip", "right_hip")),
    regions={
        "head": ("nose", "left_ear", "right_ear"),
        "body": ("neck", "left_hip", "right_hip", "tail_base"),
    },
    roles={
        "nose": ("nose",),
        "head": ("nose",),
        "ear_left": ("left_ear",),
        "ear_right": ("right_ear",),
        "neck": ("neck",),
        "centre": ("neck", "left_hip", "right_hip"),
        "hips": ("left_hip", "right_hip"),
        "tail_base": ("tail_base",),
    },
)
"""CalMS21's 7 top-view keypoints per mouse (as in ethome's CalMS21 export)."""

SKELETONS: dict[str, Skeleton] = {s.name: s for s in (MOUSE12, CALMS21)}
"""Named skeletons, by name."""


def skeleton_named(name: str) -> Skeleton:
    """The named skeleton ``name`` (``SKELETONS``).

    Raises:
        InputError: if no skeleton has that name.
    """
    if name not in SKELETONS:
        raise InputError(
            f"no named skeleton {name!r}; the named skeletons are {sorted(SKELETONS)}.",
            fix="pick one of those or describe your own Skeleton(name=..., keypoints=...).",
        )
    return SKELETONS[name]
