"""The state store's engine: SQLite (aiosqlite, WAL) embedded, PostgreSQL (asyncpg) in production.

``Database.transaction()`` is the one way services open a unit of work; ``migrate()`` brings the
schema to the newest Alembic revision at start-up (serialised by an advisory lock on PostgreSQL,
so several managers can start at once).
"""

from __future__ import annotations

import asyncio
import fcntl
import os
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import event, make_url, text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
_MIGRATION_LOCK_ID = 0x6379676E6574  # "cygnet"
_WRITE_OPTION = "cygnet_write"


def sqlite_url(path: Path) -> str:
    return f"sqlite+aiosqlite:///{path}"


def _sqlite_connect(dbapi_conn: Any, _record: Any) -> None:
    cursor = dbapi_conn.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()
    # Let SQLAlchemy, not the driver, decide when transactions begin, so that SAVEPOINTs nest
    # inside a real transaction and a rollback undoes everything (the pysqlite driver would
    # otherwise defer BEGIN and let RELEASE SAVEPOINT commit).
    dbapi_conn.isolation_level = None


def _sqlite_begin(conn: Connection) -> None:
    # Writers take the write lock up front (waiting on busy_timeout) instead of failing with
    # SQLITE_BUSY when a deferred transaction tries to upgrade; readers do not block writers.
    mode = "IMMEDIATE" if conn.get_execution_options().get(_WRITE_OPTION) else "DEFERRED"
    conn.exec_driver_sql(f"BEGIN {mode}")


# A pooled PostgreSQL connection idle longer than this is pinged before use (a server restart
# or an idle timeout may have closed it; the pool then opens a new one). ``pool_pre_ping``
# would ping before every transaction: three round trips (BEGIN, a query, ROLLBACK) for each.
IDLE_PING_AFTER = 10.0


def _note_checkin(_dbapi_conn: Any, record: Any) -> None:
    record.info["checked_in"] = time.monotonic()


def _ping_if_idle(dbapi_conn: Any, record: Any, _proxy: Any) -> None:
    since = record.info.get("checked_in")
    if since is None or time.monotonic() - since < IDLE_PING_AFTER:
        return
    try:
        dbapi_conn.ping()
    except Exception as exc:  # the pool drops this connection and tries another
        raise DisconnectionError(f"stale pooled connection: {exc}") from exc


class Database:
    def __init__(self, url: str, *, echo: bool = False) -> None:
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        kwargs: dict[str, Any] = {"echo": echo}
        if not self.is_sqlite:
            kwargs.update(pool_size=10, max_overflow=20)
        self.engine: AsyncEngine = create_async_engine(url, **kwargs)
        if self.is_sqlite:
            event.listen(self.engine.sync_engine, "connect", _sqlite_connect)
            event.listen(self.engine.sync_engine, "begin", _sqlite_begin)
        else:
            event.listen(self.engine.sync_engine, "checkin", _note_checkin)
            event.listen(self.engine.sync_engine, "checkout", _ping_if_idle)
        writer = self.engine.execution_options(**{_WRITE_OPTION: True})
        self._sessions = async_sessionmaker(self.engine, expire_on_commit=False)
        self._write_sessions = async_sessionmaker(writer, expire_on_commit=False)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """A session inside one transaction: committed on success, rolled back on error."""
        async with self._write_sessions() as session, session.begin():
            yield session

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncSession]:
        """A session for reads only (nothing is committed)."""
        async with self._sessions() as session:
            yield session

    async def migrate(self) -> None:
        """Bring the schema to head; managers starting together take turns (an advisory lock
        on PostgreSQL, a file lock beside the SQLite database)."""
        if self.is_sqlite:
            async with _sqlite_migration_lock(self.url):
                await self._migrate()
        else:
            await self._migrate()

    async def _migrate(self) -> None:
        async with self.engine.connect() as conn:
            if not self.is_sqlite:
                await conn.execute(text(f"SELECT pg_advisory_lock({_MIGRATION_LOCK_ID})"))
            try:
                await conn.run_sync(_upgrade_to_head)
                await conn.commit()
            finally:
                if not self.is_sqlite:
                    await conn.execute(text(f"SELECT pg_advisory_unlock({_MIGRATION_LOCK_ID})"))
                    await conn.commit()

    async def close(self) -> None:
        await self.engine.dispose()


@asynccontextmanager
async def _sqlite_migration_lock(url: str) -> AsyncIterator[None]:
    path = make_url(url).database
    if not path or path == ":memory:":
        yield
        return
    lock_path = Path(path).with_name(Path(path).name + ".migrate-lock")
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        await asyncio.to_thread(fcntl.flock, fd, fcntl.LOCK_EX)
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def alembic_config(connection: Connection | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


def _upgrade_to_head(connection: Connection) -> None:
    command.upgrade(alembic_config(connection), "head")
