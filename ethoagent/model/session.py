"""``SessionInfo``: what a recording session is, as every pipeline needs to know it.

Pure data, validated on construction (one-line ``InputError`` naming the fix), no I/O.
``ethoagent.io.session.resolve_session`` reads a keypoint file once and returns one; every
report states its frame rate, animals and unit from it.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field

from ethoagent.errors import InputError
from ethoagent.model.skeleton import Skeleton

__all__ = ["SessionInfo"]


def _names(value: Iterable[str] | str, what: str, source: str) -> tuple[str, ...]:
    names = (value,) if isinstance(value, str) else tuple(value)
    if not names or not all(isinstance(n, str) and n for n in names):
        raise InputError(
            f"session {source or '(in memory)'} needs one or more {what} names; found {value!r}.",
            fix=f"name every one of the {what}.",
        )
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise InputError(
            f"session {source or '(in memory)'} names {what} {dupes} more than once.",
            fix=f"give every one of the {what} a unique name.",
        )
    return names


@dataclass(frozen=True, repr=False)
class SessionInfo:
    """One recording session: frame rate, animals, keypoints, unit and body roles.

    Attributes:
        fps: frame rate in Hz, finite and ``> 0``.
        animals: individual names, in the order of the individuals axis of the data.
        keypoints: keypoint names, in the order of the keypoints axis of the data.
        unit: unit of the coordinates: ``"px"`` for 2D, the 3D unit (e.g. ``"mm"``)
            otherwise.
        roles: body role (``ethoagent.model.skeleton.ROLES``) -> keypoint names, as read
            from the skeleton or matched from the names (``match_roles``); may be empty.
        source: the file or folder the session was read from (``""`` if built in memory).
    """

    fps: float
    animals: tuple[str, ...]
    keypoints: tuple[str, ...]
    unit: str = "px"
    roles: dict[str, tuple[str, ...]] = field(default_factory=dict)
    source: str = ""

    def __post_init__(self) -> None:
        where = self.source or "(in memory)"
        try:
            fps = float(self.fps)
        except (TypeError, ValueError):
            fps = math.nan
        if not math.isfinite(fps) or fps <= 0:
            raise InputError(
                f"session {where} has frame rate {self.fps!r}; it must be a number > 0 (Hz).",
                fix="pass the recording's frame rate (e.g. --fps 30).",
            )
        if not isinstance(self.unit, str) or not self.unit:
            raise InputError(
                f"session {where} has no unit of its coordinates; found {self.unit!r}.",
                fix="pass 'px' for 2D keypoints or the 3D unit, e.g. 'mm'.",
            )
        animals = _names(self.animals, "animals", self.source)
        keypoints = _names(self.keypoints, "keypoints", self.source)
        # the skeleton checks the roles: known role names, keypoints of the session
        roles = Skeleton(name="session", keypoints=keypoints, roles=self.roles).roles
        object.__setattr__(self, "fps", fps)
        object.__setattr__(self, "animals", animals)
        object.__setattr__(self, "keypoints", keypoints)
        object.__setattr__(self, "roles", roles)

    def __hash__(self) -> int:
        return hash((self.fps, self.animals, self.keypoints, self.unit, tuple(self.roles.items())))

    def __repr__(self) -> str:
        return (
            f"SessionInfo(fps={self.fps:g}, animals={len(self.animals)}, "
            f"keypoints={len(self.keypoints)}, unit={self.unit!r})"
        )

    @property
    def is_3d(self) -> bool:
        """Whether the coordinates are 3D (any unit but pixels)."""
        return self.unit != "px"

    def describe(self) -> str:
        """One line for reports, e.g. ``"30 fps, 2 animals (a, b), 7 keypoints, unit px"``."""
        return (
            f"{self.fps:g} fps, {len(self.animals)} "
            f"{'animal' if len(self.animals) == 1 else 'animals'} ({', '.join(self.animals)}), "
            f"{len(self.keypoints)} keypoints, unit {self.unit}"
        )
