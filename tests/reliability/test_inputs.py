"""Bad input through the CLI: every case ends in one red line naming the file and the fix
(non-zero exit) or runs on with the problem isolated and said; nothing already there is
destroyed or half-written.

Videos, calibrations and view sets go through ``ethoagent pose``; keypoint files through
``ethoagent segment``.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from ethoagent.io.calibration import read_calibration, write_calibration
from ethoagent.io.keypoints import write_keypoints
from ethoagent.model.pose import PoseData
from ethoagent.sim.simulate import simulate_session
from ethoagent.sim.synthetic import KEYPOINTS, simulate_world
from ethoagent.tools.ethogram import read_ethogram_csv
from tests.reliability.conftest import CliRunner, assert_one_line_error, snapshot

FAST = ("--k", "4", "--dec-epochs", "2", "--dec-iters", "100")


@pytest.fixture(scope="module")
def sim(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("sim") / "sim"
    simulate_session(out, preset="easy", frames=40, views=3, seed=1)
    return out


@pytest.fixture
def session(sim: Path, tmp_path: Path) -> Path:
    """A private copy of the simulated session, free to damage."""
    return Path(shutil.copytree(sim, tmp_path / "session"))


def _pose(cli: CliRunner, session: Path, tmp: Path, *extra: str) -> Any:
    return cli("pose", "--session", session, "--runs-dir", tmp / "runs", *extra)


def _reencode(path: Path, *, fps: float | None = None, frames: int | None = None) -> None:
    cap = cv2.VideoCapture(str(path))
    rate, size = cap.get(cv2.CAP_PROP_FPS), (int(cap.get(3)), int(cap.get(4)))
    tmp = path.with_name("tmp_" + path.name)
    writer = cv2.VideoWriter(str(tmp), cv2.VideoWriter_fourcc(*"mp4v"), fps or rate, size)
    n = 0
    while frames is None or n < frames:
        ok, frame = cap.read()
        if not ok:
            break
        writer.write(frame)
        n += 1
    writer.release()
    cap.release()
    tmp.replace(path)


# --------------------------------------------------------------------------- videos


@pytest.mark.parametrize(
    ("damage", "needles"),
    [
        ("missing", ["no video file for camera 'top'", "Fix:"]),
        ("zero_length", ["top.mp4 is empty (0 bytes)", "Fix:"]),
        ("corrupt", ["top.mp4 cannot be opened as a video", "Fix:"]),
        ("truncated", ["top.mp4 cannot be opened as a video", "Fix:"]),
    ],
)
def test_bad_video_is_one_line_naming_the_file(
    cli: CliRunner, session: Path, tmp_path: Path, damage: str, needles: list[str]
) -> None:
    video = session / "videos" / "top.mp4"
    data = video.read_bytes()
    if damage == "missing":
        video.unlink()
    elif damage == "zero_length":
        video.write_bytes(b"")
    elif damage == "corrupt":
        video.write_bytes(np.random.default_rng(0).bytes(len(data)))
    else:
        video.write_bytes(data[: len(data) // 2])
    assert_one_line_error(_pose(cli, session, tmp_path), *needles, code=1)
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


def test_views_at_different_frame_rates_are_refused(
    cli: CliRunner, session: Path, tmp_path: Path
) -> None:
    _reencode(session / "videos" / "top.mp4", fps=60.0)
    assert_one_line_error(
        _pose(cli, session, tmp_path), "not synchronised", "top.mp4 60 fps", "Fix:", code=1
    )


def test_views_of_different_lengths_label_the_common_frames_and_say_so(
    cli: CliRunner, session: Path, tmp_path: Path
) -> None:
    _reencode(session / "videos" / "top.mp4", frames=30)
    result = _pose(cli, session, tmp_path, "--run-id", "short")
    assert result.code == 0, result.stderr
    assert "warning:" in result.stdout and "top.mp4 30" in result.stdout
    summary = json.loads((tmp_path / "runs/short/outputs/summary.json").read_text())
    assert summary["frames"] == 30


# --------------------------------------------------------------------------- calibration


def _edit_calibration(session: Path, edit: str) -> None:
    path = session / "calibration.toml"
    cams = read_calibration(path)
    if edit == "missing_camera":  # a video without its camera
        write_calibration(path, cams[:2])
    elif edit == "extra_camera":  # a camera without its video
        extra = dataclasses.replace(cams[0], name="side", tvec=cams[0].tvec + 50.0)
        write_calibration(path, [*cams, extra])
    elif edit == "identical":
        write_calibration(path, [cams[0], dataclasses.replace(cams[0], name=cams[1].name), cams[2]])
    elif edit == "swapped_fx_cx":
        k = cams[0].matrix.copy()
        k[0, 0], k[0, 2] = k[0, 2], k[0, 0]
        write_calibration(path, [dataclasses.replace(cams[0], matrix=k), *cams[1:]])
    elif edit == "transposed":
        text = path.read_text()
        k = cams[0].matrix
        rows = ", ".join("[ " + ", ".join(repr(float(v)) for v in r) + ",]" for r in k.T)
        start = text.index("matrix")
        path.write_text(text[:start] + f"matrix = [ {rows},]" + text[text.index("\n", start) :])
    elif edit in ("nan", "inf"):
        text = path.read_text()
        start = text.index("distortions = [ ") + len("distortions = [ ")
        path.write_text(text[:start] + edit + text[text.index(",", start) :])
    else:
        raise AssertionError(edit)


@pytest.mark.parametrize(
    ("edit", "needles"),
    [
        ("missing_camera", ["seeds.csv", "unknown view 'top'", "Fix:"]),
        ("extra_camera", ["no video file for camera 'side'", "Fix:"]),
        ("identical", ["calibration.toml fails calibration.distinct_parameters", "Fix:"]),
        ("swapped_fx_cx", ["do not fit calibration", "ring_0", "Fix:"]),
        ("transposed", ["calibration.toml [cam_0]", "upper triangular", "Fix:"]),
        ("nan", ["calibration.toml [cam_0] 'distortions' contains NaN", "Fix:"]),
        ("inf", ["calibration.toml [cam_0] 'distortions' contains NaN or infinite", "Fix:"]),
    ],
)
def test_bad_calibration_is_one_line_naming_the_file(
    cli: CliRunner, session: Path, tmp_path: Path, edit: str, needles: list[str]
) -> None:
    _edit_calibration(session, edit)
    assert_one_line_error(_pose(cli, session, tmp_path), *needles, code=1)


# --------------------------------------------------------------------------- keypoints


@pytest.fixture(scope="module")
def world_points() -> np.ndarray[Any, Any]:
    return simulate_world(450, animals=1, fps=30.0, seed=2).points_3d


def _nc(path: Path, points: np.ndarray[Any, Any], names: tuple[str, ...] = KEYPOINTS) -> Path:
    data = PoseData(
        points=points,
        confidence=np.full(points.shape[:3], np.nan),
        keypoints=names,
        individuals=("mouse_0",),
        fps=30.0,
        unit="mm",
    )
    return write_keypoints(data, path, format="netcdf")


def _segment(cli: CliRunner, keypoints: Path, out: Path, tmp: Path, *extra: str) -> Any:
    return cli("segment", keypoints, out, *FAST, "--runs-dir", tmp / "runs", *extra)


@pytest.mark.parametrize(
    ("case", "needles"),
    [
        ("empty_csv", ["empty.csv is empty (0 bytes)", "Fix:"]),
        ("empty_nc", ["empty.nc is empty (0 bytes)", "Fix:"]),
        ("wrong_csv", ["wrong.csv is not a keypoint CSV", "its first rows: hello,world", "Fix:"]),
        ("png_as_h5", ["png.h5 is not a readable HDF5 file", "Fix:"]),
        ("json", ["x.json: unknown keypoint file type", "Fix:"]),
        ("missing", ["nothere.nc not found", "Fix:"]),
        ("nan_column", ["back_mid never tracked", "nan_column.nc", "Fix:"]),
        ("all_nan", ["all_nan.nc", "nothing can be clustered", "Fix:"]),
    ],
)
def test_bad_keypoint_file_is_one_line_naming_the_file(
    cli: CliRunner,
    tmp_path: Path,
    world_points: np.ndarray[Any, Any],
    case: str,
    needles: list[str],
) -> None:
    path: Path
    if case == "empty_csv":
        path = tmp_path / "empty.csv"
        path.write_bytes(b"")
    elif case == "empty_nc":
        path = tmp_path / "empty.nc"
        path.write_bytes(b"")
    elif case == "wrong_csv":
        path = tmp_path / "wrong.csv"
        path.write_text("hello,world\n1,2\n")
    elif case == "png_as_h5":
        path = tmp_path / "png.h5"
        path.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(64))
    elif case == "json":
        path = tmp_path / "x.json"
        path.write_text("{}")
    elif case == "missing":
        path = tmp_path / "nothere.nc"
    elif case == "nan_column":
        points = world_points.copy()
        points[:, :, KEYPOINTS.index("back_mid")] = np.nan
        path = _nc(tmp_path / "nan_column.nc", points)
    else:
        path = _nc(tmp_path / "all_nan.nc", np.full_like(world_points, np.nan))
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    assert_one_line_error(_segment(cli, path, out, tmp_path), *needles, code=1)
    assert snapshot(out) == {"notes.txt": b"mine"}  # nothing written or removed


def test_keypoint_names_no_role_matches_still_segment(
    cli: CliRunner, tmp_path: Path, world_points: np.ndarray[Any, Any]
) -> None:
    """Names that match no body role: the layout is derived from the points, not refused."""
    names = tuple(f"kp{i}" for i in range(len(KEYPOINTS)))
    res = _segment(cli, _nc(tmp_path / "unknown.nc", world_points, names), tmp_path / "o", tmp_path)
    assert res.code == 0, res.stderr
    summary = json.loads((tmp_path / "o/summary.json").read_text())
    assert summary["layout"] == "derived"


def test_segment_units_do_not_matter_and_glitches_are_masked(
    cli: CliRunner, tmp_path: Path, world_points: np.ndarray[Any, Any]
) -> None:
    """Metres instead of millimetres, or a few frames of 1e300 / inf, still segment."""
    ref = _segment(cli, _nc(tmp_path / "mm.nc", world_points), tmp_path / "mm", tmp_path)
    assert ref.code == 0, ref.stderr
    metres = _segment(cli, _nc(tmp_path / "m.nc", world_points / 1000), tmp_path / "m", tmp_path)
    assert metres.code == 0, metres.stderr
    assert (tmp_path / "m/ethogram.csv").read_bytes() == (tmp_path / "mm/ethogram.csv").read_bytes()

    glitchy = world_points.copy()
    glitchy[100:105] = 1e300
    glitchy[200:203, :, 2] = np.inf
    res = _segment(cli, _nc(tmp_path / "g.nc", glitchy), tmp_path / "g", tmp_path)
    assert res.code == 0, res.stderr
    summary = json.loads((tmp_path / "g/summary.json").read_text())
    assert any("treated as missing" in w and "g.nc" in w for w in summary["warnings"])
    epochs = read_ethogram_csv(tmp_path / "g/ethogram.csv")["mouse_0"]
    assert epochs[0].start == 0 and epochs[-1].stop == len(world_points)


@pytest.mark.parametrize("case", ["zero_length", "too_short"])
def test_bad_segment_video_is_one_line(
    cli: CliRunner, sim: Path, tmp_path: Path, world_points: np.ndarray[Any, Any], case: str
) -> None:
    keypoints = _nc(tmp_path / "k.nc", world_points)
    if case == "zero_length":
        video = tmp_path / "zero.mp4"
        video.write_bytes(b"")
        needles = ["zero.mp4 is empty (0 bytes)", "Fix:"]
    else:
        video = sim / "videos" / "top.mp4"  # 40 frames for 450 frames of keypoints
        needles = ["top.mp4 has 40 frames but", "k.nc has 450", "Fix:"]
    res = _segment(cli, keypoints, tmp_path / "out", tmp_path, "--video", str(video))
    assert_one_line_error(res, *needles, code=1)


# --------------------------------------------------------------------------- seeds, 2D predictions


@pytest.mark.parametrize(
    ("damage", "needles"),
    [
        ("zero_length", ["seeds.csv", "Fix:"]),
        ("header_only", ["seed label file", "seeds.csv has no rows", "Fix:"]),
        ("nan_x", ["seeds.csv line 2", "x, y finite"]),
        ("no_frame_0", ["first seed frame is", "seeds.csv", "Fix:"]),
    ],
)
def test_bad_seed_labels_are_one_line_naming_the_file(
    cli: CliRunner, session: Path, tmp_path: Path, damage: str, needles: list[str]
) -> None:
    seeds = session / "ground_truth" / "seeds.csv"
    lines = seeds.read_text().splitlines()
    if damage == "zero_length":
        seeds.write_bytes(b"")
    elif damage == "header_only":
        seeds.write_text(lines[0] + "\n")
    elif damage == "nan_x":
        first = lines[1].split(",")
        first[3] = "nan"
        seeds.write_text("\n".join([lines[0], ",".join(first), *lines[2:]]) + "\n")
    else:
        seeds.write_text(
            "\n".join([lines[0], *(ln for ln in lines[1:] if not ln.startswith("0,"))]) + "\n"
        )
    assert_one_line_error(_pose(cli, session, tmp_path), *needles, code=1)


def test_2d_predictions_shorter_than_the_videos_are_one_line(
    cli: CliRunner, session: Path, tmp_path: Path
) -> None:
    preds = tmp_path / "preds"
    for cam in read_calibration(session / "calibration.toml"):
        points = np.random.default_rng(0).uniform(0, 200, size=(10, 1, 12, 2))
        data = PoseData(
            points=points,
            confidence=np.ones(points.shape[:3]),
            keypoints=KEYPOINTS,
            individuals=("individual_0",),
            fps=30.0,
            unit="px",
        )
        write_keypoints(data, preds / f"{cam.name}.csv", format="dlc")
    res = _pose(cli, session, tmp_path, "--candidates", str(preds))
    assert_one_line_error(res, "2D predictions", ".csv have shape (10,", "need at least 40", "Fix:")


# --------------------------------------------------------------------------- gate model files


@pytest.mark.parametrize(
    ("damage", "needles"),
    [
        ("truncated_weights", ["weights.pt cannot be read", "Fix:"]),
        ("garbage_weights", ["weights.pt cannot be read", "Fix:"]),
        ("corrupt_config", ["config.json is not a gate model configuration", "Fix:"]),
        ("other_model", ["weights.pt cannot be read", "Fix:"]),
    ],
)
def test_damaged_gate_model_is_one_line_naming_the_file(
    cli: CliRunner,
    tmp_path: Path,
    world_points: np.ndarray[Any, Any],
    damage: str,
    needles: list[str],
) -> None:
    from ethoagent.nn.lookagain import LookAgain
    from tests.nn.toy import CONFIG, fresh

    model_dir = tmp_path / "model"
    fresh().save(model_dir)
    (model_dir / "classes.json").write_text('["still", "walking"]')
    weights = model_dir / "weights.pt"
    if damage == "truncated_weights":
        weights.write_bytes(weights.read_bytes()[:100])
    elif damage == "garbage_weights":
        weights.write_bytes(np.random.default_rng(0).bytes(4096))
    elif damage == "corrupt_config":
        (model_dir / "config.json").write_text('{"d_model": ')
    else:  # weights of a model with another size
        other = tmp_path / "other"
        LookAgain(CONFIG.model_copy(update={"d_model": CONFIG.d_model * 2})).save(other)
        weights.write_bytes((other / "weights.pt").read_bytes())
    keypoints = _nc(tmp_path / "k.nc", world_points)
    res = cli("gate", "predict", keypoints, tmp_path / "out", "--model", model_dir)
    assert_one_line_error(res, *needles, code=1)


# --------------------------------------------------------------------------- runs and settings


@pytest.mark.parametrize(
    ("case", "needles"),
    [
        ("resume_missing", ["no run at norun", "Fix:"]),
        ("resume_corrupt", ["run.json is unreadable", "Fix:"]),
        ("config_not_toml", ["bad.toml is not valid TOML"]),
        ("config_bad_value", ["invalid setting 'models.llm.timeout_s'", "bad.toml"]),
        ("eval_unknown", ["no eval suite named 'nosuch'", "Fix:"]),
    ],
)
def test_bad_runs_and_settings_are_one_line(
    cli: CliRunner, tmp_path: Path, case: str, needles: list[str]
) -> None:
    runs = tmp_path / "runs"
    if case == "resume_missing":
        res = cli("pose", "--resume", "norun", "--runs-dir", runs)
    elif case == "resume_corrupt":
        (runs / "r").mkdir(parents=True)
        (runs / "r" / "run.json").write_text('{"run_id": "r", "gra')
        res = cli("segment", "--resume", "r", "--runs-dir", runs)
    elif case == "config_not_toml":
        (tmp_path / "bad.toml").write_text("backend = [")
        res = cli("config", "--config", tmp_path / "bad.toml")
    elif case == "config_bad_value":
        (tmp_path / "bad.toml").write_text("[models.llm]\ntimeout_s = -1\n")
        res = cli("config", "--config", tmp_path / "bad.toml")
    else:
        res = cli("eval", "nosuch", "--out", tmp_path / "ev")
    assert_one_line_error(res, *needles, code=1)


def test_an_untracked_animal_is_isolated_and_the_others_are_segmented(
    cli: CliRunner, tmp_path: Path
) -> None:
    points = simulate_world(450, animals=2, fps=30.0, seed=3).points_3d.copy()
    points[:, 1] = np.nan  # the tracker lost mouse_1 for the whole session
    data = PoseData(
        points=points,
        confidence=np.full(points.shape[:3], np.nan),
        keypoints=KEYPOINTS,
        individuals=("mouse_0", "mouse_1"),
        fps=30.0,
        unit="mm",
    )
    nc = write_keypoints(data, tmp_path / "two.nc", format="netcdf")
    res = _segment(cli, nc, tmp_path / "out", tmp_path)
    assert res.code == 0, res.stderr
    assert "warning:" in res.stdout and "mouse_1" in res.stdout
    ethogram = read_ethogram_csv(tmp_path / "out/ethogram.csv")
    assert [(e.start, e.stop, e.label) for e in ethogram["mouse_1"]] == [(0, 450, "untracked")]
    assert {e.label for e in ethogram["mouse_0"]} - {"untracked"}
