"""Numeric CSV text built with numpy: fixed decimals, one vectorised pass per column.

``pandas.DataFrame.to_csv`` and ``numpy.savetxt`` format each value through Python (about
1-2 million values a second); an hour of 3D points in anipose's layout is 11 million
values. Here every column becomes a ``(rows, width)`` byte matrix of digits whose unused
leading bytes are masked, and the masked matrix of all columns is compacted into the
file's bytes at once. Output matches ``"%.{d}f" % value`` for finite values (an empty
field for NaN, as pandas writes); magnitudes of 1e12 or more fall back to Python
formatting for that column. A value that rounds to zero is written without a sign.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

__all__ = ["csv_bytes"]

_LARGEST = 1e12  # magnitudes from here on are formatted by Python
_ROWS = 20_000  # rows formatted at once: bounds memory at about 25 bytes x columns x rows


def _column(
    values: NDArray[np.float64], decimals: int
) -> tuple[NDArray[np.uint8], NDArray[np.bool_]]:
    """One column as a right-aligned byte matrix and its used-bytes mask, ``(rows, width)``."""
    finite = np.isfinite(values)
    mag = np.abs(np.where(finite, values, 0.0))
    top = float(mag.max(initial=0.0))
    if top >= _LARGEST:
        return _fallback(values, decimals)
    n_int = len(str(int(top)))  # integer digits of the widest value
    width = 1 + n_int + (1 + decimals if decimals else 0)
    q = np.rint(mag * 10.0**decimals).astype(np.int64)
    out = np.empty((len(values), width), dtype=np.uint8)
    rest = q
    for j in range(decimals):  # fraction digits, right to left
        rest, digit = np.divmod(rest, 10)
        out[:, width - 1 - j] = 48 + digit
    if decimals:
        out[:, width - 1 - decimals] = ord(".")
    right = width - 1 - decimals - (1 if decimals else 0)  # last integer digit
    n_digits = np.ones(len(values), dtype=np.int64)
    for k in range(n_int):
        if k:
            n_digits += rest > 0
        rest, digit = np.divmod(rest, 10)
        out[:, right - k] = 48 + digit
    negative = (values < 0) & (q > 0)
    sign_at = right - n_digits  # one left of the first digit
    out[np.arange(len(values)), sign_at] = np.where(negative, ord("-"), ord(" "))
    used_from = sign_at + ~negative  # first used column
    used = np.arange(width)[None, :] >= used_from[:, None]
    used &= finite[:, None]
    return out, used


def _fallback(
    values: NDArray[np.float64], decimals: int
) -> tuple[NDArray[np.uint8], NDArray[np.bool_]]:
    """Python formatting for a column with huge magnitudes (rare): same matrix layout."""
    texts = [
        f"{v:.{decimals}f}".lstrip("-" if abs(v) * 10**decimals < 0.5 else "").encode()
        if np.isfinite(v)
        else b""
        for v in values.tolist()
    ]
    width = max(1, *(len(t) for t in texts))
    out = np.full((len(values), width), ord(" "), dtype=np.uint8)
    used = np.zeros((len(values), width), dtype=bool)
    for i, t in enumerate(texts):
        if t:
            out[i, width - len(t) :] = np.frombuffer(t, dtype=np.uint8)
            used[i, width - len(t) :] = True
    return out, used


def csv_bytes(
    header: Sequence[str], columns: Sequence[NDArray[np.float64]], decimals: Sequence[int]
) -> bytes:
    """A CSV file's bytes: a header line, then one row per value of the columns.

    Args:
        header: column names (no commas or quotes in them).
        columns: one ``(rows,)`` float64 array per column; NaN is written as an empty field.
        decimals: digits after the point, per column (0 writes integers).

    Returns:
        The file's bytes, one line per row (newline-terminated).
    """
    rows = len(columns[0]) if columns else 0
    parts = [(",".join(header) + "\n").encode()]
    comma = np.full((1, 1), ord(","), dtype=np.uint8)
    newline = np.full((1, 1), ord("\n"), dtype=np.uint8)
    for start in range(0, rows, _ROWS):
        chunk = slice(start, min(rows, start + _ROWS))
        n = chunk.stop - chunk.start
        mats: list[NDArray[np.uint8]] = []
        masks: list[NDArray[np.bool_]] = []
        for i, (col, d) in enumerate(zip(columns, decimals, strict=True)):
            mat, used = _column(np.asarray(col[chunk], dtype=np.float64), d)
            mats.append(mat)
            masks.append(used)
            sep = newline if i == len(columns) - 1 else comma
            mats.append(np.repeat(sep, n, axis=0))
            masks.append(np.ones((n, 1), dtype=bool))
        parts.append(np.hstack(mats)[np.hstack(masks)].tobytes())
    return b"".join(parts)
