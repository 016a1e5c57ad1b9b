"""Projects (Backend.AI "groups"): the second level of domain -> project -> user.

Superadmins see and manage every project; a domain admin those of its own domain; other users
only see the projects they belong to and manage none.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from cygnet.common.clock import Clock
from cygnet.common.errors import (
    AlreadyExists,
    DomainNotFound,
    InsufficientPrivilege,
    InvalidAPIParameters,
    ProjectNotFound,
    ResourcePolicyNotFound,
    StillInUse,
)
from cygnet.manager.entities import Caller, Project
from cygnet.manager.services.common import (
    check_name,
    identity_write,
    require_admin,
    require_domain_admin,
)
from cygnet.manager.services.users import parse_uuids
from cygnet.manager.services.validation import validate_slots, validate_vfolder_hosts
from cygnet.manager.store.db import Database
from cygnet.manager.store.repositories import domains as domains_repo
from cygnet.manager.store.repositories import projects as repo
from cygnet.manager.store.repositories import sessions as sessions_repo
from cygnet.manager.store.repositories import users as users_repo

DEFAULT_POLICY = "default"
PROJECT_TYPES = ("general", "model-store")
_EDITABLE = (
    "name",
    "description",
    "is_active",
    "total_resource_slots",
    "allowed_vfolder_hosts",
    "integration_id",
    "resource_policy",
)


def _can_see(caller: Caller, project: Project, member_of: set[uuid.UUID]) -> bool:
    return caller.can_admin_domain(project.domain_name) or project.id in member_of


def _values(props: dict[str, Any]) -> dict[str, Any]:
    """Validated column values from a GroupInput / ModifyGroupInput (only those present)."""
    values = {key: props[key] for key in _EDITABLE if key in props}
    if "name" in values:
        check_name(values["name"], "project")
    if "total_resource_slots" in values:
        slots = values["total_resource_slots"]
        values["total_resource_slots"] = validate_slots(
            {} if slots is None else slots, "total_resource_slots"
        )
    if "allowed_vfolder_hosts" in values:
        hosts = values["allowed_vfolder_hosts"]
        values["allowed_vfolder_hosts"] = validate_vfolder_hosts({} if hosts is None else hosts)
    if values.get("is_active", True) is None:
        del values["is_active"]
    integration_id = values.get("integration_id")
    if integration_id is not None and len(integration_id) > 512:
        raise InvalidAPIParameters("integration_id is longer than 512 characters.")
    if props.get("type") is not None:
        kind = str(props["type"]).lower().replace("_", "-")
        if kind not in PROJECT_TYPES:
            raise InvalidAPIParameters(f"Invalid project type {props['type']!r}.")
        values["type"] = kind
    return values


class ProjectService:
    def __init__(
        self, db: Database, clock: Clock, invalidate: Callable[[], None] | None = None
    ) -> None:
        self._db = db
        self._invalidate = invalidate  # cached identities, after a change
        self._clock = clock

    async def _member_of(self, caller: Caller) -> set[uuid.UUID]:
        if caller.is_superadmin or caller.is_domain_admin:
            return set()
        async with self._db.read() as session:
            return {p.id for p in await repo.list_all(session, member=caller.user_uuid)}

    async def list(
        self,
        caller: Caller,
        *,
        domain_name: str | None = None,
        is_active: bool | None = None,
        name: str | None = None,
    ) -> list[Project]:
        """Projects the caller may see, narrowed by domain, activity and exact name."""
        if not caller.is_superadmin:
            if domain_name is not None and domain_name != caller.domain_name:
                raise InsufficientPrivilege("You cannot access another domain.")
            domain_name = caller.domain_name
        member = None if caller.is_superadmin or caller.is_domain_admin else caller.user_uuid
        async with self._db.read() as session:
            return await repo.list_all(
                session, domain_name=domain_name, is_active=is_active, name=name, member=member
            )

    async def get(
        self, caller: Caller, project_id: uuid.UUID, *, domain_name: str | None = None
    ) -> Project | None:
        """One project, or None when it does not exist or the caller may not see it."""
        async with self._db.read() as session:
            project = await repo.get(session, project_id)
        if project is None or (domain_name is not None and project.domain_name != domain_name):
            return None
        return project if _can_see(caller, project, await self._member_of(caller)) else None

    async def create(self, caller: Caller, name: str, props: dict[str, Any]) -> Project:
        domain_name = props.get("domain_name") or caller.domain_name
        require_domain_admin(caller, domain_name)
        values = _values({**props, "name": name})
        policy = values.get("resource_policy") or DEFAULT_POLICY
        now = self._clock.now()
        async with identity_write(self._db, self._invalidate) as session:
            if await domains_repo.get(session, domain_name) is None:
                raise DomainNotFound(f"Domain {domain_name!r} not found.")
            if await repo.get_by_name(session, domain_name, name) is not None:
                raise AlreadyExists(f"Project {name!r} already exists in domain {domain_name!r}.")
            if not await repo.policy_exists(session, policy):
                raise ResourcePolicyNotFound(f"Project resource policy {policy!r} not found.")
            return await repo.create(
                session,
                {
                    "description": None,
                    "is_active": True,
                    "total_resource_slots": {},
                    "allowed_vfolder_hosts": {},
                    "integration_id": None,
                    "type": "general",
                    **values,
                    "id": uuid.uuid4(),
                    "domain_name": domain_name,
                    "resource_policy": policy,
                    "created_at": now,
                    "modified_at": now,
                },
            )

    async def modify(self, caller: Caller, project_id: uuid.UUID, props: dict[str, Any]) -> Project:
        """Change fields, and add or remove members (``user_update_mode`` + ``user_uuids``)."""
        values = _values(props)
        mode = props.get("user_update_mode")
        user_ids = parse_uuids(props.get("user_uuids") or [], "user uuid")
        if user_ids and mode not in ("add", "remove"):
            raise InvalidAPIParameters("user_update_mode must be 'add' or 'remove'.")
        async with identity_write(self._db, self._invalidate) as session:
            project = await self._managed(session, caller, project_id)
            if props.get("domain_name") not in (None, project.domain_name):
                raise InvalidAPIParameters("A project cannot move to another domain.")
            new_name = values.get("name", project.name)
            if new_name != project.name and await repo.get_by_name(
                session, project.domain_name, new_name
            ):
                raise AlreadyExists(f"Project {new_name!r} already exists.")
            if values.get("resource_policy") is not None and not await repo.policy_exists(
                session, values["resource_policy"]
            ):
                raise ResourcePolicyNotFound(
                    f"Project resource policy {values['resource_policy']!r} not found."
                )
            if values.get("resource_policy", "") is None:
                del values["resource_policy"]
            if mode == "add" and user_ids:
                users = {u.uuid: u for u in await users_repo.get_many(session, user_ids)}
                for uid in user_ids:
                    user = users.get(uid)
                    if user is None or user.domain_name != project.domain_name:
                        raise InvalidAPIParameters(
                            f"User {uid} does not exist in domain {project.domain_name!r}."
                        )
                await repo.add_members(session, project_id, user_ids)
            elif mode == "remove" and user_ids:
                await repo.remove_members(session, project_id, user_ids)
            updated = await repo.update(
                session, project_id, {**values, "modified_at": self._clock.now()}
            )
        assert updated is not None
        return updated

    async def delete(self, caller: Caller, project_id: uuid.UUID) -> None:
        """Deactivate a project (it and its memberships stay)."""
        async with identity_write(self._db, self._invalidate) as session:
            await self._managed(session, caller, project_id)
            await repo.update(
                session, project_id, {"is_active": False, "modified_at": self._clock.now()}
            )

    async def purge(self, caller: Caller, project_id: uuid.UUID) -> None:
        """Remove a project for good, with its memberships and resource-group associations;
        refused while the project has live sessions."""
        async with identity_write(self._db, self._invalidate) as session:
            await self._managed(session, caller, project_id)
            live = await sessions_repo.count_live_in_project(session, project_id)
            if live:
                raise StillInUse(
                    f"Project {project_id} has {live} live session(s); "
                    "terminate them before purging it."
                )
            await repo.purge(session, project_id)

    @staticmethod
    async def _managed(session: AsyncSession, caller: Caller, project_id: uuid.UUID) -> Project:
        require_admin(caller)
        project = await repo.get(session, project_id)
        if project is None:
            raise ProjectNotFound(f"Project {project_id} not found.")
        require_domain_admin(caller, project.domain_name)
        return project
