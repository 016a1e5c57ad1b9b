"""All manager services, built once by the composition root and handed to the API."""

from __future__ import annotations

from dataclasses import dataclass

from cygnet.common.clock import Clock
from cygnet.common.transport import InProcNetwork
from cygnet.manager.agents.registry import AgentRegistry, RegistrySettings
from cygnet.manager.config import ManagerSettings
from cygnet.manager.events import EventBus
from cygnet.manager.lifecycle.context import Context, LifecycleSettings
from cygnet.manager.lifecycle.controller import SessionController
from cygnet.manager.services.agents import AgentService
from cygnet.manager.services.auth import AuthService
from cygnet.manager.services.bgtasks import BackgroundTasks
from cygnet.manager.services.domains import DomainService
from cygnet.manager.services.images import ImageService
from cygnet.manager.services.keypairs import KeyPairService
from cygnet.manager.services.policies import ResourcePolicyService
from cygnet.manager.services.projects import ProjectService
from cygnet.manager.services.resource_groups import ResourceGroupService
from cygnet.manager.services.sessions import SessionService
from cygnet.manager.services.system import SystemService
from cygnet.manager.services.users import UserService
from cygnet.manager.services.vfolders import (
    VFolderFileService,
    VFolderService,
    VFolderSharingService,
)
from cygnet.manager.storage import StorageProxies
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
    agent_admin: AgentService
    events: EventBus
    agents: AgentRegistry
    images: ImageService
    sessions: SessionService
    storage: StorageProxies
    bgtasks: BackgroundTasks
    vfolders: VFolderService
    vfolder_files: VFolderFileService
    vfolder_sharing: VFolderSharingService


def build_services(
    db: Database,
    settings: ManagerSettings,
    clock: Clock,
    *,
    agent_secret: str,
    network: InProcNetwork | None = None,
) -> Services:
    auth = AuthService(db, settings, clock)
    events = EventBus()
    registry_settings = RegistrySettings(
        secret=agent_secret,
        heartbeat_interval=settings.agent_heartbeat_interval,
        heartbeat_timeout=settings.agent_heartbeat_timeout,
    )
    agents = AgentRegistry(db, clock, events, registry_settings, network)
    images = ImageService(db, clock, agents_generation=lambda: agents.generation)
    lifecycle = LifecycleSettings(
        sweep_interval=settings.session_sweep_interval,
        start_timeout=settings.session_start_timeout,
        terminate_timeout=settings.session_terminate_timeout,
        agent_return_timeout=settings.agent_return_timeout,
    )
    controller = SessionController(Context(db, clock, agents, events, lifecycle))
    storage = StorageProxies(settings.storage_proxies, settings.default_vfolder_host)
    bgtasks = BackgroundTasks(events)
    sessions = SessionService(db, clock, events, agents, images, controller, storage=storage)
    auth.on_invalidate(sessions.forget_identities)
    return Services(
        settings=settings,
        events=events,
        agents=agents,
        images=images,
        sessions=sessions,
        auth=auth,
        system=SystemService(db, clock),
        domains=DomainService(db, clock, auth),
        policies=ResourcePolicyService(db, clock, auth.invalidate),
        resource_groups=ResourceGroupService(db, clock, auth.invalidate),
        projects=ProjectService(db, clock, auth.invalidate),
        users=UserService(db, clock, auth),
        keypairs=KeyPairService(db, clock, auth),
        agent_admin=AgentService(db, clock),
        storage=storage,
        bgtasks=bgtasks,
        vfolders=VFolderService(db, clock, storage, bgtasks),
        vfolder_files=VFolderFileService(db, clock, storage),
        vfolder_sharing=VFolderSharingService(db, clock),
    )
