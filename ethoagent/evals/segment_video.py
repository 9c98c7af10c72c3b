"""Segment from video alone, keypoints alone or both, on rendered synthetic sessions.

The ``segment`` suite's feature-source variants (also runnable alone as ``segment_video``).
Data sets: the simulator's world (``sim.synthetic.simulate_world``, 1 and 3 mice, 3 min at
30 fps; with ``quick`` 1 mouse for 1 min) seen by its overhead camera, rendered to an mp4 with the
paper-like image settings (``sim.render``: sensor noise, motion blur, specular spots,
lighting drift) and the same camera's exact 2D projections of the 12 marks as keypoints
(pixels; a mark the camera cannot see is NaN). So the three variants see the same frames:

- ``video``: the segment graph with ``features="video"`` (no keypoints: blob tracks);
- ``keypoints``: the graph with ``features="keypoints"`` on the 2D top-view keypoints;
- ``both``: the graph with ``features="both"`` (pose features clustered and captioned;
  the blobs tracked and matched to the keypoint animals);
- ``kmeans_video``: KMeans (same K) on the same visual features as ``video``;
- ``kmeans_keypoints``: KMeans on the keypoint features;
- ``keypoint_moseq``: as in the ``segment`` suite, where its environment exists.

For each graph variant the merged ethogram (``<variant>``) and DEC alone
(``<variant>_dec``) are scored. Blob tracks carry no animal names: each track is mapped
once, for the whole session, to the true animal its centre is nearest to in most frames
(Hungarian), and scored against that animal's labels, so an identity swap costs accuracy;
``identity_accuracy`` is the fraction of (frame, track) pairs whose blob is nearest to the
mapped animal. Metrics are those of ``evals.segment.pooled_scores``.

Floors (issue 20, 1-mouse session): video macro-F1 >= KMeans on the same visual features
+ 0.05 and >= keypoints - 0.10; both >= keypoints. Each is a boolean in the metrics.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy.optimize import linear_sum_assignment

from ethoagent.evals.datasets import shared_data_dir
from ethoagent.evals.harness import SuiteOptions, SuiteResult, register_suite
from ethoagent.evals.segment import (
    SegmentCase,
    kmeans_labels,
    kpms_labels,
    pooled_scores,
    run_graph,
)
from ethoagent.evals.segment_openfield import OPENFIELD, openfield_check
from ethoagent.graphs.segment.inputs import SegmentInputs, SegmentSources, resolve_segment
from ethoagent.graphs.segment.options import SegmentOptions
from ethoagent.io.keypoints import write_keypoints
from ethoagent.io.video import VideoReader
from ethoagent.model.pose import PoseData
from ethoagent.sim.behaviour import BEHAVIOURS, INDIVIDUAL_BEHAVIOURS
from ethoagent.sim.render import (
    RenderSettings,
    VideoSink,
    compute_visibility,
    make_occluders,
    render_view,
)
from ethoagent.sim.synthetic import KEYPOINTS, simulate_world
from ethoagent.tools.blob_features import clustered_video_features, video_features
from ethoagent.tools.cameras import make_ring_cameras, project_points
from ethoagent.tools.cluster import kmeans_baseline
from ethoagent.tools.video_features import BlobTracks, cached_tracks

__all__ = ["VideoCase", "rendered_case", "segment_video_suite", "video_variant_rows"]

K = 10
VARIANTS: tuple[str, ...] = ("video", "keypoints", "both")
"""Feature sources of the graph, as ``SegmentOptions.features``."""
FLOOR_OVER_KMEANS = 0.05
FLOOR_BELOW_KEYPOINTS = 0.10
IMAGE_SIZE = (320, 240)
"""Rendered image (width, height), pixels (the simulator's default preset)."""


@dataclass(frozen=True)
class VideoCase:
    """A rendered session: an overhead video and the same camera's 2D keypoints.

    Attributes:
        case: the keypoint case (``pose`` 2D pixels, ``truth``, ``fps``, ...).
        video: the rendered mp4.
        centres: ``(frames, animals, 2)`` float64, true body centres in the image, px.
    """

    case: SegmentCase
    video: Path
    centres: NDArray[np.float64]


def rendered_case(work: Path, name: str, frames: int, animals: int, seed: int) -> VideoCase:
    """Simulate, render the overhead view to ``work/<name>.mp4`` and write its 2D keypoints.

    Args:
        work: output folder (created).
        name: data set name.
        frames: frames at 30 fps.
        animals: mice (1–3).
        seed: world and renderer seed.
    """
    work.mkdir(parents=True, exist_ok=True)
    world = simulate_world(frames, animals=animals, seed=seed)
    cam = make_ring_cameras(2, size=IMAGE_SIZE, focal_px=280.0, seed=seed)[-1]
    occ = make_occluders(world, obstacles=0, seed=seed)
    visible = compute_visibility([cam], world.points_3d, occ)[:, 0]  # (F, A, K)
    uv = np.moveaxis(project_points([cam], world.points_3d), 3, 1)[:, 0]  # (F, A, K, 2)
    video = work / f"{name}.mp4"
    with VideoSink(video, fps=world.fps, size=cam.size) as sink:
        render_view(
            world,
            cam,
            points_2d=uv,
            visible=visible,
            occluders=occ,
            settings=RenderSettings(),
            sink=sink,
            seed=seed,
        )
    points = np.where(visible[..., None], uv, np.nan)
    individuals = tuple(f"animal{i + 1}" for i in range(animals))
    pose = PoseData(
        points=points,
        confidence=visible.astype(np.float64),
        keypoints=KEYPOINTS,
        individuals=individuals,
        fps=world.fps,
        unit="px",
        source="ethoagent.sim.render (overhead camera)",
    )
    path = write_keypoints(pose, work / f"{name}.nc", format="netcdf")
    case = SegmentCase(
        name=name,
        keypoints_file=path,
        pose=pose,
        truth=np.asarray(world.behaviour.labels, dtype=np.int64),
        classes=BEHAVIOURS if animals > 1 else INDIVIDUAL_BEHAVIOURS,
        fps=world.fps,
        source=(
            f"simulate_world(frames={frames}, animals={animals}, seed={seed}) rendered by "
            f"the overhead camera at {IMAGE_SIZE[0]}x{IMAGE_SIZE[1]} (paper-like image "
            "settings); keypoints = its exact 2D projections, NaN where hidden"
        ),
    )
    centres = np.nanmean(uv, axis=2)
    return VideoCase(case=case, video=video, centres=centres)


def _inputs(vc: VideoCase, source: str, seed: int, *, stability: bool = True) -> SegmentInputs:
    """The graph's inputs for one feature source; ``stability``: fit DEC's second seed.

    The second fit only reports the agreement between seeds (the labels come from the
    first), so the quick run leaves it out: same labels and scores, half the DEC time.
    """
    opts = SegmentOptions(
        k=K,
        seed=seed,
        features=source,
        video_animals=vc.case.animals,
        check_stability=stability,
    )
    keypoints = None if source == "video" else vc.case.keypoints_file
    return resolve_segment(
        SegmentSources(keypoints=keypoints, video=vc.video, fps=vc.case.fps), opts
    )


def _identity_map(tracks: BlobTracks, centres: NDArray[np.float64]) -> tuple[list[int], float]:
    """Track -> true animal (Hungarian on frames nearest), and the identity accuracy."""
    dist = np.linalg.norm(tracks.centre[:, :, None] - centres[:, None], axis=3)  # (F, T, A)
    dist = np.where(np.isfinite(dist), dist, np.inf)
    nearest = np.argmin(dist, axis=2)  # (F, T)
    seen = np.asarray(np.isfinite(tracks.centre).all(axis=2), dtype=np.bool_)
    n = centres.shape[1]
    votes = np.array(
        [[np.sum(seen[:, t] & (nearest[:, t] == a)) for a in range(n)] for t in range(n)]
    )
    rows, cols = linear_sum_assignment(-votes)
    mapping = [0] * n
    for r, c in zip(rows, cols, strict=True):
        mapping[int(r)] = int(c)
    agree = sum(int(votes[t, mapping[t]]) for t in range(n))
    return mapping, agree / max(1, int(seen.sum()))


def _reorder(pred: NDArray[np.int64], mapping: list[int]) -> NDArray[np.int64]:
    """Columns by true animal: column ``mapping[t]`` gets track ``t``'s labels."""
    out = np.empty_like(pred)
    for t, a in enumerate(mapping):
        out[:, a] = pred[:, t]
    return out


def _kmeans_video(vc: VideoCase, inputs: SegmentInputs, cache: Path) -> NDArray[np.int64]:
    """KMeans on the graph's visual features (same tracks, window and K)."""
    with VideoReader(vc.video) as reader:
        tracks, _ = cached_tracks(reader.path, reader, inputs.blob_settings(), cache)
    feats = video_features(tracks, inputs.fps, window_s=inputs.options.feature_window_s)
    x, index = clustered_video_features(feats).matrix()
    out = np.full((vc.case.frames, vc.case.animals), -1, dtype=np.int64)
    out[index[:, 0], index[:, 1]] = kmeans_baseline(x, k=K, seed=inputs.options.seed)
    return out


def _case_predictions(
    vc: VideoCase, work: Path, seed: int, quick: bool
) -> tuple[dict[str, tuple[NDArray[np.int64], float | None]], dict[str, Any], list[str]]:
    """Every method's ``(frames, animals)`` labels (by true animal) and wall time."""
    case = vc.case
    preds: dict[str, tuple[NDArray[np.int64], float | None]] = {}
    metrics: dict[str, Any] = {}
    for source in VARIANTS:
        inputs = _inputs(vc, source, seed, stability=not quick)
        runs = work / "runs" / source
        tracked = work / "runs" / "video" / "video_cache"
        if source == "both" and tracked.is_dir():
            # the same video and settings: its tracks, cached by the video run, are reused
            shutil.copytree(tracked, runs / "video_cache", dirs_exist_ok=True)
        graph = run_graph(case, inputs, runs)
        preds[source] = (graph.merged, graph.wall_s)
        preds[f"{source}_dec"] = (graph.dec, None)
        if source == "video":
            cache = runs / "video_cache"  # offline_runtime's runs_dir is ``runs``
            with VideoReader(vc.video) as reader:
                tracks, _ = cached_tracks(reader.path, reader, inputs.blob_settings(), cache)
            mapping, accuracy = _identity_map(tracks, vc.centres)
            preds["video"] = (_reorder(graph.merged, mapping), graph.wall_s)
            preds["video_dec"] = (_reorder(graph.dec, mapping), None)
            start = time.perf_counter()
            km = _kmeans_video(vc, inputs, cache)
            km_wall = time.perf_counter() - start
            preds["kmeans_video"] = (_reorder(km, mapping), km_wall)
            metrics[f"{case.name}.identity_accuracy"] = round(accuracy, 4)
            metrics[f"{case.name}.identity"] = graph.summary.get("identity", {}).get("note")
        if source == "keypoints":
            start = time.perf_counter()
            km = kmeans_labels(case, inputs)
            preds["kmeans_keypoints"] = (km, time.perf_counter() - start)
    kp, kp_wall, kp_note = kpms_labels(case, work, fit=not quick, seed=seed)
    if kp is not None:
        preds["keypoint_moseq"] = (kp, kp_wall)
    return preds, metrics, [kp_note]


def video_variant_rows(
    options: SuiteOptions, work: Path
) -> tuple[list[dict[str, Any]], dict[str, Any], list[str], dict[str, bytes]]:
    """Score the variants on the rendered 1- and 3-mouse sessions; check the real video.

    Returns:
        Table rows (``dataset``, ``method``, metrics, ``wall_s``), metrics (floors,
        identity, ``openfield.*``), notes and figures.
    """
    frames = (1 if options.quick else 3) * 60 * 30
    rows: list[dict[str, Any]] = []
    metrics: dict[str, Any] = {}
    notes: list[str] = []
    cases = (("rendered_1", 1, 0), ("rendered_3", 3, 1))
    for name, animals, offset in cases[:1] if options.quick else cases:
        vc = rendered_case(work / "data", name, frames, animals, options.seed + offset)
        preds, m, n = _case_predictions(vc, work, options.seed, quick=options.quick)
        metrics.update(m)
        notes += [*n, f"{name}: {vc.case.source}; classes {', '.join(vc.case.classes)}."]
        scores = {k: pooled_scores(p, vc.case.truth, vc.case.fps) for k, (p, _) in preds.items()}
        minutes = vc.case.frames * vc.case.animals / vc.case.fps / 60
        for method, (_, wall) in preds.items():
            rows.append(
                {
                    "dataset": name,
                    "method": method,
                    "animals": animals,
                    "frames": vc.case.frames,
                    **{key: round(v, 4) for key, v in scores[method].items()},
                    "wall_s": None if wall is None else round(wall, 2),
                    "s_per_animal_min": None if wall is None else round(wall / minutes, 2),
                }
            )
        f1 = {k: v["macro_f1"] for k, v in scores.items()}
        metrics[f"{name}.video_beats_kmeans_video_by_0.05"] = bool(
            f1["video"] >= f1["kmeans_video"] + FLOOR_OVER_KMEANS
        )
        metrics[f"{name}.video_within_0.10_of_keypoints"] = bool(
            f1["video"] >= f1["keypoints"] - FLOOR_BELOW_KEYPOINTS
        )
        metrics[f"{name}.both_at_least_keypoints"] = bool(f1["both"] >= f1["keypoints"])
    notes.append(
        "Variants video / keypoints / both are the segment graph (offline captioner and "
        "merge) on the same rendered frames; '<variant>_dec' is its DEC clusters alone. "
        "Video tracks are mapped to true animals once per session (identity_accuracy)."
    )
    if options.quick:
        notes.append(
            "quick: the graph runs without DEC's second-seed stability fit (it only reports "
            "the agreement between seeds), so the same labels cost about half the DEC time "
            "and wall_s is below a default run's."
        )
    figures: dict[str, bytes] = {}
    root = shared_data_dir() / OPENFIELD
    if root.is_dir():
        of_metrics, figures["openfield_video_only"] = openfield_check(
            root, work / "openfield", seed=options.seed
        )
        metrics.update(of_metrics)
        notes.append(
            "openfield: the real DeepLabCut open-field video m3v1 (77 s) has no labels or "
            "keypoints of its own, so 'still' epochs are compared with the low-motion "
            "stretches of its frame differences (a one-line rule), and the blob detector with "
            "the human labels of the 116 images of session m4s1 (beside the darkest-pixels "
            "rule)."
        )
    else:
        notes.append(f"openfield check skipped: {root} not found (shared data absent).")
    return rows, metrics, notes, figures


@register_suite(
    "segment_video",
    "Segment graph from video alone, keypoints alone and both on rendered synthetic 1- and "
    "3-mouse sessions, next to KMeans on the same visual and keypoint features (and "
    "keypoint-MoSeq where installed): Hungarian macro-F1, NMI, boundary F1, switches/min.",
)
def segment_video_suite(options: SuiteOptions) -> SuiteResult:
    """The feature-source variants alone (``video_variant_rows``)."""
    with tempfile.TemporaryDirectory(prefix="ethoagent-segment-video-eval-") as tmp:
        rows, metrics, notes, figures = video_variant_rows(options, Path(tmp))
    return SuiteResult(
        metrics=metrics, table=rows, figures=figures, notes=list(dict.fromkeys(notes))
    )
