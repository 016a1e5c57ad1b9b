"""Manager settings: ``CYGNET_*`` environment variables over an optional TOML file."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import make_url

from cygnet.common.config import CygnetSettings, default_data_dir

__all__ = ["ManagerSettings", "StorageProxySettings", "default_data_dir"]


class StorageProxySettings(BaseModel):
    """One storage proxy the manager uses (``[storage_proxies.<name>]``); its volumes are
    the vfolder hosts ``<name>:<volume>``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    manager_url: str = Field(description="URL of the proxy's manager-facing API")
    secret: str | None = Field(default=None, description="the proxy's shared secret")
    secret_file: Path | None = Field(default=None, description="file holding the secret")
    volumes: list[str] | None = Field(
        default=None, description="volumes served; discovered with GET /volumes when unset"
    )
    timeout: float = Field(default=30.0, gt=0, description="seconds per request to the proxy")

    def shared_secret(self) -> str:
        if self.secret:
            return self.secret
        if self.secret_file is not None:
            return self.secret_file.read_text().strip()
        raise ValueError("a storage proxy needs secret or secret_file")


class ManagerSettings(CygnetSettings):
    data_dir: Path = Field(default_factory=default_data_dir)
    db_url: str | None = Field(
        default=None, description="SQLAlchemy URL; SQLite under data_dir when unset"
    )
    host: str = "127.0.0.1"
    port: int = 8081
    debug: bool = False
    log_level: str = "INFO"
    admin_email: str = "admin@cygnet.local"
    clock_skew_seconds: float = Field(default=15 * 60, gt=0)
    rate_limit_window_seconds: int = Field(default=15 * 60, gt=0)
    credential_cache_seconds: float = Field(
        default=5.0, ge=0, description="how long a keypair lookup is reused before re-reading"
    )
    usage_flush_seconds: float = Field(default=5.0, gt=0)
    trusted_proxies: list[str] = Field(default_factory=list)
    agent_secret: str | None = Field(
        default=None,
        description="shared secret of manager<->agent RPC; generated into "
        "<data_dir>/agent-secret (mode 0600) when unset",
    )
    agent_heartbeat_interval: float = Field(default=5.0, gt=0)
    agent_heartbeat_timeout: float = Field(
        default=30.0, gt=0, description="an agent with no heartbeat for this long is LOST"
    )

    session_sweep_interval: float = Field(
        default=2.0, gt=0, description="seconds between reconcile passes over all sessions"
    )
    session_start_timeout: float = Field(
        default=600.0, gt=0, description="a session still starting after this long is cancelled"
    )
    agent_return_timeout: float = Field(
        default=600.0,
        gt=0,
        description=(
            "an agent that shut down and has not come back after this long is not coming "
            "back: its kernels end (reason agent-terminated)"
        ),
    )
    session_terminate_timeout: float = Field(
        default=120.0,
        gt=0,
        description="a kernel whose agent is gone is recorded terminated after this long",
    )

    storage_proxies: dict[str, StorageProxySettings] = Field(
        default_factory=dict,
        description="storage proxies by name; vfolder hosts are <name>:<volume>",
    )
    default_vfolder_host: str | None = Field(
        default=None, description="host of new folders when none is given (else the first)"
    )

    def database_url(self) -> str:
        if self.db_url:
            return self.db_url
        return f"sqlite+aiosqlite:///{self.data_dir / 'cygnet.db'}"

    def database_description(self) -> str:
        """Where the state lives, for people (no password)."""
        url = make_url(self.database_url())
        if url.get_backend_name() == "sqlite":
            return f"SQLite {url.database}"
        return f"{url.get_backend_name()} {url.host or 'localhost'}:{url.port or ''}/{url.database}"

    @property
    def endpoint(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"
