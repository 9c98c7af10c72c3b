"""The gate graph package: stages called alone, and runs that leave a run directory."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from ethoagent.agent.embed import make_vision_encoder
from ethoagent.agent.trace import Tracer, read_trace
from ethoagent.config import Settings, load_settings
from ethoagent.errors import InputError
from ethoagent.graphs.gate import (
    GATE_EVAL,
    GATE_PREDICT,
    EvalInputs,
    EvalOptions,
    PredictInputs,
    PredictOptions,
    PretrainOptions,
    TrainInputs,
    TrainOptions,
)
from ethoagent.graphs.gate.descriptor import describe_gate_motion
from ethoagent.graphs.gate.graph import run_gate_train
from ethoagent.graphs.gate.inputs import (
    load_gate_model,
    read_keypoints_motion,
    resolve_eval,
    resolve_predict,
)
from ethoagent.graphs.gate.labels import read_gate_labels
from ethoagent.graphs.gate.stages import TracedEncoder, choose_frames, infer, vision_summary
from ethoagent.graphs.kit.run import run_pipeline
from ethoagent.io.keypoints import write_dlc_csv
from ethoagent.model.pose import PoseData
from ethoagent.sim.synthetic import KEYPOINTS, simulate_world
from ethoagent.tools.motion import describe_motion

FRAMES = 120
TINY = TrainOptions(d_model=16, d_z=8, layers=1, window=32, epochs=1)


@pytest.fixture(scope="module")
def session(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    """A 1-mouse DLC CSV (mm; the file states no frame rate) and its frame-wise labels (codes)."""
    tmp = tmp_path_factory.mktemp("gate-graph")
    world = simulate_world(FRAMES, seed=4)
    pose = PoseData(points=world.points_3d, confidence=np.ones(world.points_3d.shape[:3]),
                    keypoints=KEYPOINTS, individuals=("mouse",), unit="mm")  # fmt: skip
    keypoints = write_dlc_csv(tmp / "mouse.csv", pose)
    labels = tmp / "labels.csv"
    rows = ["frame,label", *(f"{f},{c}" for f, c in enumerate(world.behaviour.labels[:, 0]))]
    labels.write_text("\n".join(rows) + "\n")
    return tmp, keypoints, labels


def _settings(root: Path) -> Settings:
    return load_settings(None, {"runs_dir": root / "runs"})


@pytest.fixture(scope="module")
def model(session: tuple[Path, Path, Path]) -> Path:
    tmp, keypoints, labels = session
    res = run_gate_train(TrainInputs(keypoints=keypoints, labels=labels, fps=30.0), TINY,
                         _settings(tmp), out=tmp / "model")  # fmt: skip
    assert res.summary["steps"] >= 1 and (tmp / "model" / "classes.json").is_file()
    assert (res.run.root / "trace.jsonl").is_file()
    return tmp / "model"


def test_predict_leaves_a_finished_run_with_its_trace(
    session: tuple[Path, Path, Path], model: Path
) -> None:
    tmp, keypoints, _ = session
    out = tmp / "pred"
    res = run_pipeline(GATE_PREDICT, PredictInputs(keypoints=keypoints, gate_model=model,
                       fps=30.0), PredictOptions(), _settings(tmp), out=out)  # fmt: skip
    info = json.loads((res.run.root / "run.json").read_text())
    assert info["graph"] == "gate-predict" and info["status"] == "finished"
    assert info["inputs"]["inputs"]["fps"] == 30.0 and info["summary"]["frames"] == FRAMES
    events = read_trace(res.run.root / "trace.jsonl")
    tools = [e["name"] for e in events if e["kind"] == "tool_call"]
    assert tools == ["select_frames", "predict_probabilities"]  # no video: no encoder call
    assert {"run_start", "run_end"} <= {e["kind"] for e in events}
    for name in ("labels.csv", "ethogram.csv", "ethogram.png", "summary.json", "report.md"):
        assert (out / name).read_bytes() == (res.run.outputs_dir / name).read_bytes()
    assert res.summary["frames_looked_at"] == 0 and res.summary["top_k"] is None

    # resuming the finished run from its checkpoint runs no stage again
    again = run_pipeline(GATE_PREDICT, None, None, _settings(tmp), resume=res.run.run_id)
    assert again.run.root == res.run.root and again.out == out
    events = read_trace(res.run.root / "trace.jsonl")
    assert [e["name"] for e in events if e["kind"] == "tool_call"] == tools
    assert "run_resume" in {e["kind"] for e in events}


def test_bad_inputs_fail_before_any_run_exists(
    session: tuple[Path, Path, Path], model: Path, tmp_path: Path
) -> None:
    _, keypoints, _ = session
    settings = _settings(tmp_path)
    with pytest.raises(InputError, match="holds no gate model"):
        run_pipeline(GATE_PREDICT, PredictInputs(keypoints=keypoints, gate_model=tmp_path,
                     fps=30.0), PredictOptions(), settings, out=tmp_path / "o")  # fmt: skip
    with pytest.raises(InputError, match="trained without video"):
        run_pipeline(
            GATE_PREDICT,
            PredictInputs(keypoints=keypoints, gate_model=model, video=keypoints, fps=30.0),
            PredictOptions(), settings, out=tmp_path / "o",
        )  # fmt: skip
    assert not (tmp_path / "runs").exists() and not (tmp_path / "o").exists()


def test_stages_called_alone(session: tuple[Path, Path, Path], model: Path) -> None:
    _, keypoints, _ = session
    gm = load_gate_model(model)
    kp = read_keypoints_motion(keypoints, 30.0)
    wanted = choose_frames(gm, kp, None)  # keypoint-only model: nothing to look at
    assert wanted.shape == (FRAMES, 1) and not wanted.any()
    probs = infer(gm, kp, wanted, None)
    assert probs.shape == (FRAMES, 1, len(gm.classes))
    np.testing.assert_allclose(probs.sum(axis=-1), 1.0, atol=1e-6)
    resolved = resolve_predict(PredictInputs(keypoints=keypoints, gate_model=model, fps=30.0),
                               PredictOptions())  # fmt: skip
    assert resolved.fps == 30.0 and resolved.top_k is None
    with pytest.raises(InputError, match="states no frame rate"):
        resolve_predict(PredictInputs(keypoints=keypoints, gate_model=model), PredictOptions())

    looked = np.zeros((8, 2), bool)
    looked[:2] = True
    cost = vision_summary(0.25, "enc", looked, 16, {"frames_sent_to_encoder": 3})
    assert cost["frames_looked_at"] == 4 and cost["fraction_looked_at"] == 0.25
    assert cost["encoder_calls_saved"] == 0.75 and cost["frames_sent_to_encoder"] == 3


def test_traced_encoder_records_and_counts_every_call() -> None:
    tracer = Tracer(None, run_id="t")
    encoder = TracedEncoder(make_vision_encoder("classical"), tracer)
    frames = np.zeros((3, 32, 32, 3), np.uint8)
    assert encoder.encode(frames).shape == (3, encoder.dim)
    encoder.encode(frames[:1])
    calls = [e for e in tracer.events if e["kind"] == "tool_call"]
    assert encoder.calls == 2 and [e["name"] for e in calls] == ["vision_encode"] * 2
    assert [e["args"]["frames"] for e in calls] == [3, 1]
    assert encoder.frames_encoded == 4


def test_labels_by_name_or_code(tmp_path: Path) -> None:
    path = tmp_path / "l.csv"
    path.write_text("frame,label\n0,walk\n1,\n2,rest\n")
    y, classes = read_gate_labels(path, ["m"], 3)
    assert classes == ["rest", "walk"] and y[:, 0].tolist() == [1, -1, 0]
    path.write_text("frame,label\n0,2\n1,-1\n")
    y, classes = read_gate_labels(path, ["m"], 2)
    assert classes == ["0", "1", "2"] and y[:, 0].tolist() == [2, -1]
    with pytest.raises(InputError, match="labels 2 frames; the keypoints have 3"):
        read_gate_labels(path, ["m"], 3)


def test_sizes_cpu_by_default_paper_as_an_option() -> None:
    cpu, paper = TrainOptions(), TrainOptions(size="paper")
    assert (cpu.d_model, cpu.d_z, cpu.layers, cpu.window) == (64, 32, 2, 64)
    assert (paper.d_model, paper.d_z, paper.layers, paper.window) == (256, 128, 4, 128)
    assert TrainOptions(size="paper", d_model=None, window=64).window == 64  # options win
    assert PretrainOptions(size="paper").lr == pytest.approx(3e-4)


def test_the_motion_descriptor_holds_velocities_and_pose_features(
    session: tuple[Path, Path, Path],
) -> None:
    _, keypoints, _ = session
    kp = read_keypoints_motion(keypoints, 30.0)
    conf = np.where(np.isnan(kp.pose.confidence), 1.0, kp.pose.confidence)
    want = describe_motion(kp.pose.points, conf, velocity_fps=30.0).features
    # the keypoint part first, then the body-length features (speed, elongation, ...)
    np.testing.assert_array_equal(kp.motion.features[..., : want.shape[-1]], want)
    assert want.shape[-1] > describe_motion(kp.pose.points, conf).features.shape[-1]
    pose = describe_gate_motion(
        kp.pose.points, kp.pose.confidence, fps=30.0, keypoints=kp.pose.keypoints
    )
    assert kp.motion.features.shape[-1] == want.shape[-1] + len(pose.pose_names) > 0
    assert "speed" in pose.pose_names
    with pytest.raises(InputError, match="states no frame rate"):
        read_keypoints_motion(keypoints, None)


def _eval(keypoints: Path, labels: Path, model: Path, holdout: float | None = None) -> Any:
    return resolve_eval(EvalInputs(keypoints=keypoints, labels=labels, gate_model=model,
                                   fps=30.0),
                        EvalOptions(holdout=holdout))  # fmt: skip


def test_eval_scores_held_out_frames_only(session: tuple[Path, Path, Path], model: Path) -> None:
    tmp, keypoints, labels = session
    # the fixture's model was trained on every labelled frame of this session
    with pytest.raises(InputError, match="nothing is held out"):
        _eval(keypoints, labels, model)
    half = tmp / "half"
    run_gate_train(TrainInputs(keypoints=keypoints, labels=labels, fps=30.0),
                   TINY.model_copy(update={"label_fraction": 0.5}), _settings(tmp),
                   out=half)  # fmt: skip
    record = json.loads((half / "gate.json").read_text())["trained_on"]
    assert record["labelled_frames"] == [0, FRAMES // 2] and record["frames"] == FRAMES
    r = _eval(keypoints, labels, half)
    assert r.scored == (FRAMES // 2, FRAMES) and "by time" in r.split and not r.warnings
    assert (r.truth[: FRAMES // 2] == -1).all() and (r.truth[FRAMES // 2 :] >= 0).all()
    assert _eval(keypoints, labels, half, holdout=0.25).scored == (90, FRAMES)
    with pytest.raises(InputError, match="own training labels"):
        _eval(keypoints, labels, half, holdout=0.75)
    # another session is held out as a whole
    world = simulate_world(FRAMES, seed=9)
    pose = PoseData(points=world.points_3d, confidence=np.ones(world.points_3d.shape[:3]),
                    keypoints=KEYPOINTS, individuals=("mouse",), unit="mm")  # fmt: skip
    other = write_dlc_csv(tmp / "other.csv", pose)
    r = _eval(other, labels, half)
    assert r.scored == (0, FRAMES) and r.split.startswith("by session")
    # trained on the second half only (the first unlabelled): the first half is scored
    late = tmp / "late.csv"
    rows = labels.read_text().splitlines()
    late.write_text("\n".join([rows[0], *(f"{i}," for i in range(FRAMES // 2)),
                               *rows[1 + FRAMES // 2 :]]) + "\n")  # fmt: skip
    run_gate_train(TrainInputs(keypoints=keypoints, labels=late, fps=30.0), TINY,
                   _settings(tmp), out=tmp / "late")  # fmt: skip
    record = json.loads((tmp / "late" / "gate.json").read_text())["trained_on"]
    assert record["labelled_frames"] == [FRAMES // 2, FRAMES]
    r = _eval(keypoints, labels, tmp / "late")
    assert r.scored == (0, FRAMES // 2) and "frames 0-59" in r.split
    assert (r.truth[: FRAMES // 2] >= 0).all() and (r.truth[FRAMES // 2 :] == -1).all()
    with pytest.raises(InputError, match="own training labels"):
        _eval(keypoints, labels, tmp / "late", holdout=0.25)
    # a model that records no training data is scored, with a loud warning
    meta = json.loads((half / "gate.json").read_text())
    del meta["trained_on"]
    (half / "gate.json").write_text(json.dumps(meta))
    r = _eval(keypoints, labels, half)
    assert r.scored == (0, FRAMES) and "may be its training labels" in r.warnings[0]


def test_the_model_standardises_features_with_its_training_scale(
    session: tuple[Path, Path, Path], model: Path
) -> None:
    _, keypoints, _ = session
    gm = load_gate_model(model)
    kp = read_keypoints_motion(keypoints, 30.0)
    assert gm.scale is not None and len(gm.scale["mean"]) == kp.motion.features.shape[-1]
    x = kp.session(scale=gm.scale).motion.reshape(-1, kp.motion.features.shape[-1])
    np.testing.assert_allclose(x.mean(axis=0), 0.0, atol=1e-3)  # trained on every frame
    assert np.all(x.std(axis=0) <= 1.0 + 1e-3)
    assert not np.array_equal(kp.session().motion, kp.session(scale=gm.scale).motion)


def test_train_fits_a_head_and_eval_prints_its_parts_beside_it(tmp_path: Path) -> None:
    """Two mice, 400 frames: held-back blocks exist, so the head is chosen and recorded."""
    frames = 400
    world = simulate_world(frames, animals=2, seed=7)
    pose = PoseData(points=world.points_3d, confidence=np.ones(world.points_3d.shape[:3]),
                    keypoints=KEYPOINTS, individuals=("m1", "m2"), unit="mm")  # fmt: skip
    keypoints = write_dlc_csv(tmp_path / "mice.csv", pose)
    labels = tmp_path / "labels.csv"
    codes = world.behaviour.labels
    rows = ["frame,m1,m2", *(f"{f},{codes[f, 0]},{codes[f, 1]}" for f in range(frames))]
    labels.write_text("\n".join(rows) + "\n")
    options = TrainOptions(d_model=16, d_z=8, layers=1, window=8, epochs=1, label_fraction=0.5)
    res = run_gate_train(TrainInputs(keypoints=keypoints, labels=labels, fps=30.0), options,
                         _settings(tmp_path), out=tmp_path / "model")  # fmt: skip
    head = json.loads((tmp_path / "model" / "gate.json").read_text())["head"]
    assert head["mode"] in ("logreg", "mean", "transformer")  # many classes: no rule
    assert set(head["validation"]) == {"logreg", "mean", "transformer"}
    assert head["logreg"]["pose_dims"] > 0 and len(head["logreg"]["animals"]) == 2
    assert all(stop <= frames // 2 for _, stop in head["held_back"])
    assert res.summary["head"]["mode"] == head["mode"]
    ev = _eval(keypoints, labels, tmp_path / "model")
    assert ev.scored == (frames // 2, frames)
    out = run_pipeline(GATE_EVAL, ev.inputs, EvalOptions(), _settings(tmp_path),
                       out=tmp_path / "eval")  # fmt: skip
    assert out.out == tmp_path / "eval"
    record = json.loads((tmp_path / "eval" / "results.json").read_text())
    methods = [r["method"] for r in record["table"]]
    assert methods == [f"gate ({head['mode']})", "transformer alone", "logistic regression"]
    assert all(0.0 <= r["macro_f1"] <= 1.0 for r in record["table"])
    assert "macro_f1.logistic regression" in record["metrics"]
