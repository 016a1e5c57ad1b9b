"""Composition root: settings -> store (migrated, seeded) -> services -> API -> HTTP server."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
import secrets
import signal
import threading
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import uvicorn
from fastapi import FastAPI

from cygnet.common.clock import Clock, RealClock
from cygnet.common.logging import get_logger
from cygnet.common.transport import InProcNetwork
from cygnet.manager.agents.registry import MANAGER_REQUEST
from cygnet.manager.api.app import create_app
from cygnet.manager.config import ManagerSettings
from cygnet.manager.services.bootstrap import (
    CREDENTIALS_FILE,
    AdminCredentials,
    bootstrap,
    update_endpoint,
    write_credentials,
)
from cygnet.manager.services.container import Services, build_services
from cygnet.manager.store.db import Database

log = get_logger(__name__)

GC_THRESHOLDS = (20_000, 20, 20)
"""The collector's thresholds in a running manager (``gc.set_threshold``; the default is
``(700, 10, 10)``)."""


@dataclass
class Manager:
    settings: ManagerSettings
    db: Database
    services: Services
    new_admin: AdminCredentials | None
    app: FastAPI = field(init=False)
    _flusher: asyncio.Task[None] | None = None
    before_stop: list[Callable[[], Awaitable[None]]] = field(default_factory=list)

    @property
    def credentials_path(self) -> Path:
        return self.settings.data_dir / CREDENTIALS_FILE

    async def _flush_loop(self) -> None:
        while True:
            await asyncio.sleep(self.settings.usage_flush_seconds)
            try:
                await self.services.auth.flush_usage()
            except Exception:
                log.exception("could not record keypair usage")

    @property
    def agent_secret(self) -> str:
        return self.services.agents.settings.secret

    async def start(self) -> None:
        await self.services.agents.start()
        await self.services.sessions.controller.start()
        self._flusher = asyncio.create_task(self._flush_loop(), name="usage-flusher")
        # Everything built so far (app, schema, services, imported modules) lives as long as
        # the process: move it out of the collector's way so that collections triggered by
        # request garbage do not rescan it.
        gc.collect()
        gc.freeze()
        # A busy manager allocates fast and most of it dies young (rows, statements, events):
        # with the default thresholds the collector ran hundreds of times a second and moved
        # what was merely in flight into the old generations; collecting took 14% of a busy
        # scheduling run (benchmarks/scheduler_e2e.py), 5% with these.
        gc.set_threshold(*GC_THRESHOLDS)

    async def stop(self) -> None:
        for hook in self.before_stop:
            try:
                await hook()
            except Exception:
                log.exception("shutdown hook failed")
        if self._flusher is not None:
            self._flusher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._flusher
            self._flusher = None
        await self.services.bgtasks.stop()
        await self.services.sessions.controller.stop()
        await self.services.agents.stop()
        await self.services.auth.flush_usage()
        await self.services.storage.aclose()
        await self.db.close()


AGENT_SECRET_FILE = "agent-secret"
INPROC_NAME = "manager"  # in-process agents reach the manager at inproc://manager


def load_agent_secret(settings: ManagerSettings) -> str:
    """The configured agent RPC secret, else the one in ``<data_dir>/agent-secret`` (created
    with mode 0600 on first use)."""
    if settings.agent_secret:
        return settings.agent_secret
    path = settings.data_dir / AGENT_SECRET_FILE
    if path.is_file():
        return path.read_text().strip()
    secret = secrets.token_urlsafe(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(secret + "\n")
    return secret


async def create_manager(
    settings: ManagerSettings,
    clock: Clock | None = None,
    *,
    network: InProcNetwork | None = None,
) -> Manager:
    """Open and migrate the store, seed it on first start, and build services and the app.
    ``network`` lets agents in the same process reach it (and be reached) by ``inproc://``."""
    clock = clock or RealClock()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    db = Database(settings.database_url())
    await db.migrate()
    new_admin = await bootstrap(db, clock, settings.admin_email)
    credentials = settings.data_dir / CREDENTIALS_FILE
    if new_admin is not None:
        write_credentials(credentials, settings.endpoint, new_admin)
    else:
        update_endpoint(credentials, settings.endpoint)
    services = build_services(
        db, settings, clock, agent_secret=load_agent_secret(settings), network=network
    )
    if network is not None:
        network.bind(INPROC_NAME, MANAGER_REQUEST, services.agents.handle)
    manager = Manager(settings=settings, db=db, services=services, new_admin=new_admin)
    manager.app = create_app(services, on_startup=manager.start, on_shutdown=manager.stop)
    return manager


class _Server(uvicorn.Server):
    """uvicorn, except that after a graceful stop on SIGINT/SIGTERM ``serve()`` returns instead
    of re-raising the signal, so ``cygnet up`` ends with exit code 0 after Ctrl-C."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        handled = (signal.SIGINT, signal.SIGTERM)
        original = {sig: signal.signal(sig, self.handle_exit) for sig in handled}
        try:
            yield
        finally:
            for sig, handler in original.items():
                signal.signal(sig, handler)


def uvicorn_server(manager: Manager) -> uvicorn.Server:
    config = uvicorn.Config(
        manager.app,
        host=manager.settings.host,
        port=manager.settings.port,
        log_level="warning",
        access_log=False,
        server_header=False,
        lifespan="on",
    )
    return _Server(config)


async def serve(settings: ManagerSettings) -> None:
    """Run a manager until SIGINT/SIGTERM."""
    manager = await create_manager(settings)
    await uvicorn_server(manager).serve()


def run_event_loop(main: Coroutine[Any, Any, None]) -> None:
    """Run a server's main coroutine on uvloop where it is installed (it comes with
    ``uvicorn[standard]`` on Linux and macOS), else on the standard asyncio loop."""
    try:
        import uvloop
    except ImportError:
        asyncio.run(main)
    else:
        uvloop.run(main)
