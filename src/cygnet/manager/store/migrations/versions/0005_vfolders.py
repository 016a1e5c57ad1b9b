"""Virtual folders, their invitations and per-user permissions.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-24 10:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from cygnet.manager.store.models.base import UTCDateTime

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "vfolders",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("host", sa.String(length=128), nullable=False),
        sa.Column("quota_scope_id", sa.String(length=64), nullable=False),
        sa.Column("usage_mode", sa.String(length=16), nullable=False),
        sa.Column("permission", sa.String(length=4), nullable=False),
        sa.Column("ownership_type", sa.String(length=8), nullable=False),
        sa.Column("user", sa.Uuid(), nullable=True),
        sa.Column("group", sa.Uuid(), nullable=True),
        sa.Column("domain_name", sa.String(length=64), nullable=False),
        sa.Column("creator", sa.String(length=128), nullable=False),
        sa.Column("cloneable", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("status_changed", UTCDateTime(), nullable=False),
        sa.Column("last_used", UTCDateTime(), nullable=True),
        sa.Column("max_size", sa.BigInteger(), nullable=True),
        sa.Column("max_files", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_vfolders")),
    )
    op.create_index("uq_vfolders_user_name", "vfolders", ["user", "name"], unique=True)
    op.create_index("uq_vfolders_group_name", "vfolders", ["group", "name"], unique=True)
    op.create_index(op.f("ix_vfolders_domain_name"), "vfolders", ["domain_name"])
    op.create_index(op.f("ix_vfolders_status"), "vfolders", ["status"])
    op.create_table(
        "vfolder_invitations",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("permission", sa.String(length=4), nullable=False),
        sa.Column("inviter", sa.String(length=128), nullable=False),
        sa.Column("invitee", sa.String(length=128), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("modified_at", UTCDateTime(), nullable=False),
        sa.Column("vfolder", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["vfolder"],
            ["vfolders.id"],
            name=op.f("fk_vfolder_invitations_vfolder_vfolders"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_vfolder_invitations")),
    )
    op.create_index(op.f("ix_vfolder_invitations_invitee"), "vfolder_invitations", ["invitee"])
    op.create_index(op.f("ix_vfolder_invitations_vfolder"), "vfolder_invitations", ["vfolder"])
    op.create_table(
        "vfolder_permissions",
        sa.Column("vfolder", sa.Uuid(), nullable=False),
        sa.Column("user", sa.Uuid(), nullable=False),
        sa.Column("permission", sa.String(length=4), nullable=False),
        sa.ForeignKeyConstraint(
            ["vfolder"],
            ["vfolders.id"],
            name=op.f("fk_vfolder_permissions_vfolder_vfolders"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user"],
            ["users.uuid"],
            name=op.f("fk_vfolder_permissions_user_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("vfolder", "user", name=op.f("pk_vfolder_permissions")),
    )
    op.create_index(op.f("ix_vfolder_permissions_user"), "vfolder_permissions", ["user"])


def downgrade() -> None:
    op.drop_index(op.f("ix_vfolder_permissions_user"), table_name="vfolder_permissions")
    op.drop_table("vfolder_permissions")
    op.drop_index(op.f("ix_vfolder_invitations_vfolder"), table_name="vfolder_invitations")
    op.drop_index(op.f("ix_vfolder_invitations_invitee"), table_name="vfolder_invitations")
    op.drop_table("vfolder_invitations")
    op.drop_index(op.f("ix_vfolders_status"), table_name="vfolders")
    op.drop_index(op.f("ix_vfolders_domain_name"), table_name="vfolders")
    op.drop_index("uq_vfolders_group_name", table_name="vfolders")
    op.drop_index("uq_vfolders_user_name", table_name="vfolders")
    op.drop_table("vfolders")
