"""Terminal rendering of a chat turn with rich: streamed markdown, tool calls, tables.

Tool calls show as they happen (``-> run_segment(keypoints='sim')``), long ones with a
progress bar, then a green or red line with the tool's summary or error, its table and the
files it wrote. Text that came from data files is printed with markup disabled, so a CSV
cell cannot restyle (or hide) anything on the screen.
"""

from __future__ import annotations

import json
import threading
from typing import Any

from rich import box
from rich.console import Console
from rich.live import Live
from rich.markdown import Markdown
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from ethoagent.chat.actions import TOOLS, ToolOutcome

__all__ = ["ChatRenderer", "result_table"]


def _short(value: Any, limit: int = 60) -> str:
    text = value if isinstance(value, str) else json.dumps(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def result_table(title: str, columns: list[str], rows: list[list[Any]]) -> Table:
    """A compact table of a tool's rows (cells shown as plain text)."""
    table = Table(title=title or None, box=box.SIMPLE_HEAD, pad_edge=False, title_justify="left")
    for c in columns:
        table.add_column(Text(str(c)), overflow="fold")
    for r in rows:
        table.add_row(*(Text("" if v is None else _short(v, 80)) for v in r))
    return table


class ChatRenderer:
    """``ChatHooks`` for a rich console.

    Args:
        console: where to print.
        live: stream answers through ``rich.live`` (re-rendered markdown); ``False``
            prints the deltas as they come, as raw markdown (pipes, logs).
    """

    def __init__(self, console: Console, *, live: bool = True) -> None:
        self.console = console
        self.live_enabled = live
        self._buffer: list[str] = []
        self._live: Live | None = None
        self._progress: Progress | None = None
        self._tasks: dict[str, Any] = {}
        self._lock = threading.Lock()

    # -- answers

    def answer_start(self) -> None:
        self._buffer = []
        if self.live_enabled:
            self._live = Live(
                Markdown(""),
                console=self.console,
                refresh_per_second=8,
                vertical_overflow="visible",
            )
            self._live.start()

    def answer_text(self, delta: str) -> None:
        self._buffer.append(delta)
        if self._live is not None:
            self._live.update(Markdown("".join(self._buffer)))
        else:
            self.console.out(delta, end="", highlight=False)

    def answer_end(self, text: str) -> None:
        if self._live is not None:
            self._live.update(Markdown("".join(self._buffer)))
            self._live.stop()
            self._live = None
        elif self._buffer:
            self.console.out("")

    # -- tools

    def tool_start(self, name: str, arguments: dict[str, Any] | None, raw: str) -> None:
        if arguments is None:
            shown = _short(raw, 80)
        else:
            shown = ", ".join(f"{k}={_short(v)}" for k, v in arguments.items())
        line = Text.assemble(("-> ", "cyan"), (name, "bold cyan"), f"({shown})")
        self.console.print(line)
        tool = TOOLS.get(name)
        if tool is not None and tool.long:
            self._progress = Progress(
                TextColumn("   {task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                console=self.console,
                transient=True,
            )
            self._tasks = {}
            self._progress.start()

    def progress(self, stage: str, done: int, total: int) -> None:
        """Progress of a long tool (``done`` items finished now)."""
        with self._lock:
            if self._progress is None:
                return
            if stage not in self._tasks:
                self._tasks[stage] = self._progress.add_task(stage, total=total)
            self._progress.update(self._tasks[stage], advance=done, total=total)

    def tool_end(self, outcome: ToolOutcome) -> None:
        with self._lock:
            if self._progress is not None:
                self._progress.stop()
                self._progress = None
        took = f" ({outcome.seconds:.1f} s)" if outcome.seconds >= 0.5 else ""
        if outcome.ok and outcome.result is not None:
            res = outcome.result
            self.console.print(Text.assemble(("   ok ", "bold green"), res.summary, took))
            if res.rows:
                self.console.print(result_table("", res.columns, res.rows))
            for f in res.files[:12]:
                self.console.print(Text("   " + f, style="dim"))
            if len(res.files) > 12:
                self.console.print(Text(f"   ... {len(res.files) - 12} more", style="dim"))
        elif outcome.cancelled:
            self.console.print(Text.assemble(("   cancelled ", "bold yellow"), outcome.error or ""))
        else:
            self.console.print(Text.assemble(("   error ", "bold red"), outcome.error or "", took))
