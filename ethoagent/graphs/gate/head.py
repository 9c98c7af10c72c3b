"""The gate's classification head: never below the classical model or the one-line rule.

``gate train`` fits three detectors on the training labels and lets held-back training
frames choose how to answer:

- ``transformer``: the LookAgain model's class probabilities;
- ``logreg``: class-balanced logistic regression, one per animal, on the animal's and its
  partners' standardised body-length and social features and their rolling mean and SD
  over 0.5 s (the descriptor's pose part; raw positions left out);
- ``rule``: the nose-distance rule (two classes, two or more animals): the class that is
  more frequent when the animals are close wherever the nose-nose distance to the nearest
  partner is below a threshold (body lengths), the threshold the best F1 on the labels.

The transformer trains on the labelled frames less interleaved held-back blocks
(``split_span``: every fifth block of two windows, about ``VALIDATION`` of the frames,
sampling the whole span; never frames ``gate eval`` scores). On the held-back blocks the
mode (``transformer``, ``logreg``, ``mean`` of the two, or ``rule``) and the temporal
smoothing (moving average of the probabilities over ``SMOOTH_S``) of best macro-F1 are
chosen, a mode replacing a simpler one only when it is better by more than ``MARGIN``;
there logistic regression and the rule are fitted on the transformer's training blocks.
They are then refitted on every labelled frame. ``gate.json`` keeps the head (``head``):
mode, smoothing, the fitted weights and threshold, the held-back blocks and the macro-F1
of every mode on them, which ``gate train`` prints.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

if TYPE_CHECKING:  # torch loads with the model, not with this module
    from ethoagent.nn.lookagain import LookAgain
    from ethoagent.nn.train_gate import GateSession

__all__ = [
    "MODES",
    "SMOOTH_S",
    "VALIDATION",
    "apply_head",
    "choose_head",
    "fit_head",
    "fit_logreg",
    "fit_rule",
    "logreg_probs",
    "macro_f1",
    "rule_probs",
    "smooth",
    "social_inputs",
    "split_span",
]

VALIDATION = 0.2
"""Fraction of the labelled frames held back from the transformer (interleaved blocks)."""
BLOCK_WINDOWS = 2
"""Length of a held-back block, in training windows."""
SMOOTH_S: tuple[float, ...] = (0.0, 0.25, 0.5, 1.0)
"""Moving-average windows tried on the class probabilities, seconds."""
MODES: tuple[str, ...] = ("rule", "logreg", "mean", "transformer")
"""Head modes, simplest first (the first of equal scores wins)."""
MARGIN = 0.01
"""Macro-F1 by which a mode must beat a simpler one on the held-back frames (a few hundred
frames with a handful of bouts do not resolve smaller differences)."""
LOGREG_C = 0.1
"""Inverse L2 strength of the logistic regression (standardised features)."""


def _rows(
    features: NDArray[np.float64], labels: NDArray[np.int64]
) -> tuple[NDArray[np.float64], NDArray[np.int64]]:
    keep = labels.reshape(-1) >= 0
    return features.reshape(-1, features.shape[-1])[keep], labels.reshape(-1)[keep]


def social_inputs(features: NDArray[np.float32], pose_dims: int) -> NDArray[np.float64]:
    """Each animal's pose features followed by its partners' (in animal order, self skipped).

    Args:
        features: ``(frames, animals, D)`` standardised descriptors whose last
            ``pose_dims`` columns are the body-length features (0 = use all D).
        pose_dims: number of those columns.

    Returns:
        ``(frames, animals, animals * P)`` float64, ``P = pose_dims or D``.
    """
    own = features[..., -pose_dims:] if pose_dims else features
    animals = features.shape[1]
    rows = [
        np.concatenate([own[:, a], *(own[:, b] for b in range(animals) if b != a)], axis=-1)
        for a in range(animals)
    ]
    return np.stack(rows, axis=1).astype(np.float64)


def _fit_one(x: NDArray[np.float64], y: NDArray[np.int64], n_classes: int) -> dict[str, Any] | None:
    from sklearn.linear_model import LogisticRegression

    x, y = _rows(x, y)
    present = np.unique(y)
    if present.size < 2:
        return None
    fit = LogisticRegression(C=LOGREG_C, class_weight="balanced", max_iter=500).fit(x, y)
    coef = np.zeros((n_classes, x.shape[1]))
    intercept = np.full(n_classes, -1e3)
    if present.size == 2:  # sklearn's binary model: one row, for the second class
        coef[present[1]] = fit.coef_[0]
        intercept[present[0]], intercept[present[1]] = 0.0, fit.intercept_[0]
    else:
        coef[present] = fit.coef_
        intercept[present] = fit.intercept_
    return {"coef": coef.round(6).tolist(), "intercept": intercept.round(6).tolist()}


def fit_logreg(
    features: NDArray[np.float32], labels: NDArray[np.int64], n_classes: int, pose_dims: int = 0
) -> dict[str, Any] | None:
    """Class-balanced logistic regression per animal on its and its partners' pose features.

    One model per animal (the animals of a session play different parts: on ethome the
    adult and the juvenile), on ``social_inputs``; an animal whose labels hold fewer than
    two classes gets the model fitted on every animal's rows.

    Args:
        features: ``(frames, animals, D)`` float32, standardised.
        labels: ``(frames, animals)`` int64 classes, -1 = unlabelled.
        n_classes: number of classes.
        pose_dims: trailing pose-feature columns of the descriptor (0 = every column).

    Returns:
        ``{"pose_dims", "animals": [{"coef": (n_classes, A * P), "intercept":
        (n_classes,)}, ...]}`` as lists (a class absent from the labels gets a very
        negative intercept), or None with fewer than 2 classes in all.
    """
    x = social_inputs(features, pose_dims)
    pooled = _fit_one(x, labels, n_classes)
    if pooled is None:
        return None
    per = [_fit_one(x[:, a], labels[:, a], n_classes) for a in range(x.shape[1])]
    return {"pose_dims": pose_dims, "animals": [m or pooled for m in per]}


def logreg_probs(head: dict[str, Any], features: NDArray[np.float32]) -> NDArray[np.float64]:
    """``(frames, animals, n_classes)`` probabilities of ``fit_logreg``'s models."""
    x = social_inputs(features, int(head["pose_dims"]))
    out = []
    for a, m in enumerate(head["animals"]):
        logits = x[:, a] @ np.asarray(m["coef"], np.float64).T + np.asarray(m["intercept"])
        logits -= logits.max(axis=-1, keepdims=True)
        p = np.exp(logits)
        out.append(p / p.sum(axis=-1, keepdims=True))
    probs: NDArray[np.float64] = np.stack(out, axis=1)
    return probs


def fit_rule(
    nose: NDArray[np.float64], labels: NDArray[np.int64], n_classes: int
) -> dict[str, Any] | None:
    """The nose-distance rule with the threshold of best F1 on the labels.

    Args:
        nose: ``(frames, animals)`` nose-nose distance to the nearest partner, body lengths,
            NaN = unknown.
        labels: ``(frames, animals)`` int64, -1 = unlabelled.
        n_classes: number of classes; the rule exists for 2 only.

    Returns:
        ``{"close": class when close, "other": the other class, "threshold": body
        lengths, "f1": its F1 on these labels}``, or None (not two classes, no distance).
    """
    keep = (labels >= 0) & np.isfinite(nose)
    if n_classes != 2 or keep.sum() < 2:
        return None
    d, y = nose[keep], labels[keep]
    near = d <= np.median(d)
    close = int(np.bincount(y[near], minlength=2).argmax())
    if close == int(np.bincount(y[~near], minlength=2).argmax()):
        close = int(np.bincount(y, minlength=2).argmin())  # the rarer one: the social class
    hit = y == close
    best = (-1.0, 0.0)
    for t in np.unique(np.quantile(d, np.linspace(0.01, 0.99, 99))):
        pred = d <= t
        tp = float((pred & hit).sum())
        f1 = 2 * tp / max(1.0, float(pred.sum() + hit.sum()))
        if f1 > best[0]:
            best = (f1, float(t))
    return {"close": close, "other": 1 - close, "threshold": round(best[1], 6),
            "f1": round(best[0], 4)}  # fmt: skip


def rule_probs(rule: dict[str, Any], nose: NDArray[np.float64]) -> NDArray[np.float64]:
    """``(frames, animals, 2)`` one-hot answers of ``fit_rule``'s rule (unknown = far)."""
    near = np.nan_to_num(nose, nan=np.inf) <= float(rule["threshold"])
    out = np.zeros((*nose.shape, 2))
    out[..., int(rule["close"])] = near
    out[..., int(rule["other"])] = ~near
    return out


def smooth(probs: NDArray[np.float64], frames: int) -> NDArray[np.float64]:
    """Centred moving average of ``(frames, animals, C)`` probabilities over ``frames``."""
    if frames <= 1:
        return probs
    kernel = np.ones(frames) / frames
    padded = np.pad(probs, ((frames // 2, frames - 1 - frames // 2), (0, 0), (0, 0)), "edge")
    out: NDArray[np.float64] = np.apply_along_axis(
        lambda v: np.convolve(v, kernel, mode="valid"), 0, padded
    )
    return out


def macro_f1(pred: NDArray[np.int64], truth: NDArray[np.int64], n_classes: int) -> float:
    """Macro-F1 over the classes present in ``truth`` or ``pred`` (labelled entries only)."""
    keep = truth >= 0
    p, t = pred[keep], truth[keep]
    scores = []
    for c in range(n_classes):
        tp = float(((p == c) & (t == c)).sum())
        n = float((p == c).sum() + (t == c).sum())
        if n:
            scores.append(2 * tp / n)
    return float(np.mean(scores)) if scores else 0.0


def _mode_probs(
    mode: str,
    transformer: NDArray[np.float64],
    logreg: NDArray[np.float64] | None,
    rule: NDArray[np.float64] | None,
) -> NDArray[np.float64] | None:
    if mode == "transformer":
        return transformer
    if mode == "logreg":
        return logreg
    if mode == "mean":
        return None if logreg is None else (transformer + logreg) / 2
    return rule


def choose_head(
    transformer: NDArray[np.float64],
    features: NDArray[np.float32],
    nose: NDArray[np.float64],
    labels: NDArray[np.int64],
    fitted: tuple[dict[str, Any] | None, dict[str, Any] | None],
    fps: float,
) -> dict[str, Any]:
    """Pick the mode and smoothing of best macro-F1 on held-back training frames.

    Args:
        transformer: ``(frames, animals, C)`` the transformer's probabilities on them.
        features: ``(frames, animals, D)`` their standardised descriptors.
        nose: ``(frames, animals)`` their nose-nose distances, body lengths.
        labels: ``(frames, animals)`` their labels, -1 = unlabelled.
        fitted: ``(logreg, rule)`` fitted on the transformer's training frames (or None).
        fps: frame rate, Hz.

    Returns:
        ``{"mode", "smooth_frames", "validation": {mode: macro-F1}, "validation_frames"}``.
    """
    n_classes = transformer.shape[-1]
    logreg = logreg_probs(fitted[0], features) if fitted[0] is not None else None
    rule = rule_probs(fitted[1], nose) if fitted[1] is not None else None
    scores: dict[str, float] = {}
    best: tuple[float, str, int] = (-1.0, "transformer", 1)
    for mode in MODES:
        probs = _mode_probs(mode, transformer, logreg, rule)
        if probs is None:
            continue
        own = (-1.0, 1)
        for seconds in SMOOTH_S if mode != "rule" else (0.0,):
            frames = max(1, round(seconds * fps))
            f1 = macro_f1(smooth(probs, frames).argmax(axis=-1), labels, n_classes)
            own = max(own, (f1, frames), key=lambda v: v[0])
        scores[mode] = round(own[0], 4)
        if own[0] > best[0] + (MARGIN if best[0] >= 0 else 0.0):
            best = (own[0], mode, own[1])
    return {"mode": best[1], "smooth_frames": best[2], "validation": scores,
            "validation_frames": int((labels >= 0).any(axis=1).sum())}  # fmt: skip


def apply_head(
    head: dict[str, Any] | None,
    transformer: NDArray[np.float64],
    features: NDArray[np.float32],
    nose: NDArray[np.float64],
) -> NDArray[np.float64]:
    """The head's ``(frames, animals, C)`` probabilities (None = the transformer's as is).

    Args:
        head: ``gate.json``'s ``head`` (``choose_head`` plus ``logreg`` and ``rule``).
        transformer: ``(frames, animals, C)`` the transformer's probabilities.
        features: ``(frames, animals, D)`` standardised descriptors.
        nose: ``(frames, animals)`` nose-nose distances, body lengths.
    """
    if head is None:
        return transformer
    logreg = logreg_probs(head["logreg"], features) if head.get("logreg") else None
    rule = rule_probs(head["rule"], nose) if head.get("rule") else None
    probs = _mode_probs(str(head["mode"]), transformer, logreg, rule)
    return smooth(transformer if probs is None else probs, int(head["smooth_frames"]))


def split_span(span: slice, window: int) -> tuple[list[slice], list[slice]]:
    """``(fit, validation)`` blocks of the labelled span, interleaved.

    The span is cut into blocks of ``BLOCK_WINDOWS * window`` frames; every
    ``round(1 / VALIDATION)``-th block, from the third on, is held back from the
    transformer, so the held-back frames sample the whole span (a block at its end alone
    may hold no bout of a rare class). Under ``2 / VALIDATION`` blocks, nothing is held
    back.
    """
    block = BLOCK_WINDOWS * window
    every = round(1 / VALIDATION)
    starts = list(range(span.start, span.stop, block))
    if len(starts) < 2 * every:
        return [span], []
    fit: list[slice] = []
    val: list[slice] = []
    for i, start in enumerate(starts):
        part = slice(start, min(start + block, span.stop))
        (val if i % every == every - 3 else fit).append(part)
    return fit, val


def fit_head(
    model: LookAgain,
    session: GateSession,
    nose: NDArray[np.float64],
    spans: tuple[list[slice], list[slice]],
    window: int,
    fps: float,
    pose_dims: int = 0,
) -> dict[str, Any] | None:
    """Choose and fit the head of a trained model (see the module doc).

    Args:
        model: the LookAgain model, trained on the blocks ``spans[0]`` of ``session``.
        session: the whole labelled session, standardised (labels ``(frames, animals)``).
        nose: ``(frames, animals)`` nose-nose distances of the session, body lengths.
        spans: the transformer's training blocks and the held-back ones (none: no
            choice, the transformer answers alone).
        window: the model's inference window, frames.
        fps: frame rate, Hz.
        pose_dims: trailing pose-feature columns of the descriptor (``fit_logreg``).

    Returns:
        ``gate.json``'s ``head``, or None where nothing was held back.
    """
    from ethoagent.nn.predict_gate import predict_probabilities, select_frames

    fit, val = spans
    if not val:
        return None
    n_classes = model.config.n_classes
    probs = []
    for part in val:
        held = session.part(part)
        select = None
        if held.vision is not None:
            select = select_frames(model, held, window, model.config.gate_fraction)
        probs.append(predict_probabilities(model, held, window, select=select))

    def cat(a: Any, parts: list[slice]) -> Any:
        return np.concatenate([a[p] for p in parts], axis=0)

    x, y = session.motion, session.labels
    fitted = (
        fit_logreg(cat(x, fit), cat(y, fit), n_classes, pose_dims),
        fit_rule(cat(nose, fit), cat(y, fit), n_classes),
    )
    head = choose_head(np.concatenate(probs), cat(x, val), cat(nose, val), cat(y, val), fitted,
                       fps)  # fmt: skip
    whole = slice(fit[0].start, max(fit[-1].stop, val[-1].stop))
    head["logreg"] = fit_logreg(x[whole], y[whole], n_classes, pose_dims)
    head["rule"] = fit_rule(nose[whole], y[whole], n_classes)
    head["held_back"] = [[p.start, p.stop] for p in val]
    return head
