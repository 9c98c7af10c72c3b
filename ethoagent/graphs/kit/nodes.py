"""The node pattern every pipeline uses: propose -> check -> route (retry, escalate, flag).

A ``Stage`` bundles a proposer (a model call or a cheap deterministic path), pure checks,
named escalation strategies and a per-item ``Budget``. ``run_stage`` runs it over many items
with bounded concurrency. After a failed check a ``Supervisor`` picks the route among the
actions the stage still allows:

- ``ModelSupervisor``: the ``llm`` role chooses by a tool call (retry with a revised
  instruction, escalate by a named strategy, flag for review);
- ``PolicySupervisor``: the deterministic offline policy (retry up to ``max_retries``, then
  each escalation in order, then flag).

No answer can exceed the budget: an invalid, disallowed or over-budget choice falls back to
the policy, and the trace records who decided and why. ``run_graph`` compiles a LangGraph
``StateGraph`` with the run's SQLite checkpointer so a killed run resumes where it stopped.

Where a pipeline is asked to (``--ask-person``), the items still flagged after every retry
and escalation go to a person: ``ask_person`` pauses the graph with LangGraph's
``interrupt`` (the items and their evidence are the interrupt's value, kept in the
checkpoint) and returns the person's answers once the run is resumed with them.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, Literal, Protocol, TypeVar

from langgraph.types import interrupt
from pydantic import BaseModel, ValidationError

from ethoagent.agent.trace import Tracer
from ethoagent.agent.types import (
    Answer,
    Message,
    ModelClient,
    PromptRef,
    Role,
    Sampling,
    Tool,
    ToolChoice,
)
from ethoagent.config import Budget
from ethoagent.errors import EndpointError, ModelOutputError
from ethoagent.model.checks import CheckResult
from ethoagent.prompts import load_prompt

In = TypeVar("In")
Out = TypeVar("Out")
T = TypeVar("T", bound=BaseModel)
Action = Literal["retry", "escalate", "flag"]


class BudgetExhaustedError(Exception):
    """An item used all the model calls its budget allows."""


class Feedback(BaseModel):
    """What a retry or escalation is told about the attempt that failed."""

    attempt: int
    failed: list[CheckResult]
    instruction: str = ""

    def as_text(self) -> str:
        """The failure as text a model can act on (goes into the next prompt)."""
        lines = [f"Your previous answer (attempt {self.attempt}) failed these checks:"]
        lines += [f"- {c.name}: {c.message}" for c in self.failed]
        if self.instruction:
            lines.append(f"Instruction: {self.instruction}")
        return "\n".join(lines)


class Decision(BaseModel):
    """The route chosen after a failed check."""

    action: Action
    strategy: str | None = None
    instruction: str = ""
    reason: str = ""
    decided_by: str = "policy"


class SupervisionRequest(BaseModel):
    """Everything a supervisor sees when it chooses a route."""

    stage: str
    item: str
    attempt: int
    proposal: str
    failed: list[CheckResult]
    allowed: list[Action]
    strategies: dict[str, str]
    retries_left: int
    attempts_left: int
    model_calls_left: int


@dataclass
class StageContext:
    """Per-item handle given to proposers and escalations: model calls and traced tools."""

    client: ModelClient
    tracer: Tracer
    stage: str
    item: str
    budget: Budget
    attempt: int = 0
    model_calls: int = 0

    @property
    def model_calls_left(self) -> int:
        return max(0, self.budget.max_model_calls - self.model_calls)

    async def ask(
        self,
        role: Role,
        messages: list[Message],
        *,
        prompt: PromptRef,
        output: type[T] | None = None,
        tools: Sequence[Tool] = (),
        tool_choice: ToolChoice = "auto",
        sampling: Sampling | None = None,
        payload: Mapping[str, Any] | None = None,
    ) -> Answer[T]:
        """Ask a model, counting the call against the item's budget.

        Raises:
            BudgetExhaustedError: the item has no model calls left.
        """
        if self.model_calls >= self.budget.max_model_calls:
            raise BudgetExhaustedError(
                f"item {self.item} used all {self.budget.max_model_calls} model calls"
            )
        self.model_calls += 1
        return await self.client.ask(
            role,
            messages,
            prompt=prompt,
            output=output,
            tools=tuple(tools),
            tool_choice=tool_choice,
            sampling=sampling,
            payload=payload,
        )

    def tool(self, name: str, fn: Callable[..., Out], /, *args: Any, **kwargs: Any) -> Out:
        """Call a pure tool and record it in the trace (arguments and result summarised)."""
        with self.tracer.timed_tool(name, kwargs) as timing:
            result = fn(*args, **kwargs)
            timing.result = result
        return result


Proposer = Callable[[In, "Feedback | None", StageContext], Awaitable[Out]]
Check = Callable[[In, Out], CheckResult]


@dataclass(frozen=True)
class Escalation(Generic[In, Out]):
    """A named strategy tried after the stage's own proposals failed.

    ``run(input, last_proposal, feedback, ctx)`` returns a new proposal, which goes through
    the same checks.
    """

    name: str
    description: str
    run: Callable[[In, Out | None, Feedback, StageContext], Awaitable[Out]]


@dataclass(frozen=True)
class Stage(Generic[In, Out]):
    """One node of a pipeline: a proposer, its checks, escalations and budget.

    Attributes:
        retryable: whether re-running ``propose`` with feedback can change its answer
            (``False`` for deterministic proposers: the policy then escalates at once).
        describe: short text of a proposal for the supervisor and the trace.
    """

    name: str
    propose: Callable[[In, Feedback | None, StageContext], Awaitable[Out]]
    checks: Sequence[Callable[[In, Out], CheckResult]]
    escalations: Sequence[Escalation[In, Out]] = ()
    budget: Budget = field(default_factory=Budget)
    retryable: bool = True
    describe: Callable[[Out], str] = repr


@dataclass
class ItemOutcome(Generic[Out]):
    """How one item left a stage.

    ``output`` is the last proposal, also for flagged items (downstream stages decide
    whether to use it); ``accepted_by`` names the proposer that passed all checks.
    """

    item: str
    status: Literal["accepted", "flagged"]
    output: Out | None
    attempts: int
    model_calls: int
    checks: list[CheckResult]
    decisions: list[Decision]
    accepted_by: str | None = None
    flag_reason: str | None = None


class Supervisor(Protocol):
    async def decide(self, request: SupervisionRequest, ctx: StageContext) -> Decision: ...


class PolicySupervisor:
    """Deterministic route: retry up to the budget, then each escalation in order, then flag."""

    async def decide(self, request: SupervisionRequest, ctx: StageContext) -> Decision:
        return policy_decision(request)


def policy_decision(request: SupervisionRequest, why: str = "") -> Decision:
    """The offline policy's choice for ``request``."""
    failed = ", ".join(c.name for c in request.failed)
    prefix = f"{why}; " if why else ""
    if "retry" in request.allowed:
        return Decision(
            action="retry",
            instruction="Fix the failed checks: " + "; ".join(c.message for c in request.failed),
            reason=f"{prefix}checks failed ({failed}); {request.retries_left} retries left",
            decided_by="policy",
        )
    if "escalate" in request.allowed and request.strategies:
        name = next(iter(request.strategies))
        return Decision(
            action="escalate",
            strategy=name,
            reason=f"{prefix}checks failed ({failed}); no retries left, next strategy {name}",
            decided_by="policy",
        )
    return Decision(
        action="flag",
        reason=f"{prefix}checks failed ({failed}); no retries or strategies left",
        decided_by="policy",
    )


class _RetryArgs(BaseModel):
    instruction: str


class _EscalateArgs(BaseModel):
    strategy: str
    reason: str = ""


class _FlagArgs(BaseModel):
    reason: str


SUPERVISOR_PROMPT = "supervisor/route"


class ModelSupervisor:
    """The ``llm`` role chooses the route by a tool call; anything invalid -> policy.

    Args:
        tool_choice: ``required`` for servers that support it (vLLM, OpenAI); ``auto``
            otherwise (an answer without a tool call falls back to the policy).
    """

    def __init__(self, *, role: Role = "llm", tool_choice: ToolChoice = "required") -> None:
        self.role: Role = role
        self.tool_choice = tool_choice

    async def decide(self, request: SupervisionRequest, ctx: StageContext) -> Decision:
        if ctx.model_calls_left <= 0:
            return policy_decision(request, "no model calls left for the supervisor")
        prompt = load_prompt(SUPERVISOR_PROMPT)
        tools = _supervisor_tools(request)
        text = prompt.render(
            stage=request.stage,
            item=request.item,
            attempt=request.attempt,
            proposal=request.proposal[:2000],
            failed="\n".join(f"- {c.name}: {c.message}" for c in request.failed),
            strategies="\n".join(f"- {k}: {v}" for k, v in request.strategies.items()) or "(none)",
            actions=", ".join(request.allowed),
            retries_left=request.retries_left,
            attempts_left=request.attempts_left,
        )
        try:
            answer: Answer[BaseModel] = await ctx.ask(
                self.role,
                [Message("user", text)],
                prompt=prompt.ref,
                tools=tools,
                tool_choice=self.tool_choice,
                payload=request.model_dump(),
            )
        except (EndpointError, BudgetExhaustedError) as exc:
            return policy_decision(request, f"supervisor unavailable ({exc})")
        who = f"supervisor:{ctx.client.model_name(self.role)}"
        return _decision_from_answer(answer, request, who)


def _supervisor_tools(request: SupervisionRequest) -> list[Tool]:
    tools = []
    if "retry" in request.allowed:
        tools.append(
            Tool.from_model(
                "retry", "Retry the stage with a revised instruction for the proposer.", _RetryArgs
            )
        )
    if "escalate" in request.allowed:
        schema = _EscalateArgs.model_json_schema()
        schema["properties"]["strategy"]["enum"] = list(request.strategies)
        tools.append(
            Tool("escalate", "Escalate with one of the named strategies.", parameters=schema)
        )
    tools.append(Tool.from_model("flag", "Flag the item for human review and move on.", _FlagArgs))
    return tools


def _decision_from_answer(answer: Answer[Any], request: SupervisionRequest, who: str) -> Decision:
    if not answer.tool_calls:
        return policy_decision(request, "supervisor answered without a tool call")
    call = answer.tool_calls[0]
    if call.arguments is None:
        return policy_decision(request, f"supervisor tool arguments invalid: {call.error}")
    if call.name not in request.allowed:
        return policy_decision(request, f"supervisor chose {call.name!r}, which is not allowed")
    try:
        if call.name == "retry":
            r = _RetryArgs.model_validate(call.arguments)
            return Decision(
                action="retry", instruction=r.instruction, reason="supervisor", decided_by=who
            )
        if call.name == "escalate":
            e = _EscalateArgs.model_validate(call.arguments)
            if e.strategy not in request.strategies:
                return policy_decision(
                    request, f"supervisor chose unknown or used strategy {e.strategy!r}"
                )
            return Decision(action="escalate", strategy=e.strategy, reason=e.reason, decided_by=who)
        f = _FlagArgs.model_validate(call.arguments)
        return Decision(action="flag", reason=f.reason, decided_by=who)
    except ValidationError as exc:
        return policy_decision(request, f"supervisor arguments invalid: {exc.error_count()} errors")


def _run_checks(
    checks: Sequence[Callable[[In, Out], CheckResult]], inp: In, proposal: Out, tracer: Tracer
) -> list[CheckResult]:
    results = []
    for check in checks:
        try:
            result = check(inp, proposal)
        except Exception as exc:  # a crashing check is a failed check, named
            name = getattr(check, "__name__", "check")
            result = CheckResult(name=name, passed=False, message=f"check raised {exc!r}")
        if result.value is not None and not math.isfinite(result.value):
            result = result.model_copy(update={"passed": False})
        tracer.check(result)
        results.append(result)
    return results


async def run_item(
    stage: Stage[In, Out],
    item: str,
    inp: In,
    *,
    client: ModelClient,
    tracer: Tracer,
    supervisor: Supervisor,
) -> ItemOutcome[Out]:
    """Run one item through ``stage``: propose, check, route until accepted or flagged."""
    budget = stage.budget
    ctx = StageContext(client=client, tracer=tracer, stage=stage.name, item=item, budget=budget)
    escalations = {e.name: e for e in stage.escalations}
    untried = list(escalations)
    decisions: list[Decision] = []
    feedback: Feedback | None = None
    proposal: Out | None = None
    results: list[CheckResult] = []
    strategy: str | None = None
    retries = 0
    with tracer.scope(node=stage.name, item=item):
        for attempt in range(1, budget.max_attempts + 1):
            ctx.attempt = attempt
            proposer = "propose" if strategy is None else strategy
            with tracer.scope(attempt=attempt):
                tracer.event("proposal", proposer=proposer)
                try:
                    if strategy is None:
                        proposal = await stage.propose(inp, feedback, ctx)
                    else:
                        proposal = await escalations[strategy].run(inp, proposal, feedback, ctx)  # type: ignore[arg-type]
                    results = _run_checks(stage.checks, inp, proposal, tracer)
                except ModelOutputError as exc:
                    results = [CheckResult(name="schema", passed=False, message=str(exc))]
                    tracer.check(results[0])
                except BudgetExhaustedError as exc:
                    return _flag(tracer, item, proposal, attempt, ctx, results, decisions, str(exc))
                if all(r.passed for r in results):
                    tracer.event("accepted", proposer=proposer)
                    return ItemOutcome(
                        item=item,
                        status="accepted",
                        output=proposal,
                        attempts=attempt,
                        model_calls=ctx.model_calls,
                        checks=results,
                        decisions=decisions,
                        accepted_by=proposer,
                    )
                failed = [r for r in results if not r.passed]
                attempts_left = budget.max_attempts - attempt
                allowed: list[Action] = []
                if attempts_left > 0 and stage.retryable and retries < budget.max_retries:
                    allowed.append("retry")
                if attempts_left > 0 and untried:
                    allowed.append("escalate")
                allowed.append("flag")
                request = SupervisionRequest(
                    stage=stage.name,
                    item=item,
                    attempt=attempt,
                    proposal=stage.describe(proposal) if proposal is not None else "(none)",
                    failed=failed,
                    allowed=allowed,
                    strategies={n: escalations[n].description for n in untried},
                    retries_left=budget.max_retries - retries if stage.retryable else 0,
                    attempts_left=attempts_left,
                    model_calls_left=ctx.model_calls_left,
                )
                decision = await supervisor.decide(request, ctx)
                if decision.action not in allowed or (
                    decision.action == "escalate" and decision.strategy not in untried
                ):
                    decision = policy_decision(
                        request, f"{decision.decided_by} chose {decision.action}, not allowed"
                    )
                decisions.append(decision)
                tracer.decision(
                    decided_by=decision.decided_by,
                    action=decision.action,
                    reason=decision.reason,
                    strategy=decision.strategy,
                    instruction=decision.instruction or None,
                )
                if decision.action == "flag":
                    return _flag(
                        tracer, item, proposal, attempt, ctx, results, decisions, decision.reason
                    )
                feedback = Feedback(
                    attempt=attempt, failed=failed, instruction=decision.instruction
                )
                if decision.action == "retry":
                    retries += 1
                    strategy = None
                else:
                    assert decision.strategy is not None
                    strategy = decision.strategy
                    untried.remove(strategy)
        return _flag(
            tracer,
            item,
            proposal,
            budget.max_attempts,
            ctx,
            results,
            decisions,
            f"budget of {budget.max_attempts} attempts used",
        )


def _flag(
    tracer: Tracer,
    item: str,
    proposal: Out | None,
    attempts: int,
    ctx: StageContext,
    results: list[CheckResult],
    decisions: list[Decision],
    reason: str,
) -> ItemOutcome[Out]:
    tracer.event("flag", reason=reason)
    return ItemOutcome(
        item=item,
        status="flagged",
        output=proposal,
        attempts=attempts,
        model_calls=ctx.model_calls,
        checks=results,
        decisions=decisions,
        flag_reason=reason,
    )


async def run_stage(
    stage: Stage[In, Out],
    items: Sequence[tuple[str, In]],
    *,
    client: ModelClient,
    tracer: Tracer,
    supervisor: Supervisor,
    concurrency: int = 8,
    on_done: Callable[[ItemOutcome[Out]], None] | None = None,
) -> list[ItemOutcome[Out]]:
    """Run ``stage`` over ``items`` (``(item_id, input)`` pairs) with bounded concurrency.

    Returns:
        One outcome per item, in the order of ``items``.
    """
    sem = asyncio.Semaphore(max(1, concurrency))

    async def one(item: str, inp: In) -> ItemOutcome[Out]:
        async with sem:
            outcome = await run_item(
                stage, item, inp, client=client, tracer=tracer, supervisor=supervisor
            )
        if on_done is not None:
            on_done(outcome)
        return outcome

    return list(await asyncio.gather(*(one(i, x) for i, x in items)))


PERSON = "person"
"""``decided_by`` of a decision a person made on a paused run (``ask_person``)."""


def ask_person(tracer: Tracer, stage: str, items: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Pause the graph until a person answers ``items``; return the answers by item id.

    The first call raises LangGraph's ``GraphInterrupt`` with ``{"stage", "items"}`` as its
    value (``run_graph`` then ends the run as ``waiting``); the node is run again when the
    run is resumed with ``Command(resume=answers)``, and this call returns ``answers``. Each
    answer is recorded in the trace as a decision ``decided_by="person"``.

    Args:
        tracer: the run's trace.
        stage: the stage whose items these are (``classify``).
        items: one mapping per item, with at least ``item`` (its review id), ``kind`` (the
            review queue) and ``before`` (the run's answer), plus the evidence to show.

    Returns:
        ``{item id: {"action": "accept" | "relabel" | ..., "after": value}}`` for every
        item; an item without an answer is left out.
    """
    raw = interrupt({"stage": stage, "items": [dict(i) for i in items]})
    answers: dict[str, Any] = dict(raw) if isinstance(raw, Mapping) else {}
    with tracer.scope(node=stage):
        for it in items:
            ans = answers.get(str(it["item"]))
            if ans is None:
                continue
            with tracer.scope(item=str(it["item"])):
                tracer.decision(
                    decided_by=PERSON,
                    action=str(ans.get("action", "accept")),
                    reason=f"answered in review: {it.get('before')!r} -> {ans.get('after')!r}",
                )
    return answers


def summarize_outcomes(outcomes: Sequence[ItemOutcome[Any]]) -> dict[str, Any]:
    """Counts for a stage: accepted first time, after retry/escalation, flagged, model calls."""
    by: dict[str, int] = {}
    for o in outcomes:
        if o.status == "accepted":
            key = "accepted_first" if o.attempts == 1 else f"accepted_by_{o.accepted_by}"
        else:
            key = "flagged"
        by[key] = by.get(key, 0) + 1
    return {
        "items": len(outcomes),
        "accepted": sum(o.status == "accepted" for o in outcomes),
        "flagged": sum(o.status == "flagged" for o in outcomes),
        "by_route": dict(sorted(by.items())),
        "model_calls": sum(o.model_calls for o in outcomes),
        "attempts": sum(o.attempts for o in outcomes),
    }
