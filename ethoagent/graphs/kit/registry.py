"""The pipelines ``ethoagent run`` (a batch, or any scripted caller) can run, by name.

Each pipeline's package exports its spec (``graphs.kit.spec.Pipeline``); ``REGISTERED``
names it by graph name, module and attribute, with a one-line description. A package is
imported only when its pipeline is looked up (``pipeline``, ``PIPELINES[name]``), so
listing the pipelines (``pipeline_names``, ``name in PIPELINES``) imports none of them, and
a batch job's process loads only the graph it runs (segment alone pulls in scikit-learn).
A new pipeline becomes available to batches by adding one line to ``REGISTERED``.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from ethoagent.errors import InputError
from ethoagent.graphs.kit.spec import AnyPipeline, Pipeline


@dataclass(frozen=True)
class Registered:
    """One pipeline of the registry, before its package is imported.

    Attributes:
        name: the graph's name (``Pipeline.name``, a batch file's ``graphs`` entry).
        module: the package that defines it, e.g. ``ethoagent.graphs.segment``.
        attribute: the module's ``Pipeline`` object, e.g. ``PIPELINE``.
        summary: what it does, in one line (for listings).
    """

    name: str
    module: str
    attribute: str
    summary: str


REGISTERED: tuple[Registered, ...] = (
    Registered(
        "demo",
        "ethoagent.graphs.triangulate",
        "PIPELINE",
        "verified triangulation of a simulated session (the demo)",
    ),
    Registered(
        "triangulate",
        "ethoagent.graphs.triangulate",
        "FILES_PIPELINE",
        "a lab's 2D predictions and calibration to verified 3D points",
    ),
    Registered(
        "pose", "ethoagent.graphs.pose", "PIPELINE", "multi-view 3D labels from a few seed frames"
    ),
    Registered(
        "segment",
        "ethoagent.graphs.segment",
        "PIPELINE",
        "unsupervised ethogram: features, clusters, captions, epochs",
    ),
    Registered(
        "classify",
        "ethoagent.graphs.classify",
        "PIPELINE",
        "behaviour labels from a few labelled examples per class",
    ),
    Registered(
        "profile",
        "ethoagent.graphs.profile",
        "PIPELINE",
        "behaviour profiles across sessions and group comparisons",
    ),
    Registered(
        "gate-predict",
        "ethoagent.graphs.gate",
        "GATE_PREDICT",
        "per-frame labels from a trained gate model (LookAgain)",
    ),
)
"""Every pipeline a batch can run, in the order listings show them."""

_BY_NAME = {r.name: r for r in REGISTERED}


def pipeline_names() -> tuple[str, ...]:
    """The registered pipelines' names, in registry order; imports no pipeline."""
    return tuple(_BY_NAME)


def pipeline(name: str) -> AnyPipeline:
    """The pipeline called ``name``, its package imported on first use.

    Raises:
        InputError: no such pipeline.
    """
    entry = _BY_NAME.get(name)
    if entry is None:
        raise InputError(
            f"unknown graph {name!r}.", fix=f"use one of {', '.join(sorted(_BY_NAME))}."
        )
    spec = getattr(importlib.import_module(entry.module), entry.attribute)
    if not isinstance(spec, Pipeline) or spec.name != name:
        raise TypeError(f"{entry.module}.{entry.attribute} is not the {name!r} pipeline")
    return spec


class _Pipelines(Mapping[str, AnyPipeline]):
    """Name -> pipeline; membership, iteration and length import nothing."""

    def __getitem__(self, name: str) -> AnyPipeline:
        if name not in _BY_NAME:
            raise KeyError(name)
        return pipeline(name)

    def __iter__(self) -> Iterator[str]:
        return iter(_BY_NAME)

    def __len__(self) -> int:
        return len(_BY_NAME)

    def __contains__(self, name: object) -> bool:
        return name in _BY_NAME


PIPELINES: Mapping[str, AnyPipeline] = _Pipelines()
"""The pipelines ``ethoagent run`` knows, by name (``Pipeline.name``); a value is loaded
when it is read."""


__all__ = ["PIPELINES", "REGISTERED", "Registered", "pipeline", "pipeline_names"]
