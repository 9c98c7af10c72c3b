"""Segment and classify on a sleap-anipose points3d.h5 copied away from its .slp files:
``--skeleton`` names the nodes, the run records it, and a resume reads the file again with it."""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np
import pytest
from typer.testing import CliRunner

from ethoagent.batch import load_batch, missing_inputs
from ethoagent.cli.app import app
from ethoagent.sim.behaviour import INDIVIDUAL_BEHAVIOURS
from ethoagent.sim.synthetic import KEYPOINTS, simulate_world

runner = CliRunner()
FAST = ["--k", "3", "--dec-epochs", "2", "--dec-iters", "50", "--fps", "30"]
NAMES = {"still": "freezing", "walking": "locomotion", "darting": "darting",
         "rearing": "rearing", "grooming": "grooming", "turning": "other"}  # fmt: skip


@pytest.fixture(scope="module")
def session(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path, str]:
    """A points3d.h5 (frames, 1 animal, nodes, xyz mm), a skeleton TOML, an examples CSV
    and the classes it labels (comma-separated)."""
    tmp = tmp_path_factory.mktemp("points3d-skeleton")
    world = simulate_world(600, seed=3)
    h5 = tmp / "copied" / "points3d.h5"
    h5.parent.mkdir()
    with h5py.File(h5, "w") as f:
        f.create_dataset("tracks", data=np.asarray(world.points_3d, dtype=np.float64))
    skeleton = tmp / "skeleton.toml"
    skeleton.write_text("keypoints = [" + ", ".join(f'"{k}"' for k in KEYPOINTS) + "]\n")
    labels = np.array([NAMES[INDIVIDUAL_BEHAVIOURS[c]] for c in world.behaviour.labels[:, 0]])
    rows = ["frame,label"]
    for lab in sorted(set(labels)):
        idx = np.flatnonzero(labels == lab)
        rows += [f"{f},{lab}" for f in idx[:10]]
    examples = tmp / "examples.csv"
    examples.write_text("\n".join(rows) + "\n")
    return h5, skeleton, examples, ",".join(sorted(set(labels)))


def test_without_a_skeleton_the_error_names_the_option(
    session: tuple[Path, Path, Path, str], tmp_path: Path
) -> None:
    h5, *_ = session
    result = runner.invoke(
        app, ["segment", str(h5), str(tmp_path / "out"), "--runs-dir", str(tmp_path / "runs")]
    )
    assert result.exit_code == 1 and "--skeleton" in str(result.exception)


def test_segment_reads_the_nodes_from_the_skeleton_and_resumes(
    session: tuple[Path, Path, Path, str], tmp_path: Path
) -> None:
    h5, skeleton, *_ = session
    runs = tmp_path / "runs"
    args = ["segment", str(h5), str(tmp_path / "out"), "--skeleton", str(skeleton), *FAST]
    result = runner.invoke(app, [*args, "--runs-dir", str(runs), "--run-id", "s"])
    assert result.exit_code == 0, result.output
    info = json.loads((runs / "s" / "run.json").read_text())
    assert info["inputs"]["skeleton"] == str(skeleton)
    assert info["inputs"]["keypoint_names"] == list(KEYPOINTS)
    resumed = runner.invoke(
        app, ["segment", "--resume", "s", str(tmp_path / "again"), "--runs-dir", str(runs)]
    )
    assert resumed.exit_code == 0, resumed.output
    first = (tmp_path / "out" / "ethogram.csv").read_bytes()
    assert (tmp_path / "again" / "ethogram.csv").read_bytes() == first


def test_classify_reads_the_nodes_from_the_skeleton(
    session: tuple[Path, Path, Path, str], tmp_path: Path
) -> None:
    h5, skeleton, examples, classes = session
    runs = tmp_path / "runs"
    result = runner.invoke(
        app,
        ["classify", str(h5), str(tmp_path / "out"), "--examples", str(examples),
         "--skeleton", str(skeleton), "--fps", "30", "--runs-dir", str(runs),
         "--classes", classes, "--run-id", "c"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    info = json.loads((runs / "c" / "run.json").read_text())
    assert info["inputs"]["skeleton"] == str(skeleton)
    assert info["status"] == "finished" and info["inputs"]["keypoint_names"] == list(KEYPOINTS)
    assert (tmp_path / "out" / "frames.csv").is_file()


def test_profile_takes_the_skeleton_from_the_option_or_the_table(
    session: tuple[Path, Path, Path, str], tmp_path: Path
) -> None:
    _, skeleton, *_ = session
    lines = ["session,animal,group,fps,skeleton"]
    for i in range(4):
        world = simulate_world(300, seed=40 + i)
        with h5py.File(tmp_path / f"s{i}.h5", "w") as f:
            f.create_dataset("tracks", data=np.asarray(world.points_3d, dtype=np.float64))
        row_skeleton = str(skeleton) if i % 2 else ""  # the others take --skeleton
        lines.append(f"s{i}.h5,m{i},{'ab'[i // 2]},30,{row_skeleton}")
    (tmp_path / "sessions.csv").write_text("\n".join(lines) + "\n")
    runs = tmp_path / "runs"
    args = ["profile", str(tmp_path / "sessions.csv"), str(tmp_path / "out"), "--k", "3",
            "--dec-epochs", "2", "--dec-iters", "50", "--embedder", "tfidf",
            "--permutations", "99", "--runs-dir", str(runs)]  # fmt: skip
    failed = runner.invoke(app, [*args, "--run-id", "failed"])
    assert failed.exit_code == 1 and "--skeleton" in str(failed.exception)
    result = runner.invoke(app, [*args, "--skeleton", str(skeleton), "--run-id", "p"])
    assert result.exit_code == 0, result.output
    info = json.loads((runs / "p" / "run.json").read_text())
    assert info["inputs"]["skeleton"] == str(skeleton.resolve())
    assert [r["skeleton"] for r in info["inputs"]["rows"]] == [None, str(skeleton)] * 2
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["sessions"] == 4 and summary["bodies"][0]["roles"]["layout"] == "synthetic12"
    for seg in summary["segment_runs"]:  # each session's segment run read it with the skeleton
        assert json.loads(Path(seg["outputs"], "summary.json").read_text())["skeleton"]


def test_an_examples_table_names_each_sessions_skeleton(
    session: tuple[Path, Path, Path, str], tmp_path: Path
) -> None:
    h5, skeleton, examples, classes = session
    (tmp_path / "table.csv").write_text(f"keypoints,labels,fps,skeleton\n{h5},{examples},30,\n")
    args = ["classify", str(h5), str(tmp_path / "out"), "--examples-from",
            str(tmp_path / "table.csv"), "--classes", classes, "--skeleton", str(skeleton),
            "--fps", "30", "--runs-dir", str(tmp_path / "runs")]  # fmt: skip
    result = runner.invoke(app, args)  # the empty cell: the run's --skeleton
    assert result.exit_code == 0, result.output
    other = tmp_path / "other.toml"
    other.write_text('keypoints = ["a", "b"]\n')  # the row's own skeleton wins, and is checked
    (tmp_path / "table.csv").write_text(
        f"keypoints,labels,fps,skeleton\n{h5},{examples},30,{other.name}\n"
    )
    result = runner.invoke(app, [*args[:2], str(tmp_path / "out2"), *args[3:]])
    assert result.exit_code == 1
    assert "holds 12 nodes but other.toml names 2" in str(result.exception)


def test_a_batch_session_names_its_skeleton_relative_to_the_batch_file(
    session: tuple[Path, Path, Path, str], tmp_path: Path
) -> None:
    h5, skeleton, *_ = session
    (tmp_path / "batch.toml").write_text(
        'graphs = ["segment"]\n[[sessions]]\nname = "m1"\n'
        f'inputs = {{ keypoints = "{h5}", fps = 30, skeleton = "skel/{skeleton.name}" }}\n'
    )
    (job,) = load_batch(tmp_path / "batch.toml").jobs
    assert job.inputs["skeleton"] == str(tmp_path / "skel" / skeleton.name)
    assert missing_inputs(job) == [f"skeleton {tmp_path / 'skel' / skeleton.name}"]


def test_gate_pools_a_table_row_named_by_its_skeleton(
    session: tuple[Path, Path, Path, str], tmp_path: Path
) -> None:
    from ethoagent.graphs.gate.cohort import pool_train_sessions
    from ethoagent.graphs.gate.inputs import read_keypoints_motion
    from ethoagent.graphs.gate.labels import read_gate_labels

    h5, skeleton, *_ = session
    labels = tmp_path / "labels.csv"
    labels.write_text("frame,label\n" + "".join(f"{f},{'ab'[f // 300]}\n" for f in range(600)))
    (tmp_path / "table.csv").write_text(
        f"keypoints,labels,fps,skeleton\n{h5},{labels},30,{skeleton}\n"
    )
    kp = read_keypoints_motion(h5, 30.0, skeleton=skeleton)
    y, classes = read_gate_labels(labels, kp.pose.individuals, kp.pose.frames, 30.0)
    pooled = pool_train_sessions(kp, y, classes, tmp_path / "table.csv", fps=None, gap=32)
    assert pooled.keypoints.pose.frames == 600 + 32 + 600
    assert pooled.keypoints.pose.keypoints == KEYPOINTS
