"""Alembic environment. The manager runs migrations itself (``Database.migrate``) on a live
connection; with ``CYGNET_DB_URL`` set,
``alembic -c <this dir>/alembic.ini revision --autogenerate`` works too."""

from __future__ import annotations

import asyncio
import os

from alembic import context
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from cygnet.manager.store.models import Base

target_metadata = Base.metadata


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


async def _run_offline_engine() -> None:
    engine = create_async_engine(os.environ["CYGNET_DB_URL"])
    async with engine.connect() as conn:
        await conn.run_sync(_run)
        await conn.commit()
    await engine.dispose()


connection = context.config.attributes.get("connection")
if connection is not None:
    _run(connection)
else:
    asyncio.run(_run_offline_engine())
