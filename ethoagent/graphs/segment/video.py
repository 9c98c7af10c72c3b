"""The segment graph's features from video: blob tracks, their features, both sources joined.

``inputs.feature_source`` says what the ``load`` node computes and the later nodes cluster
and caption:

- ``"keypoints"``: pose features only (``tools.features.compute_features``);
- ``"video"``: the blob features of ``tools.video_features`` (no keypoints needed; the
  run's one "keypoint" is each blob's centre, which crops the VLM's frames);
- ``"both"``: pose features and the blob features side by side (the blob ones prefixed
  ``video_``); the kinematic captions read the pose ones, and still snippets of clusters
  whose blob outline is restless become ``moving_in_place`` (``relabel_restless``). With
  several animals, each
  frame's blobs are given to the keypoint individuals by position (the keypoints decide
  identity, so the blob tracker's merges and swaps do not).

With ``video_embeddings``, EfficientNet-Lite0 embeddings of animal-centred crops (artifact
``embeddings``) are appended to the blob features. Blob tracks are computed once per video
and settings (``tools.video_features.cached_tracks``
under ``<runs_dir>/video_cache``) and kept in the run's artifact ``blobs``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray
from scipy.optimize import linear_sum_assignment

from ethoagent.io.video import VideoReader
from ethoagent.tools.blob_features import restless_clusters, video_features
from ethoagent.tools.captions import Caption
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
    "join_features",
    "match_to_keypoints",
    "output_video_features",
    "relabel_restless",
    "restless_at_rest",
    "run_video_features",
    "track_video",
]

EMBED_COMPONENTS = 8
"""Principal components of the crop embeddings kept as features."""
EMBED_SIZE = 128
"""Side the crops are resized to for EfficientNet-Lite0, px (about 3x faster than 224)."""
RESTLESS_LABEL = "moving_in_place"
"""The label of still captions in a restless cluster (``restless_at_rest``)."""
VIDEO_PREFIX = "video_"
"""Prefix of the blob features where they sit beside pose features (``"both"``)."""


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


def join_features(pose: Features, video: Features) -> Features:
    """Pose and blob features side by side (blob names prefixed ``video_``).

    A (frame, animal) row is valid where both are. The pose features' layout, roles,
    pairs and body length are kept; the report adds ``merged_frames`` of the blobs.
    """
    values = np.concatenate([pose.values, video.values], axis=2)
    valid = np.asarray(pose.valid & video.valid, dtype=np.bool_)
    report = {
        **pose.report,
        "masked_frames": {
            n: int(c) for n, c in zip(pose.individuals, (~valid).sum(axis=0), strict=True)
        },
        "merged_frames": video.report["merged_frames"],
    }
    return replace(
        pose,
        values=values,
        names=(*pose.names, *(VIDEO_PREFIX + n for n in video.names)),
        valid=valid,
        report=report,
    )


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


def run_video_features(run: Run, inputs: SegmentInputs, noise_floor: bool = True) -> Features:
    """The blob features of a run whose ``load`` node saved its tracks (artifact ``blobs``).

    ``noise_floor`` as in ``tools.blob_features.video_features``: on for video alone (the
    captions read the blob speed), off beside pose features (they read the pose speed).
    """
    tracks = BlobTracks.from_arrays(run.load_arrays("blobs"))
    feats = video_features(
        tracks,
        inputs.fps,
        animals=list(inputs.animals),
        window_s=inputs.options.feature_window_s,
        noise_floor=noise_floor,
    )
    if not run.has_artifact("embeddings"):
        return feats
    emb = run.load_arrays("embeddings")["embeddings"]
    values = np.concatenate([feats.values, emb], axis=2)
    valid = np.asarray(np.isfinite(values).all(axis=2), dtype=np.bool_)
    names = (*feats.names, *(f"embed_{i}" for i in range(emb.shape[2])))
    return replace(feats, values=values, names=names, valid=valid)


def restless_at_rest(
    run: Run, inputs: SegmentInputs, records: Sequence[Mapping[str, Any]], *, offline: bool
) -> dict[int, float]:
    """The run's restless clusters among its snippets captioned ``still`` without a model.

    ``tools.blob_features.restless_clusters`` on the run's blob features and DEC clusters:
    with ``features="both"``, such a cluster's ``still`` snippets are relabelled
    ``RESTLESS_LABEL`` by the merge (``relabel_restless``): the pose captioner reads a
    snippet alone and sees grooming only from paws at the head, while the cluster tells
    what the snippet shares with others and the blob's outline shows the fidgeting.

    Args:
        run: a run whose ``load`` node saved ``blobs`` and whose ``cluster`` node saved
            ``clusters``.
        inputs: the run's inputs.
        records: every caption record (``animal``, ``start``, ``stop``, ``caption``,
            ``source``).
        offline: the backend is the offline one, whose "model" captions are the cheap
            captioner's too (a real model's ``still`` stands: it saw the frames).

    Returns:
        ``{cluster: jitter ratio to the quietest cluster at rest}``.
    """
    labels = run.load_arrays("clusters")["labels"]
    rest = np.zeros(labels.shape, dtype=np.bool_)
    for r in records:
        if r["caption"]["label"] == "still" and (offline or r["source"] != "model"):
            rest[r["start"] : r["stop"], r["animal"]] = True
    # a held blob (the animal merged into the background) repeats its last outline: no
    # jitter to measure, and a cluster of such frames would be a reference of zero
    rest &= ~run.load_arrays("blobs")["held"].astype(np.bool_)
    feats = run_video_features(run, inputs, noise_floor=inputs.feature_source == "video")
    return restless_clusters(feats, labels, rest)


def relabel_restless(
    caption: Caption, record: Mapping[str, Any], restless: dict[int, float], *, offline: bool
) -> tuple[Caption, str]:
    """A snippet's caption, ``RESTLESS_LABEL`` where it is a cheap ``still`` of a restless cluster.

    Args:
        caption: the snippet's caption.
        record: its caption record (``cluster``, ``source``).
        restless: ``{cluster: jitter ratio}`` from ``restless_at_rest``.
        offline: the backend is the offline one (its "model" captions are cheap ones).

    Returns:
        The caption (relabelled, confidence 0.4, or as it was) and a note for the epoch's
        description ("" where unchanged).
    """
    ratio = restless.get(int(record["cluster"]))
    cheap = offline or record["source"] != "model"
    if ratio is None or caption.label != "still" or not cheap:
        return caption, ""
    note = (
        f"; at rest with a restless outline (cluster {record['cluster']}: {ratio:.1f}x the "
        "shape jitter of the quietest cluster at rest)"
    )
    return caption.model_copy(update={"label": RESTLESS_LABEL, "confidence": 0.4}), note
