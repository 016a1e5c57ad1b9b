"""Domains: ``domains``, ``domain``, ``create/modify/delete/purge_domain``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from cygnet.client.sdk.admin.base import (
    MUTATION_RESULT,
    GQLSession,
    build_input,
    fields,
    parse_many,
    parse_one,
)
from cygnet.client.sdk.models import Domain

DOMAIN_FIELDS = fields(
    (
        "name",
        "description",
        "is_active",
        "created_at",
        "total_resource_slots",
        "allowed_vfolder_hosts",
        "allowed_docker_registries",
        "integration_id",
    )
)
_JSON_FIELDS = ("total_resource_slots", "allowed_vfolder_hosts")
_NOT_FOUND = "domain_read_not-found"


class Domains:
    def __init__(self, session: GQLSession) -> None:
        self._s = session

    async def list(self, *, is_active: bool | None = None) -> list[Domain]:
        """All domains the caller may see (superadmins: every one)."""
        if is_active is None:
            data = await self._s.gql(f"query {{ domains {{ {DOMAIN_FIELDS} }} }}")
        else:
            data = await self._s.gql(
                f"query($is_active: Boolean) {{ domains(is_active: $is_active) "
                f"{{ {DOMAIN_FIELDS} }} }}",
                {"is_active": is_active},
            )
        return parse_many(Domain, data.get("domains"))

    async def get(self, name: str) -> Domain:
        data = await self._s.gql(
            f"query($name: String) {{ domain(name: $name) {{ {DOMAIN_FIELDS} }} }}",
            {"name": name},
        )
        return parse_one(Domain, data.get("domain"), "domain", name, _NOT_FOUND)

    info = get

    async def create(
        self,
        name: str,
        *,
        description: str | None = None,
        is_active: bool | None = None,
        total_resource_slots: Mapping[str, Any] | None = None,
        allowed_vfolder_hosts: Mapping[str, Any] | None = None,
        allowed_docker_registries: Sequence[str] | None = None,
        integration_id: str | None = None,
    ) -> Domain:
        props = build_input(
            {
                "description": description,
                "is_active": is_active,
                "total_resource_slots": total_resource_slots,
                "allowed_vfolder_hosts": allowed_vfolder_hosts,
                "allowed_docker_registries": (
                    list(allowed_docker_registries)
                    if allowed_docker_registries is not None
                    else None
                ),
                "integration_id": integration_id,
            },
            json_fields=_JSON_FIELDS,
        )
        payload = await self._s.mutate(
            "mutation($name: String!, $input: DomainInput!) { create_domain(name: $name, "
            f"props: $input) {{ {MUTATION_RESULT} domain {{ {DOMAIN_FIELDS} }} }} }}",
            {"name": name, "input": props},
            "create_domain",
        )
        if payload.get("domain"):
            return Domain.model_validate(payload["domain"])
        return await self.get(name)

    async def update(
        self,
        name: str,
        *,
        new_name: str | None = None,
        description: str | None = None,
        is_active: bool | None = None,
        total_resource_slots: Mapping[str, Any] | None = None,
        allowed_vfolder_hosts: Mapping[str, Any] | None = None,
        allowed_docker_registries: Sequence[str] | None = None,
        integration_id: str | None = None,
    ) -> Domain:
        """Change the given properties (``new_name`` renames); returns the domain as it is now."""
        props = build_input(
            {
                "name": new_name,
                "description": description,
                "is_active": is_active,
                "total_resource_slots": total_resource_slots,
                "allowed_vfolder_hosts": allowed_vfolder_hosts,
                "allowed_docker_registries": (
                    list(allowed_docker_registries)
                    if allowed_docker_registries is not None
                    else None
                ),
                "integration_id": integration_id,
            },
            json_fields=_JSON_FIELDS,
        )
        await self._s.mutate(
            "mutation($name: String!, $input: ModifyDomainInput!) { modify_domain(name: $name, "
            f"props: $input) {{ {MUTATION_RESULT} }} }}",
            {"name": name, "input": props},
            "modify_domain",
        )
        return await self.get(new_name or name)

    async def delete(self, name: str) -> None:
        """Deactivate a domain (refused while it has active users)."""
        await self._s.mutate(
            f"mutation($name: String!) {{ delete_domain(name: $name) {{ {MUTATION_RESULT} }} }}",
            {"name": name},
            "delete_domain",
        )

    async def purge(self, name: str) -> None:
        """Remove a domain for good (refused while users or projects remain in it)."""
        await self._s.mutate(
            f"mutation($name: String!) {{ purge_domain(name: $name) {{ {MUTATION_RESULT} }} }}",
            {"name": name},
            "purge_domain",
        )
