"""An in-process storage proxy for ``cygnet up`` and the test fixtures: one ``local`` volume
under the data directory, served on free ports of the manager's host, and the manager settings
that point at it (proxy ``local``, volume ``volume1``: vfolder host ``local:volume1``).

The launcher is the one place that composes components: the manager and the storage proxy
never import each other, so they meet here (imported lazily)."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from cygnet.storage.server import StorageProxy

PROXY_NAME = "local"
VOLUME_NAME = "volume1"


@dataclass
class LocalStorage:
    proxy: StorageProxy
    secret: str
    volume_path: Path

    @property
    def host(self) -> str:
        return f"{PROXY_NAME}:{VOLUME_NAME}"

    def manager_settings(self) -> dict[str, Any]:
        """``ManagerSettings`` overrides that make the manager use this proxy."""
        return {
            "storage_proxies": {
                PROXY_NAME: {
                    "manager_url": self.proxy.manager_url,
                    "secret": self.secret,
                    "volumes": [VOLUME_NAME],
                }
            },
            "default_vfolder_host": self.host,
        }

    async def stop(self) -> None:
        await self.proxy.stop()


async def start_local_storage(data_dir: Path, host: str = "127.0.0.1") -> LocalStorage:
    """Start a storage proxy with one ``local`` volume at ``<data_dir>/vfroot/volume1``."""
    from cygnet.storage.config import StorageSettings
    from cygnet.storage.server import create_storage

    root = data_dir / "vfroot" / VOLUME_NAME
    root.mkdir(parents=True, exist_ok=True)
    secret = secrets.token_urlsafe(32)
    settings = StorageSettings(
        host=host,
        manager_port=0,
        client_port=0,
        secret=secret,
        volumes={VOLUME_NAME: {"backend": "local", "path": root}},
    )
    proxy = create_storage(settings)
    await proxy.start()
    return LocalStorage(proxy, secret, root)
