"""The chat's tools: typed wrappers of ethoagent's tools and pipeline graphs.

A chat tool is one ``ChatTool`` entry in ``TOOLS``: a name, a description the model reads,
a pydantic model of its arguments, the function that runs it and the direct command that
calls it without a model (``/run segment PATH``). Adding a pipeline to the chat
(``classify``, ``profile``) is one more ``register_tool`` call in ``pipelines.py``.
Modules: ``core`` (registry, context, validation, execution, direct-command parsing),
``files``, ``sessions`` (keypoints, calibration), ``pipelines`` and ``results`` (queries,
plots, runs, traces).

Rules every tool keeps:

* arguments are validated by their pydantic model before anything runs; a validation
  error is returned (to the model, or printed for a direct command), never raised;
* every path goes through ``Workspace.resolve`` (nothing outside the workspace is read or
  written) and outputs go to new folders inside it; no tool deletes or overwrites a file;
* no tool executes code or a shell command;
* what a tool reads from files (names, CSV cells, captions) is returned as data inside a
  JSON result, and the system prompt tells the model that it is data, not instructions.
"""

from __future__ import annotations

import importlib

from ethoagent.chat.actions.core import (
    MAX_ROWS,
    TOOLS,
    ChatTool,
    ToolCancelledError,
    ToolContext,
    ToolOutcome,
    ToolResult,
    execute_tool,
    parse_direct,
    register_tool,
    validation_message,
)

# importing the modules registers their tools, in this order (the order of /help)
for _module in ("files", "sessions", "pipelines", "results"):
    importlib.import_module(f"{__name__}.{_module}")

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
