"""The corrections file of a run: ``<run>/review/corrections.jsonl``, append only.

One JSON object per line: ``{"id", "item", "kind", "action", "before", "after", "time"}``.
``item`` names what was reviewed (``pose:frame:12:view:top:kp:nose``,
``classify:window:0:120:150``, ``segment:epoch:0:120:150``, ``profile:entry:3``);
``before`` is what the run said, ``after`` what the person said (``None`` for a point
marked absent); ``action`` is ``accept``, ``correct``, ``absent``, ``relabel``, ``split``,
``merge``, ``rename`` or ``undo`` (whose ``after`` is the id of the record it cancels).
Nothing is ever rewritten: an undo is one more line, and ``active`` folds the file into
the corrections that stand (the last record per item, undone records removed);
``standing`` keeps every record not undone, in order.
"""

from __future__ import annotations

import json
import os
import threading
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from ethoagent.errors import InputError
from ethoagent.runs import Run

Action = Literal["accept", "correct", "absent", "relabel", "split", "merge", "rename", "undo"]
Kind = Literal["pose", "classify", "segment", "profile"]

CORRECTIONS_FILE = "review/corrections.jsonl"
"""Where a run keeps its corrections, relative to the run directory."""


class Correction(BaseModel):
    """One action of a person on one review item.

    Attributes:
        id: unique id of this record (an undo names it).
        item: the reviewed item's id (``kind:...``, see the module docstring).
        kind: the queue it came from: ``pose``, ``classify``, ``segment`` or ``profile``.
        action: what the person did.
        before: the run's value (pose: ``[x, y]`` pixels or ``None``; classify, segment: a
            label).
        after: the person's value (pose: ``[x, y]`` pixels, ``None`` = absent; classify: a
            label; segment: a label, the frame to split at or ``previous`` / ``next`` to
            merge with; profile: a new name or the cluster to merge into; undo: the id of
            the cancelled record).
        time: UTC time of the action, ISO 8601.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str
    item: str
    kind: Kind
    action: Action
    before: Any = None
    after: Any = None
    time: str


class CorrectionStore:
    """The append-only corrections file of one run; safe to share between server threads.

    Args:
        run_dir: the run directory (the file is ``run_dir/review/corrections.jsonl``).
    """

    def __init__(self, run_dir: Path) -> None:
        """Open (not create) the corrections file of ``run_dir``."""
        self.path = Path(run_dir) / CORRECTIONS_FILE
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"CorrectionStore({str(self.path)!r})"

    def read(self) -> list[Correction]:
        """Every record in file order (an empty list without a file).

        Raises:
            InputError: a line that is not a correction record (the file and line named).
        """
        if not self.path.is_file():
            return []
        out = []
        for n, line in enumerate(self.path.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            try:
                out.append(Correction.model_validate_json(line))
            except ValidationError as exc:
                msg = exc.errors()[0]["msg"]
                raise InputError(
                    f"{self.path} line {n} is not a correction record: {msg}.",
                    fix="delete that line (the file is append-only JSON lines).",
                ) from None
        return out

    def append(
        self,
        item: str,
        kind: Kind,
        action: Action,
        before: Any = None,
        after: Any = None,
    ) -> Correction:
        """Append one record (flushed and fsynced) and return it."""
        rec = Correction(
            id=uuid.uuid4().hex[:12],
            item=item,
            kind=kind,
            action=action,
            before=before,
            after=after,
            time=datetime.now(UTC).isoformat(timespec="seconds"),
        )
        self._write(rec)
        return rec

    def undo(self) -> Correction | None:
        """Cancel the latest record that stands; return the undo record (``None``: nothing)."""
        with self._lock:
            standing = _standing(self.read())
        if not standing:
            return None
        last = standing[-1]
        return self.append(last.item, last.kind, "undo", before=last.after, after=last.id)

    def active(self) -> dict[str, Correction]:
        """The corrections that stand, by item: the latest record per item, undos applied."""
        out: dict[str, Correction] = {}
        for rec in _standing(self.read()):
            out[rec.item] = rec
        return out

    def standing(self) -> list[Correction]:
        """Every record not undone, in file order (segment edits apply in this order)."""
        return _standing(self.read())

    def _write(self, rec: Correction) -> None:
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a", encoding="utf-8") as fh:
                fh.write(json.dumps(rec.model_dump(mode="json"), sort_keys=True) + "\n")
                fh.flush()
                os.fsync(fh.fileno())


def person_answers(run: Run, items: list[dict[str, Any]]) -> dict[str, Any]:
    """The answers a paused run resumes with: the standing correction of each pending item.

    Args:
        run: the paused run (``runs.Run``; its ``root`` holds the corrections file).
        items: the items it waits on (``RUN/review/pending.json``), each with ``item``.

    Returns:
        ``{item id: {"action", "after"}}`` for the items a person answered.
    """
    active = CorrectionStore(run.root).active()
    out: dict[str, Any] = {}
    for it in items:
        rec = active.get(str(it["item"]))
        if rec is not None:
            out[rec.item] = {"action": rec.action, "after": rec.after}
    return out


def _standing(records: list[Correction]) -> list[Correction]:
    """The non-undo records not cancelled by a later undo, in file order."""
    undone = {r.after for r in records if r.action == "undo"}
    return [r for r in records if r.action != "undo" and r.id not in undone]


__all__ = ["CORRECTIONS_FILE", "Action", "Correction", "CorrectionStore", "Kind", "person_answers"]
