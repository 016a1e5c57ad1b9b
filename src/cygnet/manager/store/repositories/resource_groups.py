"""Resource groups (Backend.AI "scaling groups") and their links to domains, projects and keys."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from cygnet.manager import entities as e
from cygnet.manager.store import models as m
from cygnet.manager.store.repositories import convert, crud

WHAT = "resource group"

Domain = m.ResourceGroupDomainRow
Project = m.ResourceGroupProjectRow
KeyPair = m.ResourceGroupKeyPairRow


@dataclass(frozen=True, slots=True)
class KeyPairOwner:
    user_uuid: uuid.UUID
    domain_name: str


async def get(session: AsyncSession, name: str) -> e.ResourceGroup | None:
    row = await crud.get(session, m.ResourceGroupRow, name)
    return None if row is None else convert.resource_group(row)


async def _list(
    session: AsyncSession, stmt: Select[m.ResourceGroupRow], is_active: bool | None
) -> list[e.ResourceGroup]:
    if is_active is not None:
        stmt = stmt.where(m.ResourceGroupRow.is_active == is_active)
    stmt = stmt.order_by(m.ResourceGroupRow.created_at, m.ResourceGroupRow.name)
    return [convert.resource_group(row) for row in (await session.execute(stmt)).scalars()]


async def list_all(
    session: AsyncSession, *, name: str | None = None, is_active: bool | None = None
) -> list[e.ResourceGroup]:
    stmt = select(m.ResourceGroupRow)
    if name is not None:
        stmt = stmt.where(m.ResourceGroupRow.name == name)
    return await _list(session, stmt, is_active)


async def list_for_domain(
    session: AsyncSession, domain: str, *, is_active: bool | None = None
) -> list[e.ResourceGroup]:
    linked = select(Domain.scaling_group).where(Domain.domain == domain)
    return await _list(
        session, select(m.ResourceGroupRow).where(m.ResourceGroupRow.name.in_(linked)), is_active
    )


async def list_for_project(
    session: AsyncSession, project_id: uuid.UUID, *, is_active: bool | None = None
) -> list[e.ResourceGroup]:
    linked = select(Project.scaling_group).where(Project.group == project_id)
    return await _list(
        session, select(m.ResourceGroupRow).where(m.ResourceGroupRow.name.in_(linked)), is_active
    )


async def list_for_keypair(
    session: AsyncSession, access_key: str, *, is_active: bool | None = None
) -> list[e.ResourceGroup]:
    linked = select(KeyPair.scaling_group).where(KeyPair.access_key == access_key)
    return await _list(
        session, select(m.ResourceGroupRow).where(m.ResourceGroupRow.name.in_(linked)), is_active
    )


async def list_allowed(
    session: AsyncSession,
    *,
    domain: str,
    user_uuid: uuid.UUID,
    access_key: str,
    name: str | None = None,
    is_active: bool | None = None,
    project_id: uuid.UUID | None = None,
) -> list[e.ResourceGroup]:
    """Groups linked to the domain, to the project (``project_id``; without it, to any
    project the user belongs to), or to the access key."""
    projects: Any = (
        select(m.ProjectMemberRow.group_id).where(m.ProjectMemberRow.user_id == user_uuid)
        if project_id is None
        else [project_id]
    )
    stmt = select(m.ResourceGroupRow).where(
        or_(
            m.ResourceGroupRow.name.in_(
                select(Domain.scaling_group).where(Domain.domain == domain)
            ),
            m.ResourceGroupRow.name.in_(
                select(Project.scaling_group).where(Project.group.in_(projects))
            ),
            m.ResourceGroupRow.name.in_(
                select(KeyPair.scaling_group).where(KeyPair.access_key == access_key)
            ),
        )
    )
    if name is not None:
        stmt = stmt.where(m.ResourceGroupRow.name == name)
    return await _list(session, stmt, is_active)


async def create(session: AsyncSession, values: dict[str, Any]) -> e.ResourceGroup:
    row = await crud.insert(session, m.ResourceGroupRow(**values), what=WHAT)
    return convert.resource_group(row)


async def update(
    session: AsyncSession, name: str, values: dict[str, Any]
) -> e.ResourceGroup | None:
    row = await crud.get(session, m.ResourceGroupRow, name)
    if row is None:
        return None
    return convert.resource_group(await crud.update(session, row, values, what=WHAT))


async def has_agents(session: AsyncSession, name: str) -> bool:
    return await crud.exists(session, select(m.AgentRow.id).where(m.AgentRow.scaling_group == name))


async def delete(session: AsyncSession, name: str) -> bool:
    """Delete a group and its links (callers check for agents first)."""
    row = await crud.get(session, m.ResourceGroupRow, name)
    if row is None:
        return False
    for link in (Domain, Project, KeyPair):
        await crud.delete_where(session, link, link.scaling_group == name)
    await crud.delete_row(session, row, what=WHAT)
    return True


# Links. ``link_*`` returns False when the link already exists; ``unlink_*`` the rows removed.


async def link_domain(session: AsyncSession, name: str, domain: str) -> bool:
    if await crud.get(session, Domain, (name, domain)) is not None:
        return False
    await crud.insert(session, Domain(scaling_group=name, domain=domain), what="association")
    return True


async def unlink_domain(session: AsyncSession, name: str, domain: str) -> int:
    return await crud.delete_where(
        session, Domain, Domain.scaling_group == name, Domain.domain == domain
    )


async def unlink_all_domain(session: AsyncSession, domain: str) -> int:
    return await crud.delete_where(session, Domain, Domain.domain == domain)


async def link_project(session: AsyncSession, name: str, project_id: uuid.UUID) -> bool:
    if await crud.get(session, Project, (name, project_id)) is not None:
        return False
    await crud.insert(session, Project(scaling_group=name, group=project_id), what="association")
    return True


async def unlink_project(session: AsyncSession, name: str, project_id: uuid.UUID) -> int:
    return await crud.delete_where(
        session, Project, Project.scaling_group == name, Project.group == project_id
    )


async def unlink_all_project(session: AsyncSession, project_id: uuid.UUID) -> int:
    return await crud.delete_where(session, Project, Project.group == project_id)


async def link_keypair(session: AsyncSession, name: str, access_key: str) -> bool:
    if await crud.get(session, KeyPair, (name, access_key)) is not None:
        return False
    await crud.insert(
        session, KeyPair(scaling_group=name, access_key=access_key), what="association"
    )
    return True


async def unlink_keypair(session: AsyncSession, name: str, access_key: str) -> int:
    return await crud.delete_where(
        session, KeyPair, KeyPair.scaling_group == name, KeyPair.access_key == access_key
    )


# The other ends of the links, as far as authorisation and existence checks need them.


async def domain_exists(session: AsyncSession, domain: str) -> bool:
    return await crud.get(session, m.DomainRow, domain) is not None


async def project_domain(session: AsyncSession, project_id: uuid.UUID) -> str | None:
    """The domain of a project, or None when there is no such project."""
    stmt = select(m.ProjectRow.domain_name).where(m.ProjectRow.id == project_id)
    return (await session.execute(stmt)).scalar_one_or_none()


async def is_project_member(
    session: AsyncSession, project_id: uuid.UUID, user_uuid: uuid.UUID
) -> bool:
    return await crud.get(session, m.ProjectMemberRow, (project_id, user_uuid)) is not None


async def keypair_owner(session: AsyncSession, access_key: str) -> KeyPairOwner | None:
    stmt = (
        select(m.UserRow.uuid, m.UserRow.domain_name)
        .join(m.KeyPairRow, m.KeyPairRow.user == m.UserRow.uuid)
        .where(m.KeyPairRow.access_key == access_key)
    )
    found = (await session.execute(stmt)).first()
    return None if found is None else KeyPairOwner(user_uuid=found[0], domain_name=found[1])
