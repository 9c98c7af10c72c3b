"""The gate's keypoint input: one descriptor and one standardisation for train, predict and eval.

``describe_gate_motion`` is the only place the gate turns keypoints into model input; the
CLI (``read_keypoints_motion``), the pipeline's train / predict / eval stages and the
``gate`` eval suite all call it, and all standardise with ``standardise`` and the mean and
SD of the frames the model was fitted on (``fitted.feature_scale``, kept in
``gate.json``). Two copies of this step once gave the same file 0.64 interact F1 in the
eval and 0.50 through the CLI.

The descriptor is ``tools.motion.describe_motion`` (normalised keypoints, confidences,
per-keypoint velocities, neighbour bearing and distance) followed by the body-length
features of ``tools.features.compute_features``: body-centre speed and its forward and
lateral parts, acceleration, heading rate, elongation and, with two or more animals, the
social features to the nearest partner (nose-nose and nose-tail-base distance in body
lengths, relative heading, partner bearing, approach speed), each with its rolling mean
and SD over ``POSE_WINDOW_S``. Without a body layout (fewer than two body keypoints) the
pose features are left out and the descriptor says so (``pose_features``).

Body roles: by default the roles are matched from the keypoint names
(``tools.features.infer_layout``) and the keypoint part reads every keypoint. With a
layout (``--body FILE``, ``io.body.read_body``) the pose features use its roles, and the
keypoint part reads the layout's keypoints only (arena corners and points the file leaves
out of ``body`` stay out), its neighbour bearing measured from the tail base -> head
direction where the layout names one head keypoint.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ethoagent.errors import InputError
from ethoagent.model.skeleton import normalise_name
from ethoagent.tools.features import BodyLayout, compute_features
from ethoagent.tools.motion import MotionDescriptor, describe_motion

__all__ = [
    "POSE_CLIP",
    "POSE_WINDOW_S",
    "GateDescriptor",
    "body_words",
    "describe_gate_motion",
    "standardise",
]

POSE_WINDOW_S = 0.5
"""Rolling window of the pose features' mean and SD, seconds."""
POSE_CLIP = 50.0
"""Largest magnitude of a pose feature (body lengths, per second or squared): tracking jumps."""


@dataclass(frozen=True)
class GateDescriptor:
    """The gate descriptor of one keypoint file.

    Attributes:
        motion: ``features`` ``(frames, animals, D)`` float32 (0 where an animal is absent),
            ``valid`` and ``confidence`` ``(frames, animals)``.
        pose_names: names of the trailing pose features (empty when none could be computed).
        nose_distance: ``(frames, animals)`` float64 nose-nose distance to the nearest
            partner in body lengths (NaN where unknown, or with one animal): the input of
            the rule baseline.
    """

    motion: MotionDescriptor
    pose_names: tuple[str, ...]
    nose_distance: NDArray[np.float64]


def describe_gate_motion(
    points: ArrayLike,
    confidence: ArrayLike,
    *,
    fps: float,
    keypoints: Sequence[str],
    individuals: Sequence[str] | None = None,
    layout: BodyLayout | None = None,
) -> GateDescriptor:
    """The gate's descriptor of tracked keypoints (see the module doc).

    Args:
        points: ``(frames, animals, keypoints, 2|3)`` positions (pixels or mm), NaN = missing.
        confidence: ``(frames, animals, keypoints)`` in [0, 1] (NaN = 1: none in the file).
        fps: frame rate, Hz.
        keypoints: keypoint names, length ``keypoints``.
        individuals: animal names; None = ``individual_<i>``.
        layout: the body roles (``--body``); None = matched from the names, every
            keypoint in the keypoint part.

    Returns:
        The descriptor, its pose feature names and the nose-nose distance.

    Raises:
        InputError: on wrong shapes or a non-positive frame rate.
    """
    pts = np.asarray(points, np.float64)
    conf = np.asarray(confidence, np.float64)
    conf = np.where(np.isnan(conf), 1.0, conf)
    keep, heading = _body_part(layout, keypoints)
    base = describe_motion(pts[:, :, keep], conf[:, :, keep], velocity_fps=fps, heading=heading)
    frames, animals = base.valid.shape
    try:
        pose = compute_features(
            np.where(conf[..., None] > 0, pts, np.nan), fps=fps, keypoints=keypoints,
            individuals=individuals, layout=layout, window_s=POSE_WINDOW_S,
        )  # fmt: skip
    except InputError:
        # a layout with no head and tail base: the keypoint part alone
        return GateDescriptor(base, (), np.full((frames, animals), np.nan))
    values = np.clip(np.nan_to_num(pose.values, nan=0.0), -POSE_CLIP, POSE_CLIP)
    features = np.concatenate([base.features, values.astype(np.float32)], axis=-1)
    features[~base.valid] = 0.0
    nose = (
        pose.column("nose_nose")
        if "nose_nose" in pose.names
        else np.full((frames, animals), np.nan)
    )
    return GateDescriptor(MotionDescriptor(features, base.valid, base.confidence), pose.names, nose)


def _body_part(
    layout: BodyLayout | None, keypoints: Sequence[str]
) -> tuple[list[int], tuple[int, int] | None]:
    """Indices of the keypoints the keypoint part reads, and its ``(tail, head)`` heading.

    Without a layout: every keypoint, no heading. With one: its ``body`` keypoints (the
    animal's, arena points left out), else the keypoints its roles name.
    """
    if layout is None:
        return list(range(len(keypoints))), None
    names = {normalise_name(n) for n in (layout.body or layout.names())}
    keep = [i for i, k in enumerate(keypoints) if normalise_name(k) in names]
    at = {normalise_name(keypoints[i]): j for j, i in enumerate(keep)}
    ends = (normalise_name(layout.tail_base), *(normalise_name(h) for h in layout.head))
    if len(ends) == 2 and all(e in at for e in ends):
        return keep, (at[ends[0]], at[ends[1]])
    return keep, None


def standardise(
    features: NDArray[np.float32], scale: dict[str, list[float]] | None
) -> NDArray[np.float32]:
    """``(features - mean) / std`` with a model's ``feature_scale``; None = as is.

    Args:
        features: ``(..., D)`` float32 descriptor.
        scale: ``{"mean": [D], "std": [D]}`` of the frames the model was fitted on.

    Raises:
        InputError: the scale has another length than the descriptor.
    """
    if scale is None:
        return features
    mean, std = (np.asarray(scale[k], np.float32) for k in ("mean", "std"))
    if mean.shape[-1] != features.shape[-1]:
        raise InputError(
            f"the model's feature scale has {mean.shape[-1]} features; the descriptor has "
            f"{features.shape[-1]}.",
            fix="the model was trained by another ethoagent version: train it again.",
        )
    out: NDArray[np.float32] = ((features - mean) / std).astype(np.float32)
    return out


def body_words(body: str | None) -> str:
    """The body roles a gate model describes keypoints with, in words.

    ``body`` is ``Keypoints.body``: a ``roles_layout_name`` (``--body``) or None.
    """
    if body is None:
        return "matched from the keypoint names (no --body)"
    said = json.loads(body.split(":", 1)[1])
    roles = "; ".join(f"{r} = {', '.join(v)}" for r, v in said["roles"].items())
    members = said.get("body")
    return f"from --body: {roles}" + (f"; body = {', '.join(members)}" if members else "")
