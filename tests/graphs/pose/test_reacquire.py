"""Lost keypoints re-acquired in the output from the marks no keypoint reads: the 3D checks
that must hold (views, bones to verified keypoints, side of the body, an unambiguous joint
assignment, consecutive frames) on an exactly known body, and the graph recording it."""

from __future__ import annotations

import csv
import json
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from ethoagent.agent.trace import read_trace
from ethoagent.graphs.pose.item_stages import body_axes
from ethoagent.graphs.pose.reacquire import (
    STRONG_VIEWS,
    Checks,
    reacquire_chunk,
    side_of_body,
    verified_keypoints,
)
from ethoagent.model.skeleton import MOUSE12
from ethoagent.tools.cameras import make_ring_cameras, project_points
from ethoagent.tools.triangulate import median_bone_lengths

K = {name: i for i, name in enumerate(MOUSE12.keypoints)}
# a mouse facing +x, z up (its left is +y), mm
BODY = np.array(
    [
        [40.0, 8.0, 20.0],  # ear_left
        [40.0, -8.0, 20.0],  # ear_right
        [30.0, 0.0, 20.0],  # back_front
        [10.0, 0.0, 22.0],  # back_mid
        [-10.0, 0.0, 20.0],  # back_rear
        [30.0, 10.0, 0.0],  # forepaw_left
        [30.0, -10.0, 0.0],  # forepaw_right
        [-10.0, 10.0, 0.0],  # hindpaw_left
        [-10.0, -10.0, 0.0],  # hindpaw_right
        [-20.0, 0.0, 15.0],  # tail_base
        [-40.0, 0.0, 8.0],  # tail_mid
        [-60.0, 0.0, 2.0],  # tail_tip
    ]
)
FRAMES = 6
CAMS = make_ring_cameras(6, size=(640, 480), focal_px=800.0, seed=0)
REFERENCE = median_bone_lengths(BODY[None], MOUSE12.bone_index)
AXES = body_axes(MOUSE12, BODY[None])


def _checks(axes: bool = True) -> Checks:
    return Checks(REFERENCE, MOUSE12.bone_index, 0.25, AXES if axes else None)


def _truth() -> np.ndarray:
    """``(frames, keypoints, 3)``: the body walking 1 mm a frame along x."""
    walk: np.ndarray = BODY[None] + np.arange(FRAMES)[:, None, None] * np.array([1.0, 0, 0])
    return walk


def _scene(
    lost: list[str], views: dict[str, list[int]] | None = None
) -> tuple[list[list[np.ndarray]], np.ndarray, np.ndarray, np.ndarray]:
    """Candidates per frame and view (every keypoint's mark, a lost one's only in ``views``),
    the output without the ``lost`` keypoints, its 2D reading, and the truth."""
    truth = _truth()
    marks = project_points(CAMS, truth)  # (frames, keypoints, views, 2)
    cands = []
    for t in range(FRAMES):
        per_view = []
        for v in range(len(CAMS)):
            keep = [
                k
                for k in range(len(BODY))
                if MOUSE12.keypoints[k] not in (views or {})
                or v in (views or {})[MOUSE12.keypoints[k]]
            ]
            per_view.append(marks[t, keep, v])
        cands.append(per_view)
    pts3 = truth.copy()
    pts2 = marks.transpose(0, 2, 1, 3).copy()
    for name in lost:
        pts3[:, K[name]] = np.nan
        pts2[:, :, K[name]] = np.nan
    return cands, pts3, pts2, truth


def test_a_lost_paw_whose_marks_are_free_comes_back_at_its_point() -> None:
    cands, pts3, pts2, truth = _scene(["forepaw_left"])
    out3, out2, taken = reacquire_chunk(CAMS, cands, pts3, pts2, _checks())
    assert taken[:, K["forepaw_left"]].all() and taken.sum() == FRAMES
    np.testing.assert_allclose(out3, truth, atol=1e-6)
    assert np.isfinite(out2[:, :, K["forepaw_left"]]).all()
    # the input is not touched: the output is a copy
    assert np.isnan(pts3[:, K["forepaw_left"]]).all()


def test_two_views_alone_do_not_re_acquire_but_continue_a_run() -> None:
    two = {"forepaw_left": [0, 1]}
    cands, pts3, pts2, _ = _scene(["forepaw_left"], two)
    assert not reacquire_chunk(CAMS, cands, pts3, pts2, _checks())[2].any()
    # the first frame shows it in enough views: the run it starts is kept
    strong, *_ = _scene(["forepaw_left"])
    cands[0] = strong[0]
    taken = reacquire_chunk(CAMS, cands, pts3, pts2, _checks())[2]
    assert taken[:, K["forepaw_left"]].all()
    assert STRONG_VIEWS > 2


def test_two_lost_paws_go_to_their_own_sides_or_nowhere() -> None:
    cands, pts3, pts2, truth = _scene(["forepaw_left", "forepaw_right"])
    out3, _, taken = reacquire_chunk(CAMS, cands, pts3, pts2, _checks())
    assert taken[:, [K["forepaw_left"], K["forepaw_right"]]].all()
    np.testing.assert_allclose(out3, truth, atol=1e-6)
    # without the side test the two paws fit either mark equally well: nothing is filled
    assert not reacquire_chunk(CAMS, cands, pts3, pts2, _checks(axes=False))[2].any()


def test_the_side_of_the_body_and_a_near_vertical_spine() -> None:
    left, spine = side_of_body(AXES, BODY) or (None, None)
    assert left is not None and spine is not None
    assert (BODY[K["forepaw_left"]] - spine) @ left > 0 > (BODY[K["forepaw_right"]] - spine) @ left
    # a skeleton naming no hips (DANNCE's mouse22) reads the rear from the tail base
    no_hips = replace(MOUSE12, roles={r: k for r, k in MOUSE12.roles.items() if r != "hips"})
    assert side_of_body(replace(AXES, skeleton=no_hips), BODY) is not None
    rearing = BODY.copy()
    rearing[[K["ear_left"], K["ear_right"], K["back_front"]], 2] += 200.0
    assert side_of_body(AXES, rearing) is None


def test_a_paw_is_not_re_acquired_next_to_a_keypoint_its_bones_do_not_verify() -> None:
    cands, pts3, pts2, _ = _scene(["forepaw_left"])
    pts3[:, K["back_front"], 1] += 12.0  # the neck off its bones by far more than 25 %
    assert not verified_keypoints(pts3[0], _checks())[K["back_front"]]
    assert not reacquire_chunk(CAMS, cands, pts3, pts2, _checks())[2].any()


def test_one_frame_alone_is_not_kept_but_next_to_the_output_it_is() -> None:
    cands, pts3, pts2, truth = _scene(["forepaw_left"], {"forepaw_left": []})
    full, *_ = _scene([])
    cands[3] = full[3]  # its marks are free in frame 3 only
    assert not reacquire_chunk(CAMS, cands, pts3, pts2, _checks())[2].any()
    pts3[2, K["forepaw_left"]] = truth[2, K["forepaw_left"]]  # the output has it in frame 2
    taken = reacquire_chunk(CAMS, cands, pts3, pts2, _checks())[2]
    assert taken[3, K["forepaw_left"]] and taken.sum() == 1


def test_the_graph_records_its_re_acquisitions_per_chunk(
    pose_run: Callable[..., tuple[Path, dict[str, Any]]],
) -> None:
    on, _ = pose_run("default")
    calls = [
        e
        for e in read_trace(on / "trace.jsonl")
        if e.get("node") == "reacquire" and e["kind"] == "tool_call"
    ]
    assert [e["item"] for e in calls] == ["frames 0-9", "frames 10-19"]
    with (on / "outputs" / "frames.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 20 and all("reacquired_keypoints" in r for r in rows)
    named = [n for r in rows for n in r["reacquired_keypoints"].split(";") if n]
    summary = json.loads((on / "outputs" / "summary.json").read_text())
    assert sum(summary["reacquired_keypoint_frames"].values()) == len(named)
    assert "keypoint-frames re-acquired" in (on / "outputs" / "report.md").read_text()
    off, _ = pose_run("no-reacquire", reacquire_lost=False)
    assert not any(e.get("node") == "reacquire" for e in read_trace(off / "trace.jsonl"))
