"""Report sections every behaviour pipeline writes the same way (segment, classify, profile).

Each function returns markdown lines for ``report.md``: the run's warnings, the body roles
the keypoints gave (matched, derived, absent, and the features that disables), the unit
of the positions, and the dyadic labels made the same for both animals of a pair.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["dyadic_md", "roles_md", "unit_words", "warnings_md"]


def unit_words(unit: str, body_length: float | None = None) -> str:
    """The unit of keypoint positions in words (``"px"`` -> ``"pixels (image coordinates)"``).

    Args:
        unit: the unit the keypoint file states (``"px"``, ``"mm"`` ...).
        body_length: the animals' median body extent in ``unit``
            (``io.session.body_length``), said beside the unit so a reader sees whether
            it fits; ``None`` leaves it out.
    """
    pixels = unit in ("px", "pixels", "")
    where = "image coordinates" if pixels else "world coordinates"
    if body_length is not None:
        where += f"; median body length {body_length:.3g} {'px' if pixels else unit}"
    return f"{'pixels' if pixels else unit} ({where})"


def warnings_md(warnings: Sequence[str]) -> list[str]:
    """A ``## Warnings`` section listing every warning, or nothing when there is none."""
    if not warnings:
        return []
    return ["## Warnings", "", *[f"- {w}" for w in warnings], ""]


def roles_md(roles: Mapping[str, Any], unit: str) -> list[str]:
    """A ``## Body roles`` section from a ``tools.body.BodyRoles`` record (its JSON form).

    Says which roles the keypoint names matched, which were derived from the tracked points
    (and how), which are absent and which features that disables; and the unit:
    positions in ``unit``, the kinematic features in body lengths and seconds.
    """
    lines = [
        "## Body roles",
        "",
        f"Layout `{roles['layout']}`. Keypoint positions are in {unit_words(unit)}; the "
        "features are scale-free (lengths in body lengths, speeds in body lengths/s, "
        "angles in rad).",
        "",
        "| role | how | keypoints or rule |",
        "|---|---|---|",
    ]
    for role, names in roles.get("matched", {}).items():
        lines.append(f"| {role} | matched | {', '.join(names)} |")
    for role, how in roles.get("derived", {}).items():
        lines.append(f"| {role} | derived | {how} |")
    for role in roles.get("absent", ()):
        lines.append(f"| {role} | absent | — |")
    lines.append("")
    disabled = list(roles.get("disabled", ()))
    lines.append(
        "Features not computed for lack of a role: " + ", ".join(f"`{d}`" for d in disabled) + "."
        if disabled
        else "Every feature could be computed."
    )
    if roles.get("arena"):
        lines.append(f"Arena/object points, kept out of the body: {', '.join(roles['arena'])}.")
    if roles.get("unused"):
        lines.append(f"Keypoints no role takes: {', '.join(roles['unused'])}.")
    return [*lines, ""]


def dyadic_md(changes: Sequence[Mapping[str, Any]]) -> list[str]:
    """A ``## Dyadic labels`` section: the symmetric rule and every frame it changed.

    Args:
        changes: ``tools.dyadic.DyadicChange`` records (JSON form): animal, partner,
            before, after, frames.
    """
    lines = [
        "## Dyadic labels",
        "",
        "A label that describes a pair (huddle, close contact, nose to nose, interact) "
        "is given to both animals of the pair in the same frames (with more than two "
        "animals, a pair is two animals each nearest the other): where the two differ, the "
        "more specific wins (nose to nose, then close contact, then huddle), a huddle beside "
        "a moving partner becomes close contact, and a directed act (anogenital sniffing, "
        "chase, approach) or an untracked animal is left as it is.",
        "",
    ]
    if not changes:
        return [*lines, "No frame disagrees: the animals' dyadic labels agree.", ""]
    frames = sum(int(c["frames"]) for c in changes)
    lines += [
        f"{frames} animal-frame(s) took their partner's label:",
        "",
        "| animal | partner | label before | label now | frames |",
        "|---|---|---|---|---|",
    ]
    for c in changes:
        lines.append(
            f"| {c['animal']} | {c['partner']} | {c['before']} | {c['after']} | {c['frames']} |"
        )
    return [*lines, ""]
