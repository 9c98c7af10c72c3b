"""verify_points: RANSAC, left/right hypotheses and the bone check over whole recordings."""

from __future__ import annotations

import numpy as np

from ethoagent.model.camera import Camera
from ethoagent.tools.cameras import make_ring_cameras, project_points
from ethoagent.tools.triangulate import triangulate_ransac
from ethoagent.tools.verify3d import reference_bone_lengths, verify_points


def _scene(views: int = 4, frames: int = 40) -> tuple[list[Camera], np.ndarray, np.ndarray]:
    cams = make_ring_cameras(views, distortion=(-0.1, 0.02, 0.0, 0.0, 0.0), seed=5)
    rng = np.random.default_rng(5)
    base = np.array([[-15.0, 10, 0], [15.0, 10, 0], [0, -20, 0], [0, -45, 0]])  # L, R, C, T
    truth = base[None] + rng.normal(0, 4.0, (frames, 1, 3)) + rng.normal(0, 0.3, (frames, 4, 3))
    pts = project_points(cams, truth).transpose(0, 2, 1, 3)
    return cams, truth, pts + rng.normal(0, 0.5, pts.shape)


def test_a_left_right_swap_in_one_view_is_read_back_and_refit() -> None:
    cams, truth, pts = _scene()
    spoilt = pts.copy()
    spoilt[3, 1, [0, 1]] = pts[3, 1, [1, 0]]  # swap in view 1, frame 3
    spoilt[7, 2, 0] = pts[7, 2, 1]  # right's label given to left in view 2, right missing
    spoilt[7, 2, 1] = np.nan
    w = np.ones(pts.shape[:3])
    plain = triangulate_ransac(cams, spoilt, threshold_px=5.0)
    out = verify_points(cams, spoilt, w, threshold_px=5.0, left_right=[(0, 1)])
    assert not plain.inliers[3, 1, 0] and not plain.inliers[3, 1, 1]
    assert out.relabelled[3, 1, 0] and out.relabelled[3, 1, 1]
    assert out.inliers[3, 1, 0] and out.inliers[3, 1, 1]
    assert out.relabelled[7, 2, 1] and out.inliers[7, 2, 1] and not out.inliers[7, 2, 0]
    np.testing.assert_allclose(out.points_2d[3, 1, 0], pts[3, 1, 0])
    assert np.isnan(out.points_2d[7, 2, 0]).all()
    err = np.linalg.norm(out.points_3d - truth, axis=-1)
    assert err.max() < 3.0
    assert out.relabelled.sum() == 3  # nothing else moved


def test_the_bone_check_leaves_out_the_view_that_bends_a_bone() -> None:
    # with 2 views of 4 within a loose bound, RANSAC keeps a 3-px-off view on the tail; the
    # bone to the centre stretches and leaving that view out restores it
    cams, truth, pts = _scene(views=4)
    bones = [(0, 2), (1, 2), (2, 3)]
    ref = reference_bone_lengths(truth, bones)
    spoilt = pts.copy()
    spoilt[5, 0, 3] += [40.0, 0.0]
    w = np.ones(pts.shape[:3])
    loose = verify_points(
        cams, spoilt, w, threshold_px=60.0, bones=bones, reference_lengths=ref, bone_tolerance=0.2
    )
    assert loose.bone_dropped[5, 0, 3]
    assert not loose.inliers[5, 0, 3]
    assert loose.bone_dropped.sum() == 1
    assert np.nanmax(loose.bone_error[5]) <= 0.2
    assert np.linalg.norm(loose.points_3d[5, 3] - truth[5, 3]) < 2.0


def test_a_bone_no_single_view_explains_stays_off() -> None:
    cams, truth, pts = _scene(views=4)
    bones = [(2, 3)]
    ref = reference_bone_lengths(truth, bones)
    spoilt = pts.copy()
    moved = truth.copy()
    moved[9, 3] += [0.0, -30.0, 0.0]  # consistent in every view: the tail really is elsewhere
    spoilt[9, :, 3] = project_points(cams, moved[9, 3]).reshape(-1, 2)
    out = verify_points(
        cams,
        spoilt,
        np.ones(pts.shape[:3]),
        threshold_px=5.0,
        bones=bones,
        reference_lengths=ref,
        bone_tolerance=0.2,
    )
    assert out.bone_error[9, 0] > 0.2
    assert not out.bone_dropped.any()
    assert out.inliers[9, :, 3].all()
