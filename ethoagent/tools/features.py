"""Per-frame, per-animal pose features for behaviour segmentation (model-free).

``compute_features`` turns keypoints ``(frames, individuals, keypoints, D)`` (D = 2 pixels
or 3 in a world unit, z up; NaN = missing) into unit-free features ``(frames, individuals,
features)``: lengths are divided by the animal's median body length (head to tail base),
times are in seconds, angles in radians. Which keypoint plays which part (head, body
centre, tail base, paws, tail chain) is a ``BodyLayout`` (``tools.body_layout``: the ready
layouts, ``infer_layout``, ``layout_named``; importable from here too); ``Features.roles``
records which roles were matched, derived or absent and which features that disables.
This module computes the single-animal kinematics and posture; the social features are
``tools.social``, the gap filling, derivatives and rolling statistics ``tools.timeseries``.

Everything is vectorised over frames, animals and keypoints:

1. gaps of up to ``max_gap_s`` are filled linearly per coordinate, longer gaps stay NaN;
2. per animal: body-centre speed (and its forward / lateral parts in the body frame),
   acceleration, heading change rate, elongation, height (3D only), nearest paw to head,
   tail bend;
3. per ordered pair of animals (``Features.pairs``): nose-nose and nose-tail-base
   distance, relative heading, bearing of the partner, approach speed; each animal gets
   the values of its nearest partner (by body-centre distance) in ``Features.values``;
4. centred rolling mean and standard deviation of every feature over ``window_s``.

For clustering, ``compute_pose_components`` adds what the kinematics above summarise
away: the animal's egocentric pose (every keypoint relative to the body centre, rotated so
the heading points along +x, in body lengths), reduced to its leading principal
components over the session and whitened, so that a rearing, curled or grooming
silhouette in a 2D top view is a point in pose space (keypoint-MoSeq clusters the same
aligned pose). ``cluster_features`` stacks kinematics, pose components and their rolling
statistics at a second, longer time scale into the matrix a clustering sees.

Derivatives are central differences scaled by fps (one-sided next to a gap or the ends).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ethoagent.errors import InputError
from ethoagent.model.skeleton import normalise_name
from ethoagent.tools.body import BodyRoles, body_points
from ethoagent.tools.body_layout import (
    BEHAVIORDEPOT_LAYOUT,
    CALMS21_LAYOUT,
    ETHOME_LAYOUT,
    LAYOUTS,
    NOSE_TAILBASE_LAYOUT,
    SYNTHETIC_LAYOUT,
    BodyLayout,
    describe_roles,
    infer_layout,
    layout_named,
    roles_layout_name,
)
from ethoagent.tools.social import PAIR_FEATURES, compute_pair_features
from ethoagent.tools.timeseries import fill_gaps, rolling_mean_std, time_derivative

__all__ = [
    "BEHAVIORDEPOT_LAYOUT",
    "CALMS21_LAYOUT",
    "ETHOME_LAYOUT",
    "IMPLAUSIBLE_SPREAD",
    "LAYOUTS",
    "NOSE_TAILBASE_LAYOUT",
    "PAIR_FEATURES",
    "POSTURE_FEATURES",
    "SIGNED_FEATURES",
    "SYNTHETIC_LAYOUT",
    "BodyLayout",
    "Features",
    "cluster_features",
    "compute_features",
    "compute_pose_components",
    "describe_roles",
    "feature_base",
    "infer_layout",
    "layout_named",
    "mask_implausible_points",
    "roles_layout_name",
]


@dataclass(frozen=True)
class Features:
    """Features of every animal in every frame, and how they were obtained.

    Attributes:
        values: ``(frames, individuals, features)`` float64, unit-free (see ``names``;
            lengths in body lengths, times in s, angles in rad), NaN where not computable.
        names: feature names, length ``features``.
        valid: ``(frames, individuals)`` bool, True where every feature is finite.
        report: counts per individual name: ``"missing_frames"`` (frames with any
            missing coordinate in the input), ``"interpolated_frames"`` (frames where a
            gap was filled), ``"masked_frames"`` (frames not ``valid``),
            ``"posture_imputed_frames"`` (``POSTURE_FEATURES`` filled); and
            ``"settings"``: ``max_gap_frames``, ``window_frames``.
        individuals: individual names, length ``individuals``.
        body_length: ``(individuals,)`` float64, median head–tail-base distance in the
            input unit (pixels or mm), NaN if never seen.
        pairs: ``(frames, individuals, individuals, len(pair_names))`` float64, social
            features of (animal, partner); NaN on the diagonal and where not computable.
        pair_names: names of the pair features (``PAIR_FEATURES``).
        fps: frame rate, Hz.
        layout: the body layout used.
        roles: which roles the layout matched, derived or lacks, and the features that
            disables (``describe_roles``).
    """

    values: NDArray[np.float64]
    names: tuple[str, ...]
    valid: NDArray[np.bool_]
    report: dict[str, dict[str, int]]
    individuals: tuple[str, ...]
    body_length: NDArray[np.float64]
    pairs: NDArray[np.float64]
    pair_names: tuple[str, ...]
    fps: float
    layout: BodyLayout
    roles: BodyRoles

    def __repr__(self) -> str:
        f, a, n = self.values.shape
        return (
            f"Features(frames={f}, individuals={a}, features={n}, "
            f"valid={int(self.valid.sum())}/{f * a}, layout={self.layout.name!r})"
        )

    def column(self, name: str) -> NDArray[np.float64]:
        """One feature, ``(frames, individuals)`` float64.

        Raises:
            InputError: if there is no feature of that name.
        """
        if name not in self.names:
            raise InputError(
                f"no feature named {name!r}; the features are {list(self.names)}.",
                fix="pick one of Features.names.",
            )
        col: NDArray[np.float64] = self.values[:, :, self.names.index(name)]
        return col

    def matrix(self) -> tuple[NDArray[np.float64], NDArray[np.int64]]:
        """The valid rows as a design matrix for clustering.

        Returns:
            ``(X, index)``: ``X`` ``(n_valid_rows, features)`` float64, all finite;
            ``index`` ``(n_valid_rows, 2)`` int64, the ``(frame, individual)`` of each
            row, frame-major.
        """
        frame, ind = np.nonzero(self.valid)
        index = np.stack([frame, ind], axis=1).astype(np.int64)
        x: NDArray[np.float64] = self.values[frame, ind]
        return x, index


def _validate(
    points: ArrayLike,
    fps: float,
    keypoints: Sequence[str],
    individuals: Sequence[str] | None,
    window_s: float,
    max_gap_s: float,
) -> tuple[NDArray[np.float64], tuple[str, ...]]:
    pts = np.asarray(points, dtype=np.float64)
    if pts.ndim != 4 or pts.shape[3] not in (2, 3) or pts.shape[0] < 2:
        raise InputError(
            "points must have shape (frames >= 2, individuals, keypoints, D = 2 or 3); "
            f"found shape {pts.shape}.",
            fix="add an individuals axis for one animal (points[:, None]).",
        )
    if pts.shape[2] != len(keypoints):
        raise InputError(
            f"points have {pts.shape[2]} keypoints but {len(keypoints)} keypoint names were given.",
            fix="pass one name per keypoint, in the order of the keypoints axis.",
        )
    if len({normalise_name(k) for k in keypoints}) != len(keypoints):
        raise InputError(
            f"keypoint names must be unique (ignoring case, spaces, '_' and '-'); found "
            f"{list(keypoints)}.",
            fix="rename the duplicated keypoints.",
        )
    if individuals is None:
        inds = tuple(f"individual_{i}" for i in range(pts.shape[1]))
    else:
        inds = tuple(str(i) for i in individuals)
        if len(inds) != pts.shape[1]:
            raise InputError(
                f"points have {pts.shape[1]} individuals but {len(inds)} names were given.",
                fix="pass one name per individual, or individuals=None.",
            )
    if not np.isfinite(fps) or fps <= 0:
        raise InputError(
            f"fps must be a finite frame rate > 0 Hz; found {fps}.",
            fix="pass the recording's frame rate (e.g. PoseData.fps).",
        )
    for what, value in (("window_s", window_s), ("max_gap_s", max_gap_s)):
        if not np.isfinite(value) or value < 0:
            raise InputError(
                f"{what} must be a finite duration >= 0 s; found {value}.",
                fix="pass seconds (0 turns rolling statistics / gap filling off).",
            )
    if np.isinf(pts).any():
        raise InputError(
            "points contain infinite values.",
            fix="mark missing keypoints with NaN, not inf.",
        )
    return pts, inds


IMPLAUSIBLE_SPREAD = 1e4
"""A keypoint further from the session's median position than this many times the
session's spread (median absolute deviation) is a tracking or export glitch."""


def mask_implausible_points(
    points: ArrayLike, spread: float = IMPLAUSIBLE_SPREAD
) -> tuple[NDArray[np.float64], int]:
    """Mark infinite and absurdly far keypoints as missing (NaN).

    Glitches such as ``1e300`` or ``inf`` in a few frames would otherwise overflow the
    body-length normalisation and poison every frame. The bound is relative, so a file in
    metres, millimetres or pixels is treated alike.

    Args:
        points: ``(frames, individuals, keypoints, D)`` float64, any length unit; NaN =
            missing.
        spread: how many median absolute deviations (per coordinate, over the session)
            from the median position a keypoint may lie.

    Returns:
        The points with those positions set to NaN (a copy), and how many keypoint
        positions were masked.
    """
    pts = np.array(points, dtype=np.float64)
    bad = np.isinf(pts).any(axis=-1)
    pts[bad] = np.nan
    flat = pts.reshape(-1, pts.shape[-1])
    if np.isfinite(flat).all(axis=-1).any():
        with np.errstate(over="ignore", invalid="ignore"):
            centre = np.nanmedian(flat, axis=0)
            mad = np.nanmedian(np.abs(flat - centre), axis=0)
            scale = np.where(mad > 0, mad, np.nanmax(np.abs(flat - centre), axis=0))
            far = (np.abs(pts - centre) > spread * np.maximum(scale, 1e-300)).any(axis=-1)
        far &= ~np.isnan(pts).any(axis=-1)
        pts[far] = np.nan
        bad |= far
    return pts, int(bad.sum())


# --------------------------------------------------------------------------- features


def compute_features(
    points: ArrayLike,
    *,
    fps: float,
    keypoints: Sequence[str],
    individuals: Sequence[str] | None = None,
    layout: BodyLayout | None = None,
    window_s: float = 0.5,
    max_gap_s: float = 0.25,
) -> Features:
    """Compute unit-free, egocentric pose features of every animal in every frame.

    Lengths are divided by the animal's body length ``L``: the median over frames of its
    head–tail-base distance. Heading is the direction tail base -> head in the x–y plane
    (image plane in 2D, floor in 3D with z up). Features (``Features.names``):

    - ``speed``: body-centre speed, L/s; ``forward_speed`` / ``lateral_speed``: its parts
      along the heading and 90° counter-clockwise from it (x–y plane), L/s;
    - ``acceleration``: magnitude of the body-centre acceleration, L/s²;
    - ``heading_rate``: heading change rate, rad/s, counter-clockwise positive (x–y);
    - ``elongation``: head–tail-base distance in the x–y plane / L (1 for a flat animal
      of median length; lower when rearing or curled);
    - ``height`` (D = 3 only): mean z of the back keypoints / L;
    - ``paw_head`` (layouts with paws): distance of the nearest tracked paw to the head / L;
    - ``tail_bend`` (tail chain of >= 3 keypoints): sum of the absolute turning angles
      along the chain, rad;
    - with >= 2 animals, to the nearest other animal (by body-centre distance):
      ``nose_nose`` and ``nose_tailbase`` (own head to the partner's head / tail base) / L,
      ``relative_heading`` = |partner heading − own heading| in [0, pi] rad,
      ``partner_bearing`` = |angle between own heading and the direction own head ->
      partner's body centre| in [0, pi] rad, ``approach_speed`` = −d/dt of the
      body-centre distance / L (L/s, > 0 when closing in). All ordered pairs are in
      ``Features.pairs``;
    - with ``window_s > 0``, for every feature above ``<name>_mean`` and ``<name>_std``:
      centred rolling mean and standard deviation over ``window_s`` (odd frame count,
      windows cut at the ends, NaN ignored).

    Gaps: each coordinate's interior NaN runs of at most ``max_gap_s`` are filled linearly;
    longer gaps stay NaN. Frames where the head, centre or tail base is still missing are
    set to NaN for that animal; where only the points of ``POSTURE_FEATURES`` are (every
    paw, a tail point), those columns take the animal's session median
    (``report["posture_imputed_frames"]``). ``Features.valid`` is False wherever any
    feature is NaN.

    Args:
        points: ``(frames, individuals, keypoints, D)`` float64, D = 2 (pixels) or 3 (any
            length unit, z up), NaN = missing; e.g. ``PoseData.points``.
        fps: frame rate, Hz (> 0).
        keypoints: keypoint names, length ``keypoints``.
        individuals: individual names, length ``individuals``; None = ``individual_<i>``.
        layout: which keypoint is what; None = ``infer_layout(keypoints)``.
        window_s: length of the rolling-statistics window, s (0 = no rolling statistics).
        max_gap_s: longest gap filled by linear interpolation, s (0 = none).

    Returns:
        The features, validity mask, pair features and a report of filled / masked frames.

    Raises:
        InputError: if shapes, names, durations or the layout are inconsistent.
    """
    pts, inds = _validate(points, fps, keypoints, individuals, window_s, max_gap_s)
    lay = infer_layout(keypoints) if layout is None else layout
    missing = lay.missing(keypoints)
    if missing:
        raise InputError(
            f"body layout {lay.name!r} names keypoints {list(missing)} that the data lacks "
            f"(keypoints: {list(keypoints)}).",
            fix="pass a layout naming your keypoints, or layout=None to infer one.",
        )
    ix = _indexer(keypoints)
    frames, animals, _, dim = pts.shape
    max_gap = round(max_gap_s * fps)
    window = round(window_s * fps) // 2 * 2 + 1 if window_s > 0 else 0

    # 1. gaps
    missing_in = ~np.isfinite(pts)
    flat, filled = fill_gaps(pts.reshape(frames, -1), max_gap)
    pts = flat.reshape(pts.shape)
    filled = filled.reshape(pts.shape)

    # 2. body points, heading, body length
    head, base, centre = _body(pts, lay, ix, fps)
    core_ok = np.asarray(
        np.isfinite(head).all(-1) & np.isfinite(base).all(-1) & np.isfinite(centre).all(-1)
    )
    heading, body_length = _heading_length(head, base)
    scale = np.where(body_length > 0, 1.0 / body_length, np.nan)  # (A,)

    # 3. individual features; 4. social features of every ordered pair, then of the nearest
    cols = _individual_features(pts, lay, ix, (head, base, centre), heading, scale, fps)
    pairs, nearest = compute_pair_features(head, base, centre, heading, scale, fps)
    if animals >= 2:
        for k, name in enumerate(PAIR_FEATURES):
            cols[name] = nearest[..., k]

    values, names = _with_rolling(cols, core_ok, window)
    imputed = _impute_posture(values, names, core_ok)
    valid = np.asarray(np.isfinite(values).all(axis=-1), dtype=np.bool_)

    report = {
        "missing_frames": _per_individual(missing_in.any(axis=(2, 3)), inds),
        "interpolated_frames": _per_individual(filled.any(axis=(2, 3)), inds),
        "masked_frames": _per_individual(~valid, inds),
        "posture_imputed_frames": _per_individual(imputed, inds),
        "settings": {"max_gap_frames": int(max_gap), "window_frames": int(window)},
    }
    return Features(
        values=values,
        names=names,
        valid=valid,
        report=report,
        individuals=inds,
        body_length=np.asarray(body_length, dtype=np.float64).reshape(animals),
        pairs=pairs,
        pair_names=PAIR_FEATURES,
        fps=float(fps),
        layout=lay,
        roles=describe_roles(lay, keypoints, dim),
    )


def _body(
    pts: NDArray[np.float64],
    lay: BodyLayout,
    ix: Callable[[Sequence[str]], list[int]],
    fps: float,
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    """Head, tail base and body centre, each ``(frames, individuals, D)`` (``body_points``)."""
    return body_points(
        pts,
        head=ix(lay.head),
        tail_base=ix([lay.tail_base])[0] if lay.tail_base else None,
        centre=ix(lay.centre),
        # with head and tail base named, a centre not named is their midpoint (a
        # head-heavy centroid of nose, ears and implant would move with the head)
        body=ix(lay.body) if not (lay.head and lay.tail_base) else [],
        tail=ix(lay.tail),
        fps=fps,
    )


def _heading_length(
    head: NDArray[np.float64], base: NDArray[np.float64]
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Heading ``(frames, individuals)``, rad (x–y plane); median body length ``(individuals,)``."""
    axis = head - base
    with np.errstate(all="ignore"):
        length = np.linalg.norm(axis, axis=-1)
        body_length = np.nanmedian(np.where(length > 0, length, np.nan), axis=0)
    heading = np.arctan2(axis[..., 1], axis[..., 0])
    return heading, np.asarray(body_length, dtype=np.float64).reshape(head.shape[1])


def feature_base(name: str) -> str:
    """A feature column's base feature: ``speed_mean`` and ``speed_std`` -> ``speed``."""
    return name.removesuffix("_mean").removesuffix("_std")


def _per_individual(mask: ArrayLike, individuals: tuple[str, ...]) -> dict[str, int]:
    """Counts of True per individual: ``(frames, individuals)`` -> name -> count."""
    counts = np.asarray(mask, dtype=np.bool_).sum(axis=0)
    return {name: int(c) for name, c in zip(individuals, counts, strict=True)}


def _indexer(keypoints: Sequence[str]) -> Callable[[Sequence[str]], list[int]]:
    """Names -> their indices on the keypoints axis (names matched by ``normalise_name``)."""
    pos = {normalise_name(k): i for i, k in enumerate(keypoints)}

    def ix(names: Sequence[str]) -> list[int]:
        return [pos[normalise_name(n)] for n in names]

    return ix


def _individual_features(
    pts: NDArray[np.float64],
    lay: BodyLayout,
    ix: Callable[[Sequence[str]], list[int]],
    body: tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]],
    heading: NDArray[np.float64],
    scale: NDArray[np.float64],
    fps: float,
) -> dict[str, NDArray[np.float64]]:
    """One animal's kinematics and posture, per frame (see ``compute_features``).

    Args:
        pts: ``(frames, individuals, keypoints, D)`` float64, gaps filled; NaN = missing.
        lay: the body layout; ``ix`` maps its names to keypoint indices.
        ix: names -> indices on the keypoints axis.
        body: head, tail base and body centre, each ``(frames, individuals, D)``.
        heading: ``(frames, individuals)`` float64, rad, tail base -> head (x–y plane).
        scale: ``(individuals,)`` float64, 1 / body length.
        fps: frame rate, Hz.

    Returns:
        Feature name -> ``(frames, individuals)`` float64 in body lengths, s and rad.
    """
    head, base, centre = body
    axis = head - base
    fwd = np.stack([np.cos(heading), np.sin(heading)], axis=-1)
    cols: dict[str, NDArray[np.float64]] = {}
    vel = time_derivative(centre, fps)
    cols["speed"] = np.linalg.norm(vel, axis=-1) * scale
    cols["forward_speed"] = (vel[..., 0] * fwd[..., 0] + vel[..., 1] * fwd[..., 1]) * scale
    cols["lateral_speed"] = (vel[..., 1] * fwd[..., 0] - vel[..., 0] * fwd[..., 1]) * scale
    cols["acceleration"] = np.linalg.norm(time_derivative(vel, fps), axis=-1) * scale
    cols["heading_rate"] = time_derivative(heading, fps, angle=True)
    cols["elongation"] = np.linalg.norm(axis[..., :2], axis=-1) * scale
    if pts.shape[3] == 3:
        ends = tuple(n for n in (*lay.head, lay.tail_base) if n)
        back = ix(lay.back or lay.centre or ends or lay.body)
        cols["height"] = pts[:, :, back, 2].mean(axis=2) * scale
    if lay.paws:
        paws = pts[:, :, ix(lay.paws)]
        paw_head = np.linalg.norm(paws - head[:, :, None], axis=-1)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # every paw hidden: NaN
            cols["paw_head"] = np.nanmin(paw_head, axis=2) * scale
    if len(lay.tail) >= 3:
        seg = np.diff(pts[:, :, ix(lay.tail)], axis=2)  # (F, A, T-1, D)
        a, b = seg[:, :, :-1], seg[:, :, 1:]
        cos = (a * b).sum(-1) / (np.linalg.norm(a, axis=-1) * np.linalg.norm(b, axis=-1))
        with np.errstate(invalid="ignore"):
            cols["tail_bend"] = np.arccos(np.clip(cos, -1.0, 1.0)).sum(axis=2)
    return cols


def _with_rolling(
    cols: dict[str, NDArray[np.float64]], core_ok: NDArray[np.bool_], window: int
) -> tuple[NDArray[np.float64], tuple[str, ...]]:
    """The features stacked, with their rolling mean and std over ``window`` frames.

    Args:
        cols: feature name -> ``(frames, individuals)`` float64.
        core_ok: ``(frames, individuals)`` bool, head, tail base and centre seen.
        window: frames per rolling window (odd); <= 1 adds no rolling statistics.

    Returns:
        ``(values, names)``: ``(frames, individuals, features)`` float64, NaN where
        ``core_ok`` is False, and the feature names.
    """
    base_names = tuple(cols)
    values = np.stack([cols[n] for n in base_names], axis=-1)
    values[~core_ok] = np.nan  # before the rolling statistics, so a gap does not leak in
    names = base_names
    if window > 1:
        frames = values.shape[0]
        mean, std = rolling_mean_std(values.reshape(frames, -1), window)
        values = np.concatenate(
            [values, mean.reshape(values.shape), std.reshape(values.shape)], axis=-1
        )
        names = (*base_names, *(f"{n}_mean" for n in base_names))
        names = (*names, *(f"{n}_std" for n in base_names))
    values[~core_ok] = np.nan  # windows reaching over a gap would fill it otherwise
    return values, names


POSTURE_FEATURES = ("paw_head", "tail_bend")
"""Posture features read from keypoints other than head, tail base and centre. Where the
body is tracked but these points are hidden (a paw under the body, a tail under another
animal: 10-30 % of the animal-frames of an overhead camera on three mice), each column
takes the animal's session median (no evidence of a change of posture), so a hidden paw
does not drop the frame from clustering and captions."""


def _impute_posture(
    values: NDArray[np.float64], names: tuple[str, ...], core_ok: NDArray[np.bool_]
) -> NDArray[np.bool_]:
    """Fill ``POSTURE_FEATURES`` columns (and their rolling statistics) in place.

    Args:
        values: ``(frames, individuals, features)`` float64 from ``_with_rolling``.
        names: the feature names, length ``features``.
        core_ok: ``(frames, individuals)`` bool, head, tail base and centre seen.

    Returns:
        ``(frames, individuals)`` bool, True where a column was filled.
    """
    imputed = np.zeros(core_ok.shape, dtype=np.bool_)
    for i, name in enumerate(names):
        if feature_base(name) not in POSTURE_FEATURES:
            continue
        col = values[..., i]
        gap = core_ok & ~np.isfinite(col)
        if not gap.any():
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # never seen: stays NaN
            median = np.broadcast_to(np.nanmedian(col, axis=0), col.shape)
        fill = gap & np.isfinite(median)
        col[fill] = median[fill]
        imputed |= fill
    return imputed


# --------------------------------------------------------------------- for clustering

SIGNED_FEATURES = ("lateral_speed", "heading_rate")
"""Features whose sign is only the side (left / right turn or sidestep): a clustering of
behaviour sees their magnitude, so a left and a right turn are one behaviour."""


def compute_pose_components(
    points: ArrayLike,
    *,
    fps: float,
    keypoints: Sequence[str],
    layout: BodyLayout | None = None,
    n_components: int = 6,
    max_gap_s: float = 0.25,
) -> NDArray[np.float64]:
    """Whitened principal components of the egocentric pose of every animal in every frame.

    Each keypoint of the layout is taken relative to the body centre, rotated about the
    vertical so that the heading (tail base -> head, x–y plane) points along +x, and
    divided by the animal's median body length, so position, heading and size drop out and
    posture remains (rearing and curling shorten the pose in a 2D top view; grooming
    brings the paws and head together). Keypoints still missing after gap filling take
    the session's mean egocentric position (no evidence of a change of posture). The
    aligned poses of all animals are pooled, centred, and projected on their leading
    ``n_components`` principal axes, each divided by its standard deviation over the
    session (unit variance).

    Args:
        points: ``(frames, individuals, keypoints, D)`` float64, D = 2 (pixels) or 3 (z
            up), NaN = missing.
        fps: frame rate, Hz (> 0).
        keypoints: keypoint names, length ``keypoints``.
        layout: which keypoint is what; None = ``infer_layout(keypoints)``.
        n_components: components kept (at most the pose's dimensions and frames - 1).
        max_gap_s: longest gap filled by linear interpolation, s.

    Returns:
        ``(frames, individuals, n)`` float64, unit-free (standard deviations), ``n`` =
        ``n_components`` or fewer; NaN in frames without head, tail base or centre.

    Raises:
        InputError: if the shapes, names or ``n_components`` are inconsistent.
    """
    pts, _ = _validate(points, fps, keypoints, None, 0.0, max_gap_s)
    if n_components < 1:
        raise InputError(
            f"n_components must be >= 1; found {n_components}.",
            fix="pass the number of pose components to keep (e.g. 6).",
        )
    lay = infer_layout(keypoints) if layout is None else layout
    ix = _indexer(keypoints)
    frames, animals = pts.shape[:2]
    pts = fill_gaps(pts.reshape(frames, -1), round(max_gap_s * fps))[0].reshape(pts.shape)
    head, base, centre = _body(pts, lay, ix, fps)
    heading, body_length = _heading_length(head, base)
    own = pts[:, :, ix(lay.names()) if lay.names() else slice(None)] - centre[:, :, None]
    cos, sin = np.cos(heading)[..., None], np.sin(heading)[..., None]
    ego = own.copy()
    ego[..., 0] = own[..., 0] * cos + own[..., 1] * sin
    ego[..., 1] = own[..., 1] * cos - own[..., 0] * sin
    with np.errstate(all="ignore"):
        ego /= np.where(body_length > 0, body_length, np.nan)[None, :, None, None]
    flat = ego.reshape(frames, animals, -1)
    core = np.isfinite(head).all(-1) & np.isfinite(base).all(-1) & np.isfinite(centre).all(-1)
    core &= np.isfinite(heading)
    out = np.full((frames, animals, n_components), np.nan)
    if not core.any():
        return out
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a keypoint never seen: all NaN
        mean = np.nanmean(flat[core], axis=0)
    mean = np.where(np.isfinite(mean), mean, 0.0)
    rows = np.where(np.isfinite(flat[core]), flat[core], mean) - mean
    _, sv, vt = np.linalg.svd(rows, full_matrices=False)
    sd = sv / math.sqrt(max(1, rows.shape[0] - 1))
    keep = min(n_components, int(np.count_nonzero(sd > 1e-9 * max(1.0, float(sd[0])))))
    out = out[..., : max(1, keep)]
    out[core] = rows @ vt[: out.shape[-1]].T / np.maximum(sd[: out.shape[-1]], 1e-12)
    return out


def cluster_features(
    features: Features, components: NDArray[np.float64], *, context_window_s: float
) -> Features:
    """The features a behaviour clustering sees: kinematics, pose and a longer context.

    Columns: every feature of ``features`` with those of ``SIGNED_FEATURES`` (and their
    rolling means) as magnitudes (``<name>_abs``); the pose components ``pose_pc<i>`` with
    their rolling mean and std over the same window as ``features``; and over
    ``context_window_s`` the rolling mean and std of the per-frame kinematics and pose
    components (``<name>_ctx_mean`` / ``<name>_ctx_std``), so a sustained turn or a bout
    of grooming is told from a moment of either.

    Args:
        features: from ``compute_features``; ``values`` ``(frames, individuals, F)``.
        components: ``(frames, individuals, n)`` float64 from ``compute_pose_components``.
        context_window_s: the longer window, s (0 = no context columns).

    Returns:
        The same ``Features`` with the columns above as ``values`` / ``names`` and
        ``valid`` recomputed (True where every column is finite).

    Raises:
        InputError: if ``components`` does not match the features' frames and animals.
    """
    frames, animals, _ = features.values.shape
    comp = np.asarray(components, dtype=np.float64)
    if comp.ndim != 3 or comp.shape[:2] != (frames, animals):
        raise InputError(
            f"pose components must have shape (frames={frames}, individuals={animals}, n); "
            f"found {comp.shape}.",
            fix="compute them with compute_pose_components on the same points.",
        )
    if not (math.isfinite(context_window_s) and context_window_s >= 0):
        raise InputError(
            f"context_window_s must be a finite duration >= 0 s; found {context_window_s}.",
            fix="pass seconds (0 = no context columns).",
        )
    signed = {*SIGNED_FEATURES, *(f"{n}_mean" for n in SIGNED_FEATURES)}
    values = np.where(
        np.isin(np.array(features.names), list(signed)), np.abs(features.values), features.values
    )
    names = [f"{n}_abs" if n in signed else n for n in features.names]
    pc_names = tuple(f"pose_pc{i + 1}" for i in range(comp.shape[2]))
    window = features.report["settings"]["window_frames"]
    seen = np.asarray(np.isfinite(comp).all(axis=-1), dtype=np.bool_)
    pose, _ = _with_rolling(dict(zip(pc_names, np.moveaxis(comp, 2, 0), strict=True)), seen, window)
    blocks = [values, pose]
    names += [
        *pc_names,
        *([] if window <= 1 else [f"{n}_{s}" for s in ("mean", "std") for n in pc_names]),
    ]
    ctx = round(context_window_s * features.fps) // 2 * 2 + 1 if context_window_s > 0 else 0
    if ctx > window:
        base = [n for n in features.names if not n.endswith(("_mean", "_std"))]
        cols = [features.names.index(n) for n in base]
        per_frame = np.concatenate([values[..., cols], comp], axis=-1)
        mean, std = rolling_mean_std(per_frame.reshape(frames, -1), ctx)
        blocks += [mean.reshape(per_frame.shape), std.reshape(per_frame.shape)]
        ctx_names = [*(names[c] for c in cols), *pc_names]
        names += [f"{n}_ctx_mean" for n in ctx_names] + [f"{n}_ctx_std" for n in ctx_names]
    out = np.concatenate(blocks, axis=-1)
    valid = np.asarray(np.isfinite(out).all(axis=-1) & features.valid, dtype=np.bool_)
    out[~valid] = np.nan
    return replace(features, values=out, names=tuple(names), valid=valid)
