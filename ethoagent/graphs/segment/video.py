"""The segment graph's features from video: blob tracks, their features, both sources joined.

``inputs.feature_source`` says what the ``load`` node computes and the later nodes cluster
and caption:

- ``"keypoints"``: pose features only (``tools.features.compute_features``);
- ``"video"``: the blob features of ``tools.video_features`` (no keypoints needed; the
  run's one "keypoint" is each blob's centre, which crops the VLM's frames);
- ``"both"``: pose features only are clustered and captioned, as with ``"keypoints"``;
  the video's blobs are tracked and given to the keypoint individuals by position (the
  keypoints decide identity, so the blob tracker's merges and swaps do not) and reported.
  Blob features beside the pose features in the clustering, whole or as a few principal
  components, moved the snippets' boundaries and lost to keypoints alone on some
  sessions, and the blob outline's jitter did not tell grooming from lying still among
  the still snippets the pose cannot confirm (docs/segment.md), so neither is used.

With ``video_embeddings``, EfficientNet-Lite0 embeddings of animal-centred crops (artifact
``embeddings``) are appended to the blob features. Blob tracks are computed once per video
and settings (``tools.video_features.cached_tracks``
under ``<runs_dir>/video_cache``) and kept in the run's artifact ``blobs``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray
from scipy.optimize import linear_sum_assignment

from ethoagent.io.video import VideoReader
from ethoagent.tools.blob_features import video_features
from ethoagent.tools.features import Features
from ethoagent.tools.video_embeddings import embed_crops
from ethoagent.tools.video_features import (
    BlobSettings,
    BlobTracks,
    cached_tracks,
    track_blobs,
)

if TYPE_CHECKING:
    from ethoagent.graphs.kit.runtime import Runtime
    from ethoagent.graphs.segment.inputs import SegmentInputs
    from ethoagent.graphs.segment.options import SegmentOptions
    from ethoagent.runs import Run

__all__ = [
    "blob_points",
    "embed_video",
    "match_to_keypoints",
    "output_video_features",
    "run_video_features",
    "track_video",
]

EMBED_COMPONENTS = 8
"""Principal components of the crop embeddings kept as features."""
EMBED_SIZE = 128
"""Side the crops are resized to for EfficientNet-Lite0, px (about 3x faster than 224)."""


def track_video(rt: Runtime, inputs: SegmentInputs) -> tuple[BlobTracks, bool]:
    """Blob tracks of the run's video (from the cache where the video was seen before).

    Returns:
        The tracks, one per animal of the run, and whether they came from the cache.
    """
    assert inputs.video is not None  # resolve_segment requires a video for these sources
    video = inputs.video
    cache = rt.settings.runs_dir / "video_cache"
    with VideoReader(video) as reader:
        total = len(reader)
        done = 0

        def progress(frames: int, _total: int) -> None:
            nonlocal done
            rt.report_progress("video features (blobs)", frames - done, total)
            done = frames

        return cached_tracks(reader.path, reader, inputs.blob_settings(), cache, progress=progress)


def embed_video(rt: Runtime, inputs: SegmentInputs, tracks: BlobTracks) -> NDArray[np.float64]:
    """EfficientNet-Lite0 embeddings of the animals' crops (``tools.video_features.embed_crops``).

    Returns:
        ``(frames, animals, EMBED_COMPONENTS)`` float64, NaN where no crop was taken.
    """
    from ethoagent.nn.encoders import EfficientNetLite0Encoder  # torch loads only here

    assert inputs.video is not None
    encoder = EfficientNetLite0Encoder(size=EMBED_SIZE)
    with VideoReader(inputs.video) as reader:
        total = len(reader)
        done = 0

        def progress(frames: int, _total: int) -> None:
            nonlocal done
            rt.report_progress("video embeddings (EfficientNet-Lite0)", frames - done, total)
            done = frames

        return embed_crops(
            reader, tracks, encoder, fps=inputs.fps, components=EMBED_COMPONENTS,
            progress=progress,
        )  # fmt: skip


def match_to_keypoints(tracks: BlobTracks, points: NDArray[np.float64]) -> BlobTracks:
    """Reorder the blob tracks frame by frame so that track ``a`` is keypoint animal ``a``.

    Args:
        tracks: blob tracks of the video, ``animals`` tracks.
        points: ``(frames, animals, keypoints, 2)`` float64, pixels of the same video, NaN =
            missing.

    Returns:
        The tracks, each frame's blobs assigned to the animals by the distance of the blob
        centre to the animal's keypoint centroid (frames without keypoints keep the
        tracker's order).
    """
    with np.errstate(all="ignore"):
        kp = np.nanmean(points[..., :2], axis=2)  # (frames, animals, 2)
    order = np.tile(np.arange(tracks.area.shape[1]), (tracks.frames, 1))
    for f in range(tracks.frames):
        have = np.isfinite(kp[f]).all(axis=1)
        blobs = np.isfinite(tracks.centre[f]).all(axis=1)
        if have.sum() < 2 or blobs.sum() < 2:
            continue
        rows, cols = np.nonzero(have)[0], np.nonzero(blobs)[0]
        dist = np.linalg.norm(kp[f, rows, None] - tracks.centre[f, None, cols], axis=2)
        r, c = linear_sum_assignment(dist)
        picked = order[f].copy()
        picked[rows[r]] = cols[c]
        if len(set(picked.tolist())) == len(picked):
            order[f] = picked
    frame = np.arange(tracks.frames)[:, None]
    arrays = tracks.arrays()
    for name in (
        "centre",
        "area",
        "major",
        "minor",
        "angle",
        "motion",
        "merged",
        "uncertain",
        "held",
    ):
        arrays[name] = arrays[name][frame, order]
    return BlobTracks.from_arrays(arrays)


def blob_points(tracks: BlobTracks) -> NDArray[np.float64]:
    """The blobs' centres as a one-keypoint pose, ``(frames, animals, 1, 2)`` float64 px."""
    return tracks.centre[:, :, None, :].astype(np.float64)


def output_video_features(
    outputs: Path, summary: Mapping[str, Any], options: SegmentOptions
) -> Features:
    """The blob features of a finished video-only segment run, from its outputs folder.

    The run's ``artifacts/blobs.npz`` beside ``outputs`` is read where it exists (a run
    folder); an OUT folder alone has its video tracked again with ``options``' settings.

    Args:
        outputs: a segment run's ``outputs/`` or OUT folder (``summary.json`` in it).
        summary: its ``summary.json``.
        options: the segment settings the run used.
    """
    saved = outputs.parent / "artifacts" / "blobs.npz"
    animals = list(summary["animals"])
    if saved.is_file():
        with np.load(saved) as z:
            tracks = BlobTracks.from_arrays({k: z[k] for k in z.files})
    else:
        settings = BlobSettings(
            animals=len(animals),
            threshold=options.video_threshold,
            max_width=options.video_max_width,
        )
        with VideoReader(summary["video"]) as reader:
            tracks = track_blobs(reader, settings)
    fps = float(summary["fps"])
    return video_features(tracks, fps, animals=animals, window_s=options.feature_window_s)


def run_video_features(run: Run, inputs: SegmentInputs) -> Features:
    """The blob features of a run whose ``load`` node saved its tracks (artifact ``blobs``).

    Speeds above each animal's noise floor (``tools.blob_features.video_features``): the
    blob captioner reads them.
    """
    tracks = BlobTracks.from_arrays(run.load_arrays("blobs"))
    feats = video_features(
        tracks,
        inputs.fps,
        animals=list(inputs.animals),
        window_s=inputs.options.feature_window_s,
    )
    if not run.has_artifact("embeddings"):
        return feats
    emb = run.load_arrays("embeddings")["embeddings"]
    values = np.concatenate([feats.values, emb], axis=2)
    valid = np.asarray(np.isfinite(values).all(axis=2), dtype=np.bool_)
    names = (*feats.names, *(f"embed_{i}" for i in range(emb.shape[2])))
    return replace(feats, values=values, names=names, valid=valid)
