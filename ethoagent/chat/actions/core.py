"""The chat tool registry: ``ChatTool``, the context tools run in, validation and
execution (every failure becomes a result), and the direct-command parser."""

from __future__ import annotations

import json
import math
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from ethoagent.agent.workspace import Workspace
from ethoagent.config import Settings
from ethoagent.errors import EthoagentError, InputError, RunCancelledError

__all__ = [
    "MAX_ROWS",
    "TOOLS",
    "ChatTool",
    "ToolCancelledError",
    "ToolContext",
    "ToolOutcome",
    "ToolResult",
    "execute_tool",
    "parse_direct",
    "register_tool",
    "validation_message",
]

MAX_ROWS = 40
"""Rows of a table a tool returns to the model (the terminal shows the same)."""


class ToolCancelledError(RunCancelledError):
    """The user pressed Ctrl-C while a tool ran (a run it started is ``interrupted``)."""


@dataclass
class ToolContext:
    """What a tool may use: the workspace, settings, progress and the cancel flag.

    Attributes:
        workspace: bounds every file access.
        settings: pipeline settings (``backend`` decides how pipelines call models;
            ``runs_dir`` lies inside the workspace).
        cancel: set by Ctrl-C; long tools check it at every progress step.
        on_progress: ``(stage, done, total)`` for a progress bar, or ``None``.
    """

    workspace: Workspace
    settings: Settings
    cancel: threading.Event = field(default_factory=threading.Event)
    on_progress: Callable[[str, int, int], None] | None = None

    def progress(self, stage: str, done: int, total: int) -> None:
        """Report progress; raise ``ToolCancelledError`` if the user asked to stop."""
        if self.cancel.is_set():
            raise ToolCancelledError(stage)
        if self.on_progress is not None:
            self.on_progress(stage, done, total)

    def check_cancel(self) -> None:
        if self.cancel.is_set():
            raise ToolCancelledError("cancelled")


@dataclass
class ToolResult:
    """What a tool returns.

    Attributes:
        summary: one line for the terminal and the model.
        data: JSON-able result for the model.
        columns, rows: a table to show (also in ``data``), if any.
        files: workspace-relative paths the tool wrote.
    """

    summary: str
    data: dict[str, Any] = field(default_factory=dict)
    columns: list[str] = field(default_factory=list)
    rows: list[list[Any]] = field(default_factory=list)
    files: list[str] = field(default_factory=list)


@dataclass
class ToolOutcome:
    """A tool call's outcome: the result, or the error handed back to the model."""

    tool: str
    ok: bool
    result: ToolResult | None = None
    error: str | None = None
    cancelled: bool = False
    seconds: float = 0.0

    def to_message(self) -> str:
        """The tool message content the model reads (JSON; file text stays data)."""
        body: dict[str, Any] = {"tool": self.tool, "ok": self.ok}
        if self.result is not None:
            body["summary"] = self.result.summary
            body["result"] = self.result.data
            if self.result.files:
                body["files"] = self.result.files
        if self.error is not None:
            body["error"] = self.error
        return json.dumps(body, default=str)


@dataclass(frozen=True)
class ChatTool:
    """One tool the chat offers.

    Attributes:
        name: the function name the model calls.
        description: what it does, for the model.
        args: pydantic model of the arguments (its JSON schema goes to the model).
        run: ``(context, validated arguments) -> ToolResult``; raises ``EthoagentError``
            for what a user can fix.
        command: the direct command (``"run segment"``), typed as ``/run segment ...``.
        positional: argument names a direct command takes by position.
        long: shows a progress bar and can be cancelled with Ctrl-C.
    """

    name: str
    description: str
    args: type[BaseModel]
    run: Callable[[ToolContext, Any], ToolResult]
    command: str
    positional: tuple[str, ...] = ()
    long: bool = False

    def schema(self) -> dict[str, Any]:
        return self.args.model_json_schema()

    def usage(self) -> str:
        """``/run segment KEYPOINTS [--fps F] ...`` for /help."""
        fields = self.args.model_fields
        parts = [f"/{self.command}"]
        parts += [n.upper() for n in self.positional]
        for name, info in fields.items():
            if name in self.positional:
                continue
            flag = f"--{name.replace('_', '-')}"
            parts.append(f"[{flag}]" if info.annotation is bool else f"[{flag} X]")
        return " ".join(parts)


TOOLS: dict[str, ChatTool] = {}


def register_tool(tool: ChatTool) -> ChatTool:
    """Add ``tool`` to the registry (its name and command must be new)."""
    if tool.name in TOOLS:
        raise ValueError(f"chat tool {tool.name!r} is already registered")
    if any(t.command == tool.command for t in TOOLS.values()):
        raise ValueError(f"direct command /{tool.command} is already taken")
    TOOLS[tool.name] = tool
    return tool


def validation_message(tool: str, exc: ValidationError) -> str:
    """A pydantic error as one line: which argument, what was wrong."""
    problems = []
    for err in exc.errors()[:6]:
        where = ".".join(str(p) for p in err["loc"]) or "arguments"
        problems.append(f"{where}: {err['msg']}")
    return f"invalid arguments for {tool}: " + "; ".join(problems)


def execute_tool(
    ctx: ToolContext,
    name: str,
    arguments: dict[str, Any] | None,
    parse_error: str | None = None,
) -> ToolOutcome:
    """Validate and run one tool call; every failure becomes an unsuccessful outcome.

    Args:
        ctx: the workspace, settings and cancel flag.
        name: the tool's name.
        arguments: the arguments (``None`` when the model's JSON did not parse).
        parse_error: why the arguments did not parse, if they did not.
    """
    started = time.perf_counter()
    tool = TOOLS.get(name)
    if tool is None:
        return ToolOutcome(
            name, False, error=f"no tool named {name!r}; the tools are {', '.join(sorted(TOOLS))}."
        )
    if arguments is None:
        return ToolOutcome(name, False, error=f"invalid arguments for {name}: {parse_error}")
    try:
        args = tool.args.model_validate(arguments)
    except ValidationError as exc:
        return ToolOutcome(name, False, error=validation_message(name, exc))
    try:
        result = tool.run(ctx, args)
    except ToolCancelledError:
        return ToolOutcome(
            name,
            False,
            error="cancelled by the user (Ctrl-C)",
            cancelled=True,
            seconds=time.perf_counter() - started,
        )
    except EthoagentError as exc:
        return ToolOutcome(name, False, error=str(exc), seconds=time.perf_counter() - started)
    except Exception as exc:  # a bug in a tool must not end the chat
        return ToolOutcome(
            name,
            False,
            error=f"internal error in {name}: {type(exc).__name__}: {exc}",
            seconds=time.perf_counter() - started,
        )
    return ToolOutcome(name, True, result=result, seconds=time.perf_counter() - started)


# ------------------------------------------------------------------------------ helpers


class _Args(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _rel(ctx: ToolContext, path: Path) -> str:
    return ctx.workspace.relative(path)


def _num(x: float, digits: int = 2) -> float | None:
    return round(float(x), digits) if math.isfinite(x) else None


def _new_folder(ctx: ToolContext, prefix: str, name: str | None) -> Path:
    """A new folder under ``results/`` (never an existing one)."""
    stem = name or f"{prefix}-{time.strftime('%Y%m%d-%H%M%S')}"
    base = ctx.workspace.resolve(f"results/{stem}", what="output folder")
    out, n = base, 1
    while out.exists():
        n += 1
        out = base.with_name(f"{base.name}-{n}")
    out.mkdir(parents=True)
    return out


def _keypoint_file(ctx: ToolContext, path: str) -> tuple[Path, Path | None]:
    """``(keypoint file, simulated session folder or None)``."""
    p = ctx.workspace.resolve(path, must_exist=True, what="keypoint file")
    if p.is_dir():
        gt = p / "ground_truth" / "points_3d.csv"
        if not gt.is_file():
            raise InputError(
                f"{_rel(ctx, p)} is a folder without ground_truth/points_3d.csv (not a "
                "simulated session).",
                fix="give a keypoint file or a folder written by `ethoagent simulate`.",
            )
        return gt, p
    return p, None


def _read_pose(ctx: ToolContext, path: str, fps: float | None) -> tuple[Any, Path, Path | None]:
    from ethoagent.io.keypoints import read_keypoints
    from ethoagent.io.session import simulated_fps

    file, session = _keypoint_file(ctx, path)
    if session is not None and fps is None:
        fps = simulated_fps(session)
    return read_keypoints(file, fps=fps), file, session


def _norm(text: str) -> str:
    return re.sub(r"[\s_\-]+", "", text.strip().lower())


def _match_name(wanted: str, names: list[str], what: str) -> int:
    for i, n in enumerate(names):
        if n == wanted:
            return i
    hits = [i for i, n in enumerate(names) if _norm(n) == _norm(wanted)]
    if len(hits) == 1:
        return hits[0]
    raise InputError(f"no {what} {wanted!r}; the file has {', '.join(names) or 'none'}.")


def _open_run(ctx: ToolContext, run: str) -> Any:
    """A run of this workspace by id (under ``runs/``) or by its folder's path."""
    from ethoagent.runs import Run

    if (
        re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", run)
        and (ctx.settings.runs_dir / run / "run.json").is_file()
    ):
        return Run.open(ctx.settings.runs_dir / run)
    return Run.open(ctx.workspace.resolve(run, must_exist=True, what="run"))


def parse_direct(line: str) -> tuple[ChatTool, dict[str, Any]] | None:
    """Parse ``/command args`` into a tool and raw arguments (validated later).

    Syntax: positional values in the tool's ``positional`` order, ``--name value``,
    ``--flag`` (true) and ``name=value``; quote values with spaces.

    Returns:
        ``None`` when the line names no tool's command.

    Raises:
        InputError: unbalanced quotes or too many positional values.
    """
    import shlex

    try:
        words = shlex.split(line.lstrip("/"))
    except ValueError as exc:
        raise InputError(f"cannot parse {line!r}: {exc}.") from exc
    by_command = {t.command: t for t in TOOLS.values()}
    tool = None
    for n in (2, 1):
        if len(words) >= n and " ".join(words[:n]) in by_command:
            tool, words = by_command[" ".join(words[:n])], words[n:]
            break
    if tool is None:
        return None
    args: dict[str, Any] = {}
    positional: list[str] = []
    i = 0
    while i < len(words):
        w = words[i]
        if w.startswith("--") and len(w) > 2:
            key = w[2:].replace("-", "_")
            if "=" in key:
                key, value = key.split("=", 1)
                args[key] = value
            elif i + 1 < len(words) and not words[i + 1].startswith("--"):
                args[key] = words[i + 1]
                i += 1
            else:
                args[key] = True
        elif "=" in w and re.match(r"^[A-Za-z_]\w*=", w):
            key, value = w.split("=", 1)
            args[key] = value
        else:
            positional.append(w)
        i += 1
    if len(positional) > len(tool.positional):
        raise InputError(
            f"/{tool.command} takes {len(tool.positional)} value(s) by position, got "
            f"{len(positional)}: {positional}.",
            fix=f"usage: {tool.usage()}",
        )
    for name, value in zip(tool.positional, positional, strict=False):
        args[name] = value
    return tool, args
