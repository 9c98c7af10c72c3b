"""The ``pose-real`` eval's pieces: real labels spoilt, the triangulation stage, the scores.

For each real multi-view data set present (the suite is ``evals.pose_real_suite``), the
labels are the reference; they are corrupted the way a labeller or 2D model errs and the
pose graph's 3D stage (``make_triangulation_stage``, stage 4) is asked to put them right:

- ``sleap_anipose_minimal_session``: proofread SLEAP 2D labels of 4 cameras; the reference
  3D is sleap-anipose's own triangulation (``points3d.h5``), not an independent truth.
- ``dannce_markerless_mouse``: hand-labelled 3D (Label3D) of 6 cameras; the 2D labels are
  exact projections of it, so clean triangulation must give the 3D back.

Corruptions (seeded, ``corrupt_labels``): a left/right swap of one keypoint pair in one view
on ~10 % of frames, gross outliers of 30-80 px on ~5 % of the labels present, and one view
left unlabelled on ~5 % of frames. Before = naive all-view DLT of the corrupted labels;
after = the stage (checks, swap / dropped-view hypotheses, RANSAC, flags) run offline with
the policy supervisor. Reported: 3D error (mm, the cameras' world frame), agreement of the
2D labels the 3D rests on (``FramePoints.points_2d``) with the proofread ones within 2 px,
frames flagged and the route each frame took.

Check limits: the stage's defaults (6 px, 25 % bone deviation) come from synthetic sessions;
the clean sleap_anipose labels alone reproject at up to ~16 px, so with the defaults every
frame fails. The ``stage`` rows use limits taken from the seed frames (``seed_limits``: 1.5x
the worst the clean seeds show, never below the defaults), the same rule for every data set;
the stage with its defaults is reported beside them.

Faulty calibration: sleap_anipose's ``side`` and ``top`` cameras carry identical parameters
(``check_calibration`` flags them). Of such a group the suite keeps the camera whose seed-frame
labels agree with the DLT of the other views (``views_to_keep``: ``top``), and also reports
all four views, where the stage has to find the fault itself.

The skeleton is built from the data: left/right pairs from keypoint names
(``ethoagent.model.skeleton.find_left_right``), bones from ``BONES`` (anatomical chains
written per data set by keypoint name, see there). Reference bone lengths are medians over
3 seed frames of the clean labels, as a user would give them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ethoagent.agent.offline import OfflineClient
from ethoagent.agent.trace import Tracer
from ethoagent.errors import InputError
from ethoagent.evals.datasets import Dataset
from ethoagent.graphs.kit.nodes import ItemOutcome, PolicySupervisor, run_stage, summarize_outcomes
from ethoagent.graphs.triangulate.graph import (
    FrameInput,
    FramePoints,
    TriangulationLimits,
    make_triangulation_stage,
)
from ethoagent.model.camera import Camera
from ethoagent.model.skeleton import Skeleton, find_left_right
from ethoagent.sim.spoil import Corruption, corrupt_labels
from ethoagent.tools.cameras import check_calibration
from ethoagent.tools.triangulate import (
    bone_length_errors,
    median_bone_lengths,
    reprojection_errors,
    triangulate_dlt,
)

SLEAP = "sleap_anipose_minimal_session"
DANNCE = "dannce_markerless_mouse"

BONES: dict[str, tuple[tuple[str, str], ...]] = {
    # head (nose, ears on the head), neck to shoulders, spine neck -> trunk -> tail-trunk
    # intersection (TTI), haunches on TTI, tail as a chain. Not SLEAP's own edge list,
    # which is a star through TTI whose long edges (TTI-Head, TTI-TailTip) bend with the body.
    SLEAP: (
        ("Nose", "Head"),
        ("Head", "Ear_L"),
        ("Head", "Ear_R"),
        ("Head", "Neck"),
        ("Neck", "Shoulder_left"),
        ("Neck", "Shoulder_right"),
        ("Neck", "Trunk"),
        ("Trunk", "TTI"),
        ("TTI", "Haunch_left"),
        ("TTI", "Haunch_right"),
        ("TTI", "Tail_0"),
        ("Tail_0", "Tail_1"),
        ("Tail_1", "Tail_2"),
        ("Tail_2", "TailTip"),
    ),
    # DANNCE's own mouse22 skeleton (``mouse22_skeleton.mat`` joints_idx): ears and snout
    # as a triangle on the front spine, the spine and tail as a chain, each limb a chain
    # from paw to its girdle point on the spine.
    DANNCE: (
        ("EarL", "EarR"),
        ("EarR", "Snout"),
        ("EarL", "Snout"),
        ("EarL", "SpineF"),
        ("EarR", "SpineF"),
        ("Snout", "SpineF"),
        ("SpineF", "SpineM"),
        ("SpineM", "Tail_base"),
        ("Tail_base", "Tail_mid"),
        ("Tail_mid", "Tail_end"),
        ("ForepawL", "WristL"),
        ("WristL", "ElbowL"),
        ("ElbowL", "ShoulderL"),
        ("ShoulderL", "SpineF"),
        ("ForepawR", "WristR"),
        ("WristR", "ElbowR"),
        ("ElbowR", "ShoulderR"),
        ("ShoulderR", "SpineF"),
        ("HindpawL", "AnkleL"),
        ("AnkleL", "KneeL"),
        ("KneeL", "SpineM"),
        ("HindpawR", "AnkleR"),
        ("AnkleR", "KneeR"),
        ("KneeR", "SpineM"),
    ),
}
"""Bones checked per data set, by keypoint name."""

GROSS_MM = 20.0
"""A 3D point further than this from the reference is a gross error (``error_stats``):
a wrong label triangulated, which leaving the point out would have avoided."""

AGREE_PX = 2.0
"""A label read by the stage agrees with the proofread one within this many pixels."""

N_SEEDS = 3
LIMIT_MARGIN = 1.5
"""Check limits are this many times the worst the clean seed frames show (``seed_limits``)."""


def make_skeleton(name: str, keypoints: Sequence[str]) -> Skeleton:
    """The ``Skeleton`` of data set ``name``: bones from ``BONES``, pairs from the names.

    Raises:
        InputError: a bone names a keypoint the data does not have.
    """
    missing = sorted({k for b in BONES.get(name, ()) for k in b} - set(keypoints))
    if missing:
        raise InputError(
            f"BONES[{name!r}] names keypoints {missing} that the data set does not have "
            f"(it has {list(keypoints)}).",
            fix="update ethoagent.evals.pose_real.BONES to the data set's keypoint names.",
        )
    return Skeleton(
        name=name,
        keypoints=tuple(keypoints),
        bones=BONES.get(name, ()),
        left_right=find_left_right(keypoints),
    )


# --------------------------------------------------------------------------- metrics


def label_agreement(
    reading: NDArray[np.float64],
    proofread: NDArray[np.float64],
    given: NDArray[np.float64],
    *,
    tol_px: float = AGREE_PX,
) -> dict[str, float]:
    """How the labels a 3D result rests on compare with the proofread labels.

    Counted over labels present both in ``proofread`` and in ``given`` (a label the
    labeller never gave cannot be restored by a triangulation).

    Args:
        reading: ``(frames, views, keypoints, 2)`` pixels, the labels as the result reads
            them (NaN = not used).
        proofread: the same shape, the proofread labels.
        given: the same shape, the labels the method was given.
        tol_px: agreement radius, pixels.

    Returns:
        ``agree`` (within ``tol_px``), ``wrong`` (used but further away) and ``unused``
        (left out) as fractions of the labels counted, and ``labels``, their number.
    """
    counted = np.isfinite(proofread[..., 0]) & np.isfinite(given[..., 0])
    used = np.isfinite(reading[..., 0]) & counted
    dist = np.linalg.norm(np.where(used[..., None], reading - proofread, np.inf), axis=-1)
    n = int(counted.sum())
    agree = int((used & (dist <= tol_px)).sum())
    wrong = int((used & (dist > tol_px)).sum())
    return {
        "agree": agree / n if n else float("nan"),
        "wrong": wrong / n if n else float("nan"),
        "unused": (n - agree - wrong) / n if n else float("nan"),
        "labels": float(n),
    }


def corruption_outcome(
    reading: NDArray[np.float64],
    proofread: NDArray[np.float64],
    corruption: Corruption,
    *,
    tol_px: float = AGREE_PX,
) -> dict[str, float]:
    """What became of each kind of label: swapped, outlier, untouched.

    Args:
        reading: ``(frames, views, keypoints, 2)`` pixels, the labels a result rests on.
        proofread: the same shape, the proofread labels.
        corruption: what was done to them (masks of the same views as ``reading``).
        tol_px: agreement radius, pixels.

    Returns:
        ``swaps_restored``: swapped labels read back within ``tol_px`` of the proofread;
        ``outliers_left_out``: outlier labels not used; ``clean_kept``: untouched labels
        used within ``tol_px``. Fractions; NaN where there were none.
    """
    used = np.isfinite(reading[..., 0])
    close = used & (
        np.linalg.norm(np.where(used[..., None], reading - proofread, 0.0), axis=-1) <= tol_px
    )
    untouched = (
        np.isfinite(proofread[..., 0])
        & ~corruption.swapped
        & ~corruption.outlier
        & ~corruption.dropped
    )
    swapped = corruption.swapped & ~corruption.outlier

    def frac(hit: NDArray[np.bool_], of: NDArray[np.bool_]) -> float:
        return float(hit[of].mean()) if of.any() else float("nan")

    return {
        "swaps_restored": frac(close, swapped),
        "outliers_left_out": frac(~used, corruption.outlier),
        "clean_kept": frac(close, untouched),
    }


def error_stats(points_3d: NDArray[np.float64], reference: NDArray[np.float64]) -> dict[str, float]:
    """Median, mean and 95th-percentile Euclidean 3D error, and the fraction left missing.

    Args:
        points_3d: ``(frames, keypoints, 3)`` mm, NaN = missing.
        reference: the same shape, mm.

    Returns:
        ``median_mm``, ``mean_mm`` and ``p95_mm`` over points present in both,
        ``missing``, the fraction of reference points with no 3D estimate, ``gross``,
        the fraction of reference points estimated more than ``GROSS_MM`` away, and
        ``found``, the fraction estimated within ``GROSS_MM`` (1 - missing - gross).
    """
    err = np.linalg.norm(points_3d - reference, axis=-1)
    ref_ok = np.isfinite(reference).all(axis=-1)
    ok = np.isfinite(err)
    n_ref = int(ref_ok.sum())
    return {
        "median_mm": float(np.median(err[ok])) if ok.any() else float("nan"),
        "mean_mm": float(np.mean(err[ok])) if ok.any() else float("nan"),
        "p95_mm": float(np.percentile(err[ok], 95)) if ok.any() else float("nan"),
        "missing": float((ref_ok & ~ok).sum() / n_ref) if n_ref else float("nan"),
        "gross": float((ref_ok & ok & (np.nan_to_num(err) > GROSS_MM)).sum() / n_ref)
        if n_ref
        else float("nan"),
        "found": float((ref_ok & ok & (np.nan_to_num(err) <= GROSS_MM)).sum() / n_ref)
        if n_ref
        else float("nan"),
    }


def left_out_by(
    points_3d: NDArray[np.float64], other_3d: NDArray[np.float64], reference: NDArray[np.float64]
) -> dict[str, float]:
    """The points ``points_3d`` leaves out and ``other_3d`` has: how many, how right.

    Answers whether a method that leaves more points missing drops right points or
    wrong ones.

    Args:
        points_3d: ``(frames, keypoints, 3)`` mm, NaN = missing.
        other_3d: the same shape, another method's points.
        reference: the same shape, mm.

    Returns:
        ``count``; ``median_mm``, the other method's median error there (NaN if none);
        ``within_gross``, the share of them the other method has within ``GROSS_MM``.
    """
    ref_ok = np.isfinite(reference).all(axis=-1)
    only = ref_ok & ~np.isfinite(points_3d).all(axis=-1) & np.isfinite(other_3d).all(axis=-1)
    err = np.linalg.norm(other_3d - reference, axis=-1)[only]
    return {
        "count": float(only.sum()),
        "median_mm": float(np.median(err)) if err.size else float("nan"),
        "within_gross": float((err <= GROSS_MM).mean()) if err.size else float("nan"),
    }


# --------------------------------------------------------------------------- running


def run_triangulation(
    cameras: Sequence[Camera],
    points_2d: NDArray[np.float64],
    skeleton: Skeleton,
    reference_lengths: NDArray[np.float64],
    limits: TriangulationLimits | None = None,
) -> list[ItemOutcome[FramePoints]]:
    """Run the triangulation stage over every frame, offline, with the policy supervisor.

    Args:
        points_2d: ``(frames, views, keypoints, 2)`` pixels, NaN = missing.
        reference_lengths: ``(bones,)`` mm.

    Returns:
        One outcome per frame, in frame order.
    """
    stage = make_triangulation_stage(cameras, reference_lengths, skeleton, limits=limits)
    items = [
        (str(f), FrameInput(frame=f, points_2d=points_2d[f])) for f in range(points_2d.shape[0])
    ]
    return asyncio.run(
        run_stage(
            stage,
            items,
            client=OfflineClient(),
            tracer=Tracer(None, run_id="pose-real"),
            supervisor=PolicySupervisor(),
        )
    )


def pick_seed_frames(points_3d: NDArray[np.float64], n: int = N_SEEDS) -> list[int]:
    """``n`` frames spread evenly over the frames whose every keypoint is present.

    Args:
        points_3d: ``(frames, keypoints, 3)``, NaN = missing.
    """
    complete = np.flatnonzero(np.isfinite(points_3d).all(axis=(1, 2)))
    if complete.size < n:
        raise InputError(
            f"need {n} frames with every keypoint present for the seed bone lengths; "
            f"found {complete.size}.",
            fix="use a data set with more complete frames.",
        )
    return [int(complete[i]) for i in np.linspace(0, complete.size - 1, n).round().astype(int)]


def duplicated_views(cameras: Sequence[Camera]) -> list[list[int]]:
    """Groups (of 2 or more) of cameras that share every intrinsic and extrinsic parameter."""
    params = [np.concatenate([c.matrix.ravel(), c.dist, c.rvec, c.tvec]) for c in cameras]
    groups: list[list[int]] = []
    for i in range(len(params)):
        for g in groups:
            if np.allclose(params[g[0]], params[i], rtol=1e-9, atol=1e-9):
                g.append(i)
                break
        else:
            groups.append([i])
    return [g for g in groups if len(g) > 1]


def views_to_keep(
    cameras: Sequence[Camera], points_2d: NDArray[np.float64], seeds: Sequence[int]
) -> tuple[list[int], str]:
    """Views to triangulate with: of each group of duplicated cameras, the one whose seed
    labels agree with the views outside the group.

    The seed frames' labels of every group member are compared (median reprojection, px)
    with the DLT of the views outside every group; the best member is kept.

    Args:
        points_2d: ``(frames, views, keypoints, 2)`` pixels (the clean labels).
        seeds: seed frame indices.

    Returns:
        The kept view indices and a sentence saying what was decided and why.
    """
    groups = duplicated_views(cameras)
    keep = list(range(len(cameras)))
    if not groups:
        return keep, "calibration checks passed; all views used."
    grouped = {i for g in groups for i in g}
    outside = [i for i in keep if i not in grouped]
    if len(outside) < 2:
        return keep, "duplicated cameras but fewer than 2 other views to judge them; all used."
    seed_pts = points_2d[list(seeds)]
    x3 = triangulate_dlt([cameras[i] for i in outside], seed_pts[:, outside])
    words = []
    for g in groups:
        med = {
            i: float(np.nanmedian(reprojection_errors([cameras[i]], x3, seed_pts[:, [i]])))
            for i in g
        }
        best = min(med, key=lambda i: med[i])
        keep = [i for i in keep if i not in g or i == best]
        words.append(
            ", ".join(f"{cameras[i].name} {med[i]:.1f} px" for i in g)
            + f" -> kept {cameras[best].name}"
        )
    return keep, (
        "identical camera parameters in the calibration; seed-frame labels reprojected from "
        "the other views: " + "; ".join(words) + "."
    )


def seed_limits(
    cameras: Sequence[Camera],
    seed_points_2d: NDArray[np.float64],
    skeleton: Skeleton,
    *,
    margin: float = LIMIT_MARGIN,
) -> tuple[TriangulationLimits, NDArray[np.float64]]:
    """Check limits and reference bone lengths from the seed frames' clean labels.

    Real labels carry real noise (and real calibrations real error), so the stage's
    defaults, made for synthetic sessions, may fail every clean frame. The limits are
    ``margin`` times what the seed frames themselves show, never below the defaults:
    ``reprojection_px`` from the seeds' worst reprojection error, ``bone_tolerance`` from
    the seeds' worst relative bone-length deviation from their median.

    Args:
        seed_points_2d: ``(seeds, views, keypoints, 2)`` pixels, the clean labels.

    Returns:
        The limits and the reference bone lengths ``(bones,)`` mm (seed medians).
    """
    seed_3d = triangulate_dlt(cameras, seed_points_2d)
    lengths = median_bone_lengths(seed_3d, skeleton.bone_index)
    reproj = reprojection_errors(cameras, seed_3d, seed_points_2d)
    bone_dev = bone_length_errors(seed_3d, skeleton.bone_index, lengths)
    default = TriangulationLimits()
    limits = TriangulationLimits(
        reprojection_px=max(default.reprojection_px, margin * float(np.nanmax(reproj))),
        bone_tolerance=max(default.bone_tolerance, margin * float(np.nanmax(bone_dev))),
        min_coverage=default.min_coverage,
    )
    return limits, lengths


def _routes(outcomes: Sequence[ItemOutcome[FramePoints]]) -> str:
    by = summarize_outcomes(outcomes)["by_route"]
    names = {"accepted_first": "DLT"}
    return ", ".join(
        f"{names.get(k, k.removeprefix('accepted_by_'))} {n}" for k, n in sorted(by.items())
    )


def no_nan(value: Any) -> Any:
    """NaN as ``None`` (results.json stays strict JSON)."""
    return None if isinstance(value, float) and not np.isfinite(value) else value


def percent(x: float | None) -> str:
    """A fraction as a whole percentage, ``n/a`` where missing."""
    return "n/a" if x is None or not np.isfinite(x) else f"{100 * x:.0f} %"


def _flag_reasons(outcomes: Sequence[ItemOutcome[FramePoints]]) -> str:
    """Flagged frames counted by the checks their last proposal failed."""
    counts: dict[str, int] = {}
    for o in outcomes:
        if o.status == "flagged":
            key = "+".join(c.name for c in o.checks if not c.passed) or "budget"
            counts[key] = counts.get(key, 0) + 1
    return ", ".join(f"{k} {n}" for k, n in sorted(counts.items()))


def result_row(
    base: dict[str, Any],
    method: str,
    points_3d: NDArray[np.float64],
    reading: NDArray[np.float64],
    *,
    reference_3d: NDArray[np.float64],
    clean_3d: NDArray[np.float64],
    clean_2d: NDArray[np.float64],
    given: NDArray[np.float64],
    corruption: Corruption | None,
    outcomes: Sequence[ItemOutcome[FramePoints]] | None = None,
) -> dict[str, Any]:
    """One table row: 3D error, 2D agreement, corruption outcome, flags and routes.

    Args:
        base: columns the row starts with (data set, views, labels).
        method: the method's name.
        points_3d: ``(frames, keypoints, 3)`` mm, the method's 3D points.
        reading: ``(frames, views, keypoints, 2)`` pixels, the labels the 3D rests on.
        reference_3d: ``(frames, keypoints, 3)`` mm, what the 3D error is measured against.
        clean_3d: the same shape, the DLT of the proofread labels.
        clean_2d: ``(frames, views, keypoints, 2)`` pixels, the proofread labels.
        given: the same shape, the labels the method was given.
        corruption: what was done to ``given``, or ``None`` for clean labels.
        outcomes: the stage's outcomes per frame (flags, routes), if it ran.
    """
    err = error_stats(points_3d, reference_3d)
    agree = label_agreement(reading, clean_2d, given)
    flagged = (
        np.array([o.status == "flagged" for o in outcomes], dtype=bool)
        if outcomes is not None
        else np.zeros(points_3d.shape[0], dtype=bool)
    )
    return {
        **base,
        "method": method,
        "median_mm": err["median_mm"],
        "mean_mm": err["mean_mm"],
        "mean_mm_vs_clean_dlt": error_stats(points_3d, clean_3d)["mean_mm"],
        "missing_3d": err["missing"],
        "gross_3d": err["gross"],
        "found_3d": err["found"],
        "agree_2px": agree["agree"],
        "wrong_used": agree["wrong"],
        **(
            corruption_outcome(reading, clean_2d, corruption)
            if corruption is not None
            else {"swaps_restored": None, "outliers_left_out": None, "clean_kept": None}
        ),
        "flagged": int(flagged.sum()) if outcomes is not None else None,
        "mean_mm_accepted": (
            error_stats(points_3d[~flagged], reference_3d[~flagged])["mean_mm"]
            if outcomes is not None and (~flagged).any()
            else None
        ),
        "routes": _routes(outcomes) if outcomes is not None else "",
        "flag_checks": _flag_reasons(outcomes) if outcomes is not None else "",
    }


def evaluate_views(
    cameras: Sequence[Camera],
    clean_2d: NDArray[np.float64],
    corruption: Corruption | None,
    *,
    reference_3d: NDArray[np.float64],
    clean_3d: NDArray[np.float64],
    skeleton: Skeleton,
    reference_lengths: NDArray[np.float64],
    limits: TriangulationLimits,
    base: dict[str, Any],
    default_limits_too: bool = False,
    points_out: dict[str, NDArray[np.float64]] | None = None,
) -> list[dict[str, Any]]:
    """Naive DLT and the stage on one set of views; one table row per method.

    Args:
        clean_2d: ``(frames, views, keypoints, 2)`` pixels, the proofread labels.
        corruption: the corrupted labels of the same views, or ``None``: the methods get
            ``clean_2d``.
        reference_3d: ``(frames, keypoints, 3)`` mm, what the 3D error is measured against.
        clean_3d: the same shape, mm, the DLT of the proofread labels in the views the
            calibration checks kept (``mean_mm_vs_clean_dlt``).
        reference_lengths: ``(bones,)`` mm, seed bone lengths.
        base: columns every row starts with (data set, views, labels).
        default_limits_too: also run the stage with ``TriangulationLimits()``.
        points_out: if given, filled with each method's ``(frames, keypoints, 3)`` points.
    """
    given_2d = clean_2d if corruption is None else corruption.points_2d
    naive = triangulate_dlt(cameras, given_2d)

    def row(
        method: str,
        points_3d: NDArray[np.float64],
        reading: NDArray[np.float64],
        outcomes: Sequence[ItemOutcome[FramePoints]] | None = None,
    ) -> dict[str, Any]:
        return result_row(
            base,
            method,
            points_3d,
            reading,
            reference_3d=reference_3d,
            clean_3d=clean_3d,
            clean_2d=clean_2d,
            given=given_2d,
            corruption=corruption,
            outcomes=outcomes,
        )

    if points_out is not None:
        points_out["naive DLT"] = naive
    rows = [row("naive DLT", naive, given_2d)]
    runs = [("stage", limits)]
    if default_limits_too:
        runs.append(("stage, default limits", TriangulationLimits()))
    for method, lim in runs:
        outcomes = run_triangulation(cameras, given_2d, skeleton, reference_lengths, lim)
        outputs = [o.output for o in outcomes]
        if any(o is None for o in outputs):
            raise RuntimeError("the triangulation stage returned no proposal for a frame.")
        p3 = np.stack([o.points_3d for o in outputs if o is not None])
        p2 = np.stack([o.points_2d for o in outputs if o is not None])
        rows.append(row(method, p3, p2, outcomes))
        if points_out is not None:
            points_out[method] = p3
    return rows


# --------------------------------------------------------------------------- suite


def evaluate_dataset(
    data: Dataset, *, seed: int, frame_step: int = 1
) -> tuple[list[dict[str, Any]], dict[str, Any], list[str]]:
    """All conditions of one data set: its table rows, metrics and notes.

    Conditions, on the views kept after the calibration checks: clean labels, all three
    corruptions together (also with the stage's default limits), and each corruption
    alone (drawn separately with the same seed); where a camera was left out, also all
    views with clean and with corrupted labels.

    Args:
        data: a loaded multi-view data set with ``points_2d`` and ``points_3d``.
        seed: seeds the corruption.
        frame_step: use every ``frame_step``-th frame (quick runs).
    """
    if data.points_2d is None or data.points_3d is None or len(data.cameras) < 2:
        raise InputError(
            f"data set {data.name!r} has no multi-view 2D / 3D labels.",
            fix="evaluate a multi-view data set (sleap_anipose_minimal_session, "
            "dannce_markerless_mouse).",
        )
    key = "sleap" if data.name == SLEAP else "dannce" if data.name == DANNCE else data.name
    clean = data.points_2d[::frame_step]
    ref3d = data.points_3d[::frame_step]
    skeleton = make_skeleton(data.name, data.keypoints_3d)
    seeds = pick_seed_frames(ref3d)
    calib = [c for c in check_calibration(data.cameras) if not c.passed]
    keep, why = views_to_keep(data.cameras, clean, seeds)
    cams = [data.cameras[v] for v in keep]
    limits, lengths = seed_limits(cams, clean[seeds][:, keep], skeleton)
    clean_3d = triangulate_dlt(cams, clean[:, keep])
    corruption = corrupt_labels(clean, skeleton.left_right_index, seed=seed)
    pairs = skeleton.left_right_index
    alone = {
        "swaps only": corrupt_labels(clean, pairs, seed=seed, outliers=0.0, drop_frames=0.0),
        "outliers only": corrupt_labels(clean, pairs, seed=seed, swap_frames=0.0, drop_frames=0.0),
        "dropped views only": corrupt_labels(
            clean, pairs, seed=seed, swap_frames=0.0, outliers=0.0
        ),
    }

    conditions: list[tuple[list[int], str, Corruption | None]] = [
        (keep, "clean", None),
        (keep, "corrupted", corruption),
        *((keep, labels, c) for labels, c in alone.items()),
    ]
    all_views = list(range(len(data.cameras)))
    if keep != all_views:
        conditions += [(all_views, "clean", None), (all_views, "corrupted", corruption)]
    rows: list[dict[str, Any]] = []
    for views, labels, spoilt in conditions:
        base = {
            "data": data.name,
            "views": "+".join(data.view_names[v] for v in views),
            "labels": labels,
        }
        rows += evaluate_views(
            [data.cameras[v] for v in views],
            clean[:, views],
            None if spoilt is None else spoilt.views(views),
            reference_3d=ref3d,
            clean_3d=clean_3d,
            skeleton=skeleton,
            reference_lengths=lengths,
            limits=limits,
            base=base,
            default_limits_too=labels == "corrupted" and views == keep,
        )

    def pick(views: list[int], labels: str, method: str) -> dict[str, Any]:
        name = "+".join(data.view_names[v] for v in views)
        return next(
            r
            for r in rows
            if r["views"] == name and r["labels"] == labels and r["method"] == method
        )

    floor = pick(keep, "clean", "naive DLT")
    before = pick(keep, "corrupted", "naive DLT")
    after = pick(keep, "corrupted", "stage")
    metrics: dict[str, Any] = {
        f"{key}_frames": int(clean.shape[0]),
        f"{key}_views": "+".join(data.view_names[v] for v in keep),
        f"{key}_limits": f"reprojection {limits.reprojection_px:.1f} px, bone "
        f"{limits.bone_tolerance:.2f}, coverage {limits.min_coverage:.2f}",
        f"{key}_clean_median_mm": floor["median_mm"],
        f"{key}_clean_mean_mm": floor["mean_mm"],
        f"{key}_before_median_mm": before["median_mm"],
        f"{key}_after_median_mm": after["median_mm"],
        f"{key}_before_mean_mm": before["mean_mm"],
        f"{key}_after_mean_mm": after["mean_mm"],
        f"{key}_before_agree_2px": before["agree_2px"],
        f"{key}_after_agree_2px": after["agree_2px"],
        f"{key}_before_wrong_used": before["wrong_used"],
        f"{key}_after_wrong_used": after["wrong_used"],
        f"{key}_after_swaps_restored": after["swaps_restored"],
        f"{key}_after_outliers_left_out": after["outliers_left_out"],
        f"{key}_after_clean_kept": after["clean_kept"],
        f"{key}_flagged": after["flagged"],
        f"{key}_routes": after["routes"],
        f"{key}_flag_checks": after["flag_checks"],
    }
    if keep != all_views:
        four_before = pick(all_views, "corrupted", "naive DLT")
        four_after = pick(all_views, "corrupted", "stage")
        metrics |= {
            f"{key}_all_views_before_median_mm": four_before["median_mm"],
            f"{key}_all_views_after_median_mm": four_after["median_mm"],
            f"{key}_all_views_flagged": four_after["flagged"],
            f"{key}_all_views_flag_checks": four_after["flag_checks"],
        }
    clean_err = np.linalg.norm(clean_3d - ref3d, axis=-1)
    metrics[f"{key}_clean_max_mm"] = float(np.nanmax(clean_err))

    sw = corruption.swapped[:, keep]
    out = corruption.outlier[:, keep]
    dr = corruption.dropped[:, keep]
    notes = [
        f"{data.name}: {clean.shape[0]} frames, {len(keep)} of {len(data.cameras)} views "
        f"({metrics[f'{key}_views']}); seeds {seeds}; {len(skeleton.bones)} bones, "
        f"left/right pairs "
        + ", ".join(
            f"{skeleton.keypoints[a]}/{skeleton.keypoints[b]}" for a, b in skeleton.left_right_index
        )
        + f"; corrupted in these views: {int(sw.any(axis=(1, 2)).sum())} frames with a swap, "
        f"{int(out.sum())} outlier labels, {int(dr.any(axis=(1, 2)).sum())} frames with a "
        f"view dropped ({int(dr.sum())} labels).",
        f"{data.name}: stage limits from the seed frames: {metrics[f'{key}_limits']}.",
        f"{data.name}: swapped labels the stage read back correctly: "
        f"{percent(pick(keep, 'swaps only', 'stage')['swaps_restored'])} with swaps alone, "
        f"{percent(after['swaps_restored'])} with all corruptions together.",
    ]
    if calib:
        notes.append(
            f"{data.name}: check_calibration: "
            + " ".join(c.message for c in calib)
            + " Decision: "
            + why
        )
    return rows, metrics, notes
