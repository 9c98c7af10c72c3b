"""The demo's classify section on a short simulated session (session + classify only):
examples drawn from the ground truth, scored outside them, its run and figures, the
overview's classify rows, and resume reusing the finished section."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ethoagent.config import load_settings
from ethoagent.demo.driver import SECTION_KEYS, SECTIONS, DemoOptions, run_full_demo
from ethoagent.demo.sections import truth_labels
from ethoagent.evals.classify import SIM_TO_CLASS
from ethoagent.runs import Run
from tests.report.htmlcheck import assert_self_contained

FRAMES = 450


def test_classify_section_scores_outside_its_ground_truth_examples(tmp_path: Path) -> None:
    assert "classify" in SECTION_KEYS and "profile" not in SECTION_KEYS
    settings = load_settings(None, {"runs_dir": tmp_path})
    run = Run.create(tmp_path, "demo", settings, run_id="d")
    specs = [s for s in SECTIONS if s.key in ("session", "classify")]
    options = DemoOptions(frames=FRAMES, views=3)
    sections, report = run_full_demo(run, settings, options, specs=specs)
    by = {s.key: s for s in sections}
    section = by["classify"]
    assert section.status == "ok", section.error
    data = json.loads(section.model_dump_json())["data"]  # plain JSON types
    _, truth = truth_labels(run.root / "session")
    mapped = {SIM_TO_CLASS[v] for v in truth[:, 0]}
    assert set(data["classes"]) == mapped
    assert set(data["f1_by_class"]) <= mapped
    assert all(0.0 <= v <= 1.0 for v in data["f1_by_class"].values())
    assert data["macro_f1"] == round(float(np.mean(list(data["f1_by_class"].values()))), 4)
    # "f1" is keyed by the simulator's names, like the other sections'
    assert {SIM_TO_CLASS[k]: v for k, v in data["f1"].items()} == data["f1_by_class"]
    assert data["windows"] == FRAMES // 15  # 0.5 s windows at 30 fps
    assert 0 <= data["windows_by_keypoints"] <= FRAMES // 15
    # every class gets example clips (2 per class where the truth has 2 bouts)
    assert len(mapped) <= data["examples"] <= 2 * len(mapped)
    assert any("ground-truth labels" in n for n in section.notes)
    assert section.seconds is not None and section.seconds > 0
    sub = run.root / "runs" / "classify"
    assert json.loads((sub / "run.json").read_text())["status"] == "finished"
    assert (sub / "trace.jsonl").is_file() and (sub / "outputs" / "ethogram.csv").is_file()
    assert {f.file for f in section.figures} == {
        "figures/classify_timeline.png",
        "figures/classify_ethogram.png",
    }
    summary = json.loads((run.outputs_dir / "summary.json").read_text())
    assert summary["sections"]["classify"]["data"]["macro_f1"] == data["macro_f1"]
    text = report.read_text()
    parts = assert_self_contained(text)
    assert parts.sections["classify"] == "ok"
    assert parts.sections["overview"] == "ok"
    assert "one per window" in text  # the overview's model-calls row
    # resume: the finished section is reused, not run again
    trace = (sub / "trace.jsonl").read_bytes()
    again, _ = run_full_demo(run, settings, options, specs=specs)
    assert json.loads(again[-1].model_dump_json())["data"] == data
    assert (sub / "trace.jsonl").read_bytes() == trace
