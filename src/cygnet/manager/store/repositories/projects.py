"""Projects (Backend.AI "groups"), their members and their resource-group associations."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Collection, Iterable
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from cygnet.manager import entities as e
from cygnet.manager.store import models as m
from cygnet.manager.store.repositories import convert, crud

WHAT = "project"
DEFAULT_NAME = "default"


async def _scaling_groups(
    session: AsyncSession, ids: Collection[uuid.UUID]
) -> dict[uuid.UUID, list[str]]:
    if not ids:
        return {}
    stmt = (
        select(m.ResourceGroupProjectRow.group, m.ResourceGroupProjectRow.scaling_group)
        .where(m.ResourceGroupProjectRow.group.in_(list(ids)))
        .order_by(m.ResourceGroupProjectRow.scaling_group)
    )
    found: dict[uuid.UUID, list[str]] = {}
    for group_id, name in (await session.execute(stmt)).all():
        found.setdefault(group_id, []).append(name)
    return found


async def _entities(session: AsyncSession, rows: Iterable[m.ProjectRow]) -> list[e.Project]:
    rows = list(rows)
    groups = await _scaling_groups(session, [row.id for row in rows])
    return [
        dataclasses.replace(convert.project(row), scaling_groups=groups.get(row.id, []))
        for row in rows
    ]


async def get(session: AsyncSession, project_id: uuid.UUID) -> e.Project | None:
    row = await crud.get(session, m.ProjectRow, project_id)
    return None if row is None else (await _entities(session, [row]))[0]


async def get_many(session: AsyncSession, ids: Collection[uuid.UUID]) -> list[e.Project]:
    if not ids:
        return []
    stmt = select(m.ProjectRow).where(m.ProjectRow.id.in_(list(ids)))
    return await _entities(session, (await session.execute(stmt)).scalars())


async def get_by_name(session: AsyncSession, domain_name: str, name: str) -> e.Project | None:
    stmt = select(m.ProjectRow).where(
        m.ProjectRow.domain_name == domain_name, m.ProjectRow.name == name
    )
    row = (await session.execute(stmt)).scalar_one_or_none()
    return None if row is None else (await _entities(session, [row]))[0]


async def list_all(
    session: AsyncSession,
    *,
    domain_name: str | None = None,
    is_active: bool | None = None,
    name: str | None = None,
    member: uuid.UUID | None = None,
) -> list[e.Project]:
    """Projects narrowed by domain, activity, exact name and membership of one user."""
    stmt = select(m.ProjectRow).order_by(m.ProjectRow.domain_name, m.ProjectRow.created_at)
    if domain_name is not None:
        stmt = stmt.where(m.ProjectRow.domain_name == domain_name)
    if is_active is not None:
        stmt = stmt.where(m.ProjectRow.is_active == is_active)
    if name is not None:
        stmt = stmt.where(m.ProjectRow.name == name)
    if member is not None:
        stmt = stmt.join(m.ProjectMemberRow, m.ProjectMemberRow.group_id == m.ProjectRow.id).where(
            m.ProjectMemberRow.user_id == member
        )
    return await _entities(session, (await session.execute(stmt)).scalars())


async def create(session: AsyncSession, values: dict[str, Any]) -> e.Project:
    row = await crud.insert(session, m.ProjectRow(**values), what=WHAT)
    return (await _entities(session, [row]))[0]


async def update(
    session: AsyncSession, project_id: uuid.UUID, values: dict[str, Any]
) -> e.Project | None:
    row = await crud.get(session, m.ProjectRow, project_id)
    if row is None:
        return None
    row = await crud.update(session, row, values, what=WHAT)
    return (await _entities(session, [row]))[0]


async def policy_exists(session: AsyncSession, name: str) -> bool:
    return await crud.get(session, m.ProjectResourcePolicyRow, name) is not None


async def member_ids(session: AsyncSession, project_id: uuid.UUID) -> set[uuid.UUID]:
    stmt = select(m.ProjectMemberRow.user_id).where(m.ProjectMemberRow.group_id == project_id)
    return set((await session.execute(stmt)).scalars())


async def add_members(
    session: AsyncSession, project_id: uuid.UUID, user_ids: Iterable[uuid.UUID]
) -> None:
    """Add users to a project; those already in it are left alone."""
    present = await member_ids(session, project_id)
    new = [uid for uid in dict.fromkeys(user_ids) if uid not in present]
    session.add_all(m.ProjectMemberRow(group_id=project_id, user_id=uid) for uid in new)
    await session.flush()


async def remove_members(
    session: AsyncSession, project_id: uuid.UUID, user_ids: Iterable[uuid.UUID]
) -> None:
    await crud.delete_where(
        session,
        m.ProjectMemberRow,
        m.ProjectMemberRow.group_id == project_id,
        m.ProjectMemberRow.user_id.in_(list(user_ids)),
    )


async def purge(session: AsyncSession, project_id: uuid.UUID) -> bool:
    """Delete a project with its memberships and resource-group associations."""
    row = await crud.get(session, m.ProjectRow, project_id)
    if row is None:
        return False
    await crud.delete_where(session, m.ProjectMemberRow, m.ProjectMemberRow.group_id == project_id)
    await crud.delete_where(
        session, m.ResourceGroupProjectRow, m.ResourceGroupProjectRow.group == project_id
    )
    await crud.delete_row(session, row, what=WHAT)
    return True
