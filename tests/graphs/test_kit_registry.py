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


def loaded_after(code: str) -> dict[str, list[str]]:
    """Run ``code`` in a fresh interpreter; return which pipeline packages and which of
    ``HEAVY`` it left in ``sys.modules``."""
    probe = textwrap.dedent(code) + textwrap.dedent(
        f"""
        import json, sys
        graphs = sorted({{m.split(".")[2] for m in sys.modules
                         if m.startswith("ethoagent.graphs.") and m.split(".")[2] != "kit"}})
        heavy = [h for h in {HEAVY!r} if h in sys.modules]
        print(json.dumps({{"graphs": graphs, "heavy": heavy}}))
        """
    )
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
    result: dict[str, list[str]] = json.loads(out.stdout.splitlines()[-1])
    return result


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


def test_listing_imports_no_pipeline_and_a_lookup_imports_only_its_own() -> None:
    listed = loaded_after(
        """
        from ethoagent.graphs.kit.registry import PIPELINES, pipeline_names
        assert "segment" in PIPELINES and len(pipeline_names()) == len(PIPELINES)
        """
    )
    assert listed == {"graphs": [], "heavy": []}
    demo = loaded_after(
        """
        from ethoagent.graphs.kit.registry import PIPELINES
        assert PIPELINES["demo"].name == "demo"
        """
    )
    assert demo["graphs"] == ["triangulate"]
    assert "sklearn" not in demo["heavy"] and "openai" not in demo["heavy"]


def test_a_batch_plan_loads_only_the_graphs_it_names(tmp_path: Path) -> None:
    batch = tmp_path / "b.toml"
    batch.write_text('graphs = ["demo"]\n[[sessions]]\nname = "a"\n')
    loaded = loaded_after(
        f"""
        from pathlib import Path
        from ethoagent.batch import load_batch
        assert load_batch(Path({str(batch)!r})).jobs[0].graph == "demo"
        """
    )
    assert loaded["graphs"] == ["triangulate"]
    assert "sklearn" not in loaded["heavy"]


def test_the_command_line_starts_without_heavy_libraries() -> None:
    # every spawned batch job imports the command line again (multiprocessing re-imports
    # the main module), so its start-up is paid once per job
    loaded = loaded_after("import ethoagent.cli.app")
    assert loaded["heavy"] == [], (
        f"`import ethoagent.cli.app` loads {loaded['heavy']}; import them inside the "
        "function that needs them (find who with python -X importtime -c 'import "
        "ethoagent.cli.app')."
    )
