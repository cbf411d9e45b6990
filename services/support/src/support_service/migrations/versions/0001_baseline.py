"""Baseline: the support service's database exists and is under Alembic's control.

Revision ID: support_0001
Revises:
Create Date: 2026-11-24
"""

revision = "support_0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
