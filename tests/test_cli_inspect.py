"""``ethoagent inspect``: names, roles, animals, fps, units, missing data, pipelines."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from typer.testing import CliRunner

from ethoagent.cli.app import app
from ethoagent.errors import InputError
from ethoagent.io.keypoints import write_keypoints
from ethoagent.model.pose import PoseData
from tests.data_paths import require_shared

HEADER = "scorer,S,S,S,S,S,S\nbodyparts,snout,snout,tailbase,tailbase,Corner1,Corner1\n"


def _dlc(path: Path, header: str = HEADER) -> Path:
    rows = ["coords,x,y,x,y,x,y", "0,10,5,0,5,100,100", "1,12,5,2,5,100,100", "2,,,4,5,100,100"]
    path.write_text(header + "\n".join(rows) + "\n")
    return path


def test_inspect_prints_names_roles_animals_and_pipelines(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["inspect", str(_dlc(tmp_path / "m.csv")), "--fps", "25"])
    assert result.exit_code == 0, result.output
    out = result.output
    assert "keypoints (3): snout, tailbase, Corner1" in out
    assert "animals (1): individual_0" in out
    assert (
        "frames: 3; fps: 25 Hz; 2D in px; median body extent 10 px (head to tail base 10 px" in out
    )
    assert "confidence (likelihood, score) below" not in out  # the file has no likelihoods
    assert "warning:" not in out
    assert "individual_0 11.1%" in out  # 1 of 9 keypoint positions missing
    assert "matched head: snout" in out and "matched tail_base: tailbase" in out
    assert "derived centre: midpoint of head and tail base" in out
    assert "arena/object points (not body): Corner1" in out
    assert "features not computed: paw_head, tail_bend" in out
    assert "segment: yes\n" in out and "classify: yes, with --examples" in out
    assert "triangulate: yes, with the same session's files of the other cameras" in out


def test_inspect_json_and_a_file_no_pipeline_fits(tmp_path: Path) -> None:
    one = "scorer,S,S,S,S\nbodyparts,nose,nose,feeder,feeder\n"
    path = tmp_path / "one.csv"
    path.write_text(one + "coords,x,y,x,y\n0,1,2,3,4\n1,1,2,3,4\n")
    result = CliRunner().invoke(app, ["inspect", str(path), "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    assert summary["fps"] is None and summary["roles"] is None
    assert "two or more body keypoints" in summary["roles_error"]
    runs = {name for name, p in summary["pipelines"].items() if p["runs"]}
    assert runs == {"triangulate"}  # 2D points of one camera need no body to triangulate
    bad = CliRunner().invoke(app, ["inspect", str(path), "--format", "excel"])
    assert isinstance(bad.exception, InputError) and "--format" in str(bad.exception)


def test_inspect_shows_the_roles_a_body_file_states(tmp_path: Path) -> None:
    data = _dlc(tmp_path / "m.csv")
    body = tmp_path / "body.toml"
    body.write_text('head = "tailbase"\ntail_base = "snout"\n')  # a mouse filmed backwards
    result = CliRunner().invoke(app, ["inspect", str(data), "--body", str(body)])
    assert result.exit_code == 0, result.output
    assert f"body layout: stated in {body}" in result.output
    assert "matched head: tailbase" in result.output
    body.write_text('head = "nose"\n')
    bad = CliRunner().invoke(app, ["inspect", str(data), "--body", str(body)])
    assert isinstance(bad.exception, InputError)
    assert f"{body}:1: head names keypoint 'nose'" in str(bad.exception)


def test_inspect_warns_where_the_body_size_contradicts_the_unit(tmp_path: Path) -> None:
    # a mouse 0.06 long in a file stating millimetres: it was saved in metres
    x = np.array([0.0, 0.03, 0.06])
    points = np.stack([x, np.zeros(3), np.zeros(3)], axis=-1)[None, None].repeat(4, axis=0)
    pose = PoseData(points=points, confidence=np.ones((4, 1, 3)), unit="mm", fps=30.0,
                    keypoints=("nose", "neck", "tailbase"), individuals=("m",))  # fmt: skip
    path = write_keypoints(pose, tmp_path / "m.nc", format="netcdf")
    result = CliRunner().invoke(app, ["inspect", str(path), "--json"])
    summary = json.loads(result.output)
    assert summary["body_length"] == 0.06
    assert "it fits m (60 mm)" in summary["unit_warning"]
    assert not summary["pipelines"]["triangulate"]["runs"]  # 3D already
    text = CliRunner().invoke(app, ["inspect", str(path)]).output
    assert (
        "median body extent 0.06 mm (head to tail base 0.06 mm: the features' length unit)\n"
        in text
    )
    assert "\nwarning: " in text and "it fits m (60 mm)" in text


def test_inspect_reports_unreliable_likelihoods_and_numbered_animals(tmp_path: Path) -> None:
    names = ("Nose_1", "Tail_base_1", "Nose_2", "Tail_base_2")
    header = "scorer" + ",S" * 12 + "\nbodyparts," + ",".join(n for n in names for _ in "xyl")
    rows = ["coords" + ",x,y,likelihood" * 4]
    for f in range(4):  # Nose_1 is unsure in half the frames
        rows.append(
            f"{f},{10 + f},5,{0.3 if f % 2 else 0.99},{f},5,0.9,{50 + f},5,0.9,{40 + f},5,0.9"
        )
    path = tmp_path / "simba.csv"
    path.write_text(header + "\n" + "\n".join(rows) + "\n")
    summary = json.loads(CliRunner().invoke(app, ["inspect", str(path), "--json"]).output)
    low = summary["low_likelihood"]
    assert low["threshold"] == 0.6 and low["share"] == {"individual_0": 0.125}
    assert not low["not_probabilities"]
    assert low["worst"] == {"Nose_1": 0.5}
    assert summary["animal_numbers"] == ["1", "2"]
    assert summary["roles"]["matched"] == {"head": ["Nose_1"], "tail_base": ["Tail_base_1"]}
    out = CliRunner().invoke(app, ["inspect", str(path)]).output
    assert "below 0.6 (tracked but unreliable; the pipelines use them as tracked): " in out
    assert "individual_0 12.5%; most often Nose_1 50%\n" in out
    assert "warning: the keypoint names number 2 animals (1, 2; SimBA-style" in out


def test_inspect_on_the_real_plus_maze_file() -> None:
    folder = require_shared("sturman2020_dlcanalyzer/data/EPM/Output_DLC")
    path = next(folder.glob("EPM_15*.csv"))
    result = CliRunner().invoke(app, ["inspect", str(path), "--fps", "25", "--json"])
    summary = json.loads(result.output)
    roles = summary["roles"]
    assert (summary["fps"], summary["frames"], summary["animals"]) == (25.0, 962, ["individual_0"])
    assert roles["layout"] == "derived" and roles["unused"] == ["headcentre", "bcl", "bcr"]
    assert roles["matched"]["centre"] == ["bodycentre"] and roles["disabled"] == ["paw_head"]
    assert roles["matched"]["hips"] == ["hipl", "hipr"] and roles["matched"]["neck"] == ["neck"]
    assert len(roles["arena"]) == 12
    # the nose-tail-base length, not the extent that unreliable tail tips stretch
    assert 80 < summary["head_tail_length"]["individual_0"] < 110
    assert "tailtip" in summary["low_likelihood"]["worst"]
    assert all(p["runs"] for k, p in summary["pipelines"].items() if k != "pose")


def test_inspect_on_a_real_sleap_file() -> None:
    session = require_shared("sleap_anipose_minimal_session/minimal_session")
    result = CliRunner().invoke(app, ["inspect", str(session / "top/minimal_top_proofread.slp")])
    assert result.exit_code == 0, result.output
    out = result.output
    assert "animals (1): track_0" in out and "frames: 120; fps: 30 Hz; 2D in px" in out
    assert "matched neck: Neck" in out and "matched hips: Haunch_left, Haunch_right" in out
    assert "matched tail: TTI, Tail_0, Tail_1, Tail_2, TailTip" in out
    assert "features not computed: paw_head\n" in out
    assert "SLEAP-style peak values, not probabilities" in out
