"""``ethoagent classify --examples-from``: examples of one labelled session, at its own
frame rate, classify another; the report names the session they came from; ``--body``
and the real BehaviorDEPOT acceptance (demo4 taught by demo1 at 50 fps)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics import f1_score
from typer.testing import CliRunner

from ethoagent.cli.app import app
from ethoagent.io.keypoints import write_keypoints
from ethoagent.model.pose import PoseData
from ethoagent.sim.behaviour import INDIVIDUAL_BEHAVIOURS
from ethoagent.sim.synthetic import KEYPOINTS, simulate_world
from tests.data_paths import require_shared

runner = CliRunner()
CLASSES = ("freezing", "locomotion", "other")
NAMES = {"still": "freezing", "walking": "locomotion", "darting": "locomotion",
         "rearing": "other", "grooming": "other", "turning": "other"}  # fmt: skip


def _world(tmp: Path, seed: int, step: int, name: str) -> tuple[Path, np.ndarray]:
    """A simulated mouse, every ``step``-th frame of 30 fps; keypoints file and labels."""
    world = simulate_world(1200, seed=seed)
    points = world.points_3d[::step]
    data = PoseData(
        points=points,
        confidence=np.full(points.shape[:3], np.nan),
        keypoints=KEYPOINTS,
        individuals=("mouse_0",),
        fps=30.0 / step,
        unit="mm",
    )
    labels = np.array([NAMES[INDIVIDUAL_BEHAVIOURS[c]] for c in world.behaviour.labels[::step, 0]])
    return write_keypoints(data, tmp / name, format="netcdf"), labels


@pytest.fixture(scope="module")
def taught(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, np.ndarray, Path]:
    tmp = tmp_path_factory.mktemp("examples-from")
    cohort = tmp / "cohort"
    cohort.mkdir()
    _, labels_a = _world(cohort, 3, 1, "a.nc")
    with (cohort / "a_labels.csv").open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["frame", "label"])
        w.writerows((f, lab) for f, lab in enumerate(labels_a))
    (cohort / "table.csv").write_text("keypoints,labels,fps\na.nc,a_labels.csv,\n")
    target, truth = _world(tmp, 4, 2, "b.nc")  # another mouse at 15 fps
    out = tmp / "out"
    result = runner.invoke(
        app,
        ["classify", str(target), str(out), "--examples-from", str(cohort / "table.csv"),
         "--classes", ",".join(CLASSES), "--runs-dir", str(tmp / "runs")],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    return out, truth, tmp


def test_examples_from_another_session_label_this_one(
    taught: tuple[Path, np.ndarray, Path],
) -> None:
    out, truth, _ = taught
    summary = json.loads((out / "summary.json").read_text())
    assert (
        summary["fps"] == 15.0 and "a.nc (labels a_labels.csv, 30 fps" in summary["examples_file"]
    )
    report = (out / "report.md").read_text()
    assert "examples taken from other sessions" in report and "a.nc" in report
    section = report.split("## Sessions the examples came from", 1)[1].split("\n## ", 1)[0]
    (row,) = [line for line in section.splitlines() if line.startswith("| `")]
    assert "a.nc` | `" in row and "a_labels.csv` | 30 | " in row, row
    with (out / "frames.csv").open() as fh:
        pred = np.array([r["label"] for r in csv.DictReader(fh) if r["animal"] == "mouse_0"])
    codes = {c: i for i, c in enumerate(CLASSES)}
    y, p = np.array([codes[t] for t in truth]), np.array([codes[c] for c in pred])
    ours = f1_score(y, p, average="macro", labels=range(len(CLASSES)))
    majority = np.full_like(y, np.bincount(y).argmax())
    constant = f1_score(y, majority, average="macro", labels=range(len(CLASSES)))
    assert ours > constant + 0.2, (ours, constant)


def test_examples_from_errors_are_one_line(taught: tuple[Path, np.ndarray, Path]) -> None:
    _, _, tmp = taught
    table = tmp / "bad.csv"
    table.write_text("keypoints,labels\nmissing.nc,x.csv\n")
    result = runner.invoke(
        app, ["classify", str(tmp / "b.nc"), str(tmp / "o"), "--examples-from", str(table)]
    )
    assert result.exit_code != 0
    assert f"{table}:2: keypoints file" in str(result.exception)
    neither = runner.invoke(app, ["classify", str(tmp / "b.nc"), str(tmp / "o")])
    assert neither.exit_code != 0 and "--examples-from" in str(neither.exception)


def test_behaviordepot_demo4_taught_by_demo1(tmp_path: Path) -> None:
    demo = require_shared("behaviordepot_freezing/demo")
    table = tmp_path / "taught.csv"
    table.write_text(
        "keypoints,labels,fps\n"
        f"{demo / 'demo1' / 'demo1_tracking.csv'},"
        f"{demo / 'demo1' / 'demo1_human_freezing_framewise.csv'},50\n"
    )
    out = tmp_path / "out"
    target = demo / "demo4" / "demo4_video.csv"
    result = runner.invoke(
        app,
        ["classify", str(target), str(out), "--examples-from", str(table),
         "--classes", "freezing,other", "--fps", "50", "--runs-dir", str(tmp_path / "runs")],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    summary = json.loads((out / "summary.json").read_text())
    assert summary["frames"] == 3540 and "demo1_tracking.csv" in summary["examples_file"]
    assert "50 fps" in summary["examples_file"]


def test_boris_export_of_one_behaviour_teaches_other_too() -> None:
    """ethome's BORIS export lists only `interact` bouts, and only for the adult: the
    frames it leaves uncovered are `other` examples (as a 0/1 file's are), the juvenile
    none."""
    from ethoagent.graphs.classify.inputs import resolve_classify_inputs

    root = require_shared("ethome_social_interact")
    (kp,) = (root / "dlc").glob("*.csv")
    boris = root / "boris" / "e3v813a-20210610T122332-122642_reencode.csv"
    inputs = resolve_classify_inputs(kp, boris, classes=["interact", "other"], fps=30.0)
    by = {(e.animal, e.label) for e in inputs.examples}
    assert by == {(0, "interact"), (0, "other")}
    covered = sum(e.stop - e.start for e in inputs.examples if e.animal == 0)
    assert covered == inputs.frames  # every adult frame is an example of one class
