"""The classify graph's node functions: each takes the graph state and a ``ClassifyGraphEnv``.

``graphs.classify.graph`` binds the env with ``functools.partial`` and wires the nodes
(prepare -> classify* -> smooth -> report); a node can be called alone on a small state.
Arrays live in the run's artifact store; each node returns its state update. The checked
model stage the ``classify`` node runs per window is in ``graphs.classify.stages``.
"""

from __future__ import annotations

import math
import re
import time
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ethoagent.errors import InputError
from ethoagent.graphs.classify.inputs import (
    ClassifyInputs,
    ClassifyState,
    ExampleSession,
    query_windows,
)
from ethoagent.graphs.classify.options import ClassifyOptions, effective_budget
from ethoagent.graphs.classify.report import write_classify_outputs
from ethoagent.graphs.classify.stages import (
    ClassifyEnv,
    WindowItem,
    final_probabilities,
    kin_text,
    make_classify_stage,
)
from ethoagent.graphs.kit.env import NodeEnv
from ethoagent.graphs.kit.node_io import add_timing, read_json, write_json
from ethoagent.graphs.kit.nodes import ItemOutcome, run_stage
from ethoagent.graphs.kit.runtime import Runtime
from ethoagent.io.keypoints import read_keypoints
from ethoagent.io.video import VideoReader
from ethoagent.tools.classify import (
    example_windows,
    immobility_seconds,
    kinematic_vector,
    median_smooth,
    smooth_hmm,
    standardise,
    still_seconds_from_motion,
)
from ethoagent.tools.detector_pool import common_names, pool_features, select_features
from ethoagent.tools.detectors import (
    Detector,
    DetectorFeatures,
    DetectorPrediction,
    detector_features,
    fit_detector,
    window_uncertainty,
)
from ethoagent.tools.features import Features, compute_features, layout_named
from ethoagent.tools.preprocess import (
    IMAGE_FEATURES,
    estimate_background,
    preprocess_window,
    render_keypoints,
    viewport_around,
)
from ethoagent.tools.sheets import skeleton_edges

MAX_CLASSIFY_STEPS = 40
"""Query windows are chunked so that a session takes at most this many ``classify`` steps."""
SEMANTIC = ("motion", "displacement", "elongation")
"""Image features the definitions' prototypes read (``tools.classify.definition_logits``)."""


class ClassifyGraphEnv(NodeEnv[ClassifyInputs, ClassifyOptions]):
    """The classify nodes' ``NodeEnv`` (runtime, resolved session, options, run)."""


# --------------------------------------------------------------------------- images


class _WindowImages:
    """The image of a window as the model sees it: from the video, or drawn from keypoints."""

    def __init__(
        self, inputs: ClassifyInputs, points: NDArray[np.float64], body_length: float
    ) -> None:
        self.inputs = inputs
        self.points = points
        self.reader = VideoReader(inputs.video) if inputs.video is not None else None
        self.edges = skeleton_edges(points)
        self.background: NDArray[np.uint8] | None = None
        if self.reader is not None and inputs.dims != 2:
            n = len(self.reader)
            picks = np.unique(np.linspace(0, n - 1, min(25, n)).round().astype(int))
            self.background = estimate_background([self.reader[int(i)] for i in picks])
        # drawings: the whole arena at a scale where a body is ~60 px long
        flip = inputs.dims == 3
        scale = 60.0 / body_length if math.isfinite(body_length) and body_length > 0 else 1.0
        xy = points[..., :2].reshape(-1, 2)
        ok = np.isfinite(xy).all(axis=1)
        extent = float(np.max(xy[ok].max(axis=0) - xy[ok].min(axis=0))) if ok.any() else 1.0
        size = int(np.clip(extent * scale * 1.2, 64, 1024))
        self.arena = viewport_around(points[..., :2], size, margin=0.1, flip_y=flip)
        side = inputs.options.crop_body_lengths
        ok_bl = math.isfinite(body_length) and body_length > 0
        # the crop side in the pixels of what is cropped: drawings or 2D video frames
        if self.reader is None:
            self.side_px: float | None = side * body_length * self.arena.scale if ok_bl else None
        else:
            self.side_px = side * body_length if ok_bl and inputs.dims == 2 else None

    def close(self) -> None:
        if self.reader is not None:
            self.reader.close()

    def frames_of(self, start: int, stop: int) -> list[int]:
        n = self.inputs.options.strip_frames
        return sorted({round(v) for v in np.linspace(start, max(start, stop - 1), n)})

    def __call__(
        self, animal: int, start: int, stop: int
    ) -> tuple[NDArray[np.uint8], NDArray[np.float64]]:
        """``(image RGB, image features)`` of ``[start, stop)`` of ``animal``."""
        opts = self.inputs.options
        idx = self.frames_of(start, stop)
        seconds = (idx[-1] - idx[0]) / self.inputs.fps
        if self.reader is not None:
            frames = [self.reader[i] for i in idx]
            kp = self.points[idx, animal, :, :2] if self.inputs.dims == 2 else None
            bg = self.background
        else:
            frames = [
                render_keypoints(self.points[i], self.edges, self.arena, focal=animal) for i in idx
            ]
            kp = self.arena.to_pixels(self.points[idx, animal, :, :2])
            bg = None
        out = preprocess_window(
            frames,
            fps=self.inputs.fps,
            seconds=seconds,
            keypoints_xy=kp,
            background=bg,
            size=opts.image_size,
            preprocess=opts.preprocess,
            captions=[f"frame {i}" for i in idx],
            side_px=self.side_px,
        )
        return out.image, out.features


# --------------------------------------------------------------------------- helpers


def _features(inputs: ClassifyInputs, points: NDArray[np.float64]) -> Features:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return compute_features(
            points,
            fps=inputs.fps,
            keypoints=inputs.keypoint_names,
            individuals=inputs.animals,
            layout=layout_named(inputs.layout, inputs.keypoint_names),
            window_s=inputs.options.feature_window_s,
            max_gap_s=inputs.options.max_gap_s,
        )


def _session_detector(
    rt: Runtime, inputs: ClassifyInputs, points: NDArray[np.float64], feats: Features
) -> tuple[Detector, DetectorPrediction] | None:
    """The classical detector fitted on the examples and its prediction; None without any.

    Examples of other sessions (``example_sessions``) are pooled with this session's
    (``tools.detector_pool``), each session's features at its own frame rate.
    """
    taught = inputs.example_sessions
    if not inputs.examples and not taught:
        return None
    args = {
        "examples": len(inputs.examples) + sum(len(t.examples) for t in taught),
        "classes": len(inputs.classes),
        "sessions": 1 + len(taught),
    }
    with rt.tracer.timed_tool("fit_detector", args) as call, warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        dfeats = detector_features(
            points,
            fps=inputs.fps,
            keypoints=inputs.keypoint_names,
            individuals=inputs.animals,
            layout=feats.layout,
            units_per_cm=inputs.units_per_cm,
        )
        train, clips = dfeats, list(inputs.examples)
        if taught:
            others = [_taught_features(t) for t in taught]
            names = common_names([dfeats, *others])
            dfeats = select_features(dfeats, names)
            sessions = ([dfeats] if clips else []) + [select_features(f, names) for f in others]
            train, clips = pool_features(
                sessions, ([clips] if clips else []) + [t.examples for t in taught]
            )
        detector = fit_detector(train, clips, inputs.classes)
        pred = detector.predict(dfeats)
        call.result = repr(detector)
    return detector, pred


def _taught_note(inputs: ClassifyInputs) -> list[str]:
    """The report's line naming the sessions the examples came from (none: empty)."""
    if not inputs.example_sessions:
        return []
    return [
        f"examples taken from other sessions: {inputs.examples_file}. The detector was "
        "fitted on their features (each at its own frame rate) and cross-validated on "
        "their clips; no frame of this session was scored against labels."
    ]


def _taught_features(session: ExampleSession) -> DetectorFeatures:
    """Detector features of a labelled session of ``--examples-from``, at its own rate."""
    data = read_keypoints(
        session.keypoints, fps=session.fps, format=session.format, skeleton=session.skeleton
    )
    return detector_features(
        np.asarray(data.points, dtype=np.float64),
        fps=session.fps,
        keypoints=session.keypoint_names,
        individuals=session.animals,
        layout=layout_named(session.layout, session.keypoint_names),
    )


def model_windows(uncertainty: NDArray[np.float64], budget: float) -> NDArray[np.bool_]:
    """The windows the model is asked about: the most uncertain ``budget`` share.

    Args:
        uncertainty: ``(windows,)`` float64 in [0, 1], the detector's per window; NaN
            (untracked) counts as the most uncertain.
        budget: the share of windows that may go to the model, in [0, 1].

    Returns:
        ``(windows,)`` bool: the ``floor(budget * windows)`` most uncertain windows (the
        ones at or above the ``1 - budget`` quantile of the uncertainty; ties broken by
        window order, so the budget is never exceeded).
    """
    u = np.nan_to_num(np.asarray(uncertainty, dtype=np.float64), nan=2.0)
    n = math.floor(budget * u.size + 1e-9)
    out = np.zeros(u.size, dtype=bool)
    out[np.argsort(-u, kind="stable")[:n]] = True
    return out


def pin_reviewed(
    inputs: ClassifyInputs,
    queries: Sequence[tuple[int, int, int]],
    det_labels: NDArray[np.int64],
    det_proba: NDArray[np.float64],
    uncertainty: NDArray[np.float64],
    to_model: NDArray[np.bool_],
) -> NDArray[np.bool_]:
    """Give the query windows a person labelled (``inputs.reviewed``) the person's label.

    Changes in place: their frames' detector labels ``(frames, animals)`` and probabilities
    ``(frames, animals, classes)`` (one-hot), their uncertainty (0) and ``to_model``
    (False: no model is asked about a window a person labelled).

    Returns:
        ``(queries,)`` bool, True for a window a person labelled.
    """
    mask = np.zeros(len(queries), dtype=bool)
    by_span = {(e.animal, e.start, e.stop): e.label for e in inputs.reviewed}
    for r, span in enumerate(queries):
        label = by_span.get(span)
        if label is None:
            continue
        a, s, e = span
        c = inputs.classes.index(label)
        det_labels[s:e, a] = c
        det_proba[s:e, a] = np.eye(len(inputs.classes))[c]
        uncertainty[r] = 0.0
        to_model[r] = False
        mask[r] = True
    return mask


def _route_windows(
    inputs: ClassifyInputs,
    fitted: tuple[Detector, DetectorPrediction] | None,
    queries: Sequence[tuple[int, int, int]],
    shape: tuple[int, ...],
    budget: float,
) -> tuple[
    NDArray[np.int64], NDArray[np.float64], NDArray[np.float64], NDArray[np.bool_], dict[str, Any]
]:
    """Route the query windows: the detector's answer, or the model's when unsure.

    Returns:
        ``(detector labels (frames, animals), detector probabilities (frames, animals,
        classes), uncertainty (queries,), to the model (queries,), summary)``.
    """
    frames, n_a = shape
    if fitted is None:
        unc = np.ones(len(queries))
        meta: dict[str, Any] = {
            "model_budget": 1.0,
            "chosen": None,
            "warnings": ["no labelled examples: no detector was fitted; every window went "
                         "to the model."],
        }  # fmt: skip
        return (
            np.zeros((frames, n_a), dtype=np.int64),
            np.zeros((frames, n_a, len(inputs.classes))),
            unc,
            np.ones(len(queries), dtype=bool),
            meta,
        )
    detector, pred = fitted
    per = window_uncertainty(pred.uncertainty, [(s, e) for _, s, e in queries])
    unc = np.asarray([per[r, a] for r, (a, _, _) in enumerate(queries)], dtype=np.float64)
    to_model = model_windows(unc, budget)
    if inputs.options.windows_by == "random":
        pick = np.random.default_rng(0).permutation(unc.size)[: int(to_model.sum())]
        to_model = np.isin(np.arange(unc.size), pick)
    cv = detector.cv_report
    names = dict(enumerate(inputs.animals))
    warn = [
        re.sub(r"^animal (\d+) ", lambda m: f"animal {names[int(m[1])]!r} ", w)
        for w in cv["warnings"]
    ]
    meta = {
        "model_budget": budget,
        "windows_by": inputs.options.windows_by,
        "uncertainty_cutoff": float(unc[to_model].min()) if to_model.any() else None,
        **{k: cv[k] for k in ("chosen", "rule_cv_macro_f1", "detector_cv_macro_f1")},
        **{k: cv[k] for k in ("model_cv_macro_f1", "rule_better", "folds", "candidates")},
        **{k: cv[k] for k in ("published_cv_macro_f1", "published_better", "published_ruler")},
        "detector": repr(detector),
        "warnings": warn,
    }
    return pred.labels, pred.proba, unc, to_model, meta


# --------------------------------------------------------------------------- nodes


def _read_points(inputs: ClassifyInputs) -> NDArray[np.float64]:
    """``(frames, animals, keypoints, dims)`` float64 of the session, checked unchanged."""
    data = read_keypoints(
        inputs.keypoints, fps=inputs.fps, format=inputs.format, skeleton=inputs.skeleton
    )
    if data.frames != inputs.frames or list(data.individuals) != inputs.animals:
        raise InputError(
            f"{inputs.keypoints} changed since the run started.",
            fix="start a new run for the new file.",
        )
    return np.asarray(data.points, dtype=np.float64)


def _no_video_warning(rt: Runtime, inputs: ClassifyInputs) -> list[str]:
    """The report's warning (and a trace event) when the frames are drawn from keypoints."""
    if inputs.video is not None:
        return []
    rt.tracer.event(
        "warning",
        message="no video: the frames the model sees are drawn from the keypoints "
        "(skeleton in the arena)",
    )
    return [
        "No video: every frame shown to the model was drawn from the keypoints "
        "(skeleton in the arena), not filmed."
    ]


def _window_vectors(
    env: ClassifyGraphEnv,
    images: _WindowImages,
    feats: Features,
    spans: Sequence[tuple[int, int, int]],
    n_queries: int,
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    """The image features and keypoint summaries of each span; closes ``images``.

    Returns:
        Per span ``(animal, start, stop)`` (the first ``n_queries`` are the query
        windows): ``(image features (spans, IMAGE_FEATURES), kinematic vector (spans, k),
        named (spans, 4): speed, speed p90, immobile s, still s by frame difference)``.
    """
    rt, inputs, opts = env.runtime, env.inputs, env.options
    immobile = immobility_seconds(feats)
    img = np.zeros((len(spans), len(IMAGE_FEATURES)))
    named = np.full((len(spans), 4), np.nan)
    kin_rows = []
    try:
        with rt.tracer.timed_tool(
            "preprocess_window", {"windows": len(spans), "preprocess": opts.preprocess}
        ):
            for i, (a, s, e) in enumerate(spans):
                _, img[i] = images(a, s, e)
                vec, nk = kinematic_vector(feats, immobile, a, s, e)
                kin_rows.append(vec)
                named[i, :3] = (nk["speed"], nk["speed_p90"], nk["immobile_s"])
                rt.report_progress("preprocessing", 1, len(spans))
    finally:
        images.close()
    kin = np.asarray(kin_rows, dtype=np.float64)
    if inputs.video is not None:  # immobility by frame difference, per animal
        moving = img[:n_queries, IMAGE_FEATURES.index("moving_fraction")]
        who = np.asarray([a for a, _, _ in spans[:n_queries]])
        for a in range(len(inputs.animals)):
            rows = np.flatnonzero(who == a)
            named[rows, 3] = still_seconds_from_motion(moving[rows], opts.window_s)
    return img, kin, named


def prepare(state: ClassifyState, env: ClassifyGraphEnv) -> dict[str, Any]:
    """Cut the session into query and example windows, describe each, route to the model.

    Saves the ``windows`` arrays (features, spans, the detector's per-frame labels and
    probabilities, uncertainty and ``to_model`` per query) and ``examples.json``; returns
    the counts, the chunking of the queries for ``classify`` and the detector's summary.
    """
    t0 = time.perf_counter()
    rt, inputs, opts, run = env.runtime, env.inputs, env.options, env.run
    points = _read_points(inputs)
    with rt.tracer.scope(node="prepare"):
        feats = _features(inputs, points)
        queries = query_windows(inputs)
        exs = example_windows(
            inputs.examples, inputs.step, max_per_class=opts.max_examples_per_class
        )
        exs += [e for e in inputs.reviewed if e not in exs]
        spans = [(a, s, e) for a, s, e in queries] + [(e.animal, e.start, e.stop) for e in exs]
        bl = (
            float(np.nanmedian(feats.body_length))
            if np.isfinite(feats.body_length).any()
            else math.nan
        )
        images = _WindowImages(inputs, points, bl)
        warn = [*inputs.warnings, *_no_video_warning(rt, inputs), *_taught_note(inputs)]
        img, kin, named = _window_vectors(env, images, feats, spans, len(queries))
        img_z = standardise(img)
        kin_z = standardise(kin)
        x = np.concatenate([img_z, kin_z], axis=1) if opts.kinematics_in_prompt else img_z
        sem_idx = [IMAGE_FEATURES.index(n) for n in SEMANTIC]
        det = _session_detector(rt, inputs, points, feats)
        budget = effective_budget(opts, rt.settings.backend)
        det_labels, det_proba, unc, to_model, det_meta = _route_windows(
            inputs, det, queries, points.shape[:2], budget
        )
        warn += det_meta["warnings"]
        reviewed = pin_reviewed(inputs, queries, det_labels, det_proba, unc, to_model)
        run.save_arrays(
            "windows",
            points=points,
            x=x,
            semantic=img_z[:, sem_idx],
            named=named,
            spans=np.asarray(spans, dtype=np.int64),
            n_queries=np.asarray(len(queries)),
            image_features=img,
            det_labels=det_labels,
            det_proba=det_proba,
            uncertainty=unc,
            to_model=to_model,
            reviewed=reviewed,
        )
        write_json(
            run.artifacts_dir / "examples.json",
            {"examples": [e.model_dump() for e in exs], "chosen": det_meta["chosen"]},
        )
    rt.report_progress("prepare", 1, 1)
    size = max(opts.chunk, -(-len(queries) // MAX_CLASSIFY_STEPS))
    return {
        "frames": inputs.frames,
        "windows": len(queries),
        "examples": len(exs),
        "example_counts": {c: sum(e.label == c for e in exs) for c in inputs.classes},
        "rendered": inputs.video is None,
        "warnings": warn,
        "chunk": 0,
        "chunk_size": size,
        "n_chunks": -(-len(queries) // size),
        "routes": {},
        "flagged": [],
        "model_calls": 0,
        "model_windows": int(to_model.sum()),
        "detector": det_meta,
        "timings": add_timing(state, "prepare", t0),
    }


def _stage_env(
    env: ClassifyGraphEnv, arr: Mapping[str, NDArray[Any]], meta: Mapping[str, Any]
) -> tuple[ClassifyEnv, _WindowImages | None]:
    """The classify stage's env and the window images it draws from.

    The images are None when the model sees none (offline, or a ``vlm`` role without
    image input); the caller closes them.
    """
    rt, inputs, opts = env.runtime, env.inputs, env.options
    nq = int(arr["n_queries"])
    spans, x = arr["spans"], arr["x"]
    ex_rows = list(range(nq, len(spans)))
    vlm_sees = rt.settings.role("vlm").capabilities.image_input
    wants_images = rt.client.backend != "offline" and vlm_sees
    images = None
    if wants_images:
        feats = _features(inputs, arr["points"])
        bl = float(np.nanmedian(feats.body_length))
        images = _WindowImages(inputs, arr["points"], bl)
    shown = (
        "the animal-centred, contrast-normalised frames in time order, then the middle "
        "frame with every pixel that moved in red"
        if opts.preprocess
        else "one raw frame"
    )
    drawn = (
        " (drawn from the tracked keypoints: there is no video)." if inputs.video is None else "."
    )
    stage_env = ClassifyEnv(
        inputs=inputs,
        example_features=x[ex_rows] if ex_rows else np.zeros((0, x.shape[1])),
        example_labels=[e["label"] for e in meta["examples"]],
        example_spans=[tuple(int(v) for v in spans[r]) for r in ex_rows],  # type: ignore[misc]
        wants_images=wants_images,
        image_of=_cached(images) if images is not None else None,
        notes={"images": "Each image shows one window: " + shown + drawn},
    )
    return stage_env, images


def _model_items(
    inputs: ClassifyInputs, arr: Mapping[str, NDArray[Any]], rows: range
) -> list[tuple[str, WindowItem]]:
    """``(item id, WindowItem)`` of the windows among ``rows`` that go to the model."""
    spans, x, sem, named = arr["spans"], arr["x"], arr["semantic"], arr["named"]
    items = []
    for r in rows:
        if not arr["to_model"][r]:
            continue
        a, s, e = (int(v) for v in spans[r])
        kin = {
            "speed": float(named[r, 0]),
            "speed_p90": float(named[r, 1]),
            "immobile_s": float(named[r, 2]),
            "frame_immobile_s": float(named[r, 3]),
        }
        item = WindowItem(
            row=r,
            animal=a,
            name=inputs.animals[a],
            start=s,
            stop=e,
            features=x[r],
            semantic={n: float(sem[r, j]) for j, n in enumerate(SEMANTIC)},
            kin=kin,
            kin_text=kin_text(kin),
        )
        items.append((f"{inputs.animals[a]} {s}-{e}", item))
    return items


def _model_records(
    items: Sequence[tuple[str, WindowItem]],
    outcomes: Sequence[ItemOutcome[Any]],
    env: ClassifyGraphEnv,
    routes: dict[str, int],
    flagged: list[str],
) -> list[dict[str, Any]]:
    """The records of the model's windows.

    Counts each route in ``routes`` and appends the flagged windows to ``flagged`` (both
    updated in place).
    """
    classes = env.inputs.classes
    records = []
    for (item_id, item), o in zip(items, outcomes, strict=True):
        probs = final_probabilities(o.output, o.status, classes, item, env.options.min_freezing_s)
        if o.status == "accepted" and o.output is not None:
            route = o.output.source.replace(" (escalation)", "_escalation")
        else:
            route = "flagged"
            flagged.append(f"window {item_id}")
        routes[route] = routes.get(route, 0) + 1
        records.append(
            {
                "row": item.row,
                "animal": item.animal,
                "start": item.start,
                "stop": item.stop,
                "probabilities": [probs[c] for c in classes],
                "source": route,
                "status": o.status,
                "attempts": o.attempts,
                "model_calls": o.model_calls,
                "reason": (o.output.reason if o.output is not None else o.flag_reason) or "",
            }
        )
    return records


async def classify(state: ClassifyState, env: ClassifyGraphEnv) -> dict[str, Any]:
    """Classify chunk ``state["chunk"]`` of the query windows (one checkpointed step).

    The detector answers the windows it is sure of; the others go to the classify stage.
    Writes ``windows_<chunk>.json`` (one record per window) and returns the next chunk,
    the route counts, the flagged windows and the model calls so far.
    """
    t0 = time.perf_counter()
    rt, inputs, run = env.runtime, env.inputs, env.run
    arr = run.load_arrays("windows")
    meta = read_json(run.artifacts_dir / "examples.json")
    nq = int(arr["n_queries"])
    stage_env, images = _stage_env(env, arr, meta)
    i, size = state["chunk"], state["chunk_size"]
    rows = range(i * size, min(nq, (i + 1) * size))
    records = _detector_records(arr, rows, inputs.classes, meta["chosen"])
    if records:
        rt.tracer.event(
            "cheap_path",
            source="detector",
            model_called=False,
            windows=len(records),
            reason=f"the detector is sure ({meta['chosen']})",
        )
        rt.report_progress("classifying", len(records), nq)
    items = _model_items(inputs, arr, rows)
    try:
        outcomes = await run_stage(
            make_classify_stage(stage_env),
            items,
            client=rt.client,
            tracer=rt.tracer,
            supervisor=rt.supervisor,
            concurrency=env.options.concurrency,
            on_done=lambda _o: rt.report_progress("classifying", 1, nq),
        )
    finally:
        if images is not None:
            images.close()
    routes = dict(state.get("routes", {}))
    for rec in records:  # the detector's windows and those a person labelled in review
        routes[rec["source"]] = routes.get(rec["source"], 0) + 1
    flagged = list(state.get("flagged", []))
    records += _model_records(items, outcomes, env, routes, flagged)
    write_json(run.artifacts_dir / f"windows_{i:04d}.json", records)
    return {
        "chunk": i + 1,
        "routes": routes,
        "flagged": flagged,
        "model_calls": state.get("model_calls", 0) + sum(o.model_calls for o in outcomes),
        "timings": add_timing(state, "classify", t0),
    }


def more(state: ClassifyState, then: str = "smooth") -> str:
    """The next node: ``classify`` while chunks of query windows remain, then ``then``."""
    return "classify" if state["chunk"] < state["n_chunks"] else then


def smooth(state: ClassifyState, env: ClassifyGraphEnv) -> dict[str, Any]:
    """Smooth the windows' labels per animal (sticky HMM or mode filter); save ``labels``."""
    t0 = time.perf_counter()
    rt, opts, run = env.runtime, env.options, env.run
    records = [
        r
        for i in range(state["n_chunks"])
        for r in read_json(run.artifacts_dir / f"windows_{i:04d}.json")
    ]
    records.sort(key=lambda r: r["row"])
    probs = np.asarray([r["probabilities"] for r in records], dtype=np.float64)
    raw = np.argmax(probs, axis=1)
    smoothed = raw.copy()
    animal = np.asarray([r["animal"] for r in records])
    with rt.tracer.scope(node="smooth"):
        for a in range(len(env.inputs.animals)):
            sel = np.flatnonzero(animal == a)
            if opts.smoothing == "hmm":
                smoothed[sel] = smooth_hmm(probs[sel], stay=opts.hmm_stay)
            elif opts.smoothing == "mode":
                smoothed[sel] = median_smooth(raw[sel], opts.mode_windows)
        changed = int((smoothed != raw).sum())
        rt.tracer.event("smoothing", method=opts.smoothing, windows_changed=changed)
    win = run.load_arrays("windows")
    run.save_arrays(
        "labels",
        probabilities=probs,
        raw=raw,
        smoothed=smoothed,
        animal=animal,
        by_detector=~win["to_model"],
        detector_labels=win["det_labels"],
        detector_proba=win["det_proba"],
    )
    return {"timings": add_timing(state, "smooth", t0)}


def report(state: ClassifyState, env: ClassifyGraphEnv) -> dict[str, Any]:
    """Write the outputs (labels, bouts, ethogram, figures, ``report.md``)."""
    return {"outputs": write_classify_outputs(env.runtime, env.inputs, state)}


def _detector_records(
    arr: Mapping[str, NDArray[Any]], rows: range, classes: Sequence[str], chosen: str | None
) -> list[dict[str, Any]]:
    """The records of the windows among ``rows`` the detector answers.

    Each takes the detector's probabilities averaged over the window; no model call.
    """
    out = []
    for r in rows:
        if arr["to_model"][r]:
            continue
        a, s, e = (int(v) for v in arr["spans"][r])
        p = arr["det_proba"][s:e, a].mean(axis=0)
        by_person = "reviewed" in arr and bool(arr["reviewed"][r])
        out.append(
            {
                "row": r,
                "animal": a,
                "start": s,
                "stop": e,
                "probabilities": [float(v) for v in p / p.sum()],
                "source": "reviewed" if by_person else "detector",
                "status": "accepted",
                "attempts": 0,
                "model_calls": 0,
                "reason": "labelled by a person in review"
                if by_person
                else f"detector {chosen}; uncertainty {float(arr['uncertainty'][r]):.2f}",
            }
        )
    return out


def _cached(images: _WindowImages) -> Any:
    """``(animal, start, stop) -> image``, each window drawn once (examples recur)."""
    memo: dict[tuple[int, int, int], NDArray[np.uint8]] = {}

    def image_of(animal: int, start: int, stop: int) -> NDArray[np.uint8]:
        key = (animal, start, stop)
        if key not in memo:
            memo[key] = images(animal, start, stop)[0]
        return memo[key]

    return image_of
