"""The segment queue through the app's routes: evidence, relabel, split, merge, re-run."""

from __future__ import annotations

import json
from pathlib import Path

from fastapi.testclient import TestClient

from ethoagent.config import Settings
from ethoagent.review.app import make_app
from ethoagent.tools.ethogram import check_tiling, read_ethogram_csv
from tests.review.conftest import fresh_copy


def _client(run: Path) -> TestClient:
    return TestClient(make_app([run], Settings(runs_dir=run.parent)))


def _act(c: TestClient, rid: str, item: str, action: str, after: object) -> int:
    body = {"item": item, "kind": "segment", "action": action, "after": after}
    return c.post(f"/api/{rid}/action", json=body).status_code


def test_segment_queue_is_worst_first_with_evidence(segment_run: Path) -> None:
    c, rid = _client(segment_run), segment_run.name
    items = c.get(f"/api/{rid}/queue").json()["items"]
    assert items
    keys = [(not i["flagged"], not i["disagree"], not i["short"], i["confidence"]) for i in items]
    assert keys == sorted(keys)
    ethogram = read_ethogram_csv(segment_run / "outputs" / "ethogram.csv")["mouse_0"]
    for i in items:  # each queued epoch is one of the run's, queued for a reason
        e = next(e for e in ethogram if (e.start, e.stop) == (i["start"], i["stop"]))
        assert e.label == i["label"]
        assert i["flagged"] or i["disagree"] or i["short"] or i["confidence"] < 0.6
    w = items[0]
    ev = c.get(f"/api/{rid}/epoch/0/{w['start']}/{w['stop']}").json()
    assert ev["epoch"]["label"] == w["label"] and ev["captions"]
    assert all(cap["start_frame"] < w["stop"] and cap["stop_frame"] > w["start"]
               for cap in ev["captions"])  # fmt: skip
    assert (ev["previous"] is None) == (w["start"] == 0)
    png = c.get(f"/api/{rid}/epoch/0/{w['start']}/{w['stop']}.png")
    assert png.status_code == 200 and png.content[:4] == b"\x89PNG"
    assert c.get(f"/api/{rid}/epoch/0/1/2").status_code == 400  # no such epoch


def test_edits_change_the_rerun_as_made_and_nothing_else(segment_run: Path, tmp_path: Path) -> None:
    run = fresh_copy(segment_run, tmp_path / "runs" / segment_run.name)
    c, rid = _client(run), run.name
    before = read_ethogram_csv(run / "outputs" / "ethogram.csv")["mouse_0"]
    assert len(before) >= 4
    a, b, last = before[0], before[1], before[-1]
    mid = (b.start + b.stop) // 2
    assert _act(c, rid, f"segment:epoch:0:{b.start}:{b.stop}", "split", b.stop) == 400
    assert _act(c, rid, f"segment:epoch:0:{b.start}:{b.stop}", "split", "zz") == 400
    assert _act(c, rid, f"segment:epoch:0:{a.start}:{a.stop}", "merge", "previous") == 400
    assert _act(c, rid, f"segment:epoch:0:{b.start}:{b.stop}", "split", mid) == 200
    assert _act(c, rid, f"segment:epoch:0:{mid}:{b.stop}", "relabel", "reviewed_label") == 200
    assert _act(c, rid, f"segment:epoch:0:{last.start}:{last.stop}", "merge", "previous") == 200
    assert _act(c, rid, f"segment:epoch:0:{a.start}:{a.stop}", "relabel", "oops") == 200
    assert c.post(f"/api/{rid}/undo", json={}).json()["undone"]["after"]  # undoes "oops"
    queue = c.get(f"/api/{rid}/queue").json()["items"]
    assert not any(i["start"] == last.start for i in queue)  # merged away on the page too
    r = c.post(f"/api/{rid}/rerun", json={})
    assert r.status_code == 200, r.text
    new = Path(r.json()["path"])
    after = read_ethogram_csv(new / "outputs" / "ethogram.csv")["mouse_0"]
    assert all(ch.passed for ch in check_tiling(after, 300))
    prev = before[-2]
    want = [a, b.model_copy(update={"stop": mid}), None, *before[2:-2], None]
    assert [(e.start, e.stop) for e in after] == [
        (a.start, a.stop), (b.start, mid), (mid, b.stop),
        *[(e.start, e.stop) for e in before[2:-2]], (prev.start, last.stop),
    ]  # fmt: skip
    for got, old in zip(after, want, strict=True):
        if old is not None:  # untouched epochs keep their label
            assert got.label == old.label
    assert after[2].label == "reviewed_label" and after[-1].label == last.label
    note = json.loads((new / "review.json").read_text())
    assert note["epoch_edits"] == 3 and note["changed"] == 3 and note["from"] == rid
    summary = json.loads((new / "outputs" / "summary.json").read_text())
    assert summary["reviewed_edits"] == 3
    assert (
        "edits a person made in `ethoagent review` (applied) | 3"
        in (new / "outputs" / "report.md").read_text()
    )
    unchanged = read_ethogram_csv(run / "outputs" / "ethogram.csv")["mouse_0"]
    assert unchanged == before  # the reviewed run is never edited
