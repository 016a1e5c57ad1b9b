"""The vfolder hosts the manager knows: ``<proxy>:<volume>`` for every volume of every
configured storage proxy (volumes listed in the settings, or discovered with ``GET /volumes``
the first time they are needed)."""

from __future__ import annotations

import uuid
from collections.abc import Mapping

from cygnet.common.errors import InvalidAPIParameters, StorageProxyError
from cygnet.common.logging import get_logger
from cygnet.manager.config import StorageProxySettings
from cygnet.manager.entities import StorageVolume
from cygnet.manager.storage.client import StorageProxyClient

log = get_logger(__name__)


def split_host(host: str) -> tuple[str, str]:
    proxy, sep, volume = host.partition(":")
    if not sep or not proxy or not volume:
        raise InvalidAPIParameters(f"Invalid vfolder host {host!r}: expected <proxy>:<volume>.")
    return proxy, volume


class StorageProxies:
    def __init__(
        self, proxies: Mapping[str, StorageProxySettings], default_host: str | None = None
    ) -> None:
        self._settings = dict(proxies)
        self.clients = {
            name: StorageProxyClient(name, ps.manager_url, ps.shared_secret(), timeout=ps.timeout)
            for name, ps in proxies.items()
        }
        self._volumes: dict[str, list[str]] = {
            name: list(ps.volumes) for name, ps in proxies.items() if ps.volumes is not None
        }
        self._default = default_host

    async def aclose(self) -> None:
        for client in self.clients.values():
            await client.aclose()

    async def _volumes_of(self, name: str) -> list[str]:
        if name not in self._volumes:
            try:
                found = await self.clients[name].volumes()
            except StorageProxyError as exc:
                log.warning("storage proxy %s: cannot list its volumes: %s", name, exc)
                return []
            self._volumes[name] = [v["name"] for v in found]
        return self._volumes[name]

    async def hosts(self) -> list[str]:
        hosts = []
        for name in self.clients:
            hosts += [f"{name}:{volume}" for volume in await self._volumes_of(name)]
        return hosts

    async def default_host(self) -> str | None:
        if self._default:
            return self._default
        hosts = await self.hosts()
        return hosts[0] if hosts else None

    async def resolve(self, host: str) -> tuple[StorageProxyClient, str]:
        """The proxy client and volume name of ``host`` (400 for an unknown host)."""
        proxy, volume = split_host(host)
        if proxy not in self.clients or volume not in await self._volumes_of(proxy):
            raise InvalidAPIParameters(f"Unknown vfolder host {host!r}.")
        return self.clients[proxy], volume

    def client_for(self, host: str) -> tuple[StorageProxyClient, str]:
        """As ``resolve`` for a host already recorded on a folder (no volume check)."""
        proxy, volume = split_host(host)
        client = self.clients.get(proxy)
        if client is None:
            raise StorageProxyError(f"The storage proxy {proxy!r} is not configured.")
        return client, volume

    async def volumes(self) -> list[StorageVolume]:
        """Every volume of every proxy that answers, with its capacity and usage."""
        return (await self.survey())[0]

    async def survey(self) -> tuple[list[StorageVolume], dict[str, str]]:
        """Every volume of every proxy that answers, and why the others did not (by proxy)."""
        found = []
        failed: dict[str, str] = {}
        for name, client in self.clients.items():
            try:
                volumes = await client.volumes()
            except StorageProxyError as exc:
                log.warning("storage proxy %s: cannot list its volumes: %s", name, exc)
                failed[name] = exc.msg or exc.title
                continue
            self._volumes.setdefault(name, [v["name"] for v in volumes])
            for v in volumes:
                found.append(
                    StorageVolume(
                        host=f"{name}:{v['name']}",
                        proxy=name,
                        name=v["name"],
                        backend=str(v.get("backend", "")),
                        path=str(v.get("path", "")),
                        capabilities=list(v.get("capabilities", [])),
                        capacity_bytes=v.get("capacity_bytes"),
                        used_bytes=v.get("used_bytes"),
                    )
                )
        return found, failed

    async def delete_folder(self, host: str, folder_id: uuid.UUID) -> None:
        client, volume = self.client_for(host)
        await client.delete_folder(volume, folder_id)
