"""``tools.detector_pool``: several sessions' features as one timeline for the detector."""

from __future__ import annotations

import numpy as np
import pytest

from ethoagent.errors import InputError
from ethoagent.model.ethogram import Example
from ethoagent.tools.detector_pool import common_names, pool_features, select_features
from ethoagent.tools.detectors import DetectorFeatures, detector_features, fit_detector


def _feats(frames: int, animals: int, names: tuple[str, ...], fill: float) -> DetectorFeatures:
    shape = (frames, animals, len(names))
    values = np.full(shape, fill) + np.arange(len(names))
    return DetectorFeatures(
        values=values,
        names=names,
        raw=values.copy(),
        freezing=np.zeros((2, frames, animals), dtype=bool),
        freezing_lag_free=np.ones((2, frames, animals), dtype=bool),
        freezing_published=np.full((frames, animals), fill > 2),
        fps=30.0,
        dim=2,
    )


def test_pool_lays_sessions_and_animals_end_to_end() -> None:
    a = _feats(10, 2, ("speed", "paw_head", "turn"), 1.0)
    b = _feats(4, 1, ("speed", "turn"), 5.0)
    assert common_names([a, b]) == ("speed", "turn")
    ex_a = [
        Example(animal=1, start=2, stop=5, label="x"),
        Example(animal=0, start=0, stop=1, label="y"),
    ]
    ex_b = [Example(animal=0, start=1, stop=3, label="x")]
    pooled, clips = pool_features([a, b], [ex_a, ex_b])
    assert pooled.values.shape == (24, 1, 2) and pooled.freezing.shape == (2, 24, 1)
    assert pooled.freezing_lag_free.all() and not pooled.freezing.any()  # kept apart
    # each session's published rule keeps its own rows (b's fill 5.0 fires, a's does not)
    assert pooled.freezing_published.shape == (24, 1)
    assert not pooled.freezing_published[:20].any() and pooled.freezing_published[20:].all()
    # animal 0 of a: rows 0-9, animal 1 of a: rows 10-19, b: rows 20-23
    assert sorted((c.start, c.stop, c.label) for c in clips) == [
        (0, 1, "y"),
        (12, 15, "x"),
        (21, 23, "x"),
    ]
    assert all(c.animal == 0 for c in clips)
    assert pooled.values[20, 0].tolist() == [5.0, 6.0]  # b's "speed", "turn" columns
    assert pooled.values[0, 0].tolist() == [1.0, 3.0]  # a's "speed", "turn" (paw_head cut)


def test_select_and_pool_refuse_what_does_not_fit() -> None:
    a = _feats(5, 1, ("speed",), 0.0)
    with pytest.raises(InputError, match="lacks detector features"):
        select_features(a, ["turn"])
    three_d = _feats(5, 1, ("speed",), 0.0)
    object.__setattr__(three_d, "dim", 3)
    with pytest.raises(InputError, match="mix 2D and 3D"):
        pool_features([a, three_d], [[], []])
    with pytest.raises(InputError, match="one list of examples per session"):
        pool_features([a], [])


def test_detector_from_another_session_labels_this_one() -> None:
    """Examples of a session at 30 fps teach a session at 60 fps: still vs moving."""

    def walk(fps: float, seconds: float, moving: np.ndarray) -> np.ndarray:
        frames = int(fps * seconds)
        t = np.arange(frames) / fps
        on = moving[(t // 2).astype(int) % moving.size]
        speed = np.where(on, 60.0, 0.0)  # px/s on a 30 px body: 2 BL/s or still
        x = np.cumsum(speed) / fps
        jitter = np.random.default_rng(int(fps)).normal(0, 0.2, (frames, 1, 3, 2))
        pts = np.stack([x[:, None] + [30.0, 15.0, 0.0], np.full((frames, 3), 50.0)], axis=-1)
        return pts[:, None] + jitter

    names = ("nose", "neck", "tailbase")
    pattern = np.array([1, 0, 1, 1, 0, 0])
    teach = detector_features(walk(30.0, 24.0, pattern), fps=30.0, keypoints=names)
    learn = detector_features(walk(60.0, 24.0, pattern[::-1]), fps=60.0, keypoints=names)
    frames = teach.frames
    on = (np.arange(frames) / 30.0 // 2).astype(int) % pattern.size
    labels = np.where(pattern[on] == 1, "moving", "still")
    clips = [
        Example(animal=0, start=s, stop=s + 20, label=str(labels[s]))
        for s in range(10, frames - 20, 60)
    ]
    names_common = common_names([learn, teach])
    pooled, moved = pool_features([select_features(teach, names_common)], [clips])
    det = fit_detector(pooled, moved, ["moving", "still"])
    pred = det.predict(select_features(learn, names_common)).labels[:, 0]
    t = np.arange(learn.frames) / 60.0
    truth = np.where(pattern[::-1][(t // 2).astype(int) % pattern.size] == 1, 0, 1)
    inner = (t % 2 > 0.5) & (t % 2 < 1.5)  # away from the switches
    assert (pred[inner] == truth[inner]).mean() > 0.9
