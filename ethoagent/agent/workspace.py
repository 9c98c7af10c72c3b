"""The chat's workspace: the one folder whose files its tools may read and write.

Every path a chat tool receives (from the model or from a typed command) goes through
``Workspace.resolve`` first. A path is accepted only when it names something inside the
workspace root after symlinks are followed:

* relative paths are taken from the root; absolute paths must lie under it;
* a ``..`` component is refused outright, even where it would land back inside (a model
  that writes ``..`` is probing, and a clear refusal teaches it the rule);
* a symlink (anywhere on the path) whose target lies outside the root is refused;
* NUL bytes, empty strings and home-directory forms (``~``) are refused.

Refusals raise ``WorkspaceError`` (an ``InputError``) whose message names the path and
the rule, so the chat can hand it back to the model as the tool's result.
"""

from __future__ import annotations

import os
from pathlib import Path, PurePosixPath, PureWindowsPath

from ethoagent.errors import InputError

__all__ = ["Workspace", "WorkspaceError"]


class WorkspaceError(InputError):
    """A path names something outside the workspace, or is malformed."""


class Workspace:
    """A folder that bounds a chat session's file access.

    Args:
        root: the folder (created if missing); stored resolved (symlinks followed).
    """

    def __init__(self, root: str | os.PathLike[str]) -> None:
        """Create ``root`` if missing and keep its resolved path."""
        path = Path(root).expanduser()
        path.mkdir(parents=True, exist_ok=True)
        self.root = path.resolve(strict=True)

    def __repr__(self) -> str:
        """``Workspace(<root>)``."""
        return f"Workspace({self.root})"

    def resolve(
        self, path: str | os.PathLike[str], *, must_exist: bool = False, what: str = "path"
    ) -> Path:
        """The absolute, symlink-free path of ``path`` inside the workspace.

        Args:
            path: relative to the root, or absolute under it.
            must_exist: refuse a path that does not exist.
            what: what the path is for, in messages ("keypoint file", ...).

        Raises:
            WorkspaceError: the path is empty, malformed, has a ``..`` component, is
                absolute outside the root, leads outside through a symlink, or (with
                ``must_exist``) does not exist.
        """
        text = os.fspath(path)
        if not text.strip():
            raise WorkspaceError(f"empty {what}.", fix="give a path inside the workspace.")
        if "\x00" in text:
            raise WorkspaceError(f"{what} {text!r} contains a NUL byte.")
        if text.startswith("~"):
            raise WorkspaceError(
                f"{what} {text!r} points into a home directory, outside the workspace {self.root}.",
                fix="give a path relative to the workspace.",
            )
        parts = set(PurePosixPath(text).parts) | set(PureWindowsPath(text).parts)
        if ".." in parts:
            raise WorkspaceError(
                f"{what} {text!r} uses '..'; paths must stay inside the workspace {self.root}.",
                fix="give a path relative to the workspace without '..'.",
            )
        candidate = Path(text)
        if not candidate.is_absolute():
            candidate = self.root / candidate
        elif not _is_within(candidate, self.root) and not _is_within(
            candidate.resolve(), self.root
        ):
            raise WorkspaceError(
                f"{what} {text!r} is outside the workspace {self.root}.",
                fix="copy or link the data into the workspace, or start the chat with "
                "--workspace pointing at a folder that holds it.",
            )
        resolved = candidate.resolve()
        if not _is_within(resolved, self.root):
            raise WorkspaceError(
                f"{what} {text!r} leads outside the workspace {self.root} (through a symlink "
                f"to {resolved}).",
                fix="copy the data into the workspace instead of linking to it.",
            )
        if must_exist and not resolved.exists():
            raise WorkspaceError(
                f"{what} {text!r} does not exist in the workspace {self.root}.",
                fix="list the workspace's files (/ls) and give one of them.",
            )
        return resolved

    def relative(self, path: str | os.PathLike[str]) -> str:
        """``path`` relative to the root, for display (the path itself if outside)."""
        p = Path(path)
        try:
            return p.resolve().relative_to(self.root).as_posix() or "."
        except ValueError:
            return str(p)


def _is_within(path: Path, root: Path) -> bool:
    return path == root or root in path.parents
