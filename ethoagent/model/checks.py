"""``CheckResult``: the outcome of one verifiable test of a proposal (pure data).

Checks are plain functions of (input, proposal) that return a ``CheckResult``; they never
call a model (helpers such as ``check_at_most`` live in ``ethoagent.tools.checks``). The
node pattern (``ethoagent.graphs.kit.nodes``) runs them and routes on them; the trace
records every one.
"""

from __future__ import annotations

from pydantic import BaseModel

__all__ = ["CheckResult"]


class CheckResult(BaseModel):
    """The outcome of one check.

    Attributes:
        name: short identifier, e.g. ``reprojection``.
        passed: whether the proposal passed.
        value: the measured quantity (unit in ``message``), if there is one.
        threshold: the bound it was compared with, if there is one.
        message: one sentence a model or a person can act on when it failed.
    """

    name: str
    passed: bool
    value: float | None = None
    threshold: float | None = None
    message: str = ""
