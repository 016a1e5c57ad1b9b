"""Agents (one per node), written by the agent registry on registration and heartbeats."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from cygnet.manager.store.models.base import Base, JSONType, UTCDateTime


class AgentRow(Base):
    __tablename__ = "agents"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    status: Mapped[str] = mapped_column(String(32), index=True)
    status_changed: Mapped[datetime | None] = mapped_column(UTCDateTime)
    region: Mapped[str] = mapped_column(String(64), default="local")
    scaling_group: Mapped[str] = mapped_column(
        String(64), ForeignKey("scaling_groups.name", onupdate="CASCADE"), index=True
    )
    schedulable: Mapped[bool] = mapped_column(Boolean, default=True)
    available_slots: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    occupied_slots: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    addr: Mapped[str] = mapped_column(String(128))
    architecture: Mapped[str] = mapped_column(String(32), default="x86_64")
    version: Mapped[str] = mapped_column(String(64))
    compute_plugins: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    hardware_metadata: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    first_contact: Mapped[datetime] = mapped_column(UTCDateTime)
    lost_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    runtime: Mapped[str] = mapped_column(String(32), default="")
    slot_types: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    images: Mapped[list[Any]] = mapped_column(JSONType, default=list)
    live_stat: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    last_heartbeat: Mapped[datetime | None] = mapped_column(UTCDateTime)
