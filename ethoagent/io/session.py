"""A recorded session from a keypoint file: read once, checked, its rate and layout settled.

Segment, classify and profile all start from this: a keypoint file in any format
``io.keypoints.read_keypoints`` reads (or a folder written by ``ethoagent simulate``, whose
``ground_truth/points_3d.csv`` is the file and whose videos state the frame rate), an
optional video, and a frame rate where the file states none.
"""

from __future__ import annotations

import math
import warnings as _warnings
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from ethoagent.errors import InputError
from ethoagent.io.body import read_body
from ethoagent.io.keypoints import KeypointFormat, read_keypoints
from ethoagent.model.pose import PoseData
from ethoagent.model.skeleton import find_arena_points
from ethoagent.tools.features import LAYOUTS, BodyLayout, infer_layout

FPS_TOLERANCE = 0.02
"""A stated frame rate more than this share away from the video's is warned about."""

MAX_SPEED_BODY_LENGTHS = 20.0
"""Body lengths per second no mouse or rat reaches (a sprinting mouse runs about 5–8:
~80 cm/s over a ~10 cm body); a typical speed above it means a wrong frame rate or unit."""

BODY_LENGTH_MM = (8.0, 800.0)
"""Median body extents, mm, a mouse or rat can have: a few close points of a mouse's
head to a rat's nose-to-tail-tip; a 3D file whose bodies fall outside is in another unit."""

TO_MM = {"um": 1e-3, "mm": 1.0, "cm": 10.0, "m": 1000.0}
"""Millimetres per unit, for the metric units a 3D keypoint file states."""


@dataclass(frozen=True)
class Session:
    """A checked keypoint session (no arrays: what a run records about its input).

    Attributes:
        keypoints: the keypoint file.
        video: the video the keypoints were tracked on, or ``None``.
        fps: frame rate, Hz (> 0).
        frames: number of frames (>= 2).
        animals: individual names, as in the file.
        keypoint_names: keypoint names, as in the file.
        dims: 2 (pixels) or 3 (``unit``).
        unit: ``"px"`` or the 3D unit.
        layout: the name of the body layout (``tools.features.LAYOUTS``) fitting the names,
            ``"derived"``, or the roles a body file stated (``roles_layout_name``).
        truth_labels: a simulated session's ``ground_truth/labels.csv`` (frame, one
            behaviour per animal), or ``None``.
        format: the keypoint format given by the user (``None``: detected).
        skeleton: the skeleton file naming a sleap-anipose ``points3d.h5``'s nodes, as the
            user gave it (``None``: the ``.slp`` files beside the keypoints).
        warnings: one line each: a stated frame rate contradicting the file's or the
            video's, speeds no mouse or rat reaches, a unit the body size contradicts.
        body_length: the animals' median body extent in ``unit`` (``body_length``), or
            ``None`` where fewer than two body points are tracked.
    """

    keypoints: Path
    video: Path | None
    fps: float
    frames: int
    animals: tuple[str, ...]
    keypoint_names: tuple[str, ...]
    dims: int
    unit: str
    layout: str
    truth_labels: Path | None
    format: KeypointFormat | None = None
    skeleton: Path | None = None
    warnings: tuple[str, ...] = ()
    body_length: float | None = None


def resolve_session(
    keypoints: Path,
    *,
    video: Path | None = None,
    fps: float | None = None,
    layout: str | None = None,
    body: Path | None = None,
    format: KeypointFormat | None = None,
    skeleton: Path | None = None,
) -> Session:
    """Read a keypoint file (and check its video) once; settle frame rate and body layout.

    Args:
        keypoints: any file ``io.keypoints.read_keypoints`` reads, or a folder written by
            ``ethoagent simulate`` (its ``ground_truth/points_3d.csv``, fps from its
            videos, labels kept for scoring).
        video: the video the keypoints come from, or ``None``.
        fps: frame rate, Hz; overrides the file's. Needed when neither the file nor the
            video states one.
        layout: name of a body layout (``tools.features.LAYOUTS``); ``None`` infers one
            from the keypoint names.
        body: a body file stating roles (``io.body.read_body``); overrides ``layout``
            and name matching.
        format: the keypoint file's format (``io.keypoints.KEYPOINT_FORMATS``) where its
            suffix and first rows leave it ambiguous; ``None`` detects it.
        skeleton: a skeleton file naming the nodes of a sleap-anipose ``points3d.h5``
            (``io.skeletons.read_skeleton``); ``None``: the ``.slp`` files beside it.

    Returns:
        The session.

    Raises:
        InputError: unreadable or too short keypoints, no frame rate, no body layout
            fitting the keypoint names, a bad body file, or a video shorter than the
            keypoints.
    """
    path = Path(keypoints)
    truth: Path | None = None
    if path.is_dir():
        gt = path / "ground_truth"
        if not (gt / "points_3d.csv").is_file():
            raise InputError(
                f"{path} is a folder, not a keypoint file, and holds no "
                "ground_truth/points_3d.csv of a simulated session.",
                fix="pass a keypoint file (DeepLabCut, SLEAP, LightningPose, anipose, NWB, "
                "netCDF) or a folder written by `ethoagent simulate`.",
            )
        if fps is None:
            fps = simulated_fps(path)
        truth = gt / "labels.csv" if (gt / "labels.csv").is_file() else None
        path = gt / "points_3d.csv"
    stated = read_keypoints(path, format=format, skeleton=skeleton)
    data = replace(stated, fps=fps) if fps is not None else stated
    rate, warnings = _frame_rate(path, stated.fps, fps, video, data.frames)
    if data.frames < 2:
        raise InputError(
            f"{path} has {data.frames} frame(s); a behaviour session needs more.",
            fix="pass a longer recording.",
        )
    names = tuple(data.keypoints)
    chosen = read_body(body, names) if body is not None else body_layout(layout, names)
    length, doubts = _body_checks(path, data, float(rate))
    warnings += doubts
    return Session(
        keypoints=path,
        video=video,
        fps=float(rate),
        frames=data.frames,
        animals=tuple(data.individuals),
        keypoint_names=tuple(data.keypoints),
        dims=int(data.points.shape[-1]),
        unit=data.unit,
        layout=chosen.name,
        truth_labels=truth,
        format=format,
        skeleton=skeleton,
        warnings=tuple(warnings),
        body_length=None if math.isnan(length) else length,
    )


def _body_checks(path: Path, data: PoseData, fps: float) -> tuple[float, list[str]]:
    """The median body length (``body_length``) and warnings on speed and unit.

    A typical moving speed above ``MAX_SPEED_BODY_LENGTHS`` (a wrong frame rate) and a
    unit the body size contradicts (``unit_warning``) are warned about.
    """
    warnings: list[str] = []
    typical = typical_speed(data.points, data.keypoints, fps)
    if typical > MAX_SPEED_BODY_LENGTHS:
        warnings.append(
            f"the animals' typical moving speed is {typical:.1f} body lengths/s at "
            f"{fps:g} fps, above the {MAX_SPEED_BODY_LENGTHS:g} no mouse or rat "
            f"reaches; is the frame rate of {path} right (--fps)?"
        )
    length = body_length(data.points, data.keypoints)
    doubt = unit_warning(path, data.unit, int(data.points.shape[-1]), length)
    return length, warnings if doubt is None else [*warnings, doubt]


@dataclass(frozen=True)
class LabelledSession:
    """One row of an examples table (``read_examples_table``): a labelled session.

    Attributes:
        keypoints: the session's keypoint file (absolute, or as given when absolute).
        labels: its label file (any format ``io.labels.read_labels`` reads).
        fps: its frame rate, Hz, where the keypoint file states none; ``None`` otherwise.
        line: the row's line in the table (header = 1).
        skeleton: the skeleton file naming the nodes of a sleap-anipose ``points3d.h5``
            (optional ``skeleton`` column), or ``None``.
    """

    keypoints: Path
    labels: Path
    fps: float | None
    line: int
    skeleton: Path | None = None


EXAMPLES_TABLE_COLUMNS = ("keypoints", "labels")
"""Required columns of an examples table; ``fps`` and ``skeleton`` are optional."""


def read_examples_table(path: Path) -> list[LabelledSession]:
    """The labelled sessions an examples table lists (``--examples-from``).

    A CSV with a header ``keypoints,labels[,fps][,skeleton]``; one labelled session per
    row; relative paths are relative to the table's folder; an empty ``fps`` cell means
    the keypoint file states the rate; a ``skeleton`` cell names the nodes of a
    sleap-anipose ``points3d.h5`` copied away from its ``.slp`` files.

    Raises:
        InputError: a missing or empty table, a missing column, a bad fps, or a file the
            row names that does not exist (the message names the table and line).
    """
    from ethoagent.io.tables import read_rows

    p = Path(path)
    rows = [r for r in read_rows(p, "examples table") if any(c.strip() for c in r)]
    head = [c.strip().lower() for c in rows[0]] if rows else []
    missing = [c for c in EXAMPLES_TABLE_COLUMNS if c not in head]
    if missing:
        raise InputError(
            f"examples table {p}:1 lacks column(s) {missing} (found {head}).",
            fix="write a header keypoints,labels,fps and one labelled session per row.",
        )
    if len(rows) < 2:
        raise InputError(f"examples table {p} lists no session.", fix="add a row per session.")
    col = {c: head.index(c) for c in (*EXAMPLES_TABLE_COLUMNS, "fps", "skeleton") if c in head}
    out: list[LabelledSession] = []
    for line, row in enumerate(rows[1:], start=2):
        cells = {c: (row[i].strip() if i < len(row) else "") for c, i in col.items()}
        files = {c: _table_path(p, line, c, cells[c]) for c in EXAMPLES_TABLE_COLUMNS}
        skeleton = cells.get("skeleton", "")
        out.append(
            LabelledSession(
                files["keypoints"],
                files["labels"],
                _table_fps(p, line, cells),
                line,
                _table_path(p, line, "skeleton", skeleton) if skeleton else None,
            )
        )
    return out


def _table_path(table: Path, line: int, column: str, cell: str) -> Path:
    if not cell:
        raise InputError(
            f"examples table {table}:{line}: the {column} cell is empty.",
            fix=f"name the session's {column} file (relative to the table's folder).",
        )
    path = Path(cell) if Path(cell).is_absolute() else table.parent / cell
    if not path.exists():
        raise InputError(
            f"examples table {table}:{line}: {column} file {path} not found.",
            fix="paths are relative to the table's folder; check the name.",
        )
    return path


def _table_fps(table: Path, line: int, cells: dict[str, str]) -> float | None:
    cell = cells.get("fps", "")
    if not cell:
        return None
    try:
        fps = float(cell)
    except ValueError:
        fps = math.nan
    if not math.isfinite(fps) or fps <= 0:
        raise InputError(
            f"examples table {table}:{line}: fps {cell!r} is not a positive number.",
            fix="write the session's frame rate in Hz (e.g. 50), or leave the cell empty.",
        )
    return fps


def _frame_rate(
    path: Path, stated: float | None, given: float | None, video: Path | None, frames: int
) -> tuple[float, list[str]]:
    """The frame rate, Hz (given, else the file's, else the video's), and contradictions.

    Returns:
        The rate and one warning per contradiction (given vs file, rate vs video).

    Raises:
        InputError: no frame rate anywhere, or a video shorter than the keypoints.
    """
    from ethoagent.io.video import VideoReader  # OpenCV loads when a video is checked

    rate = given or stated
    warnings: list[str] = []
    if given is not None and stated and _differ(given, stated):
        warnings.append(
            f"--fps {given:g} contradicts the {stated:g} fps {path} states; "
            f"{given:g} is used (times and speeds scale by {stated / given:.3g} if the "
            "file is right)."
        )
    if video is not None:
        with VideoReader(video) as reader:
            if len(reader) < frames:
                raise InputError(
                    f"video {video} has {len(reader)} frames but {path} has {frames}.",
                    fix="pass the video the keypoints were tracked on.",
                )
            if rate and reader.fps and _differ(rate, reader.fps):
                warnings.append(
                    f"frame rate {rate:g} fps (stated) contradicts video {video}'s "
                    f"{reader.fps:g} fps; {rate:g} is used. Check --fps."
                )
            rate = rate or reader.fps
    if rate is None or not math.isfinite(rate) or rate <= 0:
        raise InputError(
            f"{path} states no frame rate.", fix="pass --fps (frames per second of the video)."
        )
    return float(rate), warnings


def _differ(a: float, b: float) -> bool:
    return abs(a - b) > FPS_TOLERANCE * b


def typical_speed(points: NDArray[np.float64], keypoints: tuple[str, ...], fps: float) -> float:
    """The animals' typical speed while moving, body lengths per second.

    Each frame's speed is the median over the body keypoints (arena points left out) of
    their displacement; the body length is the median over frames of the body points'
    extent. The typical speed is the 90th percentile over frames and animals (NaN-safe).

    Args:
        points: ``(frames, individuals, keypoints, dims)`` float64, any unit, NaN = missing.
        keypoints: the keypoint names.
        fps: frame rate, Hz.

    Returns:
        Body lengths per second; 0 where it cannot be measured.
    """
    body = _body_points(keypoints)
    if len(body) < 2 or points.shape[0] < 2:
        return 0.0
    p = points[:, :, body, :]
    length = _body_lengths(p)
    with _warnings.catch_warnings():
        _warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN frames give NaN
        step = np.linalg.norm(np.diff(p, axis=0), axis=-1)
        speed = np.nanmedian(step, axis=2) * fps / np.where(length > 0, length, np.nan)
    speed = speed[np.isfinite(speed)]
    return float(np.percentile(speed, 90)) if speed.size else 0.0


def _body_points(keypoints: tuple[str, ...]) -> list[int]:
    arena = set(find_arena_points(keypoints))
    return [i for i, k in enumerate(keypoints) if k not in arena]


def _body_lengths(p: NDArray[np.float64]) -> NDArray[np.float64]:
    """Each animal's median over frames of its body points' extent, ``(individuals,)``."""
    with _warnings.catch_warnings():
        _warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN frames give NaN
        extent = np.nanmax(p, axis=2) - np.nanmin(p, axis=2)
        out: NDArray[np.float64] = np.nanmedian(np.linalg.norm(extent, axis=-1), axis=0)
    return out


def body_length(points: NDArray[np.float64], keypoints: tuple[str, ...]) -> float:
    """The animals' median body extent, in the points' unit (arena points left out).

    Args:
        points: ``(frames, individuals, keypoints, dims)`` float64, any unit, NaN = missing.
        keypoints: the keypoint names.

    Returns:
        The median over animals of each one's median over frames of the largest distance
        spanned by its tracked body points; NaN where fewer than two are ever tracked.
    """
    body = _body_points(keypoints)
    if len(body) < 2:
        return math.nan
    lengths = _body_lengths(points[:, :, body, :])
    lengths = lengths[np.isfinite(lengths) & (lengths > 0)]
    return float(np.median(lengths)) if lengths.size else math.nan


def unit_warning(path: Path, unit: str, dims: int, length: float) -> str | None:
    """A warning where the stated ``unit`` contradicts the animals' body size, else ``None``.

    A 3D file in pixels, a metric unit that puts a mouse or rat outside
    ``BODY_LENGTH_MM`` (the warning names the unit that fits: a 'mm' file whose bodies are
    0.05 long is in metres), or 2D pixels whose bodies span under one pixel (coordinates
    normalised to 0-1) is contradicted.

    Args:
        path: the keypoint file (named in the warning).
        unit: the unit the file states (``"px"``, ``"mm"``, ``"m"`` ...).
        dims: 2 or 3.
        length: the median body length in ``unit`` (``body_length``); NaN = unknown.
    """
    if unit in ("px", "pixels") and dims == 3:
        fits = _fitting_unit(length)
        return (
            f"{path} holds 3D positions stated in pixels; 3D keypoints are in world units"
            + (f" (the body length of {length:.3g} fits {fits})" if fits else "")
            + "; distances are reported in that unit as it is."
        )
    if math.isnan(length):
        return None
    if unit in ("px", "pixels") and length < 1.0:
        return (
            f"{path}: the animals' median body length is {length:.3g} px, under one pixel; "
            "the positions look normalised to 0-1 rather than in pixels of the video."
        )
    if unit not in TO_MM:
        return None
    mm = length * TO_MM[unit]
    if BODY_LENGTH_MM[0] <= mm <= BODY_LENGTH_MM[1]:
        return None
    fits = _fitting_unit(length)
    return (
        f"{path} states positions in {unit} but the animals' median body length is "
        f"{length:.3g} {unit}, which no mouse or rat has"
        + (f"; it fits {fits} ({length * TO_MM[fits]:.0f} mm)" if fits else "")
        + ". Distances and speeds in the report are off by that factor: re-save the file "
        "in the right unit."
    )


def _fitting_unit(length: float) -> str | None:
    """The metric unit putting ``length`` nearest a 100 mm body within ``BODY_LENGTH_MM``."""
    if not math.isfinite(length) or length <= 0:
        return None
    fits = [u for u, f in TO_MM.items() if BODY_LENGTH_MM[0] <= length * f <= BODY_LENGTH_MM[1]]
    return min(fits, key=lambda u: abs(math.log(length * TO_MM[u] / 100.0)), default=None)


def simulated_fps(folder: Path) -> float | None:
    """The frame rate, Hz, of a folder written by ``ethoagent simulate``, or ``None``.

    It is read from the folder's first video; a folder with no video gives ``None``.
    """
    from ethoagent.io.video import VideoReader

    videos = sorted((Path(folder) / "videos").glob("*.mp4"))
    if not videos:
        return None
    with VideoReader(videos[0]) as reader:
        return reader.fps


def body_layout(name: str | None, keypoints: tuple[str, ...] | list[str]) -> BodyLayout:
    """The layout called ``name`` (checked against ``keypoints``), or one inferred from them.

    Raises:
        InputError: the named layout needs keypoints the file lacks, or none fits.
    """
    if name is None:
        return infer_layout(keypoints)
    layout = LAYOUTS[name]
    missing = layout.missing(keypoints)
    if missing:
        raise InputError(
            f"body layout {layout.name!r} needs keypoints {list(missing)} that the file "
            f"lacks (it has {list(keypoints)}).",
            fix="pick another layout or leave it out to infer one.",
        )
    return layout


__all__ = [
    "BODY_LENGTH_MM",
    "EXAMPLES_TABLE_COLUMNS",
    "FPS_TOLERANCE",
    "MAX_SPEED_BODY_LENGTHS",
    "TO_MM",
    "LabelledSession",
    "Session",
    "body_layout",
    "body_length",
    "read_examples_table",
    "resolve_session",
    "simulated_fps",
    "typical_speed",
    "unit_warning",
]
