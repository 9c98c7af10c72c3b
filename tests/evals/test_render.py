"""Tests of the renderer: ray-cast visibility, ellipse outlines, images (ethoagent.sim.render)."""

from __future__ import annotations

import numpy as np

from ethoagent.model.camera import Camera
from ethoagent.sim import render as rd
from ethoagent.sim import synthetic as syn
from ethoagent.tools.cameras import make_ring_cameras, project_points


def _down_camera(size: tuple[int, int] = (200, 200), f: float = 200.0) -> Camera:
    """A distortion-free camera 500 mm above the origin looking straight down."""
    k = np.array([[f, 0.0, (size[0] - 1) / 2], [0.0, f, (size[1] - 1) / 2], [0.0, 0.0, 1.0]])
    rot = np.diag([1.0, -1.0, -1.0])  # camera z points down (world -z)
    centre = np.array([0.0, 0.0, 500.0])
    return Camera.from_rotation("down", k, np.zeros(5), rot, -rot @ centre, size)


def _sphere(radius: float, centre: tuple[float, float, float]) -> rd.Occluders:
    return rd.Occluders(
        centres=np.array([[centre]], dtype=np.float64),
        rotations=np.eye(3)[None, None],
        semi_axes=np.full((1, 1, 3), radius),
        shade=np.array([80]),
    )


def test_mark_behind_body_is_hidden_and_on_top_is_visible() -> None:
    cam = _down_camera()
    occ = _sphere(20.0, (0.0, 0.0, 20.0))
    pts = np.array(
        [
            [
                [
                    [0.0, 0.0, 40.0],  # on top of the sphere, facing the camera
                    [0.0, 0.0, 0.0],  # under the sphere (on the floor)
                    [0.0, 0.0, 20.0],  # inside the sphere
                    [60.0, 0.0, 0.0],  # beside it
                    [0.0, 400.0, 0.0],  # outside the image
                ]
            ]
        ]
    )
    vis = rd.compute_visibility([cam], pts, occ)
    assert vis.shape == (1, 1, 1, 5)
    assert vis[0, 0, 0].tolist() == [True, False, False, True, False]


def test_sphere_outline_matches_perspective_radius() -> None:
    cam = _down_camera()
    r, d = 20.0, 480.0  # sphere centre 480 mm from the camera
    occ = _sphere(r, (0.0, 0.0, 500.0 - d))
    centre, axes, _, depth = rd._ellipse_params(cam, occ)
    # the silhouette of a sphere on the optical axis is a circle of radius f r / sqrt(d² - r²)
    expect = 200.0 * r / np.sqrt(d**2 - r**2)
    np.testing.assert_allclose(axes[0, 0], [expect, expect], rtol=1e-9)
    np.testing.assert_allclose(centre[0, 0], [99.5, 99.5], atol=1e-9)
    assert depth[0, 0] == d


def test_rendered_marks_are_bright_only_where_visible() -> None:
    world = syn.simulate_world(20, seed=0)
    cams = make_ring_cameras(3, seed=0)
    occ = rd.make_occluders(world)
    vis = rd.compute_visibility(cams, world.points_3d, occ)
    uv = np.moveaxis(project_points(cams, world.points_3d), 3, 1)
    settings = rd.RenderSettings(
        noise_std=0.0, motion_blur=0.0, distractors=0, lighting_amplitude=0.0, lighting_jumps=0.0
    )
    images: list[np.ndarray] = []
    out = rd.render_view(
        world,
        cams[0],
        points_2d=uv[:, 0],
        visible=vis[:, 0],
        occluders=occ,
        settings=settings,
        sink=images.append,
    )
    assert len(images) == 20 and images[0].shape == (240, 320, 3)
    assert not out.dropped.any()
    img = images[10][..., 0]
    for k in np.flatnonzero(vis[10, 0, 0]):
        x, y = np.round(uv[10, 0, 0, k]).astype(int)
        assert img[y - 1 : y + 2, x - 1 : x + 2].max() > 200
    assert img.max() <= 255 and np.median(img) < 120


def test_dropped_frames_repeat_previous_image() -> None:
    world = syn.simulate_world(60, seed=1)
    cams = make_ring_cameras(2, seed=0)
    occ = rd.make_occluders(world)
    vis = rd.compute_visibility(cams, world.points_3d, occ)
    uv = np.moveaxis(project_points(cams, world.points_3d), 3, 1)
    images: list[np.ndarray] = []
    out = rd.render_view(
        world,
        cams[1],
        points_2d=uv[:, 1],
        visible=vis[:, 1],
        occluders=occ,
        settings=rd.RenderSettings(dropped_frame_rate=0.3),
        sink=images.append,
        seed=3,
    )
    drops = np.flatnonzero(out.dropped)
    assert drops.size > 0 and not out.dropped[0]
    for f in drops:
        np.testing.assert_array_equal(images[f], images[f - 1])
