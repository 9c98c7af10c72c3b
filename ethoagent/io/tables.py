"""Small text-table helpers shared by the keypoint and label readers."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np

from ethoagent.errors import InputError

__all__ = ["head_rows", "parse_float", "read_rows"]


def read_rows(path: Path, what: str, delimiter: str = ",") -> list[list[str]]:
    """Rows of a UTF-8 CSV file (BOM allowed); ``what`` names the file in errors."""
    if not path.is_file():
        raise InputError(f"{what} {path} not found.", fix="check the path.")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (UnicodeDecodeError, OSError) as exc:
        raise InputError(
            f"cannot read {what} {path} as UTF-8 text: {exc}.", fix="pass a CSV file."
        ) from exc
    return list(csv.reader(io.StringIO(text), delimiter=delimiter))


def head_rows(p: Path, n: int, *, encoding: str = "utf-8-sig") -> list[list[str]]:
    """The first ``n`` CSV rows of ``p`` (without reading the whole file)."""
    try:
        with p.open(encoding=encoding, newline="") as fh:
            lines = [line for _, line in zip(range(n), fh, strict=False)]
    except (UnicodeDecodeError, OSError) as exc:
        raise InputError(
            f"cannot read {p} as UTF-8 text: {exc}.", fix="pass a CSV keypoint file."
        ) from exc
    return list(csv.reader(lines))


def parse_float(cell: str) -> float:
    """A CSV cell as a float; empty, ``nan`` and ``none`` give NaN."""
    cell = cell.strip()
    return float(cell) if cell and cell.lower() not in ("nan", "none") else np.nan
