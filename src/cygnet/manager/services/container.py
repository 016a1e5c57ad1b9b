"""All manager services, built once by the composition root and handed to the API."""

from __future__ import annotations

from dataclasses import dataclass

from cygnet.common.clock import Clock
from cygnet.manager.config import ManagerSettings
from cygnet.manager.services.auth import AuthService
from cygnet.manager.services.domains import DomainService
from cygnet.manager.services.keypairs import KeyPairService
from cygnet.manager.services.policies import ResourcePolicyService
from cygnet.manager.services.projects import ProjectService
from cygnet.manager.services.resource_groups import ResourceGroupService
from cygnet.manager.services.system import SystemService
from cygnet.manager.services.users import UserService
from cygnet.manager.store.db import Database


@dataclass(frozen=True, slots=True)
class Services:
    settings: ManagerSettings
    auth: AuthService
    system: SystemService
    domains: DomainService
    policies: ResourcePolicyService
    resource_groups: ResourceGroupService
    projects: ProjectService
    users: UserService
    keypairs: KeyPairService


def build_services(db: Database, settings: ManagerSettings, clock: Clock) -> Services:
    auth = AuthService(db, settings, clock)
    return Services(
        settings=settings,
        auth=auth,
        system=SystemService(db, clock),
        domains=DomainService(db, clock, auth),
        policies=ResourcePolicyService(db, clock),
        resource_groups=ResourceGroupService(db, clock),
        projects=ProjectService(db, clock),
        users=UserService(db, clock, auth),
        keypairs=KeyPairService(db, clock, auth),
    )
