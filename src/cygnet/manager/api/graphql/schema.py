"""The admin GraphQL schema (``POST /admin/gql``): one Query/Mutation pair per resource module,
merged here. Field names are snake_case, as the official client sends them."""

from __future__ import annotations

import strawberry
from strawberry.schema.config import StrawberryConfig
from strawberry.tools import merge_types

from cygnet.manager.api.graphql.agents import AgentQuery
from cygnet.manager.api.graphql.domains import DomainMutation, DomainQuery
from cygnet.manager.api.graphql.keypairs import KeyPairMutation, KeyPairQuery
from cygnet.manager.api.graphql.policies import PolicyMutation, PolicyQuery
from cygnet.manager.api.graphql.projects import ProjectMutation, ProjectQuery
from cygnet.manager.api.graphql.resource_groups import ResourceGroupMutation, ResourceGroupQuery
from cygnet.manager.api.graphql.scalars import SCALAR_MAP
from cygnet.manager.api.graphql.sessions import SESSION_SCALARS, SessionMutation, SessionQuery
from cygnet.manager.api.graphql.users import UserMutation, UserQuery
from cygnet.manager.api.graphql.vfolders import VFolderQuery

Query = merge_types(
    "Query",
    (
        DomainQuery,
        PolicyQuery,
        ResourceGroupQuery,
        ProjectQuery,
        UserQuery,
        KeyPairQuery,
        AgentQuery,
        SessionQuery,
        VFolderQuery,
    ),
)
Mutation = merge_types(
    "Mutation",
    (
        DomainMutation,
        PolicyMutation,
        ResourceGroupMutation,
        ProjectMutation,
        UserMutation,
        KeyPairMutation,
        SessionMutation,
    ),
)

schema = strawberry.Schema(
    query=Query,
    mutation=Mutation,
    config=StrawberryConfig(auto_camel_case=False, scalar_map={**SCALAR_MAP, **SESSION_SCALARS}),
)
