"""Labels of a gate run: a frame-wise CSV or a BORIS events export, read once.

``read_gate_labels`` turns a labels file into ``(frames, animals)`` int64 class codes
(-1 = unlabelled) and the class names, checked against the keypoints' animals and frames
(``InputError`` naming the file and the fix otherwise).
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ethoagent.errors import InputError

__all__ = ["OTHER", "read_gate_labels"]

OTHER = "other"
"""Class of the frames a BORIS export covers with no behaviour."""


def read_gate_labels(
    path: Path,
    animals: Sequence[str],
    frames: int,
    fps: float | None = None,
    known: Sequence[str] | None = None,
) -> tuple[NDArray[np.int64], list[str]]:
    """``(frames, animals)`` int64 labels and the class names, from a labels file.

    Frame-wise CSV ``frame,<label>`` (one animal) or ``frame,<animal>...``, with integer
    codes (-1 = unlabelled) or behaviour names (empty = unlabelled); or a BORIS events
    export (state events per subject = animal; uncovered frames are ``other``). With
    ``known`` (a trained model's classes) names map onto those codes.
    """
    from ethoagent.io.labels import read_boris_events

    if not path.is_file():
        raise InputError(f"label file {path} does not exist.", fix="check the path.")
    head = next((ln for ln in path.read_text(errors="replace").splitlines() if ln.strip()), "")
    if head.split(",")[0].strip().strip('"').lower() == "frame":
        names, columns = _framewise_cells(path)
    else:
        names, columns = _boris_cells(path, read_boris_events(path), animals, frames, fps)
    if len(columns) == 1 and len(animals) == 1:
        chosen = names
    elif set(columns) == set(animals):
        chosen = [[row[columns.index(a)] for a in animals] for row in names]
    else:
        raise InputError(
            f"{path} has label columns {list(columns)}; the keypoints have animals "
            f"{list(animals)}.",
            fix="write 'frame,label' for one animal, or one column per animal named after it.",
        )
    if len(chosen) != frames:
        raise InputError(
            f"{path} labels {len(chosen)} frames; the keypoints have {frames}.",
            fix="give one label row per keypoint frame (-1 = unlabelled).",
        )
    cells = [c for row in chosen for c in row if c not in ("", "-1")]
    if all(c.lstrip("-").isdigit() for c in cells):
        y = np.array([[int(c) if c else -1 for c in row] for row in chosen], np.int64).reshape(
            frames, len(animals)
        )
        classes = list(known) if known else [str(c) for c in range(int(max(y.max(), 0)) + 1)]
        return y, classes
    classes = list(known) if known else sorted(set(cells))
    index = {c: i for i, c in enumerate(classes)}
    unknown = sorted(set(cells) - set(index))
    if unknown:
        raise InputError(
            f"{path} holds label(s) {unknown} the model does not know; it knows {classes}.",
            fix="use the behaviour names the model was trained on.",
        )
    y = np.array(
        [[index[c] if c not in ("", "-1") else -1 for c in row] for row in chosen], np.int64
    ).reshape(frames, len(animals))
    return y, classes


def _framewise_cells(path: Path) -> tuple[list[list[str]], list[str]]:
    with path.open(newline="", encoding="utf-8", errors="replace") as f:
        rows = [r for r in csv.reader(f) if r]
    columns = [c.strip() for c in rows[0][1:]]
    if not columns:
        raise InputError(
            f"{path} has no label column after 'frame'.", fix="write 'frame,label' rows."
        )
    body = rows[1:]
    for i, r in enumerate(body):
        if len(r) != len(columns) + 1 or r[0].strip() != str(i):
            raise InputError(
                f"{path} line {i + 2}: expected frame {i} and {len(columns)} label(s); found {r}.",
                fix="write one row per frame, counting 0, 1, 2, … without gaps.",
            )
    return [[c.strip() for c in r[1:]] for r in body], columns


def _boris_cells(
    path: Path, events: Sequence[Any], animals: Sequence[str], frames: int, fps: float | None
) -> tuple[list[list[str]], list[str]]:
    """Frame-wise behaviour names per subject from BORIS state events."""
    from ethoagent.io.labels import boris_to_framewise

    stated = [e.fps for e in events if np.isfinite(e.fps) and e.fps > 0]
    rate = stated[0] if stated else fps
    if rate is None:
        raise InputError(
            f"{path} (BORIS) states no frame rate and none was given.", fix="pass --fps (Hz)."
        )
    subjects = sorted({e.subject for e in events})
    groups: dict[str, str | None]
    if len(animals) == 1 and len(subjects) <= 1:
        groups = {animals[0]: None}
    else:
        missing = [a for a in animals if a not in subjects]
        if missing:
            raise InputError(
                f"{path} has BORIS subjects {subjects}; the keypoints have animals "
                f"{list(animals)}.",
                fix="name the BORIS subjects after the animals of the keypoints.",
            )
        groups = {a: a for a in animals}
    behaviours = sorted({e.behaviour for e in events if e.status in ("START", "STOP")})
    columns = list(groups)
    out = [[OTHER] * len(columns) for _ in range(frames)]
    for j, subject in enumerate(groups.values()):
        for b in behaviours:
            on = boris_to_framewise(events, fps=rate, frames=frames, behaviour=b, subject=subject)
            for f in np.flatnonzero(on):
                out[int(f)][j] = b
    return out, columns
