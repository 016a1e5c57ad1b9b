"""Compute sessions, their kernels, and every status change either went through."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    Uuid,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from cygnet.manager.store.models.base import Base, JSONType, UTCDateTime

# A session name is unique per owner among sessions that are not over (lifecycle
# NAME_RELEASING_STATUSES); a partial unique index says so on both databases. Queries by name
# use this very condition: one with the statuses as bound parameters cannot use the index
# (PostgreSQL's generic plan of a prepared statement, and SQLite, only match a partial index
# whose condition the query's literally implies) and reads every session of the owner.
LIVE_NAME = text("status NOT IN ('TERMINATED', 'CANCELLED', 'ERROR')")


class SessionRow(Base):
    __tablename__ = "sessions"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    name: Mapped[str] = mapped_column(String(64))
    type: Mapped[str] = mapped_column(String(16))
    access_key: Mapped[str] = mapped_column(String(20), index=True)
    user_uuid: Mapped[uuid.UUID] = mapped_column(Uuid, index=True)
    domain_name: Mapped[str] = mapped_column(String(64), index=True)
    group_id: Mapped[uuid.UUID] = mapped_column(Uuid, index=True)
    scaling_group: Mapped[str] = mapped_column(String(64), index=True)
    image: Mapped[str] = mapped_column(String(512))
    architecture: Mapped[str] = mapped_column(String(32))
    tag: Mapped[str | None] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(32), index=True)
    status_info: Mapped[str | None] = mapped_column(String(128))
    status_data: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    status_changed: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    status_history: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    result: Mapped[str] = mapped_column(String(16), default="UNDEFINED")
    priority: Mapped[int] = mapped_column(Integer, default=10)
    cluster_mode: Mapped[str] = mapped_column(String(16))
    cluster_size: Mapped[int] = mapped_column(Integer, default=1)
    requested_slots: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    resource_opts: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    environ: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    startup_command: Mapped[str | None] = mapped_column(Text)
    bootstrap_script: Mapped[str | None] = mapped_column(Text)
    batch_timeout: Mapped[float | None] = mapped_column(Float)
    callback_url: Mapped[str | None] = mapped_column(String(512))
    designated_agents: Mapped[list[Any]] = mapped_column(JSONType, default=list)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    starts_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    terminated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_activity: Mapped[datetime | None] = mapped_column(UTCDateTime)
    num_queries: Mapped[int] = mapped_column(BigInteger, default=0)
    # The vfolders mounted into the kernels (entities.VFolderMount.to_json each).
    vfolder_mounts: Mapped[list[Any]] = mapped_column(JSONType, default=list)

    kernels: Mapped[list[KernelRow]] = relationship(
        back_populates="session",
        order_by="KernelRow.cluster_idx",
        cascade="all, delete-orphan",
        lazy="selectin",
    )

    __table_args__ = (
        Index(
            "uq_sessions_live_name",
            "user_uuid",
            "name",
            unique=True,
            postgresql_where=LIVE_NAME,
            sqlite_where=LIVE_NAME,
        ),
    )


class KernelRow(Base):
    __tablename__ = "kernels"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    session_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("sessions.id", ondelete="CASCADE"), index=True
    )
    cluster_role: Mapped[str] = mapped_column(String(16), default="main")
    cluster_idx: Mapped[int] = mapped_column(Integer, default=1)
    cluster_hostname: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(32), index=True)
    status_info: Mapped[str | None] = mapped_column(String(128))
    status_data: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    status_changed: Mapped[datetime] = mapped_column(UTCDateTime)
    agent_id: Mapped[str | None] = mapped_column(String(64), index=True)
    agent_addr: Mapped[str | None] = mapped_column(String(128))
    container_id: Mapped[str | None] = mapped_column(String(128))
    image: Mapped[str] = mapped_column(String(512))
    architecture: Mapped[str] = mapped_column(String(32))
    requested_slots: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    occupied_slots: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    # slot -> {device/unit id: amount}: the scheduler's device booking (SCHEDULED), then what
    # the agent allocated (RUNNING)
    allocation: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    terminated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    exit_code: Mapped[int | None] = mapped_column(Integer)
    logs: Mapped[str | None] = mapped_column(Text)  # kept when the kernel ends

    session: Mapped[SessionRow] = relationship(back_populates="kernels")


class StatusChangeRow(Base):
    """One status change of a session or a kernel (what happened, when, and why)."""

    __tablename__ = "status_changes"

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    session_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("sessions.id", ondelete="CASCADE"), index=True
    )
    entity: Mapped[str] = mapped_column(String(8))  # session | kernel
    entity_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    previous: Mapped[str | None] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(32))
    reason: Mapped[str | None] = mapped_column(String(128))
    at: Mapped[datetime] = mapped_column(UTCDateTime)


class SessionDependencyRow(Base):
    """``session_id`` starts only once ``depends_on`` has finished successfully."""

    __tablename__ = "session_dependencies"

    session_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("sessions.id", ondelete="CASCADE"), primary_key=True
    )
    depends_on: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("sessions.id", ondelete="CASCADE"), primary_key=True, index=True
    )
