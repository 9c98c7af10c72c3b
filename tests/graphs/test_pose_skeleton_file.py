"""``pose`` with the lab's skeleton file (``PoseSources.skeleton``), resolved only."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ethoagent.errors import InputError
from ethoagent.graphs import pose
from ethoagent.model.skeleton import MOUSE12
from ethoagent.sim.simulate import simulate_session


@pytest.fixture(scope="module")
def session(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("sim")
    simulate_session(out, preset="easy", frames=6, views=3, seed=2)
    return out


def _toml(path: Path, regions: bool = True) -> Path:
    lines = [
        'name = "lab_mouse"',
        f"keypoints = {json.dumps(list(MOUSE12.keypoints))}",
        f"bones = {json.dumps([list(b) for b in MOUSE12.bones])}",
        f"left_right = {json.dumps([list(p) for p in MOUSE12.left_right])}",
    ]
    if regions:
        lines.append("[regions]")
        lines += [f"{r} = {json.dumps(list(k))}" for r, k in MOUSE12.regions.items()]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_pose_reads_the_skeleton_file_and_reports_what_it_inferred(
    session: Path, tmp_path: Path
) -> None:
    spec = pose.PIPELINE
    skeleton = _toml(tmp_path / "skeleton.toml")
    resolved = spec.resolve(
        spec.parse_inputs({"session": session, "skeleton": skeleton}), spec.options()
    )
    assert resolved.skeleton.name == "lab_mouse"
    assert resolved.skeleton.keypoints == MOUSE12.keypoints
    assert resolved.skeleton.regions == MOUSE12.regions
    assert any(w.startswith("skeleton: body roles matched from names") for w in resolved.warnings)


def test_pose_refuses_a_broken_skeleton_file_naming_it(session: Path, tmp_path: Path) -> None:
    spec = pose.PIPELINE
    bad = tmp_path / "bad.toml"
    bad.write_text('keypoints = ["nose", "tail"]\nbones = [["nose", "paw"]]\n')
    with pytest.raises(InputError, match=r"bad\.toml:2"):
        spec.resolve(spec.parse_inputs({"session": session, "skeleton": bad}), spec.options())
