"""Looking sessions up by owner and name uses the unique index on live names, on both
databases, also as a prepared statement planned without its parameter values (PostgreSQL's
generic plan: what asyncpg's statement cache runs after a few executions). A lookup that
names the dead statuses as parameters cannot prove the index's condition and reads every
session of the owner instead: with 10,000 sessions of one owner, 7 ms a query."""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from cygnet.manager.store.db import Database
from cygnet.manager.store.repositories import sessions as repo
from cygnet.testing.database import DEFAULT_PG_ADMIN_URL, fresh_database

ADMIN_URL = os.environ.get("CYGNET_TEST_PG_URL", DEFAULT_PG_ADMIN_URL)
INDEX = "uq_sessions_live_name"
WANTED = [(uuid.UUID(int=7), "alpha"), (uuid.UUID(int=7), "beta")]


def _literal(value: Any) -> str:
    return "'" + str(value).replace("'", "''") + "'"


async def _sqlite_plan(tx: AsyncSession) -> str:
    conn = await tx.connection()
    compiled = repo.live_by_names_query(WANTED).compile(
        dialect=conn.dialect, compile_kwargs={"render_postcompile": True}
    )
    params = [compiled.params[name] for name in compiled.positiontup or []]
    params = [p.hex if isinstance(p, uuid.UUID) else p for p in params]  # stored as hex
    result = await conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {compiled}", tuple(params))
    return "\n".join(str(row[-1]) for row in result.all())


async def _postgres_generic_plan(tx: AsyncSession) -> str:
    conn = await tx.connection()
    compiled = repo.live_by_names_query(WANTED).compile(
        dialect=conn.dialect, compile_kwargs={"render_postcompile": True}
    )
    params = [compiled.params[name] for name in compiled.positiontup or []]
    await conn.exec_driver_sql("SET LOCAL plan_cache_mode = force_generic_plan")
    await conn.exec_driver_sql(f"PREPARE by_names AS {compiled}")
    args = ", ".join(_literal(p) for p in params)
    result = await conn.exec_driver_sql(f"EXPLAIN EXECUTE by_names({args})")
    return "\n".join(str(row[0]) for row in result.all())


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
async def test_lookup_by_name_uses_the_live_name_index(tmp_path: Path, kind: str) -> None:
    async with fresh_database(kind, tmp_path, ADMIN_URL) as url:
        database = Database(url)
        try:
            await database.migrate()
            async with database.transaction() as tx:
                plan = await (_sqlite_plan(tx) if kind == "sqlite" else _postgres_generic_plan(tx))
                assert INDEX in plan, plan
                assert await repo.find_live_by_names(tx, WANTED) == {}
        finally:
            await database.close()
