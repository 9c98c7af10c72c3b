"""The chat's run_classify and run_profile tools on tiny inputs with the offline backend:
results, runs, progress and cancel, workspace-guarded paths, and query_behaviour on
classify outputs."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import pytest

from ethoagent.agent.workspace import Workspace
from ethoagent.chat.actions import TOOLS, ToolContext, execute_tool, parse_direct
from ethoagent.config import load_settings
from tests.review.sample_runs import write_profile_cohort

PROFILE_FAST = {"k": 3, "dec_epochs": 1, "dec_iters": 50, "embedder": "tfidf",
                "permutations": 99, "clusters": 3}  # fmt: skip


def make_ctx(root: Path) -> ToolContext:
    ws = Workspace(root)
    return ToolContext(ws, load_settings(None, {"runs_dir": ws.root / "runs"}))


def truth_examples(sim: Path, out: Path, frames_per_class: int = 10) -> list[str]:
    """``frame,animal,label`` examples: the first frames of each class (per animal) of the
    simulator's ground truth; returns the classes every animal shows at least once."""
    with (sim / "ground_truth" / "labels.csv").open() as fh:
        rows = list(csv.reader(fh))
    animals, body = rows[0][1:], rows[1:]
    lines = ["frame,animal,label"]
    seen: set[str] = set()
    for j, animal in enumerate(animals, start=1):
        labels = [r[j] for r in body]
        for c in sorted(set(labels)):
            seen.add(c)
            frames = [f for f, lab in enumerate(labels) if lab == c][:frames_per_class]
            lines += [f"{f},{animal},{c}" for f in frames]
    out.write_text("\n".join(lines) + "\n")
    return sorted(seen)


@pytest.fixture
def classify_ws(tmp_path: Path, sim_session: Path) -> tuple[ToolContext, list[str]]:
    ctx = make_ctx(tmp_path / "ws")
    shutil.copytree(sim_session, ctx.workspace.root / "sim")
    classes = truth_examples(sim_session, ctx.workspace.root / "examples.csv")
    return ctx, classes


def test_run_classify_then_query_its_outputs(classify_ws: tuple[ToolContext, list[str]]) -> None:
    ctx, classes = classify_ws
    stages: list[str] = []
    ctx.on_progress = lambda stage, done, total: stages.append(stage)
    out = execute_tool(
        ctx,
        "run_classify",
        {"keypoints": "sim", "examples": "examples.csv", "classes": classes, "out": "cls"},
    )
    assert out.ok, out.error
    assert out.result is not None and stages  # progress was reported
    data = out.result.data
    assert data["outputs"] == "results/cls" and data["frames"] == 300
    assert data["classes"] == classes and len(data["animals"]) == 2
    assert data["windows"] == 2 * 20  # 0.5 s windows at 30 fps, per animal
    assert data["model_calls"] + data["model_calls_saved"] >= 1
    assert 0.0 <= data["macro_f1_vs_ground_truth"] <= 1.0
    assert set(data["per_class_f1_vs_ground_truth"]) == set(classes)
    assert "results/cls/ethogram.csv" in out.result.files
    info = json.loads((ctx.settings.runs_dir / data["run"] / "run.json").read_text())
    assert info["status"] == "finished" and info["graph"] == "classify"
    assert info["summary"]["macro_f1"] == data["macro_f1_vs_ground_truth"]
    # the time budget rows cover each animal's 10 s
    for animal in data["animals"]:
        total = sum(r[2] for r in out.result.rows if r[0] == animal)
        assert total == pytest.approx(10.0, abs=0.05)
    # query_behaviour reads the classify ethogram (by folder or run id) and its frames.csv
    by_folder = execute_tool(ctx, "query_behaviour", {"source": "results/cls"})
    by_run = execute_tool(ctx, "query_behaviour", {"source": data["run"]})
    frames = execute_tool(ctx, "query_behaviour", {"source": "results/cls/frames.csv"})
    for q in (by_folder, by_run, frames):
        assert q.ok and q.result is not None, q.error
    assert by_folder.result is not None and by_run.result is not None
    assert by_folder.result.rows == by_run.result.rows
    assert frames.result is not None

    def totals(rows: list[list[object]]) -> dict[tuple[object, object], float]:
        return {(r[0], r[1]): float(str(r[2])) for r in rows}

    from_epochs, from_frames = totals(by_folder.result.rows), totals(frames.result.rows)
    assert from_epochs.keys() == from_frames.keys()
    for key, seconds in from_epochs.items():
        assert from_frames[key] == pytest.approx(seconds, abs=0.05), key


def test_run_classify_cancel_marks_the_run_interrupted(
    classify_ws: tuple[ToolContext, list[str]],
) -> None:
    ctx, classes = classify_ws

    def stop(stage: str, done: int, total: int) -> None:
        ctx.cancel.set()  # Ctrl-C at the first progress step

    ctx.on_progress = stop
    out = execute_tool(
        ctx, "run_classify", {"keypoints": "sim", "examples": "examples.csv", "classes": classes}
    )
    assert not out.ok and out.cancelled
    (run_dir,) = [p for p in ctx.settings.runs_dir.iterdir() if p.is_dir()]
    assert json.loads((run_dir / "run.json").read_text())["status"] == "interrupted"


@pytest.mark.parametrize(
    ("arguments", "expected"),
    [
        ({"keypoints": "../sim", "examples": "examples.csv"}, "uses '..'"),
        ({"keypoints": "sim", "examples": "/etc/passwd"}, "outside the workspace"),
        ({"keypoints": "sim", "examples": "nope.csv"}, "does not exist"),
        ({"keypoints": "sim", "examples": "examples.csv", "classes": ["still"]},
         "at least two distinct classes"),
        ({"keypoints": "sim", "examples": "examples.csv", "classes": ["a", "b"]},
         "is not in the label set"),
        ({"keypoints": "sim", "examples": "examples.csv", "smoothing": "kalman"},
         "smoothing: Input should be 'hmm', 'mode' or 'none'"),
    ],
)  # fmt: skip
def test_run_classify_refuses_bad_arguments(
    classify_ws: tuple[ToolContext, list[str]], arguments: dict[str, object], expected: str
) -> None:
    ctx, _ = classify_ws
    out = execute_tool(ctx, "run_classify", arguments)
    assert not out.ok and expected in (out.error or ""), out.error
    assert not (ctx.workspace.root / "results").exists()  # nothing was started


def test_run_profile_on_a_tiny_cohort(tmp_path: Path) -> None:
    ctx = make_ctx(tmp_path / "ws")
    write_profile_cohort(ctx.workspace.root, seed=60, groups=("ctrl", "drug"), folder="data")
    stages: list[str] = []
    ctx.on_progress = lambda stage, done, total: stages.append(stage)
    out = execute_tool(
        ctx, "run_profile", {"sessions": "sessions.csv", "reference_group": "ctrl",
                             "out": "prof", "format": "netcdf", **PROFILE_FAST},
    )  # fmt: skip
    assert out.ok, out.error
    segments = sorted(ctx.settings.runs_dir.glob("profile-seg-*/outputs/summary.json"))
    assert len(segments) == 4  # each session's segment run read it as the format given
    assert {json.loads(p.read_text())["format"] for p in segments} == {"netcdf"}
    assert out.result is not None and stages
    data = out.result.data
    assert data["profiles"] == 4 and data["sessions"] == 4
    assert data["groups"] == {"ctrl": 2, "drug": 2} and data["embedder"] == "tfidf"
    assert len(data["vocabulary"]) == 3 == len(out.result.rows)
    assert data["tests"] >= 3  # every behaviour x metric, drug vs ctrl
    for name in ("profiles.csv", "comparisons.csv", "vocabulary.json", "report.md"):
        assert f"results/prof/{name}" in out.result.files
    info = json.loads((ctx.settings.runs_dir / data["run"] / "run.json").read_text())
    assert info["status"] == "finished" and info["summary"]["profiles"] == 4


def test_run_profile_keeps_the_sessions_table_inside_the_workspace(tmp_path: Path) -> None:
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    ctx = make_ctx(tmp_path / "ws")
    lines = ["session,animal,group"]
    for i in range(4):
        (outside / f"s{i}.nc").write_bytes(b"")
        lines.append(f"{outside / f's{i}.nc'},m{i},{'ab'[i % 2]}")
    (ctx.workspace.root / "sessions.csv").write_text("\n".join(lines) + "\n")
    out = execute_tool(ctx, "run_profile", {"sessions": "sessions.csv", **PROFILE_FAST})
    assert not out.ok and "outside the workspace" in (out.error or ""), out.error
    assert "line 2 session" in (out.error or "")
    assert not (ctx.settings.runs_dir).exists() or not any(ctx.settings.runs_dir.iterdir())
    inside = ["session,animal,group"]
    for i in range(4):
        (ctx.workspace.root / f"s{i}.nc").write_bytes(b"")
        inside.append(f"s{i}.nc,m{i},{'ab'[i % 2]}")
    (ctx.workspace.root / "inside.csv").write_text("\n".join(inside) + "\n")
    bad = execute_tool(ctx, "run_profile", {"sessions": "inside.csv", "reference_group": "z"})
    assert not bad.ok and "reference group 'z'" in (bad.error or ""), bad.error
    assert not (ctx.workspace.root / "results").exists()  # nothing was started


def test_direct_commands_of_the_new_tools() -> None:
    tool, args = parse_direct("/run classify sim ex.csv --k 3 out=c1") or (None, {})
    assert tool is TOOLS["run_classify"]
    assert args == {"keypoints": "sim", "examples": "ex.csv", "k": "3", "out": "c1"}
    tool, args = parse_direct("/run profile sessions.csv --reference_group ctrl") or (None, {})
    assert tool is TOOLS["run_profile"]
    assert args == {"sessions": "sessions.csv", "reference_group": "ctrl"}
