"""Evaluation suite ``profile``: planted group effects, null cohorts and novel behaviour.

Synthetic cohorts of one-mouse sessions (``evals.synthetic.simulate_world``, 3D keypoints
in mm written as movement netCDF files) with known behaviour programs:

- ``planted``: two groups of ``n`` sessions; ``rearing_x2`` rears twice as much as
  ``control`` (``rate_scale={"rearing": 2.0}``: twice the expected share of time); grooming
  occurs in only three sessions (two control, one rearing_x2; ``rate_scale`` 0 in the
  others). The whole profile graph runs on it (segment per session, embeddings, shared
  vocabulary, profiles, tests). Found = the vocabulary entry whose member frames are
  mostly ground-truth rearing has a time-share difference with permutation p < 0.01 (q
  is reported too); novel = the entry that is mostly grooming is reported as novel.
  The same tests on the ground-truth labels of the same sessions are the oracle.
- ``null (ground truth)``: ``null_cohorts`` cohorts of two groups from one program; the
  statistics (``compare_groups`` on the share of time of the six behaviours) on the
  simulator's ground-truth labels: per-test rate of p < alpha and the share of cohorts
  with any BH discovery (both should stay near or below alpha).
- ``null (pipeline)``: two null cohorts (one with ``quick``) through the whole profile
  graph (all three metrics of every entry): the same two rates on the pipeline's labels.

Sessions are short (90 s, 60 s for the null pipeline cohorts; less with ``quick``) so
the full suite fits in about ten minutes on two cores.
"""

from __future__ import annotations

import asyncio
import json
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ethoagent.evals.harness import SuiteOptions, SuiteResult, register_suite
from ethoagent.figures import new_figure, png_bytes
from ethoagent.graphs.kit.runtime import offline_runtime
from ethoagent.graphs.profile.graph import GRAPH_NAME, run_profile
from ethoagent.graphs.profile.inputs import ProfileInputs, read_sessions_csv
from ethoagent.graphs.profile.options import ProfileOptions
from ethoagent.graphs.segment.options import SegmentOptions
from ethoagent.io.keypoints import write_keypoints
from ethoagent.model.pose import PoseData
from ethoagent.sim.behaviour import INDIVIDUAL_BEHAVIOURS, simulate_behaviour
from ethoagent.sim.synthetic import KEYPOINTS, simulate_world
from ethoagent.tools.profile_stats import Profile, compare_groups, compute_profile

__all__ = ["CohortDesign", "null_rates_ground_truth", "profile_suite", "run_cohort", "write_cohort"]

FPS = 30.0
ALPHA = 0.05
PLANTED_P = 0.01


@dataclass(frozen=True)
class CohortDesign:
    """A synthetic cohort: ``groups`` name -> rate scale, ``n`` sessions per group.

    Attributes:
        seconds: length of each session, s.
        only_in: (group, index) of the sessions that show ``restricted``; in every other
            session its rate is 0. ``restricted=None`` keeps every behaviour everywhere.
        seed: base seed; session seeds derive from it.
    """

    groups: dict[str, dict[str, float]]
    n: int
    seconds: float
    seed: int
    restricted: str | None = None
    only_in: tuple[tuple[str, int], ...] = ()


def _scale(design: CohortDesign, group: str, i: int) -> dict[str, float]:
    scale = {"rearing": 1.0, **design.groups[group]}
    if design.restricted is not None and (group, i) not in design.only_in:
        scale[design.restricted] = 0.0
    return scale


def write_cohort(design: CohortDesign, folder: Path) -> tuple[Path, dict[str, NDArray[np.int64]]]:
    """Simulate a cohort's sessions into ``folder``; write ``sessions.csv``.

    Returns:
        The sessions table and each session file's ground-truth labels ``(frames,)``
        (codes into ``BEHAVIOURS``), keyed by the file's absolute path.
    """
    folder.mkdir(parents=True, exist_ok=True)
    frames = round(design.seconds * FPS)
    lines = ["session,animal,group,day"]
    truth: dict[str, NDArray[np.int64]] = {}
    for g_index, group in enumerate(design.groups):
        for i in range(design.n):
            seed = design.seed * 1000 + g_index * 100 + i
            world = simulate_world(frames, fps=FPS, seed=seed, rate_scale=_scale(design, group, i))
            pose = PoseData(
                points=world.points_3d,
                confidence=np.full(world.points_3d.shape[:3], np.nan),
                keypoints=KEYPOINTS,
                individuals=("mouse",),
                fps=FPS,
                unit="mm",
                source=f"simulate_world(seed={seed})",
            )
            path = write_keypoints(pose, folder / f"{group}_{i:02d}.nc", format="netcdf")
            truth[str(path.resolve())] = np.asarray(world.behaviour.labels[:, 0], dtype=np.int64)
            lines.append(f"{path.name},{group}_{i:02d},{group},1")
    table = folder / "sessions.csv"
    table.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return table, truth


def run_cohort(
    table: Path, work: Path, run_id: str, options: ProfileOptions
) -> tuple[dict[str, Any], Path]:
    """Run the profile graph offline on a sessions table; return its state and run folder."""
    inputs = ProfileInputs(sessions_csv=str(table), rows=read_sessions_csv(table), options=options)
    rt = offline_runtime(work, GRAPH_NAME, run_id, inputs.model_dump(mode="json"))
    state = asyncio.run(run_profile(rt, inputs))
    return state, rt.run.root


def entry_truth(run_root: Path, truth: dict[str, NDArray[np.int64]]) -> dict[str, dict[str, float]]:
    """Per vocabulary entry, the share of its member frames in each ground-truth behaviour."""
    snippets = json.loads((run_root / "artifacts" / "snippets.json").read_text())
    entries = json.loads((run_root / "artifacts" / "vocabulary.json").read_text())
    name = {e["cluster"]: e["name"] for e in entries}
    counts: dict[str, Counter[str]] = {e["name"]: Counter() for e in entries}
    for s in snippets:
        session = json.loads(s["key"])[0]
        codes = truth[str(Path(session).resolve())][s["start"] : s["stop"]]
        for code, n in zip(*np.unique(codes, return_counts=True), strict=True):
            counts[name[s["cluster"]]][INDIVIDUAL_BEHAVIOURS[int(code)]] += int(n)
    return {
        e: {b: round(c / max(1, sum(cnt.values())), 4) for b, c in cnt.most_common()}
        for e, cnt in counts.items()
    }


def _truth_profiles(labels: list[NDArray[np.int64]]) -> list[Profile]:
    names = list(INDIVIDUAL_BEHAVIOURS)
    return [compute_profile([names[c] for c in lab], names, FPS) for lab in labels]


def null_rates_ground_truth(
    cohorts: int, n: int, seconds: float, *, seed: int = 0, n_resamples: int = 1999
) -> dict[str, Any]:
    """Group tests on ground-truth labels of null cohorts (two groups, one program).

    Returns:
        ``tests``, ``per_test_fpr`` (share of p < 0.05), ``cohort_fwer`` (share of
        cohorts with any BH discovery at 0.05) and all p-values.
    """
    frames = round(seconds * FPS)
    ps: list[float] = []
    discoveries = 0
    for c in range(cohorts):
        labels = [
            simulate_behaviour(frames, fps=FPS, seed=seed * 100_000 + c * 100 + s).labels[:, 0]
            for s in range(2 * n)
        ]
        result = compare_groups(
            _truth_profiles(labels), ["a"] * n + ["b"] * n, n_resamples=n_resamples, seed=c
        )
        ps += [r.p for r in result]
        discoveries += any(r.significant for r in result)
    return {
        "cohorts": cohorts,
        "tests": len(ps),
        "per_test_fpr": round(float(np.mean(np.asarray(ps) < ALPHA)), 4),
        "cohort_fwer": round(discoveries / cohorts, 4),
        "p_values": ps,
    }


def _binomial_upper(k: int, n: int, alpha: float) -> float:
    """P(X >= k) for X ~ Binomial(n, alpha): how surprising k false positives are."""
    from scipy.stats import binom

    return float(binom.sf(k - 1, n, alpha))


@register_suite(
    "profile",
    "profile pipeline on synthetic cohorts: planted rearing x2 effect, null cohorts "
    "(ground-truth and pipeline labels), grooming present in only three sessions",
)
def profile_suite(opts: SuiteOptions) -> SuiteResult:
    """The profile eval: group differences found on simulated cohorts against null cohorts."""
    quick = opts.quick
    n = 5 if quick else 8
    seconds = 60.0 if quick else 90.0
    null_cohorts = 20 if quick else 40
    pipe_nulls = 1 if quick else 2
    pipe_n, pipe_s = (4, 45.0) if quick else (6, 60.0)
    options = ProfileOptions(
        seed=opts.seed,
        n_resamples=4999 if quick else 9999,
        # the second-seed DEC fit only reports stability; skipping it halves segmenting
        segment=SegmentOptions(k=10, seed=opts.seed, check_stability=False),
    )
    table: list[dict[str, Any]] = []
    figures: dict[str, bytes] = {}
    notes: list[str] = []
    metrics: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="ethoagent-profile-eval-") as tmp:
        work = Path(tmp)
        # --- planted effect + restricted behaviour -------------------------------------
        design = CohortDesign(
            groups={"control": {}, "rearing_x2": {"rearing": 2.0}},
            n=n,
            seconds=seconds,
            seed=opts.seed + 1,
            restricted="grooming",
            only_in=(("control", 0), ("control", 1), ("rearing_x2", 0)),
        )
        sessions, truth = write_cohort(design, work / "planted")
        t0 = time.perf_counter()
        state, root = run_cohort(sessions, work / "runs", "planted", options)
        wall_planted = time.perf_counter() - t0
        comparisons = json.loads((root / "artifacts" / "comparisons.json").read_text())
        composition = entry_truth(root, truth)
        rear_entries = [e for e, c in composition.items() if next(iter(c)) == "rearing"]
        groom_entries = [e for e, c in composition.items() if next(iter(c)) == "grooming"]
        rear_tests = [
            c
            for c in comparisons
            if c["behaviour"] in rear_entries and c["metric"] == "time_fraction"
        ]
        best = min(rear_tests, key=lambda c: c["p"]) if rear_tests else None
        oracle = compare_groups(
            _truth_profiles(list(truth.values())),
            ["control"] * n + ["rearing_x2"] * n,
            n_resamples=options.n_resamples,
            seed=opts.seed,
        )
        oracle_rear = next(c for c in oracle if c.behaviour == "rearing")
        novel = list(state.get("novel", []))
        metrics.update(
            {
                "planted_sessions": 2 * n,
                "planted_session_s": seconds,
                "embedder": state.get("embedder"),
                "vocabulary": state.get("vocabulary"),
                "rearing_entries": rear_entries,
                "planted_found": bool(best is not None and best["p"] < PLANTED_P),
                "planted_p": None if best is None else best["p"],
                "planted_q": None if best is None else best["q"],
                "planted_difference": None if best is None else round(best["difference"], 4),
                "planted_hedges_g": None if best is None else round(best["hedges_g"], 3),
                "oracle_p": oracle_rear.p,
                "oracle_difference": round(oracle_rear.difference, 4),
                "planted_other_significant": [
                    f"{c['behaviour']} {c['metric']}"
                    for c in comparisons
                    if c["significant"] and c["behaviour"] not in rear_entries
                ],
                "grooming_entries": groom_entries,
                "novel_entries": novel,
                "restricted_surfaced": bool(set(groom_entries) & set(novel)),
                "false_novel_entries": sorted(set(novel) - set(groom_entries)),
                "planted_wall_s": round(wall_planted, 1),
            }
        )
        table.append(
            {
                "check": "planted rearing x2 (pipeline labels)",
                "n": f"{n}+{n} x {seconds:g} s",
                "value": f"p={_p(best)} q={_q(best)}",
                "target": f"p < {PLANTED_P}",
                "passed": metrics["planted_found"],
            }
        )
        table.append(
            {
                "check": "planted rearing x2 (ground-truth labels, oracle)",
                "n": f"{n}+{n} x {seconds:g} s",
                "value": f"p={oracle_rear.p:.2g}",
                "target": f"p < {PLANTED_P}",
                "passed": bool(oracle_rear.p < PLANTED_P),
            }
        )
        table.append(
            {
                "check": "grooming in 3 sessions only -> novel",
                "n": f"{2 * n} sessions",
                "value": f"novel: {', '.join(novel) or '-'}",
                "target": "the grooming entry is novel",
                "passed": metrics["restricted_surfaced"],
            }
        )
        figures["planted_group_differences"] = (
            root / "outputs" / "group_differences.png"
        ).read_bytes()
        figures["planted_profiles"] = (root / "outputs" / "profile_heatmap.png").read_bytes()
        # --- null: ground truth -----------------------------------------------------------
        t0 = time.perf_counter()
        gt = null_rates_ground_truth(null_cohorts, n, seconds, seed=opts.seed + 7)
        metrics.update(
            {
                "null_gt_cohorts": gt["cohorts"],
                "null_gt_tests": gt["tests"],
                "null_gt_per_test_fpr": gt["per_test_fpr"],
                "null_gt_cohort_fwer": gt["cohort_fwer"],
                "null_gt_fpr_binomial_p": round(
                    _binomial_upper(round(gt["per_test_fpr"] * gt["tests"]), gt["tests"], ALPHA), 4
                ),
                "null_gt_wall_s": round(time.perf_counter() - t0, 1),
            }
        )
        table.append(
            {
                "check": "null, ground-truth labels: per-test p < 0.05",
                "n": f"{gt['cohorts']} cohorts x {gt['tests'] // gt['cohorts']} tests",
                "value": f"{gt['per_test_fpr']:.3f}",
                "target": f"~{ALPHA} (binomial p {metrics['null_gt_fpr_binomial_p']:.2g})",
                "passed": bool(metrics["null_gt_fpr_binomial_p"] > 0.01),
            }
        )
        table.append(
            {
                "check": "null, ground-truth labels: cohorts with a BH discovery",
                "n": f"{gt['cohorts']} cohorts",
                "value": f"{gt['cohort_fwer']:.3f}",
                "target": f"<= {ALPHA} (+ sampling error)",
                "passed": bool(
                    gt["cohort_fwer"] <= ALPHA + 2 * np.sqrt(ALPHA * (1 - ALPHA) / gt["cohorts"])
                ),
            }
        )
        figures["null_p_values"] = _p_histogram(gt["p_values"])
        # --- null: pipeline ---------------------------------------------------------------
        t0 = time.perf_counter()
        pipe_ps: list[float] = []
        pipe_disc = 0
        for c in range(pipe_nulls):
            d = CohortDesign(
                groups={"a": {}, "b": {}}, n=pipe_n, seconds=pipe_s, seed=opts.seed + 50 + c
            )
            s_table, _ = write_cohort(d, work / f"null{c}")
            _, r = run_cohort(s_table, work / "runs", f"null{c}", options)
            comps = json.loads((r / "artifacts" / "comparisons.json").read_text())
            pipe_ps += [x["p"] for x in comps]
            pipe_disc += any(x["significant"] for x in comps)
        pipe_fpr = float(np.mean(np.asarray(pipe_ps) < ALPHA)) if pipe_ps else float("nan")
        metrics.update(
            {
                "null_pipeline_cohorts": pipe_nulls,
                "null_pipeline_tests": len(pipe_ps),
                "null_pipeline_per_test_fpr": round(pipe_fpr, 4),
                "null_pipeline_cohorts_with_discovery": pipe_disc,
                "null_pipeline_wall_s": round(time.perf_counter() - t0, 1),
            }
        )
        table.append(
            {
                "check": "null, pipeline labels: per-test p < 0.05",
                "n": f"{pipe_nulls} cohorts of {pipe_n}+{pipe_n} x {pipe_s:g} s, "
                f"{len(pipe_ps)} tests",
                "value": f"{pipe_fpr:.3f}; {pipe_disc} cohort(s) with a BH discovery",
                "target": f"~{ALPHA}; 0 discoveries expected",
                "passed": pipe_disc == 0,
            }
        )
    notes += [
        "Offline backend: snippets captioned by the kinematic captioner, the vocabulary "
        "named by the offline solver; embeddings by "
        f"{metrics['embedder']}.",
        "Null (ground truth): the statistics alone, on the simulator's labels (share of "
        "time of the six behaviours, permutation tests, BH per cohort). Null (pipeline): "
        "the whole graph, all three metrics of every entry, BH per cohort.",
        "Found = the entry whose member frames are mostly ground-truth rearing; its "
        "time-share p (two-sided permutation, difference in means).",
    ]
    return SuiteResult(metrics=metrics, table=table, figures=figures, notes=notes)


def _p(c: dict[str, Any] | None) -> str:
    return "n/a" if c is None else f"{c['p']:.2g}"


def _q(c: dict[str, Any] | None) -> str:
    return "n/a" if c is None else f"{c['q']:.2g}"


def _p_histogram(ps: list[float]) -> bytes:
    fig, ax = new_figure(5.0, 3.2)
    ax.hist(ps, bins=20, range=(0, 1), color="tab:blue", alpha=0.8)
    ax.axhline(len(ps) / 20, color="grey", ls="--", lw=1, label="uniform")
    ax.set_xlabel("permutation p (null cohorts, ground-truth labels)")
    ax.set_ylabel("tests")
    ax.legend(frameon=False, fontsize=8)
    return png_bytes(fig)
