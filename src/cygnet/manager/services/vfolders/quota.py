"""Folder quotas and the owner's quota scope.

A folder's quota (``max_size``, bytes; none = unlimited) is enforced by its storage proxy. The
``max_quota_scope_size`` of the owner's resource policy (the user's for user folders, the
project's for project folders; 0 or less = unlimited) bounds the **sum** of the quotas of all
the owner's folders, trashed ones included: with a limit, every new folder gets a quota (the
one asked for, else all the room left), and a folder without one leaves no room for others.
Checks run under the owner's lock (``repo.lock_owner``), in the transaction that makes the
change, so concurrent creates or quota changes cannot overshoot.

Also here: ``GET/POST /folders/_/quota`` and the superadmin-only usage reads.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from cygnet.common.errors import InvalidAPIParameters
from cygnet.common.resources import BinarySize
from cygnet.manager.entities import Caller, VFolder, VFolderAccess
from cygnet.manager.services.common import require_superadmin
from cygnet.manager.services.vfolders.access import FolderAccess, parse_vfolder_id
from cygnet.manager.storage import StorageProxies
from cygnet.manager.store.db import Database
from cygnet.manager.store.repositories import policies as policies_repo
from cygnet.manager.store.repositories import projects as projects_repo
from cygnet.manager.store.repositories import vfolders as repo


def parse_quota(value: Any, what: str = "quota") -> int | None:
    """A quota in bytes from an int or a size like ``"10g"``; None, 0 or ``"0"`` mean none."""
    if value is None:
        return None
    try:
        if isinstance(value, bool) or not isinstance(value, (int, str)):
            raise TypeError
        size = BinarySize.parse(value)
    except (TypeError, ValueError):
        raise InvalidAPIParameters(
            f"{what} must be a number of bytes or a size like 10g; got {value!r}."
        ) from None
    if isinstance(size, Decimal):
        return None  # "inf": unlimited
    return int(size) or None


async def scope_limit(
    session: AsyncSession, *, user: uuid.UUID | None, group: uuid.UUID | None
) -> int:
    """The owner's ``max_quota_scope_size`` (0 or less: unlimited)."""
    if group is not None:
        project = await projects_repo.get(session, group)
        if project is None or not project.resource_policy:
            return -1
        found = await policies_repo.get(session, policies_repo.PROJECT, project.resource_policy)
        return found.max_quota_scope_size if found else -1
    assert user is not None
    name = await policies_repo.user_policy_of(session, user)
    if not name:
        return -1
    policy = await policies_repo.get(session, policies_repo.USER, name)
    return policy.max_quota_scope_size if policy else -1


def _human(n: int) -> str:
    return f"{n} bytes ({BinarySize(n).format()})" if n else "0 bytes"


async def allot(
    session: AsyncSession,
    *,
    user: uuid.UUID | None,
    group: uuid.UUID | None,
    limit: int,
    wanted: int | None,
    exclude: uuid.UUID | None = None,
    fill: bool = True,
) -> int | None:
    """The quota a folder of this owner may have: ``wanted`` when it fits in the room the
    owner's other folders leave, else 400; without ``wanted``, all the room left (``fill``)
    or 400. Without a limit, ``wanted`` as it is (None: unlimited)."""
    if limit <= 0:
        return wanted
    taken = await repo.allocation(session, user=user, group=group, exclude=exclude)
    room = 0 if taken.unlimited else max(0, limit - taken.quota_bytes)
    scope = "project" if group is not None else "user"
    if wanted is None and fill and room > 0:
        return room
    if wanted is None or wanted > room:
        asked = "an unlimited quota" if wanted is None else f"a quota of {_human(wanted)}"
        hint = (
            "some of them have no quota"
            if taken.unlimited
            else f"they already hold {_human(taken.quota_bytes)}"
        )
        raise InvalidAPIParameters(
            f"The {scope}'s folders may hold {_human(limit)} in all (max_quota_scope_size) and "
            f"{hint}; {asked} does not fit ({_human(room)} left). Lower another folder's "
            "quota (POST /folders/_/quota) or ask for less."
        )
    return wanted


@dataclass(frozen=True, slots=True)
class QuotaInfo:
    used_bytes: int
    limit_bytes: int  # 0: unlimited


class VFolderQuotaService:
    def __init__(self, db: Database, storage: StorageProxies, access: FolderAccess) -> None:
        self._db = db
        self._storage = storage
        self._access = access

    async def _resolve(
        self, caller: Caller, ref: Any, host: Any, *, manage: bool = False
    ) -> VFolderAccess:
        """The folder named by ``id`` (a UUID) and, when given, its ``folder_host``."""
        folder_id = parse_vfolder_id(ref) if isinstance(ref, str) else None
        if folder_id is None:
            raise InvalidAPIParameters(f"id must be a vfolder UUID; got {ref!r}.")
        if host is not None and not isinstance(host, str):
            raise InvalidAPIParameters("folder_host must be a string.")
        access = await self._access.resolve(caller, folder_id.hex, manage=manage)
        if host and host != access.folder.host:
            raise InvalidAPIParameters(
                f"The vfolder {folder_id} is on {access.folder.host}, not on {host}."
            )
        return access

    async def _usage(self, folder: VFolder) -> dict[str, int]:
        client, volume = self._storage.client_for(folder.host)
        return await client.usage(volume, folder.id)

    async def get(self, caller: Caller, ref: Any, host: Any = None) -> QuotaInfo:
        """A folder's quota and usage, for whoever may see it."""
        access = await self._resolve(caller, ref, host)
        client, volume = self._storage.client_for(access.folder.host)
        quota = await client.quota(volume, access.folder.id)
        used = (await client.usage(volume, access.folder.id))["used_bytes"]
        return QuotaInfo(int(used), quota or 0)

    async def set(self, caller: Caller, ref: Any, host: Any, size: Any) -> int:
        """Change a folder's quota (its owner or an admin), within the owner's quota scope;
        answers the quota set (0: unlimited)."""
        wanted = parse_quota(size, "size_bytes")
        access = await self._resolve(caller, ref, host, manage=True)
        folder = access.folder
        if not folder.usable:
            raise InvalidAPIParameters(f"The vfolder {folder.name} is {folder.status.value}.")
        client, volume = self._storage.client_for(folder.host)
        async with self._db.transaction() as session:
            await repo.lock_owner(session, user=folder.user, group=folder.group)
            limit = await scope_limit(session, user=folder.user, group=folder.group)
            quota = await allot(
                session,
                user=folder.user,
                group=folder.group,
                limit=limit,
                wanted=wanted,
                exclude=folder.id,
                fill=False,
            )
            await repo.update_one(session, folder.id, {"max_size": quota})
            await client.set_quota(volume, folder.id, quota)  # a failure rolls the row back
        return quota or 0

    async def usage(self, caller: Caller, ref: Any, host: Any = None) -> dict[str, int]:
        """Files and bytes of a folder, as its proxy counts them (superadmins)."""
        require_superadmin(caller)
        access = await self._resolve(caller, ref, host)
        found = await self._usage(access.folder)
        return {"file_count": int(found["file_count"]), "used_bytes": int(found["used_bytes"])}

    async def used_bytes(self, caller: Caller, ref: Any, host: Any = None) -> int:
        require_superadmin(caller)
        access = await self._resolve(caller, ref, host)
        return int((await self._usage(access.folder))["used_bytes"])
