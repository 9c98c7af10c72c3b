"""Chat tools that run pipeline graphs (segment, pose, gate, classify, profile) into the
workspace, each through ``graphs.kit.run.run_pipeline`` with the pipeline's own options
(the arguments a model leaves out take the options' defaults)."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, Field

from ethoagent.chat.actions.core import (
    MAX_ROWS,
    ChatTool,
    ToolContext,
    ToolResult,
    _Args,
    _keypoint_file,
    _new_folder,
    _rel,
    register_tool,
)
from ethoagent.errors import RunWaitingError

if TYPE_CHECKING:
    from ethoagent.graphs.kit.run import PipelineResult
    from ethoagent.graphs.kit.spec import AnyPipeline

# ------------------------------------------------------------------------------ pipelines


def _run_pipeline(
    ctx: ToolContext,
    spec: AnyPipeline,
    inputs: BaseModel,
    options: BaseModel,
    prefix: str,
    name: str | None,
) -> tuple[PipelineResult, Path, list[str]]:
    """Run ``spec`` into a new folder under ``results/``; return the run, the folder and the
    output files (relative to the workspace). Bad inputs leave neither a run nor a folder."""
    from ethoagent.graphs.kit.run import run_pipeline

    ctx.check_cancel()
    out = _new_folder(ctx, prefix, name)
    try:
        result = run_pipeline(spec, inputs, options, ctx.settings, out=out, progress=ctx.progress)
    except BaseException:
        _drop_empty(out)
        raise
    if result.waiting:  # paused for a person (--ask-person): nothing to summarise yet
        _drop_empty(out)
        root = result.run.root
        raise RunWaitingError(
            f"run {root.name} is waiting for review: {result.unanswered} item(s) failed "
            "every check and escalation and need a person.",
            fix=f"answer them with `ethoagent review {root}`, then "
            f"`ethoagent {spec.name} --resume {root}` (or the page's Resume button).",
        )
    return result, out, [_rel(ctx, p) for p in result.files]


def _drop_empty(out: Path) -> None:
    """Remove ``out`` and ``results/`` where a run left them empty."""
    for folder in (out, out.parent):  # results/ too, where this was its first folder
        if folder.is_dir() and not any(folder.iterdir()):
            folder.rmdir()


def _options(spec: AnyPipeline, **given: Any) -> BaseModel:
    """The pipeline's options with the arguments the model gave (the rest: the defaults)."""
    options: BaseModel = spec.parse_options({k: v for k, v in given.items() if v is not None})
    return options


_BODY = (
    'Body file stating which keypoints play which role (TOML head = "snout", '
    'tail_base = "tailbase", ... or a skeleton file); overrides name matching.'
)
_FORMAT = "Keypoint format where detection is ambiguous (dlc, sleap, anipose, nwb, netcdf, ...)."


def _maybe(ctx: ToolContext, path: str | None, what: str) -> Path | None:
    """``path`` inside the workspace (it must exist), or ``None``."""
    return None if path is None else ctx.workspace.resolve(path, must_exist=True, what=what)


def _examples_table(ctx: ToolContext, path: str | None) -> Path | None:
    """An examples table inside the workspace whose every file lies inside it too."""
    from ethoagent.io.session import read_examples_table

    table = _maybe(ctx, path, "examples table")
    if table is not None:
        for row in read_examples_table(table):
            ctx.workspace.resolve(row.keypoints, must_exist=True, what="keypoint file")
            ctx.workspace.resolve(row.labels, must_exist=True, what="label file")
    return table


class RunSegmentArgs(_Args):
    keypoints: str = Field(description="Keypoint file or simulated session folder.")
    fps: float | None = Field(None, description="Frame rate, Hz, if the file has none.")
    body: str | None = Field(None, description=_BODY)
    format: str | None = Field(None, description=_FORMAT)
    k: int | None = Field(None, description="DEC clusters.")
    min_epoch_s: float | None = Field(None, description="Shortest epoch, seconds.")
    dec_epochs: int | None = Field(None, description="DEC pretraining epochs.")
    dec_iters: int | None = Field(None, description="Most DEC iterations.")
    out: str | None = Field(None, description="Name of the new folder under results/.")


def _run_segment(ctx: ToolContext, a: RunSegmentArgs) -> ToolResult:
    from ethoagent.graphs.segment import PIPELINE

    path = ctx.workspace.resolve(a.keypoints, must_exist=True, what="keypoint file")
    body = _maybe(ctx, a.body, "body file")
    inputs = PIPELINE.parse_inputs(
        {"keypoints": path, "fps": a.fps, "body": body, "format": a.format}
    )
    options = _options(
        PIPELINE,
        k=a.k,
        min_epoch_s=a.min_epoch_s,
        dec_pretrain_epochs=a.dec_epochs,
        dec_cluster_iters=a.dec_iters,
    )
    result, out, files = _run_pipeline(ctx, PIPELINE, inputs, options, "segment", a.out)
    run, summary = result.run, result.summary
    budget = _time_budget(out / "ethogram.csv")
    data = {
        "run": run.run_id,
        "outputs": _rel(ctx, out),
        "ethogram": _rel(ctx, out / "ethogram.csv"),
        "frames": summary["frames"],
        "fps": summary["fps"],
        "animals": summary["animals"],
        "epochs": summary["epochs"],
        "labels": summary["vocabulary"],
        "model_calls_per_snippet": summary["model_calls_per_snippet"],
        "backend": summary["backend"],
        "seconds_per_label": budget,
    }
    rows = [[an, lab, s] for an, per in budget.items() for lab, s in per.items()]
    return ToolResult(
        f"segment run {run.run_id}: {summary['epochs']} epochs, labels "
        f"{', '.join(summary['vocabulary'])}; ethogram {data['ethogram']}",
        data,
        ["animal", "label", "seconds"],
        rows[:MAX_ROWS],
        files,
    )


def _time_budget(ethogram: Path) -> dict[str, dict[str, float]]:
    from ethoagent.tools.ethogram import read_ethogram_csv

    out: dict[str, dict[str, float]] = {}
    with ethogram.open(encoding="utf-8-sig") as fh:
        for row in csv.DictReader(fh):
            per = out.setdefault(row["animal"], {})
            dur = float(row["stop_s"]) - float(row["start_s"])
            per[row["label"]] = round(per.get(row["label"], 0.0) + dur, 3)
    read_ethogram_csv(ethogram)  # validates the file's layout
    return out


register_tool(
    ChatTool(
        "run_segment",
        "Run the segment pipeline (unsupervised ethogram: features -> DEC clusters -> "
        "snippet captions -> merged epochs) on keypoints; writes ethogram.csv, figures and "
        "report.md into a new folder under results/.",
        RunSegmentArgs,
        _run_segment,
        command="run segment",
        positional=("keypoints",),
        long=True,
    )
)


class RunPoseArgs(_Args):
    session: str | None = Field(
        None, description="Folder written by `ethoagent simulate` (sets the three below)."
    )
    videos: str | None = Field(None, description="Folder with one video per camera.")
    calibration: str | None = Field(None, description="anipose calibration.toml.")
    seeds: str | None = Field(None, description="Seed labels CSV frame,view,keypoint,x,y.")
    frames: int | None = Field(None, description="Label the first N frames.")
    out: str | None = Field(None, description="Name of the new folder under results/.")


def _run_pose(ctx: ToolContext, a: RunPoseArgs) -> ToolResult:
    from ethoagent.graphs.pose import PIPELINE

    ws = ctx.workspace
    named = {
        "session": (a.session, "session folder"),
        "videos": (a.videos, "videos folder"),
        "calibration": (a.calibration, "calibration"),
        "seeds": (a.seeds, "seed labels"),
    }
    inputs = PIPELINE.parse_inputs(
        {
            key: ws.resolve(value, must_exist=True, what=what)
            for key, (value, what) in named.items()
            if value is not None
        }
    )
    options = _options(PIPELINE, frames=a.frames)
    result, out, files = _run_pipeline(ctx, PIPELINE, inputs, options, "pose", a.out)
    run, s = result.run, result.summary
    data = {
        "run": run.run_id,
        "outputs": _rel(ctx, out),
        "frames": s["frames"],
        "views": s["views"],
        "flagged_frames": len(s["flagged_frames"]),
        "reprojection_px_median": s["reprojection_px_median"],
        "reprojection_px_p95": s["reprojection_px_p95"],
        "model_calls_per_frame_view": s["model_calls_per_frame_view"],
        "backend": s["backend"],
        "ground_truth": s.get("ground_truth"),
    }
    rows = [[k, json.dumps(v) if isinstance(v, dict) else v] for k, v in data.items()]
    return ToolResult(
        f"pose run {run.run_id}: {s['frames']} frames x {s['views']} views, "
        f"{len(s['flagged_frames'])} flagged; points_3d.csv in {_rel(ctx, out)}",
        data,
        ["field", "value"],
        rows,
        files,
    )


register_tool(
    ChatTool(
        "run_pose",
        "Run the pose pipeline (verified multi-view 3D labels of 12 marks from 3 seed frames) "
        "on a simulated session or videos + calibration + seeds; writes points_3d.csv and a "
        "report into a new folder under results/.",
        RunPoseArgs,
        _run_pose,
        command="run pose",
        positional=("session",),
        long=True,
    )
)


class RunTriangulateArgs(_Args):
    two_d: str = Field(
        description="Folder of one 2D prediction file per camera, or of one folder per camera."
    )
    calibration: str = Field(description="anipose calibration.toml or DANNCE .mat.")
    skeleton: str | None = Field(
        None, description="Skeleton file (.slp, DeepLabCut config.yaml, anipose/skeleton TOML)."
    )
    strict: bool = Field(False, description="Refuse an inconsistent camera.")
    refine_calibration: bool = Field(
        False, description="Refine the extrinsics by bundle adjustment first."
    )
    out: str | None = Field(None, description="Name of the new folder under results/.")


def _run_triangulate(ctx: ToolContext, a: RunTriangulateArgs) -> ToolResult:
    from ethoagent.graphs.triangulate import FILES_PIPELINE

    ws = ctx.workspace
    inputs = FILES_PIPELINE.parse_inputs(
        {
            "two_d": ws.resolve(a.two_d, must_exist=True, what="2D predictions folder"),
            "calibration": ws.resolve(a.calibration, must_exist=True, what="calibration"),
            "skeleton": None
            if a.skeleton is None
            else ws.resolve(a.skeleton, must_exist=True, what="skeleton file"),
        }
    )
    options = _options(FILES_PIPELINE, strict=a.strict, refine_calibration=a.refine_calibration)
    result, out, files = _run_pipeline(ctx, FILES_PIPELINE, inputs, options, "triangulate", a.out)
    run, s = result.run, result.summary
    data = {
        "run": run.run_id,
        "outputs": _rel(ctx, out),
        "frames": s["frames"],
        "cameras": s["cameras"],
        "dropped_cameras": s["dropped_cameras"],
        "unit": s["unit"],
        "median_error_px": s["median_error_px"],
        "error_px_per_camera": s["error_px_per_camera"],
        "flagged_points": s["flagged_points"],
        "diagnosis": s["diagnosis"],
    }
    rows = [[k, json.dumps(v) if isinstance(v, dict | list) else v] for k, v in data.items()]
    dropped = f", left out {', '.join(s['dropped_cameras'])}" if s["dropped_cameras"] else ""
    return ToolResult(
        f"triangulate run {run.run_id}: {s['frames']} frames from {', '.join(s['cameras'])}"
        f"{dropped}; points_3d.csv ({s['unit']}) in {_rel(ctx, out)}",
        data,
        ["field", "value"],
        rows,
        files,
    )


register_tool(
    ChatTool(
        "run_triangulate",
        "Triangulate a lab's own 2D predictions (one file or folder per camera) with its "
        "calibration: diagnoses the calibration (inconsistent camera, unit), writes "
        "anipose-layout points_3d.csv, flags and a report into a new folder under results/.",
        RunTriangulateArgs,
        _run_triangulate,
        command="run triangulate",
        positional=("two_d",),
        long=True,
    )
)


class RunGateArgs(_Args):
    keypoints: str = Field(description="Keypoint file.")
    model: str = Field(description="Model folder written by `ethoagent gate train`.")
    fps: float | None = Field(None, gt=0, description="Frame rate, Hz, if the file has none.")
    out: str | None = Field(None, description="Name of the new folder under results/.")


def _run_gate(ctx: ToolContext, a: RunGateArgs) -> ToolResult:
    from ethoagent.graphs.gate import GATE_PREDICT, PredictInputs

    keypoints, _ = _keypoint_file(ctx, a.keypoints)
    model = ctx.workspace.resolve(a.model, must_exist=True, what="gate model folder")
    inputs = PredictInputs(keypoints=keypoints, gate_model=model, fps=a.fps)
    _, out, _ = _run_pipeline(ctx, GATE_PREDICT, inputs, _options(GATE_PREDICT), "gate", a.out)
    budget = _time_budget(out / "ethogram.csv")
    rows = [[an, lab, s] for an, per in budget.items() for lab, s in per.items()]
    files = [_rel(ctx, out / n) for n in ("labels.csv", "ethogram.csv", "ethogram.png")]
    return ToolResult(
        f"gate labels in {_rel(ctx, out)}",
        {
            "outputs": _rel(ctx, out),
            "ethogram": _rel(ctx, out / "ethogram.csv"),
            "seconds_per_label": budget,
        },
        ["animal", "label", "seconds"],
        rows[:MAX_ROWS],
        files,
    )


register_tool(
    ChatTool(
        "run_gate",
        "Label every frame with a trained LookAgain gate model (keypoint path); writes "
        "labels.csv, ethogram.csv and ethogram.png into a new folder under results/.",
        RunGateArgs,
        _run_gate,
        command="run gate",
        positional=("keypoints",),
        long=True,
    )
)


class RunClassifyArgs(_Args):
    keypoints: str = Field(description="Keypoint file or simulated session folder.")
    examples: str | None = Field(
        None,
        description="Labelled examples of this session: CSV frame,label, 0/1 columns, "
        "start/stop clips or a BORIS export; every class needs one here or in examples_from.",
    )
    examples_from: str | None = Field(
        None,
        description="CSV of other labelled sessions (columns keypoints,labels[,fps], paths "
        "relative to the table) whose examples teach this one.",
    )
    body: str | None = Field(None, description=_BODY)
    format: str | None = Field(None, description=_FORMAT)
    classes: list[str] | None = Field(
        None,
        description="The label set (default: the classes of definitions, else freezing, "
        "darting, rearing, grooming, locomotion, other).",
    )
    definitions: str | None = Field(None, description="JSON file {class: one-sentence definition}.")
    video: str | None = Field(None, description="The video the keypoints were tracked on.")
    fps: float | None = Field(None, description="Frame rate, Hz, if the file has none.")
    window_s: float | None = Field(None, description="Seconds per classified window.")
    k: int | None = Field(None, description="In-context examples per class.")
    smoothing: Literal["hmm", "mode", "none"] | None = Field(None, description="Label smoothing.")
    ask_person: bool | None = Field(
        None,
        description="Pause for a person on the windows every check and escalation failed "
        "(the run waits until they are answered in `ethoagent review`).",
    )
    out: str | None = Field(None, description="Name of the new folder under results/.")


def _run_classify(ctx: ToolContext, a: RunClassifyArgs) -> ToolResult:
    from ethoagent.graphs.classify import PIPELINE

    ws = ctx.workspace
    given = {
        "keypoints": ws.resolve(a.keypoints, must_exist=True, what="keypoint file"),
        "examples": _maybe(ctx, a.examples, "examples file"),
        "examples_from": _examples_table(ctx, a.examples_from),
        "body": _maybe(ctx, a.body, "body file"),
        "format": a.format,
        "video": None if a.video is None else ws.resolve(a.video, must_exist=True, what="video"),
        "definitions": None
        if a.definitions is None
        else ws.resolve(a.definitions, must_exist=True, what="definitions file"),
        "classes": a.classes,
        "fps": a.fps,
    }
    inputs = PIPELINE.parse_inputs(given)
    options = _options(
        PIPELINE, window_s=a.window_s, k=a.k, smoothing=a.smoothing, ask_person=a.ask_person
    )
    result, out, files = _run_pipeline(ctx, PIPELINE, inputs, options, "classify", a.out)
    run, s = result.run, result.summary
    truth = s.get("ground_truth")
    data = {
        "run": run.run_id,
        "outputs": _rel(ctx, out),
        "ethogram": _rel(ctx, out / "ethogram.csv"),
        "frames": s["frames"],
        "fps": s["fps"],
        "animals": s["animals"],
        "classes": s["classes"],
        "windows": s["windows"],
        "model_calls": s["model_calls"],
        "model_calls_saved": s["model_calls_saved"],
        "flagged": len(s["flagged"]),
        "backend": s["backend"],
        "macro_f1_vs_ground_truth": None if truth is None else truth["macro_f1"],
        "per_class_f1_vs_ground_truth": None if truth is None else truth["per_class_f1"],
        "warnings": s["warnings"],
    }
    rows = [
        [animal, r["label"], round(float(r["seconds"]), 3), r["bouts"], round(r["fraction"], 4)]
        for animal, budget in s["time_budget"].items()
        for r in budget
    ]
    data["time_budget"] = rows[: MAX_ROWS * 3]
    f1 = "" if truth is None else f"; macro-F1 vs ground truth {truth['macro_f1']}"
    return ToolResult(
        f"classify run {run.run_id}: {s['windows']} windows, {s['model_calls']} model calls, "
        f"{s['model_calls_saved']} decided by the classical detector{f1}; "
        f"ethogram {data['ethogram']}",
        data,
        ["animal", "label", "seconds", "bouts", "fraction"],
        rows[:MAX_ROWS],
        files,
    )


register_tool(
    ChatTool(
        "run_classify",
        "Run the classify pipeline (in-context behaviour classification: a label set and a "
        "few labelled example frames per class -> per-frame labels, bouts, time budgets) on "
        "keypoints; writes frames.csv, ethogram.csv, figures and report.md into a new folder "
        "under results/.",
        RunClassifyArgs,
        _run_classify,
        command="run classify",
        positional=("keypoints", "examples"),
        long=True,
    )
)


class RunProfileArgs(_Args):
    sessions: str = Field(
        description="Sessions CSV: session (keypoint file or simulated folder), animal, group; "
        "optional day, video, fps, segment. Its paths must lie in the workspace."
    )
    reference_group: str | None = Field(
        None, description="Compare every group against this one (default: every pair)."
    )
    reference_vocabulary: str | None = Field(
        None, description="JSON {name: definition} of known behaviours (novel = none match)."
    )
    body: str | None = Field(None, description=_BODY)
    format: str | None = Field(None, description=_FORMAT)
    clusters: int | None = Field(None, description="Vocabulary size (default: by silhouette).")
    embedder: Literal["auto", "minilm", "tfidf", "endpoint"] | None = Field(
        None, description="Text embedder of the snippet descriptions."
    )
    alpha: float | None = Field(None, description="False-discovery rate (BH).")
    permutations: int | None = Field(None, description="Permutations per test.")
    k: int | None = Field(None, description="DEC clusters of each session's segment run.")
    dec_epochs: int | None = Field(None, description="DEC pretraining epochs per session.")
    dec_iters: int | None = Field(None, description="Most DEC iterations per session.")
    out: str | None = Field(None, description="Name of the new folder under results/.")


def _run_profile(ctx: ToolContext, a: RunProfileArgs) -> ToolResult:
    from ethoagent.graphs.profile import PIPELINE
    from ethoagent.graphs.profile.inputs import read_sessions_csv

    ws = ctx.workspace
    table = ws.resolve(a.sessions, must_exist=True, what="sessions CSV")
    reference = (
        None
        if a.reference_vocabulary is None
        else ws.resolve(a.reference_vocabulary, must_exist=True, what="reference vocabulary")
    )
    for r in read_sessions_csv(table):  # the table's own paths stay inside the workspace too
        for what, value in (("session", r.session), ("video", r.video), ("segment", r.segment)):
            if value is not None:
                ws.resolve(value, must_exist=True, what=f"{_rel(ctx, table)} line {r.row} {what}")
    body = _maybe(ctx, a.body, "body file")
    inputs = PIPELINE.parse_inputs(
        {"sessions": table, "reference_vocabulary": reference, "body": body, "format": a.format}
    )
    segment = {"k": a.k, "dec_pretrain_epochs": a.dec_epochs, "dec_cluster_iters": a.dec_iters}
    options = _options(
        PIPELINE,
        embedder=a.embedder,
        clusters=a.clusters,
        reference_group=a.reference_group,
        alpha=a.alpha,
        n_resamples=a.permutations,
        segment={k: v for k, v in segment.items() if v is not None},
    )
    result, out, files = _run_pipeline(ctx, PIPELINE, inputs, options, "profile", a.out)
    run, s = result.run, result.summary
    vocab = json.loads((out / "vocabulary.json").read_text())
    significant = [
        f"{c['behaviour']} {c['metric']}: {c['group_b']} - {c['group_a']} = "
        f"{c['difference']:.3g}, q = {c['q']:.2g}"
        for c in s["significant"]
    ]
    data = {
        "run": run.run_id,
        "outputs": _rel(ctx, out),
        "sessions": s["sessions"],
        "profiles": s["profiles"],
        "groups": s["groups"],
        "vocabulary": [e["name"] for e in vocab["entries"]],
        "novel": [e["name"] for e in vocab["entries"] if e["novel"]],
        "tests": s["tests"],
        "significant": significant[:MAX_ROWS],
        "embedder": s["embedder"],
        "segment_runs_reused": s["segment_runs_reused"],
        "warnings": s["warnings"],
    }
    rows = [
        [e["name"], e.get("definition", ""), "yes" if e["novel"] else ""] for e in vocab["entries"]
    ]
    return ToolResult(
        f"profile run {run.run_id}: {s['profiles']} profiles from {s['sessions']} sessions, "
        f"{len(rows)} behaviours, {s['tests']} tests, {len(significant)} significant at "
        f"BH q < {s['alpha']}; profiles.csv in {data['outputs']}",
        data,
        ["behaviour", "definition", "novel"],
        rows[:MAX_ROWS],
        files,
    )


register_tool(
    ChatTool(
        "run_profile",
        "Run the profile pipeline on a sessions table (each session segmented, one shared "
        "behaviour vocabulary named by a model, a profile per animal, group comparisons by "
        "permutation tests with Benjamini-Hochberg correction); writes profiles.csv, "
        "vocabulary.json, comparisons.csv, figures and report.md into a new folder under "
        "results/.",
        RunProfileArgs,
        _run_profile,
        command="run profile",
        positional=("sessions",),
        long=True,
    )
)
