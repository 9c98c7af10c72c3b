"""csv_bytes: numpy-built CSV text equals Python's fixed-decimal formatting."""

from __future__ import annotations

import numpy as np

from ethoagent.io.fastcsv import csv_bytes


def test_csv_bytes_match_python_formatting_with_nan_rounding_and_huge_values() -> None:
    rng = np.random.default_rng(0)
    n = 25_000  # more than one chunk of rows
    cols = [
        rng.normal(0.0, 50.0, n),
        rng.normal(0.0, 1e-3, n),
        np.r_[0.0, 0.9995, -12.0005, 999.9996, 123456789.5, np.nan, -1e13, rng.normal(0, 1, n - 7)],
        rng.integers(0, 7, n).astype(float),
    ]
    decimals = [4, 6, 3, 0]
    lines = csv_bytes(["a", "b", "c", "d"], cols, decimals).decode().splitlines()

    def fmt(v: float, d: int) -> str:
        if not np.isfinite(v):
            return ""
        text = f"{v:.{d}f}"
        return text[1:] if text.startswith("-") and float(text) == 0 else text  # no "-0.000"

    expected = [
        ",".join(fmt(v, d) for v, d in zip(row, decimals, strict=True))
        for row in zip(*[c.tolist() for c in cols], strict=True)
    ]
    assert lines[0] == "a,b,c,d"
    assert lines[1:] == expected
    assert lines[2].split(",")[2] == "1.000" and lines[6].split(",")[2] == ""
