"""Examples from several sessions for one detector: the sessions' features pooled.

A lab labels a few sessions and classifies the rest of the cohort (``classify
--examples-from``). Each session's ``DetectorFeatures`` are computed at its own frame rate
and standardised on its own (``tools.detectors.detector_features``), so features in body
lengths and seconds read alike across sessions; ``pool_features`` lays every (session,
animal) end to end as one animal's timeline and shifts the example clips with it, so
``fit_detector`` fits on them unchanged. Sessions whose keypoint sets give different
feature columns are pooled on the columns they share (``select_features`` cuts the
session to classify to the same columns).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import numpy as np

from ethoagent.errors import InputError
from ethoagent.model.ethogram import Example
from ethoagent.tools.detectors import DetectorFeatures

__all__ = ["common_names", "pool_features", "select_features"]


def common_names(feats: Sequence[DetectorFeatures]) -> tuple[str, ...]:
    """Feature names every session has, in the first session's order."""
    if not feats:
        return ()
    shared = set(feats[0].names).intersection(*(f.names for f in feats[1:]))
    return tuple(n for n in feats[0].names if n in shared)


def select_features(feats: DetectorFeatures, names: Sequence[str]) -> DetectorFeatures:
    """``feats`` cut to the columns ``names`` (all of which it must have).

    Raises:
        InputError: a name the features lack.
    """
    missing = [n for n in names if n not in feats.names]
    if missing:
        raise InputError(
            f"the session lacks detector features {missing}.",
            fix="pool sessions on their common_names.",
        )
    idx = [feats.names.index(n) for n in names]
    return replace(
        feats, values=feats.values[..., idx], raw=feats.raw[..., idx], names=tuple(names)
    )


def pool_features(
    feats: Sequence[DetectorFeatures], examples: Sequence[Sequence[Example]]
) -> tuple[DetectorFeatures, list[Example]]:
    """Every session's animals laid end to end as one animal, with their examples.

    Args:
        feats: each session's features (``(frames_s, individuals_s, features_s)``); they
            must share the dimensionality (2D or 3D). Pooled on ``common_names``.
        examples: each session's example clips, in its own frames and animal indices.

    Returns:
        ``(pooled features (sum of frames_s * individuals_s, 1, common features), the
        clips moved onto the pooled timeline)``. The pooled frame rate is the first
        session's (it only sets the smoothing's dwell in frames).

    Raises:
        InputError: no session, mismatched lengths, sessions of 2D and 3D keypoints, or
            sessions sharing no feature.
    """
    if not feats or len(feats) != len(examples):
        raise InputError(
            f"pool_features needs one list of examples per session; got {len(feats)} "
            f"session(s) and {len(examples)} list(s).",
            fix="pass the sessions and their examples in the same order.",
        )
    dims = {f.dim for f in feats}
    if len(dims) > 1:
        raise InputError(
            f"the example sessions mix 2D and 3D keypoints (dims {sorted(dims)}); their "
            "features do not compare.",
            fix="take examples from sessions of the same kind (all 2D or all 3D).",
        )
    names = common_names(feats)
    if not names:
        raise InputError(
            "the example sessions share no detector feature.", fix="check their keypoints."
        )
    values, raw, freezing, lag_free, published, moved = [], [], [], [], [], []
    offset = 0
    for f, exs in zip(feats, examples, strict=True):
        cut = select_features(f, names)
        for a in range(cut.individuals):
            values.append(cut.values[:, a])
            raw.append(cut.raw[:, a])
            freezing.append(cut.freezing[:, :, a])
            lag_free.append(cut.freezing_lag_free[:, :, a])
            published.append(cut.freezing_published[:, a])
            moved += [
                Example(animal=0, start=e.start + offset, stop=e.stop + offset, label=e.label)
                for e in exs
                if e.animal == a
            ]
            offset += cut.frames
    pooled = DetectorFeatures(
        values=np.concatenate(values)[:, None, :],
        names=names,
        raw=np.concatenate(raw)[:, None, :],
        freezing=np.concatenate(freezing, axis=1)[:, :, None],
        freezing_lag_free=np.concatenate(lag_free, axis=1)[:, :, None],
        freezing_published=np.concatenate(published)[:, None],
        fps=feats[0].fps,
        dim=feats[0].dim,
        ruler="; ".join(dict.fromkeys(f.ruler for f in feats)),
    )
    return pooled, moved
