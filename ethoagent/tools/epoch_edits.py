"""A person's edits of an ethogram (relabel, split, merge), applied and re-tiled.

An edit names a span ``[start, stop)`` frames of one animal's timeline, as the reviewer
saw it. Edits are applied in order to the ethogram as it stands, so they also hold when a
re-run's epochs are cut differently: a relabel gives exactly that span the label (cutting
the epochs at its ends), a split cuts at a frame, a merge joins the span with the epoch
before or after it under the span's label. Afterwards neighbouring epochs with the same
label are joined, except at a frame a person split at, and every timeline must still tile
its frames (``check_tiling``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from ethoagent.errors import InputError
from ethoagent.model.ethogram import Epoch
from ethoagent.tools.ethogram import check_tiling


class EpochEdit(BaseModel):
    """One reviewer edit of an animal's ethogram.

    Attributes:
        animal: the animal's name.
        start: first frame of the span the person acted on.
        stop: one past its last frame (exclusive).
        action: ``relabel`` (``label``), ``split`` (at frame ``at``) or ``merge`` (with the
            ``neighbour`` epoch, ``previous`` or ``next``).
        label: the new label of a relabel.
        at: the frame a split cuts at (the second part starts there).
        neighbour: the epoch a merge joins.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    animal: str
    start: int = Field(ge=0)
    stop: int = Field(ge=1)
    action: Literal["relabel", "split", "merge"]
    label: str | None = None
    at: int | None = None
    neighbour: Literal["previous", "next"] | None = None


def apply_epoch_edits(
    epochs: Mapping[str, Sequence[Epoch]], edits: Sequence[EpochEdit], frames: int
) -> dict[str, list[Epoch]]:
    """Each animal's epochs with ``edits`` applied in order, re-tiled.

    Args:
        epochs: each animal's ethogram, tiling ``[0, frames)``.
        edits: the edits, in the order the person made them.
        frames: frames of every timeline.

    Returns:
        The edited ethograms (relabelled or merged epochs have confidence 1 and a
        description saying a person set them).

    Raises:
        InputError: an edit naming an unknown animal, a span outside the timeline, a split
            frame inside no epoch, a merge without that neighbour, or a result that does
            not tile.
    """
    out = {name: list(eps) for name, eps in epochs.items()}
    cuts: dict[str, set[int]] = {name: set() for name in out}
    for e in edits:
        if e.animal not in out:
            raise InputError(
                f"edit {e.action} of {e.animal!r}: no such animal ({', '.join(out)}).",
                fix="undo it in `ethoagent review`.",
            )
        if not 0 <= e.start < e.stop <= frames:
            raise InputError(
                f"edit {e.action} of {e.animal} [{e.start}, {e.stop}) is outside 0..{frames}.",
                fix="undo it in `ethoagent review`.",
            )
        out[e.animal] = _apply(out[e.animal], e, cuts[e.animal])
    for name, eps in out.items():
        out[name] = _join(eps, cuts[name])
        failed = [c.message for c in check_tiling(out[name], frames) if not c.passed]
        if failed:
            raise InputError(
                f"the reviewed ethogram of {name} does not tile: {failed[0]}.",
                fix="undo the last edit in `ethoagent review`.",
            )
    return out


def _apply(eps: list[Epoch], e: EpochEdit, cuts: set[int]) -> list[Epoch]:
    if e.action == "split":
        at = e.at if e.at is not None else -1
        if not e.start < at < e.stop:
            raise InputError(
                f"split of {e.animal} [{e.start}, {e.stop}) at frame {at}: not inside the span.",
                fix="split at a frame after the epoch's first and before its end.",
            )
        cuts.add(at)
        return _cut(eps, at)
    if e.action == "relabel":
        if not e.label:
            raise InputError(
                f"relabel of {e.animal} [{e.start}, {e.stop}) has no label.",
                fix="pick a label in `ethoagent review`.",
            )
        return _replace(eps, e.start, e.stop, e.label, "relabelled by a reviewer")
    eps = _cut(_cut(eps, e.start), e.stop)
    label = next(x.label for x in eps if x.start == e.start)
    if e.neighbour == "next":
        nxt = next((x for x in eps if x.start == e.stop), None)
        if nxt is None:
            raise InputError(
                f"merge of {e.animal} [{e.start}, {e.stop}) with the next epoch: it is the last.",
                fix="merge it with the previous epoch.",
            )
        cuts.discard(e.stop)
        return _replace(eps, e.start, nxt.stop, label, "merged by a reviewer")
    prev = next((x for x in eps if x.stop == e.start), None)
    if prev is None:
        raise InputError(
            f"merge of {e.animal} [{e.start}, {e.stop}) with the previous epoch: it is the first.",
            fix="merge it with the next epoch.",
        )
    cuts.discard(e.start)
    return _replace(eps, prev.start, e.stop, label, "merged by a reviewer")


def _cut(eps: list[Epoch], at: int) -> list[Epoch]:
    """``eps`` with the epoch that holds frame ``at`` (not at its start) cut in two there."""
    out = []
    for x in eps:
        if x.start < at < x.stop:
            out += [x.model_copy(update={"stop": at}), x.model_copy(update={"start": at})]
        else:
            out.append(x)
    return out


def _replace(eps: list[Epoch], start: int, stop: int, label: str, why: str) -> list[Epoch]:
    """``eps`` with ``[start, stop)`` one epoch labelled ``label``."""
    eps = _cut(_cut(eps, start), stop)
    inside = [x for x in eps if start <= x.start and x.stop <= stop]
    clusters = {x.cluster for x in inside}
    new = Epoch(
        start=start,
        stop=stop,
        label=label,
        description=why,
        confidence=1.0,
        cluster=clusters.pop() if len(clusters) == 1 else None,
    )
    return sorted([x for x in eps if x not in inside] + [new], key=lambda x: x.start)


def _join(eps: list[Epoch], cuts: set[int]) -> list[Epoch]:
    """Neighbours with the same label joined, except at a frame in ``cuts``."""
    out: list[Epoch] = []
    for x in eps:
        last = out[-1] if out else None
        if last is not None and last.label == x.label and x.start not in cuts:
            keep = last.cluster if last.cluster == x.cluster else None
            out[-1] = last.model_copy(
                update={
                    "stop": x.stop,
                    "confidence": min(last.confidence, x.confidence),
                    "cluster": keep,
                }
            )
        else:
            out.append(x)
    return out


__all__ = ["EpochEdit", "apply_epoch_edits"]
