"""Calibration diagnosed on the animal's own 2D points (tools/calibration_check.py)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from ethoagent.errors import InputError
from ethoagent.model.camera import Camera
from ethoagent.tools.calibration_check import (
    camera_fits,
    check_units,
    diagnose_calibration,
    duplicate_cameras,
)
from ethoagent.tools.cameras import make_ring_cameras, project_points
from tests.data_paths import require_shared


def _body(frames: int = 40, keypoints: int = 8, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centre = rng.uniform(-60, 60, (frames, 1, 3)) * [1, 1, 0] + [0, 0, 30]
    return centre + rng.normal(0, 25, (frames, keypoints, 3))


def _seen(cams: list[Camera], p3: np.ndarray, noise: float = 0.3) -> np.ndarray:
    rng = np.random.default_rng(1)
    p2 = project_points(cams, p3).transpose(0, 2, 1, 3)  # (F, V, K, 2)
    return p2 + rng.normal(0, noise, p2.shape)


def _copy_block(cams: list[Camera], into: int, source: int) -> list[Camera]:
    """The calibration with camera ``into``'s parameters replaced by ``source``'s."""
    out = list(cams)
    out[into] = replace(cams[source], name=cams[into].name)
    return out


def test_a_good_rig_fits_everywhere() -> None:
    cams = make_ring_cameras(5, seed=4)
    diag = diagnose_calibration(cams, _seen(cams, _body()))
    assert diag.inconsistent == () and diag.duplicates == ()
    assert all(f.median_error_px < 2 and f.held_out_px < 2 for f in diag.fits)
    assert diag.units.unit == "mm"
    assert all(c.passed for c in diag.checks())


def test_a_copied_block_names_the_camera_whose_points_do_not_fit() -> None:
    true = make_ring_cameras(5, seed=4)
    p2 = _seen(true, _body())
    # the file gives ring_1 the parameters of ring_3: ring_1's 2D points no longer fit
    wrong = _copy_block(true, into=1, source=3)
    assert duplicate_cameras(wrong) == [(1, 3)]
    diag = diagnose_calibration(wrong, p2)
    assert diag.duplicates == (("ring_1", "ring_3"),)
    assert diag.inconsistent == ("ring_1",)
    text = " ".join(diag.messages())
    assert "they belong to 'ring_3'" in text and "drop 'ring_1'" in text
    assert not diag.checks()[0].passed


def test_three_cameras_one_bad_cannot_be_told_apart() -> None:
    true = make_ring_cameras(3, seed=4)
    p2 = _seen(true, _body())
    wrong = _copy_block(true, into=0, source=1)
    fits = camera_fits(wrong, p2)
    assert all(f.held_out_px > 20 or np.isnan(f.held_out_px) for f in fits)
    assert diagnose_calibration(wrong, p2).inconsistent == ()


def test_a_calibration_in_metres_is_stated() -> None:
    mm = make_ring_cameras(4, seed=4)
    metres = [replace(c, tvec=c.tvec / 1000) for c in mm]
    check = check_units(metres)
    assert check.unit == "m" and "metres" in check.message
    assert check_units(mm).unit == "mm"
    # a small rig in mm with a metre-sized body: the body decides
    assert check_units(mm, _body() / 1000).unit == "m"


def test_points_of_the_wrong_shape_are_refused() -> None:
    with pytest.raises(InputError, match="views"):
        camera_fits(make_ring_cameras(3), np.zeros((5, 2, 4, 2)))


def test_real_sleap_anipose_calibration_names_side() -> None:
    from ethoagent.io.calibration import read_calibration
    from ethoagent.io.keypoints import read_keypoints

    session = require_shared("sleap_anipose_minimal_session/minimal_session")
    cams = read_calibration(session / "calibration.toml")
    p2 = np.stack(
        [
            read_keypoints(session / c.name / f"minimal_{c.name}_proofread.analysis.h5").points[
                :, 0
            ]
            for c in cams
        ],
        axis=1,
    )
    diag = diagnose_calibration(cams, p2)
    assert diag.duplicates == (("side", "top"),)
    assert diag.inconsistent == ("side",)
    assert diag.units.unit == "mm"
    fits = {f.camera: f for f in diag.fits}
    assert fits["top"].held_out_px < 15 < 50 < fits["side"].held_out_px
