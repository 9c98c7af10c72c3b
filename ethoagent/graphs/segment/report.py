"""Outputs of a segment run: the ethogram in the files users open, figures and ``report.md``.

Written into the run's ``outputs/`` (the CLI copies them to its OUT folder):

- ``ethogram.csv``: one row per epoch (``tools.ethogram.ETHOGRAM_COLUMNS``: animal,
  start/stop frame and seconds, label, description, confidence, majority DEC cluster),
  the rows of each animal written by ``write_ethogram_csv``; ``read_ethogram_csv`` reads
  it back as ``{animal: [Epoch, ...]}``, each animal's epochs tiling all its frames;
- ``clusters.csv``: ``frame,<animal>,...`` (names as in the keypoint file), the DEC
  cluster (int) of every animal in every frame, ``-1`` where the frame has no features;
- ``ethogram_boris.csv``: BORIS tabular events (START/STOP per epoch, one subject per
  animal);
- ``ethogram.nc``: the ethogram on movement's time axis (``io.ethogram_export``), and
  ``ethogram.nwb`` (NWB ``TimeIntervals``) when pynwb is installed;
- ``time_budget.csv``: per label, seconds, share and bouts of each animal and the total
  summed over the animals (``tools.ethogram.time_shares_csv``);
- ``captions.csv``: every snippet's caption and where it came from;
- ``ethogram.png`` (timeline per animal: labels above, DEC clusters below),
  ``cluster_usage.png`` (share of each animal's frames per cluster);
- ``summary.json``: frames, animals, fps, unit, body roles (matched, derived, absent and
  the features that disables), k, DEC convergence, ``ari_between_seeds``, snippets captioned
  by the model vs by kinematics, model calls (per snippet), epochs, the vocabulary, time
  shares per animal, the dyadic labels made the same for both animals of a pair, the
  features' NaN report, warnings, seconds taken per node; for a simulated session
  (``SegmentInputs.truth_labels``) NMI and Hungarian macro-F1 of the clusters and the
  ethogram against the ground truth;
- ``report.md`` with both figures and every warning.

Dyadic labels: each animal's epochs are merged on their own, so before anything is
written ``tools.dyadic.reconcile_dyadic`` gives both animals of a pair the same mutual
label (``huddle``, ``close_contact``, ...) frame by frame (with more than two animals the
pair of a frame is mutual nearest neighbours); every frame changed is counted in the
summary and the report. The run's artifacts keep the per-animal merge.
"""

from __future__ import annotations

import csv
import io
import json
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from ethoagent.figures import new_figure, png_bytes
from ethoagent.graphs.kit.report_md import (
    dyadic_md,
    roles_md,
    unit_words,
    warnings_md,
)
from ethoagent.graphs.segment.inputs import VIDEO_LAYOUT, SegmentInputs, SegmentState
from ethoagent.io.ethogram_export import ethogram_netcdf_bytes, nwb_or_reason
from ethoagent.model.ethogram import Epoch
from ethoagent.tools.blob_features import BLOB_ROLES
from ethoagent.tools.dyadic import DyadicChange, nearest_partners, reconcile_dyadic
from ethoagent.tools.epoch_edits import apply_epoch_edits
from ethoagent.tools.ethogram import (
    ETHOGRAM_COLUMNS,
    TimeShare,
    hungarian_macro_f1,
    nmi,
    time_shares,
    time_shares_csv,
    time_shares_markdown,
    write_boris_csv,
    write_ethogram_csv,
)
from ethoagent.tools.features import describe_roles, layout_named

if TYPE_CHECKING:
    from ethoagent.graphs.kit.runtime import Runtime

CAPTION_COLUMNS = (
    "animal",
    "start_frame",
    "stop_frame",
    "cluster",
    "label",
    "posture",
    "direction",
    "speed",
    "social_interaction",
    "confidence",
    "source",
    "status",
    "model_calls",
)


def load_epochs(rt: Runtime, inputs: SegmentInputs) -> dict[str, list[Epoch]]:
    """Each animal's final epochs, from the run's artifacts."""
    out = {}
    for a, name in enumerate(inputs.animals):
        path = rt.run.artifacts_dir / f"epochs_{a:03d}.json"
        out[name] = [Epoch.model_validate(e) for e in json.loads(path.read_text())]
    return out


def load_captions(rt: Runtime, n_chunks: int) -> list[dict[str, Any]]:
    """Every snippet's caption record, in captioning order."""
    rows: list[dict[str, Any]] = []
    for i in range(n_chunks):
        rows += json.loads((rt.run.artifacts_dir / f"captions_{i:04d}.json").read_text())
    return rows


def write_segment_outputs(
    rt: Runtime, inputs: SegmentInputs, state: SegmentState | Mapping[str, Any]
) -> list[str]:
    """Write every output of a finished segment run; return their paths relative to the run.

    The time spent here counts into the summary's ``timings["report"]`` (up to the
    summary itself).
    """
    t0 = time.perf_counter()
    run = rt.run
    fps = inputs.fps
    epochs, dyadic = _symmetric_epochs(rt, inputs)
    if inputs.reviewed:
        epochs = apply_epoch_edits(epochs, inputs.reviewed, inputs.frames)
    captions = load_captions(rt, int(state["n_chunks"]))
    labels = run.load_arrays("clusters")["labels"]
    shares = time_shares(epochs, inputs.frames, fps)
    outputs = [
        run.write_output("ethogram.csv", _ethogram_csv(rt, epochs, fps)),
        run.write_output("clusters.csv", _clusters_csv(labels, inputs.animals)),
        run.write_output(
            "ethogram_boris.csv", _boris_csv(rt, epochs, fps, inputs.frames, inputs.video)
        ),
        run.write_output(
            "ethogram.nc",
            ethogram_netcdf_bytes(epochs, inputs.frames, fps, source=inputs.keypoints),
        ),
        run.write_output("time_budget.csv", time_shares_csv(shares, inputs.animals)),
        run.write_output("captions.csv", _captions_csv(captions, inputs.animals)),
        run.write_output("ethogram.png", _timeline_figure(epochs, labels, fps)),
        run.write_output(
            "cluster_usage.png", _usage_figure(labels, inputs.animals, inputs.options.k)
        ),
    ]
    nwb = nwb_or_reason(epochs, inputs.frames, fps, source=inputs.keypoints)
    if isinstance(nwb, bytes):
        outputs.append(run.write_output("ethogram.nwb", nwb))
    timings = dict(state.get("timings", {}))
    timings["report"] = round(timings.get("report", 0.0) + time.perf_counter() - t0, 4)
    summary = _summary(rt, inputs, {**state, "timings": timings}, epochs, captions, labels)
    summary["reviewed_edits"] = len(inputs.reviewed)
    summary["dyadic_changes"] = [c.model_dump() for c in dyadic]
    summary["time_shares"] = [r.model_dump() for r in shares]
    summary["exports"] = ["csv", "boris", "netcdf", *(["nwb"] if isinstance(nwb, bytes) else [])]
    summary["nwb_missing"] = None if isinstance(nwb, bytes) else nwb
    outputs.append(run.write_json_output("summary.json", summary))
    outputs.append(run.write_output("report.md", _report_md(summary)))
    return [str(Path(p).relative_to(run.root)) for p in outputs]


def _symmetric_epochs(
    rt: Runtime, inputs: SegmentInputs
) -> tuple[dict[str, list[Epoch]], list[DyadicChange]]:
    """Each animal's epochs with dyadic labels made the same for both animals of a pair."""
    epochs = load_epochs(rt, inputs)
    if len(inputs.animals) < 2:
        return epochs, []
    partners = None
    if len(inputs.animals) > 2:
        partners = nearest_partners(rt.run.load_arrays("points")["points"])
    with rt.tracer.timed_tool("reconcile_dyadic", {"animals": list(epochs)}) as timing:
        out, changes = reconcile_dyadic(epochs, inputs.frames, partners)
        timing.result = [c.model_dump() for c in changes]
    return out, changes


# --- files ------------------------------------------------------------------------------


def _ethogram_csv(rt: Runtime, epochs: Mapping[str, Sequence[Epoch]], fps: float) -> str:
    """Every animal's rows under one header (each animal's part by ``write_ethogram_csv``)."""
    lines = [",".join(ETHOGRAM_COLUMNS)]
    for a, (name, eps) in enumerate(epochs.items()):
        part = write_ethogram_csv(rt.run.artifacts_dir / f"ethogram_{a:03d}.csv", eps, fps, name)
        lines += part.read_text(encoding="utf-8").splitlines()[1:]
    return "\n".join(lines) + "\n"


def _clusters_csv(labels: NDArray[np.int64], animals: Sequence[str]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["frame", *animals])
    for f, row in enumerate(labels):
        w.writerow([f, *(int(v) for v in row)])
    return buf.getvalue()


def _boris_csv(
    rt: Runtime,
    epochs: Mapping[str, Sequence[Epoch]],
    fps: float,
    frames: int,
    video: str | None,
) -> str:
    """One BORIS export with every animal as a subject, events in time order."""
    header: list[list[str]] = []
    events: list[tuple[float, int, int, list[str]]] = []
    for a, (name, eps) in enumerate(epochs.items()):
        path = rt.run.artifacts_dir / f"boris_{a:03d}" / "ethogram_boris.csv"
        write_boris_csv(path, eps, fps, name, media=video or "", frames=frames)
        rows = list(csv.reader(io.StringIO(path.read_text(encoding="utf-8"))))
        start = next(i for i, r in enumerate(rows) if r and r[0] == "Time")
        if not header:
            header = rows[: start + 1]
        for n, r in enumerate(rows[start + 1 :]):
            if r:
                events.append((float(r[0]), 0 if r[-1] == "STOP" else 1, a * 10**9 + n, r))
    events.sort(key=lambda e: e[:3])
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerows(header)
    w.writerows(e[3] for e in events)
    return buf.getvalue()


def _captions_csv(captions: Sequence[Mapping[str, Any]], animals: Sequence[str]) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=CAPTION_COLUMNS, lineterminator="\n")
    w.writeheader()
    for r in sorted(captions, key=lambda r: (r["animal"], r["start"])):
        c = r["caption"]
        w.writerow(
            {
                "animal": animals[r["animal"]],
                "start_frame": r["start"],
                "stop_frame": r["stop"],
                "cluster": r["cluster"],
                "label": c["label"],
                "posture": c["posture"],
                "direction": c["direction"],
                "speed": c["speed"],
                "social_interaction": c["social_interaction"],
                "confidence": c["confidence"],
                "source": r["source"],
                "status": r["status"],
                "model_calls": r["model_calls"],
            }
        )
    return buf.getvalue()


# --- summary -------------------------------------------------------------------------------


def _frame_labels(eps: Sequence[Epoch], frames: int) -> NDArray[np.str_]:
    out = np.full(frames, "", dtype=object)
    for e in eps:
        out[e.start : e.stop] = e.label
    return np.asarray(out.astype(str))


def _summary(
    rt: Runtime,
    inputs: SegmentInputs,
    state: SegmentState | Mapping[str, Any],
    epochs: Mapping[str, Sequence[Epoch]],
    captions: Sequence[Mapping[str, Any]],
    labels: NDArray[np.int64],
) -> dict[str, Any]:
    by = dict(state.get("captioned_by", {}))
    calls = dict(state.get("model_calls", {}))
    total_calls = sum(calls.values())
    n_snippets = len(captions)
    used = sorted({e.label for eps in epochs.values() for e in eps})
    vocab = dict(state.get("vocabulary", {}))
    timings = dict(state.get("timings", {}))
    clusters = dict(state.get("clusters", {}))
    if inputs.layout == VIDEO_LAYOUT:  # video-only: no keypoints, the animal is a blob
        roles = BLOB_ROLES
    else:
        layout = layout_named(inputs.layout, inputs.keypoint_names)
        roles = describe_roles(layout, inputs.keypoint_names, inputs.dims)
    summary: dict[str, Any] = {
        "frames": inputs.frames,
        "animals": list(inputs.animals),
        "fps": inputs.fps,
        "k": inputs.options.k,
        "dims": inputs.dims,
        "unit": inputs.unit,
        "body_length": inputs.body_length,
        "layout": inputs.layout,
        "keypoints": inputs.keypoints,
        "format": inputs.format,
        "skeleton": inputs.skeleton,
        "video": inputs.video,
        "feature_source": inputs.feature_source,
        "identity": dict(state.get("identity", {})),
        "ari_between_seeds": clusters.get("ari_between_seeds"),
        "stability_passed": clusters.get("stability_passed"),
        "clusters": clusters,
        "snippets": n_snippets,
        "snippets_by_model": by.get("model", 0),
        "snippets_by_kinematics": by.get("kinematics", 0),
        "snippets_by_kinematics_fallback": by.get("kinematics_fallback", 0),
        "captions_flagged": sum(1 for r in captions if r["status"] != "accepted"),
        "model_calls": {**calls, "total": total_calls},
        "model_calls_per_snippet": round(total_calls / max(1, n_snippets), 4),
        "merge_routes": dict(state.get("merge_routes", {})),
        "epochs": sum(len(eps) for eps in epochs.values()),
        "epochs_per_animal": {k: len(v) for k, v in epochs.items()},
        "vocabulary": {label: vocab.get(label, "") for label in used},
        "roles": roles.model_dump(),
        "nan_report": dict(state.get("nan_report", {})),
        "warnings": [*state.get("warnings", []), *dec_warnings(clusters)],
        "flagged": list(state.get("flagged", [])),
        "seconds": round(sum(timings.values()), 3),
        "timings": timings,
        "backend": rt.settings.backend,
        "models": {role: rt.client.model_name(role) for role in ("vlm", "llm")},
    }
    truth = _truth(inputs)
    if truth is not None:
        frame_labels = np.concatenate(
            [_frame_labels(epochs[name], inputs.frames) for name in inputs.animals]
        )
        clusters_flat = labels.T.reshape(-1)
        truth_flat = truth.T.reshape(-1)
        summary["ground_truth"] = {
            "nmi_clusters": round(nmi(clusters_flat, truth_flat), 4),
            "f1_clusters": round(hungarian_macro_f1(clusters_flat, truth_flat), 4),
            "nmi_ethogram": round(nmi(frame_labels, truth_flat), 4),
            "f1_ethogram": round(hungarian_macro_f1(frame_labels, truth_flat), 4),
            "labels": inputs.truth_labels,
        }
        summary["data"] = "synthetic session (ground truth from the simulator)"
    return summary


def dec_warnings(clusters: Mapping[str, Any]) -> list[str]:
    """The warning of a DEC fit that stopped before converging (``[]`` if it converged).

    Args:
        clusters: the cluster node's record (``converged``, ``iterations``,
            ``max_iterations``, ``final_label_change``, ``tolerance``).
    """
    if clusters.get("converged", True):
        return []
    change, tol = clusters.get("final_label_change"), clusters.get("tolerance")
    moved = (
        f"{change:.2%} of the rows still changed cluster at the last update (tolerance {tol:.2%})"
        if change is not None and tol is not None
        else "the labels were still changing"
    )
    return [
        f"DEC did not converge: it stopped after {clusters.get('iterations')} of "
        f"{clusters.get('max_iterations', '?')} clustering iterations and {moved}; the "
        "clusters may shift between runs (see the adjusted Rand index between seeds). "
        "Raise --dec-iters or lower --k."
    ]


def _truth(inputs: SegmentInputs) -> NDArray[np.str_] | None:
    """Ground-truth names ``(frames, animals)`` of a simulated session, else ``None``."""
    if inputs.truth_labels is None or not Path(inputs.truth_labels).is_file():
        return None
    rows = list(csv.reader(io.StringIO(Path(inputs.truth_labels).read_text(encoding="utf-8"))))
    head, body = rows[0], rows[1:]
    if head[1:] != list(inputs.animals) or len(body) != inputs.frames:
        return None
    return np.asarray([r[1:] for r in body], dtype=str)


# --- figures -------------------------------------------------------------------------------


def _palette(n: int) -> list[Any]:
    from matplotlib import colormaps

    cmap = colormaps["tab20" if n > 10 else "tab10"]
    return [cmap(i % cmap.N) for i in range(n)]


def _timeline_figure(
    epochs: Mapping[str, Sequence[Epoch]], labels: NDArray[np.int64], fps: float
) -> bytes:
    names = list(epochs)
    vocab = sorted({e.label for eps in epochs.values() for e in eps})
    colour = dict(zip(vocab, _palette(len(vocab)), strict=True))
    k = int(max(labels.max(), 0)) + 1
    cluster_colour = _palette(k)
    fig, ax = new_figure(10, 1.0 + 0.8 * len(names))
    for a, name in enumerate(names):
        y = len(names) - 1 - a
        for e in epochs[name]:
            ax.broken_barh(
                [(e.start / fps, (e.stop - e.start) / fps)], (y + 0.3, 0.55), color=colour[e.label]
            )
        for start, stop, c in _runs(labels[:, a]):
            face = (0.85, 0.85, 0.85, 1.0) if c < 0 else cluster_colour[c]
            ax.broken_barh([(start / fps, (stop - start) / fps)], (y + 0.05, 0.2), color=face)
    ax.set_yticks([len(names) - 1 - a + 0.5 for a in range(len(names))], names)
    ax.set_xlabel("time (s)")
    ax.set_xlim(0, labels.shape[0] / fps)
    ax.set_ylim(0, len(names))
    ax.set_title("ethogram (upper bar) and DEC clusters (lower bar) per animal")
    from matplotlib.patches import Patch

    handles = [Patch(color=colour[v], label=v) for v in vocab]
    ax.legend(
        handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False, fontsize=8
    )
    return png_bytes(fig)


def _runs(codes: NDArray[np.int64]) -> list[tuple[int, int, int]]:
    edges = np.flatnonzero(codes[1:] != codes[:-1]) + 1
    starts = np.concatenate([[0], edges])
    stops = np.concatenate([edges, [len(codes)]])
    return [(int(a), int(b), int(codes[a])) for a, b in zip(starts, stops, strict=True)]


def _usage_figure(labels: NDArray[np.int64], animals: Sequence[str], k: int) -> bytes:
    fig, ax = new_figure(max(5.0, 0.6 * k + 2), 3.2)
    width = 0.8 / max(1, len(animals))
    x = np.arange(k)
    for a, name in enumerate(animals):
        lab = labels[:, a]
        counts = np.bincount(lab[lab >= 0], minlength=k)[:k]
        share = counts / max(1, lab.size)
        ax.bar(x + (a - (len(animals) - 1) / 2) * width, share, width, label=name)
    ax.set_xticks(x)
    ax.set_xlabel("DEC cluster")
    ax.set_ylabel("share of the animal's frames")
    if len(animals) > 1:
        ax.legend(frameon=False, fontsize=8)
    return png_bytes(fig)


# --- report --------------------------------------------------------------------------------


def _report_md(s: Mapping[str, Any]) -> str:
    backend = s["backend"]
    offline = backend == "offline"
    gt = s.get("ground_truth")
    lines = [
        "# ethoagent segment report",
        "",
        f"Backend: `{backend}`"
        + (
            " (no model was called: the kinematic captioner and the rule-based merge "
            "answered every prompt)."
            if offline
            else f" (vlm: `{s['models']['vlm']}`, llm: `{s['models']['llm']}`)."
        ),
        _data_line(s),
        _features_line(s),
        "",
        "| metric | value |",
        "|---|---|",
        f"| frames x animals | {s['frames']} x {len(s['animals'])} at {s['fps']:g} fps "
        f"({s['frames'] / s['fps']:.1f} s per animal) |",
        f"| DEC clusters (k) | {s['k']} |",
        f"| DEC convergence | {_convergence(s['clusters'])} |",
        f"| adjusted Rand index between two seeds | {_num(s['ari_between_seeds'])} |",
        f"| snippets | {s['snippets']} |",
        "| captioned by kinematics alone / by the model"
        + (" (offline solver)" if offline else "")
        + f" | {s['snippets_by_kinematics']} / {s['snippets_by_model']} |",
        f"| model calls per snippet | {s['model_calls_per_snippet']} |",
        f"| epochs | {s['epochs']} |",
        *(
            [f"| edits a person made in `ethoagent review` (applied) | {s['reviewed_edits']} |"]
            if s.get("reviewed_edits")
            else []
        ),
        f"| seconds taken | {s['seconds']} |",
    ]
    if gt:
        lines += [
            f"| NMI vs ground truth, DEC clusters / ethogram | {gt['nmi_clusters']} / "
            f"{gt['nmi_ethogram']} |",
            f"| Hungarian macro-F1, DEC clusters / ethogram | {gt['f1_clusters']} / "
            f"{gt['f1_ethogram']} |",
        ]
    lines.append("")
    lines += warnings_md(s["warnings"])
    lines += roles_md(s["roles"], s["unit"])
    lines += ["## Time per behaviour", ""]
    lines += time_shares_markdown(
        [TimeShare.model_validate(r) for r in s["time_shares"]],
        s["animals"],
        s["frames"] / s["fps"],
        definitions=s["vocabulary"],
    )
    lines.append("")
    if len(s["animals"]) > 1:
        lines += dyadic_md(s["dyadic_changes"])
    lines += [
        "![ethogram timeline](ethogram.png)",
        "",
        "![cluster usage](cluster_usage.png)",
        "",
        "Files: `ethogram.csv` (epochs), `ethogram_boris.csv` (BORIS events), `ethogram.nc` "
        "(the ethogram on movement's time axis, netCDF)"
        + (", `ethogram.nwb` (NWB TimeIntervals)" if "nwb" in s["exports"] else "")
        + ", `time_budget.csv` (time per behaviour and animal), `clusters.csv` (DEC "
        "cluster per frame and animal), `captions.csv` (every snippet's caption), "
        "`summary.json`.",
        "",
    ]
    if s["nwb_missing"]:
        lines += [s["nwb_missing"][0].upper() + s["nwb_missing"][1:], ""]
    if s["flagged"]:
        shown = ", ".join(s["flagged"][:30]) + (" …" if len(s["flagged"]) > 30 else "")
        lines += [f"Flagged for review (see the trace): {shown}", ""]
    return "\n".join(lines)


def _data_line(s: Mapping[str, Any]) -> str:
    if not s["keypoints"]:
        return f"Data: {s.get('data', 'as given')} — video `{s['video']}`, no keypoints."
    return (
        f"Data: {s.get('data', 'as given')} — `{s['keypoints']}`"
        + (f", video `{s['video']}`" if s["video"] else ", no video")
        + f"; {s['dims']}D keypoints in {unit_words(s['unit'], s.get('body_length'))}, "
        + f"body layout `{s['layout']}`."
    )


def _features_line(s: Mapping[str, Any]) -> str:
    source = s.get("feature_source", "keypoints")
    what = {
        "keypoints": "pose features from the keypoints",
        "video": "video features (moving blobs found by background subtraction: speed, "
        "turning, elongation, aspect, area and motion energy; no keypoints)",
        "both": "pose features from the keypoints (the video's blobs are tracked and matched "
        "to the keypoint animals, not clustered)",
    }[source]
    line = f"\nFeatures clustered: {what}."
    identity = s.get("identity") or {}
    if identity:
        merged = ", ".join(
            f"{a} {n}" for a, n in zip(s["animals"], identity["merged_frames"], strict=True)
        )
        found = ", ".join(
            f"{a} {n}" for a, n in zip(s["animals"], identity["detected_frames"], strict=True)
        )
        held = ", ".join(
            f"{a} {n}" for a, n in zip(s["animals"], identity.get("held_frames", []), strict=False)
        )
        line += (
            f" Blob found in (frames): {found}; merged with another animal (frames): "
            f"{merged}; not seen and held still where last seen (frames): {held or 'n/a'}. "
            f"Identity tracking: {identity['note']}."
            + (" Blob tracks read from the video cache." if identity.get("cached") else "")
        )
    return line


def _convergence(c: Mapping[str, Any]) -> str:
    if "converged" not in c:
        return "n/a"
    change = c.get("final_label_change")
    last = "" if change is None else f", last label change {change:.2%}"
    tol = c.get("tolerance")
    return (
        ("converged" if c["converged"] else "**not converged**")
        + f" after {c.get('iterations')} of {c.get('max_iterations', '?')} iterations{last}"
        + ("" if tol is None else f" (tolerance {tol:.2%})")
    )


def _num(x: Any) -> str:
    return "n/a" if x is None else f"{x:.3f}"
