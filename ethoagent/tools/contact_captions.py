"""Blob captions of animals in contact: a shared blob's shape is not one animal's posture.

Video alone, several animals: while animals touch, ``tools.video_features.track_blobs``
cuts their shared blob into one part per animal (``split_blob``). A part's length, width
and axis follow the cut between the animals, so the blob captioner's labels read from
shape or axis say nothing of the animal there; ``read_blob_contact`` reads such snippets
as contact instead. Speeds in body lengths per second (BL/s).
"""

from __future__ import annotations

from ethoagent.tools.captions import (
    MOVING_IN_PLACE,
    SLOW_SPEED,
    KinematicCaption,
    SnippetKinematics,
)

__all__ = ["CONTACT_SHARE", "read_blob_contact"]

CONTACT_SHARE = 0.5
"""``read_blob_contact``: least share of a snippet's frames in contact to read it as contact."""
_SHAPE_LABELS = frozenset({"still", "turning", "rearing", "grooming", MOVING_IN_PLACE})
"""Blob-caption labels read from the blob's shape or axis rather than its displacement."""


def read_blob_contact(rule: KinematicCaption, k: SnippetKinematics) -> KinematicCaption:
    """A blob caption of animals in contact: slow and in contact is ``huddle``.

    While animals touch, each one's blob is its part of one shared blob
    (``tools.video_features.split_blob``): the part's length, width and axis follow the
    cut between the animals, not the animal's posture, so a label read from them
    (``_SHAPE_LABELS``: a short part read as rearing, a swinging cut as turning or
    grooming) says nothing of the animal. A snippet in contact in at least
    ``CONTACT_SHARE`` of its frames and slower than ``SLOW_SPEED`` BL/s with such a label
    is ``huddle`` (resting or moving in place beside another animal), not confident;
    labels read from the displacement (walking, darting) are kept.

    Args:
        rule: the blob captioner's caption of the snippet.
        k: the snippet's kinematics (``contact`` set from the blob tracks).

    Returns:
        ``rule``, or the contact caption.
    """
    slow = k.speed is not None and k.speed < SLOW_SPEED
    if k.contact is None or k.contact < CONTACT_SHARE or not slow:
        return rule
    if rule.caption.label not in _SHAPE_LABELS:
        return rule
    caption = rule.caption.model_copy(
        update={
            "label": "huddle",
            "posture": "unknown (its blob is shared with another animal)",
            "social_interaction": "in contact with another animal (one shared blob)",
            "confidence": 0.5,
        }
    )
    reason = (
        f"in contact (shared blob) in {k.contact:.0%} of the frames at {k.speed:.2f} BL/s; "
        f"the blob captioner's {rule.caption.label!r} is read from a shared blob's shape"
    )
    return KinematicCaption(caption=caption, confident=False, reason=reason)
