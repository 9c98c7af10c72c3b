"""``ethoagent inspect FILE``: what a keypoint file holds and which pipelines can run on it.

Prints the keypoint names, the body roles read from them (matched, derived or absent, and
the features that disables), the arena points, the animals, frame rate, unit, frames, the
share of missing keypoint positions, and per pipeline whether it can run on the file.
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
from ethoagent.tools.features import describe_roles, infer_layout


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
        ``unit``; None = fewer than two body points), ``unit_warning`` (where the body
        size contradicts the unit; None otherwise), ``missing_share`` (per animal, the
        share of keypoint positions that are NaN), ``roles`` (``BodyRoles``, or None with
        ``roles_error``; a body file's roles have ``layout`` "stated in FILE"), and
        ``pipelines``: name -> ``{"runs": bool, "needs": str}`` (what else the
        pipeline needs where it runs, why not where it does not).

    Raises:
        InputError: a bad body file (it names the file and line).
    """
    frames, _, _, dims = data.points.shape
    missing = np.isnan(data.points).any(axis=-1).mean(axis=(0, 2))
    roles: dict[str, Any] | None = None
    error = None
    stated = None if body is None else read_body(body, data.keypoints)  # its errors are the user's
    try:
        layout = infer_layout(data.keypoints) if stated is None else stated
        roles = describe_roles(layout, data.keypoints, dims).model_dump(mode="json")
        if body is not None:
            roles["layout"] = f"stated in {body}"
    except InputError as exc:
        error = str(exc)
    length = body_length(data.points, data.keypoints)
    return {
        "file": data.source,
        "keypoints": list(data.keypoints),
        "animals": list(data.individuals),
        "fps": data.fps,
        "unit": data.unit,
        "dims": int(dims),
        "frames": int(frames),
        "body_length": None if np.isnan(length) else round(length, 4),
        "unit_warning": unit_warning(Path(data.source or "the file"), data.unit, dims, length),
        "missing_share": {a: float(m) for a, m in zip(data.individuals, missing, strict=True)},
        "roles": roles,
        "roles_error": error,
        "pipelines": _pipelines(data, roles is not None),
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
    lines = [
        f"file: {summary['file']}",
        f"keypoints ({len(summary['keypoints'])}): {', '.join(summary['keypoints'])}",
        f"animals ({len(summary['animals'])}): {', '.join(summary['animals'])}",
        f"frames: {summary['frames']}; fps: {fps}; {summary['dims']}D in {summary['unit']}"
        + (
            f"; median body length {summary['body_length']:.3g} {summary['unit']}"
            if summary["body_length"] is not None
            else ""
        ),
        *([f"warning: {summary['unit_warning']}"] if summary["unit_warning"] else []),
        "missing keypoint positions: "
        + ", ".join(f"{a} {m:.1%}" for a, m in summary["missing_share"].items()),
    ]
    roles = summary["roles"]
    if roles is None:
        lines.append(f"body roles: none ({summary['roles_error']})")
    else:
        lines.append(f"body layout: {roles['layout']}")
        lines += [f"  matched {r}: {', '.join(k)}" for r, k in roles["matched"].items()]
        lines += [f"  derived {r}: {how}" for r, how in roles["derived"].items()]
        for key, what in (
            ("absent", "absent roles"),
            ("disabled", "features not computed"),
            ("arena", "arena/object points (not body)"),
            ("unused", "keypoints no feature uses"),
        ):
            if roles[key]:
                lines.append(f"  {what}: {', '.join(roles[key])}")
    lines.append("pipelines:")
    for name, p in summary["pipelines"].items():
        if p["runs"]:
            lines.append(f"  {name}: yes" + (f", with {p['needs']}" if p["needs"] else ""))
        else:
            lines.append(f"  {name}: no ({p['needs']})")
    return lines
