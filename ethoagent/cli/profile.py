"""``ethoagent profile``: one behaviour vocabulary across many sessions, profiles, group tests."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Annotated, Any

import typer

from ethoagent.cli.base import (
    BackendOpt,
    ConfigOpt,
    NoCacheOpt,
    OverwriteOpt,
    ResumeOpt,
    RunIdOpt,
    RunsDirOpt,
    check_out,
    compact_table,
    console,
    execute,
    open_run,
    resumed_out,
    settings_from,
    validated,
)
from ethoagent.errors import InputError

PROFILE_OUTPUTS = ("profiles.csv", "vocabulary.json", "comparisons.csv", "report.md")
"""Outputs whose presence in OUT needs --overwrite."""


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
    ] = "auto",
    clusters: Annotated[
        int | None,
        typer.Option(min=1, help="Vocabulary size; default: chosen by the silhouette."),
    ] = None,
    min_clusters: Annotated[int, typer.Option(min=2, help="Smallest vocabulary tried.")] = 4,
    max_clusters: Annotated[int, typer.Option(min=2, help="Largest vocabulary tried.")] = 14,
    reference_group: Annotated[
        str | None,
        typer.Option(help="Compare every group against this one (default: every pair)."),
    ] = None,
    reference_vocabulary: Annotated[
        Path | None,
        typer.Option(
            help="JSON {name: definition} of known behaviours; entries matching none are novel."
        ),
    ] = None,
    alpha: Annotated[
        float, typer.Option(min=0.0001, max=0.5, help="False-discovery rate (BH).")
    ] = 0.05,
    permutations: Annotated[int, typer.Option(min=99, help="Permutations per test.")] = 9999,
    k: Annotated[int, typer.Option("--k", min=2, help="DEC clusters of each segment run.")] = 10,
    dec_epochs: Annotated[
        int, typer.Option(min=0, help="DEC pretraining epochs of each segment run.")
    ] = 10,
    dec_iters: Annotated[
        int, typer.Option(min=0, help="Most DEC iterations of each segment run.")
    ] = 2000,
    seed: Annotated[int, typer.Option(help="Seed of k-means and the resampling.")] = 0,
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
    from ethoagent.atomic import atomic_write_bytes
    from ethoagent.graphs.kit.registry import GRAPHS, finish_run
    from ethoagent.graphs.profile.graph import (
        GRAPH_NAME,
        ProfileInputs,
        ProfileOptions,
        resolve_profile_inputs,
        run_profile,
    )

    settings = settings_from(config, backend, runs_dir, no_cache)
    fresh: dict[str, Any] = {}
    if resume is None:
        if sessions is None or out is None:
            raise InputError(
                "profile needs SESSIONS.csv and OUT.",
                fix="e.g. ethoagent profile sessions.csv results/ (or --resume RUN).",
            )
        check_out(out, PROFILE_OUTPUTS, overwrite)
        options = validated(
            ProfileOptions,
            "profile",
            embedder=embedder,
            clusters=clusters,
            min_clusters=min_clusters,
            max_clusters=max_clusters,
            reference_group=reference_group,
            alpha=alpha,
            n_resamples=permutations,
            seed=seed,
            # a dict, so that a bad segment setting is reported like the others
            segment={"k": k, "dec_pretrain_epochs": dec_epochs, "dec_cluster_iters": dec_iters},
        )
        inputs = resolve_profile_inputs(sessions, options, reference_vocabulary)
        fresh = {**inputs.model_dump(mode="json"), "out": str(out)}
    run, raw = open_run(settings, GRAPH_NAME, run_id, resume, fresh)
    raw = dict(raw)
    stored_out = raw.pop("out", None)
    if resume is not None:
        # `profile --resume RUN OUT`: OUT lands in the first slot
        out = resumed_out(run, "profile", stored_out, out or sessions, PROFILE_OUTPUTS, overwrite)
    assert out is not None
    inputs = ProfileInputs.model_validate(raw)
    n_sessions = len({r.key for r in inputs.rows})
    console.print(
        f"[bold]ethoagent profile[/] run [cyan]{run.root}[/] (backend {settings.backend}, "
        f"{n_sessions} sessions, {len(inputs.rows)} profiles)"
    )
    state = execute(
        run,
        settings,
        n_sessions,
        "sessions",
        lambda rt: run_profile(rt, inputs),
        roles=GRAPHS["profile"].roles,
    )
    for rel in state.get("outputs", []):
        src = run.root / rel
        atomic_write_bytes(out / src.relative_to(run.outputs_dir), src.read_bytes())
    finish_run(run, GRAPHS["profile"].summary_keys)
    _print_summary(out, run.root)


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
    for w in summary["warnings"]:
        console.print(f"[yellow]warning:[/] {w}", soft_wrap=True)
    console.print(f"outputs: [cyan]{out}[/] (profiles.csv, vocabulary.json, report.md, ...)")
    console.print(f"run directory: [cyan]{root}[/]  (trace: ethoagent trace show {root})")
