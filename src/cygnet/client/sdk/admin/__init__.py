"""The admin API (``POST /admin/gql``), one module per resource, gathered in ``AdminAPI``."""

from __future__ import annotations

from typing import Protocol

from cygnet.client.sdk.admin.base import GQLSession
from cygnet.client.sdk.admin.domains import Domains
from cygnet.client.sdk.admin.keypairs import KeyPairs
from cygnet.client.sdk.admin.policies import KeyPairPolicies, UserPolicies
from cygnet.client.sdk.admin.projects import AmbiguousName, Projects
from cygnet.client.sdk.admin.resource_groups import ResourceGroups
from cygnet.client.sdk.admin.scheduler import RESTSession, Scheduler
from cygnet.client.sdk.admin.users import Users

__all__ = [
    "AdminAPI",
    "AmbiguousName",
    "Domains",
    "KeyPairPolicies",
    "KeyPairs",
    "Projects",
    "ResourceGroups",
    "Scheduler",
    "UserPolicies",
    "Users",
]


class AdminSession(GQLSession, RESTSession, Protocol):
    """What the admin API needs: GraphQL for the resources, REST for the scheduler."""


class AdminAPI:
    """``session.admin.<resource>.<verb>(...)``."""

    def __init__(self, session: AdminSession) -> None:
        self.domains = Domains(session)
        self.projects = Projects(session)
        self.groups = self.projects  # the wire's name
        self.users = Users(session, self.projects)
        self.keypairs = KeyPairs(session)
        self.keypair_policies = KeyPairPolicies(session)
        self.user_policies = UserPolicies(session)
        self.resource_groups = ResourceGroups(session, self.projects)
        self.scaling_groups = self.resource_groups  # the wire's name
        self.scheduler = Scheduler(session)
