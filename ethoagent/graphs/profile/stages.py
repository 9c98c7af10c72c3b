"""The profile naming stage: one cluster of snippet descriptions -> a vocabulary entry.

The ``llm`` role (prompt ``profile/name``) gets the cluster's most common descriptions, its
median kinematics and the names already taken, and answers a name and a definition
(``NameAnswer``). Checks: ``unique_name`` and ``definition_kinematics``
(``tools.vocabulary``); failures are retried with the reason, then escalated to a name and a
purely kinematic definition from the members (``describe_members``). Offline, the solver
names a cluster after its members' most common caption label (qualified when taken) with
that label's definition (``name_from_members``).
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from ethoagent.agent.offline import register_solver
from ethoagent.agent.types import Message, Request
from ethoagent.config import Budget
from ethoagent.graphs.kit.nodes import Escalation, Feedback, Stage, StageContext
from ethoagent.model.checks import CheckResult
from ethoagent.prompts import load_prompt
from ethoagent.tools.captions import DEFINITIONS, canonical_label, normalise_label
from ethoagent.tools.vocabulary import (
    ClusterKinematics,
    check_definition,
    check_unique_name,
    describe_cluster,
)

NAME_PROMPT = "profile/name"


class NameAnswer(BaseModel):
    """Answer of ``profile/name``: a vocabulary entry."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=60)
    definition: str = Field(min_length=1, max_length=400)


class ClusterItem(BaseModel):
    """One cluster as the naming stage sees it.

    Attributes:
        cluster: its index.
        descriptions: its most common descriptions with their share of its snippets.
        labels: caption label -> seconds of its members.
        kinematics: its members' median kinematics.
        taken: names of the entries named before it.
    """

    cluster: int
    descriptions: list[tuple[str, float]]
    labels: dict[str, float]
    kinematics: ClusterKinematics
    taken: list[str]


class NameProposal(BaseModel):
    """A proposed vocabulary entry.

    Attributes:
        name: the entry's name (snake_case).
        definition: what the behaviour looks like.
        source: who proposed it: ``model``, ``offline`` or ``kinematics`` (escalation).
    """

    name: str
    definition: str
    source: str


def _qualifiers(item: ClusterItem) -> list[str]:
    """Words telling the cluster apart, from its dominant description's fields."""
    text = item.descriptions[0][0] if item.descriptions else ""
    out: list[str] = []
    for field in ("speed", "direction", "posture"):
        m = text.split(f"{field} ", 1)
        if len(m) == 2:
            value = normalise_label(m[1].split(";")[0])
            if value and value not in {"none", "unknown", "forward"}:
                out.append("_".join(value.split("_")[:2]))
    return out


def name_from_members(item: ClusterItem) -> NameProposal:
    """The offline name and definition of a cluster.

    The name is the members' most common caption label (canonical), qualified by their
    speed, direction or posture when that name is taken; the definition is the label's.
    """
    top = max(item.labels.items(), key=lambda kv: kv[1])[0] if item.labels else "cluster"
    base = canonical_label(top) or "cluster"
    taken = {normalise_label(t) for t in item.taken}
    name = base
    for q in [*_qualifiers(item), *(str(i) for i in range(2, 100))]:
        if name not in taken:
            break
        name = f"{base}_{q}"
    k = item.kinematics
    definition = DEFINITIONS.get(base, f"Snippets described as {base.replace('_', ' ')}.")
    if k.speed is not None:
        definition += f" Members move at a median {k.speed:.2f} body lengths/s."
    return NameProposal(name=name, definition=definition, source="offline")


def describe_members(item: ClusterItem) -> NameProposal:
    """Escalation: ``cluster_<n>`` with a definition made of its kinematics only."""
    k = item.kinematics
    parts = [f"{k.members} snippets"]
    for label, value, unit in (
        ("body-centre speed", k.speed, " body lengths/s"),
        ("heading change", k.abs_turn_rate, " rad/s"),
        ("back height", k.height_ratio, " x usual"),
        ("paw-to-head distance", k.paw_head_ratio, " x usual"),
    ):
        if value is not None:
            parts.append(f"median {label} {value:.2f}{unit}")
    taken = {normalise_label(t) for t in item.taken}
    name = f"cluster_{item.cluster + 1}"
    n = 2
    while name in taken:
        name = f"cluster_{item.cluster + 1}_{n}"
        n += 1
    return NameProposal(name=name, definition="; ".join(parts) + ".", source="kinematics")


def offline_name(request: Request) -> NameAnswer:
    """Offline answer to ``profile/name`` (``name_from_members``)."""
    item = ClusterItem.model_validate(request.payload["cluster"])
    p = name_from_members(item)
    return NameAnswer(name=p.name, definition=p.definition)


register_solver(NAME_PROMPT)(offline_name)


def make_name_stage() -> Stage[ClusterItem, NameProposal]:
    """The stage naming one cluster.

    The LLM's answer is checked for a unique name and a definition consistent with the
    members' kinematics; escalation = a kinematic name and definition.
    """

    async def propose(
        item: ClusterItem, feedback: Feedback | None, ctx: StageContext
    ) -> NameProposal:
        prompt = load_prompt(NAME_PROMPT)
        k = item.kinematics
        text = prompt.render(
            cluster=item.cluster + 1,
            members=k.members,
            seconds=f"{k.seconds:.1f}",
            descriptions="\n".join(f"- {share:.0%}: {d}" for d, share in item.descriptions),
            kinematics=describe_cluster(k),
            taken=", ".join(item.taken) or "(none yet)",
            feedback=feedback.as_text() if feedback else "",
        )
        answer = await ctx.ask(
            "llm",
            [Message("user", text)],
            prompt=prompt.ref,
            output=NameAnswer,
            payload={"cluster": item.model_dump(), "attempt": ctx.attempt},
        )
        parsed = answer.require()
        name = normalise_label(parsed.name) or parsed.name
        source = "offline" if ctx.client.backend == "offline" else "model"
        return NameProposal(name=name, definition=parsed.definition.strip(), source=source)

    async def kinematic(
        item: ClusterItem, last: NameProposal | None, fb: Feedback, ctx: StageContext
    ) -> NameProposal:
        result: NameProposal = ctx.tool("describe_members", describe_members, item)
        return result

    def unique(item: ClusterItem, out: NameProposal) -> CheckResult:
        return check_unique_name(out.name, item.taken)

    def consistent(item: ClusterItem, out: NameProposal) -> CheckResult:
        return check_definition(out.name, out.definition, item.kinematics)

    return Stage(
        name="name",
        propose=propose,
        checks=[unique, consistent],
        escalations=[
            Escalation("describe_members", "name and define it from its kinematics", kinematic)
        ],
        budget=Budget(max_retries=2, max_attempts=4, max_model_calls=6),
        describe=lambda p: f"{p.source}: {p.name}: {p.definition}",
    )


__all__ = [
    "NAME_PROMPT",
    "ClusterItem",
    "NameAnswer",
    "NameProposal",
    "describe_members",
    "make_name_stage",
    "name_from_members",
    "offline_name",
]
