"""Typed results. Field names follow the wire (GraphQL snake_case); ``JSONString`` fields arrive as
JSON-encoded strings and are decoded here, so callers see dicts. Fields a query did not select
stay at their defaults (``None``), so one model serves both list and detail queries."""

from __future__ import annotations

import ast
import json
from datetime import datetime
from typing import Annotated, Any, Generic, TypeVar
from uuid import UUID

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

T = TypeVar("T")


def decode_json_string(value: Any) -> Any:
    """A ``JSONString`` wire value (``'{"cpu": "4"}'``) as the object it encodes. Session info
    replies stringify dicts the Python way (``"{'cpu': '1'}"``), as Backend.AI does: those
    are read as Python literals."""
    if isinstance(value, str):
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            try:
                return ast.literal_eval(value)
            except (ValueError, SyntaxError, MemoryError, RecursionError):
                return value
    return value


JSONDict = Annotated[dict[str, Any] | None, BeforeValidator(decode_json_string)]
"""A JSONString field holding an object (resource slots, vfolder hosts, driver options...)."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True)


class ServerVersion(_Model):
    """``GET /``: the API version the server speaks and its own release."""

    version: str
    manager: str | None = None


class Announcement(_Model):
    enabled: bool = False
    message: str = ""


class Credentials(_Model):
    """What ``POST /auth/authorize`` hands back for a successful login."""

    access_key: str
    secret_key: str
    role: str | None = None
    status: str | None = None


class Domain(_Model):
    name: str
    description: str | None = None
    is_active: bool | None = None
    created_at: datetime | None = None
    total_resource_slots: JSONDict = None
    allowed_vfolder_hosts: JSONDict = None
    allowed_docker_registries: list[str] | None = None
    integration_id: str | None = None


class ProjectRef(_Model):
    id: UUID
    name: str | None = None


class Project(_Model):
    """A project (a "group" on the wire)."""

    id: UUID
    name: str
    description: str | None = None
    is_active: bool | None = None
    created_at: datetime | None = None
    domain_name: str | None = None
    total_resource_slots: JSONDict = None
    allowed_vfolder_hosts: JSONDict = None
    integration_id: str | None = None


Group = Project
"""The wire's (and Backend.AI's) name for a project."""


class User(_Model):
    uuid: UUID | None = None
    email: str
    username: str | None = None
    role: str | None = None
    full_name: str | None = None
    description: str | None = None
    need_password_change: bool | None = None
    status: str | None = None
    status_info: str | None = None
    created_at: datetime | None = None
    domain_name: str | None = None
    groups: list[ProjectRef] | None = None
    allowed_client_ip: list[str] | None = None
    sudo_session_enabled: bool | None = None
    main_access_key: str | None = None


class KeyPair(_Model):
    access_key: str
    secret_key: str | None = None
    user_id: str | None = Field(default=None, description="the owner's email")
    full_name: str | None = None
    is_active: bool | None = None
    is_admin: bool | None = None
    created_at: datetime | None = None
    last_used: datetime | None = None
    resource_policy: str | None = None
    rate_limit: int | None = None
    concurrency_used: int | None = None


class KeyPairResourcePolicy(_Model):
    name: str
    created_at: datetime | None = None
    default_for_unspecified: str | None = None
    total_resource_slots: JSONDict = None
    max_session_lifetime: int | None = None
    max_concurrent_sessions: int | None = None
    max_concurrent_sftp_sessions: int | None = None
    max_containers_per_session: int | None = None
    idle_timeout: int | None = None
    allowed_vfolder_hosts: JSONDict = None
    max_pending_session_count: int | None = None
    max_pending_session_resource_slots: JSONDict = None


class UserResourcePolicy(_Model):
    name: str
    created_at: datetime | None = None
    max_vfolder_count: int | None = None
    max_quota_scope_size: int | None = None
    max_session_count_per_model_session: int | None = None
    max_customized_image_count: int | None = None


class ResourceGroup(_Model):
    """A resource group (a "scaling group" on the wire)."""

    name: str
    description: str | None = None
    is_active: bool | None = None
    is_public: bool | None = None
    created_at: datetime | None = None
    driver: str | None = None
    driver_opts: JSONDict = None
    scheduler: str | None = None
    scheduler_opts: JSONDict = None
    use_host_network: bool | None = None
    wsproxy_addr: str | None = None
    wsproxy_api_token: str | None = None


ScalingGroup = ResourceGroup


class Page(BaseModel, Generic[T]):
    """One page of a paginated list, and how many items match in all."""

    model_config = ConfigDict(frozen=True)

    items: list[T]
    total_count: int


def _none_string(value: Any) -> Any:
    """The manager sends ``"None"`` (a stringified Python None) for some empty fields."""
    return None if value in ("None", "") else value


class ServicePort(_Model):
    """A service a session offers (``jupyter``, ``sshd``...): from ``servicePorts``."""

    name: str
    protocol: str | None = None
    ports: list[int] = Field(default_factory=list)
    url_template: str | None = None
    allowed_arguments: Any = None
    allowed_envs: Any = None


class SessionCreated(_Model):
    """``POST /session``: the new (or reused) session and the status it reached."""

    id: UUID = Field(alias="sessionId")
    name: str | None = Field(default=None, alias="sessionName")
    status: str = "RUNNING"
    service_ports: list[ServicePort] = Field(default_factory=list, alias="servicePorts")
    created: bool = True


class SessionInfo(_Model):
    """``GET /session/{id}``: the flat info record (keys on the wire are camelCase)."""

    model_config = ConfigDict(extra="allow", frozen=True, populate_by_name=True)

    status: str | None = None
    status_info: Annotated[str | None, BeforeValidator(_none_string)] = Field(
        default=None, alias="statusInfo"
    )
    status_data: JSONDict = Field(default=None, alias="statusData")
    image: str | None = None
    architecture: str | None = None
    registry: str | None = None
    tag: str | None = None
    domain_name: str | None = Field(default=None, alias="domainName")
    group_id: str | None = Field(default=None, alias="groupId")
    user_id: str | None = Field(default=None, alias="userId")
    age_ms: int | None = Field(default=None, alias="age")
    occupied_slots: JSONDict = Field(default=None, alias="occupiedSlots")
    requested_slots: JSONDict = Field(default=None, alias="requestedSlots")
    environ: JSONDict = None
    resource_opts: JSONDict = Field(default=None, alias="resourceOpts")
    creation_time: datetime | None = Field(default=None, alias="creationTime")
    termination_time: Annotated[datetime | None, BeforeValidator(_none_string)] = Field(
        default=None, alias="terminationTime"
    )
    num_queries_executed: int | None = Field(default=None, alias="numQueriesExecuted")


class ComputeSession(_Model):
    """A row of GraphQL ``compute_session_list`` (``type``/``status`` are upper-case names)."""

    id: UUID
    name: str | None = None
    access_key: str | None = None
    priority: int | None = None
    group_name: str | None = None
    type: str | None = None
    image: str | None = None
    status: str | None = None
    status_info: str | None = None
    status_changed: datetime | None = None
    result: str | None = None
    created_at: datetime | None = None
    terminated_at: datetime | None = None
    occupied_slots: JSONDict = None


class ExecutionResult(_Model):
    """One answer of an execution (REST ``result`` or a WebSocket frame).

    ``console`` is an ordered list of ``[type, data]``: ``stdout``/``stderr`` text, ``media``
    (``[mime, payload]``), ``html``, ``log``, ``completion``.
    """

    status: str
    run_id: str | None = Field(default=None, alias="runId")
    exit_code: int | None = Field(default=None, alias="exitCode")
    options: dict[str, Any] | None = None
    files: Any = None
    console: list[list[Any]] = Field(default_factory=list)
    msg: str | None = None

    @property
    def stdout(self) -> str:
        return "".join(str(d) for t, d, *_ in self.console if t == "stdout")

    @property
    def stderr(self) -> str:
        return "".join(str(d) for t, d, *_ in self.console if t == "stderr")

    @property
    def finished(self) -> bool:
        return self.status in ("finished", "exec-timeout")


class SessionFile(_Model):
    """An entry of ``GET /session/{id}/files``."""

    filename: str
    mode: str | None = None
    size: int | None = None
    ctime: Any = None
    mtime: Any = None
    atime: Any = None


class FileListing(_Model):
    path: str | None = Field(default=None, alias="abspath")
    files: list[SessionFile] = Field(default_factory=list)
    errors: str | None = None


# --- vfolders (``/folders``) -------------------------------------------------------------------


class VFolder(_Model):
    """A folder as ``POST /folders`` and ``GET /folders`` answer it (``id``: 32 hex digits)."""

    id: str
    name: str
    host: str | None = None
    usage_mode: str | None = None
    permission: str | None = None
    status: str | None = None
    ownership_type: str | None = None
    user: str | None = None
    group: str | None = None
    user_email: str | None = None
    group_name: str | None = None
    creator: str | None = None
    cloneable: bool | None = None
    is_owner: bool | None = None
    max_size: int | None = None
    quota_scope_id: str | None = None
    created_at: datetime | None = None
    last_used: datetime | None = None


class VFolderInfo(VFolder):
    """``GET /folders/{vf}``: the folder, its file count and usage, the caller's permission."""

    num_files: int | None = Field(default=None, alias="numFiles")
    used_bytes: int | None = None


class VFolderClone(VFolder):
    """``POST /folders/{vf}/clone``: the new folder (``cloning``) and its background task."""

    bgtask_id: str


class VFolderFile(_Model):
    """An entry of ``GET /folders/{vf}/files``: ``type`` is FILE, DIRECTORY or SYMLINK."""

    name: str
    type: str
    size: int = 0
    mode: int | None = None
    created: datetime | None = None
    modified: datetime | None = None

    @property
    def is_dir(self) -> bool:
        return self.type == "DIRECTORY"


class VFolderInvitation(_Model):
    """An invitation to a user folder (``GET /folders/invitations/list``)."""

    id: str
    vfolder_id: str
    vfolder_name: str | None = None
    inviter: str | None = None
    invitee: str | None = None
    perm: str | None = None
    state: str | None = None
    created_at: datetime | None = None
    modified_at: datetime | None = None


class VFolderHosts(_Model):
    """``GET /folders/_/hosts``: the default host, the allowed ones and their volumes."""

    default: str | None = None
    allowed: list[str] = Field(default_factory=list)
    volume_info: dict[str, Any] = Field(default_factory=dict)


class MkdirResults(_Model):
    """``POST /folders/{vf}/mkdir``: ``success``/``failed`` lists of ``{item, msg}``."""

    success: list[dict[str, Any]] = Field(default_factory=list)
    failed: list[dict[str, Any]] = Field(default_factory=list)
