"""A real Docker Engine for the agent's integration tests.

``docker_engine`` (session-scoped) makes sure an engine answers (starting ``dockerd`` when
none does and stopping it at the end), builds the catalogue images once, and at the end of
the session fails if any container labelled ``cygnet.kernel-id`` is left (after removing
them). Without Docker the tests that use it are skipped, unless ``CYGNET_REQUIRE_DOCKER`` is
set (CI), where they fail instead.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator

import pytest

from cygnet.agent.images.bootstrap import BootstrapError
from cygnet.agent.images.catalog import BOOTSTRAP_IMAGES
from cygnet.testing.docker import (
    KERNEL_LABEL,
    DockerEngine,
    DockerUnavailable,
    ensure_docker,
    ensure_images,
    leftover_containers,
    remove_containers,
)

REQUIRE_DOCKER = bool(os.environ.get("CYGNET_REQUIRE_DOCKER"))


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
