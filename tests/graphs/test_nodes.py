"""The propose -> check -> route pattern on a toy stage whose checks fail on purpose."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from pydantic import BaseModel

from ethoagent.agent.trace import Tracer
from ethoagent.agent.types import Message, PromptRef, Request, ToolCall
from ethoagent.config import Budget
from ethoagent.graphs.kit.nodes import (
    SUPERVISOR_PROMPT,
    Escalation,
    Feedback,
    ModelSupervisor,
    PolicySupervisor,
    Stage,
    StageContext,
    Supervisor,
    run_item,
    run_stage,
    summarize_outcomes,
)
from ethoagent.model.checks import CheckResult
from ethoagent.tools.checks import check_at_most
from tests.scripted import ScriptedClient

GUESS = PromptRef("toy/guess", 1)


class Guess(BaseModel):
    value: int


def at_least_10(_inp: int, out: Guess) -> CheckResult:
    ok = out.value >= 10
    return CheckResult(
        name="at_least_10",
        passed=ok,
        value=float(out.value),
        threshold=10.0,
        message="ok" if ok else f"value {out.value} is below 10",
    )


def model_stage(
    escalations: list[Escalation[int, Guess]] | None = None, **budget: int
) -> Stage[int, Guess]:
    """A stage whose proposer asks the model, with the feedback in the prompt."""

    async def propose(inp: int, feedback: Feedback | None, ctx: StageContext) -> Guess:
        text = f"guess a number for {inp}" + (f"\n{feedback.as_text()}" if feedback else "")
        answer = await ctx.ask("llm", [Message("user", text)], prompt=GUESS, output=Guess)
        return answer.require()

    return Stage(
        name="guess",
        propose=propose,
        checks=[at_least_10],
        escalations=escalations or [],
        budget=Budget(**budget) if budget else Budget(),
    )


def constant_escalation(name: str, value: int, log: list[str]) -> Escalation[int, Guess]:
    async def run(inp: int, last: Guess | None, fb: Feedback, ctx: StageContext) -> Guess:
        log.append(f"{name} after {fb.failed[0].message}")
        return Guess(value=value)

    return Escalation(name, f"answer {value}", run)


def run(stage: Stage[int, Guess], client: Any, supervisor: Supervisor, tracer: Tracer) -> Any:
    return asyncio.run(
        run_item(stage, "item-1", 1, client=client, tracer=tracer, supervisor=supervisor)
    )


def kinds(tracer: Tracer) -> list[str]:
    return [e["kind"] for e in tracer.events]


def test_retry_feeds_the_failure_back_then_accepts() -> None:
    answers = iter(['{"value": 3}', '{"value": 12}'])
    client = ScriptedClient({"toy/guess": lambda r: next(answers)})
    tracer = Tracer(None, run_id="t")
    outcome = run(model_stage(), client, PolicySupervisor(), tracer)
    assert outcome.status == "accepted"
    assert outcome.attempts == 2
    assert outcome.output == Guess(value=12)
    second_prompt = client.requests[1].messages[0].content
    assert "value 3 is below 10" in second_prompt
    assert "attempt 1" in second_prompt
    assert [d.action for d in outcome.decisions] == ["retry"]
    assert outcome.decisions[0].decided_by == "policy"
    assert kinds(tracer).count("check") == 2
    decision = next(e for e in tracer.events if e["kind"] == "decision")
    assert decision["attempt"] == 1 and decision["item"] == "item-1" and decision["node"] == "guess"


def test_malformed_answer_is_a_failed_check_fed_back() -> None:
    answers = iter(['{"value": "many"', '{"value": 10}'])
    client = ScriptedClient({"toy/guess": lambda r: next(answers)})
    tracer = Tracer(None, run_id="t")
    outcome = run(model_stage(), client, PolicySupervisor(), tracer)
    assert outcome.status == "accepted"
    schema_check = next(e for e in tracer.events if e["kind"] == "check")
    assert schema_check["name"] == "schema" and schema_check["passed"] is False
    assert "schema" in client.requests[1].messages[0].content


def test_policy_escalates_after_retries_then_flags_within_budget() -> None:
    log: list[str] = []
    client = ScriptedClient({"toy/guess": lambda r: '{"value": 1}'})
    stage = model_stage(
        [constant_escalation("low", 5, log), constant_escalation("also_low", 7, log)],
        max_retries=1,
        max_attempts=10,
        max_model_calls=10,
    )
    tracer = Tracer(None, run_id="t")
    outcome = run(stage, client, PolicySupervisor(), tracer)
    assert outcome.status == "flagged"
    assert [d.action for d in outcome.decisions] == ["retry", "escalate", "escalate", "flag"]
    assert [d.strategy for d in outcome.decisions if d.action == "escalate"] == ["low", "also_low"]
    assert log == ["low after value 1 is below 10", "also_low after value 5 is below 10"]
    assert outcome.attempts == 4
    assert "flag" in kinds(tracer)


def test_escalation_that_passes_is_accepted_and_named() -> None:
    log: list[str] = []
    client = ScriptedClient({"toy/guess": lambda r: '{"value": 1}'})
    stage = model_stage([constant_escalation("oracle", 42, log)], max_retries=0)
    outcome = run(stage, client, PolicySupervisor(), Tracer(None, run_id="t"))
    assert outcome.status == "accepted"
    assert outcome.accepted_by == "oracle"
    assert outcome.output == Guess(value=42)


def test_attempt_budget_bounds_an_always_failing_model() -> None:
    client = ScriptedClient({"toy/guess": lambda r: '{"value": 0}'})
    stage = model_stage(max_retries=100, max_attempts=4, max_model_calls=100)
    outcome = run(stage, client, PolicySupervisor(), Tracer(None, run_id="t"))
    assert outcome.status == "flagged"
    assert len(client.requests) == 4


def test_model_call_budget_flags_the_item() -> None:
    client = ScriptedClient({"toy/guess": lambda r: '{"value": 0}'})
    stage = model_stage(max_retries=5, max_attempts=10, max_model_calls=2)
    tracer = Tracer(None, run_id="t")
    outcome = run(stage, client, PolicySupervisor(), tracer)
    assert outcome.status == "flagged"
    assert len(client.requests) == 2
    assert "model calls" in (outcome.flag_reason or "")


def supervised_client(choice: Any) -> ScriptedClient:
    def supervise(r: Request) -> list[ToolCall] | str:
        return choice(r) if callable(choice) else choice

    return ScriptedClient({"toy/guess": lambda r: '{"value": 1}', SUPERVISOR_PROMPT: supervise})


def test_scripted_supervisor_chooses_escalation() -> None:
    log: list[str] = []
    client = supervised_client(
        [ToolCall(name="escalate", arguments={"strategy": "oracle", "reason": "stuck"})]
    )
    stage = model_stage([constant_escalation("oracle", 11, log)])
    tracer = Tracer(None, run_id="t")
    outcome = run(stage, client, ModelSupervisor(), tracer)
    assert outcome.status == "accepted" and outcome.accepted_by == "oracle"
    assert outcome.decisions[0].decided_by == "supervisor:scripted-llm"
    sup = client.calls(SUPERVISOR_PROMPT)[0]
    assert "value 1 is below 10" in sup.messages[0].content
    assert {t.name for t in sup.tools} == {"retry", "escalate", "flag"}
    escalate = next(t for t in sup.tools if t.name == "escalate")
    assert escalate.parameters["properties"]["strategy"]["enum"] == ["oracle"]
    assert sup.tool_choice == "required"
    decision = next(e for e in tracer.events if e["kind"] == "decision")
    assert decision["decided_by"].startswith("supervisor")


def test_scripted_supervisor_retry_instruction_reaches_the_proposer() -> None:
    answers = iter(['{"value": 1}', '{"value": 50}'])
    client = ScriptedClient(
        {
            "toy/guess": lambda r: next(answers),
            SUPERVISOR_PROMPT: lambda r: [
                ToolCall(name="retry", arguments={"instruction": "think bigger"})
            ],
        }
    )
    outcome = run(model_stage(), client, ModelSupervisor(), Tracer(None, run_id="t"))
    assert outcome.status == "accepted"
    assert "think bigger" in client.calls("toy/guess")[1].messages[0].content


def test_scripted_supervisor_flag_is_recorded() -> None:
    client = supervised_client([ToolCall(name="flag", arguments={"reason": "needs a human"})])
    tracer = Tracer(None, run_id="t")
    outcome = run(model_stage(), client, ModelSupervisor(), tracer)
    assert outcome.status == "flagged" and outcome.flag_reason == "needs a human"
    assert any(e["kind"] == "flag" and e["reason"] == "needs a human" for e in tracer.events)


def test_invalid_supervisor_choices_fall_back_to_policy() -> None:
    bad_answers = [
        "I think you should retry",  # no tool call
        [ToolCall(name="delete_everything", arguments={})],  # not an allowed action
        [ToolCall(name="escalate", arguments={"strategy": "made_up"})],  # unknown strategy
        [ToolCall(name="retry", arguments=None, raw_arguments="{", error="bad json")],
        [ToolCall(name="retry", arguments={"wrong": 1})],  # schema violation
    ]
    for bad in bad_answers:
        client = supervised_client(bad)
        outcome = run(model_stage(max_retries=1), client, ModelSupervisor(), Tracer(None, "t"))
        first = outcome.decisions[0]
        assert first.decided_by == "policy", bad
        assert first.action == "retry"
        assert "supervisor" in first.reason


def test_over_budget_supervisor_choice_falls_back() -> None:
    # retries exhausted (max_retries=0) but the supervisor insists on retrying
    client = supervised_client([ToolCall(name="retry", arguments={"instruction": "again"})])
    outcome = run(model_stage(max_retries=0), client, ModelSupervisor(), Tracer(None, "t"))
    assert outcome.status == "flagged"
    assert outcome.decisions[0].decided_by == "policy"
    assert "not allowed" in outcome.decisions[0].reason
    assert len(client.calls("toy/guess")) == 1


def test_supervisor_without_model_budget_uses_policy() -> None:
    client = supervised_client([ToolCall(name="flag", arguments={"reason": "x"})])
    stage = model_stage(max_retries=3, max_attempts=5, max_model_calls=1)
    outcome = run(stage, client, ModelSupervisor(), Tracer(None, "t"))
    assert client.calls(SUPERVISOR_PROMPT) == []
    assert outcome.decisions[0].decided_by == "policy"


def test_crashing_check_is_a_failed_check() -> None:
    def broken(_i: int, _o: Guess) -> CheckResult:
        raise ValueError("boom")

    async def propose(inp: int, fb: Feedback | None, ctx: StageContext) -> Guess:
        return Guess(value=inp)

    stage: Stage[int, Guess] = Stage(name="s", propose=propose, checks=[broken], retryable=False)
    tracer = Tracer(None, "t")
    outcome = asyncio.run(
        run_item(
            stage, "i", 1, client=ScriptedClient({}), tracer=tracer, supervisor=PolicySupervisor()
        )
    )
    assert outcome.status == "flagged"
    assert "boom" in outcome.checks[0].message


def test_run_stage_keeps_order_and_counts_routes(tmp_path: Any) -> None:
    async def propose(inp: int, fb: Feedback | None, ctx: StageContext) -> Guess:
        return Guess(value=ctx.tool("double", lambda x: 2 * x, inp))

    log: list[str] = []
    stage: Stage[int, Guess] = Stage(
        name="double",
        propose=propose,
        checks=[at_least_10],
        escalations=[constant_escalation("fix", 10, log)],
        retryable=False,
    )
    tracer = Tracer(tmp_path / "trace.jsonl", "t")
    outcomes = asyncio.run(
        run_stage(
            stage,
            [(str(i), i) for i in range(8)],
            client=ScriptedClient({}),
            tracer=tracer,
            supervisor=PolicySupervisor(),
            concurrency=3,
        )
    )
    assert [o.item for o in outcomes] == [str(i) for i in range(8)]
    summary = summarize_outcomes(outcomes)
    assert summary["by_route"] == {"accepted_by_fix": 5, "accepted_first": 3}
    lines = [json.loads(x) for x in (tmp_path / "trace.jsonl").read_text().splitlines()]
    tools = [e for e in lines if e["kind"] == "tool_call"]
    assert len(tools) == 8 and {e["item"] for e in tools} == {str(i) for i in range(8)}


def test_check_at_most_nan_fails() -> None:
    assert not check_at_most("x", float("nan"), 1.0).passed
    assert check_at_most("x", 1.0, 1.0).passed
