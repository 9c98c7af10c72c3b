"""Groups of frames at rest whose blob outline fidgets, against frames lying still."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from ethoagent.errors import InputError
from ethoagent.tools.blob_features import (
    RESTLESS_FEATURES,
    RESTLESS_RATIO,
    restless_ratios,
    video_features,
)
from ethoagent.tools.features import Features
from ethoagent.tools.video_features import BlobTracks


def _features(jitter: np.ndarray) -> Features:
    """Blob features of one animal whose jitter features are ``jitter`` (frames,)."""
    frames = len(jitter)
    ones = np.ones((frames, 1))
    no = np.zeros((frames, 1), bool)
    tracks = BlobTracks(centre=np.zeros((frames, 1, 2)), area=ones, major=ones * 2,
                        minor=ones, angle=ones * 0, motion=ones * 0, merged=no,
                        uncertain=no, held=no, frame_motion=np.zeros(frames), threshold=10.0,
                        scale=1.0)  # fmt: skip
    feats = video_features(tracks, 30.0)
    values = feats.values.copy()
    for name in RESTLESS_FEATURES:
        values[:, 0, feats.names.index(name)] = jitter
    return replace(feats, values=values)


def test_each_group_is_measured_against_the_frames_lying_still() -> None:
    jitter = np.r_[np.full(100, 0.01), np.full(50, 0.03), np.full(50, 0.012), np.full(5, 1.0)]
    groups = np.r_[np.full(100, -1), np.zeros(50), np.ones(50), np.full(5, -1)]
    groups = groups.astype(np.int64)[:, None]
    reference = np.zeros_like(groups, dtype=bool)
    reference[:100] = True  # the tail's jitter is neither reference nor a group
    out = restless_ratios(_features(jitter), groups, reference)
    assert out == pytest.approx({0: 3.0, 1: 1.2})
    assert out[0] >= RESTLESS_RATIO > out[1]


def test_without_reference_frames_nothing_is_measured() -> None:
    groups = np.zeros((50, 1), dtype=np.int64)
    feats = _features(np.linspace(0.01, 0.1, 50))
    assert restless_ratios(feats, groups, np.zeros((50, 1), bool)) == {}


def test_shapes_that_do_not_fit_the_features_are_one_error() -> None:
    feats = _features(np.full(10, 0.01))
    with pytest.raises(InputError, match="frames, animals"):
        restless_ratios(feats, np.zeros((9, 1), np.int64), np.ones((10, 1), bool))
