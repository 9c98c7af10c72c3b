"""A blob's area against its surrounding seconds: a brief shrinking is a rear."""

from __future__ import annotations

import numpy as np

from ethoagent.tools.blob_features import (
    AREA_CONTEXT_S,
    CAPTION_ONLY,
    REAR_AREA,
    VIDEO_FEATURES,
    caption_from_blob_kinematics,
    clustered_video_features,
    video_features,
)
from ethoagent.tools.captions import SnippetKinematics, summarize_snippet
from ethoagent.tools.video_features import BlobTracks

FPS = 30.0


def _tracks(area: np.ndarray) -> BlobTracks:
    """One still blob, 40 px long, of the given ``(frames,)`` area, px²."""
    frames = area.size
    return BlobTracks(
        centre=np.tile([160.0, 120.0], (frames, 1, 1)),
        area=area[:, None].astype(np.float64),
        major=np.full((frames, 1), 40.0),
        minor=np.full((frames, 1), 16.0),
        angle=np.zeros((frames, 1)),
        motion=np.zeros((frames, 1)),
        merged=np.zeros((frames, 1), dtype=np.bool_),
        uncertain=np.zeros((frames, 1), dtype=np.bool_),
        held=np.zeros((frames, 1), dtype=np.bool_),
        frame_motion=np.zeros(frames),
        threshold=20.0,
        scale=1.0,
    )


def test_a_brief_shrinking_is_small_against_its_seconds_and_a_held_one_is_not() -> None:
    area = np.full(900, 400.0)  # 30 s
    area[150:180] = 280.0  # a 1 s rear: 0.7 of the seconds around it
    area[450:810] = 300.0  # 12 s curled up: its own context
    feats = video_features(_tracks(area), FPS)
    local = feats.column("area_local")[:, 0]
    assert np.allclose(local[150:180], 0.7)
    middle = slice(450 + round(AREA_CONTEXT_S * FPS / 2), 810 - round(AREA_CONTEXT_S * FPS / 2))
    assert np.allclose(local[middle], 1.0)
    assert summarize_snippet(feats, 0, 150, 180).area_ratio == 0.7
    # the session-wide area cannot tell them apart: both are below its median
    assert feats.column("area")[160, 0] < 1 and feats.column("area")[600, 0] < 1


def test_the_clusterings_leave_the_captioners_columns_out() -> None:
    feats = video_features(_tracks(np.full(60, 400.0)), FPS)
    clustered = clustered_video_features(feats)
    assert "area_local" in feats.names and "area_local_std" in feats.names
    kept = [n for n in feats.names if n.removesuffix("_mean").removesuffix("_std") != "area_local"]
    assert clustered.names == tuple(kept)
    assert clustered.values.shape == (60, 1, 3 * (len(VIDEO_FEATURES) - len(CAPTION_ONLY)))
    assert np.array_equal(
        clustered.values, feats.values[:, :, [feats.names.index(n) for n in kept]]
    )


def _kin(speed: float, turn: float, elongation: float, area: float | None) -> SnippetKinematics:
    return SnippetKinematics(
        seconds=1.0, frames=30, tracked=1.0, dims=2, speed=speed, speed_p90=speed * 1.5,
        abs_turn_rate=turn, turn_rate=turn, elongation=elongation, area_ratio=area,
    )  # fmt: skip


def test_a_shortened_blob_rears_only_when_its_area_shrinks_for_a_moment() -> None:
    shrunk, usual = REAR_AREA - 0.1, 1.0
    rear = caption_from_blob_kinematics(_kin(0.05, 0.1, 0.7, shrunk))
    assert rear.caption.label == "rearing" and not rear.confident
    # curled up for longer: the rest rules read it (a quiet axis still, a swinging one not)
    held = caption_from_blob_kinematics(_kin(0.05, 0.1, 0.7, usual))
    assert held.caption.label == "still" and "held posture" in held.reason
    assert held.caption.posture.startswith("compact")
    assert caption_from_blob_kinematics(_kin(0.05, 1.2, 0.7, usual)).caption.label == "grooming"
    assert caption_from_blob_kinematics(_kin(0.4, 0.3, 0.7, usual)).caption.label == (
        "moving_in_place"
    )
    # without the area (older features) the elongation rule stands
    assert caption_from_blob_kinematics(_kin(0.05, 0.1, 0.7, None)).caption.label == "rearing"


def test_a_blob_whose_area_shrinks_at_rest_or_in_place_rears_and_a_walk_walks() -> None:
    shrunk = REAR_AREA - 0.1
    for speed, turn in ((0.05, 0.1), (0.05, 1.2), (0.4, 0.3)):
        k = _kin(speed, turn, 1.0, shrunk)
        out = caption_from_blob_kinematics(k)
        assert out.caption.label == "rearing", (speed, turn)
        assert f"{shrunk:.2f}" in out.reason
        assert (
            caption_from_blob_kinematics(k.model_copy(update={"area_ratio": 1.0})).caption.label
            != "rearing"
        )
    assert caption_from_blob_kinematics(_kin(1.5, 0.3, 1.0, shrunk)).caption.label == "walking"
    assert caption_from_blob_kinematics(_kin(0.4, 2.0, 1.0, shrunk)).caption.label == "turning"
