"""The refined and stage-wise readings as competing hypotheses: the checks' scores on exactly
known motions, the choice they make, and the graph recording it."""

from __future__ import annotations

import csv
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

import numpy as np
import pytest

from ethoagent.agent.trace import read_trace
from ethoagent.graphs.kit.runtime import offline_runtime
from ethoagent.graphs.pose.graph import GRAPH_NAME
from ethoagent.graphs.pose.hypotheses import (
    CHOICE_MARGIN,
    STAGEWISE,
    Reading,
    ReadingScores,
    choose_readings,
    chosen_points,
    consecutive,
    score_reading,
)
from ethoagent.graphs.pose.item_stages import Env
from ethoagent.graphs.pose.refind import BodySearch
from ethoagent.graphs.pose.track import FrameResult, Track
from ethoagent.model.skeleton import Skeleton

# three keypoints on a line, bones 0-1 and 1-2 of 10 mm each
BONES = [(0, 1), (1, 2)]
REFERENCE = np.array([10.0, 10.0])


def _walk(frames: int, step: float = 2.0) -> np.ndarray:
    """``(frames, 3, 3)`` mm: the 3-keypoint body in uniform motion along y."""
    body = np.array([[0.0, 0.0, 0.0], [10.0, 0.0, 0.0], [20.0, 0.0, 0.0]])
    moved: np.ndarray = body[None] + np.arange(frames)[:, None, None] * np.array([0.0, step, 0.0])
    return moved


def test_uniform_motion_at_seed_lengths_scores_zero() -> None:
    s = score_reading(_walk(10), REFERENCE, BONES)
    np.testing.assert_allclose(s.bone, 0.0, atol=1e-12)
    np.testing.assert_allclose(s.smoothness, 0.0, atol=1e-12)
    np.testing.assert_array_equal(s.missing, 0.0)


def test_a_keypoint_jumping_between_marks_is_not_smooth_and_breaks_its_bones() -> None:
    pts = _walk(9)
    pts[1::2, 2, 0] += 5.0  # keypoint 2 flips 5 mm back and forth every frame
    s = score_reading(pts, REFERENCE, BONES)
    # acceleration of an alternating +-5 mm offset is 2 * 5 mm per frame^2
    assert s.smoothness[2] == pytest.approx(10.0)
    assert s.smoothness[0] == pytest.approx(0.0)
    # the bone 1-2 is 15 mm in half the frames: median over 9 frames (4 of 9 off) is 0
    assert s.bone[2] == pytest.approx(0.0)
    pts[:, 2, 0] += 5.0  # now 15 or 20 mm in every frame: 50 % or 100 % too long
    assert score_reading(pts, REFERENCE, BONES).bone[2] == pytest.approx(0.5)


def test_missing_frames_and_a_lost_keypoint() -> None:
    pts = _walk(10)
    pts[:4, 0] = np.nan
    pts[:, 2] = np.nan
    s = score_reading(pts, REFERENCE, BONES)
    assert s.missing.tolist() == [0.4, 0.0, 1.0]
    # a keypoint never seen has no score: ``inf``, never better than a measured one
    assert np.isinf(s.bone[2]) and np.isinf(s.smoothness[2])
    # keypoint 1 keeps only its bone to keypoint 0 where keypoint 0 is there
    assert s.bone[1] == pytest.approx(0.0)


def test_score_reading_names_the_axes_it_expected() -> None:
    with pytest.raises(ValueError, match=r"\(frames, keypoints, 3\)"):
        score_reading(np.zeros((5, 3)), REFERENCE, BONES)


def _scores(bone: list[float], smooth: list[float], missing: list[float]) -> ReadingScores:
    return ReadingScores(np.array(bone), np.array(smooth), np.array(missing))


def test_the_refined_reading_is_kept_unless_the_stagewise_one_is_clearly_better() -> None:
    refined = _scores([0.02, 0.02, 0.02, 0.02], [1.0, 1.0, 1.0, 1.0], [0, 0, 0, 0])
    near = 1 - CHOICE_MARGIN / 2  # within the margin: a tie
    stagewise = _scores(
        [0.02 * near, 0.01, 0.01, 0.03],
        [1.0 * near, 1.0, 0.5, 0.5],
        [0, 0, 0, 0],
    )
    take = choose_readings(refined, stagewise, bone_tolerance=0.25)
    # tie -> refined; better bone, same smoothness -> stage-wise; better on both -> stage-wise;
    # better on one, worse on the other -> refined
    assert take.tolist() == [False, True, True, False]


def test_more_missing_needs_both_checks_and_a_lost_keypoint_needs_a_verified_one() -> None:
    inf = np.inf
    refined = _scores([0.02, 0.02, inf, inf], [1.0, 1.0, inf, inf], [0.0, 0.0, 1.0, 1.0])
    stagewise = _scores([0.01, 0.01, 0.05, 0.40], [1.0, 0.5, 2.0, 2.0], [0.2, 0.2, 0.1, 0.1])
    take = choose_readings(refined, stagewise, bone_tolerance=0.25)
    # more frames missing: one better check is not enough, two are; a keypoint the refined
    # reading lost comes back only where its bones are within the tolerance
    assert take.tolist() == [False, True, True, False]


def _reading(name: str, points: np.ndarray) -> Reading:
    """A reading whose chunk holds ``points`` (its track and stages are not used here)."""
    results = [
        FrameResult(
            p,
            np.where(np.isfinite(p[None, :, :2]), p[None, :, :2], np.nan),
            "accepted",
            "dlt",
            0.0,
            {},
            None,
        )
        for p in points
    ]
    return Reading(name, cast(Track, None), cast(Env, None), cast(BodySearch, None), results)


def test_a_keypoint_the_refined_reading_lost_is_taken_from_the_stagewise_one(
    tmp_path: Path,
) -> None:
    skeleton = Skeleton(name="line3", keypoints=("a", "b", "c"), bones=(("a", "b"), ("b", "c")))
    refined = _walk(12)
    refined[:, 2] = np.nan  # the refined track lost c
    stagewise = _walk(12)
    stagewise[:, 0, 2] += 1.0  # a is 1 mm off here, as smooth and as long-boned
    rt = offline_runtime(tmp_path, GRAPH_NAME, "choose", {})
    pts3, pts2, taken = chosen_points(
        rt,
        [_reading("refined", refined), _reading(STAGEWISE, stagewise)],
        REFERENCE,
        skeleton,
        0.25,
        range(100, 112),
    )
    assert taken == ["c"]
    np.testing.assert_array_equal(pts3[:, 2], stagewise[:, 2])
    np.testing.assert_array_equal(pts3[:, :2], refined[:, :2])
    np.testing.assert_array_equal(pts2[:, 0, 2], stagewise[:, 2, :2])
    (decision,) = [e for e in read_trace(rt.run.trace_path) if e["kind"] == "decision"]
    assert decision["item"] == "frames 100-111" and decision["action"] == "stage-wise reading for c"
    assert "c: bone none/0, smoothness none/0" in decision["reason"]


def test_frames_that_are_not_consecutive_keep_the_refined_reading(tmp_path: Path) -> None:
    skeleton = Skeleton(name="line3", keypoints=("a", "b", "c"), bones=(("a", "b"), ("b", "c")))
    rng = np.random.default_rng(0)
    # labelled frames picked from a long recording: the body jumps 30 mm between frames
    refined = _walk(12) + rng.uniform(-30.0, 30.0, size=(12, 1, 3))
    refined[:, 2] = np.nan  # the refined reading lost c; the stage-wise one has it
    stagewise = refined.copy()
    stagewise[:, 2] = refined[:, 1] + np.array([10.0, 0.0, 0.0])
    assert consecutive(score_reading(_walk(12), REFERENCE, BONES), REFERENCE)
    assert not consecutive(score_reading(refined, REFERENCE, BONES), REFERENCE)
    rt = offline_runtime(tmp_path, GRAPH_NAME, "choose", {})
    pts3, _, taken = chosen_points(
        rt,
        [_reading("refined", refined), _reading(STAGEWISE, stagewise)],
        REFERENCE,
        skeleton,
        0.25,
        range(12),
    )
    assert taken == [] and np.isnan(pts3[:, 2]).all()
    (decision,) = [e for e in read_trace(rt.run.trace_path) if e["kind"] == "decision"]
    assert decision["action"] == "refined reading"
    assert decision["reason"].startswith("frames not consecutive")


def test_the_graph_records_its_choice_per_chunk(
    pose_run: Callable[..., tuple[Path, dict[str, Any]]],
) -> None:
    both, state = pose_run("default")
    assert "stagewise" in state
    choices = [
        e
        for e in read_trace(both / "trace.jsonl")
        if e["kind"] == "decision" and e.get("node") == "choose_reading"
    ]
    assert [e["item"] for e in choices] == ["frames 0-9", "frames 10-19"]
    assert all("(refined/stage-wise)" in e["reason"] for e in choices)
    # the stage-wise reading's own stages are in the trace, marked as such
    assert any(e.get("reading") == "stage-wise" for e in read_trace(both / "trace.jsonl"))
    with (both / "outputs" / "frames.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 20 and all("stagewise_keypoints" in r for r in rows)
    one, state = pose_run("no-stagewise", stagewise_hypothesis=False)
    assert "stagewise" not in state
    assert not any(e.get("node") == "choose_reading" for e in read_trace(one / "trace.jsonl"))
    # on an easy session both readings agree: the choice changes nothing measurable
    a = json.loads((both / "outputs" / "summary.json").read_text())["ground_truth"]
    b = json.loads((one / "outputs" / "summary.json").read_text())["ground_truth"]
    assert a["mean_error_mm"] < 3.0 and b["mean_error_mm"] < 3.0
