"""Resource groups (Backend.AI "scaling groups") and who may use them (domains, projects, keys)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, ForeignKey, String, Text, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from cygnet.manager.store.models.base import Base, JSONType, UTCDateTime


class ResourceGroupRow(Base):
    __tablename__ = "scaling_groups"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    description: Mapped[str | None] = mapped_column(Text)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True, index=True)
    is_public: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    wsproxy_addr: Mapped[str | None] = mapped_column(String(1024))
    wsproxy_api_token: Mapped[str | None] = mapped_column(String(64))
    driver: Mapped[str] = mapped_column(String(64), default="static")
    driver_opts: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    scheduler: Mapped[str] = mapped_column(String(64), default="fifo")
    scheduler_opts: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    use_host_network: Mapped[bool] = mapped_column(Boolean, default=False)


class ResourceGroupDomainRow(Base):
    __tablename__ = "sgroups_for_domains"

    scaling_group: Mapped[str] = mapped_column(
        String(64),
        ForeignKey("scaling_groups.name", ondelete="CASCADE", onupdate="CASCADE"),
        primary_key=True,
    )
    domain: Mapped[str] = mapped_column(
        String(64),
        ForeignKey("domains.name", ondelete="CASCADE", onupdate="CASCADE"),
        primary_key=True,
    )


class ResourceGroupProjectRow(Base):
    __tablename__ = "sgroups_for_groups"

    scaling_group: Mapped[str] = mapped_column(
        String(64),
        ForeignKey("scaling_groups.name", ondelete="CASCADE", onupdate="CASCADE"),
        primary_key=True,
    )
    group: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("groups.id", ondelete="CASCADE"), primary_key=True
    )


class ResourceGroupKeyPairRow(Base):
    __tablename__ = "sgroups_for_keypairs"

    scaling_group: Mapped[str] = mapped_column(
        String(64),
        ForeignKey("scaling_groups.name", ondelete="CASCADE", onupdate="CASCADE"),
        primary_key=True,
    )
    access_key: Mapped[str] = mapped_column(
        String(20), ForeignKey("keypairs.access_key", ondelete="CASCADE"), primary_key=True
    )
