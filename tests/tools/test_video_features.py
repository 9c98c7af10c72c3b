"""Blob tracking and video features from analytic scenes: ellipses drawn on a flat arena."""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from pathlib import Path

import cv2
import numpy as np
import pytest
from numpy.typing import ArrayLike, NDArray

from ethoagent.errors import InputError
from ethoagent.tools.blob_features import JITTER_FACTOR, VIDEO_FEATURES, speed_noise, video_features
from ethoagent.tools.captions import summarize_snippet
from ethoagent.tools.video_embeddings import embed_crops
from ethoagent.tools.video_features import (
    CORE_DEPTH,
    BlobSettings,
    BlobTracks,
    cached_tracks,
    check_moving_animal,
    track_blobs,
)

W, H = 320, 240


class Frames:
    """A list of frames with the ``FrameSource`` protocol, counting in-order reads."""

    def __init__(self, frames: Sequence[NDArray[np.uint8]]) -> None:
        self.frames = list(frames)
        self.iterated = 0

    def __len__(self) -> int:
        return len(self.frames)

    def __getitem__(self, index: int) -> NDArray[np.uint8]:
        return self.frames[index]

    def __iter__(self) -> Iterator[NDArray[np.uint8]]:
        self.iterated += 1
        yield from self.frames


def scene(
    centres: NDArray[np.float64], axes: tuple[int, int] = (20, 8), angle: float = 0.0
) -> Frames:
    """Dark ellipses (one per animal) on a light floor; ``centres`` (frames, animals, 2) px."""
    out = []
    for row in centres:
        img = np.full((H, W), 200, np.uint8)
        for x, y in row:
            cv2.ellipse(img, (round(x), round(y)), axes, angle, 0, 360, 40, -1)
        out.append(np.asarray(cv2.cvtColor(img, cv2.COLOR_GRAY2BGR), dtype=np.uint8))
    return Frames(out)


def test_uniform_motion_gives_the_centre_and_a_constant_speed() -> None:
    frames = 60
    x = 60.0 + 3.0 * np.arange(frames)  # whole pixels: the drawing rounds positions
    centres = np.stack([x, np.full(frames, 120.0)], axis=1)[:, None]
    tracks = track_blobs(scene(centres), BlobSettings())
    assert np.allclose(tracks.centre[:, 0], centres[:, 0], atol=0.6)
    assert not tracks.merged.any() and not tracks.uncertain.any()
    # the axes are measured on the body core: the ellipse (half-axes a=20, b=8) shrunk by
    # CORE_DEPTH x b; a filled ellipse has std a'/2 along it, so 4 std = 2a'
    a_core, b_core = 20 - CORE_DEPTH * 8, 8 - CORE_DEPTH * 8
    assert tracks.major[:, 0] == pytest.approx(2 * a_core, rel=0.08)
    angle = float(np.nanmedian(tracks.angle[:, 0]))
    assert min(angle, math.pi - angle) == pytest.approx(0.0, abs=0.05)
    feats = video_features(tracks, fps=30.0, window_s=0.2)
    assert feats.values.shape == (frames, 1, 3 * len(VIDEO_FEATURES))
    step = (x[1] - x[0]) * 30.0  # px/s
    speed = feats.column("speed")[4:-4, 0] * feats.body_length[0]  # full windows
    assert np.allclose(speed, step, rtol=1e-6)
    assert np.allclose(feats.column("elongation")[:, 0], 1.0, atol=0.05)
    # the core's level set is rounder than a shrunk ellipse: between the outline's ratio
    # and the shrunk ellipse's
    aspect = feats.column("aspect")[:, 0]
    assert np.all((aspect > 0.95 * 20 / 8) & (aspect < 1.05 * a_core / b_core))
    assert feats.valid.all()


def test_a_still_animal_has_no_speed_and_no_motion() -> None:
    centres = np.concatenate(
        [np.full((40, 1, 2), [80.0, 120.0]), np.full((40, 1, 2), [240.0, 120.0])]
    )
    tracks = track_blobs(scene(centres), BlobSettings())
    # half the samples show it at each place, so the background holds it at both: the
    # floor it left is a ghost there, and the track follows the animal, not the ghost
    assert np.allclose(tracks.centre[:, 0], centres[:, 0], atol=0.6)
    feats = video_features(tracks, fps=30.0, window_s=0.2)
    still = np.r_[2:37, 44:78]  # the 6-frame windows away from the jump
    assert np.allclose(feats.column("speed")[still, 0], 0.0, atol=1e-9)
    assert np.allclose(feats.column("motion")[still, 0], 0.0)
    assert feats.column("motion")[40, 0] > 0.5  # the jump: the whole blob changed


def test_the_speed_noise_floor_is_the_quiet_frames_speed_capped_by_their_jitter() -> None:
    rng = np.random.default_rng(0)
    frames = 200
    motion = np.where(np.arange(frames) < 100, 0.02, 0.3)[:, None]  # quiet first half
    speed = np.where(np.arange(frames) < 100, 0.4, 1.5)[:, None] + 0.0
    jitter = np.abs(rng.normal(0.3, 0.01, (frames, 1)))
    assert speed_noise(speed, motion, jitter, 30.0) == pytest.approx([0.4])
    # little jitter caps the floor at JITTER_FACTOR x its median
    assert speed_noise(speed, motion, jitter / 10, 30.0)[0] == pytest.approx(
        JITTER_FACTOR * 0.03, abs=0.003
    )
    # a smooth slow walk (no jitter) is motion, not noise
    assert speed_noise(speed, motion, np.zeros_like(jitter), 30.0) == pytest.approx([0.0])


def test_a_jittery_still_blob_reads_still_only_above_its_noise_floor() -> None:
    rng = np.random.default_rng(1)
    frames = 300
    walking = np.arange(frames) >= 150
    x = 100.0 + np.where(walking, 3.0 * (np.arange(frames) - 150), 0.0)
    centre = np.stack([x, np.full(frames, 120.0)], axis=1) + rng.normal(0, 1.0, (frames, 2))
    ones = np.ones((frames, 1))
    tracks = BlobTracks.from_arrays(
        {
            "centre": centre[:, None],
            "area": 500.0 * ones,
            "major": 40.0 * ones,
            "minor": 15.0 * ones,
            "angle": 0.0 * ones,
            "motion": np.where(walking, 0.3, 0.05)[:, None] + rng.uniform(0, 0.01, (frames, 1)),
            "merged": np.zeros((frames, 1), bool),
            "uncertain": np.zeros((frames, 1), bool),
            "held": np.zeros((frames, 1), bool),
            "frame_motion": np.zeros(frames),
            "threshold": np.array(10.0),
            "scale": np.array(1.0),
        }
    )
    raw = video_features(tracks, fps=30.0, noise_floor=False).column("speed_mean")[:, 0]
    floored = video_features(tracks, fps=30.0)
    speed = floored.column("speed_mean")[:, 0]
    assert np.median(raw[20:130]) > 0.1  # jitter alone exceeds the captioner's "still"
    assert np.median(speed[20:130]) < 0.1 < 1.5 < np.median(speed[170:280])
    assert floored.report["speed_noise_mbl_s"]["blob_0"] > 50
    # the snippet summary carries the floor to the blob captioner (keypoints: none)
    kin = summarize_snippet(floored, 0, 20, 130)
    assert kin.speed_noise == floored.report["speed_noise_mbl_s"]["blob_0"] / 1000


def test_two_animals_keep_their_identity_and_contact_is_flagged_merged() -> None:
    frames = 90
    t = np.arange(frames)
    # animal 0 walks right and back, animal 1 up and back down: they touch in the middle
    # (both move: an animal still for the whole video is part of the background)
    a0 = np.stack([60 + 100 * np.sin(np.pi * t / (frames - 1)), np.full(frames, 120.0)], 1)
    a1 = np.stack([np.full(frames, 175.0), 200 - 80 * np.sin(np.pi * t / (frames - 1))], 1)
    tracks = track_blobs(scene(np.stack([a0, a1], axis=1)), BlobSettings(animals=2))
    apart = np.linalg.norm(a0 - a1, axis=1) > 60
    touching = np.linalg.norm(a0 - a1, axis=1) < 30
    assert touching.any() and tracks.merged[touching].all()
    assert not tracks.merged[apart].any()
    # identities follow the truth in every frame they are apart: track 0 is animal 0
    c = tracks.centre[apart]
    d_own = np.linalg.norm(c - np.stack([a0, a1], 1)[apart], axis=2)
    d_swap = np.linalg.norm(c - np.stack([a1, a0], 1)[apart], axis=2)
    assert np.all(d_own < d_swap) and np.all(d_own < 8.0)
    report = tracks.identity_report()
    assert report["merge_episodes"] == 1 and report["animals"] == 2
    assert "merged" in report["note"]


def test_no_moving_animal_is_one_clear_error() -> None:
    still = scene(np.full((30, 1, 2), [150.0, 100.0]))
    with pytest.raises(InputError, match=r"no moving animal found in empty\.mp4") as err:
        check_moving_animal(still, BlobSettings(), "empty.mp4")
    assert "--video-threshold" in (err.value.fix or "")
    moving = scene(np.stack([np.linspace(40, 280, 30), np.full(30, 120.0)], 1)[:, None])
    check_moving_animal(moving, BlobSettings(), "moving.mp4")


def test_tracks_are_cached_by_video_and_settings(tmp_path: Path) -> None:
    video = tmp_path / "v.mp4"
    video.write_bytes(b"stand-in: the key reads the file's path, size and time")
    frames = scene(np.stack([np.linspace(40, 280, 20), np.full(20, 120.0)], 1)[:, None])
    first, hit = cached_tracks(video, frames, BlobSettings(), tmp_path / "cache")
    again, hit2 = cached_tracks(video, frames, BlobSettings(), tmp_path / "cache")
    assert (hit, hit2) == (False, True) and frames.iterated == 1
    assert np.array_equal(first.centre, again.centre) and first.threshold == again.threshold
    other, hit3 = cached_tracks(video, frames, BlobSettings(threshold=30), tmp_path / "cache")
    assert not hit3 and frames.iterated == 2 and other.threshold == 30


class MeanColour:
    """A stand-in encoder: the crop's mean R, G, B and its side (exactly known)."""

    name, dim, temporal = "mean-colour", 4, False

    def __init__(self) -> None:
        self.frames_encoded = 0
        self.sides: list[int] = []

    def encode(
        self, frames: ArrayLike, *, previous: ArrayLike | None = None
    ) -> NDArray[np.float32]:
        arr = np.asarray(frames)
        self.frames_encoded += len(arr)
        self.sides += [f.shape[0] for f in arr]
        means = arr.reshape(len(arr), -1, 3).mean(axis=1)
        return np.hstack([means, np.full((len(arr), 1), arr.shape[1])]).astype(np.float32)


def test_crop_embeddings_are_sampled_centred_and_held() -> None:
    frames = 30
    centres = np.stack([60.0 + 6 * np.arange(frames), np.full(frames, 120.0)], 1)[:, None]
    source = scene(centres)
    tracks = track_blobs(source, BlobSettings())
    # a floor darker to the right: a crop's mean colour falls as the animal walks right
    ramp = np.linspace(0, 60, W).astype(np.uint8)[None, :, None]
    source = Frames(
        [np.asarray(np.clip(f.astype(int) - ramp, 0, 255), dtype=np.uint8) for f in source]
    )
    encoder = MeanColour()
    emb = embed_crops(source, tracks, encoder, fps=30.0, sample_fps=10.0, components=2)
    assert emb.shape == (frames, 1, 2) and np.isfinite(emb).all()
    assert encoder.frames_encoded == 10  # every 3rd frame at 30 fps
    assert len(set(encoder.sides)) == 1  # 2 x the median blob length, every crop
    first = emb[::3, 0, 0]  # the first component follows the position: monotonic
    assert np.all(np.diff(first) > 0) or np.all(np.diff(first) < 0)
    assert (emb[0:3] == emb[0]).all() and (emb[3:6] == emb[3]).all()  # held between samples


def test_an_animal_still_for_most_of_the_video_is_held_where_it_was_last_seen() -> None:
    walk = np.stack([np.linspace(40, 160, 20), np.full(20, 120.0)], 1)
    stay = np.tile(walk[-1], (70, 1))  # 70 of 90 frames still: part of the background
    tracks = track_blobs(scene(np.concatenate([walk, stay])[:, None]), BlobSettings())
    assert tracks.held[25:, 0].all() and not tracks.held[:19, 0].any()
    assert np.allclose(tracks.centre[25:, 0], tracks.centre[19, 0])
    feats = video_features(tracks, fps=30.0, window_s=0.2)
    assert feats.valid.all()
    assert np.allclose(feats.column("speed")[30:, 0], 0.0) and np.allclose(
        feats.column("motion")[30:, 0], 0.0
    )
    assert tracks.identity_report()["held_frames"][0] == int(tracks.held.sum())


def _crossing(frames: int) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Two animals that walk towards each other along a line, touch, and walk back."""
    t = np.arange(frames)
    reach = np.sin(np.pi * t / (frames - 1))
    a0 = np.stack([70 + 75 * reach, np.full(frames, 115.0)], 1)
    a1 = np.stack([250 - 75 * reach, np.full(frames, 125.0)], 1)
    return a0, a1


def test_animals_in_contact_are_split_and_each_keeps_its_own_centre() -> None:
    a0, a1 = _crossing(90)
    truth = np.stack([a0, a1], axis=1)
    tracks = track_blobs(scene(truth), BlobSettings(animals=2))
    touching = np.linalg.norm(a0 - a1, axis=1) < 36  # the 40 px long ellipses overlap
    assert touching.sum() > 10 and tracks.merged[touching].all()
    # the shared blob is cut between the two: each track near its own animal, not the swap
    d_own = np.linalg.norm(tracks.centre - truth, axis=2)
    d_swap = np.linalg.norm(tracks.centre - truth[:, ::-1], axis=2)
    assert np.all(d_own < d_swap) and np.all(d_own[touching] < 8.0)
    # each part has about one animal's area, not the pair's
    alone = np.median(tracks.area[~touching])
    assert np.all(tracks.area[touching] < 0.75 * 2 * alone)


def test_a_small_flickering_spot_is_not_taken_for_an_animal_in_contact() -> None:
    a0, a1 = _crossing(90)
    frames = scene(np.stack([a0, a1], axis=1))
    spot = (40, 40)  # a specular spot, a tenth of an animal's area, in every third frame
    for i in range(0, 90, 3):
        cv2.circle(frames.frames[i], spot, 4, (40, 40, 40), -1)
    tracks = track_blobs(frames, BlobSettings(animals=2))
    touching = np.linalg.norm(a0 - a1, axis=1) < 36
    assert tracks.merged[touching].all()
    near_spot = np.linalg.norm(tracks.centre - np.asarray(spot, float), axis=2) < 20
    assert not near_spot.any()


def test_a_lighting_jump_is_not_read_as_a_blob_joined_to_the_animal() -> None:
    frames = 60
    x = 60.0 + 3.0 * np.arange(frames)
    centres = np.stack([x, np.full(frames, 120.0)], axis=1)[:, None]
    video = scene(centres)
    for img in video.frames:  # the dark surround of an arena
        img[:30], img[-30:], img[:, :30], img[:, -30:] = 10, 10, 10, 10
    # the lamp brightens the whole image by a quarter from frame 40 on (the arena's
    # difference, 50 grey levels, is far above the foreground threshold; the surround's,
    # 2.5, is not): a third of the samples show a lit arena, not to be taken for animals
    for i in range(40, frames):
        video.frames[i] = np.asarray(cv2.convertScaleAbs(video.frames[i], alpha=1.25))
    tracks = track_blobs(video, BlobSettings())
    assert np.allclose(tracks.centre[:, 0], centres[:, 0], atol=0.6)
    alone = np.median(tracks.area[:40, 0])
    assert np.all(np.abs(tracks.area[40:, 0] / alone - 1.0) < 0.1)
    # the jump is no motion of the whole image either
    assert tracks.frame_motion[40] < 5.0
