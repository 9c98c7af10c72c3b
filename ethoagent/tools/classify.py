"""Model-free parts of in-context behaviour classification.

The classify pipeline labels every query window of a session with a probability per class
of a user's label set, given a few labelled example clips per class. This module holds
what needs no model:

- label sets: ``DEFAULT_DEFINITIONS`` (a fear-conditioning set) and ``Example``, one
  labelled clip (``io.labels.examples_from_labels`` reads them from a label file);
- windows: ``plan_windows`` (query windows of fixed length) and ``example_windows``
  (labelled runs cut into windows);
- kinematics: ``immobility_seconds`` (how long the animal has been immobile around each
  frame) and ``kinematic_vector`` (a window's mean keypoint features);
- in-context selection: ``select_examples`` (k nearest examples of *every* class, rare
  ones included);
- the offline classifier: ``knn_logits`` (distance to each class's in-context examples)
  and ``definition_logits`` (prototypes parsed from the class definitions), combined by
  ``class_probabilities``;
- checks: ``check_answer_schema``, ``check_probability_sum``,
  ``check_temporal_plausibility`` (freezing needs ~1 s of immobility; locomotion needs
  movement) and ``implausible_classes``;
- smoothing and summaries: ``smooth_hmm`` (Viterbi with a sticky transition matrix),
  ``median_smooth``, ``spread_to_frames``, ``time_budgets``;
- scores: ``per_class_scores`` (precision, recall, F1 per class, macro-F1),
  ``confusion_matrix``;
- BehaviorDEPOT's velocity freezing rule as a baseline (``freezing_by_velocity``).

Units: speeds in body lengths per second (BL/s), durations in seconds, frames as indices.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ethoagent.errors import InputError
from ethoagent.model.checks import CheckResult
from ethoagent.model.ethogram import Example
from ethoagent.tools.captions import canonical_label
from ethoagent.tools.features import Features

__all__ = [
    "DEFAULT_CLASSES",
    "DEFAULT_DEFINITIONS",
    "check_answer_schema",
    "check_probability_sum",
    "check_temporal_plausibility",
    "class_probabilities",
    "confusion_matrix",
    "definition_logits",
    "example_windows",
    "freezing_by_velocity",
    "immobility_seconds",
    "implausible_classes",
    "kinematic_vector",
    "knn_logits",
    "median_smooth",
    "per_class_scores",
    "plan_windows",
    "select_examples",
    "smooth_hmm",
    "spread_to_frames",
    "still_seconds_from_motion",
    "time_budgets",
]

DEFAULT_DEFINITIONS: dict[str, str] = {
    "freezing": "No movement of the body or head for at least 1 s apart from breathing; "
    "the animal is crouched and rigid.",
    "darting": "Darting or fleeing: a sudden, fast run across the arena, much faster than walking.",
    "rearing": "Front body raised, standing on the hind legs, the body looking short from above.",
    "grooming": "Forepaws at the head or body, rubbing or licking, while the body stays in place.",
    "locomotion": "Walking: the body moves forward at a walking pace.",
    "other": "Any other behaviour (turning in place, sniffing, small adjustments).",
}
"""A fear-conditioning label set and its definitions (the default ``--classes``)."""

DEFAULT_CLASSES: tuple[str, ...] = tuple(DEFAULT_DEFINITIONS)

IMMOBILE_SPEED = 0.08
"""Body-centre speed (BL/s, over short windows) below which a frame counts as immobile:
BehaviorDEPOT's published freezing threshold, 0.52 cm/s, for a mouse of 6.5-7 cm from nose
to tail base (0.075-0.08 BL/s)."""
MOVING_SPEED = 0.1
MOVING_P90 = 0.3
STILL_MAX_SPEED = 1.0
_LOCOMOTION = {"walking", "darting", "chase"}
_FREEZING = {"still"}


# --------------------------------------------------------------------------- windows


def plan_windows(frames: int, step: int) -> list[tuple[int, int]]:
    """Query windows ``[start, stop)`` of ``step`` frames tiling ``[0, frames)``.

    The last window is shorter when ``step`` does not divide ``frames``; a window's
    label is spread to all of its frames (``spread_to_frames``).
    """
    if frames < 1 or step < 1:
        raise InputError(f"frames and step must be >= 1; found {frames}, {step}.")
    return [(s, min(frames, s + step)) for s in range(0, frames, step)]


def example_windows(
    examples: Sequence[Example], step: int, *, max_per_class: int = 12
) -> list[Example]:
    """Cut example clips into windows of ``step`` frames (a shorter clip stays whole).

    Per class at most ``max_per_class`` windows are kept, spread evenly over the class's
    clips in file order, so a long labelled stretch does not crowd out the others.
    """
    by_class: dict[str, list[Example]] = {}
    for e in examples:
        n = max(1, (e.stop - e.start) // step)
        for i in range(n):
            s = e.start + i * step
            stop = e.stop if i == n - 1 else s + step
            by_class.setdefault(e.label, []).append(
                Example(animal=e.animal, start=s, stop=stop, label=e.label)
            )
    out: list[Example] = []
    for windows in by_class.values():
        if len(windows) > max_per_class:
            pick = np.unique(np.linspace(0, len(windows) - 1, max_per_class).round().astype(int))
            windows = [windows[i] for i in pick]
        out += windows
    return out


# --------------------------------------------------------------------------- kinematics


def _speed(features: Features) -> NDArray[np.float64]:
    names = features.names
    if {"forward_speed_mean", "lateral_speed_mean"} <= set(names):
        return np.asarray(
            np.hypot(features.column("forward_speed_mean"), features.column("lateral_speed_mean")),
            dtype=np.float64,
        )
    return features.column("speed")


def immobility_seconds(
    features: Features, *, threshold: float = IMMOBILE_SPEED
) -> NDArray[np.float64]:
    """Length of the immobile run each frame lies in, seconds (0 where moving or untracked).

    A frame is immobile when the body-centre speed over the features' short window is
    below ``threshold`` BL/s.

    Args:
        features: the session's features.
        threshold: BL/s.

    Returns:
        ``(frames, individuals)`` float64, s.
    """
    speed = _speed(features)
    still = np.isfinite(speed) & (speed < threshold)
    out = np.zeros(speed.shape, dtype=np.float64)
    for a in range(speed.shape[1]):
        col = still[:, a]
        edges = np.flatnonzero(np.diff(np.concatenate([[0], col.astype(np.int8), [0]])))
        for s, e in zip(edges[::2], edges[1::2], strict=True):
            out[s:e, a] = (e - s) / features.fps
    return out


KINEMATIC_COLUMNS: tuple[str, ...] = (
    "speed",
    "acceleration",
    "heading_rate",
    "elongation",
    "height",
    "paw_head",
    "tail_bend",
)
"""Features averaged per window (those a session has); ``heading_rate`` as its absolute value."""


def kinematic_vector(
    features: Features,
    immobile_s: NDArray[np.float64],
    animal: int,
    start: int,
    stop: int,
) -> tuple[NDArray[np.float64], dict[str, float]]:
    """A window's keypoint summary: mean features and immobility.

    Returns:
        ``(vector, named)``: ``vector`` = the mean over ``[start, stop)`` of each of
        ``KINEMATIC_COLUMNS`` the session has (absolute heading rate), the speed's
        standard deviation and the immobile-run length at the window's centre (capped
        at 3 s); NaN where nothing was tracked. ``named`` holds ``speed``, ``speed_p90``
        (BL/s) and ``immobile_s`` (s) for the checks.
    """
    sl = slice(start, stop)
    speed = _speed(features)[sl, animal]
    vals: list[float] = []
    for name in KINEMATIC_COLUMNS:
        if name not in features.names:
            continue
        col = speed if name == "speed" else features.column(name)[sl, animal]
        if name == "heading_rate":
            col = np.abs(col)
        vals.append(_nanmean(col))
    vals.append(float(np.nanstd(speed)) if np.isfinite(speed).any() else math.nan)
    centre = (start + stop - 1) // 2
    immobile = float(immobile_s[centre, animal])
    vals.append(min(immobile, 3.0))
    ok = np.isfinite(speed)
    named = {
        "speed": _nanmean(speed),
        "speed_p90": float(np.percentile(speed[ok], 90)) if ok.any() else math.nan,
        "immobile_s": immobile,
    }
    return np.asarray(vals, dtype=np.float64), named


def _nanmean(x: NDArray[np.float64]) -> float:
    ok = np.isfinite(x)
    return float(x[ok].mean()) if ok.any() else math.nan


def standardise(x: NDArray[np.float64]) -> NDArray[np.float64]:
    """Z-score the columns of ``(rows, features)``; NaN -> 0 (the mean) afterwards."""
    with np.errstate(all="ignore"):
        mu = np.nanmean(x, axis=0)
        sd = np.nanstd(x, axis=0)
    mu = np.where(np.isfinite(mu), mu, 0.0)
    sd = np.where(np.isfinite(sd) & (sd > 1e-9), sd, 1.0)
    z = (x - mu) / sd
    return np.nan_to_num(z, nan=0.0, posinf=0.0, neginf=0.0)


def still_seconds_from_motion(
    moving_fraction: ArrayLike, window_s: float, *, threshold: float = 0.002
) -> NDArray[np.float64]:
    """Immobility by frame difference: length of the run of still windows each lies in, s.

    Args:
        moving_fraction: ``(windows,)`` share of the crop's pixels that changed over each
            consecutive window of one animal (``image_features``' ``moving_fraction``).
        window_s: window length, s.
        threshold: a window is still below this share.

    Returns:
        ``(windows,)`` float64, s (0 for a moving window).
    """
    still = np.asarray(moving_fraction, dtype=np.float64) < threshold
    out = np.zeros(still.size)
    edges = np.flatnonzero(np.diff(np.concatenate([[0], still.astype(np.int8), [0]])))
    for s, e in zip(edges[::2], edges[1::2], strict=True):
        out[s:e] = (e - s) * window_s
    return out


# --------------------------------------------------------------------------- selection


def select_examples(
    query: ArrayLike,
    examples: ArrayLike,
    labels: Sequence[str],
    classes: Sequence[str],
    k: int,
) -> list[int]:
    """The ``k`` examples of every class nearest to the query (Euclidean distance).

    Every class that has examples is represented, rare ones included: selection is per
    class, never over the pooled examples.

    Args:
        query: ``(features,)``.
        examples: ``(examples, features)``.
        labels: each example's class.
        classes: the label set (order of the result).
        k: examples per class (fewer where a class has fewer).

    Returns:
        Indices into ``examples``, grouped by class in ``classes`` order, nearest first.
    """
    q = np.asarray(query, dtype=np.float64)
    x = np.asarray(examples, dtype=np.float64).reshape(len(labels), -1)
    d = np.linalg.norm(x - q, axis=1) if len(labels) else np.zeros(0)
    out: list[int] = []
    for c in classes:
        idx = [i for i, lab in enumerate(labels) if lab == c]
        idx.sort(key=lambda i: (d[i], i))
        out += idx[: max(1, k)]
    return out


def knn_logits(
    query: ArrayLike, examples: ArrayLike, labels: Sequence[str], classes: Sequence[str]
) -> NDArray[np.float64]:
    """Class logits from the distance to each class's in-context examples.

    ``logit_c = -mean distance to class c's examples / scale``, with ``scale`` a quarter
    of the mean of those distances over classes (scale-free). A class without examples
    gets the lowest logit minus 1.

    Returns:
        ``(len(classes),)`` float64.
    """
    q = np.asarray(query, dtype=np.float64)
    x = np.asarray(examples, dtype=np.float64).reshape(len(labels), -1)
    dist = np.full(len(classes), np.nan)
    for j, c in enumerate(classes):
        idx = [i for i, lab in enumerate(labels) if lab == c]
        if idx:
            dist[j] = float(np.linalg.norm(x[idx] - q, axis=1).mean())
    ok = np.isfinite(dist)
    if not ok.any():
        return np.zeros(len(classes))
    scale = max(0.25 * float(dist[ok].mean()), 1e-6)
    logits = -dist / scale
    logits[~ok] = float(np.min(logits[ok])) - 1.0
    return np.asarray(logits, dtype=np.float64)


_RULES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("groom", ("groom", "lick", "rub", "wash", "scratch", "paw")),
    ("raised", ("rear", "raised", "hind leg", "upright", "standing")),
    ("fast", ("dart", "flee", "fast", "dash", "sprint", "escape", "sudden", "run")),
    ("still", ("freez", "immobil", "motionless", "no movement", "still", "rest")),
    ("turn", ("turn", "rotat", "circl", "pivot")),
    ("move", ("walk", "locomot", "moving", "explor", "forward", "ambulat")),
)
# prototype of each rule: (semantic feature, lower bound, upper bound) in session z-scores
_PROTOTYPES: dict[str, tuple[tuple[str, float, float], ...]] = {
    "groom": (("motion", 0.0, math.inf), ("displacement", -math.inf, -0.2)),
    "raised": (("elongation", -math.inf, -0.7),),
    "fast": (("displacement", 1.5, math.inf),),
    "still": (("motion", -math.inf, -0.5), ("displacement", -math.inf, -0.4)),
    "turn": (("motion", 0.0, math.inf), ("displacement", -math.inf, 0.3)),
    "move": (("displacement", -0.1, 1.5),),
}


def definition_rule(definition: str) -> str | None:
    """The prototype a definition names (first keyword match), or ``None``."""
    text = definition.lower()
    for rule, words in _RULES:
        if any(w in text for w in words):
            return rule
    return None


def definition_logits(
    semantic: Mapping[str, float], definitions: Mapping[str, str], classes: Sequence[str]
) -> NDArray[np.float64]:
    """Zero-shot class logits from the definitions' keywords (no examples needed).

    Each definition is matched to a motion prototype by keywords (``definition_rule``):
    immobile, fast, walking, raised, grooming, turning; a prototype is a range of the
    window's image features in session z-scores (``motion``, ``displacement``,
    ``elongation``). The logit is minus the squared distance outside the range; a class
    whose definition names no prototype (e.g. "other") gets a constant -0.5.

    Returns:
        ``(len(classes),)`` float64.
    """
    out = np.zeros(len(classes))
    for j, c in enumerate(classes):
        rule = definition_rule(definitions.get(c, c) + " " + c)
        if rule is None:
            out[j] = -0.5
            continue
        pen = 0.0
        for name, lo, hi in _PROTOTYPES[rule]:
            v = float(semantic.get(name, 0.0))
            pen += max(0.0, lo - v) ** 2 + max(0.0, v - hi) ** 2
        out[j] = -pen
    return out


def class_probabilities(
    logits: NDArray[np.float64], excluded: Sequence[int] = ()
) -> NDArray[np.float64]:
    """Softmax of logits, with ``excluded`` classes at 0 (unless that excludes all)."""
    z = np.asarray(logits, dtype=np.float64).copy()
    keep = np.ones(z.size, dtype=bool)
    keep[list(excluded)] = False
    if not keep.any():
        keep[:] = True
    z[~keep] = -np.inf
    z -= np.max(z[keep])
    p = np.where(keep, np.exp(z), 0.0)
    return np.asarray(p / p.sum(), dtype=np.float64)


# --------------------------------------------------------------------------- checks


def check_answer_schema(probabilities: Mapping[str, float], classes: Sequence[str]) -> CheckResult:
    """Every class of the label set has a probability in [0, 1], and nothing else."""
    missing = [c for c in classes if c not in probabilities]
    extra = [k for k in probabilities if k not in classes]
    bad = [k for k, v in probabilities.items() if not (math.isfinite(v) and 0.0 <= v <= 1.0)]
    problems = []
    if missing:
        problems.append(f"no probability for {missing}")
    if extra:
        problems.append(f"labels {extra} are not in the label set {list(classes)}")
    if bad:
        problems.append(f"probabilities of {bad} are outside [0, 1]")
    return CheckResult(
        name="schema",
        passed=not problems,
        value=float(len(missing) + len(extra) + len(bad)),
        threshold=0.0,
        message="; ".join(problems) + "." if problems else "one probability per class",
    )


def check_probability_sum(
    probabilities: Mapping[str, float], *, tolerance: float = 0.02
) -> CheckResult:
    """The probabilities sum to 1 within ``tolerance``."""
    total = float(sum(probabilities.values()))
    ok = abs(total - 1.0) <= tolerance
    return CheckResult(
        name="sum_to_one",
        passed=ok,
        value=round(total, 6),
        threshold=tolerance,
        message=(
            f"probabilities sum to {total:.3f}"
            if ok
            else f"probabilities sum to {total:.3f}, not 1 (tolerance {tolerance})"
        ),
    )


def _kind(label: str) -> str:
    canon = canonical_label(label)
    if canon in _FREEZING:
        return "freezing"
    if canon in _LOCOMOTION or canon in {"locomotion"}:
        return "locomotion"
    return "other"


def implausible_classes(
    classes: Sequence[str], kin: Mapping[str, float], *, min_freezing_s: float = 1.0
) -> dict[str, str]:
    """Classes the keypoints rule out for a window, with the reason.

    - a freezing class (``freezing``, ``still``, ``immobile``, ...) when the animal was
      immobile for less than ``min_freezing_s`` around the window, or its mean speed
      exceeds 1 BL/s;
    - a locomotion class (walking, locomotion, darting, fleeing, running, ...) when the
      body centre barely moved (mean < 0.1 BL/s and 90th percentile < 0.3 BL/s).

    Where the keypoints are missing (speed NaN) but a video shows the window, immobility
    is confirmed by frame difference instead (``frame_immobile_s``, from
    ``still_seconds_from_motion``). Unmeasured quantities (NaN) rule nothing out.

    Args:
        classes: the label set.
        kin: ``speed``, ``speed_p90`` (BL/s) and ``immobile_s`` (s) of the window
            (``kinematic_vector``), optionally ``frame_immobile_s`` (s).

    Returns:
        ``{class: reason}``.
    """
    speed, p90, still = (
        kin.get("speed", math.nan),
        kin.get("speed_p90", math.nan),
        kin.get("immobile_s", math.nan),
    )
    still_video = kin.get("frame_immobile_s", math.nan)
    out: dict[str, str] = {}
    for c in classes:
        kind = _kind(c)
        if kind == "freezing" and not math.isfinite(speed) and math.isfinite(still_video):
            if still_video < min_freezing_s:
                out[c] = (
                    f"{c!r} needs at least {min_freezing_s:g} s of immobility, but the frame "
                    f"difference shows the animal still for only {still_video:.2f} s around "
                    "this window (its keypoints are missing)"
                )
        elif kind == "freezing" and math.isfinite(speed):
            if still < min_freezing_s:
                out[c] = (
                    f"{c!r} needs at least {min_freezing_s:g} s of immobility, but the keypoints "
                    f"show the animal immobile for only {still:.2f} s around this window"
                )
            elif speed > STILL_MAX_SPEED:
                out[c] = f"{c!r} needs a body at rest, but it moved at {speed:.2f} body lengths/s"
        elif (
            kind == "locomotion"
            and math.isfinite(speed)
            and speed < MOVING_SPEED
            and (not math.isfinite(p90) or p90 < MOVING_P90)
        ):
            out[c] = (
                f"{c!r} implies locomotion, but the body centre moved at only "
                f"{speed:.2f} body lengths/s"
            )
    return out


def check_temporal_plausibility(
    probabilities: Mapping[str, float],
    classes: Sequence[str],
    kin: Mapping[str, float],
    *,
    min_freezing_s: float = 1.0,
    max_probability: float = 0.5,
) -> CheckResult:
    """The answer does not give more than ``max_probability`` to a class the keypoints
    rule out (``implausible_classes``); the message names each contradiction."""
    ruled = implausible_classes(classes, kin, min_freezing_s=min_freezing_s)
    bad = {c: r for c, r in ruled.items() if probabilities.get(c, 0.0) > max_probability}
    return CheckResult(
        name="temporal_plausibility",
        passed=not bad,
        value=float(len(bad)),
        threshold=0.0,
        message=(
            "; ".join(f"p({c})={probabilities[c]:.2f} but {r}" for c, r in bad.items()) + "."
            if bad
            else "no class above 0.5 contradicts the keypoints"
        ),
    )


# --------------------------------------------------------------------------- smoothing


def smooth_hmm(
    probabilities: ArrayLike, *, stay: float = 0.8, floor: float = 1e-3
) -> NDArray[np.int64]:
    """Most likely class sequence (Viterbi) given per-window probabilities.

    A sticky Markov chain: stay in a class with probability ``stay``, switch to each other
    class with ``(1 - stay) / (classes - 1)``; window probabilities act as emission
    likelihoods (floored at ``floor``).

    Args:
        probabilities: ``(windows, classes)`` float64, rows summing to 1.
        stay: self-transition probability in ``(0, 1)``.

    Returns:
        ``(windows,)`` int64 class indices.
    """
    p = np.asarray(probabilities, dtype=np.float64)
    if p.ndim != 2 or p.shape[0] == 0:
        raise InputError(f"probabilities must be (windows, classes); found {p.shape}.")
    n, c = p.shape
    if c == 1:
        return np.zeros(n, dtype=np.int64)
    log_e = np.log(np.clip(p, floor, 1.0))
    trans = np.full((c, c), math.log((1 - stay) / (c - 1)))
    np.fill_diagonal(trans, math.log(stay))
    score = log_e[0] - math.log(c)
    back = np.zeros((n, c), dtype=np.int64)
    for t in range(1, n):
        cand = score[:, None] + trans
        back[t] = np.argmax(cand, axis=0)
        score = cand[back[t], np.arange(c)] + log_e[t]
    path = np.zeros(n, dtype=np.int64)
    path[-1] = int(np.argmax(score))
    for t in range(n - 1, 0, -1):
        path[t - 1] = back[t, path[t]]
    return path


def median_smooth(labels: ArrayLike, width: int) -> NDArray[np.int64]:
    """Majority (mode) filter of integer labels over a centred window of ``width``."""
    lab = np.asarray(labels, dtype=np.int64)
    if width <= 1 or lab.size == 0:
        return lab.copy()
    half = width // 2
    k = int(lab.max()) + 1
    onehot = np.eye(k, dtype=np.int64)[lab]
    cs = np.concatenate([np.zeros((1, k), np.int64), np.cumsum(onehot, axis=0)])
    idx = np.arange(lab.size)
    lo, hi = np.clip(idx - half, 0, lab.size), np.clip(idx + half + 1, 0, lab.size)
    counts = cs[hi] - cs[lo]
    return np.asarray(np.argmax(counts, axis=1), dtype=np.int64)


def spread_to_frames(
    values: ArrayLike, windows: Sequence[tuple[int, int]], frames: int
) -> NDArray[np.generic]:
    """Give every frame its window's value (label or probability row).

    Args:
        values: ``(windows, ...)``.
        windows: ``[start, stop)`` per window, tiling ``[0, frames)``.

    Returns:
        ``(frames, ...)``.
    """
    v = np.asarray(values)
    out = np.zeros((frames, *v.shape[1:]), dtype=v.dtype)
    for i, (s, e) in enumerate(windows):
        out[s:e] = v[i]
    return out


def time_budgets(
    labels: ArrayLike, classes: Sequence[str], fps: float
) -> list[dict[str, float | str | int]]:
    """Per class: seconds, fraction of frames, bouts and mean bout length (s).

    Args:
        labels: ``(frames,)`` int class indices of one animal.
    """
    lab = np.asarray(labels, dtype=np.int64)
    edges = np.flatnonzero(lab[1:] != lab[:-1]) + 1
    starts = np.concatenate([[0], edges])
    stops = np.concatenate([edges, [lab.size]])
    rows: list[dict[str, float | str | int]] = []
    for j, c in enumerate(classes):
        lengths = [int(e - s) for s, e in zip(starts, stops, strict=True) if lab[s] == j]
        n = int((lab == j).sum())
        rows.append(
            {
                "label": c,
                "seconds": round(n / fps, 3),
                "fraction": round(n / max(1, lab.size), 4),
                "bouts": len(lengths),
                "mean_bout_s": round(float(np.mean(lengths)) / fps, 3) if lengths else 0.0,
            }
        )
    return rows


# --------------------------------------------------------------------------- scores


def confusion_matrix(pred: ArrayLike, truth: ArrayLike, n_classes: int) -> NDArray[np.int64]:
    """``(truth class, predicted class)`` counts; entries < 0 are ignored."""
    p = np.asarray(pred, dtype=np.int64).ravel()
    t = np.asarray(truth, dtype=np.int64).ravel()
    ok = (p >= 0) & (t >= 0)
    m = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(m, (t[ok], p[ok]), 1)
    return m


def per_class_scores(pred: ArrayLike, truth: ArrayLike, classes: Sequence[str]) -> dict[str, Any]:
    """Precision, recall and F1 per class, and macro-F1 over the classes present in the truth.

    Returns:
        ``{"per_class": {class: {"precision", "recall", "f1", "support"}}, "macro_f1",
        "accuracy"}``; a class absent from the truth has F1 NaN and is left out of the
        macro average.
    """
    m = confusion_matrix(pred, truth, len(classes))
    per: dict[str, dict[str, float]] = {}
    f1s = []
    for j, c in enumerate(classes):
        tp = float(m[j, j])
        support = float(m[j].sum())
        predicted = float(m[:, j].sum())
        prec = tp / predicted if predicted else 0.0
        rec = tp / support if support else math.nan
        f1 = 2 * tp / (support + predicted) if support else math.nan
        per[c] = {"precision": prec, "recall": rec, "f1": f1, "support": support}
        if support:
            f1s.append(f1)
    total = float(m.sum())
    return {
        "per_class": per,
        "macro_f1": float(np.mean(f1s)) if f1s else math.nan,
        "accuracy": float(np.trace(m)) / total if total else math.nan,
    }


# --------------------------------------------------------------------------- baseline


def freezing_by_velocity(
    head_xy: ArrayLike,
    rear_xy: ArrayLike,
    nose_xy: ArrayLike,
    between_ears_xy: ArrayLike,
    *,
    fps: float,
    units_per_cm: float,
    velocity_threshold: float = 0.52,
    angle_threshold: float = 12.0,
    window_width: int = 32,
    count_threshold: int = 10,
    min_duration_s: float = 0.9,
    smooth_frames: int = 14,
    centred: bool = False,
) -> NDArray[np.bool_]:
    """BehaviorDEPOT's velocity freezing classifier (``calculateFreezing_velocity``).

    A frame is below threshold when the mean of the head and rear-back speeds is below
    ``velocity_threshold`` cm/s and the head angle (between-ears -> nose direction)
    changes by less than ``angle_threshold`` deg/s; the below-threshold vector is
    convolved with a box of ``window_width`` frames and frames counting at least
    ``count_threshold`` (half of it within ``window_width`` of either end) are freezing;
    bouts shorter than ``min_duration_s`` are dropped. Defaults are BehaviorDEPOT's
    published ones (its ``P_calculateFreezing_velocity.m`` and demo1 ``Params.mat``).
    BehaviorDEPOT smooths the tracking with LOWESS (span 14) first; here a centred
    moving average of ``smooth_frames`` stands in for it.

    As BehaviorDEPOT computes it, the rule lags the animal: the backward difference
    of the speed (half a frame) and the even-width moving average and box (half a frame
    each) put a frame's label 1.5 frames (30 ms at 50 fps) after the frame it describes.
    ``centred=True`` moves the below-threshold vector back by the whole frames of that
    lag (1 frame for the default widths, leaving half a frame), so a bout starts and
    ends where the keypoints stop and start moving.

    Args:
        head_xy, rear_xy, nose_xy, between_ears_xy: ``(frames, 2)`` positions in
            keypoint units (pixels or mm), NaN = missing (filled linearly).
        fps: frame rate, Hz.
        units_per_cm: keypoint units per cm (32 px/cm for BehaviorDEPOT's demo1; 10 for mm).
        velocity_threshold: cm/s; angle_threshold: deg/s of the head direction.
        window_width, count_threshold, smooth_frames: frames; min_duration_s: s.
        centred: remove the windows' lag (above); False = BehaviorDEPOT's timing.

    Returns:
        ``(frames,)`` bool, True = freezing.
    """

    def speed(xy: NDArray[np.float64]) -> NDArray[np.float64]:
        d = np.diff(xy, axis=0)
        v = np.hypot(d[:, 0], d[:, 1]) * fps / units_per_cm
        return np.concatenate([v[:1], v])

    head, rear, nose, ears = (
        _filled_moving_average(x, smooth_frames)
        for x in (head_xy, rear_xy, nose_xy, between_ears_xy)
    )
    v = np.nanmean(np.stack([speed(head), speed(rear)]), axis=0)
    ang = np.degrees(np.arctan2(ears[:, 1] - nose[:, 1], ears[:, 0] - nose[:, 0]))
    dang = np.mod(np.diff(ang) + 180.0, 360.0) - 180.0
    dang = np.concatenate([dang[:1], dang]) * fps
    below = (v < velocity_threshold) & (np.abs(dang) < angle_threshold)
    if centred:
        halves = 1 + (smooth_frames > 1 and smooth_frames % 2 == 0) + (window_width % 2 == 0)
        lag = min(halves // 2, max(below.size - 1, 0))
        below = np.concatenate([below[lag:], np.repeat(below[-1:], lag)])
    counts = np.convolve(below.astype(np.float64), np.ones(window_width), mode="same")
    frz = counts >= count_threshold
    ends = counts >= round(count_threshold / 2)
    ends[window_width + 1 : below.size - window_width - 1] = False
    frz |= ends
    return _drop_short_bouts(frz, round(min_duration_s * fps))


def _filled_moving_average(xy: ArrayLike, width: int) -> NDArray[np.float64]:
    """``(frames, 2)`` NaN filled linearly, then a moving average of ``width`` frames.

    The window of frame t is [t - width // 2, t + width - 1 - width // 2] (BehaviorDEPOT's
    timing: half a frame late for even widths).
    """
    a = np.asarray(xy, dtype=np.float64).copy()
    for d in range(a.shape[1]):
        col = a[:, d]
        ok = np.isfinite(col)
        if ok.any() and not ok.all():
            col[~ok] = np.interp(np.flatnonzero(~ok), np.flatnonzero(ok), col[ok])
    if width <= 1:
        return a
    kern = np.ones(width) / width
    pad = width // 2
    padded = np.pad(a, ((pad, width - 1 - pad), (0, 0)), mode="edge")
    return np.stack([np.convolve(padded[:, d], kern, mode="valid") for d in range(a.shape[1])], 1)


def _drop_short_bouts(frz: NDArray[np.bool_], min_frames: int) -> NDArray[np.bool_]:
    """``frz`` without its True runs shorter than ``min_frames``."""
    edges = np.flatnonzero(np.diff(np.concatenate([[0], frz.astype(np.int8), [0]])))
    out = np.zeros(frz.size, dtype=bool)
    for s, e in zip(edges[::2], edges[1::2], strict=True):
        if e - s >= min_frames:
            out[s:e] = True
    return out
