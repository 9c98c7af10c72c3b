"""Dyadic classes made the same for both animals of a pair in a classify run.

A class that describes a pair (``interact``, ``huddle``, ``close_contact``,
``nose_to_nose`` and their synonyms) must hold for both animals in the same frames. The
classical detector already gives a two-animal session's contact classes to both animals;
a window a model answered, or a session of more than two animals, can still leave one
animal ``interact`` and its partner ``other``. ``reconciled_labels`` applies segment's
symmetric rule (``tools.dyadic.reconcile_dyadic``) to the per-frame labels, with mutual
nearest neighbours as the pairs when there are more than two animals, and returns every
change for the report.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

from ethoagent.tools.captions import canonical_label
from ethoagent.tools.dyadic import DyadicChange, nearest_partners, reconcile_dyadic
from ethoagent.tools.ethogram import epochs_from_labels

__all__ = ["reconciled_labels"]


def _code_of(label: str, classes: Sequence[str]) -> int | None:
    """The class index of a label, by name or else by canonical name (``None``: unknown)."""
    if label in classes:
        return classes.index(label)
    canon = canonical_label(label)
    return next((c for c, name in enumerate(classes) if canonical_label(name) == canon), None)


def reconciled_labels(
    labels: NDArray[np.int64],
    classes: Sequence[str],
    animals: Sequence[str],
    points: NDArray[np.float64] | None = None,
) -> tuple[NDArray[np.int64], list[DyadicChange]]:
    """Per-frame labels with every pair's dyadic classes made the same.

    Args:
        labels: ``(frames, animals)`` int64 class indices.
        classes: the label set (``labels``' codes).
        animals: the animals' names, one per column.
        points: ``(frames, animals, keypoints, dims)`` float64, needed with more than two
            animals (pairs = mutual nearest neighbours by keypoint centroid, per frame);
            ``None`` with more than two animals leaves the labels as they are.

    Returns:
        The labels (a copy where something changed) and the changes, per animal, partner
        and label pair (``DyadicChange``); no change with fewer than two animals, nor
        where the pair's label is not a class of ``classes``.
    """
    frames, n = labels.shape
    if n < 2 or (n > 2 and points is None):
        return labels, []
    partners = nearest_partners(points[:frames]) if n > 2 and points is not None else None
    epochs = {name: epochs_from_labels(labels[:, a], classes) for a, name in enumerate(animals)}
    out, changes = reconcile_dyadic(epochs, frames, partners)
    # a pair label outside the label set (a huddle beside a moving partner gives
    # close_contact) cannot be written: both animals keep their labels there
    changes = [c for c in changes if _code_of(c.after, classes) is not None]
    if not changes:
        return labels, []
    new = labels.copy()
    for a, name in enumerate(animals):
        for e in out[name]:
            code = _code_of(e.label, classes)
            if code is not None:
                new[e.start : e.stop, a] = code
    return new, changes
