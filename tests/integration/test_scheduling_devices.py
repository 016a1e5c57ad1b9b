"""Per-device accounting of fractional accelerators: the manager learns each agent's devices at
registration, books a device for each kernel when it schedules it (kept on the kernel row and
sent to the agent, which takes it), records what the agent allocated, and counts the devices
the live kernels hold, so ``fragmentation`` packs halves onto one device and a request that
fits the totals but no single device waits instead of failing on the agent."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from cygnet.common.lifecycle import SessionStatus
from cygnet.manager import entities as e
from cygnet.manager.store.repositories import sessions as sessions_repo
from cygnet.testing.agents import ClusterFactory, LocalCluster
from cygnet.testing.signing import SignedClient

SHARES = "cuda.shares"
FAST = {
    "agent_heartbeat_interval": 0.1,
    "agent_heartbeat_timeout": 0.6,
    "session_sweep_interval": 0.1,
}
SIM = {
    "cpus": list(range(4)),
    "memory": "8g",
    "kernel_poll_interval": 0.05,
    "accelerators": {"mock": {"devices": 2, "mode": "fractional"}},
}
IMAGE = "cygnet/python:3.11"
MODIFY_SG = """mutation($name: String!, $input: ModifyScalingGroupInput!) {
  modify_scaling_group(name: $name, props: $input) { ok msg } }"""


async def _fragmentation(client: SignedClient) -> None:
    opts = json.dumps({"agent_selection_strategy": "fragmentation"})
    body = await client.gql(MODIFY_SG, {"name": "default", "input": {"scheduler_opts": opts}})
    assert body["errors"] is None, body["errors"]


async def _create(client: SignedClient, name: str, shares: str, **extra: Any) -> str:
    resources = {"cpu": 1, "mem": "512m", SHARES: shares}
    body = {"name": name, "image": IMAGE, "config": {"resources": resources}, **extra}
    resp = await client.request("POST", "/session", json=body)
    assert resp.status_code in (200, 201), resp.text
    return str(resp.json()["status"])


async def _session(cluster: LocalCluster, name: str) -> e.Session:
    async with cluster.manager.manager.db.read() as tx:
        found = await sessions_repo.find_by_name(tx, cluster.manager.admin.access_key, name)
    assert found is not None, name
    return found


async def _devices(cluster: LocalCluster, name: str) -> dict[str, str]:
    """The devices the session's kernel holds, as its row records them; the agent agrees."""
    (kernel,) = (await _session(cluster, name)).kernels
    recorded = kernel.allocation[SHARES]
    record = cluster.agent.kernels[kernel.id]
    assert record.allocation[SHARES] == recorded
    return dict(recorded)


async def _wait_status(cluster: LocalCluster, name: str, wanted: SessionStatus) -> None:
    deadline = asyncio.get_running_loop().time() + 15
    while (current := (await _session(cluster, name)).status) != wanted:
        assert asyncio.get_running_loop().time() < deadline, f"{name} stuck in {current}"
        await asyncio.sleep(0.05)


async def _destroy(client: SignedClient, *names: str) -> None:
    for name in names:
        resp = await client.request("DELETE", f"/session/{name}")
        assert resp.status_code == 200, resp.text


async def test_halves_share_a_device_and_a_whole_one_stays_free(
    local_cluster: ClusterFactory, tmp_path: Path
) -> None:
    async with local_cluster(tmp_path, manager_settings=FAST, **SIM) as cluster:
        client = cluster.manager.client()
        await _fragmentation(client)
        assert await _create(client, "half-a", "0.5") == "RUNNING"
        first = await _devices(cluster, "half-a")
        assert len(first) == 1 and list(first.values()) == ["0.5"]
        assert await _create(client, "half-b", "0.5") == "RUNNING"
        assert await _devices(cluster, "half-b") == first  # the same device, filled
        assert await _create(client, "whole", "1") == "RUNNING"
        (device,) = first
        assert await _devices(cluster, "whole") == {"1" if device == "0" else "0": "1"}
        await _destroy(client, "half-a", "half-b", "whole")


async def test_room_that_fits_only_the_totals_waits_for_a_device(
    local_cluster: ClusterFactory, tmp_path: Path
) -> None:
    async with local_cluster(tmp_path, manager_settings=FAST, **SIM) as cluster:
        client = cluster.manager.client()
        await _fragmentation(client)
        # Started one by one (each pass sees the kernels of the earlier ones): 0.6 and 0.6 go
        # on different devices, leaving 0.4 on each.
        assert await _create(client, "big-a", "0.6") == "RUNNING"
        assert await _create(client, "big-b", "0.6") == "RUNNING"
        assert {**await _devices(cluster, "big-a"), **await _devices(cluster, "big-b")} == {
            "0": "0.6",
            "1": "0.6",
        }
        # 0.8 fits the agent's totals (0.8 free) but no device: it waits, and says why.
        assert await _create(client, "too-big", "0.8", enqueueOnly=True) == "PENDING"
        deadline = asyncio.get_running_loop().time() + 10
        while not (info := (await _session(cluster, "too-big")).status_data.get("scheduler")):
            assert asyncio.get_running_loop().time() < deadline
            await asyncio.sleep(0.05)
        assert "on any one device" in info["msg"], info
        assert (await _session(cluster, "too-big")).status == SessionStatus.PENDING
        # A device freed: it starts there.
        freed = await _devices(cluster, "big-a")
        await _destroy(client, "big-a")
        await _wait_status(cluster, "too-big", SessionStatus.RUNNING)
        assert await _devices(cluster, "too-big") == {next(iter(freed)): "0.8"}
        await _destroy(client, "big-b", "too-big")
