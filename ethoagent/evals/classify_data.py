"""The data sets of the ``classify`` eval (``ethoagent.evals.classify``).

Each case is one session with per-frame ground truth and a few labelled example clips drawn
from that truth, as a user labels a few clips of their own video; the frames of those clips
are left out of every score.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from ethoagent.errors import InputError
from ethoagent.evals.datasets import load_dataset, shared_data_dir
from ethoagent.io.keypoints import write_keypoints
from ethoagent.model.ethogram import Example
from ethoagent.model.pose import PoseData
from ethoagent.sim.behaviour import INDIVIDUAL_BEHAVIOURS
from ethoagent.sim.synthetic import KEYPOINTS, simulate_world
from ethoagent.tools.classify import DEFAULT_CLASSES

__all__ = ["CLIPS_PER_CLASS", "SIM_TO_CLASS", "ClassifyCase", "classify_cases", "draw_examples"]

SIM_TO_CLASS: dict[str, str] = {
    "still": "freezing",
    "walking": "locomotion",
    "darting": "darting",
    "rearing": "rearing",
    "grooming": "grooming",
    "turning": "other",
}
"""Simulator label -> class of the fear label set."""

CLIPS_PER_CLASS = 5
"""Example clips per class (0.5 s each) of the synthetic and demo1 cases."""


@dataclass(frozen=True)
class ClassifyCase:
    """One data set of the eval.

    Attributes:
        keypoints_file: what the graph reads; pose: the same in memory.
        truth: ``(frames,)`` int64 class codes, the same for every scored animal.
        classes: the label set; examples: the labelled clips given to every method.
        units_per_cm: keypoint units per cm (velocity rule).
        animals: how many animals are scored (the first ``animals``).
    """

    name: str
    keypoints_file: Path
    pose: PoseData
    truth: NDArray[np.int64]
    classes: tuple[str, ...]
    examples: tuple[Example, ...]
    fps: float
    units_per_cm: float
    source: str
    animals: int = 1

    @property
    def scored(self) -> NDArray[np.bool_]:
        """Frames scored: all but the example clips'."""
        mask = np.ones(self.truth.size, dtype=bool)
        for e in self.examples:
            mask[e.start : e.stop] = False
        return mask


def draw_examples(
    truth: NDArray[np.int64],
    classes: tuple[str, ...],
    *,
    clip_frames: int,
    per_class: int,
    seed: int,
) -> list[Example]:
    """Up to ``per_class`` clips of ``clip_frames`` per class, drawn at random.

    Each clip comes from a different bout of the truth; every class present gets at least
    one.
    """
    rng = np.random.default_rng([seed, 0xC1A55])
    out: list[Example] = []
    for j, c in enumerate(classes):
        idx = np.flatnonzero(truth == j)
        if idx.size == 0:
            continue
        bouts = np.split(idx, np.flatnonzero(np.diff(idx) > 1) + 1)
        for b in (bouts[i] for i in rng.permutation(len(bouts))[:per_class]):
            s = int(b[0])
            out.append(
                Example(animal=0, start=s, stop=int(min(b[-1] + 1, s + clip_frames)), label=c)
            )
    return out


def _synthetic_case(work: Path, frames: int, seed: int) -> ClassifyCase:
    world = simulate_world(frames, seed=seed)
    pose = PoseData(
        points=world.points_3d,
        confidence=np.full(world.points_3d.shape[:3], np.nan),
        keypoints=KEYPOINTS,
        individuals=("mouse0",),
        fps=world.fps,
        unit="mm",
        source="ethoagent.sim.synthetic",
    )
    path = write_keypoints(pose, work / "synthetic.nc", format="netcdf")
    classes = DEFAULT_CLASSES
    truth = np.asarray(
        [
            classes.index(SIM_TO_CLASS[INDIVIDUAL_BEHAVIOURS[c]])
            for c in world.behaviour.labels[:, 0]
        ],
        dtype=np.int64,
    )
    ex = draw_examples(
        truth, classes, clip_frames=round(0.5 * world.fps), per_class=CLIPS_PER_CLASS, seed=seed
    )
    return ClassifyCase(
        name="synthetic",
        keypoints_file=path,
        pose=pose,
        truth=truth,
        classes=classes,
        examples=tuple(ex),
        fps=world.fps,
        units_per_cm=10.0,
        source=f"simulate_world(frames={frames}, animals=1, seed={seed}), 3D mm, no video",
    )


def _behaviordepot_case(root: Path, work: Path, quick: bool, seed: int) -> ClassifyCase:
    data = load_dataset("behaviordepot_freezing", root=root)
    pose = data.pose["demo1"]
    fps = 50.0
    frz = data.labels["demo1"][:, 0]
    frames = min(pose.frames, frz.size, round(60 * fps) if quick else pose.frames)
    pose = PoseData(
        points=pose.points[:frames],
        confidence=pose.confidence[:frames],
        keypoints=pose.keypoints,
        individuals=pose.individuals,
        fps=fps,
        unit=pose.unit,
        source=pose.source,
    )
    path = write_keypoints(pose, work / "behaviordepot_demo1.nc", format="netcdf")
    classes = ("freezing", "other")
    truth = np.where(frz[:frames] > 0, 0, 1).astype(np.int64)
    ex = draw_examples(
        truth, classes, clip_frames=round(0.5 * fps), per_class=CLIPS_PER_CLASS, seed=seed
    )
    return ClassifyCase(
        name="behaviordepot_demo1",
        keypoints_file=path,
        pose=pose,
        truth=truth,
        classes=classes,
        examples=tuple(ex),
        fps=fps,
        units_per_cm=32.0,
        source=f"BehaviorDEPOT demo1, DLC 2D px, {frames} frames at 50 fps, human freezing",
    )


def _ethome_case(root: Path, work: Path, seed: int) -> ClassifyCase:
    data = load_dataset("ethome_social_interact", root=root)
    (video, pose), *_ = data.pose.items()
    frames = min(pose.frames, data.labels[video].shape[0])
    pose = PoseData(
        points=pose.points[:frames],
        confidence=pose.confidence[:frames],
        keypoints=pose.keypoints,
        individuals=pose.individuals,
        fps=30.0,
        unit=pose.unit,
        source=pose.source,
    )
    path = write_keypoints(pose, work / "ethome_interact.nc", format="netcdf")
    classes = ("interact", "other")
    truth = np.where(data.labels[video][:frames, 0] > 0, 0, 1).astype(np.int64)
    ex = draw_examples(truth, classes, clip_frames=90, per_class=3, seed=seed)
    return ClassifyCase(
        name="ethome_interact",
        keypoints_file=path,
        pose=pose,
        truth=truth,
        classes=classes,
        examples=tuple(ex),
        fps=30.0,
        units_per_cm=float("nan"),
        source=f"ethome {video}, 2 mice (both scored, examples of the adult only), DLC 2D "
        f"px, {frames} frames at 30 fps, human interact",
        animals=pose.points.shape[1],
    )


def classify_cases(
    work: Path, *, quick: bool, seed: int, root: Path | None = None
) -> tuple[list[ClassifyCase], list[str]]:
    """The eval's data sets (synthetic keypoints written under ``work``) and skip notes.

    ethome's two-mouse session is in the full run only.
    """
    work.mkdir(parents=True, exist_ok=True)
    cases = [_synthetic_case(work, (1 if quick else 3) * 60 * 30, seed + 11)]
    notes: list[str] = []
    base = root if root is not None else shared_data_dir()
    try:
        cases.append(_behaviordepot_case(base, work, quick, seed))
    except InputError as exc:
        notes.append(f"behaviordepot_freezing skipped: {exc}")
    if not quick:
        try:
            cases.append(_ethome_case(base, work, seed))
        except InputError as exc:
            notes.append(f"ethome_social_interact skipped: {exc}")
    return cases, notes
