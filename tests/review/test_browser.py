"""The review page in headless Chromium: correct one pose point and relabel one classify
window, re-run from the page, and check that the new runs changed as corrected and nothing
else did (pose: the frames after a corrected frame may follow it, as it becomes their
seed); the page survives a reload and a server restart."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from ethoagent.review.queues import read_pose_run
from ethoagent.runs import Run
from tests.review.conftest import fresh_copy, serving

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
sync_api = pytest.importorskip(
    "playwright.sync_api", reason="playwright is not installed (pip install playwright==1.65.3)"
)
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="no chromium executable on PATH")


@pytest.fixture
def browser() -> Any:
    with sync_api.sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        try:
            yield b
        finally:
            b.close()


def _rows(run: Path, name: str) -> list[dict[str, str]]:
    with (run / "outputs" / name).open(newline="") as fh:
        return list(csv.DictReader(fh))


def _new_run(page: Any, old: Path) -> Path:
    page.wait_for_function(f"!location.hash.includes('{old.name}')", timeout=120_000)
    run_id = page.evaluate("new URLSearchParams(location.hash.slice(1)).get('run')")
    return old.parent / str(run_id)


def test_correct_a_pose_point_in_the_browser(browser: Any, pose_run: Path, tmp_path: Path) -> None:
    pose_run = fresh_copy(pose_run, tmp_path / "runs" / pose_run.name)
    with serving([pose_run]) as url:
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(url)
        first = page.locator("#queue li").first
        first.click()
        frame = int(first.get_attribute("data-item").split(":")[2])
        page.select_option("#kp-select", "back_mid")
        img = page.locator('.view[data-view="top"] img')
        img.wait_for()
        page.wait_for_function("document.querySelector('.view[data-view=top] img').naturalWidth")
        box = img.bounding_box()
        img.click(position={"x": box["width"] * 0.25, "y": box["height"] * 0.5})
        page.wait_for_selector("#queue li.sel .done")
        (rec,) = [json.loads(x) for x in (pose_run / "review/corrections.jsonl").open()]
        assert rec["item"] == f"pose:frame:{frame}:view:top:kp:back_mid"
        assert rec["action"] == "correct"
        page.reload()  # the selection survives a reload
        page.wait_for_selector("#queue li.sel .done")
        page.click("#rerun")
        new = _new_run(page, pose_run)
    before, after = read_pose_run(Run(pose_run)), read_pose_run(Run(new))
    v, k = before.views.index("top"), before.keypoints.index("back_mid")
    assert after.points_2d[frame, v, k] == pytest.approx(rec["after"], abs=1e-3)
    assert not np.allclose(rec["after"], before.points_2d[frame, v, k], atol=1.0)
    changed = ~np.isclose(before.points_2d, after.points_2d, atol=1e-6, equal_nan=True)
    # the corrected frame changes in that point only; earlier frames not at all; later
    # frames may follow it (the corrected frame is a seed of the tracker and few-shot)
    assert np.argwhere(changed[frame]).tolist() == [[v, k, 0], [v, k, 1]]
    assert not changed[:frame].any()
    assert json.loads((new / "review.json").read_text())["changed"] == 1
    assert json.loads((new / "outputs/summary.json").read_text())["reviewed_frames"] == [frame]


def test_relabel_a_classify_window_then_undo_and_restart(browser: Any, classify_run: Path) -> None:
    with serving([classify_run]) as url:
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(url)
        first = page.locator("#queue li").first
        first.click()
        _, _, _, start, stop = first.get_attribute("data-item").split(":")
        old = page.locator("#label-select").input_value()
        options = page.locator("#label-select option").all_inner_texts()
        to = next(o for o in options if o != old)
        page.select_option("#label-select", "rearing" if old != "rearing" else to)
        page.click("#relabel")
        page.wait_for_selector("#queue li.sel .done")
        page.click("#undo")  # undo appends an undo record
        page.wait_for_selector("#queue li.sel .done", state="detached")
        page.select_option("#label-select", to)
        page.click("#relabel")
        page.wait_for_selector("#queue li.sel .done")
    with serving([classify_run]) as url:  # a restarted server shows the same state
        page.goto(url + "#" + page.url.split("#", 1)[1])
        page.wait_for_selector("#queue li.sel .done")
        page.click("#rerun")
        new = _new_run(page, classify_run)
    records = [json.loads(x) for x in (classify_run / "review/corrections.jsonl").open()]
    assert [r["action"] for r in records] == ["relabel", "undo", "relabel"]
    a, b = _rows(classify_run, "frames.csv"), _rows(new, "frames.csv")
    changed = [int(x["frame"]) for x, y in zip(a, b, strict=True) if x != y]
    assert changed and set(changed) <= set(range(int(start), int(stop)))
    assert all(y["label"] == to for y in b[int(start) : int(stop)])
    wa, wb = _rows(classify_run, "windows.csv"), _rows(new, "windows.csv")
    diff = [(x, y) for x, y in zip(wa, wb, strict=True) if x != y]
    assert len(diff) == 1 and diff[0][1]["label"] == to and diff[0][1]["source"] == "reviewed"
    summary = json.loads((new / "outputs/summary.json").read_text())
    assert summary["reviewed_windows"] == 1 and summary["routes"]["reviewed"] == 1


def test_edit_an_epoch_and_rename_an_entry_in_the_browser(
    browser: Any, segment_run: Path, profile_run: Path, tmp_path: Path
) -> None:
    seg = fresh_copy(segment_run, tmp_path / "runs" / segment_run.name)
    prof = fresh_copy(profile_run, tmp_path / "runs" / profile_run.name)
    with serving([seg, prof]) as url:
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(f"{url}#run={seg.name}")
        first = page.locator("#queue li").first
        first.click()
        _, _, a, start, stop = first.get_attribute("data-item").split(":")
        page.fill("#label-input", "sniffing")
        page.click("#relabel")
        page.wait_for_selector("#queue li.sel .done")
        at = (int(start) + int(stop)) // 2
        page.fill("#split-at", str(at))
        page.click("#split")  # the page moves to the first part
        page.wait_for_function(f"location.hash.includes('{start}%3A{at}')")
        page.goto(f"{url}#run={prof.name}")
        page.reload()
        page.locator("#queue li").first.click()
        page.fill("#name-input", "sniffing_around")
        page.click("#rename")
        page.wait_for_selector("#queue li.sel .done")
        assert "sniffing_around" in page.locator("#queue li.sel").inner_text()
    edits = [json.loads(x) for x in (seg / "review/corrections.jsonl").open()]
    item = f"segment:epoch:{a}:{start}:{stop}"
    assert [(r["item"], r["action"], r["after"]) for r in edits] == [
        (item, "relabel", "sniffing"),
        (item, "split", at),
    ]
    (rename,) = [json.loads(x) for x in (prof / "review/corrections.jsonl").open()]
    assert rename["action"] == "rename" and rename["after"] == "sniffing_around"


def test_answer_a_waiting_run_in_the_browser_and_resume_it(browser: Any, tmp_path: Path) -> None:
    from tests.review.test_ask_person import start_waiting_run

    root, _, classes = start_waiting_run(tmp_path)
    with serving([root]) as url:
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(url)
        page.wait_for_selector("#queue li")
        assert page.locator("#queue li").count() == 3
        assert page.locator("#queue li .tag", has_text="waiting for you").count() == 3
        assert page.inner_text("#rerun") == "Resume with my answers"
        items = [page.locator("#queue li").nth(i).get_attribute("data-item") for i in range(3)]
        for n, item in enumerate(items):
            page.click(f'#queue li[data-item="{item}"]')
            page.wait_for_selector("#label-select")
            if n == 0:
                before = page.eval_on_selector("#label-select", "s => s.value")
                new = next(c for c in classes if c != before)
                page.select_option("#label-select", new)
                page.click("#relabel")
            else:
                page.click("#accept")
            page.wait_for_selector(f'#queue li[data-item="{item}"] .done')
        page.click("#rerun")
        page.wait_for_function(
            "document.getElementById('status').textContent.startsWith('resumed')", timeout=120_000
        )
    assert json.loads((root / "run.json").read_text())["status"] == "finished"
    s, e = items[0].split(":")[3:]
    by_span = {(w["start_frame"], w["stop_frame"]): w for w in _rows(root, "windows.csv")}
    assert (by_span[(s, e)]["label"], by_span[(s, e)]["source"]) == (new, "reviewed")
