"""The manager's domain objects: frozen dataclasses that services return and the API renders.

ORM rows never leave ``store/``; repositories turn them into these.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, Generic, TypeVar

from cygnet.common.lifecycle import (
    ClusterMode,
    KernelStatus,
    SessionResult,
    SessionStatus,
    SessionType,
)
from cygnet.common.resources import ResourceSlot

T = TypeVar("T")


class UserRole(StrEnum):
    SUPERADMIN = "superadmin"
    ADMIN = "admin"
    USER = "user"
    MONITOR = "monitor"


class UserStatus(StrEnum):
    ACTIVE = "active"
    INACTIVE = "inactive"
    DELETED = "deleted"
    BEFORE_VERIFICATION = "before-verification"


class DefaultForUnspecified(StrEnum):
    LIMITED = "LIMITED"
    UNLIMITED = "UNLIMITED"


@dataclass(frozen=True, slots=True)
class Domain:
    name: str
    description: str | None
    is_active: bool
    created_at: datetime
    modified_at: datetime
    total_resource_slots: dict[str, Any]
    allowed_vfolder_hosts: dict[str, Any]
    allowed_docker_registries: list[str]
    integration_id: str | None


@dataclass(frozen=True, slots=True)
class Project:
    id: uuid.UUID
    name: str
    description: str | None
    is_active: bool
    created_at: datetime
    modified_at: datetime
    integration_id: str | None
    domain_name: str
    total_resource_slots: dict[str, Any]
    allowed_vfolder_hosts: dict[str, Any]
    resource_policy: str
    type: str
    scaling_groups: list[str] = field(default_factory=list)  # associated resource groups


@dataclass(frozen=True, slots=True)
class ProjectRef:
    id: uuid.UUID
    name: str


@dataclass(frozen=True, slots=True)
class User:
    uuid: uuid.UUID
    username: str
    email: str
    need_password_change: bool
    full_name: str | None
    description: str | None
    status: UserStatus
    status_info: str | None
    created_at: datetime
    modified_at: datetime
    domain_name: str
    role: UserRole
    allowed_client_ip: list[str] | None
    totp_activated: bool
    sudo_session_enabled: bool
    main_access_key: str | None
    resource_policy: str
    container_uid: int | None
    container_main_gid: int | None
    container_gids: list[int] | None
    groups: list[ProjectRef] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class KeyPair:
    access_key: str
    secret_key: str
    user_id: str  # the owner's email
    user: uuid.UUID
    is_active: bool
    is_admin: bool
    created_at: datetime
    modified_at: datetime
    last_used: datetime | None
    rate_limit: int
    num_queries: int
    resource_policy: str


@dataclass(frozen=True, slots=True)
class OwnedKeyPair:
    """A keypair with its owner (``owner.groups`` filled in), as keypair listings show it.

    ``show_secret`` is false when the caller may see the keypair but not its secret key.
    """

    keypair: KeyPair
    owner: User
    concurrency_used: int = 0
    show_secret: bool = True


@dataclass(frozen=True, slots=True)
class KeyPairResourcePolicy:
    name: str
    created_at: datetime
    default_for_unspecified: DefaultForUnspecified
    total_resource_slots: dict[str, Any]
    max_session_lifetime: int
    max_concurrent_sessions: int
    max_concurrent_sftp_sessions: int
    max_containers_per_session: int
    idle_timeout: int
    allowed_vfolder_hosts: dict[str, Any]
    max_pending_session_count: int | None
    max_pending_session_resource_slots: dict[str, Any] | None


@dataclass(frozen=True, slots=True)
class UserResourcePolicy:
    name: str
    created_at: datetime
    max_vfolder_count: int
    max_quota_scope_size: int
    max_session_count_per_model_session: int
    max_customized_image_count: int


@dataclass(frozen=True, slots=True)
class ProjectResourcePolicy:
    name: str
    created_at: datetime
    max_vfolder_count: int
    max_quota_scope_size: int
    max_network_count: int


@dataclass(frozen=True, slots=True)
class ResourceGroup:
    name: str
    description: str | None
    is_active: bool
    is_public: bool
    created_at: datetime
    wsproxy_addr: str | None
    wsproxy_api_token: str | None
    driver: str
    driver_opts: dict[str, Any]
    scheduler: str
    scheduler_opts: dict[str, Any]
    use_host_network: bool


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    """One page of a list, with the total number of matching items."""

    items: list[T]
    total_count: int


@dataclass(frozen=True, slots=True)
class Caller:
    """Who is making a request: the authenticated keypair and its user."""

    access_key: str
    user_uuid: uuid.UUID
    email: str
    role: UserRole
    domain_name: str
    is_admin_key: bool

    @property
    def is_superadmin(self) -> bool:
        return self.role is UserRole.SUPERADMIN

    @property
    def is_domain_admin(self) -> bool:
        return self.role is UserRole.ADMIN

    def can_admin_domain(self, domain_name: str) -> bool:
        """Superadmins administer every domain; admins their own."""
        return self.is_superadmin or (self.is_domain_admin and self.domain_name == domain_name)


@dataclass(frozen=True, slots=True)
class Agent:
    id: str
    status: str
    status_changed: datetime | None
    region: str
    resource_group: str
    schedulable: bool
    available_slots: dict[str, str]
    occupied_slots: dict[str, str]
    address: str
    architecture: str
    version: str
    runtime: str
    slot_types: dict[str, str]
    compute_plugins: dict[str, Any]
    hardware_metadata: dict[str, Any]
    images: list[dict[str, Any]]
    live_stat: dict[str, Any]
    first_contact: datetime
    lost_at: datetime | None
    last_heartbeat: datetime | None


@dataclass(frozen=True, slots=True)
class Kernel:
    """One container of a session (a single-container session has one, role ``main``)."""

    id: uuid.UUID
    session_id: uuid.UUID
    cluster_role: str
    cluster_idx: int
    cluster_hostname: str
    status: KernelStatus
    status_info: str | None
    status_data: dict[str, Any]
    status_changed: datetime
    agent_id: str | None
    agent_address: str | None
    container_id: str | None
    image: str
    architecture: str
    requested_slots: dict[str, str]
    occupied_slots: dict[str, str]
    created_at: datetime
    started_at: datetime | None
    terminated_at: datetime | None
    exit_code: int | None
    # slot -> {device/unit id: amount}: the scheduler's device booking, then the agent's
    allocation: dict[str, dict[str, str]] = field(default_factory=dict)

    @property
    def is_main(self) -> bool:
        return self.cluster_role == "main"


@dataclass(frozen=True, slots=True)
class Session:
    """A compute session and its kernels, as services return it."""

    id: uuid.UUID
    name: str
    type: SessionType
    access_key: str
    user_uuid: uuid.UUID
    user_email: str
    domain_name: str
    project_id: uuid.UUID
    project_name: str
    resource_group: str
    image: str
    architecture: str
    tag: str | None
    status: SessionStatus
    status_info: str | None
    status_data: dict[str, Any]
    status_changed: datetime
    status_history: dict[str, str]  # {STATUS: iso8601}, the first time each was reached
    result: SessionResult
    priority: int
    cluster_mode: ClusterMode
    cluster_size: int
    requested_slots: dict[str, str]  # the whole session's (per kernel x cluster size)
    resource_opts: dict[str, Any]
    environ: dict[str, str]
    startup_command: str | None
    bootstrap_script: str | None
    batch_timeout: float | None
    callback_url: str | None
    created_at: datetime
    started_at: datetime | None
    terminated_at: datetime | None
    last_activity: datetime | None
    num_queries: int
    starts_at: datetime | None = None
    designated_agents: list[str] = field(default_factory=list)
    kernels: list[Kernel] = field(default_factory=list)
    vfolder_mounts: list[VFolderMount] = field(default_factory=list)

    def starts_at_pending(self, now: datetime) -> bool:
        return self.starts_at is not None and self.starts_at > now

    @property
    def main_kernel(self) -> Kernel:
        for kernel in self.kernels:
            if kernel.is_main:
                return kernel
        raise LookupError(f"session {self.id} has no main kernel")

    @property
    def occupied_slots(self) -> dict[str, str]:
        total = ResourceSlot()
        for kernel in self.kernels:
            total = total + ResourceSlot.from_json(kernel.occupied_slots)
        return total.to_json()


@dataclass(frozen=True, slots=True)
class SessionEvent:
    """A session or kernel status change, published on the manager's event bus once it is
    committed (the SSE stream ``/events/session`` renders these)."""

    name: str  # session_started, kernel_terminated … (wire notes 2.1)
    session_id: uuid.UUID
    session_name: str
    access_key: str
    domain_name: str
    project_id: uuid.UUID
    status: str
    reason: str | None
    exit_code: int | None = None
    kernel_id: uuid.UUID | None = None
    cluster_role: str | None = None
    cluster_idx: int | None = None

    @property
    def scope(self) -> str:
        return "session" if self.kernel_id is None else "kernel"


class VFolderStatus(StrEnum):
    READY = "ready"
    PERFORMING = "performing"
    CLONING = "cloning"
    MOUNTED = "mounted"
    ERROR = "error"
    DELETE_PENDING = "delete-pending"  # in the trash
    DELETE_ONGOING = "delete-ongoing"
    DELETE_COMPLETE = "delete-complete"
    DELETE_ERROR = "delete-error"


class VFolderPermission(StrEnum):
    """Mount permissions, weakest first: read-only, read-write, read-write-delete."""

    READ_ONLY = "ro"
    READ_WRITE = "rw"
    RW_DELETE = "wd"

    @property
    def level(self) -> int:
        return ("ro", "rw", "wd").index(self.value)


class VFolderOwnership(StrEnum):
    USER = "user"
    GROUP = "group"  # a project's folder (Backend.AI calls projects groups)


class VFolderUsageMode(StrEnum):
    GENERAL = "general"
    MODEL = "model"
    DATA = "data"


@dataclass(frozen=True, slots=True)
class VFolderMount:
    """A vfolder mounted into a session's kernels (Backend.AI's VFolderMount)."""

    name: str
    vfid: uuid.UUID
    host: str  # the folder's vfolder host, "<proxy>:<volume>"
    host_path: str  # the folder's directory as the agents see it
    kernel_path: str  # where it appears inside the kernels
    permission: VFolderPermission
    usage_mode: VFolderUsageMode

    @property
    def read_only(self) -> bool:
        return self.permission is VFolderPermission.READ_ONLY

    def to_json(self) -> dict[str, str]:
        return {
            "name": self.name,
            "vfid": str(self.vfid),
            "host": self.host,
            "host_path": self.host_path,
            "kernel_path": self.kernel_path,
            "mount_perm": self.permission.value,
            "usage_mode": self.usage_mode.value,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> VFolderMount:
        return cls(
            name=data["name"],
            vfid=uuid.UUID(data["vfid"]),
            host=data["host"],
            host_path=data["host_path"],
            kernel_path=data["kernel_path"],
            permission=VFolderPermission(data["mount_perm"]),
            usage_mode=VFolderUsageMode(data["usage_mode"]),
        )


class InvitationState(StrEnum):
    PENDING = "pending"
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    CANCELED = "canceled"


@dataclass(frozen=True, slots=True)
class VFolder:
    id: uuid.UUID
    name: str
    host: str  # "<proxy>:<volume>"
    quota_scope_id: str  # "user:<uuid>" or "project:<uuid>"
    usage_mode: VFolderUsageMode
    permission: VFolderPermission  # the owner's (or the project members') permission
    ownership_type: VFolderOwnership
    user: uuid.UUID | None
    group: uuid.UUID | None
    domain_name: str
    creator: str  # email
    cloneable: bool
    status: VFolderStatus
    created_at: datetime
    status_changed: datetime
    last_used: datetime | None
    max_size: int | None  # quota in bytes; None = unlimited
    max_files: int = 0
    user_email: str | None = None
    group_name: str | None = None

    @property
    def usable(self) -> bool:
        return self.status in (VFolderStatus.READY, VFolderStatus.MOUNTED)

    @property
    def in_trash(self) -> bool:
        return self.status is VFolderStatus.DELETE_PENDING


@dataclass(frozen=True, slots=True)
class VFolderAccess:
    """A folder as one caller sees it: their effective permission and whether they own it."""

    folder: VFolder
    permission: VFolderPermission
    is_owner: bool
    can_manage: bool  # rename, delete, update options, invite/share

    def allows(self, need: VFolderPermission) -> bool:
        """Owners and managers may do anything; others up to their permission's level."""
        return self.is_owner or self.can_manage or self.permission.level >= need.level


@dataclass(frozen=True, slots=True)
class VFolderInvitation:
    id: uuid.UUID
    vfolder_id: uuid.UUID
    vfolder_name: str
    permission: VFolderPermission
    inviter: str  # email
    invitee: str  # email
    state: InvitationState
    created_at: datetime
    modified_at: datetime


@dataclass(frozen=True, slots=True)
class VFolderShare:
    """A user's permission on a folder that is not theirs (accepted invitation, project share)."""

    vfolder_id: uuid.UUID
    user_uuid: uuid.UUID
    user_email: str
    permission: VFolderPermission


@dataclass(frozen=True, slots=True)
class StorageVolume:
    """One volume of a storage proxy, as ``GET /volumes`` reports it."""

    host: str  # "<proxy>:<volume>"
    proxy: str
    name: str
    backend: str
    path: str
    capabilities: list[str]
    capacity_bytes: int | None
    used_bytes: int | None


@dataclass(frozen=True, slots=True)
class BackgroundTaskEvent:
    """Progress of a background task (``/events/background-task``): ``bgtask_updated``,
    ``bgtask_done``, ``bgtask_failed`` or ``bgtask_cancelled``."""

    task_id: uuid.UUID
    name: str
    message: str | None
    current_progress: float = 0
    total_progress: float = 0
    errors: list[str] = field(default_factory=list)

    @property
    def final(self) -> bool:
        return self.name != "bgtask_updated"
