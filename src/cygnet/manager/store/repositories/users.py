"""Users, their project memberships, and the fields ``user_list`` filters and orders by."""

from __future__ import annotations

import uuid
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from cygnet.manager import entities as e
from cygnet.manager.store import models as m
from cygnet.manager.store.querying import (
    FieldSpec,
    datetime_converter,
    enum_converter,
    uuid_converter,
)
from cygnet.manager.store.repositories import convert, crud

WHAT = "user"

_role = enum_converter(e.UserRole)
_status = enum_converter(e.UserStatus)

FIELDS: dict[str, FieldSpec] = {
    "uuid": FieldSpec(m.UserRow.uuid, uuid_converter),
    "id": FieldSpec(m.UserRow.uuid, uuid_converter),
    "username": FieldSpec(m.UserRow.username),
    "email": FieldSpec(m.UserRow.email),
    "full_name": FieldSpec(m.UserRow.full_name),
    "description": FieldSpec(m.UserRow.description),
    "role": FieldSpec(m.UserRow.role, lambda v: _role(v).value),
    "status": FieldSpec(m.UserRow.status, lambda v: _status(v).value),
    "status_info": FieldSpec(m.UserRow.status_info),
    "domain_name": FieldSpec(m.UserRow.domain_name),
    "created_at": FieldSpec(m.UserRow.created_at, datetime_converter),
    "modified_at": FieldSpec(m.UserRow.modified_at, datetime_converter),
    "need_password_change": FieldSpec(m.UserRow.need_password_change),
    "totp_activated": FieldSpec(m.UserRow.totp_activated),
    "sudo_session_enabled": FieldSpec(m.UserRow.sudo_session_enabled),
    "main_access_key": FieldSpec(m.UserRow.main_access_key),
    "resource_policy": FieldSpec(m.UserRow.resource_policy),
    "container_uid": FieldSpec(m.UserRow.container_uid),
    "container_main_gid": FieldSpec(m.UserRow.container_main_gid),
}
DEFAULT_ORDER = (m.UserRow.created_at.desc(), m.UserRow.email.asc())


@dataclass(frozen=True, slots=True)
class UserFilter:
    """The plain arguments of ``user_list`` / ``users`` (the mini-language comes separately)."""

    domain_name: str | None = None
    project_id: uuid.UUID | None = None
    statuses: Collection[e.UserStatus] | None = None


async def groups_of(
    session: AsyncSession, user_ids: Collection[uuid.UUID]
) -> dict[uuid.UUID, list[e.ProjectRef]]:
    """The projects each user belongs to, ordered by name."""
    if not user_ids:
        return {}
    stmt = (
        select(m.ProjectMemberRow.user_id, m.ProjectRow.id, m.ProjectRow.name)
        .join(m.ProjectRow, m.ProjectRow.id == m.ProjectMemberRow.group_id)
        .where(m.ProjectMemberRow.user_id.in_(list(user_ids)))
        .order_by(m.ProjectRow.name)
    )
    found: dict[uuid.UUID, list[e.ProjectRef]] = {}
    for user_id, project_id, name in (await session.execute(stmt)).all():
        found.setdefault(user_id, []).append(e.ProjectRef(id=project_id, name=name))
    return found


async def entities(session: AsyncSession, rows: Iterable[m.UserRow]) -> list[e.User]:
    rows = list(rows)
    groups = await groups_of(session, [row.uuid for row in rows])
    return [convert.user(row, groups.get(row.uuid, [])) for row in rows]


async def _one(session: AsyncSession, row: m.UserRow | None) -> e.User | None:
    return None if row is None else (await entities(session, [row]))[0]


async def get(session: AsyncSession, user_id: uuid.UUID) -> e.User | None:
    return await _one(session, await crud.get(session, m.UserRow, user_id))


async def get_many(session: AsyncSession, user_ids: Collection[uuid.UUID]) -> list[e.User]:
    if not user_ids:
        return []
    stmt = select(m.UserRow).where(m.UserRow.uuid.in_(list(user_ids)))
    return await entities(session, (await session.execute(stmt)).scalars())


async def _row_by_email(session: AsyncSession, email: str) -> m.UserRow | None:
    stmt = select(m.UserRow).where(m.UserRow.email == email)
    return (await session.execute(stmt)).scalar_one_or_none()


async def get_by_email(session: AsyncSession, email: str) -> e.User | None:
    return await _one(session, await _row_by_email(session, email))


async def get_with_password(session: AsyncSession, email: str) -> tuple[e.User, str] | None:
    """The user and its password hash (only for checking a login)."""
    row = await _row_by_email(session, email)
    if row is None:
        return None
    return convert.user(row), row.password


async def username_taken(
    session: AsyncSession, username: str, *, other_than: uuid.UUID | None = None
) -> bool:
    stmt = select(m.UserRow.uuid).where(m.UserRow.username == username)
    if other_than is not None:
        stmt = stmt.where(m.UserRow.uuid != other_than)
    return await crud.exists(session, stmt)


async def policy_exists(session: AsyncSession, name: str) -> bool:
    return await crud.get(session, m.UserResourcePolicyRow, name) is not None


def _select(where: UserFilter) -> Select[Any]:
    stmt = select(m.UserRow)
    if where.domain_name is not None:
        stmt = stmt.where(m.UserRow.domain_name == where.domain_name)
    if where.statuses is not None:
        stmt = stmt.where(m.UserRow.status.in_([s.value for s in where.statuses]))
    if where.project_id is not None:
        members = select(m.ProjectMemberRow.user_id).where(
            m.ProjectMemberRow.group_id == where.project_id
        )
        stmt = stmt.where(m.UserRow.uuid.in_(members))
    return stmt


async def page(
    session: AsyncSession,
    where: UserFilter,
    *,
    filter_text: str | None = None,
    order_text: str | None = None,
    limit: int | None = None,
    offset: int = 0,
) -> e.Page[e.User]:
    rows, total = await crud.page(
        session,
        _select(where),
        fields=FIELDS,
        filter_text=filter_text,
        order_text=order_text,
        default_order=DEFAULT_ORDER,
        limit=limit,
        offset=offset,
    )
    return e.Page(items=await entities(session, rows), total_count=total)


async def create(session: AsyncSession, values: dict[str, Any]) -> e.User:
    row = await crud.insert(session, m.UserRow(**values), what=WHAT)
    return (await entities(session, [row]))[0]


async def update(session: AsyncSession, user_id: uuid.UUID, values: dict[str, Any]) -> None:
    row = await crud.get(session, m.UserRow, user_id)
    if row is not None:
        await crud.update(session, row, values, what=WHAT)


async def set_memberships(
    session: AsyncSession, user_id: uuid.UUID, project_ids: Iterable[uuid.UUID]
) -> None:
    """Make ``project_ids`` exactly the projects the user belongs to."""
    await crud.delete_where(session, m.ProjectMemberRow, m.ProjectMemberRow.user_id == user_id)
    session.add_all(
        m.ProjectMemberRow(group_id=pid, user_id=user_id) for pid in dict.fromkeys(project_ids)
    )
    await session.flush()


async def purge(session: AsyncSession, user_id: uuid.UUID) -> bool:
    """Delete a user with its keypairs and memberships."""
    row = await crud.get(session, m.UserRow, user_id)
    if row is None:
        return False
    keys = select(m.KeyPairRow.access_key).where(m.KeyPairRow.user == user_id)
    await crud.delete_where(
        session, m.ResourceGroupKeyPairRow, m.ResourceGroupKeyPairRow.access_key.in_(keys)
    )
    await crud.delete_where(session, m.KeyPairRow, m.KeyPairRow.user == user_id)
    await crud.delete_where(session, m.ProjectMemberRow, m.ProjectMemberRow.user_id == user_id)
    await crud.delete_row(session, row, what=WHAT)
    return True
