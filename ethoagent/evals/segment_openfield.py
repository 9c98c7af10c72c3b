"""Sanity check of video-only segmentation on the real DeepLabCut open-field data.

``dlc_openfield_pranav2018`` (shared data, see its ``SOURCE.md``) holds a 77 s 640x480
30 fps top-view video of one mouse (``m3v1``) with no labels or keypoints, and 116
hand-labelled frames (snout, ears, tail base) of another session (``m4s1``), as single
images. So the DeepLabCut labels give no trajectory of the video, and the check has two
parts, each beside the rule a user could write in one line:

1. Detector vs the human labels (``m4s1`` images): the background is the median of the
   116 images; each image's largest blob (``tools.video_features.detect_blobs``) is
   compared with the human body centre (mean of the labelled points). Reported: median
   distance (px) and the fraction within a quarter body length (snout to tail base),
   beside the one-line rule "centroid of the darkest 2 % of pixels".
2. Immobility on the video (``m3v1``): the segment graph on the video alone; its
   ``still`` frames against the low-motion stretches of the frame differences (mean
   absolute difference to the previous frame below its 20th percentile, over a 0.5 s
   moving average; a one-line rule that needs no tracking). Reported: the share of the
   session labelled still, precision / recall / F1 of still vs low-motion, the blob
   speed's noise floor (``tools.video_features.speed_noise``, subtracted from the speeds
   the captioner reads) and how well the blob speed alone picks out the low-motion frames
   (ROC AUC, 0.5 = chance).

The figure: a frame of the video with the blob centre and its segment label, and the
session's ethogram over the blob speed and the frame-difference trace.
"""

from __future__ import annotations

import asyncio
import csv
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from numpy.typing import NDArray

from ethoagent.figures import new_figure, png_bytes
from ethoagent.graphs.kit.runtime import offline_runtime
from ethoagent.graphs.segment.graph import GRAPH_NAME, run_segment
from ethoagent.graphs.segment.inputs import SegmentSources, resolve_segment
from ethoagent.graphs.segment.options import SegmentOptions
from ethoagent.io.video import VideoReader
from ethoagent.tools.blob_features import video_features
from ethoagent.tools.ethogram import labels_from_epochs, read_ethogram_csv
from ethoagent.tools.video_features import (
    BlobTracks,
    detect_blobs,
    estimate_background,
    noise_threshold,
    prepare_frame,
)

__all__ = ["OPENFIELD", "openfield_check"]

OPENFIELD = "dlc_openfield_pranav2018"
_PROJECT = "openfield-Pranav-2018-10-30"
LOW_MOTION_PERCENTILE = 20
SMOOTH_S = 0.5


def _labelled_images(root: Path) -> tuple[list[NDArray[np.uint8]], NDArray[np.float64]]:
    """The ``m4s1`` images and their labels ``(images, 4, 2)`` px (snout, ears, tail base)."""
    folder = root / _PROJECT / "labeled-data" / "m4s1"
    with (folder / "CollectedData_Pranav.csv").open(newline="") as f:
        rows = list(csv.reader(f))[3:]
    images, points = [], []
    for row in rows:
        img = cv2.imread(str(folder / Path(row[0]).name))
        if img is None:
            continue
        images.append(np.asarray(img, dtype=np.uint8))
        points.append([float(v) if v else np.nan for v in row[1:9]])
    return images, np.asarray(points, dtype=np.float64).reshape(-1, 4, 2)


def _detector_vs_labels(root: Path) -> dict[str, Any]:
    images, pts = _labelled_images(root)
    width = 320
    prepared = [prepare_frame(i, width) for i in images]
    background = estimate_background(prepared)
    threshold = noise_threshold(prepared, background)
    scale = images[0].shape[1] / prepared[0].shape[1]
    min_area = 0.0005 * prepared[0].size
    with np.errstate(all="ignore"):
        truth = np.nanmean(pts, axis=1)  # (images, 2)
        body = np.linalg.norm(pts[:, 0] - pts[:, 3], axis=1)
    ours, rule = [], []
    for img, p in zip(images, prepared, strict=True):
        blobs, _ = detect_blobs(p, background, threshold, min_area, 1)
        ours.append(np.array(blobs[0].centre) * scale if blobs else np.full(2, np.nan))
        grey = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)
        ys, xs = np.nonzero(grey <= np.percentile(grey, 2))
        rule.append(np.array([xs.mean(), ys.mean()]))
    out: dict[str, Any] = {"images": len(images)}
    ok = np.isfinite(truth).all(axis=1) & np.isfinite(body)
    for name, est in (("blob", np.array(ours)), ("darkest_2pct", np.array(rule))):
        d = np.linalg.norm(est - truth, axis=1)[ok]
        d = np.where(np.isfinite(d), d, np.inf)
        out[f"{name}_median_px"] = round(float(np.median(d)), 1)
        out[f"{name}_within_quarter_body"] = round(float(np.mean(d < body[ok] / 4)), 3)
    return out


def _low_motion(frame_motion: NDArray[np.float64], fps: float) -> NDArray[np.bool_]:
    """Frames whose smoothed frame difference is at most its ``LOW_MOTION_PERCENTILE``."""
    x = np.where(np.isfinite(frame_motion), frame_motion, np.nanmedian(frame_motion))
    n = max(1, round(SMOOTH_S * fps))
    smooth = np.convolve(x, np.ones(n) / n, mode="same")
    return np.asarray(smooth <= np.percentile(smooth, LOW_MOTION_PERCENTILE), dtype=np.bool_)


def _auc(score: NDArray[np.float64], positive: NDArray[np.bool_]) -> float:
    """Area under the ROC curve of ``score`` for ``positive`` frames (Mann-Whitney)."""
    ok = np.isfinite(score)
    s, p = score[ok], positive[ok]
    ranks = np.argsort(np.argsort(s, kind="stable"), kind="stable") + 1.0
    n_pos, n_neg = int(p.sum()), int((~p).sum())
    if not n_pos or not n_neg:
        return float("nan")
    return float((ranks[p].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def _figure(
    video: Path,
    tracks: BlobTracks,
    labels: NDArray[np.str_],
    speed: NDArray[np.float64],
    low: NDArray[np.bool_],
    fps: float,
) -> bytes:
    fig, _ = new_figure(11.0, 3.6)
    fig.clear()
    grid = fig.add_gridspec(2, 3)
    ax_img = fig.add_subplot(grid[:, 0])
    still = np.nonzero(labels == "still")[0]
    frame = int(still[len(still) // 2]) if len(still) else len(labels) // 2
    with VideoReader(video) as reader:
        img = reader[frame][:, :, ::-1]
    ax_img.imshow(img)
    c = tracks.centre[frame, 0]
    ax_img.plot([c[0]], [c[1]], "o", color="orange", ms=6)
    ax_img.set_title(f"frame {frame} ({frame / fps:.1f} s): {labels[frame]}", fontsize=9)
    ax_img.set_axis_off()
    t = np.arange(len(labels)) / fps
    ax_e = fig.add_subplot(grid[0, 1:])
    names = sorted(set(labels.tolist()))
    codes = np.searchsorted(names, labels)
    ax_e.imshow(codes[None, :], aspect="auto", cmap="tab10", vmin=0, vmax=9,
                extent=(0, t[-1], 0, 1), interpolation="nearest")  # fmt: skip
    ax_e.set_yticks([])
    ax_e.set_title("ethogram from video alone: " + ", ".join(
        f"{n} (C{i})" for i, n in enumerate(names)), fontsize=8)  # fmt: skip
    ax_s = fig.add_subplot(grid[1, 1:], sharex=ax_e)
    ax_s.plot(t, speed, lw=0.6, color="k", label="blob speed (BL/s, 0.5 s mean)")
    ax_s.fill_between(t, 0, np.nanmax(speed), where=low, color="tab:blue", alpha=0.2,
                      label="low frame difference (one-line rule)")  # fmt: skip
    ax_s.fill_between(t, 0, np.nanmax(speed) / 2, where=labels == "still", color="tab:red",
                      alpha=0.3, label="'still' epochs")  # fmt: skip
    ax_s.set_xlabel("time (s)")
    ax_s.legend(fontsize=7, frameon=False, loc="upper right")
    return png_bytes(fig)


def openfield_check(root: Path, work: Path, seed: int = 0) -> tuple[dict[str, Any], bytes]:
    """Run both parts of the check (see the module docstring) on the shared data ``root``.

    Args:
        root: the ``dlc_openfield_pranav2018`` folder.
        work: a scratch folder for the segment run.
        seed: DEC seed.

    Returns:
        Metrics (``openfield.*``) and the figure's PNG bytes.
    """
    video = root / _PROJECT / "videos" / "m3v1mp4.mp4"
    inputs = resolve_segment(SegmentSources(video=video), SegmentOptions(seed=seed))
    rt = offline_runtime(work, GRAPH_NAME, "openfield", inputs.model_dump())
    asyncio.run(run_segment(rt, inputs))
    ethogram = read_ethogram_csv(rt.run.outputs_dir / "ethogram.csv")["animal1"]
    vocabulary = sorted({e.label for e in ethogram})
    codes = labels_from_epochs(ethogram, inputs.frames, names=vocabulary)
    labels = np.asarray(vocabulary, dtype=np.str_)[codes]
    tracks = BlobTracks.from_arrays(rt.run.load_arrays("blobs"))
    feats = video_features(tracks, inputs.fps, window_s=SMOOTH_S)
    speed = feats.column("speed_mean")[:, 0]
    low = _low_motion(tracks.frame_motion, inputs.fps)
    still = labels == "still"
    tp = float(np.sum(still & low))
    precision = tp / max(1, int(still.sum()))
    recall = tp / max(1, int(low.sum()))
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    metrics: dict[str, Any] = {
        "openfield.frames": inputs.frames,
        "openfield.labels": ", ".join(sorted(set(labels.tolist()))),
        "openfield.still_fraction": round(float(still.mean()), 3),
        "openfield.still_vs_low_motion_precision": round(precision, 3),
        "openfield.still_vs_low_motion_recall": round(recall, 3),
        "openfield.still_vs_low_motion_f1": round(f1, 3),
        "openfield.blob_found_fraction": round(float(np.isfinite(tracks.area).mean()), 3),
        "openfield.speed_noise_bl_s": feats.report["speed_noise_mbl_s"]["blob_0"] / 1000,
        "openfield.speed_auc_low_motion": round(_auc(-speed, low), 3),
        "openfield.speed_in_low_motion_median_bl_s": round(float(np.nanmedian(speed[low])), 3),
        "openfield.speed_elsewhere_median_bl_s": round(float(np.nanmedian(speed[~low])), 3),
    }
    detector = _detector_vs_labels(root)
    metrics.update({f"openfield.labelled_{k}": v for k, v in detector.items()})
    return metrics, _figure(video, tracks, labels, speed, low, inputs.fps)
