"""Fixtures of the chat tests: a small simulated session and a chat in a pseudo-terminal."""

from __future__ import annotations

import io
import os
import re
import shutil
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

pexpect = pytest.importorskip("pexpect", reason="pexpect (dev extra) drives the chat in a pty")

REPO = Path(__file__).resolve().parents[2]
PROMPT = "you> "
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07|\r")


def plain(text: str) -> str:
    """Terminal output without colour and cursor codes."""
    return ANSI.sub("", text)


def printed(child: Any) -> str:
    """All a spawned chat printed so far, without terminal codes."""
    return plain(child.logfile_read.getvalue())


@pytest.fixture(scope="session")
def sim_session(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 300-frame, 2-mouse, 2-view simulated session (10 s at 30 fps)."""
    from ethoagent.sim.simulate import simulate_session

    out = tmp_path_factory.mktemp("chat-sim") / "sim"
    simulate_session(out, preset="easy", frames=300, animals=2, views=2, seed=3)
    return out


@pytest.fixture
def workspace(tmp_path: Path, sim_session: Path) -> Path:
    ws = tmp_path / "ws"
    ws.mkdir()
    shutil.copytree(sim_session, ws / "sim")
    return ws


Spawn = Callable[..., "pexpect.spawn[str]"]


@pytest.fixture
def spawn_chat() -> Iterator[Spawn]:
    """Start ``ethoagent chat`` in a pseudo-terminal; every child is closed afterwards."""
    children: list[pexpect.spawn[str]] = []

    def spawn(workspace: Path, *args: str, env: dict[str, str] | None = None) -> Any:
        full_env = {k: v for k, v in os.environ.items() if not k.startswith("ETHOAGENT_")}
        full_env.update(
            PYTHONPATH=str(REPO),
            OMP_NUM_THREADS="1",
            NO_COLOR="1",
            TERM="xterm-256color",
            COLUMNS="400",
        )
        full_env.update(env or {})
        child = pexpect.spawn(
            sys.executable,
            ["-m", "ethoagent.cli.app", "chat", "--workspace", str(workspace), *args],
            cwd=str(workspace),
            env=full_env,
            encoding="utf-8",
            timeout=60,
            dimensions=(50, 400),
        )
        child.logfile_read = io.StringIO()  # everything printed, for assertions
        children.append(child)
        return child

    yield spawn
    for child in children:
        if child.isalive():
            child.terminate(force=True)


@pytest.fixture(scope="module")
def llama_server_8k() -> Iterator[str]:
    """The local llama.cpp server with an 8,192-token context: the chat's tool schemas and
    system prompt alone take about 2,800 tokens, more than the shared fixture's 2,048."""
    from tests.conftest import REQUIRE_SERVER_ENV
    from tests.servers import missing_server_requirements, start_llama_server

    reason = missing_server_requirements()
    if reason is not None:
        if os.environ.get(REQUIRE_SERVER_ENV) == "1":
            pytest.fail(f"{REQUIRE_SERVER_ENV}=1 but {reason}", pytrace=False)
        pytest.skip(f"local model server unavailable: {reason}")
    server = start_llama_server(n_ctx=8192)
    try:
        yield server.base_url
    finally:
        server.stop()
