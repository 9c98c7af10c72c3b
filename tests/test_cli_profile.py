"""End-to-end CLI: `ethoagent profile` on a tiny synthetic cohort, resume, reuse and errors."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ethoagent.cli.app import app
from ethoagent.errors import InputError
from tests.review.sample_runs import write_profile_cohort
from tests.test_cli import cli

FAST = ("--k", "4", "--dec-epochs", "2", "--dec-iters", "200", "--embedder", "tfidf",
        "--permutations", "999")  # fmt: skip


@pytest.fixture(scope="module")
def cohort(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("profile-cli")
    write_profile_cohort(tmp, sessions=6, frames=450, seed=40, day=1, folder="data")
    return tmp


@pytest.mark.slow
def test_profile_end_to_end_resume_and_reuse(cohort: Path) -> None:
    runs = str(cohort / "runs")
    out = cli("profile", str(cohort / "sessions.csv"), str(cohort / "out"), *FAST,
              "--runs-dir", runs, "--run-id", "p1")  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert "share of time per behaviour" in out.stdout
    o = cohort / "out"
    for name in ("profiles.csv", "profile_matrix.csv", "transitions.csv", "comparisons.csv",
                 "vocabulary.json", "snippets.csv", "profile_heatmap.png", "transitions.png",
                 "group_differences.png", "summary.json", "report.md"):  # fmt: skip
        assert (o / name).is_file(), name
    summary = json.loads((o / "summary.json").read_text())
    assert summary["profiles"] == 6 and summary["groups"] == {"a": 3, "b": 3}
    assert summary["embedder"] == "tfidf" and summary["segment_runs_reused"] == 0
    vocab = json.loads((o / "vocabulary.json").read_text())
    names = [e["name"] for e in vocab["entries"]]
    assert len(names) == len(set(names)) == summary["clusters"]
    assert all(e["examples"] and e["definition"] for e in vocab["entries"])
    rows = list(csv.DictReader((o / "profiles.csv").read_text().splitlines()))
    assert len(rows) == 6 * len(names)
    for m in {r["animal"] for r in rows}:
        share = sum(float(r["time_fraction"]) for r in rows if r["animal"] == m)
        assert share == pytest.approx(1.0, abs=1e-4)
    tests = list(csv.DictReader((o / "comparisons.csv").read_text().splitlines()))
    assert len(tests) == summary["tests"] == 3 * len(names)
    # 3 vs 3 animals: the smallest attainable p is 0.1 > alpha, so no test is run
    assert all(t["tested"] == "False" and t["p"] == t["q"] == t["ci_low"] == "" for t in tests)
    assert all(float(t["min_p"]) == pytest.approx(0.1) for t in tests)
    info = json.loads((cohort / "runs" / "p1" / "run.json").read_text())
    assert info["status"] == "finished" and info["graph"] == "profile"
    # resume of a finished run re-runs nothing and writes the same tables
    again = cli("profile", "--resume", "p1", str(cohort / "out2"), "--runs-dir", runs)
    assert again.returncode == 0, again.stderr
    assert (cohort / "out2" / "profiles.csv").read_bytes() == (o / "profiles.csv").read_bytes()
    refused = cli("profile", "--resume", "p1", str(cohort / "out2"), "--runs-dir", runs)
    assert refused.returncode == 1 and "already holds profiles.csv" in refused.stderr
    replaced = cli("profile", "--resume", "p1", str(cohort / "out2"), "--runs-dir", runs,
                   "--overwrite")  # fmt: skip
    assert replaced.returncode == 0, replaced.stderr
    # a new run over the same sessions reuses their segment runs from the run store
    # (with a reference vocabulary of two known behaviours: the others match none of them)
    ref = cohort / "known.json"
    ref.write_text(json.dumps({"walking": "Locomotion at a walking pace.",
                               "still": "No movement of the body centre."}))  # fmt: skip
    new = cli("profile", str(cohort / "sessions.csv"), str(cohort / "out3"), *FAST,
              "--runs-dir", runs, "--reference-vocabulary", str(ref))  # fmt: skip
    assert new.returncode == 0, new.stderr
    s3 = json.loads((cohort / "out3" / "summary.json").read_text())
    assert s3["segment_runs_reused"] == 6
    v3 = {
        e["name"]: e
        for e in json.loads((cohort / "out3" / "vocabulary.json").read_text())["entries"]
    }
    assert v3["walking"]["reference_match"]["closest"] == "walking"
    assert not v3["walking"]["novel"]
    unmatched = [
        e for e in v3.values() if any("fits no reference" in r for r in e["novel_reasons"])
    ]
    assert unmatched and all(e["name"] not in {"walking", "still"} for e in unmatched)
    assert (cohort / "out3" / "profiles.csv").read_bytes() == (o / "profiles.csv").read_bytes()


def _input_error(args: list[str], text: str) -> None:
    """In-process (fast): the command raises an InputError naming ``text``."""
    result = CliRunner().invoke(app, ["profile", *args])
    assert isinstance(result.exception, InputError), result.output
    assert text in str(result.exception)


def test_profile_input_errors(cohort: Path) -> None:
    runs = ["--runs-dir", str(cohort / "runs-err")]
    bad = cohort / "bad"
    bad.mkdir()
    _input_error([str(bad / "none.csv"), str(bad / "o"), *runs], "does not exist")
    (bad / "nocol.csv").write_text("session,group\ndata/s0.nc,a\n")
    _input_error([str(bad / "nocol.csv"), str(bad / "o"), *runs], "['animal']")
    (bad / "missing.csv").write_text("session,animal,group\nnope.nc,m,a\nnope2.nc,n,a\n")
    _input_error([str(bad / "missing.csv"), str(bad / "o"), *runs], "nope.nc")
    data = cohort / "data"
    (bad / "single.csv").write_text(
        f"session,animal,condition\n{data}/s0.nc,m0,a\n{data}/s1.nc,m1,a\n{data}/s2.nc,m2,b\n"
    )
    _input_error([str(bad / "single.csv"), str(bad / "o"), *runs], "single session")
    (bad / "ok.csv").write_text(f"session,animal,group\n{data}/s0.nc,m0,a\n{data}/s1.nc,m1,a\n")
    _input_error([str(bad / "ok.csv"), str(bad / "o"), "--reference-group", "z", *runs], "'z'")
    _input_error([str(bad / "ok.csv"), str(bad / "o"), "--format", "xls", *runs], "format")
    assert not (bad / "o").exists()
    # as a user sees it: one red line, no traceback, exit code 1
    out = cli("profile", *runs)
    assert out.returncode == 1 and "needs SESSIONS.csv and OUT" in out.stderr
    assert "Traceback" not in out.stderr and len(out.stderr.strip().splitlines()) == 1
