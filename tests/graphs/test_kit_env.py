"""What graphs/kit gives every pipeline's nodes: NodeEnv, Runtime.tool, JSON and timings."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from pydantic import BaseModel

from ethoagent.agent.trace import read_trace
from ethoagent.graphs.kit.env import NodeEnv
from ethoagent.graphs.kit.node_io import add_timing, read_json, write_json
from ethoagent.graphs.kit.runtime import offline_runtime


class _Options(BaseModel):
    k: int = 3


class _Inputs(BaseModel):
    name: str
    options: _Options = _Options()


def test_node_env_of_takes_the_options_and_the_run_store(tmp_path: Path) -> None:
    """``NodeEnv.of`` binds the runtime, the inputs, their options and the run once."""
    inputs = _Inputs(name="s", options=_Options(k=5))
    rt = offline_runtime(tmp_path, "kit", "env", inputs.model_dump())
    env = NodeEnv[_Inputs, _Options].of(rt, inputs)
    assert env.options.k == 5 and env.inputs is inputs
    assert env.runtime is rt and env.run is rt.run


def test_runtime_tool_returns_the_result_and_traces_the_call(tmp_path: Path) -> None:
    """A tool called through the runtime lands in the trace with its keyword arguments,
    and one that raises is recorded with its error before the error propagates."""
    rt = offline_runtime(tmp_path, "kit", "tool", {})
    assert rt.tool("add", lambda a, b=0: a + b, 2, b=3) == 5
    with pytest.raises(ZeroDivisionError):
        rt.tool("divide", lambda a, b: a / b, 1, b=0)
    rt.tracer.close()
    calls = [e for e in read_trace(rt.run.trace_path) if e["kind"] == "tool_call"]
    assert [c["name"] for c in calls] == ["add", "divide"]
    assert calls[0]["args"] == {"b": 3} and calls[0]["result"] == 5
    assert "ZeroDivisionError" in calls[1]["error"]


def test_json_round_trip_and_timings_add_up(tmp_path: Path) -> None:
    """JSON written is read back equal; a node's timing adds to what the state held."""
    value = {"b": [1, 2.5, None], "a": "x"}
    write_json(tmp_path / "v.json", value)
    assert read_json(tmp_path / "v.json") == value
    assert (tmp_path / "v.json").read_text().startswith('{"a": "x"')
    state = {"timings": {"load": 1.0}}
    timings = add_timing(state, "load", time.perf_counter())
    assert 1.0 <= timings["load"] < 2.0 and state["timings"] == {"load": 1.0}
    assert set(add_timing({}, "cluster", time.perf_counter())) == {"cluster"}
