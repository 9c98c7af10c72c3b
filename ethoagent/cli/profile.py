"""``ethoagent profile``: one behaviour vocabulary across many sessions, profiles, group tests."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Annotated

import typer

from ethoagent.cli.base import (
    BackendOpt,
    BodyOpt,
    ConfigOpt,
    FormatOpt,
    NoCacheOpt,
    OverwriteOpt,
    ResumeOpt,
    RunIdOpt,
    RunsDirOpt,
    SkeletonOpt,
    compact_table,
    console,
    print_run_paths,
    print_warnings,
    run_with_progress,
    settings_from,
)
from ethoagent.errors import InputError
from ethoagent.graphs.profile.options import ProfileOptions

_DEFAULTS = ProfileOptions()
"""Defaults of the profile options shown in ``--help`` (``ProfileOptions`` holds them)."""


def profile_command(
    sessions: Annotated[
        Path | None,
        typer.Argument(
            help="CSV of sessions: session (keypoint file or `ethoagent simulate` folder), "
            "animal, group (or condition); optional day, video, fps, segment (an existing "
            "segment output folder to reuse).",
            metavar="SESSIONS.csv",
            show_default=False,
        ),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Argument(
            help="Folder for the profile table, vocabulary, figures and report (created).",
            metavar="OUT",
            show_default=False,
        ),
    ] = None,
    embedder: Annotated[
        str,
        typer.Option(help="auto, minilm (all-MiniLM-L6-v2), tfidf or endpoint (embed role)."),
    ] = _DEFAULTS.embedder,
    clusters: Annotated[
        int | None,
        typer.Option(help="Vocabulary size; default: chosen by the silhouette."),
    ] = _DEFAULTS.clusters,
    min_clusters: Annotated[
        int, typer.Option(help="Smallest vocabulary tried.")
    ] = _DEFAULTS.min_clusters,
    max_clusters: Annotated[
        int, typer.Option(help="Largest vocabulary tried.")
    ] = _DEFAULTS.max_clusters,
    reference_group: Annotated[
        str | None,
        typer.Option(help="Compare every group against this one (default: every pair)."),
    ] = _DEFAULTS.reference_group,
    reference_vocabulary: Annotated[
        Path | None,
        typer.Option(
            help="JSON {name: definition} of known behaviours; entries matching none are novel."
        ),
    ] = None,
    body: BodyOpt = None,
    format: FormatOpt = None,
    skeleton: SkeletonOpt = None,
    alpha: Annotated[float, typer.Option(help="False-discovery rate (BH).")] = _DEFAULTS.alpha,
    permutations: Annotated[
        int, typer.Option(help="Permutations per test.")
    ] = _DEFAULTS.n_resamples,
    k: Annotated[
        int, typer.Option("--k", help="DEC clusters of each segment run.")
    ] = _DEFAULTS.segment.k,
    dec_epochs: Annotated[
        int, typer.Option(help="DEC pretraining epochs of each segment run.")
    ] = _DEFAULTS.segment.dec_pretrain_epochs,
    dec_iters: Annotated[
        int, typer.Option(help="Most DEC iterations of each segment run.")
    ] = _DEFAULTS.segment.dec_cluster_iters,
    seed: Annotated[int, typer.Option(help="Seed of k-means and the resampling.")] = _DEFAULTS.seed,
    overwrite: OverwriteOpt = False,
    run_id: RunIdOpt = None,
    resume: ResumeOpt = None,
    config: ConfigOpt = None,
    backend: BackendOpt = None,
    runs_dir: RunsDirOpt = None,
    no_cache: NoCacheOpt = False,
) -> None:
    """Profile behaviour across sessions: segment each, one shared vocabulary, group tests.

    Each session runs through the segment pipeline (reused from the run store when it has
    run before); the snippet descriptions of all sessions are embedded and clustered into
    one vocabulary that a model (offline: the captions) names and defines; each animal gets
    a profile (share of time, bouts, transitions per behaviour) and the groups are compared
    by permutation tests with Benjamini–Hochberg correction. With --resume RUN the inputs
    come from the run.
    """
    from ethoagent.graphs.profile import PIPELINE

    settings = settings_from(config, backend, runs_dir, no_cache)
    if resume is None:
        if sessions is None or out is None:
            raise InputError(
                "profile needs SESSIONS.csv and OUT.",
                fix="e.g. ethoagent profile sessions.csv results/ (or --resume RUN).",
            )
        inputs = PIPELINE.parse_inputs(
            {
                "sessions": sessions,
                "reference_vocabulary": reference_vocabulary,
                "body": body,
                "format": format,
                "skeleton": skeleton,
            }
        )
        options = PIPELINE.parse_options(
            {
                "embedder": embedder,
                "clusters": clusters,
                "min_clusters": min_clusters,
                "max_clusters": max_clusters,
                "reference_group": reference_group,
                "alpha": alpha,
                "n_resamples": permutations,
                "seed": seed,
                "segment": {
                    "k": k,
                    "dec_pretrain_epochs": dec_epochs,
                    "dec_cluster_iters": dec_iters,
                },
            }
        )
    else:
        inputs, options = None, None
        out = out or sessions  # `profile --resume RUN OUT`: OUT lands in the first slot
    result = run_with_progress(
        PIPELINE,
        inputs,
        options,
        settings,
        title="profile",
        out=out,
        resume=resume,
        overwrite=overwrite,
        run_id=run_id,
    )
    _print_summary(result.out or result.run.outputs_dir, result.run.root)


def _print_summary(out: Path, root: Path) -> None:
    summary = json.loads((out / "summary.json").read_text())
    vocab = json.loads((out / "vocabulary.json").read_text())
    rows = list(csv.DictReader((out / "profile_matrix.csv").read_text().splitlines()))
    groups = list(summary["groups"])
    console.print("[bold]profile[/]: share of time per behaviour (group means)")
    table = compact_table("", "behaviour", *groups, "novel", text_columns=1)
    sig = {(s["behaviour"], s["metric"]) for s in summary["significant"]}
    for e in vocab["entries"]:
        name = e["name"]
        means = []
        for g in groups:
            vals = [float(r[name]) for r in rows if r["group"] == g and r[name] != ""]
            means.append(f"{sum(vals) / len(vals):.3f}" if vals else "")
        flag = " *" if (name, "time_fraction") in sig else ""
        table.add_row(name + flag, *means, "yes" if e["novel"] else "")
    console.print(table)
    console.print(
        f"{summary['profiles']} profiles from {summary['sessions']} sessions "
        f"({summary['segment_runs_reused']} segment runs reused); {summary['snippets']} snippets "
        f"embedded with {summary['embedder']}; {summary['tests']} tests, "
        f"{len(summary['significant'])} significant at BH q < {summary['alpha']} "
        "(* = share of time)."
    )
    for s in summary["significant"]:
        console.print(
            f"  {s['behaviour']} {s['metric']}: {s['group_b']} - {s['group_a']} = "
            f"{s['difference']:.3g} [{s['ci_low']:.3g}, {s['ci_high']:.3g}], g = "
            f"{s['hedges_g']:.2f}, p = {s['p']:.2g}, q = {s['q']:.2g}"
        )
    print_warnings(summary["warnings"])
    print_run_paths(root, out, "profiles.csv, vocabulary.json, report.md, ...")
