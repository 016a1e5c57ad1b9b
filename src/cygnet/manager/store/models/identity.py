"""Domains, projects (Backend.AI "groups") with membership, users and keypairs."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
    Uuid,
)
from sqlalchemy.orm import Mapped, mapped_column

from cygnet.manager.store.models.base import Base, JSONType, UTCDateTime


class DomainRow(Base):
    __tablename__ = "domains"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    description: Mapped[str | None] = mapped_column(Text)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    modified_at: Mapped[datetime] = mapped_column(UTCDateTime)
    total_resource_slots: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    allowed_vfolder_hosts: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    allowed_docker_registries: Mapped[list[str]] = mapped_column(JSONType, default=list)
    integration_id: Mapped[str | None] = mapped_column(String(512))


class ProjectRow(Base):
    __tablename__ = "groups"
    __table_args__ = (UniqueConstraint("domain_name", "name"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    name: Mapped[str] = mapped_column(String(64))
    description: Mapped[str | None] = mapped_column(Text)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    modified_at: Mapped[datetime] = mapped_column(UTCDateTime)
    integration_id: Mapped[str | None] = mapped_column(String(512))
    domain_name: Mapped[str] = mapped_column(
        String(64), ForeignKey("domains.name", onupdate="CASCADE"), index=True
    )
    total_resource_slots: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    allowed_vfolder_hosts: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    resource_policy: Mapped[str] = mapped_column(
        String(256), ForeignKey("project_resource_policies.name", onupdate="CASCADE")
    )
    type: Mapped[str] = mapped_column(String(32), default="general")


class UserRow(Base):
    __tablename__ = "users"

    uuid: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    email: Mapped[str] = mapped_column(String(64), unique=True)
    password: Mapped[str] = mapped_column(String(256))
    need_password_change: Mapped[bool] = mapped_column(Boolean, default=False)
    password_changed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    full_name: Mapped[str | None] = mapped_column(String(64))
    description: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(32), default="active", index=True)
    status_info: Mapped[str | None] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    modified_at: Mapped[datetime] = mapped_column(UTCDateTime)
    domain_name: Mapped[str] = mapped_column(
        String(64), ForeignKey("domains.name", onupdate="CASCADE"), index=True
    )
    role: Mapped[str] = mapped_column(String(32), default="user")
    allowed_client_ip: Mapped[list[str] | None] = mapped_column(JSONType)
    totp_activated: Mapped[bool] = mapped_column(Boolean, default=False)
    sudo_session_enabled: Mapped[bool] = mapped_column(Boolean, default=False)
    main_access_key: Mapped[str | None] = mapped_column(String(20))
    resource_policy: Mapped[str] = mapped_column(
        String(256), ForeignKey("user_resource_policies.name", onupdate="CASCADE")
    )
    container_uid: Mapped[int | None] = mapped_column(Integer)
    container_main_gid: Mapped[int | None] = mapped_column(Integer)
    container_gids: Mapped[list[int] | None] = mapped_column(JSONType)


class ProjectMemberRow(Base):
    __tablename__ = "association_groups_users"

    group_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("groups.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("users.uuid", ondelete="CASCADE"), primary_key=True, index=True
    )


class KeyPairRow(Base):
    __tablename__ = "keypairs"

    access_key: Mapped[str] = mapped_column(String(20), primary_key=True)
    secret_key: Mapped[str] = mapped_column(String(40))
    user_id: Mapped[str] = mapped_column(
        String(256), index=True
    )  # the owner's email, as on the wire
    user: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("users.uuid", ondelete="CASCADE"), index=True
    )
    is_active: Mapped[bool] = mapped_column(Boolean, default=True, index=True)
    is_admin: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    modified_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_used: Mapped[datetime | None] = mapped_column(UTCDateTime)
    rate_limit: Mapped[int] = mapped_column(Integer, default=5000)
    num_queries: Mapped[int] = mapped_column(BigInteger, default=0)
    resource_policy: Mapped[str] = mapped_column(
        String(256), ForeignKey("keypair_resource_policies.name", onupdate="CASCADE")
    )
