"""Property-based tests (hypothesis) of the geometry and ethogram tools.

Not repeated from ``tests/tools``: triangulation is invariant to the order of the cameras
for *any* permutation and equivariant to *any* rigid motion of the world; ``merge_epochs``
tiles the timeline for arbitrary pieces; the ethogram CSV, BORIS and DLC CSV writers round
trip arbitrary text and values.
"""

from __future__ import annotations

import itertools
import tempfile
from pathlib import Path

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy.spatial.transform import Rotation

from ethoagent.io.keypoints import read_dlc_csv, write_dlc_csv
from ethoagent.io.labels import boris_to_framewise, read_boris_events
from ethoagent.model.camera import Camera
from ethoagent.model.ethogram import Epoch
from ethoagent.model.pose import PoseData
from ethoagent.tools.cameras import make_ring_cameras
from ethoagent.tools.ethogram import (
    check_tiling,
    labels_from_epochs,
    read_ethogram_csv,
    write_boris_csv,
    write_ethogram_csv,
)
from ethoagent.tools.merge import merge_epochs
from ethoagent.tools.triangulate import project_points, triangulate_dlt

CAMS = make_ring_cameras(4, seed=3)
SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _points(seed: int, n: int = 5) -> np.ndarray:
    return np.random.default_rng(seed).uniform(-40, 40, size=(1, n, 3))


def _observe(cams: list[Camera], points: np.ndarray) -> np.ndarray:
    return project_points(cams, points[0]).transpose(1, 0, 2)[None]  # (1, V, K, 2)


@SETTINGS
@given(st.permutations(range(4)), st.integers(0, 10_000))
def test_triangulation_is_invariant_to_camera_order(order: list[int], seed: int) -> None:
    points = _points(seed)
    obs = _observe(CAMS, points)
    base = triangulate_dlt(CAMS, obs)
    shuffled = triangulate_dlt([CAMS[i] for i in order], obs[:, order])
    np.testing.assert_allclose(shuffled, base, atol=1e-6)
    np.testing.assert_allclose(base, points, atol=1e-4)


@SETTINGS
@given(
    st.lists(st.floats(-np.pi, np.pi), min_size=3, max_size=3),
    st.lists(st.floats(-500, 500), min_size=3, max_size=3),
    st.integers(0, 10_000),
)
def test_triangulation_follows_a_rigid_motion_of_the_world(
    rotvec: list[float], shift: list[float], seed: int
) -> None:
    """Move the world by (R, t) and the cameras with it: the same pixels triangulate to
    the moved points."""
    rot = Rotation.from_rotvec(rotvec).as_matrix()
    t = np.array(shift)
    moved = [
        Camera.from_rotation(
            c.name, c.matrix, c.dist, c.R @ rot.T, c.tvec - c.R @ rot.T @ t, c.size
        )
        for c in CAMS
    ]
    points = _points(seed)
    obs = _observe(CAMS, points)
    np.testing.assert_allclose(
        triangulate_dlt(moved, obs), points @ rot.T + t, atol=1e-4 * (1 + np.abs(t).max())
    )


labels = st.sampled_from(["still", "walking", "grooming", "rearing", "turning", "darting"])


@SETTINGS
@given(
    st.lists(st.tuples(st.integers(1, 40), labels), min_size=1, max_size=30),
    st.integers(1, 30),
)
def test_merged_epochs_always_tile_the_timeline(
    pieces: list[tuple[int, str]], min_frames: int
) -> None:
    epochs, start = [], 0
    for length, label in pieces:
        epochs.append(Epoch(start=start, stop=start + length, label=label))
        start += length
    merged = merge_epochs(epochs, min_frames)
    assert all(c.passed for c in check_tiling(merged, start)), merged
    assert all(a.label != b.label for a, b in itertools.pairwise(merged))
    if start >= min_frames:
        assert all(e.stop - e.start >= min_frames for e in merged)


text = st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc")), min_size=0, max_size=30)


@SETTINGS
@given(
    st.lists(
        st.tuples(st.integers(1, 30), labels, text, st.floats(0, 1), st.none() | st.integers(0, 9)),
        min_size=1,
        max_size=12,
    ),
    st.sampled_from([25.0, 29.97, 30.0, 100.0]),
)
def test_ethogram_csv_and_boris_round_trip(
    rows: list[tuple[int, str, str, float, int | None]], fps: float
) -> None:
    epochs, start = [], 0
    for length, label, description, confidence, cluster in rows:
        epochs.append(
            Epoch(
                start=start,
                stop=start + length,
                label=label,
                description=description,
                confidence=round(confidence, 4),
                cluster=cluster,
            )
        )
        start += length
    with tempfile.TemporaryDirectory() as tmp:
        path = write_ethogram_csv(Path(tmp) / "e.csv", epochs, fps=fps, animal="mouse, 'a'")
        assert read_ethogram_csv(path) == {"mouse, 'a'": epochs}
        boris = write_boris_csv(Path(tmp) / "b.csv", epochs, fps=fps, subject="m1", frames=start)
        events = read_boris_events(boris)
    names = sorted({e.label for e in epochs})
    codes = labels_from_epochs(epochs, start, names)
    for code, name in enumerate(names):
        got = boris_to_framewise(events, fps=fps, frames=start, behaviour=name, subject="m1")
        np.testing.assert_array_equal(got, (codes == code).astype(np.int64))


@SETTINGS
@given(
    st.integers(1, 6),
    st.integers(1, 2),
    st.integers(0, 10_000),
    st.floats(0.0, 0.5),
)
def test_dlc_csv_round_trips_values_and_gaps(
    frames: int, individuals: int, seed: int, missing: float
) -> None:
    rng = np.random.default_rng(seed)
    points = rng.uniform(-1e4, 1e4, size=(frames, individuals, 3, 2))
    points[rng.random(points.shape[:3]) < missing] = np.nan
    conf = np.where(np.isnan(points[..., 0]), np.nan, rng.random(points.shape[:3]))
    data = PoseData(
        points=points,
        confidence=conf,
        keypoints=("nose", "ear left", "tail_base"),
        individuals=tuple(f"mouse_{i}" for i in range(individuals)),
        fps=None,
        unit="px",
    )
    with tempfile.TemporaryDirectory() as tmp:
        back = read_dlc_csv(write_dlc_csv(Path(tmp) / "k.csv", data))
    np.testing.assert_array_equal(np.isnan(back.points), np.isnan(points))
    # the writer keeps 6 decimals (a micro-pixel), like DeepLabCut's own CSVs
    np.testing.assert_allclose(back.points, points, rtol=0, atol=1e-6, equal_nan=True)
    assert back.keypoints == data.keypoints
    if individuals > 1:
        assert back.individuals == data.individuals
