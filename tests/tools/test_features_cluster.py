"""Clustering features: egocentric pose components and the clustered matrix, analytic cases."""

from __future__ import annotations

import numpy as np
import pytest
from numpy.typing import NDArray

from ethoagent.errors import InputError
from ethoagent.sim.synthetic import KEYPOINTS
from ethoagent.tools.features import (
    SIGNED_FEATURES,
    cluster_features,
    compute_features,
    compute_pose_components,
)
from tests.tools.test_features import MOUSE, _place

FPS = 30.0


def _reared(template: NDArray[np.float64]) -> NDArray[np.float64]:
    """The template with the front half pulled back towards the centre (a top-view rear)."""
    out = template.copy()
    front = out[:, 0] > 0
    out[front, 0] *= 0.5
    out[front, 2] += 30.0
    return out


def _sessions(
    frames: int = 120, seed: int = 0, dim: int = 3
) -> tuple[NDArray[np.float64], NDArray[np.bool_]]:
    """A mouse alternating flat / reared every 20 frames, at random places, headings, sizes.

    Returns ``(frames, 1, 12, dim)`` points and ``(frames,)`` True where reared.
    """
    rng = np.random.default_rng(seed)
    reared = (np.arange(frames) // 20) % 2 == 1
    pts = np.empty((frames, 1, len(KEYPOINTS), 3))
    for t in range(frames):
        template = _reared(MOUSE) if reared[t] else MOUSE
        yaw = rng.uniform(-np.pi, np.pi, 1)
        pts[t, 0] = _place(template, rng.uniform(-200, 200, (1, 2)), yaw)[0]
    return pts[..., :dim], reared


@pytest.mark.parametrize("dim", [2, 3])
def test_pose_components_see_posture_not_place_heading_or_unit(dim: int) -> None:
    pts, reared = _sessions(dim=dim)
    comp = compute_pose_components(pts, fps=FPS, keypoints=KEYPOINTS, n_components=3)
    assert comp.shape == (120, 1, 1)  # two postures span one direction of pose space
    pc = comp[:, 0, 0]
    # whitened: unit standard deviation over the session; two exact values, one per posture
    assert pc.std(ddof=1) == pytest.approx(1.0)
    np.testing.assert_allclose(pc[reared], pc[reared][0], atol=1e-9)
    np.testing.assert_allclose(pc[~reared], pc[~reared][0], atol=1e-9)
    assert abs(pc[reared][0] - pc[~reared][0]) > 1.5
    # the same session in other units (x 10) and moved gives the same components
    moved = pts * 10.0 + 500.0
    again = compute_pose_components(moved, fps=FPS, keypoints=KEYPOINTS, n_components=3)
    np.testing.assert_allclose(np.abs(again), np.abs(comp), atol=1e-9)


def test_pose_components_impute_a_missing_keypoint_and_mask_a_missing_body() -> None:
    pts, _ = _sessions()
    pts[:, 0, KEYPOINTS.index("forepaw_left")] = np.nan  # never seen
    pts[50:70, 0, KEYPOINTS.index("tail_base")] = np.nan  # longer than the gap filling
    comp = compute_pose_components(pts, fps=FPS, keypoints=KEYPOINTS, n_components=4)
    ok = np.asarray(np.isfinite(comp).all(axis=-1), dtype=np.bool_)[:, 0]
    assert not ok[50:70].any()
    assert ok[:50].all() and ok[70:].all()


def test_pose_components_reject_zero_components() -> None:
    pts, _ = _sessions(frames=10)
    with pytest.raises(InputError, match="n_components"):
        compute_pose_components(pts, fps=FPS, keypoints=KEYPOINTS, n_components=0)


def _turn(omega: float, frames: int = 90) -> NDArray[np.float64]:
    t = np.arange(frames) / FPS
    xy = np.stack([np.cos(omega * t), np.sin(omega * t)], axis=1) * 100.0 / max(abs(omega), 1)
    return _place(MOUSE, xy, omega * t + np.sign(omega) * np.pi / 2)[:, None]


def test_cluster_features_treat_left_and_right_turns_alike() -> None:
    left, right = _turn(2.0), _turn(-2.0)
    both = np.concatenate([left, right], axis=1)  # two animals, mirror images
    feats = compute_features(both, fps=FPS, keypoints=KEYPOINTS, individuals=("l", "r"))
    comp = compute_pose_components(both, fps=FPS, keypoints=KEYPOINTS, n_components=2)
    out = cluster_features(feats, comp, context_window_s=1.0)
    for name in SIGNED_FEATURES:
        assert name not in out.names
        col = out.column(f"{name}_abs")
        np.testing.assert_allclose(col[:, 0], col[:, 1], atol=1e-9)
    np.testing.assert_allclose(out.column("heading_rate_abs")[5:-5], 2.0, rtol=1e-6)
    signed = feats.column("heading_rate")
    assert np.all(signed[5:-5, 0] > 0) and np.all(signed[5:-5, 1] < 0)
    # pose, its rolling statistics and the context block, each once
    assert {"pose_pc1", "pose_pc1_mean", "pose_pc1_std", "speed_ctx_mean"} <= set(out.names)
    assert {"heading_rate_abs_ctx_std", "pose_pc1_ctx_std"} <= set(out.names)
    assert len(set(out.names)) == len(out.names) == out.values.shape[2]
    assert out.valid.all()
    x, index = out.matrix()
    assert x.shape == (2 * 90, len(out.names)) and index.shape == (180, 2)


def test_cluster_features_without_context_and_checks() -> None:
    pts, _ = _sessions(frames=40)
    feats = compute_features(pts, fps=FPS, keypoints=KEYPOINTS)
    comp = compute_pose_components(pts, fps=FPS, keypoints=KEYPOINTS)
    out = cluster_features(feats, comp, context_window_s=0.0)
    assert not any(n.endswith(("_ctx_mean", "_ctx_std")) for n in out.names)
    assert len(out.names) == len(feats.names) + 3 * comp.shape[2]
    with pytest.raises(InputError, match="pose components"):
        cluster_features(feats, comp[:10], context_window_s=0.0)
    with pytest.raises(InputError, match="context_window_s"):
        cluster_features(feats, comp, context_window_s=-1.0)
