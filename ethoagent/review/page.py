"""The review page: ``page.html``, one self-contained document (inline style and script).

The page lists the served runs, the selected run's queue (worst first) and one item's
evidence. Pose: each view's crop with the current labels drawn over it; pick a keypoint,
click where it is in a view (or mark it absent there), or accept the frame. Classify: the
window's contact sheet and probabilities; pick a label and relabel, or accept. Undo cancels
the latest action; Re-run starts a new run with the corrections applied. The selection
lives in the URL's fragment, so a reload (or a restarted server) shows the same item.
"""

from __future__ import annotations

from importlib.resources import files

PAGE = files("ethoagent.review").joinpath("page.html").read_text(encoding="utf-8")
"""The page served at ``/`` (no external asset: it works offline)."""

__all__ = ["PAGE"]
