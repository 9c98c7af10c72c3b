"""Contact sheets: grids, video crops around the animal, stick figures from keypoints."""

from __future__ import annotations

import numpy as np
import pytest

from ethoagent.errors import InputError
from ethoagent.tools.sheets import skeleton_edges, skeleton_tiles, tile_images, video_tiles


def test_tile_images_makes_an_rgb_grid() -> None:
    blue = np.zeros((20, 30, 3), dtype=np.uint8)
    blue[..., 0] = 200  # BGR blue
    sheet = tile_images([blue] * 5, [str(i) for i in range(5)], columns=4)
    assert sheet.shape == (40, 120, 3)
    assert sheet[10, 25, 2] == 200 and sheet[10, 25, 0] == 0  # RGB now
    assert (sheet[30, 100] == 0).all()  # empty cell
    with pytest.raises(InputError, match="one caption per tile"):
        tile_images([blue], [])


def test_skeleton_edges_of_a_chain() -> None:
    chain = np.array([[0.0, 0.0], [1.0, 0.0], [2.0, 0.1], [3.0, 0.0]])
    points = np.broadcast_to(chain, (5, 1, 4, 2))
    assert skeleton_edges(points) == [(0, 1), (1, 2), (2, 3)]


def test_video_tiles_crop_around_the_focal_animal() -> None:
    frame = np.zeros((240, 320, 3), dtype=np.uint8)
    frame[100:110, 200:210] = 255
    focal = np.array([[[200.0, 100.0], [209.0, 109.0]]])
    [tile] = video_tiles([frame], focal, tile_size=(64, 48))
    assert tile.shape == (48, 64, 3)
    assert tile[20:28, 28:36].mean() > 100  # the bright patch fills the crop's centre
    [whole] = video_tiles([frame], None, tile_size=(64, 48))
    assert whole.mean() < tile.mean()


def test_skeleton_tiles_draw_every_frame() -> None:
    rng = np.random.default_rng(0)
    points = rng.normal(size=(3, 2, 4, 3)) * 10
    tiles = skeleton_tiles(points, 1, [(0, 1), (1, 2)], path=points[:, 1, 0, :2], head=[0])
    assert len(tiles) == 3 and all(t.shape == (144, 192, 3) for t in tiles)
    assert all(t.max() > 24 for t in tiles)
    with pytest.raises(InputError, match="focal"):
        skeleton_tiles(points, 5, [])
