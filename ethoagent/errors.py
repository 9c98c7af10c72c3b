"""Exceptions that carry a user-facing, one-line message.

Every error a user can cause (bad input, unreachable endpoint, bad config) is an
``EthoagentError`` whose message names the file or endpoint, what was expected, what was
found and how to fix it. The CLI prints it as one red line and exits non-zero.
"""

from __future__ import annotations


class EthoagentError(Exception):
    """Base class of errors whose message is meant for the user."""

    exit_code: int = 1

    def __init__(self, message: str, *, fix: str | None = None) -> None:
        self.fix = fix
        super().__init__(message if fix is None else f"{message} Fix: {fix}")


class ConfigError(EthoagentError):
    """A configuration file, variable or flag is invalid."""


class InputError(EthoagentError):
    """An input file is missing, corrupt or inconsistent."""


class EndpointError(EthoagentError):
    """A model endpoint cannot be reached or keeps failing."""

    exit_code = 3


class ModelOutputError(EthoagentError):
    """A model answer could not be parsed into the expected schema."""


class RunError(EthoagentError):
    """A run directory is missing, locked or inconsistent."""


class RunWaitingError(RunError):
    """A run paused for a person (``--ask-person``) waits for answers in ``ethoagent review``."""


class RunCancelledError(Exception):
    """A person stopped a run from a front end (e.g. Ctrl-C in the chat).

    The run is recorded ``interrupted``, not ``failed``, and can be resumed.
    """
