"""Typed results. Field names follow the wire (GraphQL snake_case); ``JSONString`` fields arrive as
JSON-encoded strings and are decoded here, so callers see dicts. Fields a query did not select
stay at their defaults (``None``), so one model serves both list and detail queries."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Any, Generic, TypeVar
from uuid import UUID

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

T = TypeVar("T")


def decode_json_string(value: Any) -> Any:
    """A ``JSONString`` wire value (``'{"cpu": "4"}'``) as the object it encodes."""
    if isinstance(value, str):
        try:
            return json.loads(value)
        except json.JSONDecodeError:
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
