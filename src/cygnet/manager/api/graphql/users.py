"""Users: ``user_list``, ``users``, ``user``, ``user_from_uuid`` and
``create/modify/delete/purge_user``."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

import strawberry

from cygnet.common.errors import InvalidAPIParameters
from cygnet.manager import entities as e
from cygnet.manager.api.graphql.common import attempt, page_args, set_fields
from cygnet.manager.api.graphql.context import Info

FilterArg = Annotated[str | None, strawberry.argument(name="filter")]


@strawberry.type(name="UserGroup")
class UserGroupNode:
    id: UUID
    name: str


@strawberry.type(name="User")
class UserNode:
    uuid: UUID
    id: UUID
    username: str
    email: str
    need_password_change: bool
    full_name: str | None
    description: str | None
    is_active: bool
    status: str
    status_info: str | None
    created_at: datetime
    modified_at: datetime
    domain_name: str
    role: str
    groups: list[UserGroupNode]
    allowed_client_ip: list[str] | None
    totp_activated: bool
    sudo_session_enabled: bool
    main_access_key: str | None
    resource_policy: str
    container_uid: int | None
    container_main_gid: int | None
    container_gids: list[int] | None

    @classmethod
    def of(cls, u: e.User) -> UserNode:
        return cls(
            uuid=u.uuid,
            id=u.uuid,
            username=u.username,
            email=u.email,
            need_password_change=u.need_password_change,
            full_name=u.full_name,
            description=u.description,
            is_active=u.status is e.UserStatus.ACTIVE,
            status=u.status.value,
            status_info=u.status_info,
            created_at=u.created_at,
            modified_at=u.modified_at,
            domain_name=u.domain_name,
            role=u.role.value,
            groups=[UserGroupNode(id=g.id, name=g.name) for g in u.groups],
            allowed_client_ip=u.allowed_client_ip,
            totp_activated=u.totp_activated,
            sudo_session_enabled=u.sudo_session_enabled,
            main_access_key=u.main_access_key,
            resource_policy=u.resource_policy,
            container_uid=u.container_uid,
            container_main_gid=u.container_main_gid,
            container_gids=u.container_gids,
        )


@strawberry.type(name="UserList")
class UserListNode:
    items: list[UserNode]
    total_count: int


@strawberry.input(name="UserInput")
class UserInput:
    username: str | None = strawberry.UNSET
    password: str | None = strawberry.UNSET
    need_password_change: bool | None = strawberry.UNSET
    full_name: str | None = strawberry.UNSET
    description: str | None = strawberry.UNSET
    is_active: bool | None = strawberry.UNSET
    status: str | None = strawberry.UNSET
    domain_name: str | None = strawberry.UNSET
    role: str | None = strawberry.UNSET
    allowed_client_ip: list[str | None] | None = strawberry.UNSET
    totp_activated: bool | None = strawberry.UNSET
    resource_policy: str | None = strawberry.UNSET
    sudo_session_enabled: bool | None = strawberry.UNSET
    group_ids: list[str | None] | None = strawberry.UNSET
    container_uid: int | None = strawberry.UNSET
    container_main_gid: int | None = strawberry.UNSET
    container_gids: list[int | None] | None = strawberry.UNSET


@strawberry.input(name="ModifyUserInput")
class ModifyUserInput(UserInput):
    main_access_key: str | None = strawberry.UNSET


@strawberry.input(name="PurgeUserInput")
class PurgeUserInput:
    purge_shared_vfolders: bool | None = strawberry.UNSET
    delegate_endpoint_ownership: bool | None = strawberry.UNSET


@strawberry.type
class CreateUser:
    ok: bool
    msg: str
    error_code: str | None = None
    user: UserNode | None = None


@strawberry.type
class ModifyUser:
    ok: bool
    msg: str
    error_code: str | None = None
    user: UserNode | None = None


@strawberry.type
class DeleteUser:
    ok: bool
    msg: str
    error_code: str | None = None


@strawberry.type
class PurgeUser:
    ok: bool
    msg: str
    error_code: str | None = None


def _props(value: UserInput) -> dict[str, Any]:
    """Sent fields (null list items dropped); the legacy ``is_active`` flag stands for a status
    when none is given."""
    props = set_fields(value)
    for key in ("allowed_client_ip", "group_ids", "container_gids"):
        if props.get(key) is not None:
            props[key] = [item for item in props[key] if item is not None]
    is_active = props.pop("is_active", None)
    if is_active is not None and props.get("status") is None:
        props["status"] = e.UserStatus.ACTIVE.value if is_active else e.UserStatus.INACTIVE.value
    return props


def _user_uuid(value: str | None) -> UUID | None:
    if value is None:
        return None
    try:
        return UUID(value)
    except ValueError as exc:
        raise InvalidAPIParameters(f"Invalid user id {value!r}: not a UUID.") from exc


@strawberry.type
class UserQuery:
    @strawberry.field
    async def user_list(
        self,
        info: Info,
        limit: int,
        offset: int,
        domain_name: str | None = None,
        group_id: UUID | None = None,
        is_active: bool | None = None,
        status: str | None = None,
        filter: FilterArg = None,
        order: str | None = None,
    ) -> UserListNode:
        ctx = info.context
        limit, offset = page_args(limit, offset)
        found = await ctx.services.users.list(
            ctx.caller,
            domain_name=domain_name,
            project_id=group_id,
            is_active=is_active,
            status=status,
            filter_text=filter,
            order_text=order,
            limit=limit,
            offset=offset,
        )
        return UserListNode(
            items=[UserNode.of(u) for u in found.items], total_count=found.total_count
        )

    @strawberry.field
    async def users(
        self,
        info: Info,
        domain_name: str | None = None,
        group_id: UUID | None = None,
        is_active: bool | None = None,
        status: str | None = None,
    ) -> list[UserNode]:
        ctx = info.context
        found = await ctx.services.users.list(
            ctx.caller,
            domain_name=domain_name,
            project_id=group_id,
            is_active=is_active,
            status=status,
        )
        return [UserNode.of(u) for u in found.items]

    @strawberry.field
    async def user(
        self, info: Info, domain_name: str | None = None, email: str | None = None
    ) -> UserNode | None:
        ctx = info.context
        found = await ctx.services.users.get(ctx.caller, email=email, domain_name=domain_name)
        return UserNode.of(found) if found else None

    @strawberry.field
    async def user_from_uuid(
        self, info: Info, domain_name: str | None = None, user_id: strawberry.ID | None = None
    ) -> UserNode | None:
        ctx = info.context
        found = await ctx.services.users.get(
            ctx.caller, user_id=_user_uuid(user_id), domain_name=domain_name
        )
        return UserNode.of(found) if found else None


@strawberry.type
class UserMutation:
    @strawberry.mutation
    async def create_user(self, info: Info, email: str, props: UserInput) -> CreateUser:
        ctx = info.context
        ok, msg, code, value = await attempt(
            lambda: ctx.services.users.create(ctx.caller, email, _props(props))
        )
        return CreateUser(
            ok=ok, msg=msg, error_code=code, user=UserNode.of(value) if value else None
        )

    @strawberry.mutation
    async def modify_user(self, info: Info, email: str, props: ModifyUserInput) -> ModifyUser:
        ctx = info.context
        ok, msg, code, value = await attempt(
            lambda: ctx.services.users.modify(ctx.caller, email, _props(props))
        )
        return ModifyUser(
            ok=ok, msg=msg, error_code=code, user=UserNode.of(value) if value else None
        )

    @strawberry.mutation
    async def delete_user(self, info: Info, email: str) -> DeleteUser:
        ctx = info.context
        ok, msg, code, _ = await attempt(lambda: ctx.services.users.delete(ctx.caller, email))
        return DeleteUser(ok=ok, msg=msg, error_code=code)

    @strawberry.mutation
    async def purge_user(self, info: Info, email: str, props: PurgeUserInput) -> PurgeUser:
        ctx = info.context
        ok, msg, code, _ = await attempt(
            lambda: ctx.services.users.purge(ctx.caller, email, set_fields(props))
        )
        return PurgeUser(ok=ok, msg=msg, error_code=code)
