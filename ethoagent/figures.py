"""Figures as PNG bytes: headless matplotlib, deterministic files (no timestamp metadata)."""

from __future__ import annotations

import io
from typing import Any


def new_figure(width_in: float, height_in: float) -> tuple[Any, Any]:
    """A headless (Agg) matplotlib figure and axes, 100 dpi."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt.subplots(figsize=(width_in, height_in), dpi=100)


def png_bytes(fig: Any) -> bytes:
    """Lay out ``fig``, encode it as PNG (same figure -> same bytes) and close it."""
    import matplotlib.pyplot as plt

    fig.tight_layout()
    out = io.BytesIO()
    fig.savefig(out, format="png", metadata={"Software": None})
    plt.close(fig)
    return out.getvalue()
