"""The lazy pipeline registry: every name loads its pipeline, listing imports none, and
the command line and a batch job's process start without the heavy libraries."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from ethoagent.errors import InputError
from ethoagent.graphs.kit.registry import PIPELINES, REGISTERED, pipeline, pipeline_names
from ethoagent.graphs.kit.spec import Pipeline

ROOT = Path(__file__).resolve().parents[2]

HEAVY = ("sklearn", "torch", "scipy", "matplotlib", "pandas", "openai", "langgraph")
"""Libraries that cost a second or more of start-up between them: a command's or a job's
work may load them, start-up must not."""


def loaded_after(code: str) -> list[dict[str, list[str]]]:
    """Run ``code`` in a fresh interpreter; each ``snapshot()`` it calls records which
    pipeline packages and which of ``HEAVY`` are in ``sys.modules`` at that point."""
    probe = textwrap.dedent(
        f"""
        import json, sys
        def snapshot():
            graphs = sorted({{m.split(".")[2] for m in sys.modules
                             if m.startswith("ethoagent.graphs.") and m.split(".")[2] != "kit"}})
            heavy = [h for h in {HEAVY!r} if h in sys.modules]
            print(json.dumps({{"graphs": graphs, "heavy": heavy}}))
        """
    ) + textwrap.dedent(code)
    out = subprocess.run(
        [sys.executable, "-c", probe],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        timeout=120,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    return [json.loads(line) for line in out.stdout.splitlines() if line.startswith("{")]


def test_every_registered_name_loads_its_pipeline() -> None:
    assert pipeline_names() == tuple(r.name for r in REGISTERED) == tuple(PIPELINES)
    assert len(set(pipeline_names())) == len(REGISTERED) == len(PIPELINES)
    for entry in REGISTERED:
        spec = pipeline(entry.name)
        assert isinstance(spec, Pipeline) and spec.name == entry.name
        assert PIPELINES[entry.name] is spec and entry.name in PIPELINES
        assert entry.summary and "\n" not in entry.summary


def test_an_unknown_name_is_one_line_with_the_known_names() -> None:
    with pytest.raises(InputError) as err:
        pipeline("segmnet")
    assert "unknown graph 'segmnet'" in str(err.value)
    assert err.value.fix is not None and "segment" in err.value.fix and "demo" in err.value.fix
    assert "segmnet" not in PIPELINES
    with pytest.raises(KeyError):
        PIPELINES["segmnet"]


def test_listing_imports_no_pipeline_and_a_batch_plan_only_the_graphs_it_names(
    tmp_path: Path,
) -> None:
    batch = tmp_path / "b.toml"
    batch.write_text('graphs = ["demo"]\n[[sessions]]\nname = "a"\n')
    listed, planned, looked_up = loaded_after(
        f"""
        from pathlib import Path
        from ethoagent.batch import load_batch
        from ethoagent.graphs.kit.registry import PIPELINES, pipeline, pipeline_names
        assert "segment" in PIPELINES and len(pipeline_names()) == len(PIPELINES)
        snapshot()
        assert load_batch(Path({str(batch)!r})).jobs[0].graph == "demo"
        snapshot()
        assert pipeline("segment").name == "segment"
        snapshot()
        """
    )
    assert listed == {"graphs": [], "heavy": []}
    assert planned["graphs"] == ["triangulate"]
    assert "sklearn" not in planned["heavy"] and "openai" not in planned["heavy"]
    assert looked_up["graphs"] == ["segment", "triangulate"]


def test_the_command_line_starts_without_heavy_libraries() -> None:
    # every spawned batch job imports the command line again (multiprocessing re-imports
    # the main module), so its start-up is paid once per job
    (loaded,) = loaded_after("import ethoagent.cli.app\nsnapshot()")
    assert loaded["heavy"] == [], (
        f"`import ethoagent.cli.app` loads {loaded['heavy']}; import them inside the "
        "function that needs them (find who with python -X importtime -c 'import "
        "ethoagent.cli.app')."
    )
