"""Tests of keypoint and label formats (ethoagent.tools.io)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ethoagent.errors import InputError
from ethoagent.tools import io as eio


def _pose(frames: int, individuals: int, dims: int = 2) -> eio.PoseData:
    rng = np.random.default_rng(0)
    pts = rng.uniform(0, 640, (frames, individuals, 3, dims))
    pts[1, 0, 2] = np.nan
    conf = (
        rng.uniform(0, 1, (frames, individuals, 3))
        if dims == 2
        else np.full((frames, individuals, 3), np.nan)
    )
    return eio.PoseData(
        points=pts,
        confidence=conf,
        keypoints=("snout", "ear left", "tail_base"),
        individuals=tuple(f"m{i}" for i in range(individuals)),
        unit="px" if dims == 2 else "mm",
    )


@pytest.mark.parametrize(("individuals", "dims"), [(1, 2), (2, 2), (2, 3)])
def test_dlc_csv_round_trip(tmp_path: Path, individuals: int, dims: int) -> None:
    data = _pose(5, individuals, dims)
    path = eio.write_dlc_csv(tmp_path / "x.csv", data, multi_animal=individuals > 1)
    lines = path.read_text().splitlines()
    assert [ln.split(",")[0] for ln in lines[: 3 + (individuals > 1)]] == (
        ["scorer", "individuals", "bodyparts", "coords"]
        if individuals > 1
        else ["scorer", "bodyparts", "coords"]
    )
    back = eio.read_dlc_csv(path, fps=30.0)
    assert back.keypoints == data.keypoints
    assert back.points.shape == data.points.shape
    np.testing.assert_allclose(back.points, data.points, atol=1e-6, equal_nan=True)
    np.testing.assert_allclose(back.confidence, data.confidence, atol=1e-6, equal_nan=True)
    assert back.unit == data.unit and back.fps == 30.0
    if individuals > 1:
        assert back.individuals == data.individuals


def test_dlc_csv_labelled_frames_keep_image_names(tmp_path: Path) -> None:
    text = (
        "scorer,,,A,A\nbodyparts,,,snout,snout\ncoords,,,x,y\n"
        "labeled-data,v1,img0.png,1.5,2.5\nlabeled-data,v1,img1.png,,\n"
    )
    (tmp_path / "c.csv").write_text(text)
    d = eio.read_dlc_csv(tmp_path / "c.csv")
    assert d.frame_names == ("labeled-data/v1/img0.png", "labeled-data/v1/img1.png")
    assert d.points[0, 0, 0].tolist() == [1.5, 2.5] and np.isnan(d.points[1]).all()


def test_dlc_csv_errors_name_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("a,b\n1,2\n")
    with pytest.raises(InputError, match=r"bad\.csv.*not a DeepLabCut CSV"):
        eio.read_dlc_csv(bad)
    with pytest.raises(InputError, match="not found"):
        eio.read_dlc_csv(tmp_path / "missing.csv")


def test_boris_events_to_framewise(tmp_path: Path) -> None:
    head = "Observation id,X\n" + ",\n" * 3
    cols = (
        "Time,Media file path,Total length,FPS,Subject,Behavior,Behavioral category,"
        "Comment,Status\n"
    )
    rows = (
        "1.0,v.avi,10.0,10.0,adult,interact,,,START\n"
        "2.0,v.avi,10.0,10.0,adult,interact,,,STOP\n"
        "3.05,v.avi,10.0,10.0,adult,sniff,,,POINT\n"
        "9.0,v.avi,10.0,10.0,adult,interact,,,START\n"
    )
    path = tmp_path / "b.csv"
    path.write_text(head + cols + rows)
    ev = eio.read_boris_events(path)
    assert [e.status for e in ev] == ["START", "STOP", "POINT", "START"]
    assert ev[0].fps == 10.0 and ev[0].media_length_s == 10.0
    lab = eio.boris_to_framewise(ev, fps=10.0, frames=100, behaviour="interact")
    expect = np.zeros(100, dtype=np.int64)
    expect[10:20] = 1
    expect[90:] = 1  # an unmatched START runs to the end
    np.testing.assert_array_equal(lab, expect)
    point = eio.boris_to_framewise(ev, fps=10.0, frames=100, behaviour="sniff")
    assert np.flatnonzero(point).tolist() == [30]


def test_interval_labels(tmp_path: Path) -> None:
    path = tmp_path / "l.csv"
    path.write_text(
        '"file";"Experimenter";"from";"to";"type";"ID";"DLCFile"\n'
        '"a";"Jin";0.0;10.0;"Start/End";"OFT_1";"x"\n'
        '"a";"Jin";0.2;0.4;"Grooming";"OFT_1";"x"\n'
        '"a";"Jin";0.6;0.68;"Supported";"OFT_1";"x"\n'
    )
    iv = eio.read_interval_labels(path)
    assert [i.behaviour for i in iv] == ["Grooming", "Supported"]
    lab = eio.intervals_to_framewise(iv, fps=25.0, behaviours=("Supported", "Grooming"), frames=20)
    expect = np.zeros(20, dtype=np.int64)
    expect[5:10] = 2
    expect[15:17] = 1
    np.testing.assert_array_equal(lab, expect)


def test_framewise_labels(tmp_path: Path) -> None:
    (tmp_path / "f.csv").write_text("frame,a,b\n0,0,1\n1,1,1\n")
    lab, cols = eio.read_framewise_labels(tmp_path / "f.csv")
    assert cols == ("a", "b") and lab.tolist() == [[0, 1], [1, 1]]
    (tmp_path / "g.csv").write_text("frame,a\n0,0\n2,1\n")
    with pytest.raises(InputError, match="without gaps"):
        eio.read_framewise_labels(tmp_path / "g.csv")
