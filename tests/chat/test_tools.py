"""The chat's tools without a terminal: argument validation, direct syntax, queries."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from rich.console import Console

from ethoagent.agent.workspace import Workspace
from ethoagent.chat.actions import (
    TOOLS,
    ChatTool,
    ToolContext,
    execute_tool,
    parse_direct,
    register_tool,
)
from ethoagent.chat.session import ChatSession
from ethoagent.config import load_settings
from ethoagent.errors import InputError
from tests.servers import ScriptedOpenAIServer, chat_completion, tool_call

ETHOGRAM = """animal,start_frame,stop_frame,start_s,stop_s,label,description,confidence,cluster
mouse_0,0,30,0.0,1.0,rearing,"up",1.0,
mouse_0,30,90,1.0,3.0,walking,"",1.0,
mouse_0,90,150,3.0,5.0,rearing,"",1.0,
mouse_1,0,150,0.0,5.0,still,"",1.0,
"""


@pytest.fixture
def ctx(tmp_path: Path) -> ToolContext:
    ws = Workspace(tmp_path / "ws")
    (ws.root / "ethogram.csv").write_text(ETHOGRAM)
    settings = load_settings(None, {"runs_dir": ws.root / "runs"})
    return ToolContext(ws, settings)


def test_query_totals_bouts_and_window_are_exact(ctx: ToolContext) -> None:
    out = execute_tool(
        ctx, "query_behaviour", {"source": "ethogram.csv", "animal": "mouse 0", "stop_s": 4}
    )
    assert out.ok and out.result is not None
    rows = {r[1]: r for r in out.result.rows}
    # rearing: [0, 1) and [3, 4) inside the 4 s window -> 2 s in 2 bouts, 50 %
    assert rows["rearing"][2:] == [2.0, 2, 1.0, 50.0]
    assert rows["walking"][2:] == [2.0, 1, 2.0, 50.0]
    out = execute_tool(
        ctx,
        "query_behaviour",
        {"source": "ethogram.csv", "behaviour": "Rearing", "start_s": 0.5, "stop_s": 3.5},
    )
    assert out.result is not None
    assert [r[:4] for r in out.result.rows] == [
        ["mouse_0", "rearing", 1.0, 2],
        ["mouse_1", "rearing", 0.0, 0],
    ]


def test_query_names_what_exists_when_a_name_is_wrong(ctx: ToolContext) -> None:
    out = execute_tool(ctx, "query_behaviour", {"source": "ethogram.csv", "animal": "rat"})
    assert not out.ok and out.error is not None
    assert "mouse_0, mouse_1" in out.error
    out = execute_tool(ctx, "query_behaviour", {"source": "ethogram.csv", "behaviour": "fly"})
    assert out.error is not None and "rearing" in out.error


@pytest.mark.parametrize(
    ("arguments", "expected"),
    [
        ({"source": "ethogram.csv", "start_s": "soon"}, "start_s: Input should be a valid number"),
        ({"animal": "mouse_0"}, "source: Field required"),
        ({"source": "ethogram.csv", "shell": "rm -rf /"}, "shell: Extra inputs are not permitted"),
        ({"source": "../ethogram.csv"}, "uses '..'"),
        ({"source": "/etc/passwd"}, "outside the workspace"),
    ],
)
def test_bad_arguments_become_error_results(
    ctx: ToolContext, arguments: dict[str, object], expected: str
) -> None:
    out = execute_tool(ctx, "query_behaviour", arguments)
    assert not out.ok
    assert expected in (out.error or "")
    assert json.loads(out.to_message())["error"] == out.error


def test_unknown_tool_and_unparsed_json_are_error_results(ctx: ToolContext) -> None:
    assert "no tool named 'rm'" in (execute_tool(ctx, "rm", {}).error or "")
    out = execute_tool(ctx, "plot", None, "arguments are not valid JSON: ...")
    assert out.error == "invalid arguments for plot: arguments are not valid JSON: ..."


def test_validation_errors_go_back_to_the_model_and_the_chat_goes_on(tmp_path: Path) -> None:
    ws = Workspace(tmp_path / "ws")
    (ws.root / "ethogram.csv").write_text(ETHOGRAM)
    with ScriptedOpenAIServer(
        [
            chat_completion(
                None,
                tool_calls=[
                    tool_call("query_behaviour", '{"source": "ethogram.csv", "stop_s": -1}', "a"),
                    tool_call("query_behaviour", '{"source": "ethogram.csv", ', "b"),
                ],
            ),
            chat_completion(
                None,
                tool_calls=[
                    tool_call(
                        "query_behaviour", '{"source": "ethogram.csv", "animal": "mouse_1"}', "c"
                    )
                ],
            ),
            chat_completion("mouse_1 was still for 5 s."),
        ]
    ) as server:
        settings = load_settings(None, {"models": {"llm": {"base_url": server.base_url}}})
        buf = io.StringIO()
        session = ChatSession(ws, settings, Console(file=buf, width=200), live=False)
        session.start()
        try:
            session.handle("how long was mouse 2 still?")
        finally:
            session.close()
        second = [m for m in server.requests[1]["messages"] if m["role"] == "tool"]
        assert [m["tool_call_id"] for m in second] == ["a", "b"]
        errors = [json.loads(m["content"])["error"] for m in second]
        assert "stop_s: Input should be greater than 0" in errors[0]
        assert "arguments are not valid JSON" in errors[1]
        third = json.loads(server.requests[2]["messages"][-1]["content"])
        assert third["ok"] and third["result"]["rows"][0][:3] == ["mouse_1", "still", 5.0]
    text = buf.getvalue()
    assert "error invalid arguments for query_behaviour" in text
    assert "mouse_1 was still for 5 s." in text


def test_direct_command_syntax() -> None:
    tool, args = parse_direct('/run segment "my data/s1.csv" --k 6 --fps=30 out=seg') or (None, {})
    assert tool is TOOLS["run_segment"]
    assert args == {"keypoints": "my data/s1.csv", "k": "6", "fps": "30", "out": "seg"}
    tool, args = parse_direct("/explain seg1 mouse_0 12.5") or (None, {})
    assert tool is TOOLS["explain_label"]
    assert args == {"run": "seg1", "animal": "mouse_0", "time_s": "12.5"}
    assert parse_direct("/nonsense x") is None
    with pytest.raises(InputError, match="takes 1 value"):
        parse_direct("/load a b")


def test_registry_refuses_duplicates_and_offers_json_schemas() -> None:
    existing = TOOLS["plot"]
    with pytest.raises(ValueError, match="already registered"):
        register_tool(existing)
    with pytest.raises(ValueError, match="already taken"):
        register_tool(ChatTool("plot2", "x", existing.args, existing.run, command="plot"))
    for tool in TOOLS.values():
        schema = tool.schema()
        assert schema["type"] == "object"
        assert set(tool.positional) <= set(schema.get("properties", {}))


def test_chat_command_is_registered_and_reads_lines(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from ethoagent.cli.app import app

    runner = CliRunner()
    result = runner.invoke(app, ["chat", "--help"])
    assert result.exit_code == 0
    assert "--workspace" in result.output and "--resume" in result.output
    ws = tmp_path / "ws"
    result = runner.invoke(app, ["chat", "--workspace", str(ws)], input="/tools\n/runs\n/quit\n")
    assert result.exit_code == 0, result.output
    assert "run_segment" in result.output and "/run segment" in result.output
    assert "0 run(s) in runs" in result.output
    assert (ws / ".ethoagent" / "chat.sqlite").is_file()


def test_an_unreachable_endpoint_is_one_clear_error_and_the_chat_goes_on(
    tmp_path: Path,
) -> None:
    from ethoagent.errors import EndpointError
    from tests.servers import free_port

    url = f"http://127.0.0.1:{free_port()}/v1"
    settings = load_settings(
        None, {"models": {"llm": {"base_url": url, "model": "m", "max_retries": 0}}}
    )
    buf = io.StringIO()
    session = ChatSession(Workspace(tmp_path / "ws"), settings, Console(file=buf), live=False)
    session.start()
    try:
        with pytest.raises(EndpointError, match="cannot connect"):
            session.handle("hello?")
        session.handle("/runs")
    finally:
        session.close()
    assert "0 run(s) in runs" in buf.getvalue()


def test_explain_refuses_runs_outside_the_workspace(ctx: ToolContext, tmp_path: Path) -> None:
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (outside / "run.json").write_text("{}")
    for run in (str(outside), "../elsewhere"):
        out = execute_tool(ctx, "explain_label", {"run": run, "animal": "m", "time_s": 1})
        assert not out.ok and "workspace" in (out.error or "")


def test_inspect_trace_lists_failed_and_flagged_items(ctx: ToolContext) -> None:
    from ethoagent.agent.trace import Tracer
    from ethoagent.model.checks import CheckResult
    from ethoagent.runs import Run

    run = Run.create(ctx.settings.runs_dir, "pose", ctx.settings, run_id="p1")
    with Tracer(run.trace_path, run_id="p1") as tracer:
        for frame, error in ((0, 1.0), (1, 9.5)):
            with tracer.scope(node="triangulate", item=f"frame {frame}"):
                tracer.event("proposal")
                ok = error <= 4.0
                tracer.check(CheckResult(
                    name="reprojection", passed=ok, value=error, threshold=4.0, message="px"
                ))  # fmt: skip
                if not ok:
                    tracer.decision(decided_by="policy", action="flag", reason="still failing")
                    tracer.event("flag", reason="reprojection")
    out = execute_tool(ctx, "inspect_trace", {"run": "p1"})
    assert out.ok and out.result is not None
    assert out.result.rows == [
        ["triangulate", "frame 1", 1, "reprojection 9.5 vs 4.0", "flag (policy)", "yes", 0]
    ]
    assert out.result.data["checks_failed"] == 1
    every = execute_tool(ctx, "inspect_trace", {"run": "p1", "failed_only": False})
    assert every.result is not None and len(every.result.rows) == 2


def test_the_model_can_be_offered_a_subset_of_the_tools() -> None:
    from ethoagent.chat.agent import chat_tools
    from ethoagent.errors import ConfigError

    assert [t.name for t in chat_tools(["plot", "list_files"])] == ["list_files", "plot"]
    assert len(chat_tools()) == len(TOOLS)
    assert "title" not in json.dumps(chat_tools(["plot"])[0].parameters)
    with pytest.raises(ConfigError, match="unknown chat tool"):
        chat_tools(["plot", "rm"])


def test_an_empty_answer_with_tools_is_asked_again_without_them(tmp_path: Path) -> None:
    with ScriptedOpenAIServer([chat_completion(""), chat_completion("Hello, lab.")]) as server:
        settings = load_settings(None, {"models": {"llm": {"base_url": server.base_url}}})
        buf = io.StringIO()
        session = ChatSession(Workspace(tmp_path / "ws"), settings, Console(file=buf), live=False)
        session.start()
        try:
            session.handle("hi")
        finally:
            session.close()
        assert "tools" in server.requests[0] and "tools" not in server.requests[1]
    assert "Hello, lab." in buf.getvalue()
    assert "empty answer" not in buf.getvalue()


def test_run_gate_labels_frames_through_the_gate_graph(ctx: ToolContext) -> None:
    import numpy as np

    from ethoagent.graphs.gate import TrainInputs, TrainOptions
    from ethoagent.graphs.gate.graph import run_gate_train
    from ethoagent.io.keypoints import write_dlc_csv
    from ethoagent.model.pose import PoseData
    from ethoagent.sim.synthetic import KEYPOINTS, simulate_world

    root = ctx.workspace.root
    world = simulate_world(96, seed=5)
    pose = PoseData(points=world.points_3d, confidence=np.ones(world.points_3d.shape[:3]),
                    keypoints=KEYPOINTS, individuals=("mouse",), unit="mm")  # fmt: skip
    keypoints = write_dlc_csv(root / "mouse.csv", pose)
    labels = root / "labels.csv"
    labels.write_text("frame,label\n" + "".join(
        f"{f},{c}\n" for f, c in enumerate(world.behaviour.labels[:, 0])))  # fmt: skip
    options = TrainOptions(d_model=16, d_z=8, layers=1, window=32, epochs=1)
    run_gate_train(TrainInputs(keypoints=keypoints, labels=labels, fps=30.0), options,
                   ctx.settings, out=root / "model")  # fmt: skip
    out = execute_tool(ctx, "run_gate", {"keypoints": "mouse.csv", "model": "model", "fps": 30})
    assert out.ok and out.result is not None, out
    folder = root / out.result.data["outputs"]
    assert (folder / "labels.csv").is_file() and (folder / "ethogram.png").is_file()
    runs = [json.loads(p.read_text()) for p in (root / "runs").glob("*/run.json")]
    predict = [r for r in runs if r["graph"] == "gate-predict"]
    assert len(predict) == 1 and predict[0]["status"] == "finished"
    assert (root / "runs" / predict[0]["run_id"] / "trace.jsonl").is_file()
