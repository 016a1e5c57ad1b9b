"""Composition root of the storage proxy: settings -> volumes (by backend name) -> token
signer and upload table -> the manager-facing and client-facing ASGI apps -> two HTTP servers:
uvicorn for the manager-facing API, and ``api.httpd`` (sendfile / splice data path) for the
client-facing one.

In-process use (``cygnet up``, tests)::

    proxy = create_storage(settings)          # builds everything, touches nothing on disk
    await proxy.start()                       # checks the volumes, listens on both ports
    proxy.manager_url, proxy.client_url       # where it listens (port 0 picks free ones)
    ...
    await proxy.stop()

``start(listen=False)`` prepares the volumes without listening: the ASGI apps
(``proxy.manager_app``, ``proxy.client_app``) can then be driven directly.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator

import uvicorn
from fastapi import FastAPI

from cygnet.common.logging import get_logger
from cygnet.common.tasks import until_signalled
from cygnet.common.transport import listening_socket
from cygnet.storage.api.client import create_client_app
from cygnet.storage.api.httpd import HTTPServer
from cygnet.storage.api.manager import create_manager_app
from cygnet.storage.config import StorageSettings
from cygnet.storage.service import StorageService
from cygnet.storage.tokens import TokenSigner
from cygnet.storage.uploads import Uploads, sweep_staging
from cygnet.storage.volumes.base import Volume
from cygnet.storage.volumes.registry import create_volume

log = get_logger(__name__)
SWEEP_INTERVAL = 600.0


class _Server(uvicorn.Server):
    """uvicorn without its own signal handling: the proxy's owner decides when to stop."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def _url(host: str, port: int) -> str:
    shown = "127.0.0.1" if host in ("0.0.0.0", "") else "::1" if host == "::" else host
    return f"http://[{shown}]:{port}" if ":" in shown else f"http://{shown}:{port}"


class StorageProxy:
    def __init__(self, settings: StorageSettings, service: StorageService) -> None:
        self.settings = settings
        self.service = service
        self.manager_app: FastAPI = create_manager_app(service)
        self.client_app: FastAPI = create_client_app(service)
        self.manager_url = ""
        self.client_url = ""
        self._servers: list[tuple[uvicorn.Server, asyncio.Task[None]]] = []
        self._client_server: HTTPServer | None = None
        self._sweeper: asyncio.Task[None] | None = None
        self._started = False

    @property
    def volumes(self) -> dict[str, Volume]:
        return self.service.volumes

    async def start(self, *, listen: bool = True) -> None:
        for volume in self.volumes.values():
            await asyncio.to_thread(volume.init)
        self._started = True
        try:
            await self._sweep()
            if listen:
                self.manager_url = await self._listen(self.manager_app, self.settings.manager_port)
                self.client_url = await self._listen_client()
            self.service.client_url = self.settings.client_url or self.client_url
            self._sweeper = asyncio.create_task(self._sweep_loop(), name="storage-sweeper")
        except BaseException:
            await self.stop()
            raise

    async def _listen(self, app: FastAPI, port: int) -> str:
        sock = listening_socket(self.settings.host, port)
        config = uvicorn.Config(
            app,
            log_level="warning",
            access_log=False,
            server_header=False,
            lifespan="off",
            timeout_graceful_shutdown=2,
        )
        server = _Server(config)
        task = asyncio.create_task(server.serve(sockets=[sock]), name="storage-http")
        self._servers.append((server, task))
        while not server.started:
            if task.done():
                sock.close()
                task.result()
                raise OSError(f"could not serve on {self.settings.host}:{port}")
            await asyncio.sleep(0.01)
        return _url(self.settings.host, sock.getsockname()[1])

    async def _listen_client(self) -> str:
        sock = listening_socket(self.settings.host, self.settings.client_port)
        self._client_server = HTTPServer(
            self.client_app, send_buffer=self.settings.client_send_buffer
        )
        try:
            await self._client_server.start(sock)
        except BaseException:
            sock.close()
            raise
        return _url(self.settings.host, sock.getsockname()[1])

    async def _sweep(self) -> None:
        ttl = self.settings.upload_token_ttl
        for volume in self.volumes.values():
            removed = await asyncio.to_thread(sweep_staging, volume, ttl)
            if removed:
                log.info("volume %s: removed %d abandoned uploads", volume.name, removed)
        self.service.uploads.forget_finished(ttl)

    async def _sweep_loop(self) -> None:
        while True:
            await asyncio.sleep(SWEEP_INTERVAL)
            try:
                await self._sweep()
            except Exception:
                log.exception("sweeping abandoned uploads failed")

    async def stop(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sweeper
            self._sweeper = None
        if self._client_server is not None:
            await self._client_server.stop(grace=2)
            self._client_server = None
        for server, _task in self._servers:
            server.should_exit = True
        for _server, task in self._servers:
            with contextlib.suppress(Exception):
                await task
        self._servers.clear()
        if self._started:
            for volume in self.volumes.values():
                volume.shutdown()
            self._started = False


def create_storage(settings: StorageSettings, *, secret: str | None = None) -> StorageProxy:
    """A storage proxy for ``settings`` (``secret`` overrides the configured one)."""
    secret = secret or settings.shared_secret()
    if not settings.volumes:
        raise ValueError("no volumes configured: add a [volumes.<name>] table with a path")
    volumes = {name: create_volume(name, vs) for name, vs in settings.volumes.items()}
    service = StorageService(
        settings=settings,
        volumes=volumes,
        secret=secret,
        signer=TokenSigner(secret),
        uploads=Uploads(volumes, fsync=settings.fsync_uploads),
    )
    return StorageProxy(settings, service)


async def serve(settings: StorageSettings) -> None:
    """Run a storage proxy until SIGINT/SIGTERM (``cygnet storage serve``)."""
    proxy = create_storage(settings)
    await proxy.start()
    log.info("storage proxy: manager API %s, client API %s", proxy.manager_url, proxy.client_url)
    print(
        f"Cygnet storage proxy: manager API {proxy.manager_url}, client API "
        f"{proxy.service.client_url}, volumes {', '.join(proxy.volumes)}",
        flush=True,
    )
    try:
        await until_signalled()
    finally:
        await proxy.stop()
