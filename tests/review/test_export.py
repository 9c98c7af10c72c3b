"""Reviewed pose frames exported as DeepLabCut labeled-data and a SLEAP .slp, read back."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import sleap_io as sio
from typer.testing import CliRunner

from ethoagent.cli.app import app as cli
from ethoagent.review.queues import read_pose_run
from ethoagent.review.store import CorrectionStore
from ethoagent.runs import Run
from tests.review.conftest import fresh_copy


def test_export_writes_what_the_person_said(pose_run: Path, tmp_path: Path) -> None:
    run_dir = fresh_copy(pose_run, tmp_path / "run")
    store = CorrectionStore(run_dir)
    store.append("pose:frame:4:view:top:kp:ear_left", "pose", "correct", None, [100.5, 60.25])
    store.append("pose:frame:4:view:ring_0:kp:ear_right", "pose", "absent", None, None)
    store.append("pose:frame:9", "pose", "accept")
    out = tmp_path / "export"
    res = CliRunner().invoke(cli, ["review", str(run_dir), "--export", str(out)])
    assert res.exit_code == 0, res.output
    pr = read_pose_run(Run(run_dir))
    top = out / "labeled-data" / "top"
    df = pd.read_hdf(top / "CollectedData_ethoagent.h5", "df_with_missing")
    assert [i[2] for i in df.index] == ["img00004.png", "img00009.png"]
    assert df.loc[("labeled-data", "top", "img00004.png"), ("ethoagent", "ear_left")].tolist() == [
        100.5,
        60.25,
    ]
    k = pr.keypoints.index("back_mid")
    row9 = df.loc[("labeled-data", "top", "img00009.png"), ("ethoagent", "back_mid")]
    assert row9.tolist() == pytest.approx(pr.points_2d[9, pr.views.index("top"), k].tolist())
    csv = pd.read_csv(top / "CollectedData_ethoagent.csv", header=[0, 1, 2], index_col=[0, 1, 2])
    assert np.allclose(csv.to_numpy(), df.to_numpy(), equal_nan=True)
    assert (top / "img00004.png").is_file()
    ring0 = pd.read_hdf(out / "labeled-data/ring_0/CollectedData_ethoagent.h5")
    assert (
        ring0.loc[("labeled-data", "ring_0", "img00004.png"), ("ethoagent", "ear_right")]
        .isna()
        .all()
    )
    labels = sio.load_slp(str(out / "reviewed.slp"))
    assert len(labels.labeled_frames) == 2 * 4 and len(labels.videos) == 4
    inst = labels.labeled_frames[0].instances[0]
    assert type(inst) is sio.Instance  # a user instance, not a prediction
    assert [n.name for n in labels.skeletons[0].nodes] == pr.keypoints
