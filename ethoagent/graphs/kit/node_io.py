"""Small things every pipeline's nodes do: JSON beside the run's arrays, per-node timings.

Arrays go through ``Run.save_arrays`` / ``load_arrays``; the JSON a node hands to a later
one (captions, plans) is written atomically here, so a killed run never leaves half a file
for the resumed one to read.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ethoagent.atomic import atomic_write_text


def write_json(path: Path, value: Any) -> None:
    """Write ``value`` as JSON (sorted keys, one trailing newline), atomically."""
    atomic_write_text(path, json.dumps(value, sort_keys=True) + "\n")


def read_json(path: Path) -> Any:
    """The JSON value in ``path`` (UTF-8)."""
    return json.loads(path.read_text(encoding="utf-8"))


def add_timing(state: Mapping[str, Any], node: str, t0: float) -> dict[str, float]:
    """``state["timings"]`` with the seconds since ``t0`` added to ``node``'s.

    Args:
        state: a graph state whose ``timings`` maps node -> seconds (may be absent).
        node: the node that ran.
        t0: ``time.perf_counter()`` when it started.

    Returns:
        A new dict (the state is not changed), seconds rounded to 0.1 ms.
    """
    timings = dict(state.get("timings", {}))
    timings[node] = round(timings.get(node, 0.0) + time.perf_counter() - t0, 4)
    return timings
