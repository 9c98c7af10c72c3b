"""Settings precedence: flags > environment > TOML file > defaults."""

from __future__ import annotations

from pathlib import Path

import pytest

from ethoagent.config import load_settings
from ethoagent.errors import ConfigError


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "ethoagent.toml"
    path.write_text(text)
    return path


def test_defaults_are_offline(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    s = load_settings()
    assert s.backend == "offline"
    assert set(s.models) == {"vlm", "llm", "embed"}
    assert s.role("vlm").capabilities.image_input


def test_precedence_flags_over_env_over_file(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    cfg = write(
        tmp_path,
        'backend = "openai"\nseed = 1\n[models.llm]\nbase_url = "http://file/v1"\n'
        'model = "file-model"\ntimeout_s = 5\n',
    )
    monkeypatch.setenv("ETHOAGENT_SEED", "2")
    monkeypatch.setenv("ETHOAGENT_MODELS__LLM__MODEL", "env-model")
    s = load_settings(cfg, {"seed": 3})
    assert s.backend == "openai"  # file only
    assert s.seed == 3  # flag beats env and file
    llm = s.role("llm")
    assert llm.model == "env-model"  # env beats file
    assert llm.base_url == "http://file/v1" and llm.timeout_s == 5  # file survives the merge
    assert s.role("vlm").base_url is None  # untouched roles keep defaults


def test_partial_role_keeps_role_defaults(tmp_path: Path) -> None:
    s = load_settings(write(tmp_path, '[models.vlm]\nbase_url = "http://v/v1"\n'))
    assert s.role("vlm").capabilities.image_input
    assert s.role("vlm").base_url == "http://v/v1"


def test_toml_snapshot_round_trips(tmp_path: Path) -> None:
    s = load_settings(None, {"backend": "openai", "models": {"llm": {"base_url": "http://x"}}})
    again = load_settings(write(tmp_path, s.to_toml()))
    assert again.model_dump() == s.model_dump()


def test_bad_values_are_one_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(tmp_path / "missing.toml")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_settings(write(tmp_path, "backend = "))
    with pytest.raises(ConfigError, match="backend"):
        load_settings(write(tmp_path, 'backend = "cloud"\n'))
    with pytest.raises(ConfigError, match="timeout_s"):
        load_settings(write(tmp_path, "[models.llm]\ntimeout_s = -1\n"))


def test_api_key_env_is_read_and_required(monkeypatch: pytest.MonkeyPatch) -> None:
    s = load_settings(None, {"models": {"llm": {"api_key_env": "MY_KEY"}}})
    monkeypatch.delenv("MY_KEY", raising=False)
    with pytest.raises(ConfigError, match="MY_KEY"):
        s.role("llm").api_key()
    monkeypatch.setenv("MY_KEY", "sekret")
    assert s.role("llm").api_key() == "sekret"
