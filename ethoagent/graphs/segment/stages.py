"""The segment graph's node functions: each takes the graph state and a ``SegmentEnv``.

``graphs.segment.graph`` binds the env with ``functools.partial`` and wires the nodes
(load -> cluster -> snippets -> caption* -> merge* -> report); a node can be called alone on
a small state. Arrays live in the run's artifact store; each node returns its state update.
"""

from __future__ import annotations

import functools
import math
import time
import warnings
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ethoagent.errors import InputError
from ethoagent.graphs.kit.env import NodeEnv
from ethoagent.graphs.kit.node_io import add_timing, read_json, write_json
from ethoagent.graphs.kit.nodes import ItemOutcome, run_item, run_stage
from ethoagent.graphs.kit.runtime import Runtime
from ethoagent.graphs.segment.inputs import SegmentInputs, SegmentState
from ethoagent.graphs.segment.item_stages import (
    CAPTIONERS,
    CaptionEnv,
    CaptionProposal,
    MergeWindow,
    SnippetItem,
    dec_config,
    make_caption_stage,
    make_cluster_stage,
    make_merge_stage,
    rule_merge,
)
from ethoagent.graphs.segment.media import SnippetMedia, no_sheet
from ethoagent.graphs.segment.options import SegmentOptions
from ethoagent.graphs.segment.report import write_segment_outputs
from ethoagent.graphs.segment.video import (
    blob_points,
    embed_video,
    match_to_keypoints,
    run_video_features,
    track_video,
)
from ethoagent.io.keypoints import read_keypoints
from ethoagent.model.checks import CheckResult
from ethoagent.model.ethogram import Epoch, Snippet
from ethoagent.model.pose import PoseData
from ethoagent.nn.dec import fit_dec
from ethoagent.runs import Run
from ethoagent.tools.blob_features import (
    BLOB_SPLIT_S,
    caption_from_blob_kinematics,
    clustered_video_features,
)
from ethoagent.tools.captions import (
    DEFINITIONS,
    Caption,
    SnippetKinematics,
    caption_from_kinematics,
    classify_frames,
    kinematic_baselines,
    summarize_snippet,
)
from ethoagent.tools.cluster import assignment_stability, check_stability, smooth_assignments
from ethoagent.tools.ethogram import check_min_duration, check_tiling, check_vocabulary
from ethoagent.tools.features import (
    IMPLAUSIBLE_SPREAD,
    Features,
    cluster_features,
    compute_features,
    compute_pose_components,
    feature_base,
    layout_named,
    mask_implausible_points,
)
from ethoagent.tools.merge import majority_cluster, merge_epochs, plan_windows, stitch_windows
from ethoagent.tools.snippets import cut_snippets, split_snippets

MAX_CAPTION_STEPS = 40
"""Caption chunks are sized so that a session takes at most this many graph steps."""


class SegmentEnv(NodeEnv[SegmentInputs, SegmentOptions]):
    """The segment nodes' ``NodeEnv``, with the shortest epoch in frames."""

    @property
    def min_epoch(self) -> int:
        """Shortest epoch, frames (``options.min_epoch_s`` at the session's fps, >= 1)."""
        return max(1, round(self.options.min_epoch_s * self.inputs.fps))


# --- helpers -------------------------------------------------------------------------------


def _read(inputs: SegmentInputs) -> PoseData:
    data = read_keypoints(
        inputs.keypoints, fps=inputs.fps, format=inputs.format, skeleton=inputs.skeleton
    )
    if data.frames != inputs.frames or list(data.individuals) != inputs.animals:
        raise InputError(
            f"{inputs.keypoints} changed since the run started ({data.frames} frames, "
            f"animals {list(data.individuals)}; the run expects {inputs.frames} and "
            f"{inputs.animals}).",
            fix="start a new run for the new file.",
        )
    return data


PARTNER_ABSENT = {
    "nose_nose": 10.0,
    "nose_tailbase": 10.0,
    "relative_heading": math.pi / 2,
    "partner_bearing": math.pi / 2,
    "approach_speed": 0.0,
}
"""Social feature values of an animal whose partners are all untracked (far, no relation)."""


def _features(
    inputs: SegmentInputs, points: NDArray[np.float64], *, fill_absent_partner: bool = True
) -> Features:
    """The session's features, social ones filled where partners are all untracked.

    With ``fill_absent_partner``, social features of frames whose partners are all
    untracked get ``PARTNER_ABSENT`` values (so a lost partner does not drop a tracked
    animal from clustering).

    ``report["partner_missing_frames"]`` counts those frames per animal, and
    ``report["masked_frames"]`` is recounted after the fill.
    """
    opts = inputs.options
    with warnings.catch_warnings():
        # all-NaN stretches are expected here and reported (report["masked_frames"])
        warnings.simplefilter("ignore", RuntimeWarning)
        feats = compute_features(
            points,
            fps=inputs.fps,
            keypoints=inputs.keypoint_names,
            individuals=inputs.animals,
            layout=layout_named(inputs.layout, inputs.keypoint_names),
            window_s=opts.feature_window_s,
            max_gap_s=opts.max_gap_s,
        )
    social = {
        i: PARTNER_ABSENT[feature_base(n)] if not n.endswith("_std") else 0.0
        for i, n in enumerate(feats.names)
        if feature_base(n) in PARTNER_ABSENT
    }
    if not social or not fill_absent_partner:
        return feats
    values = feats.values.copy()
    own = [i for i in range(len(feats.names)) if i not in social]
    alone = np.isfinite(values[:, :, own]).all(axis=2)  # (frames, animals)
    filled = np.zeros(alone.shape, dtype=bool)
    for i, v in social.items():
        gap = alone & ~np.isfinite(values[:, :, i])
        values[:, :, i][gap] = v
        filled |= gap
    valid = np.asarray(np.isfinite(values).all(axis=-1), dtype=np.bool_)
    report = {
        **feats.report,
        "masked_frames": {
            n: int(c) for n, c in zip(feats.individuals, (~valid).sum(axis=0), strict=True)
        },
        "partner_missing_frames": {
            n: int(c) for n, c in zip(feats.individuals, filled.sum(axis=0), strict=True)
        },
    }
    return replace(feats, values=values, valid=valid, report=report)


def _session_features(
    env: SegmentEnv, points: NDArray[np.float64], *, fill_absent_partner: bool = True
) -> Features:
    """The features the run clusters and captions: the video's blobs alone, or pose features.

    With ``features="both"`` the pose features too (``video`` module docstring).
    """
    inputs = env.inputs
    if inputs.feature_source == "video":
        return run_video_features(env.run, inputs)
    return _features(inputs, points, fill_absent_partner=fill_absent_partner)


def _cluster_options(env: SegmentEnv, points: NDArray[np.float64]) -> SegmentOptions:
    """The options the cluster node applies: the 2D-pose settings only to 2D keypoints.

    Pose components, the sticky-HMM dwell and the least pretraining steps were measured
    on 2D keypoints (top views, BehaviorDEPOT), where the kinematics lack the height that
    tells rearing in 3D; on 3D keypoints and on video features they cost the merged
    ethogram on the eval's sessions (docs/segment.md), so there they are off.
    """
    opts = env.options
    if env.inputs.feature_source != "video" and points.shape[-1] == 2:
        return opts
    return opts.model_copy(
        update={"pose_components": 0, "cluster_dwell_s": 0.0, "dec_pretrain_steps": 0}
    )


def _cluster_features(
    env: SegmentEnv, opts: SegmentOptions, feats: Features, points: NDArray[np.float64]
) -> Features:
    """What DEC clusters: pose features with the egocentric pose (``opts``), or as they are.

    With ``pose_components`` 0, ``feats`` as they are; video features without the
    captioner's own columns (``clustered_video_features``).
    """
    inputs = env.inputs
    if inputs.feature_source == "video":
        return clustered_video_features(feats)
    if opts.pose_components == 0:
        return feats
    components = env.runtime.tool(
        "compute_pose_components",
        compute_pose_components,
        points,
        fps=inputs.fps,
        keypoints=inputs.keypoint_names,
        layout=feats.layout,
        n_components=opts.pose_components,
        max_gap_s=opts.max_gap_s,
    )
    return cluster_features(feats, components, context_window_s=opts.context_window_s)


def _smoothed_labels(
    env: SegmentEnv, opts: SegmentOptions, soft: NDArray[np.float64], index: NDArray[np.int64]
) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
    """Per-frame clusters ``(frames, animals)`` (-1 = none) and their soft confidence.

    Each animal's soft assignments are decoded by the sticky HMM of
    ``smooth_assignments`` (``cluster_dwell_s``); the confidence is the soft assignment
    of the cluster kept.
    """
    frames, animals = env.inputs.frames, len(env.inputs.animals)
    q = np.full((frames, animals, soft.shape[1]), np.nan)
    q[index[:, 0], index[:, 1]] = soft
    dwell = max(1.0, opts.cluster_dwell_s * env.inputs.fps)
    labels = np.stack(
        [
            env.runtime.tool("smooth_assignments", smooth_assignments, q[:, a], dwell)
            for a in range(animals)
        ],
        axis=1,
    )
    picked = np.take_along_axis(q, np.maximum(labels, 0)[..., None], axis=2)[..., 0]
    confidence = np.where(labels >= 0, picked, np.nan)
    return labels, confidence


def _warn(rt: Runtime, warnings: list[str], message: str) -> None:
    rt.tracer.event("warning", message=message)
    warnings.append(message)


def _describe(c: Caption) -> str:
    social = "" if c.social_interaction.startswith("none") else f"; {c.social_interaction}"
    return f"{c.posture}, {c.direction}, speed {c.speed}{social}"


def _all_caption_records(run: Run, n_chunks: int) -> list[dict[str, Any]]:
    """Every caption record of the run (``captions_NNNN.json`` artifacts), in order."""
    return [
        r for i in range(n_chunks) for r in read_json(run.artifacts_dir / f"captions_{i:04d}.json")
    ]


def _merge_pieces(run: Run, n_chunks: int, animal: int) -> tuple[list[Caption], list[Epoch]]:
    """An animal's snippet captions, in time order, and one epoch per snippet from each."""
    records = _all_caption_records(run, n_chunks)
    mine = sorted((r for r in records if r["animal"] == animal), key=lambda r: r["start"])
    captions = [Caption.model_validate(r["caption"]) for r in mine]
    pieces = [
        Epoch(
            start=r["start"],
            stop=r["stop"],
            label=c.label,
            description=_describe(c),
            confidence=c.confidence,
            cluster=r["cluster"] if r["cluster"] >= 0 else None,
        )
        for r, c in zip(mine, captions, strict=True)
    ]
    return captions, pieces


def _caption_records(
    items: Sequence[tuple[str, SnippetItem]],
    outcomes: Sequence[ItemOutcome[CaptionProposal]],
    by: dict[str, int],
    flagged: list[str],
    captioner: str,
) -> list[dict[str, Any]]:
    """One record per captioned snippet; a flagged one gets its cheap caption.

    Counts each snippet's route into ``by`` and appends flagged items to ``flagged``;
    ``captioner`` names the cheap captioner in ``CAPTIONERS``.
    """
    records = []
    for (item_id, item), o in zip(items, outcomes, strict=True):
        if o.status == "accepted" and o.output is not None:
            cap, source = o.output.caption, o.output.source
        else:
            cap, source = CAPTIONERS[captioner](item.kinematics).caption, "kinematics"
            flagged.append(f"caption {item_id}")
        route = "model" if source == "model" else source.replace(" (escalation)", "_fallback")
        by[route] = by.get(route, 0) + 1
        records.append(
            {
                "animal": item.animal,
                "start": item.snippet.start,
                "stop": item.snippet.stop,
                "cluster": item.snippet.cluster,
                "caption": cap.model_dump(),
                "source": route,
                "status": o.status,
                "attempts": o.attempts,
                "model_calls": o.model_calls,
            }
        )
    return records


def _ethogram_checks(
    env: SegmentEnv, final: Sequence[Epoch], vocabulary: dict[str, str]
) -> list[CheckResult]:
    """Check an animal's final ethogram and record the checks in the trace.

    The first four are the tiling checks (gaps, overlaps, bounds) and the vocabulary; the
    minimum epoch duration follows where the session is long enough for one.
    """
    checks = [
        *check_tiling(final, env.inputs.frames),
        check_vocabulary(final, list(vocabulary)),
    ]
    if env.inputs.frames >= env.min_epoch:
        checks.append(check_min_duration(final, env.min_epoch))
    for c in checks:
        env.runtime.tracer.check(c)
    return checks


# --- nodes ---------------------------------------------------------------------------------


def _load_keypoints(env: SegmentEnv, warnings: list[str]) -> NDArray[np.float64]:
    """Read and mask the keypoints, warn about untracked stretches; return the points."""
    rt, inputs, opts = env.runtime, env.inputs, env.options
    data = rt.tool("read_keypoints", _read, inputs)
    points, glitches = rt.tool("mask_implausible_points", mask_implausible_points, data.points)
    if glitches:
        _warn(
            rt,
            warnings,
            f"{glitches} keypoint position(s) of {inputs.keypoints} are infinite or "
            f"more than {IMPLAUSIBLE_SPREAD:g} times the session's spread away "
            "(tracking or export glitches); they are treated as missing.",
        )
    feats: Features = rt.tool("compute_features", _features, inputs, points)
    for name, n in feats.report["masked_frames"].items():
        if n == inputs.frames:
            _warn(
                rt,
                warnings,
                f"{name}: no frame has the keypoints the body layout "
                f"{inputs.layout!r} needs ({', '.join(feats.layout.names())}); "
                "its whole timeline is labelled 'untracked'.",
            )
        elif n > opts.nan_warning * inputs.frames:
            _warn(
                rt,
                warnings,
                f"{name}: {n} of {inputs.frames} frames ({n / inputs.frames:.0%}) have "
                "no features (keypoints missing for longer than the "
                f"{opts.max_gap_s:g} s gap filling); they are not clustered and "
                "snippets made mostly of them are captioned 'untracked'.",
            )
    if not feats.valid.any():
        empty = [
            k
            for k, col in zip(inputs.keypoint_names, np.moveaxis(points, 2, 0), strict=True)
            if np.isnan(col).all()
        ]
        never = f" ({', '.join(empty)} never tracked)" if empty else ""
        raise InputError(
            f"no frame of {inputs.keypoints} has every keypoint the body layout "
            f"{inputs.layout!r} needs ({', '.join(feats.layout.names())})"
            f"{never}; nothing can be clustered.",
            fix="check the keypoint file (are the keypoints all NaN?), or pass a "
            "layout naming keypoints that are tracked.",
        )
    result: NDArray[np.float64] = points
    return result


def _load_video(
    env: SegmentEnv, points: NDArray[np.float64] | None, warnings: list[str]
) -> tuple[NDArray[np.float64], dict[str, Any]]:
    """Track the video's blobs (save ``blobs``); return the points and the identity record.

    Video-only runs get the blob centres as their points; with keypoints of several
    animals the blobs are given to the keypoint individuals frame by frame.
    """
    rt, run, inputs = env.runtime, env.run, env.inputs
    tracks, cached = rt.tool("track_blobs", track_video, rt, inputs)
    identity = {**tracks.identity_report(), "cached": cached}
    if points is not None and len(inputs.animals) > 1:
        tracks = rt.tool("match_to_keypoints", match_to_keypoints, tracks, points)
        identity["note"] = (
            "identities from the keypoints: each frame's blobs are given to the keypoint "
            "individuals by position (" + identity["note"] + ")"
        )
    run.save_arrays("blobs", **tracks.arrays())
    if env.options.video_embeddings:
        emb = rt.tool("embed_crops", embed_video, rt, inputs, tracks)
        run.save_arrays("embeddings", embeddings=emb)
        identity["embeddings"] = "EfficientNet-Lite0, animal-centred crops at 10 fps"
    lost = [
        (name, n)
        for name, n in zip(inputs.animals, identity["detected_frames"], strict=True)
        if n < (1 - env.options.nan_warning) * inputs.frames
    ]
    for name, n in lost:
        _warn(
            rt,
            warnings,
            f"{name}: a blob was found in only {n} of {inputs.frames} frames of "
            f"{inputs.video}; where it vanished after being seen it is taken to be still "
            "where it was last seen (an animal still for long merges into the background), "
            "and frames before it was first seen are not clustered.",
        )
    if len(inputs.animals) > 1 and identity["merge_episodes"]:
        _warn(rt, warnings, f"video identity tracking: {identity['note']}.")
    return (blob_points(tracks) if points is None else points), identity


def load(state: SegmentState, env: SegmentEnv) -> dict[str, Any]:
    """Read the keypoints and/or track the video, compute features; save ``points``."""
    rt, run, inputs = env.runtime, env.run, env.inputs
    t0 = time.perf_counter()
    warnings: list[str] = list(inputs.warnings)
    identity: dict[str, Any] = {}
    with rt.tracer.scope(node="load"):
        points = None if inputs.feature_source == "video" else _load_keypoints(env, warnings)
        if inputs.feature_source != "keypoints":
            points, identity = _load_video(env, points, warnings)
        assert points is not None
        run.save_arrays("points", points=points)
        feats = _session_features(env, points)
    rt.report_progress("load", 1, 1)
    return {
        "frames": inputs.frames,
        "animals": inputs.animals,
        "fps": inputs.fps,
        "features": list(feats.names),
        "nan_report": feats.report,
        "identity": identity,
        "warnings": warnings,
        "timings": add_timing(state, "load", t0),
    }


async def cluster(state: SegmentState, env: SegmentEnv) -> dict[str, Any]:
    """DEC over every (frame, animal) row with features; save ``clusters`` labels."""
    rt, run, inputs = env.runtime, env.run, env.inputs
    t0 = time.perf_counter()
    warnings = list(state.get("warnings", []))
    points = run.load_arrays("points")["points"]
    opts = _cluster_options(env, points)
    feats = _cluster_features(env, opts, _session_features(env, points), points)
    x, index = feats.matrix()
    if len(x) < opts.k:
        raise InputError(
            f"only {len(x)} (frame, animal) rows of {inputs.keypoints or inputs.video} have "
            "features, "
            f"fewer than k={opts.k} clusters.",
            fix="pass a smaller --k or a longer recording.",
        )
    fits = 2 if opts.check_stability else 1
    total = fits * (dec_config(opts, opts.seed, len(x)).pretrain_epochs + opts.dec_cluster_iters)

    def progress(stage: str, step: int, steps: int) -> None:
        rt.report_progress("clustering (DEC)", 1, total)

    stage = make_cluster_stage(opts, progress)
    with rt.tracer.scope(node="cluster"):
        outcome = await run_item(
            stage, "clusters", x, client=rt.client, tracer=rt.tracer, supervisor=rt.supervisor
        )
    if outcome.output is None:  # fit_dec raised: the trace has the error
        source = inputs.keypoints or inputs.video
        raise RuntimeError(f"DEC failed on {source}: {outcome.flag_reason}")
    result, used_seed = outcome.output.result, outcome.output.seed
    if outcome.status != "accepted":
        with rt.tracer.scope(node="cluster"):
            _warn(rt, warnings, f"clusters: {outcome.checks[0].message} (kept anyway)")
    ari: float | None = None
    stable: bool | None = None
    if opts.check_stability:
        with rt.tracer.scope(node="cluster", item="stability"):
            fit_with_progress = functools.partial(fit_dec, progress=progress)
            cfg = dec_config(opts, used_seed + 1, len(x))
            other = rt.tool("fit_dec", fit_with_progress, x, config=cfg)
            ari = rt.tool("assignment_stability", assignment_stability, result.labels, other.labels)
            check = check_stability(float(ari), opts.stability_ari)
            rt.tracer.check(check)
            stable = check.passed
            if not check.passed:
                _warn(rt, warnings, f"stability: {check.message} (reported, not fatal)")
    labels, confidence = _smoothed_labels(env, opts, result.soft, index)
    run.save_arrays("clusters", labels=labels, confidence=confidence)
    counts = np.bincount(labels[labels >= 0], minlength=opts.k)
    return {
        "clusters": {
            "k": opts.k,
            "seed": used_seed,
            "rows": len(x),
            "status": outcome.status,
            "check": outcome.checks[0].message if outcome.checks else "",
            "ari_between_seeds": None if ari is None else round(float(ari), 4),
            "stability_passed": stable,
            "iterations": result.iterations,
            "max_iterations": opts.dec_cluster_iters,
            "converged": result.converged,
            "final_label_change": (
                round(result.label_changes[-1], 6) if result.label_changes else None
            ),
            "tolerance": dec_config(opts, used_seed, len(x)).tol,
            "features": len(feats.names),
            "dwell_s": opts.cluster_dwell_s,
            "usage": [int(c) for c in counts],
        },
        "warnings": warnings,
        "timings": add_timing(state, "cluster", t0),
    }


def snippets(state: SegmentState, env: SegmentEnv) -> dict[str, Any]:
    """Cut each animal's cluster labels into snippets with kinematics (``snippets.json``)."""
    rt, run, inputs, opts = env.runtime, env.run, env.inputs, env.options
    t0 = time.perf_counter()
    points = run.load_arrays("points")["points"]
    labels = run.load_arrays("clusters")["labels"]
    # summaries say "not tracked" for an absent partner, not the clustering's fill
    feats = _session_features(env, points, fill_absent_partner=False)
    base = kinematic_baselines(feats)
    video = inputs.feature_source == "video"
    captioner = caption_from_blob_kinematics if video else caption_from_kinematics
    # a blob's 0.5 s windows carry its ethogram: split at each change (docs/segment.md)
    split_s = min(opts.split_snippet_s, BLOB_SPLIT_S) if video else opts.split_snippet_s
    # video of several animals: how much of each snippet the animal spent in contact
    contact = run.load_arrays("blobs")["merged"] if video and len(inputs.animals) > 1 else None
    rows: list[dict[str, Any]] = []
    with rt.tracer.scope(node="snippets"):
        for a, name in enumerate(inputs.animals):
            cut = rt.tool(
                "cut_snippets",
                cut_snippets,
                labels[:, a],
                inputs.fps,
                min_s=opts.min_snippet_s,
                max_s=opts.max_snippet_s,
            )
            if split_s > 0:
                per_frame = classify_frames(feats, a, base, captioner=captioner)
                names = sorted(set(per_frame))
                codes = np.searchsorted(names, per_frame)
                cut = rt.tool(
                    "split_snippets",
                    split_snippets,
                    cut,
                    codes,
                    inputs.fps,
                    min_s=min(split_s, opts.max_snippet_s),
                )
            for s in cut:
                kin = summarize_snippet(feats, a, s.start, s.stop, base)
                if contact is not None:
                    share = float(contact[s.start : s.stop, a].mean())
                    kin = kin.model_copy(update={"contact": round(share, 4)})
                rows.append(
                    {
                        "animal": a,
                        "name": name,
                        "snippet": s.model_dump(),
                        "kinematics": kin.model_dump(),
                    }
                )
    write_json(run.artifacts_dir / "snippets.json", rows)
    size = max(opts.caption_chunk, -(-len(rows) // MAX_CAPTION_STEPS))
    return {
        "n_snippets": len(rows),
        "chunk": 0,
        "chunk_size": size,
        "n_chunks": -(-len(rows) // size),
        "captioned_by": {},
        "flagged": [],
        "model_calls": {"caption": 0, "merge": 0},
        "timings": add_timing(state, "snippets", t0),
    }


async def caption(state: SegmentState, env: SegmentEnv) -> dict[str, Any]:
    """Caption one chunk of snippets (``captions_NNNN.json``); advance ``chunk``."""
    rt, run, inputs, opts = env.runtime, env.run, env.inputs, env.options
    t0 = time.perf_counter()
    rows = read_json(run.artifacts_dir / "snippets.json")
    i, size = state["chunk"], state["chunk_size"]
    part = rows[i * size : (i + 1) * size]
    # a vlm role declared without image or video input gets the measurements as text only
    capabilities = rt.settings.role("vlm").capabilities
    online = rt.client.backend != "offline"
    wants_images = online and capabilities.image_input
    has_video = inputs.video is not None
    points = run.load_arrays("points")["points"]
    media = SnippetMedia(inputs, points) if wants_images or has_video else None
    caption_env = CaptionEnv(
        options=opts,
        fps=inputs.fps,
        wants_images=wants_images,
        wants_video=online and capabilities.video_input and has_video,
        has_video=has_video,
        sheet=media.sheet if media is not None else no_sheet,
        clip=media.clip if media is not None else None,
        # whole-frame pixel motion tells one animal's, not which of several animals moved
        motion=media.motion if media is not None and len(inputs.animals) == 1 else None,
        captioner="blob" if inputs.feature_source == "video" else "kinematics",
    )
    items = [
        (
            f"{r['name']} {r['snippet']['start']}-{r['snippet']['stop']}",
            SnippetItem(
                animal=r["animal"],
                name=r["name"],
                snippet=Snippet.model_validate(r["snippet"]),
                kinematics=SnippetKinematics.model_validate(r["kinematics"]),
            ),
        )
        for r in part
    ]
    try:
        outcomes = await run_stage(
            make_caption_stage(caption_env),
            items,
            client=rt.client,
            tracer=rt.tracer,
            supervisor=rt.supervisor,
            concurrency=opts.concurrency,
            on_done=lambda _o: rt.report_progress("captioning", 1, state["n_snippets"]),
        )
    finally:
        if media is not None:
            media.close()
    by = dict(state.get("captioned_by", {}))
    flagged = list(state.get("flagged", []))
    records = _caption_records(items, outcomes, by, flagged, caption_env.captioner)
    write_json(run.artifacts_dir / f"captions_{i:04d}.json", records)
    calls = dict(state["model_calls"])
    calls["caption"] = calls.get("caption", 0) + sum(o.model_calls for o in outcomes)
    return {
        "chunk": i + 1,
        "captioned_by": by,
        "flagged": flagged,
        "model_calls": calls,
        "animal": 0,
        "vocabulary": dict(state.get("vocabulary", {})),
        "epochs": dict(state.get("epochs", {})),
        "merge_routes": dict(state.get("merge_routes", {})),
        "timings": add_timing(state, "caption", t0),
    }


def more_captions(state: SegmentState) -> str:
    """The next node after a caption chunk: ``caption`` again or ``merge``."""
    return "caption" if state["chunk"] < state["n_chunks"] else "merge"


async def merge(state: SegmentState, env: SegmentEnv) -> dict[str, Any]:
    """Merge one animal's captions into epochs (``epochs_NNN.json``); advance ``animal``."""
    rt, run, inputs, opts = env.runtime, env.run, env.inputs, env.options
    min_epoch = env.min_epoch
    t0 = time.perf_counter()
    a = state["animal"]
    name = inputs.animals[a]
    captions, pieces = _merge_pieces(run, state["n_chunks"], a)
    vocabulary = dict(state.get("vocabulary", {}))
    routes = dict(state.get("merge_routes", {}))
    flagged = list(state.get("flagged", []))
    windows = plan_windows(len(pieces), opts.merge_window, opts.merge_overlap)
    parts: list[tuple[int, int, Sequence[Epoch]]] = []
    calls = 0
    stage = make_merge_stage()
    for w, (i0, i1) in enumerate(windows, start=1):
        win = MergeWindow(
            animal=name,
            start=pieces[i0].start,
            stop=pieces[i1 - 1].stop,
            pieces=pieces[i0:i1],
            captions=captions[i0:i1],
            vocabulary=dict(vocabulary),
            min_frames=min_epoch,
            fps=inputs.fps,
        )
        item = f"{name} window {w}/{len(windows)}"
        o = await run_item(
            stage, item, win, client=rt.client, tracer=rt.tracer, supervisor=rt.supervisor
        )
        calls += o.model_calls
        if o.status == "accepted" and o.output is not None:
            proposal = o.output
            route = "model" if proposal.source == "model" else "rules_fallback"
        else:
            proposal = rule_merge(win.pieces, min_epoch, win.vocabulary)
            route = "rules_fallback"
            flagged.append(f"merge {item}")
        routes[route] = routes.get(route, 0) + 1
        for label, definition in proposal.vocabulary.items():
            vocabulary.setdefault(label, definition)
        parts.append((win.start, win.stop, proposal.epochs))
        rt.report_progress("merging", 1, len(windows) * len(inputs.animals))
    with rt.tracer.scope(node="merge", item=name):
        stitched = rt.tool(
            "stitch_windows", stitch_windows, parts, boundaries=[p.start for p in pieces]
        )
        tidy = rt.tool("merge_epochs", merge_epochs, stitched, min_epoch)
        labels = run.load_arrays("clusters")["labels"][:, a]
        final = [
            e.model_copy(update={"cluster": majority_cluster(labels, e.start, e.stop)})
            for e in tidy
        ]
        for vocab_label in {e.label for e in final} - set(vocabulary):
            vocabulary[vocab_label] = DEFINITIONS.get(vocab_label, vocab_label)
        checks = _ethogram_checks(env, final, vocabulary)
    if not all(c.passed for c in checks[:4]):
        raise RuntimeError(
            f"the ethogram of {name} does not tile its {inputs.frames} frames: "
            + "; ".join(c.message for c in checks[:4] if not c.passed)
        )
    write_json(run.artifacts_dir / f"epochs_{a:03d}.json", [e.model_dump() for e in final])
    model_calls = dict(state["model_calls"])
    model_calls["merge"] = model_calls.get("merge", 0) + calls
    epochs = dict(state.get("epochs", {}))
    epochs[name] = len(final)
    return {
        "animal": a + 1,
        "vocabulary": vocabulary,
        "merge_routes": routes,
        "flagged": flagged,
        "model_calls": model_calls,
        "epochs": epochs,
        "timings": add_timing(state, "merge", t0),
    }


def more_animals(state: SegmentState, env: SegmentEnv) -> str:
    """The next node after an animal's merge: ``merge`` again or ``report``."""
    return "merge" if state["animal"] < len(env.inputs.animals) else "report"


def report(state: SegmentState, env: SegmentEnv) -> dict[str, Any]:
    """Write the run's outputs (``graphs.segment.report``)."""
    return {"outputs": write_segment_outputs(env.runtime, env.inputs, state)}
