"""Resource groups (Backend.AI "scaling groups"): partitions of the agents, each with its own
scheduler, and the domains, projects and keypairs allowed to use them.

Superadmins manage them and see everything. Other callers see the groups available to them:
those linked to their domain, to the projects they belong to, or to their keypair; plain users
see only the public ones, and nobody but a superadmin sees the app-proxy API token.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import Any
from urllib.parse import urlparse

from sqlalchemy.ext.asyncio import AsyncSession

from cygnet.common.clock import Clock
from cygnet.common.errors import (
    AlreadyExists,
    Conflict,
    DomainNotFound,
    InsufficientPrivilege,
    InvalidAPIParameters,
    KeyPairNotFound,
    ProjectNotFound,
    ResourceGroupNotFound,
)
from cygnet.manager.entities import Caller, ResourceGroup, UserRole
from cygnet.manager.services.common import check_name, identity_write, require_superadmin
from cygnet.manager.store.db import Database
from cygnet.manager.store.repositories import projects as projects_repo
from cygnet.manager.store.repositories import resource_groups as repo

QUEUE_POLICIES: tuple[str, ...] = ("fifo", "lifo", "drf", "priority")
"""Scheduler (queue-sort) policies a resource group may use."""
DRIVERS: tuple[str, ...] = ("static",)
"""Agent provisioning drivers: ``static`` = agents join and leave on their own."""
SESSION_TYPES: tuple[str, ...] = ("interactive", "batch", "inference")

DEFAULTS: Mapping[str, Any] = {
    "description": None,
    "is_active": True,
    "is_public": True,
    "wsproxy_addr": None,
    "wsproxy_api_token": None,
    "driver": "static",
    "driver_opts": {},
    "scheduler": "fifo",
    "scheduler_opts": {},
    "use_host_network": False,
}
_BOOLS = ("is_active", "is_public", "use_host_network")


def _check_scheduler_opts(opts: Mapping[str, Any]) -> None:
    types = opts.get("allowed_session_types")
    if types is not None and (
        not isinstance(types, list) or any(t not in SESSION_TYPES for t in types)
    ):
        raise InvalidAPIParameters(
            f"scheduler_opts.allowed_session_types must be a list of {', '.join(SESSION_TYPES)}."
        )
    timeout = opts.get("pending_timeout")
    if timeout is not None and (
        isinstance(timeout, bool) or not isinstance(timeout, int | float) or timeout < 0
    ):
        raise InvalidAPIParameters("scheduler_opts.pending_timeout must be a number >= 0.")


def _normalise(props: Mapping[str, Any]) -> dict[str, Any]:
    """Validate the fields of a create/modify input. Null text fields clear them (an empty
    app-proxy address or token too), null option maps become empty, other nulls are ignored."""
    values: dict[str, Any] = {}
    for key, value in props.items():
        if key in ("driver_opts", "scheduler_opts"):
            value = {} if value is None else value
            if not isinstance(value, dict):
                raise InvalidAPIParameters(f"{key} must be a JSON object.")
            if key == "scheduler_opts":
                _check_scheduler_opts(value)
        elif key == "description":
            pass
        elif key in ("wsproxy_addr", "wsproxy_api_token"):
            value = value or None
            if key == "wsproxy_addr" and value is not None:
                parsed = urlparse(value)
                if parsed.scheme not in ("http", "https") or not parsed.netloc or len(value) > 1024:
                    raise InvalidAPIParameters(f"wsproxy_addr must be an http(s) URL: {value!r}")
            if key == "wsproxy_api_token" and value is not None and len(value) > 64:
                raise InvalidAPIParameters("wsproxy_api_token must be at most 64 characters.")
        elif value is None:
            continue
        elif key == "scheduler" and value not in QUEUE_POLICIES:
            raise InvalidAPIParameters(
                f"Unknown scheduler {value!r}: use one of {', '.join(QUEUE_POLICIES)}."
            )
        elif key == "driver" and value not in DRIVERS:
            raise InvalidAPIParameters(
                f"Unknown driver {value!r}: use one of {', '.join(DRIVERS)}."
            )
        elif key not in ("scheduler", "driver", *_BOOLS):
            raise InvalidAPIParameters(f"Unknown scaling group field {key!r}.")
        values[key] = value
    return values


def _shown(caller: Caller, groups: Sequence[ResourceGroup]) -> list[ResourceGroup]:
    """What a caller may see of the groups: all of it for superadmins; no app-proxy token for
    others, and only public groups for plain users."""
    if caller.is_superadmin:
        return list(groups)
    if caller.role is not UserRole.ADMIN:
        groups = [g for g in groups if g.is_public]
    return [dataclasses.replace(g, wsproxy_api_token=None) for g in groups]


async def _require_group(session: AsyncSession, name: str) -> None:
    if await repo.get(session, name) is None:
        raise ResourceGroupNotFound(f"Scaling group {name!r} not found.")


class ResourceGroupService:
    def __init__(
        self, db: Database, clock: Clock, invalidate: Callable[[], None] | None = None
    ) -> None:
        self._db = db
        self._invalidate = invalidate  # cached identities, after a change
        self._clock = clock

    # Reads.

    async def list_groups(
        self, caller: Caller, *, name: str | None = None, is_active: bool | None = None
    ) -> list[ResourceGroup]:
        async with self._db.read() as session:
            if caller.is_superadmin:
                groups = await repo.list_all(session, name=name, is_active=is_active)
            else:
                groups = await repo.list_allowed(
                    session,
                    domain=caller.domain_name,
                    user_uuid=caller.user_uuid,
                    access_key=caller.access_key,
                    name=name,
                    is_active=is_active,
                )
        return _shown(caller, groups)

    async def get(self, caller: Caller, name: str | None) -> ResourceGroup:
        if not name:
            raise InvalidAPIParameters("Give the name of a scaling group.")
        found = await self.list_groups(caller, name=name)
        if not found:
            raise ResourceGroupNotFound(f"Scaling group {name!r} not found.")
        return found[0]

    async def list_for_domain(
        self, caller: Caller, domain: str, *, is_active: bool | None = None
    ) -> list[ResourceGroup]:
        if not caller.is_superadmin and domain != caller.domain_name:
            raise InsufficientPrivilege("You may only list the scaling groups of your own domain.")
        async with self._db.read() as session:
            if not await repo.domain_exists(session, domain):
                raise DomainNotFound(f"Domain {domain!r} not found.")
            groups = await repo.list_for_domain(session, domain, is_active=is_active)
        return _shown(caller, groups)

    async def list_for_project(
        self, caller: Caller, project_id: uuid.UUID, *, is_active: bool | None = None
    ) -> list[ResourceGroup]:
        async with self._db.read() as session:
            domain = await repo.project_domain(session, project_id)
            allowed = caller.is_superadmin or (
                domain is not None
                and (
                    caller.can_admin_domain(domain)
                    or await repo.is_project_member(session, project_id, caller.user_uuid)
                )
            )
            if not allowed:
                raise InsufficientPrivilege(
                    "You may only list the scaling groups of your own projects."
                )
            if domain is None:
                raise ProjectNotFound(f"Project {project_id} not found.")
            groups = await repo.list_for_project(session, project_id, is_active=is_active)
        return _shown(caller, groups)

    async def list_for_keypair(
        self, caller: Caller, access_key: str, *, is_active: bool | None = None
    ) -> list[ResourceGroup]:
        async with self._db.read() as session:
            owner = await repo.keypair_owner(session, access_key)
            allowed = caller.is_superadmin or (
                owner is not None
                and (
                    owner.user_uuid == caller.user_uuid
                    or caller.can_admin_domain(owner.domain_name)
                )
            )
            if not allowed:
                raise InsufficientPrivilege(
                    "You may only list the scaling groups of your own keypairs."
                )
            if owner is None:
                raise KeyPairNotFound(f"Keypair {access_key!r} not found.")
            groups = await repo.list_for_keypair(session, access_key, is_active=is_active)
        return _shown(caller, groups)

    async def list_available(self, caller: Caller, project: str) -> list[ResourceGroup]:
        """The active groups the caller may run sessions in for ``project`` (a name in the
        caller's domain, or an id): those of the caller's domain, of that project and of the
        caller's keypair (``GET /scaling-groups?group=``)."""
        async with self._db.read() as session:
            project_id = await self._project_id(session, caller, project)
            domain = await repo.project_domain(session, project_id)
            visible = caller.is_superadmin or (
                domain is not None
                and (
                    caller.can_admin_domain(domain)
                    or await repo.is_project_member(session, project_id, caller.user_uuid)
                )
            )
            if domain is None or not visible:
                raise ProjectNotFound(f"Project {project!r} not found.")
            found: dict[str, ResourceGroup] = {}
            for groups in (
                await repo.list_for_domain(session, domain, is_active=True),
                await repo.list_for_project(session, project_id, is_active=True),
                await repo.list_for_keypair(session, caller.access_key, is_active=True),
            ):
                found.update((g.name, g) for g in groups)
        return _shown(caller, sorted(found.values(), key=lambda g: g.name))

    @staticmethod
    async def _project_id(session: AsyncSession, caller: Caller, project: str) -> uuid.UUID:
        try:
            return uuid.UUID(project)
        except ValueError:
            pass
        named = await projects_repo.get_by_name(session, caller.domain_name, project)
        if named is None:
            raise ProjectNotFound(f"Project {project!r} not found.")
        return named.id

    # Writes (superadmin only).

    async def create(self, caller: Caller, name: str, props: Mapping[str, Any]) -> ResourceGroup:
        require_superadmin(caller)
        check_name(name, "scaling group")
        values = {**DEFAULTS, **_normalise(props), "name": name, "created_at": self._clock.now()}
        async with identity_write(self._db, self._invalidate) as session:
            if await repo.get(session, name) is not None:
                raise AlreadyExists(f"Scaling group {name!r} already exists.")
            return await repo.create(session, values)

    async def modify(self, caller: Caller, name: str, props: Mapping[str, Any]) -> ResourceGroup:
        require_superadmin(caller)
        values = _normalise(props)
        async with identity_write(self._db, self._invalidate) as session:
            found = await repo.update(session, name, values)
        if found is None:
            raise ResourceGroupNotFound(f"Scaling group {name!r} not found.")
        return found

    async def delete(self, caller: Caller, name: str) -> None:
        """Delete a group and its links; refused while agents belong to it."""
        require_superadmin(caller)
        async with identity_write(self._db, self._invalidate) as session:
            if await repo.get(session, name) is None:
                raise ResourceGroupNotFound(f"Scaling group {name!r} not found.")
            if await repo.has_agents(session, name):
                raise Conflict(f"Scaling group {name!r} still has agents; move or remove them.")
            await repo.delete(session, name)

    async def associate_domain(self, caller: Caller, name: str, domain: str) -> None:
        require_superadmin(caller)
        async with identity_write(self._db, self._invalidate) as session:
            await _require_group(session, name)
            if not await repo.domain_exists(session, domain):
                raise DomainNotFound(f"Domain {domain!r} not found.")
            if not await repo.link_domain(session, name, domain):
                raise AlreadyExists(
                    f"Scaling group {name!r} is already associated with domain {domain!r}."
                )

    async def disassociate_domain(self, caller: Caller, name: str, domain: str) -> None:
        require_superadmin(caller)
        async with identity_write(self._db, self._invalidate) as session:
            if not await repo.unlink_domain(session, name, domain):
                raise Conflict(f"Scaling group {name!r} is not associated with domain {domain!r}.")

    async def disassociate_all_domain(self, caller: Caller, domain: str) -> int:
        require_superadmin(caller)
        async with identity_write(self._db, self._invalidate) as session:
            if not await repo.domain_exists(session, domain):
                raise DomainNotFound(f"Domain {domain!r} not found.")
            return await repo.unlink_all_domain(session, domain)

    async def associate_project(self, caller: Caller, name: str, project_id: uuid.UUID) -> None:
        require_superadmin(caller)
        async with identity_write(self._db, self._invalidate) as session:
            await _require_group(session, name)
            if await repo.project_domain(session, project_id) is None:
                raise ProjectNotFound(f"Project {project_id} not found.")
            if not await repo.link_project(session, name, project_id):
                raise AlreadyExists(
                    f"Scaling group {name!r} is already associated with project {project_id}."
                )

    async def disassociate_project(self, caller: Caller, name: str, project_id: uuid.UUID) -> None:
        require_superadmin(caller)
        async with identity_write(self._db, self._invalidate) as session:
            if not await repo.unlink_project(session, name, project_id):
                raise Conflict(
                    f"Scaling group {name!r} is not associated with project {project_id}."
                )

    async def disassociate_all_project(self, caller: Caller, project_id: uuid.UUID) -> int:
        require_superadmin(caller)
        async with identity_write(self._db, self._invalidate) as session:
            if await repo.project_domain(session, project_id) is None:
                raise ProjectNotFound(f"Project {project_id} not found.")
            return await repo.unlink_all_project(session, project_id)

    async def associate_keypair(self, caller: Caller, name: str, access_key: str) -> None:
        require_superadmin(caller)
        async with identity_write(self._db, self._invalidate) as session:
            await _require_group(session, name)
            if await repo.keypair_owner(session, access_key) is None:
                raise KeyPairNotFound(f"Keypair {access_key!r} not found.")
            if not await repo.link_keypair(session, name, access_key):
                raise AlreadyExists(
                    f"Scaling group {name!r} is already associated with keypair {access_key!r}."
                )

    async def disassociate_keypair(self, caller: Caller, name: str, access_key: str) -> None:
        require_superadmin(caller)
        async with identity_write(self._db, self._invalidate) as session:
            if not await repo.unlink_keypair(session, name, access_key):
                raise Conflict(
                    f"Scaling group {name!r} is not associated with keypair {access_key!r}."
                )
