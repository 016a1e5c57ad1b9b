"""Resource policies for keypairs, users and projects.

The three tables share one shape (a name key plus limits), so one ``PolicyTable`` describes each:
its row class, its converter and the column of the table whose rows use a policy.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from cygnet.manager import entities as e
from cygnet.manager.store import models as m
from cygnet.manager.store.repositories import convert, crud

R = TypeVar("R", m.KeyPairResourcePolicyRow, m.UserResourcePolicyRow, m.ProjectResourcePolicyRow)
E = TypeVar("E")


@dataclass(frozen=True, slots=True)
class PolicyTable(Generic[R, E]):
    row_cls: type[R]
    to_entity: Callable[[R], E]
    used_by: InstrumentedAttribute[str]
    what: str


KEYPAIR: PolicyTable[m.KeyPairResourcePolicyRow, e.KeyPairResourcePolicy] = PolicyTable(
    m.KeyPairResourcePolicyRow,
    convert.keypair_resource_policy,
    m.KeyPairRow.resource_policy,
    "keypair resource policy",
)
USER: PolicyTable[m.UserResourcePolicyRow, e.UserResourcePolicy] = PolicyTable(
    m.UserResourcePolicyRow,
    convert.user_resource_policy,
    m.UserRow.resource_policy,
    "user resource policy",
)
PROJECT: PolicyTable[m.ProjectResourcePolicyRow, e.ProjectResourcePolicy] = PolicyTable(
    m.ProjectResourcePolicyRow,
    convert.project_resource_policy,
    m.ProjectRow.resource_policy,
    "project resource policy",
)


async def get(session: AsyncSession, table: PolicyTable[R, E], name: str) -> E | None:
    row = await crud.get(session, table.row_cls, name)
    return None if row is None else table.to_entity(row)


async def list_all(
    session: AsyncSession, table: PolicyTable[R, E], *, names: Collection[str] | None = None
) -> list[E]:
    """All policies of a kind by creation time, or only those named in ``names``."""
    stmt = select(table.row_cls).order_by(table.row_cls.created_at, table.row_cls.name)
    if names is not None:
        if not names:
            return []
        stmt = stmt.where(table.row_cls.name.in_(list(names)))
    return [table.to_entity(row) for row in (await session.execute(stmt)).scalars()]


async def create(session: AsyncSession, table: PolicyTable[R, E], values: dict[str, Any]) -> E:
    row = await crud.insert(session, table.row_cls(**values), what=table.what)
    return table.to_entity(row)


async def update(
    session: AsyncSession, table: PolicyTable[R, E], name: str, values: dict[str, Any]
) -> E | None:
    row = await crud.get(session, table.row_cls, name)
    if row is None:
        return None
    return table.to_entity(await crud.update(session, row, values, what=table.what))


async def in_use(session: AsyncSession, table: PolicyTable[R, E], name: str) -> bool:
    """Whether a keypair, user or project (by the table's kind) still uses the policy."""
    return await crud.exists(session, select(table.used_by).where(table.used_by == name))


async def delete(session: AsyncSession, table: PolicyTable[R, E], name: str) -> bool:
    row = await crud.get(session, table.row_cls, name)
    if row is None:
        return False
    await crud.delete_row(session, row, what=table.what)
    return True


# What a caller may see: the policies of their own keypairs, user and projects.


async def keypair_policy_of(session: AsyncSession, access_key: str) -> str | None:
    stmt = select(m.KeyPairRow.resource_policy).where(m.KeyPairRow.access_key == access_key)
    return (await session.execute(stmt)).scalar_one_or_none()


async def keypair_policies_of_user(session: AsyncSession, user_uuid: uuid.UUID) -> set[str]:
    stmt = select(m.KeyPairRow.resource_policy).where(m.KeyPairRow.user == user_uuid).distinct()
    return set((await session.execute(stmt)).scalars())


async def user_policy_of(session: AsyncSession, user_uuid: uuid.UUID) -> str | None:
    stmt = select(m.UserRow.resource_policy).where(m.UserRow.uuid == user_uuid)
    return (await session.execute(stmt)).scalar_one_or_none()


async def project_policies_visible_to(
    session: AsyncSession, user_uuid: uuid.UUID, admin_of_domain: str | None
) -> set[str]:
    """Policies of the projects the user belongs to, plus all of a domain they administer."""
    member_of = select(m.ProjectMemberRow.group_id).where(m.ProjectMemberRow.user_id == user_uuid)
    stmt = select(m.ProjectRow.resource_policy).distinct()
    if admin_of_domain is None:
        stmt = stmt.where(m.ProjectRow.id.in_(member_of))
    else:
        stmt = stmt.where(
            or_(m.ProjectRow.id.in_(member_of), m.ProjectRow.domain_name == admin_of_domain)
        )
    return set((await session.execute(stmt)).scalars())
