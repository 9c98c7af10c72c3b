"""``Pipeline``: the one description of a pipeline graph that every front end uses.

A pipeline's package (``graphs/<name>/__init__.py``) exports its ``PIPELINE``; the
registry maps names to them and ``graphs.kit.run.run_pipeline`` runs one. This module is
light (no graph, no model client) so a front end can read a pipeline's options, or check
an output folder (``check_out``), before anything heavy loads.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from pydantic import BaseModel, ValidationError

from ethoagent.errors import InputError

if TYPE_CHECKING:
    from ethoagent.agent.types import Role
    from ethoagent.graphs.kit.runtime import Runtime

InputsT = TypeVar("InputsT", bound=BaseModel)
OptionsT = TypeVar("OptionsT", bound=BaseModel)
ResolvedT = TypeVar("ResolvedT", bound=BaseModel)


@dataclass(frozen=True)
class Pipeline(Generic[InputsT, OptionsT, ResolvedT]):
    """What every front end needs to know to run one pipeline graph.

    Attributes:
        name: the graph's name, recorded in ``run.json`` (``ethoagent runs``).
        inputs: pydantic model of what a user names (files, frame rate, ...); a batch file
            is validated against it.
        options: pydantic model of the run's settings: the only copy of their defaults and
            bounds (CLI defaults, chat arguments and batch options all come from it).
        resolved: pydantic model of the run's resolved inputs (``resolve``'s result), kept
            in ``run.json`` so a resume finds them.
        resolve: ``(inputs, options) -> resolved``: reads and checks the files once.
            Raises ``InputError`` (before any run exists).
        execute: runs or resumes the graph (built with the runtime, compiled with the
            run's checkpointer) on the resolved inputs; its final state lists the files it
            wrote under ``outputs`` (paths relative to the run), ``summary.json`` among them.
        roles: model roles the graph calls (checked for reachability when online).
        outputs: names of the output files, relative to ``out`` (an output folder holding
            any of them is refused without ``overwrite``).
        summary_keys: entries of ``outputs/summary.json`` copied into ``run.json``.
    """

    name: str
    inputs: type[InputsT]
    options: type[OptionsT]
    resolved: type[ResolvedT]
    resolve: Callable[[InputsT, OptionsT], ResolvedT]
    execute: Callable[[Runtime, ResolvedT], Awaitable[dict[str, Any]]]
    roles: tuple[Role, ...]
    outputs: tuple[str, ...]
    summary_keys: tuple[str, ...]

    def parse_options(self, values: Mapping[str, Any]) -> OptionsT:
        """``values`` validated into the options model.

        Raises:
            InputError: "invalid <name> options: ..." listing every problem.
        """
        return _validated(self.options, f"{self.name} options", values)

    def parse_inputs(self, values: Mapping[str, Any]) -> InputsT:
        """``values`` validated into the inputs model.

        Raises:
            InputError: "invalid <name> inputs: ..." listing every problem.
        """
        return _validated(self.inputs, f"{self.name} inputs", values)


AnyPipeline = Pipeline[Any, Any, Any]


def check_out(out: Path, outputs: Sequence[str], overwrite: bool) -> None:
    """Refuse an output folder that is a file, or that holds any of ``outputs`` already.

    Raises:
        InputError: ``out`` is a file, or holds outputs and ``overwrite`` is false.
    """
    if out.exists() and not out.is_dir():
        raise InputError(f"output folder {out} is a file.", fix="pass a folder.")
    present = [n for n in outputs if (out / n).exists()]
    if present and not overwrite:
        raise InputError(
            f"output folder {out} already holds {', '.join(present)}; nothing was written.",
            fix="choose a new folder or pass --overwrite.",
        )


ModelT = TypeVar("ModelT", bound=BaseModel)


def _validated(model: type[ModelT], what: str, values: Mapping[str, Any]) -> ModelT:
    try:
        return model.model_validate(dict(values))
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(map(str, e['loc']))}: {e['msg'].removeprefix('Value error, ')}"
            if e["loc"]
            else e["msg"].removeprefix("Value error, ")
            for e in exc.errors()
        )
        raise InputError(f"invalid {what}: {problems}.") from None


__all__ = ["AnyPipeline", "InputsT", "OptionsT", "Pipeline", "ResolvedT", "check_out"]
