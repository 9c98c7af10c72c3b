"""``ethoagent inspect FILE``: what a keypoint file holds and which pipelines can run on it.

Prints the keypoint names, the body roles read from them (matched, derived or absent, and
the features that disables), the arena points, the animals, frame rate, unit, frames, the
animals' size, the share of missing keypoint positions and of positions below
DeepLabCut's default likelihood cut-off (the pipelines use those as tracked), and per
pipeline whether it can run on the file.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import typer

from ethoagent.cli.base import BodyOpt, console
from ethoagent.errors import InputError
from ethoagent.io.body import read_body
from ethoagent.io.keypoints import KEYPOINT_FORMATS, KeypointFormat, read_keypoints
from ethoagent.io.session import body_length, unit_warning
from ethoagent.model.pose import PoseData
from ethoagent.model.skeleton import find_arena_points, group_by_animal_number
from ethoagent.tools.features import BodyLayout, compute_features, describe_roles, infer_layout

LOW_LIKELIHOOD = 0.6
"""DeepLabCut's default ``pcutoff``: predictions below it are drawn as unreliable."""


def inspect_command(
    file: Annotated[
        Path,
        typer.Argument(
            help="Keypoint file (DeepLabCut, SLEAP, anipose, NWB, netCDF, ...).",
            metavar="FILE",
            show_default=False,
        ),
    ],
    fps: Annotated[
        float | None, typer.Option(min=0.0, help="Frame rate, Hz, where the file states none.")
    ] = None,
    format: Annotated[
        str | None,
        typer.Option("--format", help=f"Keypoint format: one of {', '.join(KEYPOINT_FORMATS)}."),
    ] = None,
    body: BodyOpt = None,
    skeleton: Annotated[
        Path | None,
        typer.Option(
            help="Skeleton file naming the nodes of a sleap-anipose points3d.h5 (default: "
            "the session's .slp files beside it)."
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Show a keypoint file's names, body roles, animals, fps, units and missing data."""
    if format is not None and format not in KEYPOINT_FORMATS:
        raise InputError(
            f"unknown keypoint format {format!r}.",
            fix=f"pass --format one of {', '.join(KEYPOINT_FORMATS)}.",
        )
    fmt: KeypointFormat | None = format  # type: ignore[assignment]
    data = read_keypoints(file, format=fmt, fps=fps, skeleton=skeleton)
    summary = summarise_keypoints(data, body=body)
    if as_json:
        console.print_json(json.dumps(summary))
        return
    for line in summary_lines(summary):
        console.print(line, highlight=False, soft_wrap=True)


def summarise_keypoints(data: PoseData, body: Path | None = None) -> dict[str, Any]:
    """What ``inspect`` reports of one keypoint file, as JSON-ready values.

    Args:
        data: the keypoints read (``read_keypoints``).
        body: a body file stating the roles (``io.body``); ``None`` matches them from
            the names.

    Returns:
        ``file``, ``keypoints``, ``animals``, ``fps`` (None = unknown), ``unit``,
        ``dims``, ``frames``, ``body_length`` (the animals' median body extent in
        ``unit``; None = fewer than two body points), ``head_tail_length`` (per animal,
        the median head–tail-base distance in ``unit``: the length every feature is
        divided by; None without a body layout or where never tracked),
        ``unit_warning`` (where the body size contradicts the unit; None otherwise),
        ``missing_share`` (per animal, the share of keypoint positions that are NaN),
        ``low_likelihood`` (None where the file has no likelihoods, else ``threshold``,
        ``not_probabilities`` (some score exceeds 1), per animal ``share`` of tracked
        positions below it, and the ``worst`` keypoints with their share, highest
        first, those over 5 %), ``animal_numbers`` (where the
        names number several animals in one list, SimBA-style, the numbers; else
        empty), ``roles`` (``BodyRoles``, or None with ``roles_error``; a body file's
        roles have ``layout`` "stated in FILE"), and ``pipelines``: name -> ``{"runs":
        bool, "needs": str}`` (what else the pipeline needs where it runs, why not
        where it does not).

    Raises:
        InputError: a bad body file (it names the file and line).
    """
    frames, _, _, dims = data.points.shape
    missing = np.isnan(data.points).any(axis=-1).mean(axis=(0, 2))
    roles: dict[str, Any] | None = None
    error = None
    layout: BodyLayout | None = None
    stated = None if body is None else read_body(body, data.keypoints)  # its errors are the user's
    try:
        layout = infer_layout(data.keypoints) if stated is None else stated
        roles = describe_roles(layout, data.keypoints, dims).model_dump(mode="json")
        if body is not None:
            roles["layout"] = f"stated in {body}"
    except InputError as exc:
        error = str(exc)
    length = body_length(data.points, data.keypoints)
    arena = set(find_arena_points(data.keypoints))
    return {
        "file": data.source,
        "keypoints": list(data.keypoints),
        "animals": list(data.individuals),
        "fps": data.fps,
        "unit": data.unit,
        "dims": int(dims),
        "frames": int(frames),
        "body_length": None if np.isnan(length) else round(length, 4),
        "head_tail_length": _head_tail_length(data, layout),
        "unit_warning": unit_warning(Path(data.source or "the file"), data.unit, dims, length),
        "missing_share": {a: float(m) for a, m in zip(data.individuals, missing, strict=True)},
        "low_likelihood": _low_likelihood(data),
        "animal_numbers": list(
            group_by_animal_number([k for k in data.keypoints if k not in arena])
        ),
        "roles": roles,
        "roles_error": error,
        "pipelines": _pipelines(data, roles is not None),
    }


def _head_tail_length(data: PoseData, layout: BodyLayout | None) -> dict[str, float] | None:
    """Per animal, the median head–tail-base distance (``Features.body_length``), rounded."""
    if layout is None or data.frames < 2:
        return None
    feats = compute_features(
        data.points, fps=data.fps or 1.0, keypoints=data.keypoints,
        individuals=data.individuals, layout=layout, window_s=0.0, max_gap_s=0.0,
    )  # fmt: skip
    return {
        a: round(float(v), 4) if np.isfinite(v) else float("nan")
        for a, v in zip(data.individuals, feats.body_length, strict=True)
    }


def _low_likelihood(data: PoseData) -> dict[str, Any] | None:
    """Share of tracked positions whose likelihood is below ``LOW_LIKELIHOOD``.

    None where the file carries no likelihoods (NaN) or only certain ones (labelled or
    proofread files: all 1).
    """
    conf = data.confidence
    tracked = np.isfinite(conf) & np.isfinite(data.points).all(axis=-1)
    if not tracked.any() or np.all(conf[tracked] >= 1.0):
        return None
    low = tracked & (conf < LOW_LIKELIHOOD)
    with np.errstate(invalid="ignore", divide="ignore"):
        per_animal = low.sum(axis=(0, 2)) / tracked.sum(axis=(0, 2))
        per_kp = low.sum(axis=(0, 1)) / tracked.sum(axis=(0, 1))
    order = np.argsort(-np.nan_to_num(per_kp))
    return {
        "threshold": LOW_LIKELIHOOD,
        "not_probabilities": bool(conf[tracked].max() > 1.0),
        "share": {a: float(v) for a, v in zip(data.individuals, per_animal, strict=True)},
        "worst": {data.keypoints[i]: float(per_kp[i]) for i in order if per_kp[i] > 0.05},
    }


def _pipelines(data: PoseData, has_body: bool) -> dict[str, dict[str, Any]]:
    """Per pipeline: whether it can run on the file, and what else it needs (or why not)."""
    if not has_body:
        why = "no body layout: fewer than two keypoints on the body"
        runs = dict.fromkeys(("segment", "classify", "profile", "gate"), (False, why))
    else:
        rate = [] if data.fps else ["--fps (the file states no frame rate)"]
        runs = {
            "segment": (True, ", ".join(rate)),
            "classify": (
                True,
                ", ".join(["--examples (labelled frames) or --examples-from TABLE", *rate]),
            ),
            "profile": (True, ", ".join(["a sessions table naming this file", *rate])),
            "gate": (True, ", ".join(["--labels to train or a trained model", *rate])),
        }
    runs["pose"] = (False, "it starts from videos of calibrated cameras, not keypoints")
    runs["triangulate"] = (
        (True, "the same session's files of the other cameras and their calibration")
        if data.points.shape[-1] == 2
        else (False, "the keypoints are 3D already")
    )
    return {name: {"runs": ok, "needs": needs} for name, (ok, needs) in runs.items()}


def summary_lines(summary: dict[str, Any]) -> list[str]:
    """``summarise_keypoints``'s summary in words, one fact per line."""
    fps = f"{summary['fps']:g} Hz" if summary["fps"] else "unknown (pass --fps)"
    unit = summary["unit"]
    size = ""
    if summary["body_length"] is not None:
        size = f"; median body extent {summary['body_length']:.3g} {unit}"
    heads = {a: v for a, v in (summary.get("head_tail_length") or {}).items() if v == v}
    if heads:
        size += " (head to tail base " + ", ".join(
            f"{a} {v:.3g}" if len(heads) > 1 else f"{v:.3g}" for a, v in heads.items()
        ) + f" {unit}: the features' length unit)"  # fmt: skip
    lines = [
        f"file: {summary['file']}",
        f"keypoints ({len(summary['keypoints'])}): {', '.join(summary['keypoints'])}",
        f"animals ({len(summary['animals'])}): {', '.join(summary['animals'])}",
        f"frames: {summary['frames']}; fps: {fps}; {summary['dims']}D in {unit}{size}",
        *([f"warning: {summary['unit_warning']}"] if summary["unit_warning"] else []),
        *_animal_number_lines(summary),
        "missing keypoint positions: "
        + ", ".join(f"{a} {m:.1%}" for a, m in summary["missing_share"].items()),
        *_likelihood_lines(summary["low_likelihood"]),
        *_roles_lines(summary),
        "pipelines:",
    ]
    for name, p in summary["pipelines"].items():
        if p["runs"]:
            lines.append(f"  {name}: yes" + (f", with {p['needs']}" if p["needs"] else ""))
        else:
            lines.append(f"  {name}: no ({p['needs']})")
    return lines


def _animal_number_lines(summary: dict[str, Any]) -> list[str]:
    numbers = summary["animal_numbers"]
    if not numbers or len(summary["animals"]) > 1:
        return []
    return [
        f"warning: the keypoint names number {len(numbers)} animals ({', '.join(numbers)}; "
        "SimBA-style Nose_1, Nose_2) in one list, read as one animal: the body roles are "
        f"animal {numbers[0]}'s and the others' points are ignored. Fix: export one "
        "individual per animal (a DeepLabCut multi-animal file or a SLEAP file with tracks)."
    ]


def _likelihood_lines(low: dict[str, Any] | None) -> list[str]:
    if low is None:
        return []
    worst = ", ".join(f"{k} {v:.0%}" for k, v in list(low["worst"].items())[:5])
    return [
        f"confidence (likelihood, score) below {low['threshold']:g} (tracked but "
        "unreliable; the pipelines use them as tracked): "
        + ", ".join(f"{a} {m:.1%}" for a, m in low["share"].items())
        + (f"; most often {worst}" if worst else "")
        + (
            " (the file's scores exceed 1, SLEAP-style peak values, not probabilities: the "
            "cut-off is DeepLabCut's and only indicative here)"
            if low["not_probabilities"]
            else ""
        )
    ]


def _roles_lines(summary: dict[str, Any]) -> list[str]:
    roles = summary["roles"]
    if roles is None:
        return [f"body roles: none ({summary['roles_error']})"]
    lines = [f"body layout: {roles['layout']}"]
    lines += [f"  matched {r}: {', '.join(k)}" for r, k in roles["matched"].items()]
    lines += [f"  derived {r}: {how}" for r, how in roles["derived"].items()]
    for key, what in (
        ("absent", "absent roles"),
        ("disabled", "features not computed"),
        ("arena", "arena/object points (not body)"),
        ("unused", "keypoints no role takes"),
    ):
        if roles[key]:
            lines.append(f"  {what}: {', '.join(roles[key])}")
    return lines
