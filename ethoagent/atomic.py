"""Atomic, deterministic file writes: temp file in the same folder, fsync, rename.

A run killed mid-write leaves the old file (or none), never half a file. Files get the mode
an ordinary ``open`` would give them (0o666 less the user's umask), so lab-mates can read
the outputs on a shared server where the umask allows it. Arrays are saved as ``.npz`` with
fixed zip timestamps so the same arrays always give the same bytes.
"""

from __future__ import annotations

import contextlib
import errno
import io
import os
import tempfile
import zipfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ethoagent.errors import EthoagentError

_FIXED_TIME = (1980, 1, 1, 0, 0, 0)


class DiskWriteError(EthoagentError):
    """Writing an output failed (disk full, permissions); nothing was half-written."""


@contextlib.contextmanager
def _translate_os_errors(path: Path) -> Iterator[None]:
    try:
        yield
    except OSError as exc:
        if exc.errno == errno.ENOSPC:
            raise DiskWriteError(
                f"disk full while writing {path}; the previous version is untouched.",
                fix="free space on that disk or choose another --runs-dir.",
            ) from exc
        raise DiskWriteError(f"could not write {path}: {exc.strerror}.") from exc


def current_umask() -> int:
    """The process's umask, read without changing it where the system allows (Linux)."""
    try:
        for line in Path("/proc/self/status").read_text(encoding="ascii").splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)  # elsewhere the only way to read it is to set it and set it back
    os.umask(mask)
    return mask


def atomic_write_bytes(path: Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (creating parent folders).

    The file's mode is ``0o666 & ~umask``, as ``open(path, "wb")`` would give, not the
    0o600 of the temp file it is renamed from.
    """
    path = Path(path)
    with _translate_os_errors(path):
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        try:
            Path(tmp).chmod(0o666 & ~current_umask())
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            Path(tmp).replace(path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    return path


def is_partial_write(path: Path) -> bool:
    """Whether ``path`` is the temp file of an ``atomic_write_bytes`` that never finished."""
    name = Path(path).name
    return name.startswith(".") and name.endswith(".tmp") and name.count(".") >= 3


def remove_partial_writes(root: Path) -> list[Path]:
    """Delete the temp files that writes killed mid-way left under ``root``.

    Only call this when no other process writes there (e.g. before resuming a run): a live
    writer's temp file looks the same. Returns the removed paths.
    """
    removed = []
    for path in sorted(Path(root).rglob(".*.tmp")):
        if path.is_file() and is_partial_write(path):
            path.unlink(missing_ok=True)
            removed.append(path)
    return removed


def atomic_write_text(path: Path, text: str) -> Path:
    """Write UTF-8 ``text`` to ``path`` atomically."""
    return atomic_write_bytes(path, text.encode("utf-8"))


def npz_bytes(arrays: Mapping[str, NDArray[Any]]) -> bytes:
    """Serialise arrays as a deterministic ``.npz`` (same arrays -> same bytes)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name in sorted(arrays):
            info = zipfile.ZipInfo(f"{name}.npy", date_time=_FIXED_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            arr_buf = io.BytesIO()
            np.lib.format.write_array(arr_buf, np.asarray(arrays[name]), allow_pickle=False)
            zf.writestr(info, arr_buf.getvalue())
    return buf.getvalue()


def atomic_save_npz(path: Path, arrays: Mapping[str, NDArray[Any]]) -> Path:
    """Save arrays to ``path`` (``.npz``) atomically and deterministically."""
    return atomic_write_bytes(path, npz_bytes(arrays))
