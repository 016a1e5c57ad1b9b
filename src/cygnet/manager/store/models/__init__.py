"""ORM rows. Only code under ``store/`` touches them; services get ``manager.entities``."""

from cygnet.manager.store.models.agents import AgentRow
from cygnet.manager.store.models.base import Base
from cygnet.manager.store.models.identity import (
    DomainRow,
    KeyPairRow,
    ProjectMemberRow,
    ProjectRow,
    UserRow,
)
from cygnet.manager.store.models.policies import (
    KeyPairResourcePolicyRow,
    ProjectResourcePolicyRow,
    UserResourcePolicyRow,
)
from cygnet.manager.store.models.resource_groups import (
    ResourceGroupDomainRow,
    ResourceGroupKeyPairRow,
    ResourceGroupProjectRow,
    ResourceGroupRow,
)
from cygnet.manager.store.models.sessions import (
    LIVE_NAME,
    KernelRow,
    SessionDependencyRow,
    SessionRow,
    StatusChangeRow,
)
from cygnet.manager.store.models.system import SystemConfigRow
from cygnet.manager.store.models.vfolders import (
    VFolderInvitationRow,
    VFolderPermissionRow,
    VFolderRow,
)

__all__ = [
    "LIVE_NAME",
    "AgentRow",
    "Base",
    "DomainRow",
    "KernelRow",
    "KeyPairResourcePolicyRow",
    "KeyPairRow",
    "ProjectMemberRow",
    "ProjectResourcePolicyRow",
    "ProjectRow",
    "ResourceGroupDomainRow",
    "ResourceGroupKeyPairRow",
    "ResourceGroupProjectRow",
    "ResourceGroupRow",
    "SessionDependencyRow",
    "SessionRow",
    "StatusChangeRow",
    "SystemConfigRow",
    "UserResourcePolicyRow",
    "UserRow",
    "VFolderInvitationRow",
    "VFolderPermissionRow",
    "VFolderRow",
]
