"""Per-frame motion and shape features of blob tracks (``tools.video_features``).

``video_features`` turns each animal's blob track into the features the segment graph
clusters and the kinematic captioner reads: the blob centre's speed (body lengths/s, above
the animal's noise floor, ``speed_noise``), the axis' turning rate, elongation, aspect
ratio, area (over the session's and over the surrounding seconds' median) and the motion
energy inside the blob, each with its rolling mean and std; ``clustered_video_features``
leaves out the columns only the captioner reads. ``caption_from_blob_kinematics`` is the
kinematic captioner read for a blob (no keypoints).
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
from numpy.typing import NDArray
from scipy.ndimage import maximum_filter1d, median_filter

from ethoagent.errors import InputError
from ethoagent.tools.body import BodyRoles
from ethoagent.tools.captions import (
    MOVING_IN_PLACE,
    SLOW_SPEED,
    STILL_SPEED,
    KinematicCaption,
    SnippetKinematics,
    caption_from_kinematics,
)
from ethoagent.tools.features import BodyLayout, Features, feature_base
from ethoagent.tools.video_features import BlobTracks

__all__ = [
    "AREA_CONTEXT_S",
    "AXIS_NOISE",
    "BLOB_LAYOUT",
    "BLOB_ROLES",
    "BLOB_SPLIT_S",
    "CAPTION_ONLY",
    "JITTER_FACTOR",
    "QUIET_SHARE",
    "REAR_AREA",
    "RESTLESS_TURN",
    "VIDEO_FEATURES",
    "caption_from_blob_kinematics",
    "clustered_video_features",
    "speed_noise",
    "video_features",
]

VIDEO_FEATURES: tuple[str, ...] = (
    "speed",
    "heading_rate",
    "elongation",
    "aspect",
    "area",
    "area_local",
    "motion",
)
"""Per-frame blob features (each also as ``_mean`` and ``_std`` over the window)."""
CAPTION_ONLY: tuple[str, ...] = ("area_local",)
"""Blob features the captioner reads and the clusterings leave out
(``clustered_video_features``): DEC's and KMeans' input stays the measured one."""

BLOB_LAYOUT = BodyLayout(name="video blob", body=("blob front", "blob rear"))
"""The "layout" of blob features: no keypoints, the animal is its foreground blob."""
BLOB_ROLES = BodyRoles(
    layout=BLOB_LAYOUT.name,
    matched={},
    derived={"centre": "centre of the animal's foreground blob (background subtraction)"},
    absent=("head", "tail_base", "paws", "tail", "back"),
    disabled=("forward/lateral speed", "paw_head", "tail bend", "height", "social"),
    arena=(),
    unused=(),
)
"""What blob features stand in for: a body centre only (for a run's report)."""
SMOOTH_S = 0.2
"""Window of the centred moving average of blob centres before speeds are taken, s."""
QUIET_SHARE = 0.05
"""Share of an animal's frames, those with the least motion inside its blob (0.5 s mean),
whose median blob-centre speed is its speed noise floor (outline jitter), subtracted from
its speeds: a still animal's blob centre still jitters by a few pixels on real video."""
JITTER_FACTOR = 2.0
"""``speed_noise`` is at most this times the centre's jitter speed in the quiet frames."""
RESTLESS_TURN = 0.3
"""A blob at rest whose axis swings faster than this (mean absolute turning, rad/s) is
``grooming``, not ``still``: the kinematic captioner's bound for a confirmed still
posture (``tools.captions``: heading change below 0.3 rad/s)."""
AXIS_NOISE = 4.0
"""The axis' turning noise of a resting blob, rad/s, per BL/s of its speed noise floor
(``speed_noise``): outline noise that moves one end of the blob by d body lengths moves
its centre by about d / 2 and turns its long axis by about 2 d rad. A resting blob is
``grooming`` only with its axis swinging faster than this times the floor too, so that a
real video's noisier outline (floor 0.39 BL/s on the open-field video, 0.02–0.07 on the
rendered sessions) does not turn every rest into grooming."""
AREA_CONTEXT_S = 8.0
"""``area_local``: blob area over its median in the centred window of this many seconds.
A rear lasts about a second and shrinks the top-viewed blob against the seconds around
it; a curled or crouched rest keeps its smaller blob for longer, which a session-wide
median cannot tell from a rear (docs/segment.md)."""
REAR_AREA = 0.85
"""A blob below 0.8 BL/s is ``rearing`` only with its area below this share of its
surrounding seconds' (``area_local``), and a resting or drifting blob that small is."""

BLOB_SPLIT_S = 0.1
"""With video alone, snippets are split where the blob captioner's per-window label
(``tools.captions.classify_frames``, 0.5 s windows every 0.1 s) changes for at least this
long, s (``split_snippet_s`` when that is shorter): one step of those windows, so the
snippets follow the per-window captions, which carry a blob's ethogram (with keypoints
the split needs 0.5 s). On the rendered 1-minute sessions of seeds 3–13 the per-window
captions scored 0.638 macro-F1 and the graph with 0.5 s splits 0.583 (docs/segment.md)."""


def _rolling(x: NDArray[np.float64], window: int) -> tuple[NDArray[np.float64], ...]:
    """Centred rolling mean and std along axis 0 over ``window`` frames, NaN-aware."""
    ok = np.isfinite(x)
    z = np.where(ok, x, 0.0)
    pad = np.zeros((1, *x.shape[1:]))
    cs = np.concatenate([pad, np.cumsum(z, axis=0)])
    cs2 = np.concatenate([pad, np.cumsum(z * z, axis=0)])
    cn = np.concatenate([pad, np.cumsum(ok, axis=0, dtype=np.float64)])
    frames, half = x.shape[0], window // 2
    lo = np.clip(np.arange(frames) - half, 0, frames)
    hi = np.clip(np.arange(frames) + half + 1, 0, frames)
    cnt = cn[hi] - cn[lo]
    with np.errstate(all="ignore"):
        mean = (cs[hi] - cs[lo]) / cnt
        var = (cs2[hi] - cs2[lo]) / cnt - mean**2
    mean = np.where(cnt > 0, mean, np.nan)
    std = np.where(cnt > 0, np.sqrt(np.clip(var, 0.0, None)), np.nan)
    return mean, std


def speed_noise(
    speed: NDArray[np.float64],
    motion: NDArray[np.float64],
    jitter: NDArray[np.float64],
    fps: float,
) -> NDArray[np.float64]:
    """Each animal's blob-speed noise floor: its median speed in its quietest frames.

    The floor is at most ``JITTER_FACTOR`` times the median jitter speed in those frames
    (frame-to-frame motion of the raw centre about its smoothed path): outline jitter
    shows there, while an animal that moves smoothly and never stops has no jitter, so
    its slowest frames are kept as motion.

    Args:
        speed: ``(frames, animals)`` blob-centre speed, body lengths/s.
        motion: ``(frames, animals)`` share of the blob's pixels changed per frame.
        jitter: ``(frames, animals)`` jitter speed of the raw centre, body lengths/s.
        fps: frame rate, Hz (the motion is averaged over 0.5 s to find the quiet frames).

    Returns:
        ``(animals,)`` body lengths/s: the median speed over the ``QUIET_SHARE`` of frames
        with the least mean motion inside the blob, capped by their jitter; 0 where
        there are none.
    """
    quiet_motion, _ = _rolling(motion, max(1, round(0.5 * fps)) | 1)
    out = np.zeros(speed.shape[1])
    for a in range(speed.shape[1]):
        ok = np.isfinite(quiet_motion[:, a]) & np.isfinite(speed[:, a])
        if not ok.any():
            continue
        quiet = ok & (quiet_motion[:, a] <= np.percentile(quiet_motion[ok, a], 100 * QUIET_SHARE))
        cap = JITTER_FACTOR * float(np.nanmedian(jitter[quiet, a]))
        out[a] = min(float(np.median(speed[quiet, a])), cap if math.isfinite(cap) else 0.0)
    return out


def _bridge_contact_edges(
    speed: NDArray[np.float64], merged: NDArray[np.bool_], smooth: int
) -> NDArray[np.float64]:
    """Speeds across a change of contact interpolated from the frames around it.

    Entering or leaving contact moves an animal's centre from its whole blob's to its part
    of a shared blob (``tools.video_features.split_blob``) or back in one frame: a jump of
    the measurement, not of the animal, which read as darting (docs/segment.md "Video
    after both changes"). The speeds within ``smooth`` frames (the centre's smoothing
    window) of such a change are interpolated from the speeds on either side.

    Args:
        speed: ``(frames, animals)`` body lengths/s, NaN = none.
        merged: ``(frames, animals)`` bool, contact (``BlobTracks.merged``).
        smooth: the centre's smoothing window, frames.
    """
    edge = np.diff(merged.astype(np.int8), axis=0, prepend=merged[:1].astype(np.int8)) != 0
    near = maximum_filter1d(edge, size=smooth + 2, axis=0)
    out = speed.copy()
    frames = np.arange(len(speed))
    for a in range(speed.shape[1]):
        keep = ~near[:, a] & np.isfinite(speed[:, a])
        bridge = near[:, a] & np.isfinite(speed[:, a])
        if bridge.any() and keep.any():
            out[bridge, a] = np.interp(frames[bridge], frames[keep], speed[keep, a])
    return out


def _per_frame(tracks: BlobTracks, fps: float) -> dict[str, NDArray[np.float64]]:
    """The unwindowed features ``(frames, animals)`` of ``VIDEO_FEATURES``, and ``jitter``."""
    alone = ~tracks.merged & np.isfinite(tracks.major)
    with np.errstate(all="ignore"):
        body = np.array(
            [
                np.nanmedian(np.where(alone[:, a], tracks.major[:, a], np.nan))
                if alone[:, a].any()
                else np.nanmedian(tracks.major[:, a])
                for a in range(tracks.major.shape[1])
            ]
        )
        area0 = np.array(
            [
                np.nanmedian(np.where(alone[:, a], tracks.area[:, a], np.nan))
                if alone[:, a].any()
                else np.nanmedian(tracks.area[:, a])
                for a in range(tracks.area.shape[1])
            ]
        )
    # the centre is smoothed over SMOOTH_S first: blob-outline jitter has no direction, so
    # it averages out instead of adding up in the per-frame speed
    smooth = max(1, round(SMOOTH_S * fps)) | 1
    centre, _ = _rolling(tracks.centre, smooth)
    centre = np.where(np.isfinite(tracks.centre), centre, np.nan)
    step = np.diff(centre, axis=0, prepend=np.nan)
    speed = _bridge_contact_edges(np.linalg.norm(step, axis=2) * fps / body, tracks.merged, smooth)
    wobble = np.diff(tracks.centre - centre, axis=0, prepend=np.nan)
    jitter = np.linalg.norm(wobble, axis=2) * fps / body
    turn = np.diff(tracks.angle, axis=0, prepend=np.nan)
    turn = (turn + math.pi / 2) % math.pi - math.pi / 2
    # the surrounding seconds' median area (gaps filled with the session's): rears are
    # brief shrinkings against it, a posture held for longer is its own context
    filled = np.where(np.isfinite(tracks.area), tracks.area, area0)
    size = (max(1, round(AREA_CONTEXT_S * fps)) | 1, 1)
    local = median_filter(filled, size=size, mode="nearest")
    motion = tracks.motion.copy()
    motion[0] = motion[1] if tracks.frames > 1 else 0.0
    speed[0] = speed[1] if tracks.frames > 1 else 0.0
    jitter[0] = jitter[1] if tracks.frames > 1 else 0.0
    turn[0] = turn[1] if tracks.frames > 1 else 0.0
    with np.errstate(all="ignore"):
        return {
            "speed": speed,
            "heading_rate": turn * fps,
            "elongation": tracks.major / body,
            "aspect": tracks.major / np.maximum(tracks.minor, 1e-6),
            "area": tracks.area / area0,
            "area_local": tracks.area / local,
            "motion": motion,
            "jitter": jitter,
        }


def video_features(
    tracks: BlobTracks,
    fps: float,
    *,
    animals: list[str] | None = None,
    window_s: float = 0.5,
    noise_floor: bool = True,
) -> Features:
    """Per-frame, per-animal features of blob tracks, as ``tools.features.Features``.

    Args:
        tracks: from ``track_blobs``.
        fps: frame rate, Hz.
        animals: the animals' names; ``None`` = ``blob_0``, ``blob_1``, ...
        window_s: centred rolling window of the ``_mean`` / ``_std`` features, s.
        noise_floor: subtract each animal's speed noise floor (``speed_noise``) from its
            speeds, so that the kinematic captioner's "still" threshold applies to them;
            ``False`` keeps the raw speeds (where pose features are what is captioned).

    Returns:
        Features ``(frames, animals, 3 x len(VIDEO_FEATURES))``: each feature, its mean and
        its std; speeds in body lengths/s above the animal's noise floor (``speed_noise``,
        in ``report["speed_noise_mbl_s"]``), turning in rad/s, elongation and area relative
        to the animal's median (``area_local``: to its median over the surrounding
        ``AREA_CONTEXT_S``), aspect = length / width, motion a fraction of the blob's
        pixels. A frame without a blob is not ``valid``. ``report`` carries
        ``masked_frames``, ``merged_frames``, ``speed_noise_mbl_s`` (floors, 1/1000 BL/s).

    Raises:
        InputError: ``fps`` not positive, or the animal names do not fit the tracks.
    """
    if not (math.isfinite(fps) and fps > 0):
        raise InputError(f"fps must be a positive number; found {fps}.", fix="pass --fps.")
    frames, n = tracks.area.shape
    names = tuple(animals) if animals is not None else tuple(f"blob_{i}" for i in range(n))
    if len(names) != n:
        raise InputError(
            f"{len(names)} animal names for tracks of {n} animals.",
            fix="pass one name per tracked animal.",
        )
    per = _per_frame(tracks, fps)
    noise = speed_noise(per["speed"], per["motion"], per.pop("jitter"), fps)
    if noise_floor:
        per["speed"] = np.clip(per["speed"] - noise, 0.0, None)
    window = max(1, round(window_s * fps)) | 1
    cols: list[NDArray[np.float64]] = []
    out_names: list[str] = []
    for name, x in per.items():
        mean, std = _rolling(x, window)
        cols += [x, mean, std]
        out_names += [name, f"{name}_mean", f"{name}_std"]
    values = np.stack(cols, axis=2)
    values[~np.isfinite(tracks.area)] = np.nan
    valid = np.asarray(np.isfinite(values).all(axis=2), dtype=np.bool_)
    report = {
        "masked_frames": dict(zip(names, (int(c) for c in (~valid).sum(axis=0)), strict=True)),
        "merged_frames": dict(zip(names, (int(c) for c in tracks.merged.sum(axis=0)), strict=True)),
        "settings": {"window_frames": window},
        "speed_noise_mbl_s": dict(zip(names, (round(1000 * float(v)) for v in noise), strict=True)),
    }
    with np.errstate(all="ignore"):
        body = np.nanmedian(np.where(tracks.merged, np.nan, tracks.major), axis=0)
    return Features(
        values=values,
        names=tuple(out_names),
        valid=valid,
        report=report,
        individuals=names,
        body_length=np.asarray(body, dtype=np.float64),
        pairs=np.full((frames, n, n, 0), np.nan),
        pair_names=(),
        fps=float(fps),
        layout=BLOB_LAYOUT,
        roles=BLOB_ROLES,
    )


def clustered_video_features(features: Features) -> Features:
    """The blob features DEC and KMeans cluster: all but ``CAPTION_ONLY``.

    ``CAPTION_ONLY``'s ``_mean`` and ``_std`` go too; columns appended after the blob
    features (embeddings) are kept.

    Args:
        features: from ``video_features`` (``values`` ``(frames, animals, features)``).

    Returns:
        The same frames and animals with fewer feature columns; ``valid`` recomputed.
    """
    keep = [i for i, name in enumerate(features.names) if feature_base(name) not in CAPTION_ONLY]
    values = features.values[:, :, keep]
    valid = np.asarray(np.isfinite(values).all(axis=2), dtype=np.bool_)
    names = tuple(features.names[i] for i in keep)
    return replace(features, values=values, names=names, valid=valid)


def _blob_rules(k: SnippetKinematics) -> KinematicCaption:
    """``caption_from_kinematics`` with the rest and drift rules read for a blob."""
    rule = caption_from_kinematics(k)
    label, speed = rule.caption.label, k.speed
    if speed is None:
        return rule
    turn = k.abs_turn_rate or 0.0
    swing = max(RESTLESS_TURN, AXIS_NOISE * (k.speed_noise or 0.0))
    if label in ("turning", "still") and speed < STILL_SPEED and turn > swing:
        update: dict[str, object] = {
            "label": "grooming",
            "direction": "none",
            "posture": "at rest, the outline's axis swinging (head and forepaws moving)",
            "confidence": 0.4,
        }
        reason = (
            f"blob at rest ({speed:.3f} BL/s < {STILL_SPEED}) with its axis swinging at "
            f"{turn:.2f} rad/s (> {swing:.2f}): moving in place, not lying still"
        )
    elif label == "turning" and speed < STILL_SPEED:
        update = {"label": "still", "direction": "none", "confidence": 0.6}
        reason = (
            f"blob at rest ({speed:.3f} BL/s < {STILL_SPEED}); its axis swings with the "
            f"outline ({turn:.2f} rad/s, within the outline's noise: {swing:.2f})"
        )
    elif label == "walking" and speed < SLOW_SPEED:
        update = {"label": MOVING_IN_PLACE, "direction": "none", "confidence": 0.4}
        reason = (
            f"blob centre drifting at {speed:.2f} BL/s (< {SLOW_SPEED}) without turning: "
            "motion in place"
        )
    else:
        return rule
    caption = rule.caption.model_copy(update=update)
    return KinematicCaption(caption=caption, confident=False, reason=reason)


def caption_from_blob_kinematics(k: SnippetKinematics) -> KinematicCaption:
    """Caption a snippet of blob features: ``caption_from_kinematics`` read for a blob.

    Some of the kinematic captioner's rules assume keypoints, and are read differently for
    a blob (its centre and long axis are the outline's, not the body's):

    - at rest (below ``STILL_SPEED`` BL/s), ``still`` or ``turning`` is ``grooming`` when
      the blob's axis swings faster than ``RESTLESS_TURN`` rad/s on average and than
      ``AXIS_NOISE`` times the blob's speed noise floor (``k.speed_noise``): the body
      stays put while the head and forepaws move (the keypoint rules need the paws at the
      head for grooming, and read a swinging axis as turning in place). Measured on
      1-minute simulator sessions of seeds 3–13 (docs/segment.md);
    - at rest with a turning axis below that, ``still``, not ``turning``: the axis of a
      resting blob swings with its outline (a round, curled-up body has no clear axis);
    - between ``STILL_SPEED`` and ``SLOW_SPEED`` BL/s without turning, where keypoints say
      slow ``walking``, the blob says ``moving_in_place``: a drifting outline with the
      animal staying put (grooming, sniffing, shifting its weight look alike from a blob;
      the label of ``tools.clip_motion`` for motion without displacement). Measured on
      simulator seeds 3, 5, 7, 9 and 11 (docs/segment.md): per 0.5 s window, macro-F1
      0.533 against 0.488 for the keypoint rules on 1-minute sessions;
    - a shortened blob (elongation below 0.8) is ``rearing`` only with its area below
      ``REAR_AREA`` of its surrounding seconds' (``k.area_ratio``): a blob that stays
      small for longer is a curled or crouched rest, read by the rules above; and a
      blob below ``SLOW_SPEED`` that small is ``rearing`` where the rules above say
      ``still``, ``grooming`` or ``moving_in_place`` (a rear seen from above need not
      shorten the blob's axis). Measured on 1-minute simulator sessions of seeds 3–13
      and 3-minute ones of seeds 5, 7 and 9 (docs/segment.md).

    None is confident (a model with the frames should judge); every other rule is the
    kinematic captioner's.

    Args:
        k: the snippet's kinematics, from blob features (``video_features``).

    Returns:
        The caption, whether the blob alone decides it, and the rule with its numbers.
    """
    rule = _blob_rules(k)
    ratio, speed = k.area_ratio, k.speed
    if ratio is None or speed is None:
        return rule
    label = rule.caption.label
    if label == "rearing" and ratio >= REAR_AREA and k.height_ratio is None:
        again = _blob_rules(k.model_copy(update={"elongation": None}))
        caption = again.caption.model_copy(update={"posture": rule.caption.posture})
        reason = (
            f"blob shortened ({k.elongation:.2f} of its length) but its area is "
            f"{ratio:.2f} of the surrounding seconds' (>= {REAR_AREA}): a held posture, "
            f"not a rear; {again.reason}"
        )
        return KinematicCaption(caption=caption, confident=False, reason=reason)
    if label in ("still", "grooming", MOVING_IN_PLACE) and ratio < REAR_AREA and speed < SLOW_SPEED:
        caption = rule.caption.model_copy(
            update={"label": "rearing", "direction": "none", "confidence": 0.5}
        )
        reason = (
            f"blob area {ratio:.2f} of the surrounding seconds' (< {REAR_AREA}) at "
            f"{speed:.2f} BL/s: raised for a moment"
        )
        return KinematicCaption(caption=caption, confident=False, reason=reason)
    return rule
