"""Keypairs: ``keypair_list``, ``keypairs``, ``keypair`` and ``create/modify/delete_keypair``."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

import strawberry

from cygnet.manager import entities as e
from cygnet.manager.api.graphql.common import attempt, page_args, set_fields
from cygnet.manager.api.graphql.context import Info
from cygnet.manager.api.graphql.scalars import BigInt

FilterArg = Annotated[str | None, strawberry.argument(name="filter")]


@strawberry.type(name="UserInfo")
class UserInfoNode:
    email: str
    username: str
    full_name: str | None


@strawberry.type(name="KeyPair")
class KeyPairNode:
    user_id: str
    user: UUID
    access_key: str
    secret_key: str | None
    is_active: bool
    is_admin: bool
    created_at: datetime
    modified_at: datetime
    last_used: datetime | None
    rate_limit: int
    num_queries: BigInt
    resource_policy: str
    concurrency_used: int
    projects: list[str]
    user_info: UserInfoNode

    @classmethod
    def of(cls, item: e.OwnedKeyPair) -> KeyPairNode:
        kp, owner = item.keypair, item.owner
        return cls(
            user_id=kp.user_id,
            user=kp.user,
            access_key=kp.access_key,
            secret_key=kp.secret_key if item.show_secret else None,
            is_active=kp.is_active,
            is_admin=kp.is_admin,
            created_at=kp.created_at,
            modified_at=kp.modified_at,
            last_used=kp.last_used,
            rate_limit=kp.rate_limit,
            num_queries=BigInt(kp.num_queries),
            resource_policy=kp.resource_policy,
            concurrency_used=item.concurrency_used,
            projects=sorted(g.name for g in owner.groups),
            user_info=UserInfoNode(
                email=owner.email, username=owner.username, full_name=owner.full_name
            ),
        )


@strawberry.type(name="KeyPairList")
class KeyPairListNode:
    items: list[KeyPairNode]
    total_count: int


@strawberry.input(name="KeyPairInput")
class KeyPairInput:
    is_active: bool | None = strawberry.UNSET
    is_admin: bool | None = strawberry.UNSET
    resource_policy: str | None = strawberry.UNSET
    rate_limit: int | None = strawberry.UNSET
    concurrency_limit: int | None = strawberry.UNSET  # legacy, ignored


@strawberry.input(name="ModifyKeyPairInput")
class ModifyKeyPairInput(KeyPairInput):
    pass


@strawberry.type
class CreateKeyPair:
    ok: bool
    msg: str
    error_code: str | None = None
    keypair: KeyPairNode | None = None


@strawberry.type
class ModifyKeyPair:
    ok: bool
    msg: str
    error_code: str | None = None
    keypair: KeyPairNode | None = None


@strawberry.type
class DeleteKeyPair:
    ok: bool
    msg: str
    error_code: str | None = None


def _props(value: KeyPairInput) -> dict[str, Any]:
    props = set_fields(value)
    props.pop("concurrency_limit", None)
    return props


@strawberry.type
class KeyPairQuery:
    @strawberry.field
    async def keypair_list(
        self,
        info: Info,
        limit: int,
        offset: int,
        domain_name: str | None = None,
        email: str | None = None,
        is_active: bool | None = None,
        filter: FilterArg = None,
        order: str | None = None,
    ) -> KeyPairListNode:
        ctx = info.context
        limit, offset = page_args(limit, offset)
        found = await ctx.services.keypairs.list(
            ctx.caller,
            domain_name=domain_name,
            email=email,
            is_active=is_active,
            filter_text=filter,
            order_text=order,
            limit=limit,
            offset=offset,
        )
        return KeyPairListNode(
            items=[KeyPairNode.of(k) for k in found.items], total_count=found.total_count
        )

    @strawberry.field
    async def keypairs(
        self,
        info: Info,
        domain_name: str | None = None,
        email: str | None = None,
        is_active: bool | None = None,
    ) -> list[KeyPairNode]:
        ctx = info.context
        found = await ctx.services.keypairs.list(
            ctx.caller, domain_name=domain_name, email=email, is_active=is_active
        )
        return [KeyPairNode.of(k) for k in found.items]

    @strawberry.field
    async def keypair(
        self, info: Info, domain_name: str | None = None, access_key: str | None = None
    ) -> KeyPairNode | None:
        ctx = info.context
        found = await ctx.services.keypairs.get(ctx.caller, access_key, domain_name=domain_name)
        return KeyPairNode.of(found) if found else None


@strawberry.type
class KeyPairMutation:
    @strawberry.mutation
    async def create_keypair(self, info: Info, user_id: str, props: KeyPairInput) -> CreateKeyPair:
        ctx = info.context
        ok, msg, code, value = await attempt(
            lambda: ctx.services.keypairs.create(ctx.caller, user_id, _props(props))
        )
        return CreateKeyPair(
            ok=ok, msg=msg, error_code=code, keypair=KeyPairNode.of(value) if value else None
        )

    @strawberry.mutation
    async def modify_keypair(
        self, info: Info, access_key: str, props: ModifyKeyPairInput
    ) -> ModifyKeyPair:
        ctx = info.context
        ok, msg, code, value = await attempt(
            lambda: ctx.services.keypairs.modify(ctx.caller, access_key, _props(props))
        )
        return ModifyKeyPair(
            ok=ok, msg=msg, error_code=code, keypair=KeyPairNode.of(value) if value else None
        )

    @strawberry.mutation
    async def delete_keypair(self, info: Info, access_key: str) -> DeleteKeyPair:
        ctx = info.context
        ok, msg, code, _ = await attempt(
            lambda: ctx.services.keypairs.delete(ctx.caller, access_key)
        )
        return DeleteKeyPair(ok=ok, msg=msg, error_code=code)
