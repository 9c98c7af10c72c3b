"""``gate train --examples-from``: more labelled sessions of a cohort in one training set."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from ethoagent.errors import InputError
from ethoagent.graphs.gate.cohort import pool_train_sessions
from ethoagent.graphs.gate.inputs import read_keypoints_motion
from ethoagent.graphs.gate.labels import read_gate_labels
from ethoagent.io.keypoints import write_dlc_csv
from ethoagent.model.pose import PoseData
from ethoagent.sim.synthetic import KEYPOINTS, simulate_world
from tests.test_cli import cli

TINY = ("--d-model", "16", "--d-z", "8", "--layers", "1", "--window", "32", "--fps", "30")
NAMES = ["still", "walking", "darting", "turning", "rearing", "grooming"]


def _session(tmp: Path, name: str, seed: int, frames: int, keep: set[str]) -> tuple[Path, Path]:
    """A simulated mouse (DLC CSV, mm) and labels naming only the classes in ``keep``."""
    world = simulate_world(frames, seed=seed)
    pose = PoseData(points=world.points_3d, confidence=np.ones(world.points_3d.shape[:3]),
                    keypoints=KEYPOINTS, individuals=("mouse",), unit="mm")  # fmt: skip
    kp = write_dlc_csv(tmp / f"{name}.csv", pose)
    labels = tmp / f"{name}_labels.csv"
    cells = [NAMES[c] if NAMES[c] in keep else "" for c in world.behaviour.labels[:, 0]]
    labels.write_text("frame,label\n" + "".join(f"{f},{c}\n" for f, c in enumerate(cells)))
    return kp, labels


@pytest.fixture(scope="module")
def cohort(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path, Path]:
    tmp = tmp_path_factory.mktemp("gate-cohort")
    kp, labels = _session(tmp, "main", 2, 200, {"rearing", "grooming"})
    sub = tmp / "more"
    sub.mkdir()
    _session(sub, "other", 5, 150, {"grooming", "walking"})
    table = sub / "table.csv"
    table.write_text("keypoints,labels,fps\nother.csv,other_labels.csv,30\n")
    return tmp, kp, labels, table


def test_pooled_sessions_are_gapped_and_classes_matched_by_name(
    cohort: tuple[Path, Path, Path, Path],
) -> None:
    _, kp_path, labels, table = cohort
    kp = read_keypoints_motion(kp_path, 30.0)
    y, classes = read_gate_labels(labels, kp.pose.individuals, kp.pose.frames, 30.0)
    pooled = pool_train_sessions(kp, y, classes, table, fps=None, gap=32)
    assert pooled.classes == ["grooming", "rearing", "walking"]
    assert pooled.keypoints.pose.frames == 200 + 32 + 150
    assert pooled.keypoints.motion.features.shape[0] == 200 + 32 + 150
    assert not pooled.keypoints.motion.valid[200:232].any()
    assert (pooled.labels[200:232] == -1).all()
    np.testing.assert_array_equal(pooled.labels[:200], y)
    other = pooled.labels[232:, 0]
    assert set(np.unique(other)) == {0, 2}  # grooming -> 0, walking -> 2 (new)
    (record,) = pooled.sessions
    assert record["frames"] == 150 and record["fps"] == 30.0
    assert record["labelled"] == int((other >= 0).sum())


def test_gate_train_records_the_sessions_it_learned_from(
    cohort: tuple[Path, Path, Path, Path],
) -> None:
    tmp, kp, labels, table = cohort
    out = tmp / "model"
    res = cli("gate", "train", str(kp), "--labels", str(labels), "--examples-from", str(table),
              "--out", str(out), "--epochs", "1", *TINY)  # fmt: skip
    assert res.returncode == 0, res.stderr
    meta = json.loads((out / "gate.json").read_text())
    assert meta["classes"] == ["grooming", "rearing", "walking"]
    assert [Path(s["keypoints"]).name for s in meta["examples_from"]] == ["other.csv"]
    report = (out / "report.md").read_text()
    section = report.split("## Sessions the examples came from", 1)[1]
    assert "other.csv` | `" in section and "| 30 | 150 |" in section, section
    assert "| unit | mm (world coordinates; median body length" in report


def test_sessions_with_other_keypoints_are_refused_with_the_line(
    cohort: tuple[Path, Path, Path, Path], tmp_path: Path
) -> None:
    _, kp_path, labels, _ = cohort
    world = simulate_world(60, seed=1)
    pose = PoseData(points=world.points_3d[:, :, :5], confidence=np.ones((60, 1, 5)),
                    keypoints=KEYPOINTS[:5], individuals=("mouse",), unit="mm")  # fmt: skip
    write_dlc_csv(tmp_path / "few.csv", pose)
    (tmp_path / "few_labels.csv").write_text("frame,label\n0,grooming\n")
    table = tmp_path / "t.csv"
    table.write_text("keypoints,labels\nfew.csv,few_labels.csv\n")
    kp = read_keypoints_motion(kp_path, 30.0)
    y, classes = read_gate_labels(labels, kp.pose.individuals, kp.pose.frames, 30.0)
    with pytest.raises(InputError, match=r"t\.csv:2: .*few\.csv has keypoints"):
        pool_train_sessions(kp, y, classes, table, fps=30.0, gap=8)
