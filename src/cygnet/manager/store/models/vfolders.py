"""Virtual folders (vfolders), the invitations to share them, and the per-user permissions
that accepted invitations and project shares grant."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import BigInteger, Boolean, ForeignKey, Index, Integer, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from cygnet.manager.store.models.base import Base, UTCDateTime


class VFolderRow(Base):
    __tablename__ = "vfolders"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    name: Mapped[str] = mapped_column(String(64))
    host: Mapped[str] = mapped_column(String(128))
    quota_scope_id: Mapped[str] = mapped_column(String(64))
    usage_mode: Mapped[str] = mapped_column(String(16), default="general")
    permission: Mapped[str] = mapped_column(String(4), default="rw")
    ownership_type: Mapped[str] = mapped_column(String(8))
    # Exactly one of user / group is set (by ownership_type). NULLs never collide in a unique
    # index on either database, so the two indexes below keep names unique per owner.
    user: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    group: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    domain_name: Mapped[str] = mapped_column(String(64), index=True)
    creator: Mapped[str] = mapped_column(String(128))
    cloneable: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[str] = mapped_column(String(32), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    status_changed: Mapped[datetime] = mapped_column(UTCDateTime)
    last_used: Mapped[datetime | None] = mapped_column(UTCDateTime)
    max_size: Mapped[int | None] = mapped_column(BigInteger)
    max_files: Mapped[int] = mapped_column(Integer, default=0)

    __table_args__ = (
        Index("uq_vfolders_user_name", "user", "name", unique=True),
        Index("uq_vfolders_group_name", "group", "name", unique=True),
    )


class VFolderInvitationRow(Base):
    __tablename__ = "vfolder_invitations"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    permission: Mapped[str] = mapped_column(String(4))
    inviter: Mapped[str] = mapped_column(String(128))  # emails, as on the wire
    invitee: Mapped[str] = mapped_column(String(128), index=True)
    state: Mapped[str] = mapped_column(String(16), default="pending")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    modified_at: Mapped[datetime] = mapped_column(UTCDateTime)
    vfolder: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("vfolders.id", ondelete="CASCADE"), index=True
    )


class VFolderPermissionRow(Base):
    __tablename__ = "vfolder_permissions"

    vfolder: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("vfolders.id", ondelete="CASCADE"), primary_key=True
    )
    user: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("users.uuid", ondelete="CASCADE"), primary_key=True, index=True
    )
    permission: Mapped[str] = mapped_column(String(4))
