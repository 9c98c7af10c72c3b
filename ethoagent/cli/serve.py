"""``ethoagent serve`` (vLLM servers for the vlm and llm roles) and ``ethoagent doctor``."""

from __future__ import annotations

import shlex
import signal
import time
from pathlib import Path
from typing import Annotated, cast

import typer
from rich import box
from rich.markup import escape
from rich.table import Table

from ethoagent.cli.base import ConfigOpt, RunsDirOpt, console, err_console
from ethoagent.errors import EthoagentError, InputError

RoleListOpt = Annotated[
    str, typer.Option("--roles", help="Roles to serve, comma-separated: vlm, llm.")
]


def serve_command(
    roles: RoleListOpt = "vlm,llm",
    vlm_model: Annotated[
        str | None, typer.Option("--vlm-model", help="Model of the vlm role.")
    ] = None,
    llm_model: Annotated[
        str | None, typer.Option("--llm-model", help="Model of the llm role.")
    ] = None,
    host: Annotated[
        str, typer.Option(help="Listen address (0.0.0.0: other machines too).")
    ] = "127.0.0.1",
    vlm_port: Annotated[int, typer.Option(help="Port of the vlm server.")] = 8000,
    llm_port: Annotated[int, typer.Option(help="Port of the llm server.")] = 8001,
    max_model_len: Annotated[
        int | None, typer.Option(min=256, help="Context length, tokens (default: the model's).")
    ] = None,
    images_per_prompt: Annotated[
        int, typer.Option(min=1, help="Most images in one vlm request (contact sheets, few-shot).")
    ] = 8,
    tool_call_parser: Annotated[
        str, typer.Option(help="vLLM tool-call parser of the models ('none': no tool calls).")
    ] = "hermes",
    reasoning_parser: Annotated[
        str | None, typer.Option(help="vLLM reasoning parser of the llm (e.g. qwen3).")
    ] = None,
    structured_backend: Annotated[
        str, typer.Option(help="Structured-output backend: xgrammar, guidance, outlines, auto.")
    ] = "xgrammar",
    gpu_memory_utilization: Annotated[
        float | None,
        typer.Option(
            min=0.05,
            max=1.0,
            help="GPU memory fraction per server (default: 0.9, "
            "split between the servers that share GPUs).",
        ),
    ] = None,
    tensor_parallel_size: Annotated[int, typer.Option(min=1, help="GPUs per replica.")] = 1,
    data_parallel_size: Annotated[int, typer.Option(min=1, help="Replicas per server.")] = 1,
    vlm_gpus: Annotated[
        str | None, typer.Option(help="CUDA_VISIBLE_DEVICES of the vlm server, e.g. 0.")
    ] = None,
    llm_gpus: Annotated[
        str | None, typer.Option(help="CUDA_VISIBLE_DEVICES of the llm server, e.g. 1.")
    ] = None,
    api_key_env: Annotated[
        str | None, typer.Option(help="Variable holding an API key the servers require.")
    ] = None,
    config_out: Annotated[
        Path, typer.Option("--config-out", help="Settings file to write the endpoints into.")
    ] = Path("ethoagent.toml"),
    log_dir: Annotated[Path, typer.Option(help="Server logs.")] = Path("runs/serve-logs"),
    timeout: Annotated[
        float, typer.Option(min=1, help="Seconds to wait for the models to load.")
    ] = 1800.0,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print the command lines; start nothing.")
    ] = False,
) -> None:
    """Start vLLM servers for the vlm and llm roles, wait until they serve, write their
    endpoints into the settings file; Ctrl-C stops them."""
    from ethoagent.serve import (
        DEFAULT_MODELS,
        ServedRole,
        ServeSpec,
        launch,
        redact,
        stop,
        vllm_command,
        vllm_executable,
        vllm_version,
        wait_ready,
        write_endpoints,
    )

    chosen = [r.strip() for r in roles.split(",") if r.strip()]
    bad = [r for r in chosen if r not in ("vlm", "llm")]
    if bad or not chosen:
        raise InputError(f"--roles {roles!r}: only vlm and llm are served.", fix="--roles vlm,llm")
    served: list[ServedRole] = [cast("ServedRole", r) for r in chosen]
    gpus = {"vlm": vlm_gpus, "llm": llm_gpus}
    shared = len(chosen) > 1 and (vlm_gpus is None or vlm_gpus == llm_gpus)
    fraction = gpu_memory_utilization or (0.9 / len(chosen) if shared else 0.9)
    specs = [
        ServeSpec(
            role=role,
            model=(vlm_model if role == "vlm" else llm_model) or DEFAULT_MODELS[role],
            host=host,
            port=vlm_port if role == "vlm" else llm_port,
            max_model_len=max_model_len,
            images_per_prompt=images_per_prompt if role == "vlm" else 0,
            tool_call_parser=None if tool_call_parser == "none" else tool_call_parser,
            reasoning_parser=reasoning_parser if role == "llm" else None,
            structured_backend=structured_backend,  # validated by ServeSpec
            gpu_memory_utilization=round(fraction, 3),
            tensor_parallel_size=tensor_parallel_size,
            data_parallel_size=data_parallel_size,
            gpus=gpus[role],
            api_key_env=api_key_env,
        )
        for role in served
    ]
    if dry_run:
        version = vllm_version()
        for spec in specs:
            env = f"CUDA_VISIBLE_DEVICES={spec.gpus} " if spec.gpus else ""
            cmd = redact(vllm_command(spec, version=version))
            console.print(
                f"# {spec.role}\n{env}{shlex.join(cmd)}",
                markup=False,
                highlight=False,
                soft_wrap=True,
            )
        return
    executable = vllm_executable()
    version = vllm_version()
    servers = []
    # SIGTERM (e.g. from a job scheduler) stops the servers like Ctrl-C does
    previous = signal.signal(signal.SIGTERM, _raise_interrupt)
    try:
        for spec in specs:
            cmd = vllm_command(spec, version=version, executable=executable)
            console.print(f"starting {spec.role}: {shlex.join(redact(cmd))}", markup=False)
            servers.append(launch(spec, cmd, log_dir))
        import os

        key = os.environ.get(api_key_env) if api_key_env else None
        with console.status("loading models (this takes minutes the first time) ..."):
            for server in servers:
                wait_ready(server, timeout_s=timeout, api_key=key)
        write_endpoints(config_out, specs)
        table = Table(box=box.SIMPLE_HEAD, title="ethoagent serve")
        for col in ("role", "model", "endpoint", "log"):
            table.add_column(col)
        for server in servers:
            table.add_row(
                server.spec.role, server.spec.name, server.spec.base_url, str(server.log_path)
            )
        console.print(table)
        console.print(f"endpoints written to [cyan]{config_out}[/]; Ctrl-C stops the servers")
        while all(s.process.poll() is None for s in servers):
            time.sleep(1.0)
        dead = [s for s in servers if s.process.poll() is not None]
        raise ServerExitedError(
            f"the {dead[0].spec.role} server exited with code {dead[0].process.returncode}; "
            f"log {dead[0].log_path}:\n{dead[0].log_tail(800)}"
        )
    except KeyboardInterrupt:
        console.print("stopping the servers ...")
    finally:
        for server in servers:
            stop(server)
        signal.signal(signal.SIGTERM, previous)


def _raise_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


class ServerExitedError(EthoagentError):
    """A model server ended while ``ethoagent serve`` was running."""


class DoctorFailedError(EthoagentError):
    """``ethoagent doctor`` found something a run needs missing."""


_MARK = {
    "ok": "[green]ok[/]",
    "warn": "[yellow]warn[/]",
    "fail": "[red]FAIL[/]",
    "info": "[dim]info[/]",
}


def doctor_command(
    config: ConfigOpt = None,
    runs_dir: RunsDirOpt = None,
    timeout: Annotated[
        float, typer.Option(min=0.5, help="Seconds per endpoint probe request.")
    ] = 60.0,
    no_probe: Annotated[
        bool, typer.Option("--no-probe", help="Do not send requests to the endpoints.")
    ] = False,
) -> None:
    """Check settings, model endpoints (reachable, model, structured output, images), disk,
    GPU and optional extras; exit 1 when something a run needs fails."""
    from ethoagent.doctor import run_doctor

    checks = run_doctor(config, runs_dir, probe=not no_probe, timeout_s=timeout)
    table = Table(box=box.SIMPLE_HEAD, title="ethoagent doctor", show_lines=False)
    table.add_column("area", style="bold", no_wrap=True)
    table.add_column("check", no_wrap=True)
    table.add_column("status", no_wrap=True)
    table.add_column("detail / fix", overflow="fold")
    for c in checks:
        detail = escape(c.detail)
        if c.fix and c.status != "ok":
            detail += f"\n[dim]fix:[/] {escape(c.fix)}"
        table.add_row(c.area, c.name, _MARK[c.status], detail)
    console.print(table)
    failed = [c for c in checks if c.status == "fail"]
    if failed:
        raise DoctorFailedError(
            f"{len(failed)} check(s) failed: "
            + ", ".join(f"{c.area} {c.name}" for c in failed)
            + "."
        )
    warned = sum(c.status == "warn" for c in checks)
    err_console.print(f"[green]ready[/] ({warned} warning(s))" if warned else "[green]ready[/]")


__all__ = ["doctor_command", "serve_command"]
