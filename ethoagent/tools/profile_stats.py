"""Behaviour profiles of sessions and their comparison between groups (no model).

- ``compute_profile``: one subject's frame labels -> share of time per behaviour, bouts
  (count, per minute, mean duration) and the bout-to-bout transition matrix;
- ``hedges_g`` / ``cliffs_delta``: effect sizes of two independent samples;
- ``compare_groups``: per behaviour and metric, a two-sided permutation test of the
  difference in means (``scipy.stats.permutation_test``), a bootstrap confidence interval
  of that difference, both effect sizes, and Benjamini–Hochberg q-values over the whole
  family of tests (``scipy.stats.false_discovery_control``). Repeated sessions of one
  animal are averaged into one value per animal first (the animal is the unit); a test
  whose smallest attainable p (``min_permutation_p``) is above alpha is not run (p, q
  and interval left empty, the reason in ``note``);
- ``find_session_restricted``: behaviours present in only some subjects (novelty
  candidates).

Units: shares are fractions of the subject's labelled frames (0–1), durations seconds,
rates bouts per minute of labelled time.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from itertools import combinations

import numpy as np
from numpy.typing import NDArray
from pydantic import BaseModel, ConfigDict

from ethoagent.errors import InputError

__all__ = [
    "UNLABELLED",
    "Comparison",
    "Profile",
    "bout_dispersion_p",
    "cliffs_delta",
    "compare_groups",
    "compute_profile",
    "find_session_restricted",
    "hedges_g",
    "metric_values",
    "min_permutation_p",
]

UNLABELLED = ""
"""Frame label of frames that belong to no snippet (not counted in any share)."""

METRICS: tuple[str, ...] = ("time_fraction", "bouts_per_min", "mean_bout_s")
"""Per-behaviour metrics of a profile, in table order."""


class Profile(BaseModel):
    """One subject's behaviour profile.

    Attributes:
        frames: frames of the subject; labelled_frames: frames with a behaviour.
        fps: frame rate, Hz.
        behaviours: the vocabulary, in order (every dict below has one key per entry).
        time_fraction: share of labelled frames per behaviour (sums to 1 when any frame
            is labelled).
        bouts: number of bouts (runs of frames with the behaviour) per behaviour.
        bouts_per_min: bouts per minute of labelled time.
        mean_bout_s: mean bout duration, s (0 without bouts).
        transitions: ``(behaviours, behaviours)`` counts of bout-to-bout changes (row =
            from); a change across unlabelled frames is not counted.
    """

    model_config = ConfigDict(frozen=True)

    frames: int
    labelled_frames: int
    fps: float
    behaviours: list[str]
    time_fraction: dict[str, float]
    bouts: dict[str, int]
    bouts_per_min: dict[str, float]
    mean_bout_s: dict[str, float]
    transitions: list[list[int]]

    def transition_probabilities(self) -> NDArray[np.float64]:
        """``(behaviours, behaviours)`` row-normalised transitions (rows without any: 0)."""
        t = np.asarray(self.transitions, dtype=np.float64)
        rows = t.sum(axis=1, keepdims=True)
        return np.asarray(np.divide(t, rows, out=np.zeros_like(t), where=rows > 0))


def _runs(labels: Sequence[str]) -> list[tuple[str, int, int]]:
    out: list[tuple[str, int, int]] = []
    start = 0
    for i in range(1, len(labels) + 1):
        if i == len(labels) or labels[i] != labels[start]:
            out.append((labels[start], start, i))
            start = i
    return out


def compute_profile(labels: Sequence[str], behaviours: Sequence[str], fps: float) -> Profile:
    """The profile of one subject from its per-frame behaviour labels.

    Args:
        labels: ``(frames,)`` behaviour name per frame; ``UNLABELLED`` ("") where none.
        behaviours: the shared vocabulary (every label other than "" must be in it).
        fps: frame rate, Hz (> 0).

    Returns:
        The profile.

    Raises:
        InputError: a label outside the vocabulary, or a non-positive frame rate.
    """
    if not fps > 0:
        raise InputError(f"fps must be > 0, got {fps}.", fix="pass the frame rate in Hz.")
    vocab = list(behaviours)
    index = {b: i for i, b in enumerate(vocab)}
    unknown = sorted({lab for lab in labels if lab != UNLABELLED and lab not in index})
    if unknown:
        raise InputError(
            f"labels {unknown} are not in the vocabulary {vocab}.",
            fix="label frames with vocabulary entries only.",
        )
    runs = _runs(list(labels))
    labelled = sum(e - s for lab, s, e in runs if lab != UNLABELLED)
    minutes = labelled / fps / 60.0
    frames_per = dict.fromkeys(vocab, 0)
    bouts = dict.fromkeys(vocab, 0)
    trans = np.zeros((len(vocab), len(vocab)), dtype=np.int64)
    for (lab, s, e), nxt in zip(runs, [*runs[1:], None], strict=True):
        if lab == UNLABELLED:
            continue
        frames_per[lab] += e - s
        bouts[lab] += 1
        if nxt is not None and nxt[0] != UNLABELLED:
            trans[index[lab], index[nxt[0]]] += 1
    return Profile(
        frames=len(labels),
        labelled_frames=labelled,
        fps=float(fps),
        behaviours=vocab,
        time_fraction={b: frames_per[b] / labelled if labelled else 0.0 for b in vocab},
        bouts=bouts,
        bouts_per_min={b: bouts[b] / minutes if minutes > 0 else 0.0 for b in vocab},
        mean_bout_s={b: frames_per[b] / fps / bouts[b] if bouts[b] else 0.0 for b in vocab},
        transitions=trans.tolist(),
    )


def metric_values(profiles: Sequence[Profile], behaviour: str, metric: str) -> NDArray[np.float64]:
    """``(profiles,)`` values of one metric of one behaviour."""
    if metric not in METRICS:
        raise InputError(f"unknown metric {metric!r}.", fix=f"use one of {', '.join(METRICS)}.")
    return np.asarray([getattr(p, metric)[behaviour] for p in profiles], dtype=np.float64)


# --------------------------------------------------------------------------- effect sizes


def hedges_g(
    a: Sequence[float] | NDArray[np.float64], b: Sequence[float] | NDArray[np.float64]
) -> float:
    """Hedges' g of ``b`` against ``a``: (mean b - mean a) / pooled SD, small-sample corrected.

    Returns 0 when both samples are constant and equal, ±inf when they are constant and
    differ, NaN when a sample has fewer than 2 values.
    """
    x, y = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    n1, n2 = len(x), len(y)
    if n1 < 2 or n2 < 2:
        return math.nan
    diff = float(y.mean() - x.mean())
    pooled = math.sqrt(((n1 - 1) * x.var(ddof=1) + (n2 - 1) * y.var(ddof=1)) / (n1 + n2 - 2))
    if pooled == 0:
        return 0.0 if diff == 0 else math.copysign(math.inf, diff)
    correction = 1.0 - 3.0 / (4.0 * (n1 + n2) - 9.0)
    return diff / pooled * correction


def cliffs_delta(
    a: Sequence[float] | NDArray[np.float64], b: Sequence[float] | NDArray[np.float64]
) -> float:
    """Cliff's delta of ``b`` against ``a``: P(b > a) - P(b < a), in [-1, 1] (NaN if empty)."""
    x, y = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if len(x) == 0 or len(y) == 0:
        return math.nan
    diff = y[:, None] - x[None, :]
    return float((np.sign(diff)).mean())


# --------------------------------------------------------------------------- comparisons


class Comparison(BaseModel):
    """One test: a metric of a behaviour, group ``b`` against group ``a``.

    Attributes:
        mean_a, mean_b: group means; difference = mean_b - mean_a.
        n_a, n_b: animals (units) per group; n_sessions_a, n_sessions_b: profiles
            averaged into them.
        ci_low, ci_high: bootstrap confidence interval of the difference (``level``);
            NaN when the test was not run.
        min_p: smallest p-value the permutation test can give with these group sizes.
        tested: whether the test was run (``min_p <= alpha``).
        p: two-sided permutation p-value of the difference in means (NaN if not tested).
        q: Benjamini–Hochberg adjusted p over the family (the tests run by the call).
        significant: ``q < alpha``.
        note: why the test was not run, or "" when it was.
    """

    behaviour: str
    metric: str
    group_a: str
    group_b: str
    n_a: int
    n_b: int
    n_sessions_a: int
    n_sessions_b: int
    mean_a: float
    mean_b: float
    difference: float
    ci_low: float
    ci_high: float
    level: float
    hedges_g: float
    cliffs_delta: float
    min_p: float
    tested: bool
    p: float
    q: float = math.nan
    significant: bool = False
    note: str = ""


def min_permutation_p(n_a: int, n_b: int, n_resamples: int) -> float:
    """Smallest two-sided p-value ``compare_groups``' permutation test can return.

    Exact tests (``comb(n_a + n_b, n_a) <= n_resamples``) reach ``2 / comb``; random ones
    ``2 / (n_resamples + 1)``. With 2 vs 2 animals that is 1/3: no result can be
    significant at 0.05, whatever the data.
    """
    arrangements = math.comb(n_a + n_b, n_a)
    return min(1.0, 2.0 / min(arrangements, n_resamples + 1))


def _mean_diff(
    x: NDArray[np.float64], y: NDArray[np.float64], axis: int = -1
) -> NDArray[np.float64]:
    return np.asarray(np.mean(y, axis=axis) - np.mean(x, axis=axis))


def _compare_one(
    a: NDArray[np.float64],
    b: NDArray[np.float64],
    *,
    n_resamples: int,
    level: float,
    rng: np.random.Generator,
) -> tuple[float, float, float]:
    """(p, ci_low, ci_high) of mean(b) - mean(a)."""
    from scipy import stats  # loaded when a test runs, not with the metric names

    if np.ptp(np.concatenate([a, b])) == 0:
        d = float(b.mean() - a.mean())
        return 1.0, d, d
    test = stats.permutation_test(
        (a, b),
        _mean_diff,
        permutation_type="independent",
        vectorized=True,
        n_resamples=n_resamples,
        alternative="two-sided",
        rng=rng,
    )
    # percentile bootstrap: BCa's jackknife breaks on tiny or constant groups
    boot = stats.bootstrap(
        (a, b),
        _mean_diff,
        vectorized=True,
        n_resamples=max(999, n_resamples // 5),
        confidence_level=level,
        method="percentile",
        rng=rng,
    )
    ci = boot.confidence_interval
    return float(test.pvalue), float(ci.low), float(ci.high)


def _per_unit(
    values: NDArray[np.float64], units: NDArray[np.str_], members: NDArray[np.intp]
) -> NDArray[np.float64]:
    """Mean of ``values[members]`` per unit, in order of first appearance."""
    keys = list(dict.fromkeys(units[members].tolist()))
    return np.asarray([values[members][units[members] == k].mean() for k in keys])


def _check_groups(
    profiles: Sequence[Profile], groups: Sequence[str], units: Sequence[str] | None
) -> dict[str, int]:
    """Group -> number of profiles; raise on inconsistent inputs."""
    if len(profiles) != len(groups) or (units is not None and len(units) != len(groups)):
        raise InputError(
            f"{len(profiles)} profiles but {len(groups)} group names"
            + ("" if units is None else f" and {len(units)} animal ids")
            + "."
        )
    vocab = profiles[0].behaviours if profiles else []
    if any(p.behaviours != vocab for p in profiles):
        raise InputError(
            "profiles have different vocabularies.", fix="profile against one vocabulary."
        )
    sizes = group_names(groups)
    small = [g for g, n in sizes.items() if n < 2]
    if small:
        raise InputError(
            f"group(s) {small} have a single profile; a comparison needs at least 2 per group.",
            fix="add sessions to those groups or leave them out.",
        )
    return sizes


def compare_groups(
    profiles: Sequence[Profile],
    groups: Sequence[str],
    *,
    units: Sequence[str] | None = None,
    metrics: Sequence[str] = ("time_fraction",),
    pairs: Sequence[tuple[str, str]] | None = None,
    alpha: float = 0.05,
    n_resamples: int = 9999,
    level: float = 0.95,
    seed: int = 0,
) -> list[Comparison]:
    """Compare every behaviour's metrics between groups of animals.

    Each (behaviour, metric, pair of groups) is one test: the difference in group means,
    its two-sided permutation p-value (exact when the groups allow fewer arrangements
    than ``n_resamples``), a percentile-bootstrap confidence interval, Hedges' g and
    Cliff's delta. The unit is the animal: profiles of one animal in one group (repeated
    sessions) are averaged first. A test whose smallest attainable p is above ``alpha``
    (e.g. 2 vs 2 animals: 1/3) is not run; its p, q and interval stay NaN and ``note``
    says why. Benjamini–Hochberg adjusts the p-values over the tests run.

    Args:
        profiles: one profile per (session, animal), all with the same behaviours.
        groups: ``(profiles,)`` group name of each.
        units: ``(profiles,)`` animal id of each; None = every profile its own animal.
        metrics: metrics of ``METRICS`` to test.
        pairs: ``(a, b)`` group pairs (b is compared against a); ``None`` = every pair in
            sorted order.
        alpha: false-discovery rate of ``significant``, and the level a test must be able
            to reach to be run.
        n_resamples: permutations (and bootstrap resamples / 5).
        level: confidence level of the intervals.
        seed: seed of the resampling.

    Returns:
        One ``Comparison`` per test, in (pair, metric, behaviour) order.

    Raises:
        InputError: mismatched lengths, differing vocabularies, a group with fewer than
            2 profiles, or an unknown group in ``pairs``.
    """
    sizes = _check_groups(profiles, groups, units)
    if not profiles:
        return []
    names = sorted(sizes)
    chosen = list(pairs) if pairs is not None else list(combinations(names, 2))
    for a, b in chosen:
        for g in (a, b):
            if g not in sizes:
                raise InputError(f"group {g!r} is not among {names}.")
    rng = np.random.default_rng(seed)
    out: list[Comparison] = []
    gs = np.asarray(groups)
    ids = np.asarray(
        [f"{g}\x00{u}" for g, u in zip(groups, units or range(len(groups)), strict=True)]
    )
    for a, b in chosen:
        ia, ib = np.flatnonzero(gs == a), np.flatnonzero(gs == b)
        n_a, n_b = len(set(ids[ia].tolist())), len(set(ids[ib].tolist()))
        floor = min_permutation_p(n_a, n_b, n_resamples)
        note = (
            f"not tested: {n_a} vs {n_b} animals allow no p below {floor:.3g} > alpha {alpha:g}"
            if floor > alpha
            else ""
        )
        for metric in metrics:
            for beh in profiles[0].behaviours:
                v = metric_values(profiles, beh, metric)
                x, y = _per_unit(v, ids, ia), _per_unit(v, ids, ib)
                p, lo, hi = (
                    _compare_one(x, y, n_resamples=n_resamples, level=level, rng=rng)
                    if not note
                    else (math.nan, math.nan, math.nan)
                )
                out.append(
                    Comparison(
                        behaviour=beh, metric=metric, group_a=a, group_b=b, n_a=n_a, n_b=n_b,
                        n_sessions_a=len(ia), n_sessions_b=len(ib), mean_a=float(x.mean()),
                        mean_b=float(y.mean()), difference=float(y.mean() - x.mean()),
                        ci_low=lo, ci_high=hi, level=level, hedges_g=hedges_g(x, y),
                        cliffs_delta=cliffs_delta(x, y), min_p=floor, tested=not note, p=p,
                        note=note,
                    )
                )  # fmt: skip
    return _adjust(out, alpha)


def _adjust(comparisons: list[Comparison], alpha: float) -> list[Comparison]:
    """Benjamini–Hochberg q-values and ``significant`` over the tests that were run."""
    from scipy import stats  # loaded when a test runs, not with the metric names

    run = [i for i, c in enumerate(comparisons) if c.tested]
    if not run:
        return comparisons
    q = stats.false_discovery_control(np.asarray([comparisons[i].p for i in run]), method="bh")
    out = list(comparisons)
    for i, qi in zip(run, q, strict=True):
        out[i] = out[i].model_copy(update={"q": float(qi), "significant": bool(qi < alpha)})
    return out


# --------------------------------------------------------------------------- novelty


def bout_dispersion_p(profiles: Sequence[Profile], behaviour: str) -> float:
    """P-value of the bouts of ``behaviour`` being spread over profiles as by chance.

    Under one common rate (bouts per labelled minute) each profile's bout count is about
    Poisson with mean rate x its labelled minutes; the dispersion statistic
    ``sum((count - expected)^2 / expected)`` is then chi-square with ``profiles - 1``
    degrees of freedom. A behaviour that only some animals show piles its bouts into
    few profiles (statistic large, p small); a merely rare one does not.

    Returns:
        The upper-tail p-value (1.0 without bouts or with fewer than 2 profiles).
    """
    from scipy import stats  # loaded when a test runs, not with the metric names

    counts = np.asarray([p.bouts[behaviour] for p in profiles], dtype=np.float64)
    minutes = np.asarray([p.labelled_frames / p.fps / 60.0 for p in profiles])
    if len(profiles) < 2 or counts.sum() == 0 or minutes.sum() == 0:
        return 1.0
    expected = counts.sum() * minutes / minutes.sum()
    ok = expected > 0
    stat = float((((counts - expected) ** 2)[ok] / expected[ok]).sum())
    return float(stats.chi2.sf(stat, int(ok.sum()) - 1))


def find_session_restricted(
    profiles: Sequence[Profile],
    *,
    min_fraction: float = 0.01,
    max_share: float = 0.5,
    max_p: float = 0.01,
) -> dict[str, list[int]]:
    """Behaviours present in only some profiles: candidates for novel behaviour.

    A profile *has* a behaviour when at least ``min_fraction`` of its labelled time is
    spent in it. A behaviour is session-restricted when at least one profile has it, at
    most ``max_share`` of the profiles do (and at least one lacks it), and its bouts are
    more concentrated in those profiles than one common rate explains
    (``bout_dispersion_p`` < ``max_p``; 1.0 turns that test off), so that a behaviour
    that is merely rare is not reported.

    Args:
        profiles: profiles with one vocabulary.
        min_fraction: presence threshold, share of labelled time.
        max_share: most profiles (as a share) that may have it.
        max_p: the dispersion test's level.

    Returns:
        Behaviour -> indices of the profiles that have it, for each restricted behaviour.
    """
    if not profiles:
        return {}
    out: dict[str, list[int]] = {}
    n = len(profiles)
    for beh in profiles[0].behaviours:
        has = [i for i, p in enumerate(profiles) if p.time_fraction[beh] >= min_fraction]
        if not has or len(has) == n or len(has) > max_share * n:
            continue
        if max_p >= 1.0 or bout_dispersion_p(profiles, beh) < max_p:
            out[beh] = has
    return out


def pooled_transitions(profiles: Sequence[Profile]) -> NDArray[np.float64]:
    """``(behaviours, behaviours)`` row-normalised transitions of the profiles' summed counts."""
    t = np.sum([np.asarray(p.transitions, dtype=np.float64) for p in profiles], axis=0)
    rows = t.sum(axis=1, keepdims=True)
    return np.asarray(np.divide(t, rows, out=np.zeros_like(t), where=rows > 0))


def group_names(groups: Sequence[str]) -> dict[str, int]:
    """Group -> number of profiles, sorted by name."""
    names: Mapping[str, int] = {g: sum(1 for x in groups if x == g) for g in sorted(set(groups))}
    return dict(names)
