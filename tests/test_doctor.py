"""``ethoagent doctor`` against the local llama.cpp server, scripted servers and a closed
port; the disk, GPU and extras checks."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from ethoagent.cli.app import app
from ethoagent.cli.serve import DoctorFailedError
from ethoagent.doctor import check_disk, check_extras, parse_nvidia_smi, run_doctor
from tests.servers import (
    LLAMA_MODEL_ALIAS,
    ScriptedOpenAIServer,
    chat_completion,
    error_response,
    free_port,
    tool_call,
)

PROBE_JSON = '{"ok": true, "word": "ready"}'


def write_config(path: Path, roles: dict[str, dict[str, object]]) -> Path:
    lines = ['backend = "openai"', f'runs_dir = "{path.parent / "runs"}"']
    for role, cfg in roles.items():
        caps = cfg.pop("capabilities", {})
        lines.append(f"[models.{role}]")
        lines += [f"{k} = {_toml(v)}" for k, v in cfg.items()]
        lines.append(f"[models.{role}.capabilities]")
        lines += [f"{k} = {_toml(v)}" for k, v in caps.items()]  # type: ignore[attr-defined]
    path.write_text("\n".join(lines) + "\n")
    return path


def _toml(v: object) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    return f'"{v}"'


def by_key(checks: list) -> dict[tuple[str, str], object]:  # type: ignore[type-arg]
    return {(c.area, c.name): c for c in checks}


@pytest.mark.server
def test_doctor_passes_against_the_local_server(llama_server: str, tmp_path: Path) -> None:
    with ScriptedOpenAIServer(default=chat_completion("red"), model="scripted-vl") as vl:
        config = write_config(tmp_path / "ethoagent.toml", {
            "llm": {"base_url": llama_server, "model": LLAMA_MODEL_ALIAS,
                    "capabilities": {"structured_output": "json_object"}},
            "vlm": {"base_url": vl.base_url, "model": "scripted-vl",
                    "capabilities": {"image_input": True, "structured_output": "none"}},
        })  # fmt: skip
        res = CliRunner().invoke(app, ["doctor", "--config", str(config), "--timeout", "300"])
        image_requests = [r for r in vl.requests if "image_url" in str(r["messages"])]
    assert res.exception is None, res.output
    assert "ethoagent doctor" in res.output
    checks = by_key(run_doctor(config, probe=False))
    assert checks[("settings", "config")].status == "ok"  # type: ignore[attr-defined]
    assert len(image_requests) == 1  # the vlm's image probe sent one image
    out = " ".join(res.output.split())
    assert f"serves {LLAMA_MODEL_ALIAS}" in out
    assert "json_object: a schema-valid answer came back" in out
    assert "a request with one 16x16 image was answered" in out
    assert "called the offered tool (auto)" in out or "without calling the offered tool" in out
    assert "FAIL" not in res.output


def test_doctor_fails_on_a_closed_port(tmp_path: Path) -> None:
    dead = f"http://127.0.0.1:{free_port()}/v1"
    config = write_config(tmp_path / "c.toml", {
        "llm": {"base_url": dead, "model": "m"},
        "vlm": {"base_url": dead, "model": "m", "capabilities": {"image_input": True}},
    })  # fmt: skip
    res = CliRunner().invoke(app, ["doctor", "--config", str(config), "--timeout", "2"])
    assert isinstance(res.exception, DoctorFailedError)
    assert "endpoint vlm reachable" in str(res.exception)
    assert "endpoint llm reachable" in str(res.exception)
    checks = by_key(run_doctor(config, timeout_s=2))
    assert checks[("endpoint llm", "reachable")].status == "fail"  # type: ignore[attr-defined]
    assert dead in checks[("endpoint llm", "reachable")].detail  # type: ignore[attr-defined]


def test_doctor_names_what_a_server_cannot_do(tmp_path: Path) -> None:
    with ScriptedOpenAIServer(
        [chat_completion("this is not json"), error_response(400, "image input not supported")],
        model="served-model",
    ) as srv:
        config = write_config(tmp_path / "c.toml", {
            "vlm": {"base_url": srv.base_url, "model": "served-model",
                    "capabilities": {"image_input": True, "structured_output": "json_object"}},
            "llm": {"base_url": srv.base_url, "model": "other-model"},
        })  # fmt: skip
        checks = by_key(run_doctor(config, timeout_s=5))
    structured = checks[("endpoint vlm", "structured output")]
    image = checks[("endpoint vlm", "image input")]
    model = checks[("endpoint llm", "model")]
    assert structured.status == "fail" and "did not match the schema" in structured.detail  # type: ignore[attr-defined]
    assert image.status == "fail" and "image input not supported" in image.detail  # type: ignore[attr-defined]
    assert model.status == "fail" and "'other-model' is not served" in model.detail  # type: ignore[attr-defined]


@pytest.mark.server
def test_doctor_probes_declared_video_input(tmp_path: Path) -> None:
    with ScriptedOpenAIServer(
        [
            chat_completion(PROBE_JSON),
            chat_completion("red"),
            error_response(400, "video input not supported"),
        ],
        model="served-model",
    ) as srv:
        config = write_config(tmp_path / "c.toml", {
            "vlm": {"base_url": srv.base_url, "model": "served-model",
                    "capabilities": {"image_input": True, "video_input": True}},
        })  # fmt: skip
        checks = by_key(run_doctor(config, timeout_s=5))
    video = checks[("endpoint vlm", "video input")]
    assert video.status == "fail" and "video input not supported" in video.detail  # type: ignore[attr-defined]
    assert "video_input = false" in (video.fix or "")  # type: ignore[attr-defined]


def test_offline_backend_needs_no_endpoint(tmp_path: Path) -> None:
    config = tmp_path / "c.toml"
    config.write_text(f'runs_dir = "{tmp_path / "runs"}"\n')
    checks = by_key(run_doctor(config))
    assert checks[("endpoints", "backend")].status == "info"  # type: ignore[attr-defined]
    assert all(c.status != "fail" for c in checks.values())  # type: ignore[attr-defined]
    bad = tmp_path / "bad.toml"
    bad.write_text("backend = [\n")
    res = CliRunner().invoke(app, ["doctor", "--config", str(bad)])
    assert isinstance(res.exception, DoctorFailedError) and "settings config" in str(res.exception)


def test_machine_checks(tmp_path: Path) -> None:
    disk = check_disk(tmp_path / "not" / "yet" / "made")
    assert disk.status in ("ok", "warn") and "GB free" in disk.detail
    assert not (tmp_path / "not").exists()
    smi = "NVIDIA H200, 143771, 1024\nNVIDIA H200, 143771, 71885.5\n"
    assert parse_nvidia_smi(smi) == [
        "NVIDIA H200 (1.0 of 140.4 GiB used)",
        "NVIDIA H200 (70.2 of 140.4 GiB used)",
    ]
    assert parse_nvidia_smi("") == []
    extras = {c.name: c for c in check_extras()}
    assert set(extras) == {"vision", "server", "ray", "vllm", "bench"}
    for c in extras.values():
        assert c.status in ("ok", "info")
        if c.status == "info":
            assert c.fix == f"pip install 'ethoagent[{c.name}]'"


@pytest.mark.parametrize(
    ("reply", "status", "text"),
    [
        (chat_completion(None, tool_calls=[tool_call("report_probe", PROBE_JSON)]), "ok",
         "called the offered tool (required)"),
        (chat_completion("ready"), "warn", "without calling the offered tool"),
        (error_response(400, '"auto" tool choice requires --enable-auto-tool-choice'), "fail",
         "requires --enable-auto-tool-choice"),
    ],
)  # fmt: skip
def test_doctor_probes_the_supervisors_tool_calls(
    tmp_path: Path, reply: object, status: str, text: str
) -> None:
    structured = chat_completion(PROBE_JSON)
    with ScriptedOpenAIServer([structured, reply], model="m") as srv:  # type: ignore[list-item]
        config = write_config(
            tmp_path / "c.toml", {"llm": {"base_url": srv.base_url, "model": "m"}}
        )
        checks = by_key(run_doctor(config, timeout_s=5))
        sent = srv.requests[1]
    assert sent["tools"][0]["function"]["name"] == "report_probe"
    assert sent["tool_choice"] == "required"
    check = checks[("endpoint llm", "tool calls")]
    assert check.status == status and text in check.detail  # type: ignore[attr-defined]
    assert checks[("endpoint vlm", "configured")].status == "fail"  # type: ignore[attr-defined]
