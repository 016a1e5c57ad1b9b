"""Resource policies: limits attached to keypairs, users and projects.

Superadmins manage them all. Everyone else may read only the policies that apply to them: those
of their own keypairs, their user, and the projects they belong to (a domain admin also sees the
policies of the projects in their domain).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from cygnet.common.clock import Clock
from cygnet.common.errors import (
    AlreadyExists,
    Conflict,
    InvalidAPIParameters,
    ResourcePolicyNotFound,
)
from cygnet.manager.entities import (
    Caller,
    DefaultForUnspecified,
    KeyPairResourcePolicy,
    ProjectResourcePolicy,
    UserResourcePolicy,
)
from cygnet.manager.services.common import check_name, identity_write, require_superadmin
from cygnet.manager.services.validation import validate_slots, validate_vfolder_hosts
from cygnet.manager.store.db import Database
from cygnet.manager.store.repositories import policies as repo
from cygnet.manager.store.repositories.policies import PolicyTable

E = TypeVar("E")


KEYPAIR_DEFAULTS: Mapping[str, Any] = {
    "default_for_unspecified": DefaultForUnspecified.UNLIMITED.value,
    "total_resource_slots": {},
    "max_session_lifetime": 0,
    "max_concurrent_sessions": 30,
    "max_concurrent_sftp_sessions": 10,
    "max_containers_per_session": 1,
    "idle_timeout": 1800,
    "allowed_vfolder_hosts": {},
    "max_pending_session_count": None,
    "max_pending_session_resource_slots": None,
}
USER_DEFAULTS: Mapping[str, Any] = {
    "max_vfolder_count": 0,
    "max_quota_scope_size": -1,
    "max_session_count_per_model_session": 10,
    "max_customized_image_count": 3,
}
PROJECT_DEFAULTS: Mapping[str, Any] = {
    "max_vfolder_count": 0,
    "max_quota_scope_size": -1,
    "max_network_count": 3,
}

# The smallest value each integer limit accepts (-1 = unlimited where it applies).
_MINIMUMS: Mapping[str, int] = {
    "max_session_lifetime": 0,
    "max_concurrent_sessions": 0,
    "max_concurrent_sftp_sessions": 0,
    "max_containers_per_session": 1,
    "idle_timeout": 0,
    "max_pending_session_count": 0,
    "max_vfolder_count": 0,
    "max_quota_scope_size": -1,
    "max_session_count_per_model_session": 0,
    "max_customized_image_count": 0,
    "max_network_count": -1,
}
_NULLABLE = frozenset({"max_pending_session_count", "max_pending_session_resource_slots"})


def _normalise(props: Mapping[str, Any]) -> dict[str, Any]:
    """Validate the fields of a policy input; nulls clear nullable fields and are dropped
    elsewhere (a JSON map given as null becomes empty)."""
    values: dict[str, Any] = {}
    for key, value in props.items():
        if value is None:
            if key in _NULLABLE:
                values[key] = None
            elif key in ("total_resource_slots", "allowed_vfolder_hosts"):
                values[key] = {}
            continue
        if key in ("total_resource_slots", "max_pending_session_resource_slots"):
            values[key] = validate_slots(value, key)
        elif key == "allowed_vfolder_hosts":
            values[key] = validate_vfolder_hosts(value)
        elif key == "default_for_unspecified":
            try:
                values[key] = DefaultForUnspecified(str(value).upper()).value
            except ValueError:
                raise InvalidAPIParameters(
                    "default_for_unspecified must be LIMITED or UNLIMITED."
                ) from None
        elif key in _MINIMUMS:
            if int(value) < _MINIMUMS[key]:
                raise InvalidAPIParameters(f"{key} must be at least {_MINIMUMS[key]}.")
            values[key] = int(value)
        else:
            raise InvalidAPIParameters(f"Unknown resource policy field {key!r}.")
    return values


class ResourcePolicyService:
    def __init__(
        self, db: Database, clock: Clock, invalidate: Callable[[], None] | None = None
    ) -> None:
        self._db = db
        self._invalidate = invalidate  # cached identities, after a change
        self._clock = clock

    # Shared steps, parameterised by the policy table.

    async def _create(
        self,
        caller: Caller,
        table: PolicyTable[Any, E],
        name: str,
        defaults: Mapping[str, Any],
        props: Mapping[str, Any],
    ) -> E:
        require_superadmin(caller)
        check_name(name, "resource policy")
        values = {**defaults, **_normalise(props), "name": name, "created_at": self._clock.now()}
        async with identity_write(self._db, self._invalidate) as session:
            if await repo.get(session, table, name) is not None:
                raise AlreadyExists(f"The {table.what} {name!r} already exists.")
            return await repo.create(session, table, values)

    async def _modify(
        self, caller: Caller, table: PolicyTable[Any, E], name: str, props: Mapping[str, Any]
    ) -> E:
        require_superadmin(caller)
        values = _normalise(props)
        async with identity_write(self._db, self._invalidate) as session:
            found = await repo.update(session, table, name, values)
        if found is None:
            raise ResourcePolicyNotFound(f"The {table.what} {name!r} does not exist.")
        return found

    async def _delete(
        self, caller: Caller, table: PolicyTable[Any, E], name: str, users: str
    ) -> None:
        require_superadmin(caller)
        async with identity_write(self._db, self._invalidate) as session:
            if await repo.get(session, table, name) is None:
                raise ResourcePolicyNotFound(f"The {table.what} {name!r} does not exist.")
            if await repo.in_use(session, table, name):
                raise Conflict(f"The {table.what} {name!r} is still used by {users}.")
            await repo.delete(session, table, name)

    async def _visible(self, table: PolicyTable[Any, E], names: set[str] | None) -> list[E]:
        async with self._db.read() as session:
            return await repo.list_all(session, table, names=names)

    async def _get(
        self, table: PolicyTable[Any, E], name: str | None, allowed: set[str] | None
    ) -> E:
        found = None
        if name is not None and (allowed is None or name in allowed):
            async with self._db.read() as session:
                found = await repo.get(session, table, name)
        if found is None:
            raise ResourcePolicyNotFound(f"The {table.what} {name!r} does not exist.")
        return found

    # Keypair resource policies.

    async def _own_keypair_policies(self, caller: Caller) -> set[str] | None:
        if caller.is_superadmin:
            return None
        async with self._db.read() as session:
            return await repo.keypair_policies_of_user(session, caller.user_uuid)

    async def list_keypair_policies(self, caller: Caller) -> list[KeyPairResourcePolicy]:
        names = await self._own_keypair_policies(caller)
        return await self._visible(repo.KEYPAIR, names)

    async def get_keypair_policy(self, caller: Caller, name: str | None) -> KeyPairResourcePolicy:
        """A policy by name, or (no name) the policy of the caller's keypair."""
        if name is None:
            async with self._db.read() as session:
                name = await repo.keypair_policy_of(session, caller.access_key)
        return await self._get(repo.KEYPAIR, name, await self._own_keypair_policies(caller))

    async def create_keypair_policy(
        self, caller: Caller, name: str, props: Mapping[str, Any]
    ) -> KeyPairResourcePolicy:
        return await self._create(caller, repo.KEYPAIR, name, KEYPAIR_DEFAULTS, props)

    async def modify_keypair_policy(
        self, caller: Caller, name: str, props: Mapping[str, Any]
    ) -> KeyPairResourcePolicy:
        return await self._modify(caller, repo.KEYPAIR, name, props)

    async def delete_keypair_policy(self, caller: Caller, name: str) -> None:
        await self._delete(caller, repo.KEYPAIR, name, "one or more keypairs")

    # User resource policies.

    async def _own_user_policy(self, caller: Caller) -> set[str] | None:
        if caller.is_superadmin:
            return None
        async with self._db.read() as session:
            own = await repo.user_policy_of(session, caller.user_uuid)
        return set() if own is None else {own}

    async def list_user_policies(self, caller: Caller) -> list[UserResourcePolicy]:
        return await self._visible(repo.USER, await self._own_user_policy(caller))

    async def get_user_policy(self, caller: Caller, name: str | None) -> UserResourcePolicy:
        """A policy by name, or (no name) the policy of the calling user."""
        if name is None:
            async with self._db.read() as session:
                name = await repo.user_policy_of(session, caller.user_uuid)
        return await self._get(repo.USER, name, await self._own_user_policy(caller))

    async def create_user_policy(
        self, caller: Caller, name: str, props: Mapping[str, Any]
    ) -> UserResourcePolicy:
        return await self._create(caller, repo.USER, name, USER_DEFAULTS, props)

    async def modify_user_policy(
        self, caller: Caller, name: str, props: Mapping[str, Any]
    ) -> UserResourcePolicy:
        return await self._modify(caller, repo.USER, name, props)

    async def delete_user_policy(self, caller: Caller, name: str) -> None:
        await self._delete(caller, repo.USER, name, "one or more users")

    # Project resource policies.

    async def _own_project_policies(self, caller: Caller) -> set[str] | None:
        if caller.is_superadmin:
            return None
        admin_of = caller.domain_name if caller.is_domain_admin else None
        async with self._db.read() as session:
            return await repo.project_policies_visible_to(session, caller.user_uuid, admin_of)

    async def list_project_policies(self, caller: Caller) -> list[ProjectResourcePolicy]:
        names = await self._own_project_policies(caller)
        return await self._visible(repo.PROJECT, names)

    async def get_project_policy(self, caller: Caller, name: str) -> ProjectResourcePolicy:
        return await self._get(repo.PROJECT, name, await self._own_project_policies(caller))

    async def create_project_policy(
        self, caller: Caller, name: str, props: Mapping[str, Any]
    ) -> ProjectResourcePolicy:
        return await self._create(caller, repo.PROJECT, name, PROJECT_DEFAULTS, props)

    async def modify_project_policy(
        self, caller: Caller, name: str, props: Mapping[str, Any]
    ) -> ProjectResourcePolicy:
        return await self._modify(caller, repo.PROJECT, name, props)

    async def delete_project_policy(self, caller: Caller, name: str) -> None:
        await self._delete(caller, repo.PROJECT, name, "one or more projects")
