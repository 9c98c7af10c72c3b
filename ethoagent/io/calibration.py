"""Calibration files: anipose ``calibration.toml`` (read and write) and DANNCE ``.mat``.

Cameras come back as ``ethoagent.model.camera.Camera`` lists in file order.
"""

from __future__ import annotations

import json
import math
import os
import re
import tomllib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ethoagent.atomic import atomic_write_text
from ethoagent.errors import InputError
from ethoagent.model.camera import Camera, check_cameras, checked_array

# --------------------------------------------------------------------------- anipose toml

CALIBRATION_FORMATS = "anipose calibration.toml ([cam_N] tables), DANNCE/Label3D .mat (params)"
"""The calibration formats ``read_calibration`` reads, for messages."""

_CAM_SECTION = re.compile(r"^cam_(\d+)$")
_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")


def _load_toml(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise InputError(
            f"calibration file {path} not found.",
            fix="pass the path of an anipose calibration.toml (run anipose calibrate first).",
        )
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except UnicodeDecodeError as exc:
        raise InputError(
            f"calibration file {path} is not text ({exc.reason} at byte {exc.start}); "
            f"the calibration formats read are {CALIBRATION_FORMATS}.",
            fix="pass an anipose calibration.toml or a DANNCE/Label3D .mat file.",
        ) from exc
    except tomllib.TOMLDecodeError as exc:
        raise InputError(
            f"calibration file {path} is not valid TOML: {exc}.",
            fix="regenerate it with anipose/aniposelib or fix the syntax.",
        ) from exc


def read_calibration(path: str | os.PathLike[str]) -> list[Camera]:
    """Read a calibration file: anipose / aniposelib ``calibration.toml`` or DANNCE ``.mat``.

    A ``.mat`` file goes to ``read_dannce_calibration`` (default image size); anything else
    is read as TOML, and a file that is not text fails with one line naming it and the
    formats accepted (``CALIBRATION_FORMATS``).

    Layout: one ``[cam_N]`` table per camera with ``name``, ``size`` ``[width, height]``
    (pixels), ``matrix`` (3×3, pixels), ``distortions`` (up to 5, OpenCV order), ``rotation``
    (Rodrigues, 3) and ``translation`` (3, board units — mm when the board was given in mm),
    plus an optional ``[metadata]`` table (see ``read_calibration_metadata``).

    Args:
        path: the ``.toml`` file.

    Returns:
        Cameras ordered by ``N`` in ``cam_N``.
    """
    p = Path(path)
    if p.suffix.lower() == ".mat":
        return read_dannce_calibration(p)
    data = _load_toml(p)
    sections = sorted(
        ((int(m.group(1)), key) for key in data if (m := _CAM_SECTION.match(key))),
    )
    if not sections:
        raise InputError(
            f"calibration file {p} has no [cam_N] tables; found {sorted(data)}.",
            fix="use an anipose calibration.toml ([cam_0], [cam_1], …).",
        )
    cams: list[Camera] = []
    for _, key in sections:
        table = data[key]
        where = f"{p} [{key}]"
        if not isinstance(table, dict):
            raise InputError(f"{where} is not a table.", fix="write it as [{key}] with keys.")
        if table.get("fisheye", False):
            raise InputError(
                f"{where} is a fisheye camera, which is not supported.",
                fix="recalibrate with the pinhole model (anipose calibration fisheye = false).",
            )
        required = ("name", "size", "matrix", "distortions", "rotation", "translation")
        missing = [k for k in required if k not in table]
        if missing:
            raise InputError(
                f"{where} lacks key(s) {missing}; expected {list(required)}.",
                fix="regenerate the calibration with anipose/aniposelib.",
            )
        dist = np.asarray(table["distortions"], dtype=object).ravel()
        if dist.size > 5 and np.any(dist[5:].astype(np.float64) != 0):
            raise InputError(
                f"{where} 'distortions' has {dist.size} non-zero-padded coefficients; "
                "only (k1, k2, p1, p2, k3) are supported.",
                fix="recalibrate with OpenCV's 5-coefficient model.",
            )
        try:
            size = np.asarray(table["size"])
            if size.shape != (2,):
                raise ValueError(f"shape {size.shape}")
            cams.append(
                Camera(
                    name=str(table["name"]),
                    matrix=checked_array(table["matrix"], (3, 3), f"{where} 'matrix'"),
                    dist=checked_array(dist[:5], (min(dist.size, 5),), f"{where} 'distortions'"),
                    rvec=checked_array(table["rotation"], (3,), f"{where} 'rotation'"),
                    tvec=checked_array(table["translation"], (3,), f"{where} 'translation'"),
                    size=(int(size[0]), int(size[1])),
                )
            )
        except (TypeError, ValueError) as exc:
            raise InputError(
                f"{where} 'size' must be [width, height] in pixels; found {table['size']!r}.",
                fix="write size = [ width, height,].",
            ) from exc
        except InputError as exc:
            if str(p) in str(exc):
                raise
            raise InputError(f"{where}: {exc}") from exc
    return cams


def read_calibration_metadata(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The ``[metadata]`` table of an anipose ``calibration.toml`` (empty if absent)."""
    meta = _load_toml(Path(path)).get("metadata", {})
    return dict(meta) if isinstance(meta, dict) else {}


def _toml_value(value: Any, where: str) -> str:
    # Mirrors the `toml` package that anipose writes with: "[ a, b,]" arrays, repr floats.
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        f = float(value)
        if math.isnan(f):
            return "nan"
        if math.isinf(f):
            return "inf" if f > 0 else "-inf"
        return repr(f).replace("e+0", "e+").replace("e-0", "e-")
    if isinstance(value, str):
        return _toml_string(value)
    if isinstance(value, np.ndarray):
        value = value.tolist()
    if isinstance(value, (list, tuple)):
        return "[ " + "".join(_toml_value(v, where) + ", " for v in value).rstrip(" ") + "]"
    raise InputError(
        f"cannot write {where} = {value!r} ({type(value).__name__}) to a calibration file.",
        fix="metadata values must be numbers, strings, booleans or lists of them.",
    )


def _toml_string(text: str) -> str:
    # JSON's escapes are TOML's, except that TOML also requires DEL (U+007F) escaped and
    # takes characters outside the BMP as they are (not as surrogate pairs).
    return json.dumps(text, ensure_ascii=False).replace("\x7f", "\\u007f")


def _toml_key(key: str) -> str:
    return key if _BARE_KEY.match(key) else _toml_string(key)


def write_calibration(
    path: str | os.PathLike[str],
    cameras: Sequence[Camera],
    metadata: Mapping[str, Any] | None = None,
) -> None:
    """Write cameras as an anipose / aniposelib ``calibration.toml`` (atomically).

    The text matches what aniposelib writes (``[cam_N]`` tables with ``name``, ``size``,
    ``matrix``, ``distortions``, ``rotation``, ``translation`` and a ``[metadata]`` table), so
    anipose, sleap-anipose and aniposelib read it back.

    Args:
        path: destination ``.toml``; replaced if it exists.
        cameras: the views, written as ``cam_0``, ``cam_1``, … in this order.
        metadata: flat mapping of numbers, strings, booleans or lists of them.
    """
    cams = check_cameras(cameras)
    lines: list[str] = []
    for i, c in enumerate(cams):
        where = f"[cam_{i}]"
        lines += [
            f"[cam_{i}]",
            f"name = {_toml_value(c.name, where + ' name')}",
            f"size = {_toml_value(list(c.size), where + ' size')}",
            f"matrix = {_toml_value(c.matrix, where + ' matrix')}",
            f"distortions = {_toml_value(c.dist, where + ' distortions')}",
            f"rotation = {_toml_value(c.rvec, where + ' rotation')}",
            f"translation = {_toml_value(c.tvec, where + ' translation')}",
            "",
        ]
    lines.append("[metadata]")
    for key, value in (metadata or {}).items():
        if isinstance(value, Mapping):
            raise InputError(
                f"metadata[{key!r}] is a table; only flat metadata can be written.",
                fix="flatten it, e.g. {'board_x': 8, 'board_y': 11}.",
            )
        lines.append(f"{_toml_key(str(key))} = {_toml_value(value, f'metadata[{key!r}]')}")
    atomic_write_text(Path(path), "\n".join(lines) + "\n")


# --------------------------------------------------------------------------- DANNCE


def _mat_field(struct: Any, key: str, where: str) -> NDArray[Any]:
    names = getattr(getattr(struct, "dtype", None), "names", None) or ()
    if key not in names:
        raise InputError(
            f"{where} lacks field {key!r}; found {list(names)}.",
            fix="use a DANNCE/Label3D file whose params hold K, RDistort, TDistort, r, t.",
        )
    return np.asarray(struct[key])


def _load_mat(p: Path) -> dict[str, Any]:
    from scipy.io import loadmat  # local: scipy.io is slow to import and rarely needed
    from scipy.io.matlab import MatReadError

    try:
        mat: dict[str, Any] = loadmat(str(p))
    except (MatReadError, ValueError, NotImplementedError, OSError) as exc:
        raise InputError(
            f"cannot read {p} as a MATLAB v5 file: {exc}; the calibration formats read are "
            f"{CALIBRATION_FORMATS}.",
            fix="save it with MATLAB's -v7 (not -v7.3) or pass the right file.",
        ) from exc
    return mat


def read_dannce_calibration(
    path: str | os.PathLike[str], *, image_size: tuple[int, int] = (1152, 1024)
) -> list[Camera]:
    """Read the cameras of a DANNCE / Label3D ``.mat`` file (e.g. ``label3d_dannce.mat``).

    DANNCE stores MATLAB's row-vector convention: a world point ``X`` (1×3, mm) projects as
    ``[X 1] · [r; t] · K``, i.e. ``x_cam = X r + t``, with ``K`` lower triangular
    (``K[2, 0:2]`` = principal point, ``K[1, 0]`` = skew), followed by radial ``RDistort``
    (k1, k2[, k3]) and tangential ``TDistort`` (p1, p2) distortion in MATLAB's (= OpenCV's)
    model. In OpenCV's convention that is ``R = r.T``, ``tvec = t``, ``K_cv = K.T`` and
    ``dist = (k1, k2, p1, p2, k3)``. Reprojecting the file's ``data_3d`` labels with the
    cameras returned here reproduces its ``data_2d`` to ~1e-12 px.

    Args:
        path: ``.mat`` file with a ``params`` cell array (one struct per camera) and,
            optionally, ``camnames``.
        image_size: ``(width, height)`` pixels. The file does not store it; 1152×1024 is the
            DANNCE markerless-mouse demo video size (all labels fall inside it).

    Returns:
        One camera per entry of ``params``, in file order; units of ``tvec`` are mm.
    """
    p = Path(path)
    if not p.is_file():
        raise InputError(
            f"DANNCE calibration {p} not found.",
            fix="pass a label3d_dannce.mat (or another .mat with a 'params' cell array).",
        )
    mat = _load_mat(p)
    if "params" not in mat:
        raise InputError(
            f"{p} has no 'params' variable; found {sorted(k for k in mat if k[:2] != '__')}.",
            fix="pass a DANNCE/Label3D file (label3d_dannce.mat).",
        )
    params = np.asarray(mat["params"]).ravel()
    names: list[str] = [f"Camera{i + 1}" for i in range(params.size)]
    if "camnames" in mat:
        raw = np.asarray(mat["camnames"]).ravel()
        if raw.size == params.size:
            names = [str(np.asarray(n).ravel()[0]) for n in raw]
    cams: list[Camera] = []
    for i, entry in enumerate(params):
        where = f"{p} params[{i}] ({names[i]})"
        struct = entry
        while isinstance(struct, np.ndarray):  # unwrap MATLAB cells and 1x1 struct arrays
            if struct.size != 1:
                raise InputError(
                    f"{where} holds {struct.size} elements; expected one camera struct.",
                    fix="check that params is a cell array with one struct per camera.",
                )
            struct = struct.ravel()[0]
        k = _mat_field(struct, "K", where)
        r = _mat_field(struct, "r", where)
        t = _mat_field(struct, "t", where).ravel()
        rd = _mat_field(struct, "RDistort", where).ravel().astype(np.float64)
        td = _mat_field(struct, "TDistort", where).ravel().astype(np.float64)
        if k.shape != (3, 3) or r.shape != (3, 3) or t.shape != (3,):
            raise InputError(
                f"{where}: expected K 3×3, r 3×3, t 1×3; found {k.shape}, {r.shape}, {t.shape}.",
                fix="check that the file is a DANNCE/Label3D calibration.",
            )
        if rd.size not in (2, 3) or td.size != 2:
            raise InputError(
                f"{where}: expected RDistort of 2 or 3 and TDistort of 2 values; "
                f"found {rd.size} and {td.size}.",
                fix="check that the file is a DANNCE/Label3D calibration.",
            )
        k3 = rd[2] if rd.size == 3 else 0.0
        dist = np.array([rd[0], rd[1], td[0], td[1], k3])
        cams.append(Camera.from_rotation(names[i], k.T, dist, r.T, t, image_size))
    return cams
