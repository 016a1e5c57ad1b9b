"""What a scheduling cycle needs from the store, read in a handful of queries (the cycle itself
reads nothing), and the lock that serialises cycles across managers."""

from __future__ import annotations

import functools
import json
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Text, cast, func, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from cygnet.common.lifecycle import SessionResult, SessionStatus
from cygnet.common.resources import ResourceSlot
from cygnet.manager import entities as e
from cygnet.manager.store import models as m
from cygnet.manager.store.repositories import convert
from cygnet.manager.store.repositories.sessions import HOLDING_KERNEL_STATUSES

S = m.SessionRow
K = m.KernelRow
_LOCK_ID = 0x6379676E6574_01  # "cygnet" + 1: the scheduling lock


async def lock(session: AsyncSession) -> None:
    """Hold the scheduling lock until the transaction ends. On PostgreSQL an advisory lock, so
    that two managers never book the same free room; SQLite serialises writers anyway."""
    if session.get_bind().dialect.name == "postgresql":
        await session.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": _LOCK_ID})


@dataclass(frozen=True, slots=True)
class KeypairPolicy:
    max_concurrent_sessions: int | None
    max_containers_per_session: int | None
    total_resource_slots: dict[str, Any]
    default_for_unspecified: str


@dataclass(frozen=True, slots=True)
class Usage:
    """What the live sessions of one owner hold in all (kernels in a holding status)."""

    access_key: str
    user: uuid.UUID
    project: uuid.UUID
    domain: str
    slots: ResourceSlot


@dataclass(frozen=True, slots=True)
class DependencyState:
    name: str
    status: SessionStatus
    result: SessionResult


@dataclass(slots=True)
class SchedulingInputs:
    live: list[Usage] = field(default_factory=list)
    live_sessions: dict[str, int] = field(default_factory=dict)  # per keypair
    keypair_policies: dict[str, KeypairPolicy] = field(default_factory=dict)
    project_slots: dict[uuid.UUID, dict[str, Any]] = field(default_factory=dict)
    domain_slots: dict[str, dict[str, Any]] = field(default_factory=dict)
    domain_groups: dict[str, set[str]] = field(default_factory=dict)
    project_groups: dict[uuid.UUID, set[str]] = field(default_factory=dict)
    keypair_groups: dict[str, set[str]] = field(default_factory=dict)
    dependencies: dict[uuid.UUID, list[uuid.UUID]] = field(default_factory=dict)
    dependency_states: dict[uuid.UUID, DependencyState] = field(default_factory=dict)
    resource_groups: dict[str, e.ResourceGroup] = field(default_factory=dict)


async def inputs(session: AsyncSession, pending: Sequence[e.Session]) -> SchedulingInputs:
    """Usage, limits, associations, dependencies and resource-group settings for a cycle over
    ``pending``."""
    out = SchedulingInputs()
    out.live, out.live_sessions = await live_usage(session)
    access_keys = {s.access_key for s in pending} | {s.access_key for s in out.live}
    projects = {s.project_id for s in pending} | {s.project for s in out.live}
    domains = {s.domain_name for s in pending} | {s.domain for s in out.live}
    policy = m.KeyPairResourcePolicyRow
    rows = await session.execute(
        select(
            m.KeyPairRow.access_key,
            policy.max_concurrent_sessions,
            policy.max_containers_per_session,
            policy.total_resource_slots,
            policy.default_for_unspecified,
        )
        .join(policy, policy.name == m.KeyPairRow.resource_policy)
        .where(m.KeyPairRow.access_key.in_(access_keys))
    )
    for key, mcs, mcps, slots, unspecified in rows.all():
        out.keypair_policies[key] = KeypairPolicy(mcs, mcps, dict(slots or {}), str(unspecified))
    rows = await session.execute(
        select(m.ProjectRow.id, m.ProjectRow.total_resource_slots).where(
            m.ProjectRow.id.in_(projects)
        )
    )
    out.project_slots = {pid: dict(slots or {}) for pid, slots in rows.all()}
    rows = await session.execute(
        select(m.DomainRow.name, m.DomainRow.total_resource_slots).where(
            m.DomainRow.name.in_(domains)
        )
    )
    out.domain_slots = {name: dict(slots or {}) for name, slots in rows.all()}
    out.domain_groups = await _links(
        session, m.ResourceGroupDomainRow.domain, m.ResourceGroupDomainRow.scaling_group, domains
    )
    out.project_groups = await _links(
        session, m.ResourceGroupProjectRow.group, m.ResourceGroupProjectRow.scaling_group, projects
    )
    out.keypair_groups = await _links(
        session,
        m.ResourceGroupKeyPairRow.access_key,
        m.ResourceGroupKeyPairRow.scaling_group,
        access_keys,
    )
    pending_ids = [s.id for s in pending]
    rows = await session.execute(
        select(m.SessionDependencyRow.session_id, m.SessionDependencyRow.depends_on).where(
            m.SessionDependencyRow.session_id.in_(pending_ids)
        )
    )
    for session_id, depends_on in rows.all():
        out.dependencies.setdefault(session_id, []).append(depends_on)
    wanted = {d for deps in out.dependencies.values() for d in deps}
    if wanted:
        rows = await session.execute(
            select(S.id, S.name, S.status, S.result).where(S.id.in_(wanted))
        )
        out.dependency_states = {
            sid: DependencyState(name, SessionStatus(status), SessionResult(result))
            for sid, name, status, result in rows.all()
        }
    groups = {s.resource_group for s in pending}
    rows = await session.execute(
        select(m.ResourceGroupRow).where(m.ResourceGroupRow.name.in_(groups))
    )
    out.resource_groups = {row.name: convert.resource_group(row) for row in rows.scalars()}
    return out


async def _links(
    session: AsyncSession, key: Any, group: Any, keys: Iterable[Any]
) -> dict[Any, set[str]]:
    links: dict[Any, set[str]] = {}
    for k, name in (await session.execute(select(key, group).where(key.in_(list(keys))))).all():
        links.setdefault(k, set()).add(name)
    return links


@dataclass(frozen=True, slots=True)
class Holding:
    """What ``count`` placed, live kernels with the same request and devices hold on their
    agent: the request and, per slot, the devices (the scheduler's booking until the agent
    reports its allocation; empty when unknown)."""

    requested: ResourceSlot
    allocation: Mapping[str, Mapping[str, str]]
    count: int = 1


@dataclass(frozen=True, slots=True)
class Bookings:
    slots: dict[str, ResourceSlot]  # agent id -> the sum of its kernels' requests
    holdings: dict[str, list[Holding]]  # agent id -> its kernels (for per-device room)


async def bookings(session: AsyncSession, devices_on: Iterable[str] | None = None) -> Bookings:
    """What the manager has booked on each agent: the requests of its placed, live kernels,
    summed in the database per agent and request. ``holdings`` (the kernels with their
    devices, for per-device room) only for the agents ``devices_on`` (all when None): the
    others have no devices to share out, and a kernel's own allocation (its cores) would make
    every row distinct."""
    holding = K.status.in_([s.value for s in HOLDING_KERNEL_STATUSES])
    stmt = (
        select(K.agent_id, _as_text(K.requested_slots), func.count())
        .where(K.agent_id.is_not(None), holding)
        .group_by(K.agent_id, K.requested_slots)
    )
    booked: dict[str, ResourceSlot] = {}
    for agent_id, slots, count in (await session.execute(stmt)).all():
        held = parse_slots_text(slots) * count
        previous = booked.get(agent_id)
        booked[agent_id] = held if previous is None else previous + held
    holdings: dict[str, list[Holding]] = {}
    wanted = None if devices_on is None else list(devices_on)
    if wanted is None or wanted:
        stmt = (
            select(K.agent_id, _as_text(K.requested_slots), K.allocation, func.count())
            .where(K.agent_id.is_not(None), holding)
            .group_by(K.agent_id, K.requested_slots, K.allocation)
        )
        if wanted is not None:
            stmt = stmt.where(K.agent_id.in_(wanted))
        for agent_id, slots, allocation, count in (await session.execute(stmt)).all():
            holdings.setdefault(agent_id, []).append(
                Holding(parse_slots_text(slots), allocation or {}, count)
            )
    return Bookings(booked, holdings)


async def occupancy(session: AsyncSession) -> dict[str, ResourceSlot]:
    """What the manager has booked on each agent: the requests of its placed, live kernels."""
    return (await bookings(session)).slots


async def live_usage(session: AsyncSession) -> tuple[list[Usage], dict[str, int]]:
    """What the sessions holding resources hold, summed per owner (keypair, user, project,
    domain), and how many such sessions each keypair has: aggregated in the database (kernels
    grouped by owner and request), so a pass reads a handful of rows however many run."""
    holding = K.status.in_([s.value for s in HOLDING_KERNEL_STATUSES])
    owner = (S.access_key, S.user_uuid, S.group_id, S.domain_name)
    stmt = (
        select(*owner, _as_text(K.requested_slots), func.count())
        .join(K, K.session_id == S.id)
        .where(holding)
        .group_by(*owner, K.requested_slots)
    )
    totals: dict[tuple[str, uuid.UUID, uuid.UUID, str], ResourceSlot] = {}
    for key, user, project, domain, slots, count in (await session.execute(stmt)).all():
        held = parse_slots_text(slots) * count
        who = (key, user, project, domain)
        previous = totals.get(who)
        totals[who] = held if previous is None else previous + held
    stmt2 = (
        select(S.access_key, func.count(S.id.distinct()))
        .join(K, K.session_id == S.id)
        .where(holding)
        .group_by(S.access_key)
    )
    counts = {key: int(n) for key, n in (await session.execute(stmt2)).all()}
    return [Usage(*who, slots) for who, slots in totals.items()], counts


@functools.lru_cache(maxsize=4096)
def _parse_items(items: tuple[tuple[str, Any], ...]) -> ResourceSlot:
    return ResourceSlot.from_json(dict(items))


def parse_slots(slots: Mapping[str, Any] | None) -> ResourceSlot:
    """``ResourceSlot.from_json`` remembered by value (a pass sees the same few requests many
    times over); a map with unhashable values is parsed afresh."""
    try:
        return _parse_items(tuple(sorted((slots or {}).items())))
    except TypeError:
        return ResourceSlot.from_json(dict(slots or {}))


def _as_text(column: Any) -> Any:
    """A JSON column read as its text: a grouped read returns the same few requests on many
    rows (one per agent), which ``parse_slots_text`` then decodes once each."""
    return cast(column, Text)


@functools.lru_cache(maxsize=4096)
def parse_slots_text(raw: str | None) -> ResourceSlot:
    """A request stored as JSON text, as a ``ResourceSlot`` (remembered by text)."""
    return parse_slots(json.loads(raw) if raw else None)


async def record_explanations(session: AsyncSession, data: dict[uuid.UUID, dict[str, Any]]) -> None:
    """Write the ``status_data`` of pending sessions (why they wait), one bulk update."""
    if data:
        await session.execute(
            update(S), [{"id": sid, "status_data": values} for sid, values in data.items()]
        )
