"""Agents: ``agent_list`` (paginated) and ``agent(agent_id)``, superadmins only.

Slot maps, ``hardware_metadata``, ``compute_plugins``, ``live_stat`` and ``local_config`` are
JSONString fields (JSON-encoded strings). ``live_stat`` takes Backend.AI's shape,
``{"node": {metric: value}, "devices": {metric: {device: value}}}`` with values
``{current, capacity, pct, unit_hint}``, because the official CLI reads it that way (``admin
agent info`` fails on anything else); ``cpu_cur_pct`` (0-100, averaged over the cores) and
``mem_cur_bytes`` come from the same heartbeat sample. An agent that has not reported a sample
yet answers null for all three.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any

import strawberry

from cygnet.manager import entities as e
from cygnet.manager.api.graphql.common import found_or_none, page_args
from cygnet.manager.api.graphql.context import Info
from cygnet.manager.api.graphql.scalars import JSONString

FilterArg = Annotated[str | None, strawberry.argument(name="filter")]


def _metric(current: float | int | None, capacity: float | int | None, unit: str) -> dict[str, Any]:
    """A Backend.AI ``MetricValue``: numbers as strings, ``pct`` of the capacity (2 decimals)."""
    pct = None
    if current is not None and capacity:
        pct = f"{current / capacity * 100:.2f}"
    return {
        "current": None if current is None else str(current),
        "capacity": None if capacity is None else str(capacity),
        "pct": pct,
        "unit_hint": unit,
    }


def _cores(agent: e.Agent) -> int:
    try:
        return max(0, int(Decimal(agent.available_slots.get("cpu", "0"))))
    except (InvalidOperation, ValueError):
        return 0


def backendai_live_stat(agent: e.Agent) -> dict[str, Any] | None:
    """The agent's latest heartbeat sample in Backend.AI's ``live_stat`` shape (None if none).

    The agent samples node-wide figures only, so the per-core entries carry no value."""
    stat = agent.live_stat
    if not stat:
        return None
    cores = _cores(agent)
    cpu = _metric(float(stat.get("cpu_percent", 0.0)), cores * 100 or None, "percent")
    mem = _metric(int(stat.get("mem_used", 0)), int(stat.get("mem_total", 0)) or None, "bytes")
    disk = _metric(int(stat.get("disk_used", 0)), int(stat.get("disk_total", 0)) or None, "bytes")
    return {
        "node": {"cpu_util": cpu, "mem": mem, "disk": disk},
        "devices": {
            "cpu_util": {str(i): _metric(None, 100, "percent") for i in range(cores)},
            "mem": {"root": mem},
        },
    }


@strawberry.type(name="Agent")
class AgentNode:
    id: strawberry.ID
    status: str
    status_changed: datetime | None
    region: str
    scaling_group: str
    schedulable: bool
    architecture: str
    version: str
    runtime: str
    addr: str
    first_contact: datetime
    lost_at: datetime | None
    cpu_cur_pct: float | None
    mem_cur_bytes: float | None
    available_slots: JSONString
    occupied_slots: JSONString
    hardware_metadata: JSONString
    live_stat: JSONString | None
    local_config: JSONString
    compute_plugins: JSONString

    @classmethod
    def of(cls, agent: e.Agent) -> AgentNode:
        live = backendai_live_stat(agent)
        cpu_pct = live["node"]["cpu_util"]["pct"] if live else None
        return cls(
            id=strawberry.ID(agent.id),
            status=agent.status,
            status_changed=agent.status_changed,
            region=agent.region,
            scaling_group=agent.resource_group,
            schedulable=agent.schedulable,
            architecture=agent.architecture,
            version=agent.version,
            runtime=agent.runtime,
            addr=agent.address,
            first_contact=agent.first_contact,
            lost_at=agent.lost_at,
            cpu_cur_pct=None if cpu_pct is None else float(cpu_pct),
            mem_cur_bytes=float(agent.live_stat.get("mem_used", 0)) if live else None,
            available_slots=JSONString(agent.available_slots),
            occupied_slots=JSONString(agent.occupied_slots),
            hardware_metadata=JSONString(agent.hardware_metadata),
            live_stat=None if live is None else JSONString(live),
            local_config=JSONString(
                {
                    "runtime": agent.runtime,
                    "scaling_group": agent.resource_group,
                    "addr": agent.address,
                }
            ),
            compute_plugins=JSONString(agent.compute_plugins),
        )


@strawberry.type(name="AgentList")
class AgentListNode:
    items: list[AgentNode]
    total_count: int


@strawberry.type
class AgentQuery:
    @strawberry.field
    async def agent_list(
        self,
        info: Info,
        limit: int,
        offset: int,
        status: str | None = None,
        scaling_group: str | None = None,
        filter: FilterArg = None,
        order: str | None = None,
    ) -> AgentListNode:
        ctx = info.context
        limit, offset = page_args(limit, offset)
        found = await ctx.services.agent_admin.list_agents(
            ctx.caller,
            status=status,
            resource_group=scaling_group,
            filter_text=filter,
            order_text=order,
            limit=limit,
            offset=offset,
        )
        return AgentListNode(
            items=[AgentNode.of(a) for a in found.items], total_count=found.total_count
        )

    @strawberry.field
    async def agent(self, info: Info, agent_id: str) -> AgentNode | None:
        ctx = info.context
        found = await found_or_none(ctx.services.agent_admin.get_agent(ctx.caller, agent_id))
        return AgentNode.of(found) if found else None
