"""The state store: migrations, first-start bootstrap, restarts, usage counters."""

from __future__ import annotations

import asyncio
import gc
import os
from pathlib import Path

import pytest
from sqlalchemy import func, select

from cygnet.manager.config import ManagerSettings
from cygnet.manager.server import GC_THRESHOLDS, create_manager
from cygnet.manager.store import models as m
from cygnet.manager.store.db import Database
from cygnet.testing.cluster import LocalManager, run_manager
from cygnet.testing.database import DEFAULT_PG_ADMIN_URL, fresh_database

DB_KIND = os.environ.get("CYGNET_TEST_DB", "sqlite")
PG_ADMIN_URL = os.environ.get("CYGNET_TEST_PG_URL", DEFAULT_PG_ADMIN_URL)


async def test_concurrent_migrations_and_single_bootstrap(tmp_path: Path) -> None:
    async with fresh_database(DB_KIND, tmp_path, PG_ADMIN_URL) as url:
        databases = [Database(url) for _ in range(3)]
        await asyncio.gather(*(db.migrate() for db in databases))
        for db in databases:
            await db.close()
        settings = ManagerSettings.load(data_dir=tmp_path, db_url=url)
        first = await create_manager(settings)
        second = await create_manager(settings)
        try:
            assert first.new_admin is not None
            assert second.new_admin is None  # the store was kept: no second superadmin
            async with first.db.read() as session:
                users = (
                    await session.execute(select(func.count()).select_from(m.UserRow))
                ).scalar()
                domains = (await session.execute(select(m.DomainRow.name))).scalars().all()
                policies = (
                    await session.execute(select(m.KeyPairResourcePolicyRow.name))
                ).scalars()
                groups = (await session.execute(select(m.ResourceGroupRow.name))).scalars().all()
            assert users == 1
            assert domains == ["default"]
            assert list(policies) == ["default"]
            assert groups == ["default"]
        finally:
            await first.db.close()
            await second.db.close()


async def test_usage_counters_are_flushed(manager: LocalManager) -> None:
    client = manager.client()
    for _ in range(3):
        assert (await client.request("GET", "/manager/announcement")).status_code == 200
    await manager.manager.services.auth.flush_usage()
    async with manager.manager.db.read() as session:
        row = await session.get(m.KeyPairRow, manager.admin.access_key)
    assert row is not None
    assert row.num_queries >= 3
    assert row.last_used is not None and row.last_used.tzinfo is not None


async def test_a_failed_transaction_leaves_nothing_behind(tmp_path: Path) -> None:
    """A write inside a savepoint must be undone when the enclosing transaction fails (on
    SQLite the driver used to let RELEASE SAVEPOINT commit it)."""
    from datetime import UTC, datetime

    from cygnet.manager.store.repositories import crud

    async with fresh_database(DB_KIND, tmp_path, PG_ADMIN_URL) as url:
        db = Database(url)
        try:
            await db.migrate()
            now = datetime.now(UTC)
            row = m.DomainRow(
                name="half-done",
                created_at=now,
                modified_at=now,
                total_resource_slots={},
                allowed_vfolder_hosts={},
                allowed_docker_registries=[],
            )
            with pytest.raises(RuntimeError):
                async with db.transaction() as session:
                    await crud.insert(session, row, what="domain")
                    raise RuntimeError("a later step failed")
            async with db.read() as session:
                names = (await session.execute(select(m.DomainRow.name))).scalars().all()
            assert "half-done" not in names
        finally:
            await db.close()


async def test_a_started_manager_collects_garbage_less_often(tmp_path: Path) -> None:
    default = gc.get_threshold()
    gc.set_threshold(700, 10, 10)  # Python's own, whatever an earlier manager set
    try:
        async with (
            fresh_database(DB_KIND, tmp_path, PG_ADMIN_URL) as url,
            run_manager(data_dir=tmp_path, db_url=url),
        ):
            assert gc.get_threshold() == GC_THRESHOLDS
    finally:
        gc.set_threshold(*default)
