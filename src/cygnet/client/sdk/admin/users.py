"""Users: ``user_list`` (paginated, with the filter/order mini-language), ``user``,
``user_from_uuid`` and ``create/modify/delete/purge_user``."""

from __future__ import annotations

import builtins
import uuid
from collections.abc import Sequence
from typing import Any

from cygnet.client.sdk.admin.base import (
    MUTATION_RESULT,
    GQLSession,
    as_uuid,
    build_input,
    fields,
    paginated,
    parse_one,
)
from cygnet.client.sdk.admin.projects import ProjectKey, Projects
from cygnet.client.sdk.models import Page, User

USER_FIELDS = fields(
    (
        "uuid",
        "username",
        "role",
        "email",
        "full_name",
        "description",
        "need_password_change",
        "status",
        "status_info",
        "created_at",
        "domain_name",
        "groups { id name }",
        "allowed_client_ip",
        "sudo_session_enabled",
        "main_access_key",
    )
)
_NOT_FOUND = "user_read_not-found"


class Users:
    def __init__(self, session: GQLSession, projects: Projects) -> None:
        self._s = session
        self._projects = projects

    async def list(
        self,
        *,
        status: str | None = None,
        project: ProjectKey | None = None,
        filter: str | None = None,
        order: str | None = None,
        limit: int = 20,
        offset: int = 0,
    ) -> Page[User]:
        """One page of users. ``filter`` uses the server's mini-language
        (``username == "bob"``, ``email ilike "%@example.com"``), ``order`` e.g. ``-created_at``."""
        group_id = await self._projects.resolve_id(project) if project is not None else None
        items, total = await paginated(
            self._s,
            "user_list",
            USER_FIELDS,
            {
                "status": ("String", status),
                "group_id": ("UUID", str(group_id) if group_id else None),
                "filter": ("String", filter),
                "order": ("String", order),
            },
            limit=limit,
            offset=offset,
        )
        return Page[User](items=[User.model_validate(i) for i in items], total_count=total)

    async def get(self, user: str | uuid.UUID) -> User:
        """A user by email, or by UUID."""
        uid = as_uuid(user)
        if uid is not None:
            data = await self._s.gql(
                f"query($user_id: ID) {{ user_from_uuid(user_id: $user_id) {{ {USER_FIELDS} }} }}",
                {"user_id": str(uid)},
            )
            return parse_one(User, data.get("user_from_uuid"), "user", str(uid), _NOT_FOUND)
        data = await self._s.gql(
            f"query($email: String) {{ user(email: $email) {{ {USER_FIELDS} }} }}",
            {"email": str(user)},
        )
        return parse_one(User, data.get("user"), "user", str(user), _NOT_FOUND)

    info = get

    async def me(self) -> User:
        """The caller."""
        data = await self._s.gql(f"query {{ user {{ {USER_FIELDS} }} }}")
        return parse_one(User, data.get("user"), "user", "(self)", _NOT_FOUND)

    async def create(
        self,
        email: str,
        password: str,
        *,
        username: str | None = None,
        full_name: str | None = None,
        role: str = "user",
        status: str = "active",
        need_password_change: bool = False,
        description: str | None = None,
        domain: str | None = None,
        projects: Sequence[ProjectKey] | None = None,
        resource_policy: str | None = None,
        sudo_session_enabled: bool | None = None,
        allowed_client_ip: Sequence[str] | None = None,
        container_uid: int | None = None,
        container_main_gid: int | None = None,
        container_gids: Sequence[int] | None = None,
    ) -> User:
        """Create a user in ``domain`` (the configured one by default); ``username`` defaults to
        the email, ``projects`` (names or UUIDs) are the projects the user joins."""
        domain = domain or self._s.config.domain
        props = build_input(
            {
                "password": password,
                "username": username or email,
                "full_name": full_name,
                "role": role,
                "status": status,
                "need_password_change": need_password_change,
                "description": description,
                "domain_name": domain,
                "group_ids": await self._project_ids(projects, domain),
                "resource_policy": resource_policy,
                "sudo_session_enabled": sudo_session_enabled,
                "allowed_client_ip": _opt_list(allowed_client_ip),
                "container_uid": container_uid,
                "container_main_gid": container_main_gid,
                "container_gids": _opt_list(container_gids),
            }
        )
        payload = await self._s.mutate(
            "mutation($email: String!, $input: UserInput!) { create_user(email: $email, "
            f"props: $input) {{ {MUTATION_RESULT} user {{ {USER_FIELDS} }} }} }}",
            {"email": email, "input": props},
            "create_user",
        )
        if payload.get("user"):
            return User.model_validate(payload["user"])
        return await self.get(email)

    async def update(
        self,
        email: str,
        *,
        password: str | None = None,
        username: str | None = None,
        full_name: str | None = None,
        role: str | None = None,
        status: str | None = None,
        need_password_change: bool | None = None,
        description: str | None = None,
        domain: str | None = None,
        projects: Sequence[ProjectKey] | None = None,
        resource_policy: str | None = None,
        sudo_session_enabled: bool | None = None,
        allowed_client_ip: Sequence[str] | None = None,
        main_access_key: str | None = None,
    ) -> User:
        """Change the given properties; ``projects`` replaces the memberships."""
        group_domain = domain
        if projects is not None and group_domain is None:
            group_domain = (await self.get(email)).domain_name
        props = build_input(
            {
                "password": password,
                "username": username,
                "full_name": full_name,
                "role": role,
                "status": status,
                "need_password_change": need_password_change,
                "description": description,
                "domain_name": domain,
                "group_ids": await self._project_ids(projects, group_domain),
                "resource_policy": resource_policy,
                "sudo_session_enabled": sudo_session_enabled,
                "allowed_client_ip": _opt_list(allowed_client_ip),
                "main_access_key": main_access_key,
            }
        )
        await self._s.mutate(
            "mutation($email: String!, $input: ModifyUserInput!) { modify_user(email: $email, "
            f"props: $input) {{ {MUTATION_RESULT} }} }}",
            {"email": email, "input": props},
            "modify_user",
        )
        return await self.get(email)

    async def delete(self, email: str) -> None:
        """Mark a user deleted (their keypairs stop working)."""
        await self._s.mutate(
            f"mutation($email: String!) {{ delete_user(email: $email) {{ {MUTATION_RESULT} }} }}",
            {"email": email},
            "delete_user",
        )

    async def purge(
        self,
        email: str,
        *,
        purge_shared_vfolders: bool = False,
        delegate_endpoint_ownership: bool = False,
    ) -> None:
        """Remove a user and their keypairs for good."""
        await self._s.mutate(
            "mutation($email: String!, $input: PurgeUserInput!) { purge_user(email: $email, "
            f"props: $input) {{ {MUTATION_RESULT} }} }}",
            {
                "email": email,
                "input": {
                    "purge_shared_vfolders": purge_shared_vfolders,
                    "delegate_endpoint_ownership": delegate_endpoint_ownership,
                },
            },
            "purge_user",
        )

    async def _project_ids(
        self, projects: Sequence[ProjectKey] | None, domain: str | None
    ) -> builtins.list[str] | None:
        if projects is None:
            return None
        return [str(await self._projects.resolve_id(p, domain=domain)) for p in projects]


def _opt_list(values: Sequence[Any] | None) -> list[Any] | None:
    return list(values) if values is not None else None
