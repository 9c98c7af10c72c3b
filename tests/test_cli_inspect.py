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
    assert "frames: 3; fps: 25 Hz; 2D in px; median body length 10 px\n" in out
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
    assert "median body length 0.06 mm\nwarning: " in text
