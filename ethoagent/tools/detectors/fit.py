"""Classical behaviour detectors fitted from a user's few labelled examples (model-free).

The cheap path of classify: the strongest detector a few example clips support, never
below the one-line rule a user could write.

1. ``detector_features``: windowed kinematics of every animal at several time scales
   (``SCALES_S``): ``tools.features`` per-frame features, head speed, nose-to-partner
   distances, and their rolling mean and standard deviation; lengths in body lengths (BL).
2. Rules from the class names (``RULES``), calibrated to body size and frame rate:
   freezing = BehaviorDEPOT's velocity rule (its code's 0.52 cm/s and 12 deg/s as the
   prior, the body length as the ruler; without its 30 ms lag where the rules label
   alone; and, untuned, at the 0.59 cm/s and 15 deg/s its README publishes, on the
   session's own scale where known);
   rearing = a short (2D) or raised (3D) body; interact /
   contact = own nose near another animal's body; darting = fast. One threshold each,
   refined on the example frames.
3. ``fit_detector``: a class-balanced logistic regression on the example frames mixed
   with the rules, rule weight and smoothing chosen by cross-validation over the example
   clips; the published freezing rule and the rules alone are candidates and win ties
   (the published one first), and where they label every class
   they are kept while a rule's class has fewer than ``FEW_CLIPS`` example clips
   (``Detector.cv_report``).

``Detector.predict`` gives probabilities, labels and an uncertainty (low margin, or the
model and the rules disagreeing); ``window_uncertainty`` averages it per query window,
so that only uncertain windows need a vision model.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ethoagent.errors import InputError
from ethoagent.model.ethogram import Example
from ethoagent.tools.classify import per_class_scores, smooth_hmm
from ethoagent.tools.detectors.bouts import contact_bouts
from ethoagent.tools.detectors.features import FREEZING_GRID, FREEZING_PRIOR, DetectorFeatures

__all__ = [
    "RULES",
    "Detector",
    "DetectorPrediction",
    "RuleKind",
    "fit_detector",
    "rule_fires",
    "rule_kind",
    "window_uncertainty",
]

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
    "freezing": FREEZING_GRID,
    # rearing 2D: elongation (BL) below; 3D: quantile of back height above
    "rearing": (0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85),
    "rearing3d": (0.6, 0.7, 0.8, 0.85, 0.9, 0.95),
    # contact: own nose to the nearest keypoint of another animal (BL) below which a
    # contact bout starts (it ends at CONTACT_LEAVE times it); prior 0.3 = a touch
    "contact": (0.2, 0.3, 0.4, 0.5, 0.75, 1.0, 1.5),
    # darting: body-centre speed over 0.25 s (BL/s) above
    "darting": (1.5, 2.0, 3.0, 4.0, 6.0, 8.0),
}
_PRIOR = {
    "freezing": FREEZING_PRIOR,
    "rearing": 0.7,
    "rearing3d": 0.9,
    "contact": 0.3,
    "darting": 3.0,
}
FEW_CLIPS = 5
"""Example clips per class below which the report warns that cross-validation is noisy."""
_WEIGHTS = (0.0, 0.25, 0.5, 0.75, 1.0)
_RULES_ALONE = ("published", "rules")
"""Candidate kinds where the rules alone label: the published one first (no threshold
learned from the examples), then the rules refined on them."""
_DWELL_S = (0.3, 0.0, 1.0)  # in order of preference: bouts outlast a few frames


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


def rule_fires(
    kind: RuleKind,
    feats: DetectorFeatures,
    threshold: float,
    *,
    lag_free: bool = False,
    published: bool = False,
) -> NDArray[np.bool_]:
    """Where a rule fires, ``(frames, individuals)`` bool.

    Args:
        kind: which rule (``RULES``).
        feats: the session's features.
        threshold: freezing: multiple of BehaviorDEPOT's thresholds (one of the grid's);
            rearing: elongation (BL) below which (2D) or quantile of back height above
            which (3D) the animal rears; contact: own nose to the nearest keypoint of
            another animal (BL) below which a contact bout starts (``contact_bouts``);
            darting: speed over 0.25 s (BL/s) above.
        lag_free: freezing without the rule's 1.5-frame lag
            (``DetectorFeatures.freezing_lag_free``); the other rules have none.
        published: freezing at BehaviorDEPOT's published thresholds, lag-free, on the
            session's own scale where known (``DetectorFeatures.freezing_published``;
            ``threshold`` is then not read); the other rules ignore it.

    Returns:
        ``(frames, individuals)`` bool; all False where the rule cannot be computed (no
        partner for contact).
    """
    with np.errstate(invalid="ignore"):
        if kind == "freezing" and published:
            return np.asarray(feats.freezing_published, dtype=bool)
        if kind == "freezing":
            grid = _GRID["freezing"]
            g = int(np.argmin([abs(m - threshold) for m in grid]))
            grid_fires = feats.freezing_lag_free if lag_free else feats.freezing
            return np.asarray(grid_fires[g], dtype=bool)
        if kind == "rearing" and feats.dim == 3:
            h = feats.column("height_mean_0.25s")
            cut = np.nanquantile(h, threshold, axis=0) if np.isfinite(h).any() else np.inf
            return np.asarray(h > cut, dtype=bool)
        if kind == "rearing":
            return np.asarray(feats.column("elongation_mean_0.25s") < threshold, dtype=bool)
        if kind == "contact":
            return contact_bouts(
                feats.column("nose_body"), threshold, fps=feats.fps, facing=feats.column("facing")
            )
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
class Pair:
    """Classes that are one label of a two-animal pair (``contact`` rules: interact, sniff).

    A pair class is a property of the pair, not of one animal: its probability is computed
    once, on the ``anchor`` animal's row (whose features hold both directions: own nose to
    the partner and the partner's nose to self) and given to both animals; the anchor is
    the animal with the most example frames of pair classes, and an example of a pair
    class on the other animal counts as one of the anchor's.

    Attributes:
        classes: class indices of the pair classes; empty = none (one animal, or more
            than two, or no contact class).
        anchor: index of the anchor animal.
    """

    classes: tuple[int, ...]
    anchor: int

    def share_proba(self, proba: NDArray[np.float64]) -> NDArray[np.float64]:
        """``(frames, 2, classes)`` with the pair classes' probabilities of the anchor.

        The other animal's remaining classes keep their proportions and fill the rest.
        """
        if not self.classes:
            return proba
        out = proba.copy()
        idx = list(self.classes)
        rest = [c for c in range(proba.shape[-1]) if c not in self.classes]
        shared = proba[:, self.anchor, idx]
        for b in range(proba.shape[1]):
            if b == self.anchor:
                continue
            out[:, b, idx] = shared
            own = proba[:, b, rest]
            total = own.sum(-1, keepdims=True)
            left = np.clip(1.0 - shared.sum(-1, keepdims=True), 0.0, 1.0)
            even = np.full_like(own, 1.0 / max(len(rest), 1))
            out[:, b, rest] = left * np.where(total > 1e-12, own / np.maximum(total, 1e-12), even)
        return out

    def share_labels(self, labels: NDArray[np.int64]) -> NDArray[np.int64]:
        """``(frames, 2)`` labels: where either animal has a pair class, the anchor's."""
        if not self.classes:
            return labels
        out = labels.copy()
        anchor = labels[:, self.anchor]
        for b in range(labels.shape[1]):
            m = np.isin(anchor, self.classes) | np.isin(labels[:, b], self.classes)
            out[m, b] = anchor[m]
        return out


def _pair_of(
    kinds: dict[int, RuleKind], examples: Sequence[Example], classes: Sequence[str],
    feats: DetectorFeatures,
) -> Pair:  # fmt: skip
    """The pair classes of a two-animal session and the anchor animal (``Pair``)."""
    pair = tuple(c for c, k in kinds.items() if k == "contact")
    if feats.individuals != 2 or not pair:
        return Pair((), 0)
    names = {classes[c] for c in pair}
    frames = np.zeros(2)
    for e in examples:
        if e.label in names and e.animal < 2:
            frames[e.animal] += e.stop - e.start
    return Pair(pair, int(np.argmax(frames)))


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
        rule_labels: ``(frames, individuals)`` int64, the rules alone (the baseline;
            the freezing rule lag-free where the detector is the rules alone).
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
            the examples hold a single class); model_kind: ``"logreg"``, ``"rules"``
            where the rules alone decide (the logistic regression is then kept only to
            measure disagreement), or ``"published"``: the rules alone with the freezing
            rule at BehaviorDEPOT's published thresholds (``FREEZING_PUBLISHED``, not
            tuned on the examples).
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
    pair: Pair = field(default_factory=lambda: Pair((), 0))

    @property
    def rules_alone(self) -> bool:
        """Whether the rules alone label (``model_kind`` ``"rules"`` or ``"published"``)."""
        return self.model_kind in _RULES_ALONE

    def __repr__(self) -> str:
        def rule(k: RuleKind, t: float) -> str:
            return "published" if k == "freezing" and self.model_kind == "published" else f"{t:g}"

        rules = ", ".join(f"{self.classes[c]}={k}@{rule(k, t)}" for c, (k, t) in self.rules.items())
        return (
            f"Detector(classes={len(self.classes)}, model={self.model_kind!r}, "
            f"rules=[{rules}], weight={self.weight:g}, dwell_s={self.dwell_s:g})"
        )

    def predict(self, feats: DetectorFeatures) -> DetectorPrediction:
        """Probabilities, labels and uncertainty of every animal in every frame."""
        p_model = _model_proba(self.model, self.model_classes, feats, len(self.classes))
        p_model = self.pair.share_proba(p_model)
        fires = _fires(
            self.rules, feats, lag_free=self.rules_alone, published=self.model_kind == "published"
        )
        rule_lab = self.pair.share_labels(_rule_labels(fires, self.rules, self.fallback, feats))
        if self.rules_alone:
            proba = np.eye(len(self.classes))[rule_lab]
        else:
            proba = self.pair.share_proba(_mix(p_model, fires, self.rules, self.weight))
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


def _fires(
    rules: dict[int, tuple[RuleKind, float]],
    feats: DetectorFeatures,
    *,
    lag_free: bool = False,
    published: bool = False,
) -> NDArray[np.bool_]:
    """``(frames, individuals, rules)`` bool, in ``rules`` order (``rule_fires``)."""
    if not rules:
        return np.zeros((feats.frames, feats.individuals, 0), dtype=bool)
    return np.stack(
        [
            rule_fires(k, feats, t, lag_free=lag_free, published=published)
            for k, t in rules.values()
        ],
        axis=-1,
    )


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
    examples: Sequence[Example], classes: Sequence[str], feats: DetectorFeatures,
    pair: Pair | None = None,
) -> _Examples:  # fmt: skip
    """Rows of the example frames; a pair class's examples on the pair's anchor."""
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
        on_anchor = pair is not None and classes.index(e.label) in pair.classes
        animal = pair.anchor if pair is not None and on_anchor else e.animal
        rows.append(np.stack([f, np.full(f.size, animal)], axis=1))
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
"""(model kind, ``"published"`` or ``"rules"``, rule weight, HMM dwell s)."""


def _candidates(kinds: dict[int, RuleKind]) -> list[Candidate]:
    """In order of preference (a later one must score strictly better to be chosen).

    The published freezing rule first (where a class calls for it), then the rules
    refined on the examples, then the fitted model with more rule weight first.
    """
    has_rules = bool(kinds)
    out: list[Candidate] = [("published", 1.0, 0.0)] if "freezing" in kinds.values() else []
    out += [("rules", 1.0, 0.0)] if has_rules else []
    weights = sorted(_WEIGHTS, reverse=True) if has_rules else [0.0]
    for w in weights:
        out += [("logreg", w, d) for d in _DWELL_S]
    return out


def _cross_validate(
    feats: DetectorFeatures, ex: _Examples, classes: Sequence[str], kinds: dict[int, RuleKind],
    fallback: int, pair: Pair,
) -> dict[Candidate, NDArray[np.int64]]:  # fmt: skip
    """Out-of-fold predictions of every candidate on the example frames."""
    cands = _candidates(kinds)
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
            if kind in _RULES_ALONE:
                alone = _fires(rules, feats, lag_free=True, published=kind == "published")
                lab = pair.share_labels(_rule_labels(alone, rules, fallback, feats))
            else:
                p = _mix(_model_proba(*fitted, feats, len(classes)), fires, rules, w)
                lab = _smooth(pair.share_proba(p), feats.fps, d)
            oof[cand][te] = lab[rows[:, 0], rows[:, 1]]
    return oof


def fit_detector(
    feats: DetectorFeatures,
    examples: Sequence[Example],
    classes: Sequence[str],
) -> Detector:
    """Fit the strongest classical detector the examples support, never below the rules.

    Candidates: where a class calls for the freezing rule, the published rule alone
    (BehaviorDEPOT's README thresholds ``FREEZING_PUBLISHED``, untuned, on the session's
    scale where known; the other rules as below); the rules alone (thresholds refined on
    the examples, ``fallback`` class elsewhere), and
    a class-balanced logistic regression (C = 0.1) on ``feats.values`` mixed
    with the rules at weight ``w`` in {1, 0.75, 0.5, 0.25, 0}, labels smoothed by a sticky
    HMM of expected dwell {0.3, 0 (none), 1} s. Each is scored by macro-F1 of its
    out-of-fold predictions on the example frames (up to 5 folds; each example clip lies
    whole in one fold, the clips of each class dealt round-robin; rule thresholds refined
    on the training folds only).
    The first candidate in that order within one standard error (across folds) of the
    best score is refitted on every example; so the published rule wins ties, then the
    refined rules, and the fitted model
    is chosen only where it scores better on held-out clips by more than the folds'
    noise; where the rules label every class (all but one have a rule), also only where
    every class with a rule has ``FEW_CLIPS`` example clips or more (a warning says when
    the rules were kept for want of clips).

    ``Detector.cv_report``: ``folds``, ``candidates`` (name -> CV macro-F1), ``chosen``,
    ``detector_cv_macro_f1``, ``rule_cv_macro_f1`` (the better rules-alone candidate;
    None without rules), ``published_cv_macro_f1`` (the published freezing rule; None
    without a freezing class), ``model_cv_macro_f1`` (best model-only), ``rule_better``
    (the best fitted model scores below the rules), ``published_better`` (the published
    rule scores above the chosen detector), ``published_ruler`` (how its cm became
    keypoint units, ``DetectorFeatures.ruler``; None without it), ``warnings`` (one line
    each: rule better, a class or animal with no example, too few clips for
    cross-validation).

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
    _example_rows(examples, classes, feats)  # validates before anything is fitted
    kinds = _rules_for(classes, feats)
    pair = _pair_of(kinds, examples, classes, feats)
    ex = _example_rows(examples, classes, feats, pair)
    counts = np.bincount(ex.y, minlength=len(classes))
    rest = [c for c in range(len(classes)) if c not in kinds] or list(range(len(classes)))
    fallback = max(rest, key=lambda c: int(counts[c]))
    warnings = _coverage_warnings(classes, counts, examples, feats.individuals, pair)
    scores: dict[Candidate, float] = {}
    if ex.folds >= 2:
        oof = _cross_validate(feats, ex, classes, kinds, fallback, pair)
        scores, chosen = _choose(oof, ex, classes)
        chosen = _few_clips_keep_rules(chosen, scores, examples, classes, kinds, warnings)
    else:
        chosen = _candidates(kinds)[0] if kinds else ("logreg", 0.0, 0.0)
        warnings.append("too few example clips per class for cross-validation (need 2).")
    model, model_classes = _fit_model(feats, ex.rows, ex.y)
    report = _report(scores, chosen, ex.folds, warnings)
    report["published_ruler"] = feats.ruler if "freezing" in kinds.values() else None
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
        pair=pair,
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


def _few_clips_keep_rules(
    chosen: Candidate, scores: dict[Candidate, float], examples: Sequence[Example],
    classes: tuple[str, ...], kinds: dict[int, RuleKind], warnings: list[str],
) -> Candidate:  # fmt: skip
    """The rules instead of ``chosen`` where a rule's class has fewer than ``FEW_CLIPS`` clips.

    Only where the rules label every class (each has a rule, but for the one ``fallback``
    class given where no rule fires). With so few clips, the held-out clips of one class
    are one or two bouts: a fitted model that beats the rule on them has not shown that it
    generalises (on ethome's 3 + 3 example bouts cross-validation chose a model mix that
    lost to the rule on the other frames). A warning names the class and both scores.
    """
    if chosen[0] in _RULES_ALONE or not kinds or len(classes) - len(kinds) > 1:
        return chosen  # two or more classes without a rule: only a model tells them apart
    few = [classes[c] for c in kinds if sum(e.label == classes[c] for e in examples) < FEW_CLIPS]
    if not few:
        return chosen
    alone = [c for c in scores if c[0] in _RULES_ALONE]  # in order of preference
    rules = max(alone, key=lambda c: scores[c])  # the first of equals: published on ties
    warnings.append(
        f"kept the rules (cross-validated macro-F1 {scores[rules]:.2f}) over "
        f"{_name(chosen)} ({scores[chosen]:.2f}): {', '.join(map(repr, few))} has fewer than "
        f"{FEW_CLIPS} example clips, too few for held-out scores to overrule a rule."
    )
    return rules


def _coverage_warnings(
    classes: tuple[str, ...], counts: NDArray[np.int64], examples: Sequence[Example],
    individuals: int, pair: Pair,
) -> list[str]:  # fmt: skip
    out = [f"class {c!r} has no example." for c, n in zip(classes, counts, strict=True) if not n]
    clips = {c: sum(e.label == c for e in examples) for c in classes}
    out += [
        f"class {c!r} has {n} example clip{'s' * (n > 1)}: its cross-validated scores rest on "
        f"few clips; label {FEW_CLIPS} or more bouts to trust them."
        for c, n in clips.items()
        if 0 < n < FEW_CLIPS
    ]
    seen = {e.animal for e in examples}
    out += [f"animal {a} has no example." for a in range(individuals) if a not in seen]
    if pair.classes and len(seen) < individuals:
        shared = ", ".join(classes[c] for c in pair.classes)
        out.append(
            f"animal {pair.anchor} anchors the pair label {shared}: both animals get it, "
            "from features of both directions (own nose to the partner and back)."
        )
    return out


def _name(c: Candidate) -> str:
    return c[0] if c[0] in _RULES_ALONE else f"{c[0]}(w={c[1]:g},hmm_dwell={c[2]:g}s)"


def _report(
    scores: dict[Candidate, float], chosen: Candidate, folds: int, warnings: list[str]
) -> dict[str, Any]:
    published = scores.get(("published", 1.0, 0.0))
    alone = [v for c, v in scores.items() if c[0] in _RULES_ALONE]
    rule = max(alone, default=None)
    model = max((v for c, v in scores.items() if c[1] == 0.0), default=None)
    rule_better = rule is not None and model is not None and model < rule
    if rule_better:
        warnings.append(
            f"the rule alone scores better than the fitted model on held-out example clips "
            f"(macro-F1 {rule:.2f} vs {model:.2f})."
        )
    detector = scores.get(chosen)
    published_better = published is not None and detector is not None and published > detector
    if published_better:
        warnings.append(
            f"BehaviorDEPOT's published freezing rule scores better than the chosen detector "
            f"on held-out example clips (macro-F1 {published:.2f} vs {detector:.2f})."
        )
    return {
        "folds": folds,
        "candidates": {_name(c): round(v, 4) for c, v in scores.items()},
        "chosen": _name(chosen),
        "detector_cv_macro_f1": detector,
        "rule_cv_macro_f1": rule,
        "published_cv_macro_f1": published,
        "model_cv_macro_f1": model,
        "rule_better": rule_better,
        "published_better": published_better,
        "warnings": warnings,
    }
