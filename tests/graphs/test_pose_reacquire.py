"""Re-acquiring a lost keypoint: accepted only where the 3D check verifies it."""

from __future__ import annotations

import numpy as np

from ethoagent.graphs.pose.reacquire import ReacquireLimits, reacquire
from ethoagent.model.camera import Camera
from ethoagent.model.skeleton import MOUSE12
from ethoagent.sim.synthetic import simulate_world
from ethoagent.tools.cameras import make_ring_cameras, project_points
from ethoagent.tools.triangulate import median_bone_lengths

K = {n: i for i, n in enumerate(MOUSE12.keypoints)}
LIMITS = ReacquireLimits(gate_px=60.0, reprojection_px=6.0, bone_tolerance=0.25, min_views=3)


def _scene() -> tuple[list[Camera], np.ndarray, np.ndarray, np.ndarray]:
    cams = make_ring_cameras(6, seed=1)
    pts = simulate_world(40, animals=1, seed=2).points_3d[:, 0]
    reference = median_bone_lengths(pts[:3], MOUSE12.bone_index)
    return cams, pts, reference, np.moveaxis(project_points(cams, pts[30]), 1, 0)


def test_a_lost_paw_comes_back_from_its_free_candidates() -> None:
    cams, pts, reference, uv = _scene()  # uv: (views, keypoints, 2)
    paw = K["hindpaw_left"]
    rng = np.random.default_rng(0)
    # candidates: every mark, plus clutter that no two views agree on
    cands = [np.vstack([uv[v], rng.uniform(0, 300, (4, 2))]) for v in range(len(cams))]
    points, reading = pts[30].copy(), uv.copy()
    points[paw], reading[:, paw] = np.nan, np.nan
    # the track's guess is 15 mm off (a stale prediction after an occlusion)
    guess = pts[30] + np.array([15.0, 0.0, 0.0])
    out3, out2, found = reacquire(
        cams, cands, points, reading, guess, MOUSE12.bone_index, reference, LIMITS
    )
    assert found == [paw]
    assert np.linalg.norm(out3[paw] - pts[30, paw]) < 0.5
    np.testing.assert_allclose(out2[:, paw], uv[:, paw], atol=1e-6)
    others = [k for k in range(len(points)) if k != paw]
    np.testing.assert_array_equal(out3[others], points[others])


def test_a_candidate_on_the_wrong_body_part_is_refused() -> None:
    cams, pts, reference, uv = _scene()
    paw = K["hindpaw_left"]
    points, reading = pts[30].copy(), uv.copy()
    points[paw], reading[:, paw] = np.nan, np.nan
    # the only free marks are a real 3D point 40 mm above the paw: consistent across
    # views, but its bone to back_rear is far from the seeds' length
    wrong = pts[30, paw] + np.array([0.0, 0.0, 40.0])
    cands = [
        np.vstack([uv[v, [k for k in range(12) if k != paw]], p])
        for v, p in enumerate(project_points(cams, wrong))
    ]
    out3, _, found = reacquire(
        cams, cands, points, reading, pts[30], MOUSE12.bone_index, reference, LIMITS
    )
    assert found == []
    assert np.isnan(out3[paw]).all()
    # two views alone do not verify a point: with min_views 3 and only two views seeing
    # the right mark, nothing is accepted
    kept = [k for k in range(12) if k != paw]
    cands2 = [uv[v] if v < 2 else uv[v, kept] for v in range(len(cams))]
    _, _, found2 = reacquire(
        cams, cands2, points, reading, pts[30], MOUSE12.bone_index, reference, LIMITS
    )
    assert found2 == []
