"""A real storage proxy on 127.0.0.1 (both APIs over HTTP) with one ``local`` volume named
``vol``, and helpers that speak its two APIs as the manager and as a client do (for tests and
benchmarks)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx

from cygnet.storage.config import StorageSettings
from cygnet.storage.server import StorageProxy, create_storage

SECRET = "test-storage-secret"


@dataclass
class Storage:
    proxy: StorageProxy
    volume_path: Path
    manager: httpx.AsyncClient
    client: httpx.AsyncClient

    def folder_path(self, fid: str) -> Path:
        return self.proxy.volumes["vol"].mount_path(fid)

    async def new_folder(self, quota: int | None = None) -> str:
        fid = str(uuid.uuid4())
        r = await self.manager.post(
            "/volumes/vol/folders", json={"folder_id": fid, "quota_bytes": quota}
        )
        assert r.status_code == 201, r.text
        return fid

    def url(self, fid: str, suffix: str = "") -> str:
        return f"/volumes/vol/folders/{fid}{suffix}"

    async def token(self, fid: str, kind: str, **body: Any) -> httpx.Response:
        return await self.manager.post(self.url(fid, f"/{kind}-token"), json=body)

    @staticmethod
    def client_url(url: str, **query: str) -> str:
        """The client's way: the returned URL with its query replaced by ours."""
        parts = urlsplit(url)
        return urlunsplit(parts._replace(query=str(httpx.QueryParams(query))))

    async def upload(
        self, fid: str, path: str, data: bytes, chunk: int = 16 * 1024 * 1024
    ) -> httpx.Response:
        r = await self.token(fid, "upload", path=path, size=len(data))
        if r.status_code != 200:
            return r
        body = r.json()
        url = self.client_url(body["url"], token=body["token"])
        offset = 0
        last = r
        while offset < len(data):
            piece = data[offset : offset + chunk]
            last = await self.client.patch(
                url,
                content=piece,
                headers={
                    "Tus-Resumable": "1.0.0",
                    "Upload-Offset": str(offset),
                    "Content-Type": "application/offset+octet-stream",
                },
            )
            if last.status_code != 204:
                return last
            offset = int(last.headers["Upload-Offset"])
        return last

    async def download(self, fid: str, path: str, **headers: str) -> httpx.Response:
        r = await self.token(fid, "download", path=path)
        if r.status_code != 200:
            return r
        body = r.json()
        return await self.client.get(
            self.client_url(body["url"], token=body["token"]), headers=headers
        )


@asynccontextmanager
async def running_storage(volume_path: Path) -> AsyncIterator[Storage]:
    """Start a proxy with one ``local`` volume at ``volume_path``; stop it on exit."""
    settings = StorageSettings.load(
        host="127.0.0.1",
        manager_port=0,
        client_port=0,
        secret=SECRET,
        volumes={"vol": {"backend": "local", "path": str(volume_path)}},
    )
    proxy = create_storage(settings)
    await proxy.start()
    try:
        async with (
            httpx.AsyncClient(
                base_url=proxy.manager_url, headers={"X-Cygnet-Storage-Secret": SECRET}
            ) as manager,
            httpx.AsyncClient(timeout=60) as client,
        ):
            yield Storage(proxy, volume_path, manager, client)
    finally:
        await proxy.stop()
