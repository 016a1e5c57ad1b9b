"""The image catalogue over live simulated agents: list, resolve, minimums, agents leaving."""

from __future__ import annotations

import asyncio
import os
import platform
from pathlib import Path

import pytest

from cygnet.agent.agent import Agent
from cygnet.agent.config import AgentSettings
from cygnet.agent.server import start_agent
from cygnet.common.clock import RealClock
from cygnet.common.errors import ImageNotFound, InvalidAPIParameters
from cygnet.common.resources import ResourceSlot
from cygnet.manager.server import INPROC_NAME
from cygnet.manager.services.images import ImageService
from cygnet.testing.agents import LocalCluster, run_cluster
from cygnet.testing.database import DEFAULT_PG_ADMIN_URL, fresh_database

DB_KIND = os.environ.get("CYGNET_TEST_DB", "sqlite")
PG_ADMIN_URL = os.environ.get("CYGNET_TEST_PG_URL", DEFAULT_PG_ADMIN_URL)
HOST_ARCH = platform.machine()
OTHER_ARCH = "riscv64" if HOST_ARCH != "riscv64" else "s390x"
MIB = 1024**2


async def _extra_agent(
    cluster: LocalCluster, tmp_path: Path, name: str, images: list[dict[str, object]], arch: str
) -> Agent:
    """An extra simulated agent with its own images and architecture, registered."""
    settings = AgentSettings.load(
        id=name,
        manager=f"inproc://{INPROC_NAME}",
        data_dir=tmp_path / "agents" / name,
        runtime="simulated",
        cpus=[0, 1],
        memory="4g",
        runtime_options={"images": images, "architecture": arch},
    )
    agent = await start_agent(
        settings, network=cluster.network, secret=cluster.manager.manager.agent_secret
    )
    cluster.agents.append(agent)
    await asyncio.wait_for(agent.registered.wait(), 10)
    return agent


async def test_catalogue_over_live_agents(tmp_path: Path) -> None:
    async with (
        fresh_database(DB_KIND, tmp_path, PG_ADMIN_URL) as url,
        run_cluster(tmp_path, agents=2, db_url=url, cpus=[0, 1], memory="4g") as cluster,
    ):
        registry = cluster.manager.manager.services.agents
        # Resolution keeps the catalogue for a moment, keyed by the registry's generation.
        service = ImageService(
            cluster.manager.manager.db,
            RealClock(),
            agents_generation=lambda: registry.generation,
        )
        ids = tuple(sorted(a.id for a in cluster.agents))

        listed = await service.list_images()
        assert [(e.name, e.architecture) for e in listed] == [
            ("cygnet/busybox:latest", HOST_ARCH),
            ("cygnet/python:3.11", HOST_ARCH),
        ]
        python = listed[1]
        assert python.agents == ids
        assert (python.registry, python.repository, python.tag) == (
            "local",
            "cygnet/python",
            "3.11",
        )
        assert python.digest.startswith("sha256:")
        assert python.runtime_type == "python" and python.runtime_path == "/usr/bin/python3"
        assert python.min_slots == ResourceSlot({"cpu": "1", "mem": "256m"})
        assert python.labels["ai.backend.kernelspec"] == "1"
        assert await service.list_images(resource_group="default") == listed
        assert await service.list_images(resource_group="nope") == []
        assert await service.list_images(architecture=OTHER_ARCH) == []

        # Resolution: exact, bare name -> latest, registry prefix, alias, id.
        assert await service.resolve("cygnet/python:3.11") == python
        assert (await service.resolve("cygnet/busybox")).name == "cygnet/busybox:latest"
        assert await service.resolve("local/cygnet/python:3.11") == python
        assert await service.resolve("cr.backend.ai/cygnet/python:3.11") == python
        assert await service.resolve("python") == python
        assert (await service.resolve("busybox", HOST_ARCH)).name == "cygnet/busybox:latest"
        assert await service.resolve(python.digest) == python
        assert await service.resolve(python.digest.removeprefix("sha256:")[:12]) == python
        with pytest.raises(ImageNotFound, match=r"did you mean: cygnet/python:3\.11") as caught:
            await service.resolve("cygnet/pyhton:3.11")
        assert caught.value.error_code == "image_read_not-found"
        with pytest.raises(ImageNotFound, match="available: cygnet/busybox:latest"):
            await service.resolve("totally/unrelated:1")

        # An image on a third agent of another architecture, present only there.
        extra = await _extra_agent(
            cluster,
            tmp_path,
            "odd-agent",
            [{"name": "cygnet/r:4.3", "labels": {"ai.backend.resource.min.mem": "2g"}}],
            OTHER_ARCH,
        )
        r_image = await service.resolve("cygnet/r:4.3")
        assert (r_image.architecture, r_image.agents) == (OTHER_ARCH, ("odd-agent",))
        assert r_image.min_slots == ResourceSlot({"cpu": "1", "mem": "2g"})
        assert [e.name for e in await service.list_images(architecture=OTHER_ARCH)] == [
            "cygnet/r:4.3"
        ]
        with pytest.raises(ImageNotFound, match=f"only for: {OTHER_ARCH}"):
            await service.resolve("cygnet/r:4.3", HOST_ARCH)
        with pytest.raises(ImageNotFound, match=f"only for: {HOST_ARCH}"):
            await service.resolve("cygnet/python:3.11", OTHER_ARCH)

        # The agent says goodbye (TERMINATED): its image leaves the catalogue.
        await extra.stop()
        cluster.agents.remove(extra)
        assert [e.name for e in await service.list_images()] == [
            "cygnet/busybox:latest",
            "cygnet/python:3.11",
        ]
        with pytest.raises(ImageNotFound):
            await service.resolve("cygnet/r:4.3")

        # One of the two catalogue agents leaves: the images stay, held by the other.
        leaving = cluster.agents[1]
        await leaving.stop()
        cluster.agents.remove(leaving)
        remaining = (cluster.agents[0].id,)
        assert all(e.agents == remaining for e in await service.list_images())

        # Minimums on a resolved image (python: cpu 1, mem 256m; shmem 64m by default).
        python = await service.resolve("python")
        service.check_resources(python, ResourceSlot({"cpu": "1", "mem": "320m"}))
        with pytest.raises(InvalidAPIParameters, match="requested mem=256m") as low:
            service.check_resources(python, ResourceSlot({"cpu": "1", "mem": "256m"}))
        assert low.value.status == 400
        assert low.value.error_code == "api_generic_invalid-parameters"
        with pytest.raises(InvalidAPIParameters, match="must be smaller"):
            service.check_resources(python, ResourceSlot({"cpu": "1", "mem": "1g"}), 1024 * MIB)
        with pytest.raises(InvalidAPIParameters, match="cpu=1"):
            service.check_resources(python, ResourceSlot({"cpu": "0.5", "mem": "1g"}))


async def test_aliases_are_configurable(tmp_path: Path) -> None:
    async with (
        fresh_database(DB_KIND, tmp_path, PG_ADMIN_URL) as url,
        run_cluster(tmp_path, agents=1, db_url=url, cpus=[0], memory="2g") as cluster,
    ):
        db = cluster.manager.manager.db
        service = ImageService(db, RealClock(), aliases={"sh": "cygnet/busybox:latest"})
        assert (await service.resolve("sh")).name == "cygnet/busybox:latest"
        with pytest.raises(ImageNotFound, match="did you mean"):
            await service.resolve("python")
