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
    "ARENA_NAMES",
    "CALMS21",
    "MAX_REGION_KEYPOINTS",
    "MOUSE12",
    "ROLES",
    "ROLE_SYNONYMS",
    "SKELETONS",
    "Skeleton",
    "find_arena_points",
    "find_left_right",
    "group_by_animal_number",
    "match_roles",
    "normalise_name",
    "parse_keypoint_name",
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


def normalise_name(name: str) -> str:
    """Keypoint name for matching: lower case, letters and digits only ("Left Ear": leftear)."""
    return re.sub(r"[^a-z0-9]", "", name.lower())


ROLE_SYNONYMS: dict[str, tuple[str, ...]] = {
    "nose": ("nose", "snout", "nosetip", "tipofnose", "rostrum", "muzzle"),
    "head": (
        "head", "headf", "headfront", "fronthead", "headcentre", "headcenter", "headcentroid",
        "headmid", "crown", "headtop", "tophead", "forehead",
    ),
    "ear": ("ear", "pinna", "earbase"),
    "eye": ("eye",),
    "neck": (
        "neck", "withers", "nape", "spinef", "spinefront", "backfront", "frontback", "upperback",
    ),
    "shoulder": ("shoulder", "scapula"),
    "centre": (
        "centre", "center", "centroid", "bodycentre", "bodycenter", "bodycentroid", "bodymid",
        "backmid", "midback", "middleback", "spinem", "spinemid", "spinemiddle", "midspine",
        "centreofmass", "centerofmass", "com", "trunk", "torso", "body", "thorax", "spine",
        "back", "mid", "middle",
    ),
    "flank": ("flank", "side", "lat", "lateral", "bc", "bodyside"),
    "hip": ("hip", "haunch", "hindquarter", "thigh"),
    "rump": (
        "backrear", "rearback", "spinel", "spinelow", "spinerear", "lowerback", "rump",
        "pelvis", "sacrum",
    ),
    "tail_base": (
        "tailbase", "tti", "baseoftail", "tailroot", "tailstart", "tailbeginning", "tb",
    ),
    "tail_mid": ("tailmid", "tailmiddle", "tailcentre", "tailcenter", "midtail"),
    "tail_tip": ("tailtip", "tailend", "endoftail", "tipoftail", "tailtail"),
    "tail": ("tail",),
    "forepaw": (
        "forepaw", "frontpaw", "pawfront", "forelimb", "frontlimb", "forefoot", "frontfoot",
        "foreleg", "frontleg", "hand", "wrist",
    ),
    "hindpaw": (
        "hindpaw", "backpaw", "rearpaw", "pawhind", "pawback", "pawrear", "hindlimb",
        "hindfoot", "backfoot", "rearfoot", "hindleg", "backleg", "foot", "ankle", "heel",
    ),
    "paw": ("paw", "leg", "limb", "claw"),
}  # fmt: skip
"""Body parts and the names labs give them (DeepLabCut, SLEAP, MARS/CalMS21, SimBA,
BehaviorDEPOT, DLCAnalyzer), normalised: lower case, no separators, no side word, no number
(``"Left Ear"``, ``"Ear_L"``, ``"EarL"``, ``"l_ear"`` and ``"leftear"`` are all part
``"ear"``, side left). Within a part, earlier names are preferred."""

_SIDED_PARTS = frozenset({"ear", "eye", "shoulder", "flank", "hip", "forepaw", "hindpaw", "paw"})
_PART_OF = {stem: part for part, stems in ROLE_SYNONYMS.items() for stem in stems}
_SIDE_WORDS = {
    "left": "left",
    "l": "left",
    "lt": "left",
    "right": "right",
    "r": "right",
    "rt": "right",
}
_PAW_CODES = {
    "fl": ("forepaw", "left"), "lf": ("forepaw", "left"), "fr": ("forepaw", "right"),
    "rf": ("forepaw", "right"), "hl": ("hindpaw", "left"), "lh": ("hindpaw", "left"),
    "hr": ("hindpaw", "right"), "rh": ("hindpaw", "right"),
}  # fmt: skip

ARENA_NAMES: tuple[str, ...] = (
    "corner", "arena", "wall", "object", "obj", "feeder", "food", "water", "spout", "lever",
    "port", "nosepoke", "cup", "dish", "zone", "landmark", "marker", "reference",
    "tl", "tr", "bl", "br", "topleft", "topright", "bottomleft", "bottomright", "upperleft",
    "upperright", "lowerleft", "lowerright",
    "lt", "lb", "rt", "rb", "ctl", "ctr", "cbl", "cbr",
)  # fmt: skip
"""Names (lower case, letters only) of arena and object points: a keypoint whose letters
are one of these, or start with one of the first twelve (``"Corner1"``, ``"object_b"``,
``"feeder-left"``, ``"TL"``), is kept out of the body. The last eight are DLCAnalyzer's
elevated-plus-maze points (its ``EPM_pointinfo.csv`` types them ``Maze``): the arms' ends
(left/right, top/bottom) and the centre square's corners."""

_ARENA_PREFIXES = ARENA_NAMES[:12]


def _tokens(name: str) -> list[str]:
    """Lower-case words of a name, split at separators, CamelCase and digits."""
    spaced = re.sub(r"([a-z])([A-Z])", r"\1 \2", name)
    spaced = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1 \2", spaced)
    spaced = re.sub(r"([A-Za-z])(\d)|(\d)([A-Za-z])", r"\1\3 \2\4", spaced)
    return [t.lower() for t in re.split(r"[^A-Za-z0-9]+", spaced) if t]


def _take_side(words: list[str]) -> str | None:
    """Remove a side word (left/right; l/r only first or last) from ``words``; the side."""
    if len(words) < 2:
        return None
    for i in (0, len(words) - 1):
        if words[i] in _SIDE_WORDS:
            return _SIDE_WORDS[words.pop(i)]
    for i, w in enumerate(words):
        if w in ("left", "right"):
            return _SIDE_WORDS[words.pop(i)]
    return None


def parse_keypoint_name(name: str) -> tuple[str | None, str | None, int | None]:
    """The body part, side and number a keypoint name says (``ROLE_SYNONYMS``).

    ``"Ear_L"`` -> ``("ear", "left", None)``; ``"Tail_0"`` -> ``("tail", None, 0)``;
    ``"LeftHindPaw"`` -> ``("hindpaw", "left", None)``; ``"FR"`` -> ``("forepaw", "right",
    None)``; an unknown name -> ``(None, side, number)``.

    Args:
        name: a keypoint name as a file spells it.

    Returns:
        ``(part, side, number)``: part of ``ROLE_SYNONYMS`` or None, ``"left"`` /
        ``"right"`` or None, the name's trailing number or None.
    """
    part, side, number, _ = _parse(name)
    return part, side, number


def _parse(name: str) -> tuple[str | None, str | None, int | None, str]:
    """``parse_keypoint_name`` and the synonym (stem) that matched."""
    words = _tokens(name)
    side = _take_side(words)
    numbers = [w for w in words if w.isdigit()]
    stem = "".join(w for w in words if not w.isdigit())
    number = int(numbers[-1]) if numbers else None
    if side is None and stem in _PAW_CODES:
        return (*_PAW_CODES[stem], number, stem)
    if side is None:
        for word in ("left", "right"):
            if stem.startswith(word) and stem[len(word) :] in _PART_OF:
                side, stem = word, stem[len(word) :]
            elif stem.endswith(word) and stem[: -len(word)] in _PART_OF:
                side, stem = word, stem[: -len(word)]
    part = _PART_OF.get(stem)
    sided = _PART_OF.get(stem[:-1]) in _SIDED_PARTS
    if part is None and side is None and stem[-1:] in ("l", "r") and sided:
        # DLCAnalyzer's earl, hipr, bcl
        part, side, stem = _PART_OF[stem[:-1]], _SIDE_WORDS[stem[-1]], stem[:-1]
    return part, side, number, stem


def find_arena_points(keypoints: Sequence[str]) -> tuple[str, ...]:
    """Keypoints that mark the arena or an object, not the animal (``ARENA_NAMES``).

    A bare ``centre`` / ``center`` is the arena's where other arena points are tracked and
    another keypoint names the body centre (DLCAnalyzer's open field: ``tl, tr, bl, br,
    centre`` beside the mouse's ``bodycentre``).

    Args:
        keypoints: keypoint names, in the order of the keypoints axis.

    Returns:
        The arena and object keypoints, in their order.
    """
    letters = {k: re.sub(r"[^a-z]", "", k.lower()) for k in keypoints}
    out = {k for k, w in letters.items() if w in ARENA_NAMES or w.startswith(_ARENA_PREFIXES)}
    bare = {k for k, w in letters.items() if w in ("centre", "center")}
    body_centre = [
        k for k in keypoints if k not in out | bare and parse_keypoint_name(k)[0] == "centre"
    ]
    if out and bare and body_centre:
        out |= bare
    return tuple(k for k in keypoints if k in out)


def group_by_animal_number(keypoints: Sequence[str]) -> dict[str, tuple[str, ...]]:
    """Keypoints by animal where every name ends in an animal number (SimBA's two mice).

    SimBA's 16-point set names two mice's 8 points ``Nose_1``, ..., ``Tail_end_1``,
    ``Nose_2``, ...: in one keypoint list, two animals. Names count as numbered by animal
    only where every name ends in a separator and a number, there are two or more
    numbers, and each number has the same two or more parts (so ``Tail_0``, ``Tail_1`` of
    one tail are not animals).

    Args:
        keypoints: keypoint names (arena points left out), in their order.

    Returns:
        Animal number -> its keypoints, in number order; empty where the names are not
        numbered by animal.
    """
    found = [re.match(r"^(.*?)[_\- ](\d+)$", k) for k in keypoints]
    parts: dict[str, list[str]] = {}
    for m in found:
        if m is None:
            return {}
        parts.setdefault(m[2], []).append(m[1].lower())
    stems = [sorted(v) for v in parts.values()]
    if len(parts) < 2 or len(stems[0]) < 2 or any(v != stems[0] for v in stems):
        return {}
    return {
        n: tuple(k for k, m in zip(keypoints, found, strict=True) if m is not None and m[2] == n)
        for n in sorted(parts, key=int)
    }


def _parts(keypoints: Sequence[str]) -> dict[tuple[str, str | None], list[tuple[int, str]]]:
    """(part, side) -> [(preference, keypoint)], best first; numbered tails by number."""
    found: dict[tuple[str, str | None], list[tuple[int, str]]] = {}
    for k in keypoints:
        part, side, number, stem = _parse(k)
        if part is None:
            continue
        rank = ROLE_SYNONYMS[part].index(stem) if stem in ROLE_SYNONYMS[part] else 0
        if part not in _SIDED_PARTS:
            # Rat7M's HeadL (head, left side) is a poorer head point than its HeadF
            rank += 100 if side is not None else 0
            side = None
        if part == "tail":
            rank = -1 if number is None else number  # a bare "tail" first
        found.setdefault((part, side), []).append((rank, k))
    return {key: sorted(v, key=lambda rk: rk[0]) for key, v in found.items()}


def _tail_roles(
    parts: dict[tuple[str, str | None], list[tuple[int, str]]],
) -> dict[str, tuple[str, ...]]:
    """``tail_base`` and the ``tail`` chain from the tail parts."""
    named = [k for _, k in parts.get(("tail_base", None), [])]
    plain = [k for _, k in parts.get(("tail", None), [])]  # bare "tail" and "Tail_0", "tail2"
    base = named[0] if named else (plain.pop(0) if plain else None)
    chain = [
        *([base] if base is not None else []),
        *plain,
        *(k for _, k in parts.get(("tail_mid", None), [])[:1]),
        *(k for _, k in parts.get(("tail_tip", None), [])[:1]),
    ]
    roles: dict[str, tuple[str, ...]] = {}
    if base is not None:
        roles["tail_base"] = (base,)
    if len(chain) >= 2:
        roles["tail"] = tuple(chain)
    return roles


def _back_and_paw_roles(
    body: Sequence[str], parts: dict[tuple[str, str | None], list[tuple[int, str]]]
) -> dict[str, tuple[str, ...]]:
    """``back``, ``paws`` and ``hindpaws`` of ``match_roles`` from the body keypoints."""
    roles: dict[str, tuple[str, ...]] = {}
    trunk = ("centre", "neck", "rump", None)  # not a "BackPaw" or "back_leg"
    back = tuple(
        k
        for k in body
        if re.search("back|spine", normalise_name(k)) and parse_keypoint_name(k)[0] in trunk
    )
    if back:
        roles["back"] = back

    def sided(part: str) -> tuple[str, ...]:
        return tuple(parts[(part, s)][0][1] for s in ("left", "right") if (part, s) in parts)

    fore, hind = sided("forepaw"), sided("hindpaw")
    other = tuple(k for s in ("left", "right", None) for _, k in parts.get(("paw", s), []))
    if fore or hind or other:
        roles["paws"] = (*fore, *hind, *other)
    if len(hind) == 2:
        roles["hindpaws"] = hind
    return roles


def match_roles(keypoints: Sequence[str]) -> dict[str, tuple[str, ...]]:
    """Body roles (``ROLES``) read from the names labs give keypoints (``ROLE_SYNONYMS``).

    Names are split at separators, CamelCase and digits, side words (``left``, ``right``,
    ``l``/``r`` first or last, ``L``/``R`` suffixes) are read off, and the rest is looked up
    in ``ROLE_SYNONYMS``; arena and object points (``find_arena_points``) are left out;
    where the names number two or more animals (``group_by_animal_number``: SimBA's
    ``Nose_1``, ``Nose_2``), the roles are the first animal's.

    - nose, ears, neck (else both shoulders): as named;
    - head: the nose, else a head keypoint, else both ears, else both eyes;
    - centre: a named centre / back / trunk keypoint (the middle one of a numbered chain),
      else both flanks, else the neck and both hips;
    - hips: both hips (haunches), else a rump / rear-back keypoint;
    - back: every trunk keypoint named back or spine (not a back paw);
    - tail base: a named tail base (``tailbase``, ``TTI``, ...), else the lowest numbered
      or bare ``tail``; tail: the chain base, numbered / bare tail points, tail middle, tail
      tip where at least two exist;
    - paws: fore paws, hind paws, then other paws or legs; hindpaws: both hind paws.

    Roles nothing matches are left out, so a caller states what it needs with
    ``Skeleton.role_index`` or derives it (``tools.features.BodyLayout.from_keypoints``).

    Args:
        keypoints: keypoint names, e.g. ``PoseData.keypoints``.

    Returns:
        Role -> keypoint names, ready for ``Skeleton(roles=...)``.
    """
    arena = set(find_arena_points(keypoints))
    body = [k for k in keypoints if k not in arena]
    animals = group_by_animal_number(body)
    if animals:  # several animals' points in one list: the first animal's roles
        body = list(next(iter(animals.values())))
    parts = _parts(body)

    def one(part: str, side: str | None = None) -> str | None:
        got = parts.get((part, side))
        return got[0][1] if got else None

    def both(part: str) -> tuple[str, ...]:
        pair = (one(part, "left"), one(part, "right"))
        return (pair[0], pair[1]) if pair[0] is not None and pair[1] is not None else ()

    roles: dict[str, tuple[str, ...]] = {}
    for role, part, side in (("nose", "nose", None), ("ear_left", "ear", "left"),
                             ("ear_right", "ear", "right"), ("neck", "neck", None)):  # fmt: skip
        if (k := one(part, side)) is not None:
            roles[role] = (k,)
    if "neck" not in roles and both("shoulder"):
        roles["neck"] = both("shoulder")
    roles.update(_tail_roles(parts))
    head = one("nose") or one("head")
    roles_head = (head,) if head is not None else both("ear") or both("eye")
    if roles_head:
        roles["head"] = roles_head
    hips = both("hip")
    if "centre" in {part for part, _ in parts}:
        best = parts[("centre", None)]
        ties = [k for rank, k in best if rank == best[0][0]]
        roles["centre"] = (ties[len(ties) // 2],)  # the middle one of Spine1, Spine2, Spine3
    elif both("flank"):
        roles["centre"] = both("flank")
    elif "neck" in roles and len(roles["neck"]) == 1 and hips:
        roles["centre"] = (*roles["neck"], *hips)
    if hips:
        roles["hips"] = hips
    elif (rump := one("rump")) is not None:
        roles["hips"] = (rump,)
    roles.update(_back_and_paw_roles(body, parts))
    return dict(sorted(roles.items(), key=lambda kv: list(ROLES).index(kv[0])))


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
