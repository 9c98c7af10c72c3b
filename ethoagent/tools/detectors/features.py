"""Multi-scale kinematic and social features of every animal (``detector_features``).

What the classical detectors (``tools.detectors``) read: per frame the features of
``tools.features``, head speed, and with two or more animals the social features of
``tools.detectors.social`` (nose-to-nose, nose-to-body, nose-to-tail-base distances in both
directions, nearest keypoints, approach speed, facing angles), then their rolling mean and
standard deviation over several time scales (``SCALES_S``). Lengths in body lengths (BL).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.ndimage import uniform_filter1d

from ethoagent.errors import InputError
from ethoagent.tools.classify import freezing_by_velocity
from ethoagent.tools.detectors.social import pair_features
from ethoagent.tools.features import BodyLayout, compute_features, infer_layout

__all__ = [
    "BODY_LENGTH_CM",
    "FREEZING_ANGLE_DEG_S",
    "FREEZING_GRID",
    "FREEZING_PRIOR",
    "FREEZING_PUBLISHED",
    "FREEZING_VELOCITY_CM_S",
    "SCALES_S",
    "DetectorFeatures",
    "body_points",
    "detector_features",
]

SCALES_S: tuple[float, ...] = (0.1, 0.25, 0.5)
"""Time scales (s) of the rolling statistics. Longer ones (1, 2 s) cost macro-F1 on the
simulator (0.84 vs 0.87 with 0.5 s example clips): they blur short bouts such as darting."""

BODY_LENGTH_CM = 6.5
"""Nose-to-tail-base length of an adult mouse (cm): turns BehaviorDEPOT's cm/s thresholds
into body lengths per second, so the freezing rule needs no pixel scale."""

FREEZING_VELOCITY_CM_S = 0.52
"""BehaviorDEPOT's velocity threshold (cm/s), as demo1 was analysed with (its ``Params.mat``;
its demo README gives 0.59 cm/s and 15 deg/s as defaults: docs/classify.md compares both)."""

FREEZING_ANGLE_DEG_S = 12.0
"""BehaviorDEPOT's head-angle threshold (deg/s), as demo1 was analysed with."""

FREEZING_GRID: tuple[float, ...] = (0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 4.0)
"""Multiples of the freezing thresholds (``FREEZING_VELOCITY_CM_S``,
``FREEZING_ANGLE_DEG_S``) computed."""

FREEZING_PRIOR = 1.0
"""BehaviorDEPOT's thresholds: the prior of ``FREEZING_GRID``."""

FREEZING_PUBLISHED: tuple[float, float] = (0.59, 15.0)
"""The freezing thresholds (cm/s, deg/s) BehaviorDEPOT's demo README tells users to set
("use default parameter values for freezing (min duration: 0.9, velocity threshold: 0.59,
angle threshold: 15)"): the published one-line rule, a candidate of ``fit_detector`` that
no example tunes (``DetectorFeatures.freezing_published``)."""


@dataclass(frozen=True)
class DetectorFeatures:
    """Multi-scale kinematic features of one session.

    Attributes:
        values: ``(frames, individuals, features)`` float64, standardised per session
            (zero mean, unit variance over frames and animals; NaN filled with 0).
        names: feature names, length ``features``.
        raw: ``(frames, individuals, features)`` float64 before standardisation (BL,
            BL/s, rad, s; NaN where not computable): what the rules read.
        freezing: ``(thresholds, frames, individuals)`` bool, BehaviorDEPOT's rule at
            its own timing (what the fitted model's mixes and the ``freezing_rule_<s>s``
            features use).
        freezing_lag_free: the same without the rule's 1.5-frame lag
            (``freezing_by_velocity(centred=True)``): what the rules alone label.
        freezing_published: ``(frames, individuals)`` bool, the rule lag-free at
            ``FREEZING_PUBLISHED``, on the session's own scale where it is known
            (``units_per_cm`` of ``detector_features``), else on the body-length ruler.
        fps: frame rate, Hz; dim: 2 or 3.
        ruler: how the published rule turned cm into keypoint units, in words.
    """

    values: NDArray[np.float64]
    names: tuple[str, ...]
    raw: NDArray[np.float64]
    freezing: NDArray[np.bool_]
    freezing_lag_free: NDArray[np.bool_]
    freezing_published: NDArray[np.bool_]
    fps: float
    dim: int
    ruler: str = "body length = 6.5 cm"

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


def body_points(
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
    units_per_cm: NDArray[np.float64],
    thresholds: Sequence[tuple[float, float]],
    *,
    centred: bool,
) -> NDArray[np.bool_]:
    """BehaviorDEPOT's rule per animal at every (cm/s, deg/s) pair of ``thresholds``.

    ``units_per_cm``: ``(individuals,)`` keypoint units per cm (NaN: the animal is left
    all False). ``centred``: without the rule's lag (``freezing_by_velocity``), so a
    bout's edges fall on the frames where the keypoints stop and start moving, not 1.5
    frames later. Returns ``(thresholds, frames, individuals)`` bool.
    """
    head, rear, nose, ears = body_points(pts, keypoints, layout)
    out = np.zeros((len(thresholds), pts.shape[0], pts.shape[1]), dtype=bool)
    width = max(3, round(32 * fps / 50.0))
    count = max(2, round(10 * fps / 50.0))
    smooth = max(1, round(14 * fps / 50.0))
    for a in range(pts.shape[1]):
        if not np.isfinite(units_per_cm[a]) or not np.isfinite(head[:, a]).any():
            continue
        for g, (velocity, angle) in enumerate(thresholds):
            out[g, :, a] = freezing_by_velocity(
                head[:, a], rear[:, a], nose[:, a], ears[:, a], fps=fps,
                units_per_cm=float(units_per_cm[a]), velocity_threshold=velocity,
                angle_threshold=angle, window_width=width, count_threshold=count,
                smooth_frames=smooth, centred=centred,
            )  # fmt: skip
    return out


def _published_freezing(
    pts: NDArray[np.float64], keypoints: Sequence[str], layout: BodyLayout, fps: float,
    body_length: NDArray[np.float64], units_per_cm: float | None,
) -> tuple[NDArray[np.bool_], str]:  # fmt: skip
    """The rule at ``FREEZING_PUBLISHED``, lag-free, ``(frames, individuals)``, and its ruler.

    On ``units_per_cm`` where given, else on the body length (``(individuals,)``, keypoint
    units) taken as ``BODY_LENGTH_CM``.
    """
    if units_per_cm is None:
        scale, ruler = body_length / BODY_LENGTH_CM, f"body length = {BODY_LENGTH_CM:g} cm"
    elif np.isfinite(units_per_cm) and units_per_cm > 0:
        scale, ruler = np.full(pts.shape[1], float(units_per_cm)), f"{units_per_cm:g} units/cm"
    else:
        raise InputError(
            f"units_per_cm must be a positive number of keypoint units per cm; got {units_per_cm}.",
            fix="give the calibration's px/cm (e.g. 32), 10 for mm, or None for the body length.",
        )
    grid = _freezing_grid(pts, keypoints, layout, fps, scale, [FREEZING_PUBLISHED], centred=True)
    return grid[0], ruler


def _rolling(
    per_frame: NDArray[np.float64], names: Sequence[str], rule: NDArray[np.bool_], fps: float,
    scales_s: Sequence[float],
) -> tuple[NDArray[np.float64], list[str]]:  # fmt: skip
    """Per-frame features ``(frames, individuals, n)`` with their rolling statistics.

    Per scale: the centred rolling mean and standard deviation of every feature (NaN
    filled from the nearest frame) and the share of frames ``rule`` ``(frames,
    individuals)`` fires. Returns the stacked raw features and the added names.
    """
    filled = _ffill(per_frame)
    cols, extra = [per_frame], []
    for s in scales_s:
        w = max(1, round(s * fps))
        mean = uniform_filter1d(filled, size=w, axis=0, mode="nearest")
        sq = uniform_filter1d(filled * filled, size=w, axis=0, mode="nearest")
        std = np.sqrt(np.clip(sq - mean * mean, 0.0, None))
        cols += [mean, std]
        extra += [f"{n}_mean_{s:g}s" for n in names] + [f"{n}_std_{s:g}s" for n in names]
        share = uniform_filter1d(rule.astype(np.float64), size=w, axis=0, mode="nearest")
        cols.append(share[..., None])
        extra.append(f"freezing_rule_{s:g}s")
    return np.concatenate(cols, axis=-1), extra


def _social(
    pts: NDArray[np.float64], keypoints: Sequence[str], layout: BodyLayout, fps: float,
    body_length: NDArray[np.float64],
) -> dict[str, NDArray[np.float64]]:  # fmt: skip
    """``social.pair_features`` from this skeleton's nose, head axis, centre and tail base."""
    _, rear, nose, between = body_points(pts, keypoints, layout)
    norm = [re.sub(r"[^a-z0-9]", "", k.lower()) for k in keypoints]
    tail_key = re.sub(r"[^a-z0-9]", "", layout.tail_base.lower())
    tail = pts[:, :, norm.index(tail_key), :2] if tail_key in norm else rear
    with np.errstate(all="ignore"):
        centre = np.nanmean(pts[..., :2], axis=2)
    return pair_features(
        pts, nose=nose, neck=between, centre=centre, tail=tail, body_length=body_length, fps=fps
    )


def detector_features(
    points: ArrayLike,
    *,
    fps: float,
    keypoints: Sequence[str],
    individuals: Sequence[str] | None = None,
    layout: BodyLayout | None = None,
    scales_s: Sequence[float] = SCALES_S,
    units_per_cm: float | None = None,
) -> DetectorFeatures:
    """Windowed kinematic features of every animal at several time scales.

    Per frame: every feature of ``compute_features`` (without its rolling statistics),
    ``head_speed`` (BL/s), ``log_speed`` (log10 of body-centre speed + 0.01 BL/s) and,
    with two or more animals, the social features of ``social.PAIR_FEATURES`` towards
    the nearest partner (nose-to-body, nose-to-nose and nose-to-tail-base distances both
    ways, nearest keypoints, centre distance, approach and relative speed, facing; BL);
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
        units_per_cm: keypoint units per cm where the session's scale is known (a
            calibrated px/cm, 10 for mm): the ruler of the published freezing rule
            (``freezing_published``) only; None = body length / ``BODY_LENGTH_CM``, the
            ruler of every other feature.

    Returns:
        The features, raw and standardised, and the freezing rule at every threshold.

    Raises:
        InputError: as ``compute_features`` (shapes, names, layout), or ``units_per_cm``
            not a positive number.
    """
    lay = infer_layout(keypoints) if layout is None else layout
    base = compute_features(
        points, fps=fps, keypoints=keypoints, individuals=individuals, layout=lay, window_s=0
    )
    pts = np.asarray(points, dtype=np.float64)
    published, ruler = _published_freezing(pts, keypoints, lay, fps, base.body_length, units_per_cm)
    head, *_ = body_points(pts, keypoints, lay)
    step = np.linalg.norm(np.diff(head, axis=0), axis=-1) * fps / base.body_length
    head_speed = np.concatenate([step[:1], step])
    log_speed = np.log10(np.clip(base.column("speed"), 0, None) + 0.01)
    by_body = base.body_length / BODY_LENGTH_CM
    grid = [(FREEZING_VELOCITY_CM_S * m, FREEZING_ANGLE_DEG_S * m) for m in FREEZING_GRID]
    frz = _freezing_grid(pts, keypoints, lay, fps, by_body, grid, centred=False)
    extra_cols = {"head_speed": head_speed, "log_speed": log_speed}
    if pts.shape[1] >= 2:
        extra_cols |= _social(pts, keypoints, lay, fps, base.body_length)
    per_frame = np.concatenate([base.values, np.stack(list(extra_cols.values()), -1)], -1)
    names = [*base.names, *extra_cols]
    raw, extra = _rolling(per_frame, names, frz[FREEZING_GRID.index(FREEZING_PRIOR)], fps, scales_s)
    flat = raw.reshape(-1, raw.shape[-1])
    with np.errstate(all="ignore"):
        mu, sd = np.nanmean(flat, axis=0), np.nanstd(flat, axis=0)
    z = (raw - np.nan_to_num(mu)) / np.where(np.isfinite(sd) & (sd > 1e-9), sd, 1.0)
    return DetectorFeatures(
        values=np.nan_to_num(z, nan=0.0, posinf=0.0, neginf=0.0),
        names=(*names, *extra),
        raw=raw,
        freezing=frz,
        freezing_lag_free=_freezing_grid(pts, keypoints, lay, fps, by_body, grid, centred=True),
        freezing_published=published,
        fps=float(fps),
        dim=int(pts.shape[3]),
        ruler=ruler,
    )
