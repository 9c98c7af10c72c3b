"""The classify graph on a small simulated session: the output contract offline (frames
drawn from keypoints, model calls saved by the classical detector, which answers every
window outside ``model_budget``), and a scripted model that
answers wrongly on purpose (not JSON, a missing class, freezing while the animal runs) so
the checks retry it with the reason, visible in the trace."""

from __future__ import annotations

import asyncio
import csv
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from ethoagent.agent.offline import OfflineClient
from ethoagent.agent.trace import read_trace
from ethoagent.agent.types import ModelClient, Request
from ethoagent.errors import InputError
from ethoagent.graphs.classify import nodes
from ethoagent.graphs.classify.graph import GRAPH_NAME, run_classify
from ethoagent.graphs.classify.inputs import ClassifyInputs, resolve_classify_inputs
from ethoagent.graphs.classify.nodes import ClassifyGraphEnv, model_windows
from ethoagent.graphs.classify.options import ClassifyOptions
from ethoagent.graphs.classify.stages import CLASSIFY_PROMPT, ClassifyAnswer, offline_classify
from ethoagent.graphs.kit.report_md import unit_words
from ethoagent.graphs.kit.runtime import offline_runtime
from ethoagent.io.ethogram_export import read_ethogram_netcdf
from ethoagent.io.keypoints import write_keypoints
from ethoagent.model.ethogram import Example
from ethoagent.model.pose import PoseData
from ethoagent.prompts import PROMPTS_DIR
from ethoagent.runs import Run
from ethoagent.sim.behaviour import INDIVIDUAL_BEHAVIOURS
from ethoagent.sim.synthetic import KEYPOINTS, World, simulate_world
from ethoagent.tools.classify import DEFAULT_CLASSES
from ethoagent.tools.detectors import detector_features, fit_detector, window_uncertainty
from ethoagent.tools.dyadic import pair_label
from ethoagent.tools.features import infer_layout
from tests.scripted import ScriptedClient

FPS = 30.0
SIM_TO_CLASS = {
    "still": "freezing",
    "walking": "locomotion",
    "darting": "darting",
    "rearing": "rearing",
    "grooming": "grooming",
    "turning": "other",
}


def _truth(world: World) -> np.ndarray[Any, Any]:
    return np.array(
        [
            DEFAULT_CLASSES.index(SIM_TO_CLASS[INDIVIDUAL_BEHAVIOURS[c]])
            for c in world.behaviour.labels[:, 0]
        ]
    )


def _examples(truth: np.ndarray[Any, Any], per_class: int = 3) -> list[Example]:
    out = []
    for j, c in enumerate(DEFAULT_CLASSES):
        idx = np.flatnonzero(truth == j)
        bouts = np.split(idx, np.flatnonzero(np.diff(idx) > 1) + 1) if idx.size else []
        for b in bouts[:per_class]:
            out.append(
                Example(animal=0, start=int(b[0]), stop=int(min(b[-1] + 1, b[0] + 15)), label=c)
            )
    return out


@pytest.fixture(scope="module")
def session(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, World, list[Example]]:
    tmp = tmp_path_factory.mktemp("classify")
    world = simulate_world(1200, seed=3)
    data = PoseData(
        points=world.points_3d,
        confidence=np.full(world.points_3d.shape[:3], np.nan),
        keypoints=KEYPOINTS,
        individuals=("mouse_0",),
        fps=FPS,
        unit="mm",
    )
    path = write_keypoints(data, tmp / "session.nc", format="netcdf")
    truth = _truth(world)
    present = set(truth.tolist())
    assert present == set(range(len(DEFAULT_CLASSES))), "seed 3 must show every class"
    return path, world, _examples(truth)


def _run(
    tmp: Path, inputs: ClassifyInputs, client: ModelClient | None, run_id: str
) -> tuple[dict[str, Any], Run]:
    rt = offline_runtime(tmp, GRAPH_NAME, run_id, inputs.model_dump(), client)
    return asyncio.run(run_classify(rt, inputs)), rt.run


def test_schema_file_matches_the_answer_model() -> None:
    schema = json.loads((PROMPTS_DIR / "classify" / "classify.v1.schema.json").read_text())
    assert schema == ClassifyAnswer.model_json_schema()


def test_offline_run_writes_its_outputs(
    session: tuple[Path, World, list[Example]], tmp_path: Path
) -> None:
    path, world, examples = session
    inputs = resolve_classify_inputs(path, examples, fps=FPS)
    state, run = _run(tmp_path, inputs, None, "offline")
    out = run.outputs_dir
    names: tuple[str, ...] = ("frames.csv", "windows.csv", "ethogram.csv", "ethogram_boris.csv")
    names += ("time_budget.csv", "ethogram.png", "time_budget.png", "report.md", "summary.json")
    for name in names:
        assert (out / name).is_file(), name
    rows = list(csv.DictReader((out / "frames.csv").open()))
    assert len(rows) == 1200 and rows[0]["frame"] == "0"
    probs = np.array([[float(r[f"p_{c}"]) for c in DEFAULT_CLASSES] for r in rows])
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-3)  # the behaviour vector
    summary = json.loads((out / "summary.json").read_text())
    assert summary["windows"] == 80 and summary["window_frames"] == 15
    assert summary["frames_drawn_from_keypoints"] is True
    # offline, the default budget sends no window to the stand-in solver
    assert summary["model_calls_saved"] == 80 and summary["windows_sent_to_model"] == 0
    assert summary["model_budget"] == 0.0
    assert summary["model_calls"] + summary["model_calls_saved"] >= summary["windows"]
    assert set(summary["example_windows"]) == set(DEFAULT_CLASSES)
    budget = summary["time_budget"]["mouse_0"]
    assert sum(r["fraction"] for r in budget) == pytest.approx(1.0, abs=1e-3)
    report = (out / "report.md").read_text()
    assert "drawn from the keypoints" in report and "no model was called" in report
    # time per class: a column per animal, every class listed; the bouts on the time axis
    table = list(csv.DictReader((out / "time_budget.csv").open()))
    assert {r["label"] for r in table} == set(DEFAULT_CLASSES)
    assert sum(float(r["mouse_0_share"]) for r in table) == pytest.approx(1.0, abs=1e-3)
    assert "| label | mouse_0 (s, share) | total (s) |" in report
    bouts = read_ethogram_netcdf(out / "ethogram.nc")["mouse_0"]
    assert sum(e.stop - e.start for e in bouts) == 1200
    assert [e.label for e in bouts] == [r["label"] for r in _bouts(out / "ethogram.csv")]
    # warnings, body roles and units in report.md
    for warning in summary["warnings"]:
        assert warning in report
    assert "## Body roles" in report and summary["roles"]["layout"] == summary["layout"]
    assert f"keypoints in {unit_words(summary['unit'], summary['body_length'])}" in report
    # better than chance against the simulator's labels (6 classes)
    truth = _truth(world)
    pred = np.array([DEFAULT_CLASSES.index(r["label"]) for r in rows])
    assert (pred == truth).mean() > 0.5
    # resuming a finished run re-runs nothing and gives the same state
    again, _ = asyncio.run(_resume(tmp_path, inputs, run)), None
    assert again["outputs"] == state["outputs"]


def _bouts(path: Path) -> list[dict[str, str]]:
    return list(csv.DictReader(path.open()))


async def _resume(tmp: Path, inputs: ClassifyInputs, run: Run) -> dict[str, Any]:
    from ethoagent.agent.trace import TracedClient, Tracer
    from ethoagent.config import load_settings
    from ethoagent.graphs.kit.nodes import PolicySupervisor
    from ethoagent.graphs.kit.runtime import Runtime

    settings = load_settings(None, {"runs_dir": tmp})
    tracer = Tracer(run.trace_path, run_id=run.run_id, images_dir=run.images_dir)
    rt = Runtime(run=run, settings=settings, client=TracedClient(OfflineClient(), tracer),
                 tracer=tracer, supervisor=PolicySupervisor())  # fmt: skip
    return await run_classify(rt, inputs)


def _answer(probs: dict[str, float]) -> str:
    return json.dumps({"probabilities": probs, "reason": "scripted"})


def test_schema_and_contradiction_retries_are_in_the_trace(
    session: tuple[Path, World, list[Example]], tmp_path: Path
) -> None:
    path, _, examples = session
    opts = ClassifyOptions(model_budget=1.0)
    inputs = resolve_classify_inputs(path, examples, fps=FPS, options=opts)
    classes = list(DEFAULT_CLASSES)

    def script(req: Request) -> str:
        window = req.payload["window"]
        attempt = req.payload["attempt"]
        retried = "failed these checks" in req.messages[0].content
        if window[1] == 0 and attempt == 1:
            return "I think it is freezing"  # not JSON
        if window[1] == 0 and attempt == 2:
            return _answer({"freezing": 0.5, "darting": 0.5})  # classes missing
        if not retried:
            return _answer({c: (0.95 if c == "freezing" else 0.01) for c in classes})
        # after a contradiction, the offline policy's answer without the ruled-out classes
        return offline_classify(req).model_dump_json()

    client = ScriptedClient({CLASSIFY_PROMPT: script})
    state, run = _run(tmp_path, inputs, client, "scripted")
    events = read_trace(run.trace_path)
    checks = [e for e in events if e.get("kind") == "check"]
    failed = {c["name"] for c in checks if not c["passed"]}
    assert {"schema", "temporal_plausibility"} <= failed
    # the schema failure names what was wrong, the contradiction names the immobility
    assert any(c["name"] == "schema" and "no probability for" in c["message"] for c in checks)
    assert any("immobility" in c["message"] for c in checks if c["name"] == "temporal_plausibility")
    decisions = [e for e in events if e.get("kind") == "decision"]
    assert decisions and all(d["action"] in ("retry", "escalate") for d in decisions)
    # the retry's prompt carries the reason
    retried = [
        r for r in client.calls(CLASSIFY_PROMPT) if "failed these checks" in r.messages[0].content
    ]
    assert retried and any("immobility" in r.messages[0].content for r in retried)
    # every request showed every class among its in-context examples, rare darting included
    for r in client.calls(CLASSIFY_PROMPT):
        assert {e["label"] for e in r.payload["examples"]} == set(classes)
        assert "darting" in r.messages[0].content
        # the examples' images and then the query's (a strip of 3 frames + motion overlay)
        images = r.messages[0].images
        assert len(images) == len(r.payload["examples"]) + 1
        assert images[-1].to_array().shape == (96, 4 * 96, 3)
        assert "drawn from the tracked keypoints" in r.messages[0].content
    windows = list(csv.DictReader((run.outputs_dir / "windows.csv").open()))
    first = next(w for w in windows if w["start_frame"] == "0")
    assert int(first["attempts"]) == 3 and first["status"] == "accepted"
    assert state["model_calls"] > len(windows)  # retries cost calls
    assert not state["flagged"]


def test_model_windows_are_the_most_uncertain_budget_share() -> None:
    u = np.array([0.1, 0.9, np.nan, 0.5, 0.5, 0.2, 0.0, 0.3])
    assert not model_windows(u, 0.0).any()
    assert model_windows(u, 1.0).all()
    # floor(0.25 * 8) = 2: the untracked window (NaN) and the most uncertain one
    assert np.flatnonzero(model_windows(u, 0.25)).tolist() == [1, 2]
    # a tie at the cutoff is broken by window order, never above the budget
    assert np.flatnonzero(model_windows(u, 0.5)).tolist() == [1, 2, 3, 4]
    assert np.flatnonzero(model_windows(u, 0.4)).tolist() == [1, 2, 3]


def test_budget_zero_never_asks_the_model_and_keeps_the_detectors_labels(
    session: tuple[Path, World, list[Example]], tmp_path: Path
) -> None:
    path, _, examples = session
    opts = ClassifyOptions(model_budget=0.0)
    inputs = resolve_classify_inputs(path, examples, fps=FPS, options=opts)

    def never(req: Request) -> str:
        raise AssertionError("the model was asked with a budget of 0")

    client = ScriptedClient({CLASSIFY_PROMPT: never})
    state, run = _run(tmp_path, inputs, client, "budget0")
    assert not client.calls(CLASSIFY_PROMPT) and state["model_calls"] == 0
    # every frame's label is the detector's own, fitted here on the same examples
    points = np.asarray(run.load_arrays("windows")["points"])
    layout = infer_layout(list(KEYPOINTS))
    # the simulator's mm are a known scale: the published freezing rule reads 10 mm/cm
    assert inputs.units_per_cm == 10.0
    feats = detector_features(
        points, fps=FPS, keypoints=KEYPOINTS, layout=layout, units_per_cm=inputs.units_per_cm
    )
    detector = fit_detector(feats, examples, DEFAULT_CLASSES)
    pred = detector.predict(feats)
    rows = list(csv.DictReader((run.outputs_dir / "frames.csv").open()))
    labels = [DEFAULT_CLASSES.index(r["label"]) for r in rows]
    assert labels == pred.labels[:, 0].tolist()
    summary = json.loads((run.outputs_dir / "summary.json").read_text())
    assert summary["windows_sent_to_model"] == 0 and summary["model_calls_saved"] == 80
    cv = summary["detector"]
    assert cv["chosen"] == detector.cv_report["chosen"]
    assert cv["rule_cv_macro_f1"] == detector.cv_report["rule_cv_macro_f1"]
    assert cv["detector_cv_macro_f1"] == detector.cv_report["detector_cv_macro_f1"]
    report = (run.outputs_dir / "report.md").read_text()
    assert "| rule alone (baseline) |" in report and "No window went to the model" in report
    assert f"`{cv['chosen']}`" in report
    assert cv["published_cv_macro_f1"] == detector.cv_report["published_cv_macro_f1"]
    assert "published freezing rule (0.59 cm/s, 15 deg/s; 10 mm/cm) |" in report


def test_a_pixel_scale_is_refused_for_3d_keypoints(
    session: tuple[Path, World, list[Example]],
) -> None:
    path, _, examples = session
    with pytest.raises(InputError, match=r"px-per-cm 32 .* 3D keypoints in 'mm'"):
        resolve_classify_inputs(path, examples, fps=FPS, options=ClassifyOptions(px_per_cm=32))


def test_the_budget_sends_the_most_uncertain_windows_to_the_model(
    session: tuple[Path, World, list[Example]], tmp_path: Path
) -> None:
    path, _, examples = session
    opts = ClassifyOptions(model_budget=0.2)
    inputs = resolve_classify_inputs(path, examples, fps=FPS, options=opts)
    client = ScriptedClient({CLASSIFY_PROMPT: lambda req: offline_classify(req).model_dump_json()})
    _, run = _run(tmp_path, inputs, client, "budget")
    asked = sorted(tuple(r.payload["window"]) for r in client.calls(CLASSIFY_PROMPT))
    arr = run.load_arrays("windows")
    spans = [tuple(int(v) for v in sp) for sp in arr["spans"][: int(arr["n_queries"])]]
    feats = detector_features(
        arr["points"], fps=FPS, keypoints=KEYPOINTS, layout=infer_layout(list(KEYPOINTS))
    )
    pred = fit_detector(feats, examples, DEFAULT_CLASSES).predict(feats)
    u = window_uncertainty(pred.uncertainty, [(s, e) for _, s, e in spans])[:, 0]
    top = sorted(spans[i] for i in np.argsort(-u, kind="stable")[:16])
    assert sorted(set(asked)) == top
    windows = list(csv.DictReader((run.outputs_dir / "windows.csv").open()))
    sources = [w["source"] for w in windows]
    assert sources.count("detector") == 64 and sources.count("model") == 16
    report = (run.outputs_dir / "report.md").read_text()
    assert "| sent to the model (budget 0.2 of the windows) | 16 |" in report


def test_random_windows_send_as_many_windows_but_not_the_most_uncertain(
    session: tuple[Path, World, list[Example]], tmp_path: Path
) -> None:
    path, _, examples = session
    runs = {}
    for by in ("uncertainty", "random"):
        opts = ClassifyOptions(model_budget=0.2, windows_by=by)
        inputs = resolve_classify_inputs(path, examples, fps=FPS, options=opts)
        client = ScriptedClient(
            {CLASSIFY_PROMPT: lambda req: offline_classify(req).model_dump_json()}
        )
        _run(tmp_path / by, inputs, client, by)
        runs[by] = {tuple(r.payload["window"]) for r in client.calls(CLASSIFY_PROMPT)}
    assert len(runs["random"]) == len(runs["uncertainty"]) == 16
    assert runs["random"] != runs["uncertainty"]


def test_an_animal_without_examples_is_named_in_the_warnings(tmp_path: Path) -> None:
    world = simulate_world(900, animals=2, seed=3)
    data = PoseData(
        points=world.points_3d,
        confidence=np.full(world.points_3d.shape[:3], np.nan),
        keypoints=KEYPOINTS,
        individuals=("adult", "juvenile"),
        fps=FPS,
        unit="mm",
    )
    path = write_keypoints(data, tmp_path / "two.nc", format="netcdf")
    first = np.asarray(world.behaviour.names)[:, 0]  # (frames,) behaviour names
    classes = sorted({str(n) for n in first})
    examples = []  # the first animal's bouts only: up to 2 of each behaviour, 0.5 s each
    for c in classes:
        idx = np.flatnonzero(first == c)
        bouts = [b for b in np.split(idx, np.flatnonzero(np.diff(idx) > 1) + 1) if b.size >= 15]
        examples += [Example(animal=0, start=int(b[0]), stop=int(b[0]) + 15, label=c)
                     for b in bouts[:2]]  # fmt: skip
    classes = sorted({e.label for e in examples})
    assert len(classes) >= 3
    opts = ClassifyOptions(model_budget=0.0)
    inputs = resolve_classify_inputs(path, examples, classes=classes, fps=FPS, options=opts)
    state, run = _run(tmp_path, inputs, None, "two")
    assert "animal 'juvenile' has no example." in state["warnings"]
    report = (run.outputs_dir / "report.md").read_text()
    assert "animal 'juvenile' has no example." in report
    # dyadic classes end the same for both animals in every frame (segment's rule)
    assert "## Dyadic labels" in report
    summary = json.loads((run.outputs_dir / "summary.json").read_text())
    changed = sum(c["frames"] for c in summary["dyadic_changes"])
    assert (f"{changed} animal-frame(s)" in report) is (changed > 0)
    with (run.outputs_dir / "frames.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    by_frame: dict[str, dict[str, str]] = {}
    for r in rows:
        by_frame.setdefault(r["frame"], {})[r["animal"]] = r["label"]
    pairs = [pair_label(v["adult"], v["juvenile"]) for v in by_frame.values()]
    assert all(p is None or p not in classes for p in pairs)


def test_smooth_node_alone_mode_filters_one_animals_windows(
    session: tuple[Path, World, list[Example]], tmp_path: Path
) -> None:
    """The smooth node on a hand-made state: two chunks of window records, no earlier node."""
    path, _, examples = session
    opts = ClassifyOptions(smoothing="mode", mode_windows=3)
    inputs = resolve_classify_inputs(path, examples, fps=FPS, options=opts)
    rt = offline_runtime(tmp_path, GRAPH_NAME, "smooth", inputs.model_dump())
    env = ClassifyGraphEnv.of(rt, inputs)
    n_c = len(DEFAULT_CLASSES)
    to_model = np.array([True, False, True, True, False])
    det_labels = np.zeros((1200, 1), dtype=np.int64)
    rt.run.save_arrays(
        "windows", to_model=to_model, det_labels=det_labels, det_proba=np.ones((1200, 1, n_c))
    )

    def record(row: int, label: int) -> dict[str, Any]:
        probs = [0.9 if j == label else 0.1 / (n_c - 1) for j in range(n_c)]
        return {"row": row, "animal": 0, "start": 15 * row, "stop": 15 * row + 15,
                "probabilities": probs}  # fmt: skip

    (rt.run.artifacts_dir / "windows_0000.json").write_text(
        json.dumps([record(2, 3), record(0, 1), record(1, 1)])
    )
    (rt.run.artifacts_dir / "windows_0001.json").write_text(
        json.dumps([record(4, 1), record(3, 1)])
    )
    state: Any = {"n_chunks": 2, "timings": {"prepare": 1.0}}
    update = nodes.smooth(state, env)
    assert set(update["timings"]) == {"prepare", "smooth"}
    labels = rt.run.load_arrays("labels")
    np.testing.assert_array_equal(labels["raw"], [1, 1, 3, 1, 1])  # in row order
    np.testing.assert_array_equal(labels["smoothed"], [1, 1, 1, 1, 1])  # the outlier goes
    np.testing.assert_array_equal(labels["by_detector"], ~to_model)
    np.testing.assert_array_equal(labels["detector_labels"], det_labels)
    assert nodes.more({"chunk": 2, "n_chunks": 2}) == "smooth"
    assert nodes.more({"chunk": 1, "n_chunks": 2}) == "classify"


def test_inputs_need_an_example_of_every_class(session: tuple[Path, World, list[Example]]) -> None:
    path, _, examples = session
    without = [e for e in examples if e.label != "darting"]
    with pytest.raises(InputError, match="darting"):
        resolve_classify_inputs(path, without, fps=FPS)
    with pytest.raises(InputError, match="two distinct"):
        resolve_classify_inputs(path, examples, classes=["freezing"], fps=FPS)


def test_video_path_crops_by_background_subtraction(tmp_path: Path) -> None:
    from ethoagent.sim.simulate import simulate_session

    paths = simulate_session(tmp_path / "sim", preset="easy", frames=240, views=2, seed=3)
    top = next(v for v in paths.videos if v.stem == "top")
    rows = list(csv.reader(paths.labels.open()))[1:]
    names = [SIM_TO_CLASS[r[1]] for r in rows]
    classes = sorted(set(names))
    examples = [
        Example(animal=0, start=f, stop=f + 1, label=lab)
        for f, lab in enumerate(names)
        if f % 10 < 3
    ]
    inputs = resolve_classify_inputs(paths.root, examples, classes=classes, video=top)
    assert inputs.truth_labels is not None and inputs.dims == 3
    state, run = _run(tmp_path / "runs", inputs, None, "video")
    summary = json.loads((run.outputs_dir / "summary.json").read_text())
    assert summary["frames_drawn_from_keypoints"] is False and summary["video"] == str(top)
    assert "drawn from the keypoints" not in (run.outputs_dir / "report.md").read_text()
    # 3D keypoints give no pixel positions: the crop came from background subtraction,
    # and the classes still follow the simulator's labels
    assert summary["ground_truth"]["macro_f1"] > 0.5
    assert not state["flagged"]
