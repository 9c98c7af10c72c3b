"""Serve the ``vlm`` and ``llm`` roles with vLLM's OpenAI-compatible server.

``vllm_command`` builds the ``vllm serve`` command line of one role (context length,
images per prompt, tool-call parser, structured-output backend, GPU memory fraction,
tensor / data parallel size); ``launch`` starts it in its own process group with its log in
a file; ``wait_ready`` polls ``GET /health`` and ``GET /v1/models`` until the model is
served (or the process dies, or time runs out); ``write_endpoints`` records the endpoints in
a settings TOML (other settings in the file are kept); ``stop`` ends a server by its process
group (SIGTERM, then SIGKILL after a grace period), which also ends vLLM's engine workers.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import importlib.util
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import tomllib
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from ethoagent.atomic import atomic_write_text
from ethoagent.config import _deep_merge, _dump_toml
from ethoagent.errors import ConfigError, EndpointError

ServedRole = Literal["vlm", "llm"]
StructuredBackend = Literal["auto", "xgrammar", "guidance", "outlines", "lm-format-enforcer"]

DEFAULT_MODELS: dict[ServedRole, str] = {
    "vlm": "Qwen/Qwen2.5-VL-7B-Instruct",
    "llm": "Qwen/Qwen3-8B",
}
DEFAULT_PORTS: dict[ServedRole, int] = {"vlm": 8000, "llm": 8001}
VLLM_INSTALL_FIX = (
    "install the vllm extra on a machine with a supported GPU: pip install 'ethoagent[vllm]' "
    "(or point ethoagent at any OpenAI-compatible server in ethoagent.toml)."
)


class ServeSpec(BaseModel):
    """How to serve one role.

    Attributes:
        role: ``vlm`` or ``llm``.
        model: Hugging Face id or local path of the model.
        host, port: where the server listens.
        served_model_name: the name clients ask for (default: ``model``).
        max_model_len: context length, tokens (default: the model's).
        images_per_prompt: most images in one request (``vlm``; 0 for a text model).
        tool_call_parser: vLLM's parser of the model's tool calls (``hermes`` for Qwen);
            ``None`` serves without tool calls (the supervisor then uses its policy).
        reasoning_parser: vLLM's reasoning parser (e.g. ``qwen3``), if any.
        structured_backend: vLLM's structured-output (guided decoding) backend.
        gpu_memory_utilization: fraction of each GPU's memory vLLM may take.
        tensor_parallel_size: GPUs one replica is split over.
        data_parallel_size: replicas.
        gpus: ``CUDA_VISIBLE_DEVICES`` for this server (e.g. ``"0,1"``), or ``None``.
        api_key_env: variable holding the key clients must send (``--api-key``), if any.
        extra_args: more ``vllm serve`` flags, verbatim.
    """

    model_config = ConfigDict(extra="forbid")

    role: ServedRole
    model: str
    host: str = "127.0.0.1"
    port: int = Field(ge=1, le=65535)
    served_model_name: str | None = None
    max_model_len: int | None = Field(None, ge=256)
    images_per_prompt: int = Field(0, ge=0)
    tool_call_parser: str | None = "hermes"
    reasoning_parser: str | None = None
    structured_backend: StructuredBackend = "xgrammar"
    gpu_memory_utilization: float = Field(0.9, gt=0, le=1)
    tensor_parallel_size: int = Field(1, ge=1)
    data_parallel_size: int = Field(1, ge=1)
    gpus: str | None = None
    api_key_env: str | None = None
    extra_args: list[str] = []

    @property
    def name(self) -> str:
        """The model name clients ask for: ``served_model_name`` or the model."""
        return self.served_model_name or self.model

    @property
    def base_url(self) -> str:
        """The OpenAI-compatible URL clients use (loopback when bound to every address)."""
        host = "127.0.0.1" if self.host in ("0.0.0.0", "::") else self.host
        return f"http://{host}:{self.port}/v1"


def vllm_version() -> tuple[int, ...] | None:
    """The installed vLLM's version as numbers, or ``None`` when it is not installed."""
    if importlib.util.find_spec("vllm") is None:
        return None
    try:
        raw = importlib.metadata.version("vllm")
    except importlib.metadata.PackageNotFoundError:
        return None
    parts = []
    for piece in raw.split("+")[0].split("."):
        digits = "".join(ch for ch in piece if ch.isdigit())
        if not digits:
            break
        parts.append(int(digits))
    return tuple(parts)


def vllm_executable() -> list[str]:
    """How to run ``vllm``: the script beside this interpreter, else ``vllm`` on PATH.

    Raises:
        ConfigError: vLLM is not installed.
    """
    if vllm_version() is None:
        raise ConfigError("vLLM is not installed, so `ethoagent serve` cannot start it.",
                          fix=VLLM_INSTALL_FIX)  # fmt: skip
    beside = Path(sys.executable).parent / "vllm"
    if beside.is_file():
        return [str(beside)]
    found = shutil.which("vllm")
    if found is None:
        raise ConfigError("the vllm package is installed but its `vllm` command is not on PATH.",
                          fix="activate the environment vLLM was installed into.")  # fmt: skip
    return [found]


def vllm_command(
    spec: ServeSpec,
    *,
    version: tuple[int, ...] | None = None,
    executable: Sequence[str] = ("vllm",),
) -> list[str]:
    """The ``vllm serve`` command line of one role.

    Args:
        spec: the role's settings.
        version: the vLLM version; before 0.10.2 the structured-output backend flag was
            ``--guided-decoding-backend`` (``None``: a current vLLM).
        executable: how to run ``vllm``.

    Returns:
        The argument list (no shell quoting needed).
    """
    cmd = [*executable, "serve", spec.model, "--host", spec.host, "--port", str(spec.port)]
    cmd += ["--served-model-name", spec.name]
    cmd += ["--gpu-memory-utilization", f"{spec.gpu_memory_utilization:g}"]
    cmd += ["--tensor-parallel-size", str(spec.tensor_parallel_size)]
    if spec.data_parallel_size > 1:
        cmd += ["--data-parallel-size", str(spec.data_parallel_size)]
    if spec.max_model_len is not None:
        cmd += ["--max-model-len", str(spec.max_model_len)]
    if spec.images_per_prompt > 0:
        limits = {"image": spec.images_per_prompt, "video": 0}
        cmd += ["--limit-mm-per-prompt", json.dumps(limits, separators=(",", ":"))]
    if spec.tool_call_parser:
        cmd += ["--enable-auto-tool-choice", "--tool-call-parser", spec.tool_call_parser]
    if spec.reasoning_parser:
        cmd += ["--reasoning-parser", spec.reasoning_parser]
    if version is not None and version < (0, 10, 2):
        cmd += ["--guided-decoding-backend", spec.structured_backend]
    else:
        backend = {"backend": spec.structured_backend}
        cmd += ["--structured-outputs-config", json.dumps(backend, separators=(",", ":"))]
    if spec.api_key_env:
        key = os.environ.get(spec.api_key_env)
        if not key:
            raise ConfigError(
                f"environment variable {spec.api_key_env} (the servers' api key) is not set.",
                fix=f"export {spec.api_key_env}=... or drop --api-key-env.",
            )
        cmd += ["--api-key", key]
    return cmd + list(spec.extra_args)


def redact(cmd: Sequence[str]) -> list[str]:
    """``cmd`` with the value of ``--api-key`` hidden, for printing."""
    out = list(cmd)
    for i, arg in enumerate(out[:-1]):
        if arg == "--api-key":
            out[i + 1] = "***"
    return out


# --------------------------------------------------------------------------- processes


@dataclass
class Launched:
    """A started server: its spec, process (leader of its own group) and log file."""

    spec: ServeSpec
    process: subprocess.Popen[bytes]
    log_path: Path

    def log_tail(self, n_chars: int = 2000) -> str:
        """The last ``n_chars`` characters of the server's log ("" when unreadable)."""
        try:
            return self.log_path.read_text(errors="replace")[-n_chars:]
        except OSError:
            return ""


def launch(spec: ServeSpec, command: Sequence[str], log_dir: Path) -> Launched:
    """Start ``command`` for ``spec`` in a new process group, output to ``log_dir``.

    Returns:
        The launched server (not yet ready; see ``wait_ready``).
    """
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / f"{spec.role}-{spec.port}.log"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    if spec.gpus is not None:
        env["CUDA_VISIBLE_DEVICES"] = spec.gpus
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            list(command),
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            start_new_session=True,  # its own group: stop() ends vLLM's workers too
        )
    return Launched(spec=spec, process=process, log_path=log_path)


def probe_server(base_url: str, timeout_s: float = 3.0, api_key: str | None = None) -> list[str]:
    """Check one OpenAI-compatible server: ``GET /health`` and ``GET /v1/models``.

    ``/health`` is checked where the server has it.

    Args:
        base_url: e.g. ``http://127.0.0.1:8000/v1``.
        timeout_s: seconds to wait for each request.
        api_key: sent as a bearer token when given.

    Returns:
        The served model ids.

    Raises:
        EndpointError: unreachable, unhealthy, or no model list.
    """
    root = base_url.rstrip("/").removesuffix("/v1")
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    status, _ = _get(f"{root}/health", timeout_s, headers)
    if status not in (200, 404):  # 404: servers without /health (llama.cpp's Python one)
        raise EndpointError(f"{root}/health answered HTTP {status}.")
    status, body = _get(f"{base_url.rstrip('/')}/models", timeout_s, headers)
    if status != 200:
        raise EndpointError(f"{base_url}/models answered HTTP {status}.")
    try:
        data = json.loads(body)["data"]
        return [str(m["id"]) for m in data]
    except (ValueError, KeyError, TypeError) as exc:
        raise EndpointError(f"{base_url}/models did not list models: {exc}.") from None


def _get(url: str, timeout_s: float, headers: dict[str, str]) -> tuple[int, bytes]:
    request = urllib.request.Request(url, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as resp:
            return int(resp.status), resp.read()
    except urllib.error.HTTPError as exc:
        return int(exc.code), exc.read()
    except (urllib.error.URLError, OSError, TimeoutError) as exc:
        reason = getattr(exc, "reason", exc)
        raise EndpointError(f"{url} is not reachable ({reason}).") from None


def wait_ready(
    server: Launched,
    timeout_s: float = 900.0,
    poll_s: float = 1.0,
    api_key: str | None = None,
) -> list[str]:
    """Wait until ``server`` serves its model.

    Returns:
        The served model ids.

    Raises:
        EndpointError: the process exited, or the model was not served within
            ``timeout_s`` (the message carries the log's tail).
    """
    deadline = time.monotonic() + timeout_s
    spec = server.spec
    last = "no answer yet"
    while True:
        code = server.process.poll()
        if code is not None:
            raise EndpointError(
                f"the {spec.role} server ({spec.model}) exited with code {code} during "
                f"startup; log {server.log_path}:\n{server.log_tail()}"
            )
        try:
            served = probe_server(spec.base_url, api_key=api_key)
            if spec.name in served:
                return served
            last = f"serves {served}, not yet {spec.name!r}"
        except EndpointError as exc:
            last = str(exc)
        if time.monotonic() > deadline:
            raise EndpointError(
                f"the {spec.role} server on port {spec.port} was not ready within "
                f"{timeout_s:g} s ({last}); log {server.log_path}:\n{server.log_tail()}",
                fix="large models take minutes to load: raise --timeout, or read the log.",
            )
        time.sleep(poll_s)


def stop(server: Launched, grace_s: float = 30.0) -> int | None:
    """Stop a server by its process group: SIGTERM, then SIGKILL after ``grace_s``.

    Returns:
        The server process's exit code.
    """
    proc = server.process
    pgid = proc.pid  # the leader of its own session/group (start_new_session)
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, signal.SIGTERM)
        try:
            proc.wait(timeout=grace_s)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pgid, signal.SIGKILL)
            proc.wait(timeout=grace_s)
    # workers the server left behind in its group
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGKILL)
    return proc.returncode


def write_endpoints(config_path: Path, servers: Sequence[ServeSpec]) -> Path:
    """Point the served roles of a settings TOML at ``servers``; keep its other settings.

    Sets ``backend = "openai"`` and, per role, ``base_url``, ``model``, ``api_key_env`` and
    the capabilities the server was started with (image input for a server taking images,
    tool calls where a parser is set, ``json_schema`` structured output).

    Returns:
        ``config_path``.

    Raises:
        ConfigError: the existing file is not valid TOML.
    """
    current: dict[str, Any] = {}
    if config_path.is_file():
        try:
            current = tomllib.loads(config_path.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"config file {config_path} is not valid TOML: {exc}.") from None
    models: dict[str, Any] = {}
    for spec in servers:
        role: dict[str, Any] = {
            "base_url": spec.base_url,
            "model": spec.name,
            "capabilities": {
                "image_input": spec.images_per_prompt > 0,
                "tool_calls": spec.tool_call_parser is not None,
                "structured_output": "json_schema",
            },
        }
        if spec.api_key_env:
            role["api_key_env"] = spec.api_key_env
        models[spec.role] = role
    merged = _deep_merge(current, {"backend": "openai", "models": models})
    from ethoagent.config import load_settings

    text = _dump_toml(merged)
    atomic_write_text(config_path, text)
    load_settings(config_path)  # what was written must load
    return config_path


__all__ = [
    "DEFAULT_MODELS",
    "DEFAULT_PORTS",
    "Launched",
    "ServeSpec",
    "launch",
    "probe_server",
    "redact",
    "stop",
    "vllm_command",
    "vllm_executable",
    "vllm_version",
    "wait_ready",
    "write_endpoints",
]
