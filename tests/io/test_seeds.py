"""Seed labels from a seeds CSV, per-camera labelled files and DeepLabCut labeled-data."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ethoagent.errors import InputError
from ethoagent.io.keypoints import read_keypoints
from ethoagent.io.seeds import read_seeds
from ethoagent.tools.labelling import write_seed_labels
from tests.data_paths import require_shared

CAMERAS = ["back", "mid", "top"]
KEYPOINTS = ["snout", "tailbase"]


def _dlc_csv(path: Path, video: str, frames: dict[int, list[float]]) -> None:
    lines = [
        "scorer,me,me,me,me",
        "bodyparts,snout,snout,tailbase,tailbase",
        "coords,x,y,x,y",
    ]
    lines += [
        f"labeled-data/{video}/img{f:04d}.png," + ",".join(f"{v:g}" for v in xy)
        for f, xy in frames.items()
    ]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")


def test_dlc_labeled_data_folder_gives_frames_from_image_names(tmp_path: Path) -> None:
    root = tmp_path / "labeled-data"
    _dlc_csv(root / "day1_back" / "CollectedData_me.csv", "day1_back", {0: [1, 2, 3, 4]})
    _dlc_csv(
        root / "day1_top" / "CollectedData_me.csv",
        "day1_top",
        {0: [5, 6, 7, 8], 42: [9, 10, 11, 12]},
    )
    seeds = read_seeds(root, CAMERAS, ["tailbase", "snout"])
    assert seeds.frames == [0]  # frame 42 is labelled in one view only
    np.testing.assert_array_equal(seeds.points_2d[0, 0], [[3, 4], [1, 2]])
    assert np.isnan(seeds.points_2d[0, 1]).all()  # 'mid' has no labelled folder
    np.testing.assert_array_equal(seeds.points_2d[0, 2], [[7, 8], [5, 6]])
    with pytest.raises(InputError, match=r"seed frames \[42\] are not labelled"):
        read_seeds(root, CAMERAS, KEYPOINTS, frames=[0, 42])
    with pytest.raises(InputError, match=r"none of the skeleton's \['nose'\]"):
        read_seeds(root, CAMERAS, ["nose"])


def test_seeds_csv_and_refusals(tmp_path: Path) -> None:
    pts = np.arange(2 * 3 * 2 * 2, dtype=float).reshape(2, 3, 2, 2)
    csv_path = write_seed_labels(tmp_path / "seeds.csv", [0, 9], pts, CAMERAS, KEYPOINTS)
    seeds = read_seeds(csv_path, CAMERAS, KEYPOINTS)
    assert seeds.frames == [0, 9]
    np.testing.assert_array_equal(seeds.points_2d, pts)
    assert read_seeds(csv_path, CAMERAS, KEYPOINTS, frames=[9]).frames == [9]
    single = tmp_path / "back.slp"
    single.write_bytes(b"")
    with pytest.raises(InputError, match=r"single \.slp file"):
        read_seeds(single, CAMERAS, KEYPOINTS)
    with pytest.raises(InputError, match="not found"):
        read_seeds(tmp_path / "absent", CAMERAS, KEYPOINTS)


def test_sleap_session_folder_gives_seed_frames_from_the_slp_files() -> None:
    session = require_shared("sleap_anipose_minimal_session/minimal_session")
    cams = ["back", "mid", "side", "top"]
    nodes = list(read_keypoints(session / "top" / "minimal_top_proofread.slp").keypoints)
    seeds = read_seeds(session, cams, nodes)
    assert seeds.frames == [0, 60, 119]  # three spread over the 120 labelled frames
    assert "minimal_session" in seeds.source
    chosen = read_seeds(session, cams, nodes, frames=[5, 0])
    assert chosen.frames == [0, 5]
    top = read_keypoints(session / "top" / "minimal_top_proofread.slp")
    np.testing.assert_allclose(chosen.points_2d[1, 3], top.points[5, 0, :, :2])
