"""``ethoagent inspect``: names, roles, animals, fps, units, missing data, pipelines."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from ethoagent.cli.app import app
from ethoagent.errors import InputError

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
    assert "animals (1): individual_0" in out and "frames: 3; fps: 25 Hz; 2D in px" in out
    assert "individual_0 11.1%" in out  # 1 of 9 keypoint positions missing
    assert "matched head: snout" in out and "matched tail_base: tailbase" in out
    assert "derived centre: centroid of the tracked body points (snout, tailbase)" in out
    assert "arena/object points (not body): Corner1" in out
    assert "features not computed: paw_head, tail_bend" in out
    assert "segment: yes\n" in out and "classify: yes, with --examples" in out


def test_inspect_json_and_a_file_no_pipeline_fits(tmp_path: Path) -> None:
    one = "scorer,S,S,S,S\nbodyparts,nose,nose,feeder,feeder\n"
    path = tmp_path / "one.csv"
    path.write_text(one + "coords,x,y,x,y\n0,1,2,3,4\n1,1,2,3,4\n")
    result = CliRunner().invoke(app, ["inspect", str(path), "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    assert summary["fps"] is None and summary["roles"] is None
    assert "two or more body keypoints" in summary["roles_error"]
    assert not any(p["runs"] for p in summary["pipelines"].values())
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
