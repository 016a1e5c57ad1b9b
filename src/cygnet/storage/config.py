"""Storage proxy settings: ``CYGNET_STORAGE_*`` environment variables over an optional TOML file.

Example ``storage.toml``::

    host = "0.0.0.0"
    manager_port = 6021                 # manager-facing API (shared secret)
    client_port = 6022                  # client-facing API (uploads/downloads, signed tokens)
    client_url = "https://storage.example.com:6022"   # what clients are told to use
    secret_file = "/etc/cygnet/storage-secret"        # or: secret = "..."
    token_ttl = 3600                    # download/archive tokens, seconds
    upload_token_ttl = 86400            # upload tokens (an upload resumes within this time)

    [volumes.local]
    backend = "local"
    path = "/srv/vfroot/local"

    [volumes.fast]
    backend = "xfs"                     # XFS project quotas; refused on other file systems
    path = "/mnt/xfs"

Every key of a volume other than ``backend`` and ``path`` is an option of its backend.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from pydantic_settings import SettingsConfigDict

from cygnet.common.config import CygnetSettings


class VolumeSettings(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)

    backend: str = Field(default="local", description="volume backend (entry point name)")
    path: Path = Field(description="the volume's root directory on this host")

    @property
    def options(self) -> dict[str, Any]:
        return dict(self.model_extra or {})


class StorageSettings(CygnetSettings):
    model_config = SettingsConfigDict(
        env_prefix="CYGNET_STORAGE_", env_nested_delimiter="__", extra="forbid", frozen=True
    )

    host: str = "127.0.0.1"
    manager_port: int = Field(default=6021, ge=0, le=65535)
    client_port: int = Field(default=6022, ge=0, le=65535)
    client_url: str | None = Field(
        default=None,
        description="public URL of the client-facing API (default http://host:client_port)",
    )
    secret: str | None = Field(default=None, description="shared secret with the manager")
    secret_file: Path | None = Field(default=None, description="file holding the secret")
    token_ttl: float = Field(default=3600.0, gt=0)
    upload_token_ttl: float = Field(default=86400.0, gt=0)
    fsync_uploads: bool = Field(
        default=False, description="fsync each uploaded file once, when it completes"
    )
    client_send_buffer: int = Field(
        default=8 * 1024 * 1024,
        ge=0,
        description=(
            "socket send buffer of client connections in bytes (the kernel caps it at "
            "net.core.wmem_max); 0 leaves it to the kernel's autotuning"
        ),
    )
    log_level: str = "INFO"
    volumes: dict[str, VolumeSettings] = Field(default_factory=dict)

    def shared_secret(self) -> str:
        """The secret, from ``secret`` or ``secret_file``; ``ValueError`` when neither."""
        if self.secret:
            return self.secret
        if self.secret_file is not None:
            text = self.secret_file.read_text().strip()
            if text:
                return text
            raise ValueError(f"the secret file {self.secret_file} is empty")
        raise ValueError(
            "no shared secret: set secret or secret_file (CYGNET_STORAGE_SECRET) to the "
            "value the manager uses"
        )
