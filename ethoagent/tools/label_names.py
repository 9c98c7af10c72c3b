"""Canonical behaviour labels: their synonyms, definitions and spelling.

Captions, ethograms and label files name the same behaviour many ways (``Freezing``,
``immobile``, ``resting``); ``canonical_label`` maps each to one canonical name by the
synonym table ``SYNONYMS`` after ``normalise_label`` (lower case, words joined by ``_``),
and ``DEFINITIONS`` holds one sentence per canonical label (for prompts and reports).
"""

from __future__ import annotations

import re

__all__ = ["DEFINITIONS", "SYNONYMS", "canonical_label", "normalise_label"]

SYNONYMS: dict[str, tuple[str, ...]] = {
    "still": (
        "freezing", "freeze", "frozen", "immobile", "immobility", "motionless", "resting",
        "rest", "stationary", "sitting", "idle", "pause", "paused", "inactive", "stopped",
    ),
    "walking": (
        "walk", "locomotion", "moving", "exploring", "exploration", "ambulating", "trotting",
        "slow_walking", "walking_slowly", "ambulation",
    ),
    "darting": (
        "running", "run", "dash", "dashing", "sprint", "sprinting", "fast_locomotion",
        "fleeing", "escape", "escaping", "dart",
    ),
    "turning": (
        "turn", "rotating", "rotation", "turning_in_place", "circling", "pivoting", "pivot",
    ),
    "rearing": (
        "rear", "standing_up", "upright", "supported_rearing", "unsupported_rearing",
        "standing",
    ),
    "grooming": ("groom", "self_grooming", "face_washing", "scratching", "licking", "washing"),
    "moving_in_place": ("fidgeting", "fidget", "moving_on_the_spot", "in_place"),
    "huddle": ("huddling", "side_by_side", "resting_together"),
    "nose_to_nose": ("nose_nose", "nose_contact", "facial_investigation", "face_to_face"),
    "nose_to_anogenital": (
        "anogenital_sniffing", "anogenital_investigation", "nose_to_tail",
        "anogenital_contact",
    ),
    "chase": ("chasing", "following", "pursuit", "pursuing", "follow"),
    "approach": ("approaching",),
    "close_contact": ("contact", "social_contact", "touching"),
    "untracked": ("missing", "not_tracked", "unknown", "lost"),
}  # fmt: skip
"""Canonical label -> labels meaning the same (normalised spelling)."""

DEFINITIONS: dict[str, str] = {
    "still": "No movement of the body centre and no visible activity (resting or freezing).",
    "walking": "Locomotion at a walking pace, the body moving forward.",
    "darting": "Fast locomotion: a sudden run or dash.",
    "turning": "Changing heading with little forward movement.",
    "rearing": "Front body raised, standing on the hind legs.",
    "grooming": "Forepaws at the head or body, rubbing or licking, with the body at rest.",
    "moving_in_place": (
        "The body centre stays put while the head, paws or trunk move (grooming, sniffing "
        "and shifting weight look like this)."
    ),
    "huddle": "Resting side by side with another animal.",
    "nose_to_nose": "Facing another animal with noses in contact.",
    "nose_to_anogenital": "Nose at another animal's tail base (anogenital investigation).",
    "chase": "Running after another animal that runs too.",
    "approach": "Moving towards another animal, closing the distance.",
    "close_contact": "In body contact with another animal while moving.",
    "untracked": "Keypoints missing: the behaviour cannot be told.",
}
"""One-sentence definition of each canonical label."""

_LOOKUP: dict[str, str] = {
    **{syn: canon for canon, syns in SYNONYMS.items() for syn in syns},
    **{canon: canon for canon in SYNONYMS},
}


def normalise_label(label: str) -> str:
    """Lower case, words joined by ``_`` (``"Nose to Nose"`` -> ``"nose_to_nose"``)."""
    return "_".join(re.findall(r"[a-z0-9]+", label.lower()))


def canonical_label(label: str) -> str:
    """The canonical name of a label by ``SYNONYMS`` (the normalised label if not listed)."""
    norm = normalise_label(label)
    return _LOOKUP.get(norm, norm)
