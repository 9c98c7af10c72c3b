"""End-to-end CLI: `ethoagent gate pretrain -> train -> predict` on a tiny simulated session."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch

from ethoagent.io.keypoints import read_keypoints, write_dlc_csv
from ethoagent.model.pose import PoseData
from ethoagent.sim.synthetic import KEYPOINTS, simulate_world
from ethoagent.tools.ethogram import check_tiling, read_ethogram_csv
from tests.test_cli import cli

FRAMES = 240
TINY = ("--d-model", "16", "--d-z", "8", "--layers", "1", "--window", "64", "--fps", "30")


def _one_line_error(out: object, text: str) -> None:
    assert getattr(out, "returncode") != 0  # noqa: B009
    stderr = getattr(out, "stderr")  # noqa: B009
    assert text in stderr, stderr
    assert "Traceback" not in stderr and len(stderr.strip().splitlines()) == 1


@pytest.fixture(scope="module")
def session(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    """A 1-mouse DLC CSV (mm) and its frame-wise labels ``frame,label``."""
    tmp = tmp_path_factory.mktemp("gate-cli")
    world = simulate_world(FRAMES, seed=2)
    pose = PoseData(points=world.points_3d, confidence=np.ones(world.points_3d.shape[:3]),
                    keypoints=KEYPOINTS, individuals=("mouse",), unit="mm")  # fmt: skip
    keypoints = write_dlc_csv(tmp / "mouse.csv", pose)
    labels = tmp / "labels.csv"
    rows = ["frame,label", *(f"{f},{c}" for f, c in enumerate(world.behaviour.labels[:, 0]))]
    labels.write_text("\n".join(rows) + "\n")
    return tmp, keypoints, labels


@pytest.fixture(scope="module")
def trained(session: tuple[Path, Path, Path]) -> tuple[Path, Path]:
    tmp, keypoints, labels = session
    pre = cli("gate", "pretrain", str(keypoints), "--out", str(tmp / "pre"), "--epochs", "2",
              *TINY)  # fmt: skip
    assert pre.returncode == 0, pre.stderr
    assert "pretrained" in pre.stdout
    model = tmp / "model"
    train = cli("gate", "train", str(keypoints), "--labels", str(labels), "--model",
                str(tmp / "pre"), "--out", str(model), "--epochs", "3", "--fps", "30",
                "--label-fraction", "0.5")  # fmt: skip
    assert train.returncode == 0, train.stderr
    assert "encoder frozen" in train.stdout
    return tmp / "pre", model


def test_pretrain_writes_model_log_and_plot(trained: tuple[Path, Path]) -> None:
    pre, _ = trained
    for name in ("config.json", "weights.pt", "pretrain_log.csv", "pretrain_losses.png",
                 "pretrain_checkpoint.pt", "gate.json"):  # fmt: skip
        assert (pre / name).is_file(), name
    assert (pre / "pretrain_losses.png").read_bytes()[:4] == b"\x89PNG"
    with (pre / "pretrain_log.csv").open() as f:
        rows = list(csv.DictReader(f))
    # 240 frames in windows of 64 every 32: 7 windows, one batch of 8 per epoch
    assert [int(float(r["step"])) for r in rows] == [1, 2]


def test_train_then_predict_end_to_end(
    session: tuple[Path, Path, Path], trained: tuple[Path, Path]
) -> None:
    tmp, keypoints, _ = session
    _, model = trained
    classes = json.loads((model / "classes.json").read_text())
    meta = json.loads((model / "gate.json").read_text())
    assert meta["frozen"] and meta["model"]["d_model"] == 16  # the pretrained size
    assert len(classes) == meta["model"]["n_classes"]
    assert (model / "train_log.csv").read_text().splitlines()[0] == "step,loss"
    assert (model / "train_losses.png").is_file()

    out = tmp / "pred"
    pred = cli("gate", "predict", str(keypoints), str(out), "--model", str(model), "--fps", "30")
    assert pred.returncode == 0, pred.stderr
    assert "gate predict" in pred.stdout
    with (out / "labels.csv").open() as f:
        rows = list(csv.DictReader(f))
    animal = read_keypoints(keypoints).individuals[0]  # a single-animal DLC file names none
    assert len(rows) == FRAMES and {r["animal"] for r in rows} == {animal}
    assert list(rows[0]) == ["frame", "animal", "label", *(f"p_{c}" for c in classes)]
    probs = np.array([[float(r[f"p_{c}"]) for c in classes] for r in rows])
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-3)
    assert all(r["label"] == classes[int(np.argmax(p))] for r, p in zip(rows, probs, strict=True))
    ethogram = read_ethogram_csv(out / "ethogram.csv")
    assert list(ethogram) == [animal]
    assert all(c.passed for c in check_tiling(ethogram[animal], FRAMES))
    assert (out / "ethogram.png").read_bytes()[:4] == b"\x89PNG"


def test_train_resume_continues_from_the_checkpoint(session: tuple[Path, Path, Path]) -> None:
    tmp, keypoints, labels = session
    args = ("gate", "train", str(keypoints), "--labels", str(labels), *TINY)
    full = cli(*args, "--out", str(tmp / "full"), "--epochs", "2")
    assert full.returncode == 0, full.stderr
    # a run stopped after epoch 1 of 2: its checkpoint, with the settings of the full run
    part = tmp / "part"
    first = cli(*args, "--out", str(part), "--epochs", "1")
    assert first.returncode == 0, first.stderr
    meta = json.loads((part / "gate.json").read_text())
    meta["train"]["epochs"] = 2
    (part / "gate.json").write_text(json.dumps(meta))
    refused = cli(*args, "--out", str(part), "--epochs", "2")
    _one_line_error(refused, "pass --resume")
    resumed = cli(*args, "--out", str(part), "--resume")
    assert resumed.returncode == 0, resumed.stderr
    assert "resumed at step 1" in resumed.stdout
    assert (part / "train_log.csv").read_text().splitlines()[0] == "step,loss"
    assert len((part / "train_log.csv").read_text().splitlines()) == 3
    # same seed, same RNG state in the checkpoint: the resumed run ends where the full one did
    want = torch.load(tmp / "full" / "weights.pt", weights_only=True)
    got = torch.load(part / "weights.pt", weights_only=True)
    assert want.keys() == got.keys()
    assert all(torch.equal(want[k], got[k]) for k in want)


def test_bad_inputs_give_one_red_line(
    session: tuple[Path, Path, Path], trained: tuple[Path, Path]
) -> None:
    tmp, keypoints, labels = session
    pre, model = trained
    missing = cli("gate", "pretrain", str(tmp / "nope.csv"), "--out", str(tmp / "x"))
    _one_line_error(missing, "does not exist")
    short = tmp / "short.csv"
    short.write_text("\n".join(labels.read_text().splitlines()[:50]) + "\n")
    mismatch = cli("gate", "train", str(keypoints), "--labels", str(short), "--out",
                   str(tmp / "y"), *TINY)  # fmt: skip
    _one_line_error(mismatch, "labels 49 frames; the keypoints have 240")
    assert not (tmp / "y").exists()
    (tmp / "empty").mkdir()
    no_model = cli("gate", "predict", str(keypoints), str(tmp / "p1"), "--model",
                   str(tmp / "empty"), "--fps", "30")  # fmt: skip
    _one_line_error(no_model, "holds no gate model")
    untrained = cli("gate", "predict", str(keypoints), str(tmp / "p2"), "--model", str(pre),
                    "--fps", "30")  # fmt: skip
    _one_line_error(untrained, "pretrained but not trained")
    world = simulate_world(60, seed=1)
    fewer = PoseData(points=world.points_3d[:, :, :6], confidence=np.ones((60, 1, 6)),
                     keypoints=KEYPOINTS[:6], individuals=("mouse",), unit="mm")  # fmt: skip
    other = write_dlc_csv(tmp / "six.csv", fewer)
    layout = cli("gate", "predict", str(other), str(tmp / "p3"), "--model", str(model),
                 "--fps", "30")  # fmt: skip
    _one_line_error(layout, "but the model expects")


def test_eval_on_the_keypoint_path(
    session: tuple[Path, Path, Path], trained: tuple[Path, Path]
) -> None:
    tmp, keypoints, labels = session
    _, model = trained
    out = tmp / "eval"
    res = cli("gate", "eval", str(model), str(labels), str(keypoints), "--out", str(out),
              "--fps", "30")  # fmt: skip
    assert res.returncode == 0, res.stderr
    record = json.loads((out / "results.json").read_text())
    (row,) = record["table"]
    assert row["top_k"] == "keypoints only" and row["frames_looked_at"] == 0
    # trained on the first half: only the second half is scored
    assert row["frames_scored"] == FRAMES // 2 and 0.0 <= row["macro_f1"] <= 1.0
    assert record["held_out"]["frames"] == [FRAMES // 2, FRAMES]
    assert "by time" in record["held_out"]["split"] and "held-out frames" in res.stdout
    own = cli("gate", "eval", str(model), str(labels), str(keypoints), "--out",
              str(tmp / "eval3"), "--fps", "30", "--holdout", "0.75")  # fmt: skip
    _one_line_error(own, "its own training labels")
    with_video = cli("gate", "eval", str(model), str(labels), str(keypoints), "--out",
                     str(tmp / "eval2"), "--video", str(keypoints), "--fps", "30")  # fmt: skip
    _one_line_error(with_video, "trained without video")


def test_train_reads_named_labels_and_boris_exports(session: tuple[Path, Path, Path]) -> None:
    tmp, keypoints, labels = session
    codes = [int(r.split(",")[1]) for r in labels.read_text().splitlines()[1:]]
    names = ["still", "walking", "darting", "turning", "rearing", "grooming"]
    named = tmp / "named.csv"
    named.write_text("frame,label\n" + "".join(f"{f},{names[c]}\n" for f, c in enumerate(codes)))
    res = cli("gate", "train", str(keypoints), "--labels", str(named), "--out",
              str(tmp / "named"), "--epochs", "1", *TINY)  # fmt: skip
    assert res.returncode == 0, res.stderr
    classes = json.loads((tmp / "named" / "classes.json").read_text())
    assert classes == sorted({names[c] for c in codes})

    # BORIS: a 'rear' state from 1.0 s to 2.0 s and 'groom' from 4.0 s to 5.5 s at 30 fps
    boris = tmp / "boris.csv"
    head = "Time,Media file path,Total length,FPS,Subject,Behavior,Behavioral category,Status"
    rows = [(1.0, "rear", "START"), (2.0, "rear", "STOP"), (4.0, "groom", "START"),
            (5.5, "groom", "STOP")]  # fmt: skip
    boris.write_text(
        "Observation id,demo\n\n" + head + "\n"
        + "".join(f"{t},m.mp4,8.0,30,,{b},,{s}\n" for t, b, s in rows)
    )  # fmt: skip
    res = cli("gate", "train", str(keypoints), "--labels", str(boris), "--out",
              str(tmp / "boris"), "--epochs", "1", *TINY)  # fmt: skip
    assert res.returncode == 0, res.stderr
    assert json.loads((tmp / "boris" / "classes.json").read_text()) == ["groom", "other", "rear"]
    assert "trained" in res.stdout


def test_train_and_predict_name_points3d_nodes_from_skeleton(
    session: tuple[Path, Path, Path], tmp_path: Path
) -> None:
    """A sleap-anipose points3d.h5 names no nodes: --skeleton names them, as in segment."""
    _, keypoints, labels = session
    points = read_keypoints(keypoints).points  # (frames, tracks, nodes, 3): the h5's layout
    h5 = tmp_path / "session" / "points3d.h5"
    h5.parent.mkdir()
    with h5py.File(h5, "w") as f:
        f.create_dataset("tracks", data=points)
    skeleton = tmp_path / "skeleton.toml"
    skeleton.write_text(f"keypoints = {json.dumps(list(KEYPOINTS))}\n")
    model = tmp_path / "model"
    train = ("gate", "train", str(h5), "--labels", str(labels), "--out", str(model),
             "--epochs", "1", *TINY)  # fmt: skip
    _one_line_error(cli(*train), "--skeleton")
    assert not model.exists()
    trained = cli(*train, "--skeleton", str(skeleton))
    assert trained.returncode == 0, trained.stderr
    assert json.loads((model / "gate.json").read_text())["layout"]["keypoints"] == list(KEYPOINTS)
    assert "run directory:" in trained.stdout.splitlines()[-1]

    out = tmp_path / "pred"
    predict = ("gate", "predict", str(h5), str(out), "--model", str(model), "--fps", "30")
    _one_line_error(cli(*predict), "--skeleton")
    pred = cli(*predict, "--skeleton", str(skeleton))
    assert pred.returncode == 0, pred.stderr
    with (out / "labels.csv").open() as f:
        assert len(list(csv.DictReader(f))) == FRAMES
    closing = pred.stdout.splitlines()[-2:]
    assert closing[0].startswith("outputs: ") and "labels.csv" in closing[0]
    assert closing[1].startswith("run directory:")
