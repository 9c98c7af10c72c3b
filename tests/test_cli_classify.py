"""``ethoagent classify`` end to end on a small simulated session: outputs in OUT and the
run, the summary table, resume, and one-line errors for bad inputs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ethoagent.cli.app import app
from tests.review.sample_runs import NAMES, write_classify_session

runner = CliRunner()


@pytest.fixture(scope="module")
def classified(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path, Path]:
    tmp = tmp_path_factory.mktemp("cli-classify")
    sources = write_classify_session(tmp, frames=1200)
    assert sources.classes == sorted(set(NAMES.values())), "seed 3 shows every class"
    kp, ex = sources.keypoints, sources.examples
    assert kp is not None and ex is not None
    out, runs = tmp / "out", tmp / "runs"
    result = runner.invoke(
        app, ["classify", str(kp), str(out), "--examples", str(ex), "--runs-dir", str(runs)]
    )
    assert result.exit_code == 0, result.output
    assert "time budget: mouse_0" in result.output and "model calls saved" in result.output
    return kp, ex, out, runs


def test_classify_writes_outputs_and_a_summary(classified: tuple[Path, Path, Path, Path]) -> None:
    _, ex, out, runs = classified
    for name in ("frames.csv", "windows.csv", "ethogram.csv", "time_budget.csv", "report.md"):
        assert (out / name).is_file(), name
    summary = json.loads((out / "summary.json").read_text())
    assert summary["frames"] == 1200 and summary["examples_file"] == str(ex)
    (run_dir,) = [p for p in runs.iterdir() if p.is_dir()]
    assert (run_dir / "outputs" / "frames.csv").read_bytes() == (out / "frames.csv").read_bytes()
    info = json.loads((run_dir / "run.json").read_text())
    assert info["status"] == "finished" and info["graph"] == "classify"


def test_classify_resume_and_errors(
    classified: tuple[Path, Path, Path, Path], tmp_path: Path
) -> None:
    kp, ex, out, runs = classified
    (run_dir,) = [p for p in runs.iterdir() if p.is_dir()]
    again = runner.invoke(
        app, ["classify", "--resume", str(run_dir), str(tmp_path / "o2"), "--runs-dir", str(runs)]
    )
    assert again.exit_code == 0, again.output
    assert (tmp_path / "o2" / "frames.csv").read_bytes() == (out / "frames.csv").read_bytes()
    o2 = str(tmp_path / "o2")
    resume_o2 = ["classify", "--resume", str(run_dir), o2, "--runs-dir", str(runs)]
    refused = runner.invoke(app, resume_o2)  # o2 is not the run's own OUT
    assert refused.exit_code != 0 and "already holds frames.csv" in str(refused.exception)
    replaced = runner.invoke(app, [*resume_o2, "--overwrite"])
    assert replaced.exit_code == 0, replaced.output
    # OUT already holds outputs
    busy = runner.invoke(app, ["classify", str(kp), str(out), "--examples", str(ex)])
    assert busy.exit_code != 0 and "already holds" in str(busy.exception)
    # a class without examples
    bad = runner.invoke(
        app,
        ["classify", str(kp), str(tmp_path / "o3"), "--examples", str(ex),
         "--classes", "freezing,locomotion,swimming", "--runs-dir", str(runs)],
    )  # fmt: skip
    assert bad.exit_code != 0 and "swimming" in str(bad.exception)
    missing = runner.invoke(app, ["classify", str(kp), str(tmp_path / "o4")])
    assert missing.exit_code != 0 and "--examples" in str(missing.exception)
    # a pixel scale for 3D keypoints in mm: refused before any run exists
    scaled = runner.invoke(
        app,
        ["classify", str(kp), str(tmp_path / "o5"), "--examples", str(ex),
         "--px-per-cm", "32", "--runs-dir", str(runs)],
    )  # fmt: skip
    assert scaled.exit_code != 0 and "drop --px-per-cm" in str(scaled.exception)
    assert not (tmp_path / "o5").exists()


def test_model_budget_option(classified: tuple[Path, Path, Path, Path], tmp_path: Path) -> None:
    kp, ex, _, _ = classified
    runs, o = tmp_path / "runs", tmp_path / "o"
    base = ["classify", str(kp), str(o), "--examples", str(ex), "--runs-dir", str(runs)]
    never = runner.invoke(app, [*base, "--model-budget", "0"])
    assert never.exit_code == 0, never.output
    summary = json.loads((o / "summary.json").read_text())
    assert summary["options"]["model_budget"] == 0.0 and summary["model_calls"] == 0
    assert summary["windows_sent_to_model"] == 0 and summary["model_calls_saved"] == 80
    assert "No window went to the model" in (o / "report.md").read_text()
    over = runner.invoke(app, [*base[:2], str(tmp_path / "o2"), *base[3:], "--model-budget", "2"])
    assert over.exit_code != 0
