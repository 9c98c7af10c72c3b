"""Settings: model endpoints per role, thresholds and paths.

Sources, highest precedence first: CLI flags (passed as ``overrides``), environment
variables ``ETHOAGENT_*`` (nested with ``__``, e.g. ``ETHOAGENT_MODELS__VLM__BASE_URL``), a
TOML file (``--config FILE``, else ``./ethoagent.toml`` if present), then defaults.

Example ``ethoagent.toml``::

    backend = "openai"
    [models.vlm]
    base_url = "http://127.0.0.1:8000/v1"
    model = "Qwen/Qwen2.5-VL-7B-Instruct"
    api_key_env = "VLLM_API_KEY"
    [models.vlm.capabilities]
    image_input = true
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, ValidationError, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from ethoagent.agent.types import Backend, Role
from ethoagent.errors import ConfigError

DEFAULT_CONFIG_FILE = Path("ethoagent.toml")
StructuredStyle = Literal["json_schema", "json_object", "none"]


class Capabilities(BaseModel):
    """What a served model can do.

    ``structured_output``: ``json_schema`` (vLLM, OpenAI), ``json_object`` (llama.cpp server,
    which answers HTTP 500 to ``json_schema``; the schema travels inside ``response_format``)
    or ``none`` (schema in the prompt only). ``video_input``: the server takes short clips
    as ``video_url`` parts of JPEG frames (vLLM serving Qwen2.5-VL or Qwen3-VL); without
    it, snippets go as contact sheets of stills.
    """

    structured_output: StructuredStyle = "json_schema"
    tool_calls: bool = True
    image_input: bool = False
    video_input: bool = False


class RoleConfig(BaseModel):
    """One model role's endpoint."""

    base_url: str | None = None
    model: str = ""
    api_key_env: str | None = None
    timeout_s: float = Field(default=120.0, gt=0)
    max_retries: int = Field(default=3, ge=0)
    max_concurrency: int = Field(default=8, ge=1)
    capabilities: Capabilities = Field(default_factory=Capabilities)

    def api_key(self) -> str:
        """The API key from ``api_key_env``, or a placeholder for servers that need none."""
        if self.api_key_env:
            value = os.environ.get(self.api_key_env)
            if not value:
                raise ConfigError(
                    f"environment variable {self.api_key_env} (api key) is not set.",
                    fix=f"export {self.api_key_env}=... or remove api_key_env from the config.",
                )
            return value
        return "not-needed"


def _default_models() -> dict[Role, RoleConfig]:
    return {
        "vlm": RoleConfig(capabilities=Capabilities(image_input=True)),
        "llm": RoleConfig(),
        "embed": RoleConfig(capabilities=Capabilities(structured_output="none", tool_calls=False)),
    }


class Budget(BaseModel):
    """Per-item limits of the propose -> check -> route loop; no model answer can exceed them.

    Attributes:
        max_retries: retries of the stage's own proposal (with the failure fed back).
        max_attempts: proposals in all (first + retries + escalations) before a flag.
        max_model_calls: model calls in all (proposals and supervisor) for one item.
    """

    max_retries: int = Field(default=2, ge=0)
    max_attempts: int = Field(default=5, ge=1)
    max_model_calls: int = Field(default=8, ge=0)


class Settings(BaseSettings):
    """All of ethoagent's settings."""

    model_config = SettingsConfigDict(
        env_prefix="ETHOAGENT_",
        env_nested_delimiter="__",
        extra="forbid",
    )

    backend: Backend = "offline"
    models: dict[Role, RoleConfig] = Field(default_factory=_default_models)
    runs_dir: Path = Path("runs")
    cache_path: Path | None = None
    cache_enabled: bool = True
    budget: Budget = Field(default_factory=Budget)
    seed: int = 0

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        toml_file = _TOML_FILE.get("path")
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        if toml_file is not None:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=toml_file))
        return tuple(sources)

    @field_validator("models", mode="before")
    @classmethod
    def _fill_role_defaults(cls, value: Any) -> Any:
        """Merge what a source gives for a role over that role's defaults (e.g. a ``vlm``
        section that sets only ``base_url`` keeps ``image_input = true``)."""
        if not isinstance(value, dict):
            return value
        merged: dict[str, Any] = {r: c for r, c in _default_models().items() if r not in value}
        for role, cfg in value.items():
            default = _default_models().get(role)
            if default is not None and isinstance(cfg, dict):
                merged[role] = _deep_merge(default.model_dump(), cfg)
            else:
                merged[role] = cfg
        return merged

    def role(self, role: Role) -> RoleConfig:
        return self.models[role]

    def resolved_cache_path(self) -> Path:
        return self.cache_path or self.runs_dir / "model_cache.sqlite"

    def to_toml(self) -> str:
        """The settings as TOML (for the run's ``config.toml`` snapshot)."""
        return _dump_toml(self.model_dump(mode="json", exclude_none=True))


_TOML_FILE: dict[str, Path | None] = {}


def load_settings(
    config_file: Path | None = None, overrides: dict[str, Any] | None = None
) -> Settings:
    """Load settings from file, environment and overrides (highest precedence).

    Args:
        config_file: TOML file; ``None`` uses ``./ethoagent.toml`` if it exists.
        overrides: values from CLI flags, nested dicts allowed
            (``{"models": {"llm": {"base_url": ...}}}``).

    Raises:
        ConfigError: the file is missing or unreadable, or a value is invalid.
    """
    path = config_file
    if path is None and DEFAULT_CONFIG_FILE.is_file():
        path = DEFAULT_CONFIG_FILE
    if path is not None:
        if not path.is_file():
            raise ConfigError(f"config file {path} does not exist.", fix="check the --config path.")
        try:
            with path.open("rb") as fh:
                tomllib.load(fh)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"config file {path} is not valid TOML: {exc}.") from exc
    _TOML_FILE["path"] = path
    try:
        settings = Settings(**_drop_none(overrides or {}))
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ConfigError(
            f"invalid setting {where!r} ({path or 'environment/flags'}): {first['msg']}."
        ) from exc
    finally:
        _TOML_FILE.pop("path", None)
    return settings


def _deep_merge(base: dict[str, Any], top: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in top.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def _drop_none(overrides: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in overrides.items() if v is not None}


def _dump_toml(data: dict[str, Any], prefix: str = "") -> str:
    scalars: list[str] = []
    tables: list[str] = []
    for key, value in data.items():
        if isinstance(value, dict):
            name = f"{prefix}.{key}" if prefix else key
            body = _dump_toml(value, name)
            tables.append(f"[{name}]\n{body}" if body.strip() else f"[{name}]\n")
        else:
            scalars.append(f"{key} = {_toml_value(value)}")
    out = "\n".join(scalars)
    if scalars:
        out += "\n"
    if tables:
        out += ("\n" if scalars else "") + "\n".join(tables)
    return out


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    text = str(value).replace("\\", "\\\\").replace('"', '\\"')
    return f'"{text}"'
