"""The video-variant eval's scoring helpers, from exactly known tracks."""

from __future__ import annotations

import numpy as np

from ethoagent.evals.harness import available_suites
from ethoagent.evals.segment_openfield import _auc, _low_motion
from ethoagent.evals.segment_video import _identity_map, _reorder
from ethoagent.tools.video_features import BlobTracks


def _tracks(centre: np.ndarray) -> BlobTracks:
    frames, animals, _ = centre.shape
    ones = np.ones((frames, animals))
    no = np.zeros((frames, animals), bool)
    return BlobTracks(centre=centre, area=ones, major=ones, minor=ones, angle=ones * 0,
                      motion=ones * 0, merged=no, uncertain=no, held=no,
                      frame_motion=np.zeros(frames), threshold=10.0, scale=1.0)  # fmt: skip


def test_tracks_map_to_the_animals_they_follow_and_a_swap_costs_accuracy() -> None:
    truth = np.zeros((10, 2, 2))
    truth[:, 0] = [0.0, 0.0]
    truth[:, 1] = [100.0, 0.0]
    swapped = truth[:, ::-1].copy()  # track 0 follows animal 1 and vice versa
    mapping, accuracy = _identity_map(_tracks(swapped), truth)
    assert mapping == [1, 0] and accuracy == 1.0
    half = swapped.copy()
    half[5:] = truth[5:]  # identities swap half way: the best mapping is right half the time
    _, accuracy = _identity_map(_tracks(half), truth)
    assert accuracy == 0.5
    pred = np.array([[1, 2], [1, 2]])
    assert _reorder(pred, [1, 0]).tolist() == [[2, 1], [2, 1]]


def test_low_motion_is_the_stretch_at_the_quietest_fifths_level() -> None:
    motion = np.r_[np.full(30, 5.0), np.full(70, 0.1), np.full(50, 5.0)]
    low = _low_motion(motion, fps=10.0)
    assert low[35:95].all() and not low[:25].any() and not low[105:].any()


def test_suite_is_registered() -> None:
    assert "segment_video" in available_suites()


def test_auc_of_a_perfect_and_of_a_reversed_score() -> None:
    positive = np.array([True, True, False, False])
    assert _auc(np.array([4.0, 3.0, 2.0, 1.0]), positive) == 1.0
    assert _auc(np.array([1.0, 2.0, 3.0, 4.0]), positive) == 0.0
