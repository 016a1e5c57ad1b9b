"""Virtual folders, invitations and per-user folder permissions (only code that touches rows)."""

from __future__ import annotations

import uuid
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Select, and_, func, or_, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from cygnet.manager import entities as e
from cygnet.manager.store import models as m
from cygnet.manager.store.querying import FieldSpec, datetime_converter, uuid_converter
from cygnet.manager.store.repositories import crud

WHAT = "vfolder"
V = m.VFolderRow

FIELDS: dict[str, FieldSpec] = {
    "id": FieldSpec(V.id, uuid_converter),
    "name": FieldSpec(V.name),
    "host": FieldSpec(V.host),
    "quota_scope_id": FieldSpec(V.quota_scope_id),
    "usage_mode": FieldSpec(V.usage_mode),
    "permission": FieldSpec(V.permission),
    "ownership_type": FieldSpec(V.ownership_type),
    "user": FieldSpec(V.user, uuid_converter),
    "group": FieldSpec(V.group, uuid_converter),
    "domain_name": FieldSpec(V.domain_name),
    "creator": FieldSpec(V.creator),
    "cloneable": FieldSpec(V.cloneable),
    "status": FieldSpec(V.status),
    "created_at": FieldSpec(V.created_at, datetime_converter),
    "last_used": FieldSpec(V.last_used, datetime_converter),
}
DEFAULT_ORDER = (V.created_at.asc(), V.id.asc())


def _entity(row: m.VFolderRow, user_email: str | None, group_name: str | None) -> e.VFolder:
    return e.VFolder(
        id=row.id,
        name=row.name,
        host=row.host,
        quota_scope_id=row.quota_scope_id,
        usage_mode=e.VFolderUsageMode(row.usage_mode),
        permission=e.VFolderPermission(row.permission),
        ownership_type=e.VFolderOwnership(row.ownership_type),
        user=row.user,
        group=row.group,
        domain_name=row.domain_name,
        creator=row.creator,
        cloneable=row.cloneable,
        status=e.VFolderStatus(row.status),
        created_at=row.created_at,
        status_changed=row.status_changed,
        last_used=row.last_used,
        max_size=row.max_size,
        max_files=row.max_files,
        user_email=user_email,
        group_name=group_name,
    )


def _with_names(stmt: Any) -> Any:
    return stmt.outerjoin(m.UserRow, m.UserRow.uuid == V.user).outerjoin(
        m.ProjectRow, m.ProjectRow.id == V.group
    )


def _base() -> Any:
    return _with_names(select(V, m.UserRow.email, m.ProjectRow.name))


async def _entities(session: AsyncSession, stmt: Select[Any]) -> list[e.VFolder]:
    return [_entity(row, email, gname) for row, email, gname in (await session.execute(stmt)).all()]


@dataclass(frozen=True, slots=True)
class Visibility:
    """Which folders a listing covers: all of them, a domain's, or one user's (own, their
    projects', and those shared with them)."""

    everything: bool = False
    domain_name: str | None = None
    user_uuid: uuid.UUID | None = None
    project_ids: frozenset[uuid.UUID] = field(default_factory=frozenset)

    def clause(self) -> Any:
        if self.everything:
            return None
        if self.domain_name is not None:
            return V.domain_name == self.domain_name
        shared = select(m.VFolderPermissionRow.vfolder).where(
            m.VFolderPermissionRow.user == self.user_uuid
        )
        return or_(
            and_(V.ownership_type == "user", V.user == self.user_uuid),
            and_(V.ownership_type == "group", V.group.in_(list(self.project_ids))),
            V.id.in_(shared),
        )


def _narrow(
    stmt: Select[Any],
    visibility: Visibility,
    *,
    group_id: uuid.UUID | None = None,
    owner: uuid.UUID | None = None,
    ownership: str | None = None,
    name: str | None = None,
    invited_user: uuid.UUID | None = None,
) -> Select[Any]:
    clause = visibility.clause()
    if clause is not None:
        stmt = stmt.where(clause)
    if group_id is not None:
        stmt = stmt.where(V.group == group_id)
    if owner is not None:
        stmt = stmt.where(V.user == owner)
    if ownership is not None:
        stmt = stmt.where(V.ownership_type == ownership)
    if name is not None:
        stmt = stmt.where(V.name == name)
    if invited_user is not None:
        stmt = stmt.where(
            V.id.in_(
                select(m.VFolderPermissionRow.vfolder).where(
                    m.VFolderPermissionRow.user == invited_user
                )
            ),
            V.ownership_type == "user",
        )
    return stmt


async def get(session: AsyncSession, vfolder_id: uuid.UUID) -> e.VFolder | None:
    found = await _entities(session, _base().where(V.id == vfolder_id))
    return found[0] if found else None


async def list_visible(
    session: AsyncSession,
    visibility: Visibility,
    *,
    group_id: uuid.UUID | None = None,
    owner: uuid.UUID | None = None,
    name: str | None = None,
) -> list[e.VFolder]:
    stmt = _narrow(_base(), visibility, group_id=group_id, owner=owner, name=name)
    return await _entities(session, stmt.order_by(*DEFAULT_ORDER))


async def page(
    session: AsyncSession,
    visibility: Visibility,
    *,
    group_id: uuid.UUID | None = None,
    ownership: str | None = None,
    owner: uuid.UUID | None = None,
    invited_user: uuid.UUID | None = None,
    filter_text: str | None = None,
    order_text: str | None = None,
    limit: int | None = None,
    offset: int = 0,
) -> e.Page[e.VFolder]:
    ids_stmt = _narrow(
        select(V),
        visibility,
        group_id=group_id,
        ownership=ownership,
        owner=owner,
        invited_user=invited_user,
    )
    rows, total = await crud.page(
        session,
        ids_stmt,
        fields=FIELDS,
        filter_text=filter_text,
        order_text=order_text,
        default_order=DEFAULT_ORDER,
        limit=limit,
        offset=offset,
    )
    by_id = {
        f.id: f for f in await _entities(session, _base().where(V.id.in_([r.id for r in rows])))
    }
    return e.Page(items=[by_id[r.id] for r in rows if r.id in by_id], total_count=total)


_OWNER_LOCK_SPACE = 0x76666F6C  # "vfol": advisory locks keyed by a folder owner


async def lock_owner(
    session: AsyncSession, *, user: uuid.UUID | None = None, group: uuid.UUID | None = None
) -> None:
    """Hold the owner's folder lock until the transaction ends, so that checks of the owner's
    limits (count, quota scope) and the change they allow happen as one step. On PostgreSQL
    an advisory lock keyed by the owner; SQLite serialises writers anyway."""
    if session.get_bind().dialect.name != "postgresql":
        return
    owner = user if user is not None else group
    assert owner is not None
    key = int.from_bytes(owner.bytes[:4], "big", signed=True)
    await session.execute(
        text("SELECT pg_advisory_xact_lock(:space, :key)"),
        {"space": _OWNER_LOCK_SPACE, "key": key},
    )


def _owned(stmt: Any, user: uuid.UUID | None, group: uuid.UUID | None) -> Any:
    return stmt.where(V.user == user) if user is not None else stmt.where(V.group == group)


async def count_owned(
    session: AsyncSession, *, user: uuid.UUID | None = None, group: uuid.UUID | None = None
) -> int:
    stmt = _owned(select(func.count()).select_from(V), user, group)
    return int((await session.execute(stmt)).scalar_one())


@dataclass(frozen=True, slots=True)
class Allocation:
    """The quotas of an owner's folders: their sum, and how many have none (unlimited)."""

    quota_bytes: int
    unlimited: int


async def allocation(
    session: AsyncSession,
    *,
    user: uuid.UUID | None = None,
    group: uuid.UUID | None = None,
    exclude: uuid.UUID | None = None,
) -> Allocation:
    """The quotas of every folder of the owner (trashed ones too: they keep their bytes),
    leaving out ``exclude``."""
    stmt = _owned(
        select(
            func.coalesce(func.sum(V.max_size), 0),
            func.count().filter(V.max_size.is_(None)),
        ).select_from(V),
        user,
        group,
    )
    if exclude is not None:
        stmt = stmt.where(V.id != exclude)
    total, unlimited = (await session.execute(stmt)).one()
    return Allocation(int(total), int(unlimited))


async def name_taken(
    session: AsyncSession,
    name: str,
    *,
    user: uuid.UUID | None = None,
    group: uuid.UUID | None = None,
) -> bool:
    stmt = select(V.id).where(V.name == name)
    stmt = stmt.where(V.user == user) if user is not None else stmt.where(V.group == group)
    return await crud.exists(session, stmt)


async def create(session: AsyncSession, values: dict[str, Any]) -> e.VFolder:
    await crud.insert(session, m.VFolderRow(**values), what=WHAT)
    found = await get(session, values["id"])
    assert found is not None
    return found


async def update_one(session: AsyncSession, vfolder_id: uuid.UUID, values: dict[str, Any]) -> bool:
    row = await crud.get(session, m.VFolderRow, vfolder_id)
    if row is None:
        return False
    await crud.update(session, row, values, what=WHAT)
    return True


async def set_status(
    session: AsyncSession,
    vfolder_id: uuid.UUID,
    status: e.VFolderStatus,
    now: datetime,
    *,
    only_from: Collection[e.VFolderStatus] | None = None,
) -> bool:
    """Move a folder to ``status`` (only from one of ``only_from``, when given)."""
    stmt = update(V).where(V.id == vfolder_id)
    if only_from is not None:
        stmt = stmt.where(V.status.in_([s.value for s in only_from]))
    result = await session.execute(stmt.values(status=status.value, status_changed=now))
    return bool(getattr(result, "rowcount", 0))


async def delete(session: AsyncSession, vfolder_id: uuid.UUID) -> bool:
    return await crud.delete_where(session, m.VFolderRow, V.id == vfolder_id) > 0


# -- membership and shares --------------------------------------------------------------------


async def member_projects(session: AsyncSession, user_uuid: uuid.UUID) -> frozenset[uuid.UUID]:
    stmt = select(m.ProjectMemberRow.group_id).where(m.ProjectMemberRow.user_id == user_uuid)
    return frozenset((await session.execute(stmt)).scalars())


async def is_member(session: AsyncSession, project_id: uuid.UUID, user_uuid: uuid.UUID) -> bool:
    stmt = select(m.ProjectMemberRow.user_id).where(
        m.ProjectMemberRow.group_id == project_id, m.ProjectMemberRow.user_id == user_uuid
    )
    return await crud.exists(session, stmt)


async def shares_of_user(
    session: AsyncSession, user_uuid: uuid.UUID
) -> dict[uuid.UUID, e.VFolderPermission]:
    stmt = select(m.VFolderPermissionRow.vfolder, m.VFolderPermissionRow.permission).where(
        m.VFolderPermissionRow.user == user_uuid
    )
    return {vid: e.VFolderPermission(p) for vid, p in (await session.execute(stmt)).all()}


async def shares(session: AsyncSession, vfolder_id: uuid.UUID) -> list[e.VFolderShare]:
    stmt = (
        select(m.VFolderPermissionRow, m.UserRow.email)
        .join(m.UserRow, m.UserRow.uuid == m.VFolderPermissionRow.user)
        .where(m.VFolderPermissionRow.vfolder == vfolder_id)
        .order_by(m.UserRow.email)
    )
    return [
        e.VFolderShare(row.vfolder, row.user, email, e.VFolderPermission(row.permission))
        for row, email in (await session.execute(stmt)).all()
    ]


async def set_share(
    session: AsyncSession,
    vfolder_id: uuid.UUID,
    user_uuid: uuid.UUID,
    permission: e.VFolderPermission,
) -> None:
    row = await session.get(m.VFolderPermissionRow, (vfolder_id, user_uuid))
    if row is None:
        session.add(
            m.VFolderPermissionRow(vfolder=vfolder_id, user=user_uuid, permission=permission.value)
        )
    else:
        row.permission = permission.value
    await session.flush()


async def remove_shares(
    session: AsyncSession, vfolder_id: uuid.UUID, user_uuids: Iterable[uuid.UUID]
) -> int:
    return await crud.delete_where(
        session,
        m.VFolderPermissionRow,
        m.VFolderPermissionRow.vfolder == vfolder_id,
        m.VFolderPermissionRow.user.in_(list(user_uuids)),
    )


# -- invitations ------------------------------------------------------------------------------

INV = m.VFolderInvitationRow


def _invitation(row: m.VFolderInvitationRow, vfolder_name: str) -> e.VFolderInvitation:
    return e.VFolderInvitation(
        id=row.id,
        vfolder_id=row.vfolder,
        vfolder_name=vfolder_name,
        permission=e.VFolderPermission(row.permission),
        inviter=row.inviter,
        invitee=row.invitee,
        state=e.InvitationState(row.state),
        created_at=row.created_at,
        modified_at=row.modified_at,
    )


def _invitations() -> Any:
    return select(INV, V.name).join(V, V.id == INV.vfolder)


async def create_invitation(session: AsyncSession, values: dict[str, Any]) -> None:
    await crud.insert(session, m.VFolderInvitationRow(**values), what="vfolder invitation")


async def get_invitation(
    session: AsyncSession, invitation_id: uuid.UUID
) -> e.VFolderInvitation | None:
    found = (await session.execute(_invitations().where(INV.id == invitation_id))).first()
    return None if found is None else _invitation(found[0], found[1])


async def invitations(
    session: AsyncSession,
    *,
    invitee: str | None = None,
    inviter: str | None = None,
    vfolder_id: uuid.UUID | None = None,
    state: e.InvitationState | None = None,
) -> list[e.VFolderInvitation]:
    stmt = _invitations().order_by(INV.created_at)
    if invitee is not None:
        stmt = stmt.where(INV.invitee == invitee)
    if inviter is not None:
        stmt = stmt.where(INV.inviter == inviter)
    if vfolder_id is not None:
        stmt = stmt.where(INV.vfolder == vfolder_id)
    if state is not None:
        stmt = stmt.where(INV.state == state.value)
    return [_invitation(row, name) for row, name in (await session.execute(stmt)).all()]


async def set_invitation_state(
    session: AsyncSession,
    invitation_id: uuid.UUID,
    state: e.InvitationState,
    now: datetime,
    *,
    only_from: e.InvitationState = e.InvitationState.PENDING,
) -> bool:
    """Move a pending invitation to ``state``; False when it was not pending any more."""
    result = await session.execute(
        update(INV)
        .where(INV.id == invitation_id, INV.state == only_from.value)
        .values(state=state.value, modified_at=now)
    )
    return bool(getattr(result, "rowcount", 0))


async def set_invitation_permission(
    session: AsyncSession, invitation_id: uuid.UUID, permission: e.VFolderPermission, now: datetime
) -> bool:
    """Change a pending invitation's permission; False when it was not pending any more."""
    result = await session.execute(
        update(INV)
        .where(INV.id == invitation_id, INV.state == e.InvitationState.PENDING.value)
        .values(permission=permission.value, modified_at=now)
    )
    return bool(getattr(result, "rowcount", 0))
