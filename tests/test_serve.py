"""``ethoagent serve``: the vLLM command lines, and start -> health -> endpoints -> stop with
a real OpenAI-compatible server (llama.cpp's) standing in for vLLM."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ethoagent.cli.app import app
from ethoagent.config import load_settings
from ethoagent.errors import ConfigError, EndpointError
from ethoagent.serve import (
    ServeSpec,
    launch,
    probe_server,
    redact,
    stop,
    vllm_command,
    vllm_version,
    wait_ready,
    write_endpoints,
)
from tests.servers import (
    LLAMA_MODEL_ALIAS,
    find_smollm2_gguf,
    free_port,
    missing_server_requirements,
)


def flag(cmd: list[str], name: str) -> str:
    return cmd[cmd.index(name) + 1]


def live_group_members(pgid: int, wait_s: float = 5.0) -> list[int]:
    """PIDs of the processes of group ``pgid`` that are still running (zombies waiting for
    their new parent to reap them do not count), after up to ``wait_s``."""
    deadline = time.monotonic() + wait_s
    while True:
        alive = []
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[2]) == pgid and fields[0] != "Z":
                alive.append(int(stat.parent.name))
        if not alive or time.monotonic() > deadline:
            return alive
        time.sleep(0.05)


def test_vlm_command_carries_every_flag() -> None:
    spec = ServeSpec(
        role="vlm",
        model="Qwen/Qwen2.5-VL-7B-Instruct",
        port=8000,
        max_model_len=16384,
        images_per_prompt=6,
        gpu_memory_utilization=0.45,
        tensor_parallel_size=2,
        data_parallel_size=2,
        served_model_name="vl",
    )
    cmd = vllm_command(spec)
    assert cmd[:3] == ["vllm", "serve", "Qwen/Qwen2.5-VL-7B-Instruct"]
    assert flag(cmd, "--port") == "8000" and flag(cmd, "--host") == "127.0.0.1"
    assert flag(cmd, "--served-model-name") == "vl"
    assert flag(cmd, "--max-model-len") == "16384"
    assert json.loads(flag(cmd, "--limit-mm-per-prompt")) == {"image": 6, "video": 0}
    assert "--enable-auto-tool-choice" in cmd and flag(cmd, "--tool-call-parser") == "hermes"
    assert json.loads(flag(cmd, "--structured-outputs-config")) == {"backend": "xgrammar"}
    assert flag(cmd, "--gpu-memory-utilization") == "0.45"
    assert flag(cmd, "--tensor-parallel-size") == "2" and flag(cmd, "--data-parallel-size") == "2"
    assert spec.base_url == "http://127.0.0.1:8000/v1"


def test_llm_command_variants(monkeypatch: pytest.MonkeyPatch) -> None:
    spec = ServeSpec(
        role="llm",
        model="Qwen/Qwen3-8B",
        port=8001,
        tool_call_parser=None,
        reasoning_parser="qwen3",
        structured_backend="guidance",
        host="0.0.0.0",
    )
    cmd = vllm_command(spec, executable=["/venv/bin/vllm"])
    assert cmd[0] == "/venv/bin/vllm"
    for absent in ("--limit-mm-per-prompt", "--enable-auto-tool-choice", "--tool-call-parser",
                   "--max-model-len", "--data-parallel-size", "--api-key"):  # fmt: skip
        assert absent not in cmd
    assert flag(cmd, "--reasoning-parser") == "qwen3"
    assert spec.base_url == "http://127.0.0.1:8001/v1"  # 0.0.0.0 listens; clients use loopback
    old = vllm_command(spec, version=(0, 9, 2))
    assert flag(old, "--guided-decoding-backend") == "guidance"
    assert "--structured-outputs-config" not in old

    keyed = spec.model_copy(update={"api_key_env": "ETHO_TEST_KEY"})
    monkeypatch.delenv("ETHO_TEST_KEY", raising=False)
    with pytest.raises(ConfigError, match="ETHO_TEST_KEY"):
        vllm_command(keyed)
    monkeypatch.setenv("ETHO_TEST_KEY", "s3cret")
    cmd = vllm_command(keyed)
    assert flag(cmd, "--api-key") == "s3cret" and "s3cret" not in redact(cmd)


def test_serve_dry_run_and_missing_vllm() -> None:
    runner = CliRunner()
    res = runner.invoke(app, ["serve", "--dry-run", "--roles", "vlm,llm", "--vlm-gpus", "0",
                              "--llm-gpus", "1", "--max-model-len", "8192"])  # fmt: skip
    assert res.exit_code == 0, res.output
    assert "CUDA_VISIBLE_DEVICES=0 " in res.output and "CUDA_VISIBLE_DEVICES=1 " in res.output
    assert res.output.count("--gpu-memory-utilization 0.9") == 2  # separate GPUs: 0.9 each
    shared = runner.invoke(app, ["serve", "--dry-run"])
    assert shared.output.count("--gpu-memory-utilization 0.45") == 2  # one GPU: split
    bad = runner.invoke(app, ["serve", "--roles", "embed"])
    assert "only vlm and llm" in str(bad.exception)
    if vllm_version() is None:
        res = runner.invoke(app, ["serve"])
        assert isinstance(res.exception, ConfigError)
        assert "pip install 'ethoagent[vllm]'" in str(res.exception)


def test_probe_and_wait_fail_clearly(tmp_path: Path) -> None:
    port = free_port()
    with pytest.raises(EndpointError, match="not reachable"):
        probe_server(f"http://127.0.0.1:{port}/v1", timeout_s=1)
    spec = ServeSpec(role="llm", model="m", port=port)
    crashing = launch(spec, [sys.executable, "-c", "print('boom: no GPU'); raise SystemExit(3)"],
                      tmp_path)  # fmt: skip
    with pytest.raises(EndpointError, match=r"(?s)exited with code 3.*boom: no GPU"):
        wait_ready(crashing, timeout_s=30, poll_s=0.05)
    # a server that never answers: timeout, then stop() ends it and the child it started
    script = (
        "import subprocess, sys, time; "
        "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)']); time.sleep(600)"
    )
    hanging = launch(spec, [sys.executable, "-c", script], tmp_path)
    with pytest.raises(EndpointError, match=r"not ready within 0\.5 s"):
        wait_ready(hanging, timeout_s=0.5, poll_s=0.05)
    assert stop(hanging, grace_s=5) == -signal.SIGTERM
    assert live_group_members(hanging.process.pid) == []


@pytest.mark.server
def test_launch_wait_write_stop_with_a_real_server(tmp_path: Path) -> None:
    reason = missing_server_requirements()
    if reason is not None:
        pytest.skip(f"local model server unavailable: {reason}")
    port = free_port()
    spec = ServeSpec(role="llm", model=str(find_smollm2_gguf()), port=port,
                     served_model_name=LLAMA_MODEL_ALIAS, tool_call_parser="hermes")  # fmt: skip
    command = [sys.executable, "-m", "llama_cpp.server", "--model", spec.model, "--model_alias",
               LLAMA_MODEL_ALIAS, "--host", "127.0.0.1", "--port", str(port), "--n_ctx", "512",
               "--n_threads", "1", "--verbose", "False"]  # fmt: skip
    server = launch(spec, command, tmp_path / "logs")
    try:
        served = wait_ready(server, timeout_s=120, poll_s=0.2)
        assert served == [LLAMA_MODEL_ALIAS]
        config = tmp_path / "ethoagent.toml"
        config.write_text('runs_dir = "my-runs"\n[budget]\nmax_retries = 1\n')
        write_endpoints(config, [spec])
        written = tomllib.loads(config.read_text())
        assert written["runs_dir"] == "my-runs" and written["budget"]["max_retries"] == 1
        settings = load_settings(config)
        assert settings.backend == "openai"
        llm = settings.models["llm"]
        assert llm.base_url == f"http://127.0.0.1:{port}/v1" and llm.model == LLAMA_MODEL_ALIAS
        assert llm.capabilities.tool_calls and not llm.capabilities.image_input
        assert settings.models["vlm"].base_url is None  # a role not served is left alone
    finally:
        code = stop(server, grace_s=20)
    assert code is not None
    assert live_group_members(server.process.pid) == []
    with pytest.raises(EndpointError):
        probe_server(spec.base_url, timeout_s=1)


def test_serve_starts_waits_writes_and_stops_on_ctrl_c(tmp_path: Path) -> None:
    """The whole command with a stand-in ``vllm`` (tests/fakes/fake_vllm.py) on PATH."""
    repo = Path(__file__).resolve().parents[1]
    bin_dir, site = tmp_path / "bin", tmp_path / "site"
    bin_dir.mkdir()
    (site / "vllm").mkdir(parents=True)
    (site / "vllm" / "__init__.py").write_text("")
    (site / "vllm-0.11.0.dist-info").mkdir()
    (site / "vllm-0.11.0.dist-info" / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: vllm\nVersion: 0.11.0\n"
    )
    fake = bin_dir / "vllm"
    fake.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{repo}/tests/fakes/fake_vllm.py" "$@"\n')
    fake.chmod(0o755)
    port = free_port()
    config = tmp_path / "ethoagent.toml"
    env = {
        **os.environ,
        "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
        "PYTHONPATH": f"{site}{os.pathsep}{repo}",
        "FAKE_VLLM_RECORD": str(tmp_path / "record"),
        "COLUMNS": "200",
    }
    cmd = [sys.executable, "-m", "ethoagent.cli.app", "serve", "--roles", "llm", "--llm-model",
           "fake/model", "--llm-port", str(port), "--max-model-len", "4096", "--config-out",
           str(config), "--log-dir", str(tmp_path / "logs"), "--timeout", "60"]  # fmt: skip
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            start_new_session=True)  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while not config.exists():
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "the endpoints were never written"
            time.sleep(0.05)
        record = json.loads((tmp_path / f"record.{port}.json").read_text())
        assert record["argv"][:2] == ["serve", "fake/model"]
        assert flag(record["argv"], "--max-model-len") == "4096"
        assert json.loads(flag(record["argv"], "--structured-outputs-config")) == {
            "backend": "xgrammar"
        }
        llm = load_settings(config).models["llm"]
        assert llm.base_url == f"http://127.0.0.1:{port}/v1" and llm.model == "fake/model"
        assert probe_server(llm.base_url) == ["fake/model"]
    finally:
        os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C at the terminal
        try:
            out, err = proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:  # never leave the command behind
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
            raise
    assert proc.returncode == 0, err
    assert "stopping the servers" in out.decode()
    assert live_group_members(record["pid"]) == []  # the server and its worker are gone
    with pytest.raises(EndpointError):
        probe_server(llm.base_url, timeout_s=1)
