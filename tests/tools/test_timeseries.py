"""Gap filling, derivatives and rolling statistics on exactly known series."""

from __future__ import annotations

import numpy as np

from ethoagent.tools.timeseries import fill_gaps, rolling_mean_std, time_derivative


def test_fill_gaps_is_linear_inside_and_leaves_long_gaps_and_ends() -> None:
    """A 2-frame gap of a line is filled exactly; a 3-frame gap and a leading NaN stay."""
    x = np.arange(12, dtype=np.float64)[:, None] * 2.0
    x[[0, 3, 4, 7, 8, 9], 0] = np.nan
    out, filled = fill_gaps(x, max_gap=2)
    np.testing.assert_array_equal(out[3:5, 0], [6.0, 8.0])
    assert np.isnan(out[[0, 7, 8, 9], 0]).all()
    assert filled[:, 0].tolist() == [i in (3, 4) for i in range(12)]
    assert np.isnan(x[3, 0])  # the input is not changed


def test_time_derivative_of_uniform_motion_is_its_speed() -> None:
    """x = 3 t at 10 fps: 30 units/s everywhere, one-sided at the ends and next to a gap."""
    x = 3.0 * np.arange(10, dtype=np.float64)
    x[5] = np.nan
    v = time_derivative(x, 10.0)
    np.testing.assert_allclose(v[[0, 1, 3, 4, 6, 9]], 30.0)
    assert np.isnan(v[5])


def test_time_derivative_of_angles_wraps_each_step() -> None:
    """Headings turning +0.2 rad per frame across +-pi turn at 0.2 * fps rad/s."""
    t = np.arange(20) * 0.2 + 2.5
    heading = np.angle(np.exp(1j * t))  # wraps from pi to -pi
    np.testing.assert_allclose(time_derivative(heading, 30.0, angle=True), 6.0)


def test_rolling_mean_std_of_a_line_and_of_missing_values() -> None:
    """Window 3 over 0, 1, 2, ...: mean = centre, std = sqrt(2/3); cut at the ends."""
    x = np.arange(8, dtype=np.float64)[:, None]
    mean, std = rolling_mean_std(x, 3)
    np.testing.assert_allclose(mean[1:-1, 0], x[1:-1, 0])
    np.testing.assert_allclose(std[1:-1, 0], np.sqrt(2 / 3))
    assert mean[0, 0] == 0.5 and mean[-1, 0] == 6.5
    gap = np.full((5, 1), np.nan)
    gap[0] = 4.0
    mean, std = rolling_mean_std(gap, 3)
    assert mean[1, 0] == 4.0 and std[1, 0] == 0.0 and np.isnan(mean[3, 0])
