"""Reprojection error of triangulated human 2D labels on the real multi-camera data sets.

Two shared sets (``../shared/data``, see its ``MANIFEST.md``):

- ``sleap_anipose_minimal_session``: 4 cameras, 120 frames of proofread SLEAP 2D labels
  (15 nodes). Its ``calibration.toml`` gives ``side`` and ``top`` identical parameters
  (an upstream fault), so the labels are triangulated three ways: DLT on all 4 views, DLT
  on the 3 views whose parameters are their own (back, mid, top), and RANSAC over all 4
  (threshold 20 px). The shipped reference 3D (``points3d.h5``, from sleap-anipose) is
  reprojected too, for comparison.
- ``dannce_markerless_mouse`` (session ``markerless_mouse_1``): 6 cameras, 81 labelled
  frames whose 2D labels are exact reprojections of the 3D labels, so the error is ~0 and
  measures the camera model and the solver, not labelling noise.

For each: median and 95th percentile of the per-observation reprojection error (pixels,
over every labelled keypoint of every view), the per-view median, and the cameras that
``check_calibration`` flags. Run::

    .venv/bin/python benchmarks/real_reprojection.py [--root ../shared/data] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ethoagent.evals.datasets import load_dataset, shared_data_dir
from ethoagent.model.camera import Camera
from ethoagent.tools.cameras import check_calibration
from ethoagent.tools.triangulate import reprojection_errors, triangulate_dlt, triangulate_ransac


def _stats(err: NDArray[np.float64], views: tuple[str, ...]) -> dict[str, Any]:
    """Median / 95th percentile over observations and the per-view median, pixels."""
    ok = np.isfinite(err)
    return {
        "observations": int(ok.sum()),
        "median_px": float(np.median(err[ok])),
        "p95_px": float(np.percentile(err[ok], 95)),
        "per_view_median_px": {
            name: float(np.median(err[:, v][ok[:, v]])) if ok[:, v].any() else float("nan")
            for v, name in enumerate(views)
        },
    }


def _flags(cameras: list[Camera]) -> list[str]:
    return [f"{r.name}: {r.message}" for r in check_calibration(cameras) if not r.passed]


def sleap_anipose(root: Path) -> dict[str, Any]:
    """Triangulate the 4-camera proofread labels (see the module docstring)."""
    d = load_dataset("sleap_anipose_minimal_session", root=root)
    assert d.points_2d is not None and d.points_3d is not None
    cams, p2, names = d.cameras, d.points_2d, d.view_names
    out: dict[str, Any] = {"views": list(names), "frames": int(p2.shape[0])}
    all4 = triangulate_dlt(cams, p2)
    out["dlt_4_views"] = _stats(reprojection_errors(cams, all4, p2), names)
    good = [i for i, n in enumerate(names) if n != "side"]
    sub = [cams[i] for i in good]
    three = triangulate_dlt(sub, p2[:, good])
    out["dlt_3_views_without_side"] = _stats(
        reprojection_errors(sub, three, p2[:, good]), tuple(names[i] for i in good)
    )
    ransac = triangulate_ransac(cams, p2, threshold_px=20.0)
    inlier_err = np.where(ransac.inliers, ransac.errors, np.nan)
    out["ransac_4_views_20px_inliers"] = _stats(inlier_err, names)
    observed = np.isfinite(p2[..., 0]).sum(axis=(0, 2))
    out["ransac_inlier_fraction"] = {
        n: float(ransac.inliers[:, v].sum() / observed[v]) for v, n in enumerate(names)
    }
    out["reference_3d_reprojected"] = _stats(reprojection_errors(cams, d.points_3d, p2), names)
    out["flagged"] = _flags(cams)
    return out


def dannce(root: Path) -> dict[str, Any]:
    """Triangulate the 6-camera DANNCE 2D labels (exact reprojections of the 3D labels)."""
    d = load_dataset("dannce_markerless_mouse", root=root)
    assert d.points_2d is not None and d.points_3d is not None
    p3 = triangulate_dlt(d.cameras, d.points_2d)
    out: dict[str, Any] = {"views": list(d.view_names), "frames": int(d.points_2d.shape[0])}
    out["dlt_6_views"] = _stats(reprojection_errors(d.cameras, p3, d.points_2d), d.view_names)
    labelled = np.isfinite(d.points_3d).all(axis=-1)
    out["max_3d_error_mm"] = float(np.abs(p3[labelled] - d.points_3d[labelled]).max())
    out["flagged"] = _flags(d.cameras)
    return out


def _print(title: str, result: dict[str, Any]) -> None:
    print(f"\n{title}: {len(result['views'])} cameras, {result['frames']} frames")
    for key, value in result.items():
        if isinstance(value, dict) and "median_px" in value:
            per_view = ", ".join(f"{n} {m:.3g}" for n, m in value["per_view_median_px"].items())
            print(
                f"  {key:<28} median {value['median_px']:9.3g} px  "
                f"p95 {value['p95_px']:9.3g} px  (n={value['observations']}; "
                f"per-view median: {per_view})"
            )
    if "ransac_inlier_fraction" in result:
        fr = ", ".join(f"{n} {f:.0%}" for n, f in result["ransac_inlier_fraction"].items())
        print(f"  RANSAC inlier fraction per view: {fr}")
    if "max_3d_error_mm" in result:
        print(f"  max |triangulated - labelled 3D|: {result['max_3d_error_mm']:.2e} mm")
    print("  check_calibration flags:", "none" if not result["flagged"] else "")
    for flag in result["flagged"]:
        print(f"    - {flag}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=None, help="shared data folder")
    parser.add_argument("--json", type=Path, default=None, help="also write results here")
    args = parser.parse_args()
    root = args.root if args.root is not None else shared_data_dir()
    results = {
        "sleap_anipose_minimal_session": sleap_anipose(root),
        "dannce_markerless_mouse": dannce(root),
    }
    _print("sleap_anipose_minimal_session", results["sleap_anipose_minimal_session"])
    _print("dannce_markerless_mouse (markerless_mouse_1)", results["dannce_markerless_mouse"])
    if args.json is not None:
        args.json.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
