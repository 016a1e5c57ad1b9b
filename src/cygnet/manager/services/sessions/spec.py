"""What a caller asks for when creating a session, after the API has parsed the wire format
(aliases, camelCase, nulls) and before the service has checked anything."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from cygnet.common.lifecycle import ClusterMode, SessionType
from cygnet.common.rpc import ExecutionResult
from cygnet.manager.entities import Session

__all__ = ["CreatedSession", "ExecutionResult", "SessionSpec"]


@dataclass(frozen=True, slots=True)
class SessionSpec:
    image: str
    name: str | None = None  # None: the service generates one
    type: SessionType = SessionType.INTERACTIVE
    architecture: str | None = None  # None: the resource group's agents' (x86_64 first)
    tag: str | None = None
    domain: str | None = None  # None: the owner's
    group: str | None = None  # project name or id; None: the owner's first project
    owner_access_key: str | None = None  # admins create for another keypair
    enqueue_only: bool = False
    max_wait_seconds: float = 0  # 0: wait until it runs (or ends)
    reuse: bool = True
    startup_command: str | None = None
    bootstrap_script: str | None = None
    starts_at: datetime | None = None
    cluster_size: int = 1
    cluster_mode: ClusterMode = ClusterMode.SINGLE_NODE
    environ: dict[str, str] = field(default_factory=dict)
    resources: dict[str, Any] = field(default_factory=dict)  # raw slot values, per kernel
    resource_opts: dict[str, Any] = field(default_factory=dict)
    resource_group: str | None = None
    priority: int = 10
    batch_timeout: float | None = None  # seconds
    callback_url: str | None = None
    dependencies: list[str] = field(default_factory=list)  # ids or names
    mounts: list[str] = field(default_factory=list)
    mount_map: dict[str, str] = field(default_factory=dict)
    mount_ids: list[uuid.UUID] = field(default_factory=list)
    mount_id_map: dict[uuid.UUID, str] = field(default_factory=dict)
    mount_options: dict[str, Any] = field(default_factory=dict)
    agent_list: list[str] = field(default_factory=list)
    preopen_ports: list[int] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class CreatedSession:
    session: Session
    created: bool  # False: an existing session of the same name and image was reused
    timed_out: bool = False  # max_wait_seconds passed before it started
