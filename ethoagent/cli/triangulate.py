"""``ethoagent triangulate``: a lab's own 2D predictions and calibration to 3D points."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from ethoagent.cli.base import (
    BackendOpt,
    ConfigOpt,
    NoCacheOpt,
    OverwriteOpt,
    ResumeOpt,
    RunIdOpt,
    RunsDirOpt,
    console,
    print_run_paths,
    print_warnings,
    run_with_progress,
    settings_from,
)
from ethoagent.errors import InputError
from ethoagent.graphs.triangulate.options import TriangulateFilesOptions

if TYPE_CHECKING:
    from ethoagent.graphs.triangulate.inputs import TriangulateFilesSources

_DEFAULTS = TriangulateFilesOptions()
"""Defaults shown in ``--help`` (``TriangulateFilesOptions`` holds them)."""


def triangulate_command(
    two_d: Annotated[
        Path | None,
        typer.Argument(
            help="Folder of one 2D prediction file per camera (DeepLabCut, SLEAP, Lightning "
            "Pose; the camera named in the file name) or of one folder per camera.",
            metavar="2D",
            show_default=False,
        ),
    ] = None,
    calibration: Annotated[
        Path | None,
        typer.Option(help="anipose calibration.toml or DANNCE .mat.", show_default=False),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(help="Folder for the 3D points, flags and report (created)."),
    ] = None,
    skeleton: Annotated[
        Path | None,
        typer.Option(
            help="SLEAP .slp, DeepLabCut config.yaml, anipose config.toml or skeleton TOML "
            "(default: the 2D files' keypoints, left/right pairs from their names)."
        ),
    ] = None,
    strict: Annotated[
        bool, typer.Option(help="Refuse a calibration with an inconsistent camera.")
    ] = _DEFAULTS.strict,
    refine_calibration: Annotated[
        bool,
        typer.Option(
            help="Refine the extrinsics by bundle adjustment first (calibration.refined.toml)."
        ),
    ] = _DEFAULTS.refine_calibration,
    threshold_px: Annotated[
        float, typer.Option(help="RANSAC inlier bound and flag threshold, pixels.")
    ] = _DEFAULTS.threshold_px,
    overwrite: OverwriteOpt = False,
    run_id: RunIdOpt = None,
    resume: ResumeOpt = None,
    config: ConfigOpt = None,
    backend: BackendOpt = None,
    runs_dir: RunsDirOpt = None,
    no_cache: NoCacheOpt = False,
) -> None:
    """Triangulate a lab's own 2D predictions with its calibration (anipose's 3D layout).

    The calibration is diagnosed on the animal's 2D points first (error per camera; a
    camera whose points do not fit is left out, or refused with --strict; the unit), then
    RANSAC over views weighted by the 2D scores. Outputs: points_3d.csv (anipose layout,
    calibration units), points_3d.nc (movement), flags.csv, summary.json, report.md.
    """
    from ethoagent.graphs.triangulate import FILES_PIPELINE

    settings = settings_from(config, backend, runs_dir, no_cache)
    inputs, options = None, None
    if resume is None:
        given = {"strict": strict, "refine_calibration": refine_calibration}
        inputs, options = _parsed(two_d, calibration, out, skeleton, given, threshold_px)
    result = run_with_progress(
        FILES_PIPELINE,
        inputs,
        options,
        settings,
        title="triangulate",
        out=out,
        resume=resume,
        overwrite=overwrite,
        run_id=run_id,
    )
    _print_summary(result.summary, result.out or result.run.outputs_dir, result.run.root)


def _parsed(
    two_d: Path | None,
    calibration: Path | None,
    out: Path | None,
    skeleton: Path | None,
    options: dict[str, Any],
    threshold_px: float,
) -> tuple[TriangulateFilesSources, TriangulateFilesOptions]:
    """The command's inputs and options, validated (a fresh run needs 2D, calibration, out)."""
    from ethoagent.graphs.triangulate import FILES_PIPELINE

    if two_d is None or calibration is None or out is None:
        raise InputError(
            "triangulate needs 2D, --calibration and --out.",
            fix="e.g. ethoagent triangulate session/ --calibration calibration.toml "
            "--out results/ (or --resume RUN).",
        )
    inputs = FILES_PIPELINE.parse_inputs(
        {"two_d": two_d, "calibration": calibration, "skeleton": skeleton}
    )
    return inputs, FILES_PIPELINE.parse_options({**options, "threshold_px": threshold_px})


def _print_summary(m: dict[str, Any], out: Path, root: Path) -> None:
    for line in m["skeleton_inferred"]:
        console.print(f"skeleton: {line}", soft_wrap=True)
    for line in m["diagnosis"]:
        console.print(f"calibration: {line}", soft_wrap=True)
    for line in m["refined_calibration"]:
        console.print(f"refined: {line}", soft_wrap=True)
    print_warnings(m["warnings"])
    dropped = f"; left out: {', '.join(m['dropped_cameras'])}" if m["dropped_cameras"] else ""
    console.print(
        f"{m['frames']} frames, cameras {', '.join(m['cameras'])}{dropped}; "
        f"{m['triangulated_fraction']:.1%} of points triangulated, median reprojection "
        f"error {m['median_error_px']} px; {m['flagged_points']} points flagged, "
        f"{m.get('corrected_points', 0)} corrected by a hypothesis (flags.csv); "
        f"coordinates in {m['unit']}."
    )
    print_run_paths(root, out, "points_3d.csv, points_3d.nc, report.md, ...")
