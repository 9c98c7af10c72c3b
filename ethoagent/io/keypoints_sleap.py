"""SLEAP keypoint files: labels/predictions ``.slp`` (through sleap-io) and analysis ``.h5``.

Points ``(frames, individuals, keypoints, 2)`` float64 in pixels, NaN = missing; SLEAP
tracks are the individuals (untracked instances fill ``individual_0``, ``individual_1``,
… in file order); confidence ``(frames, individuals, keypoints)`` is the predicted point
score, NaN for user instances. Analysis ``.h5`` files go through movement. The 3D
``points3d.h5`` of sleap-anipose is read by ``ethoagent.io.sleap_anipose``;
``ethoagent.io.keypoints`` picks the reader by format.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ethoagent.errors import InputError
from ethoagent.io.keypoints_movement import (
    from_movement_file,
    import_movement,
    load_with_movement,
    to_movement_dataset,
    write_via,
)
from ethoagent.model.pose import PoseData

__all__ = [
    "read_sleap_analysis_file",
    "read_slp_file",
    "write_sleap_analysis_file",
    "write_slp_file",
]


def read_slp_file(p: Path, fps: float | None) -> PoseData:
    """Read the first video's frames of a SLEAP ``.slp`` (user instances before predicted ones).

    ``fps`` wins over the video's; ``None`` keeps the video's where it stores one.
    """
    import sleap_io as sio

    # sleap-io finds a moved video beside the file and takes its length and fps from it
    labels = sio.load_slp(str(p))
    try:
        if not labels.skeletons or not labels.videos:
            raise InputError(
                f"SLEAP file {p} has no skeleton or no video, so no keypoints.",
                fix="open it in SLEAP and check that it holds labelled or predicted frames.",
            )
        video = labels.videos[0]
        untracked = not labels.tracks
        # (frames, tracks, nodes, 3): x, y, score; user instances before predicted ones
        arr = np.asarray(
            labels.numpy(video=video, untracked=untracked, return_confidence=True),
            dtype=np.float64,
        )
        pred = np.asarray(
            labels.numpy(
                video=video, untracked=untracked, return_confidence=True, user_instances=False
            ),
            dtype=np.float64,
        )
        video_fps = getattr(video, "fps", None) or video.backend_metadata.get("fps")
    finally:
        for v in labels.videos:
            v.close()
    points = arr[..., :2]
    # a score belongs to a predicted instance that was used (not one a user label
    # replaced) and to a point it shows; where sleap-io cannot tell, there is none
    from_pred = np.zeros(arr.shape[:2], dtype=bool)
    if pred.shape == arr.shape:
        xy = pred[..., :2]
        from_pred = ((points == xy) | (np.isnan(points) & np.isnan(xy))).all(axis=(2, 3))
    shown = ~np.isnan(points).any(axis=-1)
    confidence = np.where(from_pred[..., None] & shown, arr[..., 2], np.nan)
    individuals = (
        tuple(f"individual_{i}" for i in range(arr.shape[1]))
        if untracked
        else tuple(t.name for t in labels.tracks)
    )
    return PoseData(
        points=points,
        confidence=confidence,
        keypoints=tuple(labels.skeletons[-1].node_names),
        individuals=individuals,
        fps=fps if fps is not None else (float(video_fps) if video_fps else None),
        unit="px",
        source=str(p),
    )


def write_slp_file(data: PoseData, p: Path) -> Path:
    """Write 2D keypoints as a SLEAP ``.slp`` (user labels where confidence is all NaN)."""
    import sleap_io as sio

    # all-NaN confidence: labels (SLEAP user instances), else predictions with scores
    user_labels = bool(np.isnan(data.confidence).all())
    meta = {} if data.fps is None else {"fps": data.fps}
    # PoseData does not know its video: reference <name>.mp4 beside the file
    video = sio.Video(filename=f"{p.stem}.mp4", backend_metadata=meta, open_backend=False)
    skeleton = sio.Skeleton(list(data.keypoints))
    tracks = [sio.Track(name) for name in data.individuals]
    labels = sio.Labels(videos=[video], skeletons=[skeleton], tracks=tracks)
    present = np.asarray(~np.isnan(data.points).all(axis=(2, 3)))  # (frames, individuals)
    for f in np.flatnonzero(present.any(axis=1)):
        instances: list[Any] = []
        for i in np.flatnonzero(present[f]):
            pts, scores = data.points[f, i], data.confidence[f, i]
            if user_labels:
                instances.append(sio.Instance.from_numpy(pts, skeleton=skeleton, track=tracks[i]))
                continue
            known = scores[~np.isnan(scores)]
            instances.append(
                sio.PredictedInstance.from_numpy(
                    pts,
                    skeleton=skeleton,
                    point_scores=scores,
                    score=float(known.mean()) if known.size else float("nan"),
                    track=tracks[i],
                )
            )
        labels.append(sio.LabeledFrame(video=video, frame_idx=int(f), instances=instances))
    return write_via(p, lambda t: sio.save_slp(labels, str(t), verbose=False))


def read_sleap_analysis_file(p: Path, fps: float | None) -> PoseData:
    """Read a SLEAP analysis ``.h5`` through movement."""
    return from_movement_file(load_with_movement(p, "SLEAP", fps), p)


def write_sleap_analysis_file(data: PoseData, p: Path) -> Path:
    """Write 2D keypoints as a SLEAP analysis ``.h5`` through movement, atomically."""
    import_movement()
    from movement.io import save_poses

    ds = to_movement_dataset(data)
    return write_via(p, lambda t: save_poses.to_sleap_analysis_file(ds, t))
