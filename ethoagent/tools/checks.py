"""Threshold checks that build a ``CheckResult`` (``ethoagent.model.checks``).

Checks are plain functions of (input, proposal) that return a ``CheckResult``; they never
call a model. The node pattern (``ethoagent.graphs.kit.nodes``) runs them and routes on them.
"""

from __future__ import annotations

import math

from ethoagent.model.checks import CheckResult


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
