"""Tests of keypoint and label formats (ethoagent.tools.io).

Round trips use exactly known arrays: coordinates are multiples of 0.25 and confidences
multiples of 1/8, exact in float32 (SLEAP analysis) and in 6-decimal CSV text, so every
format that carries a value must give it back bit for bit.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from ethoagent.errors import InputError
from ethoagent.io import keypoints as eio
from ethoagent.io import labels as elabels
from ethoagent.model.pose import PoseData
from tests.data_paths import require_shared

KEYPOINTS = ("snout", "ear left", "ear_right", "tail base")

# netCDF4's Cython module warns about numpy's ABI on import; the filter netCDF4 installs
# against it does not survive pytest's per-test warning capture
pytestmark = pytest.mark.filterwarnings("ignore:numpy.ndarray size changed:RuntimeWarning")


def _pose(frames: int, individuals: int, dims: int = 2) -> PoseData:
    """Known keypoints: point (f, i, k, d) = 1 + 0.25 * flat index; NaN at two places."""
    n = frames * individuals * len(KEYPOINTS)
    pts = 1.0 + 0.25 * np.arange(n * dims, dtype=np.float64).reshape(frames, individuals, -1, dims)
    conf = (np.arange(n) % 8 / 8.0).reshape(frames, individuals, -1)
    pts[1, 0, 2] = np.nan  # one missing point
    pts[2, -1] = np.nan  # one missing individual (all its points)
    conf[np.isnan(pts).any(axis=-1)] = np.nan
    return PoseData(
        points=pts,
        confidence=conf,
        keypoints=KEYPOINTS,
        individuals=tuple(f"m{i}" for i in range(individuals)),
        fps=30.0,
        unit="px" if dims == 2 else "mm",
    )


# --------------------------------------------------------------------------- PoseData


def test_pose_data_checks_shapes() -> None:
    with pytest.raises(InputError, match=r"\(frames, individuals, keypoints, 2\|3\)"):
        PoseData(np.zeros((3, 4, 2)), np.zeros((3, 4)), KEYPOINTS, ("a",))
    with pytest.raises(InputError, match="frame names"):
        PoseData(np.zeros((3, 1, 4, 2)), np.zeros((3, 1, 4)), KEYPOINTS, ("a",), frame_names=("x",))
    assert repr(_pose(5, 2, 3)) == (
        "PoseData(frames=5, individuals=2, keypoints=4, dims=3, fps=30, unit='mm')"
    )


# --------------------------------------------------------------------------- movement


def test_movement_dataset_dims_and_values() -> None:
    data = replace(_pose(5, 2), frame_names=tuple("abcde"))
    ds = eio.to_movement_dataset(data)
    assert ds["position"].dims == ("time", "space", "keypoints", "individuals")
    assert ds["confidence"].dims == ("time", "keypoints", "individuals")
    assert ds.attrs["fps"] == 30.0 and ds.attrs["space_unit"] == "px"
    np.testing.assert_array_equal(
        ds["position"].sel(individuals="m1", keypoints="ear left", space="y").values,
        data.points[:, 1, 1, 1],
    )
    np.testing.assert_allclose(ds["time"].values, np.arange(5) / 30.0)
    back = eio.from_movement_dataset(ds)
    np.testing.assert_array_equal(back.points, data.points)
    np.testing.assert_array_equal(back.confidence, data.confidence)
    assert (back.keypoints, back.individuals, back.fps, back.unit, back.frame_names) == (
        data.keypoints,
        data.individuals,
        30.0,
        "px",
        tuple("abcde"),
    )


def test_from_movement_dataset_names_what_it_expected() -> None:
    ds = eio.to_movement_dataset(_pose(3, 1))
    with pytest.raises(InputError, match="'position' variable"):
        eio.from_movement_dataset(ds.drop_vars("position"))
    with pytest.raises(InputError, match=r"dims \('time', 'space', 'keypoints', 'individuals'\)"):
        eio.from_movement_dataset(ds.expand_dims(view=["top"]))
    # a dataset with one individual selected away still converts
    one = eio.from_movement_dataset(ds.sel(individuals="m0"))
    assert one.individuals == ("individual_0",) and one.points.shape == (3, 1, 4, 2)


# --------------------------------------------------------------------------- round trips

# (format, file name, individuals, dims)
ROUND_TRIPS = [
    ("dlc", "single.csv", 1, 2),
    ("dlc", "multi.csv", 2, 2),
    ("dlc", "multi3d.csv", 2, 3),
    ("dlc", "single3d.csv", 1, 3),
    ("dlc", "single.h5", 1, 2),
    ("dlc", "multi3d.h5", 2, 3),
    ("lightning_pose", "lp.csv", 1, 2),
    ("sleap", "single.slp", 1, 2),
    ("sleap", "multi.slp", 2, 2),
    ("sleap_analysis", "multi.analysis.h5", 2, 2),
    ("anipose", "points3d.csv", 1, 3),
    ("nwb", "single.nwb", 1, 2),
    ("nwb", "single3d.nwb", 1, 3),
    ("netcdf", "multi.nc", 2, 2),
    ("netcdf", "single3d.nc", 1, 3),
]
# what each format cannot hold (see write_keypoints)
NAMELESS_SINGLE = {"dlc", "lightning_pose", "anipose"}  # one individual, no name
STORES_FPS = {"sleap", "nwb", "netcdf"}


@pytest.mark.parametrize(("fmt", "name", "individuals", "dims"), ROUND_TRIPS)
def test_round_trip(tmp_path: Path, fmt: str, name: str, individuals: int, dims: int) -> None:
    data = _pose(6, individuals, dims)
    path = eio.write_keypoints(data, tmp_path / name, format=fmt)  # type: ignore[arg-type]
    assert path == tmp_path / name and path.is_file()
    assert [p.name for p in tmp_path.iterdir()] == [name]  # no temp files left
    back = eio.read_keypoints(path)  # format inferred from suffix and contents
    np.testing.assert_array_equal(back.points, data.points)
    expect_conf = data.confidence
    if fmt == "dlc" and dims == 3:  # DLC 3D files have no likelihood
        expect_conf = np.full_like(data.confidence, np.nan)
    np.testing.assert_array_equal(back.confidence, expect_conf)
    assert back.keypoints == KEYPOINTS
    if individuals == 1 and fmt in NAMELESS_SINGLE:
        assert back.individuals == ("individual_0",)
    else:
        assert back.individuals == data.individuals
    assert back.unit == data.unit
    assert back.fps == (30.0 if fmt in STORES_FPS else None)
    assert back.source == str(path)
    assert eio.read_keypoints(path, format=fmt, fps=50.0).fps == 50.0  # type: ignore[arg-type]


def test_sleap_analysis_drops_individuals_missing_everywhere(tmp_path: Path) -> None:
    data = _pose(4, 2)
    data.points[:, 1] = np.nan
    path = eio.write_keypoints(data, tmp_path / "a.h5", format="sleap_analysis")
    back = eio.read_keypoints(path)
    assert back.individuals == ("m0",)
    np.testing.assert_array_equal(back.points, data.points[:, :1])


def test_sleap_user_labels_keep_no_confidence(tmp_path: Path) -> None:
    data = _pose(4, 1)
    labels = replace(data, confidence=np.full(data.confidence.shape, np.nan))
    back = eio.read_keypoints(eio.write_keypoints(labels, tmp_path / "l.slp", format="sleap"))
    np.testing.assert_array_equal(back.points, data.points)
    assert np.isnan(back.confidence).all()


def test_sleap_user_label_replaces_prediction_and_its_score(tmp_path: Path) -> None:
    import sleap_io as sio

    skeleton = sio.Skeleton(["a", "b"])
    track = sio.Track("m0")
    video = sio.Video(filename="v.mp4", open_backend=False)
    pred = np.array([[1.0, 2.0], [3.0, 4.0]])
    user = np.array([[5.0, 6.0], [7.0, 8.0]])
    frames = [
        sio.LabeledFrame(
            video=video,
            frame_idx=f,
            instances=[
                sio.PredictedInstance.from_numpy(
                    pred + f, skeleton=skeleton, point_scores=np.array([0.5, 0.25]), track=track
                ),
                *([sio.Instance.from_numpy(user, skeleton=skeleton, track=track)] if f else []),
            ],
        )
        for f in range(2)
    ]
    labels = sio.Labels(labeled_frames=frames, videos=[video], skeletons=[skeleton], tracks=[track])
    sio.save_slp(labels, str(tmp_path / "mixed.slp"), verbose=False)
    d = eio.read_keypoints(tmp_path / "mixed.slp")
    np.testing.assert_array_equal(d.points[:, 0], [pred, user])
    np.testing.assert_array_equal(d.confidence[:, 0], [[0.5, 0.25], [np.nan, np.nan]])


def test_dlc_csv_round_trip_pure_reader(tmp_path: Path) -> None:
    data = _pose(5, 2, 2)
    path = eio.write_dlc_csv(tmp_path / "x.csv", data, scorer="me")
    lines = path.read_text().splitlines()
    assert [ln.split(",")[0] for ln in lines[:5]] == [
        "scorer",
        "individuals",
        "bodyparts",
        "coords",
        "0",
    ]
    assert lines[0].split(",")[1] == "me" and lines[3].split(",")[1:4] == ["x", "y", "likelihood"]
    pure = eio.read_dlc_csv(path, fps=30.0)
    np.testing.assert_array_equal(pure.points, data.points)
    np.testing.assert_array_equal(pure.confidence, data.confidence)
    assert pure.individuals == data.individuals and pure.fps == 30.0
    with pytest.raises(InputError, match="multi_animal=True"):
        eio.write_dlc_csv(tmp_path / "y.csv", data, multi_animal=False)


@pytest.mark.parametrize("suffix", [".csv", ".h5"])
def test_dlc_labelled_frames_keep_image_names(tmp_path: Path, suffix: str) -> None:
    names = tuple(f"labeled-data/v1/img{f}.png" for f in range(4))
    data = _pose(4, 1)
    labelled = replace(data, frame_names=names)
    path = eio.write_keypoints(labelled, tmp_path / f"CollectedData_me{suffix}", format="dlc")
    back = eio.read_keypoints(path)
    assert back.frame_names == names
    np.testing.assert_array_equal(back.points, data.points)


def test_dlc_labelled_csv_with_three_index_columns(tmp_path: Path) -> None:
    text = (
        "scorer,,,A,A\nbodyparts,,,snout,snout\ncoords,,,x,y\n"
        "labeled-data,v1,img0.png,1.5,2.5\nlabeled-data,v1,img1.png,,\n"
    )
    (tmp_path / "c.csv").write_text(text)
    for d in (eio.read_dlc_csv(tmp_path / "c.csv"), eio.read_keypoints(tmp_path / "c.csv")):
        assert d.frame_names == ("labeled-data/v1/img0.png", "labeled-data/v1/img1.png")
        assert d.points[0, 0, 0].tolist() == [1.5, 2.5] and np.isnan(d.points[1]).all()


def test_multi_animal_dlc_with_unique_body_parts(tmp_path: Path) -> None:
    """maDLC lists body parts seen once per frame under individual 'single'."""
    text = (
        "scorer,S,S,S,S,S,S,S,S,S\n"
        "individuals,m0,m0,m0,m1,m1,m1,single,single,single\n"
        "bodyparts,nose,nose,nose,nose,nose,nose,port,port,port\n"
        "coords,x,y,likelihood,x,y,likelihood,x,y,likelihood\n"
        "0,1.0,2.0,0.5,3.0,4.0,0.25,5.0,6.0,1.0\n"
    )
    path = tmp_path / "ma.csv"
    path.write_text(text)
    d = eio.read_keypoints(path)
    assert d.individuals == ("m0", "m1", "single") and d.keypoints == ("nose", "port")
    expect = np.full((1, 3, 2, 2), np.nan)
    expect[0, 0, 0], expect[0, 1, 0], expect[0, 2, 1] = (1, 2), (3, 4), (5, 6)
    np.testing.assert_array_equal(d.points, expect)
    # the same table as a DLC .h5 goes through pandas + movement
    import pandas as pd

    table = pd.read_csv(path, header=[0, 1, 2, 3], index_col=0)
    table.to_hdf(tmp_path / "ma.h5", key="df_with_missing")
    h5 = eio.read_keypoints(tmp_path / "ma.h5")
    assert h5.individuals == d.individuals and h5.keypoints == d.keypoints
    np.testing.assert_array_equal(h5.points, expect)
    np.testing.assert_array_equal(h5.confidence, d.confidence)


# --------------------------------------------------------------------------- pandas re-saves

DLC_HEADER = "DLC,DLC,DLC,DLC,DLC,DLC\nnose,nose,nose,tailbase,tailbase,tailbase\n"
DLC_COORDS = "x,y,likelihood,x,y,likelihood\n"
DLC_VALUES = ["10.0,20.0,0.9,30.0,40.0,0.8\n", "11.0,21.0,0.9,,,\n"]
RESAVES = {
    # read_csv(header=[0, 1, 2], index_col=0) with an index name, then to_csv()
    "index_name_row": "scorer,"
    + DLC_HEADER.replace("\nnose", "\nbodyparts,nose")
    + "coords,"
    + DLC_COORDS
    + "frame,,,,,,\n"
    + "".join(f"{i},{v}" for i, v in enumerate(DLC_VALUES)),
    # read_csv(header=[0, 1, 2]) without index_col, then to_csv(): one more index column
    "extra_index_column": ",scorer,"
    + DLC_HEADER.replace("\nnose", "\n,bodyparts,nose")
    + ",coords,"
    + DLC_COORDS
    + "".join(f"{i},{i},{v}" for i, v in enumerate(DLC_VALUES)),
    # to_csv(index=False): no index column, no level names
    "no_index": DLC_HEADER + DLC_COORDS + "".join(DLC_VALUES),
}


@pytest.mark.parametrize("variant", sorted(RESAVES))
def test_dlc_csv_resaved_by_pandas_reads_the_same(tmp_path: Path, variant: str) -> None:
    path = tmp_path / f"{variant}.csv"
    path.write_text(RESAVES[variant])
    data = eio.read_keypoints(path)
    assert data.keypoints == ("nose", "tailbase") and data.points.shape == (2, 1, 2, 2)
    assert data.frame_names is None
    np.testing.assert_array_equal(data.points[0, 0], [[10.0, 20.0], [30.0, 40.0]])
    assert np.isnan(data.points[1, 0, 1]).all() and data.confidence[0, 0, 1] == 0.8


def test_refused_csv_names_the_formats_tried_and_its_first_rows(tmp_path: Path) -> None:
    path = tmp_path / "tracks.csv"
    path.write_text("time,animal,px,py\n0.0,m1,3,4\n")
    with pytest.raises(InputError) as err:
        eio.read_keypoints(path)
    text = str(err.value)
    assert "DeepLabCut" in text and "anipose" in text and "pandas" in text
    assert "time,animal,px,py | 0.0,m1,3,4" in text


# --------------------------------------------------------------------------- errors


def test_read_errors_name_the_file(tmp_path: Path) -> None:
    cases = {
        "missing.csv": (None, "not found"),
        "empty.slp": (b"", "empty"),
        "notes.txt": (b"hello", "unknown keypoint file type"),
        "table.csv": (b"a,b\n1,2\n", "not a keypoint CSV"),
        "fake.h5": (b"not hdf5 at all", "not a readable HDF5 file"),
        "fake.slp": (b"not hdf5 at all", "cannot read .* as a SLEAP labels"),
        "fake.nc": (b"CDF garbage", "cannot read .* as a movement netCDF"),
        "fake.nwb": (b"garbage", "cannot read .* as a NWB"),
    }
    for name, (content, message) in cases.items():
        path = tmp_path / name
        if content is not None:
            path.write_bytes(content)
        with pytest.raises(InputError, match=message) as err:
            eio.read_keypoints(path)
        assert name in str(err.value), str(err.value)
        assert "Fix:" in str(err.value)


def test_read_errors_for_wrong_or_truncated_files(tmp_path: Path) -> None:
    import h5py

    with h5py.File(tmp_path / "other.h5", "w") as f:
        f["x"] = [1]
    with pytest.raises(InputError, match=r"other\.h5.*found keys \['x'\]"):
        eio.read_keypoints(tmp_path / "other.h5")
    good = eio.write_keypoints(_pose(4, 2), tmp_path / "good.slp", format="sleap")
    cut = tmp_path / "cut.slp"
    cut.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(InputError, match=r"cut\.slp"):
        eio.read_keypoints(cut)
    with pytest.raises(InputError, match=r"good\.slp: a DeepLabCut file must end in \.csv"):
        eio.read_keypoints(good, format="dlc")
    short = tmp_path / "short.csv"
    short.write_text("scorer,A,A\nbodyparts,s,s\ncoords,x,y\n0,1.0\n")
    with pytest.raises(InputError, match=r"short\.csv"):
        eio.read_keypoints(short)


def test_write_errors_name_the_file(tmp_path: Path) -> None:
    two_3d = _pose(3, 2, 3)
    cases: list[tuple[PoseData, str, str, str]] = [
        (_pose(3, 1), "x.txt", "dlc", r"must end in \.csv or \.h5"),
        (two_3d, "x.slp", "sleap", "hold 2D keypoints"),
        (_pose(3, 1), "x.csv", "anipose", "hold 3D keypoints"),
        (two_3d, "x.nwb", "nwb", "hold one individual"),
        (replace(_pose(3, 1), fps=None), "x.nwb", "nwb", "no fps"),
        (
            replace(_pose(3, 2), individuals=("a", "a")),
            "x.nc",
            "netcdf",
            "unique",
        ),
    ]
    for data, name, fmt, message in cases:
        with pytest.raises(InputError, match=message) as err:
            eio.write_keypoints(data, tmp_path / name, format=fmt)  # type: ignore[arg-type]
        assert name in str(err.value), str(err.value)
        assert not (tmp_path / name).exists()
    assert list(tmp_path.iterdir()) == []


def test_dlc_csv_errors_name_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("a,b\n1,2\n")
    with pytest.raises(InputError, match=r"bad\.csv.*not a DeepLabCut CSV"):
        eio.read_dlc_csv(bad)
    with pytest.raises(InputError, match="not found"):
        eio.read_dlc_csv(tmp_path / "missing.csv")


# --------------------------------------------------------------------------- real data


def test_real_dlc_csv_movement_agrees_with_pure_reader() -> None:
    for name in (
        "behaviordepot_freezing/demo/demo1/demo1_tracking.csv",
        "ethome_social_interact/dlc",
    ):
        path = require_shared(name)
        if path.is_dir():
            path = sorted(path.glob("*.csv"))[0]
        via_movement = eio.read_keypoints(path)
        pure = eio.read_dlc_csv(path)
        assert via_movement.keypoints == pure.keypoints
        assert via_movement.individuals == pure.individuals
        assert via_movement.points.shape == pure.points.shape
        np.testing.assert_allclose(via_movement.points, pure.points, rtol=1e-12)
        np.testing.assert_allclose(via_movement.confidence, pure.confidence, rtol=1e-12)
    assert pure.individuals == ("adult", "juvenile") and pure.points.shape[2] == 7


def test_real_dlc_labelled_h5_agrees_with_csv() -> None:
    folder = require_shared("dlc_openfield_pranav2018/openfield-Pranav-2018-10-30")
    labels = folder / "labeled-data" / "m4s1"
    h5 = eio.read_keypoints(labels / "CollectedData_Pranav.h5")
    csv = eio.read_keypoints(labels / "CollectedData_Pranav.csv")
    assert h5.frame_names == csv.frame_names and len(h5.frame_names or ()) == 116
    assert h5.keypoints == csv.keypoints == ("snout", "leftear", "rightear", "tailbase")
    np.testing.assert_allclose(h5.points, csv.points, rtol=1e-12)


def test_real_sleap_labels_agree_with_analysis_export() -> None:
    view = require_shared("sleap_anipose_minimal_session/minimal_session/back")
    slp = eio.read_keypoints(view / "minimal_back_proofread.slp")  # sleap-io
    h5 = eio.read_keypoints(view / "minimal_back_proofread.analysis.h5")  # movement
    assert slp.points.shape == h5.points.shape == (120, 1, 15, 2)
    assert slp.keypoints == h5.keypoints and slp.keypoints[0] == "Nose"
    assert slp.individuals == h5.individuals == ("track_0",)
    assert slp.fps == 30.0
    np.testing.assert_allclose(slp.points, h5.points, atol=1e-3)  # analysis: float32
    assert 0 < np.isnan(slp.points[..., 0]).mean() < 0.5


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
    ev = elabels.read_boris_events(path)
    assert [e.status for e in ev] == ["START", "STOP", "POINT", "START"]
    assert ev[0].fps == 10.0 and ev[0].media_length_s == 10.0
    lab = elabels.boris_to_framewise(ev, fps=10.0, frames=100, behaviour="interact")
    expect = np.zeros(100, dtype=np.int64)
    expect[10:20] = 1
    expect[90:] = 1  # an unmatched START runs to the end
    np.testing.assert_array_equal(lab, expect)
    point = elabels.boris_to_framewise(ev, fps=10.0, frames=100, behaviour="sniff")
    assert np.flatnonzero(point).tolist() == [30]
