"""The segment graph's features from video: blob tracks, their features, both sources joined.

``inputs.feature_source`` says what the ``load`` node computes and the later nodes cluster
and caption:

- ``"keypoints"``: pose features only (``tools.features.compute_features``);
- ``"video"``: the blob features of ``tools.video_features`` (no keypoints needed; the
  run's one "keypoint" is each blob's centre, which crops the VLM's frames);
- ``"both"``: pose features only are clustered and captioned, as with ``"keypoints"``;
  the video decides where the keypoints cannot: the pose captioner's cheap ``still``
  snippets whose posture the keypoints do not confirm and whose blob outline is restless
  become ``moving_in_place``
  (``restless_at_rest``, ``relabel_restless``; a mouse grooming with its paws hidden at
  its face has the pose of one lying still). With several animals, each frame's blobs are
  given to the keypoint individuals by position (the keypoints decide identity, so the
  blob tracker's merges and swaps do not). Blob features beside the pose features in the
  clustering, whole or as a few principal components, moved the snippets' boundaries and
  lost to keypoints alone on some sessions (docs/segment.md).

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
from ethoagent.tools.blob_features import RESTLESS_RATIO, restless_ratios, video_features
from ethoagent.tools.captions import CONFIRMED_STILL, Caption
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
) -> dict[tuple[int, int], float]:
    """The unconfirmed ``still`` snippets whose blob outline is restless.

    The pose captioner calls a snippet ``still`` from the body's speed; it confirms the
    posture (``CONFIRMED_STILL``) only with the paws, height and elongation at their usual
    values, so a mouse grooming with its paws hidden at its face is an unconfirmed
    ``still``. Each unconfirmed snippet's outline jitter is measured against that of the
    confirmed ones (``tools.blob_features.restless_ratios``); with ``features="both"``, a
    snippet at least ``RESTLESS_RATIO`` times as restless is relabelled ``RESTLESS_LABEL``
    by the merge (``relabel_restless``). Without confirmed snippets there is no
    reference, and nothing is relabelled.

    Args:
        run: a run whose ``load`` node saved ``blobs``.
        inputs: the run's inputs.
        records: every caption record (``animal``, ``start``, ``stop``, ``caption``,
            ``source``).
        offline: the backend is the offline one, whose "model" captions are the cheap
            captioner's too (a real model's ``still`` stands: it saw the frames).

    Returns:
        ``{(animal, start frame): jitter ratio}`` of the restless snippets.
    """
    shape = (inputs.frames, len(inputs.animals))
    groups = np.full(shape, -1, dtype=np.int64)
    reference = np.zeros(shape, dtype=np.bool_)
    cheap_still = [
        r
        for r in records
        if r["caption"]["label"] == "still" and (offline or r["source"] != "model")
    ]
    for i, r in enumerate(cheap_still):
        span = slice(r["start"], r["stop"])
        if r["caption"]["confidence"] >= CONFIRMED_STILL:
            reference[span, r["animal"]] = True
        else:
            groups[span, r["animal"]] = i
    # a held blob (the animal merged into the background) repeats its last outline: no
    # jitter to measure, and a reference of such frames would be zero
    held = run.load_arrays("blobs")["held"].astype(np.bool_)
    reference &= ~held
    groups[held] = -1
    feats = run_video_features(run, inputs, noise_floor=False)
    ratios = restless_ratios(feats, groups, reference)
    return {
        (int(cheap_still[i]["animal"]), int(cheap_still[i]["start"])): v
        for i, v in ratios.items()
        if v >= RESTLESS_RATIO
    }


def relabel_restless(
    caption: Caption,
    record: Mapping[str, Any],
    restless: Mapping[tuple[int, int], float],
    *,
    offline: bool,
) -> tuple[Caption, str]:
    """A snippet's caption, ``RESTLESS_LABEL`` where it is a cheap, restless ``still``.

    Args:
        caption: the snippet's caption.
        record: its caption record (``animal``, ``start``, ``source``).
        restless: ``{(animal, start frame): jitter ratio}`` from ``restless_at_rest``.
        offline: the backend is the offline one (its "model" captions are cheap ones).

    Returns:
        The caption (relabelled, confidence 0.4, or as it was) and a note for the epoch's
        description ("" where unchanged).
    """
    ratio = restless.get((int(record["animal"]), int(record["start"])))
    cheap = offline or record["source"] != "model"
    if ratio is None or caption.label != "still" or not cheap:
        return caption, ""
    note = (
        f"; at rest with a restless outline ({ratio:.1f}x the shape jitter of the frames "
        "lying still)"
    )
    return caption.model_copy(update={"label": RESTLESS_LABEL, "confidence": 0.4}), note
