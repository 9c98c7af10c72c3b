"""What a person should look at in a finished run, worst first, with its evidence.

A run is read, never written: ``run.json`` (the pipeline and its recorded inputs),
``outputs/`` and ``artifacts/``. Queues:

- ``pose``: frames, flagged first, then by worst reprojection error (pixels); per frame
  each view's current 2D labels ``(keypoints, 2)`` pixels (NaN = not found), the frame's
  outcome (method, flag reason) and the trace's failed checks, retries and escalations.
- ``classify``: query windows, flagged first, then those where the classical detector and
  the final label disagree, then by lowest confidence (the label's probability).
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ethoagent.errors import InputError
from ethoagent.graphs.kit.runtime import PENDING_FILE
from ethoagent.runs import Run

REVIEWABLE = ("pose", "classify", "segment", "profile")
"""Pipelines whose runs have review queues."""

POSE_QUEUE_MIN = 20
"""Frames the pose queue shows besides the flagged ones (the worst by reprojection)."""

CLASSIFY_CONFIDENCE = 0.8
"""A window whose label has a lower probability than this is queued for review."""


def reviewable_runs(path: Path) -> list[Path]:
    """The runs to review for ``path``: itself, or the runs a demo run holds.

    A run of several pipelines (``ethoagent demo``) keeps one run per pipeline under
    ``runs/``: its pose, classify, segment and profile runs, in name order.
    """
    path = Path(path).expanduser().resolve()
    subs = sorted(p.parent for p in path.glob("runs/*/run.json"))
    if (path / "run.json").is_file() and Run(path).info().graph not in REVIEWABLE and subs:
        return [p for p in subs if Run(p).info().graph in REVIEWABLE] or [path]
    return [path]


def open_run(path: Path) -> Run:
    """The finished (or waiting) run at ``path`` that ``ethoagent review`` can show.

    A ``waiting`` run paused for a person (``--ask-person``): its queue is the items it waits
    on (``pending_queue``).

    Raises:
        InputError: not a run directory, not finished or waiting, or a pipeline without
            queues.
    """
    path = Path(path).expanduser().resolve()
    if not (path / "run.json").is_file():
        raise InputError(
            f"{path} is not a run directory (no run.json).",
            fix="pass a folder under runs/ (see `ethoagent runs`).",
        )
    run = Run(path)
    info = run.info()
    if info.graph not in REVIEWABLE:
        raise InputError(
            f"run {path} is a {info.graph!r} run; review shows {', '.join(REVIEWABLE)} runs.",
            fix="pass a pose, classify, segment or profile run.",
        )
    if info.status not in ("finished", "waiting"):
        raise InputError(
            f"run {path} is {info.status}; only a finished run (or one waiting for a person) "
            "can be reviewed.",
            fix=f"finish it first: `ethoagent {info.graph} --resume {path}`.",
        )
    return run


@dataclass(frozen=True)
class PoseRun:
    """A finished pose run read for review.

    Attributes:
        views: camera names, in the order of the views axis.
        keypoints: keypoint names.
        points_2d: ``(frames, views, keypoints, 2)`` float64 pixels, NaN = missing.
        rows: per frame the outcome (``frame, status, method, reprojection_px,
            model_calls, flag_reason``).
        videos: one video per view.
        flagged: frames the run flagged for review.
    """

    views: list[str]
    keypoints: list[str]
    points_2d: NDArray[np.float64]
    rows: list[dict[str, Any]]
    videos: list[str]
    flagged: list[int]


def read_pose_run(run: Run) -> PoseRun:
    """Read the 2D labels, frame outcomes and flags of a finished pose run."""
    inputs = run.info().inputs
    n_chunks = len(list(run.artifacts_dir.glob("pose_*.npz")))
    parts = [run.load_arrays(f"pose_{i:04d}") for i in range(n_chunks)]
    rows: list[dict[str, Any]] = []
    for i in range(n_chunks):
        rows += json.loads((run.outputs_dir / "stages" / f"pose_{i:04d}.json").read_text())
    summary = json.loads((run.outputs_dir / "summary.json").read_text())
    videos = [str(v) for v in inputs["videos"]]
    return PoseRun(
        views=[Path(v).stem for v in videos],
        keypoints=list(inputs["skeleton"]["keypoints"]),
        points_2d=np.concatenate([p["points_2d"] for p in parts]).astype(np.float64),
        rows=sorted(rows, key=lambda r: int(r["frame"])),
        videos=videos,
        flagged=[int(f) for f in summary.get("flagged_frames", [])],
    )


def pose_queue(run: Run) -> list[dict[str, Any]]:
    """The pose frames to review, flagged first, then by worst reprojection error."""
    pr = read_pose_run(run)
    flagged = set(pr.flagged)

    def badness(row: dict[str, Any]) -> tuple[int, float]:
        err = row["reprojection_px"]
        return (0 if row["frame"] in flagged else 1, -(err if err is not None else np.inf))

    rows = sorted((r for r in pr.rows if r["method"] != "seed labels"), key=badness)
    keep = [r for r in rows if r["frame"] in flagged] + [
        r for r in rows if r["frame"] not in flagged
    ][:POSE_QUEUE_MIN]
    return [
        {
            "item": f"pose:frame:{r['frame']}",
            "frame": int(r["frame"]),
            "flagged": r["frame"] in flagged,
            "status": r["status"],
            "method": r["method"],
            "reprojection_px": r["reprojection_px"],
            "reason": r["flag_reason"] or "",
        }
        for r in keep
    ]


def pose_item(run: Run, frame: int) -> dict[str, Any]:
    """One pose frame's evidence: per view the labels, and the trace's checks and routes.

    Raises:
        InputError: ``frame`` outside the run.
    """
    pr = read_pose_run(run)
    if not 0 <= frame < pr.points_2d.shape[0]:
        raise InputError(
            f"frame {frame} is outside run {run.root} (0..{pr.points_2d.shape[0] - 1}).",
            fix="pick a frame from the pose queue.",
        )
    pts = pr.points_2d[frame]
    return {
        "frame": frame,
        "views": pr.views,
        "keypoints": pr.keypoints,
        "points": [
            [_xy(pts[v, k]) for k in range(len(pr.keypoints))] for v in range(len(pr.views))
        ],
        "row": pr.rows[frame] if frame < len(pr.rows) else {},
        "trace": item_trace(run, f"frame {frame}"),
    }


def _xy(p: NDArray[np.float64]) -> list[float] | None:
    return [round(float(p[0]), 2), round(float(p[1]), 2)] if np.isfinite(p).all() else None


TRACE_KINDS = ("check", "decision", "escalation", "flagged", "retry", "accepted")


def item_trace(run: Run, item: str, limit: int = 60) -> list[dict[str, Any]]:
    """The trace events a reviewer needs about ``item`` and its sub-items.

    ``frame 3`` matches ``frame 3 view top``; kept: failed checks, decisions, escalations,
    flags and acceptances after a retry (passed checks and first-try answers are left out).
    """
    out: list[dict[str, Any]] = []
    if not run.trace_path.is_file():
        return out
    with run.trace_path.open(encoding="utf-8") as fh:
        for line in fh:
            if f'"{item}' not in line:
                continue
            try:
                ev = json.loads(line)
            except ValueError:
                continue
            name = str(ev.get("item", ""))
            if name != item and not name.startswith(item + " "):
                continue
            if not _worth_showing(ev):
                continue
            keep = ("kind", "item", "node", "name", "value", "threshold", "message", "attempt")
            out.append({k: ev[k] for k in (*keep, "action", "reason", "proposer") if k in ev})
            if len(out) >= limit:
                break
    return out


def _worth_showing(ev: dict[str, Any]) -> bool:
    """A failed check, a decision, an escalation, a flag, or an acceptance after a retry."""
    kind = ev.get("kind")
    if kind not in TRACE_KINDS:
        return False
    if kind == "check":
        return not ev.get("passed")
    if kind == "accepted":
        return ev.get("proposer") != "propose" or int(ev.get("attempt", 1)) > 1
    return True


def read_windows(run: Run) -> list[dict[str, Any]]:
    """The rows of a classify run's ``windows.csv`` (numbers parsed, ``confidence`` added)."""
    with (run.outputs_dir / "windows.csv").open(newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    out = []
    for r in rows:
        probs = {k[2:]: float(v) for k, v in r.items() if k.startswith("p_")}
        out.append(
            {
                "animal": r["animal"],
                "start": int(r["start_frame"]),
                "stop": int(r["stop_frame"]),
                "label": r["label"],
                "source": r["source"],
                "status": r["status"],
                "reason": r["reason"],
                "probabilities": probs,
                "confidence": probs.get(r["label"], 0.0),
            }
        )
    return out


def detector_labels(run: Run) -> dict[tuple[int, int, int], str]:
    """The classical detector's majority label per window ``(animal index, start, stop)``."""
    inputs = run.info().inputs
    classes = list(inputs["classes"])
    arr = run.load_arrays("labels")
    win = run.load_arrays("windows")
    out = {}
    for a, s, e in win["spans"][: int(win["n_queries"])]:
        votes = np.bincount(arr["detector_labels"][s:e, a], minlength=len(classes))
        out[(int(a), int(s), int(e))] = classes[int(np.argmax(votes))]
    return out


def pending_queue(run: Run) -> list[dict[str, Any]]:
    """The items a run paused for a person waits on (``RUN/review/pending.json``).

    Each is marked ``pending`` and ``flagged`` (every check and escalation failed on it).
    """
    path = run.root / PENDING_FILE
    items: list[dict[str, Any]] = json.loads(path.read_text()) if path.is_file() else []
    for it in items:
        it.update(pending=True, flagged=True, label=it.get("before"), status="flagged")
        it.setdefault("source", "flagged")
        it.setdefault("detector", "(not shown while the run waits)")
        it.setdefault("confidence", max(dict(it.get("probabilities", {})).values(), default=0))
    return items


def classify_queue(run: Run) -> list[dict[str, Any]]:
    """The classify windows to review: flagged, detector disagreeing, low confidence.

    A run waiting for a person: the windows it waits on (``pending_queue``).
    """
    if run.info().status == "waiting":
        return pending_queue(run)
    animals = list(run.info().inputs["animals"])
    det = detector_labels(run)
    items = []
    for w in read_windows(run):
        a = animals.index(w["animal"])
        d = det.get((a, w["start"], w["stop"]))
        flagged = w["status"] == "flagged"
        disagree = d is not None and d != w["label"]
        if not (flagged or disagree or w["confidence"] < CLASSIFY_CONFIDENCE):
            continue
        items.append(
            {
                **w,
                "item": classify_item_id(a, w["start"], w["stop"]),
                "animal_index": a,
                "detector": d,
                "flagged": flagged,
                "disagree": disagree,
            }
        )
    items.sort(key=lambda w: (not w["flagged"], not w["disagree"], w["confidence"]))
    return items


def classify_item_id(animal: int, start: int, stop: int) -> str:
    """The review item id of a classify window."""
    return f"classify:window:{animal}:{start}:{stop}"


def pose_item_id(frame: int, view: str, keypoint: str) -> str:
    """The review item id of one keypoint of one view of a pose frame."""
    return f"pose:frame:{frame}:view:{view}:kp:{keypoint}"


def parse_item(item: str) -> dict[str, Any]:
    """Split a review item id into its fields.

    Raises:
        InputError: not a pose point, classify window, segment epoch or profile entry id.
    """
    p = item.split(":")
    if len(p) == 7 and p[:2] == ["pose", "frame"] and p[3] == "view" and p[5] == "kp":
        return {"kind": "pose", "frame": int(p[2]), "view": p[4], "keypoint": p[6]}
    if len(p) == 5 and p[:2] == ["classify", "window"] and all(x.isdigit() for x in p[2:]):
        return {"kind": "classify", "animal": int(p[2]), "start": int(p[3]), "stop": int(p[4])}
    if len(p) == 5 and p[:2] == ["segment", "epoch"] and all(x.isdigit() for x in p[2:]):
        return {"kind": "segment", "animal": int(p[2]), "start": int(p[3]), "stop": int(p[4])}
    if len(p) == 3 and p[:2] == ["profile", "entry"] and p[2].isdigit():
        return {"kind": "profile", "cluster": int(p[2])}
    raise InputError(
        f"unknown review item {item!r}.",
        fix="use pose:frame:F:view:V:kp:K, classify:window:A:START:STOP, "
        "segment:epoch:A:START:STOP or profile:entry:CLUSTER.",
    )


__all__ = [
    "CLASSIFY_CONFIDENCE",
    "POSE_QUEUE_MIN",
    "REVIEWABLE",
    "PoseRun",
    "classify_item_id",
    "classify_queue",
    "detector_labels",
    "item_trace",
    "open_run",
    "parse_item",
    "pending_queue",
    "pose_item",
    "pose_item_id",
    "pose_queue",
    "read_pose_run",
    "read_windows",
    "reviewable_runs",
]
