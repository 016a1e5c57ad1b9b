"""Composition root: settings -> store (migrated, seeded) -> services -> API -> HTTP server."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import signal
import threading
from collections.abc import Coroutine, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import uvicorn
from fastapi import FastAPI

from cygnet.common.clock import Clock, RealClock
from cygnet.common.logging import get_logger
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


@dataclass
class Manager:
    settings: ManagerSettings
    db: Database
    services: Services
    new_admin: AdminCredentials | None
    app: FastAPI = field(init=False)
    _flusher: asyncio.Task[None] | None = None

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

    async def start(self) -> None:
        self._flusher = asyncio.create_task(self._flush_loop(), name="usage-flusher")
        # Everything built so far (app, schema, services, imported modules) lives as long as
        # the process: move it out of the collector's way so that collections triggered by
        # request garbage do not rescan it.
        gc.collect()
        gc.freeze()

    async def stop(self) -> None:
        if self._flusher is not None:
            self._flusher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._flusher
            self._flusher = None
        await self.services.auth.flush_usage()
        await self.db.close()


async def create_manager(settings: ManagerSettings, clock: Clock | None = None) -> Manager:
    """Open and migrate the store, seed it on first start, and build services and the app."""
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
    services = build_services(db, settings, clock)
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
