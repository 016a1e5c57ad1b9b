"""Run a real manager (uvicorn on 127.0.0.1, a free port) inside the current event loop."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from cygnet.common.clock import Clock
from cygnet.common.transport import InProcNetwork, listening_socket
from cygnet.manager.config import ManagerSettings
from cygnet.manager.server import Manager, create_manager, uvicorn_server
from cygnet.manager.services.bootstrap import AdminCredentials
from cygnet.testing.signing import SignedClient

if TYPE_CHECKING:
    from cygnet.launcher.local_storage import LocalStorage


@dataclass
class LocalManager:
    manager: Manager
    endpoint: str
    admin: AdminCredentials
    storage: LocalStorage | None = None  # the in-process storage proxy (run_manager(storage=True))
    _clients: list[SignedClient] = field(default_factory=list)

    def client(self, access_key: str | None = None, secret_key: str | None = None) -> SignedClient:
        """A signed client (the superadmin's keypair unless another one is given)."""
        c = SignedClient(
            self.endpoint,
            access_key or self.admin.access_key,
            secret_key or self.admin.secret_key,
        )
        self._clients.append(c)
        return c

    def env(self) -> dict[str, str]:
        """The variables ``credentials.env`` holds, for CLIs run as subprocesses."""
        return {
            "BACKEND_ENDPOINT": self.endpoint,
            "BACKEND_ACCESS_KEY": self.admin.access_key,
            "BACKEND_SECRET_KEY": self.admin.secret_key,
            "CYGNET_ENDPOINT": self.endpoint,
            "CYGNET_ACCESS_KEY": self.admin.access_key,
            "CYGNET_SECRET_KEY": self.admin.secret_key,
        }


@asynccontextmanager
async def run_manager(
    *,
    network: InProcNetwork | None = None,
    clock: Clock | None = None,
    storage: bool = False,
    **settings: Any,
) -> AsyncIterator[LocalManager]:
    """Start a manager on a free port of 127.0.0.1 with a fresh store; stop it on exit.

    ``settings`` go to ``ManagerSettings`` (give at least ``data_dir``, and ``db_url`` for
    PostgreSQL). The store must be empty: the superadmin's credentials come from the bootstrap.
    With ``network``, in-process agents reach it at ``inproc://manager``. With ``storage``, a
    storage proxy runs beside it (one ``local`` volume under ``data_dir``: vfolder host
    ``local:volume1``), as in ``cygnet up``.
    """
    if not storage:
        async with _run_manager(network, clock, None, settings) as local:
            yield local
        return
    from cygnet.launcher.local_storage import start_local_storage

    proxy = await start_local_storage(settings["data_dir"])
    try:
        async with _run_manager(
            network, clock, proxy, {**settings, **proxy.manager_settings()}
        ) as local:
            yield local
    finally:
        await proxy.stop()


@asynccontextmanager
async def _run_manager(
    network: InProcNetwork | None,
    clock: Clock | None,
    storage: LocalStorage | None,
    settings: dict[str, Any],
) -> AsyncIterator[LocalManager]:
    sock = listening_socket("127.0.0.1")
    port = sock.getsockname()[1]
    manager = await create_manager(
        ManagerSettings.load(host="127.0.0.1", port=port, **settings),
        clock,
        network=network,
    )
    if manager.new_admin is None:
        sock.close()
        await manager.db.close()
        raise RuntimeError("run_manager needs an empty store")
    server = uvicorn_server(manager)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.01)
    local = LocalManager(
        manager=manager,
        endpoint=f"http://127.0.0.1:{port}",
        admin=manager.new_admin,
        storage=storage,
    )
    try:
        yield local
    finally:
        for c in local._clients:
            await c.aclose()
        server.should_exit = True
        await task
        sock.close()
