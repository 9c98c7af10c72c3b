"""The pose graph on a small simulated session: offline accuracy, outputs, and a scripted
model that answers wrongly on purpose (retry with the failure fed back, escalation, flag)."""

from __future__ import annotations

import asyncio
import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from ethoagent.agent.offline import OfflineClient
from ethoagent.agent.trace import read_trace
from ethoagent.agent.types import ModelClient, Request
from ethoagent.errors import InputError
from ethoagent.graphs.kit.runtime import offline_runtime
from ethoagent.graphs.pose import inputs as pose_inputs
from ethoagent.graphs.pose import stages
from ethoagent.graphs.pose.graph import GRAPH_NAME, resolve_inputs, run_pose
from ethoagent.graphs.pose.inputs import PoseInputs
from ethoagent.graphs.pose.item_stages import (
    ASSIGN_PROMPT,
    REGIONS_PROMPT,
    AssignAnswer,
    KeypointChoice,
    _offline_assign,
    _offline_regions,
)
from ethoagent.graphs.pose.options import PoseOptions
from ethoagent.io.calibration import read_calibration
from ethoagent.io.keypoints import read_keypoints
from ethoagent.model.camera import Camera
from ethoagent.model.skeleton import MOUSE12, Skeleton
from ethoagent.runs import Run
from ethoagent.sim.simulate import simulate_session
from tests.scripted import ScriptedClient

FRAMES = 30


@pytest.fixture(scope="module")
def session(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("sim")
    simulate_session(out, preset="easy", frames=FRAMES, views=4, seed=5)
    return out


def _inputs(session: Path, **options: Any) -> PoseInputs:
    return resolve_inputs(
        session / "videos",
        session / "calibration.toml",
        session / "ground_truth" / "seeds.csv",
        options=PoseOptions(**options),
    )


def _run(
    tmp: Path, inputs: PoseInputs, client: ModelClient, run_id: str
) -> tuple[dict[str, Any], Run]:
    rt = offline_runtime(tmp, GRAPH_NAME, run_id, inputs.model_dump(), client)
    return asyncio.run(run_pose(rt, inputs)), rt.run


def test_offline_labels_a_session_accurately_with_few_model_calls(
    session: Path, tmp_path: Path
) -> None:
    state, run = _run(tmp_path, _inputs(session), OfflineClient(), "gated")
    summary = json.loads((run.outputs_dir / "summary.json").read_text())
    truth = summary["ground_truth"]
    assert summary["frames"] == FRAMES and summary["views"] == 4
    assert truth["mean_error_mm"] < 3.0 and truth["pck_5mm"] > 0.9
    assert len(summary["flagged_frames"]) <= FRAMES // 5
    # the cheap path answers most regions without a model
    assert summary["model_calls"]["regions"] == 0
    assert summary["model_calls_per_frame_view"] < 1.0
    for name in ("points_3d.csv", "frames.csv", "report.md", "overlay.png", "points_2d/top.csv"):
        assert (run.outputs_dir / name).is_file(), name
    nc = read_keypoints(run.outputs_dir / "points_3d.nc")
    anipose = read_keypoints(run.outputs_dir / "points_3d.csv")
    assert anipose.keypoints == nc.keypoints
    np.testing.assert_allclose(nc.points, anipose.points, atol=1e-3, equal_nan=True)
    header = (run.outputs_dir / "points_3d.csv").read_text().splitlines()[0].split(",")
    assert header[-1] == "fnum" and f"{nc.keypoints[0]}_error" in header
    assert state["outputs"]


def test_model_every_stage_calls_the_model_everywhere(session: Path, tmp_path: Path) -> None:
    inputs = _inputs(session, model_every_stage=True).model_copy(update={"frames": 6})
    client = ScriptedClient(
        {
            REGIONS_PROMPT: lambda r: _offline_regions(r).model_dump_json(),
            ASSIGN_PROMPT: lambda r: _offline_assign(r).model_dump_json(),
        }
    )
    _, run = _run(tmp_path, inputs, client, "paper")
    summary = json.loads((run.outputs_dir / "summary.json").read_text())
    labelled = 5  # frames 1-5 (frame 0 is a seed: its labels are given)
    assert len(client.calls(REGIONS_PROMPT)) == labelled * 4
    # the model saw the few-shot frames and the query as images, the crops with numbers
    assert all(len(r.messages[0].images) >= 2 for r in client.calls(REGIONS_PROMPT))
    assert all(len(r.messages[0].images) == 1 for r in client.calls(ASSIGN_PROMPT))
    assert summary["ground_truth"]["mean_error_mm"] < 3.0


def _wrong_assign(request: Request) -> str:
    """First answer per region: a candidate that does not exist. Frame 12: always hidden."""
    text = request.messages[0].content
    right = _offline_assign(request)
    if request.payload["frame"] == 12:
        hidden = [KeypointChoice(keypoint=c.keypoint, candidate=None) for c in right.labels]
        return AssignAnswer(labels=hidden).model_dump_json()
    if "does not exist" not in text:
        return json.dumps({"labels": [{"keypoint": right.labels[0].keypoint, "candidate": 99}]})
    return right.model_dump_json()


def test_scripted_wrong_answers_are_retried_escalated_and_flagged(
    session: Path, tmp_path: Path
) -> None:
    inputs = _inputs(session, model_every_stage=True).model_copy(update={"frames": 14})

    client = ScriptedClient(
        {
            REGIONS_PROMPT: lambda r: _offline_regions(r).model_dump_json(),
            ASSIGN_PROMPT: _wrong_assign,
        }
    )
    state, run = _run(tmp_path, inputs, client, "wrong")
    events = read_trace(run.trace_path)
    # 1. the bad candidate number failed the schema check and the retry prompt names it
    schema_fails = [
        e for e in events if e["kind"] == "check" and e["name"] == "schema" and not e["passed"]
    ]
    assert schema_fails and "does not exist" in schema_fails[0]["message"]
    retries = [e for e in events if e["kind"] == "decision" and e["action"] == "retry"]
    assert retries and retries[0]["node"] == "assign"
    fed_back = [r for r in client.calls(ASSIGN_PROMPT) if "does not exist" in r.messages[0].content]
    assert fed_back, "the failure never reached the next prompt"
    # 2. frame 12 has no labels at all: triangulation escalates through every strategy
    tri = [
        e
        for e in events
        if e["kind"] == "decision" and e.get("node") == "triangulate" and e["item"] == "frame 12"
    ]
    assert [e["strategy"] for e in tri if e["action"] == "escalate"] == [
        "swap_hypotheses",
        "ransac",
        "mirror_pairs",
        "reask_model",
    ]
    # 3. ... and is flagged for review, with the reason in the trace and the outputs
    assert 12 in state["flagged"]
    flags = [e for e in events if e["kind"] == "flag" and e["item"] == "frame 12"]
    assert flags
    rows = (run.outputs_dir / "frames.csv").read_text().splitlines()
    assert any(r.startswith("12,flagged") for r in rows)


def test_pose_model_predictions_as_candidates(session: Path, tmp_path: Path) -> None:
    # the simulator's exact 2D (likelihood = visibility) stand in for a 2D pose model
    preds = tmp_path / "predictions"
    preds.mkdir()
    for csv_file in (session / "ground_truth" / "2d").glob("*.csv"):
        shutil.copy(csv_file, preds / csv_file.name)
    inputs = resolve_inputs(
        session / "videos",
        session / "calibration.toml",
        session / "ground_truth" / "seeds.csv",
        frames=12,
        candidates_dir=preds,
    )
    assert inputs.candidates is not None and len(inputs.candidates) == 4
    _, run = _run(tmp_path / "runs", inputs, OfflineClient(), "preds")
    summary = json.loads((run.outputs_dir / "summary.json").read_text())
    assert summary["ground_truth"]["mean_error_mm"] < 0.5
    events = read_trace(run.trace_path)
    assert any(e.get("name") == "load_predictions" for e in events)
    assert not any(e.get("name") == "detect_marks" for e in events)
    partial = tmp_path / "partial"
    partial.mkdir()
    first = sorted(preds.glob("*.csv"))[0]
    shutil.copy(first, partial / first.name)
    with pytest.raises(InputError, match="no 2D prediction file for camera"):
        resolve_inputs(
            session / "videos",
            session / "calibration.toml",
            session / "ground_truth" / "seeds.csv",
            candidates_dir=partial,
        )


def test_inputs_are_checked(session: Path, tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no video file for camera"):
        resolve_inputs(
            tmp_path, session / "calibration.toml", session / "ground_truth" / "seeds.csv"
        )
    with pytest.raises(InputError, match="shortest video has"):
        resolve_inputs(
            session / "videos",
            session / "calibration.toml",
            session / "ground_truth" / "seeds.csv",
            frames=FRAMES + 5,
        )


def _renamed(skeleton: Skeleton, roles: dict[str, tuple[str, ...]] | None = None) -> Skeleton:
    """``skeleton`` with keypoints ``mark<i>`` and regions ``group<i>``: nothing else known."""
    new = {k: f"mark{i}" for i, k in enumerate(skeleton.keypoints)}
    return Skeleton(
        name="renamed",
        keypoints=tuple(new.values()),
        bones=tuple((new[a], new[b]) for a, b in skeleton.bones),
        left_right=tuple((new[a], new[b]) for a, b in skeleton.left_right),
        regions={
            f"group{i}": tuple(new[k] for k in kps)
            for i, kps in enumerate(skeleton.regions.values())
        },
        roles={r: tuple(new[k] for k in kps) for r, kps in (roles or skeleton.roles).items()},
    )


def test_the_skeleton_comes_from_the_inputs(session: Path, tmp_path: Path) -> None:
    frames = 8
    mouse = _inputs(session).model_copy(update={"frames": frames})
    assert mouse.skeleton == MOUSE12  # picked from the seed labels' keypoint names
    renamed = _renamed(MOUSE12)
    seeds = tmp_path / "seeds.csv"
    text = (session / "ground_truth" / "seeds.csv").read_text()
    for old, new in sorted(
        zip(MOUSE12.keypoints, renamed.keypoints, strict=True), key=lambda p: -len(p[0])
    ):
        text = text.replace(f",{old},", f",{new},")
    seeds.write_text(text)
    with pytest.raises(InputError, match="which no named skeleton"):
        resolve_inputs(session / "videos", session / "calibration.toml", seeds)
    other = resolve_inputs(
        session / "videos", session / "calibration.toml", seeds, frames=frames, skeleton=renamed
    )
    _, run_mouse = _run(tmp_path / "a", mouse, OfflineClient(), "mouse")
    _, run_other = _run(tmp_path / "b", other, OfflineClient(), "renamed")
    # the same animal under other names: the same 3D points, reported under its names
    a = run_mouse.load_arrays("pose_0000")["points_3d"]
    np.testing.assert_array_equal(run_other.load_arrays("pose_0000")["points_3d"], a)
    header = (run_other.outputs_dir / "points_3d.csv").read_text().splitlines()[0]
    assert header.startswith("mark0_x,mark0_y,mark0_z,mark0_error")
    truth = json.loads((run_other.outputs_dir / "summary.json").read_text())["ground_truth"]
    assert list(truth["error_mm_by_region"]) == ["group0", "group1", "group2", "group3"]
    # without hindpaws the 3D left/right check cannot run: said, and the run goes on
    no_hind = _renamed(MOUSE12, {r: k for r, k in MOUSE12.roles.items() if r != "hindpaws"})
    blind = resolve_inputs(
        session / "videos", session / "calibration.toml", seeds, frames=4, skeleton=no_hind
    )
    assert any("names no hindpaws" in w for w in blind.warnings)
    state, _ = _run(tmp_path / "c", blind, OfflineClient(), "blind")
    assert state["chunk"] == 1
    # a skeleton naming no regions gets them from the seed labels, and says so
    bare = Skeleton(name="bare", keypoints=renamed.keypoints)
    inferred = resolve_inputs(
        session / "videos", session / "calibration.toml", seeds, frames=4, skeleton=bare
    )
    assert sorted(k for ks in inferred.skeleton.regions.values() for k in ks) == sorted(
        bare.keypoints
    )
    assert any("names no regions: inferred" in w for w in inferred.warnings)


def test_prepare_node_alone_triangulates_the_seeds(session: Path, tmp_path: Path) -> None:
    """The prepare node on an empty state, no other node run: seeds saved, chunks planned."""
    inputs = _inputs(session, chunk_frames=8)
    rt = offline_runtime(tmp_path, GRAPH_NAME, "prepare", inputs.model_dump())
    update: Any = stages.prepare({}, stages.PoseEnv.of(rt, inputs))
    assert update["chunk"] == 0 and update["n_chunks"] == 4  # 30 frames in chunks of 8
    assert update["history"] == [0] and update["flagged"] == []
    seeds = rt.run.load_arrays("seeds")
    assert seeds["frames"][0] == 0
    assert seeds["points_2d"].shape[1:] == (4, len(inputs.skeleton.keypoints), 2)
    np.testing.assert_allclose(update["anchor"], seeds["points_3d"][0])
    assert np.isfinite(seeds["points_3d"][0]).all()
    assert stages.more(update) == "label"


def test_one_run_reads_the_calibration_once(
    session: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """prepare and every label chunk share the cameras the run read once."""
    inputs = _inputs(session, chunk_frames=10)
    reads: list[str] = []

    def counting(path: str) -> list[Camera]:
        reads.append(path)
        return read_calibration(path)

    monkeypatch.setattr(pose_inputs, "read_calibration", counting)
    state, _ = _run(tmp_path, inputs, OfflineClient(), "calibration")
    assert state["n_chunks"] == 3 and state["chunk"] == 3
    assert reads == [inputs.calibration]
