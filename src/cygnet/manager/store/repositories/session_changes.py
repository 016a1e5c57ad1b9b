"""Status transitions of sessions and their kernels, on rows read and written with SQLAlchemy
Core: the sessions are locked and loaded with their kernels in two queries, changed in
memory (each status change checked against the lifecycle tables and recorded), and
``save`` writes what changed in a few statements: one executemany UPDATE per table and set
of changed columns, one executemany INSERT of the status changes (a literal multi-row
``VALUES`` is compiled anew for every row count: several times slower on both databases)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import JSON, ColumnElement, Table, Text, bindparam, insert, select, update
from sqlalchemy import cast as sa_cast
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from cygnet.common.errors import SessionAlreadyExists
from cygnet.common.lifecycle import (
    DEAD_KERNEL_STATUSES,
    KernelStatus,
    SessionStatus,
    SessionType,
    check_kernel_transition,
    check_session_transition,
    kernel_event_name,
    session_event_name,
)
from cygnet.manager import entities as e
from cygnet.manager.store import models as m
from cygnet.manager.store.repositories.sessions import kernel_entity, session_entities

SESSIONS: Table = cast(Table, m.SessionRow.__table__)
KERNELS: Table = cast(Table, m.KernelRow.__table__)
STATUS_CHANGES: Table = cast(Table, m.StatusChangeRow.__table__)


def _json_columns(table: Table) -> frozenset[str]:
    return frozenset(c.key for c in table.c if isinstance(c.type, JSON))


def _columns(table: Table, leave_out: Iterable[str] = ()) -> list[Any]:
    """The columns to load: JSON ones as their text, which ``Loaded`` decodes when first read
    (a status change reads two or three of a session's many JSON columns)."""
    json_columns = _json_columns(table)
    return [
        sa_cast(c, Text).label(c.key) if c.key in json_columns else c
        for c in table.c
        if c.key not in leave_out
    ]


# Read with a kernel only to be written (up to ``logs_limit`` bytes each): never loaded.
_KERNEL_COLUMNS = _columns(KERNELS, leave_out=["logs"])
_SESSION_COLUMNS = _columns(SESSIONS)
_JSON_COLUMNS = {t.name: _json_columns(t) for t in (SESSIONS, KERNELS)}
_BIND = {c.key: f"v_{c.key}" for t in (SESSIONS, KERNELS) for c in t.c}  # save's parameters


class Loaded:
    """One row as loaded: its columns as attributes (so the entity converters take it like an
    ORM row), JSON ones decoded when first read, and the names of those changed since
    (``dirty``), for ``save``."""

    _table: Table
    _raw: dict[str, str | None]
    dirty: set[str]

    def __init__(
        self, table: Table, values: Mapping[str, Any], raw: Mapping[str, str | None] | None = None
    ) -> None:
        self.__dict__.update(values)
        self.__dict__["_table"] = table
        self.__dict__["_raw"] = dict(raw or {})
        self.__dict__["dirty"] = set()

    def __setattr__(self, key: str, value: Any) -> None:
        if key not in self._table.c:
            raise AttributeError(f"{self._table.name} has no column {key!r}")
        self.__dict__[key] = value
        self._raw.pop(key, None)
        self.dirty.add(key)

    def __getattr__(self, key: str) -> Any:  # only for what is not in __dict__ yet
        raw = self.__dict__["_raw"]
        if key not in raw:
            raise AttributeError(key)
        text = raw.pop(key)
        value = None if text is None else json.loads(text)
        self.__dict__[key] = value
        return value


def _loaded(table: Table, keys: Sequence[str], values: Sequence[Any]) -> Loaded:
    json_columns = _JSON_COLUMNS[table.name]
    plain: dict[str, Any] = {}
    raw: dict[str, str | None] = {}
    for key, value in zip(keys, values, strict=True):
        if key in json_columns:
            raw[key] = value
        else:
            plain[key] = value
    return Loaded(table, plain, raw)


def _event(
    row: Loaded, name: str, reason: str | None, *, kernel: Loaded | None = None
) -> e.SessionEvent:
    exit_code = None
    if kernel is not None:
        exit_code = kernel.exit_code
    else:
        exit_code = (row.status_data or {}).get("kernel", {}).get("exit_code")
    return e.SessionEvent(
        name=name,
        session_id=row.id,
        session_name=row.name,
        access_key=row.access_key,
        domain_name=row.domain_name,
        project_id=row.group_id,
        status=kernel.status if kernel is not None else row.status,
        reason=reason,
        exit_code=exit_code,
        kernel_id=kernel.id if kernel is not None else None,
        cluster_role=kernel.cluster_role if kernel is not None else None,
        cluster_idx=kernel.cluster_idx if kernel is not None else None,
    )


class SessionChange:
    """Changes to one session (locked for the rest of the transaction) and its kernels. Each
    status change is checked against the lifecycle tables (``InvalidTransition`` otherwise)
    and recorded; ``events`` collects what to publish once the transaction commits. Nothing
    is written until ``save``."""

    def __init__(self, session: AsyncSession, row: Loaded, kernels: list[Loaded]) -> None:
        self._session = session
        self._row = row
        self._kernels = kernels
        self._records: list[dict[str, Any]] = []  # status changes not yet written
        self.events: list[e.SessionEvent] = []

    @property
    def id(self) -> uuid.UUID:
        return cast(uuid.UUID, self._row.id)

    @property
    def status(self) -> SessionStatus:
        return SessionStatus(self._row.status)

    @property
    def status_info(self) -> str | None:
        return cast(str | None, self._row.status_info)

    @property
    def status_changed(self) -> datetime:
        return cast(datetime, self._row.status_changed)

    @property
    def session_type(self) -> SessionType:
        return SessionType(self._row.type)

    @property
    def kernel_states(self) -> list[tuple[uuid.UUID, KernelStatus]]:
        """Each kernel's id and status, as they stand (cheaper than ``kernels``)."""
        return [(k.id, KernelStatus(k.status)) for k in self._kernels]

    @property
    def kernels(self) -> list[e.Kernel]:
        return [kernel_entity(cast(m.KernelRow, k)) for k in self._kernels]

    def kernel_status_data(self, kernel_id: uuid.UUID) -> dict[str, Any]:
        """One kernel's ``status_data`` as it stands (without making its entity)."""
        return dict(self._kernel_row(kernel_id).status_data or {})

    def _kernel_row(self, kernel_id: uuid.UUID) -> Loaded:
        for kernel in self._kernels:
            if kernel.id == kernel_id:
                return kernel
        raise LookupError(f"kernel {kernel_id} is not part of session {self._row.id}")

    def to(
        self,
        target: SessionStatus,
        now: datetime,
        *,
        reason: str | None = None,
        status_data: Mapping[str, Any] | None = None,
        values: Mapping[str, Any] | None = None,
    ) -> None:
        """Move the session to ``target`` (a no-op if it is there already)."""
        row = self._row
        current = SessionStatus(row.status)
        if current == target:
            return
        check_session_transition(current, target)
        row.status = target
        row.status_changed = now
        row.status_info = reason
        if status_data is not None:
            row.status_data = {**(row.status_data or {}), **status_data}
        history = dict(row.status_history or {})
        history.setdefault(target.value, now.isoformat())
        row.status_history = history
        if target in (SessionStatus.TERMINATED, SessionStatus.CANCELLED):
            row.terminated_at = row.terminated_at or now
        if target == SessionStatus.RUNNING:
            row.started_at = row.started_at or now
        for key, value in (values or {}).items():
            setattr(row, key, value)
        self._record("session", row.id, current, target, reason, now)
        self.events.append(_event(row, session_event_name(target), reason))

    def kernel_to(
        self,
        kernel_id: uuid.UUID,
        target: KernelStatus,
        now: datetime,
        *,
        reason: str | None = None,
        values: Mapping[str, Any] | None = None,
    ) -> None:
        kernel = self._kernel_row(kernel_id)
        current = KernelStatus(kernel.status)
        if current == target:
            return
        check_kernel_transition(current, target)
        kernel.status = target
        kernel.status_changed = now
        kernel.status_info = reason
        if target in DEAD_KERNEL_STATUSES:
            kernel.terminated_at = kernel.terminated_at or now
        if target == KernelStatus.RUNNING:
            kernel.started_at = kernel.started_at or now
        for key, value in (values or {}).items():
            setattr(kernel, key, value)
        self._record("kernel", kernel.id, current, target, reason, now)
        self.events.append(_event(self._row, kernel_event_name(target), reason, kernel=kernel))

    def set_kernel(self, kernel_id: uuid.UUID, **values: Any) -> None:
        kernel = self._kernel_row(kernel_id)
        for key, value in values.items():
            setattr(kernel, key, value)

    def set(self, **values: Any) -> None:
        for key, value in values.items():
            setattr(self._row, key, value)

    def emit(self, name: str, reason: str | None) -> None:
        """An extra session event (``session_success`` / ``session_failure``)."""
        self.events.append(_event(self._row, name, reason))

    def _record(
        self,
        entity: str,
        entity_id: uuid.UUID,
        previous: str,
        status: str,
        reason: str | None,
        now: datetime,
    ) -> None:
        self._records.append(
            {
                "session_id": self._row.id,
                "entity": entity,
                "entity_id": entity_id,
                "previous": previous,
                "status": status,
                "reason": reason,
                "at": now,
            }
        )

    async def rename(self, name: str) -> None:
        """Written at once (a live session of the same owner and name raises
        ``SessionAlreadyExists``, and the transaction goes on)."""
        try:
            async with self._session.begin_nested():
                await self._session.execute(
                    update(SESSIONS).where(SESSIONS.c.id == self._row.id).values(name=name)
                )
        except IntegrityError:
            raise SessionAlreadyExists(f"A session named {name!r} already exists.") from None
        self._row.__dict__["name"] = name  # written already: not dirty

    async def entity(self) -> e.Session:
        return (await entities([self]))[0]


async def _load(session: AsyncSession, which: ColumnElement[bool]) -> list[SessionChange]:
    """Lock (in id order) and load the sessions ``which`` selects, and their kernels: two
    queries."""
    stmt = select(*_SESSION_COLUMNS).where(which).order_by(SESSIONS.c.id)
    result = await session.execute(stmt.with_for_update())
    keys = list(result.keys())
    rows = [_loaded(SESSIONS, keys, r) for r in result.all()]
    if not rows:
        return []
    kernels: dict[uuid.UUID, list[Loaded]] = {row.id: [] for row in rows}
    kstmt = (
        select(*_KERNEL_COLUMNS)
        .where(KERNELS.c.session_id.in_(list(kernels)))
        .order_by(KERNELS.c.cluster_idx, KERNELS.c.id)
    )
    kresult = await session.execute(kstmt)
    kkeys = list(kresult.keys())
    for r in kresult.all():
        kernel = _loaded(KERNELS, kkeys, r)
        kernels[kernel.session_id].append(kernel)
    changes = []
    for row in rows:
        row.__dict__["kernels"] = kernels[row.id]  # for ``session_entities`` (not a column)
        changes.append(SessionChange(session, row, kernels[row.id]))
    return changes


async def change(session: AsyncSession, session_id: uuid.UUID) -> SessionChange | None:
    """The session, locked for the rest of the transaction (``FOR UPDATE`` on PostgreSQL;
    SQLite serialises writers anyway), ready to change; None if it does not exist. What
    changes is written by ``save``."""
    found = await _load(session, SESSIONS.c.id == session_id)
    return found[0] if found else None


async def change_many(
    session: AsyncSession, session_ids: Iterable[uuid.UUID]
) -> list[SessionChange]:
    """``change`` for several sessions in one query (locked in id order, so that two
    transactions locking overlapping sets cannot deadlock); missing ones are left out."""
    ids = sorted(set(session_ids))
    return await _load(session, SESSIONS.c.id.in_(ids)) if ids else []


async def pending(session: AsyncSession, limit: int) -> list[SessionChange]:
    """The first ``limit`` sessions of the queue (PENDING, oldest first), locked and loaded
    in one go, in queue order, ready to change: what a scheduling pass reads and decides."""
    queue = (
        select(SESSIONS.c.id)
        .where(SESSIONS.c.status == SessionStatus.PENDING.value)
        .order_by(SESSIONS.c.created_at, SESSIONS.c.id)
        .limit(limit)
    )
    loaded = await _load(session, SESSIONS.c.id.in_(queue.scalar_subquery()))
    # one changed meanwhile (PostgreSQL locks the row's newest version) is no longer queued
    queued = [c for c in loaded if c.status == SessionStatus.PENDING]
    return sorted(queued, key=lambda c: (c._row.created_at, c.id))


async def save(session: AsyncSession, changes: Iterable[SessionChange]) -> None:
    """Write what ``changes`` changed (in the transaction they were loaded in): one
    executemany UPDATE per table and set of changed columns, then every status change in
    one executemany INSERT. What is written is no longer pending (saving twice writes once)."""
    updates: dict[tuple[str, frozenset[str]], list[dict[str, Any]]] = {}
    records: list[dict[str, Any]] = []
    for change in changes:
        for row in (change._row, *change._kernels):
            if not row.dirty:
                continue
            columns = frozenset(row.dirty)
            values = {_BIND[c]: row.__dict__[c] for c in columns}
            updates.setdefault((row._table.name, columns), []).append({"b_id": row.id, **values})
            row.dirty.clear()
        records += change._records
        change._records = []
    tables = {SESSIONS.name: SESSIONS, KERNELS.name: KERNELS}
    for (name, columns), params in updates.items():
        table = tables[name]
        stmt = (
            update(table)
            .where(table.c.id == bindparam("b_id"))
            .values({c: bindparam(_BIND[c], type_=table.c[c].type) for c in sorted(columns)})
        )
        await session.execute(stmt, sorted(params, key=lambda p: p["b_id"]))
    if records:
        await session.execute(insert(STATUS_CHANGES), records)


async def entities(changes: Sequence[SessionChange]) -> list[e.Session]:
    """The sessions of ``changes`` (all of one transaction) as they stand in it, saved or not:
    one lookup of display names for all."""
    if not changes:
        return []
    rows = [cast(m.SessionRow, c._row) for c in changes]
    return await session_entities(changes[0]._session, rows)
