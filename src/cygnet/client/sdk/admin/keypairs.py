"""Keypairs: ``keypair_list`` (paginated), ``keypair`` and ``create/modify/delete_keypair``."""

from __future__ import annotations

from typing import Any

from cygnet.client.sdk.admin.base import (
    MUTATION_RESULT,
    GQLSession,
    build_input,
    fields,
    not_found,
    paginated,
)
from cygnet.client.sdk.models import KeyPair, Page

KEYPAIR_FIELDS = fields(
    (
        "user_id",
        "user_info { full_name }",
        "access_key",
        "secret_key",
        "is_active",
        "is_admin",
        "created_at",
        "last_used",
        "resource_policy",
        "rate_limit",
        "concurrency_used",
    )
)
_NOT_FOUND = "keypair_read_not-found"


def _keypair(raw: dict[str, Any]) -> KeyPair:
    """Flatten ``user_info { full_name }`` into ``full_name``."""
    info = raw.get("user_info")
    values = {k: v for k, v in raw.items() if k != "user_info"}
    if isinstance(info, dict):
        values["full_name"] = info.get("full_name")
    return KeyPair.model_validate(values)


class KeyPairs:
    def __init__(self, session: GQLSession) -> None:
        self._s = session

    async def list(
        self,
        *,
        email: str | None = None,
        is_active: bool | None = None,
        domain: str | None = None,
        filter: str | None = None,
        order: str | None = None,
        limit: int = 20,
        offset: int = 0,
    ) -> Page[KeyPair]:
        """One page of keypairs (of one user when ``email`` is given)."""
        variables: dict[str, tuple[str, Any]] = {
            "is_active": ("Boolean", is_active),
            "domain_name": ("String", domain),
            "filter": ("String", filter),
            "order": ("String", order),
        }
        if email is not None:
            variables["email"] = ("String", email)
        items, total = await paginated(
            self._s, "keypair_list", KEYPAIR_FIELDS, variables, limit=limit, offset=offset
        )
        return Page[KeyPair](items=[_keypair(i) for i in items], total_count=total)

    async def get(self, access_key: str | None = None) -> KeyPair:
        """A keypair by access key (the caller's own when None)."""
        if access_key is None:
            data = await self._s.gql(f"query {{ keypair {{ {KEYPAIR_FIELDS} }} }}")
        else:
            data = await self._s.gql(
                f"query($access_key: String) {{ keypair(access_key: $access_key) "
                f"{{ {KEYPAIR_FIELDS} }} }}",
                {"access_key": access_key},
            )
        found = data.get("keypair")
        if not found:
            raise not_found("keypair", access_key or "(self)", _NOT_FOUND)
        return _keypair(found)

    info = get

    async def create(
        self,
        email: str,
        *,
        resource_policy: str = "default",
        is_active: bool = True,
        is_admin: bool = False,
        rate_limit: int = 5000,
    ) -> KeyPair:
        """Issue a new keypair to the user with this email; the answer holds the secret key."""
        payload = await self._s.mutate(
            "mutation($user_id: String!, $input: KeyPairInput!) { create_keypair("
            f"user_id: $user_id, props: $input) {{ {MUTATION_RESULT} keypair "
            f"{{ {KEYPAIR_FIELDS} }} }} }}",
            {
                "user_id": email,
                "input": {
                    "is_active": is_active,
                    "is_admin": is_admin,
                    "resource_policy": resource_policy,
                    "rate_limit": rate_limit,
                },
            },
            "create_keypair",
        )
        created = payload.get("keypair")
        if not isinstance(created, dict) or not created.get("access_key"):
            raise not_found("keypair", email, _NOT_FOUND)
        return _keypair(created)

    async def update(
        self,
        access_key: str,
        *,
        is_active: bool | None = None,
        is_admin: bool | None = None,
        resource_policy: str | None = None,
        rate_limit: int | None = None,
    ) -> KeyPair:
        """Change the given properties; returns the keypair as it is now."""
        props = build_input(
            {
                "is_active": is_active,
                "is_admin": is_admin,
                "resource_policy": resource_policy,
                "rate_limit": rate_limit,
            }
        )
        await self._s.mutate(
            "mutation($access_key: String!, $input: ModifyKeyPairInput!) { modify_keypair("
            f"access_key: $access_key, props: $input) {{ {MUTATION_RESULT} }} }}",
            {"access_key": access_key, "input": props},
            "modify_keypair",
        )
        return await self.get(access_key)

    async def activate(self, access_key: str) -> KeyPair:
        return await self.update(access_key, is_active=True)

    async def deactivate(self, access_key: str) -> KeyPair:
        return await self.update(access_key, is_active=False)

    async def delete(self, access_key: str) -> None:
        """Delete a keypair (refused while it owns live sessions)."""
        await self._s.mutate(
            "mutation($access_key: String!) { delete_keypair(access_key: $access_key) "
            f"{{ {MUTATION_RESULT} }} }}",
            {"access_key": access_key},
            "delete_keypair",
        )
