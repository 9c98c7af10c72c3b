"""Check results: one verifiable test of a proposal, with its value and threshold.

Checks are plain functions of (input, proposal) that return a ``CheckResult``; they never
call a model. The node pattern (``ethoagent.graphs.kit.nodes``) runs them and routes on them.
"""

from __future__ import annotations

import math

from pydantic import BaseModel


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


def check_at_most(name: str, value: float, threshold: float, unit: str = "") -> CheckResult:
    """Pass when ``value <= threshold`` (NaN fails)."""
    passed = not math.isnan(value) and value <= threshold
    u = f" {unit}" if unit else ""
    rel = "<=" if passed else ">"
    return CheckResult(
        name=name,
        passed=passed,
        value=value,
        threshold=threshold,
        message=f"{name} = {value:.3g}{u} {rel} {threshold:.3g}{u}",
    )
