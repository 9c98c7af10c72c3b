"""Figures of the demo report: ethogram timelines against ground truth, a 3D trajectory,
per-class F1 bars and model calls made vs saved. Each returns PNG bytes (``figures``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ethoagent.figures import new_figure, png_bytes


def _palette(labels: Sequence[str]) -> dict[str, Any]:
    from matplotlib import colormaps

    cmap = colormaps["tab10" if len(labels) <= 10 else "tab20"]
    return {name: cmap(i % cmap.N) for i, name in enumerate(labels)}


def _runs(values: NDArray[np.str_]) -> list[tuple[int, int, str]]:
    edges = np.flatnonzero(values[1:] != values[:-1]) + 1
    starts = np.concatenate([[0], edges]).astype(int)
    stops = np.concatenate([edges, [len(values)]]).astype(int)
    return [(int(a), int(b), str(values[a])) for a, b in zip(starts, stops, strict=True)]


def timeline_figure(
    rows: Sequence[tuple[str, NDArray[np.str_]]],
    fps: float,
    title: str,
    shade: NDArray[np.bool_] | None = None,
) -> bytes:
    """Ethogram timelines, one bar per row, one colour per label name.

    Args:
        rows: ``(name, labels (frames,) str)``; ``""`` = no label.
        fps: frame rate, Hz (the x axis is seconds).
        title: figure title.
        shade: ``(frames,)`` frames to grey out in the background (e.g. training frames).
    """
    from matplotlib.patches import Patch

    names = sorted({v for _, lab in rows for v in lab.tolist() if v})
    colour = _palette(names)
    frames = max(len(lab) for _, lab in rows)
    fig, ax = new_figure(10, 0.9 + 0.55 * len(rows))
    if shade is not None:
        for a, b, v in _runs(shade.astype(str)):
            if v == "True":
                ax.axvspan(a / fps, b / fps, color="0.92", zorder=0)
    for i, (_, lab) in enumerate(rows):
        y = len(rows) - 1 - i
        for a, b, v in _runs(lab):
            if v:
                ax.broken_barh([(a / fps, (b - a) / fps)], (y + 0.15, 0.7), color=colour[v])
    ax.set_yticks([len(rows) - 1 - i + 0.5 for i in range(len(rows))], [n for n, _ in rows])
    ax.set_xlim(0, frames / fps)
    ax.set_ylim(0, len(rows))
    ax.set_xlabel("time (s)")
    ax.set_title(title, fontsize=10)
    handles = [Patch(color=colour[n], label=n) for n in names]
    if shade is not None:
        handles.append(Patch(color="0.92", label="training frames"))
    ax.legend(
        handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False, fontsize=8
    )
    return png_bytes(fig)


def trajectory_3d_figure(
    points: NDArray[np.float64], truth: NDArray[np.float64] | None, keypoint: str
) -> bytes:
    """The 3D path of one keypoint: estimated (coloured by time) and ground truth (grey).

    Args:
        points: ``(frames, 3)`` mm, arena frame, z up; NaN = not labelled.
        truth: ``(frames, 3)`` mm, or ``None``.
        keypoint: its name, for the title.
    """
    import matplotlib.pyplot as plt

    fig = plt.figure(figsize=(6.5, 5.2), dpi=100)
    ax = fig.add_subplot(projection="3d")
    if truth is not None:
        ax.plot(truth[:, 0], truth[:, 1], truth[:, 2], color="0.6", lw=0.8, label="ground truth")
    ok = np.isfinite(points).all(axis=1)
    sc = ax.scatter(
        points[ok, 0], points[ok, 1], points[ok, 2], c=np.flatnonzero(ok), s=4, cmap="viridis"
    )
    fig.colorbar(sc, ax=ax, label="frame", shrink=0.6, pad=0.1)
    ax.set_xlabel("x (mm)")
    ax.set_ylabel("y (mm)")
    ax.set_zlabel("z (mm)")
    ax.set_title(f"{keypoint}: verified 3D labels (colour = frame)", fontsize=10)
    if truth is not None:
        ax.legend(loc="upper left", frameon=False, fontsize=8)
    return png_bytes(fig)


def f1_figure(scores: dict[str, dict[str, float]]) -> bytes:
    """Grouped bars: per-class F1 (0–1) of each method against the ground truth."""
    classes = sorted({c for s in scores.values() for c in s})
    fig, ax = new_figure(max(6.0, 1.1 * len(classes) + 2), 3.4)
    width = 0.8 / max(1, len(scores))
    x = np.arange(len(classes))
    for i, (name, s) in enumerate(scores.items()):
        vals = [s.get(c, np.nan) for c in classes]
        ax.bar(x + (i - (len(scores) - 1) / 2) * width, vals, width, label=name)
    ax.set_xticks(x, classes)
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("F1 vs ground truth")
    ax.legend(frameon=False, fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return png_bytes(fig)


def calls_figure(rows: Sequence[tuple[str, int, int]]) -> bytes:
    """Per pipeline, the share of items settled by the cheap checked path vs items that
    called a model, with the counts written on the bars.

    Args:
        rows: ``(pipeline, items without a model call, items with one)``.
    """
    fig, ax = new_figure(7.5, 0.9 + 0.6 * len(rows))
    y = np.arange(len(rows))[::-1]
    totals = np.array([max(1, r[1] + r[2]) for r in rows], dtype=float)
    cheap = np.array([r[1] for r in rows]) / totals
    model = np.array([r[2] for r in rows]) / totals
    ax.barh(y, cheap, color="C2", label="settled without a model call")
    ax.barh(y, model, left=cheap, color="C1", label="called a model")
    for yi, r, c in zip(y, rows, cheap, strict=True):
        ax.text(0.01, yi, f"{r[1]} of {r[1] + r[2]}", va="center", fontsize=8, color="white")
        if r[2]:
            ax.text(c + 0.01, yi, str(r[2]), va="center", fontsize=8)
    ax.set_yticks(y, [r[0] for r in rows])
    ax.set_xlim(0, 1)
    ax.set_xlabel(
        "share of items (pose, triangulate: frames; segment: snippets; classify: windows)"
    )
    ax.legend(frameon=False, fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return png_bytes(fig)


__all__ = ["calls_figure", "f1_figure", "timeline_figure", "trajectory_3d_figure"]
