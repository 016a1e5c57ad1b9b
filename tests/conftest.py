"""Shared fixtures. ``CYGNET_TEST_DB=postgresql`` runs the suite on a fresh PostgreSQL database
(``CYGNET_TEST_PG_URL`` names the server's admin URL); the default is SQLite.

``docker_engine`` (session-scoped) makes sure a Docker Engine answers (starting ``dockerd``
when none does and stopping it at the end), builds the catalogue images once, and at the end
of the session fails if any container labelled ``cygnet.kernel-id`` is left (after removing
them). Without Docker the tests that use it are skipped, unless ``CYGNET_REQUIRE_DOCKER`` is
set (CI), where they fail instead."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from cygnet.agent.images.bootstrap import BootstrapError
from cygnet.agent.images.catalog import BOOTSTRAP_IMAGES
from cygnet.testing.agents import ClusterFactory, LocalCluster, run_cluster
from cygnet.testing.cluster import LocalManager, run_manager
from cygnet.testing.database import DEFAULT_PG_ADMIN_URL, fresh_database
from cygnet.testing.docker import (
    KERNEL_LABEL,
    DockerEngine,
    DockerUnavailable,
    ensure_docker,
    ensure_images,
    leftover_containers,
    remove_containers,
)

DB_KIND = os.environ.get("CYGNET_TEST_DB", "sqlite")
PG_ADMIN_URL = os.environ.get("CYGNET_TEST_PG_URL", DEFAULT_PG_ADMIN_URL)
REQUIRE_DOCKER = bool(os.environ.get("CYGNET_REQUIRE_DOCKER"))


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


@pytest.fixture(scope="session")
def local_cluster() -> ClusterFactory:
    """``async with local_cluster(data_dir, runtime="process", **agent_settings) as c``: a
    manager on a fresh database of the suite's kind, and in-process agents."""

    @asynccontextmanager
    async def start(
        data_dir: Path,
        *,
        runtime: str = "simulated",
        manager_settings: dict[str, Any] | None = None,
        **agent_settings: Any,
    ) -> AsyncIterator[LocalCluster]:
        async with (
            fresh_database(DB_KIND, data_dir, PG_ADMIN_URL) as url,
            run_cluster(
                data_dir,
                runtime=runtime,
                db_url=url,
                manager_settings=manager_settings,
                **agent_settings,
            ) as cluster,
        ):
            yield cluster

    return start


@pytest.fixture(scope="session")
async def docker_engine() -> AsyncIterator[DockerEngine]:
    try:
        engine = await ensure_docker()
    except DockerUnavailable as exc:
        if REQUIRE_DOCKER:
            pytest.fail(f"CYGNET_REQUIRE_DOCKER is set but Docker is unusable: {exc}")
        pytest.skip(f"no Docker engine: {exc}")
    try:
        await ensure_images([image.name for image in BOOTSTRAP_IMAGES], url=engine.url)
    except BootstrapError as exc:
        await engine.stop()
        if REQUIRE_DOCKER:
            pytest.fail(f"CYGNET_REQUIRE_DOCKER is set but the images cannot be built: {exc}")
        pytest.skip(f"cannot build the test images: {exc}")
    try:
        yield engine
    finally:
        left = await leftover_containers(KERNEL_LABEL, url=engine.url)
        if left:
            await remove_containers(left, url=engine.url)
        await engine.stop()
    if left:
        pytest.fail(f"containers labelled {KERNEL_LABEL} were left behind: {', '.join(left)}")


@pytest.fixture(scope="module")
async def process_cluster(
    local_cluster: ClusterFactory, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[LocalCluster]:
    """A module's cluster with one process-runtime agent (two cores, 2 GiB)."""
    data_dir = tmp_path_factory.mktemp("process-cluster")
    async with local_cluster(data_dir, runtime="process", cpus=[0, 1], memory="2g") as running:
        yield running


@pytest.fixture(scope="module")
async def docker_cluster(
    docker_engine: DockerEngine,
    local_cluster: ClusterFactory,
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[LocalCluster]:
    """A module's cluster with one Docker agent (skipped without an engine unless
    CYGNET_REQUIRE_DOCKER)."""
    data_dir = tmp_path_factory.mktemp("docker-cluster")
    async with local_cluster(data_dir, runtime="docker", cpus=[0, 1], memory="2g") as running:
        yield running
