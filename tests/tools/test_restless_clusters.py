"""Clusters of frames at rest whose blob outline fidgets, against the quietest one."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from ethoagent.errors import InputError
from ethoagent.tools.blob_features import (
    RESTLESS_FEATURES,
    RESTLESS_RATIO,
    restless_clusters,
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


def test_a_cluster_at_rest_jittering_three_times_the_quietest_is_restless() -> None:
    jitter = np.r_[np.full(100, 0.01), np.full(100, 0.03), np.full(100, 0.015), np.full(5, 1.0)]
    clusters = np.r_[np.zeros(100), np.ones(100), np.full(100, 2), np.full(5, 3)]
    clusters = clusters.astype(np.int64)[:, None]
    rest = np.ones_like(clusters, dtype=bool)
    rest[200:300] = False  # cluster 2 is not at rest: not compared
    out = restless_clusters(_features(jitter), clusters, rest)
    # cluster 3 is restless but too small a share of the frames at rest to be judged
    assert list(out) == [1] and out[1] == pytest.approx(3.0)
    assert out[1] >= RESTLESS_RATIO


def test_one_cluster_at_rest_has_nothing_to_be_compared_with() -> None:
    clusters = np.zeros((50, 1), dtype=np.int64)
    feats = _features(np.linspace(0.01, 0.1, 50))
    assert restless_clusters(feats, clusters, np.ones((50, 1), bool)) == {}


def test_shapes_that_do_not_fit_the_features_are_one_error() -> None:
    feats = _features(np.full(10, 0.01))
    with pytest.raises(InputError, match="frames, animals"):
        restless_clusters(feats, np.zeros((9, 1), np.int64), np.ones((10, 1), bool))
