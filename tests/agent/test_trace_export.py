"""``ethoagent trace show --check`` and ``trace export``: JSON of every event and a
self-contained HTML page holding every item and failed check, on a real offline demo run."""

from __future__ import annotations

import base64
import json
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest

from ethoagent.agent.trace import Tracer, read_trace
from ethoagent.agent.trace_html import group_items, render_trace_html, select_events
from ethoagent.agent.types import Answer, Image, Message, PromptRef
from tests.test_cli import cli


class PageParser(HTMLParser):
    """Collects the item entries, failed-check rows, scripts and URL-bearing attributes."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.items: list[dict[str, str]] = []
        self.failed_rows: list[tuple[str, str]] = []
        self.urls: list[str] = []
        self.tags: list[str] = []
        self._item: dict[str, str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        self.tags.append(tag)
        for key in ("src", "href", "action", "data", "poster"):
            if key in a:
                self.urls.append(a[key])
        if tag == "details" and "item" in a.get("class", "").split():
            self._item = a
            self.items.append(a)
        classes = a.get("class", "").split()
        if "k-check" in classes and "fail" in classes and self._item is not None:
            self.failed_rows.append((self._item["data-item"], a["data-check"]))


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    runs = tmp_path_factory.mktemp("trace-runs")
    out = cli(
        "demo",
        "--only",
        "triangulate",
        "--frames",
        "40",
        "--views",
        "3",
        "--runs-dir",
        str(runs),
        "--run-id",
        "t",
    )
    assert out.returncode == 0, out.stderr
    return runs / "t"


def test_export_html_holds_every_item_and_failed_check(demo_run: Path, tmp_path: Path) -> None:
    page = tmp_path / "trace.html"
    out = cli("trace", "export", str(demo_run), "--out", str(page))
    assert out.returncode == 0, out.stderr
    text = page.read_text(encoding="utf-8")
    parser = PageParser()
    parser.feed(text)
    parser.close()

    events = read_trace(demo_run / "trace.jsonl")
    _, items = group_items(events)
    assert len(items) == 41  # 40 frames + the session summary
    assert {(i["data-node"], i["data-item"]) for i in parser.items} == {
        (it.node, it.item) for it in items
    }
    failed = {
        (str(e["item"]), str(e["name"]))
        for e in events
        if e.get("kind") == "check" and not e.get("passed")
    }
    assert failed, "the demo run should have failed checks to show"
    assert set(parser.failed_rows) == failed
    for item in parser.items:
        expected = {n for (it, n) in failed if it == item["data-item"]}
        assert set(item["data-failed-checks"].split()) == expected
    # self-contained: no external asset, no URL at all
    assert parser.urls == []
    assert "link" not in parser.tags
    assert "http://" not in text and "https://" not in text and "url(" not in text
    assert "script" in parser.tags and "style" in parser.tags


def test_export_json_and_filters(demo_run: Path, tmp_path: Path) -> None:
    dest = tmp_path / "trace.json"
    out = cli("trace", "export", str(demo_run), "--format", "json", "--out", str(dest))
    assert out.returncode == 0, out.stderr
    doc = json.loads(dest.read_text())
    events = read_trace(demo_run / "trace.jsonl")
    assert doc["events"] == events
    assert doc["run"]["graph"] == "demo" and doc["summary"]["events"] == len(events)

    failed_only = tmp_path / "failed.json"
    out = cli("trace", "export", str(demo_run), "--failed", "--out", str(failed_only))
    assert out.returncode == 0, out.stderr
    kept = json.loads(failed_only.read_text())["events"]
    _, items = group_items(kept)
    assert items and all(it.failed for it in items)
    assert all(e.get("item") is not None for e in kept)

    bad = cli("trace", "export", str(demo_run), "--out", str(tmp_path / "x.txt"))
    assert bad.returncode != 0 and "--format json or --format html" in bad.stderr


def test_show_filters_by_check(demo_run: Path) -> None:
    events = read_trace(demo_run / "trace.jsonl")
    _, items = group_items(events)
    name = sorted({c for it in items for c in it.failed_checks})[0]
    out = cli("trace", "show", str(demo_run), "--check", name, "--failed", "--json")
    assert out.returncode == 0, out.stderr
    shown = [json.loads(line) for line in out.stdout.splitlines()]
    expected = {it.item for it in items if name in it.failed_checks}
    assert {e["item"] for e in shown} == expected
    tree = cli("trace", "show", str(demo_run), "--check", name, "--failed")
    assert tree.returncode == 0
    for item in expected:
        assert f"› {item}\n" in tree.stdout
    clean = next(it.item for it in items if not it.failed)
    assert f"› {clean}\n" not in tree.stdout


def test_select_events_and_html_on_a_flagged_item() -> None:
    events = [
        {"kind": "run_start", "seq": 1},
        {"kind": "proposal", "node": "n", "item": "a", "attempt": 1, "proposer": "propose"},
        {"kind": "check", "node": "n", "item": "a", "attempt": 1, "name": "c1", "passed": False,
         "value": 9.0, "threshold": 1.0, "message": "9 > 1 <b>"},
        {"kind": "decision", "node": "n", "item": "a", "attempt": 1, "action": "retry",
         "decided_by": "policy", "reason": "c1 failed"},
        {"kind": "flag", "node": "n", "item": "a", "reason": "budget spent"},
        {"kind": "proposal", "node": "n", "item": "b", "attempt": 1, "proposer": "propose"},
        {"kind": "check", "node": "n", "item": "b", "attempt": 1, "name": "c1", "passed": True},
        {"kind": "accepted", "node": "n", "item": "b", "attempt": 1, "proposer": "propose"},
    ]  # fmt: skip
    assert [e["seq"] for e in select_events(events, node="zzz")] == [1]
    assert {e.get("item") for e in select_events(events, check="c1")} == {"a", "b"}
    assert {e.get("item") for e in select_events(events, check="c1", failed_only=True)} == {"a"}
    assert select_events(events, kind="flag")[0]["reason"] == "budget spent"
    _, items = group_items(events)
    a, b = items
    assert (a.outcome, a.retries, a.failed_checks, a.flagged) == ("flagged", 1, {"c1"}, True)
    assert (b.outcome, b.failed) == ("accepted", False)
    page = render_trace_html(events, title="t<1>")
    assert "9 &gt; 1 &lt;b&gt;" in page and "<b>" not in page.split("9 &gt; 1")[1][:20]
    assert "t&lt;1&gt;" in page and "⚑ flagged" in page


def test_html_embeds_each_image_a_model_was_sent_once(tmp_path: Path) -> None:
    root = tmp_path / "run"
    tracer = Tracer(root / "trace.jsonl", run_id="r", images_dir=root / "artifacts" / "images")
    img = Image.from_array(np.full((8, 8, 3), 200, np.uint8))
    with tracer.scope(node="caption", item="snippet 1", attempt=1):
        for _ in range(2):
            tracer.model_call(
                role="vlm",
                model="m",
                backend="offline",
                prompt=PromptRef("segment/caption", 1),
                messages=[Message(role="user", content="what is the mouse doing?", images=(img,))],
                answer=Answer(text="grooming"),
            )
    tracer.close()
    events = read_trace(root / "trace.jsonl")

    page = render_trace_html(events, title="r", run_root=root)
    parser = PageParser()
    parser.feed(page)
    assert parser.urls == []  # sources are set by the script when a request is opened
    shots = page.count(f"data-sha='{img.sha256}'")
    assert shots == 2
    blob = page.split("id='images'>", 1)[1].split("</script>", 1)[0]
    uris = json.loads(blob)
    assert list(uris) == [img.sha256]
    assert base64.b64decode(uris[img.sha256].split(",", 1)[1]) == img.data

    capped = render_trace_html(events, title="r", run_root=root, max_image_bytes=10)
    assert "image not embedded (size cap)" in capped and "1 not embedded (over 10 bytes)" in capped
    assert json.loads(capped.split("id='images'>", 1)[1].split("</script>", 1)[0]) == {}
    assert "(not embedded)" in render_trace_html(events, title="r")
