"""Tests of the JSONL reasoning trace: scopes, images, NaN, corrupt lines, rendering, summary."""

from __future__ import annotations

import asyncio
import json
import math
from collections.abc import Mapping
from io import StringIO
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import pytest
from pydantic import BaseModel
from rich.console import Console

from ethoagent.agent.trace import (
    MAX_TEXT,
    TracedClient,
    Tracer,
    read_trace,
    read_trace_counted,
    summarize,
)
from ethoagent.agent.trace_report import render_trace, summarize_trace
from ethoagent.agent.types import (
    Answer,
    Backend,
    Image,
    Message,
    PromptRef,
    Role,
    Sampling,
    Tool,
    ToolChoice,
    Usage,
    parse_output,
)
from ethoagent.errors import RunError
from ethoagent.model.checks import CheckResult

T = TypeVar("T", bound=BaseModel)
PROMPT = PromptRef("label", 2)


class Label(BaseModel):
    label: str
    score: float


class ScriptedClient:
    """Answers every request with the same JSON text; counts calls; can be made to fail."""

    def __init__(self, backend: Backend = "openai", fail: bool = False) -> None:
        self.backend: Backend = backend
        self.fail = fail
        self.calls = 0

    async def ask(
        self,
        role: Role,
        messages: list[Message],
        *,
        prompt: PromptRef,
        output: type[T] | None = None,
        tools: list[Tool] | tuple[Tool, ...] = (),
        tool_choice: ToolChoice = "auto",
        sampling: Sampling | None = None,
        payload: Mapping[str, Any] | None = None,
    ) -> Answer[T]:
        self.calls += 1
        if self.fail:
            raise ConnectionError("endpoint down")
        text = '{"label": "groom", "score": 0.9}'
        parsed, err = parse_output(text, output) if output is not None else (None, None)
        return Answer(
            text=text,
            parsed=parsed,
            parse_error=err,
            usage=Usage(prompt_tokens=11, completion_tokens=7),
            latency_s=0.25,
            backend=self.backend,
            model="scripted-1",
        )

    def model_name(self, role: Role) -> str:
        return "scripted-1"

    async def aclose(self) -> None:
        return None


def _lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_lines_are_json_with_scope_fields(tmp_path: Path) -> None:
    path = tmp_path / "trace.jsonl"
    with Tracer(path, run_id="r1") as tracer:
        tracer.event("run_start", config={"a": 1})
        with tracer.scope(graph="pose", node="triangulate", item="f1"):
            tracer.event("note", text="x")
            with tracer.scope(attempt=2):
                tracer.check(CheckResult(name="reprojection", passed=True, value=1.0))
            tracer.event("after")
    lines = _lines(path)
    assert [e["kind"] for e in lines] == ["run_start", "note", "check", "after"]
    assert [e["seq"] for e in lines] == [1, 2, 3, 4]
    assert all(e["run_id"] == "r1" and e["ts"].endswith("+00:00") for e in lines)
    assert "node" not in lines[0]
    assert lines[1]["graph"] == "pose" and lines[1]["node"] == "triangulate"
    assert lines[2]["attempt"] == 2 and lines[2]["item"] == "f1"
    assert "attempt" not in lines[3] and lines[3]["item"] == "f1"
    assert lines == tracer.events
    # every line is sorted-key JSON
    for raw in path.read_text().splitlines():
        assert raw == json.dumps(json.loads(raw), sort_keys=True, ensure_ascii=False)


def test_nested_scope_overrides_and_none_removes() -> None:
    tracer = Tracer(None, run_id="r")
    with tracer.scope(node="a", item="i1"), tracer.scope(node="b", item=None):
        ev = tracer.event("x")
    assert ev["node"] == "b" and "item" not in ev


def test_concurrent_tasks_keep_their_own_scope() -> None:
    tracer = Tracer(None, run_id="r")

    async def work(item: str) -> None:
        with tracer.scope(item=item):
            for attempt in range(3):
                with tracer.scope(attempt=attempt):
                    await asyncio.sleep(0)
                    tracer.event("step", expect=f"{item}/{attempt}")

    async def main() -> None:
        with tracer.scope(node="n"):
            await asyncio.gather(*(work(f"i{k}") for k in range(5)))

    asyncio.run(main())
    assert len(tracer.events) == 15
    for ev in tracer.events:
        assert ev["expect"] == f"{ev['item']}/{ev['attempt']}"
        assert ev["node"] == "n"
    assert [e["seq"] for e in tracer.events] == list(range(1, 16))


def test_resume_appends_and_continues_seq(tmp_path: Path) -> None:
    path = tmp_path / "trace.jsonl"
    with Tracer(path, run_id="r") as t1:
        t1.event("a")
        t1.event("b")
    with path.open("a") as fh:  # killed mid-write
        fh.write('{"kind": "trunc')
    with Tracer(path, run_id="r") as t2:
        ev = t2.event("c")
    assert ev["seq"] == 3
    events, skipped = read_trace_counted(path)
    assert [e["kind"] for e in events] == ["a", "b", "c"]
    assert skipped == 1


def test_images_stored_once_by_hash(tmp_path: Path) -> None:
    img = Image.from_array(np.full((4, 5, 3), 7, np.uint8))
    other = Image.from_array(np.zeros((4, 5), np.uint8))
    tracer = Tracer(tmp_path / "trace.jsonl", run_id="r", images_dir=tmp_path / "images")
    msgs = [Message("system", "sys"), Message("user", "look", images=(img, img, other))]
    for _ in range(2):
        tracer.model_call(
            role="vlm",
            model="m",
            backend="openai",
            prompt=PROMPT,
            messages=msgs,
            answer=None,
        )
    tracer.close()
    files = sorted(p.name for p in (tmp_path / "images").iterdir())
    assert files == sorted({f"{img.sha256}.png", f"{other.sha256}.png"})
    rec = _lines(tmp_path / "trace.jsonl")[0]["messages"][1]["images"]
    assert [r["sha256"] for r in rec] == [img.sha256, img.sha256, other.sha256]
    assert rec[0]["path"] == f"images/{img.sha256}.png"
    assert (tmp_path / rec[0]["path"]).read_bytes() == img.data
    assert "data" not in json.dumps(rec)  # no image bytes inline


def test_nan_becomes_null_and_long_text_truncated(tmp_path: Path) -> None:
    path = tmp_path / "trace.jsonl"
    with Tracer(path, run_id="r") as tracer:
        tracer.check(CheckResult(name="reprojection", passed=False, value=math.nan, threshold=2.0))
        tracer.event("x", values=[1.0, math.inf, np.float32("nan")], arr=np.array([1.0, np.nan]))
        tracer.event("long", text="y" * (MAX_TEXT + 50))
    raw = path.read_text()
    assert "NaN" not in raw and "Infinity" not in raw
    check, x, long = _lines(path)
    assert check["value"] is None and check["threshold"] == 2.0
    assert x["values"] == [1.0, None, None]
    assert x["arr"]["nan"] == 1
    assert len(long["text"]) < MAX_TEXT + 100 and "truncated" in long["text"]


def test_summarize_values(tmp_path: Path) -> None:
    arr = np.array([[1.0, np.nan], [np.inf, -3.0]])
    assert summarize(arr) == {
        "shape": [2, 2],
        "dtype": "float64",
        "nan": 1,
        "min": -3.0,
        "max": 1.0,
    }
    assert summarize(np.array([], np.float32))["min"] is None
    assert summarize(np.arange(6, dtype=np.int16).reshape(2, 3))["max"] == 5
    short = summarize(list(range(100)))
    assert len(short) == 21 and short[-1] == "…80 more items"
    assert summarize(tmp_path) == str(tmp_path)
    assert summarize(Label(label="a", score=math.nan)) == {"label": "a", "score": None}
    assert summarize({"k": np.int64(3), "b": True}) == {"k": 3, "b": True}
    json.dumps(summarize({"x": object()}), allow_nan=False)


def test_timed_tool_records_result_and_error() -> None:
    tracer = Tracer(None, run_id="r")
    with tracer.timed_tool("triangulate", {"points": np.zeros((3, 2))}) as call:
        call.result = np.ones(4)
    ev = tracer.events[-1]
    assert ev["kind"] == "tool_call" and ev["name"] == "triangulate"
    assert ev["args"]["points"]["shape"] == [3, 2]
    assert ev["result"]["max"] == 1.0 and ev["error"] is None and ev["duration_s"] >= 0
    with pytest.raises(ValueError, match="bad"), tracer.timed_tool("fit", {}):
        raise ValueError("bad")
    assert tracer.events[-1]["error"] == "ValueError: bad"


def test_read_trace_missing_file_and_corrupt_last_line(tmp_path: Path) -> None:
    with pytest.raises(RunError, match=r"nothere\.jsonl"):
        read_trace(tmp_path / "nothere.jsonl")
    path = tmp_path / "trace.jsonl"
    with Tracer(path, run_id="r") as tracer:
        tracer.event("a")
        tracer.event("b")
    path.write_bytes(path.read_bytes() + b'{"kind": "c", "se')
    events = read_trace(path)
    assert [e["kind"] for e in events] == ["a", "b"]
    path.write_bytes(path.read_bytes() + b"\n\xff\xfe garbage\n[1, 2]\n")
    assert read_trace_counted(path) == (events, 3)


def test_traced_client_records_calls_and_errors(tmp_path: Path) -> None:
    tracer = Tracer(None, run_id="r")
    ok = TracedClient(ScriptedClient(), tracer)
    bad = TracedClient(ScriptedClient(fail=True), tracer)
    assert ok.backend == "openai"
    msgs = [Message("user", "what is this?")]

    async def main() -> Answer[Label]:
        with tracer.scope(node="label", item="bout-1"):
            ans = await ok.ask("llm", msgs, prompt=PROMPT, output=Label, sampling=Sampling())
            with pytest.raises(ConnectionError):
                await bad.ask("llm", msgs, prompt=PROMPT, output=Label)
        await ok.aclose()
        return ans

    answer = asyncio.run(main())
    assert answer.require().label == "groom"
    good, err = tracer.events
    assert good["kind"] == err["kind"] == "model_call"
    assert good["parsed"] == {"label": "groom", "score": 0.9}
    assert good["usage"] == {"prompt_tokens": 11, "completion_tokens": 7}
    assert good["prompt"] == {"name": "label", "version": 2}
    assert good["model"] == "scripted-1" and good["backend"] == "openai"
    assert good["latency_s"] == 0.25 and good["cache_hit"] is False
    assert good["sampling"]["temperature"] == 0.0
    assert good["item"] == "bout-1"
    assert err["error"] == "ConnectionError: endpoint down" and err["text"] is None
    assert err["latency_s"] >= 0


def _demo_trace() -> Tracer:
    tracer = Tracer(None, run_id="demo")
    tracer.event("run_start", stages=["pose", "label"])
    answer: Answer[Label] = Answer(
        text="{}",
        parsed=Label(label="groom", score=0.9),
        usage=Usage(prompt_tokens=100, completion_tokens=20),
        latency_s=1.5,
        backend="openai",
        model="qwen",
    )
    cached = answer.model_copy(update={"cache_hit": True, "latency_s": 0.0})
    with tracer.scope(node="triangulate", item="frame-1"):
        with tracer.scope(attempt=1):
            tracer.model_call(
                role="vlm",
                model="qwen",
                backend="openai",
                prompt=PROMPT,
                messages=[],
                answer=answer,
            )
            tracer.tool_call("triangulate", {"k": 3}, np.zeros(3), 0.01)
            tracer.check(
                CheckResult(
                    name="reprojection",
                    passed=False,
                    value=9.5,
                    threshold=2.0,
                    message="reprojection = 9.5 px > 2 px",
                )
            )
            tracer.decision(
                decided_by="supervisor", action="retry", reason="swap cameras", strategy="swap"
            )
        with tracer.scope(attempt=2):
            tracer.model_call(
                role="vlm",
                model="qwen",
                backend="openai",
                prompt=PROMPT,
                messages=[],
                answer=cached,
            )
            tracer.check(CheckResult(name="reprojection", passed=False, value=8.0, threshold=2.0))
            tracer.decision(decided_by="policy", action="escalate", reason="budget")
            tracer.event("flag", reason="still off [by] 8 px")
    with tracer.scope(node="triangulate", item="frame-2", attempt=1):
        tracer.check(CheckResult(name="reprojection", passed=True, value=0.5, threshold=2.0))
        tracer.model_call(
            role="llm",
            model="tiny",
            backend="offline",
            prompt=PromptRef("other", 1),
            messages=[],
            answer=Answer(text="ok", usage=Usage(prompt_tokens=1, completion_tokens=1)),
        )
    tracer.event("run_end", ok=True)
    return tracer


def _render(events: list[dict[str, Any]], **kw: Any) -> str:
    buf = StringIO()
    console = Console(file=buf, width=200, color_system=None)
    render_trace(events, console, **kw)
    return buf.getvalue()


def test_render_trace_shows_checks_decisions_flags() -> None:
    out = _render(_demo_trace().events)
    assert "run demo" in out and "run_start" in out and "run_end" in out
    assert "✗ check reprojection value 9.5 vs threshold 2" in out
    assert "reprojection = 9.5 px > 2 px" in out
    assert "✓ check reprojection value 0.5" in out
    assert "attempt 1" in out and "attempt 2" in out
    assert "decision by supervisor: retry" in out and "strategy swap" in out
    assert "decision by policy: escalate" in out
    assert "FLAG" in out and "still off [by] 8 px" in out
    assert "prompt label.v2" in out and "cache hit" in out and "100+20 tok" in out
    assert "groom" in out
    assert "tool triangulate(k=3)" in out
    assert "frame-1" in out and "frame-2" in out


def test_render_trace_filters() -> None:
    events = _demo_trace().events
    failed = _render(events, failed_only=True)
    assert "frame-1" in failed and "frame-2" not in failed
    one = _render(events, item="frame-2")
    assert "frame-2" in one and "frame-1" not in one
    checks = _render(events, kind="check")
    assert "check reprojection" in checks and "decision" not in checks and "tool " not in checks
    assert "no matching events" in _render(events, node="nope", kind="check")


def test_summarize_trace_counts() -> None:
    s = summarize_trace(_demo_trace().events)
    assert s["model_calls"] == 3
    assert s["model_calls_by_backend"] == {"openai": 2, "offline": 1}
    assert s["model_calls_by_prompt"] == {"label.v2": 2, "other.v1": 1}
    assert s["cache_hits"] == 1
    assert s["tokens"] == {"prompt": 101, "completion": 21, "total": 122}
    assert s["tokens_cached"] == {"prompt": 100, "completion": 20, "total": 120}
    assert s["tool_calls"] == 1 and s["tool_calls_by_name"] == {"triangulate": 1}
    assert (s["checks"], s["checks_passed"], s["checks_failed"]) == (3, 1, 2)
    assert s["checks_failed_by_name"] == {"reprojection": 2}
    assert (s["retries"], s["escalations"], s["flags"]) == (1, 1, 1)
    assert s["decisions_by"] == {"supervisor": 1, "policy": 1}
    assert s["flagged_items"] == ["frame-1"] and s["items"] == 2
    assert s["run_ids"] == ["demo"] and s["events"] == 12
    json.dumps(s, allow_nan=False)


def test_thread_safe_appends(tmp_path: Path) -> None:
    import threading

    path = tmp_path / "trace.jsonl"
    tracer = Tracer(path, run_id="r")

    def work(k: int) -> None:
        for i in range(50):
            tracer.event("t", k=k, i=i, text="z" * 500)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(8)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    tracer.close()
    events, skipped = read_trace_counted(path)
    assert skipped == 0 and len(events) == 400
    assert [e["seq"] for e in events] == list(range(1, 401))
