"""Classical behaviour detectors fitted from a user's few labelled examples (model-free).

The cheap path of classify: the strongest detector a few example clips support, never
below the one-line rule a user could write.

1. ``detector_features``: windowed kinematics of every animal at several time scales
   (``SCALES_S``): ``tools.features`` per-frame features, head speed, nose-to-partner
   distances, and their rolling mean and standard deviation; lengths in body lengths (BL).
2. Rules from the class names (``RULES``), calibrated to body size and frame rate:
   freezing = BehaviorDEPOT's velocity rule (its 0.52 cm/s and 12 deg/s as the prior,
   the body length as the ruler); rearing = a short (2D) or raised (3D) body; interact /
   contact = own nose near another animal's body; darting = fast. One threshold each,
   refined on the example frames.
3. ``fit_detector``: a class-balanced logistic regression on the example frames mixed
   with the rules, rule weight and smoothing chosen by cross-validation over the example
   clips; the rules alone are a candidate and win ties (``Detector.cv_report``).

``Detector.predict`` gives probabilities, labels and an uncertainty (low margin, or the
model and the rules disagreeing); ``window_uncertainty`` averages it per query window,
so that only uncertain windows need a vision model.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.ndimage import uniform_filter1d

from ethoagent.errors import InputError
from ethoagent.model.ethogram import Example
from ethoagent.tools.classify import freezing_by_velocity, per_class_scores, smooth_hmm
from ethoagent.tools.features import BodyLayout, compute_features, infer_layout

__all__ = [
    "BODY_LENGTH_CM",
    "RULES",
    "SCALES_S",
    "Detector",
    "DetectorFeatures",
    "DetectorPrediction",
    "RuleKind",
    "detector_features",
    "fit_detector",
    "rule_fires",
    "rule_kind",
    "window_uncertainty",
]

SCALES_S: tuple[float, ...] = (0.1, 0.25, 0.5)
"""Time scales (s) of the rolling statistics. Longer ones (1, 2 s) cost macro-F1 on the
simulator (0.84 vs 0.87 with 0.5 s example clips): they blur short bouts such as darting."""

BODY_LENGTH_CM = 6.5
"""Nose-to-tail-base length of an adult mouse (cm): turns BehaviorDEPOT's cm/s thresholds
into body lengths per second, so the freezing rule needs no pixel scale."""

RuleKind = Literal["freezing", "rearing", "contact", "darting"]

RULES: dict[RuleKind, tuple[str, ...]] = {
    "freezing": ("freez", "immobil", "still"),
    "rearing": ("rear",),
    "contact": ("interact", "contact", "social", "sniff", "investigat"),
    "darting": ("dart", "flee", "escape"),
}
"""Rule kind -> words in a class name that call for it."""

_GRID: dict[str, tuple[float, ...]] = {
    # freezing: multiple of BehaviorDEPOT's thresholds (0.52 cm/s, 12 deg/s); prior 1
    "freezing": (0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 4.0),
    # rearing 2D: elongation (BL) below; 3D: quantile of back height above
    "rearing": (0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85),
    "rearing3d": (0.6, 0.7, 0.8, 0.85, 0.9, 0.95),
    # contact: own nose to the nearest keypoint of another animal (BL) below
    "contact": (0.2, 0.3, 0.4, 0.5, 0.75, 1.0, 1.5),
    # darting: body-centre speed over 0.25 s (BL/s) above
    "darting": (1.5, 2.0, 3.0, 4.0, 6.0, 8.0),
}
_PRIOR = {"freezing": 1.0, "rearing": 0.7, "rearing3d": 0.9, "contact": 0.5, "darting": 3.0}
_WEIGHTS = (0.0, 0.25, 0.5, 0.75, 1.0)
_DWELL_S = (0.3, 0.0, 1.0)  # in order of preference: bouts outlast a few frames


# --------------------------------------------------------------------------- features


@dataclass(frozen=True)
class DetectorFeatures:
    """Multi-scale kinematic features of one session.

    Attributes:
        values: ``(frames, individuals, features)`` float64, standardised per session
            (zero mean, unit variance over frames and animals; NaN filled with 0).
        names: feature names, length ``features``.
        raw: ``(frames, individuals, features)`` float64 before standardisation (BL,
            BL/s, rad, s; NaN where not computable): what the rules read.
        freezing: ``(thresholds, frames, individuals)`` bool, BehaviorDEPOT's rule.
        fps: frame rate, Hz; dim: 2 or 3.
    """

    values: NDArray[np.float64]
    names: tuple[str, ...]
    raw: NDArray[np.float64]
    freezing: NDArray[np.bool_]
    fps: float
    dim: int

    @property
    def frames(self) -> int:
        """Number of frames."""
        return int(self.values.shape[0])

    @property
    def individuals(self) -> int:
        """Number of animals."""
        return int(self.values.shape[1])

    def column(self, name: str) -> NDArray[np.float64]:
        """One raw feature, ``(frames, individuals)``; NaN if the session lacks it."""
        if name not in self.names:
            return np.full(self.values.shape[:2], np.nan)
        out: NDArray[np.float64] = self.raw[:, :, self.names.index(name)]
        return out


def _ffill(x: NDArray[np.float64]) -> NDArray[np.float64]:
    """Fill NaN along axis 0 with the nearest earlier value, then later; else 0."""
    out = x.copy()
    ok = np.isfinite(out)
    t = np.arange(out.shape[0]).reshape((-1,) + (1,) * (out.ndim - 1))
    prev = np.maximum.accumulate(np.where(ok, t, 0), axis=0)
    out = np.take_along_axis(out, np.broadcast_to(prev, out.shape), axis=0)
    ok = np.isfinite(out)
    fill = np.take_along_axis(out, np.argmax(ok, axis=0)[None], axis=0)[0]
    return np.nan_to_num(np.where(ok, out, fill), nan=0.0)


def _bd_points(
    pts: NDArray[np.float64], keypoints: Sequence[str], layout: BodyLayout
) -> tuple[NDArray[np.float64], ...]:
    """Head, rear, nose, between-ears points ``(frames, individuals, 2)``, BehaviorDEPOT's.

    Head = head keypoints with the ears, rear = paws with the tail base, head direction
    = ears (or body centre) -> nose.
    """
    norm = [re.sub(r"[^a-z0-9]", "", k.lower()) for k in keypoints]

    def mean(names: Sequence[str]) -> NDArray[np.float64]:
        idx = [norm.index(re.sub(r"[^a-z0-9]", "", n.lower())) for n in names]
        with np.errstate(all="ignore"):
            out: NDArray[np.float64] = np.nanmean(pts[:, :, idx, :2], axis=2)
        return out

    ears = [k for k in keypoints if "ear" in k.lower()]
    nose = mean(layout.head)
    between = mean(ears) if ears else mean(layout.centre or (layout.tail_base,))
    head = mean((*layout.head, *ears))
    rear = mean((*layout.paws, layout.tail_base))
    return head, rear, nose, between


def _freezing_grid(
    pts: NDArray[np.float64],
    keypoints: Sequence[str],
    layout: BodyLayout,
    fps: float,
    body_length: NDArray[np.float64],
) -> NDArray[np.bool_]:
    """BehaviorDEPOT's rule per animal at every threshold multiple of ``_GRID``."""
    head, rear, nose, ears = _bd_points(pts, keypoints, layout)
    grid = _GRID["freezing"]
    out = np.zeros((len(grid), pts.shape[0], pts.shape[1]), dtype=bool)
    width = max(3, round(32 * fps / 50.0))
    count = max(2, round(10 * fps / 50.0))
    smooth = max(1, round(14 * fps / 50.0))
    for a in range(pts.shape[1]):
        if not np.isfinite(body_length[a]) or not np.isfinite(head[:, a]).any():
            continue
        for g, mult in enumerate(grid):
            out[g, :, a] = freezing_by_velocity(
                head[:, a], rear[:, a], nose[:, a], ears[:, a], fps=fps,
                units_per_cm=float(body_length[a]) / BODY_LENGTH_CM,
                velocity_threshold=0.52 * mult, angle_threshold=12.0 * mult,
                window_width=width, count_threshold=count, smooth_frames=smooth,
            )  # fmt: skip
    return out


def _nose_body(
    pts: NDArray[np.float64], keypoints: Sequence[str], layout: BodyLayout,
    body_length: NDArray[np.float64],
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:  # fmt: skip
    """Own head to another animal's body, and another's head to own body, BL.

    Each ``(frames, individuals)``: to / from the nearest keypoint; NaN with one animal.
    """
    frames, animals = pts.shape[:2]
    nose_body = np.full((frames, animals), np.nan)
    partner = np.full((frames, animals), np.nan)
    if animals < 2:
        return nose_body, partner
    head, *_ = _bd_points(pts, keypoints, layout)
    with np.errstate(all="ignore"):
        for a in range(animals):
            for b in range(animals):
                if a == b:
                    continue
                # (frames, keypoints of b): a's head to b's body, then b's head to a's body
                d_ab = np.linalg.norm(pts[:, b, :, :2] - head[:, a, None], axis=-1)
                d_ba = np.linalg.norm(pts[:, a, :, :2] - head[:, b, None], axis=-1)
                nose_body[:, a] = np.fmin(nose_body[:, a], np.nanmin(d_ab, axis=1))
                partner[:, a] = np.fmin(partner[:, a], np.nanmin(d_ba, axis=1))
    return nose_body / body_length, partner / body_length


def detector_features(
    points: ArrayLike,
    *,
    fps: float,
    keypoints: Sequence[str],
    individuals: Sequence[str] | None = None,
    layout: BodyLayout | None = None,
    scales_s: Sequence[float] = SCALES_S,
) -> DetectorFeatures:
    """Windowed kinematic features of every animal at several time scales.

    Per frame: every feature of ``compute_features`` (without its rolling statistics),
    ``head_speed`` (BL/s), ``log_speed`` (log10 of body-centre speed + 0.01 BL/s) and,
    with two or more animals, ``nose_body`` / ``partner_nose_body`` (own head to the
    nearest keypoint of another animal / another animal's head to the nearest own
    keypoint, BL);
    then for each scale ``s`` in ``scales_s`` the centred rolling mean and standard
    deviation of each (``<name>_mean_<s>s``, ``<name>_std_<s>s``), and the share of
    frames BehaviorDEPOT's rule (prior thresholds) calls freezing (``freezing_rule_<s>s``).

    Args:
        points: ``(frames, individuals, keypoints, D)`` float64, D = 2 (pixels) or 3 (any
            length unit, z up), NaN = missing.
        fps: frame rate, Hz.
        keypoints: keypoint names, length ``keypoints``.
        individuals: individual names; None = ``individual_<i>``.
        layout: which keypoint is what; None = ``infer_layout(keypoints)``.
        scales_s: rolling-window lengths, s.

    Returns:
        The features, raw and standardised, and the freezing rule at every threshold.

    Raises:
        InputError: as ``compute_features`` (shapes, names, layout).
    """
    lay = infer_layout(keypoints) if layout is None else layout
    base = compute_features(
        points, fps=fps, keypoints=keypoints, individuals=individuals, layout=lay, window_s=0
    )
    pts = np.asarray(points, dtype=np.float64)
    head, *_ = _bd_points(pts, keypoints, lay)
    step = np.linalg.norm(np.diff(head, axis=0), axis=-1) * fps / base.body_length
    head_speed = np.concatenate([step[:1], step])
    log_speed = np.log10(np.clip(base.column("speed"), 0, None) + 0.01)
    frz = _freezing_grid(pts, keypoints, lay, fps, base.body_length)
    extra_cols = {"head_speed": head_speed, "log_speed": log_speed}
    if pts.shape[1] >= 2:
        nb, pnb = _nose_body(pts, keypoints, lay, base.body_length)
        extra_cols |= {"nose_body": nb, "partner_nose_body": pnb}
    per_frame = np.concatenate([base.values, np.stack(list(extra_cols.values()), -1)], -1)
    names = [*base.names, *extra_cols]
    filled = _ffill(per_frame)
    cols, extra = [per_frame], []
    prior = _GRID["freezing"].index(_PRIOR["freezing"])
    for s in scales_s:
        w = max(1, round(s * fps))
        mean = uniform_filter1d(filled, size=w, axis=0, mode="nearest")
        sq = uniform_filter1d(filled * filled, size=w, axis=0, mode="nearest")
        std = np.sqrt(np.clip(sq - mean * mean, 0.0, None))
        cols += [mean, std]
        extra += [f"{n}_mean_{s:g}s" for n in names] + [f"{n}_std_{s:g}s" for n in names]
        rule = uniform_filter1d(frz[prior].astype(np.float64), size=w, axis=0, mode="nearest")
        cols.append(rule[..., None])
        extra.append(f"freezing_rule_{s:g}s")
    raw = np.concatenate(cols, axis=-1)
    flat = raw.reshape(-1, raw.shape[-1])
    with np.errstate(all="ignore"):
        mu, sd = np.nanmean(flat, axis=0), np.nanstd(flat, axis=0)
    z = (raw - np.nan_to_num(mu)) / np.where(np.isfinite(sd) & (sd > 1e-9), sd, 1.0)
    return DetectorFeatures(
        values=np.nan_to_num(z, nan=0.0, posinf=0.0, neginf=0.0),
        names=(*names, *extra),
        raw=raw,
        freezing=frz,
        fps=float(fps),
        dim=int(pts.shape[3]),
    )


# --------------------------------------------------------------------------- rules


def rule_kind(label: str) -> RuleKind | None:
    """The rule a class name calls for (``RULES``), or None."""
    low = label.lower()
    for kind, words in RULES.items():
        if any(w in low for w in words):
            return kind
    return None


def _grid_key(kind: RuleKind, feats: DetectorFeatures) -> str:
    return "rearing3d" if kind == "rearing" and feats.dim == 3 else kind


def rule_fires(kind: RuleKind, feats: DetectorFeatures, threshold: float) -> NDArray[np.bool_]:
    """Where a rule fires, ``(frames, individuals)`` bool.

    Args:
        kind: which rule (``RULES``).
        feats: the session's features.
        threshold: freezing: multiple of BehaviorDEPOT's thresholds (one of the grid's);
            rearing: elongation (BL) below which (2D) or quantile of back height above
            which (3D) the animal rears; contact: own nose to the nearest keypoint of
            another animal (BL) below;
            darting: speed over 0.25 s (BL/s) above.

    Returns:
        ``(frames, individuals)`` bool; all False where the rule cannot be computed (no
        partner for contact).
    """
    with np.errstate(invalid="ignore"):
        if kind == "freezing":
            grid = _GRID["freezing"]
            g = int(np.argmin([abs(m - threshold) for m in grid]))
            return np.asarray(feats.freezing[g], dtype=bool)
        if kind == "rearing" and feats.dim == 3:
            h = feats.column("height_mean_0.25s")
            cut = np.nanquantile(h, threshold, axis=0) if np.isfinite(h).any() else np.inf
            return np.asarray(h > cut, dtype=bool)
        if kind == "rearing":
            return np.asarray(feats.column("elongation_mean_0.25s") < threshold, dtype=bool)
        if kind == "contact":
            return np.asarray(feats.column("nose_body") < threshold, dtype=bool)
        return np.asarray(feats.column("speed_mean_0.25s") > threshold, dtype=bool)


def _f1(pred: NDArray[np.bool_], truth: NDArray[np.bool_], w: ArrayLike = 1.0) -> float:
    wt = np.asarray(w, dtype=np.float64)
    tp = float(np.sum(wt * (pred & truth)))
    denom = float(np.sum(wt * pred) + np.sum(wt * truth))
    return 2 * tp / denom if denom else 0.0


def _best_threshold(
    kind: RuleKind, feats: DetectorFeatures, rows: NDArray[np.int64], truth: NDArray[np.bool_]
) -> float:
    """The threshold nearest the prior within one bootstrap SE (clips) of the best F1.

    ``rows``: ``(n, 2)`` (frame, individual) of example frames; ``truth``: ``(n,)`` bool,
    the rule's class. A few clips move the prior only where they clearly disagree.
    """
    key = _grid_key(kind, feats)
    grid = sorted(_GRID[key], key=lambda v: abs(v - _PRIOR[key]))
    hits = [rule_fires(kind, feats, t)[rows[:, 0], rows[:, 1]] for t in grid]
    f1 = np.asarray([_f1(h, truth) for h in hits])
    b = int(np.argmax(f1))
    clip = np.cumsum(np.r_[True, (np.diff(rows[:, 0]) != 1) | (np.diff(rows[:, 1]) != 0)])
    rng = np.random.default_rng(0)
    n = int(clip.max())
    boot = [
        _f1(hits[b], truth, np.bincount(rng.integers(1, n + 1, n), minlength=n + 1)[clip])
        for _ in range(50)
    ]
    return float(grid[int(np.argmax(f1 >= f1[b] - np.std(boot) - 1e-9))])


# --------------------------------------------------------------------------- detector


@dataclass(frozen=True)
class DetectorPrediction:
    """What a detector says about one session.

    Attributes:
        proba: ``(frames, individuals, classes)`` float64, rows summing to 1.
        labels: ``(frames, individuals)`` int64 class indices: the argmax of ``proba``,
            or its most likely path under the detector's sticky HMM (``dwell_s``).
        uncertainty: ``(frames, individuals)`` float64 in [0, 1]: half of (1 - margin
            between the two most likely classes) plus half where the fitted model and
            the rules disagree.
        rule_labels: ``(frames, individuals)`` int64, the rules alone (the baseline).
    """

    proba: NDArray[np.float64]
    labels: NDArray[np.int64]
    uncertainty: NDArray[np.float64]
    rule_labels: NDArray[np.int64]


@dataclass(frozen=True)
class Detector:
    """A fitted classical detector: model, calibrated rules, mixing weight, smoothing.

    Attributes:
        classes: the label set.
        model: a fitted scikit-learn classifier on ``DetectorFeatures.values`` (None when
            the examples hold a single class); model_kind: ``"logreg"``, or
            ``"rules"`` where the rules alone decide (the logistic regression is then
            kept only to measure disagreement).
        model_classes: the class indices the model knows, in its column order.
        rules: class index -> (rule kind, threshold) for classes a rule covers.
        fallback: class given where no rule fires, for the rules alone.
        weight: the rules' share of the mixed probability (0 = model only, 1 = rules
            decide wherever they apply).
        dwell_s: expected stay in a class of the sticky HMM that smooths the labels
            (``tools.classify.smooth_hmm``, stay = 1 - 1 / (fps * dwell_s)), s; 0 = none.
        cv_report: the cross-validated comparison on the examples (see ``fit_detector``).
    """

    classes: tuple[str, ...]
    model: Any
    model_kind: str
    model_classes: tuple[int, ...]
    rules: dict[int, tuple[RuleKind, float]]
    fallback: int
    weight: float
    dwell_s: float
    cv_report: dict[str, Any] = field(default_factory=dict)

    def __repr__(self) -> str:
        rules = ", ".join(f"{self.classes[c]}={k}@{t:g}" for c, (k, t) in self.rules.items())
        return (
            f"Detector(classes={len(self.classes)}, model={self.model_kind!r}, "
            f"rules=[{rules}], weight={self.weight:g}, dwell_s={self.dwell_s:g})"
        )

    def predict(self, feats: DetectorFeatures) -> DetectorPrediction:
        """Probabilities, labels and uncertainty of every animal in every frame."""
        p_model = _model_proba(self.model, self.model_classes, feats, len(self.classes))
        fires = _fires(self.rules, feats)
        rule_lab = _rule_labels(fires, self.rules, self.fallback, feats)
        if self.model_kind == "rules":
            proba = np.eye(len(self.classes))[rule_lab]
        else:
            proba = _mix(p_model, fires, self.rules, self.weight)
        labels = _smooth(proba, feats.fps, self.dwell_s)
        top2 = np.sort(proba, axis=-1)[..., -2:] if proba.shape[-1] > 1 else proba
        margin = top2[..., -1] - (top2[..., 0] if proba.shape[-1] > 1 else 0.0)
        covered = np.isin(p_model.argmax(-1), list(self.rules)) | fires.any(-1)
        disagree = covered & (p_model.argmax(-1) != rule_lab) if self.rules else covered & False
        unc = 0.5 * (1.0 - margin) + 0.5 * disagree
        return DetectorPrediction(proba, labels, np.clip(unc, 0.0, 1.0), rule_lab)

    def predict_proba(self, feats: DetectorFeatures) -> NDArray[np.float64]:
        """``(frames, individuals, classes)`` float64 probabilities (``predict().proba``)."""
        return self.predict(feats).proba


def _model_proba(
    model: Any, model_classes: tuple[int, ...], feats: DetectorFeatures, n_classes: int
) -> NDArray[np.float64]:
    f, a, n = feats.values.shape
    out = np.zeros((f, a, n_classes))
    if model is None:
        out[..., model_classes[0]] = 1.0
        return out
    p = model.predict_proba(feats.values.reshape(-1, n)).reshape(f, a, -1)
    out[..., list(model_classes)] = p
    return out


def _fires(rules: dict[int, tuple[RuleKind, float]], feats: DetectorFeatures) -> NDArray[np.bool_]:
    """``(frames, individuals, rules)`` bool, in ``rules`` order."""
    if not rules:
        return np.zeros((feats.frames, feats.individuals, 0), dtype=bool)
    return np.stack([rule_fires(k, feats, t) for k, t in rules.values()], axis=-1)


def _rule_labels(
    fires: NDArray[np.bool_],
    rules: dict[int, tuple[RuleKind, float]],
    fallback: int,
    feats: DetectorFeatures,
) -> NDArray[np.int64]:
    """The rules alone: the first rule's class that fires, else ``fallback``."""
    out = np.full((feats.frames, feats.individuals), fallback, dtype=np.int64)
    for j, c in reversed(list(enumerate(rules))):
        out[fires[..., j]] = c
    return out


def _mix(
    p_model: NDArray[np.float64],
    fires: NDArray[np.bool_],
    rules: dict[int, tuple[RuleKind, float]],
    weight: float,
) -> NDArray[np.float64]:
    """Mix the model with the rules at ``weight``.

    The rules' part: where a rule fires its class is certain; where rules are silent
    their classes are ruled out and the model's other classes share the mass.
    """
    if not rules or weight <= 0:
        return p_model
    p_rule = p_model.copy()
    idx = list(rules)
    p_rule[..., idx] = 0.0
    total = p_rule.sum(-1, keepdims=True)
    n_rest = p_model.shape[-1] - len(idx)
    even = np.ones(p_model.shape[-1]) / max(n_rest, 1)
    even[idx] = 0.0
    p_rule = np.where(total > 1e-12, p_rule / np.maximum(total, 1e-12), even)
    for j, c in reversed(list(enumerate(idx))):
        onehot = np.zeros(p_model.shape[-1])
        onehot[c] = 1.0
        p_rule[fires[..., j]] = onehot
    out: NDArray[np.float64] = (1.0 - weight) * p_model + weight * p_rule
    return out


def _smooth(proba: NDArray[np.float64], fps: float, dwell_s: float) -> NDArray[np.int64]:
    """``(frames, individuals)`` labels: the argmax, or the sticky HMM's Viterbi path."""
    if dwell_s <= 0 or proba.shape[-1] < 2:
        return np.asarray(proba.argmax(-1), dtype=np.int64)
    stay = max(0.5, 1.0 - 1.0 / (fps * dwell_s))
    return np.stack([smooth_hmm(proba[:, a], stay=stay) for a in range(proba.shape[1])], 1)


def window_uncertainty(
    uncertainty: ArrayLike, windows: Sequence[tuple[int, int]]
) -> NDArray[np.float64]:
    """Mean uncertainty per window and animal.

    Args:
        uncertainty: ``(frames, individuals)`` float64 (``DetectorPrediction.uncertainty``).
        windows: ``[start, stop)`` frame ranges.

    Returns:
        ``(windows, individuals)`` float64 in [0, 1].
    """
    u = np.asarray(uncertainty, dtype=np.float64)
    if u.ndim != 2:
        raise InputError(
            f"uncertainty must be (frames, individuals); found shape {u.shape}.",
            fix="pass DetectorPrediction.uncertainty.",
        )
    return np.stack([u[s:e].mean(axis=0) for s, e in windows]) if windows else np.zeros((0,))


# --------------------------------------------------------------------------- fitting


@dataclass(frozen=True)
class _Examples:
    """Example frames: rows ``(n, 2)`` (frame, individual), class y and CV fold ``(n,)``."""

    rows: NDArray[np.int64]
    y: NDArray[np.int64]
    fold: NDArray[np.int64]
    folds: int


def _example_rows(
    examples: Sequence[Example], classes: Sequence[str], feats: DetectorFeatures
) -> _Examples:
    clips_of = {c: [g for g, e in enumerate(examples) if e.label == c] for c in classes}
    folds = min(5, max(len(v) for v in clips_of.values()))
    fold_of = {g: i % max(folds, 1) for v in clips_of.values() for i, g in enumerate(v)}
    rows, y, fold = [], [], []
    for g, e in enumerate(examples):
        if e.label not in classes:
            raise InputError(
                f"example {e.label!r} (frames {e.start}-{e.stop}) is not a class of "
                f"{list(classes)}.",
                fix="label examples with the classes given, or add the class.",
            )
        if e.animal >= feats.individuals or e.stop > feats.frames or e.start >= e.stop:
            raise InputError(
                f"example {e.label!r} (animal {e.animal}, frames {e.start}-{e.stop}) lies "
                f"outside the session ({feats.individuals} animals, {feats.frames} frames).",
                fix="give examples inside the session's frames and animals.",
            )
        f = np.arange(e.start, e.stop)
        rows.append(np.stack([f, np.full(f.size, e.animal)], axis=1))
        y.append(np.full(f.size, classes.index(e.label)))
        fold.append(np.full(f.size, fold_of[g]))
    if not rows:
        raise InputError(
            "fit_detector needs at least one example clip.", fix="label a few clips per class."
        )
    cat = [np.concatenate(v).astype(np.int64) for v in (rows, y, fold)]
    return _Examples(rows=cat[0], y=cat[1], fold=cat[2], folds=folds)


def _fit_model(
    feats: DetectorFeatures, rows: NDArray[np.int64], y: NDArray[np.int64]
) -> tuple[Any, tuple[int, ...]]:
    """Class-balanced logistic regression on the example rows (None for one class)."""
    from sklearn.linear_model import LogisticRegression

    present = tuple(int(c) for c in np.unique(y))
    if len(present) < 2:
        return None, present
    model = LogisticRegression(C=0.1, max_iter=3000, class_weight="balanced")
    model.fit(feats.values[rows[:, 0], rows[:, 1]], y)
    return model, tuple(int(c) for c in model.classes_)


def _rules_for(classes: Sequence[str], feats: DetectorFeatures) -> dict[int, RuleKind]:
    """Class index -> rule kind, for the rules this session can compute."""
    out: dict[int, RuleKind] = {}
    for c, name in enumerate(classes):
        kind = rule_kind(name)
        if kind == "contact" and not np.isfinite(feats.column("nose_body")).any():
            continue
        if kind is not None and kind not in out.values():
            out[c] = kind
    return out


def _calibrate(
    kinds: dict[int, RuleKind], feats: DetectorFeatures, rows: NDArray[np.int64],
    y: NDArray[np.int64],
) -> dict[int, tuple[RuleKind, float]]:  # fmt: skip
    """Thresholds refined on example rows (the prior where a class has no example)."""
    out: dict[int, tuple[RuleKind, float]] = {}
    for c, kind in kinds.items():
        if (y == c).any():
            out[c] = (kind, _best_threshold(kind, feats, rows, y == c))
        else:
            out[c] = (kind, _PRIOR[_grid_key(kind, feats)])
    return out


Candidate = tuple[str, float, float]
"""(model kind or ``"rules"``, rule weight, HMM dwell s)."""


def _candidates(has_rules: bool) -> list[Candidate]:
    """In order of preference (a later one must score strictly better to be chosen)."""
    out: list[Candidate] = [("rules", 1.0, 0.0)] if has_rules else []
    weights = sorted(_WEIGHTS, reverse=True) if has_rules else [0.0]
    for w in weights:
        out += [("logreg", w, d) for d in _DWELL_S]
    return out


def _cross_validate(
    feats: DetectorFeatures, ex: _Examples, classes: Sequence[str], kinds: dict[int, RuleKind],
    fallback: int,
) -> dict[Candidate, NDArray[np.int64]]:  # fmt: skip
    """Out-of-fold predictions of every candidate on the example frames."""
    cands = _candidates(bool(kinds))
    oof = {c: np.full(ex.y.size, -1, dtype=np.int64) for c in cands}
    for k in range(ex.folds):
        tr, te = ex.fold != k, ex.fold == k
        if not te.any() or not tr.any():
            continue
        rules = _calibrate(kinds, feats, ex.rows[tr], ex.y[tr])
        fires = _fires(rules, feats)
        rows = ex.rows[te]
        fitted = _fit_model(feats, ex.rows[tr], ex.y[tr])
        for cand in cands:
            kind, w, d = cand
            if kind == "rules":
                lab = _rule_labels(fires, rules, fallback, feats)
            else:
                p = _mix(_model_proba(*fitted, feats, len(classes)), fires, rules, w)
                lab = _smooth(p, feats.fps, d)
            oof[cand][te] = lab[rows[:, 0], rows[:, 1]]
    return oof


def fit_detector(
    feats: DetectorFeatures,
    examples: Sequence[Example],
    classes: Sequence[str],
) -> Detector:
    """Fit the strongest classical detector the examples support, never below the rules.

    Candidates: the rules alone (calibrated thresholds, ``fallback`` class elsewhere), and
    a class-balanced logistic regression (C = 0.1) on ``feats.values`` mixed
    with the rules at weight ``w`` in {1, 0.75, 0.5, 0.25, 0}, labels smoothed by a sticky
    HMM of expected dwell {0.3, 0 (none), 1} s. Each is scored by macro-F1 of its
    out-of-fold predictions on the example frames (up to 5 folds; each example clip lies
    whole in one fold, the clips of each class dealt round-robin; rule thresholds refined
    on the training folds only).
    The first candidate in that order within one standard error (across folds) of the
    best score is refitted on every example; so the rules win ties, and the fitted model
    is chosen only where it scores better on held-out clips by more than the folds'
    noise.

    ``Detector.cv_report``: ``folds``, ``candidates`` (name -> CV macro-F1), ``chosen``,
    ``detector_cv_macro_f1``, ``rule_cv_macro_f1`` (None without rules),
    ``model_cv_macro_f1`` (best model-only), ``rule_better`` (the best fitted model
    scores below the rules), ``warnings`` (one line each: rule better, a class or
    animal with no example, too few clips for cross-validation).

    Args:
        feats: the session's features (``detector_features``).
        examples: labelled clips (``Example``: animal, ``[start, stop)``, label).
        classes: the label set.

    Returns:
        The fitted detector.

    Raises:
        InputError: no example, an example outside the session or of an unknown class.
    """
    classes = tuple(classes)
    ex = _example_rows(examples, classes, feats)
    kinds = _rules_for(classes, feats)
    counts = np.bincount(ex.y, minlength=len(classes))
    rest = [c for c in range(len(classes)) if c not in kinds] or list(range(len(classes)))
    fallback = max(rest, key=lambda c: int(counts[c]))
    warnings = _coverage_warnings(classes, counts, examples, feats.individuals)
    scores: dict[Candidate, float] = {}
    if ex.folds >= 2:
        oof = _cross_validate(feats, ex, classes, kinds, fallback)
        scores, chosen = _choose(oof, ex, classes)
    else:
        chosen = ("rules", 1.0, 0.0) if kinds else ("logreg", 0.0, 0.0)
        warnings.append("too few example clips per class for cross-validation (need 2).")
    model, model_classes = _fit_model(feats, ex.rows, ex.y)
    report = _report(scores, chosen, ex.folds, warnings)
    return Detector(
        classes=classes,
        model=model,
        model_kind=chosen[0],
        model_classes=model_classes,
        rules=_calibrate(kinds, feats, ex.rows, ex.y),
        fallback=fallback,
        weight=chosen[1],
        dwell_s=chosen[2],
        cv_report=report,
    )


def _choose(
    oof: dict[Candidate, NDArray[np.int64]], ex: _Examples, classes: tuple[str, ...]
) -> tuple[dict[Candidate, float], Candidate]:
    """CV macro-F1 of every candidate, and the one chosen by the one-standard-error rule.

    The best mean score over folds sets the bar: best minus its standard error across
    folds; the first candidate in order of preference (rules, then more rule weight,
    ``_DWELL_S``) whose score reaches the bar is chosen, so a model must beat the
    rules by more than the folds' noise.
    """
    scores: dict[Candidate, float] = {}
    spread: dict[Candidate, float] = {}
    for cand, lab in oof.items():
        per_fold = [
            float(per_class_scores(lab[m], ex.y[m], classes)["macro_f1"])
            for m in (ex.fold == k for k in range(ex.folds))
            if m.any() and (lab[m] >= 0).all()
        ]
        ok = lab >= 0
        scores[cand] = float(per_class_scores(lab[ok], ex.y[ok], classes)["macro_f1"])
        folds = [v for v in per_fold if np.isfinite(v)]
        spread[cand] = float(np.std(folds) / np.sqrt(len(folds))) if len(folds) > 1 else 0.0
    best = max(scores, key=lambda c: scores[c])
    bar = scores[best] - spread[best] - 1e-9
    return scores, next(c for c in scores if scores[c] >= bar)


def _coverage_warnings(
    classes: tuple[str, ...], counts: NDArray[np.int64], examples: Sequence[Example],
    individuals: int,
) -> list[str]:  # fmt: skip
    out = [f"class {c!r} has no example." for c, n in zip(classes, counts, strict=True) if not n]
    seen = {e.animal for e in examples}
    out += [f"animal {a} has no example." for a in range(individuals) if a not in seen]
    return out


def _name(c: Candidate) -> str:
    return "rules" if c[0] == "rules" else f"{c[0]}(w={c[1]:g},hmm_dwell={c[2]:g}s)"


def _report(
    scores: dict[Candidate, float], chosen: Candidate, folds: int, warnings: list[str]
) -> dict[str, Any]:
    rule = scores.get(("rules", 1.0, 0.0))
    model = max((v for c, v in scores.items() if c[1] == 0.0), default=None)
    rule_better = rule is not None and model is not None and model < rule
    if rule_better:
        warnings.append(
            f"the rule alone scores better than the fitted model on held-out example clips "
            f"(macro-F1 {rule:.2f} vs {model:.2f})."
        )
    return {
        "folds": folds,
        "candidates": {_name(c): round(v, 4) for c, v in scores.items()},
        "chosen": _name(chosen),
        "detector_cv_macro_f1": scores.get(chosen),
        "rule_cv_macro_f1": rule,
        "model_cv_macro_f1": model,
        "rule_better": rule_better,
        "warnings": warnings,
    }
