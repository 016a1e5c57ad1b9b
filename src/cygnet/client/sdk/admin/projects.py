"""Projects (Backend.AI "groups"): ``groups``, ``group``, ``groups_by_name``,
``create/modify/delete/purge_group`` and membership through ``modify_group``.

A project is named by its UUID or by its name (within ``domain``; every visible domain when
``domain`` is None, which must then match exactly one project)."""

from __future__ import annotations

import builtins
import uuid
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from cygnet.client.sdk.admin.base import (
    MUTATION_RESULT,
    GQLSession,
    as_uuid,
    build_input,
    fields,
    not_found,
    parse_many,
    parse_one,
)
from cygnet.client.sdk.errors import SDKError
from cygnet.client.sdk.models import Project

PROJECT_FIELDS = fields(
    (
        "id",
        "name",
        "description",
        "is_active",
        "created_at",
        "domain_name",
        "total_resource_slots",
        "allowed_vfolder_hosts",
        "integration_id",
    )
)
_JSON_FIELDS = ("total_resource_slots", "allowed_vfolder_hosts")
_NOT_FOUND = "group_read_not-found"

ProjectKey = uuid.UUID | str
"""A project's UUID, or its name."""


class AmbiguousName(SDKError):
    """A name matches several objects (in different domains); give the domain or the id."""


class Projects:
    def __init__(self, session: GQLSession) -> None:
        self._s = session

    async def list(self, *, domain: str | None = None) -> list[Project]:
        """Projects of ``domain`` (the server's default when None: the caller's domain)."""
        data = await self._s.gql(
            f"query($domain_name: String) {{ groups(domain_name: $domain_name) "
            f"{{ {PROJECT_FIELDS} }} }}",
            {"domain_name": domain},
        )
        return parse_many(Project, data.get("groups"))

    async def get(self, project: ProjectKey, *, domain: str | None = None) -> Project:
        """A project by UUID, or by name (within ``domain`` when given)."""
        gid = as_uuid(project)
        if gid is not None:
            data = await self._s.gql(
                f"query($gid: UUID!) {{ group(id: $gid) {{ {PROJECT_FIELDS} }} }}",
                {"gid": str(gid)},
            )
            return parse_one(Project, data.get("group"), "project", str(gid), _NOT_FOUND)
        name = str(project)
        data = await self._s.gql(
            "query($name: String!, $domain_name: String) { groups_by_name(name: $name, "
            f"domain_name: $domain_name) {{ {PROJECT_FIELDS} }} }}",
            {"name": name, "domain_name": domain},
        )
        found = parse_many(Project, data.get("groups_by_name"))
        if domain is not None:
            found = [p for p in found if p.domain_name in (None, domain)]
        if not found:
            where = f" in domain {domain!r}" if domain else ""
            raise not_found("project", name, _NOT_FOUND, where)
        if len(found) > 1:
            domains = ", ".join(sorted({p.domain_name or "?" for p in found}))
            raise AmbiguousName(
                f"Several projects are named {name!r} (in domains {domains}); "
                "give the domain or the project's id."
            )
        return found[0]

    info = get

    async def resolve_id(self, project: ProjectKey, *, domain: str | None = None) -> uuid.UUID:
        """The UUID of a project given by UUID (returned as is) or by name."""
        gid = as_uuid(project)
        if gid is not None:
            return gid
        return (await self.get(project, domain=domain)).id

    async def create(
        self,
        name: str,
        *,
        domain: str | None = None,
        description: str | None = None,
        is_active: bool | None = None,
        total_resource_slots: Mapping[str, Any] | None = None,
        allowed_vfolder_hosts: Mapping[str, Any] | None = None,
        integration_id: str | None = None,
        resource_policy: str | None = None,
    ) -> Project:
        """Create a project in ``domain`` (the session's configured domain by default)."""
        props = build_input(
            {
                "domain_name": domain or self._s.config.domain,
                "description": description,
                "is_active": is_active,
                "total_resource_slots": total_resource_slots,
                "allowed_vfolder_hosts": allowed_vfolder_hosts,
                "integration_id": integration_id,
                "resource_policy": resource_policy,
            },
            json_fields=_JSON_FIELDS,
        )
        payload = await self._s.mutate(
            "mutation($name: String!, $input: GroupInput!) { create_group(name: $name, "
            f"props: $input) {{ {MUTATION_RESULT} group {{ {PROJECT_FIELDS} }} }} }}",
            {"name": name, "input": props},
            "create_group",
        )
        if payload.get("group"):
            return Project.model_validate(payload["group"])
        return await self.get(name, domain=props["domain_name"])

    async def update(
        self,
        project: ProjectKey,
        *,
        domain: str | None = None,
        name: str | None = None,
        description: str | None = None,
        is_active: bool | None = None,
        total_resource_slots: Mapping[str, Any] | None = None,
        allowed_vfolder_hosts: Mapping[str, Any] | None = None,
        integration_id: str | None = None,
        resource_policy: str | None = None,
    ) -> Project:
        """Change the given properties (``name`` renames); returns the project as it is now."""
        gid = await self.resolve_id(project, domain=domain)
        props = build_input(
            {
                "name": name,
                "description": description,
                "is_active": is_active,
                "total_resource_slots": total_resource_slots,
                "allowed_vfolder_hosts": allowed_vfolder_hosts,
                "integration_id": integration_id,
                "resource_policy": resource_policy,
            },
            json_fields=_JSON_FIELDS,
        )
        await self._modify(gid, props)
        return await self.get(gid)

    async def add_users(
        self, project: ProjectKey, users: Sequence[uuid.UUID | str], *, domain: str | None = None
    ) -> None:
        """Add users (UUIDs or emails) to a project."""
        await self._membership(project, users, "add", domain)

    async def remove_users(
        self, project: ProjectKey, users: Sequence[uuid.UUID | str], *, domain: str | None = None
    ) -> None:
        """Remove users (UUIDs or emails) from a project."""
        await self._membership(project, users, "remove", domain)

    async def delete(self, project: ProjectKey, *, domain: str | None = None) -> None:
        """Deactivate a project."""
        gid = await self.resolve_id(project, domain=domain)
        await self._s.mutate(
            f"mutation($gid: UUID!) {{ delete_group(gid: $gid) {{ {MUTATION_RESULT} }} }}",
            {"gid": str(gid)},
            "delete_group",
        )

    async def purge(self, project: ProjectKey, *, domain: str | None = None) -> None:
        """Remove a project for good (refused while it has live sessions or endpoints)."""
        gid = await self.resolve_id(project, domain=domain)
        await self._s.mutate(
            f"mutation($gid: UUID!) {{ purge_group(gid: $gid) {{ {MUTATION_RESULT} }} }}",
            {"gid": str(gid)},
            "purge_group",
        )

    async def _membership(
        self,
        project: ProjectKey,
        users: Sequence[uuid.UUID | str],
        mode: str,
        domain: str | None,
    ) -> None:
        gid = await self.resolve_id(project, domain=domain)
        uuids = [str(u) for u in await self._user_ids(users)]
        await self._modify(gid, {"user_update_mode": mode, "user_uuids": uuids})

    async def _user_ids(self, users: Iterable[uuid.UUID | str]) -> builtins.list[uuid.UUID]:
        result: builtins.list[uuid.UUID] = []
        for user in users:
            uid = as_uuid(user)
            if uid is None:
                data = await self._s.gql(
                    "query($email: String) { user(email: $email) { uuid } }", {"email": str(user)}
                )
                found = data.get("user")
                if not found:
                    raise not_found("user", str(user), "user_read_not-found")
                uid = uuid.UUID(found["uuid"])
            result.append(uid)
        return result

    async def _modify(self, gid: uuid.UUID, props: dict[str, Any]) -> None:
        await self._s.mutate(
            "mutation($gid: UUID!, $input: ModifyGroupInput!) { modify_group(gid: $gid, "
            f"props: $input) {{ {MUTATION_RESULT} }} }}",
            {"gid": str(gid), "input": props},
            "modify_group",
        )
