"""Pooled PostgreSQL connections are pinged only after they sat idle (``IDLE_PING_AFTER``), not
before every transaction; a connection the server closed meanwhile is replaced, unseen."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import create_async_engine

from cygnet.manager.store import db as db_module
from cygnet.manager.store.db import Database
from cygnet.testing.database import DEFAULT_PG_ADMIN_URL, fresh_database

ADMIN_URL = os.environ.get("CYGNET_TEST_PG_URL", DEFAULT_PG_ADMIN_URL)


async def _kill_backends(name: str) -> int:
    """Close the server side of every connection to database ``name``."""
    admin = create_async_engine(ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        async with admin.connect() as conn:
            result = await conn.execute(
                text(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                    "WHERE datname = :name AND pid <> pg_backend_pid()"
                ),
                {"name": name},
            )
            return int(result.scalar_one())
    finally:
        await admin.dispose()


async def _one(database: Database) -> int:
    async with database.transaction() as tx:
        return int((await tx.execute(text("SELECT 1"))).scalar_one())


@pytest.mark.parametrize("idle_ping_after", [0.0, 3600.0])
async def test_a_connection_closed_by_the_server_is_replaced_after_idling(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, idle_ping_after: float
) -> None:
    monkeypatch.setattr(db_module, "IDLE_PING_AFTER", idle_ping_after)
    async with fresh_database("postgresql", tmp_path, ADMIN_URL) as url:
        database = Database(url)
        try:
            assert await _one(database) == 1  # a pooled connection now exists
            assert await _kill_backends(url.rsplit("/", 1)[1]) >= 1
            if idle_ping_after == 0.0:
                assert await _one(database) == 1  # pinged, found closed, replaced
            else:  # not idle long enough to be pinged: the closed connection is used
                with pytest.raises(DBAPIError):
                    await _one(database)
                assert await _one(database) == 1  # and then discarded
        finally:
            await database.engine.dispose()
