"""Tests of the LookAgain gate's frame encoders, embedding cache and animal crops."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ethoagent.errors import InputError
from ethoagent.tools.vision import (
    ClassicalEncoder,
    EmbeddingCache,
    FrameKey,
    VisionEncoder,
    animal_crop,
    array_source_id,
    encode_frames,
    video_source_id,
)


def _square_frames(n: int, step_px: int, size: int = 96) -> np.ndarray:
    """A white 24 px square on grey, moving ``step_px`` right per frame (RGB uint8)."""
    frames = np.full((n, size, size, 3), 60, np.uint8)
    for i in range(n):
        x = 10 + i * step_px
        frames[i, 36:60, x : x + 24] = (250, 240, 230)
    return frames


def _keys(n: int, source: str = "array:test") -> list[FrameKey]:
    return [FrameKey(source, i) for i in range(n)]


# ------------------------------------------------------------------------ classical


def test_classical_shapes_dtype_and_determinism() -> None:
    enc = ClassicalEncoder()
    frames = _square_frames(4, 3)
    a = enc.encode(frames)
    b = enc.encode(frames)
    assert isinstance(enc, VisionEncoder)
    assert a.shape == (4, enc.dim) and a.dtype == np.float32
    np.testing.assert_array_equal(a, b)
    assert enc.frames_encoded == 8


def test_classical_tells_moving_from_still() -> None:
    enc = ClassicalEncoder()
    still = enc.encode(_square_frames(5, 0))
    moving = enc.encode(_square_frames(5, 4))
    motion = slice(enc.dim - 17, enc.dim)
    # a still sequence has no flow (every pixel in the slowest bin) and no difference
    assert np.abs(still[:, motion.start : motion.start + 8]).max() < 1e-6
    np.testing.assert_allclose(still[:, motion.start + 8], 1.0)
    assert np.abs(still[:, -1]).max() < 1e-6
    # every moving frame after the first has flow, mostly pointing right (angle bin 0 or 7)
    flow_by_angle = moving[1:, motion.start : motion.start + 8]
    assert (moving[1:, -1] > 0).all()
    assert (flow_by_angle[:, [0, 7]].sum(axis=1) > flow_by_angle[:, 1:7].sum(axis=1)).all()


def test_encode_rejects_bad_frames() -> None:
    enc = ClassicalEncoder()
    with pytest.raises(InputError, match=r"\(n_frames, height, width, 3\)"):
        enc.encode(np.zeros((4, 32, 32), np.uint8))
    with pytest.raises(InputError, match="uint8"):
        enc.encode(np.zeros((1, 32, 32, 3), np.float32))
    empty = enc.encode(np.zeros((0, 32, 32, 3), np.uint8))
    assert empty.shape == (0, enc.dim) and enc.frames_encoded == 0


# ----------------------------------------------------------------------------- cache


def test_cache_hits_avoid_reencoding(tmp_path: Path) -> None:
    enc = ClassicalEncoder()
    frames = _square_frames(6, 3)
    keys = _keys(6, array_source_id(frames))
    cache = EmbeddingCache(tmp_path / "emb")

    first = encode_frames(enc, frames[:4], keys[:4], cache)
    assert (first.hits, first.misses, first.frames_encoded) == (0, 4, 4)

    # a new cache object reads the shards back from disk
    second = encode_frames(enc, frames, keys, EmbeddingCache(tmp_path / "emb"))
    assert (second.hits, second.misses, second.frames_encoded) == (4, 2, 6)
    np.testing.assert_array_equal(second.embeddings[:4], first.embeddings)
    # the frames encoded late got their true previous frame as context
    np.testing.assert_allclose(second.embeddings, enc.encode(frames), atol=1e-6)

    third = encode_frames(enc, frames, keys, cache)
    assert (third.hits, third.misses) == (6, 0)
    assert enc.frames_encoded == 12  # 6 in encode_frames, 6 in the direct encode
    assert not list((tmp_path / "emb").rglob("*.tmp"))


def test_cache_keys_on_encoder_box_and_source(tmp_path: Path) -> None:
    enc = ClassicalEncoder()
    frames = _square_frames(2, 0)
    cache = EmbeddingCache(tmp_path)
    encode_frames(enc, frames, _keys(2), cache)
    boxed = [FrameKey("array:test", i, (0, 0, 96, 96)) for i in range(2)]
    assert encode_frames(enc, frames, boxed, cache).misses == 2
    assert encode_frames(enc, frames, _keys(2, "array:other"), cache).misses == 2
    assert encode_frames(ClassicalEncoder(size=32), frames, _keys(2), cache).misses == 2
    with pytest.raises(InputError, match="2 frames but 1 keys"):
        encode_frames(enc, frames, _keys(1), cache)


def test_video_source_id_changes_with_content(tmp_path: Path) -> None:
    video = tmp_path / "a.mp4"
    video.write_bytes(b"1234")
    before = video_source_id(video)
    video.write_bytes(b"123456")
    assert video_source_id(video) != before
    assert array_source_id(np.zeros(3)) != array_source_id(np.ones(3))


# ------------------------------------------------------------------------------ crop


def test_animal_crop_is_square_and_centred() -> None:
    frame = np.zeros((100, 200, 3), np.uint8)
    kps = np.array([[50.0, 40.0], [70.0, 50.0], [np.nan, np.nan]])
    crop, box = animal_crop(frame, kps, margin=0.25)
    x0, y0, x1, y1 = box
    assert x1 - x0 == y1 - y0 == crop.shape[0] == crop.shape[1]
    assert x1 - x0 >= 20 * 1.5
    assert abs((x0 + x1 - 1) / 2 - 60) <= 0.5 and abs((y0 + y1 - 1) / 2 - 45) <= 0.5
    near_edge, edge_box = animal_crop(frame, [[2.0, 3.0]], out_size=32)
    assert near_edge.shape == (32, 32, 3) and edge_box[0] < 0
    with pytest.raises(InputError, match="finite keypoint"):
        animal_crop(frame, [[np.nan, np.nan]])
