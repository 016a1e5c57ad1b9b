"""Domains: ``domains``, ``domain``, ``create/modify/delete/purge_domain``."""

from __future__ import annotations

from datetime import datetime

import strawberry

from cygnet.manager import entities as e
from cygnet.manager.api.graphql.common import attempt, found_or_none, set_fields
from cygnet.manager.api.graphql.context import Info
from cygnet.manager.api.graphql.scalars import JSONString


@strawberry.type(name="Domain")
class DomainNode:
    name: str
    description: str | None
    is_active: bool
    created_at: datetime
    modified_at: datetime
    total_resource_slots: JSONString
    allowed_vfolder_hosts: JSONString
    allowed_docker_registries: list[str]
    integration_id: str | None

    @classmethod
    def of(cls, d: e.Domain) -> DomainNode:
        return cls(
            name=d.name,
            description=d.description,
            is_active=d.is_active,
            created_at=d.created_at,
            modified_at=d.modified_at,
            total_resource_slots=JSONString(d.total_resource_slots),
            allowed_vfolder_hosts=JSONString(d.allowed_vfolder_hosts),
            allowed_docker_registries=d.allowed_docker_registries,
            integration_id=d.integration_id,
        )


@strawberry.input(name="DomainInput")
class DomainInput:
    description: str | None = strawberry.UNSET
    is_active: bool | None = strawberry.UNSET
    total_resource_slots: JSONString | None = strawberry.UNSET
    allowed_vfolder_hosts: JSONString | None = strawberry.UNSET
    allowed_docker_registries: list[str] | None = strawberry.UNSET
    integration_id: str | None = strawberry.UNSET


@strawberry.input(name="ModifyDomainInput")
class ModifyDomainInput(DomainInput):
    name: str | None = strawberry.UNSET


@strawberry.type
class CreateDomain:
    ok: bool
    msg: str
    error_code: str | None = None
    domain: DomainNode | None = None


@strawberry.type
class ModifyDomain:
    ok: bool
    msg: str
    error_code: str | None = None
    domain: DomainNode | None = None


@strawberry.type
class DeleteDomain:
    ok: bool
    msg: str
    error_code: str | None = None


def _props(value: DomainInput) -> dict[str, object]:
    props = set_fields(value)
    for key in ("total_resource_slots", "allowed_vfolder_hosts"):
        if key in props and props[key] is None:
            props[key] = {}
    if props.get("allowed_docker_registries", []) is None:
        props["allowed_docker_registries"] = []
    return {k: v for k, v in props.items() if v is not None or k in ("description",)}


@strawberry.type
class DomainQuery:
    @strawberry.field
    async def domains(self, info: Info, is_active: bool | None = None) -> list[DomainNode]:
        ctx = info.context
        found = await ctx.services.domains.list(ctx.caller, is_active=is_active)
        return [DomainNode.of(d) for d in found]

    @strawberry.field
    async def domain(self, info: Info, name: str | None = None) -> DomainNode | None:
        ctx = info.context
        found = await found_or_none(ctx.services.domains.get(ctx.caller, name))
        return DomainNode.of(found) if found else None


@strawberry.type
class DomainMutation:
    @strawberry.mutation
    async def create_domain(self, info: Info, name: str, props: DomainInput) -> CreateDomain:
        ctx = info.context
        ok, msg, code, value = await attempt(
            lambda: ctx.services.domains.create(ctx.caller, name, _props(props))
        )
        return CreateDomain(
            ok=ok, msg=msg, error_code=code, domain=DomainNode.of(value) if value else None
        )

    @strawberry.mutation
    async def modify_domain(self, info: Info, name: str, props: ModifyDomainInput) -> ModifyDomain:
        ctx = info.context
        ok, msg, code, value = await attempt(
            lambda: ctx.services.domains.modify(ctx.caller, name, _props(props))
        )
        return ModifyDomain(
            ok=ok, msg=msg, error_code=code, domain=DomainNode.of(value) if value else None
        )

    @strawberry.mutation
    async def delete_domain(self, info: Info, name: str) -> DeleteDomain:
        ctx = info.context
        ok, msg, code, _ = await attempt(lambda: ctx.services.domains.delete(ctx.caller, name))
        return DeleteDomain(ok=ok, msg=msg, error_code=code)

    @strawberry.mutation
    async def purge_domain(self, info: Info, name: str) -> DeleteDomain:
        ctx = info.context
        ok, msg, code, _ = await attempt(lambda: ctx.services.domains.purge(ctx.caller, name))
        return DeleteDomain(ok=ok, msg=msg, error_code=code)
