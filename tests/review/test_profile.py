"""The profile queue through the app's routes: entries, rename, merge, re-run."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from ethoagent.config import Settings
from ethoagent.review.app import make_app
from tests.review.conftest import fresh_copy


def _client(run: Path) -> TestClient:
    return TestClient(make_app([run], Settings(runs_dir=run.parent)))


def _act(c: TestClient, rid: str, cluster: int, action: str, after: object) -> int:
    body = {"item": f"profile:entry:{cluster}", "kind": "profile", "action": action,
            "after": after}  # fmt: skip
    return c.post(f"/api/{rid}/action", json=body).status_code


def _matrix(run: Path) -> dict[str, dict[str, float]]:
    rows = csv.DictReader((run / "outputs" / "profile_matrix.csv").read_text().splitlines())
    skip = {"row", "session", "animal", "group", "day"}
    return {r["animal"]: {k: float(v) for k, v in r.items() if k not in skip} for r in rows}


def test_profile_queue_shows_every_entry_with_examples(profile_run: Path) -> None:
    c, rid = _client(profile_run), profile_run.name
    items = c.get(f"/api/{rid}/queue").json()["items"]
    vocab = json.loads((profile_run / "outputs" / "vocabulary.json").read_text())["entries"]
    assert sorted(i["cluster"] for i in items) == sorted(e["cluster"] for e in vocab)
    keys = [(not i["flagged"], not i["novel"], i["members"]) for i in items]
    assert keys == sorted(keys)
    e = c.get(f"/api/{rid}/entry/{items[0]['cluster']}").json()
    assert e["examples"] and e["definition"] and e["name"] == items[0]["name"]
    assert len(e["others"]) == len(items) - 1
    assert c.get(f"/api/{rid}/entry/99").status_code == 400


def test_renames_and_merges_carry_into_the_rerun_tables(profile_run: Path, tmp_path: Path) -> None:
    run = fresh_copy(profile_run, tmp_path / "runs" / profile_run.name)
    c, rid = _client(run), run.name
    items = c.get(f"/api/{rid}/queue").json()["items"]
    assert len(items) >= 3
    a, b, into = (i["cluster"] for i in items[:3])
    name_a, name_b, name_into = (i["name"] for i in items[:3])
    assert _act(c, rid, a, "rename", name_into) == 400  # another entry's name
    assert _act(c, rid, a, "rename", "sniffing_around") == 200
    assert _act(c, rid, b, "merge", into) == 200
    assert _act(c, rid, into, "merge", b) == 400  # b was merged away
    assert _act(c, rid, b, "merge", b) == 400
    queue = {i["cluster"]: i for i in c.get(f"/api/{rid}/queue").json()["items"]}
    assert queue[a]["name"] == "sniffing_around" and queue[b]["merged_into"] == into
    r = c.post(f"/api/{rid}/rerun", json={})
    assert r.status_code == 200, r.text
    new = Path(r.json()["path"])
    before, after = _matrix(run), _matrix(new)
    others = set(next(iter(before.values()))) - {name_a, name_b, name_into}
    assert set(next(iter(after.values()))) == others | {"sniffing_around", name_into}
    for animal, old in before.items():  # renamed: same share; merged: the sum; others kept
        got = after[animal]
        assert got["sniffing_around"] == pytest.approx(old[name_a], abs=1e-5)
        assert got[name_into] == pytest.approx(old[name_into] + old[name_b], abs=1e-5)
        assert all(got[k] == pytest.approx(old[k], abs=1e-6) for k in others)
    vocab = json.loads((new / "outputs" / "vocabulary.json").read_text())["entries"]
    renamed = next(e for e in vocab if e["cluster"] == a)
    assert renamed["name"] == "sniffing_around" and renamed["named_by"] == "reviewer"
    assert not any(e["cluster"] == b for e in vocab)
    old_vocab = json.loads((run / "outputs" / "vocabulary.json").read_text())["entries"]
    members = {e["cluster"]: e["members"] for e in old_vocab}
    assert next(e for e in vocab if e["cluster"] == into)["members"] == members[into] + members[b]
    note = json.loads((new / "review.json").read_text())
    assert note["entry_edits"] == 2 and note["changed"] == 2
    summary = json.loads((new / "outputs" / "summary.json").read_text())
    assert summary["reviewed_edits"] == 2
    assert "renamed or merged entries 2 times" in (new / "outputs" / "report.md").read_text()
