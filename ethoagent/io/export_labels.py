"""Write hand-checked 2D labels as training data for a lab's 2D pose model.

- ``write_dlc_labeled_data``: a DeepLabCut ``labeled-data/<video>/`` folder, the layout
  ``deeplabcut.label_frames`` saves: one ``img<frame>.png`` per labelled frame and
  ``CollectedData_<scorer>.h5`` (key ``df_with_missing``) + ``.csv``, rows indexed by
  ``("labeled-data", <video>, "img<frame>.png")``, columns ``(scorer, bodyparts, coords)``
  with ``coords`` ``x, y`` in pixels, NaN = not labelled.
- ``write_slp_user_labels``: a SLEAP ``.slp`` whose instances are *user* instances (as if
  labelled in SLEAP's GUI), one video per view, referencing the videos (not embedded).

Points: ``(frames, keypoints, 2)`` float64 pixels per view, NaN = absent.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import cv2
import numpy as np
from numpy.typing import NDArray

from ethoagent.errors import InputError


def _check_points(
    points: NDArray[np.float64], frames: Sequence[int], keypoints: Sequence[str]
) -> None:
    if points.ndim != 3 or points.shape != (len(frames), len(keypoints), 2):
        raise InputError(
            f"labels have shape {points.shape}; expected (frames={len(frames)}, "
            f"keypoints={len(keypoints)}, 2).",
            fix="pass one (keypoints, 2) array of pixels per labelled frame.",
        )


def write_dlc_labeled_data(
    root: Path,
    video: str,
    frames: Sequence[int],
    images: Mapping[int, NDArray[np.uint8]],
    points: NDArray[np.float64],
    keypoints: Sequence[str],
    *,
    scorer: str = "ethoagent",
) -> list[Path]:
    """Write ``root/labeled-data/<video>/`` (images, CollectedData CSV and H5).

    Args:
        root: a DeepLabCut project folder (or any folder to hold ``labeled-data``).
        video: the video's name without suffix (DeepLabCut names the folder after it).
        frames: the labelled frame indices.
        images: per frame the image ``(height, width, 3)`` uint8 BGR.
        points: ``(frames, keypoints, 2)`` float64 pixels, NaN = not labelled.
        keypoints: the body parts, in the order of the keypoints axis.
        scorer: the labeller's name in the file name and the column header.

    Returns:
        The files written.

    Raises:
        InputError: the points do not match ``frames`` and ``keypoints``, or an image is
            missing.
    """
    import pandas as pd

    _check_points(points, frames, keypoints)
    missing = [f for f in frames if f not in images]
    if missing:
        raise InputError(
            f"no image for frame(s) {missing} of {video}.", fix="read every labelled frame."
        )
    folder = Path(root) / "labeled-data" / video
    folder.mkdir(parents=True, exist_ok=True)
    width = max(5, len(str(max(frames, default=0))))
    names = [f"img{f:0{width}d}.png" for f in frames]
    written = []
    for f, name in zip(frames, names, strict=True):
        path = folder / name
        if not cv2.imwrite(str(path), images[f]):
            raise InputError(f"cannot write {path}.", fix="check the folder is writable.")
        written.append(path)
    columns = pd.MultiIndex.from_product(
        [[scorer], list(keypoints), ["x", "y"]], names=["scorer", "bodyparts", "coords"]
    )
    index = pd.MultiIndex.from_tuples([("labeled-data", video, n) for n in names])
    df = pd.DataFrame(points.reshape(len(frames), -1), index=index, columns=columns)
    h5 = folder / f"CollectedData_{scorer}.h5"
    df.to_hdf(h5, key="df_with_missing", mode="w")
    csv = folder / f"CollectedData_{scorer}.csv"
    df.to_csv(csv)
    return [*written, h5, csv]


def write_slp_user_labels(
    path: Path,
    videos: Sequence[str],
    frames: Sequence[int],
    points: NDArray[np.float64],
    keypoints: Sequence[str],
    bones: Sequence[tuple[str, str]] = (),
) -> Path:
    """Write a SLEAP ``.slp`` of user instances: per view and frame one instance.

    Args:
        path: the ``.slp`` file to write.
        videos: one video file per view.
        frames: the labelled frame indices.
        points: ``(frames, views, keypoints, 2)`` float64 pixels, NaN = not labelled.
        keypoints: node names.
        bones: edges, as pairs of node names.

    Returns:
        ``path``.

    Raises:
        InputError: the points do not match ``frames``, ``videos`` and ``keypoints``.
    """
    import sleap_io as sio

    if points.shape != (len(frames), len(videos), len(keypoints), 2):
        raise InputError(
            f"labels have shape {points.shape}; expected (frames={len(frames)}, "
            f"views={len(videos)}, keypoints={len(keypoints)}, 2).",
            fix="pass the 2D labels of every view of each labelled frame.",
        )
    skeleton = sio.Skeleton(nodes=list(keypoints), edges=[list(b) for b in bones], name="ethoagent")
    vids = [sio.Video.from_filename(str(v), keep_open=False) for v in videos]
    labelled = [
        sio.LabeledFrame(
            video=vids[v],
            frame_idx=int(f),
            instances=[sio.Instance.from_numpy(points[i, v], skeleton=skeleton)],
        )
        for i, f in enumerate(frames)
        for v in range(len(videos))
        if np.isfinite(points[i, v]).any()
    ]
    labels = sio.Labels(labeled_frames=labelled, videos=vids, skeletons=[skeleton])
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    sio.save_slp(labels, str(path), verbose=False)
    return Path(path)


__all__ = ["write_dlc_labeled_data", "write_slp_user_labels"]
