"""Calibration refinement by sparse bundle adjustment (tools/calibration_refine.py)."""

from __future__ import annotations

from dataclasses import replace

import cv2
import numpy as np
import pytest

from ethoagent.errors import InputError
from ethoagent.model.camera import Camera
from ethoagent.tools.calibration_refine import median_errors, refine_calibration
from ethoagent.tools.cameras import make_ring_cameras, project_points


def _scene() -> tuple[list[Camera], list[Camera], np.ndarray]:
    """True cameras, a calibration with two of them moved, and noisy 2D with outliers."""
    true = make_ring_cameras(4, seed=1, size=(640, 480), focal_px=560)
    rng = np.random.default_rng(0)
    p3 = rng.uniform(-60, 60, (60, 10, 3)) * [1, 1, 0.3] + [0, 0, 30]
    p2 = project_points(true, p3).transpose(0, 2, 1, 3) + rng.normal(0, 0.5, (60, 4, 10, 2))
    p2[rng.random(p2.shape[:3]) < 0.05] += 60  # mislabelled points
    turn, _ = cv2.Rodrigues(np.array([0.01, -0.008, 0.005]))
    moved = list(true)
    r2 = np.asarray(cv2.Rodrigues(turn @ true[2].R)[0], dtype=np.float64).ravel()
    moved[2] = replace(true[2], rvec=r2, tvec=true[2].tvec + np.array([4.0, -3.0, 5.0]))
    moved[3] = replace(true[3], tvec=true[3].tvec + np.array([-3.0, 2.0, 1.0]))
    return true, moved, p2


def test_refinement_brings_errors_down_to_the_label_noise() -> None:
    true, moved, p2 = _scene()
    result = refine_calibration(moved, p2)
    assert result.converged
    assert [c.name for c in result.cameras] == [c.name for c in moved]
    assert result.before_px["ring_2"] > 4 and result.before_px["top"] > 4
    assert all(e < 0.7 for e in result.after_px.values())
    assert result.after_px == median_errors(result.cameras, p2)
    # the fixed first camera does not move; the moved camera comes back towards the truth
    np.testing.assert_allclose(result.cameras[0].tvec, moved[0].tvec, atol=1e-9)
    before = np.linalg.norm(moved[2].center - true[2].center)
    after = np.linalg.norm(result.cameras[2].center - true[2].center)
    assert after < before / 3
    assert "ring_2:" in result.messages()[2] and "error_after_px_top" in result.metadata()


def test_refinement_keeps_the_unit() -> None:
    _, moved, p2 = _scene()
    result = refine_calibration(moved, p2, refine_focal=True)
    spread = [
        np.mean([np.linalg.norm(a.center - b.center) for a in cs for b in cs])
        for cs in (moved, result.cameras)
    ]
    assert spread[1] == pytest.approx(spread[0], rel=1e-9)
    assert all(e < 0.7 for e in result.after_px.values())


def test_low_confidence_points_are_left_out() -> None:
    _, moved, p2 = _scene()
    conf = np.full(p2.shape[:3], 0.1)
    with pytest.raises(InputError, match="too few confident 2D points"):
        refine_calibration(moved, p2, conf)


def test_real_sleap_anipose_session_without_side_refines() -> None:
    from ethoagent.io.calibration import read_calibration
    from ethoagent.io.rig import find_camera_files, read_camera_points
    from ethoagent.io.skeletons import read_skeleton
    from tests.data_paths import require_shared

    session = require_shared("sleap_anipose_minimal_session/minimal_session")
    cams = [c for c in read_calibration(session / "calibration.toml") if c.name != "side"]
    skeleton, _ = read_skeleton(session / "top" / "minimal_top_proofread.slp")
    rig = read_camera_points(
        find_camera_files(session, [c.name for c in cams]), cams, skeleton.keypoints
    )
    result = refine_calibration(
        rig.cameras, rig.points, rig.confidence, max_points=300, max_nfev=40
    )
    assert all(result.after_px[n] < result.before_px[n] for n in result.before_px)
    assert result.before_px["back"] > 2 > 1.5 > result.after_px["back"]
