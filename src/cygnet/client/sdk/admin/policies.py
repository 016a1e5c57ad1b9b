"""Resource policies: keypair policies (``keypair_resource_policies``, ``keypair_resource_policy``,
``create/modify/delete_keypair_resource_policy``) and user policies (the same for
``user_resource_polic(y|ies)``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cygnet.client.sdk.admin.base import (
    MUTATION_RESULT,
    GQLSession,
    build_input,
    fields,
    parse_many,
    parse_one,
)
from cygnet.client.sdk.models import KeyPairResourcePolicy, UserResourcePolicy

KEYPAIR_POLICY_FIELDS = fields(
    (
        "name",
        "created_at",
        "default_for_unspecified",
        "total_resource_slots",
        "max_concurrent_sessions",
        "idle_timeout",
        "max_containers_per_session",
        "allowed_vfolder_hosts",
        "max_session_lifetime",
        "max_pending_session_count",
        "max_pending_session_resource_slots",
        "max_concurrent_sftp_sessions",
    )
)
USER_POLICY_FIELDS = fields(
    (
        "name",
        "created_at",
        "max_vfolder_count",
        "max_quota_scope_size",
        "max_session_count_per_model_session",
        "max_customized_image_count",
    )
)
_KRP_JSON = ("total_resource_slots", "allowed_vfolder_hosts", "max_pending_session_resource_slots")
_NOT_FOUND = "resource-policy_read_not-found"


class KeyPairPolicies:
    def __init__(self, session: GQLSession) -> None:
        self._s = session

    async def list(self) -> list[KeyPairResourcePolicy]:
        data = await self._s.gql(
            f"query {{ keypair_resource_policies {{ {KEYPAIR_POLICY_FIELDS} }} }}"
        )
        return parse_many(KeyPairResourcePolicy, data.get("keypair_resource_policies"))

    async def get(self, name: str) -> KeyPairResourcePolicy:
        data = await self._s.gql(
            f"query($name: String) {{ keypair_resource_policy(name: $name) "
            f"{{ {KEYPAIR_POLICY_FIELDS} }} }}",
            {"name": name},
        )
        return parse_one(
            KeyPairResourcePolicy,
            data.get("keypair_resource_policy"),
            "keypair resource policy",
            name,
            _NOT_FOUND,
        )

    info = get

    async def create(
        self,
        name: str,
        *,
        default_for_unspecified: str | None = None,
        total_resource_slots: Mapping[str, Any] | None = None,
        max_session_lifetime: int | None = None,
        max_concurrent_sessions: int | None = None,
        max_concurrent_sftp_sessions: int | None = None,
        max_containers_per_session: int | None = None,
        idle_timeout: int | None = None,
        allowed_vfolder_hosts: Mapping[str, Any] | None = None,
        max_pending_session_count: int | None = None,
        max_pending_session_resource_slots: Mapping[str, Any] | None = None,
    ) -> KeyPairResourcePolicy:
        """Create a policy; unset limits take the server's defaults."""
        props = build_input(dict(locals_of(locals())), json_fields=_KRP_JSON)
        await self._s.mutate(
            "mutation($name: String!, $input: CreateKeyPairResourcePolicyInput!) { "
            "create_keypair_resource_policy(name: $name, props: $input) "
            f"{{ {MUTATION_RESULT} }} }}",
            {"name": name, "input": props},
            "create_keypair_resource_policy",
        )
        return await self.get(name)

    async def update(
        self,
        name: str,
        *,
        default_for_unspecified: str | None = None,
        total_resource_slots: Mapping[str, Any] | None = None,
        max_session_lifetime: int | None = None,
        max_concurrent_sessions: int | None = None,
        max_concurrent_sftp_sessions: int | None = None,
        max_containers_per_session: int | None = None,
        idle_timeout: int | None = None,
        allowed_vfolder_hosts: Mapping[str, Any] | None = None,
        max_pending_session_count: int | None = None,
        max_pending_session_resource_slots: Mapping[str, Any] | None = None,
    ) -> KeyPairResourcePolicy:
        """Change the given limits; returns the policy as it is now."""
        props = build_input(dict(locals_of(locals())), json_fields=_KRP_JSON)
        await self._s.mutate(
            "mutation($name: String!, $input: ModifyKeyPairResourcePolicyInput!) { "
            "modify_keypair_resource_policy(name: $name, props: $input) "
            f"{{ {MUTATION_RESULT} }} }}",
            {"name": name, "input": props},
            "modify_keypair_resource_policy",
        )
        return await self.get(name)

    async def delete(self, name: str) -> None:
        await self._s.mutate(
            "mutation($name: String!) { delete_keypair_resource_policy(name: $name) "
            f"{{ {MUTATION_RESULT} }} }}",
            {"name": name},
            "delete_keypair_resource_policy",
        )


class UserPolicies:
    def __init__(self, session: GQLSession) -> None:
        self._s = session

    async def list(self) -> list[UserResourcePolicy]:
        data = await self._s.gql(f"query {{ user_resource_policies {{ {USER_POLICY_FIELDS} }} }}")
        return parse_many(UserResourcePolicy, data.get("user_resource_policies"))

    async def get(self, name: str) -> UserResourcePolicy:
        data = await self._s.gql(
            f"query($name: String!) {{ user_resource_policy(name: $name) "
            f"{{ {USER_POLICY_FIELDS} }} }}",
            {"name": name},
        )
        return parse_one(
            UserResourcePolicy,
            data.get("user_resource_policy"),
            "user resource policy",
            name,
            _NOT_FOUND,
        )

    info = get

    async def create(
        self,
        name: str,
        *,
        max_vfolder_count: int | None = None,
        max_quota_scope_size: int | None = None,
        max_session_count_per_model_session: int | None = None,
        max_customized_image_count: int | None = None,
    ) -> UserResourcePolicy:
        """Create a policy; unset limits take the server's defaults."""
        props = build_input(dict(locals_of(locals())))
        await self._s.mutate(
            "mutation($name: String!, $input: CreateUserResourcePolicyInput!) { "
            "create_user_resource_policy(name: $name, props: $input) "
            f"{{ {MUTATION_RESULT} }} }}",
            {"name": name, "input": props},
            "create_user_resource_policy",
        )
        return await self.get(name)

    async def update(
        self,
        name: str,
        *,
        max_vfolder_count: int | None = None,
        max_quota_scope_size: int | None = None,
        max_session_count_per_model_session: int | None = None,
        max_customized_image_count: int | None = None,
    ) -> UserResourcePolicy:
        """Change the given limits; returns the policy as it is now."""
        props = build_input(dict(locals_of(locals())))
        await self._s.mutate(
            "mutation($name: String!, $input: ModifyUserResourcePolicyInput!) { "
            "modify_user_resource_policy(name: $name, props: $input) "
            f"{{ {MUTATION_RESULT} }} }}",
            {"name": name, "input": props},
            "modify_user_resource_policy",
        )
        return await self.get(name)

    async def delete(self, name: str) -> None:
        await self._s.mutate(
            "mutation($name: String!) { delete_user_resource_policy(name: $name) "
            f"{{ {MUTATION_RESULT} }} }}",
            {"name": name},
            "delete_user_resource_policy",
        )


def locals_of(values: dict[str, Any]) -> dict[str, Any]:
    """A method's keyword arguments, without ``self`` and the positional ``name``."""
    return {k: v for k, v in values.items() if k not in ("self", "name")}
