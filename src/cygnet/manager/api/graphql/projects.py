"""Projects, called "groups" on the wire: ``groups``, ``groups_by_name``, ``group`` and
``create/modify/delete/purge_group``."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import strawberry

from cygnet.common.errors import StillInUse
from cygnet.manager import entities as e
from cygnet.manager.api.graphql.common import attempt, set_fields
from cygnet.manager.api.graphql.context import Info
from cygnet.manager.api.graphql.scalars import JSONString


@strawberry.type(name="Group")
class GroupNode:
    id: uuid.UUID
    name: str
    description: str | None
    is_active: bool
    created_at: datetime
    modified_at: datetime
    domain_name: str
    total_resource_slots: JSONString
    allowed_vfolder_hosts: JSONString
    integration_id: str | None
    resource_policy: str
    type: str
    scaling_groups: list[str]

    @classmethod
    def of(cls, p: e.Project) -> GroupNode:
        return cls(
            id=p.id,
            name=p.name,
            description=p.description,
            is_active=p.is_active,
            created_at=p.created_at,
            modified_at=p.modified_at,
            domain_name=p.domain_name,
            total_resource_slots=JSONString(p.total_resource_slots),
            allowed_vfolder_hosts=JSONString(p.allowed_vfolder_hosts),
            integration_id=p.integration_id,
            resource_policy=p.resource_policy,
            type=p.type.upper().replace("-", "_"),
            scaling_groups=p.scaling_groups,
        )


@strawberry.input(name="GroupInput")
class GroupInput:
    description: str | None = strawberry.UNSET
    is_active: bool | None = strawberry.UNSET
    domain_name: str | None = strawberry.UNSET
    total_resource_slots: JSONString | None = strawberry.UNSET
    allowed_vfolder_hosts: JSONString | None = strawberry.UNSET
    integration_id: str | None = strawberry.UNSET
    resource_policy: str | None = strawberry.UNSET
    type: str | None = strawberry.UNSET


@strawberry.input(name="ModifyGroupInput")
class ModifyGroupInput:
    name: str | None = strawberry.UNSET
    description: str | None = strawberry.UNSET
    is_active: bool | None = strawberry.UNSET
    domain_name: str | None = strawberry.UNSET
    total_resource_slots: JSONString | None = strawberry.UNSET
    allowed_vfolder_hosts: JSONString | None = strawberry.UNSET
    integration_id: str | None = strawberry.UNSET
    resource_policy: str | None = strawberry.UNSET
    user_update_mode: str | None = strawberry.UNSET
    user_uuids: list[str | None] | None = strawberry.UNSET


@strawberry.type
class CreateGroup:
    ok: bool
    msg: str
    error_code: str | None = None
    group: GroupNode | None = None


@strawberry.type
class ModifyGroup:
    ok: bool
    msg: str
    error_code: str | None = None
    group: GroupNode | None = None


@strawberry.type
class DeleteGroup:
    ok: bool
    msg: str
    error_code: str | None = None


@strawberry.type
class PurgeGroup:
    ok: bool
    msg: str
    error_code: str | None = None


def _props(value: Any) -> dict[str, Any]:
    """Sent fields; a null name or activity flag means "leave as is"."""
    props = set_fields(value)
    if props.get("user_uuids") is not None:
        props["user_uuids"] = [item for item in props["user_uuids"] if item is not None]
    for key in ("name", "is_active"):
        if key in props and props[key] is None:
            del props[key]
    return props


@strawberry.type
class ProjectQuery:
    @strawberry.field
    async def groups(
        self, info: Info, domain_name: str | None = None, is_active: bool | None = None
    ) -> list[GroupNode]:
        ctx = info.context
        found = await ctx.services.projects.list(
            ctx.caller, domain_name=domain_name, is_active=is_active
        )
        return [GroupNode.of(p) for p in found]

    @strawberry.field
    async def groups_by_name(
        self, info: Info, name: str, domain_name: str | None = None
    ) -> list[GroupNode]:
        ctx = info.context
        found = await ctx.services.projects.list(ctx.caller, domain_name=domain_name, name=name)
        return [GroupNode.of(p) for p in found]

    @strawberry.field
    async def group(
        self, info: Info, id: uuid.UUID, domain_name: str | None = None
    ) -> GroupNode | None:
        ctx = info.context
        found = await ctx.services.projects.get(ctx.caller, id, domain_name=domain_name)
        return GroupNode.of(found) if found else None


@strawberry.type
class ProjectMutation:
    @strawberry.mutation
    async def create_group(self, info: Info, name: str, props: GroupInput) -> CreateGroup:
        ctx = info.context
        ok, msg, code, value = await attempt(
            lambda: ctx.services.projects.create(ctx.caller, name, _props(props))
        )
        return CreateGroup(
            ok=ok, msg=msg, error_code=code, group=GroupNode.of(value) if value else None
        )

    @strawberry.mutation
    async def modify_group(
        self, info: Info, gid: uuid.UUID, props: ModifyGroupInput
    ) -> ModifyGroup:
        ctx = info.context
        ok, msg, code, value = await attempt(
            lambda: ctx.services.projects.modify(ctx.caller, gid, _props(props))
        )
        return ModifyGroup(
            ok=ok, msg=msg, error_code=code, group=GroupNode.of(value) if value else None
        )

    @strawberry.mutation
    async def delete_group(self, info: Info, gid: uuid.UUID) -> DeleteGroup:
        ctx = info.context
        ok, msg, code, _ = await attempt(lambda: ctx.services.projects.delete(ctx.caller, gid))
        return DeleteGroup(ok=ok, msg=msg, error_code=code)

    @strawberry.mutation
    async def purge_group(self, info: Info, gid: uuid.UUID) -> PurgeGroup:
        ctx = info.context
        # A project with live sessions is an error, not ok:false (the client then reports
        # HTTP 400, as with the reference server).
        ok, msg, code, _ = await attempt(
            lambda: ctx.services.projects.purge(ctx.caller, gid), raising=(StillInUse,)
        )
        return PurgeGroup(ok=ok, msg=msg, error_code=code)
