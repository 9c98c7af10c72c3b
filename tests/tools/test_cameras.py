"""Cameras: projection conventions, undistortion, calibration files and calibration checks."""

from __future__ import annotations

import math
import tempfile
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.typing import NDArray

from ethoagent.errors import InputError
from ethoagent.io.calibration import (
    read_calibration,
    read_calibration_metadata,
    read_dannce_calibration,
    write_calibration,
)
from ethoagent.model.camera import Camera
from ethoagent.tools.cameras import (
    behind_camera,
    check_calibration,
    make_ring_cameras,
    normalised_to_pixels,
    project_points,
    undistort_points,
)
from tests.data_paths import require_shared

SLEAP_ANIPOSE = "sleap_anipose_minimal_session/minimal_session"
DANNCE = "dannce_markerless_mouse"


def _camera(**overrides: object) -> Camera:
    kwargs: dict[str, object] = {
        "name": "cam",
        "matrix": np.array([[500.0, 0.0, 320.0], [0.0, 510.0, 240.0], [0.0, 0.0, 1.0]]),
        "dist": np.zeros(5),
        "rvec": np.array([0.1, -0.2, 0.05]),
        "tvec": np.array([10.0, -5.0, 400.0]),
        "size": (640, 480),
    }
    kwargs.update(overrides)
    return Camera(**kwargs)  # type: ignore[arg-type]


def dannce_labels(path: Path) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """3D labels ``(frames, 22, 3)`` mm and 2D labels ``(frames, 6, 22, 2)`` px of a DANNCE file."""
    from scipy.io import loadmat

    label_data = loadmat(str(path))["labelData"].ravel()
    per_cam = [np.asarray(c).ravel()[0] for c in label_data]
    p3 = np.asarray(per_cam[0]["data_3d"], dtype=np.float64).reshape(-1, 22, 3)
    p2 = np.stack(
        [np.asarray(c["data_2d"], dtype=np.float64).reshape(-1, 22, 2) for c in per_cam], axis=1
    )
    return p3, p2


# --------------------------------------------------------------------------- Camera


def test_camera_properties_follow_opencv_convention() -> None:
    cam = _camera()
    r, _ = cv2.Rodrigues(cam.rvec)
    np.testing.assert_allclose(cam.R, r)
    np.testing.assert_allclose(cam.R @ cam.R.T, np.eye(3), atol=1e-12)
    # the centre maps to the camera origin
    np.testing.assert_allclose(cam.R @ cam.center + cam.tvec, 0.0, atol=1e-12)
    # without distortion, projection is K [R | t] X
    x = np.array([[5.0, 7.0, 30.0], [-20.0, 3.0, -10.0]])
    h = (cam.P @ np.c_[x, np.ones(2)].T).T
    np.testing.assert_allclose(project_points([cam], x)[:, 0], h[:, :2] / h[:, 2:], atol=1e-9)
    assert cam.focal == (500.0, 510.0)
    assert repr(cam).startswith("Camera('cam', 640x480 px, f=500.0 px")


def test_camera_arrays_are_read_only_and_padded() -> None:
    cam = _camera(dist=[0.1, 0.01])
    np.testing.assert_array_equal(cam.dist, [0.1, 0.01, 0.0, 0.0, 0.0])
    with pytest.raises(ValueError, match="read-only"):
        cam.matrix[0, 0] = 1.0


@pytest.mark.parametrize(
    ("overrides", "match"),
    [
        ({"matrix": np.eye(2)}, r"intrinsic matrix must have shape \(3, 3\)"),
        ({"matrix": np.diag([-1.0, 1.0, 1.0])}, "focal lengths must be positive"),
        ({"matrix": np.array([[500.0, 0, 0], [0, 500, 0], [320, 240, 1]])}, "upper triangular"),
        ({"tvec": [0.0, np.nan, 1.0]}, "NaN"),
        ({"rvec": [0.0, 1.0]}, r"rvec must have shape \(3,\)"),
        ({"dist": np.zeros(8)}, "8 coefficients"),
        ({"size": (640, 0)}, "positive integers"),
        ({"size": "640x480"}, "width, height"),
    ],
)
def test_camera_validation(overrides: dict[str, object], match: str) -> None:
    with pytest.raises(InputError, match=match):
        _camera(**overrides)


def test_from_rotation_rejects_a_mirror() -> None:
    with pytest.raises(InputError, match="not a proper rotation"):
        Camera.from_rotation(
            "m", np.eye(3), np.zeros(5), np.diag([1.0, 1.0, -1.0]), [0, 0, 1], (2, 2)
        )


# --------------------------------------------------------------------------- projection


def test_project_points_shapes_nan_and_behind() -> None:
    cams = make_ring_cameras(4, top_view=False)
    pts = np.zeros((2, 3, 3))
    pts[0, 1] = np.nan
    proj = project_points(cams, pts)
    assert proj.shape == (2, 3, 4, 2)
    assert np.isnan(proj[0, 1]).all()
    assert np.isfinite(proj[1]).all()
    # a point beyond ring_0's centre, away from the target, is behind ring_0 only
    behind_pt = cams[0].center * 1.5
    mask = behind_camera(cams, behind_pt)
    assert mask.tolist() == [True, False, False, False]
    assert np.isnan(project_points(cams, behind_pt)[0]).all()
    assert np.isfinite(project_points(cams, behind_pt, nan_behind=False)[0]).all()
    with pytest.raises(InputError, match=r"\(\.\.\., 3\)"):
        project_points(cams, np.zeros((4, 2)))


def test_normalised_to_pixels_inverts_undistort_points() -> None:
    cam = make_ring_cameras(3, distortion=(-0.2, 0.05, 0.001, -0.001, 0.0), seed=2)[1]
    rng = np.random.default_rng(0)
    pix = rng.uniform([10, 10], [310, 230], (200, 2))
    back = normalised_to_pixels(cam, undistort_points(cam, pix))
    np.testing.assert_allclose(back, pix, atol=1e-3)
    assert normalised_to_pixels(cam, np.empty((0, 2))).shape == (0, 2)


def test_ring_cameras_look_at_the_target() -> None:
    target = (10.0, -5.0, 20.0)
    cams = make_ring_cameras(6, target=target, distortion=(0.0, 0.0, 0.0, 0.0, 0.0), seed=3)
    proj = project_points(cams, np.array(target))
    principal = np.array([[c.matrix[0, 2], c.matrix[1, 2]] for c in cams])
    np.testing.assert_allclose(proj, principal, atol=1e-9)
    assert [c.name for c in cams] == ["ring_0", "ring_1", "ring_2", "ring_3", "ring_4", "top"]
    np.testing.assert_allclose(cams[-1].center[:2], target[:2], atol=1e-9)
    # world z is "up": the point above the target appears above it (smaller v) in ring views
    above = project_points(cams[:5], np.array(target) + np.array([0.0, 0.0, 30.0]))
    assert np.all(above[:, 1] < principal[:5, 1])
    again = make_ring_cameras(6, target=target, distortion=(0.0, 0.0, 0.0, 0.0, 0.0), seed=3)
    np.testing.assert_array_equal(cams[2].tvec, again[2].tvec)
    with pytest.raises(InputError, match="n_views >= 2"):
        make_ring_cameras(1)


def test_undistort_inverts_projection_with_distortion() -> None:
    cam = _camera(dist=np.array([-0.25, 0.08, 0.002, -0.001, -0.01]))
    rng = np.random.default_rng(0)
    x = np.c_[rng.uniform(-100, 100, (50, 2)), rng.uniform(-50, 50, 50)]
    pix = project_points([cam], x)[:, 0]
    xc = x @ cam.R.T + cam.tvec
    norm = undistort_points(cam, pix)
    np.testing.assert_allclose(norm, xc[:, :2] / xc[:, 2:], atol=1e-12)
    pix[3] = np.nan
    out = undistort_points(cam, pix.reshape(5, 10, 2))
    assert out.shape == (5, 10, 2)
    assert np.isnan(out[0, 3]).all()
    assert np.isfinite(out.reshape(-1, 2)[np.arange(50) != 3]).all()


def test_skew_is_applied() -> None:
    skewed = _camera(matrix=np.array([[500.0, 7.0, 320.0], [0.0, 510.0, 240.0], [0.0, 0.0, 1.0]]))
    x = np.array([[5.0, 7.0, 30.0]])
    h = skewed.P @ np.r_[x[0], 1.0]
    np.testing.assert_allclose(project_points([skewed], x)[0, 0], h[:2] / h[2], atol=1e-9)
    xc = skewed.R @ x[0] + skewed.tvec
    pix = project_points([skewed], x)[:, 0]
    np.testing.assert_allclose(undistort_points(skewed, pix)[0], xc[:2] / xc[2], atol=1e-12)


# --------------------------------------------------------------------------- anipose toml


def test_calibration_toml_round_trip(tmp_path: Path) -> None:
    cams = make_ring_cameras(5, seed=7)
    meta = {"board_x": 8, "square_length": 24.0, "adjusted": True, "note": 'a "quoted" name'}
    path = tmp_path / "sub" / "calibration.toml"
    write_calibration(path, cams, meta)
    back = read_calibration(path)
    assert [c.name for c in back] == [c.name for c in cams]
    for a, b in zip(cams, back, strict=True):
        for attr in ("matrix", "dist", "rvec", "tvec"):
            np.testing.assert_array_equal(getattr(a, attr), getattr(b, attr))
        assert a.size == b.size
    assert read_calibration_metadata(path) == meta
    assert "size = [ 320, 240,]" in path.read_text()
    assert list(tmp_path.joinpath("sub").iterdir()) == [path]  # no temp file left behind


_finite = st.floats(allow_nan=False, allow_infinity=False)
# Lone surrogates are not text a UTF-8 file can hold.
_chars = {"exclude_categories": ["Cs"]}
_text = st.text(st.characters(**_chars), max_size=12)
_key = st.text(st.characters(**_chars), max_size=12)


@st.composite
def _cameras(draw: st.DrawFn) -> Camera:
    """Any valid camera: positive focal lengths, any finite skew, centre and extrinsics."""
    fx, fy = draw(st.tuples(*[st.floats(1e-6, 1e12)] * 2))
    skew, cx, cy = draw(st.tuples(_finite, _finite, _finite))
    return Camera(
        name=draw(_text),
        matrix=np.array([[fx, skew, cx], [0.0, fy, cy], [0.0, 0.0, 1.0]]),
        dist=draw(st.lists(_finite, max_size=5)),
        rvec=draw(st.tuples(_finite, _finite, _finite)),
        tvec=draw(st.tuples(_finite, _finite, _finite)),
        size=draw(st.tuples(*[st.integers(1, 100_000)] * 2)),
    )


_scalars = (
    st.booleans()
    | st.integers(-(2**63), 2**63 - 1)  # TOML integers are 64-bit
    | st.floats()
    | _text
)
_metadata = st.dictionaries(_key, _scalars | st.lists(_scalars, max_size=4), max_size=5)


def _same(a: Any, b: Any) -> bool:
    """Equality with NaN equal to NaN and the type kept (True is not 1, 1 is not 1.0)."""
    if isinstance(a, list):
        return isinstance(b, list) and len(a) == len(b) and all(map(_same, a, b))
    if isinstance(a, float) and math.isnan(a):
        return isinstance(b, float) and math.isnan(b)
    return type(a) is type(b) and a == b


@settings(max_examples=100, deadline=None)
@given(cams=st.lists(_cameras(), min_size=1, max_size=4), meta=_metadata)
def test_calibration_toml_round_trip_property(cams: list[Camera], meta: dict[str, Any]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "calibration.toml"
        write_calibration(path, cams, meta)
        back = read_calibration(path)
        back_meta = read_calibration_metadata(path)
    assert [c.name for c in back] == [c.name for c in cams]
    for a, b in zip(cams, back, strict=True):
        for attr in ("matrix", "dist", "rvec", "tvec"):
            np.testing.assert_array_equal(getattr(a, attr), getattr(b, attr))  # bit-exact
        assert a.size == b.size
    assert back_meta.keys() == meta.keys()
    assert all(_same(meta[k], back_meta[k]) for k in meta), (meta, back_meta)


def test_calibration_toml_round_trips_a_delete_character(tmp_path: Path) -> None:
    cams = make_ring_cameras(2)
    path = tmp_path / "calibration.toml"
    write_calibration(path, cams, {"note": "a\x7fb"})
    assert read_calibration_metadata(path) == {"note": "a\x7fb"}


def test_calibration_toml_round_trips_a_key_outside_the_bmp(tmp_path: Path) -> None:
    path = tmp_path / "calibration.toml"
    write_calibration(path, make_ring_cameras(2), {"\U0001f42d": 1})
    assert read_calibration_metadata(path) == {"\U0001f42d": 1}


def test_read_real_sleap_anipose_calibration_and_write_identical_bytes(tmp_path: Path) -> None:
    src = require_shared(SLEAP_ANIPOSE) / "calibration.toml"
    cams = read_calibration(src)
    assert [c.name for c in cams] == ["back", "mid", "side", "top"]
    assert all(c.size == (1280, 1024) for c in cams)
    np.testing.assert_allclose(cams[0].matrix[0, 0], 769.8864926727645)
    np.testing.assert_allclose(cams[0].dist, [-0.2853406116327607, 0, 0, 0, 0])
    np.testing.assert_allclose(
        cams[1].tvec, [-117.01279148208383, -335.68277970969496, 87.84524145188074]
    )
    out = tmp_path / "calibration.toml"
    write_calibration(out, cams, read_calibration_metadata(src))
    assert out.read_bytes() == src.read_bytes()


def test_read_calibration_errors(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="not found"):
        read_calibration(tmp_path / "nope.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("[cam_0\n")
    with pytest.raises(InputError, match="not valid TOML"):
        read_calibration(bad)
    bad.write_text("[metadata]\n")
    with pytest.raises(InputError, match=r"no \[cam_N\] tables"):
        read_calibration(bad)
    good = tmp_path / "good.toml"
    write_calibration(good, make_ring_cameras(3))
    text = good.read_text()
    bad.write_text(text.replace("rotation = ", "rot = ", 2))
    with pytest.raises(InputError, match=r"\[cam_0\] lacks key\(s\) \['rotation'\]"):
        read_calibration(bad)
    lines = text.splitlines()
    i = next(n for n, line in enumerate(lines) if line.startswith("translation") and n > 10)
    lines[i] = "translation = [ 1.0, 2.0,]"
    bad.write_text("\n".join(lines))
    with pytest.raises(InputError, match=r"\[cam_1\] 'translation' must have shape \(3,\)"):
        read_calibration(bad)
    bad.write_text(text.replace("size = [ 320, 240,]", "size = [ 320,]", 1))
    with pytest.raises(InputError, match=r"\[cam_0\] 'size'"):
        read_calibration(bad)
    bad.write_text(text.replace('name = "ring_0"', 'name = "ring_0"\nfisheye = true'))
    with pytest.raises(InputError, match="fisheye"):
        read_calibration(bad)
    with pytest.raises(InputError, match="only flat metadata"):
        write_calibration(bad, make_ring_cameras(2), {"board": {"x": 1}})


# --------------------------------------------------------------------------- checks


def _by_name(cams: list[Camera]) -> dict[str, bool]:
    return {r.name: r.passed for r in check_calibration(cams)}


def test_check_calibration_passes_a_good_rig() -> None:
    results = check_calibration(make_ring_cameras(6, seed=0))
    assert all(r.passed for r in results), [r.message for r in results if not r.passed]
    assert {r.name for r in results} == {
        "calibration.n_views",
        "calibration.finite",
        "calibration.focal_length",
        "calibration.principal_point",
        "calibration.distinct_parameters",
        "calibration.distinct_centres",
    }


def test_check_calibration_flags_the_copied_camera_of_sleap_anipose() -> None:
    cams = read_calibration(require_shared(SLEAP_ANIPOSE) / "calibration.toml")
    results = {r.name: r for r in check_calibration(cams)}
    dup = results["calibration.distinct_parameters"]
    assert not dup.passed
    assert dup.value == 1.0
    assert "'side' (#2) and 'top' (#3)" in dup.message
    assert not results["calibration.distinct_centres"].passed
    assert results["calibration.focal_length"].passed
    assert results["calibration.principal_point"].passed


def test_check_calibration_flags_implausible_intrinsics() -> None:
    cams = make_ring_cameras(3, seed=1)
    tiny = Camera.from_rotation(
        "tiny", np.diag([10.0, 10.0, 1.0]), cams[0].dist, cams[0].R, cams[0].tvec, cams[0].size
    )
    off = Camera(
        "off",
        np.array([[280.0, 0.0, 900.0], [0.0, 280.0, 120.0], [0.0, 0.0, 1.0]]),
        cams[1].dist,
        cams[1].rvec,
        cams[1].tvec,
        cams[1].size,
    )
    flags = _by_name([tiny, off, cams[2]])
    assert not flags["calibration.focal_length"]
    assert not flags["calibration.principal_point"]
    # different intrinsics, same pose as ring_0: distinct parameters but coincident centres
    flags = _by_name([cams[0], tiny])
    assert flags["calibration.distinct_parameters"]
    assert not flags["calibration.distinct_centres"]
    assert not _by_name(cams[:1])["calibration.n_views"]


# --------------------------------------------------------------------------- DANNCE


@pytest.mark.parametrize("session", ["markerless_mouse_1", "markerless_mouse_2"])
def test_dannce_calibration_reprojects_the_shipped_2d_labels(session: str) -> None:
    path = require_shared(DANNCE) / session / "label3d_dannce.mat"
    cams = read_dannce_calibration(path)
    assert [c.name for c in cams] == [f"Camera{i}" for i in range(1, 7)]
    p3, p2 = dannce_labels(path)
    proj = project_points(cams, p3).transpose(0, 2, 1, 3)  # (frames, views, keypoints, 2)
    assert np.array_equal(np.isnan(proj), np.isnan(p2))
    err = np.linalg.norm(proj - p2, axis=-1)
    assert np.nanmax(err) < 1e-6
    assert np.all(np.isfinite(p2[np.isfinite(p2)]))
    # every labelled point falls inside the assumed 1152x1024 image
    assert np.nanmax(p2[..., 0]) < 1152 and np.nanmax(p2[..., 1]) < 1024
    assert all(r.passed for r in check_calibration(cams))


def test_dannce_convention_is_transposed_matlab() -> None:
    from scipy.io import loadmat

    path = require_shared(DANNCE) / "markerless_mouse_1" / "label3d_dannce.mat"
    cams = read_dannce_calibration(path)
    raw = np.asarray(loadmat(str(path))["params"].ravel()[0]).ravel()[0]
    np.testing.assert_allclose(cams[0].matrix, raw["K"].T)
    np.testing.assert_allclose(cams[0].R, raw["r"].T, atol=1e-12)
    np.testing.assert_allclose(cams[0].tvec, raw["t"].ravel())
    # the row-vector formula [X 1] [r; t] K gives the undistorted pixel
    x = np.array([10.0, -20.0, 30.0])
    h = np.r_[x, 1.0] @ np.vstack([raw["r"], raw["t"]]) @ raw["K"]
    undistorted = Camera.from_rotation(
        "c", cams[0].matrix, np.zeros(5), cams[0].R, cams[0].tvec, cams[0].size
    )
    np.testing.assert_allclose(project_points([undistorted], x)[0], h[:2] / h[2], atol=1e-9)


def test_read_dannce_calibration_errors(tmp_path: Path) -> None:
    from scipy.io import savemat

    with pytest.raises(InputError, match="not found"):
        read_dannce_calibration(tmp_path / "missing.mat")
    no_params = tmp_path / "no_params.mat"
    savemat(str(no_params), {"camnames": np.array(["Camera1"], dtype=object)})
    with pytest.raises(InputError, match="no 'params'"):
        read_dannce_calibration(no_params)
    partial = tmp_path / "partial.mat"
    cell = np.empty((1, 1), dtype=object)
    cell[0, 0] = {"K": np.eye(3), "r": np.eye(3), "t": np.zeros((1, 3)), "RDistort": np.zeros(3)}
    savemat(str(partial), {"params": cell})
    with pytest.raises(InputError, match=r"params\[0\] \(Camera1\) lacks field 'TDistort'"):
        read_dannce_calibration(partial)
    garbage = tmp_path / "garbage.mat"
    garbage.write_bytes(b"not a mat file at all" * 10)
    with pytest.raises(InputError, match="MATLAB"):
        read_dannce_calibration(garbage)
