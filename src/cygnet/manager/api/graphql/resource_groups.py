"""Resource groups, by their Backend.AI name "scaling groups": ``scaling_groups``,
``scaling_group``, ``scaling_groups_for_domain/_user_group/_keypair``,
``create/modify/delete_scaling_group`` and the (dis)association mutations.

Argument types follow what the official client declares: ``user_group`` is ``UUID!`` for
``associate_scaling_group_with_user_group`` and ``disassociate_all_scaling_groups_with_group``
but ``String!`` for ``disassociate_scaling_group_with_user_group`` and (as in Backend.AI)
``scaling_groups_for_user_group``.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any, TypeVar

import strawberry

from cygnet.common.errors import InvalidAPIParameters
from cygnet.manager import entities as e
from cygnet.manager.api.graphql.common import attempt, found_or_none, set_fields
from cygnet.manager.api.graphql.context import Info
from cygnet.manager.api.graphql.scalars import JSONString


@strawberry.type(name="ScalingGroup")
class ScalingGroupNode:
    name: str
    description: str | None
    is_active: bool
    is_public: bool
    created_at: datetime
    wsproxy_addr: str | None
    wsproxy_api_token: str | None
    driver: str
    driver_opts: JSONString
    scheduler: str
    scheduler_opts: JSONString
    use_host_network: bool

    @classmethod
    def of(cls, g: e.ResourceGroup) -> ScalingGroupNode:
        return cls(
            name=g.name,
            description=g.description,
            is_active=g.is_active,
            is_public=g.is_public,
            created_at=g.created_at,
            wsproxy_addr=g.wsproxy_addr,
            wsproxy_api_token=g.wsproxy_api_token,
            driver=g.driver,
            driver_opts=JSONString(g.driver_opts),
            scheduler=g.scheduler,
            scheduler_opts=JSONString(g.scheduler_opts),
            use_host_network=g.use_host_network,
        )


@strawberry.input(name="CreateScalingGroupInput")
class CreateScalingGroupInput:
    description: str | None = strawberry.UNSET
    is_active: bool | None = strawberry.UNSET
    is_public: bool | None = strawberry.UNSET
    wsproxy_addr: str | None = strawberry.UNSET
    wsproxy_api_token: str | None = strawberry.UNSET
    driver: str | None = strawberry.UNSET
    driver_opts: JSONString | None = strawberry.UNSET
    scheduler: str | None = strawberry.UNSET
    scheduler_opts: JSONString | None = strawberry.UNSET
    use_host_network: bool | None = strawberry.UNSET


@strawberry.input(name="ModifyScalingGroupInput")
class ModifyScalingGroupInput(CreateScalingGroupInput):
    pass


@strawberry.type
class ScalingGroupMutationResult:
    ok: bool
    msg: str
    error_code: str | None = None


@strawberry.type
class CreateScalingGroup(ScalingGroupMutationResult):
    scaling_group: ScalingGroupNode | None = None


@strawberry.type
class ModifyScalingGroup(ScalingGroupMutationResult):
    scaling_group: ScalingGroupNode | None = None


@strawberry.type
class DeleteScalingGroup(ScalingGroupMutationResult):
    pass


@strawberry.type
class AssociateScalingGroupWithDomain(ScalingGroupMutationResult):
    pass


@strawberry.type
class DisassociateScalingGroupWithDomain(ScalingGroupMutationResult):
    pass


@strawberry.type
class DisassociateAllScalingGroupsWithDomain(ScalingGroupMutationResult):
    pass


@strawberry.type
class AssociateScalingGroupWithUserGroup(ScalingGroupMutationResult):
    pass


@strawberry.type
class DisassociateScalingGroupWithUserGroup(ScalingGroupMutationResult):
    pass


@strawberry.type
class DisassociateAllScalingGroupsWithGroup(ScalingGroupMutationResult):
    pass


@strawberry.type
class AssociateScalingGroupWithKeyPair(ScalingGroupMutationResult):
    pass


@strawberry.type
class DisassociateScalingGroupWithKeyPair(ScalingGroupMutationResult):
    pass


P = TypeVar("P", bound=ScalingGroupMutationResult)


def _project_id(value: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        raise InvalidAPIParameters(f"Invalid project (user group) id {value!r}.") from None


async def _run(payload: type[P], action: Callable[[], Awaitable[Any]]) -> P:
    ok, msg, code, _ = await attempt(action)
    return payload(ok=ok, msg=msg, error_code=code)


def _nodes(groups: list[e.ResourceGroup]) -> list[ScalingGroupNode]:
    return [ScalingGroupNode.of(g) for g in groups]


@strawberry.type
class ResourceGroupQuery:
    @strawberry.field
    async def scaling_groups(
        self, info: Info, name: str | None = None, is_active: bool | None = None
    ) -> list[ScalingGroupNode]:
        """All groups for superadmins; the groups available to the caller otherwise."""
        ctx = info.context
        svc = ctx.services.resource_groups
        return _nodes(await svc.list_groups(ctx.caller, name=name, is_active=is_active))

    @strawberry.field
    async def scaling_group(self, info: Info, name: str | None = None) -> ScalingGroupNode | None:
        ctx = info.context
        found = await found_or_none(ctx.services.resource_groups.get(ctx.caller, name))
        return ScalingGroupNode.of(found) if found else None

    @strawberry.field
    async def scaling_groups_for_domain(
        self, info: Info, domain: str, is_active: bool | None = None
    ) -> list[ScalingGroupNode]:
        ctx = info.context
        svc = ctx.services.resource_groups
        return _nodes(await svc.list_for_domain(ctx.caller, domain, is_active=is_active))

    @strawberry.field
    async def scaling_groups_for_user_group(
        self, info: Info, user_group: str, is_active: bool | None = None
    ) -> list[ScalingGroupNode]:
        ctx = info.context
        svc = ctx.services.resource_groups
        project_id = _project_id(user_group)
        return _nodes(await svc.list_for_project(ctx.caller, project_id, is_active=is_active))

    @strawberry.field
    async def scaling_groups_for_keypair(
        self, info: Info, access_key: str, is_active: bool | None = None
    ) -> list[ScalingGroupNode]:
        ctx = info.context
        svc = ctx.services.resource_groups
        return _nodes(await svc.list_for_keypair(ctx.caller, access_key, is_active=is_active))


@strawberry.type
class ResourceGroupMutation:
    @strawberry.mutation
    async def create_scaling_group(
        self, info: Info, name: str, props: CreateScalingGroupInput
    ) -> CreateScalingGroup:
        ctx = info.context
        ok, msg, code, value = await attempt(
            lambda: ctx.services.resource_groups.create(ctx.caller, name, set_fields(props))
        )
        node = ScalingGroupNode.of(value) if value is not None else None
        return CreateScalingGroup(ok=ok, msg=msg, error_code=code, scaling_group=node)

    @strawberry.mutation
    async def modify_scaling_group(
        self, info: Info, name: str, props: ModifyScalingGroupInput
    ) -> ModifyScalingGroup:
        ctx = info.context
        ok, msg, code, value = await attempt(
            lambda: ctx.services.resource_groups.modify(ctx.caller, name, set_fields(props))
        )
        node = ScalingGroupNode.of(value) if value is not None else None
        return ModifyScalingGroup(ok=ok, msg=msg, error_code=code, scaling_group=node)

    @strawberry.mutation
    async def delete_scaling_group(self, info: Info, name: str) -> DeleteScalingGroup:
        ctx = info.context
        svc = ctx.services.resource_groups
        return await _run(DeleteScalingGroup, lambda: svc.delete(ctx.caller, name))

    @strawberry.mutation
    async def associate_scaling_group_with_domain(
        self, info: Info, scaling_group: str, domain: str
    ) -> AssociateScalingGroupWithDomain:
        ctx = info.context
        svc = ctx.services.resource_groups
        return await _run(
            AssociateScalingGroupWithDomain,
            lambda: svc.associate_domain(ctx.caller, scaling_group, domain),
        )

    @strawberry.mutation
    async def disassociate_scaling_group_with_domain(
        self, info: Info, scaling_group: str, domain: str
    ) -> DisassociateScalingGroupWithDomain:
        ctx = info.context
        svc = ctx.services.resource_groups
        return await _run(
            DisassociateScalingGroupWithDomain,
            lambda: svc.disassociate_domain(ctx.caller, scaling_group, domain),
        )

    @strawberry.mutation
    async def disassociate_all_scaling_groups_with_domain(
        self, info: Info, domain: str
    ) -> DisassociateAllScalingGroupsWithDomain:
        ctx = info.context
        svc = ctx.services.resource_groups
        return await _run(
            DisassociateAllScalingGroupsWithDomain,
            lambda: svc.disassociate_all_domain(ctx.caller, domain),
        )

    @strawberry.mutation
    async def associate_scaling_group_with_user_group(
        self, info: Info, scaling_group: str, user_group: uuid.UUID
    ) -> AssociateScalingGroupWithUserGroup:
        ctx = info.context
        svc = ctx.services.resource_groups
        return await _run(
            AssociateScalingGroupWithUserGroup,
            lambda: svc.associate_project(ctx.caller, scaling_group, user_group),
        )

    @strawberry.mutation
    async def disassociate_scaling_group_with_user_group(
        self, info: Info, scaling_group: str, user_group: str
    ) -> DisassociateScalingGroupWithUserGroup:
        ctx = info.context
        svc = ctx.services.resource_groups
        return await _run(
            DisassociateScalingGroupWithUserGroup,
            lambda: svc.disassociate_project(ctx.caller, scaling_group, _project_id(user_group)),
        )

    @strawberry.mutation
    async def disassociate_all_scaling_groups_with_group(
        self, info: Info, user_group: uuid.UUID
    ) -> DisassociateAllScalingGroupsWithGroup:
        ctx = info.context
        svc = ctx.services.resource_groups
        return await _run(
            DisassociateAllScalingGroupsWithGroup,
            lambda: svc.disassociate_all_project(ctx.caller, user_group),
        )

    @strawberry.mutation
    async def associate_scaling_group_with_keypair(
        self, info: Info, scaling_group: str, access_key: str
    ) -> AssociateScalingGroupWithKeyPair:
        ctx = info.context
        svc = ctx.services.resource_groups
        return await _run(
            AssociateScalingGroupWithKeyPair,
            lambda: svc.associate_keypair(ctx.caller, scaling_group, access_key),
        )

    @strawberry.mutation
    async def disassociate_scaling_group_with_keypair(
        self, info: Info, scaling_group: str, access_key: str
    ) -> DisassociateScalingGroupWithKeyPair:
        ctx = info.context
        svc = ctx.services.resource_groups
        return await _run(
            DisassociateScalingGroupWithKeyPair,
            lambda: svc.disassociate_keypair(ctx.caller, scaling_group, access_key),
        )
