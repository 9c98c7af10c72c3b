"""Triangulation: exact round trips, robustness, hypotheses, bones, smoothing, real data."""

from __future__ import annotations

import numpy as np
import pytest
from numpy.typing import NDArray

from ethoagent.errors import InputError
from ethoagent.io.calibration import read_calibration, read_dannce_calibration
from ethoagent.model.camera import Camera
from ethoagent.tools.cameras import (
    make_ring_cameras,
    normalised_to_pixels,
    project_points,
    undistort_points,
)
from ethoagent.tools.dlt import lens, normalised_views, pixel_jacobians
from ethoagent.tools.triangulate import (
    bone_ends_within,
    bone_length_errors,
    enumerate_hypotheses,
    median_bone_lengths,
    point_summary,
    reprojection_errors,
    smooth_points,
    triangulate_dlt,
    triangulate_ransac,
)
from tests.data_paths import require_shared
from tests.tools.test_cameras import DANNCE, SLEAP_ANIPOSE, dannce_labels

DISTORTION = (-0.2, 0.05, 0.001, -0.002, 0.01)


def _scene(
    n_frames: int = 40, n_keypoints: int = 7, seed: int = 0, n_views: int = 6
) -> tuple[list[Camera], NDArray[np.float64], NDArray[np.float64]]:
    """Ring cameras with distortion, random points in a 120 mm box and their exact 2D."""
    cams = make_ring_cameras(n_views, distortion=DISTORTION, seed=seed)
    rng = np.random.default_rng(seed)
    p3 = rng.uniform(-60.0, 60.0, (n_frames, n_keypoints, 3))
    p2 = project_points(cams, p3).transpose(0, 2, 1, 3)  # (frames, views, keypoints, 2)
    assert np.isfinite(p2).all()
    return cams, p3, p2


# --------------------------------------------------------------------------- DLT


def test_dlt_round_trip_is_exact_with_distortion() -> None:
    cams, p3, p2 = _scene()
    out = triangulate_dlt(cams, p2)
    assert out.shape == p3.shape
    assert np.abs(out - p3).max() < 1e-6
    np.testing.assert_allclose(reprojection_errors(cams, out, p2), 0.0, atol=1e-6)


def test_dlt_needs_two_views_per_point() -> None:
    cams, p3, p2 = _scene(n_frames=3, n_keypoints=4)
    p2 = p2.copy()
    p2[0, 1:, 0] = np.nan  # keypoint 0 of frame 0 seen in view 0 only
    p2[1, 2:, 1] = np.nan  # keypoint 1 of frame 1 seen in views 0 and 1
    p2[2, :, 2] = np.nan  # keypoint 2 of frame 2 seen nowhere
    out = triangulate_dlt(cams, p2)
    assert np.isnan(out[0, 0]).all()
    assert np.isnan(out[2, 2]).all()
    assert np.abs(out[1, 1] - p3[1, 1]).max() < 1e-6
    finite = np.isfinite(out).all(axis=-1)
    assert finite.sum() == 12 - 2
    assert np.abs(out[finite] - p3[finite]).max() < 1e-6


def test_zero_weight_equals_missing_view() -> None:
    cams, _, p2 = _scene(n_frames=5, seed=2)
    noisy = p2 + np.random.default_rng(1).normal(0.0, 0.5, p2.shape)
    weights = np.ones(p2.shape[:3])
    weights[:, 3] = 0.0
    missing = noisy.copy()
    missing[:, 3] = np.nan
    np.testing.assert_allclose(
        triangulate_dlt(cams, noisy, weights), triangulate_dlt(cams, missing), atol=1e-9
    )
    # a uniform weight scale changes nothing; a NaN weight counts as 0
    np.testing.assert_allclose(
        triangulate_dlt(cams, noisy, 3.0 * np.ones(p2.shape[:3])),
        triangulate_dlt(cams, noisy),
        atol=1e-9,
    )
    weights[:, 3] = np.nan
    np.testing.assert_allclose(
        triangulate_dlt(cams, noisy, weights), triangulate_dlt(cams, missing), atol=1e-9
    )


def test_result_is_invariant_to_camera_order() -> None:
    cams, _, p2 = _scene(n_frames=10, seed=4)
    noisy = p2 + np.random.default_rng(4).normal(0.0, 1.0, p2.shape)
    order = [4, 0, 5, 2, 1, 3]
    ref = triangulate_dlt(cams, noisy)
    perm = triangulate_dlt([cams[i] for i in order], noisy[:, order])
    np.testing.assert_allclose(perm, ref, atol=1e-9)
    ransac_ref = triangulate_ransac(cams, noisy, threshold_px=8.0)
    ransac_perm = triangulate_ransac([cams[i] for i in order], noisy[:, order], threshold_px=8.0)
    np.testing.assert_allclose(ransac_perm.points_3d, ransac_ref.points_3d, atol=1e-9)
    np.testing.assert_array_equal(ransac_perm.inliers, ransac_ref.inliers[:, order])


def test_noise_averages_down_with_more_views() -> None:
    cams, p3, p2 = _scene(n_frames=200, seed=5)
    noisy = p2 + np.random.default_rng(5).normal(0.0, 0.5, p2.shape)
    err_all = np.linalg.norm(triangulate_dlt(cams, noisy) - p3, axis=-1).mean()
    err_two = np.linalg.norm(triangulate_dlt(cams[:2], noisy[:, :2]) - p3, axis=-1).mean()
    assert err_all < err_two
    assert err_all < 2.0  # 0.5 px noise at ~500 mm, f ~ 280 px: about a millimetre


@pytest.mark.parametrize(
    ("points", "weights", "match"),
    [
        (np.zeros((2, 5, 3, 2)), None, r"views=6"),
        (np.zeros((6, 3, 2)), None, r"\(frames, views=6, keypoints, 2\)"),
        (np.zeros((2, 6, 3, 3)), None, r"found shape \(2, 6, 3, 3\)"),
        (np.zeros((2, 6, 3, 2)), np.ones((2, 6, 3, 1)), "weights must have shape"),
        (np.zeros((2, 6, 3, 2)), -np.ones((2, 6, 3)), ">= 0"),
    ],
)
def test_invalid_inputs_raise(
    points: NDArray[np.float64], weights: NDArray[np.float64] | None, match: str
) -> None:
    cams = make_ring_cameras(6)
    with pytest.raises(InputError, match=match):
        triangulate_dlt(cams, points, weights)


def test_invalid_cameras_and_3d_shapes_raise() -> None:
    cams = make_ring_cameras(3)
    with pytest.raises(InputError, match="at least 2 Camera"):
        triangulate_dlt(cams[:1], np.zeros((1, 1, 1, 2)))
    with pytest.raises(InputError, match="at least 2 Camera"):
        triangulate_dlt(["cam_0", "cam_1"], np.zeros((1, 2, 1, 2)))  # type: ignore[list-item]
    with pytest.raises(InputError, match=r"\(frames, keypoints, 3\)"):
        reprojection_errors(cams, np.zeros((4, 3)), np.zeros((1, 3, 4, 2)))
    with pytest.raises(InputError, match="points_3d has"):
        reprojection_errors(cams, np.zeros((2, 4, 3)), np.zeros((1, 3, 4, 2)))
    with pytest.raises(InputError, match="threshold_px"):
        triangulate_ransac(cams, np.zeros((1, 3, 1, 2)), threshold_px=0.0)


# --------------------------------------------------------------------------- reprojection


def test_reprojection_error_is_the_pixel_offset() -> None:
    cams, p3, p2 = _scene(n_frames=2, n_keypoints=3)
    shifted = p2.copy()
    shifted[1, 2, 0] += [3.0, 4.0]
    shifted[0, 0, 1] = np.nan
    err = reprojection_errors(cams, p3, shifted)
    assert err.shape == (2, 6, 3)
    assert err[1, 2, 0] == pytest.approx(5.0, abs=1e-9)
    assert np.isnan(err[0, 0, 1])
    rest = np.ones_like(err, dtype=bool)
    rest[1, 2, 0] = rest[0, 0, 1] = False
    assert np.abs(err[rest]).max() < 1e-9
    # a 3D point behind a camera that observed it is infinitely wrong
    behind = p3.copy()
    behind[0, 0] = cams[0].center * 1.5
    assert np.isinf(reprojection_errors(cams, behind, p2)[0, 0, 0])


# --------------------------------------------------------------------------- RANSAC


def test_ransac_rejects_a_gross_outlier_view() -> None:
    cams, p3, p2 = _scene(n_frames=30, n_keypoints=5, seed=6)
    corrupted = p2.copy()
    outlier = np.zeros(p2.shape[:3], dtype=bool)
    outlier[::3, 2, 1] = True  # view 2, keypoint 1, every third frame
    outlier[5, 4, :] = True  # every keypoint of frame 5 in view 4
    corrupted[outlier] += [60.0, -45.0]
    naive = triangulate_dlt(cams, corrupted)
    assert np.abs(naive - p3).max() > 1.0
    result = triangulate_ransac(cams, corrupted, threshold_px=3.0)
    assert np.abs(result.points_3d - p3).max() < 1e-6
    np.testing.assert_array_equal(result.inliers, ~outlier)
    assert np.all(result.errors[outlier] > 50.0)
    assert np.abs(result.errors[~outlier]).max() < 1e-6
    assert result.mean_inlier_error_px < 1e-6


def test_ransac_with_noise_keeps_inliers_and_matches_dlt_without_outliers() -> None:
    cams, _, p2 = _scene(n_frames=50, seed=7)
    noisy = p2 + np.random.default_rng(7).normal(0.0, 0.5, p2.shape)
    result = triangulate_ransac(cams, noisy, threshold_px=5.0)
    assert result.inliers.all()
    np.testing.assert_allclose(result.points_3d, triangulate_dlt(cams, noisy), atol=1e-9)


def test_ransac_screens_hypotheses_with_the_lens_jacobian() -> None:
    # RANSAC screens hypotheses in undistorted normalised coordinates, mapping offsets to
    # pixels by the lens Jacobian at the observation: near the image corners of a strongly
    # distorted lens that must match the exact pixel offset to first order, where a plain
    # focal-length scaling is off by several percent
    cam = make_ring_cameras(2, distortion=(-0.3, 0.1, 0.002, -0.002, 0.0), seed=3)[0]
    rng = np.random.default_rng(3)
    pix = rng.uniform([5, 5], [315, 235], (400, 2))
    norm = undistort_points(cam, pix)
    jac = pixel_jacobians([cam], norm[:, None])[:, 0]  # (400, 2, 2)
    step = rng.normal(0.0, 1.0, (400, 2))
    step *= 4.0 / np.linalg.norm(step @ np.diag(cam.matrix[[0, 1], [0, 1]]), axis=1)[:, None]
    step /= cam.matrix[0, 0]  # ~4 px offsets in normalised units
    exact = np.linalg.norm(normalised_to_pixels(cam, norm + step) - pix, axis=1)
    linear = np.linalg.norm(np.einsum("nij,nj->ni", jac, step), axis=1)
    focal = np.linalg.norm(step * cam.matrix[[0, 1], [0, 1]], axis=1)
    assert np.abs(linear / exact - 1).max() < 0.01
    assert np.abs(focal / exact - 1).max() > 0.05


def test_ransac_missing_views_and_weights() -> None:
    cams, p3, p2 = _scene(n_frames=4, n_keypoints=3, seed=8)
    p2 = p2.copy()
    p2[0, 1:, 0] = np.nan  # one view only
    weights = np.ones(p2.shape[:3])
    weights[1, :, 1] = 0.0  # no usable view
    result = triangulate_ransac(cams, p2, threshold_px=2.0, weights=weights)
    assert np.isnan(result.points_3d[0, 0]).all()
    assert np.isnan(result.points_3d[1, 1]).all()
    assert not result.inliers[0, :, 0].any()
    assert not result.inliers[1, :, 1].any()
    ok = np.isfinite(result.points_3d).all(axis=-1)
    assert np.abs(result.points_3d[ok] - p3[ok]).max() < 1e-6
    # three agreeing views needed: points seen by two views only become NaN
    two = p2.copy()
    two[2, 2:, 2] = np.nan
    strict = triangulate_ransac(cams, two, threshold_px=2.0, min_views=3)
    assert np.isnan(strict.points_3d[2, 2]).all()
    assert np.isfinite(strict.points_3d[3]).all()


# --------------------------------------------------------------------------- hypotheses


SWAPS = [(0, 1), (2, 3)]
BONES = [(0, 2), (1, 3), (0, 4), (1, 4), (2, 5), (3, 6)]


def test_a_single_view_swap_is_ranked_first() -> None:
    cams, p3, p2 = _scene(n_frames=1, n_keypoints=7, seed=9)
    frame = p2[0].copy()
    frame[3, [2, 3]] = frame[3, [3, 2]]  # left/right confusion in view 3
    ref = median_bone_lengths(p3, BONES)
    hyps = enumerate_hypotheses(cams, frame, swap_pairs=SWAPS, bones=BONES, reference_lengths=ref)
    best = hyps[0]
    assert best.description == "swap 2<->3 in view 3"
    assert best.swaps == ((3, 2, 3),)
    assert best.dropped_view is None
    assert best.mean_error_px < 1e-6
    assert best.bone_error < 1e-6
    np.testing.assert_allclose(best.points_3d, p3[0], atol=1e-6)
    identity = next(h for h in hyps if h.description == "identity")
    assert identity.mean_error_px > 1.0
    assert best.score < identity.score
    # dropping the corrupted view also fits, but pays the drop penalty
    drop = next(h for h in hyps if h.dropped_view == 3)
    assert drop.mean_error_px < 1e-6
    assert hyps[1] is drop
    assert [h.score for h in hyps] == sorted(h.score for h in hyps)
    assert len(hyps) == 1 + 6 * len(SWAPS) + 6


def test_hypotheses_without_error_are_identity_first() -> None:
    cams, _, p2 = _scene(n_frames=1, n_keypoints=7, seed=10)
    hyps = enumerate_hypotheses(cams, p2[0], swap_pairs=SWAPS, allow_drop_view=False)
    assert hyps[0].description == "identity"
    assert np.isnan(hyps[0].bone_error)
    assert len(hyps) == 1 + 6 * len(SWAPS)
    capped = enumerate_hypotheses(cams, p2[0], swap_pairs=SWAPS, max_hypotheses=3)
    assert len(capped) == 3


def test_scores_combine_reprojection_bone_and_drop_terms() -> None:
    cams, p3, p2 = _scene(n_frames=1, n_keypoints=7, seed=11, n_views=4)
    noisy = p2[0] + np.random.default_rng(11).normal(0.0, 0.3, p2[0].shape)
    ref = median_bone_lengths(p3, BONES)
    hyps = enumerate_hypotheses(
        cams,
        noisy,
        swap_pairs=SWAPS,
        bones=BONES,
        reference_lengths=ref,
        bone_weight_px=50.0,
        drop_penalty_px=2.0,
    )
    assert hyps[0].description == "identity"
    for h in hyps:
        dropped = 2.0 if h.dropped_view is not None else 0.0
        assert h.score == pytest.approx(h.mean_error_px + 50.0 * h.bone_error + dropped)
    identity = hyps[0]
    assert identity.bone_error < 0.02
    assert all(h.bone_error > identity.bone_error for h in hyps if h.swaps)


def test_hypothesis_input_errors() -> None:
    cams, _, p2 = _scene(n_frames=1, n_keypoints=7)
    with pytest.raises(InputError, match=r"\(views, keypoints, 2\)"):
        enumerate_hypotheses(cams, p2, swap_pairs=SWAPS)
    with pytest.raises(InputError, match="swap_pairs"):
        enumerate_hypotheses(cams, p2[0], swap_pairs=[(0, 9)])
    with pytest.raises(InputError, match="together"):
        enumerate_hypotheses(cams, p2[0], swap_pairs=SWAPS, bones=BONES)


# --------------------------------------------------------------------------- bones


def test_bone_lengths_and_errors() -> None:
    p3 = np.zeros((3, 3, 3))
    p3[:, 1] = [[3.0, 4.0, 0.0], [0.0, 0.0, 5.5], [np.nan, 0.0, 0.0]]
    p3[:, 2] = [[0.0, 0.0, 2.0], [0.0, 0.0, 2.0], [0.0, 0.0, 2.0]]
    bones = [(0, 1), (0, 2)]
    np.testing.assert_allclose(median_bone_lengths(p3, bones), [5.25, 2.0])
    err = bone_length_errors(p3, bones, [5.0, 2.0])
    np.testing.assert_allclose(err[:2], [[0.0, 0.0], [0.1, 0.0]])
    assert np.isnan(err[2, 0]) and err[2, 1] == 0.0
    assert np.isnan(median_bone_lengths(np.full((2, 2, 3), np.nan), [(0, 1)])).all()
    with pytest.raises(InputError, match="reference_lengths"):
        bone_length_errors(p3, bones, [5.0])
    with pytest.raises(InputError, match="outside"):
        median_bone_lengths(p3, [(0, 3)])


# --------------------------------------------------------------------------- smoothing


def test_smoothing_keeps_uniform_motion_and_missing_points() -> None:
    t = np.arange(30.0)
    p3 = np.stack([t, 2 * t, -t + 5], axis=-1)[:, None, :].repeat(2, axis=1)  # (30, 2, 3)
    p3[10, 0] = np.nan
    sg = smooth_points(p3, 7, method="savgol", polyorder=2)
    finite = np.isfinite(p3)
    np.testing.assert_allclose(sg[finite], p3[finite], atol=1e-9)
    assert np.isnan(sg[10, 0]).all()
    med = smooth_points(p3, 5)
    np.testing.assert_allclose(med[3:-3, 1], p3[3:-3, 1], atol=1e-12)
    assert np.isnan(med[10, 0]).all()


def test_median_smoothing_removes_a_spike() -> None:
    p3 = np.zeros((11, 1, 3))
    p3[5, 0] = 100.0
    np.testing.assert_array_equal(smooth_points(p3, 3), np.zeros((11, 1, 3)))
    with pytest.raises(InputError, match="odd"):
        smooth_points(p3, 4)
    with pytest.raises(InputError, match="polyorder"):
        smooth_points(p3, 3, method="savgol", polyorder=3)


# --------------------------------------------------------------------------- real data


@pytest.mark.parametrize("session", ["markerless_mouse_1", "markerless_mouse_2"])
def test_dannce_labels_are_recovered_by_triangulation(session: str) -> None:
    path = require_shared(DANNCE) / session / "label3d_dannce.mat"
    cams = read_dannce_calibration(path)
    p3, p2 = dannce_labels(path)
    labelled = np.isfinite(p3).all(axis=-1)
    reprojected = project_points(cams, p3).transpose(0, 2, 1, 3)
    for observations in (reprojected, p2):  # our reprojection and the file's 2D labels
        out = triangulate_dlt(cams, observations)
        assert np.array_equal(np.isfinite(out).all(axis=-1), labelled)
        assert np.abs(out[labelled] - p3[labelled]).max() < 1e-3
    result = triangulate_ransac(cams, p2, threshold_px=1.0)
    assert np.abs(result.points_3d[labelled] - p3[labelled]).max() < 1e-3
    assert result.inliers.sum() == np.isfinite(p2[..., 0]).sum()


def _sleap_analysis_tracks(path: object) -> NDArray[np.float64]:
    h5py = pytest.importorskip("h5py", reason="h5py is not installed (not a core dependency)")
    with h5py.File(path, "r") as fh:
        # SLEAP writes (tracks, 2, nodes, frames); take track 0 -> (frames, nodes, 2)
        return np.asarray(fh["tracks"][0], dtype=np.float64).transpose(2, 1, 0)


def test_sleap_anipose_proofread_labels_triangulate() -> None:
    root = require_shared(SLEAP_ANIPOSE)
    cams = read_calibration(root / "calibration.toml")
    views = [c.name for c in cams]
    p2 = np.stack(
        [_sleap_analysis_tracks(root / v / f"minimal_{v}_proofread.analysis.h5") for v in views],
        axis=1,
    )  # (frames, views, nodes, 2)
    assert p2.shape == (120, 4, 15, 2)
    # 'side' and 'top' share one calibration block, and it is top's: back, mid and top agree
    good = [0, 1, 3]
    out = triangulate_dlt([cams[i] for i in good], p2[:, good])
    err = reprojection_errors([cams[i] for i in good], out, p2[:, good])
    assert np.isfinite(out).all()
    assert np.nanmedian(err) < 5.0
    # with all four views, RANSAC finds the 'side' labels inconsistent and leaves them out
    result = triangulate_ransac(cams, p2, threshold_px=20.0)
    observed = np.isfinite(p2[..., 0]).sum(axis=(0, 2))
    inlier_fraction = result.inliers.sum(axis=(0, 2)) / observed
    assert inlier_fraction[2] < 0.05
    assert np.all(inlier_fraction[[1, 3]] > 0.95)
    assert result.mean_inlier_error_px < 5.0


def test_point_summary_gives_anipose_error_ncams_and_score() -> None:
    cams = make_ring_cameras(4, seed=1)
    p3 = np.array([[[0.0, 0.0, 20.0], [30.0, -10.0, 25.0]]])  # (1 frame, 2 keypoints, 3)
    p2 = project_points(cams, p3).transpose(0, 2, 1, 3)
    p2[0, 3, 0] += 80.0  # one outlier view for keypoint 0
    p2[0, 1:, 1] = np.nan  # keypoint 1 seen once: no 3D point
    conf = np.full(p2.shape[:3], 0.9)
    conf[0, 2, 0] = 0.4
    conf[0, 3, 0] = 0.1  # the outlier's low score is not the point's score
    result = triangulate_ransac(cams, p2)
    error, ncams, score = point_summary(result, conf)
    assert ncams[0, 0] == 3 and error[0, 0] < 1e-3 and score[0, 0] == pytest.approx(0.4)
    assert np.isnan(ncams[0, 1]) and np.isnan(error[0, 1]) and np.isnan(score[0, 1])
    with pytest.raises(InputError, match="confidence must have shape"):
        point_summary(result, conf[:, :2])


def test_dlt_matches_the_batched_svd_solution() -> None:
    # the closed-form normal-equation solve must reach the homogeneous least-squares
    # answer (smallest right singular vector of the stacked system) to rounding, with
    # weights, missing views and two-view points, above and below the one-thread size
    cams = make_ring_cameras(4, distortion=(-0.15, 0.03, 0.0005, -0.0005, 0.0), seed=2)
    rng = np.random.default_rng(2)
    for frames in (3, 600):
        truth = rng.uniform(-60.0, 60.0, (frames, 9, 3))
        pts = project_points(cams, truth).transpose(0, 2, 1, 3)
        pts = pts + rng.normal(0.0, 2.0, pts.shape)
        pts[:, :2, 0] = np.nan  # two-view points
        w = rng.uniform(0.1, 1.0, pts.shape[:3])
        ours = triangulate_dlt(cams, pts, w)
        norm, ext, origin, scale = normalised_views(cams, pts)  # the world DLT solves in
        ref = np.empty_like(ours)
        for f in range(frames):
            for k in range(9):
                rows = [
                    w[f, v, k] * (norm[f, v, k, i] * ext[v, 2] - ext[v, i])
                    for v in range(len(cams))
                    for i in (0, 1)
                    if not np.isnan(pts[f, v, k, 0])
                ]
                h = np.linalg.svd(np.array(rows))[2][-1]
                ref[f, k] = origin + scale * h[:3] / h[3]
        np.testing.assert_allclose(ours, ref, atol=1e-8)


def test_lens_matches_opencv_projection() -> None:
    cam = make_ring_cameras(2, distortion=(-0.3, 0.1, 0.002, -0.002, 0.01), seed=4)[0]
    norm = undistort_points(cam, np.random.default_rng(4).uniform([5, 5], [315, 235], (50, 2)))
    np.testing.assert_allclose(lens(cam, norm)[0], normalised_to_pixels(cam, norm), atol=1e-9)


def test_bone_ends_within_condemns_both_ends_of_a_bad_bone_only() -> None:
    # a chain 0-1-2-3 of 10 mm bones; bone 2-3 stretched to 15 mm, keypoint 4 missing
    pts = np.array([[0, 0, 0], [10, 0, 0], [20, 0, 0], [35, 0, 0], [np.nan] * 3], dtype=float)
    bones = [(0, 1), (1, 2), (2, 3), (3, 4)]
    ok = bone_ends_within(pts, bones, np.full(4, 10.0), tolerance=0.25)
    assert ok.tolist() == [True, True, False, False, True]
    assert bone_ends_within(pts, bones, np.full(4, 10.0), tolerance=0.6).all()
