"""Tests of the shared real-data loaders (ethoagent.evals.datasets)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ethoagent.errors import InputError
from ethoagent.evals import datasets as ds
from tests.data_paths import require_shared


def test_unknown_dataset() -> None:
    with pytest.raises(InputError, match="unknown data set"):
        ds.load_dataset("nope")
    with pytest.raises(InputError, match="unknown data set"):
        ds.summarise_dataset("nope")


def test_count_labels_means_over_raters_and_sums_over_sessions() -> None:
    two_raters = np.array([[0, 1], [1, 1], [1, 0], [0, 0], [1, 1]])  # a: 3 frames / 2 bouts
    coded = np.array([[2], [2], [0], [1], [2]])  # b: 3 frames / 2 bouts; a: 1 / 1
    d = ds.Dataset(name="toy", labels={"s1": two_raters, "s2": coded}, behaviours=("a", "b"))
    a, b = ds.count_labels(d)
    assert a == ds.LabelCount(behaviour="a", sessions=2, raters=2, frames=4.0, bouts=3.0)
    assert b == ds.LabelCount(behaviour="b", sessions=1, raters=1, frames=3.0, bouts=2.0)
    assert ds.count_labels(ds.Dataset(name="none", behaviours=("c",)))[0].frames == 0.0


def test_missing_and_incomplete_sets_are_summarised_with_a_hint(tmp_path: Path) -> None:
    (tmp_path / "dlc_openfield_pranav2018").mkdir()
    missing = ds.summarise_dataset("dannce_markerless_mouse", root=tmp_path)
    assert missing.status == "missing" and missing.size_mb == 0.0
    assert missing.hint is not None and "spoonsso/dannce" in missing.hint
    partial = ds.summarise_dataset("dlc_openfield_pranav2018", root=tmp_path)
    assert partial.status == "incomplete"
    assert partial.hint is not None and "CollectedData_Pranav.csv not found" in partial.hint
    assert [s.name for s in ds.summarise_datasets(tmp_path)] == list(ds.DATASETS)
    with pytest.raises(InputError, match="does not exist"):
        ds.summarise_datasets(tmp_path / "nowhere")


# ------------------------------------------------------------------ real shared data


def _load(name: str) -> ds.Dataset:
    root = require_shared(name).parent
    return ds.load_dataset(name, root=root)


def test_behaviordepot() -> None:
    d = _load("behaviordepot_freezing")
    demo1 = d.pose["demo1"]
    assert demo1.points.shape == (6000, 1, 8, 2) and demo1.fps == 50.0
    assert "Nose" in demo1.keypoints
    assert d.labels["demo1"].shape == (6000, 1) and int(d.labels["demo1"].sum()) == 1368
    assert d.label_columns["demo7"] == ("expert1", "expert2", "expert3", "novice")


def test_dannce_reprojection_is_exact() -> None:
    from ethoagent.tools.cameras import project_points

    d = _load("dannce_markerless_mouse")
    assert d.points_3d is not None and d.points_2d is not None
    assert d.points_3d.shape == (81, 22, 3) and d.points_2d.shape == (81, 6, 22, 2)
    proj = np.moveaxis(project_points(d.cameras, d.points_3d), 2, 1)  # (F, V, K, 2)
    err = np.linalg.norm(proj - d.points_2d, axis=-1)
    assert np.nanmedian(err) < 0.01


def test_openfield_labelled_frames() -> None:
    d = _load("dlc_openfield_pranav2018")
    pose = d.pose["m4s1"]
    assert pose.points.shape == (116, 1, 4, 2)
    assert pose.keypoints == ("snout", "leftear", "rightear", "tailbase")
    assert pose.frame_names is not None and pose.frame_names[0].endswith("img0000.png")
    assert d.videos["m3v1"].is_file()


def test_ethome_multi_animal_and_boris() -> None:
    d = _load("ethome_social_interact")
    vid = "e3v813a-20210610T122332-122642"
    pose = d.pose[vid]
    assert pose.individuals == ("adult", "juvenile") and pose.points.shape == (5700, 2, 7, 2)
    assert int(d.labels[vid].sum()) == 663
    assert len(d.labels) == 5  # the tracked video plus four BORIS-only sessions


def test_sturman_intervals() -> None:
    d = _load("sturman2020_dlcanalyzer")
    assert len(d.labels) == 20
    lab = d.labels["OFT_11"]
    assert lab.shape[1] == 3 and set(np.unique(lab)) <= {0, 1, 2, 3, 4}
    assert d.pose["EPM_15"].points.shape[0] > 900


def test_sleap_anipose_calibration() -> None:
    from ethoagent.tools.cameras import check_calibration

    d = _load("sleap_anipose_minimal_session")
    assert d.view_names == ("back", "mid", "side", "top")
    assert all(p.is_file() for p in d.videos.values())
    results = {r.name: r for r in check_calibration(d.cameras)}
    assert not results["calibration.distinct_parameters"].passed


def test_summaries_of_the_real_sets() -> None:
    root = require_shared("sleap_anipose_minimal_session").parent
    sleap = ds.summarise_dataset("sleap_anipose_minimal_session", root=root)
    assert sleap.status == "present" and sleap.hint is None
    assert (sleap.sessions, sleap.views, sleap.frames, sleap.keypoints) == (1, 4, 120, 15)
    assert sleap.videos == 4 and sleap.labels == () and sleap.size_mb > 1.0
    require_shared("behaviordepot_freezing")
    depot = ds.summarise_dataset("behaviordepot_freezing", root=root)
    raters = ds.load_dataset("behaviordepot_freezing", root=root).labels["demo7"]
    (freezing,) = depot.labels
    assert freezing.behaviour == "freezing" and freezing.raters == 4
    assert freezing.frames == pytest.approx(1368 + raters.sum() / 4)
    require_shared("sturman2020_dlcanalyzer")
    sturman = ds.summarise_dataset("sturman2020_dlcanalyzer", root=root)
    assert [c.behaviour for c in sturman.labels] == list(ds.STURMAN_OFT_BEHAVIOURS)
    assert all(c.sessions >= 1 and c.raters == 3 for c in sturman.labels)
