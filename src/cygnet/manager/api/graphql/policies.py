"""Resource policies: ``keypair_resource_policies``/``keypair_resource_policy``,
``user_resource_policies``/``user_resource_policy``, ``project_resource_policies``/
``project_resource_policy``, and ``create/modify/delete_<kind>_resource_policy``."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any, TypeVar

import strawberry

from cygnet.manager import entities as e
from cygnet.manager.api.graphql.common import attempt, found_or_none, set_fields
from cygnet.manager.api.graphql.context import Info
from cygnet.manager.api.graphql.scalars import BigInt, JSONString

T = TypeVar("T")
N = TypeVar("N")


@strawberry.type(name="KeyPairResourcePolicy")
class KeyPairResourcePolicyNode:
    name: str
    created_at: datetime
    default_for_unspecified: str
    total_resource_slots: JSONString
    max_session_lifetime: int
    max_concurrent_sessions: int
    max_concurrent_sftp_sessions: int
    max_containers_per_session: int
    idle_timeout: BigInt
    allowed_vfolder_hosts: JSONString
    max_pending_session_count: int | None
    max_pending_session_resource_slots: JSONString | None

    @classmethod
    def of(cls, p: e.KeyPairResourcePolicy) -> KeyPairResourcePolicyNode:
        pending = p.max_pending_session_resource_slots
        return cls(
            name=p.name,
            created_at=p.created_at,
            default_for_unspecified=p.default_for_unspecified.value,
            total_resource_slots=JSONString(p.total_resource_slots),
            max_session_lifetime=p.max_session_lifetime,
            max_concurrent_sessions=p.max_concurrent_sessions,
            max_concurrent_sftp_sessions=p.max_concurrent_sftp_sessions,
            max_containers_per_session=p.max_containers_per_session,
            idle_timeout=BigInt(p.idle_timeout),
            allowed_vfolder_hosts=JSONString(p.allowed_vfolder_hosts),
            max_pending_session_count=p.max_pending_session_count,
            max_pending_session_resource_slots=None if pending is None else JSONString(pending),
        )


@strawberry.type(name="UserResourcePolicy")
class UserResourcePolicyNode:
    name: str
    created_at: datetime
    max_vfolder_count: int
    max_quota_scope_size: BigInt
    max_session_count_per_model_session: int
    max_customized_image_count: int

    @classmethod
    def of(cls, p: e.UserResourcePolicy) -> UserResourcePolicyNode:
        return cls(
            name=p.name,
            created_at=p.created_at,
            max_vfolder_count=p.max_vfolder_count,
            max_quota_scope_size=BigInt(p.max_quota_scope_size),
            max_session_count_per_model_session=p.max_session_count_per_model_session,
            max_customized_image_count=p.max_customized_image_count,
        )


@strawberry.type(name="ProjectResourcePolicy")
class ProjectResourcePolicyNode:
    name: str
    created_at: datetime
    max_vfolder_count: int
    max_quota_scope_size: BigInt
    max_network_count: int

    @classmethod
    def of(cls, p: e.ProjectResourcePolicy) -> ProjectResourcePolicyNode:
        return cls(
            name=p.name,
            created_at=p.created_at,
            max_vfolder_count=p.max_vfolder_count,
            max_quota_scope_size=BigInt(p.max_quota_scope_size),
            max_network_count=p.max_network_count,
        )


@strawberry.input(name="CreateKeyPairResourcePolicyInput")
class CreateKeyPairResourcePolicyInput:
    default_for_unspecified: str | None = strawberry.UNSET
    total_resource_slots: JSONString | None = strawberry.UNSET
    max_session_lifetime: int | None = strawberry.UNSET
    max_concurrent_sessions: int | None = strawberry.UNSET
    max_concurrent_sftp_sessions: int | None = strawberry.UNSET
    max_containers_per_session: int | None = strawberry.UNSET
    idle_timeout: BigInt | None = strawberry.UNSET
    allowed_vfolder_hosts: JSONString | None = strawberry.UNSET
    max_pending_session_count: int | None = strawberry.UNSET
    max_pending_session_resource_slots: JSONString | None = strawberry.UNSET


@strawberry.input(name="ModifyKeyPairResourcePolicyInput")
class ModifyKeyPairResourcePolicyInput(CreateKeyPairResourcePolicyInput):
    pass


@strawberry.input(name="CreateUserResourcePolicyInput")
class CreateUserResourcePolicyInput:
    max_vfolder_count: int | None = strawberry.UNSET
    max_quota_scope_size: BigInt | None = strawberry.UNSET
    max_session_count_per_model_session: int | None = strawberry.UNSET
    max_customized_image_count: int | None = strawberry.UNSET


@strawberry.input(name="ModifyUserResourcePolicyInput")
class ModifyUserResourcePolicyInput(CreateUserResourcePolicyInput):
    pass


@strawberry.input(name="CreateProjectResourcePolicyInput")
class CreateProjectResourcePolicyInput:
    max_vfolder_count: int | None = strawberry.UNSET
    max_quota_scope_size: BigInt | None = strawberry.UNSET
    max_network_count: int | None = strawberry.UNSET


@strawberry.input(name="ModifyProjectResourcePolicyInput")
class ModifyProjectResourcePolicyInput(CreateProjectResourcePolicyInput):
    pass


@strawberry.type
class PolicyMutationResult:
    ok: bool
    msg: str
    error_code: str | None = None


@strawberry.type
class CreateKeyPairResourcePolicy(PolicyMutationResult):
    resource_policy: KeyPairResourcePolicyNode | None = None


@strawberry.type
class ModifyKeyPairResourcePolicy(PolicyMutationResult):
    resource_policy: KeyPairResourcePolicyNode | None = None


@strawberry.type
class DeleteKeyPairResourcePolicy(PolicyMutationResult):
    pass


@strawberry.type
class CreateUserResourcePolicy(PolicyMutationResult):
    resource_policy: UserResourcePolicyNode | None = None


@strawberry.type
class ModifyUserResourcePolicy(PolicyMutationResult):
    resource_policy: UserResourcePolicyNode | None = None


@strawberry.type
class DeleteUserResourcePolicy(PolicyMutationResult):
    pass


@strawberry.type
class CreateProjectResourcePolicy(PolicyMutationResult):
    resource_policy: ProjectResourcePolicyNode | None = None


@strawberry.type
class ModifyProjectResourcePolicy(PolicyMutationResult):
    resource_policy: ProjectResourcePolicyNode | None = None


@strawberry.type
class DeleteProjectResourcePolicy(PolicyMutationResult):
    pass


async def _mutate(
    action: Callable[[], Awaitable[T]], to_node: Callable[[T], N]
) -> tuple[dict[str, Any], N | None]:
    """Run a service call: the ``ok/msg/error_code`` payload fields and the node, if any."""
    ok, msg, code, value = await attempt(action)
    node = to_node(value) if value is not None else None
    return {"ok": ok, "msg": msg, "error_code": code}, node


@strawberry.type
class PolicyQuery:
    @strawberry.field
    async def keypair_resource_policies(self, info: Info) -> list[KeyPairResourcePolicyNode]:
        ctx = info.context
        found = await ctx.services.policies.list_keypair_policies(ctx.caller)
        return [KeyPairResourcePolicyNode.of(p) for p in found]

    @strawberry.field
    async def keypair_resource_policy(
        self, info: Info, name: str | None = None
    ) -> KeyPairResourcePolicyNode | None:
        """A policy by name; without one, the policy of the caller's keypair."""
        ctx = info.context
        found = await found_or_none(ctx.services.policies.get_keypair_policy(ctx.caller, name))
        return KeyPairResourcePolicyNode.of(found) if found else None

    @strawberry.field
    async def user_resource_policies(self, info: Info) -> list[UserResourcePolicyNode]:
        ctx = info.context
        found = await ctx.services.policies.list_user_policies(ctx.caller)
        return [UserResourcePolicyNode.of(p) for p in found]

    @strawberry.field
    async def user_resource_policy(
        self, info: Info, name: str | None = None
    ) -> UserResourcePolicyNode | None:
        """A policy by name; without one, the policy of the calling user."""
        ctx = info.context
        found = await found_or_none(ctx.services.policies.get_user_policy(ctx.caller, name))
        return UserResourcePolicyNode.of(found) if found else None

    @strawberry.field
    async def project_resource_policies(self, info: Info) -> list[ProjectResourcePolicyNode]:
        ctx = info.context
        found = await ctx.services.policies.list_project_policies(ctx.caller)
        return [ProjectResourcePolicyNode.of(p) for p in found]

    @strawberry.field
    async def project_resource_policy(
        self, info: Info, name: str
    ) -> ProjectResourcePolicyNode | None:
        ctx = info.context
        found = await found_or_none(ctx.services.policies.get_project_policy(ctx.caller, name))
        return ProjectResourcePolicyNode.of(found) if found else None


@strawberry.type
class PolicyMutation:
    @strawberry.mutation
    async def create_keypair_resource_policy(
        self, info: Info, name: str, props: CreateKeyPairResourcePolicyInput
    ) -> CreateKeyPairResourcePolicy:
        ctx = info.context
        fields, node = await _mutate(
            lambda: ctx.services.policies.create_keypair_policy(
                ctx.caller, name, set_fields(props)
            ),
            KeyPairResourcePolicyNode.of,
        )
        return CreateKeyPairResourcePolicy(**fields, resource_policy=node)

    @strawberry.mutation
    async def modify_keypair_resource_policy(
        self, info: Info, name: str, props: ModifyKeyPairResourcePolicyInput
    ) -> ModifyKeyPairResourcePolicy:
        ctx = info.context
        fields, node = await _mutate(
            lambda: ctx.services.policies.modify_keypair_policy(
                ctx.caller, name, set_fields(props)
            ),
            KeyPairResourcePolicyNode.of,
        )
        return ModifyKeyPairResourcePolicy(**fields, resource_policy=node)

    @strawberry.mutation
    async def delete_keypair_resource_policy(
        self, info: Info, name: str
    ) -> DeleteKeyPairResourcePolicy:
        ctx = info.context
        ok, msg, code, _ = await attempt(
            lambda: ctx.services.policies.delete_keypair_policy(ctx.caller, name)
        )
        return DeleteKeyPairResourcePolicy(ok=ok, msg=msg, error_code=code)

    @strawberry.mutation
    async def create_user_resource_policy(
        self, info: Info, name: str, props: CreateUserResourcePolicyInput
    ) -> CreateUserResourcePolicy:
        ctx = info.context
        fields, node = await _mutate(
            lambda: ctx.services.policies.create_user_policy(ctx.caller, name, set_fields(props)),
            UserResourcePolicyNode.of,
        )
        return CreateUserResourcePolicy(**fields, resource_policy=node)

    @strawberry.mutation
    async def modify_user_resource_policy(
        self, info: Info, name: str, props: ModifyUserResourcePolicyInput
    ) -> ModifyUserResourcePolicy:
        ctx = info.context
        fields, node = await _mutate(
            lambda: ctx.services.policies.modify_user_policy(ctx.caller, name, set_fields(props)),
            UserResourcePolicyNode.of,
        )
        return ModifyUserResourcePolicy(**fields, resource_policy=node)

    @strawberry.mutation
    async def delete_user_resource_policy(self, info: Info, name: str) -> DeleteUserResourcePolicy:
        ctx = info.context
        ok, msg, code, _ = await attempt(
            lambda: ctx.services.policies.delete_user_policy(ctx.caller, name)
        )
        return DeleteUserResourcePolicy(ok=ok, msg=msg, error_code=code)

    @strawberry.mutation
    async def create_project_resource_policy(
        self, info: Info, name: str, props: CreateProjectResourcePolicyInput
    ) -> CreateProjectResourcePolicy:
        ctx = info.context
        fields, node = await _mutate(
            lambda: ctx.services.policies.create_project_policy(
                ctx.caller, name, set_fields(props)
            ),
            ProjectResourcePolicyNode.of,
        )
        return CreateProjectResourcePolicy(**fields, resource_policy=node)

    @strawberry.mutation
    async def modify_project_resource_policy(
        self, info: Info, name: str, props: ModifyProjectResourcePolicyInput
    ) -> ModifyProjectResourcePolicy:
        ctx = info.context
        fields, node = await _mutate(
            lambda: ctx.services.policies.modify_project_policy(
                ctx.caller, name, set_fields(props)
            ),
            ProjectResourcePolicyNode.of,
        )
        return ModifyProjectResourcePolicy(**fields, resource_policy=node)

    @strawberry.mutation
    async def delete_project_resource_policy(
        self, info: Info, name: str
    ) -> DeleteProjectResourcePolicy:
        ctx = info.context
        ok, msg, code, _ = await attempt(
            lambda: ctx.services.policies.delete_project_policy(ctx.caller, name)
        )
        return DeleteProjectResourcePolicy(ok=ok, msg=msg, error_code=code)
