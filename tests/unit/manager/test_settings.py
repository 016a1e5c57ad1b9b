"""Manager settings: defaults, TOML file, CYGNET_* environment, explicit overrides."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from cygnet.manager.config import ManagerSettings


def test_defaults_use_sqlite_under_the_data_dir(tmp_path: Path) -> None:
    settings = ManagerSettings.load(data_dir=tmp_path)
    assert settings.database_url() == f"sqlite+aiosqlite:///{tmp_path / 'cygnet.db'}"
    assert settings.endpoint == "http://127.0.0.1:8081"


def test_precedence_is_overrides_then_env_then_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "manager.toml"
    config.write_text('port = 9000\nhost = "0.0.0.0"\nlog_level = "DEBUG"\n')
    monkeypatch.setenv("CYGNET_PORT", "9100")
    settings = ManagerSettings.load(config)
    assert settings.port == 9100  # env beats the file
    assert settings.host == "0.0.0.0"  # the file beats the default
    assert ManagerSettings.load(config, port=9200).port == 9200  # explicit beats env


def test_db_url_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CYGNET_DB_URL", "postgresql+asyncpg://u@h/db")
    assert ManagerSettings.load().database_url() == "postgresql+asyncpg://u@h/db"


def test_unknown_keys_and_bad_values_are_refused(tmp_path: Path) -> None:
    config = tmp_path / "manager.toml"
    config.write_text("prot = 1\n")
    with pytest.raises(ValidationError):
        ManagerSettings.load(config)
    config.write_text('port = "eighty"\n')
    with pytest.raises(ValidationError):
        ManagerSettings.load(config)


def test_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="config file not found"):
        ManagerSettings.load(tmp_path / "nope.toml")


def test_ipv6_endpoint() -> None:
    assert ManagerSettings.load(host="::1", port=1).endpoint == "http://[::1]:1"
