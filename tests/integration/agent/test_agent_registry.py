"""Agents register with the manager, heartbeat, and go ALIVE -> LOST -> ALIVE -> TERMINATED."""

from __future__ import annotations

import asyncio
import os
import tracemalloc
import uuid
from pathlib import Path

import pytest

from cygnet.agent.config import AgentSettings
from cygnet.agent.server import start_agent
from cygnet.common import rpc
from cygnet.common.errors import InvalidAPIParameters, RPCAuthFailed
from cygnet.common.events import AgentLost, AgentStarted, KernelStarted
from cygnet.common.lifecycle import AgentStatus
from cygnet.common.transport import RPCClient
from cygnet.testing.agents import run_cluster
from cygnet.testing.database import DEFAULT_PG_ADMIN_URL, fresh_database

DB_KIND = os.environ.get("CYGNET_TEST_DB", "sqlite")
PG_ADMIN_URL = os.environ.get("CYGNET_TEST_PG_URL", DEFAULT_PG_ADMIN_URL)
FAST = {"agent_heartbeat_interval": 0.1, "agent_heartbeat_timeout": 0.6}
SIM = {
    "cpus": list(range(8)),
    "memory": "16g",
    "accelerators": {"mock": {"devices": 2, "mode": "fractional"}},
    "kernel_poll_interval": 0.05,
}


async def _wait_for(predicate, timeout: float = 10.0) -> None:  # type: ignore[no-untyped-def]
    deadline = asyncio.get_running_loop().time() + timeout
    while not await predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.05)


async def test_registration_heartbeats_and_liveness(tmp_path: Path) -> None:
    async with (
        fresh_database(DB_KIND, tmp_path, PG_ADMIN_URL) as url,
        run_cluster(tmp_path, db_url=url, manager_settings=FAST, **SIM) as cluster,
    ):
        registry = cluster.manager.manager.services.agents
        agent = cluster.agent
        row = await registry.get(agent.id)
        assert row.status == AgentStatus.ALIVE
        assert row.runtime == "simulated"
        assert row.address == f"inproc://agent-{agent.id}"
        assert row.available_slots["cpu"] == "8"
        assert row.available_slots["mem"] == str(16 * 1024**3)
        assert row.available_slots["cuda.shares"] == "2"
        assert row.slot_types["cuda.shares"] == "count"
        assert "mock" in row.compute_plugins
        assert {i["name"] for i in row.images} >= {"cygnet/python:3.11", "cygnet/busybox:latest"}
        assert row.architecture and row.version

        # Occupancy reaches the store through heartbeats.
        with cluster.manager.manager.services.events.subscribe() as events:
            client = await registry.client(agent.id)
            created = await client.create_kernel(
                rpc.CreateKernel(
                    kernel_id=uuid.uuid4(),
                    session_id=uuid.uuid4(),
                    owner_access_key="AKIATEST",
                    image="cygnet/python:3.11",
                    resources={"cpu": "2", "mem": "1g", "cuda.shares": "0.5"},
                )
            )
            started = await events.get(timeout=5)
            assert isinstance(started, KernelStarted)
            assert started.kernel_id == created.kernel_id
        assert created.occupied_slots == {"cpu": "2", "mem": str(1024**3), "cuda.shares": "0.5"}

        async def occupied_recorded() -> bool:
            await registry.flush()
            return (await registry.get(agent.id)).occupied_slots == created.occupied_slots

        await _wait_for(occupied_recorded)
        assert (await registry.get(agent.id)).live_stat["kernels"] == 1

        # The agent stops without a goodbye (as if it crashed): LOST after the timeout.
        with cluster.manager.manager.services.events.subscribe() as events:
            await agent.stop(goodbye=False)
            cluster.agents.remove(agent)

            async def lost() -> bool:
                return (await registry.get(agent.id)).status == AgentStatus.LOST

            await _wait_for(lost)
            assert isinstance(await events.get(timeout=5), AgentLost)
        row = await registry.get(agent.id)
        assert row.lost_at is not None

        # It comes back (same id and data dir): ALIVE again, with its kernel re-attached.
        with cluster.manager.manager.services.events.subscribe() as events:
            again = await start_agent(
                agent.settings, network=cluster.network, secret=registry.settings.secret
            )
            cluster.agents.append(again)
            await asyncio.wait_for(again.registered.wait(), 10)
            assert isinstance(await events.get(timeout=5), AgentStarted)
        row = await registry.get(agent.id)
        assert row.status == AgentStatus.ALIVE
        assert row.occupied_slots == created.occupied_slots
        kernels = await (await registry.client(agent.id)).list_kernels()
        assert [k.kernel_id for k in kernels] == [created.kernel_id]

        await (await registry.client(agent.id)).destroy_kernel(created.kernel_id)
        assert again.occupied().is_zero()
        # A goodbye makes it TERMINATED at once.
        await again.stop()
        cluster.agents.remove(again)
        assert (await registry.get(agent.id)).status == AgentStatus.TERMINATED


async def test_agents_over_http_with_a_shared_secret(tmp_path: Path) -> None:
    async with (
        fresh_database(DB_KIND, tmp_path, PG_ADMIN_URL) as url,
        run_cluster(tmp_path, agents=0, db_url=url, manager_settings=FAST) as cluster,
    ):
        local = cluster.manager
        registry = local.manager.services.agents
        settings = AgentSettings.load(
            id="http-agent",
            manager=local.endpoint,
            secret=registry.settings.secret,
            rpc_host="127.0.0.1",
            rpc_port=0,
            data_dir=tmp_path / "http-agent",
            runtime="simulated",
            cpus=[0, 1],
            memory="4g",
        )
        agent = await start_agent(settings)
        try:
            await asyncio.wait_for(agent.registered.wait(), 10)
            row = await registry.get("http-agent")
            assert row.address.startswith("http://127.0.0.1:")
            status = await (await registry.client("http-agent")).status()
            assert status.info.agent_id == "http-agent"
            # Without the secret, neither side accepts requests.
            intruder = RPCClient(local.endpoint, "wrong", path="/rpc/agent")
            with pytest.raises(RPCAuthFailed):
                await intruder.call(rpc.AgentGoodbye(agent_id="http-agent"), rpc.Ack)
            await intruder.aclose()
            intruder = RPCClient(row.address, "wrong")
            with pytest.raises(RPCAuthFailed):
                await intruder.call(rpc.ListKernels(), rpc.KernelList)
            await intruder.aclose()
            assert (await registry.get("http-agent")).status == AgentStatus.ALIVE
        finally:
            await agent.stop()
        assert (await registry.get("http-agent")).status == AgentStatus.TERMINATED


async def test_an_unknown_resource_group_is_refused(tmp_path: Path) -> None:
    async with (
        fresh_database(DB_KIND, tmp_path, PG_ADMIN_URL) as url,
        run_cluster(tmp_path, agents=0, db_url=url) as cluster,
    ):
        registry = cluster.manager.manager.services.agents
        info = rpc.AgentInfo(
            agent_id="stray",
            address="inproc://stray",
            resource_group="no-such-group",
            version="0",
            runtime="simulated",
            available_slots={"cpu": "1"},
            slot_types={"cpu": "count"},
        )
        with pytest.raises(InvalidAPIParameters, match="no-such-group"):
            await registry.register(rpc.RegisterAgent(info=info))
        assert await registry.list() == []


async def test_a_thousand_simulated_agents_in_one_process(tmp_path: Path) -> None:
    count = int(os.environ.get("CYGNET_TEST_AGENTS", "1000"))
    tracemalloc.start()
    try:
        async with (
            fresh_database(DB_KIND, tmp_path, PG_ADMIN_URL) as url,
            run_cluster(
                tmp_path,
                agents=count,
                db_url=url,
                manager_settings={"agent_heartbeat_interval": 5.0},
                cpus=list(range(4)),
                memory="8g",
            ) as cluster,
        ):
            _current, peak = tracemalloc.get_traced_memory()
            registry = cluster.manager.manager.services.agents
            alive = await registry.list(statuses=[AgentStatus.ALIVE])
            assert len(alive) == count
            assert len(registry.live_ids()) == count
            # A generous bound: what matters is that it is per-agent kilobytes, not megabytes.
            assert peak / count < 256 * 1024, f"{peak / count / 1024:.0f} KiB per agent"
    finally:
        tracemalloc.stop()
