"""Typed settings: each component declares a pydantic-settings class; values come from (highest
first) explicit arguments, ``CYGNET_*`` environment variables, a TOML file, then defaults."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar, Self

import platformdirs
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)


def default_data_dir() -> Path:
    """Where a local Cygnet keeps its data (``cygnet up``'s store and ``credentials.env``)."""
    return Path(platformdirs.user_data_dir("cygnet", appauthor=False))


class CygnetSettings(BaseSettings):
    """Base for component settings. ``load(path)`` reads a TOML file under the env overrides."""

    model_config = SettingsConfigDict(env_prefix="CYGNET_", extra="forbid", frozen=True)
    _toml_file: ClassVar[Path | None] = None

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        if cls._toml_file is not None:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=cls._toml_file))
        return tuple(sources)

    @classmethod
    def load(cls, toml_file: Path | None = None, **overrides: Any) -> Self:
        """Settings from ``toml_file`` (if given), the environment and ``overrides``."""
        if toml_file is not None and not toml_file.is_file():
            raise FileNotFoundError(f"config file not found: {toml_file}")
        bound: type[Self] = type(cls.__name__, (cls,), {"_toml_file": toml_file})
        return bound(**overrides)
