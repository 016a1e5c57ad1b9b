"""All manager services, built once by the composition root and handed to the API."""

from __future__ import annotations

from dataclasses import dataclass

from cygnet.common.clock import Clock
from cygnet.manager.config import ManagerSettings
from cygnet.manager.services.auth import AuthService
from cygnet.manager.services.domains import DomainService
from cygnet.manager.services.system import SystemService
from cygnet.manager.store.db import Database


@dataclass(frozen=True, slots=True)
class Services:
    settings: ManagerSettings
    auth: AuthService
    system: SystemService
    domains: DomainService


def build_services(db: Database, settings: ManagerSettings, clock: Clock) -> Services:
    auth = AuthService(db, settings, clock)
    return Services(
        settings=settings,
        auth=auth,
        system=SystemService(db, clock),
        domains=DomainService(db, clock, auth),
    )
