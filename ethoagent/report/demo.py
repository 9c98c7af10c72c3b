"""The end-to-end demo: one synthetic session through every pipeline, one HTML report.

``run_full_demo`` simulates a multi-view session (``evals.simulate``) into the demo run,
then runs one *section* per pipeline on it with the configured backend (the embedded
offline one by default):

- ``session``: the rendered videos and the ground truth's behaviour shares;
- ``pose``: verified 3D labels of the 12 marks from the videos and 3 seed frames
  (``graphs.pose``), scored against the simulator's 3D ground truth;
- ``segment``: the unsupervised ethogram (``graphs.segment``) of pose's 3D output, scored
  per class against the ground-truth behaviour labels;
- ``gate``: a small LookAgain model (``nn.lookagain``, keypoint path) trained briefly on
  alternating blocks of the ground-truth labels and scored on the held-out blocks;
- ``triangulate``: the verified-triangulation graph (``graphs.demo``) on its own
  synthetic trajectory with injected left/right label swaps (naive DLT vs checks);
- ``overview`` (first in the page): per-class F1 of segment and gate, model calls made
  and saved, the headline numbers.

Each section is one function ``(DemoContext) -> Section``; ``SECTIONS`` lists them in
run order, so a new pipeline (classify, profile) is one function and one entry. A section
that raises becomes an error section and the others still run; the report is written in
every case. Graph pipelines run as sub-runs in ``<demo run>/runs/<section>/`` with their
own trace and checkpoints. A finished section is saved as ``outputs/sections/<key>.json``;
``--resume`` reuses those and resumes the others from their checkpoints.

Layout of the demo run (besides ``run.json`` and ``config.toml``)::

    session/                     the simulated session (videos, calibration, ground truth)
    runs/pose|segment|triangulate/   the pipelines' runs (outputs, trace.jsonl, checkpoints)
    gate/                        the gate model, its checkpoint and training log
    outputs/report.html          the self-contained report
    outputs/summary.json         every section's numbers
    outputs/figures/*.png        the report's figures
    outputs/sections/*.json      finished sections (what a resume reuses)
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import time
import traceback
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray
from pydantic import BaseModel, ConfigDict, Field

from ethoagent import __version__
from ethoagent.atomic import atomic_write_text
from ethoagent.errors import RunError
from ethoagent.figures import new_figure, png_bytes
from ethoagent.report.html import ReportFigure, ReportTable, Section, render_html
from ethoagent.runs import Run

if TYPE_CHECKING:
    from ethoagent.agent.types import Role
    from ethoagent.config import Settings
    from ethoagent.graphs.runtime import ProgressCallback, Runtime

GRAPH_NAME = "demo"
REPORT_FILE = "report.html"
SECTION_KEYS = ("session", "pose", "segment", "gate", "triangulate")


class DemoOptions(BaseModel):
    """Settings of the end-to-end demo (kept in ``run.json`` so a resume finds them).

    Attributes:
        frames: frames of the simulated session (30 fps).
        views: cameras (a ring plus one overhead).
        seed: seed of the session, the model fits and the gate's training.
        preset: simulation preset (``evals.simulate.PRESETS``).
        skip: section keys not to run (shown as skipped).
        gate_epochs: passes over the training windows of the gate model.
        gate_block_s: the gate trains on even blocks of this many seconds of ground-truth
            labels and is scored on the odd ones.
        triangulate_frames: frames of the verified-triangulation section.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    frames: int = Field(900, ge=60)
    views: int = Field(4, ge=2, le=16)
    seed: int = 0
    preset: str = "paper-like"
    skip: list[str] = Field(default_factory=list)
    gate_epochs: int = Field(60, ge=1)
    gate_block_s: float = Field(3.0, gt=0)
    triangulate_frames: int = Field(150, ge=3)


@dataclass
class DemoContext:
    """What a section function gets: the demo run, settings and earlier sections.

    Attributes:
        run: the demo run.
        settings: the effective settings (backend, models).
        options: the demo's settings.
        sections: finished sections by key (later sections read earlier ones' ``data``).
        progress: ``(stage, done, total)`` callback, ``done`` an increment.
    """

    run: Run
    settings: Settings
    options: DemoOptions
    sections: dict[str, Section] = field(default_factory=dict)
    progress: ProgressCallback | None = None

    @property
    def session_dir(self) -> Path:
        return self.run.root / "session"

    @property
    def figures_dir(self) -> Path:
        return self.run.outputs_dir / "figures"

    def report_progress(self, stage: str, done: int, total: int) -> None:
        if self.progress is not None:
            self.progress(stage, done, total)

    def figure(self, name: str, png: bytes, title: str, caption: str = "") -> ReportFigure:
        """Write ``outputs/figures/<name>.png`` and describe it for the report."""
        self.run.write_output(f"figures/{name}.png", png)
        return ReportFigure(title=title, file=f"figures/{name}.png", caption=caption)

    def copy_figure(self, src: Path, name: str, title: str, caption: str = "") -> ReportFigure:
        """Reuse a figure a pipeline wrote (e.g. ``runs/pose/outputs/reprojection.png``)."""
        return self.figure(name, src.read_bytes(), title, caption)

    def sub_run(self, key: str, graph: str, inputs: dict[str, Any]) -> Run:
        """The pipeline run ``runs/<key>/``: reopened to resume if it exists, else created."""
        runs_dir = self.run.root / "runs"
        if (runs_dir / key / "run.json").is_file():
            run = Run.resume(runs_dir / key)
            if run.info().graph != graph:
                raise RunError(f"{run.root} is a {run.info().graph!r} run, not {graph!r}.")
            return run
        return Run.create(runs_dir, graph, self.settings, run_id=key, inputs=inputs)

    def run_graph(
        self,
        run: Run,
        body: Callable[[Runtime], Awaitable[dict[str, Any]]],
        roles: Sequence[Role],
        label: str,
    ) -> dict[str, Any]:
        """Run (or resume) a pipeline graph in ``run`` and record its status."""
        from ethoagent.graphs.runtime import open_runtime

        def on_progress(stage: str, done: int, total: int) -> None:
            self.report_progress(f"{label}: {stage}", done, total)

        async def go() -> dict[str, Any]:
            async with open_runtime(run, self.settings, on_progress, roles=roles) as rt:
                return await body(rt)

        run.update(status="running")
        try:
            state = asyncio.run(go())
        except BaseException as exc:
            run.update(
                status="interrupted" if isinstance(exc, KeyboardInterrupt) else "failed",
                error=str(exc)[:500],
            )
            raise
        run.update(status="finished")
        return state

    def rel(self, path: Path) -> str:
        """``path`` relative to the demo run's root (for the report)."""
        try:
            return str(path.relative_to(self.run.root))
        except ValueError:
            return str(path)


SectionFn = Callable[[DemoContext], Section]


@dataclass(frozen=True)
class SectionSpec:
    """One pipeline's entry in the demo: its key, title and section function."""

    key: str
    title: str
    build: SectionFn


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


def _palette(labels: Sequence[str]) -> dict[str, Any]:
    from matplotlib import colormaps

    cmap = colormaps["tab10" if len(labels) <= 10 else "tab20"]
    return {name: cmap(i % cmap.N) for i, name in enumerate(labels)}


def _runs(values: NDArray[np.str_]) -> list[tuple[int, int, str]]:
    edges = np.flatnonzero(values[1:] != values[:-1]) + 1
    starts = np.concatenate([[0], edges]).astype(int)
    stops = np.concatenate([edges, [len(values)]]).astype(int)
    return [(int(a), int(b), str(values[a])) for a, b in zip(starts, stops, strict=True)]


def timeline_figure(
    rows: Sequence[tuple[str, NDArray[np.str_]]],
    fps: float,
    title: str,
    shade: NDArray[np.bool_] | None = None,
) -> bytes:
    """Ethogram timelines, one bar per row, one colour per label name.

    Args:
        rows: ``(name, labels (frames,) str)``; ``""`` = no label.
        fps: frame rate, Hz (the x axis is seconds).
        title: figure title.
        shade: ``(frames,)`` frames to grey out in the background (e.g. training frames).
    """
    from matplotlib.patches import Patch

    names = sorted({v for _, lab in rows for v in lab.tolist() if v})
    colour = _palette(names)
    frames = max(len(lab) for _, lab in rows)
    fig, ax = new_figure(10, 0.9 + 0.55 * len(rows))
    if shade is not None:
        for a, b, v in _runs(shade.astype(str)):
            if v == "True":
                ax.axvspan(a / fps, b / fps, color="0.92", zorder=0)
    for i, (_, lab) in enumerate(rows):
        y = len(rows) - 1 - i
        for a, b, v in _runs(lab):
            if v:
                ax.broken_barh([(a / fps, (b - a) / fps)], (y + 0.15, 0.7), color=colour[v])
    ax.set_yticks([len(rows) - 1 - i + 0.5 for i in range(len(rows))], [n for n, _ in rows])
    ax.set_xlim(0, frames / fps)
    ax.set_ylim(0, len(rows))
    ax.set_xlabel("time (s)")
    ax.set_title(title, fontsize=10)
    handles = [Patch(color=colour[n], label=n) for n in names]
    if shade is not None:
        handles.append(Patch(color="0.92", label="training frames"))
    ax.legend(
        handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False, fontsize=8
    )
    return png_bytes(fig)


def trajectory_3d_figure(
    points: NDArray[np.float64], truth: NDArray[np.float64] | None, keypoint: str
) -> bytes:
    """The 3D path of one keypoint: estimated (coloured by time) and ground truth (grey).

    Args:
        points: ``(frames, 3)`` mm, arena frame, z up; NaN = not labelled.
        truth: ``(frames, 3)`` mm, or ``None``.
        keypoint: its name, for the title.
    """
    import matplotlib.pyplot as plt

    fig = plt.figure(figsize=(6.5, 5.2), dpi=100)
    ax = fig.add_subplot(projection="3d")
    if truth is not None:
        ax.plot(truth[:, 0], truth[:, 1], truth[:, 2], color="0.6", lw=0.8, label="ground truth")
    ok = np.isfinite(points).all(axis=1)
    sc = ax.scatter(
        points[ok, 0], points[ok, 1], points[ok, 2], c=np.flatnonzero(ok), s=4, cmap="viridis"
    )
    fig.colorbar(sc, ax=ax, label="frame", shrink=0.6, pad=0.1)
    ax.set_xlabel("x (mm)")
    ax.set_ylabel("y (mm)")
    ax.set_zlabel("z (mm)")
    ax.set_title(f"{keypoint}: verified 3D labels (colour = frame)", fontsize=10)
    if truth is not None:
        ax.legend(loc="upper left", frameon=False, fontsize=8)
    return png_bytes(fig)


def f1_figure(scores: dict[str, dict[str, float]]) -> bytes:
    """Grouped bars: per-class F1 (0–1) of each method against the ground truth."""
    classes = sorted({c for s in scores.values() for c in s})
    fig, ax = new_figure(max(6.0, 1.1 * len(classes) + 2), 3.4)
    width = 0.8 / max(1, len(scores))
    x = np.arange(len(classes))
    for i, (name, s) in enumerate(scores.items()):
        vals = [s.get(c, np.nan) for c in classes]
        ax.bar(x + (i - (len(scores) - 1) / 2) * width, vals, width, label=name)
    ax.set_xticks(x, classes)
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("F1 vs ground truth")
    ax.legend(frameon=False, fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return png_bytes(fig)


def calls_figure(rows: Sequence[tuple[str, int, int]]) -> bytes:
    """Per pipeline: items settled by the cheap checked path vs items that called a model."""
    fig, ax = new_figure(7, 0.9 + 0.6 * len(rows))
    y = np.arange(len(rows))[::-1]
    cheap = [r[1] for r in rows]
    model = [r[2] for r in rows]
    ax.barh(y, cheap, color="C2", label="settled without a model call")
    ax.barh(y, model, left=cheap, color="C1", label="called a model")
    ax.set_yticks(y, [r[0] for r in rows])
    ax.set_xlabel("items (pose: frames; segment: snippets; triangulate: frames)")
    ax.legend(frameon=False, fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return png_bytes(fig)


def _fmt(x: Any, unit: str = "") -> str:
    if x is None:
        return "n/a"
    if isinstance(x, float):
        return f"{x:.3g}{unit}"
    return f"{x}{unit}"


# --- sections -----------------------------------------------------------------------------


def session_section(ctx: DemoContext) -> Section:
    """Simulate the session (videos, calibration, ground truth) into ``<run>/session``."""
    from ethoagent.evals.simulate import PRESETS, simulate_session
    from ethoagent.tools.video import VideoReader

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
    fps = PRESETS[o.preset].fps if o.preset in PRESETS else 30.0
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
            "Synthetic data from ethoagent.evals.simulate, not a recording: every number "
            "below is scored against the simulator's exact ground truth.",
        ],
        run_dir=ctx.rel(ctx.session_dir),
        data={"fps": fps, "frames": o.frames, "views": o.views, "label_shares": shares},
    )


def pose_section(ctx: DemoContext) -> Section:
    """Verified 3D labels from the videos and 3 seed frames (``graphs.pose``)."""
    from ethoagent.evals import synthetic
    from ethoagent.evals.synthetic import REGIONS
    from ethoagent.graphs import pose
    from ethoagent.graphs.pose_report import assembled, ground_truth

    s = ctx.session_dir
    inputs = pose.resolve_inputs(
        s / "videos", s / "calibration.toml", s / "ground_truth" / "seeds.csv"
    )
    run = ctx.sub_run("pose", pose.GRAPH_NAME, inputs.model_dump())
    inputs = pose.PoseInputs.model_validate(run.info().inputs)
    state = ctx.run_graph(run, lambda rt: pose.run_pose(rt, inputs), ("vlm", "llm"), "pose")
    out = run.outputs_dir
    summary = json.loads((out / "summary.json").read_text())
    points, _ = assembled(run, int(state["n_chunks"]))
    truth = ground_truth(inputs)
    k = synthetic.KEYPOINTS.index("back_mid")
    frame_rows = list(csv.DictReader(io.StringIO((out / "frames.csv").read_text())))
    no_call = sum(1 for r in frame_rows if r["model_calls"] in ("0", ""))
    calls = sum(summary["model_calls"].values())
    frames, views = summary["frames"], summary["views"]
    every_stage = frames * views * (1 + len(REGIONS))
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
                f"{synthetic.KEYPOINTS[worst]} in {float(missing[worst]):.1%} of frames)",
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
            f"call and one assign call per body region ({len(REGIONS)}) for every frame and "
            "view; here the model is asked only where the cheap path (temporal prediction "
            "+ geometry) fails a check.",
            f"Backend {summary['backend']}"
            + (
                ": deterministic offline solvers answered the model calls."
                if summary["backend"] == "offline"
                else "."
            ),
        ],
        run_dir=ctx.rel(run.root),
        data={
            "points_3d": str(out / "points_3d.nc"),
            "frames": frames,
            "views": views,
            "flagged_frames": summary["flagged_frames"],
            "missing_by_keypoint": {
                name: round(float(m), 4)
                for name, m in zip(synthetic.KEYPOINTS, missing, strict=True)
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
    if pose is not None and pose.status == "ok" and Path(str(pose.data["points_3d"])).is_file():
        return Path(str(pose.data["points_3d"])), "the pose section's verified 3D labels"
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
    inputs = segment.resolve_segment_inputs(
        keypoints, fps=fps, options=segment.SegmentOptions(seed=ctx.options.seed)
    )
    run = ctx.sub_run("segment", segment.GRAPH_NAME, inputs.model_dump())
    inputs = segment.SegmentInputs.model_validate(run.info().inputs)
    ctx.run_graph(run, lambda rt: segment.run_segment(rt, inputs), ("vlm", "llm"), "segment")
    out = run.outputs_dir
    summary = json.loads((out / "summary.json").read_text())
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


def gate_section(ctx: DemoContext) -> Section:
    """A small LookAgain model trained on alternating blocks of labels, scored on the rest."""
    import torch

    from ethoagent.cli_gate import _gate_probabilities
    from ethoagent.nn.lookagain import LookAgain, LookAgainConfig
    from ethoagent.nn.train_gate import GateSession, TrainConfig, train_gate
    from ethoagent.tools.io import read_keypoints
    from ethoagent.tools.motion import describe_motion

    o = ctx.options
    keypoints, source = _keypoints_for_behaviour(ctx)
    fps = float(str(ctx.sections["session"].data["fps"]))
    pose = read_keypoints(keypoints, fps=fps)
    conf = np.where(np.isnan(pose.confidence), 1.0, pose.confidence)
    desc = describe_motion(pose.points, conf)
    _, truth = truth_labels(ctx.session_dir)
    t = truth[: pose.frames, 0]
    classes = sorted(set(t.tolist()))
    codes = np.array([classes.index(v) for v in t], np.int64)
    block = max(1, round(o.gate_block_s * fps))
    test = (np.arange(pose.frames) // block) % 2 == 1
    y = codes.copy()
    y[test] = -1
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
    result = train_gate(
        model,
        [GateSession(desc.features, y[:, None], desc.confidence, desc.valid)],
        train,
        checkpoint_dir=folder,
        progress=on_step,
    )
    seconds = time.perf_counter() - t0
    model.save(folder)
    probs = _gate_probabilities(model, desc, window)
    pred_codes = probs.argmax(axis=-1)[:, 0]
    pred = np.asarray([classes[c] for c in pred_codes], dtype=str)
    f1 = per_class_f1(t[test], pred[test])
    macro = round(float(np.mean(list(f1.values()))), 4)
    accuracy = round(float(np.mean(pred[test] == t[test])), 4)
    n_params = sum(p.numel() for p in model.parameters())
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
            "steps": result.steps,
            "resumed_from": result.resumed_from,
            "parameters": n_params,
        },
    )


def triangulate_section(ctx: DemoContext) -> Section:
    """The verified-triangulation graph (``graphs.demo``): naive DLT vs checks + escalation."""
    from ethoagent.graphs import demo

    o = ctx.options
    frames = min(o.triangulate_frames, o.frames)
    inputs = {"frames": frames, "views": o.views, "seed": o.seed}
    run = ctx.sub_run("triangulate", demo.GRAPH_NAME, inputs)
    ctx.run_graph(
        run,
        lambda rt: demo.run_demo(rt, frames=frames, views=o.views, seed=o.seed),
        ("llm",),
        "triangulate",
    )
    m = json.loads((run.outputs_dir / "summary.json").read_text())
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


SECTIONS: list[SectionSpec] = [
    SectionSpec("session", "Synthetic session", session_section),
    SectionSpec("pose", "Pose: verified multi-view 3D labels", pose_section),
    SectionSpec("segment", "Segment: unsupervised ethogram", segment_section),
    SectionSpec("gate", "Gate: LookAgain behaviour model (keypoint path)", gate_section),
    SectionSpec("triangulate", "Triangulation: checks and escalation", triangulate_section),
]
"""The demo's pipelines in run order; classify and profile add one entry each."""


def overview_section(ctx: DemoContext, sections: Sequence[Section]) -> Section:
    """Headline numbers, per-class F1 of every labelling section, model calls made and saved."""
    by = {s.key: s for s in sections if s.status == "ok"}
    rows = [[s.title, s.status, s.summary or (s.error or "").splitlines()[0]] for s in sections]
    figures = []
    scores = {
        name: dict(by[key].data["f1"])  # type: ignore[call-overload]
        for key, name in (("segment", "segment (unsupervised)"), ("gate", "gate (held-out)"))
        if key in by
    }
    if scores:
        figures.append(
            ctx.figure(
                "overview_f1",
                f1_figure(scores),
                "per-class F1 against ground truth",
                "Frames as samples; segment over the whole session (labels matched by name), "
                "gate on the held-out blocks only.",
            )
        )
    calls: list[tuple[str, int, int]] = []
    table: list[list[str]] = []
    if "pose" in by:
        d = by["pose"].data
        frames, cheap = int(str(d["frames"])), int(str(d["frames_without_model_call"]))
        calls.append(("pose", cheap, frames - cheap))
        table.append(["pose", str(d["model_calls"]), f"≈{d['model_calls_every_stage_estimate']}"])
    if "segment" in by:
        d = by["segment"].data
        n, cheap = int(str(d["snippets"])), int(str(d["snippets_by_kinematics"]))
        calls.append(("segment", cheap, n - cheap))
        table.append(["segment", str(d["model_calls"]), f"{n} (one per snippet) + merges"])
    if "triangulate" in by:
        d = by["triangulate"].data
        first, repaired = int(str(d["accepted_first"])), int(str(d["repaired"]))
        calls.append(("triangulate", first + repaired, 0))
        table.append(["triangulate", str(d["model_calls"]), "1 (summary)"])
    if calls:
        figures.append(
            ctx.figure(
                "overview_calls",
                calls_figure(calls),
                "model calls made and saved",
                "Items settled by the cheap deterministic path (temporal prediction, "
                "geometry, kinematics) that passed every check, vs items that called a "
                "model.",
            )
        )
    failed = [s.title for s in sections if s.status == "error"]
    return Section(
        key="overview",
        title="Overview",
        summary=(
            "Every pipeline ran."
            if not failed
            else f"{len(failed)} section(s) failed: {', '.join(failed)}; the others ran."
        ),
        figures=figures,
        tables=[
            ReportTable(title="sections", columns=["section", "status", "result"], rows=rows),
            *(
                [
                    ReportTable(
                        title="model calls",
                        columns=["pipeline", "calls made", "calls asking in every step"],
                        rows=table,
                    )
                ]
                if table
                else []
            ),
        ],
        data={"failed": failed},
    )


# --- driver -------------------------------------------------------------------------------


def _error_section(key: str, title: str, exc: BaseException, seconds: float) -> Section:
    last = traceback.format_exception_only(type(exc), exc)[-1].strip()
    return Section(
        key=key,
        title=title,
        status="error",
        summary=f"failed: {last}",
        error="".join(traceback.format_exception(type(exc), exc, exc.__traceback__))[-4000:],
        seconds=round(seconds, 2),
    )


def _section_path(run: Run, key: str) -> Path:
    return run.outputs_dir / "sections" / f"{key}.json"


def run_sections(ctx: DemoContext, specs: Sequence[SectionSpec]) -> list[Section]:
    """Run every section in order, isolating failures; reuse finished ones from a resume.

    A section raising becomes an ``error`` section (so do sections whose inputs failed:
    they raise on the missing data); ``KeyboardInterrupt`` still stops the demo.
    """
    out: list[Section] = []
    for spec in specs:
        path = _section_path(ctx.run, spec.key)
        if spec.key in ctx.options.skip:
            section = Section(
                key=spec.key, title=spec.title, status="skipped", summary="skipped (--skip)."
            )
        elif path.is_file():
            section = Section.model_validate_json(path.read_text())
            if section.status != "ok":
                section = _run_one(ctx, spec)
        else:
            section = _run_one(ctx, spec)
        ctx.sections[spec.key] = section
        out.append(section)
    return out


def _run_one(ctx: DemoContext, spec: SectionSpec) -> Section:
    t0 = time.perf_counter()
    try:
        section = spec.build(ctx)
        if section.seconds is None:
            section = section.model_copy(update={"seconds": round(time.perf_counter() - t0, 2)})
    except Exception as exc:
        section = _error_section(spec.key, spec.title, exc, time.perf_counter() - t0)
    ctx.run.write_output(f"sections/{spec.key}.json", section.model_dump_json(indent=2))
    return section


def write_report(ctx: DemoContext, sections: Sequence[Section]) -> Path:
    """Write ``report.html`` and ``summary.json`` into the demo run's outputs."""
    try:
        overview = overview_section(ctx, sections)
    except Exception as exc:
        overview = _error_section("overview", "Overview", exc, 0.0)
    page = [overview, *sections]
    o = ctx.options
    backend = ctx.settings.backend
    intro = [
        f"One synthetic multi-view session ({o.frames} frames x {o.views} cameras, preset "
        f"{o.preset}, seed {o.seed}) through every pipeline, scored against the simulator's "
        "ground truth.",
        f"Backend: {backend}"
        + (
            " (the embedded default: deterministic offline solvers answer every model call "
            "and say so in the traces)."
            if backend == "offline"
            else "."
        )
        + f" ethoagent {__version__}.",
        f"Demo run directory: {ctx.run.root}",
    ]
    html = render_html(
        "ethoagent demo report",
        page,
        ctx.run.outputs_dir,
        intro=intro,
        footer=f"Reproduce: ethoagent demo --frames {o.frames} --views {o.views} --seed "
        f"{o.seed}. Resume: ethoagent demo --resume {ctx.run.run_id}. Why a label exists: "
        "ethoagent trace show <run directory>.",
    )
    path = ctx.run.outputs_dir / REPORT_FILE
    atomic_write_text(path, html)
    summary = {
        "options": o.model_dump(),
        "backend": backend,
        "run_dir": str(ctx.run.root),
        "report": str(path),
        "data": "synthetic session (ethoagent.evals.simulate), not a recording",
        "sections": {
            s.key: {
                "status": s.status,
                "summary": s.summary,
                "run_dir": s.run_dir,
                "seconds": s.seconds,
                "data": s.data,
            }
            for s in page
        },
    }
    ctx.run.write_json_output("summary.json", summary)
    return path


def run_full_demo(
    run: Run,
    settings: Settings,
    options: DemoOptions,
    *,
    progress: ProgressCallback | None = None,
    specs: Sequence[SectionSpec] | None = None,
) -> tuple[list[Section], Path]:
    """Run (or resume) every section in ``run`` and write the report.

    Args:
        run: the demo run (created, or reopened to resume).
        settings: backend and models for the pipelines.
        options: the demo's settings.
        progress: ``(stage, done, total)`` callback for progress bars.
        specs: the sections to run (default ``SECTIONS``).

    Returns:
        The sections in page order (overview excluded) and the report's path.
    """
    unknown = sorted(set(options.skip) - {s.key for s in (specs or SECTIONS)})
    if unknown:
        raise RunError(
            f"--skip {', '.join(unknown)}: no such section.",
            fix=f"choose from {', '.join(s.key for s in (specs or SECTIONS))}.",
        )
    ctx = DemoContext(run=run, settings=settings, options=options, progress=progress)
    sections = run_sections(ctx, specs or SECTIONS)
    return sections, write_report(ctx, sections)


__all__ = [
    "GRAPH_NAME",
    "REPORT_FILE",
    "SECTIONS",
    "DemoContext",
    "DemoOptions",
    "SectionSpec",
    "per_class_f1",
    "run_full_demo",
    "run_sections",
    "write_report",
]
