"""Dyadic labels made the same for both animals of a pair.

Labels such as ``huddle`` or ``close_contact`` describe a pair, not one animal, yet each
animal's ethogram is made on its own: one mouse can come out ``huddle`` while its partner
is ``close_contact`` in the same seconds. ``reconcile_dyadic`` fixes that frame by frame
with one symmetric rule (``pair_label``) and reports every frame it changed.

Mutual labels (``MUTUAL_LABELS``, matched after ``tools.captions.canonical_label``) are the
ones that hold for both animals alike: ``nose_to_nose``, ``close_contact``, ``huddle``,
``interact`` (and their synonyms, e.g. ``contact``). Directed ones
(``nose_to_anogenital``, ``chase``, ``approach``) name an actor and are left as they are,
and so is ``untracked``.

Partners: with two animals each is the other's partner; with more, a frame's partner is
given per animal (e.g. the nearest one) and only mutual partners (each the other's) form a
pair in that frame.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence

import numpy as np
from numpy.typing import NDArray
from pydantic import BaseModel, ConfigDict

from ethoagent.errors import InputError
from ethoagent.model.ethogram import Epoch
from ethoagent.tools.captions import canonical_label

__all__ = [
    "MUTUAL_LABELS",
    "DyadicChange",
    "nearest_partners",
    "pair_label",
    "reconcile_dyadic",
]

MUTUAL_LABELS = ("nose_to_nose", "close_contact", "huddle", "interact")
"""Labels true of both animals of a pair alike, in precedence order: where the two animals
carry different ones, the earlier wins (``close_contact`` over ``huddle``: a huddle needs
both at rest, and one of them was seen moving)."""

MOVING_LABELS = frozenset({"walking", "darting", "turning", "chase", "approach"})
"""Canonical labels of an animal seen moving: its partner's ``huddle`` becomes
``close_contact`` for both."""

KEEP_LABELS = frozenset({"untracked", "nose_to_anogenital", "chase", "approach"})
"""Labels never replaced: no data, or a directed social act of that animal."""


def _mutual(label: str) -> int | None:
    """Precedence of a mutual label (index in ``MUTUAL_LABELS``), ``None`` otherwise."""
    canon = canonical_label(label)
    return MUTUAL_LABELS.index(canon) if canon in MUTUAL_LABELS else None


def pair_label(a: str, b: str) -> str | None:
    """The one label both animals of a pair take in a frame, or ``None`` to leave both.

    Rules (symmetric: ``pair_label(a, b) == pair_label(b, a)``):

    1. equal labels, or neither is mutual: ``None``;
    2. both mutual: the one earlier in ``MUTUAL_LABELS`` (two spellings of one label: its
       canonical name);
    3. one mutual, the other a label of ``KEEP_LABELS``: ``None`` (a directed act or no
       data is not contradicted);
    4. one mutual, the other an individual label: the mutual one, except ``huddle``
       against a moving label (``MOVING_LABELS``), which gives ``close_contact``.

    Args:
        a: one animal's label in the frame.
        b: its partner's label in the same frame.
    """
    if a == b:
        return None
    pa, pb = _mutual(a), _mutual(b)
    if pa is None and pb is None:
        return None
    if pa is not None and pb is not None:
        return MUTUAL_LABELS[pa] if pa == pb else (a if pa < pb else b)
    mutual, other = (a, b) if pa is not None else (b, a)
    if canonical_label(other) in KEEP_LABELS:
        return None
    if canonical_label(mutual) == "huddle" and canonical_label(other) in MOVING_LABELS:
        return "close_contact"
    return mutual


class DyadicChange(BaseModel):
    """Frames of one animal whose label ``reconcile_dyadic`` changed.

    Attributes:
        animal: the animal relabelled; partner: whose label it now shares.
        before: its label before; after: the pair's label.
        frames: number of frames changed.
    """

    model_config = ConfigDict(frozen=True)

    animal: str
    partner: str
    before: str
    after: str
    frames: int


def nearest_partners(points: NDArray[np.float64]) -> NDArray[np.int64]:
    """Each animal's nearest other animal in every frame, by keypoint centroids.

    Args:
        points: ``(frames, animals, keypoints, dims)`` float64, any unit, NaN = missing.

    Returns:
        ``(frames, animals)`` int64 index of the nearest other animal; -1 where the animal
        or every other animal is untracked (or there is no other animal).
    """
    p = np.asarray(points, dtype=np.float64)
    if p.ndim != 4:
        raise InputError(
            f"points must be (frames, animals, keypoints, dims); found shape {p.shape}.",
            fix="pass the session's multi-animal keypoint array.",
        )
    seen = np.asarray(np.isfinite(p).all(axis=-1))  # (frames, animals, keypoints)
    tracked = np.asarray(seen.any(axis=-1))  # (frames, animals)
    total = np.where(seen[..., None], p, 0.0).sum(axis=2)
    centre = total / np.maximum(seen.sum(axis=2), 1)[..., None]  # (frames, animals, dims)
    d = np.linalg.norm(centre[:, :, None] - centre[:, None], axis=-1)
    ok = tracked[:, :, None] & tracked[:, None, :] & ~np.eye(p.shape[1], dtype=bool)[None]
    d = np.where(ok, d, np.inf)
    nearest = np.argmin(d, axis=2)
    return np.where(np.isfinite(d).any(axis=2), nearest, -1).astype(np.int64)


def _frame_labels(
    eps: Sequence[Epoch], frames: int, animal: str
) -> tuple[list[str], NDArray[np.int64]]:
    """Each frame's label and the index of the epoch it comes from."""
    labels = [""] * frames
    source = np.full(frames, -1, dtype=np.int64)
    for i, e in enumerate(eps):
        labels[e.start : min(e.stop, frames)] = [e.label] * (min(e.stop, frames) - e.start)
        source[e.start : e.stop] = i
    if (source < 0).any():
        raise InputError(
            f"the ethogram of {animal} leaves frame {int(np.argmax(source < 0))} of "
            f"{frames} without an epoch.",
            fix="pass ethograms that tile every frame (check_tiling).",
        )
    return labels, source


def _rebuild(
    eps: Sequence[Epoch],
    labels: Sequence[str],
    source: NDArray[np.int64],
    partner_of: Sequence[str],
) -> list[Epoch]:
    """Epochs of the relabelled frames.

    Unchanged stretches keep their epoch's fields; changed ones say whose label they took;
    neighbours with equal labels merge.
    """
    out: list[Epoch] = []
    f, n = 0, len(labels)
    while f < n:
        g = f + 1
        while g < n and labels[g] == labels[f] and source[g] == source[f]:
            g += 1
        src = eps[int(source[f])]
        changed = labels[f] != src.label
        piece = src.model_copy(
            update={
                "start": f,
                "stop": g,
                "label": labels[f],
                "description": (
                    f"{labels[f]} with {partner_of[f]} (made the same as the partner's; "
                    f"was {src.label})"
                    if changed
                    else src.description
                ),
            }
        )
        if out and out[-1].label == piece.label:
            last = out.pop()
            note = f" (frames {f}-{g} made the same as {partner_of[f]}'s)" if changed else ""
            piece = last.model_copy(
                update={
                    "stop": g,
                    "confidence": min(last.confidence, piece.confidence),
                    "description": last.description + note,
                }
            )
        out.append(piece)
        f = g
    return out


def reconcile_dyadic(
    epochs: Mapping[str, Sequence[Epoch]],
    frames: int,
    partners: NDArray[np.int64] | None = None,
) -> tuple[dict[str, list[Epoch]], list[DyadicChange]]:
    """Give both animals of a pair the same dyadic label, frame by frame (``pair_label``).

    Args:
        epochs: animal -> its ethogram, each tiling ``[0, frames)``.
        frames: the session's length in frames.
        partners: ``(frames, animals)`` int64 partner index per frame (-1 = none), e.g.
            ``nearest_partners``; ``None``: with two animals each is the other's, with one
            or more than two nothing is paired.

    Returns:
        The ethograms (an animal with no change keeps its epochs as given; changed
        stretches say so in ``description``) and every change, per animal and label pair.
    """
    names = list(epochs)
    if partners is None:
        if len(names) != 2:
            return {n: list(e) for n, e in epochs.items()}, []
        partners = np.tile(np.array([[1, 0]], dtype=np.int64), (frames, 1))
    if partners.shape != (frames, len(names)):
        raise InputError(
            f"partners must be (frames, animals) = ({frames}, {len(names)}); found "
            f"{partners.shape}.",
            fix="pass one partner index per frame and animal (nearest_partners).",
        )
    table = {n: _frame_labels(epochs[n], frames, n) for n in names}
    new = {n: list(table[n][0]) for n in names}
    partner_of = {n: [""] * frames for n in names}
    counts: Counter[tuple[str, str, str, str]] = Counter()
    for f in range(frames):
        for a, b in ((a, int(partners[f, a])) for a in range(len(names))):
            if b <= a or int(partners[f, b]) != a:
                continue  # each mutual pair once
            na, nb = names[a], names[b]
            la, lb = table[na][0][f], table[nb][0][f]
            both = pair_label(la, lb)
            if both is None:
                continue
            for me, other, mine in ((na, nb, la), (nb, na, lb)):
                if mine != both:
                    new[me][f] = both
                    partner_of[me][f] = other
                    counts[(me, other, mine, both)] += 1
    out = {
        n: _rebuild(epochs[n], new[n], table[n][1], partner_of[n])
        if new[n] != table[n][0]
        else list(epochs[n])
        for n in names
    }
    changes = [
        DyadicChange(animal=a, partner=p, before=b, after=x, frames=c)
        for (a, p, b, x), c in sorted(counts.items())
    ]
    return out, changes
