"""The demo's pipeline sections: each runs one pipeline on the simulated session and returns
a ``Section`` (metrics, figures, tables, notes, run directory) scored against the
simulator's ground truth. See ``report.demo`` for the driver."""

from __future__ import annotations

import csv
import io
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ethoagent.demo.context import DemoContext
from ethoagent.demo.figures import timeline_figure, trajectory_3d_figure
from ethoagent.demo.html import ReportTable, Section
from ethoagent.errors import RunError
from ethoagent.figures import new_figure, png_bytes

# --- ground truth -------------------------------------------------------------------------


def truth_labels(session: Path) -> tuple[list[str], NDArray[np.str_]]:
    """Ground-truth behaviour names ``(frames, animals)`` and the animals' names."""
    rows = list(csv.reader(io.StringIO((session / "ground_truth" / "labels.csv").read_text())))
    return rows[0][1:], np.asarray([r[1:] for r in rows[1:]], dtype=str)


def per_class_f1(
    truth: Sequence[str] | NDArray[np.str_], pred: Sequence[str] | NDArray[np.str_]
) -> dict[str, float]:
    """F1 of every ground-truth class (exact label names), frames as samples."""
    from sklearn.metrics import f1_score

    t, p = np.asarray(truth, dtype=str), np.asarray(pred, dtype=str)
    classes = sorted(set(t.tolist()))
    scores = f1_score(t, p, labels=classes, average=None, zero_division=0.0)
    return {c: round(float(s), 4) for c, s in zip(classes, scores, strict=True)}


def _fmt(x: Any, unit: str = "") -> str:
    if x is None:
        return "n/a"
    if isinstance(x, float):
        return f"{x:.3g}{unit}"
    return f"{x}{unit}"


# --- sections -----------------------------------------------------------------------------


def session_section(ctx: DemoContext) -> Section:
    """Simulate the session (videos, calibration, ground truth) into ``<run>/session``."""
    from ethoagent.io.video import VideoReader
    from ethoagent.sim.simulate import PRESETS, simulate_session

    o = ctx.options
    total = o.frames * o.views
    last = [0]

    def on_render(done: int, _total: int) -> None:
        ctx.report_progress("simulate", done - last[0], total)
        last[0] = done

    paths = simulate_session(
        ctx.session_dir,
        preset=o.preset,
        frames=o.frames,
        views=o.views,
        seed=o.seed,
        animals=1,
        progress=on_render,
    )
    fps = PRESETS[o.preset].fps
    tiles = []
    for video in paths.videos:
        with VideoReader(video) as reader:
            tiles.append(reader[0])
    import cv2

    cols = 2 if len(tiles) <= 4 else 3
    while len(tiles) % cols:
        tiles.append(np.zeros_like(tiles[0]))
    grid = np.vstack([np.hstack(tiles[i : i + cols]) for i in range(0, len(tiles), cols)])
    ok, buf = cv2.imencode(".png", grid)
    if not ok:
        raise RunError("could not encode the session preview as PNG.")
    animals, labels = truth_labels(ctx.session_dir)
    names, counts = np.unique(labels[:, 0], return_counts=True)
    shares = {str(n): round(float(c) / len(labels), 4) for n, c in zip(names, counts, strict=True)}
    fig = ctx.figure(
        "session_views",
        buf.tobytes(),
        "frame 0 in every camera",
        "The rendered videos the pose pipeline reads: quantum-dot-style marks, sensor noise, "
        "motion blur, distractor spots and lighting drift (preset "
        f"{o.preset}).",
    )
    return Section(
        key="session",
        title="Synthetic session",
        summary=f"{o.frames} frames ({o.frames / fps:.0f} s at {fps:g} fps) x {o.views} "
        f"cameras, 1 mouse, preset {o.preset}, seed {o.seed}.",
        metrics=[
            ("frames x cameras", f"{o.frames} x {o.views}"),
            ("duration", f"{o.frames / fps:.1f} s at {fps:g} fps"),
            ("mice", str(len(animals))),
            (
                "ground-truth behaviour (share of frames)",
                ", ".join(f"{k} {v:.0%}" for k, v in sorted(shares.items(), key=lambda t: -t[1])),
            ),
        ],
        figures=[fig],
        notes=[
            "Synthetic data from ethoagent.sim.simulate, not a recording: every number "
            "below is scored against the simulator's exact ground truth.",
        ],
        run_dir=ctx.rel(ctx.session_dir),
        data={"fps": fps, "frames": o.frames, "views": o.views, "label_shares": shares},
    )


def pose_section(ctx: DemoContext) -> Section:
    """Verified 3D labels from the videos and 3 seed frames (``graphs.pose``)."""
    from ethoagent.graphs import pose
    from ethoagent.graphs.pose.report import assembled, ground_truth

    result = ctx.pipeline(
        "pose", pose.PIPELINE, pose.PoseSources(session=ctx.session_dir), pose.PoseOptions()
    )
    run, summary = result.run, result.summary
    out = run.outputs_dir
    points, _ = assembled(run, int(result.state["n_chunks"]))
    truth = ground_truth(result.inputs)
    skeleton = result.inputs.skeleton
    k = skeleton.index("back_mid")
    frame_rows = list(csv.DictReader(io.StringIO((out / "frames.csv").read_text())))
    no_call = sum(1 for r in frame_rows if r["model_calls"] in ("0", ""))
    calls = sum(summary["model_calls"].values())
    frames, views = summary["frames"], summary["views"]
    every_stage = frames * views * (1 + len(skeleton.regions))
    gt = summary.get("ground_truth") or {}
    missing = np.isnan(points[..., 0]).mean(axis=0)  # (keypoints,) share of frames
    worst = int(np.argmax(missing))
    flagged_rows = [r for r in frame_rows if r["status"] != "accepted"]
    figures = [
        ctx.figure(
            "pose_trajectory_3d",
            trajectory_3d_figure(points[:, k], None if truth is None else truth[:, k], "back_mid"),
            "3D trajectory",
            "back_mid, millimetres in the arena frame (z up); grey: the simulator's ground "
            "truth. Gaps are frames flagged for review.",
        ),
        ctx.copy_figure(
            out / "reprojection.png",
            "pose_reprojection",
            "reprojection error per frame",
            "Worst reprojection error of the accepted 3D points over all views, pixels; red "
            "ticks: frames flagged for review.",
        ),
    ]
    if (out / "overlay.png").is_file():
        figures.append(
            ctx.copy_figure(
                out / "overlay.png",
                "pose_overlay",
                "3D labels reprojected into every view",
                "The frame with most marks found; dots are the verified 3D points projected "
                "back into each camera.",
            )
        )
    tables = []
    if flagged_rows:
        tables.append(
            ReportTable(
                title=f"flagged frames ({len(flagged_rows)}; see frames.csv and the trace)",
                columns=["frame", "reprojection (px)", "model calls", "why"],
                rows=[
                    [r["frame"], r["reprojection_px"], r["model_calls"], r["flag_reason"]]
                    for r in flagged_rows[:25]
                ],
            )
        )
    return Section(
        key="pose",
        title="Pose: verified multi-view 3D labels",
        summary=f"{frames} frames x {views} views labelled from 3 seed frames; 3D error "
        f"{_fmt(gt.get('mean_error_mm'), ' mm')} mean, {len(summary['flagged_frames'])} "
        f"frames flagged; {calls} model calls.",
        metrics=[
            ("frames x views", f"{frames} x {views}"),
            (
                "3D error vs ground truth, mean / median",
                f"{_fmt(gt.get('mean_error_mm'))} / {_fmt(gt.get('median_error_mm'))} mm",
            ),
            ("PCK@5 mm", _fmt(gt.get("pck_5mm"))),
            ("left/right swap rate", _fmt(gt.get("swap_rate"))),
            (
                "worst reprojection error, median / 95th pct",
                f"{_fmt(summary['reprojection_px_median'])} / "
                f"{_fmt(summary['reprojection_px_p95'])} px",
            ),
            ("flagged for review", f"{len(summary['flagged_frames'])} frames"),
            (
                "marks missing in the 3D output",
                f"{float(missing.mean()):.1%} of frame-marks (most: "
                f"{skeleton.keypoints[worst]} in {float(missing[worst]):.1%} of frames)",
            ),
            ("model calls", f"{calls} ({summary['model_calls_per_frame_view']} per frame-view)"),
            ("frames settled without a model call", f"{no_call} of {frames}"),
            (
                "model calls saved vs asking in every stage",
                f"≈{max(0, every_stage - calls)} of ≈{every_stage}",
            ),
        ],
        figures=figures,
        tables=tables,
        notes=[
            "Asking in every stage (the paper's way, --model-every-stage) costs one regions "
            f"call and one assign call per body region ({len(skeleton.regions)}) for every "
            "frame and view; here the model is asked only where the cheap path (temporal "
            "prediction + geometry) fails a check.",
            f"Backend {summary['backend']}"
            + (
                ": deterministic offline solvers answered the model calls."
                if summary["backend"] == "offline"
                else "."
            ),
        ],
        run_dir=ctx.rel(run.root),
        data={
            "points_3d": ctx.rel(out / "points_3d.nc"),
            "frames": frames,
            "views": views,
            "flagged_frames": summary["flagged_frames"],
            "missing_by_keypoint": {
                name: round(float(m), 4)
                for name, m in zip(skeleton.keypoints, missing, strict=True)
            },
            "model_calls": calls,
            "frames_without_model_call": no_call,
            "model_calls_every_stage_estimate": every_stage,
            "ground_truth": gt,
            "reprojection_px_median": summary["reprojection_px_median"],
            "reprojection_px_p95": summary["reprojection_px_p95"],
        },
    )


def _keypoints_for_behaviour(ctx: DemoContext) -> tuple[Path, str]:
    """Pose's 3D output when the pose section succeeded, else the ground-truth 3D."""
    pose = ctx.sections.get("pose")
    if pose is not None and pose.status == "ok":
        path = ctx.run.root / str(pose.data["points_3d"])
        if path.is_file():
            return path, "the pose section's verified 3D labels"
    return (
        ctx.session_dir / "ground_truth" / "points_3d.csv",
        "the simulator's ground-truth 3D points (the pose section did not finish)",
    )


def segment_section(ctx: DemoContext) -> Section:
    """The unsupervised ethogram of pose's 3D output (``graphs.segment``), scored per class."""
    from ethoagent.graphs import segment
    from ethoagent.tools.ethogram import hungarian_macro_f1, nmi, read_ethogram_csv

    keypoints, source = _keypoints_for_behaviour(ctx)
    fps = float(str(ctx.sections["session"].data["fps"]))
    result = ctx.pipeline(
        "segment",
        segment.PIPELINE,
        segment.SegmentSources(keypoints=keypoints, fps=fps),
        segment.SegmentOptions(seed=ctx.options.seed),
    )
    run, summary, inputs = result.run, result.summary, result.inputs
    out = run.outputs_dir
    _, truth = truth_labels(ctx.session_dir)
    epochs = next(iter(read_ethogram_csv(out / "ethogram.csv").values()))
    pred = np.full(inputs.frames, "", dtype=object)
    for e in epochs:
        pred[e.start : e.stop] = e.label
    pred = np.asarray(pred.astype(str))
    t = truth[: inputs.frames, 0]
    f1 = per_class_f1(t, pred)
    macro = round(float(np.mean(list(f1.values()))), 4)
    calls = int(summary["model_calls"]["total"])
    figures = [
        ctx.figure(
            "segment_timeline",
            timeline_figure(
                [("ground truth", t), ("segment", pred)],
                fps,
                "ethogram: ground truth vs the segment pipeline (labels named by the captioner)",
            ),
            "ethogram timeline vs ground truth",
            "Upper bar: the simulator's behaviour program; lower bar: the segment pipeline's "
            "epochs (DEC clusters -> snippets -> captions -> merged epochs), named in the "
            "captioner's vocabulary. Same colour = same label name.",
        ),
        ctx.copy_figure(
            out / "ethogram.png",
            "segment_clusters",
            "ethogram and DEC clusters",
            "The segment pipeline's own figure: epochs (upper bar) and the DEC cluster of "
            "every frame (lower bar).",
        ),
    ]
    return Section(
        key="segment",
        title="Segment: unsupervised ethogram",
        summary=f"{summary['epochs']} epochs from {summary['snippets']} snippets "
        f"({summary['snippets_by_kinematics']} captioned by kinematics alone); macro F1 "
        f"{macro:.2f} against the ground truth.",
        metrics=[
            ("keypoints", source),
            ("DEC clusters", f"k = {summary['k']}"),
            ("snippets", f"{summary['snippets']} ({summary['snippets_by_model']} by the model)"),
            ("epochs", str(summary["epochs"])),
            ("labels used", ", ".join(summary["vocabulary"])),
            ("macro F1 over ground-truth classes (by label name)", f"{macro:.3f}"),
            ("Hungarian macro F1 / NMI", f"{hungarian_macro_f1(pred, t):.3f} / {nmi(pred, t):.3f}"),
            ("model calls", f"{calls} ({summary['model_calls_per_snippet']} per snippet)"),
            (
                "model calls saved vs captioning every snippet",
                f"{summary['snippets_by_kinematics']} of {summary['snippets']} snippets",
            ),
        ],
        figures=figures,
        tables=[
            ReportTable(
                title="per-class F1 against ground truth (frames)",
                columns=["class", "F1", "ground-truth share"],
                rows=[[c, f"{v:.3f}", f"{float(np.mean(t == c)):.1%}"] for c, v in f1.items()],
            )
        ],
        notes=[
            "Unsupervised: the labels come from captions, never from the ground truth, so "
            "per-class F1 compares label names; a behaviour the captioner has no word for "
            "scores 0 (the Hungarian F1 matches labels to classes instead).",
            *summary["warnings"],
        ],
        run_dir=ctx.rel(run.root),
        data={
            "f1": f1,
            "macro_f1": macro,
            "snippets": summary["snippets"],
            "snippets_by_kinematics": summary["snippets_by_kinematics"],
            "model_calls": calls,
            "epochs": summary["epochs"],
        },
    )


def _gate_peers(
    features: NDArray[np.float32],
    valid: NDArray[np.bool_],
    truth: NDArray[np.str_],
    test: NDArray[np.bool_],
) -> dict[str, tuple[float, float]]:
    """Held-out macro F1 and accuracy of the gate model's simple peers, same frames.

    Both are fitted on the training blocks only: the majority class of those frames, and
    class-balanced logistic regression on the same standardised descriptor (the peer
    `gate eval` reports too).

    Args:
        features: ``(frames, D)`` float32, the standardised gate descriptor of the animal.
        valid: ``(frames,)`` frames whose keypoints were tracked.
        truth: ``(frames,)`` ground-truth labels.
        test: ``(frames,)`` the held-out frames.
    """
    from sklearn.linear_model import LogisticRegression

    train = ~test & valid
    values, counts = np.unique(truth[train], return_counts=True)
    majority = np.full(truth.shape, values[counts.argmax()])
    fit = LogisticRegression(C=1.0, class_weight="balanced", max_iter=1000)
    logreg = fit.fit(features[train], truth[train]).predict(features).astype(str)
    out = {}
    for name, pred in (("majority class", majority), ("logistic regression", logreg)):
        f1 = per_class_f1(truth[test], pred[test])
        out[name] = (float(np.mean(list(f1.values()))), float(np.mean(pred[test] == truth[test])))
    return out


def gate_section(ctx: DemoContext) -> Section:
    """A small LookAgain model trained on alternating blocks of labels, scored on the rest."""
    import torch

    from ethoagent.graphs.gate.descriptor import describe_gate_motion, standardise
    from ethoagent.graphs.gate.fitted import feature_scale
    from ethoagent.io.keypoints import read_keypoints
    from ethoagent.nn.lookagain import LookAgain, LookAgainConfig
    from ethoagent.nn.predict_gate import predict_probabilities
    from ethoagent.nn.train_gate import GateSession, TrainConfig, train_gate

    o = ctx.options
    keypoints, source = _keypoints_for_behaviour(ctx)
    fps = float(str(ctx.sections["session"].data["fps"]))
    pose = read_keypoints(keypoints, fps=fps)
    _, truth = truth_labels(ctx.session_dir)
    t = truth[: pose.frames, 0]
    classes = sorted(set(t.tolist()))
    codes = np.array([classes.index(v) for v in t], np.int64)
    # at least two training and two held-out blocks, however short the session
    block = max(1, min(round(o.gate_block_s * fps), pose.frames // 4))
    test = (np.arange(pose.frames) // block) % 2 == 1
    y = codes.copy()
    y[test] = -1
    # the descriptor `gate train` and `gate eval` read (velocities, body-length features),
    # standardised with the training frames' scale as a trained model records it
    desc = describe_gate_motion(
        pose.points, pose.confidence, fps=fps, keypoints=pose.keypoints,
        individuals=pose.individuals,
    ).motion  # fmt: skip
    features = standardise(desc.features, feature_scale(desc.features[~test]))
    window = 64
    config = LookAgainConfig(
        input_dim=int(desc.features.shape[-1]),
        n_classes=len(classes),
        d_model=64,
        d_z=32,
        temporal_layers=2,
        max_len=window,
        rvq_codes=64,
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(o.seed)
        model = LookAgain(config)
    train = TrainConfig(
        epochs=o.gate_epochs, window=window, stride=16, lr=1e-3, warmup_steps=10, seed=o.seed
    )
    folder = ctx.run.root / "gate"
    log: list[tuple[int, float]] = []

    def on_step(step: int, total: int, loss: float) -> None:
        log.append((step, loss))
        ctx.report_progress("gate: train", 1, total)

    t0 = time.perf_counter()
    session = GateSession(features, y[:, None], desc.confidence, desc.valid)
    result = train_gate(
        model,
        [session],
        train,
        checkpoint_dir=folder,
        progress=on_step,
    )
    seconds = time.perf_counter() - t0
    model.save(folder)
    probs = predict_probabilities(model, session, window)
    pred_codes = probs.argmax(axis=-1)[:, 0]
    pred = np.asarray([classes[c] for c in pred_codes], dtype=str)
    f1 = per_class_f1(t[test], pred[test])
    macro = round(float(np.mean(list(f1.values()))), 4)
    accuracy = round(float(np.mean(pred[test] == t[test])), 4)
    n_params = sum(p.numel() for p in model.parameters())
    peers = _gate_peers(features[:, 0], desc.valid[:, 0], t, test)
    figures = [
        ctx.figure(
            "gate_timeline",
            timeline_figure(
                [("ground truth", t), ("gate model", pred)],
                fps,
                "ethogram: ground truth vs the gate model (scored on the white blocks)",
                shade=~test,
            ),
            "ethogram timeline vs ground truth",
            f"The model saw the labels of the grey blocks ({o.gate_block_s:g} s each) and "
            "is scored on the white ones.",
        )
    ]
    if log:
        fig, ax = new_figure(6, 3)
        ax.plot([s for s, _ in log], [v for _, v in log], lw=1)
        ax.set_xlabel("step")
        ax.set_ylabel("training loss")
        figures.append(
            ctx.figure(
                "gate_loss",
                png_bytes(fig),
                "training loss",
                "Class-weighted cross-entropy + RVQ commitment + reconstruction, per step of "
                "this run (a resumed run shows the steps after the checkpoint).",
            )
        )
    return Section(
        key="gate",
        title="Gate: LookAgain behaviour model (keypoint path)",
        summary=f"{n_params:,}-parameter model trained {result.steps} steps on "
        f"{int((y >= 0).sum())} labelled frames; macro F1 {macro:.2f} on "
        f"{int(test.sum())} held-out frames.",
        metrics=[
            ("keypoints", source),
            ("classes", ", ".join(classes)),
            ("training frames / held-out frames", f"{int((~test).sum())} / {int(test.sum())}"),
            (
                "model",
                f"LookAgain d_model {config.d_model}, {config.temporal_layers} temporal "
                f"layers, {n_params:,} parameters",
            ),
            ("training", f"{result.steps} steps, {seconds:.1f} s (this call)"),
            ("held-out accuracy", f"{accuracy:.3f}"),
            ("held-out macro F1 (classes present)", f"{macro:.3f}"),
            *(
                (f"{name}, same frames: macro F1 / accuracy", f"{m:.3f} / {a:.3f}")
                for name, (m, a) in peers.items()
            ),
        ],
        figures=figures,
        tables=[
            ReportTable(
                title="per-class F1 on held-out frames",
                columns=["class", "F1", "held-out frames"],
                rows=[[c, f"{v:.3f}", str(int(np.sum(t[test] == c)))] for c, v in f1.items()],
            )
        ],
        notes=[
            "Keypoint path only: no vision encoder runs, so the gate's frame selection "
            "(vision calls saved) is not exercised here.",
            "The descriptor is the one `ethoagent gate train` and `gate eval` read "
            "(keypoints, velocities and body-length features), standardised with the "
            "training blocks' mean and spread; the peers are fitted on the same blocks.",
            "A deliberately small model and a short session, trained in seconds on a CPU: "
            "the numbers show the path works end to end, not the model's accuracy on real "
            "data (ethoagent eval gate measures that).",
        ],
        run_dir=ctx.rel(folder),
        seconds=None,
        data={
            "f1": f1,
            "macro_f1": macro,
            "accuracy": accuracy,
            "peers": {
                k: {"macro_f1": round(m, 4), "accuracy": round(a, 4)} for k, (m, a) in peers.items()
            },
            "steps": result.steps,
            "resumed_from": result.resumed_from,
            "parameters": n_params,
        },
    )


def classify_section(ctx: DemoContext) -> Section:
    """In-context classification (``graphs.classify``) from a few ground-truth examples.

    ``classify_examples`` clips of 0.5 s per class are drawn from the simulator's labels
    (mapped to classify's label set, e.g. still -> freezing); the graph labels every frame
    and is scored per class on the frames outside those clips.
    """
    from ethoagent.atomic import atomic_write_text
    from ethoagent.evals.classify import SIM_TO_CLASS, draw_examples
    from ethoagent.graphs import classify
    from ethoagent.tools.classify import DEFAULT_CLASSES
    from ethoagent.tools.ethogram import read_ethogram_csv

    keypoints, source = _keypoints_for_behaviour(ctx)
    fps = float(str(ctx.sections["session"].data["fps"]))
    _, sim_truth = truth_labels(ctx.session_dir)
    mapped = np.asarray([SIM_TO_CLASS.get(v, "other") for v in sim_truth[:, 0]], dtype=str)
    classes = tuple(c for c in DEFAULT_CLASSES if c in set(mapped.tolist()))
    if len(classes) < 2:
        raise RunError(
            f"the session shows only {list(classes)}; classify needs two classes or more.",
            fix="simulate more frames (--frames).",
        )
    codes = np.asarray([classes.index(v) for v in mapped], dtype=np.int64)
    clip = max(1, round(0.5 * fps))
    examples = draw_examples(
        codes, classes, clip_frames=clip, per_class=ctx.options.classify_examples,
        seed=ctx.options.seed,
    )  # fmt: skip
    examples_csv = atomic_write_text(
        ctx.run.artifacts_dir / "classify_examples.csv",
        "start_frame,stop_frame,label,animal\n"
        + "".join(f"{e.start},{e.stop},{e.label},{e.animal}\n" for e in examples),
    )
    result = ctx.pipeline(
        "classify",
        classify.PIPELINE,
        classify.ClassifySources(
            keypoints=keypoints, examples=examples_csv, classes=list(classes), fps=fps
        ),
        classify.ClassifyOptions(),
    )
    run, summary, inputs = result.run, result.summary, result.inputs
    out = run.outputs_dir
    epochs = next(iter(read_ethogram_csv(out / "ethogram.csv").values()))
    pred = np.full(inputs.frames, "", dtype=object)
    for e in epochs:
        pred[e.start : e.stop] = e.label
    pred = np.asarray(pred.astype(str))
    t = mapped[: inputs.frames]
    scored = np.ones(inputs.frames, dtype=bool)
    for ex in inputs.examples:
        scored[ex.start : ex.stop] = False
    f1 = per_class_f1(t[scored], pred[scored])
    macro = round(float(np.mean(list(f1.values()))), 4)
    sim_name = {v: k for k, v in SIM_TO_CLASS.items()}  # one class per simulator name
    windows, calls = int(summary["windows"]), int(summary["model_calls"])
    saved = int(summary["model_calls_saved"])
    per_class = ", ".join(f"{k} {v}" for k, v in summary["example_windows"].items())
    figures = [
        ctx.figure(
            "classify_timeline",
            timeline_figure(
                [("ground truth", t), ("classify", pred)],
                fps,
                "ethogram: ground truth vs in-context classification (grey: example clips)",
                shade=~scored,
            ),
            "ethogram timeline vs ground truth",
            "Upper bar: the simulator's labels mapped to the label set; lower bar: the "
            "classify pipeline's smoothed labels. Grey background: the labelled example "
            "clips it was given (not scored).",
        ),
        ctx.copy_figure(
            out / "ethogram.png",
            "classify_ethogram",
            "labels and class probabilities",
            "The classify pipeline's own figure: the label of every frame (upper bar) above "
            "the stacked class probabilities of its window.",
        ),
    ]
    return Section(
        key="classify",
        title="Classify: in-context behaviour labels",
        summary=f"{windows} windows from {len(inputs.examples)} example clips; {calls} model "
        f"calls, {saved} windows decided by the classical detector; macro F1 {macro:.2f} on the "
        "frames outside the examples.",
        metrics=[
            ("keypoints", source),
            ("label set", ", ".join(classes)),
            (
                "example clips",
                f"{len(inputs.examples)} of up to {clip} frames ({per_class} windows)",
            ),
            ("windows", f"{windows} of {inputs.options.window_s:g} s"),
            ("model calls", f"{calls} ({summary['model_calls_per_window']} per window)"),
            (
                "model calls saved (windows decided by the classical detector)",
                f"{saved} of {windows}",
            ),
            ("flagged windows", str(len(summary["flagged"]))),
            ("macro F1 over classes (frames outside the examples)", f"{macro:.3f}"),
        ],
        figures=figures,
        tables=[
            ReportTable(
                title="per-class F1 against ground truth (frames outside the examples)",
                columns=["class (simulator's name)", "F1", "scored frames"],
                rows=[
                    [f"{c} ({sim_name[c]})", f"{v:.3f}", str(int(np.sum(t[scored] == c)))]
                    for c, v in f1.items()
                ],
            )
        ],
        notes=[
            f"The labelled examples ({ctx.options.classify_examples} clip(s) per class) are "
            "drawn from the simulator's ground-truth labels, which a user would label by "
            "hand; the simulator's names are mapped to the label set (still -> freezing, "
            "walking -> locomotion, turning -> other). Example frames are not scored.",
            *(
                [
                    "Offline backend: the model's answers come from the embedded solver "
                    "(nearest in-context examples over the window's image and keypoint "
                    "features, plus the definitions' prototypes), not from a VLM; a VLM "
                    "endpoint is what the pipeline is built for (--backend openai)."
                ]
                if ctx.settings.backend == "offline"
                else []
            ),
            *summary["warnings"],
        ],
        run_dir=ctx.rel(run.root),
        data={
            "f1": {sim_name[c]: v for c, v in f1.items()},  # by ground-truth name, as others
            "f1_by_class": f1,
            "macro_f1": macro,
            "classes": list(classes),
            "examples": len(inputs.examples),
            "windows": windows,
            "windows_by_keypoints": saved,
            "model_calls": calls,
        },
    )


def triangulate_section(ctx: DemoContext) -> Section:
    """The verified-triangulation graph (``graphs.demo``): naive DLT vs checks + escalation."""
    from ethoagent.graphs import triangulate

    o = ctx.options
    options = triangulate.TriangulateOptions(
        frames=min(o.triangulate_frames, o.frames), views=o.views, seed=o.seed
    )
    result = ctx.pipeline(
        "triangulate", triangulate.PIPELINE, triangulate.TriangulateSources(), options
    )
    run, m = result.run, result.summary
    repaired = sum(v for k, v in m["routes"].items() if k.startswith("accepted_by"))
    first = int(m["routes"].get("accepted_first", 0))
    return Section(
        key="triangulate",
        title="Triangulation: checks and escalation on corrupted 2D labels",
        summary=f"3D error {m['naive_dlt_mean_error_mm']:.2f} mm with naive DLT -> "
        f"{m['mean_error_mm']:.2f} mm verified; {repaired} frames repaired by escalation, "
        f"{len(m['flagged_frames'])} flagged.",
        metrics=[
            ("frames x views", f"{m['frames']} x {m['views']}"),
            ("3D error, naive DLT", f"{m['naive_dlt_mean_error_mm']:.2f} mm"),
            ("3D error, verified", f"{m['mean_error_mm']:.2f} mm"),
            ("accepted first time / repaired by escalation", f"{first} / {repaired}"),
            ("flagged for review", f"{len(m['flagged_frames'])} frames"),
            ("model calls", f"{m['model_calls']} ({m['backend']})"),
            ("summary (llm role, checked)", (m["summary"].get("answer") or {}).get("headline", "")),
        ],
        figures=[
            ctx.copy_figure(
                run.outputs_dir / "error_per_frame.png",
                "triangulate_error",
                "3D error per frame",
                "Mean 3D error per frame, mm (log scale): naive DLT over all views vs the "
                "verified stage (reprojection and bone-length checks, then swap and "
                "dropped-view hypotheses, then RANSAC).",
            )
        ],
        notes=[
            "Its own synthetic trajectory with noisy 2D labels, missing marks and injected "
            "left/right swaps (evals.synthetic), not the rendered session: it isolates the "
            "check -> retry -> escalate -> flag machinery.",
        ],
        run_dir=ctx.rel(run.root),
        data={
            "naive_dlt_mean_error_mm": m["naive_dlt_mean_error_mm"],
            "mean_error_mm": m["mean_error_mm"],
            "flagged_frames": m["flagged_frames"],
            "model_calls": m["model_calls"],
            "accepted_first": first,
            "repaired": repaired,
        },
    )


__all__ = [
    "gate_section",
    "per_class_f1",
    "pose_section",
    "segment_section",
    "session_section",
    "triangulate_section",
    "truth_labels",
]
