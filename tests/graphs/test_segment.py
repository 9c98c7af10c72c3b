"""The segment graph on small simulated sessions: the output contract offline, DEC against
chance, the cheap kinematic path, and scripted models that answer wrongly on purpose (a
caption contradicting the kinematics, a merge leaving a gap) so the checks retry them."""

from __future__ import annotations

import asyncio
import csv
import json
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from pydantic import BaseModel

from ethoagent.agent.offline import OfflineClient
from ethoagent.agent.trace import TracedClient, Tracer, read_trace
from ethoagent.agent.types import ModelClient, Request
from ethoagent.config import load_settings
from ethoagent.errors import InputError
from ethoagent.graphs.kit.nodes import PolicySupervisor
from ethoagent.graphs.kit.report_md import unit_words
from ethoagent.graphs.kit.runtime import Runtime, offline_runtime
from ethoagent.graphs.segment import stages
from ethoagent.graphs.segment.graph import GRAPH_NAME, run_segment
from ethoagent.graphs.segment.inputs import SegmentInputs, SegmentSources, resolve_segment
from ethoagent.graphs.segment.item_stages import (
    CAPTION_PROMPT,
    MERGE_PROMPT,
    MergeAnswer,
    offline_caption,
    offline_merge,
)
from ethoagent.graphs.segment.options import SegmentOptions
from ethoagent.graphs.segment.stages import SegmentEnv
from ethoagent.io.ethogram_export import nwb_available, read_ethogram_netcdf, read_ethogram_nwb
from ethoagent.io.keypoints import write_keypoints
from ethoagent.io.labels import boris_to_framewise, read_boris_events
from ethoagent.model.pose import PoseData
from ethoagent.prompts import PROMPTS_DIR
from ethoagent.runs import Run
from ethoagent.sim.synthetic import KEYPOINTS, World, simulate_world
from ethoagent.tools.captions import Caption, SnippetKinematics
from ethoagent.tools.ethogram import (
    check_tiling,
    hungarian_macro_f1,
    nmi,
    read_ethogram_csv,
)
from tests.scripted import ScriptedClient

FPS = 30.0
FAST = {"dec_pretrain_epochs": 3, "dec_cluster_iters": 300}


def _write_session(path: Path, points: np.ndarray[Any, Any], *, fps: float | None = FPS) -> Path:
    animals = points.shape[1]
    data = PoseData(
        points=points,
        confidence=np.full(points.shape[:3], np.nan),
        keypoints=KEYPOINTS if points.shape[2] == len(KEYPOINTS) else tuple(KEYPOINTS),
        individuals=tuple(f"mouse_{a}" for a in range(animals)),
        fps=fps,
        unit="mm" if points.shape[-1] == 3 else "px",
    )
    return write_keypoints(data, path, format="netcdf")


def _run(
    tmp: Path, inputs: SegmentInputs, client: ModelClient, run_id: str
) -> tuple[dict[str, Any], Run]:
    rt = offline_runtime(tmp, GRAPH_NAME, run_id, inputs.model_dump(), client)
    return asyncio.run(run_segment(rt, inputs)), rt.run


@pytest.fixture(scope="module")
def world() -> World:
    return simulate_world(1800, animals=1, fps=FPS, seed=2)


@pytest.fixture(scope="module")
def offline_run(world: World, tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, Run]:
    tmp = tmp_path_factory.mktemp("segment")
    nc = _write_session(tmp / "session.nc", world.points_3d)
    inputs = resolve_segment(SegmentSources(keypoints=nc), SegmentOptions(**FAST))
    return _run(tmp / "runs", inputs, OfflineClient(), "offline")


def _clusters(run: Run) -> tuple[list[str], np.ndarray[Any, Any]]:
    rows = list(csv.reader((run.outputs_dir / "clusters.csv").open()))
    return rows[0], np.array([[int(v) for v in r] for r in rows[1:]])


def test_offline_run_writes_the_output_contract(offline_run: tuple[Any, Run]) -> None:
    state, run = offline_run
    out = run.outputs_dir
    for name in (
        "ethogram.csv",
        "clusters.csv",
        "ethogram_boris.csv",
        "ethogram.png",
        "cluster_usage.png",
        "report.md",
        "summary.json",
    ):
        assert (out / name).is_file(), name
    assert (out / "ethogram.png").read_bytes()[:4] == b"\x89PNG"
    summary = json.loads((out / "summary.json").read_text())
    assert summary["frames"] == 1800 and summary["animals"] == ["mouse_0"]
    assert summary["fps"] == FPS and summary["k"] == 10
    assert 0 < summary["ari_between_seeds"] <= 1
    assert summary["snippets"] == summary["snippets_by_model"] + summary["snippets_by_kinematics"]
    assert summary["snippets_by_kinematics"] > 0  # the cheap path answered some
    assert summary["model_calls_per_snippet"] < 1.0
    assert summary["nan_report"]["masked_frames"] == {"mouse_0": 0}
    assert summary["seconds"] > 0 and summary["backend"] == "offline"
    # the ethogram tiles the timeline with labels from the vocabulary
    ethogram = read_ethogram_csv(out / "ethogram.csv")
    epochs = ethogram["mouse_0"]
    assert summary["epochs"] == len(epochs)
    assert all(c.passed for c in check_tiling(epochs, 1800))
    assert {e.label for e in epochs} == set(summary["vocabulary"])
    assert min(e.stop - e.start for e in epochs) >= 15  # min_epoch_s = 0.5 s
    # DEC labels per frame and animal, header from the keypoint file's individuals
    header, clusters = _clusters(run)
    assert header == ["frame", "mouse_0"]
    assert clusters.shape == (1800, 2) and (clusters[:, 0] == np.arange(1800)).all()
    assert clusters[:, 1].min() >= 0 and clusters[:, 1].max() < 10
    # the BORIS export reads back to the same frames
    events = read_boris_events(out / "ethogram_boris.csv")
    label = epochs[0].label
    boris = boris_to_framewise(events, fps=FPS, frames=1800, behaviour=label, subject="mouse_0")
    expect = np.zeros(1800, dtype=np.int64)
    for e in epochs:
        if e.label == label:
            expect[e.start : e.stop] = 1
    assert (boris == expect).all()
    report = (out / "report.md").read_text()
    assert "no model was called" in report and "![ethogram timeline](ethogram.png)" in report
    assert state["outputs"]
    # the ecosystem's shapes: the same epochs on movement's time axis (and NWB)
    assert read_ethogram_netcdf(out / "ethogram.nc")["mouse_0"] == [
        e.model_copy(update={"cluster": None}) for e in epochs
    ]
    if nwb_available():
        assert len(read_ethogram_nwb(out / "ethogram.nwb", FPS)["mouse_0"]) == len(epochs)
    # time per behaviour per animal; DEC convergence and every warning in the report
    budget = (out / "time_budget.csv").read_text().splitlines()
    assert budget[0].startswith("label,mouse_0_s,mouse_0_share,mouse_0_bouts,total_s")
    shares = summary["time_shares"]
    assert sum(r["seconds"]["mouse_0"] for r in shares) == pytest.approx(1800 / FPS, abs=0.01)
    assert "| label | mouse_0 (s, share) | total (s) | definition |" in report
    clusters = summary["clusters"]
    assert clusters["iterations"] <= clusters["max_iterations"]
    assert ("converged after" if clusters["converged"] else "**not converged**") in report
    for warning in summary["warnings"]:
        assert warning in report
    # body roles and the unit of the positions
    assert summary["roles"]["layout"] == summary["layout"]
    assert "## Body roles" in report
    unit = unit_words(summary["unit"], summary["body_length"])
    assert f"{summary['dims']}D keypoints in {unit}" in report
    assert summary["body_length"] > 0  # the simulated mouse, mm
    assert "## Dyadic labels" not in report  # one animal: no pair


def test_dec_clusters_beat_chance(offline_run: tuple[Any, Run], world: World) -> None:
    _, run = offline_run
    pred = _clusters(run)[1][:, 1]
    truth = world.behaviour.labels[:, 0]
    shuffled = np.random.default_rng(0).permutation(truth)
    assert nmi(pred, truth) > nmi(pred, shuffled) + 0.3
    assert hungarian_macro_f1(pred, truth) > hungarian_macro_f1(pred, shuffled) + 0.25
    ethogram = read_ethogram_csv(run.outputs_dir / "ethogram.csv")["mouse_0"]
    names = np.empty(len(truth), dtype=object)
    for e in ethogram:
        names[e.start : e.stop] = e.label
    assert nmi(names.astype(str), truth) > nmi(names.astype(str), shuffled) + 0.25


def test_cheap_path_skips_the_model_and_says_so(offline_run: tuple[Any, Run]) -> None:
    _, run = offline_run
    summary = json.loads((run.outputs_dir / "summary.json").read_text())
    events = read_trace(run.trace_path)
    cheap = [e for e in events if e["kind"] == "cheap_path"]
    asked = [
        e for e in events if e["kind"] == "model_call" and e["prompt"]["name"] == CAPTION_PROMPT
    ]
    assert len(cheap) == summary["snippets_by_kinematics"]
    assert len(asked) == summary["snippets_by_model"]
    assert all(e["model_called"] is False and "kinematics are clear" in e["reason"] for e in cheap)
    # the stability check is reported in the trace
    stability = [e for e in events if e["kind"] == "check" and e["name"] == "stability"]
    assert len(stability) == 1
    assert stability[0]["value"] == pytest.approx(summary["ari_between_seeds"], abs=1e-4)
    assert any(e["kind"] == "check" and e["name"] == "clusters" for e in events)


class _CrashError(Exception):
    pass


def test_a_crashed_run_resumes_without_redoing_finished_steps(
    offline_run: tuple[Any, Run], world: World, tmp_path: Path
) -> None:
    _, reference = offline_run
    nc = _write_session(tmp_path / "session.nc", world.points_3d)
    inputs = resolve_segment(SegmentSources(keypoints=nc), SegmentOptions(**FAST))

    def crash(request: Request) -> str:
        raise _CrashError("killed while merging")

    client = ScriptedClient(
        {CAPTION_PROMPT: lambda r: offline_caption(r).model_dump_json(), MERGE_PROMPT: crash},
        backend="offline",
    )
    with pytest.raises(_CrashError):
        _run(tmp_path / "runs", inputs, client, "crash")
    captioned = len(client.calls(CAPTION_PROMPT))
    settings = load_settings(None, {"runs_dir": tmp_path / "runs"})
    run = Run.resume("crash", tmp_path / "runs")
    tracer = Tracer(run.trace_path, run_id=run.run_id, images_dir=run.images_dir)
    again = OfflineClient()
    rt = Runtime(
        run=run,
        settings=settings,
        client=TracedClient(again, tracer),
        tracer=tracer,
        supervisor=PolicySupervisor(),
    )
    asyncio.run(run_segment(rt, inputs))
    events = read_trace(run.trace_path)
    assert any(e["kind"] == "run_resume" for e in events)
    resumed_captions = [
        e
        for e in events
        if e["kind"] == "model_call"
        and e["prompt"]["name"] == CAPTION_PROMPT
        and e["seq"] > next(x["seq"] for x in events if x["kind"] == "run_resume")
    ]
    assert captioned > 0 and not resumed_captions  # the captions were not redone
    for name in ("ethogram.csv", "clusters.csv", "captions.csv", "ethogram_boris.csv"):
        assert (run.outputs_dir / name).read_bytes() == (
            reference.outputs_dir / name
        ).read_bytes(), name


def _still(request: Request) -> bool:
    kin = SnippetKinematics.model_validate(request.payload["kinematics"])
    return kin.speed is not None and kin.speed < 0.05


def test_caption_contradiction_is_retried_with_the_contradiction_named(
    world: World, tmp_path: Path
) -> None:
    nc = _write_session(tmp_path / "s.nc", world.points_3d[:900])
    opts = SegmentOptions(**FAST, check_stability=False, model_every_snippet=True)
    inputs = resolve_segment(SegmentSources(keypoints=nc), opts)

    def caption(request: Request) -> str:
        text = request.messages[0].content
        if _still(request) and "barely moved" not in text:
            wrong = offline_caption(request).model_copy(update={"label": "running"})
            return wrong.model_copy(update={"speed": "fast"}).model_dump_json()
        return offline_caption(request).model_dump_json()

    client = ScriptedClient(
        {CAPTION_PROMPT: caption, MERGE_PROMPT: lambda r: offline_merge(r).model_dump_json()}
    )
    _, run = _run(tmp_path / "runs", inputs, client, "contradiction")
    events = read_trace(run.trace_path)
    failed = [
        e for e in events if e["kind"] == "check" and e["name"] == "kinematics" and not e["passed"]
    ]
    assert failed, "no still snippet in the session: pick another seed"
    assert "'running' implies locomotion" in failed[0]["message"]
    retries = [e for e in events if e["kind"] == "decision" and e["action"] == "retry"]
    assert retries and all(e["node"] == "caption" for e in retries)
    fed_back = [r for r in client.calls(CAPTION_PROMPT) if "barely moved" in r.messages[0].content]
    assert len(fed_back) == len(failed)
    # every snippet went to the VLM with one contact sheet drawn from the keypoints
    calls = client.calls(CAPTION_PROMPT)
    assert all(len(r.messages[0].images) == 1 for r in calls)
    assert "There is no video" in calls[0].messages[0].content
    rows = list(csv.DictReader((run.outputs_dir / "captions.csv").open()))
    assert all(r["label"] != "running" and r["status"] == "accepted" for r in rows)
    summary = json.loads((run.outputs_dir / "summary.json").read_text())
    assert summary["snippets_by_model"] == summary["snippets"]


def test_merge_gap_is_retried_with_the_violation_named(world: World, tmp_path: Path) -> None:
    nc = _write_session(tmp_path / "s.nc", world.points_3d[:1200])
    opts = SegmentOptions(**FAST, check_stability=False, merge_window=6, merge_overlap=2)
    inputs = resolve_segment(SegmentSources(keypoints=nc), opts)
    gaps: list[str] = []

    def merge(request: Request) -> str:
        answer = offline_merge(request)
        text = request.messages[0].content
        if request.payload["attempt"] == 1 and len(answer.epochs) >= 2:
            first, second = answer.epochs[0], answer.epochs[1]
            short = first.model_copy(update={"end_frame": second.start_frame - 5})
            gaps.append(f"gap: no epoch covers frames [{short.end_frame}, {second.start_frame})")
            return MergeAnswer(
                epochs=[short, *answer.epochs[1:]], vocabulary=answer.vocabulary
            ).model_dump_json()
        assert request.payload["attempt"] == 1 or "gap: no epoch covers" in text
        return answer.model_dump_json()

    client = ScriptedClient(
        {
            CAPTION_PROMPT: lambda r: offline_caption(r).model_dump_json(),
            MERGE_PROMPT: merge,
        }
    )
    _, run = _run(tmp_path / "runs", inputs, client, "gap")
    events = read_trace(run.trace_path)
    failed = [
        e for e in events if e["kind"] == "check" and e["name"] == "tiling_gaps" and not e["passed"]
    ]
    assert gaps and len(failed) == len(gaps)
    assert gaps[0] in failed[0]["message"]
    retries = [e for e in events if e["kind"] == "decision" and e["node"] == "merge"]
    assert retries and all(e["action"] == "retry" for e in retries)
    retried = [r for r in client.calls(MERGE_PROMPT) if r.payload["attempt"] == 2]
    assert retried and gaps[0] in retried[0].messages[0].content
    # several windows, stitched into one ethogram that tiles the session
    assert len({r.payload["start"] for r in client.calls(MERGE_PROMPT)}) > 1
    epochs = read_ethogram_csv(run.outputs_dir / "ethogram.csv")["mouse_0"]
    assert all(c.passed for c in check_tiling(epochs, 1200))


def test_nan_heavy_input_warns_and_completes(tmp_path: Path) -> None:
    points = simulate_world(900, animals=2, fps=FPS, seed=4).points_3d.copy()
    for start in range(0, 900, 150):  # mouse_1 lost for 100 of every 150 frames
        points[start : start + 100, 1] = np.nan
    nc = _write_session(tmp_path / "s.nc", points)
    inputs = resolve_segment(
        SegmentSources(keypoints=nc), SegmentOptions(**FAST, check_stability=False)
    )
    _, run = _run(tmp_path / "runs", inputs, OfflineClient(), "nan")
    summary = json.loads((run.outputs_dir / "summary.json").read_text())
    assert any(w.startswith("mouse_1:") and "no features" in w for w in summary["warnings"])
    assert not any(w.startswith("mouse_0:") for w in summary["warnings"])
    report = summary["nan_report"]
    assert report["masked_frames"]["mouse_1"] >= 600
    # a lost partner does not drop the tracked animal: its social features say "alone"
    assert report["masked_frames"]["mouse_0"] == 0
    assert report["partner_missing_frames"]["mouse_0"] >= 500
    events = read_trace(run.trace_path)
    assert any(e["kind"] == "warning" and "mouse_1" in e["message"] for e in events)
    ethogram = read_ethogram_csv(run.outputs_dir / "ethogram.csv")
    for name in ("mouse_0", "mouse_1"):
        assert all(c.passed for c in check_tiling(ethogram[name], 900))
    assert any(e.label == "untracked" for e in ethogram["mouse_1"])
    captions = list(csv.DictReader((run.outputs_dir / "captions.csv").open()))
    assert not any(r["label"] == "untracked" for r in captions if r["animal"] == "mouse_0")
    _, clusters = _clusters(run)
    assert (clusters[:100, 2] == -1).all() and (clusters[:, 1] >= 0).all()
    assert "## Warnings" in (run.outputs_dir / "report.md").read_text()


def test_all_nan_input_is_a_clear_error(tmp_path: Path) -> None:
    points = np.full((60, 1, len(KEYPOINTS), 3), np.nan)
    nc = _write_session(tmp_path / "s.nc", points)
    inputs = resolve_segment(SegmentSources(keypoints=nc), SegmentOptions(**FAST))
    with pytest.raises(InputError, match="nothing can be clustered"):
        _run(tmp_path / "runs", inputs, OfflineClient(), "all-nan")


def _video(path: Path, points_2d: np.ndarray[Any, Any]) -> Path:
    """A video of white dots at the 2D keypoints (one animal), 320x240."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"mp4v"), FPS, (320, 240))
    for frame in points_2d:
        img = np.zeros((240, 320, 3), dtype=np.uint8)
        for x, y in frame[0]:
            cv2.circle(img, (round(x), round(y)), 2, (255, 255, 255), -1)
        writer.write(img)
    writer.release()
    return path


def test_vlm_sees_a_contact_sheet_cropped_from_the_video(world: World, tmp_path: Path) -> None:
    pts = world.points_3d[:300, :, :, :2] * 0.5 + np.array([160.0, 120.0])  # pixels
    nc = _write_session(tmp_path / "s.nc", pts)
    video = _video(tmp_path / "s.mp4", pts)
    opts = SegmentOptions(**FAST, check_stability=False, model_every_snippet=True, k=4)
    inputs = resolve_segment(SegmentSources(keypoints=nc, video=video), opts)
    client = ScriptedClient(
        {
            CAPTION_PROMPT: lambda r: offline_caption(r).model_dump_json(),
            MERGE_PROMPT: lambda r: offline_merge(r).model_dump_json(),
        }
    )
    _run(tmp_path / "runs", inputs, client, "video")
    calls = client.calls(CAPTION_PROMPT)
    assert calls and all(len(r.messages[0].images) == 1 for r in calls)
    text = calls[0].messages[0].content
    assert "contact sheet" in text and "cropped around the animal" in text
    sheet = calls[0].messages[0].images[0].to_array()
    assert sheet.shape[0] % 144 == 0 and sheet.shape[1] % 192 == 0
    assert sheet.max() > 0  # the animal's dots are in the crops
    with pytest.raises(InputError, match=r"has 10 frames but .* has 300"):
        resolve_segment(
            SegmentSources(keypoints=nc, video=_video(tmp_path / "short.mp4", pts[:10])),
            SegmentOptions(),
        )


def test_merge_node_alone_joins_one_animals_captions_into_epochs(tmp_path: Path) -> None:
    """The merge node on a hand-made state: two chunks of captions, no earlier node run."""
    nc = _write_session(tmp_path / "s.nc", simulate_world(90, animals=1, fps=FPS, seed=3).points_3d)
    inputs = resolve_segment(SegmentSources(keypoints=nc), SegmentOptions(min_epoch_s=0.5))
    rt = offline_runtime(tmp_path / "runs", GRAPH_NAME, "merge", inputs.model_dump())
    env = SegmentEnv.of(rt, inputs)
    labels = np.repeat([[0], [1], [1]], 30, axis=0)
    rt.run.save_arrays("clusters", labels=labels, confidence=np.ones(labels.shape))

    def record(start: int, stop: int, label: str) -> dict[str, Any]:
        cap = Caption(
            posture="on all fours",
            direction="forward",
            speed="moderate",
            social_interaction="none",
            label=label,
            confidence=0.9,
        )
        return {
            "animal": 0,
            "start": start,
            "stop": stop,
            "cluster": int(labels[start, 0]),
            "caption": cap.model_dump(),
        }

    (rt.run.artifacts_dir / "captions_0000.json").write_text(
        json.dumps([record(30, 60, "walking"), record(0, 30, "grooming")])
    )
    (rt.run.artifacts_dir / "captions_0001.json").write_text(json.dumps([record(60, 90, "walk")]))
    state: Any = {"animal": 0, "n_chunks": 2, "model_calls": {"caption": 0}}
    update: Any = asyncio.run(stages.merge(state, env))
    assert update["animal"] == 1 and update["epochs"] == {"mouse_0": 2}
    assert update["merge_routes"] == {"model": 1}  # the offline solver answered in one window
    epochs = json.loads((rt.run.artifacts_dir / "epochs_000.json").read_text())
    assert [(e["start"], e["stop"], e["label"]) for e in epochs] == [
        (0, 30, "grooming"),
        (30, 90, "walking"),
    ]
    assert [e["cluster"] for e in epochs] == [0, 1]
    assert set(update["vocabulary"]) == {"grooming", "walking"}
    assert stages.more_animals(update, env) == "report"


def test_inputs_are_checked(world: World, tmp_path: Path) -> None:
    no_fps = _write_session(tmp_path / "nofps.nc", world.points_3d[:60], fps=None)
    with pytest.raises(InputError, match=r"states no frame rate.*--fps"):
        resolve_segment(SegmentSources(keypoints=no_fps), SegmentOptions())
    assert resolve_segment(SegmentSources(keypoints=no_fps, fps=25.0), SegmentOptions()).fps == 25.0
    with pytest.raises(InputError, match="not a keypoint file"):
        resolve_segment(SegmentSources(keypoints=tmp_path), SegmentOptions())
    with pytest.raises(InputError, match="not found"):
        resolve_segment(SegmentSources(keypoints=tmp_path / "missing.nc"), SegmentOptions())
    with pytest.raises(ValueError, match="min_snippet_s"):
        SegmentOptions(min_snippet_s=6.0, max_snippet_s=5.0)
    with pytest.raises(ValueError, match="layout"):
        SegmentOptions(layout="nope")


@pytest.mark.parametrize(
    ("name", "model"), [("segment/caption", Caption), ("segment/merge", MergeAnswer)]
)
def test_schema_files_match_answer_models(name: str, model: type[BaseModel]) -> None:
    schema = json.loads((PROMPTS_DIR / f"{name}.v1.schema.json").read_text())
    assert schema == model.model_json_schema()
