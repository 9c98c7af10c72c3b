"""A body file (``--body``): which keypoints play which body role, stated by the user.

Name matching (``model.skeleton.match_roles``) reads roles from the names labs give
keypoints; where it guesses wrong, or the names say nothing (``p1``, ``p2``, ...), a body
file states the roles. Two kinds are read:

- a body TOML: one line per role (``model.skeleton.ROLES``), a keypoint name or a list of
  them, at the top level or under ``[roles]``; an optional ``body = [...]`` lists the
  animal's keypoints (others, e.g. arena corners, stay out of the body)::

      head = "snout"
      tail_base = "tailbase"
      centre = ["neck", "hips"]

- a skeleton file ``io.skeletons.read_skeleton`` reads (SLEAP .slp, DeepLabCut
  config.yaml, anipose config.toml, skeleton TOML with ``[roles]``): its roles.

Roles the file leaves out are matched from the names, else derived from the tracked points
(``tools.features.BodyLayout.from_roles``). The layout's name records the roles
(``tools.features.roles_layout_name``), so a resumed run rebuilds the same layout.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

from ethoagent.errors import InputError
from ethoagent.model.skeleton import ROLES, match_roles, normalise_name
from ethoagent.tools.features import BodyLayout, roles_layout_name

__all__ = ["read_body", "read_body_roles"]

_LAYOUT_ROLES = ("head", "tail_base", "centre", "back", "paws", "tail")


def read_body_roles(path: Path) -> tuple[dict[str, tuple[str, ...]], tuple[str, ...] | None]:
    """The roles a body file states, and its ``body`` list (``None`` where it has none).

    Args:
        path: a body TOML, or a skeleton file (``io.skeletons.read_skeleton``).

    Returns:
        ``(role -> keypoint names, body keypoints or None)``.

    Raises:
        InputError: a missing or unreadable file, an unknown role, a role that is not a
            name or a list of names (the message names the file and line).
    """
    p = Path(path)
    if not p.is_file():
        raise InputError(f"body file {p} not found.", fix="check the path given to --body.")
    if p.suffix.lower() != ".toml":
        return _skeleton_roles(p), None
    try:
        data = tomllib.loads(p.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise InputError(
            f"{p} is not valid TOML: {exc}.",
            fix='fix that line; a body file reads e.g. head = "snout" / tail_base = "tailbase".',
        ) from exc
    if "keypoints" in data or any(k in data for k in ("triangulation", "labeling")):
        return _skeleton_roles(p), None
    if isinstance(data.get("roles"), dict):
        table: dict[str, Any] = dict(data["roles"])
        body = data.get("body", table.pop("body", None))
    else:
        table = dict(data)
        body = table.pop("body", None)
    roles: dict[str, tuple[str, ...]] = {}
    for role, value in table.items():
        if role not in ROLES:
            raise InputError(
                f"{p}:{_line(p, role)}: unknown body role {role!r}; the roles are "
                f"{list(ROLES)} (and body = [...] for the animal's keypoints).",
                fix="rename the line to one of those roles.",
            )
        roles[role] = _names(p, role, value)
    if not roles:
        raise InputError(
            f"{p} states no body role.",
            fix='write one line per role, e.g. head = "snout" and tail_base = "tailbase".',
        )
    return roles, None if body is None else _names(p, "body", body)


def read_body(path: Path, keypoints: tuple[str, ...] | list[str]) -> BodyLayout:
    """The body layout a body file states for data with ``keypoints``.

    Roles the file states replace the ones matched from the names; a ``nose`` without a
    ``head`` is the head; ``neck`` and ``hips`` without a ``centre`` make the centre.

    Args:
        path: a body TOML or a skeleton file (see the module docstring).
        keypoints: the data's keypoint names (``PoseData.keypoints``).

    Returns:
        The layout; its name records the roles (``roles_layout_name``).

    Raises:
        InputError: see ``read_body_roles``; a role naming a keypoint the data lacks
            (the message names the file, line and the data's keypoints).
    """
    p = Path(path)
    stated, body = read_body_roles(p)
    by_norm = {normalise_name(k): k for k in keypoints}
    for role, names in (*stated.items(), *((("body", body),) if body else ())):
        for n in names:
            if normalise_name(n) not in by_norm:
                raise InputError(
                    f"{p}:{_line(p, role)}: {role} names keypoint {n!r}, which the keypoint "
                    f"file lacks (it has {list(keypoints)}).",
                    fix="use the keypoint file's own names in the body file.",
                )
    stated = {r: tuple(by_norm[normalise_name(n)] for n in v) for r, v in stated.items()}
    if "head" not in stated and "nose" in stated:
        stated["head"] = stated["nose"]
    if "centre" not in stated and ("neck" in stated or "hips" in stated):
        stated["centre"] = (*stated.get("neck", ()), *stated.get("hips", ()))
    merged = {**match_roles(list(keypoints)), **stated}
    layout_roles = {r: merged[r] for r in _LAYOUT_ROLES if merged.get(r)}
    members = None if body is None else tuple(by_norm[normalise_name(n)] for n in body)
    name = roles_layout_name(layout_roles, members)
    return BodyLayout.from_roles(layout_roles, list(members or keypoints), name=name)


def _skeleton_roles(p: Path) -> dict[str, tuple[str, ...]]:
    from ethoagent.io.skeletons import read_skeleton

    skeleton, _ = read_skeleton(p)
    if not skeleton.roles:
        raise InputError(
            f"skeleton {p} states no body role and none could be matched from its names.",
            fix='add a [roles] table (head = ["snout"], tail_base = ["tailbase"]).',
        )
    return dict(skeleton.roles)


def _names(p: Path, role: str, value: object) -> tuple[str, ...]:
    if isinstance(value, str) and value:
        return (value,)
    if isinstance(value, list) and value and all(isinstance(v, str) and v for v in value):
        return tuple(value)
    raise InputError(
        f"{p}:{_line(p, role)}: {role} must be a keypoint name or a list of them; found {value!r}.",
        fix=f'write {role} = "snout" or {role} = ["neck", "hips"].',
    )


def _line(p: Path, key: str) -> int:
    pattern = re.compile(rf"^\s*{re.escape(key)}\s*=")
    for i, line in enumerate(p.read_text(encoding="utf-8").splitlines(), start=1):
        if pattern.match(line):
            return i
    return 1
