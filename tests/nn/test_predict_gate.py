"""The one LookAgain inference: frames picked per disjoint window, probabilities averaged."""

from __future__ import annotations

import numpy as np
import pytest

from ethoagent.errors import InputError
from ethoagent.nn.predict_gate import (
    average_windows,
    predict_probabilities,
    select_frames,
    uniform_selection,
)
from ethoagent.nn.train_gate import GateSession
from tests.nn.toy import CONFIG, fresh


def _session(frames: int = 100, animals: int = 2, vision: bool = True) -> GateSession:
    rng = np.random.default_rng(0)
    present = np.ones((frames, animals), bool)
    present[10:20, 1] = False
    return GateSession(
        motion=rng.normal(size=(frames, animals, CONFIG.input_dim)).astype(np.float32),
        labels=np.full((frames, animals), -1, np.int64),
        confidence=np.ones((frames, animals), np.float32),
        present=present,
        vision=(rng.normal(size=(frames, animals, 3)).astype(np.float32) if vision else None),
    )


def test_average_windows_is_the_mean_over_the_windows_holding_a_frame() -> None:
    # each window answers its own start index: a frame's value is the mean of the starts
    # of the windows (10 frames every 5) that hold it
    def forward(start: int, stop: int) -> np.ndarray:
        return np.full((stop - start, 1, 1), float(start))

    out = average_windows(30, 10, 1, forward)[:, 0, 0]
    assert out[:5].tolist() == [0.0] * 5  # window 0 only
    assert out[5:10].tolist() == [2.5] * 5  # windows 0 and 5
    assert out[25:].tolist() == [20.0] * 5  # window 20 only


@pytest.mark.parametrize("fraction", [0.0, 0.25, 0.5, 1.0])
def test_select_frames_takes_k_per_disjoint_window_and_animal(fraction: float) -> None:
    session = _session()
    present = session.present
    assert present is not None
    model = fresh()
    wanted = select_frames(model, session, 32, fraction)
    assert wanted.shape == (100, 2) and not (wanted & ~present).any()
    for start in range(0, 100, 32):
        for a in range(2):
            n = int(present[start : start + 32, a].sum())
            k = 0 if fraction == 0 else max(1, round(fraction * n))
            assert int(wanted[start : start + 32, a].sum()) == k
    uniform = select_frames(model, session, 32, fraction, uniform=True)
    assert int(uniform.sum()) == int(wanted.sum())


def test_uniform_selection_spreads_k_frames_over_the_valid_ones() -> None:
    valid = np.ones((2, 8), bool)
    valid[1, 4:] = False
    sel = uniform_selection(valid, 0.5)
    assert sel[0].tolist() == [False, True, False, True, False, True, False, True]
    assert sel[1].sum() == 2 and not sel[1, 4:].any()
    assert not uniform_selection(valid, 0.0).any()


def test_probabilities_read_vision_at_the_selected_frames_only() -> None:
    session = _session()
    model = fresh()
    wanted = select_frames(model, session, 32, 0.25)
    probs = predict_probabilities(model, session, 32, select=wanted)
    assert probs.shape == (100, 2, CONFIG.n_classes)
    np.testing.assert_allclose(probs.sum(axis=-1), 1.0, atol=1e-6)
    assert session.vision is not None
    changed = session.vision.copy()
    changed[~wanted] += 5.0  # frames never looked at: no effect
    same = GateSession(session.motion, session.labels, session.confidence, session.present,
                       changed)  # fmt: skip
    np.testing.assert_allclose(predict_probabilities(model, same, 32, select=wanted), probs)
    changed[wanted] += 5.0  # frames looked at: the answer moves
    moved = GateSession(session.motion, session.labels, session.confidence, session.present,
                        changed)  # fmt: skip
    assert not np.allclose(predict_probabilities(model, moved, 32, select=wanted), probs)


def test_a_short_session_is_one_window_and_a_bad_mask_is_refused() -> None:
    session = _session(frames=20, vision=False)
    model = fresh()
    probs = predict_probabilities(model, session, 32)
    assert probs.shape == (20, 2, CONFIG.n_classes)
    with pytest.raises(InputError, match="select must be"):
        predict_probabilities(model, session, 32, select=np.zeros((5, 2), bool))
    with pytest.raises(InputError, match="fraction"):
        select_frames(model, session, 32, 1.5)
