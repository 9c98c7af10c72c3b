"""read_calibration on every calibration format it accepts, and on files it does not."""

from __future__ import annotations

from pathlib import Path

import pytest

from ethoagent.errors import InputError
from ethoagent.io.calibration import read_calibration
from tests.data_paths import require_shared


def test_dannce_mat_loads_through_read_calibration() -> None:
    root = require_shared("dannce_markerless_mouse/markerless_mouse_1")
    cams = read_calibration(root / "label3d_dannce.mat")
    assert [c.name for c in cams] == [f"Camera{i}" for i in range(1, 7)]


def test_a_binary_file_names_itself_and_the_formats(tmp_path: Path) -> None:
    path = tmp_path / "calib.h5"
    path.write_bytes(b"\x89HDF\r\n\x1a\n\xff\xfe")
    with pytest.raises(InputError, match=r"calib\.h5 is not text.*DANNCE/Label3D \.mat"):
        read_calibration(path)


def test_a_mat_file_that_is_not_matlab_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "label3d.mat"
    path.write_bytes(b"not matlab at all")
    with pytest.raises(InputError, match=r"label3d\.mat"):
        read_calibration(path)
