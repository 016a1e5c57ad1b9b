"""Resource policies attached to keypairs, users and projects (fields as in wire notes 2.6)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from cygnet.manager.store.models.base import Base, JSONType, UTCDateTime


class KeyPairResourcePolicyRow(Base):
    __tablename__ = "keypair_resource_policies"

    name: Mapped[str] = mapped_column(String(256), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    default_for_unspecified: Mapped[str] = mapped_column(String(16), default="UNLIMITED")
    total_resource_slots: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    max_session_lifetime: Mapped[int] = mapped_column(Integer, default=0)
    max_concurrent_sessions: Mapped[int] = mapped_column(Integer, default=0)
    max_concurrent_sftp_sessions: Mapped[int] = mapped_column(Integer, default=0)
    max_containers_per_session: Mapped[int] = mapped_column(Integer, default=1)
    idle_timeout: Mapped[int] = mapped_column(BigInteger, default=0)
    allowed_vfolder_hosts: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    max_pending_session_count: Mapped[int | None] = mapped_column(Integer)
    max_pending_session_resource_slots: Mapped[dict[str, Any] | None] = mapped_column(JSONType)


class UserResourcePolicyRow(Base):
    __tablename__ = "user_resource_policies"

    name: Mapped[str] = mapped_column(String(256), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    max_vfolder_count: Mapped[int] = mapped_column(Integer, default=0)
    max_quota_scope_size: Mapped[int] = mapped_column(BigInteger, default=-1)
    max_session_count_per_model_session: Mapped[int] = mapped_column(Integer, default=10)
    max_customized_image_count: Mapped[int] = mapped_column(Integer, default=3)


class ProjectResourcePolicyRow(Base):
    __tablename__ = "project_resource_policies"

    name: Mapped[str] = mapped_column(String(256), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    max_vfolder_count: Mapped[int] = mapped_column(Integer, default=0)
    max_quota_scope_size: Mapped[int] = mapped_column(BigInteger, default=-1)
    max_network_count: Mapped[int] = mapped_column(Integer, default=3)
