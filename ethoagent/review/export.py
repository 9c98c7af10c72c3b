"""Export what a person reviewed in a pose run as training data for a 2D pose model.

The frames a person corrected or accepted, with their 2D labels (the run's, with the
person's points; absent points left out), as a DeepLabCut ``labeled-data`` folder per view
(``<out>/labeled-data/<camera>/``: images, ``CollectedData_<scorer>.h5`` and ``.csv``) and
one SLEAP ``<out>/reviewed.slp`` of user instances (``io.export_labels``).
"""

from __future__ import annotations

from pathlib import Path

from ethoagent.errors import InputError
from ethoagent.io.export_labels import write_dlc_labeled_data, write_slp_user_labels
from ethoagent.io.video import read_frames
from ethoagent.review.queues import read_pose_run
from ethoagent.review.rerun import corrected_frames
from ethoagent.review.store import CorrectionStore
from ethoagent.runs import Run


def export_reviewed(run: Run, out: Path, *, scorer: str = "ethoagent") -> list[Path]:
    """Write the reviewed frames of pose run ``run`` under ``out``; return the files.

    Raises:
        InputError: not a pose run, or no pose frame was corrected or accepted.
    """
    info = run.info()
    if info.graph != "pose":
        raise InputError(
            f"run {run.root} is a {info.graph} run; only pose frames export as 2D labels.",
            fix="pass a pose run.",
        )
    frames, points = corrected_frames(run, CorrectionStore(run.root).active(), accepted=True)
    if not frames:
        raise InputError(
            f"run {run.root} has no corrected or accepted pose frame to export.",
            fix="correct or accept frames in `ethoagent review` first.",
        )
    pr = read_pose_run(run)
    written: list[Path] = []
    for v, (view, video) in enumerate(zip(pr.views, pr.videos, strict=True)):
        images = dict(zip(frames, read_frames(video, frames), strict=True))
        written += write_dlc_labeled_data(
            out, view, frames, images, points[:, v], pr.keypoints, scorer=scorer
        )
    bones = [tuple(b) for b in info.inputs["skeleton"].get("bones", [])]
    written.append(
        write_slp_user_labels(
            out / "reviewed.slp", pr.videos, frames, points, pr.keypoints, bones=bones
        )
    )
    return written


__all__ = ["export_reviewed"]
