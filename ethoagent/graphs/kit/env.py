"""What a pipeline's node functions read besides the graph state: ``NodeEnv``.

A graph builder binds one env per run (``functools.partial(node, env=NodeEnv.of(rt,
inputs))``) so that each node is a small function of ``(state, env)`` a test can call
alone. A pipeline subclasses ``NodeEnv`` only to add what it derives from its inputs
(pose: the calibration's cameras; segment: the shortest epoch in frames).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Generic, Protocol, Self, TypeVar

from ethoagent.graphs.kit.runtime import Runtime
from ethoagent.runs import Run

OptionsT_co = TypeVar("OptionsT_co", covariant=True)


class HasOptions(Protocol[OptionsT_co]):
    """Resolved inputs that record the run's options (every pipeline's ``<Name>Inputs``)."""

    @property
    def options(self) -> OptionsT_co:
        """The run's options (``<Name>Options``)."""
        ...


InputsT = TypeVar("InputsT", bound=HasOptions[Any])
OptionsT = TypeVar("OptionsT")


@dataclass(frozen=True)
class NodeEnv(Generic[InputsT, OptionsT]):
    """What every node reads besides the state: bound once per run by the graph builder.

    Attributes:
        runtime: the run's model client, tracer, supervisor and progress.
        inputs: the resolved inputs (what ``resolve_<name>`` read and checked).
        options: ``inputs.options``.
        run: ``runtime.run``: the artifact store of arrays and JSON between nodes.
    """

    runtime: Runtime
    inputs: InputsT
    options: OptionsT
    run: Run

    @classmethod
    def of(cls, rt: Runtime, inputs: InputsT) -> Self:
        """The env of a run of ``inputs`` in ``rt``."""
        return cls(runtime=rt, inputs=inputs, options=inputs.options, run=rt.run)
