"""Shared fixtures. ``CYGNET_TEST_DB=postgresql`` runs the suite on a fresh PostgreSQL database
(``CYGNET_TEST_PG_URL`` names the server's admin URL); the default is SQLite."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from cygnet.testing.cluster import LocalManager, run_manager
from cygnet.testing.database import DEFAULT_PG_ADMIN_URL, fresh_database

DB_KIND = os.environ.get("CYGNET_TEST_DB", "sqlite")
PG_ADMIN_URL = os.environ.get("CYGNET_TEST_PG_URL", DEFAULT_PG_ADMIN_URL)


@pytest.fixture(scope="session")
async def manager(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[LocalManager]:
    """One real manager for the whole session (tests use unique names)."""
    data_dir = tmp_path_factory.mktemp("manager")
    async with (
        fresh_database(DB_KIND, data_dir, PG_ADMIN_URL) as url,
        run_manager(data_dir=data_dir, db_url=url) as local,
    ):
        yield local


@pytest.fixture
async def fresh_manager(tmp_path: Path) -> AsyncIterator[LocalManager]:
    """A manager of its own, on an empty store, for tests that change global state."""
    async with (
        fresh_database(DB_KIND, tmp_path, PG_ADMIN_URL) as url,
        run_manager(data_dir=tmp_path, db_url=url) as local,
    ):
        yield local
