"""The Cygnet Python SDK: signed HTTP sessions (async and blocking) and typed admin operations.

from cygnet.client.sdk import APIConfig, AsyncAPISession

async with AsyncAPISession(APIConfig.load()) as session:
    for domain in await session.admin.domains.list():
        print(domain.name)
"""

from __future__ import annotations

from cygnet.client.sdk.admin import AdminAPI, AmbiguousName
from cygnet.client.sdk.config import APIConfig
from cygnet.client.sdk.errors import (
    APIError,
    ClientError,
    ConfigError,
    GraphQLError,
    MutationFailed,
    NotFound,
    SDKError,
)
from cygnet.client.sdk.models import (
    Announcement,
    Credentials,
    Domain,
    Group,
    KeyPair,
    KeyPairResourcePolicy,
    Page,
    Project,
    ProjectRef,
    ResourceGroup,
    ScalingGroup,
    ServerVersion,
    User,
    UserResourcePolicy,
)
from cygnet.client.sdk.profiles import ProfileStore
from cygnet.client.sdk.session import APISession, AsyncAPISession

__all__ = [
    "APIConfig",
    "APIError",
    "APISession",
    "AdminAPI",
    "AmbiguousName",
    "Announcement",
    "AsyncAPISession",
    "ClientError",
    "ConfigError",
    "Credentials",
    "Domain",
    "GraphQLError",
    "Group",
    "KeyPair",
    "KeyPairResourcePolicy",
    "MutationFailed",
    "NotFound",
    "Page",
    "ProfileStore",
    "Project",
    "ProjectRef",
    "ResourceGroup",
    "SDKError",
    "ScalingGroup",
    "ServerVersion",
    "User",
    "UserResourcePolicy",
]
