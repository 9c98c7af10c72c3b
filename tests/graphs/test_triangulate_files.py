"""The ``triangulate`` pipeline on 2D files per camera: synthetic, in process."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ethoagent.agent.workspace import Workspace
from ethoagent.chat.actions import ToolContext, execute_tool, parse_direct
from ethoagent.config import Settings, load_settings
from ethoagent.errors import InputError
from ethoagent.graphs.kit.registry import pipeline
from ethoagent.graphs.kit.run import run_pipeline
from ethoagent.graphs.triangulate import FILES_OUTPUTS, FILES_PIPELINE, TriangulateFilesOptions
from ethoagent.graphs.triangulate.files_report import (
    FLAG_COLUMNS,
    Flags,
    _flags_csv,
    camera_keypoint_errors,
    point_flags,
)
from ethoagent.graphs.triangulate.inputs import TriangulateFilesInputs
from ethoagent.io.calibration import read_calibration, write_calibration
from ethoagent.io.keypoints import read_keypoints, write_keypoints
from ethoagent.model.camera import Camera
from ethoagent.model.pose import PoseData
from ethoagent.sim import synthetic
from ethoagent.tools.cameras import make_ring_cameras

FRAMES = 60


def _session(root: Path) -> tuple[Path, Path, np.ndarray]:
    """2D files per camera (``session_<camera>.csv``) and a calibration whose ``ring_3``
    carries ``ring_2``'s parameters (a copied block); returns folder, calibration, truth."""
    cams = make_ring_cameras(5, seed=0)
    truth = synthetic.simulate_trajectory(FRAMES, seed=0)
    obs = synthetic.observe(cams, truth, seed=1, swap_rate=0.0)
    kps = synthetic.SKELETON.keypoints
    # a 2D model's errors: forepaws swapped in ring_0 (frames 10-12), a 60 px outlier
    pts = obs.points_2d
    pts[10:13, 0, [5, 6]] = pts[10:13, 0, [6, 5]]
    pts[20, 1, 9] += [60.0, 0.0]
    two_d = root / "2d"
    for v, cam in enumerate(cams):
        conf = np.where(np.isfinite(pts[:, v, :, 0]), 0.9, np.nan)[:, None]
        data = PoseData(points=pts[:, v, None], confidence=conf, keypoints=kps, individuals=("m",))
        write_keypoints(data, two_d / f"session_{cam.name}.csv", format="dlc")
    copied = cams[2]
    wrong = Camera("ring_3", copied.matrix, copied.dist, copied.rvec, copied.tvec, copied.size)
    calibration = root / "calibration.toml"
    write_calibration(calibration, [*cams[:3], wrong, cams[4]])
    return two_d, calibration, truth


def test_triangulates_files_drops_the_copied_camera_and_writes_anipose(tmp_path: Path) -> None:
    two_d, calibration, truth = _session(tmp_path)
    settings = Settings(runs_dir=tmp_path / "runs")
    out = tmp_path / "out"
    spec = pipeline("triangulate")
    assert spec is FILES_PIPELINE
    result = run_pipeline(
        spec,
        spec.parse_inputs({"two_d": two_d, "calibration": calibration}),
        # 8 px: the forepaws are 14 px apart in these 320x240 views, a swap must be an outlier
        TriangulateFilesOptions(refine_calibration=True, chunk_frames=25, threshold_px=8.0),
        settings,
        out=out,
    )
    m = result.summary
    assert m["dropped_cameras"] == ["ring_3"]
    assert m["cameras"] == ["ring_0", "ring_1", "ring_2", "top"]
    assert m["unit"] == "mm"
    assert any("'ring_3'" in line for line in m["diagnosis"])
    assert sorted(p.name for p in result.files) == sorted(FILES_OUTPUTS)
    back = read_keypoints(out / "points_3d.csv")
    assert back.keypoints == synthetic.SKELETON.keypoints
    assert back.points.shape == (FRAMES, 1, len(back.keypoints), 3)
    err = np.linalg.norm(back.points[:, 0] - truth, axis=-1)
    # 0.7 px noise: a plain DLT of the four kept cameras is 1.27 mm off the truth
    assert np.nanmedian(err) < 2.0
    assert np.isfinite(err).mean() > 0.95
    header = (out / "points_3d.csv").read_text().splitlines()[0].split(",")
    first = synthetic.SKELETON.keypoints[0]
    assert header[:6] == [f"{first}_{c}" for c in ("x", "y", "z", "error", "ncams", "score")]
    assert header[-1] == "fnum"
    nc = read_keypoints(out / "points_3d.nc")
    np.testing.assert_allclose(nc.points, back.points, atol=1e-3)
    refined = read_calibration(out / "calibration.refined.toml")
    assert [c.name for c in refined] == m["cameras"]
    report = (out / "report.md").read_text()
    assert "left out: ring_3" in report and "millimetres" in report
    assert json.loads((out / "summary.json").read_text())["frames"] == FRAMES
    assert len(m["refined_calibration"]) == 4
    _check_flags_match_columns(out, m)


def _check_flags_match_columns(out: Path, m: dict[str, object]) -> None:
    """flags.csv names the swap and the outlier; anipose's columns agree with the flags."""
    with (out / "flags.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    assert list(rows[0]) == list(FLAG_COLUMNS)
    why = {(int(r["frame"]), r["keypoint"], r["reason"], r["camera"]) for r in rows}
    relabelled = {(f, k, c) for f, k, r, c in why if r == "left/right relabelled"}
    # the swap is read back where the other views can tell (frame 12 has a missing view),
    # and nothing else is relabelled
    assert relabelled <= {
        (f, k, "ring_0") for f in (10, 11, 12) for k in ("forepaw_left", "forepaw_right")
    }
    assert len(relabelled) >= 4
    assert (20, "tail_base", "outlier view left out", "ring_1") in why
    table = pd.read_csv(out / "points_3d.csv")
    flagged = {(f, k) for f, k, r, _ in why if r in ("fewer than 2 views", "views disagree")}
    for kp in synthetic.SKELETON.keypoints:
        missing = set(np.flatnonzero(table[f"{kp}_x"].isna()).tolist())
        assert missing == {f for f, k in flagged if k == kp}
        over = set(np.flatnonzero(table[f"{kp}_error"] > 8.0).tolist())
        assert over == {f for f, k, r, _ in why if k == kp and r == "reprojection"}
    # the swapped view counts again once relabelled; the outlier view does not
    assert table.loc[11, "forepaw_left_ncams"] == 4
    assert table.loc[20, "tail_base_ncams"] == 3
    status = {(int(r["frame"]), r["keypoint"]) for r in rows if r["status"] == "corrected"}
    assert m["corrected_points"] == len(status) >= 5


def test_strict_refuses_the_inconsistent_camera_before_any_run(tmp_path: Path) -> None:
    two_d, calibration, _ = _session(tmp_path)
    settings = Settings(runs_dir=tmp_path / "runs")
    with pytest.raises(InputError, match="ring_3"):
        run_pipeline(
            FILES_PIPELINE,
            FILES_PIPELINE.parse_inputs({"two_d": two_d, "calibration": calibration}),
            TriangulateFilesOptions(strict=True),
            settings,
            out=tmp_path / "out",
        )
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())
    assert not (tmp_path / "out").exists()


def _inputs(bones: list[tuple[str, str]]) -> TriangulateFilesInputs:
    return TriangulateFilesInputs(
        calibration=Path("c.toml"),
        files={},
        cameras=["a", "b"],
        dropped=[],
        skeleton_name="s",
        keypoints=["p", "q", "r"],
        bones=bones,
        left_right=[],
        inferred=[],
        warnings=[],
        diagnosis=[],
        unit="mm",
        unit_message="",
        frames=4,
        options=TriangulateFilesOptions(threshold_px=5.0, bone_tolerance=0.5),
    )


def _rows(flags: Flags, inputs: TriangulateFilesInputs) -> list[list[str]]:
    return [line.split(",") for line in _flags_csv(flags, inputs).splitlines()]


def test_point_flags_name_each_reason_and_status() -> None:
    inputs = _inputs([("p", "q")])
    p3 = np.zeros((4, 3, 3))
    p3[0, 2] = np.nan  # r: seen by one view in frame 0
    p3[1, 2] = np.nan  # r: seen by both views in frame 1, which disagree
    seen = np.full((4, 3), 2)
    seen[0, 2] = 1
    err = np.ones((4, 3))
    err[2, 0] = 7.5
    errors = np.ones((4, 2, 3))
    errors[2, 1, 1] = 40.0
    outlier = np.zeros((4, 2, 3), dtype=bool)
    outlier[2, 1, 1] = True  # q's view b left out by RANSAC in frame 2
    relabelled = np.zeros_like(outlier)
    relabelled[1, 0, 0] = True
    bone_error = np.zeros((4, 1))
    bone_error[3, 0] = 2.0
    arrays = {
        "points_3d": p3,
        "error": err,
        "seen": seen,
        "errors": errors,
        "outlier": outlier,
        "relabelled": relabelled,
        "bone_dropped": np.zeros_like(outlier),
        "bone_error": bone_error,
    }
    flags = point_flags(inputs, arrays)
    assert _rows(flags, inputs) == [
        list(FLAG_COLUMNS),
        ["0", "r", "flagged", "fewer than 2 views", "", "", "1.000"],
        ["1", "p", "corrected", "left/right relabelled", "a", "", "1.000"],
        ["1", "r", "flagged", "views disagree", "", "", "2.000"],
        ["2", "p", "flagged", "reprojection", "", "", "7.500"],
        ["2", "q", "corrected", "outlier view left out", "b", "", "40.000"],
        ["3", "p", "flagged", "bone", "", "p-q", "2.000"],
        ["3", "q", "flagged", "bone", "", "p-q", "2.000"],
    ]
    assert flags.points("flagged") == 5
    assert flags.points("corrected") == 2
    assert flags.by_reason()["bone"] == 2


def test_camera_keypoint_errors_are_medians_over_inlier_views() -> None:
    view_error = np.full((3, 2, 2), np.nan)
    view_error[:, 0, 0] = [1.0, 2.0, 9.0]
    view_error[0, 1, 0] = 4.0
    out = camera_keypoint_errors(view_error)
    np.testing.assert_array_equal(out, [[2.0, np.nan], [4.0, np.nan]])


def test_chat_runs_triangulate_into_the_workspace(tmp_path: Path) -> None:
    ws = Workspace(tmp_path / "ws")
    ctx = ToolContext(ws, load_settings(None, {"runs_dir": ws.root / "runs"}))
    _session(ws.root)
    parsed = parse_direct("/run triangulate 2d --calibration calibration.toml --out tri")
    assert parsed is not None
    tool, raw = parsed
    assert tool.name == "run_triangulate"
    out = execute_tool(ctx, tool.name, raw)
    assert out.ok, out.error
    assert out.result is not None
    assert out.result.data["dropped_cameras"] == ["ring_3"]
    assert "results/tri/points_3d.csv" in out.result.files
    strict = execute_tool(ctx, tool.name, {**raw, "strict": True, "out": "tri2"})
    assert not strict.ok and strict.error is not None and "ring_3" in strict.error
    assert not (ws.root / "results" / "tri2").exists()
