"""What a profile run reads, how it is resolved, and the graph's state.

The sessions table and reference vocabulary a user names (``ProfileSources``) resolve into
the run's recorded inputs (``resolve_profile``); the graph and its report share the state.
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections import Counter
from pathlib import Path
from typing import Any, Literal, TypedDict

from pydantic import BaseModel, ConfigDict, Field

from ethoagent.errors import InputError
from ethoagent.graphs.profile.options import ProfileOptions
from ethoagent.io.body import read_body_roles
from ethoagent.io.keypoints import KeypointFormat

REQUIRED_COLUMNS = ("session", "animal", "group")
"""Columns every table has; ``session`` may be empty in a row with a ``video``."""


class ProfileSources(BaseModel):
    """A sessions table (each row segmented, then one vocabulary across all of them).

    Attributes:
        sessions: CSV of ``session`` (keypoint file or simulated folder; empty for a
            video-only session), ``animal``, ``group``; optional ``day``, ``video``,
            ``fps``, ``segment``, ``skeleton``.
        reference_vocabulary: JSON ``{name: definition}`` of known behaviours.
        body: a body file stating the keypoints' roles (``io.body``) for every session.
        format: the keypoint format of every session's file where detection is
            ambiguous (``io.keypoints.KEYPOINT_FORMATS``), or ``None``.
        skeleton: a skeleton file naming the nodes of every session's sleap-anipose
            ``points3d.h5`` where the row names none (default: the ``.slp`` files beside it).
    """

    model_config = ConfigDict(extra="forbid")

    sessions: Path
    reference_vocabulary: Path | None = None
    body: Path | None = None
    format: KeypointFormat | None = None
    skeleton: Path | None = None


class SessionRow(BaseModel):
    """One row of the sessions table: an animal in a session, with its metadata.

    Attributes:
        row: line number in the table (header = 1).
        session: keypoint file (or ``ethoagent simulate`` folder), absolute; ``""`` for a
            video-only session (segmented from ``video``'s moving blobs).
        animal: the animal's id; names the individual in a multi-animal keypoint file.
        group: group or condition.
        day: day or any further label ("" if none).
        video: the video of the session, or ``None``.
        fps: frame rate when the file states none, Hz.
        segment: an existing segment output folder (or run folder) to reuse, or ``None``.
        skeleton: a skeleton file naming the nodes of this session's sleap-anipose
            ``points3d.h5``, absolute, or ``None`` (the run's ``--skeleton``).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    row: int
    session: str
    animal: str
    group: str
    day: str = ""
    video: str | None = None
    fps: float | None = None
    segment: str | None = None
    skeleton: str | None = None

    @property
    def source(self) -> str:
        """The session's keypoint file, or its video for a video-only session."""
        return self.session or self.video or ""

    @property
    def key(self) -> str:
        """The distinct-session key (rows of one multi-animal file share it)."""
        return json.dumps([self.session, self.video, self.fps, self.segment, self.skeleton])


class EntryEdit(BaseModel):
    """A person's edit of a vocabulary entry in ``ethoagent review``.

    Attributes:
        cluster: the entry's cluster.
        action: ``rename`` (to ``name``) or ``merge`` (into the entry of cluster ``into``,
            which keeps its name; the members of both count as that entry).
        name: the new name of a rename.
        into: the cluster a merge joins.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    cluster: int
    action: Literal["rename", "merge"]
    name: str | None = None
    into: int | None = None


class ProfileInputs(BaseModel):
    """What a profile run reads (kept in ``run.json`` so a resume finds it).

    Attributes:
        sessions_csv: the sessions table; rows: its rows.
        options: the run's settings; reference: known behaviours, or ``None``.
        body: the body file every session's segment run reads, or ``None``.
        format: the keypoint format every session's file is read as
            (``io.keypoints.KEYPOINT_FORMATS``) where detection is ambiguous, or
            ``None`` (detected per file).
        skeleton: the skeleton file naming the nodes of a sleap-anipose ``points3d.h5``
            in rows that name none, absolute, or ``None``.
        reviewed: a person's renames and merges of vocabulary entries (a re-run from
            ``ethoagent review`` applies them, in order, after the naming stage).
    """

    model_config = ConfigDict(extra="forbid")

    sessions_csv: str
    rows: list[SessionRow]
    options: ProfileOptions = ProfileOptions()
    reference: dict[str, str] | None = None
    body: str | None = None
    format: KeypointFormat | None = None
    skeleton: str | None = None
    reviewed: list[EntryEdit] = Field(default_factory=list)


class ProfileState(TypedDict, total=False):
    """The profile graph's state: counts, names and summaries (arrays live in artifacts)."""

    n_sessions: int
    session: int
    segments: list[dict[str, Any]]
    embedder: str
    n_snippets: int
    n_texts: int
    k: int
    silhouette: dict[str, float]
    vocabulary: list[str]
    naming: dict[str, int]
    model_calls: int
    n_tests: int
    significant: list[str]
    novel: list[str]
    warnings: list[str]
    timings: dict[str, float]
    outputs: list[str]


# --- the sessions table ----------------------------------------------------------------


def read_sessions_csv(path: Path) -> list[SessionRow]:
    """Read and check a sessions table.

    Columns: ``session`` (keypoint file or simulated-session folder, relative to the
    table's folder or absolute; empty where the row has a ``video`` and no keypoints),
    ``animal``, ``group`` (or ``condition``); optional ``day``, ``video``, ``fps``,
    ``segment`` (an existing segment output folder to reuse), ``skeleton`` (the skeleton
    file naming a sleap-anipose ``points3d.h5``'s nodes).

    Raises:
        InputError: the file is missing or empty, a required column is missing, a
            session, video or segment folder does not exist, a value is malformed, an
            (session, animal) pair repeats, or a group has a single row.
    """
    p = Path(path)
    if not p.is_file():
        raise InputError(
            f"sessions table {p} does not exist.",
            fix="pass a CSV with columns session, animal, group (and optionally day, video, fps).",
        )
    rows = list(csv.DictReader(io.StringIO(p.read_text(encoding="utf-8-sig"))))
    header = [h.strip().lower() for h in (rows[0].keys() if rows else _header(p))]
    if "group" not in header and "condition" in header:
        header = ["group" if h == "condition" else h for h in header]
    missing = [c for c in REQUIRED_COLUMNS if c not in header]
    if missing:
        raise InputError(
            f"sessions table {p} lacks column(s) {missing} (it has {header}).",
            fix="add them: session (keypoint file), animal (id), group (or condition).",
        )
    if not rows:
        raise InputError(f"sessions table {p} has no rows.", fix="list one session per row.")
    out = [_session_row(p, i, raw) for i, raw in enumerate(rows, start=2)]
    seen: dict[tuple[str, str], int] = {}
    for row in out:
        key = (row.source, row.animal)
        if key in seen:
            raise InputError(
                f"{p} lines {seen[key]} and {row.row} both name animal {row.animal!r} in "
                f"session {row.source}.",
                fix="list each animal of a session once.",
            )
        seen[key] = row.row
    sizes = Counter(r.group for r in out)
    single = sorted(g for g, n in sizes.items() if n < 2)
    if single:
        raise InputError(
            f"sessions table {p}: group(s) {single} have a single session; group comparisons "
            "need at least 2 per group.",
            fix="add sessions to those groups or remove their rows.",
        )
    return out


def _session_row(p: Path, i: int, raw: dict[str | Any, str | Any]) -> SessionRow:
    """Line ``i`` of the sessions table ``p``, its paths resolved against the table's folder.

    Raises:
        InputError: an empty required column, a missing session, video or segment folder,
            or an fps that is not a positive number.
    """
    base = p.parent
    r = {k.strip().lower(): (v or "").strip() for k, v in raw.items() if k is not None}
    if "group" not in r:
        r["group"] = r.get("condition", "")
    for col in REQUIRED_COLUMNS:
        if not r.get(col) and not (col == "session" and (r.get("video") or r.get("segment"))):
            raise InputError(
                f"{p} line {i}: column {col!r} is empty.",
                fix="fill it in"
                + (
                    " (or give a video for a session without keypoints)."
                    if col == "session"
                    else "."
                ),
            )
    session = _resolve(base, r["session"]) if r.get("session") else None
    video = _resolve(base, r["video"]) if r.get("video") else None
    segment = _resolve(base, r["segment"]) if r.get("segment") else None
    skeleton = _resolve(base, r["skeleton"]) if r.get("skeleton") else None
    if skeleton is not None and not skeleton.is_file():
        raise InputError(
            f"{p} line {i}: skeleton {skeleton} does not exist.", fix="correct the path."
        )
    if segment is None and session is not None and not session.exists():
        raise InputError(
            f"{p} line {i}: session {r['session']!r} does not exist ({session}).",
            fix="correct the path (relative paths are relative to the table's folder).",
        )
    if video is not None and not video.is_file():
        raise InputError(f"{p} line {i}: video {video} does not exist.", fix="correct the path.")
    if segment is not None and not segment.is_dir():
        raise InputError(
            f"{p} line {i}: segment folder {segment} does not exist.",
            fix="name an `ethoagent segment` output folder, or leave the column empty.",
        )
    fps: float | None = None
    if r.get("fps"):
        try:
            fps = float(r["fps"])
        except ValueError:
            fps = math.nan
        if not (math.isfinite(fps) and fps > 0):
            raise InputError(f"{p} line {i}: fps {r['fps']!r} is not a positive number.")
    return SessionRow(
        row=i,
        session="" if session is None else str(session),
        animal=r["animal"],
        group=r["group"],
        day=r.get("day", ""),
        video=None if video is None else str(video),
        fps=fps,
        segment=None if segment is None else str(segment),
        skeleton=None if skeleton is None else str(skeleton),
    )


def _header(p: Path) -> list[str]:
    first = p.read_text(encoding="utf-8-sig").splitlines()[:1]
    return next(csv.reader(first)) if first else []


def _resolve(base: Path, value: str) -> Path:
    q = Path(value).expanduser()
    return (q if q.is_absolute() else base / q).resolve()


def read_reference_vocabulary(path: Path) -> dict[str, str]:
    """Read a reference vocabulary of known behaviours.

    Accepted: JSON ``{name: definition}``, a list of ``{name, definition}`` objects, or a
    profile run's ``vocabulary.json``.

    Raises:
        InputError: missing or malformed file.
    """
    p = Path(path)
    if not p.is_file():
        raise InputError(f"reference vocabulary {p} does not exist.", fix="correct the path.")
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise InputError(f"reference vocabulary {p} is not JSON: {exc}.") from exc
    entries = data.get("entries", data) if isinstance(data, dict) else data
    if isinstance(entries, dict) and all(isinstance(v, str) for v in entries.values()):
        return {str(k): v for k, v in entries.items()}
    if isinstance(entries, list) and all(isinstance(e, dict) and "name" in e for e in entries):
        return {str(e["name"]): str(e.get("definition", "")) for e in entries}
    raise InputError(
        f"reference vocabulary {p} is neither {{name: definition}} nor a list of "
        "{name, definition} objects.",
        fix='write e.g. {"rearing": "front body raised on the hind legs"}.',
    )


def resolve_profile_inputs(
    sessions: Path,
    options: ProfileOptions,
    reference_vocabulary: Path | None = None,
    body: Path | None = None,
    format: KeypointFormat | None = None,
    skeleton: Path | None = None,
) -> ProfileInputs:
    """Read and check what a profile run reads (the CLI's and a batch's shared step).

    Args:
        sessions: the sessions CSV (``read_sessions_csv``).
        options: the run's settings.
        reference_vocabulary: JSON of known behaviours (``read_reference_vocabulary``).
        body: a body file for every session (``io.body``), or ``None``.
        format: the keypoint format of every session's file, or ``None`` (detected).
        skeleton: a skeleton file naming a sleap-anipose ``points3d.h5``'s nodes in rows
            without a ``skeleton`` column, or ``None``.

    Raises:
        InputError: unreadable files, a missing skeleton file, or a ``reference_group``
            that no row has.
    """
    rows = read_sessions_csv(sessions)
    groups = {r.group for r in rows}
    if options.reference_group is not None and options.reference_group not in groups:
        raise InputError(
            f"reference group {options.reference_group!r} is not in {sessions} (groups: "
            f"{sorted(groups)}).",
            fix="pass one of its groups.",
        )
    reference = (
        None if reference_vocabulary is None else read_reference_vocabulary(reference_vocabulary)
    )
    if body is not None:
        read_body_roles(Path(body))  # a bad body file fails before any run exists
    if skeleton is not None and not Path(skeleton).is_file():
        raise InputError(
            f"skeleton file {skeleton} does not exist.", fix="correct the --skeleton path."
        )
    return ProfileInputs(
        sessions_csv=str(Path(sessions).resolve()),
        rows=rows,
        options=options,
        reference=reference,
        body=None if body is None else str(Path(body).resolve()),
        format=format,
        skeleton=None if skeleton is None else str(Path(skeleton).resolve()),
    )


def resolve_profile(sources: ProfileSources, options: ProfileOptions) -> ProfileInputs:
    """``resolve_profile_inputs`` on what a user named.

    Raises:
        InputError: see ``resolve_profile_inputs``.
    """
    return resolve_profile_inputs(
        sources.sessions,
        options,
        sources.reference_vocabulary,
        sources.body,
        sources.format,
        sources.skeleton,
    )


__all__ = [
    "ProfileInputs",
    "ProfileSources",
    "ProfileState",
    "SessionRow",
    "read_reference_vocabulary",
    "read_sessions_csv",
    "resolve_profile",
    "resolve_profile_inputs",
]
