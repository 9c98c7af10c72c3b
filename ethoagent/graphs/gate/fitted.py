"""What a gate model was fitted on, and what is held out from it.

Its record in ``gate.json`` (files, hashes, frames labelled), its feature scale, and the
frames of a session that ``gate eval`` may score.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ethoagent.errors import InputError

__all__ = ["feature_scale", "file_sha256", "held_out", "labelled_span", "trained_on"]


def feature_scale(features: NDArray[np.float32]) -> dict[str, list[float]]:
    """Per-feature mean and standard deviation of ``(frames, animals, D)`` motion features.

    The descriptor mixes positions (0-1), angles and velocities (units per second);
    without standardising, the small-ranged ones (e.g. the distance to a partner) are
    lost to the model: on ethome it then never predicted ``interact``.
    """
    flat = features.reshape(-1, features.shape[-1]).astype(np.float64)
    return {
        "mean": [round(float(v), 6) for v in flat.mean(axis=0)],
        "std": [round(float(v), 6) for v in flat.std(axis=0) + 1e-3],
    }


def labelled_span(labels: NDArray[np.int64]) -> slice:
    """Frames from the first to the last labelled one (``labels`` ``(frames, animals)``).

    Training reads only these: windows without any label would add the reconstruction
    loss and nothing to learn the classes from (and double a --label-fraction 0.5 run).
    """
    rows = np.flatnonzero((labels >= 0).any(axis=1))
    return slice(int(rows[0]), int(rows[-1]) + 1)


def file_sha256(path: Path) -> str:
    """SHA-256 of a file's bytes, hex."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def trained_on(
    keypoints: Path, labels: Path, frames: int, labelled: tuple[int, int]
) -> dict[str, Any]:
    """``gate.json``'s record of the training data: files, their hashes, frames labelled.

    ``labelled`` is ``(first, stop)``: the span of the session's frames whose labels the
    model was trained on (``stop`` exclusive).
    """
    return {
        "keypoints": str(keypoints.resolve()),
        "keypoints_sha256": file_sha256(keypoints),
        "labels": str(labels.resolve()),
        "labels_sha256": file_sha256(labels),
        "frames": frames,
        "labelled_frames": [int(labelled[0]), int(labelled[1])],
    }


def held_out(
    meta: dict[str, Any], keypoints: Path, frames: int, holdout: float | None
) -> tuple[int, int, str]:
    """``(start, stop, split)``: the frames to score, none the model trained on.

    ``meta`` is the model's ``gate.json``; ``keypoints`` the file scored, of ``frames``.

    Another session is held out as a whole (``holdout``: its last fraction only); on the
    session the model was trained on, the frames after its labelled ones, or, where it
    was trained on the end of the session, the frames before them (``holdout``: the last
    fraction, which must not reach back into them).

    Raises:
        InputError: the frames to score include frames whose labels the model was
            trained on, or no frame is held out.
    """
    start = 0 if holdout is None else frames - round(holdout * frames)
    stop = frames
    record = meta.get("trained_on")
    if record is None:
        return start, stop, "unknown (the model records no training data)"
    if record["keypoints_sha256"] != file_sha256(keypoints):
        return start, stop, f"by session (trained on {Path(record['keypoints']).name})"
    lo, hi = (int(v) for v in record["labelled_frames"])
    trained = f"trained on its frames {lo}-{hi - 1}"
    if holdout is None:
        start, stop = (hi, frames) if hi < frames else (0, lo)
    elif start < hi:
        raise InputError(
            f"--holdout {holdout} scores frames {start}-{frames - 1} of {keypoints}, but the "
            f"model was {trained}: that would score it on its own training labels.",
            fix=f"pass --holdout {(frames - hi) / frames:.3g} or less, or another session.",
        )
    if start >= stop:
        raise InputError(
            f"the model was trained on the labels of every frame of {keypoints}; nothing is "
            "held out to score it on.",
            fix="pass another labelled session, or train with --label-fraction 0.5 and "
            "score the rest.",
        )
    return start, stop, f"by time (frames {start}-{stop - 1}; the model was {trained})"
