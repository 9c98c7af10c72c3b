"""Shared pieces of the reliability suite: the CLI as a user meets it, and the flaky server.

``cli`` runs ``ethoagent.cli.app.main`` in-process (the entry point that turns user errors into
one red line and an exit code), so a test sees exactly what a user's terminal shows without
paying for a new interpreter per case.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from ethoagent.cli import base as cli_base
from tests.reliability.flaky import FlakyServer


@dataclass
class CliResult:
    code: int
    stdout: str
    stderr: str


CliRunner = Callable[..., CliResult]


@pytest.fixture
def cli(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> CliRunner:
    """Run ``ethoagent ARGS...`` in-process; return its exit code and captured output."""
    from ethoagent.cli.app import main

    monkeypatch.setitem(cli_base.STATE, "debug", False)
    monkeypatch.setenv("COLUMNS", "200")
    monkeypatch.setenv("NO_COLOR", "1")

    def run(*args: str | Path) -> CliResult:
        capsys.readouterr()
        monkeypatch.setattr(sys, "argv", ["ethoagent", *map(str, args)])
        code = 0
        try:
            main()
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        out = capsys.readouterr()
        return CliResult(code, out.out, out.err)

    return run


def assert_one_line_error(result: CliResult, *needles: str, code: int | None = None) -> str:
    """The run failed with one red line (no traceback) that contains every needle."""
    assert result.code != 0, f"expected a failure, got exit 0:\n{result.stdout}"
    if code is not None:
        assert result.code == code, (result.code, result.stderr)
    lines = [ln for ln in result.stderr.strip().splitlines() if ln.strip()]
    assert len(lines) == 1, f"expected one error line, got:\n{result.stderr}"
    line = lines[0]
    assert line.startswith("error: "), line
    assert "Traceback" not in result.stderr and "internal error" not in line, line
    for needle in needles:
        assert needle in line, f"{needle!r} not in {line!r}"
    return line


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` (relative path -> bytes)."""
    if not folder.exists():
        return {}
    return {
        str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()
    }


@pytest.fixture
def flaky_server() -> Iterator[Callable[..., FlakyServer]]:
    """A factory of started ``FlakyServer``s (all stopped after the test)."""
    started: list[FlakyServer] = []

    def make(*args: object, **kwargs: object) -> FlakyServer:
        server = FlakyServer(*args, **kwargs).start()  # type: ignore[arg-type]
        started.append(server)
        return server

    yield make
    for server in started:
        server.stop()
