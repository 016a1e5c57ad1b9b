"""A manager with an in-process storage proxy (host ``local:volume1``) for the vfolder tests,
on the suite's database kind, and users to share folders between."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator

import pytest

from cygnet.testing.builders import SeededUser, add_user
from cygnet.testing.cluster import LocalManager, run_manager
from cygnet.testing.database import DEFAULT_PG_ADMIN_URL, fresh_database
from cygnet.testing.signing import SignedClient

DB_KIND = os.environ.get("CYGNET_TEST_DB", "sqlite")
PG_ADMIN_URL = os.environ.get("CYGNET_TEST_PG_URL", DEFAULT_PG_ADMIN_URL)


@pytest.fixture(scope="module")
async def vf_manager(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[LocalManager]:
    data_dir = tmp_path_factory.mktemp("vfolders")
    async with (
        fresh_database(DB_KIND, data_dir, PG_ADMIN_URL) as url,
        run_manager(data_dir=data_dir, db_url=url, storage=True) as local,
    ):
        yield local


@pytest.fixture(scope="module")
def admin_api(vf_manager: LocalManager) -> SignedClient:
    return vf_manager.client()


@pytest.fixture(scope="module")
async def alice(vf_manager: LocalManager) -> SeededUser:
    return await add_user(vf_manager)


@pytest.fixture(scope="module")
async def bob(vf_manager: LocalManager) -> SeededUser:
    return await add_user(vf_manager)


@pytest.fixture(scope="module")
def alice_api(vf_manager: LocalManager, alice: SeededUser) -> SignedClient:
    return vf_manager.client(alice.access_key, alice.secret_key)


@pytest.fixture(scope="module")
def bob_api(vf_manager: LocalManager, bob: SeededUser) -> SignedClient:
    return vf_manager.client(bob.access_key, bob.secret_key)
