"""Agents over GraphQL: ``agent_list`` (status, resource group, filter/order, pages) and
``agent(agent_id)``, with slot maps and stats as JSON strings; superadmins only."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import update

from cygnet.common import rpc
from cygnet.manager.store import models as m
from cygnet.testing.agents import ClusterFactory, LocalCluster
from cygnet.testing.builders import add_user
from cygnet.testing.signing import SignedClient

# Heartbeats are rare, so the live stats a test sends itself are not overwritten meanwhile.
QUIET = {"agent_heartbeat_interval": 60.0, "agent_heartbeat_timeout": 600.0}
SIM = {"cpus": list(range(4)), "memory": "8g"}

LIST_FIELDS = (
    "id status architecture scaling_group region first_contact cpu_cur_pct mem_cur_bytes "
    "available_slots occupied_slots"
)
INFO_FIELDS = (
    "id status status_changed region scaling_group schedulable architecture version runtime addr "
    "first_contact lost_at cpu_cur_pct mem_cur_bytes available_slots occupied_slots "
    "hardware_metadata live_stat local_config compute_plugins"
)
AGENT_LIST = (
    "query($limit:Int!, $offset:Int!, $status: String, $scaling_group: String, "
    "$filter: String, $order: String) { agent_list(limit:$limit, offset:$offset, "
    "status:$status, scaling_group:$scaling_group, filter:$filter, order:$order) "
    f"{{ items {{ {LIST_FIELDS} }} total_count }} }}"
)
AGENT = f"query($agent_id: String!) {{ agent(agent_id: $agent_id) {{ {INFO_FIELDS} }} }}"
CREATE_RG = (
    "mutation($name: String!, $input: CreateScalingGroupInput!) { create_scaling_group("
    "name: $name, props: $input) { ok msg } }"
)
FIRST, SECOND = "local-agent-1", "local-agent-2"


@pytest.fixture
async def cluster(local_cluster: ClusterFactory, tmp_path: Path) -> AsyncIterator[LocalCluster]:
    async with local_cluster(
        tmp_path, agents=2, runtime="simulated", manager_settings=QUIET, **SIM
    ) as running:
        yield running


def page_vars(**values: Any) -> dict[str, Any]:
    base = {"status": "ALIVE", "scaling_group": None, "filter": None, "order": None}
    return {**base, "limit": 20, "offset": 0, **values}


async def listing(client: SignedClient, **values: Any) -> dict[str, Any]:
    body = await client.gql(AGENT_LIST, page_vars(**values))
    assert body["errors"] is None, body
    result: dict[str, Any] = body["data"]["agent_list"]
    return result


def ids(page: dict[str, Any]) -> list[str]:
    return [item["id"] for item in page["items"]]


async def test_list_by_status_and_resource_group(cluster: LocalCluster) -> None:
    client = cluster.manager.client()
    page = await listing(client)
    assert ids(page) == [FIRST, SECOND] and page["total_count"] == 2
    item = page["items"][0]
    assert item["status"] == "ALIVE" and item["scaling_group"] == "default"
    assert item["region"] == "local" and item["architecture"] and item["first_contact"]
    # Slot maps are JSON-encoded strings.
    assert isinstance(item["available_slots"], str)
    assert json.loads(item["available_slots"]) == {"cpu": "4", "mem": str(8 * 1024**3)}
    assert json.loads(item["occupied_slots"]) == {}

    # Another resource group holds the second agent.
    group = f"rg-{uuid.uuid4().hex[:8]}"
    created = await client.gql(CREATE_RG, {"name": group, "input": {"is_active": True}})
    assert created["data"]["create_scaling_group"]["ok"] is True, created
    async with cluster.manager.manager.db.transaction() as session:
        await session.execute(
            update(m.AgentRow).where(m.AgentRow.id == SECOND).values(scaling_group=group)
        )
    assert ids(await listing(client, scaling_group=group)) == [SECOND]
    assert ids(await listing(client, scaling_group="default")) == [FIRST]
    assert (await listing(client, scaling_group="nowhere")) == {"items": [], "total_count": 0}

    # A goodbye makes the second agent TERMINATED; a comma list of statuses matches both.
    second = cluster.agents[1]
    cluster.agents.remove(second)
    await second.stop()
    assert ids(await listing(client)) == [FIRST]
    assert ids(await listing(client, status="TERMINATED")) == [SECOND]
    assert ids(await listing(client, status="ALIVE,TERMINATED")) == [FIRST, SECOND]
    assert ids(await listing(client, status="alive, lost")) == [FIRST]
    assert ids(await listing(client, status=None)) == [FIRST, SECOND]
    bad = await client.gql(AGENT_LIST, page_vars(status="SLEEPING"))
    assert bad["data"] is None and "SLEEPING" in bad["errors"][0]["message"], bad


async def test_list_pages_filter_and_order(cluster: LocalCluster) -> None:
    client = cluster.manager.client()
    first = await listing(client, limit=1)
    assert ids(first) == [FIRST] and first["total_count"] == 2
    second = await listing(client, limit=1, offset=1)
    assert ids(second) == [SECOND] and second["total_count"] == 2
    assert await listing(client, limit=1, offset=2) == {"items": [], "total_count": 2}

    assert ids(await listing(client, order="-id")) == [SECOND, FIRST]
    filtered = await listing(client, filter=f'id == "{SECOND}"')
    assert ids(filtered) == [SECOND] and filtered["total_count"] == 1
    assert ids(await listing(client, filter='status == "alive" & runtime == "simulated"')) == [
        FIRST,
        SECOND,
    ]
    assert ids(await listing(client, filter='id contains "-1"', order="-first_contact")) == [FIRST]
    assert ids(await listing(client, filter='scaling_group in ["default"] & lost_at is null')) == [
        FIRST,
        SECOND,
    ]
    for variables in (
        {"filter": "nonsense == 1"},
        {"filter": 'status == "DOZING"'},
        {"order": "+secret"},
        {"limit": 101},
    ):
        body = await client.gql(AGENT_LIST, page_vars(**variables))
        assert body["data"] is None and body["errors"], (variables, body)


async def test_agent_detail_with_stats(cluster: LocalCluster) -> None:
    client = cluster.manager.client()
    registry = cluster.manager.manager.services.agents
    ack = await registry.heartbeat(
        rpc.Heartbeat(
            agent_id=FIRST,
            occupied_slots={"cpu": "1", "mem": str(1024**3)},
            live_stat=rpc.LiveStat(
                cpu_percent=150.0,
                mem_used=2 * 1024**3,
                mem_total=8 * 1024**3,
                disk_used=10,
                disk_total=40,
                kernels=1,
            ),
        )
    )
    assert ack.known
    await registry.flush()

    body = await client.gql(AGENT, {"agent_id": FIRST})
    assert body["errors"] is None, body
    agent = body["data"]["agent"]
    assert agent["id"] == FIRST and agent["status"] == "ALIVE"
    assert agent["runtime"] == "simulated" and agent["schedulable"] is True
    assert agent["addr"] == f"inproc://agent-{FIRST}" and agent["lost_at"] is None
    assert agent["status_changed"] and agent["version"]
    assert json.loads(agent["occupied_slots"]) == {"cpu": "1", "mem": str(1024**3)}
    assert agent["cpu_cur_pct"] == pytest.approx(37.5)  # 150 % over 4 cores
    assert agent["mem_cur_bytes"] == 2 * 1024**3
    live = json.loads(agent["live_stat"])
    assert live["node"]["cpu_util"]["pct"] == "37.50"
    assert live["node"]["mem"] == {
        "current": str(2 * 1024**3),
        "capacity": str(8 * 1024**3),
        "pct": "25.00",
        "unit_hint": "bytes",
    }
    assert live["node"]["disk"]["pct"] == "25.00"
    assert sorted(live["devices"]["cpu_util"]) == ["0", "1", "2", "3"]
    assert json.loads(agent["local_config"]) == {
        "runtime": "simulated",
        "scaling_group": "default",
        "addr": f"inproc://agent-{FIRST}",
    }
    assert isinstance(json.loads(agent["hardware_metadata"]), dict)
    assert isinstance(json.loads(agent["compute_plugins"]), dict)

    missing = await client.gql(AGENT, {"agent_id": "no-such-agent"})
    assert missing == {"data": {"agent": None}, "errors": None}, missing


async def test_only_superadmins_see_agents(cluster: LocalCluster) -> None:
    for role in ("user", "admin"):
        user = await add_user(cluster.manager, role=role)
        client = cluster.manager.client(user.access_key, user.secret_key)
        for query, variables in ((AGENT_LIST, page_vars()), (AGENT, {"agent_id": FIRST})):
            body = await client.gql(query, variables)
            assert not any((body["data"] or {}).values()), (role, body)
            (error,) = body["errors"]
            assert error["extensions"]["error_code"] == "user_auth_forbidden", (role, body)
