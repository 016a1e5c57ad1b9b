"""``backend.ai admin agent list`` / ``admin agent info`` of the official client against a Cygnet
manager with two simulated agents (wire notes 2.6: ``agent_list`` and ``agent``)."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from official import OfficialClient

from cygnet.common import rpc
from cygnet.testing.agents import ClusterFactory, LocalCluster
from cygnet.testing.builders import add_user

pytestmark = pytest.mark.compat

# Rare heartbeats: the live stats the module sends itself stay in place.
QUIET = {"agent_heartbeat_interval": 60.0, "agent_heartbeat_timeout": 600.0}
FIRST, SECOND = "local-agent-1", "local-agent-2"


@pytest.fixture(scope="module")
async def cluster(
    local_cluster: ClusterFactory, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[LocalCluster]:
    data_dir = tmp_path_factory.mktemp("agents-cluster")
    async with local_cluster(
        data_dir,
        agents=2,
        runtime="simulated",
        manager_settings=QUIET,
        cpus=[0, 1],
        memory="4g",
    ) as running:
        registry = running.manager.manager.services.agents
        ack = await registry.heartbeat(
            rpc.Heartbeat(
                agent_id=FIRST,
                occupied_slots={},
                live_stat=rpc.LiveStat(cpu_percent=50.0, mem_used=1024**3, mem_total=4 * 1024**3),
            )
        )
        assert ack.known
        await registry.flush()
        yield running


def _client(exe: Path, cluster: LocalCluster, home: Path, **keys: str) -> OfficialClient:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "BACKEND_ENDPOINT_TYPE": "api",
        **cluster.manager.env(),
        **keys,
    }
    return OfficialClient(exe, env, home)


@pytest.fixture(scope="module")
def bai_agents(
    official_client_exe: Path, cluster: LocalCluster, tmp_path_factory: pytest.TempPathFactory
) -> OfficialClient:
    return _client(official_client_exe, cluster, tmp_path_factory.mktemp("bai-agents-home"))


def _ids(listing: dict[str, Any]) -> list[str]:
    return [item["id"] for item in listing["items"]]


async def test_agent_list(bai_agents: OfficialClient) -> None:
    listing, page, sgroup, none_lost = await asyncio.gather(
        bai_agents.ok("admin", "agent", "list"),
        bai_agents.ok("admin", "agent", "list", "--limit", "1", "--offset", "1", "--order", "-id"),
        bai_agents.ok("admin", "agent", "list", "--scaling-group", "default", "--filter",
                      f'id == "{SECOND}"'),
        bai_agents.ok("admin", "agent", "list", "-s", "LOST"),
    )  # fmt: skip
    assert listing["count"] == 2 and listing["total_count"] == 2, listing
    assert _ids(listing) == [FIRST, SECOND]
    first = listing["items"][0]
    assert first["status"] == "ALIVE" and first["scaling_group"] == "default"
    assert first["region"] == "local" and first["architecture"] and first["first_contact"]
    assert first["available_slots"] == {"cpu": "2", "mem": str(4 * 1024**3)}
    assert first["occupied_slots"] == {}
    assert first["cpu_cur_pct"] == 25.0  # 50 % over two cores
    assert first["mem_cur_bytes"] == 1024.0  # the CLI prints MiB

    assert page["count"] == 1 and page["total_count"] == 2 and _ids(page) == [FIRST]
    assert sgroup["total_count"] == 1 and _ids(sgroup) == [SECOND]
    assert none_lost == {"count": 0, "total_count": 0, "items": []}


async def test_agent_info(bai_agents: OfficialClient) -> None:
    info, missing = await asyncio.gather(
        bai_agents.ok("admin", "agent", "info", FIRST),
        bai_agents.ok("admin", "agent", "info", "no-such-agent"),
    )
    assert info["count"] == 1, info
    (agent,) = info["items"]
    assert agent["id"] == FIRST and agent["status"] == "ALIVE" and agent["region"] == "local"
    assert agent["available_slots"] == {"cpu": "2", "mem": str(4 * 1024**3)}
    assert agent["cpu_cur_pct"] == 25.0
    assert isinstance(agent["hardware_metadata"], dict)
    assert agent["local_config"]["runtime"] == "simulated"
    assert agent["local_config"]["scaling_group"] == "default"
    # The CLI renders live_stat as text even in JSON mode.
    assert "cpu_util: 25.00 % (2 cores)" in agent["live_stat"], agent["live_stat"]
    assert missing == {"count": 0, "total_count": 0, "items": []}


async def test_agent_commands_need_superadmin(
    official_client_exe: Path, cluster: LocalCluster, tmp_path_factory: pytest.TempPathFactory
) -> None:
    admin = await add_user(cluster.manager, role="admin")
    bai = _client(
        official_client_exe,
        cluster,
        tmp_path_factory.mktemp("bai-domain-admin"),
        BACKEND_ACCESS_KEY=admin.access_key,
        BACKEND_SECRET_KEY=admin.secret_key,
    )
    listed, shown = await asyncio.gather(
        bai.run("admin", "agent", "list"), bai.run("admin", "agent", "info", FIRST)
    )
    for result in (listed, shown):
        assert result.code != 0, result.out
        assert "superadmin" in result.out.lower(), result.out
