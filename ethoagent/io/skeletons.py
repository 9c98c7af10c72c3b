"""A ``Skeleton`` read from the lab's own files, with what the file does not say inferred.

=========================  ==========================================================
file                       what it gives
=========================  ==========================================================
SLEAP ``.slp``             nodes, edges, symmetries (and its labelled frames as seeds)
DeepLabCut ``config.yaml`` ``bodyparts`` (or ``multianimalbodyparts`` +
                           ``uniquebodyparts``), ``skeleton``
anipose ``config.toml``    ``[triangulation] constraints`` / ``constraints_weak`` and
                           ``[labeling] scheme`` (keypoints in order of appearance, or
                           the ``bodyparts`` of the DeepLabCut project at
                           ``model_folder``)
DANNCE skeleton ``.mat``   ``joint_names``, ``joints_idx`` (1-based bone pairs), as
                           ``mouse22_skeleton.mat``
skeleton TOML              ``name``, ``keypoints``, ``bones``, ``left_right``,
                           ``[regions]``, ``[roles]``
=========================  ==========================================================

``complete_skeleton`` fills in what is missing and says so, one sentence each: left/right
pairs from names (``model.skeleton.find_left_right``), bones and regions from the seed
frames (``tools.skeleton_infer``), body roles from names (``model.skeleton.match_roles``).
Errors name the file and, for TOML and YAML, the line.

Example of a skeleton TOML::

    name = "rat"
    keypoints = ["nose", "ear_l", "ear_r", "spine", "tail_base"]
    bones = [["nose", "ear_l"], ["nose", "ear_r"], ["spine", "tail_base"]]
    left_right = [["ear_l", "ear_r"]]

    [regions]
    head = ["nose", "ear_l", "ear_r"]
    body = ["spine", "tail_base"]
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Sequence
from itertools import pairwise
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ethoagent.errors import InputError
from ethoagent.model.skeleton import Skeleton, find_left_right, match_roles
from ethoagent.tools.skeleton_infer import infer_bones, infer_regions

__all__ = ["SKELETON_FORMATS", "complete_skeleton", "read_skeleton"]

SKELETON_FORMATS = (
    "SLEAP .slp, DeepLabCut config.yaml, anipose config.toml, DANNCE skeleton .mat, "
    "skeleton TOML (keypoints = [...])"
)
"""The skeleton files ``read_skeleton`` reads, for messages."""

_MAX_SEED_FRAMES = 200
_Pairs = tuple[tuple[str, str], ...]


def complete_skeleton(
    name: str,
    keypoints: Sequence[str],
    *,
    bones: _Pairs | None = None,
    left_right: _Pairs | None = None,
    regions: dict[str, tuple[str, ...]] | None = None,
    roles: dict[str, tuple[str, ...]] | None = None,
    seed_points: ArrayLike | None = None,
) -> tuple[Skeleton, list[str]]:
    """A ``Skeleton`` from what a file said, with the rest inferred and reported.

    ``None`` means "the file does not say": left/right pairs come from the names, bones
    (a minimum spanning tree) and regions (2 to 4 nearby keypoints) from the median seed
    distances, roles from the names. Without seed frames a skeleton has no inferred bones
    or regions, and that is reported too.

    Args:
        name: the skeleton's name.
        keypoints: keypoint names, in the order of the data's keypoints axis.
        bones: ``(a, b)`` pairs, or ``None``.
        left_right: ``(left, right)`` pairs, or ``None``.
        regions: region -> keypoints, or ``None``.
        roles: body role -> keypoints, or ``None``.
        seed_points: ``(frames, keypoints, D)`` seed positions (D = 2 px or 3 mm, NaN =
            missing), or ``None``.

    Returns:
        The skeleton and one sentence per inferred part (empty if nothing was inferred).
    """
    kps = tuple(keypoints)
    seeds = None if seed_points is None else np.asarray(seed_points, dtype=np.float64)
    n_seeds = 0 if seeds is None else seeds.shape[0]
    inferred: list[str] = []
    if seeds is not None and n_seeds and (bones is None or regions is None):
        unseen = [k for k, ok in zip(kps, _seen_with_another(seeds), strict=True) if not ok]
        if unseen:
            inferred.append(
                f"keypoints {unseen} are never seen with another keypoint in the "
                f"{n_seeds} seed frames: no bone or region is inferred from the seeds for them."
            )
    if left_right is None:
        left_right = find_left_right(kps)
        inferred.append(
            f"left/right pairs inferred from names: {[list(p) for p in left_right]}."
            if left_right
            else "no left/right pairs: the file names none and no names say left or right."
        )
    if bones is None:
        if seeds is not None and n_seeds:
            bones = infer_bones(kps, seeds)
            inferred.append(
                f"{len(bones)} bones inferred from distances in {n_seeds} seed frames "
                f"(nearest neighbours): {[list(b) for b in bones]}."
            )
        else:
            bones = ()
            inferred.append("no bones: the file names none and no seed frames were given.")
    if regions is None:
        if seeds is not None and n_seeds:
            regions = infer_regions(kps, seeds)
            inferred.append(
                f"regions inferred by proximity in {n_seeds} seed frames: "
                f"{ {r: list(m) for r, m in regions.items()} }."
            )
        else:
            regions = {}
            inferred.append("no regions: the file names none and no seed frames were given.")
    if roles is None:
        roles = match_roles(kps)
        inferred.append(f"body roles matched from names: {sorted(roles)}.")
    skeleton = Skeleton(
        name=name, keypoints=kps, bones=bones, left_right=left_right, regions=regions, roles=roles
    )
    return skeleton, inferred


def _seen_with_another(seeds: NDArray[np.float64]) -> NDArray[np.bool_]:
    seen = np.all(np.isfinite(seeds), axis=-1)  # (F, K)
    out: NDArray[np.bool_] = (seen & (seen.sum(axis=1, keepdims=True) >= 2)).any(axis=0)
    return out


def read_skeleton(
    path: str | os.PathLike[str],
    *,
    seed_points: ArrayLike | None = None,
    name: str | None = None,
) -> tuple[Skeleton, list[str]]:
    """Read a skeleton from a SLEAP, DeepLabCut, anipose or skeleton-TOML file.

    Args:
        path: ``.slp``, ``config.yaml`` / ``.yml``, or ``.toml`` (an anipose config or a
            skeleton TOML, told apart by their keys).
        seed_points: ``(frames, keypoints, D)`` seed positions in the file's keypoint order,
            used to infer bones and regions the file does not give; ``None`` uses a
            ``.slp``'s own labelled frames (up to 200) and nothing for the other files.
        name: the skeleton's name; default: the file's, else the file name's stem.

    Returns:
        The skeleton and one sentence per inferred part (see ``complete_skeleton``).

    Raises:
        InputError: naming the file (and line) for a missing, unreadable or inconsistent
            file, or a file of none of these kinds.
    """
    p = Path(path)
    if not p.is_file():
        raise InputError(
            f"skeleton file {p} not found.",
            fix=f"pass one of: {SKELETON_FORMATS}.",
        )
    suffix = p.suffix.lower()
    if suffix == ".slp":
        said, seeds = _read_slp(p)
    elif suffix in (".yaml", ".yml"):
        said, seeds = _read_dlc_config(p), None
    elif suffix == ".toml":
        said, seeds = _read_toml(p), None
    elif suffix == ".mat":
        said, seeds = _read_dannce_skeleton(p), None
    else:
        raise InputError(
            f"{p}: unknown skeleton file type {p.suffix!r}; read are {SKELETON_FORMATS}.",
            fix="pass the .slp, DeepLabCut config.yaml or a skeleton .toml.",
        )
    if seed_points is not None:
        seeds = np.asarray(seed_points, dtype=np.float64)
    keypoints = said.pop("keypoints")
    skeleton_name = name or said.pop("name", None) or p.stem
    said.pop("name", None)
    try:
        return complete_skeleton(skeleton_name, keypoints, seed_points=seeds, **said)
    except InputError as exc:
        line = _line_of(p, exc)
        where = f"{p}:{line}" if line else str(p)
        raise InputError(f"{where}: {_message(exc)}", fix=exc.fix) from exc


# --------------------------------------------------------------------------- per format


def _read_slp(p: Path) -> tuple[dict[str, Any], NDArray[np.float64] | None]:
    import sleap_io as sio

    try:
        labels = sio.load_slp(str(p))
    except (OSError, KeyError, ValueError) as exc:
        raise InputError(
            f"cannot read {p} as a SLEAP .slp file: {exc}.",
            fix="pass a .slp saved by SLEAP (File > Save).",
        ) from exc
    if not labels.skeletons:
        raise InputError(f"{p} has no skeleton.", fix="define the skeleton in SLEAP and save.")
    skel = labels.skeletons[0]
    nodes = tuple(skel.node_names)
    said: dict[str, Any] = {
        "keypoints": nodes,
        "name": skel.name if skel.name and not skel.name.startswith("Skeleton-") else None,
        "bones": tuple((a.name, b.name) for a, b in skel.edges) or None,
        "left_right": tuple(_sided(a.name, b.name) for a, b in skel.symmetries) or None,
    }
    frames = [
        inst.numpy()
        for lf in labels.labeled_frames
        for inst in lf.instances[:1]
        if inst.skeleton is skel
    ]
    user = [
        lf.instances[0].numpy()
        for lf in labels.labeled_frames
        if lf.instances and not isinstance(lf.instances[0], sio.PredictedInstance)
    ]
    chosen = (user or frames)[:_MAX_SEED_FRAMES]
    seeds = np.stack(chosen).astype(np.float64)[..., :2] if chosen else None
    return said, seeds


def _read_dannce_skeleton(p: Path) -> dict[str, Any]:
    from scipy.io import loadmat
    from scipy.io.matlab import MatReadError

    try:
        mat = loadmat(str(p))
    except (MatReadError, ValueError, NotImplementedError, OSError) as exc:
        raise InputError(
            f"cannot read {p} as a MATLAB v5 file: {exc}.",
            fix="pass a DANNCE skeleton .mat (joint_names, joints_idx) saved with -v7.",
        ) from exc
    if "joint_names" not in mat:
        raise InputError(
            f"{p} has no 'joint_names'; found {sorted(k for k in mat if k[:2] != '__')}.",
            fix="pass a DANNCE skeleton .mat such as mouse22_skeleton.mat.",
        )
    names = tuple(str(np.asarray(n).ravel()[0]) for n in np.asarray(mat["joint_names"]).ravel())
    idx = np.asarray(mat.get("joints_idx", np.zeros((0, 2))), dtype=int).reshape(-1, 2)
    if idx.size and (idx.min() < 1 or idx.max() > len(names)):
        raise InputError(
            f"{p}: joints_idx holds {idx.min()}..{idx.max()}, outside 1..{len(names)} joints.",
            fix="joints_idx must be 1-based pairs of joint numbers.",
        )
    pairs = list(dict.fromkeys(tuple(sorted((int(a), int(b)))) for a, b in idx))
    return {
        "keypoints": names,
        "bones": tuple((names[a - 1], names[b - 1]) for a, b in pairs) or None,
    }


def _sided(a: str, b: str) -> tuple[str, str]:
    """A SLEAP symmetry as (left, right) where the names tell; else as stored."""
    return (b, a) if find_left_right((b, a)) == ((b, a),) else (a, b)


def _read_dlc_config(p: Path) -> dict[str, Any]:
    import yaml

    try:
        cfg = yaml.safe_load(p.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f":{mark.line + 1}" if mark is not None else ""
        raise InputError(
            f"{p}{line}: not valid YAML ({getattr(exc, 'problem', exc)}).",
            fix="fix the syntax of the DeepLabCut config.yaml.",
        ) from exc
    if not isinstance(cfg, dict):
        raise InputError(
            f"{p} is not a DeepLabCut config.yaml (no key: value mapping).",
            fix="pass the config.yaml at the top of the DeepLabCut project.",
        )
    parts: object
    if cfg.get("multianimalproject"):
        parts = list(cfg.get("multianimalbodyparts") or []) + list(cfg.get("uniquebodyparts") or [])
    else:
        parts = cfg.get("bodyparts")
    if not isinstance(parts, list) or not parts:
        raise InputError(
            f"{p}:{_yaml_line(p, 'bodyparts')}: no body parts (keys 'bodyparts' or "
            f"'multianimalbodyparts'); found keys {sorted(cfg)}.",
            fix="pass the config.yaml of a DeepLabCut project with its bodyparts listed.",
        )
    edges = cfg.get("skeleton") or []
    return {
        "keypoints": tuple(str(k) for k in parts),
        "name": str(cfg["Task"]) if cfg.get("Task") else None,
        "bones": _pair_list(edges, p, "skeleton") or None,
    }


def _yaml_line(p: Path, key: str) -> int:
    for i, line in enumerate(p.read_text(encoding="utf-8").splitlines(), start=1):
        if line.startswith(f"{key}:"):
            return i
    return 1


def _pair_list(value: object, p: Path, key: str) -> tuple[tuple[str, str], ...]:
    if not isinstance(value, list) or not all(isinstance(e, list) and len(e) == 2 for e in value):
        raise InputError(
            f"{p}: {key!r} must be a list of [keypoint, keypoint] pairs; found {value!r}.",
            fix=f"write {key} as [[a, b], [b, c], ...].",
        )
    return tuple((str(a), str(b)) for a, b in value)


def _read_toml(p: Path) -> dict[str, Any]:
    try:
        data = tomllib.loads(p.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise InputError(
            f"{p} is not valid TOML: {exc}.",
            fix="fix the syntax at that line (see the skeleton TOML example in "
            "ethoagent.io.skeletons).",
        ) from exc
    if "keypoints" in data:
        return _skeleton_toml(p, data)
    if any(k in data for k in ("triangulation", "labeling", "model_folder")):
        return _anipose_config(p, data)
    raise InputError(
        f"{p} is neither a skeleton TOML (keypoints = [...]) nor an anipose config.toml "
        f"([triangulation] or [labeling]); found keys {sorted(data)}.",
        fix="add keypoints = [...] (and optionally bones, left_right, [regions]).",
    )


def _skeleton_toml(p: Path, data: dict[str, Any]) -> dict[str, Any]:
    known = {"name", "keypoints", "bones", "left_right", "regions", "roles"}
    unknown = sorted(set(data) - known)
    if unknown:
        raise InputError(
            f"{p}:{_toml_line(p, unknown[0])}: unknown key(s) {unknown}; a skeleton TOML has "
            f"{sorted(known)}.",
            fix="remove or rename those keys.",
        )
    kps = data["keypoints"]
    if not isinstance(kps, list) or not all(isinstance(k, str) for k in kps):
        raise InputError(
            f"{p}:{_toml_line(p, 'keypoints')}: keypoints must be a list of names; found {kps!r}.",
            fix='write keypoints = ["nose", "ear_left", ...].',
        )
    said: dict[str, Any] = {"keypoints": tuple(kps), "name": data.get("name")}
    for key in ("bones", "left_right"):
        if key in data:
            try:
                said[key] = _pair_list(data[key], p, key)
            except InputError as exc:
                raise InputError(
                    _message(exc).replace(f"{p}:", f"{p}:{_toml_line(p, key)}:", 1), fix=exc.fix
                ) from exc
    for key in ("regions", "roles"):
        if key in data:
            table = data[key]
            if not isinstance(table, dict):
                raise InputError(
                    f"{p}:{_toml_line(p, key)}: {key} must be a table of name = [keypoints].",
                    fix=f'write [{key}] then one line per entry: head = ["nose", "ear_l"].',
                )
            said[key] = {
                str(k): tuple(v) if isinstance(v, list) else (v,) for k, v in table.items()
            }
    return said


def _anipose_config(p: Path, data: dict[str, Any]) -> dict[str, Any]:
    tri = data.get("triangulation", {}) or {}
    scheme = (data.get("labeling", {}) or {}).get("scheme", []) or []
    constraints = [*tri.get("constraints", []), *tri.get("constraints_weak", [])]
    names: list[str] = []
    for chain in [*constraints, *scheme]:
        for k in chain if isinstance(chain, list) else []:
            if str(k) not in names:
                names.append(str(k))
    project = data.get("model_folder")
    dlc = (p.parent / str(project) / "config.yaml") if project else None
    if dlc is not None and dlc.is_file():
        names = list(_read_dlc_config(dlc)["keypoints"])
    if not names:
        raise InputError(
            f"{p}: the anipose config names no keypoints ([triangulation] constraints, "
            "[labeling] scheme) and its model_folder holds no DeepLabCut config.yaml.",
            fix="pass the DeepLabCut project's config.yaml, or a skeleton TOML.",
        )
    bones = list(dict.fromkeys(tuple(c) for c in constraints if len(c) == 2))
    if not bones:
        bones = list(
            dict.fromkeys((str(a), str(b)) for chain in scheme for a, b in pairwise(chain))
        )
    return {
        "keypoints": tuple(names),
        "name": data.get("project"),
        "bones": tuple((str(a), str(b)) for a, b in bones) or None,
    }


# --------------------------------------------------------------------------- lines


def _message(exc: InputError) -> str:
    """An error's sentence without its ``Fix:`` part (to re-raise it with a place)."""
    text = str(exc)
    return text.removesuffix(f" Fix: {exc.fix}") if exc.fix else text


def _toml_line(p: Path, key: str) -> int:
    pattern = re.compile(rf"^\s*(\[{re.escape(key)}\]|{re.escape(key)}\s*=)")
    for i, line in enumerate(p.read_text(encoding="utf-8").splitlines(), start=1):
        if pattern.match(line):
            return i
    return 1


def _line_of(p: Path, exc: InputError) -> int | None:
    """The first line of a text file that quotes a name the error message quotes."""
    if p.suffix.lower() not in (".toml", ".yaml", ".yml"):
        return None
    quoted = re.findall(r"'([^']+)'", _message(exc))
    lines = p.read_text(encoding="utf-8").splitlines()
    for name in quoted:
        for i, line in enumerate(lines, start=1):
            if not line.lstrip().startswith(("keypoints", "name", "bodyparts", "-")) and (
                f'"{name}"' in line or f"'{name}'" in line
            ):
                return i
    return None
