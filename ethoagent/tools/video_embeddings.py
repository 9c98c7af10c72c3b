"""Image embeddings of animal-centred crops of a video, for the video features.

``embed_crops`` takes a square crop around each animal's blob centre (from
``tools.video_features.track_blobs``) at up to 10 fps, embeds it with an image encoder
(``tools.vision.VisionEncoder``; the packaged EfficientNet-Lite0 of the ``vision`` extra in
the segment graph), reduces the embeddings to a few principal components over the session
and holds each sample until the next, so that the clustering sees appearance (posture seen
from above: curled, stretched, rearing) beside motion.
"""

from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np
from numpy.typing import NDArray

from ethoagent.tools.video_features import BlobTracks, FrameSource
from ethoagent.tools.vision import VisionEncoder

__all__ = ["embed_crops"]


def embed_crops(
    source: FrameSource,
    tracks: BlobTracks,
    encoder: VisionEncoder,
    *,
    fps: float,
    sample_fps: float = 10.0,
    components: int = 8,
    batch: int = 64,
    progress: Callable[[int, int], None] | None = None,
) -> NDArray[np.float64]:
    """Animal-centred crops embedded by ``encoder``, reduced by PCA, held between samples.

    A square crop of twice the animal's median blob length around each blob centre is
    taken at ``sample_fps`` (frames read once, in order), embedded, and the embeddings of
    all animals projected on their first ``components`` principal components; each frame
    takes the values of the nearest sampled frame before it.

    Args:
        source: the video's frames (BGR).
        tracks: the animals' blob tracks of the same video.
        encoder: e.g. ``nn.encoders.EfficientNetLite0Encoder`` (RGB input).
        fps: the video's frame rate, Hz.
        sample_fps: crops per second and animal (at most ``fps``).
        components: principal components kept.
        batch: crops per ``encode`` call.
        progress: called as ``progress(done_frames, total_frames)``.

    Returns:
        ``(frames, animals, components)`` float64, NaN where no crop was taken yet or the
        animal had no blob.
    """
    frames, animals = tracks.area.shape
    step = max(1, round(fps / min(sample_fps, fps)))
    with np.errstate(all="ignore"):
        half = np.nan_to_num(np.nanmedian(tracks.major, axis=0), nan=32.0)
    keys: list[tuple[int, int]] = []
    vectors: list[NDArray[np.float32]] = []
    pending: list[NDArray[np.uint8]] = []

    def flush() -> None:
        if pending:
            vectors.extend(encoder.encode(np.stack(pending)))
            pending.clear()

    for f, frame in enumerate(source):
        if f % step == 0:
            for a in range(animals):
                c = tracks.centre[f, a]
                if not np.isfinite(c).all():
                    continue
                r = max(8, round(float(half[a])))
                padded = cv2.copyMakeBorder(frame, r, r, r, r, cv2.BORDER_REPLICATE)
                cx, cy = round(float(c[0])), round(float(c[1]))
                crop = padded[cy : cy + 2 * r, cx : cx + 2 * r, ::-1]
                pending.append(np.ascontiguousarray(crop))
                keys.append((f, a))
            if len(pending) >= batch:
                flush()
        if progress is not None and (f + 1) % 500 == 0:
            progress(f + 1, frames)
    flush()
    out = np.full((frames, animals, components), np.nan)
    if not keys:
        return out
    emb = np.asarray(vectors, dtype=np.float64)
    emb -= emb.mean(axis=0)
    _, _, vt = np.linalg.svd(emb, full_matrices=False)
    proj = np.zeros((len(keys), components))
    n = min(components, vt.shape[0])
    proj[:, :n] = emb @ vt[:n].T
    for (f, a), v in zip(keys, proj, strict=True):
        out[f : f + step, a] = v
    return out
