"""The profile graph's naming stage with a scripted model, the offline solver and inputs."""

from __future__ import annotations

import asyncio
import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from ethoagent.agent.cache import ModelCache
from ethoagent.agent.offline import OfflineClient
from ethoagent.agent.trace import TracedClient, Tracer, read_trace
from ethoagent.agent.types import Request
from ethoagent.config import load_settings
from ethoagent.errors import InputError
from ethoagent.graphs.kit.nodes import PolicySupervisor, run_item
from ethoagent.graphs.kit.runtime import Runtime, offline_runtime
from ethoagent.graphs.profile import nodes
from ethoagent.graphs.profile.graph import GRAPH_NAME, run_profile
from ethoagent.graphs.profile.inputs import (
    ProfileInputs,
    SessionRow,
    read_reference_vocabulary,
    read_sessions_csv,
)
from ethoagent.graphs.profile.nodes import ProfileEnv
from ethoagent.graphs.profile.options import ProfileOptions
from ethoagent.graphs.profile.report import body_records, segment_warnings, statistics_notes
from ethoagent.graphs.profile.stages import (
    NAME_PROMPT,
    ClusterItem,
    NameAnswer,
    make_name_stage,
    name_from_members,
)
from ethoagent.graphs.segment.item_stages import (
    CAPTION_PROMPT,
    MERGE_PROMPT,
    offline_caption,
    offline_merge,
)
from ethoagent.graphs.segment.options import SegmentOptions
from ethoagent.runs import Run
from ethoagent.sim.behaviour import INDIVIDUAL_BEHAVIOURS, simulate_behaviour
from ethoagent.tools.captions import SnippetKinematics
from ethoagent.tools.profile_stats import compare_groups, compute_profile
from ethoagent.tools.vocabulary import ClusterKinematics
from tests.review.sample_runs import write_profile_cohort
from tests.scripted import ScriptedClient
from tests.servers import EmbeddingsServer

FAST = ClusterKinematics(members=12, seconds=9.0, speed=2.9, speed_p90=3.6, height_ratio=1.0,
                         elongation=1.1, paw_head_ratio=1.0)  # fmt: skip


def _item(taken: list[str]) -> ClusterItem:
    return ClusterItem(
        cluster=3,
        descriptions=[
            ("darting: posture on all fours; direction forward; speed fast; social none", 0.9)
        ],
        labels={"darting": 8.0, "walking": 1.0},
        kinematics=FAST,
        taken=taken,
    )


def test_duplicate_name_and_contradicting_definition_are_retried_with_the_reason(
    tmp_path: Path,
) -> None:
    answers = iter(
        [
            NameAnswer(name="Walking", definition="Locomotion at a walking pace."),
            NameAnswer(name="freezing_bout", definition="The animal stays still."),
            NameAnswer(name="darting", definition="A sudden fast run."),
        ]
    )

    def script(request: Request) -> str:
        return next(answers).model_dump_json()

    client = ScriptedClient({NAME_PROMPT: script})
    tracer = Tracer(tmp_path / "trace.jsonl", run_id="t")
    outcome = asyncio.run(
        run_item(
            make_name_stage(),
            "cluster 4",
            _item(["walking", "still"]),
            client=TracedClient(client, tracer),
            tracer=tracer,
            supervisor=PolicySupervisor(),
        )
    )
    assert outcome.status == "accepted" and outcome.attempts == 3
    assert outcome.output is not None and outcome.output.name == "darting"
    events = read_trace(tmp_path / "trace.jsonl")
    checks = [(e["name"], e["passed"]) for e in events if e["kind"] == "check"]
    assert checks == [
        ("unique_name", False),
        ("definition_kinematics", True),
        ("unique_name", True),
        ("definition_kinematics", False),
        ("unique_name", True),
        ("definition_kinematics", True),
    ]
    decisions = [e for e in events if e["kind"] == "decision"]
    assert [d["action"] for d in decisions] == ["retry", "retry"]
    # each retry's prompt names what failed
    prompts = [r.messages[0].content for r in client.calls(NAME_PROMPT)]
    assert "already the name of another vocabulary entry" in prompts[1]
    assert "2.90 body lengths/s" in prompts[2] and "(at rest)" in prompts[2]
    assert "walking, still" in prompts[0]


def test_a_model_that_never_fixes_it_escalates_to_a_kinematic_name(tmp_path: Path) -> None:
    client = ScriptedClient(
        {NAME_PROMPT: lambda r: NameAnswer(name="still", definition="At rest.").model_dump_json()}
    )
    tracer = Tracer(tmp_path / "trace.jsonl", run_id="t")
    outcome = asyncio.run(
        run_item(
            make_name_stage(),
            "cluster 4",
            _item(["still"]),
            client=TracedClient(client, tracer),
            tracer=tracer,
            supervisor=PolicySupervisor(),
        )
    )
    assert outcome.status == "accepted" and outcome.accepted_by == "describe_members"
    assert outcome.output is not None and outcome.output.name == "cluster_4"
    assert "2.90 body lengths/s" in outcome.output.definition


def test_offline_name_qualifies_a_taken_name() -> None:
    first = name_from_members(_item([]))
    assert first.name == "darting" and "Fast locomotion" in first.definition
    second = name_from_members(_item(["darting"]))
    assert second.name == "darting_fast"
    third = name_from_members(_item(["darting", "darting_fast", "darting_forward"]))
    assert third.name not in {"darting", "darting_fast", "darting_forward"}


def test_sessions_table_checks(tmp_path: Path) -> None:
    (tmp_path / "a.nc").write_bytes(b"x")
    (tmp_path / "b.nc").write_bytes(b"x")
    ok = tmp_path / "ok.csv"
    ok.write_text("Session,Animal,Condition,day\na.nc,m1,ctrl,1\nb.nc,m2,ctrl,2\n")
    rows = read_sessions_csv(ok)
    assert [r.group for r in rows] == ["ctrl", "ctrl"] and rows[1].day == "2"
    assert rows[0].session == str((tmp_path / "a.nc").resolve()) and rows[0].row == 2
    dup = tmp_path / "dup.csv"
    dup.write_text("session,animal,group\na.nc,m1,ctrl\na.nc,m1,ctrl\n")
    with pytest.raises(InputError, match="lines 2 and 3"):
        read_sessions_csv(dup)
    fps = tmp_path / "fps.csv"
    fps.write_text("session,animal,group,fps\na.nc,m1,g,x\nb.nc,m2,g,30\n")
    with pytest.raises(InputError, match="not a positive number"):
        read_sessions_csv(fps)
    empty = tmp_path / "empty.csv"
    empty.write_text("session,animal,group\n")
    with pytest.raises(InputError, match="no rows"):
        read_sessions_csv(empty)


def test_reference_vocabulary_formats(tmp_path: Path) -> None:
    a = tmp_path / "a.json"
    a.write_text(json.dumps({"rearing": "front body raised"}))
    b = tmp_path / "b.json"
    b.write_text(json.dumps({"entries": [{"name": "still", "definition": "at rest"}]}))
    assert read_reference_vocabulary(a) == {"rearing": "front body raised"}
    assert read_reference_vocabulary(b) == {"still": "at rest"}
    c = tmp_path / "c.json"
    c.write_text("[1, 2]")
    with pytest.raises(InputError, match="neither"):
        read_reference_vocabulary(c)


def _tiny_cohort(folder: Path) -> Path:
    folder.mkdir(parents=True)
    return write_profile_cohort(folder, seed=60)


def test_a_run_that_dies_while_naming_resumes_without_segmenting_again(tmp_path: Path) -> None:
    table = _tiny_cohort(tmp_path / "data")
    options = ProfileOptions(
        embedder="tfidf",
        n_resamples=99,
        segment=SegmentOptions(
            k=4, dec_pretrain_epochs=2, dec_cluster_iters=100, check_stability=False
        ),
    )
    inputs = ProfileInputs(sessions_csv=str(table), rows=read_sessions_csv(table), options=options)
    work = tmp_path / "runs"

    def server_gone(request: Request) -> str:
        raise ConnectionError("the model server went away")

    dying = ScriptedClient(
        {
            CAPTION_PROMPT: lambda r: offline_caption(r).model_dump_json(),
            MERGE_PROMPT: lambda r: offline_merge(r).model_dump_json(),
            NAME_PROMPT: server_gone,
        },
        backend="offline",
    )
    rt = offline_runtime(work, GRAPH_NAME, "p", inputs.model_dump(mode="json"), client=dying)
    with pytest.raises(ConnectionError):
        asyncio.run(run_profile(rt, inputs))
    assert not (rt.run.outputs_dir / "profiles.csv").exists()
    run = Run.resume(work / "p")
    tracer = Tracer(run.trace_path, run_id=run.run_id)
    again = Runtime(
        run=run,
        settings=rt.settings,
        client=TracedClient(OfflineClient(), tracer),
        tracer=tracer,
        supervisor=PolicySupervisor(),
    )
    state = asyncio.run(run_profile(again, inputs))
    events = read_trace(run.trace_path)
    assert any(e["kind"] == "run_resume" for e in events)
    assert sum(e["kind"] == "session_segmented" for e in events) == 4  # once each
    assert (run.outputs_dir / "profiles.csv").is_file() and state["n_tests"] > 0
    # a new run over the same sessions reuses the segment runs and gives the same table
    fresh = offline_runtime(work, GRAPH_NAME, "p2", inputs.model_dump(mode="json"))
    state2 = asyncio.run(run_profile(fresh, inputs))
    assert all(s["reused"] for s in state2["segments"])
    assert (fresh.run.outputs_dir / "profiles.csv").read_bytes() == (
        run.outputs_dir / "profiles.csv"
    ).read_bytes()
    # 2 vs 2 animals: no test can reach alpha, so none is run and the report says why
    report = (run.outputs_dir / "report.md").read_text()
    assert "smallest p a permutation test can give is 0.333" in report
    rows = [ln for ln in report.splitlines() if "| b vs a |" in ln]
    assert rows and all("(not tested)" in r and r.endswith("| n/a | n/a |") for r in rows)
    comparisons = json.loads((run.artifacts_dir / "comparisons.json").read_text())
    assert comparisons and not any(c["tested"] for c in comparisons)
    # every warning in the report, the segment runs' too (named by session file)
    summary = json.loads((run.outputs_dir / "summary.json").read_text())
    for segment in state["segments"]:
        seg = json.loads((Path(segment["outputs"]) / "summary.json").read_text())
        for warning in seg["warnings"]:
            assert f"{Path(seg['keypoints']).name}: {warning}" in summary["warnings"]
    for warning in summary["warnings"]:
        assert warning in report
    # body roles per keypoint set; time shares a column per animal beside the summed total
    assert "## Body roles" in report and summary["bodies"][0]["roles"]["layout"]
    assert sum(len(b["sessions"]) for b in summary["bodies"]) == 4
    assert "Median body length: " in report  # beside the unit, per session
    assert "## Time share per animal" in report and "| mean over animals |" in report
    assert "time (s, summed over all 4 profiles: animals x sessions)" in report


def _row(i: int, animal: str, group: str) -> SessionRow:
    return SessionRow(row=i, session=f"/d/s{i}.nc", animal=animal, group=group)


def test_name_node_alone_names_the_largest_cluster_first(tmp_path: Path) -> None:
    """The name node on a hand-made state: clustered snippets, no earlier node run."""
    rows = [_row(1, "m1", "a"), _row(2, "m2", "b")]
    inputs = ProfileInputs(sessions_csv="/d/sessions.csv", rows=rows, options=ProfileOptions())
    rt = offline_runtime(tmp_path, GRAPH_NAME, "name", inputs.model_dump(mode="json"))
    env = ProfileEnv.of(rt, inputs)
    assert len(env.keys) == 2 and env.per_step == 1  # one session per segment step

    def snippet(c: int, label: str, speed: float, seconds: float) -> dict[str, Any]:
        kin = SnippetKinematics(seconds=seconds, frames=int(30 * seconds), tracked=1.0, dims=3,
                                speed=speed, speed_p90=speed * 1.2)  # fmt: skip
        return {"cluster": c, "text": f"{label}: speed {label}", "caption": {"label": label},
                "kinematics": kin.model_dump()}  # fmt: skip

    walks = [snippet(0, "walking", 1.0, 2.0) for _ in range(2)]
    darts = [snippet(1, "darting", 3.0, 2.0) for _ in range(3)]
    (rt.run.artifacts_dir / "snippets.json").write_text(json.dumps(walks + darts))
    state: Any = {"k": 2, "timings": {}}
    update: Any = asyncio.run(nodes.name(state, env))
    entries = json.loads((rt.run.artifacts_dir / "vocabulary.json").read_text())
    assert [e["cluster"] for e in entries] == [1, 0]  # 6 s of darting before 4 s of walking
    assert update["vocabulary"] == [e["name"] for e in entries] == ["darting", "walking"]
    assert update["naming"] == {"accepted_first": 2} and update["model_calls"] == 2
    assert entries[0]["caption_labels"] == {"darting": 6.0}
    assert set(update["timings"]) == {"name"}


def test_statistics_notes_name_small_cohorts_repeated_animals_and_keypoint_sets() -> None:
    names = list(INDIVIDUAL_BEHAVIOURS)
    profiles = [
        compute_profile([names[c] for c in simulate_behaviour(900, seed=s).labels[:, 0]],
                        names, 30.0)
        for s in range(6)
    ]  # fmt: skip
    who = [_row(2, "m1", "a"), _row(3, "m1", "a"), _row(4, "m2", "a"),
           _row(5, "m3", "b"), _row(6, "m4", "b"), _row(7, "m4", "b")]  # fmt: skip
    comparisons = compare_groups(
        profiles, [r.group for r in who], units=[r.animal for r in who], n_resamples=99
    )
    sets = {("nose", "tail"): ["/d/s2.nc"], ("nose", "left_ear", "tail"): ["/d/s3.nc"]}
    notes = statistics_notes(who, comparisons, 0.05, sets)
    text = "\n".join(notes)
    assert "b vs a: 2 vs 2 animals" in text and "0.333 > alpha 0.05" in text
    assert "m1 (a): 2" in text and "m4 (b): 2" in text and "per-animal" in text
    assert "2 different keypoint sets" in text
    assert "3 keypoints (nose, left_ear, tail) in s3.nc" in text
    assert "2 keypoints (nose, tail) in s2.nc" in text
    # one keypoint set, one session per animal, enough animals: nothing to say
    alone = [_row(i, f"m{i}", "ab"[i // 4]) for i in range(8)]
    big = profiles + profiles[:2]
    tested = compare_groups(big, [r.group for r in alone], units=[r.animal for r in alone],
                            n_resamples=99)  # fmt: skip
    assert all(c.tested for c in tested)
    quiet = [
        n for n in statistics_notes(alone, tested, 0.05, {("nose",): ["/d/s0.nc"]})
        if "interval excludes 0" not in n
    ]  # fmt: skip
    assert quiet == []


def _word_vector(text: str) -> list[float]:
    """32 counts of the text's words, hashed into bins: similar descriptions lie close."""
    out = [0.0] * 32
    for word in text.lower().replace(";", " ").replace(":", " ").replace(",", " ").split():
        out[int(hashlib.sha256(word.encode()).hexdigest(), 16) % 32] += 1.0
    return out


def test_the_embed_step_asks_the_embed_role_traced_and_cached(tmp_path: Path) -> None:
    table = _tiny_cohort(tmp_path / "data")
    options = ProfileOptions(
        embedder="endpoint",
        n_resamples=99,
        segment=SegmentOptions(
            k=4, dec_pretrain_epochs=2, dec_cluster_iters=100, check_stability=False
        ),
    )
    inputs = ProfileInputs(sessions_csv=str(table), rows=read_sessions_csv(table), options=options)
    work = tmp_path / "runs"
    with EmbeddingsServer(_word_vector) as server, ModelCache(work / "cache.sqlite") as cache:
        embed_role = {"embed": {"base_url": server.base_url, "model": "emb-test"}}
        settings = load_settings(None, {"runs_dir": work, "models": embed_role})
        traces = []
        for run_id in ("e1", "e2"):
            rt = offline_runtime(work, GRAPH_NAME, run_id, inputs.model_dump(mode="json"))
            rt.settings, rt.cache = settings, cache
            state = asyncio.run(run_profile(rt, inputs))
            assert state["embedder"] == "endpoint:emb-test"
            traces.append([e for e in read_trace(rt.run.trace_path) if e.get("role") == "embed"])
    first, second = traces
    texts = state["n_texts"]
    # the first run asks the endpoint for every text, in the embed step's trace scope
    assert [(e["node"], e["cache_hit"], e["inputs"]["count"]) for e in first] == [
        ("embed", False, texts)
    ]
    # the second run over the same sessions answers every text from the answer cache
    assert [(e["cache_hit"], e["inputs"]["count"]) for e in second] == [(True, texts)]
    assert len(server.requests) == 1 and len(server.requests[0]["input"]) == texts


def test_segment_warnings_and_bodies_name_sessions_units_and_old_runs() -> None:
    roles = {"layout": "derived", "matched": {"head": ["Nose"]}, "derived": {}, "absent": []}
    segments: dict[str, dict[str, Any]] = {
        "s1": {
            "keypoints": "/d/demo1.csv",
            "unit": "px",
            "roles": roles,
            "warnings": ["w1"],
            "body_length": 304.2,
        },
        "s2": {"keypoints": "/d/demo4.csv", "unit": "px", "roles": roles, "warnings": []},
        "s3": {"keypoints": "/d/old.nc", "unit": "mm", "warnings": ["DEC did not converge"]},
    }
    warnings = segment_warnings(segments)
    assert warnings[:2] == ["demo1.csv: w1", "old.nc: DEC did not converge"]
    assert "2 different units" in warnings[2] and "mm (world coordinates): old.nc" in warnings[2]
    bodies = body_records(segments)
    assert [b["sessions"] for b in bodies] == [["demo1.csv", "demo4.csv"], ["old.nc"]]
    assert bodies[1]["roles"] is None  # a segment run from before roles were recorded
    assert bodies[0]["body_lengths"] == {"demo1.csv": 304.2} and not bodies[1]["body_lengths"]
