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

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from ethoagent.errors import InputError
from ethoagent.graphs.classify.options import ClassifyOptions
from ethoagent.graphs.kit.inputs import SessionRecord
from ethoagent.io.keypoints import KeypointFormat
from ethoagent.io.labels import OTHER, Labels, examples_from_labels, read_labels
from ethoagent.io.session import TO_MM, Session, read_examples_table, resolve_session
from ethoagent.model.ethogram import Example
from ethoagent.tools.classify import DEFAULT_DEFINITIONS, plan_windows


class ClassifySources(BaseModel):
    """What a user names for a classify run.

    Attributes:
        keypoints: keypoint file (DeepLabCut, SLEAP, LightningPose, anipose, NWB, netCDF)
            or a folder written by ``ethoagent simulate``.
        session: a folder from ``ethoagent simulate``; used when ``keypoints`` is absent.
        examples: labelled examples of this session, any label file
            ``io.labels.read_labels`` reads (CSV ``frame,label``, 0/1 columns, clips,
            BORIS, ...).
        examples_from: a table of other labelled sessions (CSV
            ``keypoints,labels[,fps][,skeleton]``, paths relative to the table;
            ``io.session.read_examples_table``) whose
            examples teach this one; with or without ``examples``. Every class needs an
            example in one or the other.
        video: the video the keypoints were tracked on (else frames are drawn).
        fps: frame rate, Hz, where the file states none.
        body: a body file stating which keypoints play which role (``io.body``: a TOML
            ``head = "snout"``, ... or a skeleton file); overrides name matching.
        format: the keypoint format (``io.keypoints.KEYPOINT_FORMATS``) where detection
            from the suffix and first rows is ambiguous.
        skeleton: a skeleton file naming the nodes of a sleap-anipose ``points3d.h5``
            (default: the session's ``.slp`` files beside it).
        classes: the label set (default: the classes of ``definitions``, else the fear set).
        definitions: JSON file ``{class: one-sentence definition}``.
    """

    model_config = ConfigDict(extra="forbid")

    keypoints: Path | None = None
    session: Path | None = None
    examples: Path | None = None
    examples_from: Path | None = None
    video: Path | None = None
    fps: float | None = Field(None, gt=0)
    body: Path | None = None
    format: KeypointFormat | None = None
    skeleton: Path | None = None
    classes: list[str] | None = None
    definitions: Path | None = None

    @model_validator(mode="after")
    def _complete(self) -> ClassifySources:
        if self.session is None and self.keypoints is None:
            raise ValueError("classify needs `keypoints` or `session`")
        if self.examples is None and self.examples_from is None:
            raise ValueError("classify needs `examples` or `examples_from` (or both)")
        return self


class ExampleSession(SessionRecord):
    """A labelled session whose examples teach the one classified (``--examples-from``).

    Attributes:
        labels: its label file.
        examples: its labelled clips, in its own frames and animals.
    """

    labels: str
    examples: list[Example]

    def describe(self) -> str:
        """One line: keypoint file, label file, frame rate and clips."""
        return (
            f"{Path(self.keypoints).name} (labels {Path(self.labels).name}, "
            f"{self.fps:g} fps, {self.frames} frames, {len(self.examples)} clips)"
        )


class ClassifyInputs(SessionRecord):
    """What a classify run reads (kept in ``run.json`` so a resume finds it).

    Attributes:
        classes: the label set; definitions: one sentence per class.
        examples: the labelled example clips (``model.ethogram.Example``).
        examples_file: where they came from (the label file, and the sessions of an
            examples table).
        example_sessions: labelled sessions whose examples are pooled with this one's
            (``tools.detector_pool``).
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
    example_sessions: list[ExampleSession] = Field(default_factory=list)
    reviewed: list[Example] = Field(default_factory=list)
    options: ClassifyOptions = ClassifyOptions()

    @property
    def step(self) -> int:
        """Frames per query window."""
        return max(1, round(self.options.window_s * self.fps))

    @property
    def units_per_cm(self) -> float | None:
        """Keypoint units per cm where the scale is known, else None (body-length ruler).

        ``--px-per-cm`` for pixels; 10 / (mm per unit) for 3D keypoints in a metric unit.
        """
        if self.options.px_per_cm is not None:
            return self.options.px_per_cm
        mm = TO_MM.get(self.unit) if self.dims == 3 else None
        return None if mm is None else 10.0 / mm


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
    person_answers: int
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
    examples: Path | Sequence[Example] | None,
    *,
    examples_from: Path | None = None,
    classes: Sequence[str] | None = None,
    definitions: dict[str, str] | None = None,
    video: Path | None = None,
    fps: float | None = None,
    options: ClassifyOptions | None = None,
    body: Path | None = None,
    format: KeypointFormat | None = None,
    skeleton: Path | None = None,
) -> ClassifyInputs:
    """Check the keypoints, video and labelled examples of a classify run.

    Args:
        keypoints: any file ``tools.io.read_keypoints`` reads, or a folder written by
            ``ethoagent simulate``.
        examples: a label file (``io.labels.read_labels``) or example clips of this
            session, or ``None`` (then ``examples_from`` gives them all).
        examples_from: an examples table of other labelled sessions
            (``io.session.read_examples_table``), each read at its own frame rate.
        classes: the label set (default: the classes of ``definitions``, else
            ``DEFAULT_DEFINITIONS``).
        definitions: one sentence per class (defaults from ``DEFAULT_DEFINITIONS`` where
            a class has one, else the class name).
        video: the video the keypoints come from, or ``None`` (frames are drawn).
        fps: frame rate, Hz (overrides the file's).
        options: the run's settings.
        body: a body file stating the roles (``io.body.read_body``), or ``None``.
        format: the keypoint format where detection is ambiguous, or ``None``.
        skeleton: a skeleton file naming a sleap-anipose ``points3d.h5``'s nodes, or
            ``None`` (the ``.slp`` files beside it).

    Raises:
        InputError: unreadable inputs, a class without examples, or examples outside the
            session.
    """
    opts = options or ClassifyOptions()
    base = resolve_session(
        Path(keypoints),
        video=video,
        fps=fps,
        layout=opts.layout,
        body=body,
        format=format,
        skeleton=skeleton,
    )
    names, defs = _label_set(classes, definitions)
    clips, source = _example_clips(examples, names, base)
    taught = _example_sessions(examples_from, names, opts, body, skeleton)
    if taught:
        table = f"{examples_from}: " + ", ".join(t.describe() for t in taught)
        source = f"{source}; {table}" if source else table
    for e in clips:
        if e.label not in names or e.stop > base.frames or e.animal >= len(base.animals):
            raise InputError(
                f"example {e} is outside the session ({base.frames} frames, "
                f"{len(base.animals)} animal(s)) or its label is not in {names}.",
                fix="label frames of this keypoint file with classes of the label set.",
            )
    _check_scale(opts, base)
    every = [*clips, *(e for t in taught for e in t.examples)]
    missing = [c for c in names if not any(e.label == c for e in every)]
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
        example_sessions=taught,
        options=opts,
    )


def _check_scale(opts: ClassifyOptions, session: Session) -> None:
    """Refuse ``--px-per-cm`` for keypoints that are not pixels (a 3D file's unit is its scale)."""
    if opts.px_per_cm is not None and session.dims != 2:
        raise InputError(
            f"--px-per-cm {opts.px_per_cm:g} was given but {session.keypoints} holds "
            f"{session.dims}D keypoints in {session.unit!r}, not pixels.",
            fix="drop --px-per-cm: a 3D file's unit is its scale.",
        )


def _label_set(
    classes: Sequence[str] | None, definitions: dict[str, str] | None
) -> tuple[list[str], dict[str, str]]:
    """The label set and one definition per class (given, default, or the class name).

    Raises:
        InputError: fewer than two distinct classes.
    """
    defs = dict(definitions or {})
    names = list(classes) if classes else list(defs) or list(DEFAULT_DEFINITIONS)
    if len(set(names)) != len(names) or len(names) < 2:
        raise InputError(
            f"the label set must hold at least two distinct classes; found {names}.",
            fix="pass e.g. --classes freezing,darting,rearing,grooming,locomotion,other.",
        )
    return names, {
        c: defs.get(c) or DEFAULT_DEFINITIONS.get(c) or c.replace("_", " ") for c in names
    }


def _example_clips(
    examples: Path | Sequence[Example] | None, names: list[str], base: Session
) -> tuple[list[Example], str | None]:
    """The example clips (read from a label file, or as given) and the file they came from."""
    if examples is None:
        return [], None
    if not isinstance(examples, (str, Path)):
        return list(examples), None
    labels = read_labels(
        examples, n_frames=base.frames, fps=base.fps, classes=names, animals=base.animals
    )
    return _clips(labels, base.animals), str(examples)


def _clips(labels: Labels, animals: Sequence[str]) -> list[Example]:
    """A label file's example clips, with the frames it makes ``other`` without a bout.

    ``examples_from_labels`` gives the bouts a file lists; frames no bout covers, which
    ``read_labels`` makes ``other`` where the label set has it (a BORIS export of
    ``interact`` events only), become ``other`` clips here, as a 0/1 file's uncovered
    frames do, so BORIS and frame-wise files teach the same classes.
    """
    clips = examples_from_labels(labels, animals)
    if labels.layout != "codes" or OTHER not in labels.classes:
        return clips
    if any(e.label == OTHER for e in clips):
        return clips
    code = labels.classes.index(OTHER)
    for j, column in enumerate(labels.columns):
        if column not in animals:
            continue
        on = np.diff(np.concatenate([[0], (labels.values[:, j] == code).astype(np.int64), [0]]))
        for start, stop in np.flatnonzero(on).reshape(-1, 2):
            clips.append(
                Example(
                    animal=list(animals).index(column),
                    start=int(start),
                    stop=int(stop),
                    label=OTHER,
                )
            )
    return clips


def _example_sessions(
    table: Path | None,
    names: list[str],
    opts: ClassifyOptions,
    body: Path | None,
    skeleton: Path | None = None,
) -> list[ExampleSession]:
    """The labelled sessions of an examples table, each read at its own frame rate.

    The keypoint format of each is detected from its file; ``body`` (the same body file
    as the session classified) states their roles too; a row's ``skeleton``, else
    ``skeleton`` (the classified session's), names a sleap-anipose ``points3d.h5``'s nodes.
    """
    if table is None:
        return []
    out: list[ExampleSession] = []
    for row in read_examples_table(Path(table)):
        where = f"examples table {table}:{row.line}"
        s = resolve_session(
            row.keypoints,
            fps=row.fps,
            layout=opts.layout,
            body=body,
            skeleton=row.skeleton or skeleton,
        )
        labels = read_labels(
            row.labels, n_frames=s.frames, fps=s.fps, classes=names, animals=s.animals
        )
        clips = _clips(labels, s.animals)
        if not clips:
            raise InputError(
                f"{where}: {row.labels} labels no frame of {row.keypoints} with a class of "
                f"{names}.",
                fix="check the classes (--classes) against the label file, or drop the row.",
            )
        out.append(ExampleSession.from_session(s, labels=str(row.labels), examples=clips))
    return out


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
        examples_from=sources.examples_from,
        classes=sources.classes,
        definitions=read_definitions(sources.definitions),
        video=sources.video,
        fps=sources.fps,
        options=options,
        body=sources.body,
        format=sources.format,
        skeleton=sources.skeleton,
    )


__all__ = [
    "ClassifyInputs",
    "ClassifySources",
    "ClassifyState",
    "ExampleSession",
    "query_windows",
    "read_definitions",
    "resolve_classify",
    "resolve_classify_inputs",
]
