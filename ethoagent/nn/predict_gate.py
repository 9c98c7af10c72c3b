"""Inference of a trained LookAgain model: which frames to look at, then class probabilities.

One procedure serves ``ethoagent gate predict``, ``ethoagent gate eval`` and the ``gate``
eval suite, so what an eval scores is what a user gets:

1. ``select_frames``: the frames the vision path reads, fixed once per session. Disjoint
   windows; in each, ``k = max(1, round(fraction * n))`` of the ``n`` valid frames per
   animal, picked by the learned gate (or evenly spaced, ``uniform``). The gate reads
   keypoints only, so this needs no vision embedding; the selection is exactly the frames
   a deployment sends to the vision encoder.
2. ``predict_probabilities``: softmax probabilities averaged over overlapping windows
   (stride ``window // 2``), every window reading the embeddings of the selected frames
   only.

Arrays: ``(frames, animals)`` per frame and animal; probabilities ``(frames, animals,
n_classes)`` float64 in [0, 1], summing to 1 over classes.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from numpy.typing import NDArray

from ethoagent.errors import InputError
from ethoagent.nn.lookagain import LookAgain
from ethoagent.nn.train_gate import GateSession, batch_windows, cut_windows

__all__ = ["average_windows", "predict_probabilities", "select_frames", "uniform_selection"]


def uniform_selection(valid: NDArray[np.bool_], fraction: float) -> NDArray[np.bool_]:
    """Evenly spaced frames per row of ``valid`` ``(rows, T)``, as many as the gate's top-k.

    ``k = max(1, round(fraction * n))`` of the ``n`` valid frames of a row (none when
    ``fraction`` is 0), at the centres of ``k`` equal parts of the valid frames.
    """
    out = np.zeros_like(valid)
    if fraction <= 0.0:
        return out
    for r in range(valid.shape[0]):
        idx = np.flatnonzero(valid[r])
        n = idx.size
        if n == 0:
            continue
        k = max(1, round(fraction * n))
        out[r, idx[np.floor((np.arange(k) + 0.5) * n / k).astype(int)]] = True
    return out


def _disjoint(frames: int, window: int) -> list[tuple[int, int]]:
    return [(s, min(s + window, frames)) for s in range(0, frames, window)]


def _window(model: LookAgain, window: int) -> int:
    if window < 1:
        raise InputError(f"window must be at least 1 frame; found {window}.", fix="pass >= 1.")
    return min(window, model.config.max_len)


@torch.no_grad()
def select_frames(
    model: LookAgain,
    session: GateSession,
    window: int,
    fraction: float,
    *,
    uniform: bool = False,
) -> NDArray[np.bool_]:
    """The frames the vision path looks at: top-k per disjoint window and animal.

    Args:
        model: a trained LookAgain model.
        session: the session (its ``vision`` is not read).
        window: frames per window (capped at the model's ``max_len``).
        fraction: share of each window's valid frames to pick, in [0, 1].
        uniform: pick evenly spaced frames (``uniform_selection``) instead of the gate's.

    Returns:
        ``(frames, animals)`` bool, True = look at this frame of this animal.
    """
    if not 0.0 <= fraction <= 1.0:
        raise InputError(f"fraction must be in [0, 1]; found {fraction}.", fix="pass a share.")
    frames, animals = session.motion.shape[:2]
    window = _window(model, window)
    keypoints_only = GateSession(session.motion, session.labels, session.confidence,
                                 session.present)  # fmt: skip
    wanted = np.zeros((frames, animals), bool)
    model.eval()
    for start, stop in _disjoint(frames, window):
        inputs, _ = batch_windows([keypoints_only], [(0, start, stop)], window)
        valid = (inputs["present"] & inputs["time_mask"][:, None, :]).numpy()
        if uniform:
            rows = uniform_selection(valid.reshape(-1, valid.shape[-1]), fraction)
            picked = rows.reshape(valid.shape)
        else:
            out = model(**inputs, gate_fraction=fraction)
            picked = (out.selected & out.valid).numpy()
        wanted[start:stop] = picked[0, :, : stop - start].T
    return wanted


def average_windows(
    frames: int,
    window: int,
    n_classes: int,
    forward: Callable[[int, int], NDArray[np.floating]],
) -> NDArray[np.float64]:
    """Average per-window probabilities over overlapping windows (stride ``window // 2``).

    Args:
        frames: frames of the session.
        window: frames per window.
        n_classes: classes of the model.
        forward: ``(start, stop) -> (stop - start, animals, n_classes)`` probabilities.

    Returns:
        ``(frames, animals, n_classes)`` float64: the mean over the windows holding a frame.
    """
    total: NDArray[np.float64] | None = None
    count = np.zeros((frames, 1, 1), np.float64)
    for start, stop in cut_windows(frames, window, max(1, window // 2)):
        probs = np.asarray(forward(start, stop), np.float64)
        if total is None:
            total = np.zeros((frames, probs.shape[1], n_classes), np.float64)
        total[start:stop] += probs
        count[start:stop] += 1
    if total is None:
        raise InputError("the session has no frame.", fix="pass a non-empty session.")
    return total / np.maximum(count, 1)


@torch.no_grad()
def predict_probabilities(
    model: LookAgain,
    session: GateSession,
    window: int,
    *,
    select: NDArray[np.bool_] | None = None,
) -> NDArray[np.float64]:
    """Class probabilities of every frame, averaged over overlapping windows.

    Args:
        model: a trained LookAgain model.
        session: the session; ``vision`` ``(frames, animals, Dv)`` is read at the
            selected frames only (None = zeros: a vision model then sees no frame).
        window: frames per window (capped at the model's ``max_len``).
        select: ``(frames, animals)`` bool, the frames the vision path looks at (from
            ``select_frames``); None = none. Ignored by a keypoint-only model.

    Returns:
        ``(frames, animals, n_classes)`` float64 probabilities.
    """
    frames, animals = session.motion.shape[:2]
    window = _window(model, window)
    dim = model.config.vision_dim
    vision = session.vision if dim is not None else None
    if dim is not None and vision is None:
        vision = np.zeros((frames, animals, dim), np.float32)
    if select is not None and select.shape != (frames, animals):
        raise InputError(
            f"select must be (frames, animals) = {(frames, animals)}; found {select.shape}.",
            fix="pass the mask select_frames returned for this session.",
        )
    mask = np.zeros((frames, animals), bool) if select is None else np.asarray(select, bool)
    full = GateSession(session.motion, session.labels, session.confidence, session.present,
                       vision)  # fmt: skip
    model.eval()

    def forward(start: int, stop: int) -> NDArray[np.float32]:
        inputs, _ = batch_windows([full], [(0, start, stop)], window)
        if dim is None:
            out = model(**inputs)
        else:
            sel = torch.from_numpy(np.ascontiguousarray(mask[start:stop].T[None]))
            out = model(**inputs, select=sel)
        probs = torch.softmax(out.logits.float(), dim=-1).numpy()
        return np.asarray(probs[0].transpose(1, 0, 2), np.float32)

    return average_windows(frames, window, model.config.n_classes, forward)
