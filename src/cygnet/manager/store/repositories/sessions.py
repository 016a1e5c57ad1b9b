"""Sessions and kernels: creation, lookups, pages, status transitions (checked against the
lifecycle tables and recorded), and the occupancy the manager has booked on each agent."""

from __future__ import annotations

import functools
import uuid
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from types import SimpleNamespace
from typing import Any, cast

from sqlalchemy import Select, Table, func, literal, or_, select, union_all, update
from sqlalchemy import insert as sa_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from cygnet.common.errors import SessionAlreadyExists
from cygnet.common.lifecycle import (
    NAME_RELEASING_STATUSES,
    ClusterMode,
    KernelStatus,
    SessionResult,
    SessionStatus,
    SessionType,
    Transition,
)
from cygnet.common.resources import ResourceSlot
from cygnet.manager import entities as e
from cygnet.manager.store import models as m
from cygnet.manager.store.querying import FieldSpec, enum_converter
from cygnet.manager.store.repositories import crud

S = m.SessionRow
K = m.KernelRow

# Kernels that hold resources on their agent: placed and not yet ended.
HOLDING_KERNEL_STATUSES = frozenset(
    {
        KernelStatus.SCHEDULED,
        KernelStatus.PREPARING,
        KernelStatus.BUILDING,
        KernelStatus.PULLING,
        KernelStatus.PREPARED,
        KernelStatus.CREATING,
        KernelStatus.RUNNING,
        KernelStatus.RESTARTING,
        KernelStatus.RESIZING,
        KernelStatus.SUSPENDED,
        KernelStatus.TERMINATING,
        KernelStatus.ERROR,
    }
)

SESSION_FIELDS: Mapping[str, FieldSpec] = {
    "id": FieldSpec(S.id, uuid.UUID),
    "session_id": FieldSpec(S.id, uuid.UUID),
    "name": FieldSpec(S.name),
    "session_name": FieldSpec(S.name),
    "type": FieldSpec(S.type, lambda v: str(v).lower()),
    "session_type": FieldSpec(S.type, lambda v: str(v).lower()),
    "access_key": FieldSpec(S.access_key),
    "domain_name": FieldSpec(S.domain_name),
    "group_id": FieldSpec(S.group_id, uuid.UUID),
    "scaling_group": FieldSpec(S.scaling_group),
    "image": FieldSpec(S.image),
    "architecture": FieldSpec(S.architecture),
    "tag": FieldSpec(S.tag),
    "status": FieldSpec(S.status, enum_converter(SessionStatus)),
    "status_info": FieldSpec(S.status_info),
    "status_changed": FieldSpec(S.status_changed),
    "result": FieldSpec(S.result, lambda v: str(v).upper()),
    "priority": FieldSpec(S.priority, int),
    "cluster_size": FieldSpec(S.cluster_size, int),
    "created_at": FieldSpec(S.created_at),
    "terminated_at": FieldSpec(S.terminated_at),
    "starts_at": FieldSpec(S.starts_at),
}


@dataclass(frozen=True, slots=True)
class Names:
    """Display names a session refers to by id."""

    projects: dict[uuid.UUID, str]
    emails: dict[uuid.UUID, str]


async def _names(session: AsyncSession, rows: Sequence[m.SessionRow]) -> Names:
    """The projects' names and the users' emails, in one query (a round trip fewer for every
    read of sessions as entities: the scheduling pass and the group commit make several)."""
    project_ids = {row.group_id for row in rows}
    user_ids = {row.user_uuid for row in rows}
    projects: dict[uuid.UUID, str] = {}
    emails: dict[uuid.UUID, str] = {}
    if not project_ids and not user_ids:
        return Names(projects, emails)
    stmt = union_all(
        select(literal("p"), m.ProjectRow.id, m.ProjectRow.name).where(
            m.ProjectRow.id.in_(project_ids)
        ),
        select(literal("u"), m.UserRow.uuid, m.UserRow.email).where(m.UserRow.uuid.in_(user_ids)),
    )
    for kind, key, name in (await session.execute(stmt)).all():
        (projects if kind == "p" else emails)[key] = name
    return Names(projects, emails)


def kernel_entity(row: m.KernelRow) -> e.Kernel:
    """A kernel row (ORM or any object with its columns as attributes) as an entity."""
    return e.Kernel(
        id=row.id,
        session_id=row.session_id,
        cluster_role=row.cluster_role,
        cluster_idx=row.cluster_idx,
        cluster_hostname=row.cluster_hostname,
        status=KernelStatus(row.status),
        status_info=row.status_info,
        status_data=dict(row.status_data or {}),
        status_changed=row.status_changed,
        agent_id=row.agent_id,
        agent_address=row.agent_addr,
        container_id=row.container_id,
        image=row.image,
        architecture=row.architecture,
        requested_slots=dict(row.requested_slots or {}),
        occupied_slots=dict(row.occupied_slots or {}),
        created_at=row.created_at,
        started_at=row.started_at,
        terminated_at=row.terminated_at,
        exit_code=row.exit_code,
        allocation={k: dict(v) for k, v in (row.allocation or {}).items()},
    )


def _session(row: m.SessionRow, names: Names) -> e.Session:
    return e.Session(
        id=row.id,
        name=row.name,
        type=SessionType(row.type),
        access_key=row.access_key,
        user_uuid=row.user_uuid,
        user_email=names.emails.get(row.user_uuid, ""),
        domain_name=row.domain_name,
        project_id=row.group_id,
        project_name=names.projects.get(row.group_id, ""),
        resource_group=row.scaling_group,
        image=row.image,
        architecture=row.architecture,
        tag=row.tag,
        status=SessionStatus(row.status),
        status_info=row.status_info,
        status_data=dict(row.status_data or {}),
        status_changed=row.status_changed,
        status_history=dict(row.status_history or {}),
        result=SessionResult(row.result),
        priority=row.priority,
        cluster_mode=ClusterMode(row.cluster_mode),
        cluster_size=row.cluster_size,
        requested_slots=dict(row.requested_slots or {}),
        resource_opts=dict(row.resource_opts or {}),
        environ=dict(row.environ or {}),
        startup_command=row.startup_command,
        bootstrap_script=row.bootstrap_script,
        batch_timeout=row.batch_timeout,
        callback_url=row.callback_url,
        created_at=row.created_at,
        started_at=row.started_at,
        terminated_at=row.terminated_at,
        last_activity=row.last_activity,
        num_queries=row.num_queries,
        starts_at=row.starts_at,
        designated_agents=list(row.designated_agents or []),
        kernels=[kernel_entity(k) for k in row.kernels],
        vfolder_mounts=[e.VFolderMount.from_json(v) for v in row.vfolder_mounts or []],
    )


async def session_entities(session: AsyncSession, rows: Sequence[m.SessionRow]) -> list[e.Session]:
    """Session rows (ORM or plain, with their ``kernels``) as entities, with the display names
    of their projects and users (one lookup for all)."""
    names = await _names(session, rows)
    return [_session(row, names) for row in rows]


# -- creation and lookups -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class NewSession:
    """The rows of one session to insert: its values, its kernels' and its dependencies."""

    values: dict[str, Any]
    kernels: list[dict[str, Any]]
    depends_on: Sequence[uuid.UUID] = ()


def _same_keys(rows: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """``rows`` grouped by their keys (one multi-row insert per group; column defaults fill
    what a group leaves out)."""
    groups: dict[frozenset[str], list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault(frozenset(row), []).append(row)
    return list(groups.values())


async def insert_many(
    session: AsyncSession, new: Sequence[NewSession], now: datetime
) -> list[e.Session]:
    """Insert PENDING sessions with their PENDING kernels, record their first status and
    their dependencies: one multi-row insert per table, nothing read back but the display
    names. A live session of the same owner and name raises ``IntegrityError`` (the whole
    statement fails: see ``insert`` for one session with the API's error)."""
    status, kstatus = SessionStatus.PENDING, KernelStatus.PENDING
    history = {status.value: now.isoformat()}
    sessions = [
        {
            **n.values,
            "status": status.value,
            "status_changed": now,
            "status_history": history,
            "created_at": now,
        }
        for n in new
    ]
    kernels = [
        {**k, "status": kstatus.value, "status_changed": now, "created_at": now}
        for n in new
        for k in n.kernels
    ]
    changes = [
        {
            "session_id": n.values["id"],
            "entity": "session",
            "entity_id": n.values["id"],
            "status": status.value,
            "at": now,
        }
        for n in new
    ] + [
        {
            "session_id": k["session_id"],
            "entity": "kernel",
            "entity_id": k["id"],
            "status": kstatus.value,
            "at": now,
        }
        for k in kernels
    ]
    dependencies = [
        {"session_id": n.values["id"], "depends_on": d} for n in new for d in n.depends_on
    ]
    # Core inserts of the tables (the ORM's bulk insert costs as much again per row)
    for group in _same_keys(sessions):
        await session.execute(sa_insert(_table(S)), group)
    if kernels:
        await session.execute(sa_insert(_table(K)), kernels)
    await session.execute(sa_insert(_table(m.StatusChangeRow)), changes)
    if dependencies:
        await session.execute(sa_insert(_table(m.SessionDependencyRow)), dependencies)
    # The entities come from the values: plain rows with every column (defaults filled in).
    of_session: dict[uuid.UUID, list[SimpleNamespace]] = {}
    for k in kernels:
        of_session.setdefault(k["session_id"], []).append(_plain(K, k))
    rows = []
    for values in sessions:
        row = _plain(S, values)
        row.kernels = sorted(of_session.get(values["id"], []), key=lambda k: k.cluster_idx)
        rows.append(row)
    return await session_entities(session, cast(list[m.SessionRow], rows))


def _table(model: Any) -> Table:
    return cast(Table, model.__table__)


def _plain(model: Any, values: Mapping[str, Any]) -> SimpleNamespace:
    """A row as inserted: ``values`` and, for the columns they leave out, the Python-side
    default (what the database stored; None where it has none)."""
    row = SimpleNamespace(**values)
    for key, default in _defaults(model):
        if key not in values:
            setattr(row, key, default(None) if callable(default) else default)
    return row


@functools.cache
def _defaults(model: Any) -> list[tuple[str, Any]]:
    """Each column of ``model`` with its default: a value, or a callable taking a context."""
    out: list[tuple[str, Any]] = []
    for column in model.__table__.c:
        default = column.default
        out.append((column.key, None if default is None else default.arg))
    return out


async def insert(
    session: AsyncSession,
    values: dict[str, Any],
    kernels: list[dict[str, Any]],
    now: datetime,
    *,
    depends_on: Sequence[uuid.UUID] = (),
) -> e.Session:
    """Insert a PENDING session with its PENDING kernels and record their first status.

    A live session of the same owner and name raises ``SessionAlreadyExists``."""
    try:
        async with session.begin_nested():
            return (await insert_many(session, [NewSession(values, kernels, depends_on)], now))[0]
    except IntegrityError:
        existing = await find_live_by_name(session, values["user_uuid"], values["name"])
        raise SessionAlreadyExists(
            f"A session named {values['name']!r} already exists.",
            data={"existingSessionId": str(existing.id) if existing else None},
        ) from None


def live_by_names_query(wanted: Collection[tuple[uuid.UUID, str]]) -> Select[S]:
    """The live sessions whose owner and name are among ``wanted`` (and a few more: every
    owner with every name; the caller picks the pairs). Served by the unique index on live
    names, whose condition it repeats word for word."""
    return select(S).where(
        S.name.in_(sorted({name for _, name in wanted})),
        S.user_uuid.in_(sorted({user for user, _ in wanted})),
        m.LIVE_NAME,
    )


async def find_live_by_names(
    session: AsyncSession, wanted: Collection[tuple[uuid.UUID, str]]
) -> dict[tuple[uuid.UUID, str], e.Session]:
    """The live sessions among ``wanted`` (owner, name) pairs, by pair."""
    if not wanted:
        return {}
    rows = [
        row
        for row in (await session.execute(live_by_names_query(wanted))).scalars()
        if (row.user_uuid, row.name) in wanted
    ]
    return {(s.user_uuid, s.name): s for s in await session_entities(session, rows)}


async def get(session: AsyncSession, session_id: uuid.UUID) -> e.Session | None:
    row = await session.get(S, session_id)
    return None if row is None else (await session_entities(session, [row]))[0]


async def find_live_by_name(
    session: AsyncSession, user_uuid: uuid.UUID, name: str
) -> e.Session | None:
    stmt = select(S).where(
        S.user_uuid == user_uuid,
        S.name == name,
        m.LIVE_NAME,
    )
    row = (await session.execute(stmt.limit(1))).scalars().first()
    return None if row is None else (await session_entities(session, [row]))[0]


async def find_by_name(session: AsyncSession, access_key: str, name: str) -> e.Session | None:
    """The owner's session called ``name``: the live one, else the most recent that ended."""
    stmt = (
        select(S)
        .where(S.access_key == access_key, S.name == name)
        .order_by(
            S.status.in_([s.value for s in NAME_RELEASING_STATUSES]),
            S.created_at.desc(),
        )
    )
    row = (await session.execute(stmt.limit(1))).scalars().first()
    return None if row is None else (await session_entities(session, [row]))[0]


async def page(
    session: AsyncSession,
    *,
    statuses: Sequence[SessionStatus] | None,
    access_key: str | None,
    domain_name: str | None,
    project_id: uuid.UUID | None,
    filter_text: str | None,
    order_text: str | None,
    limit: int | None,
    offset: int,
) -> e.Page[e.Session]:
    stmt: Select[Any] = select(S)
    if statuses:
        stmt = stmt.where(S.status.in_([s.value for s in statuses]))
    if access_key is not None:
        stmt = stmt.where(S.access_key == access_key)
    if domain_name is not None:
        stmt = stmt.where(S.domain_name == domain_name)
    if project_id is not None:
        stmt = stmt.where(S.group_id == project_id)
    rows, total = await crud.page(
        session,
        stmt,
        fields=SESSION_FIELDS,
        filter_text=filter_text,
        order_text=order_text,
        default_order=[S.created_at.desc(), S.id],
        limit=limit,
        offset=offset,
    )
    return e.Page(items=await session_entities(session, rows), total_count=total)


async def ids_in(
    session: AsyncSession, statuses: Iterable[SessionStatus], limit: int = 1000
) -> list[uuid.UUID]:
    """Ids of sessions in ``statuses``, oldest first (FIFO)."""
    stmt = (
        select(S.id)
        .where(S.status.in_([s.value for s in statuses]))
        .order_by(S.created_at, S.id)
        .limit(limit)
    )
    return list((await session.execute(stmt)).scalars())


async def live_kernels_on(session: AsyncSession, agent_ids: Iterable[str]) -> list[e.Kernel]:
    """Kernels that hold resources on the given agents."""
    stmt = select(K).where(
        K.agent_id.in_(list(agent_ids)),
        K.status.in_([s.value for s in HOLDING_KERNEL_STATUSES]),
    )
    return [kernel_entity(row) for row in (await session.execute(stmt)).scalars()]


async def count_live(session: AsyncSession, access_key: str) -> int:
    stmt = select(func.count()).where(
        S.access_key == access_key,
        S.status.not_in([s.value for s in NAME_RELEASING_STATUSES]),
    )
    return int((await session.execute(stmt)).scalar_one())


async def mounting(session: AsyncSession, vfolder_id: uuid.UUID) -> list[str]:
    """The names of the sessions not over yet that mount the vfolder."""
    stmt = select(S.name, S.vfolder_mounts).where(
        S.status.not_in([s.value for s in NAME_RELEASING_STATUSES])
    )
    wanted = str(vfolder_id)
    return [
        name
        for name, mounts in (await session.execute(stmt)).all()
        if any(m.get("vfid") == wanted for m in mounts or [])
    ]


async def history(session: AsyncSession, session_id: uuid.UUID) -> list[Transition]:
    stmt = (
        select(m.StatusChangeRow)
        .where(m.StatusChangeRow.session_id == session_id)
        .order_by(m.StatusChangeRow.id)
    )
    return [
        Transition(
            entity="session" if row.entity == "session" else "kernel",
            entity_id=str(row.entity_id),
            previous=row.previous,
            status=row.status,
            reason=row.reason,
            at=row.at,
        )
        for row in (await session.execute(stmt)).scalars()
    ]


async def dependencies_of(
    session: AsyncSession, session_ids: Iterable[uuid.UUID]
) -> dict[uuid.UUID, list[e.Session]]:
    """The sessions each of ``session_ids`` depends on."""
    ids = list(session_ids)
    stmt = select(m.SessionDependencyRow.session_id, m.SessionDependencyRow.depends_on).where(
        m.SessionDependencyRow.session_id.in_(ids)
    )
    pairs = (await session.execute(stmt)).all()
    rows = (
        (await session.execute(select(S).where(S.id.in_({d for _, d in pairs})))).scalars().all()
        if pairs
        else []
    )
    found = {s.id: s for s in await session_entities(session, rows)}
    out: dict[uuid.UUID, list[e.Session]] = {sid: [] for sid in ids}
    for sid, dep in pairs:
        if dep in found:
            out[sid].append(found[dep])
    for deps in out.values():
        deps.sort(key=lambda s: (s.created_at, str(s.id)))
    return out


async def live_dependants(session: AsyncSession, session_id: uuid.UUID) -> list[uuid.UUID]:
    """Sessions not yet over that depend on ``session_id``, directly or through others; the
    furthest first (the order to end them in)."""
    found: list[uuid.UUID] = []
    frontier = [session_id]
    seen = {session_id}
    dead = [s.value for s in NAME_RELEASING_STATUSES]
    while frontier:
        stmt = (
            select(m.SessionDependencyRow.session_id)
            .join(S, S.id == m.SessionDependencyRow.session_id)
            .where(m.SessionDependencyRow.depends_on.in_(frontier), S.status.not_in(dead))
        )
        frontier = [sid for sid in (await session.execute(stmt)).scalars() if sid not in seen]
        seen.update(frontier)
        found.extend(frontier)
    return list(reversed(found))


async def kernel_logs(session: AsyncSession, kernel_id: uuid.UUID) -> str | None:
    row = await session.get(K, kernel_id)
    return None if row is None else row.logs


async def touch(
    session: AsyncSession, session_id: uuid.UUID, now: datetime, *, queries: int = 0
) -> None:
    await session.execute(
        update(S)
        .where(S.id == session_id)
        .values(last_activity=now, num_queries=S.num_queries + queries)
    )


RUNNING_STATUSES = (SessionStatus.RUNNING, SessionStatus.RUNNING_DEGRADED)


@dataclass(frozen=True, slots=True)
class Deadlines:
    """What the timeout sweep needs to know about a session."""

    session_id: uuid.UUID
    type: SessionType
    status: SessionStatus
    status_changed: datetime
    started_at: datetime | None
    last_activity: datetime | None
    batch_timeout: float | None
    idle_timeout: int  # from the owner keypair's resource policy; 0: none
    max_session_lifetime: int  # likewise


async def deadlines(
    session: AsyncSession, statuses: Iterable[SessionStatus], limit: int = 10_000
) -> list[Deadlines]:
    """What the timeout sweep needs of the sessions in ``statuses``; running sessions without
    any time limit (no batch timeout, idle timeout or lifetime) are left out."""
    policy = m.KeyPairResourcePolicyRow
    stmt = (
        select(
            S.id,
            S.type,
            S.status,
            S.status_changed,
            S.started_at,
            S.last_activity,
            S.batch_timeout,
            policy.idle_timeout,
            policy.max_session_lifetime,
        )
        .select_from(S)
        .outerjoin(m.KeyPairRow, m.KeyPairRow.access_key == S.access_key)
        .outerjoin(policy, policy.name == m.KeyPairRow.resource_policy)
        .where(
            S.status.in_([s.value for s in statuses]),
            # a running session without any time limit has no deadline: not read
            or_(
                S.status.not_in([s.value for s in RUNNING_STATUSES]),
                S.batch_timeout > 0,
                policy.idle_timeout > 0,
                policy.max_session_lifetime > 0,
            ),
        )
        .limit(limit)
    )
    return [
        Deadlines(
            session_id=row[0],
            type=SessionType(row[1]),
            status=SessionStatus(row[2]),
            status_changed=row[3],
            started_at=row[4],
            last_activity=row[5],
            batch_timeout=row[6],
            idle_timeout=int(row[7] or 0),
            max_session_lifetime=int(row[8] or 0),
        )
        for row in (await session.execute(stmt)).all()
    ]


async def count_live_by_access_key(
    session: AsyncSession, access_keys: Iterable[str]
) -> dict[str, int]:
    """``count_live`` for several keypairs at once (keys without live sessions are left out)."""
    keys = list(set(access_keys))
    if not keys:
        return {}
    stmt = (
        select(S.access_key, func.count())
        .where(
            S.access_key.in_(keys),
            S.status.not_in([s.value for s in NAME_RELEASING_STATUSES]),
        )
        .group_by(S.access_key)
    )
    return {str(row[0]): int(row[1]) for row in (await session.execute(stmt)).all()}


async def count_by_status(
    session: AsyncSession, statuses: Iterable[SessionStatus] | None = None
) -> dict[str, int]:
    """How many sessions are in each status that is not over (or each of ``statuses``)."""
    if statuses is None:
        which = S.status.not_in([s.value for s in NAME_RELEASING_STATUSES])
    else:
        which = S.status.in_([s.value for s in statuses])
    stmt = select(S.status, func.count()).where(which).group_by(S.status)
    return {str(status): int(n) for status, n in (await session.execute(stmt)).all()}


async def count_pending(session: AsyncSession, access_key: str) -> int:
    """How many sessions of a keypair are PENDING."""
    stmt = select(func.count()).where(
        S.access_key == access_key, S.status == SessionStatus.PENDING.value
    )
    return int((await session.execute(stmt)).scalar_one())


async def pending_slots(session: AsyncSession, access_key: str) -> ResourceSlot:
    """What a keypair's PENDING sessions request in all."""
    stmt = select(S.requested_slots).where(
        S.access_key == access_key, S.status == SessionStatus.PENDING.value
    )
    total = ResourceSlot()
    for slots in (await session.execute(stmt)).scalars():
        total = total + ResourceSlot.from_json(slots or {})
    return total


async def count_live_in_project(session: AsyncSession, project_id: uuid.UUID) -> int:
    """Sessions of a project that have not ended (as ``count_live`` counts them)."""
    stmt = select(func.count()).where(
        S.group_id == project_id,
        S.status.not_in([s.value for s in NAME_RELEASING_STATUSES]),
    )
    return int((await session.execute(stmt)).scalar_one())


async def kernel_statuses(
    session: AsyncSession, kernel_ids: Iterable[uuid.UUID]
) -> dict[uuid.UUID, KernelStatus]:
    """The recorded status of each of ``kernel_ids`` the store knows."""
    wanted = list(kernel_ids)
    if not wanted:
        return {}
    stmt = select(K.id, K.status).where(K.id.in_(wanted))
    return {kid: KernelStatus(status) for kid, status in (await session.execute(stmt)).all()}
