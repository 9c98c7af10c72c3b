"""``gate train/predict --body FILE``: body roles from the user's file, recorded in the model."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from ethoagent.config import Settings, load_settings
from ethoagent.errors import InputError
from ethoagent.graphs.gate import (
    GATE_PREDICT,
    EvalInputs,
    EvalOptions,
    PredictInputs,
    PredictOptions,
    TrainInputs,
    TrainOptions,
)
from ethoagent.graphs.gate.graph import run_gate_train
from ethoagent.graphs.gate.inputs import gate_layout, read_keypoints_motion, resolve_eval
from ethoagent.graphs.kit.run import run_pipeline
from ethoagent.io.keypoints import read_keypoints, write_dlc_csv
from ethoagent.model.pose import PoseData
from ethoagent.sim.synthetic import KEYPOINTS, simulate_world
from tests.data_paths import require_shared

TINY = TrainOptions(d_model=16, d_z=8, layers=1, window=32, epochs=1, label_fraction=0.5)
SLEAP_TOP = "sleap_anipose_minimal_session/minimal_session/top/minimal_top_proofread.analysis.h5"
OPENFIELD_CONFIG = "dlc_openfield_pranav2018/openfield-Pranav-2018-10-30/config.yaml"


def _settings(root: Path) -> Settings:
    return load_settings(None, {"runs_dir": root / "runs"})


def _speed_labels(path: Path, points: np.ndarray, fps_index: int) -> Path:
    """``moving`` / ``still`` per frame by the speed of one keypoint (median split)."""
    step = np.linalg.norm(np.diff(points[:, 0, fps_index], axis=0), axis=-1)
    step = np.concatenate([[0.0], np.nan_to_num(step)])
    names = np.where(step > np.median(step), "moving", "still")
    path.write_text("frame,label\n" + "".join(f"{f},{n}\n" for f, n in enumerate(names)))
    return path


def test_a_sleap_15_node_file_trains_and_predicts_with_the_roles_of_its_body_file(
    tmp_path: Path,
) -> None:
    keypoints = require_shared(SLEAP_TOP)
    pose = read_keypoints(keypoints, fps=30.0)
    assert len(pose.keypoints) == 15
    labels = _speed_labels(tmp_path / "labels.csv", pose.points, pose.keypoints.index("Trunk"))
    body = tmp_path / "body.toml"
    body.write_text(
        'head = "Head"\ntail_base = "Tail_0"\ncentre = "Trunk"\n'
        'body = ["Nose", "Ear_R", "Ear_L", "Head", "Neck", "Trunk", "Tail_0", '
        '"Shoulder_left", "Shoulder_right", "Haunch_left", "Haunch_right"]\n'
    )
    named = read_keypoints_motion(keypoints, 30.0)
    stated = read_keypoints_motion(keypoints, 30.0, body)
    assert named.body is None and stated.body is not None and stated.pose_features > 0
    # the keypoint part reads the 11 body keypoints only (x, y, conf, vx, vy each, ...)
    assert stated.motion.features.shape[-1] < named.motion.features.shape[-1]

    model = tmp_path / "model"
    res = run_gate_train(TrainInputs(keypoints=keypoints, labels=labels, fps=30.0, body=body),
                         TINY, _settings(tmp_path), out=model)  # fmt: skip
    assert res.summary["body_roles"].startswith("from --body: head = Head; tail_base = Tail_0")
    meta = json.loads((model / "gate.json").read_text())
    assert meta["layout"]["body"] == stated.body

    # predict rebuilds the roles from the model: the same features, without --body
    rebuilt = read_keypoints_motion(keypoints, 30.0, None, meta)
    np.testing.assert_array_equal(rebuilt.motion.features, stated.motion.features)
    predict = PredictInputs(keypoints=keypoints, gate_model=model, fps=30.0)
    out = run_pipeline(GATE_PREDICT, predict, PredictOptions(), _settings(tmp_path),
                       out=tmp_path / "p")  # fmt: skip
    assert out.summary["frames"] == pose.frames
    report = (tmp_path / "p" / "report.md").read_text()
    assert "from --body: head = Head" in report
    ev = resolve_eval(EvalInputs(keypoints=keypoints, labels=labels, gate_model=model,
                                 fps=30.0, body=body), EvalOptions())  # fmt: skip
    assert ev.keypoints.body == stated.body and ev.scored == (60, 120)

    # a body file with other roles fails before any run exists
    other = tmp_path / "other.toml"
    other.write_text('head = "Nose"\ntail_base = "TTI"\n')
    with pytest.raises(InputError, match="other than the model's"):
        run_pipeline(GATE_PREDICT, PredictInputs(keypoints=keypoints, gate_model=model,
                     fps=30.0, body=other), PredictOptions(), _settings(tmp_path / "x"),
                     out=tmp_path / "q")  # fmt: skip
    assert not (tmp_path / "x" / "runs").exists() and not (tmp_path / "q").exists()


def test_a_dlc_open_field_config_states_the_roles(tmp_path: Path) -> None:
    """The open-field project's config.yaml as --body on its four keypoints (+ an arena mark)."""
    config = require_shared(OPENFIELD_CONFIG)
    world = simulate_world(90, seed=3)
    p = world.points_3d[..., :2]
    ears = p[:, :, [KEYPOINTS.index("ear_left"), KEYPOINTS.index("ear_right")]]
    tail = p[:, :, KEYPOINTS.index("tail_base")]
    snout = ears.mean(axis=2) + 0.3 * (ears.mean(axis=2) - tail)
    corner = np.broadcast_to(np.array([0.0, 0.0]), tail.shape)
    points = np.stack([snout, ears[:, :, 0], ears[:, :, 1], tail, corner], axis=2)
    names = ("snout", "leftear", "rightear", "tailbase", "corner_top_left")
    pose = PoseData(points=points, confidence=np.ones(points.shape[:3]), keypoints=names,
                    individuals=("mouse",), unit="mm")  # fmt: skip
    keypoints = write_dlc_csv(tmp_path / "openfield.csv", pose)
    stated = read_keypoints_motion(keypoints, 30.0, config)
    assert stated.body is not None and json.loads(stated.body.split(":", 1)[1])["roles"] == {
        "head": ["snout"],
        "tail_base": ["tailbase"],
    }
    assert stated.pose_features > 0
    named = read_keypoints_motion(keypoints, 30.0)
    # the arena mark stays out of the keypoint part: one keypoint's 5 columns fewer
    assert named.motion.features.shape[-1] - stated.motion.features.shape[-1] == 5
    # a model trained without --body refuses a body file; one with --body keeps its own
    with pytest.raises(InputError, match=r"matched from the keypoint names \(no --body\)"):
        gate_layout(config, names, {"layout": {"body": None}})
    kept = gate_layout(None, names, {"layout": {"body": stated.body}})
    assert kept is not None and kept.name == stated.body
