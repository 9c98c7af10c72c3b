"""``ethoagent run BATCH.toml``: validation with located errors, isolated failures, resume
after SIGKILL, the Ray executor on a local Ray instance."""

from __future__ import annotations

import csv
import importlib.util
import json
import math
import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import pytest

from ethoagent.batch import (
    BatchFileError,
    BatchInterruptedError,
    Job,
    JobResult,
    LocalExecutor,
    RayExecutor,
    load_batch,
    run_batch,
    write_summary,
)
from ethoagent.batch_jobs import Report
from ethoagent.graphs.kit.registry import pipeline_names
from ethoagent.sim.simulate import simulate_session
from tests.test_cli import cli

SEGMENT_FAST = "k = 3\ndec_pretrain_epochs = 1\ndec_cluster_iters = 50\ncheck_stability = false\n"


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def read_summary(path: Path) -> list[dict[str, str]]:
    with path.open() as fh:
        return list(csv.DictReader(fh))


def comparable(rows: list[dict[str, str]]) -> list[tuple[str, ...]]:
    """What must not depend on how the batch got there (not timings, paths or actions)."""
    return [(r["session"], r["graph"], r["status"], r["run_id"], r["summary"]) for r in rows]


# --------------------------------------------------------------------------- the file


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ('graphs = ["demo"]\n[[sessions]]\nname = "a"\n\n[[sessions]]\nname = "b"\n'
         "options.demo = { frames = 1 }\n",
         "line 7, sessions[1].options.demo.frames: Input should be greater than or equal to 3"),
        ('[[sessions]]\nname = "a"\ngraphs = ["segment"]\n\ninputs = { keypoint = "k.csv" }\n',
         "line 5, sessions[0].inputs.keypoint: unknown input for segment"),
        ('[[sessions]]\nname = "a"\ngraphs = ["pose"]\ninputs = { videos = "v/" }\n',
         "line 4, sessions[0].inputs: pose: pose needs `session` or `calibration`, `seeds`"),
        ('[[sessions]]\nname = "a"\ngraphs = ["gate"]\n',
         "line 3, sessions[0].graphs: unknown graph 'gate'"),
        ('[[sessions]]\nname = "a"\ngraphs = ["classify"]\ninputs = { session = "s" }\n',
         "line 4, sessions[0].inputs: classify: classify needs `examples` or `examples_from`"),
        ('graphs = ["demo"]\n[[sessions]]\nname = "a"\n[[sessions]]\nname = "a"\n',
         "line 5, sessions[1].name: session 'a' is declared twice"),
        ('graphs = ["demo"]\njobz = 2\n[[sessions]]\nname = "a"\n',
         "line 2, jobz: Extra inputs are not permitted"),
        ('graphs = ["demo"]\n[[sessions]]\nname = "a"\nsettings = { backend = "nope" }\n',
         "line 4, sessions[0].settings: invalid setting 'backend'"),
        ('graphs = ["demo"]\n[[sessions]\nname = "a"\n', "is not valid TOML"),
    ],
)  # fmt: skip
def test_invalid_batch_files_name_line_and_field(tmp_path: Path, body: str, expected: str) -> None:
    path = write(tmp_path / "b.toml", body)
    with pytest.raises(BatchFileError) as err:
        load_batch(path, runs_dir=tmp_path / "runs")
    assert expected in str(err.value)
    assert str(path) in str(err.value)


def test_plan_has_deterministic_run_ids_and_absolute_paths(tmp_path: Path) -> None:
    body = (
        'graphs = ["pose", "segment"]\n[settings]\nbackend = "offline"\n'
        '[[sessions]]\nname = "s1"\ninputs = { session = "sim/s1" }\n'
    )
    path = write(tmp_path / "b.toml", body)
    plan = load_batch(path, runs_dir=tmp_path / "runs")
    again = load_batch(path, runs_dir=tmp_path / "other")
    assert [j.key for j in plan.jobs] == ["s1/pose", "s1/segment"]
    assert [j.run_id for j in plan.jobs] == [j.run_id for j in again.jobs]
    assert plan.jobs[0].run_id.startswith("s1-pose-")
    assert plan.jobs[0].inputs["session"] == str(tmp_path / "sim" / "s1")
    edited = write(tmp_path / "b.toml", body.replace("sim/s1", "sim/s2"))
    assert load_batch(edited).jobs[0].run_id != plan.jobs[0].run_id


class RecordingExecutor:
    """Answers every job it is given as failed, or raises Ctrl-C's error; records the jobs."""

    def __init__(self, interrupt: bool = False) -> None:
        self.given: list[str] = []
        self.interrupt = interrupt

    def run(self, jobs: Sequence[Job], concurrency: int, on_event: Report) -> list[JobResult]:
        self.given = [j.key for j in jobs]
        results = [
            JobResult(key=j.key, session=j.session, graph=j.graph, run_id=j.run_id,
                      run_dir="", status="failed", action="ran", error="no")
            for j in jobs
        ]  # fmt: skip
        if self.interrupt:
            raise BatchInterruptedError(results)
        return results


def test_finished_jobs_are_skipped_without_reaching_the_executor(tmp_path: Path) -> None:
    from ethoagent.config import load_settings
    from ethoagent.runs import Run

    batch = write(tmp_path / "b.toml", 'graphs = ["demo"]\n' + "".join(
        f'[[sessions]]\nname = "{n}"\n' for n in ("a", "b", "c")))  # fmt: skip
    plan = load_batch(batch, runs_dir=tmp_path / "runs")
    settings = load_settings(None, {"runs_dir": tmp_path / "runs"})
    done = Run.create(tmp_path / "runs", "demo", settings, run_id=plan.jobs[1].run_id)
    done.update(status="finished", summary={"frames": 7})
    Run.create(tmp_path / "runs", "demo", settings, run_id=plan.jobs[2].run_id)  # unfinished
    events: list[dict[str, object]] = []
    executor = RecordingExecutor()
    results = run_batch(plan, executor, on_event=events.append)
    assert executor.given == ["a/demo", "c/demo"]
    assert [(r.key, r.status, r.action) for r in results] == [
        ("a/demo", "failed", "ran"), ("b/demo", "finished", "skipped"), ("c/demo", "failed", "ran"),
    ]  # fmt: skip
    assert results[1].summary == {"frames": 7} and results[1].run_dir == str(done.root)
    assert events == [{"key": "b/demo", "result": results[1]}]
    with pytest.raises(BatchInterruptedError) as err:
        run_batch(plan, RecordingExecutor(interrupt=True))
    assert [r.key for r in err.value.results] == ["a/demo", "b/demo", "c/demo"]
    assert err.value.results[1].action == "skipped"
    (done.root / "run.json").write_text("{ damaged")  # left to the job, which reports it
    run_batch(plan, executor)
    assert executor.given == ["a/demo", "b/demo", "c/demo"]


# --------------------------------------------------------------------------- running


@pytest.fixture(scope="module")
def sim_session(tmp_path_factory: pytest.TempPathFactory) -> Path:
    sim = tmp_path_factory.mktemp("batch-sim") / "sim"
    simulate_session(sim, preset="easy", frames=120, animals=1, views=2, seed=1)
    return sim


@pytest.mark.slow
def test_batch_isolates_a_bad_session_and_writes_a_summary(
    tmp_path: Path, sim_session: Path
) -> None:
    (tmp_path / "broken.csv").write_text("this is not,a keypoint file\n1,2\n")
    batch = write(
        tmp_path / "lab.toml",
        f'jobs = 2\n[options.demo]\nframes = 20\nviews = 3\n[options.segment]\n{SEGMENT_FAST}'
        f'[[sessions]]\nname = "sim"\ngraphs = ["pose", "segment"]\n'
        f'inputs = {{ session = "{sim_session}" }}\noptions.pose = {{ frames = 10 }}\n'
        '[[sessions]]\nname = "bad"\ngraphs = ["segment"]\n'
        'inputs = { keypoints = "broken.csv", fps = 30 }\n'
        '[[sessions]]\nname = "d1"\ngraphs = ["demo"]\n',
    )  # fmt: skip
    runs = tmp_path / "runs"
    out = cli("run", str(batch), "--runs-dir", str(runs), cwd=tmp_path)
    assert out.returncode == 1, out.stdout + out.stderr
    assert "1 of 4 jobs failed (bad/segment)" in out.stderr
    for word in ("session", "finished", "failed", "sim", "d1"):
        assert word in out.stdout  # the status table
    rows = {(r["session"], r["graph"]): r for r in read_summary(runs / "batch-lab" / "summary.csv")}
    assert list(rows) == [("sim", "pose"), ("sim", "segment"), ("bad", "segment"), ("d1", "demo")]
    statuses = [r["status"] for r in rows.values()]
    assert statuses == ["finished", "finished", "failed", "finished"]
    assert "broken.csv" in rows["bad", "segment"]["error"]
    assert json.loads(rows["sim", "pose"]["summary"])["frames"] == 10
    assert '"epochs"' in rows["sim", "segment"]["summary"]
    assert '"mean_error_mm"' in rows["d1", "demo"]["summary"]
    assert (Path(rows["sim", "segment"]["run_dir"]) / "outputs" / "ethogram.csv").is_file()
    assert (Path(rows["sim", "pose"]["run_dir"]) / "outputs" / "points_3d.csv").is_file()
    md = (runs / "batch-lab" / "summary.md").read_text()
    assert "4 jobs: 3 finished, 1 failed." in md and "broken.csv" in md

    again = cli("run", str(batch), "--runs-dir", str(runs), "--jobs", "1", cwd=tmp_path)
    assert again.returncode == 1
    rows2 = read_summary(runs / "batch-lab" / "summary.csv")
    assert [r["action"] for r in rows2] == ["skipped", "skipped", "none", "skipped"]
    assert comparable(rows2) == comparable(list(rows.values()))


def truth_examples(sim: Path, out: Path, frames_per_class: int = 10) -> list[str]:
    """Write ``frame,label`` examples: the first frames of each class of the simulator's
    ground truth; return the classes."""
    with (sim / "ground_truth" / "labels.csv").open() as fh:
        labels = [row[1] for row in list(csv.reader(fh))[1:]]
    classes = sorted(set(labels))
    rows = ["frame,label"]
    for c in classes:
        rows += [f"{f},{c}" for f, lab in enumerate(labels) if lab == c][:frames_per_class]
    out.write_text("\n".join(rows) + "\n")
    return classes


@pytest.mark.slow
def test_batch_runs_classify_and_isolates_a_bad_classify_input(
    tmp_path: Path, sim_session: Path
) -> None:
    classes = truth_examples(sim_session, tmp_path / "examples.csv")
    assert len(classes) >= 2
    listed = ", ".join(f'"{c}"' for c in classes)
    batch = write(
        tmp_path / "cls.toml",
        'graphs = ["classify"]\n[options.classify]\nwindow_s = 0.5\n'
        f'[[sessions]]\nname = "sim"\ninputs = {{ session = "{sim_session}", '
        f'examples = "examples.csv", classes = [{listed}] }}\n'
        '[[sessions]]\nname = "bad"\n'
        f'inputs = {{ session = "{sim_session}", examples = "examples.csv", '
        f'classes = [{listed}, "rearing"] }}\n',
    )  # fmt: skip
    plan = load_batch(batch, runs_dir=tmp_path / "runs")
    assert [j.key for j in plan.jobs] == ["sim/classify", "bad/classify"]
    assert plan.jobs[0].inputs["examples"] == str(tmp_path / "examples.csv")
    good, bad = run_batch(plan, LocalExecutor(), concurrency=2)
    assert (good.status, bad.status) == ("finished", "failed"), good.error
    assert "rearing" in (bad.error or "") and "example" in (bad.error or "")
    frames = len((sim_session / "ground_truth" / "labels.csv").read_text().splitlines()) - 1
    assert good.summary["frames"] == frames
    assert good.summary["windows"] == math.ceil(frames / 15)  # 0.5 s at 30 fps
    assert good.summary["model_calls"] + good.summary["model_calls_saved"] >= 1
    assert 0.0 <= good.summary["macro_f1"] <= 1.0
    info = json.loads((Path(good.run_dir) / "run.json").read_text())
    assert info["graph"] == "classify" and info["summary"] == good.summary
    assert (Path(good.run_dir) / "outputs" / "ethogram.csv").is_file()
    rows = read_summary(write_summary([good, bad], tmp_path / "sum", "cls")[0])
    assert [r["status"] for r in rows] == ["finished", "failed"]


@pytest.mark.slow
def test_batch_runs_profile_over_a_sessions_table(tmp_path: Path) -> None:
    import numpy as np

    from ethoagent.io.keypoints import write_keypoints
    from ethoagent.model.pose import PoseData
    from ethoagent.sim.synthetic import KEYPOINTS, simulate_world

    lines = ["session,animal,group"]
    for i in range(4):
        world = simulate_world(300, seed=70 + i)
        pose = PoseData(points=world.points_3d, confidence=np.full(world.points_3d.shape[:3],
                        np.nan), keypoints=KEYPOINTS, individuals=("mouse",), fps=world.fps,
                        unit="mm")  # fmt: skip
        write_keypoints(pose, tmp_path / "data" / f"s{i}.nc", format="netcdf")
        lines.append(f"data/s{i}.nc,m{i},{'ab'[i // 2]}")
    write(tmp_path / "sessions.csv", "\n".join(lines) + "\n")
    options = (
        'options.profile = { embedder = "tfidf", clusters = 3, n_resamples = 99, '
        'reference_group = "a", segment = { k = 3, dec_pretrain_epochs = 1, '
        "dec_cluster_iters = 50 } }\n"
    )
    session = 'graphs = ["profile"]\ninputs = { sessions = "sessions.csv" }\n'
    wrong = options.replace('"a"', '"z"')
    # the second session names a group the table lacks: it fails on its own, side by side
    batch = write(
        tmp_path / "p.toml",
        f'[[sessions]]\nname = "cohort"\n{session}{options}'
        f'[[sessions]]\nname = "wrong"\n{session}{wrong}',
    )
    plan = load_batch(batch, runs_dir=tmp_path / "runs")
    assert plan.jobs[0].options["segment"]["k"] == 3
    result, failed = run_batch(plan, LocalExecutor(), concurrency=2)
    assert result.status == "finished", result.error
    assert set(result.summary) == {"sessions", "profiles", "clusters", "tests", "novel"}
    assert (result.summary["sessions"], result.summary["profiles"]) == (4, 4)
    assert result.summary["clusters"] == 3 and result.summary["tests"] >= 3
    assert (Path(result.run_dir) / "outputs" / "profiles.csv").is_file()
    # the per-session segment runs live next to it, in the same runs folder
    assert len(list((tmp_path / "runs").glob("profile-seg-*"))) == 4
    assert failed.status == "failed" and "reference group 'z'" in (failed.error or "")


def test_check_lists_jobs_without_running(tmp_path: Path) -> None:
    batch = write(tmp_path / "b.toml", 'graphs = ["demo"]\n[[sessions]]\nname = "a"\n')
    out = cli("run", str(batch), "--check", "--runs-dir", str(tmp_path / "runs"))
    assert out.returncode == 0, out.stderr
    assert "1 jobs, valid" in out.stdout and "a-demo-" in out.stdout
    assert not (tmp_path / "runs").exists()
    (tmp_path / "here.h5").write_bytes(b"")
    batch = write(
        tmp_path / "b.toml",
        '[[sessions]]\nname = "s"\ngraphs = ["segment"]\n'
        'inputs = { keypoints = "here.h5", video = "gone.mp4" }\n',
    )
    out = cli("run", str(batch), "--check", "--runs-dir", str(tmp_path / "runs"))
    assert out.returncode == 1
    assert f"missing: video {tmp_path / 'gone.mp4'}" in " ".join(out.stdout.split())
    assert "here.h5" not in out.stdout
    assert "1 of 1 jobs name input files that do not exist (s/segment)" in out.stderr


def group_outlives(pgid: int, wait_s: float = 10.0) -> bool:
    """Whether processes of the group ``pgid`` are still alive after ``wait_s`` (they are
    then killed, so that the test leaves nothing behind)."""
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return False
        time.sleep(0.05)
    os.killpg(pgid, signal.SIGKILL)
    return True


DEMO_BATCH = (
    'graphs = ["demo"]\njobs = 1\n[options.demo]\nframes = 60\nviews = 3\n'
    '[[sessions]]\nname = "a"\n'
    '[[sessions]]\nname = "b"\noptions.demo = { frames = 250, seed = 1 }\n'
    '[[sessions]]\nname = "c"\noptions.demo = { seed = 2 }\n'
)


@pytest.fixture(scope="module")
def demo_reference(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The demo batch run without interruption: ``(batch file, runs dir)``."""
    tmp = tmp_path_factory.mktemp("demo-batch")
    batch = write(tmp / "demo.toml", DEMO_BATCH)
    # side by side: the outputs and the summary do not depend on the order of the jobs
    ref = cli("run", str(batch), "--runs-dir", str(tmp / "ref"), "--jobs", "2")
    assert ref.returncode == 0, ref.stdout + ref.stderr
    return batch, tmp / "ref"


def start_batch_and_wait(batch: Path, runs: Path, marker: Path) -> subprocess.Popen[bytes]:
    """Start the batch in its own process group; return once ``marker`` exists."""
    env = {**os.environ, "COLUMNS": "200"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "ethoagent.cli.app", "run", str(batch), "--runs-dir", str(runs)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    deadline = time.monotonic() + 240
    try:
        while not marker.exists():
            assert proc.poll() is None, "the batch ended before it could be stopped"
            assert time.monotonic() < deadline, f"{marker} never appeared"
            time.sleep(0.005)
    except BaseException:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        raise
    return proc


def check_resumed(batch: Path, runs: Path, ref_runs: Path, run_b: str) -> None:
    """Rerun the batch: a skipped, b resumed, c run (side by side); same summary and
    outputs as ``ref_runs``."""
    resumed = cli("run", str(batch), "--runs-dir", str(runs), "--jobs", "2")
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    rows = read_summary(runs / "batch-demo" / "summary.csv")
    assert [r["action"] for r in rows] == ["skipped", "resumed", "ran"]
    assert comparable(rows) == comparable(read_summary(ref_runs / "batch-demo" / "summary.csv"))
    for name in ("points_3d.csv", "summary.json", "report.md"):
        got = (runs / run_b / "outputs" / name).read_bytes()
        assert got == (ref_runs / run_b / "outputs" / name).read_bytes(), name
    assert '"kind": "run_resume"' in (runs / run_b / "trace.jsonl").read_text()


@pytest.mark.slow
def test_sigkill_part_way_then_rerun_resumes_and_matches_uninterrupted(
    tmp_path: Path, demo_reference: tuple[Path, Path]
) -> None:
    batch, ref_runs = demo_reference
    runs = tmp_path / "runs"
    run_b = load_batch(batch, runs_dir=runs).jobs[1].run_id
    # b is half-way: 2 of its 5 chunks are checkpointed
    proc = start_batch_and_wait(batch, runs, runs / run_b / "artifacts" / "triangulate_0001.npz")
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    assert not group_outlives(proc.pid), "a session process outlived the killed batch"
    assert not (runs / run_b / "outputs" / "report.md").exists()
    check_resumed(batch, runs, ref_runs, run_b)


@pytest.mark.slow
def test_ctrl_c_part_way_writes_a_summary_then_resumes(
    tmp_path: Path, demo_reference: tuple[Path, Path]
) -> None:
    batch, ref_runs = demo_reference
    runs = tmp_path / "runs"
    run_b = load_batch(batch, runs_dir=runs).jobs[1].run_id
    proc = start_batch_and_wait(batch, runs, runs / run_b / "artifacts" / "triangulate_0001.npz")
    os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C at the terminal does
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert b"batch interrupted; 1 of 3 jobs finished" in err
    rows = read_summary(runs / "batch-demo" / "summary.csv")
    assert [r["status"] for r in rows] == ["finished", "interrupted", "pending"]
    assert json.loads((runs / run_b / "run.json").read_text())["status"] == "interrupted"
    assert not group_outlives(proc.pid)
    check_resumed(batch, runs, ref_runs, run_b)


@pytest.mark.slow
@pytest.mark.skipif(
    importlib.util.find_spec("ray") is None,
    reason="ray is not installed (pip install 'ethoagent[ray]'); the Ray executor is untested",
)
def test_ray_executor_on_a_local_instance(tmp_path: Path) -> None:
    import ray

    (tmp_path / "broken.csv").write_text("nope\n")
    batch = write(
        tmp_path / "b.toml",
        '[options.demo]\nframes = 20\nviews = 3\n'
        '[[sessions]]\nname = "a"\ngraphs = ["demo"]\n'
        '[[sessions]]\nname = "bad"\ngraphs = ["segment"]\n'
        'inputs = { keypoints = "broken.csv", fps = 30 }\n',
    )  # fmt: skip
    plan = load_batch(batch, runs_dir=tmp_path / "runs")
    env = {"env_vars": {"PYTHONPATH": str(Path(__file__).resolve().parents[1])}}
    ray.init(num_cpus=2, include_dashboard=False, runtime_env=env)
    try:
        events: list[dict[str, object]] = []
        results = run_batch(plan, RayExecutor(), concurrency=2, on_event=events.append)
    finally:
        ray.shutdown()
    assert [r.status for r in results] == ["finished", "failed"]
    assert "broken.csv" in (results[1].error or "")
    assert results[0].summary["frames"] == 20
    assert (tmp_path / "runs" / results[0].run_id / "outputs" / "summary.json").is_file()
    assert any("result" in e for e in events)
    # the same jobs locally: same summary
    local = run_batch(load_batch(batch, runs_dir=tmp_path / "local"), LocalExecutor(), 2)
    assert [r.summary for r in local] == [r.summary for r in results]


def test_docs_batch_example_is_valid(tmp_path: Path) -> None:
    page = (Path(__file__).resolve().parents[1] / "docs" / "batch.md").read_text()
    block = page.split("# lab.toml", 1)[1].split("```", 1)[0]
    plan = load_batch(write(tmp_path / "lab.toml", "# lab.toml" + block))
    assert [j.key for j in plan.jobs] == [
        "mouse01/segment", "sim3/pose", "sim3/segment", "sim3/classify", "cohort/profile",
    ]  # fmt: skip
    assert plan.concurrency == 4 and plan.runs_dir == tmp_path / "runs"
    assert plan.jobs[2].options["k"] == 6 and plan.jobs[0].options["k"] == 8
    assert plan.jobs[3].inputs["examples"] == str(tmp_path / "labels" / "sim3.csv")
    assert plan.jobs[3].options["window_s"] == 0.5
    assert plan.jobs[4].options["reference_group"] == "control"
    assert plan.jobs[4].options["segment"]["k"] == 8
    assert plan.jobs[1].settings == {"backend": "offline", "budget": {"max_retries": 1}}


def test_help_lists_the_batch_serve_and_doctor_commands() -> None:
    out = cli("--help")
    for command in ("run", "serve", "doctor"):
        assert f" {command} " in out.stdout
    assert "export" in cli("trace", "--help").stdout
    listed = cli("run", "--help").stdout
    for name in pipeline_names():  # from the registry's table: no pipeline imported
        assert name in listed


def test_batch_runs_gate_predict_with_a_trained_model(tmp_path: Path) -> None:
    import numpy as np

    from ethoagent.config import load_settings
    from ethoagent.graphs.gate import TrainInputs, TrainOptions
    from ethoagent.graphs.gate.graph import run_gate_train
    from ethoagent.io.keypoints import write_dlc_csv
    from ethoagent.model.pose import PoseData
    from ethoagent.sim.synthetic import KEYPOINTS, simulate_world

    world = simulate_world(60, seed=4)
    pose = PoseData(points=world.points_3d, confidence=np.ones(world.points_3d.shape[:3]),
                    keypoints=KEYPOINTS, individuals=("mouse",), unit="mm")  # fmt: skip
    keypoints = write_dlc_csv(tmp_path / "mouse.csv", pose)
    labels = write(tmp_path / "labels.csv", "frame,label\n" + "".join(
        f"{f},{c}\n" for f, c in enumerate(world.behaviour.labels[:, 0])))  # fmt: skip
    tiny = TrainOptions(d_model=16, d_z=8, layers=1, window=32, epochs=1)
    settings = load_settings(None, {"runs_dir": tmp_path / "runs"})
    run_gate_train(TrainInputs(keypoints=keypoints, labels=labels, fps=30.0), tiny, settings,
                   out=tmp_path / "model")  # fmt: skip
    batch = write(
        tmp_path / "gate.toml",
        'graphs = ["gate-predict"]\n'
        '[[sessions]]\nname = "m"\n'
        'inputs = { keypoints = "mouse.csv", gate_model = "model", fps = 30 }\n'
        '[[sessions]]\nname = "untrained"\n'
        'inputs = { keypoints = "mouse.csv", gate_model = "nope", fps = 30 }\n',
    )
    plan = load_batch(batch, runs_dir=tmp_path / "runs")
    assert [j.key for j in plan.jobs] == ["m/gate-predict", "untrained/gate-predict"]
    good, bad = run_batch(plan, LocalExecutor(), concurrency=2)
    assert (good.status, bad.status) == ("finished", "failed"), good.error
    assert "holds no gate model" in (bad.error or "")
    assert good.summary["frames"] == 60 and good.summary["frames_looked_at"] == 0
    info = json.loads((Path(good.run_dir) / "run.json").read_text())
    assert info["graph"] == "gate-predict" and info["summary"] == good.summary
    assert (Path(good.run_dir) / "outputs" / "labels.csv").is_file()
