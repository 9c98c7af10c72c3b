"""A shared behaviour vocabulary from snippet descriptions: texts, clusters and checks.

The profile pipeline pools the captioned snippets of many sessions, embeds their
descriptions (``agent.embed``), clusters the embeddings (``cluster_embeddings``) and has
each cluster named and defined (a model, or the offline solver). This module holds the
model-free parts:

- ``snippet_text``: a caption as one line of text to embed;
- ``cluster_embeddings``: k-means on unit vectors (cosine geometry), K given or chosen by
  the silhouette;
- ``summarize_cluster`` / ``describe_cluster``: median kinematics of a cluster's members;
- ``check_unique_name`` / ``check_definition``: the checks a proposed name and definition
  must pass (distinct from every other entry; no word that contradicts the members'
  kinematics, e.g. "still" for a cluster moving at 2 body lengths/s);
- ``match_reference``: nearest entry of a reference vocabulary by cosine similarity.

Units as in ``tools.captions``: speeds in body lengths per second (BL/s), turn rates rad/s,
height and paw-to-head as ratios to the animal's own session median.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

import numpy as np
from numpy.typing import NDArray
from pydantic import BaseModel, ConfigDict

from ethoagent.errors import InputError
from ethoagent.model.checks import CheckResult
from ethoagent.tools.captions import SnippetKinematics, normalise_label

__all__ = [
    "ClusterKinematics",
    "check_definition",
    "check_unique_name",
    "cluster_embeddings",
    "describe_cluster",
    "match_reference",
    "snippet_text",
    "summarize_cluster",
]


def snippet_text(caption: Mapping[str, object]) -> str:
    """A caption as the one line of text that is embedded.

    The caption's ``label``, ``posture``, ``direction``, ``speed`` and
    ``social_interaction``, in that order.
    """
    label = str(caption.get("label", "")).replace("_", " ")
    return (
        f"{label}: posture {caption.get('posture', '')}; direction "
        f"{caption.get('direction', '')}; speed {caption.get('speed', '')}; social "
        f"{caption.get('social_interaction', '')}"
    )


# --------------------------------------------------------------------------- clustering


def cluster_embeddings(
    x: NDArray[np.floating],
    weights: NDArray[np.floating] | None = None,
    *,
    k: int | None = None,
    k_range: tuple[int, int] = (2, 12),
    seed: int = 0,
) -> tuple[NDArray[np.int64], dict[int, float]]:
    """Cluster unit vectors with k-means (squared Euclidean = 2 - 2 cosine on unit rows).

    Args:
        x: ``(points, dims)`` embeddings (e.g. one per distinct description).
        weights: ``(points,)`` weights (e.g. how many snippets share the description).
        k: number of clusters; ``None`` picks the K in ``k_range`` with the highest
            silhouette (cosine) over the points.
        k_range: smallest and largest K tried.
        seed: k-means seed.

    Returns:
        ``(points,)`` cluster index per point (0..K-1, every index used) and the
        silhouette of each K tried (empty when ``k`` is given).

    Raises:
        InputError: no points, or ``k`` larger than the number of distinct points.
    """
    from sklearn.cluster import KMeans
    from sklearn.metrics import silhouette_score

    pts = np.asarray(x, dtype=np.float64)
    n = len(pts)
    if n == 0:
        raise InputError("no snippet descriptions to cluster.", fix="check the sessions' captions.")
    distinct = len(np.unique(pts.round(6), axis=0))
    w = None if weights is None else np.asarray(weights, dtype=np.float64)

    def fit(kk: int) -> NDArray[np.int64]:
        km = KMeans(n_clusters=kk, n_init=4, random_state=seed)
        return np.asarray(km.fit_predict(pts, sample_weight=w), dtype=np.int64)

    scores: dict[int, float] = {}
    if k is not None:
        if not 1 <= k <= distinct:
            raise InputError(
                f"{k} clusters asked for {distinct} distinct descriptions.",
                fix=f"pass --clusters between 1 and {distinct}.",
            )
        labels = fit(k)
    elif distinct <= 2:
        labels = fit(distinct)
    else:
        lo, hi = max(2, k_range[0]), min(k_range[1], distinct - 1)
        best: tuple[float, NDArray[np.int64]] | None = None
        for kk in range(lo, max(lo, hi) + 1):
            lab = fit(kk)
            if len(np.unique(lab)) < 2:
                continue
            s = float(silhouette_score(pts, lab, metric="cosine"))
            scores[kk] = round(s, 4)
            if best is None or s > best[0]:
                best = (s, lab)
        labels = best[1] if best is not None else fit(1)
    _, dense = np.unique(labels, return_inverse=True)
    return np.asarray(dense, dtype=np.int64), scores


# --------------------------------------------------------------------------- kinematics


class ClusterKinematics(BaseModel):
    """Median kinematics of a cluster's member snippets (``None`` = never measured).

    Attributes:
        members: snippets; seconds: their total duration, s.
        speed, speed_p90: medians of the members' mean and 90th-percentile speed, BL/s.
        abs_turn_rate: median absolute heading change, rad/s.
        elongation: median head–tail-base length / body length.
        height_ratio: median back height / usual (3D only).
        paw_head_ratio: median nearest-paw-to-head / usual.
        partner_distance: median distance to the nearest other animal, BL.
        partners: most other animals in a member's session.
    """

    model_config = ConfigDict(frozen=True)

    members: int
    seconds: float
    speed: float | None = None
    speed_p90: float | None = None
    abs_turn_rate: float | None = None
    elongation: float | None = None
    height_ratio: float | None = None
    paw_head_ratio: float | None = None
    partner_distance: float | None = None
    partners: int = 0


def summarize_cluster(members: Sequence[SnippetKinematics]) -> ClusterKinematics:
    """Median kinematics of a cluster's members."""

    def med(name: str) -> float | None:
        vals = [getattr(m, name) for m in members if getattr(m, name) is not None]
        return round(float(np.median(vals)), 4) if vals else None

    return ClusterKinematics(
        members=len(members),
        seconds=round(sum(m.seconds for m in members), 3),
        speed=med("speed"),
        speed_p90=med("speed_p90"),
        abs_turn_rate=med("abs_turn_rate"),
        elongation=med("elongation"),
        height_ratio=med("height_ratio"),
        paw_head_ratio=med("paw_head_ratio"),
        partner_distance=med("partner_distance"),
        partners=max((m.partners for m in members), default=0),
    )


def _f(x: float | None) -> str:
    return "not measured" if x is None else f"{x:.2f}"


def describe_cluster(k: ClusterKinematics) -> str:
    """The cluster's kinematics as lines of text for a prompt (units spelled out)."""
    lines = [
        f"- {k.members} snippets, {k.seconds:.1f} s in all",
        f"- body-centre speed: median {_f(k.speed)} body lengths/s (90th percentile "
        f"{_f(k.speed_p90)})",
        f"- heading change: median {_f(k.abs_turn_rate)} rad/s",
        f"- body elongation: {_f(k.elongation)} of its usual length",
        f"- back height: {_f(k.height_ratio)} x usual",
        f"- nearest paw to the head: {_f(k.paw_head_ratio)} x usual distance",
    ]
    if k.partners:
        lines.append(f"- nearest other animal: {_f(k.partner_distance)} body lengths")
    else:
        lines.append("- no other animal in the sessions of these snippets")
    return "\n".join(lines)


# --------------------------------------------------------------------------- checks

# fmt: off
_IMMOBILE = frozenset({
    "still", "freeze", "freezing", "frozen", "immobile", "immobility", "motionless", "rest",
    "resting", "stationary", "sleep", "sleeping", "idle", "inactive",
})
_LOCOMOTION = frozenset({
    "walk", "walking", "run", "running", "dart", "darting", "locomotion", "trot", "trotting",
    "gallop", "galloping", "flee", "fleeing", "sprint", "sprinting", "dash", "dashing",
    "chase", "chasing", "ambulating", "ambulation",
})
_FAST = frozenset({"fast", "rapid", "rapidly", "quick", "quickly", "sprint", "dash", "darting"})
_REARING = frozenset({"rear", "rearing", "upright", "rears"})
_GROOMING = frozenset({"groom", "grooming", "grooms", "licking", "scratching"})
_SOCIAL = frozenset({
    "partner", "social", "nose_to_nose", "anogenital", "huddle", "huddling", "chase",
    "chasing", "allogrooming", "mount", "mounting", "fight", "fighting", "approach",
    "approaching", "another", "other",
})
_NEGATIONS = frozenset({"not", "no", "without", "never", "non", "little", "nor", "neither"})
# fmt: on
STILL_MAX_SPEED = 1.0
"""A definition calling the animal still/at rest fails above this median speed, BL/s."""
MOVING_MIN_SPEED = 0.1
"""A locomotion definition fails below this median speed (and p90 below 0.3), BL/s."""
FAST_MIN_SPEED = 0.3


def _asserted_words(text: str) -> set[str]:
    """Words of ``text`` not negated by one of the two words before them."""
    words = re.findall(r"[a-z]+", text.lower().replace("_", " "))
    return {w for i, w in enumerate(words) if not _NEGATIONS & set(words[max(0, i - 2) : i])}


def check_unique_name(name: str, taken: Sequence[str]) -> CheckResult:
    """The proposed name is non-empty and differs (after normalisation) from ``taken``."""
    norm = normalise_label(name)
    others = {normalise_label(t): t for t in taken}
    if not norm:
        message, ok = f"name {name!r} has no letters or digits", False
    elif norm in others:
        message, ok = (
            f"name {name!r} is already the name of another vocabulary entry "
            f"({others[norm]!r}); every entry needs its own name. Taken: "
            + ", ".join(sorted(others)),
            False,
        )
    else:
        message, ok = f"name {norm!r} is not taken", True
    return CheckResult(
        name="unique_name", passed=ok, value=float(not ok), threshold=0.0, message=message
    )


def check_definition(name: str, definition: str, k: ClusterKinematics) -> CheckResult:
    """Does the name or definition contradict the members' median kinematics?

    Fails, naming each contradiction with the numbers, when it says still / at rest /
    freezing and the median speed exceeds 1 BL/s; locomotion (walking, running, darting,
    ...) and the members barely moved (median < 0.1 BL/s, 90th percentile < 0.3); fast
    below 0.3 BL/s; rearing / upright with the back at its usual height (< 1.05 x) and
    the body not shortened (>= 0.95); grooming above 1 BL/s; a social behaviour with no
    other animal in the sessions. Negated words ("not moving", "without rearing") do not
    count; unmeasured quantities never fail.
    """
    words = _asserted_words(f"{name} {definition}")
    speed, p90 = k.speed, k.speed_p90
    problems: list[str] = []
    moved = (
        f"its members move at a median {speed:.2f} body lengths/s"
        + ("" if p90 is None else f" (90th percentile {p90:.2f})")
        if speed is not None
        else ""
    )
    if speed is not None:
        if words & _IMMOBILE and speed > STILL_MAX_SPEED:
            problems.append(f"it says {sorted(words & _IMMOBILE)[0]!r} (at rest), but {moved}")
        if words & _LOCOMOTION and speed < MOVING_MIN_SPEED and (p90 is None or p90 < 0.3):
            problems.append(
                f"it says {sorted(words & _LOCOMOTION)[0]!r} (locomotion), but {moved}: they "
                "barely move"
            )
        if words & _FAST and speed < FAST_MIN_SPEED and (p90 is None or p90 < 1.0):
            problems.append(f"it says {sorted(words & _FAST)[0]!r}, but {moved}")
        if words & _GROOMING and speed > STILL_MAX_SPEED:
            problems.append(f"grooming needs the body at rest, but {moved}")
    if (
        words & _REARING
        and k.height_ratio is not None
        and k.height_ratio < 1.05
        and (k.elongation is None or k.elongation >= 0.95)
    ):
        problems.append(
            f"it says {sorted(words & _REARING)[0]!r}, but the members' back stays at "
            f"{k.height_ratio:.2f} x its usual height"
        )
    if words & _SOCIAL and k.partners == 0:
        problems.append("it names a social behaviour, but every member's animal is alone")
    return CheckResult(
        name="definition_kinematics",
        passed=not problems,
        value=float(len(problems)),
        threshold=0.0,
        message="; ".join(problems) + "."
        if problems
        else "the name and definition agree with the members' kinematics",
    )


def match_reference(
    entries: NDArray[np.floating], reference: NDArray[np.floating]
) -> list[tuple[int, float]]:
    """For each entry embedding, the most similar reference embedding.

    Args:
        entries: ``(entries, dims)`` unit rows.
        reference: ``(references, dims)`` unit rows (embedded in the same call/space).

    Returns:
        ``(reference index, cosine similarity)`` per entry (``(-1, 0.0)`` without
        references).
    """
    if len(reference) == 0:
        return [(-1, 0.0)] * len(entries)
    sim = np.asarray(entries, dtype=np.float64) @ np.asarray(reference, dtype=np.float64).T
    best = sim.argmax(axis=1)
    return [(int(b), round(float(sim[i, b]), 4)) for i, b in enumerate(best)]
