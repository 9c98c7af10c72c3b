"""Contact bouts from a distance: a bout starts below the entry threshold, lasts until the
exit threshold, and short breaks are bridged."""

from __future__ import annotations

import numpy as np

from ethoagent.tools.detectors.bouts import contact_bouts, fill_gaps, hysteresis


def test_hysteresis_starts_at_entry_and_lasts_while_staying() -> None:
    stay = np.array([0, 1, 1, 1, 1, 0, 1, 1, 0, 1], dtype=bool)[:, None]
    enter = np.array([0, 0, 1, 0, 0, 0, 0, 0, 0, 1], dtype=bool)[:, None]
    out = hysteresis(enter, stay)[:, 0]
    # run 1-4 from its entry at 2; run 6-7 never entered; run 9 entered at once
    assert out.tolist() == [0, 0, 1, 1, 1, 0, 0, 0, 0, 1]


def test_fill_gaps_bridges_short_breaks_between_bouts_only() -> None:
    m = np.array([0, 1, 0, 0, 1, 0, 0, 0, 0, 1, 0], dtype=bool)[:, None]
    out = fill_gaps(m, 3)[:, 0]
    assert out.tolist() == [0, 1, 1, 1, 1, 0, 0, 0, 0, 1, 0]
    assert (fill_gaps(m, 0) == m).all()
    two = np.concatenate([m, m[::-1]], axis=1)
    assert (fill_gaps(two, 3)[:, 1] == out[::-1]).all()  # columns are independent


def test_contact_bouts_of_an_approach_a_touch_and_a_retreat() -> None:
    fps = 10.0
    # BL: approach from 1 to 0.4, touch at 0.1, drift to 0.6, a 0.5 s break at 0.9, back
    # to 0.2, then leave
    d = np.concatenate(
        [np.linspace(1.0, 0.4, 10), np.full(10, 0.1), np.full(10, 0.6), np.full(5, 0.9),
         np.full(10, 0.2), np.full(10, 2.0), [np.nan], np.full(4, 0.2)]
    )[:, None]  # fmt: skip
    out = contact_bouts(d, 0.3, fps=fps, leave_factor=2.5, gap_s=1.0)[:, 0]
    assert not out[:10].any()  # approaching, never below 0.3
    assert out[10:45].all()  # touch, drift under 0.75, break bridged, touch again
    assert not out[45:56].any()  # left, then untracked
    assert out[56:].all()
    no_gap = contact_bouts(d, 0.3, fps=fps, leave_factor=2.5, gap_s=0.0)[:, 0]
    assert not no_gap[30:35].any() and no_gap[35:45].all()
    flat = contact_bouts(d, 0.3, fps=fps, leave_factor=1.0, gap_s=0.0)[:, 0]
    assert not flat[20:30].any()  # without hysteresis the drift to 0.6 ends the bout


def test_a_bout_starts_only_while_facing_the_partner() -> None:
    d = np.concatenate([np.full(10, 0.1), np.full(5, 2.0), np.full(10, 0.1)])[:, None]
    facing = np.concatenate([np.full(10, -0.8), np.full(5, 0.0), np.full(10, 0.9)])[:, None]
    out = contact_bouts(d, 0.3, fps=10.0, facing=facing, gap_s=0.0)[:, 0]
    assert not out[:15].any()  # near but facing away: the partner came to it
    assert out[15:].all()
    facing[15:] = np.nan  # unknown facing does not stop a bout from starting
    assert contact_bouts(d, 0.3, fps=10.0, facing=facing, gap_s=0.0)[15:, 0].all()
