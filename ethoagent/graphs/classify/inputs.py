"""What a classify run reads, how it is resolved, and the graph's state.

The user's files (``ClassifySources``) resolve into the run's recorded inputs
(``resolve_classify``: the keypoints through ``io.session.resolve_session``, the labelled
examples and class definitions); the graph and its report share the state.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TypedDict

from pydantic import BaseModel, ConfigDict, Field, model_validator

from ethoagent.errors import InputError
from ethoagent.graphs.classify.options import ClassifyOptions
from ethoagent.graphs.kit.inputs import SessionRecord
from ethoagent.io.labels import examples_from_labels, read_labels
from ethoagent.io.session import Session, resolve_session
from ethoagent.model.ethogram import Example
from ethoagent.tools.classify import DEFAULT_DEFINITIONS, plan_windows


class ClassifySources(BaseModel):
    """What a user names for a classify run.

    Attributes:
        keypoints: keypoint file (DeepLabCut, SLEAP, LightningPose, anipose, NWB, netCDF)
            or a folder written by ``ethoagent simulate``.
        session: a folder from ``ethoagent simulate``; used when ``keypoints`` is absent.
        examples: labelled examples, CSV ``frame,label`` (or ``start_frame,stop_frame,label``;
            optional ``animal``) or a BORIS events export; every class needs one.
        video: the video the keypoints were tracked on (else frames are drawn).
        fps: frame rate, Hz, where the file states none.
        classes: the label set (default: the classes of ``definitions``, else the fear set).
        definitions: JSON file ``{class: one-sentence definition}``.
    """

    model_config = ConfigDict(extra="forbid")

    keypoints: Path | None = None
    session: Path | None = None
    examples: Path
    video: Path | None = None
    fps: float | None = Field(None, gt=0)
    classes: list[str] | None = None
    definitions: Path | None = None

    @model_validator(mode="after")
    def _complete(self) -> ClassifySources:
        if self.session is None and self.keypoints is None:
            raise ValueError("classify needs `keypoints` or `session`")
        return self


class ClassifyInputs(SessionRecord):
    """What a classify run reads (kept in ``run.json`` so a resume finds it).

    Attributes:
        classes: the label set; definitions: one sentence per class.
        examples: the labelled example clips (``model.ethogram.Example``).
        examples_file: where they came from.
        reviewed: windows a person labelled in ``ethoagent review`` (a re-run with the
            run's corrections): their frames take the person's label and they join the
            in-context examples the model sees; the detector is fitted on ``examples``
            only, so the windows a person did not review keep the detector's answer.
        options: the run's settings; the session's fields are ``SessionRecord``'s.
    """

    classes: list[str]
    definitions: dict[str, str]
    examples: list[Example]
    examples_file: str | None = None
    reviewed: list[Example] = Field(default_factory=list)
    options: ClassifyOptions = ClassifyOptions()

    @property
    def step(self) -> int:
        """Frames per query window."""
        return max(1, round(self.options.window_s * self.fps))


class ClassifyState(TypedDict, total=False):
    """The classify graph's state: counts, names and summaries (arrays live in artifacts)."""

    frames: int
    windows: int
    examples: int
    example_counts: dict[str, int]
    rendered: bool
    warnings: list[str]
    chunk: int
    n_chunks: int
    chunk_size: int
    routes: dict[str, int]
    flagged: list[str]
    model_calls: int
    model_windows: int
    detector: dict[str, Any]
    timings: dict[str, float]
    outputs: list[str]


def query_windows(inputs: ClassifyInputs) -> list[tuple[int, int, int]]:
    """``(animal, start, stop)`` of every query window, animal-major."""
    spans = plan_windows(inputs.frames, inputs.step)
    return [(a, s, e) for a in range(len(inputs.animals)) for s, e in spans]


def read_definitions(path: Path | None) -> dict[str, str] | None:
    """Class definitions from a JSON object ``{class: one sentence}``; ``None`` for no file.

    Raises:
        InputError: unreadable file or not an object of strings.
    """
    if path is None:
        return None
    try:
        value = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise InputError(
            f"cannot read definitions {path}: {exc}.",
            fix='write a JSON object {"freezing": "No movement ...", ...}.',
        ) from exc
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise InputError(
            f"definitions {path} must be a JSON object of class -> sentence.",
            fix='e.g. {"freezing": "No movement for at least 1 s."}.',
        )
    return {str(k): v for k, v in value.items()}


def resolve_classify_inputs(
    keypoints: Path,
    examples: Path | Sequence[Example],
    *,
    classes: Sequence[str] | None = None,
    definitions: dict[str, str] | None = None,
    video: Path | None = None,
    fps: float | None = None,
    options: ClassifyOptions | None = None,
) -> ClassifyInputs:
    """Check the keypoints, video and labelled examples of a classify run.

    Args:
        keypoints: any file ``tools.io.read_keypoints`` reads, or a folder written by
            ``ethoagent simulate``.
        examples: a label file (``io.labels.read_labels``) or example clips.
        classes: the label set (default: the classes of ``definitions``, else
            ``DEFAULT_DEFINITIONS``).
        definitions: one sentence per class (defaults from ``DEFAULT_DEFINITIONS`` where
            a class has one, else the class name).
        video: the video the keypoints come from, or ``None`` (frames are drawn).
        fps: frame rate, Hz (overrides the file's).
        options: the run's settings.

    Raises:
        InputError: unreadable inputs, a class without examples, or examples outside the
            session.
    """
    opts = options or ClassifyOptions()
    base = resolve_session(Path(keypoints), video=video, fps=fps, layout=opts.layout)
    defs = dict(definitions or {})
    names = list(classes) if classes else list(defs) or list(DEFAULT_DEFINITIONS)
    if len(set(names)) != len(names) or len(names) < 2:
        raise InputError(
            f"the label set must hold at least two distinct classes; found {names}.",
            fix="pass e.g. --classes freezing,darting,rearing,grooming,locomotion,other.",
        )
    defs = {c: defs.get(c) or DEFAULT_DEFINITIONS.get(c) or c.replace("_", " ") for c in names}
    clips, source = _example_clips(examples, names, base)
    for e in clips:
        if e.label not in names or e.stop > base.frames or e.animal >= len(base.animals):
            raise InputError(
                f"example {e} is outside the session ({base.frames} frames, "
                f"{len(base.animals)} animal(s)) or its label is not in {names}.",
                fix="label frames of this keypoint file with classes of the label set.",
            )
    missing = [c for c in names if not any(e.label == c for e in clips)]
    if missing and opts.use_examples:
        raise InputError(
            f"no labelled example of class(es) {missing} in "
            f"{source or 'the examples given'}; every class needs at least one.",
            fix="label a few frames of each class (rare ones included), or drop the class.",
        )
    return ClassifyInputs.from_session(
        base,
        classes=names,
        definitions=defs,
        examples=clips,
        examples_file=source,
        options=opts,
    )


def _example_clips(
    examples: Path | Sequence[Example], names: list[str], base: Session
) -> tuple[list[Example], str | None]:
    """The example clips (read from a label file, or as given) and the file they came from."""
    if not isinstance(examples, (str, Path)):
        return list(examples), None
    labels = read_labels(
        examples, n_frames=base.frames, fps=base.fps, classes=names, animals=base.animals
    )
    return examples_from_labels(labels, base.animals), str(examples)


def resolve_classify(sources: ClassifySources, options: ClassifyOptions) -> ClassifyInputs:
    """``resolve_classify_inputs`` on what a user named (the definitions file read here).

    Raises:
        InputError: see ``resolve_classify_inputs`` and ``read_definitions``.
    """
    keypoints = sources.keypoints or sources.session
    assert keypoints is not None  # ClassifySources requires one
    return resolve_classify_inputs(
        keypoints,
        sources.examples,
        classes=sources.classes,
        definitions=read_definitions(sources.definitions),
        video=sources.video,
        fps=sources.fps,
        options=options,
    )


__all__ = [
    "ClassifyInputs",
    "ClassifySources",
    "ClassifyState",
    "query_windows",
    "read_definitions",
    "resolve_classify",
    "resolve_classify_inputs",
]
