"""Apply a run's corrections: a new run of the same pipeline that uses them.

The reviewed run is never changed; its recorded inputs are copied with the corrections
applied and run again (``graphs.kit.run.run_resolved``) beside it:

- pose: every frame with a corrected or absent point becomes a seed frame (its labels are
  the run's 2D labels of that frame with the person's points; an absent point is left
  out). Seed frames are taken as labelled, triangulated from the person's points, and
  feed the rolling few-shot history and the tracker for the frames after them. The merged
  seed file is written to ``<run>/review/seeds-<time>.csv``.
- segment: the relabels, splits and merges, in the order made, are applied to the new
  run's final epochs and the ethogram re-tiled (``SegmentInputs.reviewed``,
  ``tools.epoch_edits``).
- profile: the renames and merges of vocabulary entries are applied after the naming
  stage (``ProfileInputs.reviewed``), so every table, figure and test uses them.
- classify: every relabelled window becomes an example (the detector is fitted on it and
  the model sees it in context) and its frames take the person's label
  (``ClassifyInputs.reviewed``).

The new run's ``review.json`` says which run it came from and how many items a person
reviewed and changed; the reviewed run's ``review/reruns.jsonl`` lists its re-runs.
"""

from __future__ import annotations

import csv
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ethoagent.atomic import atomic_write_text
from ethoagent.config import Settings
from ethoagent.errors import InputError
from ethoagent.graphs.classify import PIPELINE as CLASSIFY
from ethoagent.graphs.classify import ClassifyInputs
from ethoagent.graphs.kit.registry import pipeline
from ethoagent.graphs.kit.run import PipelineResult, run_pipeline, run_resolved
from ethoagent.graphs.kit.runtime import ProgressCallback
from ethoagent.graphs.pose import PIPELINE as POSE
from ethoagent.graphs.pose import PoseInputs
from ethoagent.graphs.profile import PIPELINE as PROFILE
from ethoagent.graphs.profile import ProfileInputs
from ethoagent.graphs.segment import PIPELINE as SEGMENT
from ethoagent.graphs.segment import SegmentInputs
from ethoagent.model.ethogram import Example
from ethoagent.review.profile import current_names, entry_edits
from ethoagent.review.queues import parse_item, read_pose_run
from ethoagent.review.segment import edits_of
from ethoagent.review.store import Correction, CorrectionStore, person_answers
from ethoagent.runs import Run

SEED_COLUMNS = ("frame", "view", "keypoint", "x", "y")
"""The columns of a pose seed label file (``tools.labelling.read_seed_labels``)."""

CHANGING = ("correct", "absent", "relabel", "split", "merge", "rename")
"""Actions that change an output (``accept`` confirms it)."""


def review_counts(active: dict[str, Correction]) -> dict[str, int]:
    """``{"reviewed": items acted on, "changed": items whose value the person changed}``."""
    changed = sum(c.action in CHANGING and c.after != c.before for c in active.values())
    return {"reviewed": len(active), "changed": changed}


def corrected_frames(
    run: Run, active: dict[str, Correction], *, accepted: bool = False
) -> tuple[list[int], NDArray[np.float64]]:
    """The pose frames a person corrected and their 2D labels with the corrections applied.

    Args:
        run: a finished pose run.
        active: its standing corrections (``CorrectionStore.active``).
        accepted: also return the frames a person accepted as they were.

    Returns:
        ``(frames, points)``: the frames (ascending) and ``(frames, views, keypoints, 2)``
        float64 pixels: the run's labels with the person's points, NaN = absent.
    """
    pr = read_pose_run(run)
    fixes: dict[int, dict[tuple[int, int], list[float] | None]] = {}
    for item, rec in active.items():
        if rec.kind != "pose":
            continue
        if rec.action == "accept" and accepted:
            fixes.setdefault(int(item.split(":")[2]), {})
        if rec.action not in ("correct", "absent"):
            continue
        fields = parse_item(item)
        if fields["view"] not in pr.views or fields["keypoint"] not in pr.keypoints:
            raise InputError(
                f"correction {rec.id} in {run.root} names {item}: no such view or keypoint "
                f"(views {', '.join(pr.views)}; keypoints {', '.join(pr.keypoints)}).",
                fix="undo it in `ethoagent review`.",
            )
        key = (pr.views.index(fields["view"]), pr.keypoints.index(fields["keypoint"]))
        point = rec.after if rec.action == "correct" else None
        fixes.setdefault(fields["frame"], {})[key] = point
    frames = sorted(fixes)
    points = pr.points_2d[frames].copy()
    for i, f in enumerate(frames):
        for (v, k), p in fixes[f].items():
            points[i, v, k] = p if p is not None else np.nan
    return frames, points


def merged_seeds(run: Run, active: dict[str, Correction]) -> tuple[Path, list[int]]:
    """Write the run's seed labels plus every corrected frame; return the file and frames.

    Raises:
        InputError: no pose point was corrected (nothing to re-run).
    """
    frames, points = corrected_frames(run, active)
    if not frames:
        raise InputError(
            f"run {run.root} has no corrected pose point to re-run with.",
            fix="correct a point (or mark it absent) in `ethoagent review` first.",
        )
    pr = read_pose_run(run)
    seeds_path = Path(run.info().inputs["seeds"])
    with seeds_path.open(newline="", encoding="utf-8") as fh:
        rows = [r for r in csv.DictReader(fh) if int(r["frame"]) not in frames]
    for i, frame in enumerate(frames):
        for v, view in enumerate(pr.views):
            for k, kp in enumerate(pr.keypoints):
                x, y = points[i, v, k]
                if np.isfinite([x, y]).all():
                    rows.append(
                        dict(
                            zip(
                                SEED_COLUMNS,
                                (str(frame), view, kp, f"{x:.4f}", f"{y:.4f}"),
                                strict=True,
                            )
                        )
                    )
    rows.sort(key=lambda r: int(r["frame"]))
    lines = [",".join(SEED_COLUMNS), *(",".join(r[c] for c in SEED_COLUMNS) for r in rows)]
    out = run.root / "review" / f"seeds-{_stamp()}.csv"
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out, "\n".join(lines) + "\n")
    return out, frames


def reviewed_windows(run: Run, active: dict[str, Correction]) -> list[Example]:
    """The relabelled classify windows as examples (the person's label).

    Raises:
        InputError: no window was relabelled, or a label outside the run's classes.
    """
    classes = list(run.info().inputs["classes"])
    out = []
    for item, rec in active.items():
        if rec.kind != "classify" or rec.action != "relabel":
            continue
        if rec.after not in classes:
            raise InputError(
                f"correction {rec.id} in {run.root} relabels {item} as {rec.after!r}, "
                f"not a class of the run ({', '.join(classes)}).",
                fix="undo it in `ethoagent review` and pick one of the run's classes.",
            )
        w = parse_item(item)
        out.append(Example(animal=w["animal"], start=w["start"], stop=w["stop"], label=rec.after))
    if not out:
        raise InputError(
            f"run {run.root} has no relabelled classify window to re-run with.",
            fix="relabel a window in `ethoagent review` first.",
        )
    return sorted(out, key=lambda e: (e.animal, e.start))


def resume_waiting(
    run: Run, settings: Settings, *, progress: ProgressCallback | None = None
) -> PipelineResult:
    """Resume a run paused for a person with the answers in its corrections file.

    The run continues from its checkpoint (no finished work is redone); while some of
    the items it waits on have no answer it stays ``waiting``.

    Raises:
        InputError: ``run`` is not waiting for a person.
    """
    info = run.info()
    if info.status != "waiting":
        raise InputError(
            f"run {run.root} is {info.status}, not waiting for a person.",
            fix="use the re-run (a new run) for a finished run.",
        )
    settings = settings.model_copy(update={"runs_dir": run.root.parent})
    spec = pipeline(info.graph)
    return run_pipeline(
        spec, None, None, settings, resume=run.root, progress=progress, person=person_answers
    )


def rerun(
    run: Run, settings: Settings, *, progress: ProgressCallback | None = None
) -> PipelineResult:
    """Run ``run``'s pipeline again, in a new run beside it, with its corrections applied.

    Args:
        run: the reviewed run (finished; unchanged apart from ``review/``).
        settings: backend and models (``runs_dir`` is set to the reviewed run's folder).
        progress: ``(stage, done, total)`` callback.

    Returns:
        The new run's result.

    Raises:
        InputError: no correction that changes the run.
    """
    store = CorrectionStore(run.root)
    active = store.active()
    info = run.info()
    settings = settings.model_copy(update={"runs_dir": run.root.parent})
    note: dict[str, Any] = {"from": info.run_id, **review_counts(active)}
    if info.graph == "pose":
        seeds, frames = merged_seeds(run, active)
        inputs = PoseInputs.model_validate(info.inputs)
        done = sorted({*inputs.reviewed_frames, *frames})
        # the recorded seed frames are the original run's choice: add the corrected ones
        chosen = None if inputs.seed_frames is None else sorted({*inputs.seed_frames, *frames})
        inputs = inputs.model_copy(
            update={"seeds": str(seeds), "reviewed_frames": done, "seed_frames": chosen}
        )
        note["seed_frames_added"] = frames
        result = run_resolved(POSE, inputs, settings, progress=progress)
    elif info.graph == "profile":
        current_names(run)  # the edits are consistent with the run's vocabulary
        renames = entry_edits(run, store.standing())
        if not renames:
            raise InputError(
                f"run {run.root} has no renamed or merged vocabulary entry to re-run with.",
                fix="rename or merge an entry in `ethoagent review` first.",
            )
        pin = ProfileInputs.model_validate(info.inputs)
        pin = pin.model_copy(update={"reviewed": [*pin.reviewed, *renames]})
        note["entry_edits"] = len(renames)
        result = run_resolved(PROFILE, pin, settings, progress=progress)
    elif info.graph == "segment":
        edits = edits_of(run, store.standing())
        if not edits:
            raise InputError(
                f"run {run.root} has no relabelled, split or merged epoch to re-run with.",
                fix="edit an epoch in `ethoagent review` first.",
            )
        sin = SegmentInputs.model_validate(info.inputs)
        sin = sin.model_copy(update={"reviewed": [*sin.reviewed, *edits]})
        note["epoch_edits"] = len(edits)
        result = run_resolved(SEGMENT, sin, settings, progress=progress)
    else:
        windows = reviewed_windows(run, active)
        cin = ClassifyInputs.model_validate(info.inputs)
        cin = cin.model_copy(update={"reviewed": _merge(cin.reviewed, windows)})
        note["windows_relabelled"] = len(windows)
        result = run_resolved(CLASSIFY, cin, settings, progress=progress)
    note["run"] = result.run.info().run_id
    atomic_write_text(result.run.root / "review.json", json.dumps(note, indent=2) + "\n")
    log = run.root / "review" / "reruns.jsonl"
    with log.open("a", encoding="utf-8") as fh:
        fh.write(json.dumps({**note, "time": _stamp()}) + "\n")
    return result


def _merge(old: list[Example], new: list[Example]) -> list[Example]:
    """``old`` reviewed windows (of a re-run being reviewed again) updated by ``new``."""
    spans = {(e.animal, e.start, e.stop) for e in new}
    return [*(e for e in old if (e.animal, e.start, e.stop) not in spans), *new]


def _stamp() -> str:
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")


__all__ = [
    "CHANGING",
    "corrected_frames",
    "merged_seeds",
    "rerun",
    "review_counts",
    "reviewed_windows",
]
