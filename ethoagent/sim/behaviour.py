"""Behaviour programs for the synthetic mouse world: per-frame, per-animal ground-truth labels.

Each animal runs a semi-Markov program over six individual behaviours (``still`` — i.e.
freezing —, ``walking``, ``darting``, ``turning``, ``rearing``, ``grooming``). A bout's
duration is drawn from a gamma distribution clipped to ``[0.3, 10]`` s, and the next
behaviour from a fixed transition matrix with no self-transitions, so labels come in bouts,
never as per-frame flicker. Darting is rare: short bouts entered with low probability, about
2–5 % of frames over a long session.

With two or three animals a group-level semi-Markov program adds social bouts between an
``actor`` and a ``target``: ``approach`` (the actor walks up to the target and arrives at the
end of the bout) is followed by a contact bout — ``nose_to_nose``, ``nose_to_anogenital`` or
``huddle`` — and ``chase`` (the target darts away, the actor follows) stands alone. During a
social bout both participants carry the social label; the bout list says who is the actor.

Labels are integer codes into ``BEHAVIOURS``; ``-1`` never occurs.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from ethoagent.errors import InputError

INDIVIDUAL_BEHAVIOURS: tuple[str, ...] = (
    "still",
    "walking",
    "darting",
    "turning",
    "rearing",
    "grooming",
)
"""Behaviours of one animal; ``still`` covers freezing (no movement at all)."""

SOCIAL_BEHAVIOURS: tuple[str, ...] = (
    "approach",
    "chase",
    "huddle",
    "nose_to_nose",
    "nose_to_anogenital",
)
"""Behaviours of a pair of animals (only with 2–3 animals)."""

BEHAVIOURS: tuple[str, ...] = INDIVIDUAL_BEHAVIOURS + SOCIAL_BEHAVIOURS
"""All labels; a label array holds indices into this tuple."""

CODE: dict[str, int] = {name: i for i, name in enumerate(BEHAVIOURS)}
"""Label name -> integer code."""

MIN_BOUT_S = 0.3
MAX_BOUT_S = 10.0

# Gamma (shape, mean seconds) of each individual behaviour's bout duration.
_IND_DURATION: dict[str, tuple[float, float]] = {
    "still": (2.0, 2.5),
    "walking": (3.0, 2.0),
    "darting": (6.0, 0.55),
    "turning": (4.0, 0.8),
    "rearing": (3.0, 1.6),
    "grooming": (2.5, 3.5),
}
# Embedded-chain transition weights (row: from, column: to); the diagonal is ignored.
_IND_TRANSITIONS = np.array(
    [
        # still walk dart turn rear groom
        [0.0, 5.0, 1.1, 2.0, 1.5, 1.5],  # still
        [3.0, 0.0, 1.4, 3.0, 1.5, 0.8],  # walking
        [2.5, 3.0, 0.0, 1.0, 0.2, 0.1],  # darting
        [1.5, 4.0, 0.9, 0.0, 0.8, 0.5],  # turning
        [2.5, 2.0, 0.3, 1.0, 0.0, 0.8],  # rearing
        [3.0, 2.0, 0.3, 1.0, 0.5, 0.0],  # grooming
    ]
)
# Social bouts: gamma (shape, mean seconds).
_SOC_DURATION: dict[str, tuple[float, float]] = {
    "approach": (4.0, 1.5),
    "chase": (5.0, 1.2),
    "huddle": (2.5, 4.0),
    "nose_to_nose": (4.0, 1.0),
    "nose_to_anogenital": (4.0, 1.4),
}
# Mean gap between social episodes, seconds (gamma shape 2).
_SOC_GAP_S = 4.0
_EPISODES = ("chase", "nose_to_nose", "nose_to_anogenital", "huddle")


@dataclass(frozen=True)
class Bout:
    """One behaviour bout.

    Attributes:
        behaviour: a name from ``BEHAVIOURS``.
        start: first frame (inclusive).
        stop: last frame + 1 (exclusive).
        actor: index of the animal that performs it.
        target: index of the partner animal for social bouts, else ``None``.
    """

    behaviour: str
    start: int
    stop: int
    actor: int
    target: int | None = None


@dataclass(frozen=True)
class BehaviourProgram:
    """Ground-truth behaviour of every animal in a session.

    Attributes:
        labels: ``(frames, animals)`` int64 codes into ``BEHAVIOURS`` (the final label,
            social behaviours overriding individual ones).
        individual: ``(frames, animals)`` int64 codes of the individual program only
            (what the animal does on its own, also under a social bout).
        social_bouts: the social bouts, in time order (empty with one animal).
        fps: frame rate, Hz.
    """

    labels: NDArray[np.int64]
    individual: NDArray[np.int64]
    social_bouts: tuple[Bout, ...]
    fps: float

    @property
    def names(self) -> NDArray[np.str_]:
        """``(frames, animals)`` label names."""
        return np.asarray(BEHAVIOURS)[self.labels]


def _bout_frames(rng: np.random.Generator, shape: float, mean_s: float, fps: float) -> int:
    d = float(np.clip(rng.gamma(shape, mean_s / shape), MIN_BOUT_S, MAX_BOUT_S))
    return max(int(np.ceil(MIN_BOUT_S * fps)), round(d * fps))


_INITIAL = np.array([0.4, 0.3, 0.0, 0.1, 0.1, 0.1])


def _mean_bout_s(name: str) -> float:
    """Expected bout duration of ``name`` after the clip to ``[MIN_BOUT_S, MAX_BOUT_S]``, s."""
    from scipy.stats import gamma

    k, mean = _IND_DURATION[name]
    theta = mean / k
    lo, hi = MIN_BOUT_S, MAX_BOUT_S
    inside = k * theta * (gamma.cdf(hi, k + 1, scale=theta) - gamma.cdf(lo, k + 1, scale=theta))
    return float(lo * gamma.cdf(lo, k, scale=theta) + hi * gamma.sf(hi, k, scale=theta) + inside)


def expected_time_shares(weights: NDArray[np.float64] | None = None) -> NDArray[np.float64]:
    """Long-run share of time in each individual behaviour of the semi-Markov program.

    Args:
        weights: ``(6,)`` multipliers of the transition weights *into* each behaviour
            (order ``INDIVIDUAL_BEHAVIOURS``); ``None`` = all 1.

    Returns:
        ``(6,)`` shares summing to 1 (stationary distribution of the embedded chain
        times the expected bout durations).
    """
    w = np.ones(len(INDIVIDUAL_BEHAVIOURS)) if weights is None else np.asarray(weights, float)
    trans = _IND_TRANSITIONS * w[None, :]
    np.fill_diagonal(trans, 0.0)
    p = trans / trans.sum(axis=1, keepdims=True)
    vals, vecs = np.linalg.eig(p.T)
    pi = np.abs(np.real(vecs[:, np.argmin(np.abs(vals - 1.0))]))
    time = pi / pi.sum() * np.array([_mean_bout_s(n) for n in INDIVIDUAL_BEHAVIOURS])
    return np.asarray(time / time.sum(), dtype=np.float64)


def transition_weights(rate_scale: Mapping[str, float]) -> NDArray[np.float64]:
    """Multipliers of the transitions into each behaviour that scale its share of time.

    ``{"rearing": 2.0}`` gives weights under which rearing's expected share of time is
    twice the default share (the other behaviours keep their ratios to one another);
    0 removes a behaviour. Solved by bisection on ``expected_time_shares``.

    Args:
        rate_scale: individual behaviour -> factor (>= 0) on its expected share of time.

    Returns:
        ``(6,)`` weights, order ``INDIVIDUAL_BEHAVIOURS``.

    Raises:
        InputError: an unknown behaviour, a negative factor, or a share that cannot be
            reached (factors whose scaled shares sum to 1 or more).
    """
    base = expected_time_shares()
    w = np.ones(len(INDIVIDUAL_BEHAVIOURS))
    for name, factor in rate_scale.items():
        if name not in INDIVIDUAL_BEHAVIOURS:
            raise InputError(
                f"rate_scale names {name!r}, not an individual behaviour.",
                fix=f"use one of {', '.join(INDIVIDUAL_BEHAVIOURS)}.",
            )
        if not (math.isfinite(factor) and factor >= 0):
            raise InputError(f"rate_scale[{name!r}] must be >= 0, got {factor}.")
    targets = {
        INDIVIDUAL_BEHAVIOURS.index(n): base[INDIVIDUAL_BEHAVIOURS.index(n)] * f
        for n, f in rate_scale.items()
    }
    if sum(targets.values()) >= 1.0:
        raise InputError(
            f"rate_scale {dict(rate_scale)} asks for {sum(targets.values()):.0%} of the time.",
            fix="use smaller factors.",
        )
    for i, share in targets.items():
        if share == 0.0:
            w[i] = 0.0
    for _ in range(30):  # coordinate bisection: each behaviour's share is monotone in its weight
        for i, share in targets.items():
            if share == 0.0:
                continue
            lo, hi = 1e-6, 1e6
            for _ in range(50):
                mid = math.sqrt(lo * hi)
                w[i] = mid
                if expected_time_shares(w)[i] < share:
                    lo = mid
                else:
                    hi = mid
        shares = expected_time_shares(w)
        if max(abs(shares[i] - share) for i, share in targets.items()) < 1e-6:
            break
    return w


def simulate_individual(
    frames: int,
    *,
    fps: float = 30.0,
    rng: np.random.Generator,
    weights: NDArray[np.float64] | None = None,
) -> NDArray[np.int64]:
    """Simulate one animal's individual semi-Markov behaviour program.

    Args:
        frames: number of frames (>= 1).
        fps: frame rate, Hz.
        rng: the random generator (consumed).
        weights: ``(6,)`` multipliers of the transitions into (and the initial chance
            of) each behaviour, from ``transition_weights``; ``None`` = the defaults.

    Returns:
        ``(frames,)`` int64 codes into ``BEHAVIOURS`` (individual behaviours only). Every
        bout lasts at least 0.3 s except possibly the one cut by the session's end.
    """
    out = np.empty(frames, dtype=np.int64)
    scale = np.ones(len(INDIVIDUAL_BEHAVIOURS)) if weights is None else np.asarray(weights)
    first = _INITIAL * scale if _INITIAL @ scale > 0 else scale
    p0 = _INITIAL if weights is None else first / first.sum()
    state = int(rng.choice(len(INDIVIDUAL_BEHAVIOURS), p=p0))
    t = 0
    while t < frames:
        name = INDIVIDUAL_BEHAVIOURS[state]
        n = _bout_frames(rng, *_IND_DURATION[name], fps)
        out[t : t + n] = state
        t += n
        w = _IND_TRANSITIONS[state] * scale
        w[state] = 0.0
        state = int(rng.choice(len(w), p=w / w.sum()))
    return out


def simulate_social(
    frames: int, animals: int, *, fps: float = 30.0, rng: np.random.Generator
) -> list[Bout]:
    """Simulate the group's social bouts (approach → contact, or chase), never overlapping.

    Args:
        frames: number of frames.
        animals: number of animals (2 or 3; 1 gives no bouts).
        fps: frame rate, Hz.
        rng: the random generator (consumed).

    Returns:
        Non-overlapping social bouts in time order, each at least 0.3 s long unless cut by
        the session's end.
    """
    bouts: list[Bout] = []
    if animals < 2:
        return bouts
    t = _bout_frames(rng, 2.0, _SOC_GAP_S / 2, fps)
    # episodes cycle through shuffled blocks so every kind occurs within four episodes
    block: list[str] = []
    while t < frames:
        actor, target = (int(a) for a in rng.choice(animals, size=2, replace=False))
        if not block:
            block = [_EPISODES[int(i)] for i in rng.permutation(len(_EPISODES))]
        episode = block.pop()
        kinds = [episode] if episode == "chase" else ["approach", episode]
        for kind in kinds:
            if t >= frames:
                break
            n = _bout_frames(rng, *_SOC_DURATION[kind], fps)
            bouts.append(Bout(kind, t, min(t + n, frames), actor, target))
            t += n
        t += _bout_frames(rng, 2.0, _SOC_GAP_S, fps)
    return bouts


def simulate_behaviour(
    frames: int,
    animals: int = 1,
    *,
    fps: float = 30.0,
    seed: int = 0,
    rate_scale: Mapping[str, float] | None = None,
) -> BehaviourProgram:
    """Simulate the behaviour program of a session (seeded).

    Args:
        frames: number of frames (>= 1).
        animals: number of animals (1–3).
        fps: frame rate, Hz (> 0).
        seed: random seed; the same arguments give the same program.
        rate_scale: individual behaviour -> factor on its expected share of time (e.g.
            ``{"rearing": 2.0}``: rears twice as much; 0: never), see
            ``transition_weights``; ``None`` or ``{}`` = the default program.

    Returns:
        The program: final labels, individual labels and social bouts.
    """
    if frames < 1:
        raise InputError(f"frames must be >= 1, got {frames}.", fix="pass a positive count.")
    if not 1 <= animals <= 3:
        raise InputError(
            f"animals must be 1, 2 or 3, got {animals}.",
            fix="the synthetic world simulates up to three mice.",
        )
    if not fps > 0:
        raise InputError(f"fps must be > 0, got {fps}.", fix="pass a frame rate in Hz.")
    rng = np.random.default_rng([seed, 0xB0E])
    weights = transition_weights(rate_scale) if rate_scale else None
    individual = np.stack(
        [simulate_individual(frames, fps=fps, rng=rng, weights=weights) for _ in range(animals)],
        axis=1,
    )
    bouts = simulate_social(frames, animals, fps=fps, rng=rng)
    labels = individual.copy()
    for b in bouts:
        code = CODE[b.behaviour]
        labels[b.start : b.stop, b.actor] = code
        if b.target is not None:
            labels[b.start : b.stop, b.target] = code
    return BehaviourProgram(labels, individual, tuple(bouts), float(fps))


def bouts_from_labels(labels: NDArray[np.integer]) -> list[tuple[int, int, int]]:
    """Run-length encode a label vector.

    Args:
        labels: ``(frames,)`` integer codes.

    Returns:
        ``(code, start, stop)`` per run, ``stop`` exclusive, in time order.
    """
    lab = np.asarray(labels).ravel()
    if lab.size == 0:
        return []
    edges = np.flatnonzero(np.diff(lab)) + 1
    starts = np.concatenate([[0], edges])
    stops = np.concatenate([edges, [lab.size]])
    return [(int(lab[s]), int(s), int(e)) for s, e in zip(starts, stops, strict=True)]
