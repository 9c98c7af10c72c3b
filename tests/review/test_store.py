"""The corrections file: append only, undo appends, the standing corrections fold."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ethoagent.errors import InputError
from ethoagent.review.store import CorrectionStore


def test_undo_appends_and_active_folds(tmp_path: Path) -> None:
    store = CorrectionStore(tmp_path)
    assert store.active() == {} and store.undo() is None
    a = store.append("classify:window:0:0:15", "classify", "relabel", "other", "freezing")
    b = store.append("classify:window:0:15:30", "classify", "accept", "other", "other")
    c = store.append("classify:window:0:0:15", "classify", "relabel", "freezing", "rearing")
    assert store.active() == {a.item: c, b.item: b}
    u = store.undo()
    assert u is not None and u.action == "undo" and u.after == c.id
    assert store.active() == {a.item: a, b.item: b}  # the earlier relabel stands again
    store.undo()
    store.undo()
    assert store.active() == {}
    lines = store.path.read_text().splitlines()
    assert len(lines) == 6  # nothing rewritten: 3 actions + 3 undos
    assert [json.loads(x)["action"] for x in lines][:3] == ["relabel", "accept", "relabel"]
    assert set(json.loads(lines[0])) == {"id", "item", "kind", "action", "before", "after", "time"}


def test_a_corrupt_line_is_named(tmp_path: Path) -> None:
    store = CorrectionStore(tmp_path)
    store.append("pose:frame:3", "pose", "accept")
    with store.path.open("a") as fh:
        fh.write('{"item": 3}\n')
    with pytest.raises(InputError, match=r"corrections.jsonl line 2 is not a correction"):
        store.active()
