"""Dependencies between sessions.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23 20:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "session_dependencies",
        sa.Column("session_id", sa.Uuid(), nullable=False),
        sa.Column("depends_on", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(["session_id"], ["sessions.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["depends_on"], ["sessions.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("session_id", "depends_on"),
    )
    op.create_index(
        op.f("ix_session_dependencies_depends_on"),
        "session_dependencies",
        ["depends_on"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_session_dependencies_depends_on"), table_name="session_dependencies")
    op.drop_table("session_dependencies")
