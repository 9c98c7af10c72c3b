"""The pose graph's tracking helpers: the 3D left/right check and its mirror escalation,
which keypoints of a flagged frame the predictor may trust, and re-acquisition."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from ethoagent.agent.offline import OfflineClient
from ethoagent.agent.trace import Tracer
from ethoagent.config import Budget
from ethoagent.errors import InputError
from ethoagent.graphs.kit.nodes import Feedback, StageContext
from ethoagent.graphs.pose.item_stages import body_axes, lateral_offsets, missing_axis_roles
from ethoagent.graphs.pose.stages import make_left_right_check, make_mirror_escalation
from ethoagent.graphs.pose.track import (
    FrameResult,
    consistent_with_track,
    fill_from_anchor,
    trusted_points,
)
from ethoagent.graphs.triangulate.graph import FrameInput, FramePoints
from ethoagent.model.skeleton import CALMS21, MOUSE12
from ethoagent.sim.synthetic import simulate_world
from ethoagent.tools.cameras import make_ring_cameras, project_points
from ethoagent.tools.triangulate import median_bone_lengths

SKELETON = MOUSE12
K = {n: i for i, n in enumerate(SKELETON.keypoints)}


@pytest.fixture(scope="module")
def world_points() -> np.ndarray:
    """``(frames, 12, 3)`` mm of one simulated mouse: walking, turning, rearing, grooming."""
    return simulate_world(600, animals=1, seed=3).points_3d[:, 0]


def _swap(points: np.ndarray, a: str, b: str) -> np.ndarray:
    out = points.copy()
    out[..., [K[a], K[b]], :] = out[..., [K[b], K[a]], :]
    return out


def test_lateral_offsets_keep_one_sign_through_every_behaviour(world_points: np.ndarray) -> None:
    axes = body_axes(SKELETON, world_points[:3])
    np.testing.assert_allclose(np.linalg.norm(axes.up), 1.0)
    assert axes.up[2] > 0.95  # the simulator's world has z up
    # every left keypoint lies on the animal's left, rearing and grooming included, with
    # the seeds' up direction and with the per-frame one from the hindpaws
    assert (lateral_offsets(SKELETON, world_points, axes.up) * axes.sign > 0).all()
    assert (lateral_offsets(SKELETON, world_points) * axes.sign > 0).all()
    # mirroring the world (a left-handed calibration frame) flips the sign it reads
    mirrored = world_points * np.array([1.0, -1.0, 1.0])
    m_axes = body_axes(SKELETON, mirrored[:3])
    assert m_axes.sign == -axes.sign
    assert (lateral_offsets(SKELETON, mirrored, m_axes.up) * m_axes.sign > 0).all()


def test_body_axes_need_the_back_and_hindpaws(world_points: np.ndarray) -> None:
    seeds = world_points[:3].copy()
    seeds[:, K["hindpaw_left"]] = np.nan
    with pytest.raises(InputError, match="hindpaw"):
        body_axes(SKELETON, seeds)
    # a skeleton without hindpaws cannot tell its sides apart in 3D, and says so
    assert missing_axis_roles(CALMS21) == ["hindpaws"]
    with pytest.raises(InputError, match="hindpaws"):
        body_axes(CALMS21, np.zeros((3, 7, 3)))


def test_left_right_check_catches_a_swap_in_every_view(world_points: np.ndarray) -> None:
    check = make_left_right_check(body_axes(SKELETON, world_points[:3]))
    inp = FrameInput(frame=10, points_2d=np.zeros((2, 12, 2)))
    good = check(
        inp, FramePoints(points_3d=world_points[10], points_2d=inp.points_2d, method="dlt")
    )
    assert good.passed
    bad = check(
        inp,
        FramePoints(
            points_3d=_swap(world_points[10], "forepaw_left", "forepaw_right"),
            points_2d=inp.points_2d,
            method="dlt",
        ),
    )
    assert not bad.passed and bad.value == 1.0
    assert "forepaw_left/forepaw_right" in bad.message
    # missing keypoints are not judged
    unknown = world_points[10].copy()
    unknown[K["ear_left"]] = np.nan
    assert check(inp, FramePoints(points_3d=unknown, points_2d=inp.points_2d, method="dlt")).passed
    # a hidden hindpaw does not hide a swap of the ears (the seeds give the up direction)
    hidden = _swap(world_points[10], "ear_left", "ear_right")
    hidden[K["hindpaw_right"]] = np.nan
    res = check(inp, FramePoints(points_3d=hidden, points_2d=inp.points_2d, method="dlt"))
    assert not res.passed and "ear_left/ear_right" in res.message


def test_mirror_escalation_undoes_a_consistent_swap(world_points: np.ndarray) -> None:
    cams = make_ring_cameras(4, seed=1)
    truth = world_points[40]
    reading = project_points(cams, truth).transpose(1, 0, 2)  # (views, 12, 2)
    swapped = _swap(reading, "hindpaw_left", "hindpaw_right")
    esc = make_mirror_escalation(cams, body_axes(SKELETON, world_points[:3]))
    ctx = StageContext(
        client=OfflineClient(),
        tracer=Tracer(None, run_id="t"),
        stage="triangulate",
        item="frame 40",
        budget=Budget(),
    )
    last = FramePoints(
        points_3d=_swap(truth, "hindpaw_left", "hindpaw_right"), points_2d=swapped, method="dlt"
    )
    inp = FrameInput(frame=40, points_2d=swapped)
    out = asyncio.run(esc.run(inp, last, Feedback(attempt=1, failed=[]), ctx))
    assert "hindpaw_left<->hindpaw_right" in out.method
    np.testing.assert_allclose(out.points_3d, truth, atol=1e-6)
    np.testing.assert_allclose(out.points_2d, reading)


def test_trusted_points_keep_only_what_the_checks_support(world_points: np.ndarray) -> None:
    cams = make_ring_cameras(4, seed=1)
    truth = world_points[50]
    reading = project_points(cams, truth).transpose(1, 0, 2)
    reference = median_bone_lengths(world_points[:3], SKELETON.bone_index)

    def result(points_3d: np.ndarray, points_2d: np.ndarray) -> FrameResult:
        return FrameResult(points_3d, points_2d, "flagged", "dlt", 0.0, {}, "test")

    assert np.isfinite(
        trusted_points(cams, result(truth, reading), 6.0, reference, 0.25, SKELETON.bone_index)
    ).all()
    # a mark 20 px off in one view: that keypoint is not trusted, the rest are
    off = reading.copy()
    off[1, K["tail_mid"]] += 20.0
    t = trusted_points(cams, result(truth, off), 6.0, reference, 0.25, SKELETON.bone_index)
    assert np.isnan(t[K["tail_mid"]]).all()
    assert np.isfinite(np.delete(t, K["tail_mid"], axis=0)).all()
    # consistent in 3D but on the wrong body part: its bones fail, both ends untrusted
    wrong = truth.copy()
    wrong[K["tail_tip"]] = truth[K["back_mid"]] + np.array([0.0, 0.0, 40.0])
    t = trusted_points(
        cams,
        result(wrong, project_points(cams, wrong).transpose(1, 0, 2)),
        6.0,
        reference,
        0.25,
        SKELETON.bone_index,
    )
    assert np.isnan(t[K["tail_tip"]]).all() and np.isnan(t[K["tail_mid"]]).all()
    assert np.isfinite(t[K["ear_left"]]).all()
    # a keypoint one view sees is not trusted
    one = reading.copy()
    one[1:, K["ear_right"]] = np.nan
    t = trusted_points(cams, result(truth, one), 6.0, reference, 0.25, SKELETON.bone_index)
    assert np.isnan(t[K["ear_right"]]).all()


def test_fill_from_anchor_moves_lost_keypoints_with_the_body(world_points: np.ndarray) -> None:
    anchor = world_points[100]
    # the body has since turned by 40 degrees and moved: the lost keypoints follow it
    a = np.deg2rad(40.0)
    rot = np.array([[np.cos(a), -np.sin(a), 0.0], [np.sin(a), np.cos(a), 0.0], [0, 0, 1.0]])
    now = (anchor - anchor[K["back_mid"]]) @ rot.T + anchor[K["back_mid"]] + [5.0, -3.0, 0.0]
    predicted = now.copy()
    predicted[[K["forepaw_left"], K["tail_tip"], K["back_front"]]] = np.nan
    np.testing.assert_allclose(fill_from_anchor(predicted, anchor), now, atol=1e-9)
    # two known keypoints: the mean shift only
    two = np.full_like(now, np.nan)
    shift = np.array([1.0, 2.0, 3.0])
    two[[0, 1]] = anchor[[0, 1]] + shift
    np.testing.assert_allclose(fill_from_anchor(two, anchor), anchor + shift)
    # nothing missing: unchanged; nothing known: nothing to anchor to
    np.testing.assert_array_equal(fill_from_anchor(now, anchor), now)
    empty = np.full_like(now, np.nan)
    assert np.isnan(fill_from_anchor(empty, anchor)).all()


def test_left_right_check_without_back_front(world_points: np.ndarray) -> None:
    # the body axis comes from what is known: ears' mean and the rear of the back
    axes = body_axes(SKELETON, world_points[:3])
    check = make_left_right_check(axes)
    inp = FrameInput(frame=0, points_2d=np.zeros((2, 12, 2)))
    pts = _swap(world_points[200], "ear_left", "ear_right")
    pts[K["back_front"]] = np.nan
    res = check(inp, FramePoints(points_3d=pts, points_2d=inp.points_2d, method="dlt"))
    assert not res.passed and "ear_left/ear_right" in res.message


def test_a_keypoint_far_from_the_track_stays_out_unless_the_body_moved() -> None:
    predicted = np.zeros((6, 3))
    points = predicted + np.array([1.0, 0.0, 0.0])  # every keypoint 1 mm from its prediction
    points[2] = [0.0, 25.0, 0.0]  # one wrong mark 25 mm away
    keep = consistent_with_track(points, predicted, bound=20.0)
    assert keep.tolist() == [True, True, False, True, True, True]
    moved = predicted + np.array([0.0, 0.0, 30.0])  # the whole body 30 mm away: the animal moved
    assert consistent_with_track(moved, predicted, bound=20.0).all()
    unknown = predicted.copy()
    unknown[0] = np.nan  # no prediction: nothing to compare with, kept
    assert consistent_with_track(points, unknown, bound=20.0)[0]
