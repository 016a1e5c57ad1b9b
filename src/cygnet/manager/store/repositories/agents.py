"""Agents: registration upserts, batched heartbeat updates, liveness changes (judged on the
stored heartbeat time too, so that several managers agree), and the fields ``agent_list``
filters and orders by."""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, Table, Text, bindparam, cast, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from cygnet.common.errors import InvalidAPIParameters
from cygnet.common.lifecycle import AgentStatus
from cygnet.common.rpc import AgentInfo
from cygnet.manager import entities as e
from cygnet.manager.store import models as m
from cygnet.manager.store.querying import FieldSpec, datetime_converter
from cygnet.manager.store.repositories import convert, crud


def _status(value: Any) -> str:
    """A status literal in a filter: an AgentStatus name, case-insensitively."""
    if not isinstance(value, str):
        raise TypeError("expected a status name")
    return AgentStatus(value.upper()).value


FIELDS: dict[str, FieldSpec] = {
    "id": FieldSpec(m.AgentRow.id),
    "status": FieldSpec(m.AgentRow.status, _status),
    "status_changed": FieldSpec(m.AgentRow.status_changed, datetime_converter),
    "region": FieldSpec(m.AgentRow.region),
    "scaling_group": FieldSpec(m.AgentRow.scaling_group),
    "schedulable": FieldSpec(m.AgentRow.schedulable),
    "addr": FieldSpec(m.AgentRow.addr),
    "architecture": FieldSpec(m.AgentRow.architecture),
    "version": FieldSpec(m.AgentRow.version),
    "runtime": FieldSpec(m.AgentRow.runtime),
    "first_contact": FieldSpec(m.AgentRow.first_contact, datetime_converter),
    "lost_at": FieldSpec(m.AgentRow.lost_at, datetime_converter),
}
DEFAULT_ORDER = (m.AgentRow.id.asc(),)


async def get(session: AsyncSession, agent_id: str) -> e.Agent | None:
    row = await session.get(m.AgentRow, agent_id)
    return None if row is None else convert.agent(row)


def _select(statuses: Iterable[str] | None, resource_group: str | None) -> Select[Any]:
    stmt = select(m.AgentRow)
    if statuses is not None:
        stmt = stmt.where(m.AgentRow.status.in_(list(statuses)))
    if resource_group is not None:
        stmt = stmt.where(m.AgentRow.scaling_group == resource_group)
    return stmt


async def list_all(
    session: AsyncSession,
    *,
    statuses: Iterable[str] | None = None,
    resource_group: str | None = None,
) -> list[e.Agent]:
    stmt = _select(statuses, resource_group).order_by(*DEFAULT_ORDER)
    return [convert.agent(row) for row in (await session.execute(stmt)).scalars()]


# The registration fields of an agent, which change only when it registers again: read as
# text and decoded once per distinct value (a thousand agents of one kind share them).
_REGISTERED_JSON = ("available_slots", "slot_types", "compute_plugins", "images")


@functools.lru_cache(maxsize=1024)
def _decoded(text: str) -> Any:
    return json.loads(text)


async def slot_types(session: AsyncSession) -> dict[str, str]:
    """Every slot type some agent (in any status) offers, with its kind: each distinct map
    read once, not every agent's row."""
    t = m.AgentRow.__table__
    stmt = select(cast(t.c.slot_types, Text)).distinct()
    known: dict[str, str] = {}
    for text in sorted(row[0] or "{}" for row in (await session.execute(stmt)).all()):
        known.update(_decoded(text))
    return known


# The agents the last ``alive`` read, by id, with the row they were made from: an agent whose
# row is the same (most of them, from one pass to the next) is not made again.
_alive_seen: dict[str, tuple[tuple[Any, ...], e.Agent]] = {}


async def alive(session: AsyncSession) -> list[e.Agent]:
    """The ALIVE agents, for a scheduling pass: ``list_all`` without what a pass does not use
    (hardware metadata, the agents' own occupancy report), in one Core query. The registration
    maps are shared between agents with equal values, and an agent whose row has not changed
    since the last read is the same object: read them, never change them."""
    t = m.AgentRow.__table__
    as_text = [cast(t.c[name], Text).label(name) for name in (*_REGISTERED_JSON, "live_stat")]
    stmt = (
        select(
            t.c.id,
            t.c.status,
            t.c.status_changed,
            t.c.region,
            t.c.scaling_group,
            t.c.schedulable,
            t.c.addr,
            t.c.architecture,
            t.c.version,
            t.c.runtime,
            t.c.first_contact,
            t.c.lost_at,
            t.c.last_heartbeat,
            *as_text,
        )
        .where(t.c.status == AgentStatus.ALIVE.value)
        .order_by(t.c.id)
    )
    seen: dict[str, tuple[tuple[Any, ...], e.Agent]] = {}
    for row in (await session.execute(stmt)).all():
        key = tuple(row)
        kept = _alive_seen.get(row.id)
        seen[row.id] = kept if kept is not None and kept[0] == key else (key, _alive_agent(row))
    _alive_seen.clear()
    _alive_seen.update(seen)
    return [agent for _, agent in seen.values()]


def _alive_agent(row: Any) -> e.Agent:
    return e.Agent(
        id=row.id,
        status=row.status,
        status_changed=row.status_changed,
        region=row.region,
        resource_group=row.scaling_group,
        schedulable=row.schedulable,
        available_slots=_decoded(row.available_slots or "{}"),
        occupied_slots={},
        address=row.addr,
        architecture=row.architecture,
        version=row.version,
        runtime=row.runtime,
        slot_types=_decoded(row.slot_types or "{}"),
        compute_plugins=_decoded(row.compute_plugins or "{}"),
        hardware_metadata={},
        images=_decoded(row.images or "[]"),
        live_stat=json.loads(row.live_stat or "{}"),
        first_contact=row.first_contact,
        lost_at=row.lost_at,
        last_heartbeat=row.last_heartbeat,
    )


async def page(
    session: AsyncSession,
    *,
    statuses: Iterable[str] | None = None,
    resource_group: str | None = None,
    filter_text: str | None = None,
    order_text: str | None = None,
    limit: int | None = None,
    offset: int = 0,
) -> e.Page[e.Agent]:
    """One page of agents (by id unless ``order_text`` says otherwise) and the total."""
    rows, total = await crud.page(
        session,
        _select(statuses, resource_group),
        fields=FIELDS,
        filter_text=filter_text,
        order_text=order_text,
        default_order=DEFAULT_ORDER,
        limit=limit,
        offset=offset,
    )
    return e.Page(items=[convert.agent(row) for row in rows], total_count=total)


async def register(
    session: AsyncSession, info: AgentInfo, occupied: Mapping[str, str], now: datetime
) -> e.Agent:
    """Insert the agent or refresh what it reports; it becomes ALIVE."""
    group = await session.get(m.ResourceGroupRow, info.resource_group)
    if group is None:
        raise InvalidAPIParameters(
            f"agent {info.agent_id}: resource group {info.resource_group!r} does not exist "
            "(create it with `cygnet admin resource-group create`, or fix the agent's config)"
        )
    values: dict[str, Any] = {
        "region": info.region,
        "scaling_group": info.resource_group,
        "available_slots": dict(info.available_slots),
        "occupied_slots": dict(occupied),
        "addr": info.address,
        "architecture": info.architecture,
        "version": info.version,
        "runtime": info.runtime,
        "slot_types": dict(info.slot_types),
        "compute_plugins": {acc.plugin: acc.model_dump(mode="json") for acc in info.accelerators},
        "hardware_metadata": dict(info.hardware),
        "images": [image.model_dump(mode="json") for image in info.images],
        "last_heartbeat": now,
        "lost_at": None,
    }
    row = await session.get(m.AgentRow, info.agent_id)
    if row is None:
        row = m.AgentRow(
            id=info.agent_id,
            status=AgentStatus.ALIVE,
            status_changed=now,
            schedulable=True,
            first_contact=now,
            live_stat={},
            **values,
        )
        session.add(row)
    else:
        if row.status != AgentStatus.ALIVE:
            row.status = AgentStatus.ALIVE
            row.status_changed = now
        for key, value in values.items():
            setattr(row, key, value)
    await session.flush()
    return convert.agent(row)


async def record_heartbeats(
    session: AsyncSession, beats: Mapping[str, tuple[dict[str, str], dict[str, Any], datetime]]
) -> None:
    """Store occupancy, live stats and the time of the latest heartbeat of several agents, in
    one executemany (thousands of agents flush together)."""
    if not beats:
        return
    table = m.AgentRow.__table__
    assert isinstance(table, Table)
    stmt = (
        update(table)
        .where(table.c.id == bindparam("agent_id"))
        .values(
            occupied_slots=bindparam("occupied"),
            live_stat=bindparam("live_stat"),
            last_heartbeat=bindparam("at"),
        )
    )
    rows = [
        {"agent_id": agent_id, "occupied": occupied, "live_stat": live_stat, "at": at}
        for agent_id, (occupied, live_stat, at) in beats.items()
    ]
    connection = await session.connection()
    await connection.execute(stmt, rows)


async def set_status(
    session: AsyncSession, agent_ids: Iterable[str], status: AgentStatus, now: datetime
) -> list[str]:
    """Move agents to ``status``; returns the ids that actually changed."""
    ids = list(agent_ids)
    if not ids:
        return []
    rows = (
        await session.execute(
            select(m.AgentRow).where(m.AgentRow.id.in_(ids), m.AgentRow.status != status)
        )
    ).scalars()
    changed = []
    for row in rows:
        row.status = status
        row.status_changed = now
        if status == AgentStatus.LOST:
            row.lost_at = now
        changed.append(row.id)
    await session.flush()
    return changed


@dataclass(frozen=True, slots=True)
class AgentBeat:
    """What liveness needs of an agent: where to call it, its status, its last heartbeat."""

    id: str
    status: AgentStatus
    address: str
    last_heartbeat: datetime | None


async def liveness(session: AsyncSession, *, ids: Iterable[str] | None = None) -> list[AgentBeat]:
    """The agents that are not TERMINATED (or those of ``ids``, whatever their status)."""
    row = m.AgentRow
    stmt = select(row.id, row.status, row.addr, row.last_heartbeat)
    if ids is None:
        stmt = stmt.where(row.status != AgentStatus.TERMINATED)
    else:
        stmt = stmt.where(row.id.in_(list(ids)))
    result = await session.execute(stmt.order_by(row.id))
    return [AgentBeat(i, AgentStatus(status), addr, at) for i, status, addr, at in result.all()]


async def mark_lost(
    session: AsyncSession, agent_ids: Iterable[str], *, cutoff: datetime, now: datetime
) -> list[str]:
    """Move to LOST those of ``agent_ids`` that are ALIVE and whose stored heartbeat is older
    than ``cutoff``; returns their ids. The rows are locked and the condition checked on
    their latest version, so of several managers at most one marks an agent, and never one
    whose own manager has just flushed a fresh heartbeat."""
    ids = list(agent_ids)
    if not ids:
        return []
    row = m.AgentRow
    stale = or_(row.last_heartbeat.is_(None), row.last_heartbeat < cutoff)
    stmt = (
        select(row).where(row.id.in_(ids), row.status == AgentStatus.ALIVE, stale).with_for_update()
    )
    lost = []
    for agent in (await session.execute(stmt)).scalars():
        agent.status = AgentStatus.LOST
        agent.status_changed = now
        agent.lost_at = now
        lost.append(agent.id)
    await session.flush()
    return lost
