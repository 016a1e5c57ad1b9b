"""Keypairs (access/secret keys) with their owners, and the fields ``keypair_list`` filters by."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from cygnet.manager import entities as e
from cygnet.manager.store import models as m
from cygnet.manager.store.querying import FieldSpec, datetime_converter
from cygnet.manager.store.repositories import convert, crud
from cygnet.manager.store.repositories import users as users_repo

WHAT = "keypair"

FIELDS: dict[str, FieldSpec] = {
    "access_key": FieldSpec(m.KeyPairRow.access_key),
    "user_id": FieldSpec(m.KeyPairRow.user_id),
    "email": FieldSpec(m.KeyPairRow.user_id),
    "full_name": FieldSpec(m.UserRow.full_name),
    "username": FieldSpec(m.UserRow.username),
    "domain_name": FieldSpec(m.UserRow.domain_name),
    "is_active": FieldSpec(m.KeyPairRow.is_active),
    "is_admin": FieldSpec(m.KeyPairRow.is_admin),
    "created_at": FieldSpec(m.KeyPairRow.created_at, datetime_converter),
    "modified_at": FieldSpec(m.KeyPairRow.modified_at, datetime_converter),
    "last_used": FieldSpec(m.KeyPairRow.last_used, datetime_converter),
    "rate_limit": FieldSpec(m.KeyPairRow.rate_limit),
    "num_queries": FieldSpec(m.KeyPairRow.num_queries),
    "resource_policy": FieldSpec(m.KeyPairRow.resource_policy),
}
DEFAULT_ORDER = (m.KeyPairRow.created_at.desc(), m.KeyPairRow.access_key.asc())


@dataclass(frozen=True, slots=True)
class KeyPairFilter:
    """The plain arguments of ``keypair_list`` / ``keypairs``."""

    domain_name: str | None = None
    email: str | None = None
    is_active: bool | None = None


async def _owned(session: AsyncSession, rows: list[m.KeyPairRow]) -> list[e.OwnedKeyPair]:
    owners = {u.uuid: u for u in await users_repo.get_many(session, {r.user for r in rows})}
    return [e.OwnedKeyPair(keypair=convert.keypair(r), owner=owners[r.user]) for r in rows]


async def get(session: AsyncSession, access_key: str) -> e.KeyPair | None:
    row = await crud.get(session, m.KeyPairRow, access_key)
    return None if row is None else convert.keypair(row)


async def get_owned(session: AsyncSession, access_key: str) -> e.OwnedKeyPair | None:
    row = await crud.get(session, m.KeyPairRow, access_key)
    return None if row is None else (await _owned(session, [row]))[0]


async def of_user(session: AsyncSession, user_id: uuid.UUID) -> list[e.KeyPair]:
    stmt = select(m.KeyPairRow).where(m.KeyPairRow.user == user_id)
    return [convert.keypair(row) for row in (await session.execute(stmt)).scalars()]


def _select(where: KeyPairFilter) -> Select[Any]:
    stmt = select(m.KeyPairRow).join(m.UserRow, m.UserRow.uuid == m.KeyPairRow.user)
    if where.domain_name is not None:
        stmt = stmt.where(m.UserRow.domain_name == where.domain_name)
    if where.email is not None:
        stmt = stmt.where(m.KeyPairRow.user_id == where.email)
    if where.is_active is not None:
        stmt = stmt.where(m.KeyPairRow.is_active == where.is_active)
    return stmt


async def page(
    session: AsyncSession,
    where: KeyPairFilter,
    *,
    filter_text: str | None = None,
    order_text: str | None = None,
    limit: int | None = None,
    offset: int = 0,
) -> e.Page[e.OwnedKeyPair]:
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
    return e.Page(items=await _owned(session, rows), total_count=total)


async def policy_exists(session: AsyncSession, name: str) -> bool:
    return await crud.get(session, m.KeyPairResourcePolicyRow, name) is not None


async def create(session: AsyncSession, values: dict[str, Any]) -> e.KeyPair:
    row = await crud.insert(session, m.KeyPairRow(**values), what=WHAT)
    return convert.keypair(row)


async def update_one(session: AsyncSession, access_key: str, values: dict[str, Any]) -> None:
    row = await crud.get(session, m.KeyPairRow, access_key)
    if row is not None:
        await crud.update(session, row, values, what=WHAT)


async def update_of_user(session: AsyncSession, user_id: uuid.UUID, values: dict[str, Any]) -> None:
    """Set ``values`` on every keypair of one user."""
    await session.execute(
        update(m.KeyPairRow)
        .where(m.KeyPairRow.user == user_id)
        .values(**values)
        .execution_options(synchronize_session="fetch")
    )


async def delete(session: AsyncSession, access_key: str) -> bool:
    row = await crud.get(session, m.KeyPairRow, access_key)
    if row is None:
        return False
    await crud.delete_where(
        session, m.ResourceGroupKeyPairRow, m.ResourceGroupKeyPairRow.access_key == access_key
    )
    await crud.delete_row(session, row, what=WHAT)
    return True
