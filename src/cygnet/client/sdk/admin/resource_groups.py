"""Resource groups (Backend.AI "scaling groups"): ``scaling_groups``, ``scaling_group``,
``create/modify/delete_scaling_group`` and the association mutations with domains, projects
(``user_group``) and keypairs."""

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
from cygnet.client.sdk.admin.projects import ProjectKey, Projects
from cygnet.client.sdk.models import ResourceGroup

RESOURCE_GROUP_FIELDS = fields(
    (
        "name",
        "description",
        "is_active",
        "is_public",
        "created_at",
        "driver",
        "driver_opts",
        "scheduler",
        "scheduler_opts",
        "use_host_network",
        "wsproxy_addr",
        "wsproxy_api_token",
    )
)
_JSON_FIELDS = ("driver_opts", "scheduler_opts")
_NOT_FOUND = "scaling-group_read_not-found"


class ResourceGroups:
    def __init__(self, session: GQLSession, projects: Projects) -> None:
        self._s = session
        self._projects = projects

    async def list(self, *, is_active: bool | None = None) -> list[ResourceGroup]:
        data = await self._s.gql(
            f"query($is_active: Boolean) {{ scaling_groups(is_active: $is_active) "
            f"{{ {RESOURCE_GROUP_FIELDS} }} }}",
            {"is_active": is_active},
        )
        return parse_many(ResourceGroup, data.get("scaling_groups"))

    async def get(self, name: str) -> ResourceGroup:
        data = await self._s.gql(
            f"query($name: String) {{ scaling_group(name: $name) {{ {RESOURCE_GROUP_FIELDS} }} }}",
            {"name": name},
        )
        return parse_one(
            ResourceGroup, data.get("scaling_group"), "resource group", name, _NOT_FOUND
        )

    info = get

    async def create(
        self,
        name: str,
        *,
        description: str | None = None,
        is_active: bool | None = None,
        is_public: bool | None = None,
        driver: str = "static",
        driver_opts: Mapping[str, Any] | None = None,
        scheduler: str = "fifo",
        scheduler_opts: Mapping[str, Any] | None = None,
        use_host_network: bool | None = None,
        wsproxy_addr: str | None = None,
        wsproxy_api_token: str | None = None,
    ) -> ResourceGroup:
        """Create a resource group with a scheduler (``fifo``, ``lifo``, ``drf``...)."""
        props = build_input(
            {
                "description": description,
                "is_active": is_active,
                "is_public": is_public,
                "driver": driver,
                "driver_opts": driver_opts,
                "scheduler": scheduler,
                "scheduler_opts": scheduler_opts,
                "use_host_network": use_host_network,
                "wsproxy_addr": wsproxy_addr,
                "wsproxy_api_token": wsproxy_api_token,
            },
            json_fields=_JSON_FIELDS,
        )
        await self._s.mutate(
            "mutation($name: String!, $input: CreateScalingGroupInput!) { "
            f"create_scaling_group(name: $name, props: $input) {{ {MUTATION_RESULT} }} }}",
            {"name": name, "input": props},
            "create_scaling_group",
        )
        return await self.get(name)

    async def update(
        self,
        name: str,
        *,
        description: str | None = None,
        is_active: bool | None = None,
        is_public: bool | None = None,
        driver: str | None = None,
        driver_opts: Mapping[str, Any] | None = None,
        scheduler: str | None = None,
        scheduler_opts: Mapping[str, Any] | None = None,
        use_host_network: bool | None = None,
        wsproxy_addr: str | None = None,
        wsproxy_api_token: str | None = None,
    ) -> ResourceGroup:
        """Change the given properties; returns the resource group as it is now."""
        props = build_input(
            {
                "description": description,
                "is_active": is_active,
                "is_public": is_public,
                "driver": driver,
                "driver_opts": driver_opts,
                "scheduler": scheduler,
                "scheduler_opts": scheduler_opts,
                "use_host_network": use_host_network,
                "wsproxy_addr": wsproxy_addr,
                "wsproxy_api_token": wsproxy_api_token,
            },
            json_fields=_JSON_FIELDS,
        )
        await self._s.mutate(
            "mutation($name: String!, $input: ModifyScalingGroupInput!) { "
            f"modify_scaling_group(name: $name, props: $input) {{ {MUTATION_RESULT} }} }}",
            {"name": name, "input": props},
            "modify_scaling_group",
        )
        return await self.get(name)

    async def delete(self, name: str) -> None:
        await self._s.mutate(
            "mutation($name: String!) { delete_scaling_group(name: $name) "
            f"{{ {MUTATION_RESULT} }} }}",
            {"name": name},
            "delete_scaling_group",
        )

    async def associate(
        self,
        name: str,
        *,
        domain: str | None = None,
        project: ProjectKey | None = None,
        keypair: str | None = None,
        project_domain: str | None = None,
    ) -> None:
        """Let a domain, a project (name or UUID) or a keypair (access key) use the group."""
        await self._association("associate", name, domain, project, keypair, project_domain)

    async def disassociate(
        self,
        name: str,
        *,
        domain: str | None = None,
        project: ProjectKey | None = None,
        keypair: str | None = None,
        project_domain: str | None = None,
    ) -> None:
        """Undo ``associate``."""
        await self._association("disassociate", name, domain, project, keypair, project_domain)

    async def _association(
        self,
        verb: str,
        name: str,
        domain: str | None,
        project: ProjectKey | None,
        keypair: str | None,
        project_domain: str | None,
    ) -> None:
        given = [x for x in (domain, project, keypair) if x is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of domain, project or keypair")
        if domain is not None:
            field = f"{verb}_scaling_group_with_domain"
            decl, args = "$domain: String!", "domain: $domain"
            values: dict[str, Any] = {"domain": domain}
        elif project is not None:
            field = f"{verb}_scaling_group_with_user_group"
            # The wire declares UUID! to associate but String! to disassociate (as the official
            # client does); the server's argument types follow that.
            kind = "UUID!" if verb == "associate" else "String!"
            decl, args = f"$user_group: {kind}", "user_group: $user_group"
            gid = await self._projects.resolve_id(project, domain=project_domain)
            values = {"user_group": str(gid)}
        else:
            field = f"{verb}_scaling_group_with_keypair"
            decl, args = "$access_key: String!", "access_key: $access_key"
            values = {"access_key": keypair}
        await self._s.mutate(
            f"mutation($scaling_group: String!, {decl}) {{ {field}(scaling_group: "
            f"$scaling_group, {args}) {{ {MUTATION_RESULT} }} }}",
            {"scaling_group": name, **values},
            field,
        )
