"""The profile queue: a run's vocabulary entries worst first, with their member examples.

Every entry of ``outputs/vocabulary.json`` is queued: flagged names first, then novel
entries, then by fewest member snippets. Item ids are ``profile:entry:<cluster>``; a
correction's ``after`` is the new name (``rename``) or the cluster of the entry it joins
(``merge``, which keeps the other entry's name).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from pydantic import ValidationError

from ethoagent.errors import InputError
from ethoagent.graphs.profile.inputs import EntryEdit
from ethoagent.review.store import Correction, CorrectionStore
from ethoagent.runs import Run


def profile_item_id(cluster: int) -> str:
    """The review item id of a vocabulary entry."""
    return f"profile:entry:{cluster}"


def read_vocabulary(run: Run) -> list[dict[str, Any]]:
    """The entries of a profile run's ``vocabulary.json``."""
    return list(json.loads((run.outputs_dir / "vocabulary.json").read_text())["entries"])


def entry_edits(run: Run, records: Sequence[Correction]) -> list[EntryEdit]:
    """The standing profile corrections of ``run`` as entry edits, in the order made.

    Raises:
        InputError: a record with a malformed item or value (its id named).
    """
    out = []
    for rec in records:
        if rec.kind != "profile" or rec.action not in ("rename", "merge"):
            continue
        try:
            cluster = int(rec.item.split(":")[2])
            key = "name" if rec.action == "rename" else "into"
            out.append(
                EntryEdit.model_validate({"cluster": cluster, "action": rec.action, key: rec.after})
            )
        except (IndexError, ValueError) as exc:
            why = (
                "; ".join(f"{e['loc'][0]}: {e['msg']}" for e in exc.errors())
                if isinstance(exc, ValidationError)
                else "no cluster in the item"
            )
            raise InputError(
                f"correction {rec.id} in {run.root} ({rec.action} {rec.item}) is malformed: {why}.",
                fix="undo it in `ethoagent review`.",
            ) from None
    return out


def current_names(run: Run, pending: Sequence[Correction] = ()) -> dict[int, dict[str, Any]]:
    """Per cluster the entry's name after the person's edits and what it merged into.

    Args:
        run: a finished profile run.
        pending: records not stored yet, applied after the stored ones (to check them).

    Raises:
        InputError: an edit naming a cluster without an entry, a name taken by another
            entry, or a merge into itself or into a merged entry.
    """
    state = {e["cluster"]: {"name": e["name"], "into": None} for e in read_vocabulary(run)}
    for ed in entry_edits(run, [*CorrectionStore(run.root).standing(), *pending]):
        target = ed.into if ed.action == "merge" else ed.cluster
        live = {c for c, v in state.items() if v["into"] is None}
        if ed.cluster not in live or target not in live or ed.cluster == ed.into:
            raise InputError(
                f"{ed.action} of entry {ed.cluster} in {run.root}: no such entry left "
                "(merged away or itself).",
                fix="pick an entry from the profile queue.",
            )
        if ed.action == "merge":
            state[ed.cluster]["into"] = ed.into
            continue
        if not ed.name or any(state[c]["name"] == ed.name for c in live if c != ed.cluster):
            raise InputError(
                f"rename of entry {ed.cluster} to {ed.name!r}: empty or another entry's name.",
                fix="pick a new name, or merge into the entry of that name.",
            )
        state[ed.cluster]["name"] = ed.name
    return state


def profile_queue(run: Run) -> list[dict[str, Any]]:
    """Every vocabulary entry, worst first: flagged, novel, then fewest members."""
    names = current_names(run)
    items = []
    for e in read_vocabulary(run):
        now = names[e["cluster"]]
        items.append(
            {
                "item": profile_item_id(e["cluster"]),
                "cluster": e["cluster"],
                "name": now["name"],
                "run_name": e["name"],
                "merged_into": now["into"],
                "members": e["members"],
                "seconds": e["seconds"],
                "flagged": e["status"] != "accepted",
                "novel": bool(e["novel"]),
            }
        )
    items.sort(key=lambda i: (not i["flagged"], not i["novel"], i["members"]))
    return items


def profile_item(run: Run, cluster: int) -> dict[str, Any]:
    """One entry's evidence: definition, checks, kinematics, captions and member examples.

    Raises:
        InputError: no entry of that cluster.
    """
    entry = next((e for e in read_vocabulary(run) if e["cluster"] == cluster), None)
    if entry is None:
        raise InputError(
            f"no vocabulary entry of cluster {cluster} in run {run.root}.",
            fix="pick an entry from the profile queue.",
        )
    names = current_names(run)
    return {
        **{k: entry[k] for k in ("cluster", "definition", "named_by", "status", "members")},
        **{k: entry[k] for k in ("seconds", "caption_labels", "descriptions", "examples")},
        "name": names[cluster]["name"],
        "run_name": entry["name"],
        "merged_into": names[cluster]["into"],
        "failed_checks": [c for c in entry["checks"] if not c.get("passed", True)],
        "others": [
            {"cluster": c, "name": v["name"]}
            for c, v in names.items()
            if c != cluster and v["into"] is None
        ],
    }


__all__ = [
    "current_names",
    "entry_edits",
    "profile_item",
    "profile_item_id",
    "profile_queue",
    "read_vocabulary",
]
