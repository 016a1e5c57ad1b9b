"""Keypairs: listing (with owners and projects), create, modify and delete.

Administrators manage the keypairs of the users they manage (see ``users.check_can_manage_user``);
everyone may read their own. A secret key is shown only to its owner and to those who manage it.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from cygnet.common.clock import Clock
from cygnet.common.errors import (
    Conflict,
    InsufficientPrivilege,
    InvalidAPIParameters,
    KeyPairNotFound,
    ResourcePolicyNotFound,
    UserNotFound,
)
from cygnet.common.ids import new_access_key, new_secret_key
from cygnet.manager.entities import Caller, OwnedKeyPair, Page, UserRole
from cygnet.manager.services.auth import AuthService
from cygnet.manager.services.common import require_admin
from cygnet.manager.services.users import (
    DEFAULT_POLICY,
    MAIN_KEY_RATE_LIMIT,
    can_view_user,
    check_can_manage_user,
    scoped_domain,
)
from cygnet.manager.store.db import Database
from cygnet.manager.store.repositories import keypairs as repo
from cygnet.manager.store.repositories import sessions as sessions_repo
from cygnet.manager.store.repositories import users as users_repo
from cygnet.manager.store.repositories.keypairs import KeyPairFilter

_EDITABLE = ("is_active", "is_admin", "resource_policy", "rate_limit")


def _secret_visible(caller: Caller, item: OwnedKeyPair) -> bool:
    owner = item.owner
    if owner.uuid == caller.user_uuid or caller.is_superadmin:
        return True
    return caller.can_admin_domain(owner.domain_name) and owner.role is not UserRole.SUPERADMIN


def _for(caller: Caller, item: OwnedKeyPair, concurrency_used: int = 0) -> OwnedKeyPair:
    return dataclasses.replace(
        item, show_secret=_secret_visible(caller, item), concurrency_used=concurrency_used
    )


def _values(props: dict[str, Any]) -> dict[str, Any]:
    values = {key: props[key] for key in _EDITABLE if props.get(key) is not None}
    rate_limit = values.get("rate_limit")
    if rate_limit is not None and (isinstance(rate_limit, bool) or rate_limit < 0):
        raise InvalidAPIParameters("rate_limit must be a non-negative integer.")
    return values


class KeyPairService:
    def __init__(self, db: Database, clock: Clock, auth: AuthService) -> None:
        self._db = db
        self._clock = clock
        self._auth = auth

    async def list(
        self,
        caller: Caller,
        *,
        domain_name: str | None = None,
        email: str | None = None,
        is_active: bool | None = None,
        filter_text: str | None = None,
        order_text: str | None = None,
        limit: int | None = None,
        offset: int = 0,
    ) -> Page[OwnedKeyPair]:
        """Keypairs the caller may see: all, the domain's (admins) or its own (users)."""
        domain_name = scoped_domain(caller, domain_name)
        if not (caller.is_superadmin or caller.is_domain_admin):
            if email is not None and email != caller.email:
                raise InsufficientPrivilege("You can only list your own keypairs.")
            email = caller.email
        where = KeyPairFilter(domain_name=domain_name, email=email, is_active=is_active)
        async with self._db.read() as session:
            found = await repo.page(
                session,
                where,
                filter_text=filter_text,
                order_text=order_text,
                limit=limit,
                offset=offset,
            )
            used = await sessions_repo.count_live_by_access_key(
                session, (k.keypair.access_key for k in found.items)
            )
        items = [_for(caller, k, used.get(k.keypair.access_key, 0)) for k in found.items]
        return Page(items=items, total_count=found.total_count)

    async def get(
        self, caller: Caller, access_key: str | None = None, *, domain_name: str | None = None
    ) -> OwnedKeyPair | None:
        """One keypair (the caller's own when no access key is given); None if unknown."""
        async with self._db.read() as session:
            item = await repo.get_owned(session, access_key or caller.access_key)
            if item is None:
                return None
            used = await sessions_repo.count_live(session, item.keypair.access_key)
        if not can_view_user(caller, item.owner):
            raise InsufficientPrivilege("You cannot access this keypair.")
        if domain_name is not None and item.owner.domain_name != domain_name:
            return None
        return _for(caller, item, used)

    async def create(self, caller: Caller, email: str, props: dict[str, Any]) -> OwnedKeyPair:
        """A new keypair for the user with ``email`` (the first one becomes its main key)."""
        require_admin(caller)
        values = _values(props)
        policy = values.pop("resource_policy", DEFAULT_POLICY)
        now = self._clock.now()
        async with self._db.transaction() as session:
            owner = await users_repo.get_by_email(session, email)
            if owner is None:
                raise UserNotFound(f"User {email!r} not found.")
            check_can_manage_user(caller, owner)
            if not await repo.policy_exists(session, policy):
                raise ResourcePolicyNotFound(f"Keypair resource policy {policy!r} not found.")
            keypair = await repo.create(
                session,
                {
                    "is_active": True,
                    "is_admin": False,
                    "rate_limit": MAIN_KEY_RATE_LIMIT,
                    **values,
                    "access_key": new_access_key(),
                    "secret_key": new_secret_key(),
                    "user_id": owner.email,
                    "user": owner.uuid,
                    "resource_policy": policy,
                    "num_queries": 0,
                    "created_at": now,
                    "modified_at": now,
                },
            )
            if owner.main_access_key is None:
                await users_repo.update(
                    session, owner.uuid, {"main_access_key": keypair.access_key}
                )
            created = await repo.get_owned(session, keypair.access_key)
        assert created is not None
        self._auth.invalidate()
        return _for(caller, created)

    async def modify(self, caller: Caller, access_key: str, props: dict[str, Any]) -> OwnedKeyPair:
        require_admin(caller)
        values = _values(props)
        async with self._db.transaction() as session:
            await self._managed(session, caller, access_key)
            policy = values.get("resource_policy")
            if policy is not None and not await repo.policy_exists(session, policy):
                raise ResourcePolicyNotFound(f"Keypair resource policy {policy!r} not found.")
            await repo.update_one(session, access_key, {**values, "modified_at": self._clock.now()})
            modified = await repo.get_owned(session, access_key)
            used = await sessions_repo.count_live(session, access_key)
        assert modified is not None
        self._auth.invalidate()
        return _for(caller, modified, used)

    async def delete(self, caller: Caller, access_key: str) -> None:
        """Delete a keypair; a user's main access key is refused (set another one first), and
        so is a keypair that still owns a live session."""
        require_admin(caller)
        async with self._db.transaction() as session:
            item = await self._managed(session, caller, access_key)
            if item.owner.main_access_key == access_key:
                raise Conflict(
                    f"{access_key} is the main access key of {item.owner.email}; "
                    "make another keypair the main one before deleting it."
                )
            live = await sessions_repo.count_live(session, access_key)
            if live:
                raise Conflict(
                    f"{access_key} owns {live} live session(s); terminate them before deleting it."
                )
            await repo.delete(session, access_key)
        self._auth.invalidate()

    @staticmethod
    async def _managed(session: AsyncSession, caller: Caller, access_key: str) -> OwnedKeyPair:
        item = await repo.get_owned(session, access_key)
        if item is None:
            raise KeyPairNotFound(f"Keypair {access_key!r} not found.")
        check_can_manage_user(caller, item.owner)
        return item
