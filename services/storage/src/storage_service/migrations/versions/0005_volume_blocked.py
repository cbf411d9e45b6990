"""Suspension: ``volumes.blocked`` — the volume's account is suspended, banned or erased, so no
customer action is taken on it (``423 locked``) until the account is active again. Kept apart
from ``locked`` (an action is running), which the worker sets and clears. ``volumes.erased``:
its account was erased while an action ran on it; the worker deletes it when that action ends.

Revision ID: storage_0005
Revises: storage_0004
Create Date: 2026-12-08
"""

import sqlalchemy as sa
from alembic import op

revision = "storage_0005"
down_revision = "storage_0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("volumes", sa.Column("blocked", sa.Boolean, nullable=False, server_default=sa.false()))
    op.add_column("volumes", sa.Column("erased", sa.Boolean, nullable=False, server_default=sa.false()))


def downgrade() -> None:
    op.drop_column("volumes", "erased")
    op.drop_column("volumes", "blocked")
