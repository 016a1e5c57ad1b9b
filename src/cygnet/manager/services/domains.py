"""Domains: the top of the domain -> project -> user -> keypair tree."""

from __future__ import annotations

from typing import Any

from cygnet.common.clock import Clock
from cygnet.common.errors import AlreadyExists, Conflict, DomainNotFound, InvalidAPIParameters
from cygnet.manager.entities import Caller, Domain
from cygnet.manager.services.auth import AuthService
from cygnet.manager.services.common import check_name, require_superadmin
from cygnet.manager.services.validation import validate_slots, validate_vfolder_hosts
from cygnet.manager.store.db import Database
from cygnet.manager.store.repositories import domains as repo


def _validated(props: dict[str, Any]) -> dict[str, Any]:
    values = dict(props)
    if "name" in values:
        check_name(values["name"], "domain")
    if "total_resource_slots" in values:
        values["total_resource_slots"] = validate_slots(
            values["total_resource_slots"] or {}, "total_resource_slots"
        )
    if "allowed_vfolder_hosts" in values:
        values["allowed_vfolder_hosts"] = validate_vfolder_hosts(
            values["allowed_vfolder_hosts"] or {}
        )
    registries = values.get("allowed_docker_registries")
    if registries is not None and not (
        isinstance(registries, list) and all(isinstance(r, str) for r in registries)
    ):
        raise InvalidAPIParameters("allowed_docker_registries must be a list of strings.")
    return values


class DomainService:
    def __init__(self, db: Database, clock: Clock, auth: AuthService) -> None:
        self._db = db
        self._clock = clock
        self._auth = auth

    async def list(self, caller: Caller, *, is_active: bool | None = None) -> list[Domain]:
        async with self._db.read() as session:
            domains = await repo.list_all(session, is_active=is_active)
        if caller.is_superadmin:
            return domains
        return [d for d in domains if d.name == caller.domain_name]

    async def get(self, caller: Caller, name: str | None) -> Domain:
        name = name or caller.domain_name
        if not caller.is_superadmin and name != caller.domain_name:
            raise DomainNotFound(f"Domain {name!r} not found.")
        async with self._db.read() as session:
            domain = await repo.get(session, name)
        if domain is None:
            raise DomainNotFound(f"Domain {name!r} not found.")
        return domain

    async def create(self, caller: Caller, name: str, props: dict[str, Any]) -> Domain:
        require_superadmin(caller)
        check_name(name, "domain")
        now = self._clock.now()
        values = {
            "description": None,
            "is_active": True,
            "total_resource_slots": {},
            "allowed_vfolder_hosts": {},
            "allowed_docker_registries": [],
            "integration_id": None,
            **_validated(props),
            "name": name,
            "created_at": now,
            "modified_at": now,
        }
        async with self._db.transaction() as session:
            if await repo.get(session, name) is not None:
                raise AlreadyExists(f"Domain {name!r} already exists.")
            return await repo.create(session, values)

    async def modify(self, caller: Caller, name: str, props: dict[str, Any]) -> Domain:
        require_superadmin(caller)
        props = _validated(props)
        async with self._db.transaction() as session:
            new_name = props.get("name", name)
            if new_name != name and await repo.get(session, new_name) is not None:
                raise AlreadyExists(f"Domain {props['name']!r} already exists.")
            domain = await repo.update(session, name, {**props, "modified_at": self._clock.now()})
        if domain is None:
            raise DomainNotFound(f"Domain {name!r} not found.")
        self._auth.invalidate()
        return domain

    async def delete(self, caller: Caller, name: str) -> None:
        """Deactivate a domain; refused while it still has users that are not deleted."""
        require_superadmin(caller)
        async with self._db.transaction() as session:
            if await repo.get(session, name) is None:
                raise DomainNotFound(f"Domain {name!r} not found.")
            if await repo.has_active_users(session, name):
                raise Conflict(f"Domain {name!r} still has users; delete or move them first.")
            await repo.update(session, name, {"is_active": False, "modified_at": self._clock.now()})

    async def purge(self, caller: Caller, name: str) -> None:
        """Remove a domain for good; refused while users or projects remain in it."""
        require_superadmin(caller)
        async with self._db.transaction() as session:
            if await repo.get(session, name) is None:
                raise DomainNotFound(f"Domain {name!r} not found.")
            if await repo.has_members(session, name):
                raise Conflict(f"Domain {name!r} still has users or projects; purge them first.")
            await repo.purge(session, name)
