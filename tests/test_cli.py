"""End-to-end CLI: the commands that exist, the demo, eval, trace and one-line errors.

``cli`` runs the console entry point in this process (what the other CLI test modules use);
``cli_process`` starts a new interpreter, only for the exit code + one red line contract as a
user's shell sees it.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ethoagent.cli import base as cli_base
from ethoagent.cli.app import main
from tests.data_paths import require_shared

CLI_ENV = {"COLUMNS": "200", "NO_COLOR": "1"}


def cli(*args: str | Path, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run ``ethoagent ARGS...`` in-process through ``main`` (user errors -> one red line).

    Returns what a subprocess would: the exit code and the captured stdout and stderr.
    """
    argv = ["ethoagent", *map(str, args)]
    saved_argv, saved_debug = sys.argv, cli_base.STATE["debug"]
    code = 0
    with (
        CliRunner().isolation(env={**CLI_ENV, "ETHOAGENT_DEBUG": None}) as (out, err, _),
        contextlib.chdir(cwd or Path.cwd()),
    ):
        sys.argv = argv
        cli_base.STATE["debug"] = False
        try:
            main()
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        finally:
            sys.argv = saved_argv
            cli_base.STATE["debug"] = saved_debug
        stdout, stderr = out.getvalue().decode(), err.getvalue().decode()
    return subprocess.CompletedProcess(argv, code, stdout, stderr)


def cli_process(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run ``python -m ethoagent.cli.app ARGS...`` in a new interpreter."""
    env = {**os.environ, **CLI_ENV}
    env.pop("ETHOAGENT_DEBUG", None)
    return subprocess.run(
        [sys.executable, "-m", "ethoagent.cli.app", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=300,
    )


def test_help_lists_every_command() -> None:
    out = cli("--help")
    assert out.returncode == 0
    for command in (
        "demo",
        "triangulate",
        "pose",
        "simulate",
        "eval",
        "trace",
        "runs",
        "cache",
        "config",
        "version",
        "data",
        "segment",
        "gate",
        "classify",
        "chat",
        "profile",
        "run",
        "serve",
        "doctor",
    ):
        assert f" {command} " in out.stdout


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    runs = tmp_path_factory.mktemp("runs")
    out = cli(
        "demo", "--only", "triangulate", "--frames", "60", "--runs-dir", str(runs), "--run-id", "d1"
    )
    assert out.returncode == 0, out.stderr
    assert "run directory" in out.stdout
    assert "3D error, verified" in out.stdout
    return runs / "d1"


def test_demo_writes_outputs_and_report(demo_run: Path) -> None:
    summary = json.loads((demo_run / "outputs" / "summary.json").read_text())
    assert summary["frames"] == 60 and summary["views"] == 6
    assert summary["backend"] == "offline"
    assert summary["summary"]["status"] == "accepted"
    assert summary["mean_error_mm"] <= summary["naive_dlt_mean_error_mm"]
    report = (demo_run / "outputs" / "report.md").read_text()
    assert "synthetic" in report and "no model was called" in report
    assert (demo_run / "outputs" / "error_per_frame.png").read_bytes()[:4] == b"\x89PNG"
    points = (demo_run / "outputs" / "points_3d.csv").read_text().splitlines()
    assert len(points) == 61 and points[0].startswith("frame,ear_left_x_mm")
    assert (demo_run / "config.toml").is_file() and (demo_run / "checkpoints.sqlite").is_file()
    info = json.loads((demo_run / "run.json").read_text())
    assert info["status"] == "finished"


def test_trace_show_renders_and_filters(demo_run: Path) -> None:
    out = cli("trace", "show", str(demo_run), "--node", "summarise")
    assert out.returncode == 0, out.stderr
    assert "flagged_frames" in out.stdout and "demo/summary" in out.stdout
    js = cli("trace", "show", str(demo_run), "--json", "--kind", "check")
    events = [json.loads(line) for line in js.stdout.splitlines()]
    assert events and all(e["kind"] == "check" for e in events)
    assert {"name", "passed", "value", "threshold", "item", "attempt"} <= set(events[0])


def test_resuming_a_finished_run_changes_nothing(demo_run: Path) -> None:
    before = (demo_run / "outputs" / "points_3d.csv").read_bytes()
    out = cli("demo", "--resume", str(demo_run))
    assert out.returncode == 0, out.stderr
    assert (demo_run / "outputs" / "points_3d.csv").read_bytes() == before


def test_runs_lists_the_run(demo_run: Path) -> None:
    out = cli("runs", "--runs-dir", str(demo_run.parent))
    assert out.returncode == 0 and "d1" in out.stdout and "finished" in out.stdout


def test_eval_suite_writes_results(tmp_path: Path) -> None:
    listed = cli("eval", "--list")
    assert "triangulation" in listed.stdout
    out = cli("eval", "triangulation", "--quick", "--out", str(tmp_path))
    assert out.returncode == 0, out.stderr
    record = json.loads((tmp_path / "results.json").read_text())
    assert record["metrics"]["verified_mean_error_mm"] < record["metrics"]["naive_mean_error_mm"]
    assert (tmp_path / "results.md").read_text().startswith("# eval: triangulation")
    assert (tmp_path / record["figures"]["error_vs_swap_rate"]).is_file()


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("demo", "--resume", "no-such-run"), "no run at no-such-run"),
        (("demo", "--config", "missing.toml"), "config file missing.toml does not exist"),
        (("eval", "nope", "--out", "x"), "no eval suite named 'nope'"),
        (("trace", "show", "nowhere"), "no run at nowhere"),
        (("data", "list", "--root", "nowhere"), "shared data folder nowhere does not exist"),
    ],
)
def test_user_errors_are_one_red_line(tmp_path: Path, args: tuple[str, ...], expected: str) -> None:
    _assert_one_red_line(cli(*args, cwd=tmp_path), expected)


def test_a_user_error_is_one_red_line_in_a_new_interpreter(tmp_path: Path) -> None:
    """What a terminal shows, import-time warnings included, and the exit code."""
    out = cli_process("trace", "show", "nowhere", cwd=tmp_path)
    _assert_one_red_line(out, "no run at nowhere")


def _assert_one_red_line(out: subprocess.CompletedProcess[str], expected: str) -> None:
    assert out.returncode != 0
    lines = [ln for ln in out.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, out.stderr
    assert lines[0].startswith("error: ") and expected in lines[0]
    assert "Traceback" not in out.stderr


def test_unreachable_endpoint_is_one_line_naming_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import socket

    with socket.socket() as sock:  # a free loopback port with nothing listening
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}/v1"
    monkeypatch.setenv("ETHOAGENT_MODELS__LLM__MAX_RETRIES", "0")
    out = cli_process("demo", "--backend", "openai", "--runs-dir", str(tmp_path), cwd=tmp_path)
    assert "error: " in out.stderr  # no base_url configured
    assert "base_url" in out.stderr
    monkeypatch.setenv("ETHOAGENT_MODELS__LLM__BASE_URL", url)
    out = cli_process("demo", "--backend", "openai", "--runs-dir", str(tmp_path), cwd=tmp_path)
    assert out.returncode != 0
    lines = [ln for ln in out.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and url in lines[0], out.stderr


def test_debug_shows_the_traceback(tmp_path: Path) -> None:
    out = cli_process("--debug", "demo", "--resume", "no-such-run", cwd=tmp_path)
    assert out.returncode != 0 and "Traceback" in out.stderr


def test_config_prints_effective_settings(tmp_path: Path) -> None:
    out = cli("config", "--backend", "openai", cwd=tmp_path)
    assert out.returncode == 0
    assert 'backend = "openai"' in out.stdout and "[models.vlm]" in out.stdout


def test_data_list_summarises_the_shared_sets() -> None:
    root = require_shared("sleap_anipose_minimal_session").parent
    out = cli("data", "list", "--root", str(root))
    assert out.returncode == 0, out.stderr
    rows = {line.split()[0]: line.split() for line in out.stdout.splitlines() if line.strip()}
    # data set, present, MB, sessions, views, mice, keypoints, frames
    assert rows["sleap_anipose_minimal_session"][1] == "yes"
    assert rows["sleap_anipose_minimal_session"][4:8] == ["4", "1", "15", "120"]
    assert "human labels" in out.stdout


def test_data_list_names_what_is_missing(tmp_path: Path) -> None:
    (tmp_path / "ethome_social_interact").mkdir()
    out = cli("data", "list", "--root", str(tmp_path))
    assert out.returncode == 0, out.stderr
    assert "partly" in out.stdout and "Traceback" not in out.stderr
    hints = [ln for ln in out.stdout.splitlines() if ln.startswith("dannce_markerless_mouse:")]
    assert len(hints) == 1 and "not found at" in hints[0] and "MANIFEST.md" in hints[0]


def test_pose_on_a_simulated_session_then_resume(tmp_path: Path) -> None:
    sim = tmp_path / "sim"
    made = cli("simulate", str(sim), "--preset", "easy", "--frames", "12", "--views", "3")
    assert made.returncode == 0, made.stderr
    assert (sim / "ground_truth" / "seeds.csv").is_file()
    runs = tmp_path / "runs"
    out = cli("pose", "--session", str(sim), "--runs-dir", str(runs), "--run-id", "p")
    assert out.returncode == 0, out.stderr
    assert "3D error vs ground truth" in out.stdout and "run directory" in out.stdout
    summary = json.loads((runs / "p" / "outputs" / "summary.json").read_text())
    assert summary["frames"] == 12 and summary["ground_truth"]["mean_error_mm"] < 5
    before = (runs / "p" / "outputs" / "points_3d.csv").read_bytes()
    copy = tmp_path / "labels"
    again = cli("pose", "--resume", "p", "--runs-dir", str(runs), "--out", str(copy))
    assert again.returncode == 0, again.stderr
    assert (runs / "p" / "outputs" / "points_3d.csv").read_bytes() == before
    assert (copy / "points_3d.csv").read_bytes() == before
    assert sorted(p.name for p in (copy / "points_2d").iterdir()) == sorted(
        p.name for p in (runs / "p" / "outputs" / "points_2d").iterdir()
    )
    refused = cli("pose", "--resume", "p", "--runs-dir", str(runs), "--out", str(copy))
    assert refused.returncode != 0 and "already holds points_3d.csv" in refused.stderr
    replaced = cli("pose", "--resume", "p", "--runs-dir", str(runs), "--out", str(copy),
                   "--overwrite")  # fmt: skip
    assert replaced.returncode == 0, replaced.stderr
    wrong = cli("demo", "--resume", "p", "--runs-dir", str(runs))
    assert wrong.returncode != 0 and "is a 'pose' run" in wrong.stderr


def test_pose_no_stagewise_no_reacquire_runs_the_refined_reading_only(tmp_path: Path) -> None:
    sim = tmp_path / "sim"
    made = cli("simulate", str(sim), "--preset", "easy", "--frames", "6", "--views", "3")
    assert made.returncode == 0, made.stderr
    runs = tmp_path / "runs"
    out = cli("pose", "--session", str(sim), "--runs-dir", str(runs), "--run-id", "q",
              "--no-stagewise", "--no-reacquire")  # fmt: skip
    assert out.returncode == 0, out.stderr
    info = json.loads((runs / "q" / "run.json").read_text())
    assert info["inputs"]["options"]["stagewise_hypothesis"] is False
    assert info["inputs"]["options"]["reacquire_lost"] is False
    trace = (runs / "q" / "trace.jsonl").read_text()
    assert "choose_reading" not in trace and "stage-wise" not in trace
    assert '"reacquire"' not in trace


def test_pose_without_inputs_is_one_clear_line(tmp_path: Path) -> None:
    out = cli_process("pose", "--runs-dir", str(tmp_path))
    assert out.returncode != 0
    assert "pose needs --calibration, --seeds and --videos or --candidates" in out.stderr
    assert "Traceback" not in out.stderr
