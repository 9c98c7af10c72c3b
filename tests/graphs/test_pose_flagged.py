"""What a flagged frame keeps, the frame's own up in the left/right check, coverage of names."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from ethoagent.graphs.kit.nodes import Stage
from ethoagent.graphs.pose.item_stages import body_axes, lateral_offsets
from ethoagent.graphs.pose.stages import make_left_right_check
from ethoagent.graphs.pose.verify import kept_proposal, side_offsets
from ethoagent.graphs.triangulate.graph import FrameInput, FramePoints, make_triangulation_stage
from ethoagent.model.checks import CheckResult
from ethoagent.model.skeleton import MOUSE12
from ethoagent.sim.synthetic import simulate_world
from ethoagent.tools.cameras import make_ring_cameras, project_points
from ethoagent.tools.triangulate import median_bone_lengths

K = {n: i for i, n in enumerate(MOUSE12.keypoints)}


@pytest.fixture(scope="module")
def world_points() -> np.ndarray:
    """``(frames, 12, 3)`` mm of one simulated mouse."""
    return simulate_world(60, animals=1, seed=3).points_3d[:, 0]


def _proposal(method: str, used: int) -> FramePoints:
    reading = np.full((2, 12, 2), np.nan)
    reading.reshape(-1, 2)[:used] = 1.0
    return FramePoints(points_3d=np.zeros((12, 3)), points_2d=reading, method=method)


def _check(name: str, failing: set[str]) -> Callable[[FrameInput, FramePoints], CheckResult]:
    def check(inp: FrameInput, out: FramePoints) -> CheckResult:
        ok = out.method not in failing
        return CheckResult(name=name, passed=ok, value=None, threshold=None, message=name)

    return check


async def _never(*args: object) -> FramePoints:
    raise AssertionError("kept_proposal proposes nothing")


def test_a_flagged_frame_keeps_the_proposal_failing_fewest_checks_earliest_first() -> None:
    stage: Stage[FrameInput, FramePoints] = Stage(
        name="triangulate",
        propose=_never,
        checks=[
            _check("reprojection", {"dlt", "ransac", "re-ask"}),
            _check("bones", {"dlt", "names", "re-ask"}),
        ],
    )
    inp = FrameInput(frame=0, points_2d=np.zeros((2, 12, 2)))
    # the last one tried (re-ask) fails both checks; ransac and names fail one each
    proposals = [_proposal(m, 10) for m in ("dlt", "ransac", "names", "re-ask")]
    kept, fails = kept_proposal(stage, inp, proposals)
    assert kept.method == "ransac" and fails == ["reprojection"]
    # of equals, one that still rests on the frame's labels (passes coverage) goes first
    covered: Stage[FrameInput, FramePoints] = Stage(
        name="triangulate",
        propose=_never,
        checks=[
            _check("coverage", {"dlt", "ransac", "re-ask"}),
            _check("bones", {"dlt", "names", "re-ask"}),
        ],
    )
    kept, fails = kept_proposal(covered, inp, proposals)
    assert kept.method == "names" and fails == ["bones"]
    # one proposal alone is kept whatever it fails
    kept, fails = kept_proposal(stage, inp, proposals[-1:])
    assert kept.method == "re-ask" and fails == ["reprojection", "bones"]


def test_the_frames_own_up_judges_a_rolled_body_the_seeds_up_cannot(
    world_points: np.ndarray,
) -> None:
    axes = body_axes(MOUSE12, world_points[:3])
    frame = world_points[30]
    # roll the body 120 degrees about its own head-to-tail axis (a mouse on its side and
    # further): the seeds' world up now points to the body's other side
    forward = frame[K["back_front"]] - frame[K["back_rear"]]
    forward /= np.linalg.norm(forward)
    angle = np.deg2rad(120.0)
    skew = np.array(
        [[0, -forward[2], forward[1]], [forward[2], 0, -forward[0]], [-forward[1], forward[0], 0]]
    )
    rot = np.eye(3) + np.sin(angle) * skew + (1 - np.cos(angle)) * skew @ skew
    centre = frame[K["back_mid"]]
    rolled = (frame - centre) @ rot.T + centre
    fixed = lateral_offsets(MOUSE12, rolled, axes.up) * axes.sign
    assert (fixed < -2.0).any()  # the seeds' up calls correct pairs swapped
    assert (side_offsets(axes, rolled) > 0).all()
    check = make_left_right_check(axes)
    inp = FrameInput(frame=30, points_2d=np.zeros((2, 12, 2)))
    assert check(inp, FramePoints(points_3d=rolled, points_2d=inp.points_2d, method="d")).passed
    # a real swap is still caught on the rolled body
    swapped = rolled.copy()
    swapped[[K["ear_left"], K["ear_right"]]] = swapped[[K["ear_right"], K["ear_left"]]]
    res = check(inp, FramePoints(points_3d=swapped, points_2d=inp.points_2d, method="d"))
    assert not res.passed and "ear_left/ear_right" in res.message
    # without a hindpaw the frame has no up of its own: the seeds' is used
    hidden = frame.copy()
    hidden[K["hindpaw_left"]] = np.nan
    np.testing.assert_allclose(
        side_offsets(axes, hidden), lateral_offsets(MOUSE12, hidden, axes.up) * axes.sign
    )


def test_coverage_counts_the_labels_an_escalation_may_read(world_points: np.ndarray) -> None:
    cams = make_ring_cameras(4, seed=1)
    truth = world_points[40]
    named = project_points(cams, truth).transpose(1, 0, 2)
    lengths = median_bone_lengths(world_points[:3], MOUSE12.bone_index)
    empty = FrameInput(frame=40, points_2d=np.full_like(named, np.nan))
    by_names = FramePoints(points_3d=truth, points_2d=named, method="model's names")

    def coverage(offered: np.ndarray | None) -> CheckResult:
        stage = make_triangulation_stage(cams, lengths, MOUSE12, offered=offered)
        check = next(c for c in stage.checks if c(empty, by_names).name == "coverage")
        return check(empty, by_names)

    # the per-view stages read nothing: 48 labels used of 0 given fails without `offered`
    assert not coverage(None).passed
    res = coverage(np.isfinite(named[..., 0]))
    assert res.passed and res.value == pytest.approx(1.0)
    # a proposal using half of what was offered fails
    half = FramePoints(
        points_3d=truth,
        points_2d=np.where(np.arange(4)[:, None, None] < 2, named, np.nan),
        method="x",
    )
    stage = make_triangulation_stage(cams, lengths, MOUSE12, offered=np.isfinite(named[..., 0]))
    results = [c(empty, half) for c in stage.checks]
    cov = next(r for r in results if r.name == "coverage")
    assert not cov.passed and cov.value == pytest.approx(0.5)
