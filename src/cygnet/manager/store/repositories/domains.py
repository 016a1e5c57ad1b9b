"""Domains."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from cygnet.manager import entities as e
from cygnet.manager.store import models as m
from cygnet.manager.store.repositories import convert, crud

WHAT = "domain"


async def get(session: AsyncSession, name: str) -> e.Domain | None:
    row = await crud.get(session, m.DomainRow, name)
    return None if row is None else convert.domain(row)


async def list_all(session: AsyncSession, *, is_active: bool | None = None) -> list[e.Domain]:
    stmt = select(m.DomainRow).order_by(m.DomainRow.created_at)
    if is_active is not None:
        stmt = stmt.where(m.DomainRow.is_active == is_active)
    return [convert.domain(row) for row in (await session.execute(stmt)).scalars()]


async def create(session: AsyncSession, values: dict[str, Any]) -> e.Domain:
    row = await crud.insert(session, m.DomainRow(**values), what=WHAT)
    return convert.domain(row)


async def update(session: AsyncSession, name: str, values: dict[str, Any]) -> e.Domain | None:
    row = await crud.get(session, m.DomainRow, name)
    if row is None:
        return None
    return convert.domain(await crud.update(session, row, values, what=WHAT))


async def has_members(session: AsyncSession, name: str) -> bool:
    """Whether any user or project still belongs to the domain."""
    users = select(m.UserRow.uuid).where(m.UserRow.domain_name == name)
    projects = select(m.ProjectRow.id).where(m.ProjectRow.domain_name == name)
    return await crud.exists(session, users) or await crud.exists(session, projects)


async def has_active_users(session: AsyncSession, name: str) -> bool:
    stmt = select(m.UserRow.uuid).where(
        m.UserRow.domain_name == name, m.UserRow.status != e.UserStatus.DELETED.value
    )
    return await crud.exists(session, stmt)


async def purge(session: AsyncSession, name: str) -> bool:
    row = await crud.get(session, m.DomainRow, name)
    if row is None:
        return False
    await crud.delete_where(
        session, m.ResourceGroupDomainRow, m.ResourceGroupDomainRow.domain == name
    )
    await crud.delete_row(session, row, what=WHAT)
    return True
