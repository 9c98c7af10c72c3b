"""Per-frame, per-animal pose features for behaviour segmentation (model-free).

``compute_features`` turns keypoints ``(frames, individuals, keypoints, D)`` (D = 2 pixels
or 3 in a world unit, z up; NaN = missing) into unit-free features ``(frames, individuals,
features)``: lengths are divided by the animal's median body length (head to tail base),
times are in seconds, angles in radians. Which keypoint plays which part (head, body
centre, tail base, paws, tail chain) is a ``BodyLayout``, the features' view of a
skeleton's body roles (``BodyLayout.from_skeleton``); ready layouts cover the named
skeletons ``mouse12`` (the simulator's 12 marks) and ``calms21`` (also as ethome names
them), BehaviorDEPOT's DLC model (8 keypoints) and any set with a nose and a tail base;
``infer_layout`` picks one by name, or where none fits derives one from the names
(``BodyLayout.from_keypoints``: roles read by ``model.skeleton.match_roles``, arena points
left out, the head, tail base and centre the names do not give derived from the tracked
points, ``tools.body``). ``Features.roles`` records which roles were matched, derived or
absent and which features that disables.

Everything is vectorised over frames, animals and keypoints:

1. gaps of up to ``max_gap_s`` are filled linearly per coordinate, longer gaps stay NaN;
2. per animal: body-centre speed (and its forward / lateral parts in the body frame),
   acceleration, heading change rate, elongation, height (3D only), nearest paw to head,
   tail bend;
3. per ordered pair of animals (``Features.pairs``): nose-nose and nose-tail-base
   distance, relative heading, bearing of the partner, approach speed; each animal gets
   the values of its nearest partner (by body-centre distance) in ``Features.values``;
4. centred rolling mean and standard deviation of every feature over ``window_s``.

Derivatives are central differences scaled by fps (one-sided next to a gap or the ends).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ethoagent.errors import InputError
from ethoagent.model.skeleton import (
    CALMS21,
    MOUSE12,
    Skeleton,
    find_arena_points,
    match_roles,
    normalise_name,
)
from ethoagent.tools.body import BodyRoles, body_points

__all__ = [
    "BEHAVIORDEPOT_LAYOUT",
    "CALMS21_LAYOUT",
    "ETHOME_LAYOUT",
    "IMPLAUSIBLE_SPREAD",
    "LAYOUTS",
    "NOSE_TAILBASE_LAYOUT",
    "PAIR_FEATURES",
    "SYNTHETIC_LAYOUT",
    "BodyLayout",
    "Features",
    "compute_features",
    "describe_roles",
    "infer_layout",
    "layout_named",
    "mask_implausible_points",
    "roles_layout_name",
]


@dataclass(frozen=True)
class BodyLayout:
    """Which keypoints play which part of the body.

    Names match keypoint names case-insensitively, ignoring spaces, ``_`` and ``-``
    (``"left_ear"`` matches ``"Left Ear"`` and ``"leftear"``). A layout names a head and a
    tail base, or lists two or more ``body`` keypoints from which ``compute_features``
    derives the missing ones (``BodyLayout.from_keypoints``).

    Attributes:
        name: a short name of the layout (e.g. ``"calms21"``; ``"derived"`` for one read
            from the data's keypoint names).
        head: keypoints whose mean is the head point (the nose, or both ears where there
            is no nose); the "nose" of social features; empty = derived.
        tail_base: the tail-base keypoint; empty = derived.
        centre: keypoints whose mean is the body centre (speed, acceleration); empty = the
            centroid of the tracked ``body`` keypoints, or without them the midpoint of
            head and tail base.
        back: keypoints whose mean height (z) is the height proxy (3D only); empty = the
            centre keypoints.
        paws: paw keypoints (paw-to-head distance); empty = no such feature.
        tail: a chain of keypoints from the body towards the tail tip (tail bend); fewer
            than 3 = no such feature.
        body: the animal's keypoints (arena and object points left out), from which the
            centre, head and tail base are derived where not named; empty for ready layouts.
    """

    name: str
    head: tuple[str, ...] = ()
    tail_base: str = ""
    centre: tuple[str, ...] = ()
    back: tuple[str, ...] = ()
    paws: tuple[str, ...] = ()
    tail: tuple[str, ...] = ()
    body: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not (self.head and self.tail_base) and len(self.body) < 2:
            raise InputError(
                f"BodyLayout {self.name!r} needs a head keypoint and a tail base, or two or "
                f"more body keypoints to derive them from; found head={self.head!r}, "
                f"tail_base={self.tail_base!r}, body={self.body!r}.",
                fix="name the nose (or both ears) as head and the tail-base keypoint, or use "
                "BodyLayout.from_keypoints(names).",
            )

    @classmethod
    def from_skeleton(cls, skeleton: Skeleton, name: str | None = None) -> BodyLayout:
        """The layout a skeleton's body roles give.

        Roles: ``head``, ``tail_base``, ``centre``, ``back``, ``paws``, ``tail``; roles the
        skeleton does not name stay empty.

        Args:
            skeleton: a skeleton naming at least ``head`` and ``tail_base``.
            name: the layout's name; default the skeleton's.

        Raises:
            InputError: the skeleton names no head or no tail base.
        """
        roles = skeleton.roles
        return cls(
            name=name or skeleton.name,
            head=roles.get("head", ()),
            tail_base=roles.get("tail_base", ("",))[0],
            centre=roles.get("centre", ()),
            back=roles.get("back", ()),
            paws=roles.get("paws", ()),
            tail=roles.get("tail", ()),
        )

    @classmethod
    def from_roles(
        cls, roles: dict[str, tuple[str, ...]], keypoints: Sequence[str], name: str = "derived"
    ) -> BodyLayout:
        """A layout from body roles (``model.skeleton.ROLES``) and the data's keypoints.

        Every keypoint that is not an arena or object point (``find_arena_points``) is a
        body keypoint, so roles the names do not give are derived from the tracked points.

        Args:
            roles: role -> keypoint names, e.g. ``match_roles(keypoints)``.
            keypoints: the data's keypoint names, e.g. ``PoseData.keypoints``.
            name: the layout's name.

        Raises:
            InputError: no head and tail base, and fewer than two body keypoints.
        """
        arena = set(find_arena_points(keypoints))
        return cls(
            name=name,
            head=roles.get("head", ()),
            tail_base=roles.get("tail_base", ("",))[0],
            centre=roles.get("centre", ()),
            back=roles.get("back", ()),
            paws=roles.get("paws", ()),
            tail=roles.get("tail", ()),
            body=tuple(k for k in keypoints if k not in arena),
        )

    @classmethod
    def from_keypoints(cls, keypoints: Sequence[str], name: str = "derived") -> BodyLayout:
        """The layout the keypoint names give (``match_roles``), the rest derived.

        Args:
            keypoints: the data's keypoint names, e.g. ``PoseData.keypoints``.
            name: the layout's name.

        Raises:
            InputError: fewer than two body keypoints (one point has no body length).
        """
        names = [str(k) for k in keypoints]
        return cls.from_roles(match_roles(names), names, name=name)

    def names(self) -> tuple[str, ...]:
        """Every keypoint name the layout uses, without repeats, in first-use order."""
        seq = (*self.head, self.tail_base, *self.centre, *self.back, *self.paws, *self.tail)
        return tuple(dict.fromkeys(n for n in (*seq, *self.body) if n))

    def missing(self, keypoints: Sequence[str]) -> tuple[str, ...]:
        """Names of the layout that are not among ``keypoints``."""
        have = {normalise_name(k) for k in keypoints}
        return tuple(n for n in self.names() if normalise_name(n) not in have)


def describe_roles(layout: BodyLayout, keypoints: Sequence[str], dims: int = 2) -> BodyRoles:
    """The roles record of ``layout`` on data with ``keypoints`` (see ``BodyRoles``).

    Args:
        layout: the body layout ``compute_features`` uses.
        keypoints: the data's keypoint names.
        dims: 2 (image) or 3 (world) coordinates.
    """
    matched = {
        role: members
        for role, members in (
            ("head", layout.head),
            ("tail_base", (layout.tail_base,) if layout.tail_base else ()),
            ("centre", layout.centre),
            ("back", layout.back),
            ("paws", layout.paws),
            ("tail", layout.tail),
        )
        if members
    }
    derived: dict[str, str] = {}
    if not layout.head and not layout.tail_base:
        ends = "the ends of the body points' principal axis, front = the direction of motion"
        derived["head"] = f"front end: {ends}"
        derived["tail_base"] = f"rear end: {ends}"
    elif not layout.head:
        derived["head"] = "front end: the centroid of the body points before the tail base"
    elif not layout.tail_base:
        derived["tail_base"] = "rear end: the centroid of the body points behind the head"
    if not layout.centre:
        derived["centre"] = (
            f"centroid of the tracked body points ({', '.join(layout.body)})"
            if layout.body
            else "midpoint of head and tail base"
        )
    if dims == 3 and not layout.back:
        derived["back"] = "the centre keypoints' height"
    disabled = [
        f for f, ok in (("paw_head", layout.paws), ("tail_bend", len(layout.tail) >= 3)) if not ok
    ]
    absent = [r for r in ("paws", "tail") if not getattr(layout, r)]
    if dims == 3 and "back" not in matched and "back" not in derived:
        absent.append("back")
    arena = find_arena_points(keypoints)
    roles = (*layout.head, layout.tail_base, *layout.centre, *layout.back, *layout.paws)
    used = {normalise_name(n) for n in (*roles, *layout.tail, *arena)}
    return BodyRoles(
        layout=layout.name,
        matched=matched,
        derived=derived,
        absent=tuple(absent),
        disabled=tuple(disabled),
        arena=arena,
        unused=tuple(k for k in keypoints if normalise_name(k) not in used),
    )


SYNTHETIC_LAYOUT = BodyLayout.from_skeleton(MOUSE12, name="synthetic12")
"""The named skeleton ``mouse12``, the simulator's 12 marks (no nose: the ear midpoint is
the head); its name is the one ``--layout`` has always taken."""

CALMS21_LAYOUT = BodyLayout.from_skeleton(CALMS21)
"""CalMS21's 7 keypoints: nose, left/right ear, neck, left/right hip, tail base."""

ETHOME_LAYOUT = replace(CALMS21_LAYOUT, name="ethome", tail_base="tail")
"""ethome's DLC names of the CalMS21 keypoints (``leftear``, ..., ``tail`` = tail base)."""

BEHAVIORDEPOT_LAYOUT = BodyLayout(
    name="behaviordepot",
    head=("Nose",),
    tail_base="Tailbase",
    centre=("Mid-Back",),
    paws=("Left Leg", "Right Leg"),
    tail=("Mid-Back", "Tailbase", "Tail"),
)
"""BehaviorDEPOT's 8-point DLC model; the tail bend is the back–tail-base–tail angle."""

NOSE_TAILBASE_LAYOUT = BodyLayout(name="nose_tailbase", head=("nose",), tail_base="tailbase")
"""Any keypoint set with a nose and a tail base (the centre is their midpoint)."""

LAYOUTS: dict[str, BodyLayout] = {
    lay.name: lay
    for lay in (
        SYNTHETIC_LAYOUT,
        CALMS21_LAYOUT,
        ETHOME_LAYOUT,
        BEHAVIORDEPOT_LAYOUT,
        NOSE_TAILBASE_LAYOUT,
    )
}
"""Ready layouts by name."""

PAIR_FEATURES: tuple[str, ...] = (
    "nose_nose",
    "nose_tailbase",
    "relative_heading",
    "partner_bearing",
    "approach_speed",
)
"""Social features of an ordered pair (animal, partner); see ``compute_features``."""


def infer_layout(keypoint_names: Sequence[str]) -> BodyLayout:
    """The layout for a set of keypoint names: a ready one, else one derived from the names.

    Of the ready layouts (``LAYOUTS``) whose every name is present, the one that uses the
    most keypoints wins; where none fits, ``BodyLayout.from_keypoints`` reads the roles from
    the names and leaves the rest to be derived from the tracked points.

    Args:
        keypoint_names: the keypoint names of the data, e.g. ``PoseData.keypoints``.

    Returns:
        The best-fitting layout.

    Raises:
        InputError: if no ready layout fits and fewer than two keypoints are on the body.
    """
    names = [str(n) for n in keypoint_names]
    fits = [lay for lay in LAYOUTS.values() if not lay.missing(names)]
    if not fits:
        return BodyLayout.from_keypoints(names)
    return max(fits, key=lambda lay: len(lay.names()))


_ROLES_PREFIX = "roles:"


def roles_layout_name(roles: dict[str, tuple[str, ...]], body: Sequence[str] | None = None) -> str:
    """The name of a layout stated role by role (``--body``), from which it is rebuilt.

    Args:
        roles: layout role (``head``, ``tail_base``, ``centre``, ``back``, ``paws``,
            ``tail``) -> keypoint names.
        body: the animal's keypoints, or ``None`` for every non-arena keypoint.

    Returns:
        ``"roles:"`` and the roles as compact JSON; ``layout_named`` reads it back.
    """
    said: dict[str, object] = {"roles": {r: list(v) for r, v in roles.items()}}
    if body is not None:
        said["body"] = list(body)
    return _ROLES_PREFIX + json.dumps(said, separators=(",", ":"))


def layout_named(name: str, keypoints: Sequence[str]) -> BodyLayout:
    """The layout a run recorded by name: a ready one, or ``"derived"`` read again.

    Args:
        name: a name of ``LAYOUTS``, ``"derived"`` (``BodyLayout.from_keypoints``), or a
            ``roles_layout_name`` (a layout stated role by role).
        keypoints: the data's keypoint names.

    Raises:
        InputError: an unknown name, or (derived) fewer than two body keypoints.
    """
    if name in LAYOUTS:
        return LAYOUTS[name]
    if name == "derived":
        return BodyLayout.from_keypoints(keypoints)
    if name.startswith(_ROLES_PREFIX):
        said = json.loads(name.removeprefix(_ROLES_PREFIX))
        roles = {str(r): tuple(v) for r, v in said["roles"].items()}
        body = said.get("body") or list(keypoints)
        return BodyLayout.from_roles(roles, body, name=name)
    raise InputError(
        f"no body layout named {name!r}; the ready layouts are {sorted(LAYOUTS)}, or 'derived'.",
        fix="pick one of those names, or leave the layout out to infer one.",
    )


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
            gap was filled), ``"masked_frames"`` (frames not ``valid``); and
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


# --------------------------------------------------------------------------- helpers


def _fill_gaps(
    x: NDArray[np.float64], max_gap: int
) -> tuple[NDArray[np.float64], NDArray[np.bool_]]:
    """Fill interior NaN runs of at most ``max_gap`` frames linearly along axis 0.

    Args:
        x: ``(frames, M)`` float64.
        max_gap: longest run (frames) to fill.

    Returns:
        The filled copy and ``(frames, M)`` bool, True where a value was filled.
    """
    frames = x.shape[0]
    ok = np.isfinite(x)
    t = np.arange(frames)[:, None]
    prev = np.maximum.accumulate(np.where(ok, t, -1), axis=0)
    nxt = np.minimum.accumulate(np.where(ok, t, frames)[::-1], axis=0)[::-1]
    fill = ~ok & (prev >= 0) & (nxt < frames) & (nxt - prev - 1 <= max_gap)
    out = x.copy()
    if fill.any():
        r, c = np.nonzero(fill)
        p, n = prev[r, c], nxt[r, c]
        w = (r - p) / (n - p)
        out[r, c] = x[p, c] + w * (x[n, c] - x[p, c])
    return out, fill


def _diff(x: NDArray[np.float64], fps: float, *, angle: bool = False) -> NDArray[np.float64]:
    """Central difference along axis 0 times ``fps``; one-sided where a neighbour is NaN.

    With ``angle=True`` each step is wrapped to ``(-pi, pi]`` first (rad per s).
    """
    step = np.diff(x, axis=0)
    if angle:
        step = np.angle(np.exp(1j * step))
    pad = np.full((1, *x.shape[1:]), np.nan)
    fwd = np.concatenate([step, pad], axis=0)
    bwd = np.concatenate([pad, step], axis=0)
    out = np.where(np.isnan(fwd), bwd, np.where(np.isnan(bwd), fwd, 0.5 * (fwd + bwd)))
    res: NDArray[np.float64] = out * fps
    return res


def _rolling(x: NDArray[np.float64], window: int) -> tuple[NDArray[np.float64], ...]:
    """Centred rolling mean and std along axis 0 over ``window`` (odd) frames, NaN-aware.

    Windows are cut at the ends; a window with no finite value gives NaN.
    """
    half = window // 2
    frames = x.shape[0]
    ok = np.isfinite(x)
    with np.errstate(all="ignore"):
        shift = np.where(ok.any(axis=0), np.nanmean(np.where(ok, x, np.nan), axis=0), 0.0)
    z = np.where(ok, x - shift, 0.0)
    pad = np.zeros((1, *x.shape[1:]))
    cs = np.concatenate([pad, np.cumsum(z, axis=0)])
    cs2 = np.concatenate([pad, np.cumsum(z * z, axis=0)])
    cn = np.concatenate([pad, np.cumsum(ok, axis=0, dtype=np.float64)])
    lo = np.clip(np.arange(frames) - half, 0, frames)
    hi = np.clip(np.arange(frames) + half + 1, 0, frames)
    n = cn[hi] - cn[lo]
    with np.errstate(all="ignore"):
        mean = (cs[hi] - cs[lo]) / n
        var = (cs2[hi] - cs2[lo]) / n - mean**2
    mean = np.where(n > 0, mean + shift, np.nan)
    std = np.where(n > 0, np.sqrt(np.clip(var, 0.0, None)), np.nan)
    return mean, std


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
    - ``paw_head`` (layouts with paws): distance of the nearest paw to the head / L;
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
    set to NaN for that animal; ``Features.valid`` is False wherever any feature is NaN.

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
    pos = {normalise_name(k): i for i, k in enumerate(keypoints)}

    def ix(names: Sequence[str]) -> list[int]:
        return [pos[normalise_name(n)] for n in names]

    frames, animals, _, dim = pts.shape
    max_gap = round(max_gap_s * fps)
    window = round(window_s * fps) // 2 * 2 + 1 if window_s > 0 else 0

    # 1. gaps
    missing_in = ~np.isfinite(pts)
    flat, filled = _fill_gaps(pts.reshape(frames, -1), max_gap)
    pts = flat.reshape(pts.shape)
    filled = filled.reshape(pts.shape)

    # 2. body points, heading, body length
    head, base, centre = body_points(
        pts,
        head=ix(lay.head),
        tail_base=ix([lay.tail_base])[0] if lay.tail_base else None,
        centre=ix(lay.centre),
        body=ix(lay.body),
        tail=ix(lay.tail),
        fps=fps,
    )
    core_ok = np.isfinite(head).all(-1) & np.isfinite(base).all(-1) & np.isfinite(centre).all(-1)
    axis = head - base
    with np.errstate(all="ignore"):
        length = np.linalg.norm(axis, axis=-1)
        body_length = np.nanmedian(np.where(length > 0, length, np.nan), axis=0)
    scale = np.where(body_length > 0, 1.0 / body_length, np.nan)  # (A,)
    heading = np.arctan2(axis[..., 1], axis[..., 0])
    fwd = np.stack([np.cos(heading), np.sin(heading)], axis=-1)

    # 3. individual features
    cols: dict[str, NDArray[np.float64]] = {}
    vel = _diff(centre, fps)
    cols["speed"] = np.linalg.norm(vel, axis=-1) * scale
    cols["forward_speed"] = (vel[..., 0] * fwd[..., 0] + vel[..., 1] * fwd[..., 1]) * scale
    cols["lateral_speed"] = (vel[..., 1] * fwd[..., 0] - vel[..., 0] * fwd[..., 1]) * scale
    cols["acceleration"] = np.linalg.norm(_diff(vel, fps), axis=-1) * scale
    cols["heading_rate"] = _diff(heading, fps, angle=True)
    cols["elongation"] = np.linalg.norm(axis[..., :2], axis=-1) * scale
    if dim == 3:
        ends = tuple(n for n in (*lay.head, lay.tail_base) if n)
        back = ix(lay.back or lay.centre or ends or lay.body)
        cols["height"] = pts[:, :, back, 2].mean(axis=2) * scale
    if lay.paws:
        paws = pts[:, :, ix(lay.paws)]
        cols["paw_head"] = np.linalg.norm(paws - head[:, :, None], axis=-1).min(axis=2) * scale
    if len(lay.tail) >= 3:
        seg = np.diff(pts[:, :, ix(lay.tail)], axis=2)  # (F, A, T-1, D)
        a, b = seg[:, :, :-1], seg[:, :, 1:]
        cos = (a * b).sum(-1) / (np.linalg.norm(a, axis=-1) * np.linalg.norm(b, axis=-1))
        with np.errstate(invalid="ignore"):
            cols["tail_bend"] = np.arccos(np.clip(cos, -1.0, 1.0)).sum(axis=2)

    # 4. social features of every ordered pair, then of the nearest partner
    pairs = np.full((frames, animals, animals, len(PAIR_FEATURES)), np.nan)
    if animals >= 2:
        s = scale[None, :, None]
        dist_c = np.linalg.norm(centre[:, :, None] - centre[:, None, :], axis=-1)  # (F,A,A)
        pairs[..., 0] = np.linalg.norm(head[:, :, None] - head[:, None, :], axis=-1) * s
        pairs[..., 1] = np.linalg.norm(head[:, :, None] - base[:, None, :], axis=-1) * s
        pairs[..., 2] = np.abs(np.angle(np.exp(1j * (heading[:, None, :] - heading[:, :, None]))))
        to_p = centre[:, None, :, :2] - head[:, :, None, :2]
        bearing = np.arctan2(to_p[..., 1], to_p[..., 0]) - heading[:, :, None]
        pairs[..., 3] = np.abs(np.angle(np.exp(1j * bearing)))
        pairs[..., 4] = -_diff(dist_c, fps) * s
        eye = np.eye(animals, dtype=bool)
        pairs[:, eye] = np.nan
        d = np.where(np.isfinite(dist_c) & ~eye, dist_c, np.inf)
        near = d.argmin(axis=2)  # (F, A)
        some = np.isfinite(d.min(axis=2))
        picked = np.take_along_axis(pairs, near[:, :, None, None], axis=2)[:, :, 0]
        picked[~some] = np.nan
        for k, name in enumerate(PAIR_FEATURES):
            cols[name] = picked[..., k]

    base_names = tuple(cols)
    values = np.stack([cols[n] for n in base_names], axis=-1)
    values[~core_ok] = np.nan  # before the rolling statistics, so a gap does not leak in
    names = base_names
    if window > 1:
        mean, std = _rolling(values.reshape(frames, -1), window)
        values = np.concatenate(
            [values, mean.reshape(values.shape), std.reshape(values.shape)], axis=-1
        )
        names = (*base_names, *(f"{n}_mean" for n in base_names))
        names = (*names, *(f"{n}_std" for n in base_names))
    values[~core_ok] = np.nan  # windows reaching over a gap would fill it otherwise
    valid = np.asarray(np.isfinite(values).all(axis=-1), dtype=np.bool_)

    report = {
        "missing_frames": _per_individual(missing_in.any(axis=(2, 3)), inds),
        "interpolated_frames": _per_individual(filled.any(axis=(2, 3)), inds),
        "masked_frames": _per_individual(~valid, inds),
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


def _per_individual(mask: ArrayLike, individuals: tuple[str, ...]) -> dict[str, int]:
    """Counts of True per individual: ``(frames, individuals)`` -> name -> count."""
    counts = np.asarray(mask, dtype=np.bool_).sum(axis=0)
    return {name: int(c) for name, c in zip(individuals, counts, strict=True)}
