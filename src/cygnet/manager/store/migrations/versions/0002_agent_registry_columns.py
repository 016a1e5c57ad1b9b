"""Agent registry columns: runtime, slot types, images, live stats, last heartbeat.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 10:50:11
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import cygnet.manager.store.models.base

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def _json() -> sa.types.TypeEngine[Any]:
    return sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    with op.batch_alter_table("agents", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("runtime", sa.String(length=32), nullable=False, server_default="")
        )
        batch_op.add_column(sa.Column("slot_types", _json(), nullable=False, server_default="{}"))
        batch_op.add_column(sa.Column("images", _json(), nullable=False, server_default="[]"))
        batch_op.add_column(sa.Column("live_stat", _json(), nullable=False, server_default="{}"))
        batch_op.add_column(
            sa.Column(
                "last_heartbeat",
                cygnet.manager.store.models.base.UTCDateTime(timezone=True),
                nullable=True,
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("agents", schema=None) as batch_op:
        batch_op.drop_column("last_heartbeat")
        batch_op.drop_column("live_stat")
        batch_op.drop_column("images")
        batch_op.drop_column("slot_types")
        batch_op.drop_column("runtime")
