"""``run_pipeline``: inputs checked before a run exists, outputs copied, runs closed, resumed,
and a killed run's record told from a live one."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any, TypedDict

import pytest
from langgraph.graph import END, START, StateGraph
from pydantic import BaseModel, ConfigDict, Field

from ethoagent.config import Settings, load_settings
from ethoagent.errors import InputError, RunError
from ethoagent.graphs.kit.run import run_pipeline
from ethoagent.graphs.kit.runtime import Runtime, run_graph
from ethoagent.graphs.kit.spec import Pipeline
from ethoagent.runs import Run, list_runs


class CountSources(BaseModel):
    model_config = ConfigDict(extra="forbid")

    numbers: Path


class CountOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    scale: int = Field(2, ge=1)


class CountInputs(BaseModel):
    numbers: str
    values: list[int]
    options: CountOptions


def resolve_count(sources: CountSources, options: CountOptions) -> CountInputs:
    if not sources.numbers.is_file():
        raise InputError(f"{sources.numbers} does not exist.", fix="pass a file.")
    values = [int(v) for v in sources.numbers.read_text().split()]
    return CountInputs(numbers=str(sources.numbers), values=values, options=options)


FAIL = {"on": False}


class CountState(TypedDict, total=False):
    outputs: list[str]


async def execute_count(rt: Runtime, inputs: CountInputs) -> dict[str, Any]:
    def total(state: CountState) -> dict[str, Any]:
        if FAIL["on"]:
            raise RuntimeError("the graph broke")
        value = sum(inputs.values) * inputs.options.scale
        return {
            "outputs": [
                str(rt.run.write_output("total.txt", f"{value}\n").relative_to(rt.run.root)),
                str(
                    rt.run.write_json_output("summary.json", {"total": value, "n": 3}).relative_to(
                        rt.run.root
                    )
                ),
            ]
        }

    g: StateGraph[CountState] = StateGraph(CountState)
    g.add_node("total", total)
    g.add_edge(START, "total")
    g.add_edge("total", END)
    return await run_graph(g, rt, {})


COUNT = Pipeline(
    name="count",
    inputs=CountSources,
    options=CountOptions,
    resolved=CountInputs,
    resolve=resolve_count,
    execute=execute_count,
    roles=(),
    outputs=("total.txt", "summary.json"),
    summary_keys=("total",),
)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return load_settings(None, {"runs_dir": tmp_path / "runs"})


@pytest.fixture
def numbers(tmp_path: Path) -> Path:
    path = tmp_path / "numbers.txt"
    path.write_text("1 2 3\n")
    return path


def test_a_run_copies_its_outputs_and_closes_its_record(
    settings: Settings, numbers: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    result = run_pipeline(COUNT, CountSources(numbers=numbers), None, settings, out=out, run_id="a")
    assert (out / "total.txt").read_text() == "12\n"  # (1 + 2 + 3) * the default scale 2
    assert result.files == [out / "total.txt", out / "summary.json"]
    info = result.run.info()
    assert info.status == "finished" and info.summary == {"total": 12}
    assert info.out == str(out) and info.pid == os.getpid()
    assert info.inputs["values"] == [1, 2, 3]


def test_bad_inputs_and_options_leave_no_run(
    settings: Settings, numbers: Path, tmp_path: Path
) -> None:
    with pytest.raises(InputError, match="does not exist"):
        run_pipeline(COUNT, CountSources(numbers=tmp_path / "missing"), None, settings)
    with pytest.raises(InputError, match=r"invalid count options: scale: .*greater than"):
        COUNT.parse_options({"scale": 0})
    taken = tmp_path / "taken"
    taken.mkdir()
    (taken / "total.txt").write_text("mine\n")
    with pytest.raises(InputError, match=r"already holds total\.txt"):
        run_pipeline(COUNT, CountSources(numbers=numbers), None, settings, out=taken)
    assert (taken / "total.txt").read_text() == "mine\n"
    assert not settings.runs_dir.exists() or not any(settings.runs_dir.iterdir())


def test_overwrite_replaces_outputs(settings: Settings, numbers: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "total.txt").write_text("old\n")
    opts = CountOptions(scale=1)
    run_pipeline(COUNT, CountSources(numbers=numbers), opts, settings, out=out, overwrite=True)
    assert (out / "total.txt").read_text() == "6\n"


def test_a_failed_run_is_marked_and_resumes_with_its_recorded_inputs(
    settings: Settings, numbers: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    FAIL["on"] = True
    try:
        with pytest.raises(RuntimeError, match="broke"):
            run_pipeline(COUNT, CountSources(numbers=numbers), None, settings, out=out, run_id="r")
    finally:
        FAIL["on"] = False
    run = Run.open("r", settings.runs_dir)
    assert run.info().status == "failed" and "broke" in (run.info().error or "")
    numbers.write_text("100\n")  # the resumed run reads what it recorded, not the file again
    resumed = run_pipeline(COUNT, None, None, settings, resume="r")
    assert resumed.resumed and resumed.out == out  # the recorded output folder
    assert (out / "total.txt").read_text() == "12\n"
    assert resumed.run.info().status == "finished"
    other = tmp_path / "other"
    again = run_pipeline(COUNT, None, None, settings, resume="r", out=other)
    assert (other / "total.txt").read_text() == "12\n" and again.run.info().out == str(out)
    (other / "total.txt").write_text("edited\n")
    with pytest.raises(InputError, match="already holds"):  # not the run's own folder
        run_pipeline(COUNT, None, None, settings, resume="r", out=other)
    assert (other / "total.txt").read_text() == "edited\n"
    run_pipeline(COUNT, None, None, settings, resume="r", out=other, overwrite=True)
    assert (other / "total.txt").read_text() == "12\n"


def test_resume_refuses_another_pipelines_run(settings: Settings, numbers: Path) -> None:
    run_pipeline(COUNT, CountSources(numbers=numbers), None, settings, run_id="c")
    other = Pipeline(
        name="other",
        inputs=CountSources,
        options=CountOptions,
        resolved=CountInputs,
        resolve=resolve_count,
        execute=execute_count,
        roles=(),
        outputs=(),
        summary_keys=(),
    )
    with pytest.raises(RunError, match="is a 'count' run, not 'other'"):
        run_pipeline(other, None, None, settings, resume="c")


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_a_running_run_whose_process_ended_is_listed_interrupted(
    settings: Settings, numbers: Path
) -> None:
    run_pipeline(COUNT, CountSources(numbers=numbers), None, settings, run_id="killed")
    run_pipeline(COUNT, CountSources(numbers=numbers), None, settings, run_id="alive")
    killed = Run.open("killed", settings.runs_dir)
    killed.mark_running()
    killed.update(pid=_dead_pid())
    Run.open("alive", settings.runs_dir).mark_running()  # this process: alive
    status = {i.run_id: i.status for i in list_runs(settings.runs_dir)}
    assert status == {"killed": "interrupted", "alive": "running"}
    record = json.loads((killed.root / "run.json").read_text())
    assert record["status"] == "running"  # listing reports; it does not rewrite the record
    # a run another live process holds is not resumed twice
    alive = Run.open("alive", settings.runs_dir)
    alive.update(pid=os.getppid())
    with pytest.raises(RunError, match="still running"):
        run_pipeline(COUNT, None, None, settings, resume="alive")
    assert run_pipeline(COUNT, None, None, settings, resume="killed").run.info().status == (
        "finished"
    )
